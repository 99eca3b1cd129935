// What each tab spends in its own callbacks for a follower's write, in this machine's headless
// Chromium on the served app (a release build in dist/; CONCLAVE_DIST=… another): 5 tabs,
// IndexedDB in memory (browser.mjs's launch()), one follower writing one message at a time
// through its composer, each once the last is saved (10 writes first, not counted). An init
// script in every page wraps what calls into the page's code and times each call (wall clock,
// so a call the machine's other processes delay counts the delay too): event listeners and
// `on…` handlers by target and event (a channel's `message`, a `storage` event, the message
// pane's `scroll`, IndexedDB's `success`...), timers, microtasks (where the app's reactive
// effects run: reading the workspace, drawing rows and text), mutation observers (the
// benchmark's own). Per tab, per write: how many calls of each kind and their time. A
// benchmark, not a test: it prints figures and judges nothing. Its floor is the bare page's
// whole write (writes.mjs, thread-cost.mjs).
//
//   node tests/bench/callbacks.mjs [writes]   (default 150)
import { launch } from "../e2e/browser.mjs";
import { timedWrite, writingTabs } from "./compose.mjs";
import { quantile } from "./stats.mjs";

const WRITES = Number(process.argv[2] ?? 150);
const TABS = 5;
const WARM_UP = 10;

/** An init script: times every call into the page's code, by kind, in `window.__calls`. */
function timeCallbacks() {
  const now = () => performance.now();
  const calls = (window.__calls = {});
  const timed = (kind, f) =>
    function (...args) {
      const t0 = now();
      try {
        return f.apply(this, args);
      } finally {
        const sum = (calls[kind] ??= { n: 0, ms: 0 });
        sum.n++;
        sum.ms += now() - t0;
      }
    };
  const microtask = window.queueMicrotask.bind(window);
  window.queueMicrotask = (callback) => microtask(timed("microtask", callback));
  const timeout = window.setTimeout.bind(window);
  window.setTimeout = (callback, ms, ...args) =>
    timeout(typeof callback === "function" ? timed("timer", callback) : callback, ms, ...args);
  const add = EventTarget.prototype.addEventListener;
  const remove = EventTarget.prototype.removeEventListener;
  const wrapped = new WeakMap();
  EventTarget.prototype.addEventListener = function (type, listener, options) {
    if (typeof listener !== "function") return add.call(this, type, listener, options);
    const wrapper = wrapped.get(listener) ?? timed(`${this.constructor.name} ${type}`, listener);
    wrapped.set(listener, wrapper);
    return add.call(this, type, wrapper, options);
  };
  EventTarget.prototype.removeEventListener = function (type, listener, options) {
    return remove.call(this, type, wrapped.get(listener) ?? listener, options);
  };
  const handlers = [
    [BroadcastChannel.prototype, ["onmessage"]],
    [IDBRequest.prototype, ["onsuccess", "onerror"]],
    [IDBTransaction.prototype, ["oncomplete", "onabort", "onerror"]],
  ];
  for (const [proto, names] of handlers) {
    for (const name of names) {
      const property = Object.getOwnPropertyDescriptor(proto, name);
      Object.defineProperty(proto, name, {
        configurable: true,
        get() {
          return property.get.call(this);
        },
        set(f) {
          property.set.call(this, typeof f === "function" ? timed(`${proto.constructor.name} ${name.slice(2)}`, f) : f);
        },
      });
    }
  }
  const Observer = window.MutationObserver;
  window.MutationObserver = class extends Observer {
    constructor(callback) {
      super(timed("mutation observer (the benchmark's)", callback));
    }
  };
}

const env = await launch();
try {
  await env.context.addInitScript(timeCallbacks);
  const { pages, w, role } = await writingTabs(env.context, env.url, TABS, "callbacks");
  for (let i = 0; i < WARM_UP; i++) await pages[w].evaluate(timedWrite, { text: `warm-up #${i}`, bound: 30_000 });
  const copy = () => Promise.all(pages.map((page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__calls)))));
  const before = await copy();
  const acked = [];
  for (let i = 0; i < WRITES; i++) {
    const { t0, t1 } = await pages[w].evaluate(timedWrite, { text: `callbacks #${i}`, bound: 30_000 });
    acked.push(t1 - t0);
  }
  // The last write's echoes (other tabs drawing it) end within this.
  await new Promise((r) => setTimeout(r, 1_000));
  const after = await copy();
  acked.sort((a, b) => a - b);
  console.log(`callbacks: ${TABS} tabs, IndexedDB in memory, one follower writing ${WRITES} messages one at a time; acknowledged p50 ${quantile(acked, 0.5).toFixed(1)} ms`);
  for (const [i, calls] of after.entries()) {
    const kinds = Object.entries(calls)
      .map(([kind, { n, ms }]) => [kind, (n - (before[i][kind]?.n ?? 0)) / WRITES, ((ms - (before[i][kind]?.ms ?? 0)) * 1_000) / WRITES])
      .filter(([, n]) => n >= 0.05)
      .sort((a, b) => b[2] - a[2]);
    const total = kinds.filter(([kind]) => !kind.startsWith("mutation observer")).reduce((sum, [, , us]) => sum + us, 0);
    console.log(`callbacks: ${role(i)}: ${total.toFixed(0)} µs a write (the benchmark's observer left out); ${kinds.map(([kind, n, us]) => `${kind} ${n.toFixed(1)} × ${us.toFixed(0)} µs`).join(", ")}`);
  }
} finally {
  await env.close();
}
