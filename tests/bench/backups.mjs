// Orphaned backups merged by a new leader, on the served app (a release build in dist/), in
// this machine's headless Chromium. A benchmark, not a test: it prints figures and judges
// nothing.
//
// On one persistent profile (IndexedDB on the disk, so a strict commit waits for it): a first
// tab leads and creates a session, then closes, leaving no tab open. Each trial then plants 20
// orphaned backups in localStorage (valid ones, of tabs that do not exist, each holding 3
// messages not yet applied and a 1 KiB draft for that session) and opens one tab, which leads
// and must merge them. Per trial, on the page's clock: from the moment it became leader (the
// driver's `conclave:became-leader` performance mark) to the moment every planted key is gone
// from localStorage (merged into the store and deleted), with the moment the leader first read
// them in between. The keys are planted by an init script in the new tab before the app's
// own script runs, and that script also notes (wrapping Storage.prototype.getItem and
// removeItem, which the app's glue calls) when a planted key is first read and when the last one
// is removed.
//
// Beside it, in the same browser, the platform's floor of the same work on a bare page
// (tests/bench/idb-baseline, served on its own origin): the same 20 keys read from
// localStorage, the records they hold (20 drafts, 60 messages, 20 ledgers) put in one strict
// IndexedDB transaction, and the 20 keys removed.
//
//   node tests/bench/backups.mjs [trials]      (default 10)
// after a release build of the app in dist/ (`trunk build --release`); it builds nothing.
import { fileURLToPath } from "node:url";
import { launchPersistent, openPanel, within } from "../e2e/browser.mjs";
import { serve } from "../e2e/server.mjs";
import { quantile, stats } from "./stats.mjs";

const TRIALS = Number(process.argv[2] ?? 10);
const ORPHANS = 20;
const REQUESTS = 3;
const DRAFT_BYTES = 1024;
/** The app's channel (conclave-core's default) names its backup keys. */
const PREFIX = "conclave:backup:";
/** The panel's figures refresh at most once a second, and only while it is unfolded. */
const PANEL_REFRESH_MS = 1_200;
const BASELINE = fileURLToPath(new URL("idb-baseline", import.meta.url));

/** The 32-hex-digit id of orphan `i` (a tab that never existed). */
const orphanId = (i) => `dead${String(i).padStart(4, "0")}`.padEnd(32, "0");

/** A draft of DRAFT_BYTES characters (no JSON escapes), its first characters naming `tag`. */
function draftText(tag) {
  const words = "the quick brown fox jumps over the lazy dog while the tabs keep a backup ";
  let text = `${tag} `;
  while (text.length < DRAFT_BYTES) text += words;
  return text.slice(0, DRAFT_BYTES);
}

/**
 * The orphaned backups of trial `t` for `session`, as [key, text]: the format conclave-core's
 * `Backup::encode` writes (version 2). Each orphan's requests continue its earlier trials'
 * numbers, so that each trial's are new to the store's ledgers and applied.
 */
function orphans(t, session) {
  return Array.from({ length: ORPHANS }, (_, i) => {
    const tab = orphanId(i);
    const first = t * REQUESTS + 1;
    const requests = Array.from({ length: REQUESTS }, (_, r) => [
      first + r,
      { add: { session, text: `trial ${t}: what orphan ${i} sent just before it died, #${r}` } },
    ]);
    const backup = {
      v: 2,
      tab,
      clock: { [tab]: first + REQUESTS - 1 },
      requests,
      drafts: { [session]: draftText(`trial ${t}, orphan ${i}`) },
    };
    return [`${PREFIX}${tab}`, JSON.stringify(backup)];
  });
}

/**
 * An init script for the new leader's page: plants `backups` ([key, text]) before the app
 * starts, and notes in `window.__orphans` when a planted key is first read and when the last
 * of them is removed (performance.now()).
 */
function plantAndWatch(backups) {
  const keys = new Set(backups.map(([key]) => key));
  for (const [key, text] of backups) localStorage.setItem(key, text);
  const watch = { read: null, gone: null, removed: 0 };
  window.__orphans = watch;
  const { getItem, removeItem } = Storage.prototype;
  Storage.prototype.getItem = function (key) {
    if (watch.read === null && keys.has(key)) watch.read = performance.now();
    return getItem.call(this, key);
  };
  Storage.prototype.removeItem = function (key) {
    const result = removeItem.call(this, key);
    if (keys.has(key)) {
      watch.removed++;
      if (watch.gone === null && [...keys].every((k) => getItem.call(this, k) === null)) {
        watch.gone = performance.now();
      }
    }
    return result;
  };
}

/** In the page: when it became leader, and what the watch saw (page clock, ms). */
function times() {
  const mark = performance.getEntriesByName("conclave:became-leader")[0];
  return { leader: mark?.startTime ?? null, ...window.__orphans };
}

/** What the panel says of the leader's latest reading of the backups, and the store. */
function panel() {
  const rows = [...document.querySelectorAll("[data-testid=backup-found]")];
  return {
    found: rows.map((r) => r.querySelector("td:last-child")?.textContent ?? ""),
    rev: Number(document.querySelector("[data-testid=store-rev]")?.textContent),
    role: document.querySelector("[data-testid=role]")?.textContent,
  };
}

/** The platform's floor in the bare page: the same keys read, their records in one strict transaction, the keys removed. */
async function floorOnce({ backups, prefix, t }) {
  const request = (req) =>
    new Promise((resolve, reject) => {
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  if (!window.__floorDb) {
    const open = indexedDB.open("orphans-floor", 1);
    open.onupgradeneeded = () => {
      open.result.createObjectStore("messages");
      open.result.createObjectStore("meta");
    };
    window.__floorDb = await request(open);
  }
  const db = window.__floorDb;
  for (const [key, text] of backups) localStorage.setItem(key, text);
  const start = performance.now();
  const found = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (key.startsWith(prefix)) found.push([key, localStorage.getItem(key)]);
  }
  const tx = db.transaction(["messages", "meta"], "readwrite", { durability: "strict" });
  const messages = tx.objectStore("messages");
  const meta = tx.objectStore("meta");
  for (const [, text] of found) {
    const backup = JSON.parse(text);
    for (const [number, op] of backup.requests) {
      messages.put({ session: op.add.session, order: number, message: { id: `${backup.tab}.${number}`, text: op.add.text } }, [op.add.session, t * 1000 + number]);
    }
    for (const [session, draft] of Object.entries(backup.drafts)) {
      meta.put({ session, from: backup.tab, text: draft }, `draft:${session}:${backup.tab}`);
    }
    meta.put({ tab: backup.tab, ledger: { number: backup.clock[backup.tab], recent: [] } }, `ledger:${backup.tab}`);
  }
  meta.put(t, "rev");
  await new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onabort = () => reject(tx.error);
  });
  for (const [key] of found) localStorage.removeItem(key);
  return { ms: performance.now() - start, keys: found.length };
}

const errors = new Map();
function watchErrors(page, where) {
  const note = (text) => errors.set(`${where}: ${text}`, (errors.get(`${where}: ${text}`) ?? 0) + 1);
  page.on("console", (msg) => {
    if (msg.type() === "error") note(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (error) => note(`uncaught: ${error.message}`));
}

const env = await launchPersistent();
const baseline = await serve(BASELINE);
try {
  const context = await env.open();
  // The first tab: it leads, creates the session, and closes.
  const first = await context.newPage();
  watchErrors(first, "first tab");
  await first.goto(env.url);
  await within(15_000, "the first tab leads", async () => (await first.evaluate(panel)).role === "leader");
  await first.getByTestId("new-session-title").fill("Orphans");
  await first.getByTestId("new-session").click();
  let session;
  await within(15_000, "the session is listed", async () => {
    session = await first.evaluate(() => document.querySelector("[data-testid=session]")?.dataset.sessionId);
    return Boolean(session);
  });
  await first.close();

  const line = `backups: orphans merged by a new leader, ${ORPHANS} orphaned backups (${REQUESTS} messages and a ${DRAFT_BYTES}-byte draft each) of tabs that no longer exist, IndexedDB on disk`;
  const toGone = [];
  const toRead = [];
  const readToGone = [];
  const commits = [];
  const wrong = [];
  let lastRev = null;
  // Trial 0 warms up (the first open of the store on this profile) and is not counted.
  for (let t = 0; t <= TRIALS; t++) {
    const backups = orphans(t, session);
    const page = await context.newPage();
    watchErrors(page, `trial ${t}`);
    await page.addInitScript(plantAndWatch, backups);
    await page.goto(env.url);
    // The page notes its own times; asking every 100 ms disturbs it little.
    let seen;
    for (const start = performance.now(); ; await new Promise((r) => setTimeout(r, 100))) {
      seen = await page.evaluate(times);
      if (seen.leader !== null && seen.gone !== null) break;
      if (performance.now() - start > 20_000) throw new Error(`trial ${t}: not led and merged within 20 s: ${JSON.stringify(seen)}`);
    }
    await new Promise((r) => setTimeout(r, PANEL_REFRESH_MS));
    await openPanel(page);
    const after = await page.evaluate(panel);
    const recovered = after.found.filter((what) => what === `recovered: ${REQUESTS} requests applied, 1 drafts offered`).length;
    if (recovered !== ORPHANS || seen.removed !== ORPHANS) wrong.push(`trial ${t}: ${recovered} of ${ORPHANS} recovered whole, ${seen.removed} keys removed; found: ${[...new Set(after.found)].join(" | ")}`);
    // Each trial's leader makes its commits on top of the last trial's store revision.
    if (lastRev !== null) commits.push(after.rev - lastRev);
    lastRev = after.rev;
    await page.close();
    if (t === 0) continue;
    toGone.push(seen.gone - seen.leader);
    toRead.push(seen.read - seen.leader);
    readToGone.push(seen.gone - seen.read);
  }
  console.log(`${line}: from "became leader" to every key gone (merged and deleted): ${stats(toGone)}`);
  console.log(`${line}: from "became leader" to the first key read (the store claimed first): ${stats(toRead)}`);
  console.log(`${line}: from the first key read to every key gone (the commits, then the deletions): ${stats(readToGone)}`);
  console.log(`${line}: store commits per trial: ${commits.length ? `median ${quantile(commits, 0.5)}, max ${Math.max(...commits)}` : "unknown"}`);
  if (wrong.length) for (const w of wrong) console.log(`${line}: NOT merged as planted: ${w}`);

  // The floor, on a bare page of its own origin in the same browser.
  const bare = await context.newPage();
  watchErrors(bare, "floor");
  await bare.goto(baseline.url);
  await bare.waitForFunction(() => window.__baseline !== undefined);
  const floor = [];
  for (let t = 0; t <= TRIALS; t++) {
    const { ms, keys } = await bare.evaluate(floorOnce, { backups: orphans(t, "f".repeat(32) + ".1"), prefix: PREFIX, t });
    if (keys !== ORPHANS) throw new Error(`the floor read ${keys} keys`);
    if (t > 0) floor.push(ms);
  }
  await bare.close();
  console.log(
    `${line}: floor, a bare page reading the same ${ORPHANS} keys, putting their records in one strict IndexedDB transaction and removing the keys: ${stats(floor)}`,
  );
} finally {
  await env.close();
  await baseline.close();
  if (errors.size === 0) console.log("backups: page errors: none");
  for (const [what, n] of errors) console.log(`backups: page error (${n}×) ${what}`);
}
