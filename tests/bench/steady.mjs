// What the served app costs a tab in steady state, in this machine's headless Chromium: with
// 10 tabs open and settled, Chromium's own per-page metrics (CDP Performance.getMetrics) over
// 10 s for every tab: main-thread task time (wall clock, as the page's tasks take it; beside
// it the main thread's CPU time, which leaves out the waits for a core that every tab's
// renderer shares on two cores), script time, layout and style time, layouts, and the DOM
// nodes the page holds; then again with all tabs but one hidden (emulated), for the hidden
// ones. Work done here is taken from whatever else the machine runs, such as a failover. A
// benchmark, not a test: it prints figures and judges nothing.
//
// Two floors beside the app:
// - the page's: in the same windows, as many tabs showing the same page's DOM with no script
//   running (a settled tab's DOM as drawn, without its scripts and preloads, served on the
//   same origin with the same stylesheet and policy), measured the same way. What a page that
//   only shows what the app shows costs.
// - the channel's: once the app's tabs have closed, as many tabs of a blank page that carry
//   the traffic the app's tabs carried (as many messages a second, of the same length, each
//   tab sending its share once a period at a phase of its own) and do nothing with what they
//   hear. What the protocol's messages cost a tab before any of the app's code runs.
//
//   node tests/bench/steady.mjs [rounds]   (after a release build in dist/; rounds: 1 unless
//                                           given, each a visible and a hidden window)
import { emulateHidden, launch, tabId } from "../e2e/browser.mjs";
import { quantile } from "./stats.mjs";

const TABS = 10;
const WINDOW_MS = 10_000;
const ROUNDS = Number(process.argv[2] ?? 1);
const median = (values) => quantile(values, 0.5);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A group of tabs whose metrics are read together: `pages` in `context`. Each tab's garbage is
 * collected first, so that what start-up left is not counted in the first window.
 */
async function group(name, context, pages) {
  const sessions = await Promise.all(pages.map((p) => context.newCDPSession(p)));
  await Promise.all(sessions.map((s) => s.send("Performance.enable")));
  await Promise.all(sessions.map((s) => s.send("HeapProfiler.collectGarbage")));
  const read = () =>
    Promise.all(
      sessions.map(async (s) =>
        Object.fromEntries((await s.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value])),
      ),
    );
  return { name, pages, read };
}

/**
 * Every tab's metrics in `groups` over one window; for each group, a line of its median tab's
 * among the tabs numbered `tabs`. Returns each group's median main-thread ms/s.
 */
async function measure(what, groups, tabs) {
  const before = await Promise.all(groups.map((g) => g.read()));
  await sleep(WINDOW_MS);
  const after = await Promise.all(groups.map((g) => g.read()));
  console.log(`steady state, ${what}, median tab over ${WINDOW_MS / 1_000} s:`);
  const width = Math.max(...groups.map((g) => g.name.length)) + 2;
  return groups.map((g, k) => {
    const perSecond = (name) => tabs.map((i) => (after[k][i][name] - before[k][i][name]) / (WINDOW_MS / 1_000));
    const ms = (name) => `${(median(perSecond(name)) * 1_000).toFixed(1)} ms/s`;
    console.log(
      `  ${`${g.name}:`.padEnd(width)}main-thread tasks ${ms("TaskDuration")} (CPU ${ms("ThreadTime")}), ` +
        `script ${ms("ScriptDuration")}, layout ${ms("LayoutDuration")}, style ${ms("RecalcStyleDuration")}, ` +
        `${median(perSecond("LayoutCount")).toFixed(1)} layouts/s, ` +
        `DOM nodes ${median(tabs.map((i) => after[k][i].Nodes))} held (${median(perSecond("Nodes")).toFixed(0)}/s net growth)`,
    );
    return median(perSecond("TaskDuration")) * 1_000;
  });
}

/**
 * `rounds` rounds of a visible window, then one with all tabs but the first of every group
 * hidden (emulated: headless Chromium shows every page, so these still paint whatever changes,
 * where a real hidden tab would not; their script time is what a real one saves). Returns each
 * window's figures, by visibility.
 */
async function rounds(groups) {
  const all = groups[0].pages.map((_, i) => i);
  const pages = groups.flatMap((g) => g.pages.slice(1));
  const results = { visible: [], hidden: [] };
  for (let round = 0; round < ROUNDS; round++) {
    results.visible.push(await measure(`${TABS} tabs`, groups, all));
    for (const page of pages) await emulateHidden(page, true);
    await sleep(2_000);
    results.hidden.push(await measure(`${TABS - 1} of ${TABS} tabs hidden (emulated), the hidden ones`, groups, all.slice(1)));
    if (round + 1 < ROUNDS) {
      for (const page of pages) await emulateHidden(page, false);
      await sleep(2_000);
    }
  }
  return results;
}

const env = await launch();
try {
  const context = await env.browser.newContext();
  const app = [];
  for (let i = 0; i < TABS; i++) {
    const page = await context.newPage();
    await page.goto(env.url);
    await tabId(page);
    app.push(page);
  }
  // Every tab lists every other, then the last tab's start-up has long finished.
  for (const page of app) {
    await page.getByTestId("peer-row").nth(TABS - 2).waitFor({ state: "attached" });
  }
  await sleep(3_000);
  // The traffic the channel's floor is to carry: what a channel object of its own hears on
  // the app's channel in 5 s (every tab's messages, its own page's too), as many messages a
  // second among all tabs, of their median length.
  const heard = await app[0].evaluate(async (ms) => {
    const channel = new BroadcastChannel("conclave");
    const lengths = [];
    channel.onmessage = (e) => lengths.push(typeof e.data === "string" ? e.data.length : 0);
    await new Promise((r) => setTimeout(r, ms));
    channel.close();
    return lengths;
  }, 5_000);
  const traffic = { perSecond: heard.length / 5, length: median(heard) ?? 0 };

  // The page's floor: the last tab's DOM as drawn now, with no script, no module preload and
  // no wasm preload, on the app's own origin (so the same stylesheet loads under the same
  // policy, which travels in the page's <meta>). A context of its own, so that its
  // interception of this one address touches nothing the app's tabs load.
  const drawn = (await app.at(-1).evaluate(() => document.documentElement.outerHTML))
    .replace(/<script\b[^>]*>[\s\S]*?<\/script>/g, "")
    .replace(/<link\b[^>]*\b(modulepreload|preload)\b[^>]*>/g, "");
  const staticUrl = `${env.url}bench-static`;
  const floorContext = await env.browser.newContext();
  await floorContext.route(staticUrl, (route) =>
    route.fulfill({ contentType: "text/html; charset=utf-8", body: `<!DOCTYPE html>\n${drawn}` }),
  );
  const floor = [];
  for (let i = 0; i < TABS; i++) {
    const page = await floorContext.newPage();
    await page.goto(staticUrl);
    floor.push(page);
  }
  const scripts = await Promise.all(floor.map((p) => p.evaluate(() => document.scripts.length)));
  if (scripts.some((n) => n > 0)) throw new Error("the page's floor still holds a script");
  await sleep(2_000);

  const pageResults = await rounds([
    await group("the app", context, app),
    await group("the page's floor (same DOM, no script)", floorContext, floor),
  ]);
  await floorContext.close();
  await context.close();

  // The channel's floor, alone on the machine now.
  const channelContext = await env.browser.newContext();
  const blankUrl = `${env.url}bench-channel`;
  await channelContext.route(blankUrl, (route) =>
    route.fulfill({ contentType: "text/html; charset=utf-8", body: "<!DOCTYPE html><title>channel</title>" }),
  );
  const period = (TABS / traffic.perSecond) * 1_000;
  const carriers = [];
  for (let i = 0; i < TABS; i++) {
    const page = await channelContext.newPage();
    await page.goto(blankUrl);
    await page.evaluate(
      ([period, length]) => {
        const channel = new BroadcastChannel("floor");
        channel.onmessage = (e) => void e.data.length;
        const text = "x".repeat(length);
        setTimeout(() => setInterval(() => channel.postMessage(text), period), Math.random() * period);
      },
      [period, traffic.length],
    );
    carriers.push(page);
  }
  await sleep(2_000 + period);
  console.log(
    `the channel's floor: ${TABS} blank tabs, each sending a message of ${traffic.length} characters every ` +
      `${period.toFixed(0)} ms (${traffic.perSecond.toFixed(1)} a second in all, as the app's tabs sent) and doing nothing with what it hears`,
  );
  const channelResults = await rounds([await group("the channel's floor", channelContext, carriers)]);
  await channelContext.close();

  if (ROUNDS > 1) {
    const range = (values) => `${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}`;
    for (const what of ["visible", "hidden"]) {
      const column = (rows, k) => rows.map((row) => row[k]);
      console.log(
        `${ROUNDS} rounds, ${what}, median tab's main-thread tasks: the app ${range(column(pageResults[what], 0))} ms/s, ` +
          `the page's floor ${range(column(pageResults[what], 1))} ms/s, ` +
          `the channel's floor ${range(column(channelResults[what], 0))} ms/s`,
      );
    }
  }
} finally {
  await env.close();
}
