// Tab identity and presence in real tabs of one headless Chromium, on the served app.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { closeTabs, emulateHidden, launch, openPanel, openTabs, peerIds, sameSet, tabId, within } from "./browser.mjs";

// The bounds the app states (conclave-core's Config::default): a tab that says goodbye leaves
// every list at once; a visible tab that falls silent leaves within its 3 s time-to-live.
const SILENCE_BOUND_MS = 3_000;
// Timer and polling slack on a loaded 2-core machine, on top of the stated bound.
const SLACK_MS = 1_500;

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

test("10 tabs opened at once get 10 distinct ids and each lists the 9 others; closing 3 leaves 6", async () => {
  const pages = await openTabs(env.context, env.url, 10);
  const ids = await Promise.all(pages.map(tabId));
  assert.equal(new Set(ids).size, 10, `distinct ids: ${ids.join(" ")}`);

  const joined = await within(10_000, "every tab lists the 9 others", async () => {
    const lists = await Promise.all(pages.map(peerIds));
    return lists.every((list, i) => sameSet(list, ids.filter((_, j) => j !== i)));
  });
  console.log(`# all 10 tabs listed each other ${joined.toFixed(0)} ms after the ids appeared`);
  // Listing each other means every tab verified the others' signatures: one shared key, even
  // though all 10 started at once and may each have created one.
  const signing = await Promise.all(pages.map((p) => p.getByTestId("signing").textContent()));
  assert.deepEqual(signing, Array(10).fill("signed (HMAC-SHA-256)"));
  // Counters show in an unfolded panel (folded, they wait).
  await Promise.all(pages.map(openPanel));
  const badTags = await Promise.all(pages.map((p) => p.getByTestId("count-bad-tag").textContent()));
  console.log(`# messages signed with a losing key during start-up, per tab: ${badTags.join(" ")}`);

  const [closing, staying] = [pages.slice(0, 3), pages.slice(3)];
  const left = ids.slice(3);
  await Promise.all(closing.map((page) => page.close()));
  const gone = await within(SILENCE_BOUND_MS, "the 7 remaining tabs list exactly the 6 others", async () => {
    const lists = await Promise.all(staying.map(peerIds));
    return lists.every((list, i) => sameSet(list, left.filter((_, j) => j !== i)));
  });
  console.log(`# closed tabs left every list in ${gone.toFixed(0)} ms (bound ${SILENCE_BOUND_MS} ms)`);

  const counts = await Promise.all(staying.map((p) => p.getByTestId("peer-count").textContent()));
  assert.deepEqual(counts, Array(7).fill("6"));
  await Promise.all(staying.map((page) => page.close()));
});

test("a tab that dies without a goodbye leaves the others' lists within the stated bound", async () => {
  const pages = await openTabs(env.context, env.url, 3);
  const ids = await Promise.all(pages.map(tabId));
  await within(10_000, "3 tabs list each other", async () =>
    (await Promise.all(pages.map(peerIds))).every((list) => list.length === 2),
  );
  // Stop the victim's scripts dead: no pagehide, no goodbye, no more heartbeats. (A crash of
  // the renderer would also take down any other tab sharing its process.)
  const victim = pages[2];
  const cdp = await env.context.newCDPSession(victim);
  await cdp.send("Debugger.enable");
  await cdp.send("Debugger.pause");
  const silent = await within(SILENCE_BOUND_MS + SLACK_MS, "the silent tab is dropped", async () =>
    (await Promise.all(pages.slice(0, 2).map(peerIds))).every(
      (list) => list.length === 1 && !list.includes(ids[2]),
    ),
  );
  console.log(`# a silent tab left the lists ${silent.toFixed(0)} ms after it stopped (bound ${SILENCE_BOUND_MS} ms + timer slack)`);
  await cdp.send("Debugger.resume");
  // Once it runs again its heartbeat brings it back.
  await within(SILENCE_BOUND_MS + SLACK_MS, "the resumed tab is listed again", async () =>
    (await Promise.all(pages.slice(0, 2).map(peerIds))).every((list) => list.includes(ids[2])),
  );
  await Promise.all(pages.map((page) => page.close()));
});

test("a hidden tab's panel leaves sequence numbers as they were, and shows them current at once when shown", async () => {
  const pages = await openTabs(env.context, env.url, 3);
  try {
    await hiddenPanelWaits(pages);
  } finally {
    await Promise.all(pages.map((page) => page.close()));
  }
});

/** Hides the second of `pages` while the first goes on sending; the third watches. */
async function hiddenPanelWaits(pages) {
  const ids = await Promise.all(pages.map(tabId));
  await within(10_000, "3 tabs list each other", async () =>
    (await Promise.all(pages.map(peerIds))).every((list) => list.length === 2),
  );
  const [, hidden, watcher] = pages;
  // Sequence numbers show in an unfolded panel (folded, they wait, as hidden ones do).
  await Promise.all(pages.map(openPanel));
  /** The last sequence number `page`'s panel shows for the sender. */
  const seqOf = (page) => page.$eval(`[data-peer-id="${ids[0]}"] [data-label=Seq]`, (c) => Number(c.textContent));
  await emulateHidden(hidden, true);
  // Its visibility shows at once, in the other tabs' panels too.
  await within(2_000, "the others see the tab hidden", async () =>
    (await watcher.$eval(`[data-peer-id="${ids[1]}"] [data-label=Visible]`, (c) => c.textContent)) === "no",
  );
  const shownWhenHidden = await seqOf(hidden);
  // Three heartbeats: a visible tab's panel moves on (refreshing once a second), the hidden
  // one's does not.
  await new Promise((r) => setTimeout(r, 3_000));
  const current = await seqOf(watcher);
  assert.ok(current > shownWhenHidden, `the sender went on: ${shownWhenHidden} -> ${current}`);
  assert.equal(await seqOf(hidden), shownWhenHidden, "the hidden panel did not redraw it");
  await emulateHidden(hidden, false);
  const caughtUp = await within(500, "shown, the panel shows the current sequence number", async () =>
    (await seqOf(hidden)) >= current,
  );
  console.log(`# a hidden tab's panel kept the sender's seq at ${shownWhenHidden} while a visible one moved to ${current}; shown, it caught up in ${caughtUp.toFixed(0)} ms (polled every 25 ms)`);
}

test("garbage posted on the channel is counted by reason and the tab keeps working", async () => {
  const pages = await openTabs(env.context, env.url, 2);
  const ids = await Promise.all(pages.map(tabId));
  await within(10_000, "2 tabs list each other", async () => (await peerIds(pages[0])).length === 1);
  await pages[1].evaluate(async () => {
    // The protocol's version as the tabs speak it now: from the first signed message heard
    // (its JSON, "#", and its tag).
    const v = await new Promise((resolve) => {
      const ear = new BroadcastChannel("conclave");
      ear.onmessage = (e) => {
        const text = String(e.data);
        let version;
        try {
          version = JSON.parse(text.slice(0, text.lastIndexOf("#"))).v;
        } catch {
          return;
        }
        if (!Number.isInteger(version)) return;
        ear.close();
        resolve(version);
      };
    });
    const raw = new BroadcastChannel("conclave");
    raw.postMessage("{ not json");
    raw.postMessage(42);
    raw.postMessage({ v: 1 });
    raw.postMessage("x".repeat(70_000));
    raw.postMessage(JSON.stringify({ v: 1, ch: "conclave" }));
    raw.postMessage(JSON.stringify({ v, ch: "someone-else" }));
    raw.postMessage(`{"v":${v},"ch":"conclave","from":"zz","inc":0,"seq":1,"at":0,"msg":"bye"}`);
    raw.postMessage(`{"v":${v},"ch":"conclave","from":"0123456789abcdef0123456789abcdef","inc":0,"seq":1e400,"at":0,"msg":"bye"}`);
    // Well formed but unsigned (every tab holds the key, so its bootstrap window is closed), and
    // well formed with a forged signature: a peer must not appear from either.
    const forged = `{"v":${v},"ch":"conclave","from":"0123456789abcdef0123456789abcdef","inc":0,"seq":1,"at":0,"term":0,"lead":"00000000000000000000000000000000","msg":{"hello":{"ttl":3000,"visible":true,"acting":false}}}`;
    raw.postMessage(forged);
    raw.postMessage(forged + "#" + "ab".repeat(32));
    raw.postMessage(forged + "#abcd");
    raw.close();
  });
  const expected = {
    malformed: "1",
    "not-text": "2",
    oversized: "1",
    "unknown-version": "1",
    "other-channel": "1",
    "wrong-type": "1",
    "unsafe-number": "1",
    unsigned: "1",
    "bad-tag": "1",
    "tag-length": "1",
  };
  // Both tabs hear the raw channel (a different object in the same page counts as another sender).
  await Promise.all(pages.map(openPanel));
  for (const page of pages) {
    await within(5_000, "every rejection counted", async () => {
      for (const [reason, count] of Object.entries(expected)) {
        if ((await page.getByTestId(`count-${reason}`).textContent()) !== count) return false;
      }
      return true;
    });
  }
  // Still alive and coordinating: a newcomer is listed by both.
  const [third] = await openTabs(env.context, env.url, 1);
  const thirdId = await tabId(third);
  await within(5_000, "the newcomer is listed", async () =>
    (await Promise.all(pages.map(peerIds))).every((list) => list.includes(thirdId)),
  );
  // Each of the two tabs still lists the other and the newcomer, and no one else.
  for (const [i, page] of pages.entries()) {
    assert.deepEqual((await peerIds(page)).sort(), [ids[1 - i], thirdId].sort(), `tab ${i}'s list`);
  }
  for (const page of pages) {
    assert.ok(!(await peerIds(page)).includes("0123456789abcdef0123456789abcdef"), "no forged peer");
  }
  await Promise.all([...pages, third].map((page) => page.close()));
});

test("the page runs under the strict CSP with no violation, and the policy is in force", async () => {
  const [page] = await openTabs(env.context, env.url, 1);
  await tabId(page);
  const policy = await page.$eval('meta[http-equiv="Content-Security-Policy"]', (m) => m.content);
  for (const directive of ["script-src 'self' 'wasm-unsafe-eval'", "object-src 'none'", "base-uri 'none'"]) {
    assert.ok(policy.includes(directive), `policy has ${directive}: ${policy}`);
  }
  assert.ok(!policy.includes("unsafe-inline"), policy);
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
  // Control: an inline script is refused and reported, so the silence above means something.
  const ran = await page.evaluate(() => {
    window.__inlineRan = false;
    const s = document.createElement("script");
    s.textContent = "window.__inlineRan = true";
    document.head.append(s);
    return window.__inlineRan;
  });
  assert.equal(ran, false, "an inline script must not run");
  await within(2_000, "the blocked inline script is reported", async () =>
    (await page.evaluate(() => window.__cspViolations.length)) > 0,
  );
  await page.close();
});

test("a tab whose storage throws holds no key, says so in a banner, and is ignored, not trusted", async () => {
  const [healthy] = await openTabs(env.context, env.url, 1);
  await tabId(healthy);
  const broken = await env.context.newPage();
  // Storage that throws on every call, as when it is disabled or full.
  await broken.addInitScript(() => {
    for (const name of ["getItem", "setItem"]) {
      Storage.prototype[name] = () => {
        throw new DOMException("storage disabled for this test", "SecurityError");
      };
    }
  });
  await broken.goto(env.url);
  const brokenId = await tabId(broken);
  assert.equal(await broken.getByTestId("signing").textContent(), "no key yet: bootstrap window open");
  // Once its 5 s bootstrap window closes, the banner says why it runs alone.
  await broken.getByTestId("safe-mode").waitFor({ timeout: 8_000 });
  assert.match(await broken.getByTestId("safe-mode").textContent(), /no signing key/);
  // The healthy tab never lists it: its unsigned messages are refused by name.
  assert.ok(!(await peerIds(healthy)).includes(brokenId));
  await openPanel(healthy);
  assert.ok(Number(await healthy.getByTestId("count-unsigned").textContent()) >= 1);
  await Promise.all([healthy.close(), broken.close()]);
});
