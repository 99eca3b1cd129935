// Where a follower's write spends its time, step by step, in this machine's headless Chromium
// on the served app (a release build in dist/): 5 tabs, IndexedDB in memory (browser.mjs's
// launch()), one follower writing one message at a time through its composer (its text and an
// Enter), each once the last is saved. An init script in every page notes, on the machine's
// wall clock (performance.timeOrigin + performance.now(), to 0.1 ms), every BroadcastChannel
// post (by the kind of message it carries), every message a second listener on the app's
// channel and on the leader's (`conclave:to-leader`, where requests go) hears, every readwrite IndexedDB transaction made and completed, and
// every `localStorage.setItem`. Per write, the steps: submit → the request posted; posted →
// heard by the leader; heard → its transaction made; the transaction (the fence read, the
// writes, the commit); complete → the commit's news posted; posted → heard by the writer;
// heard → "Saved." shown. Medians over the writes (the first 5 left out). A benchmark, not a
// test: it prints figures and judges nothing. The platform's floors for two of the steps
// (one channel hop; one small IndexedDB commit) are in tests/bench/platform.mjs and
// tests/bench/writes.mjs.
//
//   node tests/bench/write-trace.mjs [writes]   (default 60)
import { launch } from "../e2e/browser.mjs";
import { timedWrite, writingTabs } from "./compose.mjs";
import { quantile } from "./stats.mjs";

const WRITES = Number(process.argv[2] ?? 60);
const TABS = 5;
const WARM_UP = 5;

/** An init script: notes what every page posts, hears, commits and backs up in `window.__log`. */
function watch() {
  const now = () => performance.timeOrigin + performance.now();
  const log = (window.__log = []);
  // A signed message is its JSON, then `#` and the tag; the body's kind is its one key.
  const kind = (text) => {
    try {
      const s = String(text);
      const msg = JSON.parse(s.slice(0, s.lastIndexOf("#"))).msg;
      return typeof msg === "string" ? msg : Object.keys(msg)[0];
    } catch {
      return "?";
    }
  };
  const post = BroadcastChannel.prototype.postMessage;
  BroadcastChannel.prototype.postMessage = function (data) {
    log.push([now(), "post", kind(data)]);
    return post.call(this, data);
  };
  for (const name of ["conclave", "conclave:to-leader"]) {
    new BroadcastChannel(name).onmessage = (e) => log.push([now(), "heard", kind(e.data)]);
  }
  const transaction = IDBDatabase.prototype.transaction;
  IDBDatabase.prototype.transaction = function (...args) {
    const tx = transaction.apply(this, args);
    if (args[1] === "readwrite") {
      log.push([now(), "tx", ""]);
      tx.addEventListener("complete", () => log.push([now(), "complete", ""]));
    }
    return tx;
  };
  const setItem = Storage.prototype.setItem;
  Storage.prototype.setItem = function (key, value) {
    log.push([now(), "setItem", ""]);
    return setItem.call(this, key, value);
  };
}

const STEPS = [
  ["submit → request posted", "submit", "posted"],
  ["posted → heard by the leader", "posted", "heard"],
  ["heard → transaction made", "heard", "tx"],
  ["transaction (fence, writes, commit)", "tx", "complete"],
  ["complete → news posted", "complete", "news"],
  ["news posted → heard by the writer", "news", "back"],
  ["heard → \"Saved.\" shown", "back", "saved"],
  ["whole write", "submit", "saved"],
];

const env = await launch();
try {
  await env.context.addInitScript(watch);
  const { pages, lead, w } = await writingTabs(env.context, env.url, TABS, "trace");
  const writer = pages[w];
  const leader = pages[lead];
  const times = [];
  for (let i = 0; i < WARM_UP + WRITES; i++) {
    await Promise.all([writer, leader].map((p) => p.evaluate(() => (window.__log.length = 0))));
    const { t0, t1 } = await writer.evaluate(timedWrite, { text: `trace #${i}`, bound: 30_000 });
    // The leader's last notes (its own drawing) may land just after the writer's "Saved.".
    await new Promise((r) => setTimeout(r, 30));
    const [mine, its] = await Promise.all([writer, leader].map((p) => p.evaluate(() => window.__log.slice())));
    const at = (log, what, kind, after) => log.find(([t, w, k]) => w === what && (kind === "" || k === kind) && t >= after)?.[0];
    const t = { submit: t0, saved: t1 };
    t.posted = at(mine, "post", "requests", t0);
    t.heard = at(its, "heard", "requests", t.posted);
    t.tx = at(its, "tx", "", t.heard);
    t.complete = at(its, "complete", "", t.tx);
    t.news = at(its, "post", "committed", t.complete);
    t.back = at(mine, "heard", "committed", t.news);
    if (i >= WARM_UP) times.push(t);
  }
  console.log(`write trace: ${TABS} tabs, IndexedDB in memory, one follower writing ${WRITES} messages one at a time; medians (p95), ms:`);
  for (const [label, from, to] of STEPS) {
    const spans = times.map((t) => t[to] - t[from]).filter(Number.isFinite).sort((a, b) => a - b);
    const missing = times.length - spans.length;
    console.log(
      `write trace: ${label.padEnd(36)} ${quantile(spans, 0.5).toFixed(1).padStart(5)} (${quantile(spans, 0.95).toFixed(1)})` +
        (missing ? `  [${missing} writes without this step]` : ""),
    );
  }
} finally {
  await env.close();
}
