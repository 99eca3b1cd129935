// Failover of the served app in this machine's headless Chromium: how long after the leader's
// tab closes (page.close) or its renderer crashes (CDP Page.crash) another tab leads, with 2, 5
// and 10 tabs open, with Web Locks and in lease-only mode (?election=lease).
//
// Each configuration runs in its own browser context (its own storage, channel and locks) with
// n tabs; each trial removes the leader, measures, and opens a fresh tab in its place. "Leads"
// is the moment a tab's panel first shows the role "leader", recorded in the page by a
// MutationObserver on the machine's wall clock, the same clock the kill is timed on.
//
//   node tests/bench/failover.mjs [trials]      (after a release build in dist/)
import { launch, recordRoles, tabId, within } from "../e2e/browser.mjs";

const TRIALS = Number(process.argv[2] ?? 30);
const SIZES = [2, 5, 10];

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.round((sorted.length - 1) * q))];
  return `p50 ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${sorted.at(-1).toFixed(1)} ms (n=${sorted.length})`;
}

/** Notes, in storage, when a closing page's `pagehide` ran (on the machine's wall clock). */
function recordPagehide() {
  addEventListener("pagehide", () =>
    localStorage.setItem("bench:pagehide", String(performance.timeOrigin + performance.now())),
  );
}

async function openTab(context, url) {
  const page = await context.newPage();
  await page.goto(url);
  await tabId(page);
  return page;
}

/** The index of the one page whose panel says "leader", once all agree on it. */
async function leaderIndex(pages) {
  let index = -1;
  await within(15_000, "one agreed leader", async () => {
    const views = await Promise.all(
      pages.map((p) =>
        p.evaluate(() => ({
          role: document.querySelector("[data-testid=role]")?.textContent,
          id: document.querySelector("[data-testid=tab-id]")?.textContent,
          leader: document.querySelector("[data-testid=leader]")?.dataset.leaderId,
        })),
      ),
    );
    const leaders = views.filter((v) => v.role === "leader");
    if (leaders.length !== 1) return false;
    index = views.indexOf(leaders[0]);
    return views.every((v) => v.leader === leaders[0].id);
  });
  return index;
}

async function configuration(env, mode, n, end) {
  const context = await env.browser.newContext();
  await context.addInitScript(recordRoles);
  await context.addInitScript(recordPagehide);
  const url = mode === "lease" ? `${env.url}?election=lease` : env.url;
  const pages = [];
  for (let i = 0; i < n; i++) pages.push(await openTab(context, url));
  const fromCommand = [];
  const fromPagehide = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const i = await leaderIndex(pages);
    const [victim] = pages.splice(i, 1);
    const killedAt = await victim.evaluate(() => performance.timeOrigin + performance.now());
    if (end === "close") {
      await victim.close();
    } else {
      const cdp = await context.newCDPSession(victim);
      cdp.send("Page.crash").catch(() => {});
    }
    let ledAt;
    await within(10_000, "a new leader", async () => {
      const firsts = await Promise.all(
        pages.map((p) =>
          p.evaluate((t) => window.__roles.find((r) => r.role === "leader" && r.at > t)?.at ?? null, killedAt),
        ),
      );
      const times = firsts.filter((t) => t !== null);
      if (times.length) ledAt = Math.min(...times);
      return times.length > 0;
    });
    fromCommand.push(ledAt - killedAt);
    if (end === "close") {
      const pagehide = Number(await pages[0].evaluate(() => localStorage.getItem("bench:pagehide")));
      if (pagehide > killedAt) fromPagehide.push(ledAt - pagehide);
    } else {
      await victim.close().catch(() => {});
    }
    pages.push(await openTab(context, url));
  }
  await context.close();
  return { fromCommand, fromPagehide };
}

const env = await launch();
try {
  for (const mode of ["locks", "lease"]) {
    for (const end of ["close", "crash"]) {
      for (const n of SIZES) {
        const { fromCommand, fromPagehide } = await configuration(env, mode, n, end);
        const how = mode === "locks" ? "Web Locks" : "lease-only";
        const what = end === "close" ? "closes (page.close)" : "crashes (CDP Page.crash)";
        console.log(`failover, ${how}, ${n} tabs, the leader's tab ${what}: ${stats(fromCommand)} from the command`);
        if (fromPagehide.length) {
          console.log(`failover, ${how}, ${n} tabs, the leader's tab ${what}: ${stats(fromPagehide)} from its pagehide`);
        }
      }
    }
  }
} finally {
  await env.close();
}
