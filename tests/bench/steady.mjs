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
//   the traffic the app's tabs carried, window by window (each tab sending as many messages a
//   second as its app tab sent in the first round's window of that kind, of the same length,
//   at a phase of its own: a hidden follower of the app says little) and do nothing with what
//   they hear. What the protocol's messages cost a tab before any of the app's code runs.
//
// The closing lines give, per kind of window, the median tab's CPU time (what SPEC §3's goal
// counts) and its main-thread task time, for the app and both floors.
//
//   node tests/bench/steady.mjs [rounds]   (after a release build in dist/; rounds: 1 unless
//                                           given, each a visible and a hidden window)
import { emulateHidden, launch, tabId } from "../e2e/browser.mjs";
import { pageMetrics } from "./metrics.mjs";
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
  const { sessions, read } = await pageMetrics(context, pages);
  await Promise.all(sessions.map((s) => s.send("HeapProfiler.collectGarbage")));
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
    return { task: median(perSecond("TaskDuration")) * 1_000, cpu: median(perSecond("ThreadTime")) * 1_000 };
  });
}

/**
 * `rounds` rounds of a visible window, then one with all tabs but the first of every group
 * hidden (emulated: headless Chromium shows every page, so these still paint whatever changes,
 * where a real hidden tab would not; their script time is what a real one saves). Returns each
 * window's figures, by visibility.
 */
async function rounds(groups, { beforeHidden = async () => {}, beforeVisible = async () => {} } = {}) {
  const all = groups[0].pages.map((_, i) => i);
  const pages = groups.flatMap((g) => g.pages.slice(1));
  const results = { visible: [], hidden: [] };
  for (let round = 0; round < ROUNDS; round++) {
    results.visible.push(await measure(`${TABS} tabs`, groups, all));
    for (const page of pages) await emulateHidden(page, true);
    await beforeHidden();
    await sleep(2_000);
    results.hidden.push(await measure(`${TABS - 1} of ${TABS} tabs hidden (emulated), the hidden ones`, groups, all.slice(1)));
    if (round + 1 < ROUNDS) {
      for (const page of pages) await emulateHidden(page, false);
      await beforeVisible();
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
  const ids = await Promise.all(app.map(tabId));
  // The traffic the channel's floor is to carry, window by window: what a channel object of
  // its own, in the first tab, hears on the app's channel (every tab's messages, its own
  // page's too) over the visible and the hidden windows of the first round, per sending tab,
  // as messages a second, and their median length.
  const listen = () =>
    app[0].evaluate(() => {
      const channel = new BroadcastChannel("conclave");
      const heard = { since: performance.now(), lengths: [], from: {} };
      channel.onmessage = (e) => {
        if (typeof e.data !== "string") return;
        heard.lengths.push(e.data.length);
        const from = /"from":"([0-9a-f]{32})"/.exec(e.data)?.[1];
        if (from) heard.from[from] = (heard.from[from] ?? 0) + 1;
      };
      window.__benchHeard = { channel, heard };
    });
  const stopListening = () =>
    app[0].evaluate(() => {
      const { channel, heard } = window.__benchHeard;
      channel.close();
      delete window.__benchHeard;
      return { ...heard, seconds: (performance.now() - heard.since) / 1_000 };
    });
  const rates = (heard) => ({
    perTab: ids.map((id) => (heard.from[id] ?? 0) / heard.seconds),
    length: median(heard.lengths) ?? 0,
  });
  const traffic = {};
  let listening = null;
  await listen();
  listening = "visible";
  const appHooks = {
    beforeHidden: async () => {
      if (listening === "visible") {
        traffic.visible = rates(await stopListening());
        await listen();
        listening = "hidden";
      }
    },
    beforeVisible: async () => {
      if (listening === "hidden") {
        traffic.hidden = rates(await stopListening());
        listening = null;
      }
    },
  };

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

  const pageResults = await rounds(
    [await group("the app", context, app), await group("the page's floor (same DOM, no script)", floorContext, floor)],
    appHooks,
  );
  if (listening === "hidden") traffic.hidden = rates(await stopListening());
  await floorContext.close();
  await context.close();

  // The channel's floor, alone on the machine now.
  const channelContext = await env.browser.newContext();
  const blankUrl = `${env.url}bench-channel`;
  await channelContext.route(blankUrl, (route) =>
    route.fulfill({ contentType: "text/html; charset=utf-8", body: "<!DOCTYPE html><title>channel</title>" }),
  );
  // Each carrier sends at the rate its app tab sent in the same kind of window, at a phase
  // of its own.
  const carriers = [];
  for (let i = 0; i < TABS; i++) {
    const page = await channelContext.newPage();
    await page.goto(blankUrl);
    await page.evaluate((length) => {
      const channel = new BroadcastChannel("floor");
      channel.onmessage = (e) => void e.data.length;
      const text = "x".repeat(length);
      window.__benchRate = (perSecond) => {
        clearTimeout(window.__benchTimer);
        if (!(perSecond > 0)) return;
        const period = 1_000 / perSecond;
        const send = () => {
          channel.postMessage(text);
          window.__benchTimer = setTimeout(send, period);
        };
        window.__benchTimer = setTimeout(send, Math.random() * period);
      };
    }, traffic.visible.length);
    carriers.push(page);
  }
  const carry = async (what) => {
    const { perTab, length } = traffic[what];
    await Promise.all(carriers.map((page, i) => page.evaluate((rate) => window.__benchRate(rate), perTab[i])));
    const all = perTab.reduce((a, b) => a + b, 0);
    const each = perTab.map((r) => r.toFixed(2)).join(" ");
    console.log(
      `the channel's floor, ${what}: ${TABS} blank tabs sending messages of ${length} characters, ${all.toFixed(1)} a second in all ` +
        `(per tab ${each}), as the app's tabs sent in its ${what} window, and doing nothing with what they hear`,
    );
  };
  await carry("visible");
  await sleep(3_000);
  const channelResults = await rounds([await group("the channel's floor", channelContext, carriers)], {
    beforeHidden: () => carry("hidden"),
    beforeVisible: () => carry("visible"),
  });
  await channelContext.close();

  // The summary: per kind of window, the median tab's CPU (SPEC §3's measure) and its
  // main-thread task time, as a range over the rounds.
  const range = (values) =>
    values.length === 1 ? values[0].toFixed(1) : `${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)}`;
  for (const what of ["visible", "hidden"]) {
    const column = (rows, k, metric) => rows.map((row) => row[k][metric]);
    const both = (rows, k) => `CPU ${range(column(rows, k, "cpu"))} (tasks ${range(column(rows, k, "task"))}) ms/s`;
    console.log(
      `${ROUNDS} round${ROUNDS === 1 ? "" : "s"}, ${what}, median tab: the app ${both(pageResults[what], 0)}, ` +
        `the page's floor ${both(pageResults[what], 1)}, the channel's floor ${both(channelResults[what], 0)}`,
    );
  }
} finally {
  await env.close();
}
