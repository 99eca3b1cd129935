// The baselines beside Conclave's sustained writes (tests/bench/writes.mjs), in four modes:
// - "bare": no leader, no channel; every tab writes IndexedDB itself, one readwrite
//   transaction with durability "strict" per message (the way RxDB and Dexie insert: one
//   document, one transaction), and tells no one: only the storage part of the work.
// - "observed": the same writes, and every tab shows every message, as RxDB's and Dexie's
//   observing tabs do: once a write commits, its tab draws it and tells the other tabs on a
//   BroadcastChannel, and each of them reads that record from IndexedDB and draws it (a
//   generous observer: it reads the one new record, where a live query would run again), as
//   Dexie's live queries do.
// - "announced": the same writes, and every tab shows every message as RxDB's tabs do (its
//   multi-instance storage sends each committed change, the document in it, on a
//   BroadcastChannel, and the other tabs apply it to their views without reading storage):
//   once a write commits, its tab draws it and sends the record on the channel, and each
//   of the others draws it from the message.
// - "display": no storage at all; each message goes out on the BroadcastChannel at once and
//   every tab draws it: the floor of "every tab shows every write" in this Chromium.
// And the floor of one write through a leader (`relayed`): a tab asks on the channel, the tab
// told to lead (`lead`) puts it in a strict transaction of its own, draws it and, once it is
// committed, sends it on the channel; every tab draws it as it hears it, and the asking tab
// counts it acknowledged then. No signing, no ledger, no framework: the channel's two hops,
// the commit and the drawing alone.
// Messages are drawn as the app draws them (the same markup, the latest 500 kept, with the same
// rules from posts.css). Also the platform's floor: what one commit costs in this Chromium,
// strict and relaxed.
//
// Exposes `window.__baseline` once its database is open.

/** Epoch ms with sub-millisecond precision, comparable across tabs of one machine. */
const now = () => performance.timeOrigin + performance.now();

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function open(name) {
  const req = indexedDB.open(name, 1);
  req.onupgradeneeded = () => req.result.createObjectStore("messages", { keyPath: "id" });
  return request(req);
}

/** Resolves when `tx` has committed (its `complete` event), rejects on abort or error. */
function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error("aborted"));
    tx.onerror = () => reject(tx.error);
  });
}

/** One message in one transaction of its own; resolves when it is committed. */
function insert(db, record, durability) {
  const tx = db.transaction("messages", "readwrite", { durability });
  tx.objectStore("messages").put(record);
  return done(tx);
}

const message = (id, text) => ({ id, text, author: TAB, at: Date.now() });
const TAB = crypto.randomUUID();

const db = await open("baseline");

/** The messages shown, as the app's session view lists them: the latest `SHOWN`. */
const SHOWN = 500;
const list = document.querySelector("ol.posts");
const shown = { count: 0, last: 0 };
function show(record) {
  const li = document.createElement("li");
  li.dataset.testid = "message";
  li.dataset.messageId = record.id;
  li.dataset.author = record.author;
  const author = document.createElement("code");
  author.className = "author";
  author.title = record.author;
  author.textContent = record.author.slice(0, 8);
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = record.text;
  li.append(author, text);
  list.append(li);
  if (list.childElementCount > SHOWN) list.firstElementChild.remove();
  shown.count += 1;
  shown.last = now();
}
const channel = new BroadcastChannel("baseline");
/** Relayed writes: whether this tab leads, when each record was drawn here, and who waits. */
let leading = false;
const drawnAt = new Map();
const waiting = new Map();
channel.onmessage = async ({ data }) => {
  if (data.ask) {
    if (!leading) return;
    await insert(db, data.ask, "strict");
    show(data.ask);
    drawnAt.set(data.ask.id, now());
    channel.postMessage({ answer: data.ask });
  } else if (data.answer) {
    show(data.answer);
    drawnAt.set(data.answer.id, now());
    waiting.get(data.answer.id)?.(now());
  } else if (data.record) show(data.record);
  else show(await request(db.transaction("messages", "readonly").objectStore("messages").get(data.id)));
};

window.__baseline = {
  tab: TAB,

  /**
   * Waits until the machine's clock reaches `startAt` (epoch ms), then issues `count` inserts
   * at once, each its own strict transaction (pipelined: none waits for another), and resolves
   * to { start, end, durabilities } when every one has committed.
   */
  async write(prefix, count, startAt, mode = "bare") {
    while (now() < startAt) await new Promise((r) => setTimeout(r, Math.min(4, startAt - now())));
    const start = now();
    const commits = [];
    for (let i = 0; i < count; i++) {
      const record = message(`${prefix}-${TAB}-${i}`, `${prefix} ${TAB.slice(0, 8)} #${i}`);
      if (mode === "display") {
        show(record);
        channel.postMessage({ record });
        continue;
      }
      const committed = insert(db, record, "strict");
      commits.push(
        mode === "bare"
          ? committed
          : committed.then(() => {
              show(record);
              channel.postMessage(mode === "announced" ? { record } : { id: record.id });
            }),
      );
    }
    await Promise.all(commits);
    return { start, end: now() };
  },

  /** From now on this tab commits what other tabs ask of it (`relayed`). */
  lead() {
    leading = true;
  },

  /** Asks the leading tab to store `text`; resolves to { t0, t1, id }: when it was asked, and
   * when the leader's answer (after its commit) was heard and the record drawn here. */
  relayed(text) {
    const record = message(`${TAB}-${crypto.randomUUID()}`, text);
    return new Promise((resolve) => {
      const t0 = now();
      waiting.set(record.id, (t1) => {
        waiting.delete(record.id);
        resolve({ t0, t1, id: record.id });
      });
      channel.postMessage({ ask: record });
    });
  },

  /** When this tab drew each of `ids` (epoch ms), or null. */
  drawnAt(ids) {
    return ids.map((id) => drawnAt.get(id) ?? null);
  },

  /** How many messages this tab has drawn, and when it drew the last (epoch ms). */
  shown() {
    return { ...shown };
  },

  /** How many records the shared database holds (every tab's). */
  count() {
    return request(db.transaction("messages", "readonly").objectStore("messages").count());
  },

  /**
   * The platform's floor, in a database of its own: `n` transactions one after another, each
   * one small put, with durability "strict", then `n` with "relaxed" (ms from the transaction's
   * creation to its `complete`); then `batch` puts in one strict transaction, `rounds` times.
   */
  async floor(n, batch, rounds) {
    const own = await open(`floor-${TAB}`);
    const times = { strict: [], relaxed: [], batch: [] };
    for (const durability of ["strict", "relaxed"]) {
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await insert(own, message(`${durability}-${i}`, `a small message #${i}`), durability);
        times[durability].push(performance.now() - t0);
      }
    }
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      const tx = own.transaction("messages", "readwrite", { durability: "strict" });
      const store = tx.objectStore("messages");
      for (let i = 0; i < batch; i++) store.put(message(`batch-${r}-${i}`, `a small message #${i}`));
      await done(tx);
      times.batch.push(performance.now() - t0);
    }
    own.close();
    await request(indexedDB.deleteDatabase(`floor-${TAB}`)).catch(() => {});
    return times;
  },
};
