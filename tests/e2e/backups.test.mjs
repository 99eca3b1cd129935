// Nothing a person wrote is lost when every tab dies and the browser is relaunched. On one
// persistent Chromium profile (the same origin at every launch), three tabs write messages into
// one session and leave a draft in their composers (typed, never sent); then every tab dies at
// once — its renderer crashed, its tab closed, the leader frozen (the `freeze` event, then its
// thread stopped) or blocked (its thread stopped, no event) before all are crashed — and the
// browser ends. Relaunched on the same profile, the app shows every message any tab saw saved
// exactly once, and every message still pending at the end exactly once too (its tab's backup
// carried it; no text twice), and offers each tab's draft again, once, in its session
// (`[data-testid=recovered-draft]`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { launch, launchPersistent, openPanel, openTabs, tabId, within } from "./browser.mjs";
import { leaderOf, messages, sessions } from "./app.mjs";

const TABS = 3;
const PER_TAB = 5;
const TITLE = "Backups";

/** The texts of the drafts a tab offers again. */
function recoveredDrafts(page) {
  return page.$$eval("[data-testid=recovered-draft] .text", (els) => els.map((e) => e.textContent.trim()));
}

/** Waits until `page` lists the session `title` and opens it; resolves to its id. */
async function openSession(page, title) {
  let id;
  await within(10_000, `the tab lists the session "${title}"`, async () => {
    id = (await sessions(page)).find(([, t]) => t === title)?.[0];
    return id !== undefined;
  });
  await page.$eval(`[data-testid=session][data-session-id="${id}"] [data-testid=switch-session]`, (b) => b.click());
  await within(5_000, "the session is open", async () =>
    (await page.getByTestId("session-title").textContent().catch(() => "")) === title,
  );
  return id;
}

/** The composer's status line: how many submits were tried, and what the last one came to. */
function composeStatus(page) {
  return page.$eval("[data-testid=compose-status]", (el) => ({ tries: Number(el.dataset.tries), text: el.textContent }));
}

/** Sends `text` from the composer (Enter); resolves to the submit's number (`data-tries`). */
async function send(page, text) {
  const { tries } = await composeStatus(page);
  const box = page.getByTestId("compose-text");
  await box.fill(text);
  await box.press("Enter");
  await within(2_000, `the submit of "${text}" counted`, async () => (await composeStatus(page)).tries === tries + 1);
  return tries + 1;
}

/**
 * Sends `text` and waits until the composer says how it ended; resolves to "saved" (the tab saw
 * its request applied: "Saved.") or "refused". The status belongs to the last submit only, so
 * a tab sends its next message after this one's end.
 */
async function sendAndWait(page, text) {
  const n = await send(page, text);
  let s;
  await within(10_000, `"${text}" ended`, async () => {
    s = await composeStatus(page);
    return s.tries === n && (s.text === "Saved." || s.text.startsWith("Not saved"));
  });
  return s.text === "Saved." ? "saved" : "refused";
}

/** Whether the last submit `n` of `page` is known saved now. */
async function lastSaved(page, n) {
  const s = await composeStatus(page);
  return s.tries === n && s.text === "Saved.";
}

/**
 * A probe outside the app: writes a localStorage key and commits an IndexedDB record of its
 * own, just before the tabs die, to tell after the relaunch whether storage written in the last
 * moment survived.
 */
function writeProbe(page, stamp) {
  return page.evaluate(
    (stamp) =>
      new Promise((resolve, reject) => {
        localStorage.setItem("e2e-probe:backups", stamp);
        const open = indexedDB.open("e2e-probe-backups", 1);
        open.onupgradeneeded = () => open.result.createObjectStore("probe");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const tx = db.transaction("probe", "readwrite");
          tx.objectStore("probe").put(stamp, "stamp");
          tx.oncomplete = () => {
            db.close();
            resolve();
          };
          tx.onerror = () => reject(tx.error);
        };
      }),
    stamp,
  );
}

function readProbe(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const local = localStorage.getItem("e2e-probe:backups");
        const open = indexedDB.open("e2e-probe-backups", 1);
        open.onupgradeneeded = () => open.result.createObjectStore("probe");
        open.onerror = () => resolve({ local, idb: null });
        open.onsuccess = () => {
          const db = open.result;
          const get = db.transaction("probe").objectStore("probe").get("stamp");
          get.onsuccess = () => {
            db.close();
            resolve({ local, idb: get.result ?? null });
          };
          get.onerror = () => resolve({ local, idb: null });
        };
      }),
  );
}

/**
 * Three tabs write and leave drafts, then all die `how`: "crash" (every renderer crashed with
 * `Page.crash` within the same moment), "close" (every tab closed normally: pagehide fires), or
 * "freeze" (the leader gets the `freeze` event and its thread is stopped, then every tab is
 * crashed). The browser ends and is relaunched on the same profile; two tabs open the app.
 */
async function loseEveryTab(how) {
  const started = performance.now();
  const profile = await launchPersistent();
  try {
    // First launch: write, leave drafts, die.
    let context = await profile.open();
    const pages = await openTabs(context, profile.url, TABS);
    const ids = await Promise.all(pages.map(tabId));
    const leader = await leaderOf(pages, ids, 10_000);
    await pages[0].getByTestId("new-session-title").fill(TITLE);
    await pages[0].getByTestId("new-session").click();
    for (const page of pages) await openSession(page, TITLE);
    // The DevTools sessions first: a stopped page cannot be attached to later.
    const cdps = await Promise.all(pages.map((page) => context.newCDPSession(page)));

    const written = pages.map(() => []);
    const saved = pages.map(() => []); // what each tab saw applied ("Saved.")
    const refused = pages.map(() => []);
    await Promise.all(
      pages.map(async (page, i) => {
        for (let j = 0; j < PER_TAB - 1; j++) {
          const text = `tab${i}-msg${j}`;
          written[i].push(text);
          ((await sendAndWait(page, text)) === "saved" ? saved : refused)[i].push(text);
        }
      }),
    );
    // The last message of each tab is sent without waiting for its end, then the draft typed.
    const frozen = how === "freeze" || how === "blocked" ? leader : -1;
    const drafts = pages.map((_, i) => `draft of tab ${i}`);
    const last = pages.map((_, i) => `tab${i}-msg${PER_TAB - 1}`);
    const lastTry = [];
    const sendLastAndDraft = async (i) => {
      written[i].push(last[i]);
      lastTry[i] = await send(pages[i], last[i]);
      await pages[i].getByTestId("compose-text").fill(drafts[i]);
    };
    const lastKnown = [];
    if (frozen >= 0) {
      // The leader first: its last message out, its draft typed, then frozen at once
      // (Chromium freezes nothing on a visible page: the page gets the `freeze` event, then its
      // thread stops at the next script it runs, as a frozen page runs no further task). The
      // others send theirs after: to a leader that is gone.
      const cdp = cdps[frozen];
      await cdp.send("Debugger.enable");
      const paused = new Promise((resolve) => cdp.once("Debugger.paused", resolve));
      await sendLastAndDraft(frozen);
      const status = await pages[frozen].evaluate((freeze) => {
        const el = document.querySelector("[data-testid=compose-status]");
        if (freeze) document.dispatchEvent(new Event("freeze"));
        return { tries: Number(el.dataset.tries), text: el.textContent };
      }, how === "freeze");
      await cdp.send("Debugger.pause");
      lastKnown[frozen] = status.tries === lastTry[frozen] && status.text === "Saved.";
      await within(2_000, "the frozen tab's thread stopped", async () =>
        Promise.race([paused.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]),
      );
    }
    await Promise.all(pages.map((_, i) => (i === frozen ? null : sendLastAndDraft(i))));
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < TABS; i++) {
      if (i !== frozen) lastKnown[i] = await lastSaved(pages[i], lastTry[i]);
      if (lastKnown[i]) saved[i].push(last[i]);
    }
    const pending = pages.map((_, i) => (lastKnown[i] ? [] : [last[i]]));
    const shownBefore = await Promise.all(pages.map((p, i) => (i === frozen ? [] : messages(p))));
    const prober = frozen === 0 ? 1 : 0;
    const stamp = `${how} ${Date.now()}`;
    await writeProbe(pages[prober], stamp);

    if (how === "close") {
      // Tabs closing at the same moment with different drafts: each tab has its own key
      // holding its own draft (one key per tab), so no tab's last write overwrites another's.
      for (let i = 0; i < TABS; i++) {
        const own = await pages[i].evaluate((key) => localStorage.getItem(key), `conclave:backup:${ids[i]}`);
        assert.ok(own?.includes(JSON.stringify(drafts[i])), `tab ${i}'s own key holds its draft before the close: ${own}`);
      }
    }

    const diedAt = performance.now();
    if (how === "close") {
      await Promise.all(pages.map((page) => page.close({ runBeforeUnload: false })));
    } else {
      const crashes = pages.map((page) => page.waitForEvent("crash", { timeout: 5_000 }));
      for (const cdp of cdps) cdp.send("Page.crash").catch(() => {});
      await Promise.all(crashes);
    }
    const died = performance.now() - diedAt;
    await context.close();

    // Second launch, on the same profile and origin.
    const relaunchedAt = performance.now();
    context = await profile.open();
    const atStart = context.pages().map((p) => p.url());
    const [a] = await openTabs(context, profile.url, 1);
    await tabId(a);
    await openSession(a, TITLE);
    const mustShow = saved.flat();
    let shown = [];
    await within(10_000, "the relaunched app shows every message a tab saw saved", async () => {
      shown = await messages(a);
      const texts = new Set(shown.map(([, , t]) => t));
      return mustShow.every((t) => texts.has(t));
    }).catch(() => {});
    const [b] = await openTabs(context, profile.url, 1);
    await tabId(b);
    await openSession(b, TITLE);
    // Settled: both tabs show the same messages, unchanged for over a second.
    let since = null;
    let lastSeen = "";
    await within(15_000, "both relaunched tabs show the same messages for a second", async () => {
      const both = await Promise.all([messages(a), messages(b)]);
      const now = JSON.stringify(both);
      const same = JSON.stringify(both[0]) === JSON.stringify(both[1]);
      if (!same || now !== lastSeen) {
        lastSeen = now;
        since = same ? performance.now() : null;
        return false;
      }
      return performance.now() - since > 1_200;
    }).catch(() => {});
    const recovered = performance.now() - relaunchedAt;
    shown = await messages(a);
    const probe = await readProbe(a);

    // One session, the one created; every message once.
    const titles = (await sessions(a)).map(([, t]) => t);
    assert.deepEqual(titles, [TITLE], "exactly the one session created");
    const texts = shown.map(([, , t]) => t);
    const count = (t) => texts.filter((x) => x === t).length;
    assert.equal(new Set(shown.map(([id]) => id)).size, shown.length, "a message id shown twice");
    assert.deepEqual(texts.filter((t) => count(t) > 1), [], "a message text shown twice");
    for (const t of mustShow) assert.equal(count(t), 1, `"${t}", seen saved before the end, is shown once`);
    // A pending message was in its tab's backup: the next leader applies it, once.
    for (const t of pending.flat()) assert.equal(count(t), 1, `"${t}", pending at the end, is shown once`);
    if (how === "blocked") {
      assert.ok(pending.flat().length >= TABS - 1, `the blocked leader left the others' last messages pending: ${JSON.stringify(pending)}`);
    }
    for (const t of refused.flat()) assert.equal(count(t), 0, `"${t}", refused, is not shown`);
    const all = new Set(written.flat());
    assert.deepEqual(texts.filter((t) => !all.has(t)), [], "only what the tabs wrote is shown");
    for (let i = 0; i < TABS; i++) {
      assert.deepEqual(
        shown.filter(([, , t]) => written[i].includes(t)).map(([, author]) => author).filter((x) => x !== ids[i]),
        [],
        `tab ${i}'s messages keep their author`,
      );
    }
    const shownSet = new Set(texts);
    const seenNotKept = shownBefore.flat().filter(([, , t]) => !shownSet.has(t));
    console.log(
      `# ${how}: ${written.flat().length} written, ${mustShow.length} seen saved, ${pending.flat().length} pending at the end ` +
        `(${pending.flat().filter((t) => shownSet.has(t)).length} of them kept), ${refused.flat().length} refused; ` +
        `${shown.length} shown after the relaunch; shown before but lost: ${seenNotKept.length}; ` +
        `tabs gone in ${died.toFixed(0)} ms; relaunch to settled ${recovered.toFixed(0)} ms; ` +
        `probe written last: localStorage ${probe.local === stamp ? "kept" : `lost (${probe.local})`}, ` +
        `IndexedDB ${probe.idb === stamp ? "kept" : `lost (${probe.idb})`}; pages at the relaunch: ${JSON.stringify(atStart)}` +
        (frozen >= 0 ? `; frozen: tab ${frozen}${frozen === leader ? " (the leader)" : ""}` : ""),
    );

    // Each tab's draft, offered again once in its session.
    let offered = [];
    await within(10_000, "each draft offered again once", async () => {
      offered = await recoveredDrafts(a);
      return drafts.every((d) => offered.filter((t) => t === d).length === 1);
    }).catch(() => {});
    console.log(`# ${how}: drafts offered again: ${JSON.stringify(offered)} (the second tab: ${JSON.stringify(await recoveredDrafts(b))})`);
    for (const d of drafts) {
      assert.equal(offered.filter((t) => t === d).length, 1, `"${d}" offered again exactly once: ${JSON.stringify(offered)}`);
    }
    await context.close();
  } finally {
    await profile.close();
    console.log(`# ${how}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}

test("every tab's renderer crashed at once, the browser relaunched: every saved message once, every draft offered again", async () => {
  await loseEveryTab("crash");
});

// Tabs closing at the same moment with different drafts: every draft survives, one key per tab.
test("every tab closed at the same moment, the browser relaunched: every saved message once, every draft offered again (different drafts, one key per tab: every draft survives)", async () => {
  await loseEveryTab("close");
});

test("the leader frozen then every tab crashed, the browser relaunched: every saved message once, every draft offered again", async () => {
  await loseEveryTab("freeze");
});

test("the leader blocked, the others' messages pending, every tab crashed: the pending messages are applied from the backups, once", async () => {
  await loseEveryTab("blocked");
});

/** A fresh tab id, as the app writes them: 32 hex digits. */
function newTabId() {
  return randomBytes(16).toString("hex");
}

const BACKUP_PREFIX = "conclave:backup:";

/**
 * Opens a page of the app's origin that is not the app: Playwright answers its address with an
 * empty HTML page (the server is never asked), so test code can read and write the origin's
 * localStorage while no app runs in it.
 */
async function originPage(context, url) {
  const blank = new URL("e2e-not-the-app.html", url).href;
  await context.route(blank, (route) =>
    route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>not the app</title>" }),
  );
  const page = await context.newPage();
  await page.goto(blank);
  return page;
}

/** Every backup key of the origin, with its text, as `page` sees localStorage. */
function backupItems(page) {
  return page.evaluate((prefix) => {
    const items = {};
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (key.startsWith(prefix)) items[key] = localStorage.getItem(key);
    }
    return items;
  }, BACKUP_PREFIX);
}

/** The leader's rows of the backups it found, as [key, what became of it]. */
function foundRows(page) {
  return page.$$eval("[data-testid=backup-found]", (rows) =>
    rows.map((r) => [r.dataset.key, r.querySelectorAll("td")[1]?.textContent.trim() ?? ""]),
  );
}

/** Creates the session `title` from `page` and opens it there; resolves to its id. */
async function createSession(page, title) {
  await page.getByTestId("new-session-title").fill(title);
  await page.getByTestId("new-session").click();
  return openSession(page, title);
}

test("unreadable backup keys (garbage, another version, too large, foreign, another tab's id inside) are reported by the leader, skipped and kept; the app works", async () => {
  const started = performance.now();
  const env = await launch();
  try {
    const [garbage, v1, big, mismatch, inside] = Array.from({ length: 5 }, newTabId);
    const bigText = JSON.stringify({
      v: 2,
      tab: big,
      clock: { [big]: 1 },
      requests: [],
      drafts: { [`${big}.1`]: "z".repeat(300 * 1024) },
    });
    // key → [text, the reason the leader must give]
    const planted = {
      [BACKUP_PREFIX + garbage]: ["{not json", "malformed backup"],
      [BACKUP_PREFIX + v1]: [
        JSON.stringify({ v: 1, tab: v1, clock: { [v1]: 1 }, requests: [], drafts: { [`${v1}.1`]: "old format" } }),
        "unknown backup version",
      ],
      [BACKUP_PREFIX + big]: [bigText, "backup too large"],
      [`${BACKUP_PREFIX}not-a-tab`]: ["{}", "not a conclave backup key"],
      [BACKUP_PREFIX + mismatch]: [
        JSON.stringify({ v: 2, tab: inside, clock: { [inside]: 1 }, requests: [], drafts: { [`${inside}.1`]: "not mine" } }),
        "backup tab id does not match its key",
      ],
    };
    const texts = Object.fromEntries(Object.entries(planted).map(([k, [t]]) => [k, t]));
    assert.ok(bigText.length > 256 * 1024, "the large backup is over 256 KiB");

    // Planted before any app runs, from a page of the origin that is not the app.
    const origin = await originPage(env.context, env.url);
    await origin.evaluate((texts) => {
      for (const [key, text] of Object.entries(texts)) localStorage.setItem(key, text);
    }, texts);
    await origin.close();

    const openedAt = performance.now();
    const pages = await openTabs(env.context, env.url, 2);
    const ids = await Promise.all(pages.map(tabId));
    const leader = await leaderOf(pages, ids, 10_000);
    const led = performance.now() - openedAt;
    const lp = pages[leader];
    await openPanel(lp);
    let rows = [];
    const reported = await within(5_000, "the leader lists every planted key as skipped", async () => {
      rows = await foundRows(lp);
      return Object.keys(planted).every((k) => rows.some(([key, what]) => key === k && what.startsWith("skipped")));
    }).catch(() => null);
    console.log(`# unreadable: leader after ${led.toFixed(0)} ms; rows ${reported === null ? "incomplete" : `complete ${reported.toFixed(0)} ms later`}: ${JSON.stringify(rows)}`);
    for (const [key, [, reason]] of Object.entries(planted)) {
      const row = rows.filter(([k]) => k === key);
      assert.equal(row.length, 1, `one row for ${key}`);
      assert.equal(row[0][1], `skipped (${reason}); kept`, `what became of ${key}`);
    }
    await openPanel(pages[1 - leader]);
    const other = await foundRows(pages[1 - leader]);
    assert.deepEqual(other, [], "the rows are filled only in the leader's tab");

    // Kept, unchanged, a while later: in every tab's view of the origin's storage.
    const unchanged = (page) =>
      page.evaluate((texts) => Object.keys(texts).filter((k) => localStorage.getItem(k) !== texts[k]), texts);
    await new Promise((r) => setTimeout(r, 2_000));
    for (const page of pages) assert.deepEqual(await unchanged(page), [], "every planted key is kept unchanged");

    // The app works: a session is created, a message saved.
    const follower = pages[1 - leader];
    await createSession(follower, "Despite the bad keys");
    const saved = await sendAndWait(follower, "a message beside unreadable backups");
    assert.equal(saved, "saved", "the message is saved");
    await openSession(lp, "Despite the bad keys");
    await within(5_000, "the leader shows the message", async () =>
      (await messages(lp)).some(([, , t]) => t === "a message beside unreadable backups"),
    );
    for (const page of pages) assert.deepEqual(await unchanged(page), [], "every planted key is still kept unchanged");
    const failure = await lp.getByTestId("backup-failure").textContent();
    console.log(`# unreadable: a message saved; the leader's own backup failure: ${failure}`);
  } finally {
    await env.close();
    console.log(`# unreadable: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
});

test("storage full: the tab warns that its draft is not protected, keeps its previous backup, and still saves messages", async () => {
  const started = performance.now();
  const env = await launch();
  const title = "Storage full";
  let page;
  try {
    await env.context.addInitScript(recordBackupWrites);
    [page] = await openTabs(env.context, env.url, 1);
    const id = await tabId(page);
    await leaderOf([page], [id], 10_000);
    const session = await createSession(page, title);
    const key = BACKUP_PREFIX + id;
    const small = "a small draft, backed up";
    await page.getByTestId("compose-text").fill(small);
    await within(3_000, "the small draft is in the tab's backup", async () => {
      const text = await page.evaluate((key) => localStorage.getItem(key), key);
      return text !== null && JSON.parse(text).drafts?.[session] === small;
    });
    const before = await page.evaluate((key) => localStorage.getItem(key), key);

    // Fill the origin's localStorage to its quota: 256 KiB chunks until the browser refuses,
    // then halves down to one character.
    const filled = await page.evaluate(() => {
      let n = 0;
      let chars = 0;
      for (let size = 256 * 1024; size >= 1; size = Math.floor(size / 2)) {
        const chunk = "f".repeat(size);
        for (;;) {
          try {
            localStorage.setItem(`filler:${n}`, chunk);
            n += 1;
            chars += size;
          } catch (e) {
            if (e.name !== "QuotaExceededError") throw e;
            break;
          }
        }
      }
      return { n, chars };
    });
    assert.ok(filled.n > 0, "some filler was written");

    const long = "a much longer draft that no longer fits. ".repeat(1_250); // ~50 KiB
    const typedAt = performance.now();
    const typedAtInPage = await page.evaluate(() => performance.now());
    await page.getByTestId("compose-text").fill(long);
    let banner = "";
    const warned = await within(5_000, "the backup warning", async () => {
      banner = await page.evaluate(() => document.querySelector("[data-testid=backup-warning]")?.textContent ?? "");
      return banner !== "";
    });
    const after = await page.evaluate((key) => localStorage.getItem(key), key);
    await openPanel(page);
    const panel = await page.evaluate(() => {
      const text = (id) => document.querySelector(`[data-testid=${id}]`)?.textContent.trim() ?? "";
      return { bytes: text("backup-bytes"), writes: text("backup-writes"), failure: text("backup-failure") };
    });
    const inPage = await page.evaluate((t0) => {
      const refused = window.__backupWrites.find((w) => w.at >= t0 && !w.ok);
      return {
        refusedAfter: refused ? refused.at - t0 : null,
        refusedLength: refused?.length ?? null,
        bannerAfter: window.__bannerAt === undefined ? null : window.__bannerAt - t0,
      };
    }, typedAtInPage);
    console.log(
      `# storage full: ${filled.n} filler keys, ${filled.chars} chars; a ${long.length}-char draft typed; ` +
        `its backup write (${inPage.refusedLength} chars) refused ${inPage.refusedAfter?.toFixed(1)} ms after the typing began, ` +
        `the banner shown ${inPage.bannerAfter?.toFixed(0)} ms after it (seen by the test after ${(performance.now() - typedAt).toFixed(0)} ms): ` +
        `${JSON.stringify(banner)}; panel: ${JSON.stringify(panel)}`,
    );
    assert.ok(banner.includes(`“${title}”`), `the banner names the session: ${banner}`);
    assert.equal(after, before, "the previous backup (the small draft) stays unchanged");
    assert.notEqual(panel.failure, "none", "the panel reports the failure");

    // IndexedDB is not localStorage: a message is still saved.
    const outcome = await sendAndWait(page, "sent while storage is full");
    const status = await composeStatus(page);
    const failureAfter = await page.getByTestId("backup-failure").textContent();
    // What the tab says once the message ended and nothing is typed (after a snapshot refresh).
    await new Promise((r) => setTimeout(r, 1_500));
    const later = await page.evaluate((key) => ({
      banner: document.querySelector("[data-testid=backup-warning]")?.textContent ?? null,
      failure: document.querySelector("[data-testid=backup-failure]")?.textContent ?? null,
      bytes: document.querySelector("[data-testid=backup-bytes]")?.textContent ?? null,
      key: localStorage.getItem(key),
    }), key);
    console.log(
      `# storage full: the message ${outcome} (${JSON.stringify(status.text)}); backup failure just after it: ${failureAfter}; ` +
        `1.5 s later: ${JSON.stringify(later)}`,
    );
    assert.equal(outcome, "saved", "the message is saved");
    assert.ok((await messages(page)).some(([, , t]) => t === "sent while storage is full"), "the message is shown");
  } finally {
    await page
      ?.evaluate(() => {
        for (const key of Object.keys(localStorage)) if (key.startsWith("filler:")) localStorage.removeItem(key);
      })
      .catch(() => {});
    await env.close();
    console.log(`# storage full: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
});

/**
 * An init script: records every write of a backup key in `window.__backupWrites` (when, its
 * length, whether the browser took it), and when the backup warning was first shown
 * (`window.__bannerAt`).
 */
function recordBackupWrites() {
  window.__backupWrites = [];
  const set = Storage.prototype.setItem;
  Storage.prototype.setItem = function (key, value) {
    if (!String(key).startsWith("conclave:backup:")) return set.call(this, key, value);
    const entry = { at: performance.now(), length: String(value).length, ok: false };
    window.__backupWrites.push(entry);
    set.call(this, key, value);
    entry.ok = true;
  };
  new MutationObserver(() => {
    if (window.__bannerAt === undefined && document.querySelector("[data-testid=backup-warning]")) {
      window.__bannerAt = performance.now();
    }
  }).observe(document, { subtree: true, childList: true });
}

/**
 * An init script: records, in the relaunched app's page from its first moment, the backup keys
 * present before the app runs (`__keysAtStart`), each removal of a backup key with the time and
 * the recovered drafts shown at that moment and after that task (`__removed`), and when each
 * recovered draft was first shown (`__shownAt`).
 */
function recordBackups() {
  window.__keysAtStart = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (key.startsWith("conclave:backup:")) window.__keysAtStart.push(key);
  }
  const shown = () =>
    [...document.querySelectorAll("[data-testid=recovered-draft] .text")].map((e) => e.textContent.trim());
  window.__removed = [];
  window.__shownAt = {};
  const remove = Storage.prototype.removeItem;
  Storage.prototype.removeItem = function (key) {
    if (String(key).startsWith("conclave:backup:")) {
      const entry = { key: String(key), at: performance.now(), shown: shown() };
      window.__removed.push(entry);
      setTimeout(() => {
        entry.shownAfterTask = shown();
      }, 0);
    }
    return remove.call(this, key);
  };
  new MutationObserver(() => {
    for (const t of shown()) if (!(t in window.__shownAt)) window.__shownAt[t] = performance.now();
  }).observe(document, { subtree: true, childList: true, characterData: true });
}

test("backups of dead tabs are deleted once the store holds them, and only then: kept across the relaunch, gone after their drafts are offered", async () => {
  const started = performance.now();
  const profile = await launchPersistent();
  const title = "Dead tabs";
  try {
    let context = await profile.open();
    const pages = await openTabs(context, profile.url, 2);
    const ids = await Promise.all(pages.map(tabId));
    await leaderOf(pages, ids, 10_000);
    await createSession(pages[0], title);
    await openSession(pages[1], title);
    const drafts = pages.map((_, i) => `draft of dead tab ${i}`);
    await Promise.all(pages.map((page, i) => page.getByTestId("compose-text").fill(drafts[i])));
    const keys = ids.map((id) => BACKUP_PREFIX + id);
    // Both keys, each holding its tab's draft, in both tabs' view of the origin's storage.
    await within(3_000, "both backups hold their drafts", async () => {
      const views = await Promise.all(pages.map(backupItems));
      return views.every((items) => keys.every((k, i) => items[k]?.includes(JSON.stringify(drafts[i]))));
    });
    const cdps = await Promise.all(pages.map((page) => context.newCDPSession(page)));
    const crashes = pages.map((page) => page.waitForEvent("crash", { timeout: 5_000 }));
    for (const cdp of cdps) cdp.send("Page.crash").catch(() => {});
    await Promise.all(crashes);
    await context.close();

    // Relaunched: the keys are still there before any app runs.
    context = await profile.open();
    await context.addInitScript(recordBackups);
    const page = await originPage(context, profile.url);
    const kept = await backupItems(page);
    console.log(`# dead tabs: before the app, backup keys ${JSON.stringify(Object.keys(kept).map((k) => k.slice(BACKUP_PREFIX.length, BACKUP_PREFIX.length + 8)))}`);
    keys.forEach((k, i) =>
      assert.ok(kept[k]?.includes(JSON.stringify(drafts[i])), `${k} is kept across the relaunch with its draft: ${kept[k]}`),
    );

    // The app: every ~25 ms, the keys and the drafts offered, read in one go.
    const openedAt = performance.now();
    await page.goto(profile.url);
    const samples = [];
    let last;
    const done = await within(10_000, "both drafts offered and both old keys gone", async () => {
      last = await page.evaluate((keys) => ({
        present: keys.map((k) => localStorage.getItem(k) !== null),
        shown: [...document.querySelectorAll("[data-testid=recovered-draft] .text")].map((e) => e.textContent.trim()),
      }), keys);
      samples.push({ at: performance.now() - openedAt, ...last });
      return drafts.every((d) => last.shown.includes(d)) && last.present.every((p) => !p);
    }).catch(() => null);
    const early = samples.filter((s) => keys.some((_, i) => !s.present[i] && !s.shown.includes(drafts[i])));
    const firstShown = drafts.map((d) => samples.find((s) => s.shown.includes(d))?.at);
    const firstGone = keys.map((_, i) => samples.find((s) => !s.present[i])?.at);
    const record = await page.evaluate((keys) => ({
      atStart: window.__keysAtStart.filter((k) => keys.includes(k)).length,
      removed: window.__removed.filter((r) => keys.includes(r.key)),
      removedOther: window.__removed.filter((r) => !keys.includes(r.key)).length,
      shownAt: window.__shownAt,
    }), keys);
    const order = keys.map((k, i) => {
      const removal = record.removed.find((r) => r.key === k);
      const shownAt = record.shownAt[drafts[i]];
      return removal === undefined || shownAt === undefined
        ? `tab ${i}: removed ${removal ? "yes" : "no"}, shown ${shownAt === undefined ? "no" : "yes"}`
        : `tab ${i}: key removed ${Math.abs(removal.at - shownAt).toFixed(1)} ms ${removal.at <= shownAt ? "before" : "after"} its draft entered the page ` +
            `(shown at the removal: ${removal.shown.includes(drafts[i])}, by the next task: ${removal.shownAfterTask?.includes(drafts[i])})`;
    });
    const remaining = await backupItems(page);
    console.log(
      `# dead tabs: ${done === null ? "NOT settled within 10 s" : `settled ${done.toFixed(0)} ms after the app loaded`} ` +
        `(${samples.length} samples; drafts first seen at ${firstShown.map((t) => t?.toFixed(0))} ms, keys first seen gone at ${firstGone.map((t) => t?.toFixed(0))} ms; ` +
        `first sample at ${(samples[0]?.at ?? 0).toFixed(0)} ms); old keys at the app's start: ${record.atStart}; ` +
        `in-page order: ${order.join("; ")}; other backup removals: ${record.removedOther}; ` +
        `backup keys left: ${Object.keys(remaining).length}; last sample: ${JSON.stringify(last)}`,
    );
    assert.deepEqual(early, [], "a key went before its draft was offered");
    // Finer than the samples: by the time the page runs its next task after removing a key,
    // the key's draft is shown (the removal and the news of the offer come out of one drain).
    for (const [i, k] of keys.entries()) {
      for (const r of record.removed.filter((r) => r.key === k)) {
        assert.ok(r.shownAfterTask?.includes(drafts[i]), `the draft of ${k} is shown by the task after its key went: ${JSON.stringify(r)}`);
      }
    }
    assert.equal(record.atStart, keys.length, "the app started with both old keys");
    assert.ok(done !== null, `within 10 s both drafts offered and both old keys gone: ${JSON.stringify(last)}`);
    for (const d of drafts) assert.equal(last.shown.filter((t) => t === d).length, 1, `"${d}" offered once`);
    for (const k of keys) assert.ok(!(k in remaining), `${k} is deleted`);
    await context.close();
  } finally {
    await profile.close();
    console.log(`# dead tabs: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
});
