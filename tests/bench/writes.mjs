// Writes to the sessions workspace in this machine's headless Chromium, on the served app (a
// release build in dist/). A benchmark, not a test: it prints figures and judges nothing.
//
// 1. Latency, with 2, 5 and 10 tabs open (a fresh browser per tab count, so IndexedDB starts
//    empty), and 5 tabs in one window (the writer in front and shown, the other 4 hidden,
//    emulated: a person writes in the tab they see): one follower tab writes `writes` messages
//    one after another, each once the
//    previous one is acknowledged (after 10 writes not counted, to warm up). Per write: t0 when
//    the page submits it (set inside the page: the composer's value, an `input` event, an
//    Enter `keydown`, with no DevTools round trip inside the timed part); t1 when that
//    tab's compose status says "Saved." (the leader answers only once the IndexedDB commit
//    holding it is durable); t2 when the message text appears in the DOM of the last of all
//    tabs (a MutationObserver in every page notes when each message text first appears, on
//    the machine's wall clock: performance.timeOrigin + performance.now()). Also when it
//    appears in the writing tab itself (in one window, the hidden tabs draw once shown, after
//    the timed writes: t2 is not printed there). Beside it, the floor of such a write with as many tabs
//    of a bare page (idb-baseline/, its own origin, a fresh browser): one tab asks another on a
//    BroadcastChannel, which puts it in a strict transaction, draws it and, once committed,
//    answers on the channel; every tab draws it as it hears it.
// 2. Sustained writes, 5 tabs writing at once (a fresh browser): each tab makes K writes as
//    fast as it can, pipelined, through the page's `addMessage` export (as many at once as it
//    takes; or, with WRITES_SUSTAINED_SUBMIT=enter, through the composer, one submit a turn;
//    a write refused because too many requests are outstanding is made again, same text, after
//    a few ms), until every tab shows all 5 × K; writes/s
//    from the first submit to the moment the last tab shows the last message, with how many
//    strict commits the leader made for them (the store's revision, read from the panel). The
//    same in one window: the tab in front shown, the other 4 hidden (emulated), writes/s until
//    the shown tab shows the last message (the hidden ones, shown again, must then list the
//    latest). Beside
//    it, in the same run, the baseline: 5 tabs of a plain page (idb-baseline/, served on its
//    own origin, in a fresh browser) where each tab writes IndexedDB itself, one strict
//    readwrite transaction per message (as RxDB and Dexie insert: one document, one
//    transaction), K each, all at once; writes/s from the first insert to the last commit. The
//    bare baseline's tabs tell no other tab anything and draw nothing: it is only the storage
//    part of the work. Three more modes of the same page: "observed", where every tab also
//    shows every message as RxDB's and Dexie's observing tabs do (a committed write is drawn
//    by its tab and announced on a BroadcastChannel; the others read it from IndexedDB and
//    draw it, as Dexie's live queries do), until every tab shows all 5 × K; "announced", the
//    same but the committed record itself goes on the channel and the others draw it from the
//    message, as RxDB's multi-instance tabs do; and "display", no storage at all, every
//    message sent on the channel and drawn by every tab: the floor of "every tab shows every
//    write". For each, the CPU time the browser's processes used meanwhile (read from /proc;
//    with WRITES_STORAGE=disk only) and how busy the machine's cores were.
// 3. The platform's floor, on the baseline page alone: one small put per transaction, strict and
//    relaxed, one after another (ms from the transaction's creation to its `complete`); and
//    100 puts in one strict transaction; with IndexedDB on disk and in memory.
//
// Storage: by default every browser runs on a persistent profile in a fresh temporary directory
// (removed at close), so that IndexedDB lives on the disk and "strict" waits for it.
// WRITES_STORAGE=memory runs them as the end-to-end tests do (browser.mjs's launch(): a
// Playwright context, off the record, where Chromium keeps IndexedDB in memory).
//
//   node tests/bench/writes.mjs [writes]        (default 300)
// after a release build of the app in dist/ (`trunk build --release`).
// WRITES_TABS=2,5 runs only those tab counts for the latency (5w: 5 tabs in one window); WRITES_SUSTAINED=200 sets K;
// WRITES_ROUNDS=3 how many times the sustained pair runs (in turn, the order alternating);
// WRITES_ONLY=latency|sustained|floor runs only that part; WRITES_STORAGE=disk|memory (above);
// WRITES_PROFILE=N samples a CPU profile of every tab through each timed part
// of Conclave's runs and prints each tab's N costliest functions (profiles.mjs; names show in
// a build that keeps them: docs/benchmarks.md, "Profiling"; CONCLAVE_DIST picks the build).
// Any error the pages log (console errors, uncaught exceptions) is printed at the end.
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { ARGS, DIST, EXTRA_ARGS, closePanel, emulateHidden, launch, openPanel, openTabs, tabId, within } from "../e2e/browser.mjs";
import { serve } from "../e2e/server.mjs";
import { timedWrite } from "./compose.mjs";
import { pageMetrics } from "./metrics.mjs";
import { cpuByProcess, cpuSpent } from "./processes.mjs";
import { describe, profiling } from "./profiles.mjs";
import { quantile, stats } from "./stats.mjs";

const WRITES = Number(process.argv[2] ?? 300);
const WARM_UP = 10;
/**
 * The latency part's configurations: a number of tabs, every page visible (headless Chromium
 * shows every page; the last opened is the one in front), or with "w" (say "5w"), as many
 * tabs in one window: the writer in front and shown, the others hidden (emulated, as
 * browser.mjs's emulateHidden does), as a person writing in one of several tabs of a window
 * has them.
 */
const SIZES = (process.env.WRITES_TABS ?? "2,5,5w,10").split(",").map((size) => ({ n: Number.parseInt(size, 10), window: size.endsWith("w") }));
const K = Number(process.env.WRITES_SUSTAINED ?? 200);
const ROUNDS = Number(process.env.WRITES_ROUNDS ?? 3);
/**
 * How each tab makes its writes in the sustained part: "api" (the default) through the page's
 * `addMessage` export, as a page script would, as many at once as the tab takes (like the
 * baselines, which call IndexedDB from script with no form); "enter" through the composer, its
 * text and an Enter, one submit a turn.
 */
const SUSTAINED_SUBMIT = process.env.WRITES_SUSTAINED_SUBMIT ?? "api";
if (!["api", "enter"].includes(SUSTAINED_SUBMIT)) {
  throw new Error(`WRITES_SUSTAINED_SUBMIT: api or enter, not ${SUSTAINED_SUBMIT}`);
}
const WRITERS = 5;
const ONLY = process.env.WRITES_ONLY;
const PROFILE = Number(process.env.WRITES_PROFILE ?? 0);
const FLOOR_N = 200;
const FLOOR_BATCH = 100;
const FLOOR_ROUNDS = 20;
/** The panel's counters refresh at most once a second. */
const PANEL_REFRESH_MS = 1_200;
/** How many messages the session view draws (view_model::MAX_SHOWN). */
const MAX_SHOWN = 500;
const BASELINE = fileURLToPath(new URL("idb-baseline", import.meta.url));
/** "disk" (the default): a persistent profile; "memory": browser.mjs's launch(). */
const STORAGE = process.env.WRITES_STORAGE ?? "disk";
if (!["disk", "memory"].includes(STORAGE)) throw new Error(`WRITES_STORAGE: disk or memory, not ${STORAGE}`);


/**
 * A fresh browser serving `root` on a loopback port: { url, context, close }, where `context`
 * holds the tabs (they share storage, channel and locks) and nothing was stored before.
 *
 * With `storage` "disk", a persistent profile in a fresh temporary directory (removed at
 * close): IndexedDB lives on the disk, and a strict commit waits for it. With "memory",
 * browser.mjs's launch() and a new context of its browser: Playwright's contexts are
 * off-the-record, where Chromium keeps IndexedDB in memory and no commit touches the disk.
 */
async function browserFor(root, storage = STORAGE) {
  if (storage === "memory") {
    const env = await launch();
    const server = root === DIST ? null : await serve(root);
    const context = root === DIST ? env.context : await env.browser.newContext();
    return {
      url: server?.url ?? env.url,
      context,
      // Its processes are not told apart from other browsers' here.
      cpu: () => null,
      async close() {
        await server?.close();
        await env.close();
      },
    };
  }
  const server = await serve(root);
  const dir = await mkdtemp(join(tmpdir(), "conclave-writes-"));
  // Chromium's own configuration (its crash database) in the same directory: see browser.mjs.
  await mkdir(join(dir, "config", "chromium"), { recursive: true });
  const context = await chromium.launchPersistentContext(join(dir, "profile"), {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [...ARGS, ...EXTRA_ARGS],
    env: { ...process.env, XDG_CONFIG_HOME: join(dir, "config") },
  });
  const profile = `--user-data-dir=${join(dir, "profile")}`;
  return {
    url: server.url,
    context,
    /** The CPU time (ms) this browser's processes have used so far. */
    cpu: () => cpuByProcess((cmdline) => cmdline.includes(profile)),
    async close() {
      await context.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The CPU time (ms) every core of this machine has spent busy since it started. */
function machineBusy() {
  const [, ...ticks] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = ticks;
  return (user + nice + system + irq + softirq + steal) * 10;
}

/** How much CPU `env`'s browser and the whole machine have used so far, and when: a mark. */
function usage(env) {
  return { cpu: env.cpu(), busy: machineBusy(), at: performance.now() };
}

/** What the browser and the machine used since mark `from`, per `total` messages, as words. */
function used(env, from, total) {
  const to = usage(env);
  const wall = to.at - from.at;
  const machine = `the machine's cores were busy ${((to.busy - from.busy) / 1_000).toFixed(1)} s in those ${(wall / 1_000).toFixed(1)} s`;
  if (to.cpu === null) return machine;
  const { total: cpu, kinds: spent } = cpuSpent(from.cpu, to.cpu);
  const kinds = spent.map(([kind, ms]) => `${kind} ${(ms / total).toFixed(2)}`).join(", ");
  return `its browser used ${(cpu / 1_000).toFixed(1)} s of CPU (${(cpu / total).toFixed(2)} ms a message: ${kinds}) and ${machine}`;
}

/**
 * Starts counting each of `pages`' main-thread time (metrics.mjs: the tasks' wall time, waits
 * for a core included, and the thread's CPU time). The function returned gives, per message of
 * `total`, the median tab's task, CPU, script, layout and style time; or with `named` (index →
 * name), each tab's.
 */
async function mainThreads(context, pages) {
  const { read, detach } = await pageMetrics(context, pages);
  const before = await read();
  return async (total, named) => {
    const after = await read();
    await detach();
    const each = (name) => after.map((a, i) => ((a[name] - before[i][name]) * 1_000_000) / total);
    const median = (name) => each(name).sort((x, y) => x - y)[Math.floor(pages.length / 2)];
    const words = (at) =>
      `tasks ${at("TaskDuration").toFixed(0)} µs (CPU ${at("ThreadTime").toFixed(0)}; script ${at("ScriptDuration").toFixed(0)}, ` +
      `layout ${at("LayoutDuration").toFixed(0)}, style ${at("RecalcStyleDuration").toFixed(0)})`;
    if (named) return pages.map((_, i) => `${named(i)}: ${words((name) => each(name)[i])}`).join("; ");
    return `the median tab's main thread, per message: ${words(median)}`;
  };
}

/** Opens `n` tabs of `url` in `context` (openTabs), and closes the blank tab a profile starts with. */
async function tabs(context, url, n) {
  const blank = context.pages();
  const pages = await openTabs(context, url, n);
  await Promise.all(blank.map((page) => page.close()));
  return pages;
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

/**
 * An init script: notes in `window.__shown` (text → wall-clock ms) when each message's text
 * first appears in the page's DOM. A row comes into the list whole, its text set before it is
 * put in (post_list.js), so only added elements are looked at, not every text change in the
 * page (the counters, the compose status). While a prefix is counted (`shownWith`), each text
 * is counted as it is noted, so that the 25 ms polls cost the tabs nothing more, as the
 * baselines' pages count what they draw in their own code.
 */
function recordMessages() {
  const shown = new Map();
  window.__shown = shown;
  window.__counted = null;
  const note = (li, at) => {
    const text = li.querySelector(".text")?.textContent;
    if (!text || shown.has(text)) return;
    shown.set(text, at);
    const counted = window.__counted;
    if (counted && text.startsWith(counted.prefix)) {
      counted.count++;
      counted.last = Math.max(counted.last, at);
    }
  };
  new MutationObserver((records) => {
    const at = performance.timeOrigin + performance.now();
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (node.dataset.testid === "message") note(node, at);
        else if (node.firstElementChild) for (const li of node.querySelectorAll("[data-testid=message]")) note(li, at);
      }
    }
  }).observe(document, { subtree: true, childList: true });
}

/** In a page: when each of `texts` first appeared (null where it has not yet). */
function shownAt(texts) {
  return texts.map((text) => window.__shown.get(text) ?? null);
}

/**
 * In a page: how many texts starting with `prefix` appeared, and when the last of them did.
 * The first ask counts those noted so far; from then on each is counted as it is noted.
 */
function shownWith(prefix) {
  if (window.__counted?.prefix !== prefix) {
    const counted = { prefix, count: 0, last: 0 };
    for (const [text, at] of window.__shown) {
      if (!text.startsWith(prefix)) continue;
      counted.count++;
      counted.last = Math.max(counted.last, at);
    }
    window.__counted = counted;
  }
  const { count, last } = window.__counted;
  return { count, last };
}

/** In a page: the messages the open session lists whose text starts with `prefix`. */
function listedWith(prefix) {
  const texts = [...document.querySelectorAll("[data-testid=message] .text")]
    .map((e) => e.textContent)
    .filter((t) => t.startsWith(prefix));
  return { count: texts.length, distinct: new Set(texts).size };
}

/** What a tab's panel says of the election. */
function election(page) {
  return page.evaluate(() => ({
    role: document.querySelector("[data-testid=role]")?.textContent,
    term: document.querySelector("[data-testid=term]")?.textContent,
    leader: document.querySelector("[data-testid=leader]")?.dataset.leaderId ?? "",
    rev: document.querySelector("[data-testid=store-rev]")?.textContent ?? "",
  }));
}

/** Waits until exactly one of `pages` leads and all agree on it and its term; its index. */
async function agreedLeader(pages, ids) {
  let found;
  await within(15_000, "one agreed leader", async () => {
    const views = await Promise.all(pages.map(election));
    const leaders = views.filter((v) => v.role === "leader");
    if (leaders.length !== 1) return false;
    const i = views.indexOf(leaders[0]);
    found = i;
    return views.every((v) => v.leader === ids[i] && v.term === views[i].term);
  });
  return found;
}

/**
 * A fresh browser with `n` tabs of the app: one agreed leader, and one session, created from
 * the leader's tab, that every tab lists and has open.
 */
async function workspace(n, where) {
  const env = await browserFor(DIST);
  try {
    return { env, ...(await settle(env, n, where)) };
  } catch (error) {
    await env.close();
    throw error;
  }
}

/** In `env`: `n` tabs, one agreed leader, one session every tab lists and has open. */
async function settle(env, n, where) {
  await env.context.addInitScript(recordMessages);
  watchErrors(env.context, where);
  const pages = await tabs(env.context, env.url, n);
  const ids = await Promise.all(pages.map(tabId));
  const leader = await agreedLeader(pages, ids);
  await pages[leader].getByTestId("new-session-title").fill("Bench");
  await pages[leader].getByTestId("new-session").click();
  await within(15_000, "every tab lists the session and has it open", async () => {
    const open = await Promise.all(
      pages.map((page) =>
        page.evaluate(() => {
          const rows = document.querySelectorAll("[data-testid=session]");
          const composer = document.querySelector("[data-testid=compose-text]")?.closest(".compose");
          return rows.length === 1 && rows[0].getAttribute("aria-current") === "true" && composer != null && !composer.hidden;
        }),
      ),
    );
    return open.every(Boolean);
  });
  return { pages, ids, leader };
}

/**
 * In a page: from wall-clock `startAt`, submits `count` messages through the composer as fast
 * as the page takes them, never waiting for an answer; a submit refused because too many
 * requests are outstanding is made again, same text, after a few ms. Resolves to { start, end,
 * busy, refused }: when the first and last submits were made, how many were refused as busy,
 * and any other refusal.
 */
async function pipelined({ prefix, count, startAt, submit }) {
  const now = () => performance.timeOrigin + performance.now();
  const input = document.querySelector("[data-testid=compose-text]");
  const status = document.querySelector("[data-testid=compose-status]");
  // One turn of the event loop, without the 4 ms clamp of nested timers: every effect the
  // submit woke has run, and the page's other tasks (the leader's answers) get their turn.
  const channel = new MessageChannel();
  const turn = () =>
    new Promise((resolve) => {
      channel.port1.onmessage = () => resolve();
      channel.port2.postMessage(null);
    });
  while (now() < startAt) await new Promise((r) => setTimeout(r, Math.max(0, Math.min(4, startAt - now()))));
  const start = now();
  let busy = 0;
  const refused = [];
  if (submit === "api") {
    // As many at once as the tab takes; when it has too many outstanding, a few ms later.
    const session = document.querySelector("[data-testid=session][aria-current=true]").dataset.sessionId;
    for (let i = 0; i < count; ) {
      try {
        window.wasmBindings.addMessage(session, `${prefix}#${i}`);
        i++;
      } catch (error) {
        if (!/too many requests/.test(error.message)) {
          refused.push(error.message);
          i++;
        } else {
          busy++;
          await new Promise((r) => setTimeout(r, 3));
        }
      }
    }
    channel.port1.close();
    return { start, end: now(), busy, refused };
  }
  for (let i = 0; i < count; i++) {
    const text = `${prefix}#${i}`;
    for (;;) {
      const tries = Number(status.dataset.tries);
      input.value = text;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
      await turn();
      if (Number(status.dataset.tries) !== tries + 1) throw new Error(`the submit of "${text}" did not register`);
      const said = status.textContent;
      if (said === "Sending…" || said === "Saved.") break;
      if (/too many requests/.test(said)) busy++;
      else refused.push(said);
      await new Promise((r) => setTimeout(r, 3));
    }
  }
  channel.port1.close();
  return { start, end: now(), busy, refused };
}

/** The panel's store revision (how many commits the store has had), as a number: read with
 * the panel unfolded (folded, the revision waits), which is then folded again. */
async function storeRev(page) {
  await openPanel(page);
  const rev = Number((await election(page)).rev);
  await closePanel(page);
  return rev;
}

/** How many channel messages the tab has sent (the panel's counter), read as `storeRev` is. */
async function sentCount(page) {
  await openPanel(page);
  const sent = Number(await page.getByTestId("count-sent").textContent());
  await closePanel(page);
  return sent;
}

async function latency(n, window = false) {
  const tabsSaid = window ? `${n} tabs in one window` : `${n} tabs`;
  const { env, pages, ids, leader } = await workspace(n, `latency, ${tabsSaid}`);
  try {
    const follower = leader === 0 ? 1 : 0;
    const writer = pages[follower];
    const label = ids[follower].slice(0, 8);
    const behind = pages.filter((page) => page !== writer);
    if (window) {
      await writer.bringToFront();
      await Promise.all(behind.map((page) => emulateHidden(page, true)));
    }
    for (let i = 0; i < WARM_UP; i++) {
      await writer.evaluate(timedWrite, { text: `warm-up ${label} #${i}`, bound: 30_000 });
    }
    const texts = Array.from({ length: WRITES }, (_, i) => `latency ${label} #${i}`);
    const threads = await mainThreads(env.context, pages);
    const profiled = PROFILE ? await profiling(env.context, pages) : null;
    const sent = [];
    for (const text of texts) sent.push(await writer.evaluate(timedWrite, { text, bound: 30_000 }));
    const role = (i) => (i === leader ? "the leader" : i === follower ? "the writer" : `tab ${i}`);
    const thread = await threads(WRITES, role);
    if (profiled) console.log(`latency, ${tabsSaid}, CPU profiles (ms over ${WRITES} writes):\n${describe(await profiled(), role, PROFILE)}`);
    // The hidden tabs draw what they hold once shown: every tab must then show every write.
    if (window) await Promise.all(behind.map((page) => emulateHidden(page, false)));
    let seen;
    await within(30_000, `every tab shows all ${WRITES} messages`, async () => {
      seen = await Promise.all(pages.map((page) => page.evaluate(shownAt, texts)));
      return seen.every((times) => times.every((t) => t !== null));
    });
    const acked = sent.map(({ t0, t1 }) => t1 - t0);
    const everywhere = sent.map(({ t0 }, i) => Math.max(...seen.map((times) => times[i])) - t0);
    const here = sent.map(({ t0 }, i) => seen[follower][i] - t0);
    const line = `writes, ${tabsSaid}, one follower writing one after another${window ? " (the writer shown, the others hidden)" : ""}`;
    console.log(`${line}: acknowledged (durable): ${stats(acked)}`);
    console.log(`${line}: shown in the writing tab: ${stats(here)}`);
    // Hidden tabs draw nothing until shown: only the visible tabs' times say when a write shows.
    if (!window) console.log(`${line}: shown in every tab: ${stats(everywhere)}`);
    console.log(`${line}: main threads, per write: ${thread}`);
  } finally {
    await env.close();
  }
}

/**
 * Conclave's sustained run: every page visible, or in one `window` (the tab in front, the
 * last opened, shown; the others hidden, emulated), where the rate is taken when the shown
 * tab shows every message, and the hidden ones, shown again, must then list the latest.
 */
async function sustainedConclave(round, window = false) {
  const name = window ? "Conclave in one window" : "Conclave";
  const { env, pages, ids, leader } = await workspace(WRITERS, `sustained, ${WRITERS} tabs${window ? " in one window" : ""}`);
  try {
    await new Promise((r) => setTimeout(r, PANEL_REFRESH_MS));
    const revBefore = await storeRev(pages[leader]);
    const sentBefore = await Promise.all(pages.map(sentCount));
    // Hidden only now: a hidden page's panel holds its counters until shown.
    const front = pages.length - 1;
    const behind = window ? pages.filter((_, i) => i !== front) : [];
    await Promise.all(behind.map((page) => emulateHidden(page, true)));
    const prefix = `sustained ${Date.now()} `;
    const startAt = Date.now() + 500;
    const threads = await mainThreads(env.context, pages);
    const profiled = PROFILE ? await profiling(env.context, pages) : null;
    const mark = usage(env);
    const runs = await Promise.all(
      pages.map((page, i) => page.evaluate(pipelined, { prefix: `${prefix}${ids[i].slice(0, 8)} `, count: K, startAt, submit: SUSTAINED_SUBMIT })),
    );
    const total = WRITERS * K;
    const shown = window ? [pages[front]] : pages;
    const where = window ? "the shown tab" : "every tab";
    let views;
    await within(120_000, `${where} shows all ${total} messages`, async () => {
      views = await Promise.all(shown.map((page) => page.evaluate(shownWith, prefix)));
      return views.every((v) => v.count >= total);
    });
    const cpu = used(env, mark, total);
    const role = (i) => `tab ${i}${i === leader ? ", the leader" : ""}${window && i !== front ? ", hidden" : ""}`;
    const thread = await threads(total, role);
    if (profiled) console.log(`sustained, round ${round + 1}, ${name}, CPU profiles (ms over ${total} writes):\n${describe(await profiled(), role, PROFILE)}`);
    const start = Math.min(...runs.map((r) => r.start));
    const end = Math.max(...views.map((v) => v.last));
    // The list draws the latest MAX_SHOWN of them; the hidden tabs, once shown.
    const drawn = Math.min(total, MAX_SHOWN);
    const lists = () => Promise.all(pages.map((page) => page.evaluate(listedWith, prefix)));
    let listed;
    if (window) {
      await Promise.all(behind.map((page) => emulateHidden(page, false)));
      await within(10_000, "every tab, shown again, lists the latest messages", async () => {
        listed = await lists();
        return listed.every((l) => l.count === drawn && l.distinct === drawn);
      });
    } else {
      listed = await lists();
    }
    await new Promise((r) => setTimeout(r, PANEL_REFRESH_MS));
    const commits = (await storeRev(pages[leader])) - revBefore;
    const sent = (await Promise.all(pages.map(sentCount))).map((n, i) => n - sentBefore[i]);
    const submitted = Math.max(...runs.map((r) => r.end)) - start;
    const busy = runs.map((r) => r.busy);
    const refused = runs.flatMap((r) => r.refused);
    const rate = (total / (end - start)) * 1_000;
    console.log(
      `sustained, round ${round + 1}, ${name}, ${WRITERS} tabs each writing ${K} at once (pipelined): ${total} messages shown in ${where} ` +
        `${(end - start).toFixed(0)} ms after the first submit: ${rate.toFixed(0)} writes/s ` +
        `(the last submit made at ${submitted.toFixed(0)} ms; ${commits} strict commits, ` +
        `${(total / Math.max(1, commits)).toFixed(1)} messages per commit on average; ` +
        `submits refused as busy and made again, per tab: ${busy.join(", ")}; ` +
        `channel messages sent meanwhile, per tab (the leader's #${leader}, heartbeats included): ${sent.join(", ")})`,
    );
    console.log(`sustained, round ${round + 1}, ${name}: from 0.5 s before the first submit until ${where} showed every message, ${cpu}; ${thread}`);
    if (refused.length) console.log(`sustained, round ${round + 1}, ${name}: other refusals: ${[...new Set(refused)].join(" | ")}`);
    const wrong = listed.filter((l) => l.count !== drawn || l.distinct !== drawn);
    if (wrong.length) console.log(`sustained, round ${round + 1}, ${name}: a tab lists other than ${drawn} distinct messages: ${JSON.stringify(listed)}`);
    return rate;
  } finally {
    await env.close();
  }
}

/** The baseline page, served on its own origin, in a context of its own in a fresh browser. */
async function baselineTabs(n, where, storage = STORAGE) {
  const env = await browserFor(BASELINE, storage);
  try {
    watchErrors(env.context, where);
    const pages = await tabs(env.context, env.url, n);
    await Promise.all(pages.map((page) => page.waitForFunction(() => window.__baseline !== undefined)));
    return { env, pages, close: () => env.close() };
  } catch (error) {
    await env.close();
    throw error;
  }
}

/** What each baseline mode does (idb-baseline/baseline.js), as its lines say it. */
const MODES = {
  bare: "every tab writes IndexedDB itself, one strict transaction per message, and shows nothing",
  observed: "the same, and every tab shows every message: a write's tab draws it once committed and tells the others, which read it from IndexedDB and draw it",
  announced:
    "the same, and every tab shows every message as RxDB's tabs do: a write's tab draws it once committed and sends it on a BroadcastChannel, the others draw it from the message",
  display: "no storage: every tab shows every message, sent on a BroadcastChannel",
};

async function sustainedBaseline(round, mode) {
  const { env, pages, close } = await baselineTabs(WRITERS, `baseline ${mode}, ${WRITERS} tabs`);
  try {
    const startAt = Date.now() + 500;
    const threads = await mainThreads(env.context, pages);
    const mark = usage(env);
    const total = WRITERS * K;
    const runs = await Promise.all(
      pages.map((page) => page.evaluate(({ K, startAt, mode }) => window.__baseline.write("m", K, startAt, mode), { K, startAt, mode })),
    );
    let end = Math.max(...runs.map((r) => r.end));
    if (mode !== "bare") {
      let views;
      await within(120_000, `every baseline tab shows all ${total} messages`, async () => {
        views = await Promise.all(pages.map((page) => page.evaluate(() => window.__baseline.shown())));
        return views.every((v) => v.count >= total);
      });
      end = Math.max(...views.map((v) => v.last));
    }
    const cpu = used(env, mark, total);
    const thread = await threads(total, (i) => `tab ${i}`);
    const stored = await pages[0].evaluate(() => window.__baseline.count());
    const start = Math.min(...runs.map((r) => r.start));
    const rate = (total / (end - start)) * 1_000;
    const until = mode === "bare" ? "the last commit" : "every tab showed every message";
    console.log(
      `sustained, round ${round + 1}, baseline ${mode} (${MODES[mode]}), ${WRITERS} tabs each writing ${K} at once: ` +
        `${total} done ${(end - start).toFixed(0)} ms after the first: ${rate.toFixed(0)} writes/s (${stored} records stored)`,
    );
    console.log(`sustained, round ${round + 1}, baseline ${mode}: from 0.5 s before the first write until ${until}, ${cpu}; ${thread}`);
    return rate;
  } finally {
    await close();
  }
}

/**
 * The floor of one write through a leader, with `n` tabs of the baseline page (IndexedDB as
 * the app's latency part has it): tab 0 leads, tab 1 writes `WRITES` messages one after
 * another (after `WARM_UP`), each acknowledged once the leader's answer, sent after its strict
 * commit, is heard; and when every tab had drawn it.
 */
async function relayFloor(n) {
  const { pages, close } = await baselineTabs(n, `floor, relayed, ${n} tabs`);
  try {
    await pages[0].evaluate(() => window.__baseline.lead());
    const sent = [];
    for (let i = 0; i < WARM_UP + WRITES; i++) {
      const write = await pages[1].evaluate((text) => window.__baseline.relayed(text), `relayed #${i}`);
      if (i >= WARM_UP) sent.push(write);
    }
    const ids = sent.map((w) => w.id);
    let seen;
    await within(30_000, "every baseline tab drew every relayed write", async () => {
      seen = await Promise.all(pages.map((page) => page.evaluate((ids) => window.__baseline.drawnAt(ids), ids)));
      return seen.every((times) => times.every((t) => t !== null));
    });
    const acked = sent.map(({ t0, t1 }) => t1 - t0);
    const everywhere = sent.map(({ t0 }, i) => Math.max(...seen.map((times) => times[i])) - t0);
    const line = `floor, ${n} tabs of a bare page: one tab writing through another that commits (strict, one transaction a write) and answers on the channel, every tab drawing`;
    console.log(`${line}: acknowledged: ${stats(acked)}`);
    console.log(`${line}: shown in every tab: ${stats(everywhere)}`);
  } finally {
    await close();
  }
}

async function floor(storage) {
  const { pages, close } = await baselineTabs(1, `floor, ${storage}`, storage);
  try {
    const times = await pages[0].evaluate(
      ({ n, batch, rounds }) => window.__baseline.floor(n, batch, rounds),
      { n: FLOOR_N, batch: FLOOR_BATCH, rounds: FLOOR_ROUNDS },
    );
    const where = storage === "disk" ? "on disk (a persistent profile)" : "in memory (an off-the-record context)";
    const line = `platform floor, IndexedDB in this Chromium ${where}, one tab alone`;
    console.log(`${line}: one small put per transaction, strict: ${stats(times.strict)}`);
    console.log(`${line}: one small put per transaction, relaxed: ${stats(times.relaxed)}`);
    console.log(`${line}: ${FLOOR_BATCH} puts in one strict transaction: ${stats(times.batch)}`);
  } finally {
    await close();
  }
}

console.log(
  SUSTAINED_SUBMIT === "api"
    ? "sustained writes: made through the page's addMessage export, as many at once as a tab takes (WRITES_SUSTAINED_SUBMIT=enter: through the composer)"
    : "sustained writes: made through the composer, its text and an Enter, one submit a turn",
);
console.log(
  STORAGE === "disk"
    ? "IndexedDB on disk: a persistent profile per configuration (WRITES_STORAGE=memory: off-the-record contexts)"
    : "IndexedDB in memory: off-the-record browser contexts, as the end-to-end tests use (WRITES_STORAGE=disk: on disk)",
);
try {
  if (!ONLY || ONLY === "latency") {
    for (const { n, window } of SIZES) {
      await latency(n, window);
      // The floor's page draws whether shown or not: one floor for both.
      if (!window) await relayFloor(n);
    }
  }
  if (!ONLY || ONLY === "sustained") {
    // Rounds in turn, each in the other order: the machine's drift falls on both alike.
    const order = ["conclave", "window", ...Object.keys(MODES)];
    const rates = Object.fromEntries(order.map((which) => [which, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const which of round % 2 ? [...order].reverse() : order) {
        rates[which].push(which in MODES ? await sustainedBaseline(round, which) : await sustainedConclave(round, which === "window"));
      }
    }
    const median = Object.fromEntries(order.map((which) => [which, quantile(rates[which], 0.5)]));
    for (const mode of Object.keys(MODES)) {
      console.log(
        `sustained, Conclave / baseline ${mode}: ${(median.conclave / median[mode]).toFixed(2)}× (medians of ${ROUNDS} rounds: ` +
          `${median.conclave.toFixed(0)} against ${median[mode].toFixed(0)} writes/s)`,
      );
    }
    console.log(
      `sustained, Conclave in one window (the tab in front shown, the others hidden) / baseline bare: ` +
        `${(median.window / median.bare).toFixed(2)}× (medians of ${ROUNDS} rounds: ${median.window.toFixed(0)} against ${median.bare.toFixed(0)} writes/s)`,
    );
    console.log(
      `sustained, the spec's goal is at least 2× the baseline; showing every message in every tab, with no storage at all, ` +
        `runs at ${(median.display / median.bare).toFixed(2)}× the bare baseline here`,
    );
  }
  // The floor of both storages, the one the figures above ran on first.
  if (!ONLY || ONLY === "floor") {
    for (const storage of STORAGE === "disk" ? ["disk", "memory"] : ["memory", "disk"]) await floor(storage);
  }
} finally {
  if (errors.size === 0) console.log("page errors: none");
  for (const [what, times] of errors) console.log(`page error (${times}×) ${what}`);
}
