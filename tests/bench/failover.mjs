// Failover of the served app in this machine's headless Chromium: how long after the leader's
// tab closes (page.close) or its renderer crashes (CDP Page.crash) another tab leads, with 2, 5
// and 10 tabs open, with Web Locks and in lease-only mode (?election=lease). The same harness,
// in the same run, measures Conclave's driver alone on a page that shows nothing (bare/, its
// own origin) and the reference: npm `broadcast-channel`'s leader election (see
// reference/page.mjs, a page as bare), with Web Locks and in its message-based mode. The bare
// page compares the libraries on pages of like weight: after a crash the browser lets go of a
// heavier page's locks later (tests/bench/platform.mjs measures how much).
//
// Each subject's group of n tabs runs in its own browser context (its own storage, channel and
// locks); the groups of one configuration are open side by side and take turns, trial by trial,
// in an order that rotates, so that the machine's drift over a run falls on all alike. Each
// trial removes the group's leader, measures, and opens a fresh tab in its place. A trial
// starts from a settled group: the fresh tab has run for 1.5 s, one tab leads and every tab
// knows it, and, with Web Locks, the locks are as a settled group holds them (for Conclave the
// leader lock held with the heir's request waiting on it and the heir lock held; for the
// reference its lock held with every other tab waiting on it).
//
// "Leads" is the successor's "became leader", a User Timing mark set the moment it may act:
// Conclave's driver marks `conclave:became-leader` (on either page), the reference page marks
// `reference:became-leader` when the library grants leadership. For Conclave the moment its
// panel first shows "leader" (seen by a MutationObserver) is printed beside it. After a clean
// close the time from the closing tab's pagehide is printed for both (with how long after the
// command that pagehide ran), and for Conclave it is
// split in two: until the successor heard the first message on the app's channel after it (the
// resignation), and from there until it became leader (its own work); after a crash it is
// split at the successor's `conclave:leader-lock-granted` mark, which the driver sets when the
// lock manager's grant reaches the page. All times are on the machine's wall clock
// (performance.timeOrigin + the page's clock), the clock the kill is timed on.
//
//   node tests/bench/failover.mjs [trials] [only]
// after release builds of the app in dist/ and of the bare page in target/bench-bare
// (`trunk build tests/bench/bare/index.html --release true --dist target/bench-bare`).
// `only` runs one configuration: locks-close, locks-crash, lease-close or lease-crash.
// FAILOVER_TABS=10 (or 2,5) runs only those group sizes; FAILOVER_SUBJECTS=bare,reference only
// those subjects (of app, bare and reference); SETTLE_MS=5000 lets each fresh tab run longer
// than 1.5 s before the next trial; FAILOVER_TRACE=1 prints, for every trial, the
// successor's User Timing marks around it (ms after the closing tab's pagehide, or after the
// crash command), to tell a slow hand-off from a slow grant.
// Each crash comes after a random wait of up to one heartbeat period (1 s), so that it lands at
// a random phase of the leader's heartbeats, as a real crash does.
// FAILOVER_BACKGROUND=10 keeps that many settled Conclave tabs open in a browser context of
// their own (their own channel, locks and storage) throughout, as a load beside every
// configuration: to tell what ten Conclave tabs cost a group of the other library.
// FAILOVER_PROBE=1 has the leader's tab also hold a plain lock that another tab of the group
// waits for, and prints when that lock was granted: the lock manager's own time to let go of a
// closed or crashed tab's locks, in the same trial, for either library.
// FAILOVER_OTHER=<dir> adds a subject `other`: another release build of the app, served from
// <dir> on an origin of its own, beside the app in dist/ (to compare two builds in one run:
// FAILOVER_SUBJECTS=app,other,reference).
// FAILOVER_SPLIT=1 adds the split of Conclave's close (it listens on the app's channel in every
// tab, which adds to their load).
import { launch, recordRoles, tabId, within } from "../e2e/browser.mjs";
import { awaitLock, crash, holdLock } from "./locks.mjs";
import { resolve } from "node:path";
import { serve } from "../e2e/server.mjs";
import { serveBare, serveReference } from "./pages.mjs";
import { stats } from "./stats.mjs";

const TRIALS = Number(process.argv[2] ?? 30);
const ONLY = process.argv[3];
const SPLIT = process.env.FAILOVER_SPLIT === "1";
const TRACE = process.env.FAILOVER_TRACE === "1";
const SETTLE_MS = Number(process.env.SETTLE_MS ?? 1_500);
const SIZES = (process.env.FAILOVER_TABS ?? "2,5,10").split(",").map(Number);
const BACKGROUND = Number(process.env.FAILOVER_BACKGROUND ?? 0);
const SUBJECTS = (process.env.FAILOVER_SUBJECTS ?? "app,bare,reference").split(",");
const PROBE = process.env.FAILOVER_PROBE === "1";
const OTHER = process.env.FAILOVER_OTHER;
/** Conclave's heartbeat period (conclave-core's Config::default): a crash lands anywhere in it. */
const HEARTBEAT_MS = 1_000;

/**
 * An init script: notes, in a cookie, when a closing page's `pagehide` ran (wall clock). A cookie
 * and not `localStorage`, whose write would wake every other tab with a `storage` event at the
 * very moment measured.
 */
function recordPagehide() {
  addEventListener("pagehide", () => {
    document.cookie = `bench-pagehide=${performance.timeOrigin + performance.now()}; path=/`;
  });
}

/**
 * An init script for Conclave's pages: keeps in `window.__heard` when the page last heard
 * messages on the app's channel (its own listener on "conclave", alongside the app's), on the
 * machine's wall clock.
 */
function recordHeard() {
  const now = () => performance.timeOrigin + performance.now();
  window.__heard = [];
  new BroadcastChannel("conclave").onmessage = () => {
    window.__heard.push(now());
    if (window.__heard.length > 64) window.__heard.splice(0, 32);
  };
}

/**
 * In a page: the first became-leader mark, leader-lock grant mark (Conclave's), panel change and
 * channel message after `t`.
 */
function firstsAfter({ mark, t, since }) {
  const origin = performance.timeOrigin;
  const first = (name) =>
    performance
      .getEntriesByName(name)
      .map((e) => origin + e.startTime)
      .find((at) => at > t);
  const became = first(mark);
  const granted = first("conclave:leader-lock-granted");
  const shown = window.__roles?.find((r) => r.role === "leader" && r.at > t)?.at;
  const heard = window.__heard?.find((at) => at > since);
  return { became: became ?? null, granted: granted ?? null, shown: shown ?? null, heard: heard ?? null };
}

const count = (list, name) => list.filter((l) => l.name === name).length;

/** Conclave, the served app. */
const CONCLAVE = {
  name: "Conclave",
  mark: "conclave:became-leader",
  // The second listener on the app's channel doubles what every message costs a tab: only
  // when the split is asked for.
  initScripts: SPLIT ? [recordRoles, recordPagehide, recordHeard] : [recordRoles, recordPagehide],
  url: (env, mode) => (mode === "lease" ? `${env.url}?election=lease` : env.url),
  ready: (page) => tabId(page),
  // Its successor's panel shows the new role: a trial waits for that too.
  panel: true,
  /** The index of the one page whose panel says "leader", if the group has settled. */
  settled: (pages, mode) =>
    conclaveSettled(pages, mode, () => ({
      role: document.querySelector("[data-testid=role]")?.textContent,
      id: document.querySelector("[data-testid=tab-id]")?.textContent,
      leader: document.querySelector("[data-testid=leader]")?.dataset.leaderId,
      peers: document.querySelectorAll("[data-testid=peer-row]").length,
    })),
};

/**
 * Conclave's driver alone on a page that shows nothing (tests/bench/bare), on its own origin:
 * the library on a page as bare as the reference's, which tells the libraries apart from the
 * weight of the app's page (a crashed renderer is let go of later the more memory it holds).
 */
const BARE = {
  name: "Conclave, driver alone on a bare page",
  mark: "conclave:became-leader",
  initScripts: [recordPagehide],
  url: (env, mode) => (mode === "lease" ? `${env.bareUrl}?election=lease` : env.bareUrl),
  ready: (page) => page.waitForFunction(() => /^[0-9a-f]{32}$/.test(document.documentElement.dataset.tabId ?? "")),
  settled: (pages, mode) =>
    conclaveSettled(pages, mode, () => {
      const { tabId, role, leader, peers } = document.documentElement.dataset;
      return { role, id: tabId, leader, peers: Number(peers) };
    }),
};

/**
 * The index of the one Conclave page that leads, if the group has settled: every page follows
 * it and lists all the others, and with Web Locks the locks are as a settled group holds them.
 * `view` reads a page's { role, id, leader, peers }.
 */
async function conclaveSettled(pages, mode, view) {
  const views = await Promise.all(pages.map((p) => p.evaluate(view)));
  const leaders = views.filter((v) => v.role === "leader");
  if (leaders.length !== 1) return -1;
  if (!views.every((v) => v.leader === leaders[0].id && v.peers === pages.length - 1)) return -1;
  if (mode === "locks") {
    const { held, pending } = await pages[0].evaluate(() => navigator.locks.query());
    const locksSettled =
      count(held, "conclave:leader") === 1 &&
      count(pending, "conclave:leader") === 1 &&
      count(held, "conclave:heir") === 1;
    if (!locksSettled) return -1;
  }
  return views.indexOf(leaders[0]);
}

/** The reference: npm `broadcast-channel`, on its own origin (its own server). */
const REFERENCE = {
  name: "broadcast-channel (reference)",
  mark: "reference:became-leader",
  initScripts: [recordPagehide],
  url: (env, mode) => (mode === "lease" ? `${env.referenceUrl}?election=lease` : env.referenceUrl),
  ready: (page) => page.waitForFunction(() => window.__reference !== undefined),
  async settled(pages, mode) {
    const views = await Promise.all(pages.map((p) => p.evaluate(() => window.__reference.view())));
    const leaders = views.filter((v) => v.leads);
    if (leaders.length !== 1 || !views.every((v) => v.knowsLeader)) return -1;
    if (mode === "locks") {
      const { held, pending, name } = await pages[0].evaluate(async () => ({
        ...(await navigator.locks.query()),
        name: window.__reference.lockName,
      }));
      if (count(held, name) !== 1 || count(pending, name) !== pages.length - 1) return -1;
    }
    return views.indexOf(leaders[0]);
  },
};

async function openTab(subject, context, url) {
  const page = await context.newPage();
  await page.goto(url);
  await subject.ready(page);
  return page;
}

/** One subject's group of `n` tabs in a browser context of its own, and its samples so far. */
async function openGroup(env, subject, mode, n) {
  const context = await env.browser.newContext();
  for (const script of subject.initScripts) await context.addInitScript(script);
  const url = subject.url(env, mode);
  const pages = [];
  for (let i = 0; i < n; i++) pages.push(await openTab(subject, context, url));
  const samples = { probe: [], became: [], shown: [], toPagehide: [], fromPagehide: [], heard: [], work: [], granted: [], afterGrant: [] };
  return { subject, mode, n, context, url, pages, samples };
}

/** One trial on `group`: removes its leader's tab, measures, and opens a tab in its place. */
async function runTrial(group, end, trial) {
  const { subject, mode, n, context, url, pages, samples } = group;
  const mark = subject.mark;
  let i = -1;
  await within(15_000, `a settled group of ${subject.name}`, async () => (i = await subject.settled(pages, mode)) >= 0);
  const [victim] = pages.splice(i, 1);
  let observer = null;
  if (PROBE) {
    // The victim holds a plain lock another tab waits for: its grant is when the lock
    // manager let go of whatever the victim held, whatever the library does.
    observer = pages[trial % pages.length];
    await victim.evaluate(holdLock, `bench-probe-${trial}`);
    await observer.evaluate(awaitLock, `bench-probe-${trial}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  if (end === "crash") {
    // A crash comes at any moment of the leader's heartbeat period, and without Web Locks the
    // take-over waits for the silence to show: crash at a uniformly random point of one period
    // rather than at whatever phase the harness's own timing would fix.
    await new Promise((r) => setTimeout(r, Math.random() * HEARTBEAT_MS));
  }
  let killedAt;
  if (end === "close") {
    killedAt = await victim.evaluate(() => performance.timeOrigin + performance.now());
    await victim.close();
  } else {
    killedAt = await crash(context, victim);
  }
  let led;
  let successor;
  await within(10_000, "a new leader", async () => {
    const views = await Promise.all(pages.map((p) => p.evaluate(firstsAfter, { mark, t: killedAt, since: killedAt })));
    const leaders = views.filter((v) => v.became !== null);
    if (!leaders.length) return false;
    led = leaders.reduce((a, b) => (b.became < a.became ? b : a));
    successor = views.indexOf(led);
    return !subject.panel || led.shown !== null;
  });
  samples.became.push(led.became - killedAt);
  if (observer) samples.probe.push((await observer.evaluate(() => window.__granted)) - killedAt);
  // After a close, when the closing tab's pagehide ran (null if this trial recorded none).
  let pagehide = null;
  if (end === "close") {
    const cookie = (await context.cookies()).find((c) => c.name === "bench-pagehide");
    const at = Number(cookie?.value ?? 0);
    if (at > killedAt) pagehide = at;
  }
  if (TRACE) {
    const from = pagehide ?? killedAt;
    const marks = await pages[successor].evaluate(
      (from) =>
        performance
          .getEntriesByType("mark")
          .map((m) => [m.name, performance.timeOrigin + m.startTime - from])
          .filter(([, at]) => at > -1_000),
      from,
    );
    const shown = marks.map(([name, at]) => `${name} ${at.toFixed(1)}`).join(", ");
    console.log(`${subject.name}, ${mode}, ${n} tabs, ${end}, trial ${trial}: ${shown}`);
  }
  if (led.shown !== null) samples.shown.push(led.shown - killedAt);
  if (end === "close") {
    if (pagehide !== null) {
      const { heard } = await pages[successor].evaluate(firstsAfter, { mark, t: killedAt, since: pagehide });
      samples.toPagehide.push(pagehide - killedAt);
      samples.fromPagehide.push(led.became - pagehide);
      if (heard !== null && heard <= led.became) {
        samples.heard.push(heard - pagehide);
        samples.work.push(led.became - heard);
      }
    }
  } else if (end === "crash") {
    // After a crash Conclave's heir leads once the browser grants it the leader lock: split
    // the time into the lock manager's part and the tab's own.
    if (led.granted !== null && led.granted <= led.became) {
      samples.granted.push(led.granted - killedAt);
      samples.afterGrant.push(led.became - led.granted);
    }
    await victim.close().catch(() => {});
  }
  pages.push(await openTab(subject, context, url));
  // A tab that has just opened is still compiling and starting (its CPU load would be on
  // the next trial's clock); the next trial starts once it has run for a while.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
}

/** Another build of the app (FAILOVER_OTHER), on an origin of its own. */
const OTHER_APP = {
  ...CONCLAVE,
  name: `Conclave, the app built in ${OTHER}`,
  url: (env, mode) => (mode === "lease" ? `${env.otherUrl}?election=lease` : env.otherUrl),
};

const BY_NAME = { app: CONCLAVE, bare: BARE, reference: REFERENCE, ...(OTHER ? { other: OTHER_APP } : {}) };
const unknown = SUBJECTS.filter((name) => !(name in BY_NAME));
if (unknown.length) {
  throw new Error(`FAILOVER_SUBJECTS: no subject ${unknown.join(", ")} (app, bare, reference; other with FAILOVER_OTHER)`);
}

const env = await launch();
const reference = await serveReference();
env.referenceUrl = reference.url;
const bare = await serveBare();
env.bareUrl = bare.url;
const other = OTHER ? await serve(resolve(OTHER)) : null;
env.otherUrl = other?.url;
try {
  if (BACKGROUND > 0) {
    const background = await env.browser.newContext();
    for (let i = 0; i < BACKGROUND; i++) await openTab(CONCLAVE, background, env.url);
    console.log(`${BACKGROUND} Conclave tabs open in a context of their own throughout`);
  }
  for (const mode of ["locks", "lease"]) {
    for (const end of ["close", "crash"]) {
      if (ONLY && ONLY !== `${mode}-${end}`) continue;
      for (const n of SIZES) {
        // The subjects' groups are open side by side and take turns, trial by trial, each round
        // in another order: the machine's drift over a run, and whatever a removed tab leaves
        // the browser to do, fall on every subject alike.
        const groups = [];
        for (const name of SUBJECTS) groups.push(await openGroup(env, BY_NAME[name], mode, n));
        for (let trial = 0; trial < TRIALS; trial++) {
          for (let turn = 0; turn < groups.length; turn++) {
            await runTrial(groups[(trial + turn) % groups.length], end, trial);
          }
        }
        for (const { subject, context, samples } of groups) {
          await context.close();
          const how =
            subject !== REFERENCE
              ? mode === "locks" ? "Web Locks" : "lease-only"
              : mode === "locks" ? "Web Locks" : "message-based (no Web Locks)";
          const what = end === "close" ? "closes (page.close)" : "crashes (CDP Page.crash)";
          const line = `failover, ${subject.name}, ${how}, ${n} tabs, the leader's tab ${what}`;
          console.log(`${line}: ${stats(samples.became)} from the command to "became leader"`);
          if (samples.probe.length) {
            console.log(`${line}: a plain lock the victim held was granted to another tab ${stats(samples.probe)} after the command`);
          }
          if (samples.shown.length) {
            console.log(`${line}: ${stats(samples.shown)} from the command until its panel shows it`);
          }
          if (samples.fromPagehide.length) {
            console.log(`${line}: ${stats(samples.fromPagehide)} from its pagehide to "became leader" (its pagehide ran ${stats(samples.toPagehide)} after the command)`);
          }
          if (samples.granted.length) {
            console.log(`${line}: the successor was granted the leader lock ${stats(samples.granted)} after the command, and led ${stats(samples.afterGrant)} after the grant`);
          }
          if (samples.heard.length) {
            console.log(`${line}: the successor heard the channel ${stats(samples.heard)} after that pagehide, and led ${stats(samples.work)} after hearing it`);
          }
        }
      }
    }
  }
} finally {
  await other?.close();
  await bare.close();
  await reference.close();
  await env.close();
}
