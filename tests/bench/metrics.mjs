// Chromium's own per-page metrics (CDP `Performance.getMetrics`): main-thread task, script,
// layout and style time (wall time of the tasks: waits for a core included), the main thread's
// CPU time (`ThreadTime`), DOM nodes, layouts. Shared by the benchmarks that read them.

/**
 * Starts reading `pages`' metrics in `context`: `read()` resolves to one object (metric name →
 * value, seconds for times) per page, in order; `sessions` are the CDP sessions, for other
 * commands; `detach()` ends them.
 */
export async function pageMetrics(context, pages) {
  const sessions = await Promise.all(pages.map((page) => context.newCDPSession(page)));
  await Promise.all(sessions.map((s) => s.send("Performance.enable")));
  const read = () =>
    Promise.all(sessions.map(async (s) => Object.fromEntries((await s.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]))));
  return { sessions, read, detach: () => Promise.all(sessions.map((s) => s.detach())) };
}
