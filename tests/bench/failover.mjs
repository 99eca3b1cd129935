// Failover of the served app in this machine's headless Chromium: how long after the leader's
// tab closes (page.close) or its renderer crashes (CDP Page.crash) another tab leads, with 2, 5
// and 10 tabs open, with Web Locks and in lease-only mode (?election=lease).
//
// Each configuration runs in its own browser context (its own storage, channel and locks) with
// n tabs; each trial removes the leader, measures, and opens a fresh tab in its place. A trial
// starts from a settled group: the fresh tab has run for 1.5 s, every tab lists every other and
// agrees on the leader, and (with Web Locks) the leader lock is held, the heir lock is held and
// the heir's request waits on the leader lock. "Leads"
// is the successor's "became leader": the driver's `conclave:became-leader` User Timing mark, set
// the moment the engine lets the tab act. The moment its panel first shows "leader" (seen by a
// MutationObserver) is printed beside it. All times are on the machine's wall clock
// (performance.timeOrigin + the mark), the clock the kill is timed on.
//
// After a clean close the time from the closing tab's pagehide is split in two: until the
// successor heard the first message on the app's channel after it (the resignation), and from
// there until it became leader (its own work: verify, decide, store the term).
//
//   node tests/bench/failover.mjs [trials] [only]      (after a release build in dist/)
// `only` runs one configuration: locks-close, locks-crash, lease-close or lease-crash.
import { launch, recordRoles, tabId, within } from "../e2e/browser.mjs";

const TRIALS = Number(process.argv[2] ?? 30);
const ONLY = process.argv[3];
const SETTLE_MS = 1_500;
const SIZES = [2, 5, 10];

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * q))];
  return `p50 ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${sorted.at(-1).toFixed(1)} ms (n=${sorted.length})`;
}

/**
 * An init script: notes, in storage, when a closing page's `pagehide` ran, and keeps in
 * `window.__heard` when the page last heard messages on the app's channel (its own listener on
 * "conclave", alongside the app's). All on the machine's wall clock.
 */
function recordTimes() {
  const now = () => performance.timeOrigin + performance.now();
  addEventListener("pagehide", () => localStorage.setItem("bench:pagehide", String(now())));
  window.__heard = [];
  new BroadcastChannel("conclave").onmessage = () => {
    window.__heard.push(now());
    if (window.__heard.length > 64) window.__heard.splice(0, 32);
  };
}

/** In a page: the first became-leader mark, panel change and channel message after `t`. */
function firstsAfter({ t, since }) {
  const origin = performance.timeOrigin;
  const became = performance
    .getEntriesByName("conclave:became-leader")
    .map((e) => origin + e.startTime)
    .find((at) => at > t);
  const shown = window.__roles.find((r) => r.role === "leader" && r.at > t)?.at;
  const heard = window.__heard.find((at) => at > since);
  return { became: became ?? null, shown: shown ?? null, heard: heard ?? null };
}

async function openTab(context, url) {
  const page = await context.newPage();
  await page.goto(url);
  await tabId(page);
  return page;
}

/**
 * The index of the one page whose panel says "leader", once the group has settled: all agree on
 * it, every tab lists every other, and, with Web Locks, the leader lock is held with one request
 * (the heir's) waiting on it and the heir lock held. A failover is measured from a settled
 * group, not from one whose newest tab is still joining.
 */
async function leaderIndex(pages, mode) {
  let index = -1;
  await within(15_000, "one agreed leader", async () => {
    const views = await Promise.all(
      pages.map((p) =>
        p.evaluate(() => ({
          role: document.querySelector("[data-testid=role]")?.textContent,
          id: document.querySelector("[data-testid=tab-id]")?.textContent,
          leader: document.querySelector("[data-testid=leader]")?.dataset.leaderId,
          peers: document.querySelectorAll("[data-testid=peer-row]").length,
        })),
      ),
    );
    const leaders = views.filter((v) => v.role === "leader");
    if (leaders.length !== 1) return false;
    index = views.indexOf(leaders[0]);
    if (!views.every((v) => v.leader === leaders[0].id && v.peers === pages.length - 1)) return false;
    if (mode !== "locks") return true;
    const { held, pending } = await pages[0].evaluate(() => navigator.locks.query());
    const count = (list, name) => list.filter((l) => l.name === name).length;
    return (
      count(held, "conclave:leader") === 1 &&
      count(pending, "conclave:leader") === 1 &&
      count(held, "conclave:heir") === 1
    );
  });
  return index;
}

async function configuration(env, mode, n, end) {
  const context = await env.browser.newContext();
  await context.addInitScript(recordRoles);
  await context.addInitScript(recordTimes);
  const url = mode === "lease" ? `${env.url}?election=lease` : env.url;
  const pages = [];
  for (let i = 0; i < n; i++) pages.push(await openTab(context, url));
  const samples = { became: [], shown: [], fromPagehide: [], heard: [], work: [] };
  for (let trial = 0; trial < TRIALS; trial++) {
    const i = await leaderIndex(pages, mode);
    const [victim] = pages.splice(i, 1);
    const killedAt = await victim.evaluate(() => performance.timeOrigin + performance.now());
    if (end === "close") {
      await victim.close();
    } else {
      const cdp = await context.newCDPSession(victim);
      cdp.send("Page.crash").catch(() => {});
    }
    let led;
    let successor;
    await within(10_000, "a new leader", async () => {
      const views = await Promise.all(pages.map((p) => p.evaluate(firstsAfter, { t: killedAt, since: killedAt })));
      const leaders = views.filter((v) => v.became !== null && v.shown !== null);
      if (!leaders.length) return false;
      led = leaders.reduce((a, b) => (b.became < a.became ? b : a));
      successor = views.indexOf(led);
      return true;
    });
    samples.became.push(led.became - killedAt);
    samples.shown.push(led.shown - killedAt);
    if (end === "close") {
      const pagehide = Number(await pages[0].evaluate(() => localStorage.getItem("bench:pagehide")));
      if (pagehide > killedAt) {
        const { heard } = await pages[successor].evaluate(firstsAfter, { t: killedAt, since: pagehide });
        samples.fromPagehide.push(led.became - pagehide);
        if (heard !== null && heard <= led.became) {
          samples.heard.push(heard - pagehide);
          samples.work.push(led.became - heard);
        }
      }
    } else {
      await victim.close().catch(() => {});
    }
    pages.push(await openTab(context, url));
    // A tab that has just opened is still compiling and starting (its CPU load would be on
    // the next trial's clock); the next trial starts once it has run for a while.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
  }
  await context.close();
  return samples;
}

const env = await launch();
try {
  for (const mode of ["locks", "lease"]) {
    for (const end of ["close", "crash"]) {
      if (ONLY && ONLY !== `${mode}-${end}`) continue;
      for (const n of SIZES) {
        const samples = await configuration(env, mode, n, end);
        const how = mode === "locks" ? "Web Locks" : "lease-only";
        const what = end === "close" ? "closes (page.close)" : "crashes (CDP Page.crash)";
        const line = `failover, ${how}, ${n} tabs, the leader's tab ${what}`;
        console.log(`${line}: ${stats(samples.became)} from the command to "became leader"`);
        console.log(`${line}: ${stats(samples.shown)} from the command until its panel shows it`);
        if (samples.fromPagehide.length) {
          console.log(`${line}: ${stats(samples.fromPagehide)} from its pagehide to "became leader"`);
        }
        if (samples.heard.length) {
          console.log(`${line}: the successor heard the channel ${stats(samples.heard)} after that pagehide, and led ${stats(samples.work)} after hearing it`);
        }
      }
    }
  }
} finally {
  await env.close();
}
