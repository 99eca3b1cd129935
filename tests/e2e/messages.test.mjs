// The app's own messages in real tabs of one headless Chromium, on the served app: what one tab
// sends from its message board reaches every other tab's board once, in order, as text.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { closeTabs, launch, openPanel, openTabs, peerIds, tabId, within } from "./browser.mjs";

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

/** The messages a tab's board shows, newest first, as [sender id, text]. */
function board(page) {
  return page.$$eval("[data-testid=board-message]", (rows) =>
    rows.map((r) => [r.dataset.from, r.querySelector(".data").textContent]),
  );
}

/** Types `text` into the tab's board and sends it; resolves to what the board then says. */
async function send(page, text) {
  const status = page.getByTestId("board-status");
  const tries = Number(await status.getAttribute("data-tries"));
  await page.getByTestId("board-text").fill(text);
  await page.getByTestId("board-send").click();
  await page.locator(`[data-testid=board-status][data-tries="${tries + 1}"]`).waitFor();
  return { said: await status.textContent(), failed: await status.evaluate((e) => e.classList.contains("error")) };
}

test("a message sent from one tab's board reaches every other tab once, in order, as text", async () => {
  const pages = await openTabs(env.context, env.url, 3);
  const ids = await Promise.all(pages.map(tabId));
  await Promise.all(pages.map(openPanel));
  await within(10_000, "3 tabs list each other", async () =>
    (await Promise.all(pages.map(peerIds))).every((list) => list.length === 2),
  );
  const [a, b, c] = pages;

  // Markup in a message is text, never HTML.
  const hello = "héllo ✓ <b>not bold</b>";
  assert.deepEqual(await send(a, hello), { said: "Sent to every other tab.", failed: false });
  assert.equal(await a.getByTestId("board-text").inputValue(), "", "the box empties once sent");
  await within(5_000, "b and c show a's message", async () =>
    (await Promise.all([b, c].map(board))).every((m) => m.length === 1),
  );
  for (const page of [b, c]) assert.deepEqual(await board(page), [[ids[0], hello]]);
  assert.equal(await c.locator("[data-testid=board-messages] b").count(), 0, "no element from the text");

  // Nothing is sent for an empty box or a message every receiver would refuse.
  assert.deepEqual(await send(b, "   "), { said: "Type a message first.", failed: true });
  const tooLarge = await send(b, "x".repeat(70_000));
  assert.equal(tooLarge.failed, true);
  assert.match(tooLarge.said, /^Not sent: the message would be \d+ bytes; at most 65536 are accepted\.$/);

  // Three in a row from b: a and c get them once each, newest first, after a's own message
  // for c; the sender's board never shows its own.
  for (const text of ["one", "two", "three"]) {
    assert.equal((await send(b, text)).said, "Sent to every other tab.");
  }
  await within(5_000, "a and c show b's three", async () =>
    (await board(a)).length === 3 && (await board(c)).length === 4,
  );
  const fromB = ["three", "two", "one"].map((t) => [ids[1], t]);
  assert.deepEqual(await board(a), fromB);
  assert.deepEqual(await board(c), [...fromB, [ids[0], hello]]);
  assert.deepEqual(await board(b), [[ids[0], hello]]);

  for (const page of pages) {
    assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
  }
  await Promise.all(pages.map((page) => page.close()));
});
