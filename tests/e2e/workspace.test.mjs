// The sessions workspace in real tabs of one headless Chromium, on the served app: every tab
// edits, the leader alone writes IndexedDB, each request is applied once, across leader crashes
// and after every tab is closed.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { closeTabs, launch, openTabs, tabId, within } from "./browser.mjs";

let env;
before(async () => {
  env = await launch();
});
after(async () => {
  await env?.close();
});
afterEach(async () => {
  await closeTabs(env.context);
});

/** What a tab's panel says of the election and its requests. */
function state(page) {
  return page.evaluate(() => {
    const text = (id) => document.querySelector(`[data-testid=${id}]`)?.textContent ?? "";
    const count = (id) => Number(text(id));
    return {
      role: text("role"),
      leader: document.querySelector("[data-testid=leader]")?.dataset.leaderId ?? "",
      made: count("requests-made"),
      applied: count("requests-applied"),
      refused: count("requests-refused"),
      pending: document.querySelectorAll("[data-testid=pending-requests] tbody tr").length,
      rev: text("store-rev"),
    };
  });
}

/** The sessions a tab lists, as [id, title]. */
function sessions(page) {
  return page.$$eval("[data-testid=session]", (rows) =>
    rows.map((r) => [r.dataset.sessionId, r.querySelector(".title")?.textContent ?? ""]),
  );
}

/** The active session's messages a tab shows, as [id, author, text]. */
function messages(page) {
  return page.$$eval("[data-testid=message]", (rows) =>
    rows.map((r) => [r.dataset.messageId, r.dataset.author, r.querySelector(".text")?.textContent ?? ""]),
  );
}

async function createSession(page, title) {
  await page.getByTestId("new-session-title").fill(title);
  await page.getByTestId("new-session").click();
}

/** Writes `texts` one after another as fast as the page takes them (Enter in the composer). */
async function write(page, texts) {
  const box = page.getByTestId("compose-text");
  for (const text of texts) {
    await box.fill(text);
    await box.press("Enter");
  }
}

/** Waits until exactly one of `pages` leads and all agree on it. */
async function leaderOf(pages, ids, bound) {
  let found;
  await within(bound, "one agreed leader", async () => {
    const views = await Promise.all(pages.map(state));
    const leaders = views.filter((v) => v.role === "leader");
    if (leaders.length !== 1) return false;
    const i = views.indexOf(leaders[0]);
    found = i;
    return views.every((v) => v.leader === ids[i]);
  });
  return found;
}

/**
 * Waits until every page has no request outstanding and shows the same messages, and has said
 * so for over a second (the panel's counters refresh at most once a second).
 */
async function settled(pages, bound) {
  let since = null;
  let last = "";
  await within(bound, "every request ended and every tab shows the same messages, for a second", async () => {
    const views = await Promise.all(pages.map(state));
    const shown = await Promise.all(pages.map(messages));
    const done =
      views.every((v) => v.pending === 0 && v.made === v.applied + v.refused) &&
      shown.every((m) => JSON.stringify(m) === JSON.stringify(shown[0]));
    const now = JSON.stringify([views, shown]);
    if (!done || now !== last) {
      last = now;
      since = done ? performance.now() : null;
      return false;
    }
    return performance.now() - since > 1_200;
  });
}

test("5 tabs write at once while the leader's renderer is crashed twice: nothing lost, nothing twice", async () => {
  let pages = await openTabs(env.context, env.url, 5);
  let ids = await Promise.all(pages.map(tabId));
  await leaderOf(pages, ids, 10_000);
  const creator = ids[0];
  await createSession(pages[0], "Crash test");
  await within(10_000, "every tab lists the session", async () =>
    (await Promise.all(pages.map(sessions))).every((s) => s.length === 1),
  );
  // Each tab picks the session (the first one is active by default) and writes.
  const PER_ROUND = 20;
  const written = new Map(ids.map((id) => [id, []]));
  const crashedIds = new Set();
  for (let round = 0; round < 3; round++) {
    const writing = pages.map((page, i) => {
      const texts = Array.from({ length: PER_ROUND }, (_, j) => `tab ${ids[i].slice(0, 8)} round ${round} #${j}`);
      written.get(ids[i]).push(...texts);
      return write(page, texts);
    });
    if (round < 2) {
      // Crash the leader in the middle of the writing.
      await new Promise((r) => setTimeout(r, 150));
      const leader = await leaderOf(pages, ids, 10_000);
      const victim = pages[leader];
      crashedIds.add(ids[leader]);
      const cdp = await env.context.newCDPSession(victim);
      cdp.send("Page.crash").catch(() => {});
      await Promise.allSettled(writing);
      pages = pages.filter((p) => p !== victim);
      ids = ids.filter((id) => id !== ids[leader]);
      await victim.close().catch(() => {});
      await leaderOf(pages, ids, 5_000);
    } else {
      await Promise.all(writing);
    }
  }
  await settled(pages, 15_000);
  const shown = await messages(pages[0]);
  // None twice.
  const byId = new Set(shown.map(([id]) => id));
  assert.equal(byId.size, shown.length, "a message id shown twice");
  const byText = new Set(shown.map(([, , text]) => text));
  assert.equal(byText.size, shown.length, "a message text shown twice");
  // Every survivor: what it saw applied is there, and what is there from it is what it saw applied.
  const views = await Promise.all(pages.map(state));
  for (let i = 0; i < pages.length; i++) {
    const mine = shown.filter(([, author]) => author === ids[i]);
    const create = ids[i] === creator ? 1 : 0;
    assert.equal(mine.length, views[i].applied - create, `tab ${i}: messages shown = requests applied`);
    assert.equal(views[i].made, views[i].applied + views[i].refused, `tab ${i}: every request ended`);
    for (const [, , text] of mine) assert.ok(written.get(ids[i]).includes(text));
    const sent = written.get(ids[i]).length;
    console.log(`# tab ${i}: ${sent} written, ${views[i].applied} applied, ${views[i].refused} refused`);
    assert.equal(mine.length + views[i].refused, sent, `tab ${i}: shown + refused = written`);
  }
  // Crashed tabs' messages: at most once each, and only what they wrote.
  for (const [, author, text] of shown) {
    if (crashedIds.has(author)) assert.ok(written.get(author).includes(text));
  }
});

test("close every tab, open the app again: every session and message is there", async () => {
  const pages = await openTabs(env.context, env.url, 3);
  const ids = await Promise.all(pages.map(tabId));
  await leaderOf(pages, ids, 10_000);
  const title = `Kept ${Date.now()}`;
  await createSession(pages[1], title);
  await within(10_000, "every tab lists the new session", async () =>
    (await Promise.all(pages.map(sessions))).every((s) => s.some(([, t]) => t === title)),
  );
  for (const page of pages) {
    const [id] = (await sessions(page)).find(([, t]) => t === title);
    await page.click(`[data-testid=session][data-session-id="${id}"] [data-testid=switch-session]`);
  }
  await Promise.all(pages.map((page, i) => write(page, [`kept ${i} a`, `kept ${i} b`])));
  await settled(pages, 10_000);
  const before = { sessions: await sessions(pages[0]), messages: await messages(pages[0]) };
  await Promise.all(pages.map((p) => p.close()));

  const [again] = await openTabs(env.context, env.url, 1);
  await tabId(again);
  await within(10_000, "the reopened app lists every session", async () =>
    JSON.stringify(await sessions(again)) === JSON.stringify(before.sessions),
  );
  const [id] = before.sessions.find(([, t]) => t === title);
  await again.click(`[data-testid=session][data-session-id="${id}"] [data-testid=switch-session]`);
  await within(5_000, "the reopened app shows every message", async () =>
    JSON.stringify(await messages(again)) === JSON.stringify(before.messages),
  );
  assert.equal((await messages(again)).length, 6);
  assert.deepEqual(await again.evaluate(() => window.__cspViolations), []);
});
