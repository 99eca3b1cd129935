// What the served app costs a tab in steady state, in this machine's headless Chromium: with
// 10 tabs open and settled, Chromium's own per-page metrics (CDP Performance.getMetrics) over
// 10 s for every tab: main-thread task time, script time, layout and style time, layouts, and
// the DOM nodes the page holds; then again with all tabs but one hidden (emulated), for the
// hidden ones. Work done here is taken from whatever else the machine runs,
// such as a failover. A benchmark, not a test: it prints figures and judges nothing.
//
//   node tests/bench/steady.mjs      (after a release build in dist/)
import { emulateHidden, launch, tabId } from "../e2e/browser.mjs";
import { quantile } from "./stats.mjs";

const TABS = 10;
const WINDOW_MS = 10_000;
const METRICS = ["TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "LayoutCount", "Nodes"];

const env = await launch();
try {
  const context = await env.browser.newContext();
  const pages = [];
  for (let i = 0; i < TABS; i++) {
    const page = await context.newPage();
    await page.goto(env.url);
    await tabId(page);
    pages.push(page);
  }
  // Every tab lists every other, then the last tab's start-up has long finished.
  for (const page of pages) {
    await page.getByTestId("peer-row").nth(TABS - 2).waitFor({ state: "attached" });
  }
  await new Promise((r) => setTimeout(r, 3_000));
  const sessions = await Promise.all(pages.map((p) => context.newCDPSession(p)));
  await Promise.all(sessions.map((s) => s.send("Performance.enable")));
  const read = () =>
    Promise.all(
      sessions.map(async (s) =>
        Object.fromEntries((await s.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value])),
      ),
    );
  const median = (values) => quantile(values, 0.5);
  /** Every tab's metrics over one window, and a line of the median tab's among `tabs`. */
  const measure = async (what, tabs) => {
    const before = await read();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const after = await read();
    const perSecond = (name) => tabs.map((i) => (after[i][name] - before[i][name]) / (WINDOW_MS / 1_000));
    const ms = (name) => `${(median(perSecond(name)) * 1_000).toFixed(1)} ms/s`;
    console.log(
      `steady state, ${what}, median tab over ${WINDOW_MS / 1_000} s: main-thread tasks ${ms("TaskDuration")}, ` +
        `script ${ms("ScriptDuration")}, layout ${ms("LayoutDuration")}, style ${ms("RecalcStyleDuration")}, ` +
        `${median(perSecond("LayoutCount")).toFixed(1)} layouts/s, ` +
        `DOM nodes ${median(tabs.map((i) => after[i].Nodes))} held (${median(perSecond("Nodes")).toFixed(0)}/s net growth)`,
    );
  };
  const all = pages.map((_, i) => i);
  await measure(`${TABS} tabs`, all);
  // Then all but the first say they are hidden, as background tabs do (emulated: headless
  // Chromium shows every page, so these still paint whatever changes, where a real hidden tab
  // would not; their script time is what a real one saves).
  for (const page of pages.slice(1)) await emulateHidden(page, true);
  await new Promise((r) => setTimeout(r, 2_000));
  await measure(`${TABS - 1} of ${TABS} tabs hidden (emulated), the hidden ones`, all.slice(1));
  await context.close();
} finally {
  await env.close();
}
