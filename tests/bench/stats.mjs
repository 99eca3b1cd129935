// The one rule every benchmark reads its samples by.

/** The sample at the nearest rank to `q` in `sorted` (ascending): index round((n − 1) × q). */
function nearestRank(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * q))];
}

/**
 * The `q`-quantile of `values` (0.5 for the median), as the sample at the nearest rank: the
 * value at index round((n − 1) × q) of the sorted samples. `undefined` when there are none.
 */
export function quantile(values, q) {
  return nearestRank([...values].sort((a, b) => a - b), q);
}

/** One line of samples in ms: p50, p95, max and how many. */
export function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => nearestRank(sorted, q).toFixed(1);
  return `p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms (n=${values.length})`;
}
