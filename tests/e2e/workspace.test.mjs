// The sessions workspace in real tabs of one headless Chromium, on the served app: every tab
// edits, the leader alone writes IndexedDB, each request is applied once, across leader crashes
// and after every tab is closed.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { closeTabs, emulateHidden, launch, openTabs, tabId, within } from "./browser.mjs";
import { leaderOf, messages, openSession, sessionIdOf, sessions, state, storedMessages } from "./app.mjs";

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

async function createSession(page, title) {
  await page.getByTestId("new-session-title").fill(title);
  await page.getByTestId("new-session").click();
}

/**
 * Writes `texts` one after another as fast as the page takes them (Enter in the composer);
 * resolves to how many were refused at once (the tab read-only, or too many outstanding): the
 * composer then keeps the text and says why, and no request was made.
 */
async function write(page, texts) {
  const box = page.getByTestId("compose-text");
  let refused = 0;
  for (const text of texts) {
    await box.fill(text);
    await box.press("Enter");
    if ((await box.inputValue()) === text) refused += 1;
  }
  return refused;
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

/**
 * `n` tabs write at once, `perRound` messages each per round, over three rounds; between the
 * rounds the leader is lost `how`: its renderer crashed (`Page.crash`), its tab closed, or its
 * main thread blocked for 5 s (`Debugger.pause`: frozen, then resumed, to find it deposed).
 * At the end: every tab shows the same messages, none twice; each surviving tab's messages are
 * exactly what it saw applied, and what it wrote minus what it saw refused.
 */
async function writeThroughLeaderLoss(n, perRound, how) {
  let pages = await openTabs(env.context, env.url, n);
  let ids = await Promise.all(pages.map(tabId));
  await leaderOf(pages, ids, 10_000);
  const creator = ids[0];
  const title = `${how} ${n}`;
  await createSession(pages[0], title);
  await within(10_000, "every tab lists the session", async () =>
    (await Promise.all(pages.map(sessions))).every((s) => s.some(([, t]) => t === title)),
  );
  const [session] = (await sessions(pages[0])).find(([, t]) => t === title);
  for (const page of pages) {
    await page.$eval(`[data-testid=session][data-session-id="${session}"] [data-testid=switch-session]`, (b) => b.click());
  }
  const written = new Map(ids.map((id) => [id, []]));
  const atOnce = new Map(ids.map((id) => [id, 0]));
  const gone = new Set();
  for (let round = 0; round < 3; round++) {
    const writing = pages.map((page, i) => {
      const texts = Array.from({ length: perRound }, (_, j) => `tab ${ids[i].slice(0, 8)} round ${round} #${j}`);
      written.get(ids[i]).push(...texts);
      const id = ids[i];
      return write(page, texts).then((n) => atOnce.set(id, atOnce.get(id) + n));
    });
    if (round < 2) {
      // Lose the leader in the middle of the writing.
      await new Promise((r) => setTimeout(r, 150));
      const leader = await leaderOf(pages, ids, 10_000);
      const victim = pages[leader];
      const rest = pages.filter((p) => p !== victim);
      const restIds = ids.filter((id) => id !== ids[leader]);
      if (how === "freeze") {
        const cdp = await env.context.newCDPSession(victim);
        await cdp.send("Debugger.enable");
        await cdp.send("Debugger.pause");
        await leaderOf(rest, restIds, 5_000);
        await new Promise((r) => setTimeout(r, 2_000));
        await cdp.send("Debugger.resume");
        await Promise.all(writing);
        await leaderOf(pages, ids, 5_000);
      } else {
        gone.add(ids[leader]);
        if (how === "crash") {
          const cdp = await env.context.newCDPSession(victim);
          cdp.send("Page.crash").catch(() => {});
        } else {
          await victim.close();
        }
        await Promise.allSettled(writing);
        await victim.close().catch(() => {});
        pages = rest;
        ids = restIds;
        await leaderOf(pages, ids, 5_000);
      }
    } else {
      await Promise.all(writing);
    }
  }
  await settled(pages, 20_000);
  // The list draws only the latest 500 messages: every message is read from the store, and
  // every tab must say it shows them all.
  const stored = await storedMessages(pages[0], session);
  const shown = stored.ids.map((id, k) => [id, id.split(".")[0], stored.texts[k]]);
  for (const page of pages) {
    assert.equal(
      await page.getByTestId("search-count").textContent(),
      `${shown.length} of ${shown.length} messages`,
      "every tab shows every stored message",
    );
  }
  assert.equal(new Set(shown.map(([id]) => id)).size, shown.length, "a message id shown twice");
  assert.equal(new Set(shown.map(([, , text]) => text)).size, shown.length, "a message text shown twice");
  const views = await Promise.all(pages.map(state));
  let refused = 0;
  for (let i = 0; i < pages.length; i++) {
    const mine = shown.filter(([, author]) => author === ids[i]);
    const create = ids[i] === creator ? 1 : 0;
    const sent = written.get(ids[i]).length;
    refused += views[i].refused;
    assert.equal(mine.length, views[i].applied - create, `tab ${i}: messages shown = requests applied`);
    assert.equal(views[i].made, views[i].applied + views[i].refused, `tab ${i}: every request ended`);
    const early = atOnce.get(ids[i]);
    assert.equal(mine.length + views[i].refused + early, sent, `tab ${i}: shown + refused + refused at once = written`);
    refused += early;
    for (const [, , text] of mine) assert.ok(written.get(ids[i]).includes(text));
  }
  // A lost tab's messages: each at most once, and only what it wrote.
  for (const [, author, text] of shown) {
    if (gone.has(author)) assert.ok(written.get(author).includes(text));
  }
  const total = [...written.values()].reduce((a, w) => a + w.length, 0);
  console.log(
    `# ${n} tabs, leader lost twice (${how}): ${total} written, ${shown.length} shown once each, ${refused} refused by the survivors, ${gone.size} tabs gone with what they had in flight`,
  );
}

test("5 tabs write at once while the leader's renderer is crashed twice: nothing lost, nothing twice", async () => {
  await writeThroughLeaderLoss(5, 20, "crash");
});

test("3 tabs write 100 messages each while the leader's renderer is crashed twice: the last tab standing holds every one", async () => {
  await writeThroughLeaderLoss(3, 34, "crash");
});

test("10 tabs write 100 messages each while the leader's renderer is crashed twice", async () => {
  await writeThroughLeaderLoss(10, 34, "crash");
});

test("3 tabs write at once while the leader's tab is closed twice", async () => {
  await writeThroughLeaderLoss(3, 34, "close");
});

test("3 tabs write at once while the leader's main thread is blocked twice, until another tab leads and 2 s more", async () => {
  await writeThroughLeaderLoss(3, 34, "freeze");
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
  // And one through the Send button, clicked as a pointer would.
  await pages[2].getByTestId("compose-text").fill("kept by the button");
  await pages[2].getByTestId("compose-send").click();
  assert.equal(await pages[2].getByTestId("compose-text").inputValue(), "", "the button sent the text");
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
  assert.equal((await messages(again)).length, 7);
  assert.ok((await messages(again)).some(([, , text]) => text === "kept by the button"), "the button's message kept");
  assert.deepEqual(await again.evaluate(() => window.__cspViolations), []);
});

test("a page script adds messages through addMessage: shown in every tab once, a bad session refused by name", async () => {
  const pages = await openTabs(env.context, env.url, 3);
  const ids = await Promise.all(pages.map(tabId));
  const leader = await leaderOf(pages, ids, 10_000);
  const writer = pages[(leader + 1) % pages.length];
  const title = `Scripted ${Date.now()}`;
  await createSession(writer, title);
  let session;
  await within(10_000, "every tab lists the new session", async () => {
    const listed = await Promise.all(pages.map(sessions));
    session = listed[0].find(([, t]) => t === title)?.[0];
    return listed.every((s) => s.some(([, t]) => t === title));
  });
  for (const page of pages) {
    await page.click(`[data-testid=session][data-session-id="${session}"] [data-testid=switch-session]`);
  }
  // 20 at once, in one task: each gets a request number of its own.
  const numbers = await writer.evaluate(
    (session) => Array.from({ length: 20 }, (_, i) => window.wasmBindings.addMessage(session, `scripted #${i}`)),
    session,
  );
  assert.equal(new Set(numbers).size, 20, `distinct request numbers: ${numbers}`);
  await within(10_000, "every tab shows the 20 messages", async () =>
    (await Promise.all(pages.map(messages))).every((m) => m.filter(([, , t]) => t.startsWith("scripted #")).length === 20),
  );
  for (const page of pages) {
    const texts = (await messages(page)).map(([, , t]) => t);
    assert.deepEqual(texts, Array.from({ length: 20 }, (_, i) => `scripted #${i}`), "in order, once each");
  }
  const refused = await writer.evaluate(() => {
    try {
      window.wasmBindings.addMessage("not-an-id", "x");
      return null;
    } catch (error) {
      return error.message;
    }
  });
  assert.match(refused ?? "", /not a session id/);
});

test("a hidden tab, the leader here, stores what the others write but draws none of it until it is shown, then all at once", async () => {
  const pages = await openTabs(env.context, env.url, 3);
  const ids = await Promise.all(pages.map(tabId));
  const lead = await leaderOf(pages, ids, 10_000);
  const leader = pages[lead];
  const writer = pages[(lead + 1) % pages.length];
  const title = `Behind ${Date.now()}`;
  await createSession(writer, title);
  const session = await sessionIdOf(writer, title);
  await openSession(pages, session);
  // A session just opened grows its list to full size over a few tasks (session_view.rs's
  // `grow`), each drawing what the view holds: let that end, so that only being told of a
  // change could draw.
  await new Promise((r) => setTimeout(r, 500));
  await emulateHidden(leader, true);
  const texts = Array.from({ length: 30 }, (_, i) => `behind #${i}`);
  await writer.evaluate(
    ({ session, texts }) => texts.forEach((text) => window.wasmBindings.addMessage(session, text)),
    { session, texts },
  );
  const others = pages.filter((page) => page !== leader);
  await within(10_000, "the visible tabs show the 30 messages", async () =>
    (await Promise.all(others.map(messages))).every((m) => m.filter(([, , t]) => t.startsWith("behind #")).length === 30),
  );
  // The hidden leader applied and stored them all (the visible tabs heard its commits), and
  // drew none of them.
  assert.deepEqual((await storedMessages(leader, session)).texts, texts, "stored, in order");
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    (await messages(leader)).filter(([, , t]) => t.startsWith("behind #")),
    [],
    "hidden, the leader's list drew none of them",
  );
  await emulateHidden(leader, false);
  const shownIn = await within(2_000, "shown, the leader's list shows the 30", async () =>
    (await messages(leader)).filter(([, , t]) => t.startsWith("behind #")).length === 30,
  );
  const shown = (await messages(leader)).map(([, , t]) => t).filter((t) => t.startsWith("behind #"));
  assert.deepEqual(shown, texts, "in order, once each");
  console.log(`# shown again, the hidden leader's list drew the 30 messages within ${shownIn.toFixed(0)} ms (polled every 25 ms)`);
});

/** In a page: where its message pane is scrolled, and whether it shows its last row. */
function pane() {
  const el = document.querySelector("[data-testid=message-pane]");
  return { top: el.scrollTop, last: el.scrollTop + el.clientHeight + 2 >= el.scrollHeight, scrolls: el.scrollHeight > el.clientHeight };
}

test("a long session shows its latest messages in every tab, following new ones, and leaves a person reading earlier ones where they are", async () => {
  const pages = await openTabs(env.context, env.url, 2);
  const ids = await Promise.all(pages.map(tabId));
  await leaderOf(pages, ids, 10_000);
  const [writer, reader] = pages;
  const title = `Pane ${Date.now()}`;
  await createSession(writer, title);
  let session = await sessionIdOf(writer, title);
  await openSession(pages, session);
  const lastShown = async (page, text) => (await messages(page)).at(-1)?.[2] === text;
  // Twenty at a time (a tab holds only so many requests waiting), each twenty listed first.
  const add = async (texts) => {
    for (let i = 0; i < texts.length; i += 20) {
      const some = texts.slice(i, i + 20);
      await writer.evaluate(({ session, some }) => some.forEach((text) => window.wasmBindings.addMessage(session, text)), { session, some });
      await within(10_000, `the writer lists "${some.at(-1)}"`, () => lastShown(writer, some.at(-1)));
    }
  };
  const batch = (from, n) => Array.from({ length: n }, (_, i) => `pane #${from + i}`);

  await add(batch(0, 60));
  await within(10_000, "both tabs list the 60 and show the last of them", async () => {
    const states = await Promise.all(pages.map((page) => page.evaluate(pane)));
    const ends = await Promise.all(pages.map((page) => lastShown(page, "pane #59")));
    return ends.every(Boolean) && states.every((s) => s.scrolls && s.last);
  });
  // The page itself does not grow with the list (its height is checked again at the end).
  const height = () => reader.evaluate(() => document.documentElement.scrollHeight);
  const before = await height();

  // The reader scrolls up to read earlier messages: new ones come, it stays where it is.
  await reader.evaluate(() => {
    document.querySelector("[data-testid=message-pane]").scrollTop = 0;
  });
  await new Promise((r) => setTimeout(r, 200));
  await add(batch(60, 10));
  await within(10_000, "both tabs list the 70", async () =>
    (await Promise.all(pages.map((page) => lastShown(page, "pane #69")))).every(Boolean),
  );
  // A pane follows at its tab's next frame, which a tab not in front (the writer) gets a
  // few times a second.
  await within(3_000, "the writer's pane, at its last row, followed", async () => (await writer.evaluate(pane)).last);
  const reading = await reader.evaluate(pane);
  assert.equal(reading.top, 0, "the reader's pane stayed at its first row");
  assert.ok(!reading.last, "and does not show the last");

  // Back at the last row, the reader's pane follows again.
  await reader.evaluate(() => {
    const el = document.querySelector("[data-testid=message-pane]");
    el.scrollTop = el.scrollHeight;
  });
  await new Promise((r) => setTimeout(r, 200));
  await add(batch(70, 10));
  await within(10_000, "both tabs show the 80th at the foot of their panes", async () => {
    const ends = await Promise.all(pages.map((page) => lastShown(page, "pane #79")));
    const states = await Promise.all(pages.map((page) => page.evaluate(pane)));
    return ends.every(Boolean) && states.every((s) => s.last);
  });
  assert.equal(await height(), before, "20 more messages, and the page is as tall as it was");

  // Scrolled up in one session, the reader opens another: it opens at its latest message.
  await reader.evaluate(() => {
    document.querySelector("[data-testid=message-pane]").scrollTop = 0;
  });
  const other = `Pane two ${Date.now()}`;
  await createSession(writer, other);
  const second = await sessionIdOf(writer, other);
  await openSession([writer], second);
  session = second;
  await add(batch(100, 40));
  await openSession([reader], second);
  await within(10_000, "the reader shows the other session's latest message at the foot of its pane", async () =>
    (await lastShown(reader, "pane #139")) && (await reader.evaluate(pane)).last,
  );
  const listed = (await messages(reader)).map(([, , text]) => text);
  assert.deepEqual(listed, batch(100, 40), "the other session's messages, and only those");
});

test("a read of earlier messages that fails is asked for again: a tab opened later shows them all", async () => {
  const [writer] = await openTabs(env.context, env.url, 1);
  await leaderOf([writer], [await tabId(writer)], 10_000);
  // A session made first, which a tab opening the app opens (when no test made one before).
  await createSession(writer, `Opened first ${Date.now()}`);
  const title = `Read again ${Date.now()}`;
  await createSession(writer, title);
  const session = await sessionIdOf(writer, title);
  await openSession([writer], session);
  // More than a tab takes of a session when it loads the store (its latest 100), and few
  // enough that the list, growing as it opens, asks for the rest in one read, which nothing
  // else asks for again.
  const count = 110;
  for (let from = 0; from < count; from += 22) {
    await writer.evaluate(
      ({ session, from }) => Array.from({ length: 22 }, (_, i) => window.wasmBindings.addMessage(session, `earlier #${from + i}`)),
      { session, from },
    );
    await within(10_000, `${from + 22} messages shown`, async () => (await messages(writer)).length === from + 22);
  }
  const [late] = await openTabs(env.context, env.url, 1);
  await tabId(late);
  await sessionIdOf(late, title);
  const { rev } = await state(writer);
  await within(10_000, "the late tab has loaded the store", async () => (await state(late)).rev === rev);
  // The late tab holds the session's latest 100 and has not opened it. Opened, its list reads
  // the first 10; that read fails once, as a transient failure would (message keys: [session,
  // place]).
  await late.evaluate((session) => {
    const getAll = IDBObjectStore.prototype.getAll;
    window.__readsFailed = 0;
    IDBObjectStore.prototype.getAll = function (...args) {
      const [query] = args;
      const ours =
        query instanceof IDBKeyRange && Array.isArray(query.lower) && query.lower[0] === session && query.lower[1] === 0;
      if (this.name === "messages" && ours && window.__readsFailed === 0) {
        window.__readsFailed += 1;
        throw new DOMException("a read failing on purpose", "UnknownError");
      }
      return getAll.apply(this, args);
    };
  }, session);
  // Whether the tab ever says it is reading earlier messages.
  await late.evaluate(() => {
    window.__readingShown = false;
    new MutationObserver(() => {
      const hint = document.querySelector("[data-testid=reading]");
      if (hint && !hint.hidden) window.__readingShown = true;
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await openSession([late], session);
  await within(5_000, `the late tab shows all ${count} messages`, async () => (await messages(late)).length === count);
  assert.equal(await late.evaluate(() => window.__readsFailed), 1, "a read failed");
  assert.ok(await late.evaluate(() => window.__readingShown), "the tab said it was reading");
  await within(2_000, "the tab no longer says it is reading", async () =>
    late.$eval("[data-testid=reading]", (hint) => hint.hidden),
  );
  const texts = (await messages(late)).map(([, , text]) => text);
  assert.deepEqual(texts, Array.from({ length: count }, (_, i) => `earlier #${i}`), "in order, once each");
});
