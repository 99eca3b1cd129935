// CPU profiles of tabs through a benchmark (CDP's Profiler, sampling), summed by function: where
// a tab's script time goes. Function names show only in a build that keeps them (see
// docs/benchmarks.md, "Profiling"); a shipped build's wasm shows as `wasm-function[N]`.

/** Microseconds between two samples: finer than CDP's default of 1,000. */
const INTERVAL_US = 100;

/**
 * Starts a sampling profile of each of `pages` (in `context`). The function returned stops them
 * and gives, per page, { total, self, inclusive }: the sampled ms, and [name, ms] pairs sorted
 * by time, `self` the time in the function itself and `inclusive` with what it called (a
 * function is counted once per sample, however often it is on the stack).
 */
export async function profiling(context, pages) {
  const sessions = await Promise.all(pages.map((page) => context.newCDPSession(page)));
  for (const s of sessions) {
    await s.send("Profiler.enable");
    await s.send("Profiler.setSamplingInterval", { interval: INTERVAL_US });
    await s.send("Profiler.start");
  }
  return async () => {
    const profiles = await Promise.all(sessions.map((s) => s.send("Profiler.stop")));
    await Promise.all(sessions.map((s) => s.detach()));
    return profiles.map(({ profile }) => summary(profile));
  };
}

/** A node's name: its function (or what CDP calls the time outside script) and its file. */
function nameOf({ functionName, url }) {
  const file = url ? url.slice(url.lastIndexOf("/") + 1).replace(/-[0-9a-f]{16}/, "") : "";
  return `${functionName || "(anonymous)"}${file ? ` ${file}` : ""}`;
}

function summary(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map();
  const inclusive = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1_000;
    total += ms;
    const leaf = nameOf(byId.get(id).callFrame);
    self.set(leaf, (self.get(leaf) ?? 0) + ms);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const name = nameOf(byId.get(at).callFrame);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
    }
  });
  const sorted = (map) => [...map].sort((a, b) => b[1] - a[1]);
  return { total, self: sorted(self), inclusive: sorted(inclusive) };
}

/** One line per page: its `top` functions by self time and by inclusive time, in ms. */
export function describe(summaries, label, top) {
  const ms = ([name, t]) => `${name} ${t.toFixed(1)}`;
  return summaries
    .map((s, i) => {
      const busy = s.total - (s.self.find(([name]) => name === "(idle)")?.[1] ?? 0);
      return (
        `${label(i)}: ${busy.toFixed(0)} ms busy of ${s.total.toFixed(0)} sampled\n` +
        `  self: ${s.self.filter(([name]) => name !== "(idle)").slice(0, top).map(ms).join("; ")}\n` +
        `  inclusive: ${s.inclusive.filter(([name]) => !/^\((root|idle|program)\)/.test(name)).slice(0, top).map(ms).join("; ")}`
      );
    })
    .join("\n");
}
