// Hardening (issue 26) in real tabs of one headless Chromium, on the served app: no stored value
// or replayed message wedges or fools a tab. A term near the top of its range, in storage or on
// the wire, is corrupt and leaves one agreed leader whose messages are heard; a leader stopped
// past the stall bound does not say it leads when it resumes; a tab opened after another closed
// does not believe that tab's replayed messages.
import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { closeTabs, launch, openPanel, openTabs, peerIds, tabId, within } from "./browser.mjs";
import { createSession, sessionIdOf } from "./app.mjs";

// conclave-core's Term::MAX_NUMBER: no tab mints, stores, sends or believes a term above it.
const MAX_TERM = 2n ** 50n;
// The item that holds the highest term any tab of the app stored, as `<number>:<32 hex>`.
const TERM_ITEM = "conclave:term:v1";
// The item that holds the app's shared key, as 64 hex digits (conclave-web's `key_item`).
const KEY_ITEM = "conclave:key:v1";
// A visible tab takes over from a stopped leader within this bound (see election.test.mjs).
const FREEZE_BOUND_MS = 3_000;
// How long a leader's thread may be stopped before it must check its term (the stall bound).
const STALL_BOUND_MS = 1_200;
// Timer and polling slack on a loaded 2-core machine.
const SLACK_MS = 1_500;

let env;
// Each test's own browser context: these tests corrupt what the tabs of a profile share (the
// stored term, and through it the store's fence), which a later test must not inherit, on the
// old build least of all, where it wedges every election that follows.
let context;
before(async () => {
  env = await launch();
});
after(async () => {
  await env?.close();
});
beforeEach(async () => {
  context = await env.browser.newContext();
});
afterEach(async () => {
  if (!context) return;
  await closeTabs(context);
  await context.close();
  context = undefined;
});

/** What a tab's panel says of the election; the term as its text (it may not fit a Number). */
function election(page) {
  return page.evaluate(() => ({
    role: document.querySelector("[data-testid=role]")?.textContent,
    term: document.querySelector("[data-testid=term]")?.textContent,
    leader: document.querySelector("[data-testid=leader]")?.dataset.leaderId ?? "",
  }));
}

/**
 * Waits until exactly one of `pages` leads and all agree on it and its term; resolves to
 * { index, term (a BigInt), ms }. On failure the error says what the tabs showed last.
 */
async function agreedLeader(pages, ids, bound, what) {
  let found;
  let last;
  try {
    const ms = await within(bound, what, async () => {
      const views = await Promise.all(pages.map(election));
      last = views;
      const leaders = views.filter((v) => v.role === "leader");
      if (leaders.length !== 1) return false;
      const i = views.indexOf(leaders[0]);
      const agree = views.every((v) => v.leader === ids[i] && v.term === views[i].term);
      if (agree) found = { index: i, term: BigInt(views[i].term) };
      return agree;
    });
    return { ...found, ms };
  } catch (error) {
    error.message += `; the tabs showed: ${JSON.stringify(last)}`;
    throw error;
  }
}

/** The counter `name` of a tab's panel (`count-{name}`), or null if the panel has none
 * (unfolding it: folded, its counters wait). */
async function counter(page, name) {
  await openPanel(page);
  return page.evaluate((name) => {
    const cell = document.querySelector(`[data-testid="count-${name}"]`);
    return cell ? Number(cell.textContent) : null;
  }, name);
}

/** The counters `names` of a tab's panel, as { name: value } (null where it has none). */
async function counters(page, names) {
  const values = await Promise.all(names.map((name) => counter(page, name)));
  return Object.fromEntries(names.map((name, i) => [name, values[i]]));
}

/**
 * Creates a session from `creator` (a follower: its request goes to the leader, and it is
 * listed once the leader's commit, a leader message, is accepted) and waits until every page
 * of `pages` lists it.
 */
async function sessionListedByAll(creator, pages, title, bound = 10_000) {
  const t0 = performance.now();
  const id = await createSession(creator, title, bound);
  for (const page of pages) assert.equal(await sessionIdOf(page, title, bound), id);
  return performance.now() - t0;
}

// Each edge value of the stored term, written while the tabs run (they see it through the
// `storage` event) or found by the tabs when they open, with a failover each (a close or a crash).
for (const [name, number] of [
  ["2^53 − 1", "9007199254740991"],
  ["u64::MAX", "18446744073709551615"],
]) {
  for (const [found, failover] of [
    [false, name === "u64::MAX" ? "crash" : "close"],
    [true, name === "u64::MAX" ? "close" : "crash"],
  ]) {
    const when = found ? "found by the tabs as they open" : "written while the tabs run";
    const then = failover === "close" ? "closes" : "crashes";
    test(`a stored term of ${name} ${when} is corrupt: there is a leader and, once its tab ${then}, one agreed leader within the limit whose commits every tab accepts`, async () => {
      const pages = [];
      try {
        await storedTermEdge(pages, number, found, failover);
      } finally {
        await Promise.all(pages.map((page) => page.close().catch(() => {})));
      }
    });
  }
}

/**
 * Writes `<number>:<hex>` to the stored term, before the tabs open (`found`) or from a
 * follower's page while they run; then the leader's tab goes (`failover`: "close" or "crash").
 * Fills `pages` with the tabs it opens.
 */
async function storedTermEdge(pages, number, found, failover) {
  if (found) {
    // A page of the origin that runs no app (a blank document, answered by Playwright) writes
    // it before any tab of the app opens: a profile that a buggy build or a corruption left.
    const writer = await context.newPage();
    const blank = `${env.url}no-app-here`;
    await writer.route(blank, (route) => route.fulfill({ contentType: "text/html", body: "<!doctype html>" }));
    await writer.goto(blank);
    await writer.evaluate(([item, text]) => localStorage.setItem(item, text), [TERM_ITEM, `${number}:${"ab".repeat(16)}`]);
    await writer.close();
  }
  pages.push(...(await openTabs(context, env.url, 4)));
  const ids = await Promise.all(pages.map(tabId));
  const first = await agreedLeader(pages, ids, 10_000, "a first leader");
  console.log(`# a first leader at term ${first.term}, agreed in ${first.ms.toFixed(0)} ms`);
  const leader = pages[first.index];
  const rest = pages.filter((p) => p !== leader);
  const restIds = ids.filter((_, i) => i !== first.index);

  // A follower's page writes the edge value (as a corrupted profile or a buggy build could):
  // the other tabs, the leader among them, see it through the `storage` event.
  const written = `${number}:${ids[first.index]}`;
  if (!found) await rest[0].evaluate(([item, text]) => localStorage.setItem(item, text), [TERM_ITEM, written]);
  // Counters refresh once a second: this is also the baseline of the refusals counted below.
  await new Promise((r) => setTimeout(r, 1_200));
  const staleBefore = await Promise.all(rest.map((p) => counter(p, "stale-term")));

  const t0 = performance.now();
  if (failover === "close") {
    await leader.close();
  } else {
    const cdp = await context.newCDPSession(leader);
    cdp.send("Page.crash").catch(() => {});
  }
  const next = await agreedLeader(rest, restIds, 10_000, `one agreed leader after the ${failover}`);
  console.log(`# the leader's tab ${failover === "close" ? "closed" : "crashed"}: a new leader (term ${next.term}) agreed in ${(performance.now() - t0).toFixed(0)} ms`);

  // Its leader messages are heard: a session created by a follower is listed by every tab.
  const follower = rest.find((_, i) => i !== next.index);
  const ms = await sessionListedByAll(follower, rest, `after ${failover} at ${number}`);
  console.log(`# a follower's session was listed by all 3 tabs ${ms.toFixed(0)} ms after it was created`);
  // None of them was refused on the way (a tab that refuses the commit may still list the
  // session later, reading the store again when a heartbeat tells it a revision it missed).
  await new Promise((r) => setTimeout(r, 1_200));
  const stale = (await Promise.all(rest.map((p) => counter(p, "stale-term")))).map((n, i) => n - staleBefore[i]);
  console.log(`# leader messages refused as stale since the failover, per tab: ${stale.join(" ")}`);
  assert.deepEqual(stale, [0, 0, 0], "no tab refused a leader message as stale since the failover");

  assert.ok(first.term <= MAX_TERM, `the first leader's term ${first.term} is within 2^50`);
  assert.ok(next.term <= MAX_TERM, `the new leader's term ${next.term} is within 2^50`);
  assert.ok(next.term > first.term, `the term grew: ${first.term} -> ${next.term}`);
  // The new leader stored its term over the corrupt one.
  const stored = await rest[0].evaluate((item) => localStorage.getItem(item), TERM_ITEM);
  assert.equal(stored, `${next.term}:${restIds[next.index]}`, "the stored term is the new leader's");
}

test("a signed message carrying term 2^53 − 1 is refused by every tab as term-out-of-range, and nothing changes", async () => {
  const pages = await openTabs(context, env.url, 3);
  try {
    await wireTermEdge(pages);
  } finally {
    await Promise.all(pages.map((page) => page.close().catch(() => {})));
  }
});

async function wireTermEdge(pages) {
  const ids = await Promise.all(pages.map(tabId));
  const first = await agreedLeader(pages, ids, 10_000, "a first leader");
  const follower = pages.find((_, i) => i !== first.index);
  const before = await Promise.all(pages.map(election));
  const refusedBefore = await Promise.all(pages.map((p) => counter(p, "term-out-of-range")));

  // From a follower's page: take the leader's next heartbeat heard on a raw channel as the
  // template (whichever protocol version the build speaks), make it a new tab's claim to lead
  // term 2^53 − 1 sent now, sign it with the app's key, and post it.
  const forgery = await follower.evaluate(
    async ([keyItem, leaderId]) => {
      const raw = new BroadcastChannel("conclave");
      const template = await new Promise((resolve) => {
        raw.onmessage = (e) => {
          if (typeof e.data !== "string") return;
          const payload = e.data.slice(0, e.data.lastIndexOf("#"));
          const envelope = JSON.parse(payload);
          if (envelope.from === leaderId && envelope.msg?.heartbeat) resolve(envelope);
        };
      });
      const hex = (bytes) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
      const id = hex(crypto.getRandomValues(new Uint8Array(16)));
      const envelope = { ...template, from: id, inc: 0, seq: 1, term: 9007199254740991, lead: id };
      if ("at" in envelope) envelope.at = Date.now();
      envelope.msg = { heartbeat: { ...template.msg.heartbeat, acting: true } };
      const payload = JSON.stringify(envelope);
      const keyHex = localStorage.getItem(keyItem);
      const keyBytes = new Uint8Array(keyHex.match(/../g).map((h) => parseInt(h, 16)));
      const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const tag = hex(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(payload)));
      raw.postMessage(`${payload}#${tag}`);
      raw.close();
      return { id, version: template.v, payload };
    },
    [KEY_ITEM, ids[first.index]],
  );
  console.log(`# forged (protocol version ${forgery.version}): ${forgery.payload}`);

  // Every tab (the poster's own app too: its raw channel is another sender) counts it, once
  // its counters refresh (once a second). Then two more heartbeats pass.
  const refused = async () =>
    (await Promise.all(pages.map((p) => counter(p, "term-out-of-range")))).map((n, i) =>
      n === null ? null : n - refusedBefore[i],
    );
  const counted = await within(5_000, "every tab counts the forgery", async () =>
    (await refused()).every((n) => n === 1),
  ).then(
    () => true,
    () => false,
  );
  await new Promise((r) => setTimeout(r, 2_000));

  // Nothing changed: the same leader at the same term, in every tab.
  const after = await Promise.all(pages.map(election));
  assert.deepEqual(after, before, "every tab shows the same role, term and leader as before the forgery");
  assert.ok(counted, `every tab counts one term-out-of-range: ${JSON.stringify(await refused())}`);
  for (const page of pages) {
    assert.ok(!(await peerIds(page)).includes(forgery.id), "the forged sender is listed by no tab");
  }
  // And the leader's commits are still heard.
  const ms = await sessionListedByAll(follower, pages, "after a forged term");
  console.log(`# every tab counted the forgery; a follower's session was then listed by all 3 tabs in ${ms.toFixed(0)} ms`);
}

test("a leader stopped past the stall bound while another is elected does not say it leads when it resumes, even to code reading it first", async () => {
  const pages = await openTabs(context, env.url, 3);
  try {
    await staleClaim(pages);
  } finally {
    await Promise.all(pages.map((page) => page.close().catch(() => {})));
  }
});

async function staleClaim(pages) {
  const ids = await Promise.all(pages.map(tabId));
  const first = await agreedLeader(pages, ids, 10_000, "a first leader");
  const stalled = pages[first.index];
  const others = pages.filter((p) => p !== stalled);
  const otherIds = ids.filter((_, i) => i !== first.index);

  // A timer of the leader's page stops its thread at a `debugger` statement; once resumed, the
  // same callback reads isLeader() first (the app's export; the old build has none), then the
  // role the panel shows, before the engine can have had any input.
  const cdp = await context.newCDPSession(stalled);
  await cdp.send("Debugger.enable");
  const paused = new Promise((resolve) => cdp.once("Debugger.paused", resolve));
  await stalled.evaluate(() => {
    setTimeout(() => {
      const before = performance.now();
      debugger; // stops here (Debugger is enabled) until Debugger.resume
      const isLeader = window.wasmBindings?.isLeader;
      const leads = typeof isLeader === "function" ? isLeader() : null;
      const role = document.querySelector("[data-testid=role]")?.textContent ?? null;
      window.__afterResume = { leads, role, stoppedMs: performance.now() - before };
    }, 0);
  });
  await paused;
  const pausedAt = Date.now();

  const next = await agreedLeader(others, otherIds, FREEZE_BOUND_MS + SLACK_MS, "another tab leads");
  const tookOver = Date.now() - pausedAt;
  assert.ok(next.term > first.term, `a higher term: ${first.term} -> ${next.term}`);
  const newLeads = await others[next.index].evaluate(() => window.wasmBindings?.isLeader?.() ?? null);
  console.log(`# another tab leads (term ${next.term}) ${tookOver} ms after the leader's thread stopped; its isLeader(): ${newLeads}`);
  if (newLeads !== null) assert.equal(newLeads, true, "the new leader's isLeader()");
  // Stopped well past the stall bound.
  const wait = STALL_BOUND_MS + 800 - (Date.now() - pausedAt);
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  await cdp.send("Debugger.resume");

  let read;
  await within(3_000, "the resumed callback ran", async () => (read = await stalled.evaluate(() => window.__afterResume)) != null);
  console.log(`# read first thing after a ${read.stoppedMs.toFixed(0)} ms stop: isLeader() ${read.leads === null ? "not exported" : read.leads}, panel role "${read.role}"`);
  // What code reading it then sees: isLeader() where the app exports it, else the panel.
  const claims = read.leads ?? read.role === "leader";
  assert.equal(
    claims,
    false,
    `right after resuming, the old leader said it leads while tab ${next.index} leads term ${next.term} (isLeader(): ${read.leads === null ? "not exported" : read.leads}; panel role: ${read.role})`,
  );
  assert.equal(read.leads, false, "isLeader() is exported and says no");

  // It then learns the higher term and follows.
  await within(3_000, "the old leader follows the new one", async () => {
    const view = await election(stalled);
    return view.role === "follower" && view.leader === otherIds[next.index] && BigInt(view.term) === next.term;
  });
  assert.equal(await stalled.evaluate(() => window.wasmBindings.isLeader()), false);
  assert.equal(await others[next.index].evaluate(() => window.wasmBindings.isLeader()), true);
}

test("a tab opened after another closed neither lists it nor delivers its messages when they are replayed", async () => {
  const [b] = await openTabs(context, env.url, 1);
  const pages = [b];
  try {
    await replayToLaterTab(pages);
  } finally {
    await Promise.all(pages.map((page) => page.close().catch(() => {})));
  }
});

/** The app messages a tab's board shows, newest first, as [sender id, text]. */
function board(page) {
  return page.$$eval("[data-testid=board-message]", (rows) =>
    rows.map((r) => [r.dataset.from, r.querySelector(".data").textContent]),
  );
}

// What a tab counts of the messages it drops or takes.
const COUNTED = ["first", "next", "gap", "late", "duplicate", "old", "stale-incarnation", "sent-before-start", "too-old"];

async function replayToLaterTab(pages) {
  const [b] = pages;
  const idB = await tabId(b);
  // B's page records every text on a raw channel from now on (A's hello included), and keeps
  // the channel to post them again later.
  await b.evaluate(() => {
    window.__recorded = [];
    window.__raw = new BroadcastChannel("conclave");
    window.__raw.onmessage = (e) => {
      if (typeof e.data === "string") window.__recorded.push(e.data);
    };
  });
  const [a] = await openTabs(context, env.url, 1);
  pages.push(a);
  const idA = await tabId(a);
  await within(10_000, "A and B list each other", async () =>
    (await peerIds(a)).includes(idB) && (await peerIds(b)).includes(idA),
  );
  // An app message of A's, which B shows.
  await openPanel(a);
  const text = "sent by A before C opened";
  await a.getByTestId("board-text").fill(text);
  await a.getByTestId("board-send").click();
  await within(5_000, "B shows A's message", async () => (await board(b)).length === 1);
  assert.deepEqual(await board(b), [[idA, text]]);
  // Two more heartbeats, then A closes (saying goodbye) and B forgets it.
  await new Promise((r) => setTimeout(r, 2_000));
  await a.close();
  await within(3_000, "B forgot A", async () => !(await peerIds(b)).includes(idA));
  await new Promise((r) => setTimeout(r, 1_000));

  const [c] = await openTabs(context, env.url, 1);
  pages.push(c);
  const idC = await tabId(c);
  await within(10_000, "B and C list each other", async () =>
    (await peerIds(c)).includes(idB) && (await peerIds(b)).includes(idC),
  );
  // Counters refresh once a second: let them settle before reading the baseline.
  await new Promise((r) => setTimeout(r, 1_200));
  const [beforeB, beforeC] = await Promise.all([b, c].map((p) => counters(p, COUNTED)));

  // B's page posts every message A sent again, in order, but for its goodbye (`bye`, or
  // `resign` from a leader), which would only make C forget A at once.
  const replayed = await b.evaluate((idA) => {
    // Each message's kind: a body is a string ("bye", "probe", "alive") or { kind: ... }.
    const kind = (envelope) => (typeof envelope.msg === "string" ? envelope.msg : Object.keys(envelope.msg)[0]);
    const fromA = window.__recorded
      .map((text) => {
        try {
          return { text, envelope: JSON.parse(text.slice(0, text.lastIndexOf("#"))) };
        } catch {
          return null;
        }
      })
      .filter((m) => m?.envelope.from === idA && !["bye", "resign"].includes(kind(m.envelope)));
    for (const { text } of fromA) window.__raw.postMessage(text);
    return fromA.map(({ envelope }) => kind(envelope));
  }, idA);
  const t0 = performance.now();
  console.log(`# replayed ${replayed.length} of A's messages: ${replayed.join(" ")}`);
  assert.ok(replayed.includes("hello") && replayed.includes("app"), `A's hello and app message were recorded: ${replayed}`);

  // For longer than a listed tab's time-to-live (3 s), C never lists A nor shows its message,
  // and B does not take A back.
  // What was seen, and when first and last (in ms after the replay).
  const seen = new Map();
  const saw = (what, at) => seen.set(what, [seen.get(what)?.[0] ?? at, at]);
  while (performance.now() - t0 < 4_000) {
    const [listC, listB, boardC, boardB] = await Promise.all([peerIds(c), peerIds(b), board(c), board(b)]);
    const at = Math.round(performance.now() - t0);
    if (listC.includes(idA)) saw("C listed A", at);
    if (boardC.some(([from]) => from === idA)) saw("C showed A's message", at);
    if (listB.includes(idA)) saw("B listed A", at);
    if (boardB.length !== 1) saw(`B showed ${boardB.length} messages`, at);
    await new Promise((r) => setTimeout(r, 25));
  }
  const believed = [...seen].map(([what, [from, to]]) => `${what} from ${from} to ${to} ms`);
  assert.deepEqual(believed, [], "a replay was believed");

  const [afterB, afterC] = await Promise.all([b, c].map((p) => counters(p, COUNTED)));
  const delta = (after, before) =>
    Object.fromEntries(COUNTED.map((k) => [k, after[k] === null ? null : after[k] - before[k]]));
  const [dB, dC] = [delta(afterB, beforeB), delta(afterC, beforeC)];
  console.log(`# counted by C: ${JSON.stringify(dC)}`);
  console.log(`# counted by B: ${JSON.stringify(dB)}`);
  assert.ok(dC["sent-before-start"] >= replayed.length, `C counts every replay as sent-before-start: ${dC["sent-before-start"]} of ${replayed.length}`);
  for (const k of ["first", "late"]) assert.equal(dC[k], 0, `C took nothing of A's as ${k}`);
  const droppedB = dB.duplicate + dB.old + dB["stale-incarnation"] + dB["sent-before-start"] + dB["too-old"];
  assert.ok(droppedB >= replayed.length, `B drops every replay: ${droppedB} of ${replayed.length}`);
}
