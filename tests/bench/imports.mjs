// Importing a file into a session, on the served app (a release build in dist/), in this
// machine's headless Chromium. A benchmark, not a test: it prints figures and judges nothing.
//
// The file: a streaming history of 20 MiB (the end-to-end test's generator, tests/e2e/imports.mjs:
// a JSON array of ~45,000 records of ~460 bytes), written to a temporary file and picked from the
// disk (Playwright's setInputFiles with a path: nothing travels through DevTools). Each run is a
// fresh browser on a persistent profile in a fresh temporary directory (browser.mjs's
// launchPersistent(), removed after), so that IndexedDB lives on the disk and "strict" waits for
// it. In one run (a round; IMPORTS_ROUNDS=3 runs three in turn, each in the other order):
//
// 1. The app, 1 tab open: a session created and open; the file picked in it. From the pick (the
//    page's `change` event on the import input) to the moment the tab shows the import done
//    (its task row's `data-state`); the staging part too (until the tab says "Import started.":
//    the tab has copied the file into its store and the leader has started the task); records/s
//    and MiB/s over the whole.
// 2. The app, 5 tabs open: the same, picked in a follower; done when every tab shows it done.
// 3. A leader crash: 5 tabs, the same import, the leader's renderer crashed once (as the
//    end-to-end test crashes it: CDP Page.crash) when a follower shows half of the records in;
//    the extra time it costs against run 2 of the same round, how soon a new leader led (its
//    `conclave:became-leader` mark) and how soon the picker showed its first batch. For every
//    run of the app, also the pace (how often the picker showed a new batch, the longest pause)
//    and any leader term begun during the import.
// 4. The baseline, a plain import loop in one tab with no coordination (idb-baseline/import.html,
//    served on its own origin): the same file, read in 64 KiB slices, its records found by a
//    streaming scan and written into IndexedDB in the app's batches (≤ 24 KiB of text), one
//    strict readwrite transaction per batch, in the app's record shape. Records/s and MiB/s
//    from the pick to the last commit, and app/baseline for runs 1 and 2.
// 5. Responsiveness: every page notes, from its first moment (an init script), its long tasks
//    (PerformanceObserver "longtask", buffered): for each run, the longest main-thread task in
//    any tab between the pick and the end, and how many went over 50 ms, per tab; and how many
//    times each tab read the whole store of messages meanwhile (printed only if any did: a read
//    of the store, when a tab starts, claims the lead or finds itself behind the leader, takes
//    each session's latest messages only; the whole store was tens of thousands of messages, a
//    long task of its own).
// The times are taken inside the pages on the machine's wall clock (performance.timeOrigin +
// performance.now(), noted by MutationObservers), not by polling.
//
//   node tests/bench/imports.mjs
// after a release build of the app in dist/ (`trunk build --release`); it builds nothing
// (CONCLAVE_DIST=… serves another build). IMPORTS_MIB=2 imports a smaller file;
// IMPORTS_ROUNDS=3 (default 1); IMPORTS_ONLY=baseline,1,5,crash runs only those;
// IMPORTS_CSS='…' adds a style sheet to every page of the app (an experiment on what drawing
// the session's messages costs, e.g. `.posts{display:none}`).
// Any error the pages log (console errors, uncaught exceptions) is printed at the end.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DIST, launchPersistent, openTabs, tabId } from "../e2e/browser.mjs";
import { createSession, leaderOf, openSession, tasks } from "../e2e/app.mjs";
import { crash, firstTask, pick, startOutcome, streamingHistory } from "../e2e/imports.mjs";
import { pageMetrics } from "./metrics.mjs";
import { cpuByProcess, cpuSpent } from "./processes.mjs";
import { quantile } from "./stats.mjs";

const MiB = 1024 * 1024;
const SIZE = Number(process.env.IMPORTS_MIB ?? 20) * MiB;
const ROUNDS = Number(process.env.IMPORTS_ROUNDS ?? 1);
const ONLY = (process.env.IMPORTS_ONLY ?? "baseline,1,5,crash").split(",");
const TABS = 5;
/** The share of the records in when the leader is crashed. */
const CRASH_AT = 0.5;
/** How long the whole import may take, at most (a bound, not a goal). */
const BOUND = 600_000;
const BASELINE = fileURLToPath(new URL("idb-baseline", import.meta.url));
const NAME = "Streaming_History_Audio_2024.json";
const CSS = process.env.IMPORTS_CSS ?? "";

/**
 * An init script: notes in `window.__watch` when the page's file input changes (the pick),
 * when its import status first says "Import started.", when each task row first says done,
 * the most records any row shows, every long task of the page (PerformanceObserver
 * "longtask", buffered: from the page's first moment), as [start, duration], and when the page
 * read a whole object store of messages (a `getAll()` of the store `messages` from its least
 * key: the first page of a read of the whole store, which the app no longer makes), all on the
 * wall clock (ms).
 */
function watch() {
  const now = () => performance.timeOrigin + performance.now();
  const w = { picked: null, started: null, done: {}, records: 0, progress: [], long: [], reads: [], terms: [] };
  window.__watch = w;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) w.long.push([performance.timeOrigin + e.startTime, e.duration]);
  }).observe({ type: "longtask", buffered: true });
  const { getAll } = IDBObjectStore.prototype;
  IDBObjectStore.prototype.getAll = function (...args) {
    // The app reads a store a page at a time, the first page from the least key (-Infinity).
    if (this.name === "messages" && (args.length === 0 || args[0]?.lower === -Infinity)) w.reads.push(now());
    return getAll.apply(this, args);
  };
  addEventListener(
    "change",
    (e) => {
      if (w.picked === null && e.target instanceof HTMLInputElement && e.target.type === "file") w.picked = now();
    },
    true,
  );
  const check = () => {
    if (w.started === null && document.querySelector("[data-testid=import-status]")?.textContent === "Import started.") w.started = now();
    for (const row of document.querySelectorAll("[data-testid=task]")) {
      if (row.dataset.state === "done" && !(row.dataset.taskId in w.done)) w.done[row.dataset.taskId] = now();
      const records = Number(row.dataset.records) || 0;
      if (records > w.records) {
        w.records = records;
        w.progress.push([now(), records]);
      }
    }
    const term = document.querySelector("[data-testid=term]")?.textContent;
    if (term && term !== w.terms.at(-1)?.[1]) w.terms.push([now(), term]);
  };
  new MutationObserver(check).observe(document, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeFilter: ["data-state", "data-records"],
  });
}

/** What a page's watch noted. */
function watched(page) {
  return page.evaluate(() => window.__watch);
}

/** Polls `check` every `every` ms until it returns true, or throws after `bound` ms. */
async function until(bound, what, check, every = 250) {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > bound) throw new Error(`not within ${bound} ms: ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Every error a page logged, as "where: text" → how many times. */
const errors = new Map();

/** Notes every console error and uncaught exception of every page of `context`. */
function watchErrors(context, where) {
  const note = (text) => {
    const key = `${where}: ${text}`;
    errors.set(key, (errors.get(key) ?? 0) + 1);
  };
  context.on("page", (page) => {
    page.on("console", (msg) => {
      if (msg.type() === "error") note(`console error: ${msg.text()}`);
    });
    page.on("pageerror", (error) => note(`uncaught: ${error.message}`));
  });
}

/** An init script: adds `css` to the page (a constructed style sheet: the page's CSP allows it). */
function addStyle(css) {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}

/** A fresh browser on a fresh persistent profile serving `root`, the watch in every page. */
async function browser(root, where) {
  const env = await launchPersistent(root);
  try {
    const context = await env.open();
    await context.addInitScript(watch);
    if (CSS && root === DIST) await context.addInitScript(addStyle, CSS);
    watchErrors(context, where);
    return { env, context, blank: context.pages() };
  } catch (error) {
    await env.close();
    throw error;
  }
}

/**
 * What `watch` noted in [from, to]: the longest long task and how many went over 50 ms, and
 * how many times the page read the whole store.
 */
function longIn(watch, from, to) {
  const within = (t) => t >= from && t <= to;
  const durations = watch.long.filter(([start]) => within(start)).map(([, d]) => d);
  return { max: Math.max(0, ...durations), over: durations.filter((d) => d > 50).length, reads: (watch.reads ?? []).filter(within).length };
}

/** "longest task 73 ms (leader), tasks over 50 ms per tab: 0, 2, …" */
function longWords(perTab) {
  const worst = perTab.reduce((a, b) => (b.max > a.max ? b : a));
  const longest = worst.max > 0 ? `${worst.max.toFixed(0)} ms (${worst.role})` : "none over 50 ms";
  const reads = perTab.some((t) => t.reads > 0) ? `; whole-store reads per tab: ${perTab.map((t) => t.reads).join(", ")}` : "";
  return `longest main-thread task in any tab ${longest}; tasks over 50 ms per tab: ${perTab.map((t) => `${t.over} (${t.role})`).join(", ")}${reads}`;
}

/** Records/s and MiB/s of `records` over `ms`, as words. */
function rate(records, ms) {
  return `${((records / ms) * 1_000).toFixed(0)} records/s, ${(SIZE / MiB / (ms / 1_000)).toFixed(2)} MiB/s`;
}

/**
 * The app with `n` tabs: the file picked in a follower (the leader when alone); with
 * `crashAt`, the leader crashed once a follower shows that share of the records in. Resolves to
 * { ms, staging, records }.
 */
async function app(file, n, crashAt = null) {
  const what = crashAt === null ? `the app, ${n} tab${n > 1 ? "s" : ""}` : `the app, ${n} tabs, leader crashed at ${crashAt * 100}%`;
  const load = loadavg()[0].toFixed(2);
  const { env, context, blank } = await browser(DIST, what);
  try {
    let pages = await openTabs(context, env.url, n);
    await Promise.all(blank.map((page) => page.close()));
    let ids = await Promise.all(pages.map(tabId));
    let leader = await leaderOf(pages, ids, 15_000);
    const picker = pages[(leader + 1) % n];
    const session = await createSession(picker, "Imports bench");
    await openSession(pages, session);
    await new Promise((r) => setTimeout(r, 1_000));
    const busy = await Promise.all(pages.map((p) => busyMeter(context, p)));
    const cpu0 = cpuByProcess(chromium);
    await pick(picker, file.path);
    const said = await startOutcome(picker, 120_000);
    if (said !== "Import started.") throw new Error(`${what}: ${said}`);
    const task = await firstTask(pages);
    const long = [];
    let crashed = "";
    let crashedAt = null;
    let ledAt = null;
    if (crashAt !== null) {
      const watcher = pages.find((_, i) => i !== leader);
      const at = Math.floor(file.records * crashAt);
      await until(BOUND, `${at} records in`, async () => (await watched(watcher)).records >= at, 50);
      const victim = pages[leader];
      // Its long tasks, before they go with it.
      long.push({ role: "crashed leader", watch: await watched(victim) });
      const before = (await watched(watcher)).records;
      const t = Date.now();
      crashedAt = t;
      await crash({ context }, victim);
      pages = pages.filter((p) => p !== victim);
      ids = ids.filter((_, i) => i !== leader);
      leader = await leaderOf(pages, ids, 15_000);
      const marks = await pages[leader].evaluate(() =>
        performance.getEntriesByName("conclave:became-leader").map((m) => performance.timeOrigin + m.startTime),
      );
      ledAt = Math.max(...marks);
      const led = ledAt - t;
      crashed = `crashed at ${before} records; a new leader ${led.toFixed(0)} ms after the crash (its conclave:became-leader mark)`;
    }
    await until(BOUND, `${what}: done in every tab`, async () => {
      const all = await Promise.all(pages.map(watched));
      return all.every((w) => task.id in w.done);
    });
    const all = await Promise.all(pages.map(watched));
    const spent = await Promise.all(pages.map((p) => busy.find((b) => b.page === p).spent()));
    const cpu1 = cpuByProcess(chromium);
    const rows = await Promise.all(pages.map(async (p) => (await tasks(p)).find((t) => t.id === task.id)));
    const picked = all[pages.indexOf(picker)]?.picked ?? long[0]?.watch.picked;
    const started = all[pages.indexOf(picker)]?.started ?? long[0]?.watch.started;
    const end = Math.max(...all.map((w) => w.done[task.id]));
    const ms = end - picked;
    const records = rows[0].records;
    pages.forEach((p, i) => long.push({ role: i === leader ? (crashAt === null ? "leader" : "new leader") : p === picker ? "picker" : "follower", watch: all[i] }));
    const perTab = long.map(({ role, watch }) => ({ role, ...longIn(watch, picked, end) }));
    const wrong = rows.filter((r) => r.state !== "done" || r.records !== file.records);
    // The pace as the picker saw it: when each batch's records showed there.
    const progress = all[pages.indexOf(picker)].progress.filter(([t]) => t >= picked && t <= end);
    const gaps = progress.slice(1).map(([t], i) => t - progress[i][0]);
    let pace = `batches shown in the picker every ${quantile(gaps, 0.5).toFixed(0)} ms (median; ${gaps.length + 1} updates), the longest pause ${Math.max(...gaps).toFixed(0)} ms`;
    if (crashedAt !== null) {
      // The new leader's first batch: the first shown after it became leader (batches the
      // crashed one committed may still arrive just after the crash).
      const after = progress.findIndex(([t]) => t > ledAt);
      if (after > 0) {
        pace +=
          `; the new leader's first batch shown ${(progress[after][0] - crashedAt).toFixed(0)} ms after the crash ` +
          `(${(progress[after][0] - progress[after - 1][0]).toFixed(0)} ms after the one before it)`;
      }
    }
    const terms = [...new Set(all.flatMap((w) => w.terms.filter(([t]) => t >= picked && t <= end).map(([, term]) => term)))];
    if (terms.length) pace += `; leader terms begun during the import: ${terms.join(", ")}`;
    console.log(
      `${what}: ${records} records, ${(SIZE / MiB).toFixed(0)} MiB, done in every tab ${(ms / 1_000).toFixed(1)} s after the pick ` +
        `(staged and started after ${((started - picked) / 1_000).toFixed(1)} s): ${rate(records, ms)}` +
        (crashed ? `; ${crashed}` : "") +
        ` [load ${load} before]`,
    );
    console.log(`${what}: ${pace}`);
    console.log(`${what}: ${longWords(perTab)}`);
    const roles = pages.map((p, i) => (i === leader ? (crashAt === null ? "leader" : "new leader") : p === picker ? "picker" : "follower"));
    console.log(
      `${what}: CPU time of the browser's processes from the pick to the end (/proc): ` +
        cpuSpent(cpu0, cpu1)
          .kinds.map(([k, ms]) => `${k} ${(ms / 1_000).toFixed(2)} s`)
          .join(", "),
    );
    console.log(
      `${what}: main-thread time from the pick to the end (CDP TaskDuration): ` +
        spent.map((s, i) => `${roles[i]} ${s.toFixed(2)} s`).join(", "),
    );
    if (wrong.length) console.log(`${what}: a tab shows other than ${file.records} records done: ${JSON.stringify(wrong)}`);
    return { ms, staging: started - picked, records };
  } finally {
    await env.close();
  }
}

/** Every Chromium process on this machine (the one browser under test), for cpuByProcess. */
const chromium = (cmdline) => /chrom/.test(cmdline.replaceAll("\0", " ").split(" ")[0]);

/**
 * How much main-thread time `page` spends from now on (Chrome's TaskDuration, through CDP):
 * `{ page, spent() }`, spent() resolving to the seconds since.
 */
async function busyMeter(context, page) {
  const { read } = await pageMetrics(context, [page]);
  const taskDuration = async () => (await read())[0].TaskDuration;
  const start = await taskDuration();
  return { page, spent: async () => (await taskDuration()) - start };
}

/** The baseline: the plain import loop in one tab. Resolves to { ms, records }. */
async function baseline(file) {
  const what = "baseline (one tab, no coordination, the same IndexedDB writes)";
  const load = loadavg()[0].toFixed(2);
  const { env, context, blank } = await browser(BASELINE, what);
  try {
    const page = await context.newPage();
    await Promise.all(blank.map((p) => p.close()));
    await page.goto(`${env.url}import.html`);
    await page.waitForFunction(() => window.__importBaseline !== undefined);
    await page.locator("#file").setInputFiles(file.path);
    const result = await page.evaluate(() => window.__importBaseline.result);
    const w = await watched(page);
    const ms = result.end - result.start;
    console.log(
      `${what}: ${result.records} records, ${(result.bytes / MiB).toFixed(0)} MiB in ${result.commits} strict commits, ` +
        `${(ms / 1_000).toFixed(1)} s from the pick to the last commit: ${rate(result.records, ms)} [load ${load} before]`,
    );
    console.log(`${what}: ${longWords([{ role: "its tab", ...longIn(w, result.start, result.end) }])}`);
    return { ms, records: result.records };
  } finally {
    await env.close();
  }
}

const dir = await mkdtemp(join(tmpdir(), "conclave-imports-"));
try {
  const { texts, buffer } = streamingHistory(SIZE);
  const file = { path: join(dir, NAME), records: texts.length };
  await writeFile(file.path, buffer);
  console.log(
    `the file: ${texts.length} records, ${(buffer.length / MiB).toFixed(2)} MiB (${(buffer.length / texts.length).toFixed(0)} bytes a record); ` +
      `IndexedDB on disk (a persistent profile per run); ${ROUNDS} round${ROUNDS > 1 ? "s" : ""}`,
  );
  if (CSS) console.log(`every page of the app with this style sheet added (IMPORTS_CSS): ${CSS}`);
  const runs = {
    baseline: () => baseline(file),
    1: () => app(file, 1),
    5: () => app(file, TABS),
    crash: () => app(file, TABS, CRASH_AT),
  };
  const order = ["baseline", "1", "5", "crash"].filter((k) => ONLY.includes(k));
  const results = Object.fromEntries(order.map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    if (ROUNDS > 1) console.log(`round ${round + 1}:`);
    // Each round in the other order: the machine's drift falls on all alike.
    for (const k of round % 2 ? [...order].reverse() : order) results[k].push(await runs[k]());
    const r = Object.fromEntries(order.map((k) => [k, results[k][round]]));
    if (r.crash && r[5]) console.log(`a leader crash cost ${((r.crash.ms - r[5].ms) / 1_000).toFixed(1)} s (crash run against the ${TABS}-tab run)`);
    for (const k of ["1", "5"]) {
      if (r[k] && r.baseline) {
        console.log(`the app, ${k} tab${k === "1" ? "" : "s"} / baseline: ${(r.baseline.ms / r[k].ms).toFixed(2)}× the baseline's throughput`);
      }
    }
  }
  if (ROUNDS > 1) {
    const median = (k) => quantile(results[k].map((x) => x.ms), 0.5);
    const spread = (k) => results[k].map((x) => (x.ms / 1_000).toFixed(1)).join(", ");
    for (const k of order) console.log(`${k}: medians of ${ROUNDS} rounds ${(median(k) / 1_000).toFixed(1)} s (${rate(file.records, median(k))}); each: ${spread(k)} s`);
    if (results.baseline.length) {
      for (const k of ["1", "5"].filter((k) => results[k].length)) {
        console.log(`the app, ${k} tab${k === "1" ? "" : "s"} / baseline, medians: ${(median("baseline") / median(k)).toFixed(2)}×`);
      }
    }
    if (results.crash.length && results[5].length) {
      const costs = results.crash.map((c, i) => (c.ms - results[5][i].ms) / 1_000);
      console.log(`a leader crash cost, median ${quantile(costs, 0.5).toFixed(1)} s; each: ${costs.map((c) => c.toFixed(1)).join(", ")} s`);
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
  if (errors.size === 0) console.log("page errors: none");
  for (const [what, times] of errors) console.log(`page error (${times}×) ${what}`);
}
