// What the write benchmarks share: the tabs they write in, and what they do in a page (one
// write through the composer, timed).
import { openTabs, tabId } from "../e2e/browser.mjs";
import { createSession, leaderOf, openSession } from "../e2e/app.mjs";

/**
 * In `context`: `n` tabs of the app at `url`, one agreed leader, and a session titled `title`
 * that every tab has open; resolves to { pages, lead, w, role }: the tabs, the indices of the
 * leader and of the follower that writes (the tab after the leader), and each tab's name by
 * its index ("tab 2, the writer"; the last opened is the one in front).
 */
export async function writingTabs(context, url, n, title) {
  const pages = await openTabs(context, url, n);
  const ids = await Promise.all(pages.map(tabId));
  const lead = await leaderOf(pages, ids, 10_000);
  await openSession(pages, await createSession(pages[lead], title));
  const w = (lead + 1) % n;
  const role = (i) => `tab ${i}${i === lead ? ", the leader" : i === w ? ", the writer" : ""}${i === n - 1 ? " (in front)" : ""}`;
  return { pages, lead, w, role };
}

/**
 * In a page: submits `text` through the composer (its text and an Enter) and resolves to { t0, t1 }: when it was
 * submitted and when the compose status said "Saved." for it (wall clock); rejects if it is
 * refused or unanswered within `bound` ms.
 */
export function timedWrite({ text, bound }) {
  const now = () => performance.timeOrigin + performance.now();
  const input = document.querySelector("[data-testid=compose-text]");
  const status = document.querySelector("[data-testid=compose-status]");
  const before = status.dataset.tries;
  return new Promise((resolve, reject) => {
    let t0;
    // "Saved." counts only after this submit's own "Sending…": the status's attribute and its
    // text need not change in the same step.
    let sending = false;
    const check = () => {
      if (status.dataset.tries === before) return;
      const said = status.textContent;
      if (said === "Sending…") sending = true;
      else if (said === "Saved." && sending) finish(() => resolve({ t0, t1: now() }));
      else if (said.startsWith("Not ")) finish(() => reject(new Error(`"${text}": ${said}`)));
    };
    const observer = new MutationObserver(check);
    const timer = setTimeout(
      () => finish(() => reject(new Error(`"${text}": no answer within ${bound} ms (status: ${status.textContent})`))),
      bound,
    );
    const finish = (end) => {
      observer.disconnect();
      clearTimeout(timer);
      end();
    };
    observer.observe(status, { subtree: true, childList: true, characterData: true, attributes: true });
    t0 = now();
    input.value = text;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    // Enter, as the keyboard sends it (the composer is no form: see session_view.rs).
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    check();
  });
}
