// What the end-to-end tests read of the served app: its panel, its sessions, its messages, and
// who leads. Shared by every test file that drives the workspace.
import { within } from "./browser.mjs";

/** What a tab's panel says of the election and its requests. */
export function state(page) {
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
export function sessions(page) {
  return page.$$eval("[data-testid=session]", (rows) =>
    rows.map((r) => [r.dataset.sessionId, r.querySelector(".title")?.textContent ?? ""]),
  );
}

/** The active session's messages a tab shows, as [id, author, text]. */
export function messages(page) {
  return page.$$eval("[data-testid=message]", (rows) =>
    rows.map((r) => [r.dataset.messageId, r.dataset.author, r.querySelector(".text")?.textContent ?? ""]),
  );
}

/** Waits until exactly one of `pages` leads and all agree on it; resolves to its index. */
export async function leaderOf(pages, ids, bound) {
  let found;
  await within(bound, "one agreed leader", async () => {
    const views = await Promise.all(pages.map(state));
    const leaders = views.filter((v) => v.role === "leader");
    if (leaders.length !== 1) return false;
    found = views.indexOf(leaders[0]);
    return views.every((v) => v.leader === ids[found]);
  });
  return found;
}
