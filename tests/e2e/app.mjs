// What the end-to-end tests read of the served app: its panel, its sessions, its messages, and
// who leads. Shared by every test file that drives the workspace.
import { openPanel, within } from "./browser.mjs";

/** What a tab's panel says of the election and its requests (unfolding it: folded, its
 * request counters, requests in flight and store revision wait). */
export async function state(page) {
  await openPanel(page);
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

/** Who a tab's panel says leads, and its role: shown at once, folded panel or not. */
function election(page) {
  return page.evaluate(() => ({
    role: document.querySelector("[data-testid=role]")?.textContent ?? "",
    leader: document.querySelector("[data-testid=leader]")?.dataset.leaderId ?? "",
  }));
}

/** Waits until exactly one of `pages` leads and all agree on it; resolves to its index. */
export async function leaderOf(pages, ids, bound) {
  let found;
  await within(bound, "one agreed leader", async () => {
    const views = await Promise.all(pages.map(election));
    const leaders = views.filter((v) => v.role === "leader");
    if (leaders.length !== 1) return false;
    found = views.indexOf(leaders[0]);
    return views.every((v) => v.leader === ids[found]);
  });
  return found;
}

/**
 * Creates a session titled `title` from `page`'s sidebar; resolves to its id once the tab
 * lists it (typed and sent through the DOM: Playwright's click waits for the moving list).
 */
export async function createSession(page, title, bound = 10_000) {
  await page.$eval(
    "[data-testid=new-session-title]",
    (input, title) => {
      input.value = title;
      input.dispatchEvent(new Event("input", { bubbles: true }));
    },
    title,
  );
  await page.$eval("[data-testid=new-session]", (button) => button.click());
  return sessionIdOf(page, title, bound);
}

/** The id of the session titled `title` in `page`'s sidebar, once it is listed. */
export async function sessionIdOf(page, title, bound = 10_000) {
  let id;
  await within(bound, `session ${title} listed`, async () => {
    id = await page.$$eval(
      "[data-testid=session]",
      (rows, title) => rows.find((r) => r.querySelector(".title")?.textContent === title)?.dataset.sessionId,
      title,
    );
    return Boolean(id);
  });
  return id;
}

/** Opens session `id` in every page of `pages`, once each lists it. */
export async function openSession(pages, id, bound = 10_000) {
  const row = `[data-testid=session][data-session-id="${id}"] [data-testid=switch-session]`;
  for (const page of pages) {
    await within(bound, `session ${id} listed`, async () => (await page.$$(row)).length === 1);
    await page.$eval(row, (b) => b.click());
    await within(bound, `session ${id} open`, async () => (await page.$$("[data-testid=import-file]")).length === 1);
  }
}

/** The imports a tab lists for its open session, in its order. */
export function tasks(page) {
  return page.$$eval("[data-testid=task]", (rows) =>
    rows.map((r) => ({
      id: r.dataset.taskId,
      state: r.dataset.state,
      records: Number(r.dataset.records),
      chunksDone: Number(r.dataset.chunksDone),
      chunks: Number(r.dataset.chunks),
      name: r.querySelector(".name")?.textContent ?? "",
      progress: r.querySelector(".progress")?.textContent ?? "",
      // Shown only when it says something (a failed import's reason).
      error: (() => {
        const e = r.querySelector(".error");
        return e && !e.hidden ? e.textContent : null;
      })(),
      // The cancel button stays in the row (so that it is one element throughout), shown
      // while the import runs.
      cancel: (() => {
        const b = r.querySelector("[data-testid=cancel-task]");
        return b !== null && !b.hidden;
      })(),
    })),
  );
}

/**
 * What `page` reads from one object store of the app's database (`conclave:store`, opened at
 * its current version: call it only once the app opened it, and closed after): `getAll` or
 * `getAllKeys`, over the key range [`lower`, `upper`] when given.
 */
function readStore(page, store, method, lower, upper) {
  return page.evaluate(
    ([store, method, lower, upper]) =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open("conclave:store");
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          const range = lower === undefined ? undefined : IDBKeyRange.bound(lower, upper);
          const req = db.transaction(store, "readonly").objectStore(store)[method](range);
          req.onerror = () => reject(req.error);
          req.onsuccess = () => {
            db.close();
            resolve(req.result);
          };
        };
      }),
    [store, method, lower, upper],
  );
}

/**
 * Reads, from `page`, the messages of `session` as the store holds them (store `messages`,
 * keys `[session, order]`), in key order: { orders, ids, texts, sessions }.
 */
export async function storedMessages(page, session) {
  const rows = await readStore(page, "messages", "getAll", [session, -Infinity], [session, Infinity]);
  return {
    orders: rows.map((r) => r.order),
    ids: rows.map((r) => String(r.message?.id)),
    texts: rows.map((r) => r.message?.text),
    sessions: [...new Set(rows.map((r) => r.session))],
  };
}

/**
 * What the store's `staging` object store holds, read from `page`: each stage with its number
 * of chunks, as { [stage]: count }.
 */
export async function stagedChunks(page) {
  const stages = {};
  for (const [stage] of await readStore(page, "staging", "getAllKeys")) stages[stage] = (stages[stage] ?? 0) + 1;
  return stages;
}

/** The keys of the store's `meta` object store, read from `page`. */
export async function metaKeys(page) {
  return (await readStore(page, "meta", "getAllKeys")).map(String);
}

/** The id of the pending question about the session titled `title` in `page`, once it shows. */
export async function questionAbout(page, title, bound = 5_000) {
  let id;
  await within(bound, `a question about ${title}`, async () => {
    id = await page.$$eval(
      "[data-testid=question]",
      (qs, title) => qs.find((q) => q.querySelector("strong")?.textContent === title)?.dataset.questionId,
      title,
    );
    return Boolean(id);
  });
  return id;
}

/**
 * Clicks `selectors[i]` in `pages[i]`, every page at the wall-clock instant `at`; resolves to
 * whether each page still had it to click (a tab whose timer fires late may already have heard
 * another tab's answer, and with it the question go).
 */
export function clickTogether(pages, selectors, at = Date.now() + 60) {
  return Promise.all(
    pages.map((page, i) =>
      page.evaluate(
        ([selector, at]) =>
          new Promise((done) =>
            setTimeout(() => {
              const button = document.querySelector(selector);
              button?.click();
              done(Boolean(button));
            }, Math.max(0, at - Date.now())),
          ),
        [selectors[i], at],
      ),
    ),
  );
}
