// Where the time goes after a tab's renderer crashes, read from a trace of the whole browser
// (DevTools tracing, every process). Among 10 tabs of the app, a victim tab holds a lock a blank
// page of its origin waits for, and its renderer is crashed (CDP `Page.crash`); the trace splits
// the wait into:
//   noticed    the browser closes the first of the dead renderer's connections
//   released   the browser closes its connection for the held lock (the lock manager lets go)
//   delivered  the waiting tab's process hears of the grant
//   granted    the waiting tab's grant callback runs
// each in ms after the waiting tab marks the trace, just before the crash command goes out, by
// kind of victim: a blank page, the reference library's page, Conclave's driver alone on its
// bare page (when built), and a page of the app.
//
//   node tests/bench/crash-trace.mjs [trials]
// after release builds of the app in dist/ and of the bare page in target/bench-bare (see
// failover.mjs). Tracing costs the browser time of its own: these figures are later than an
// untraced run's, and only comparable with each other.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { launch } from "../e2e/browser.mjs";
import { holdLock } from "./locks.mjs";
import { blankOf, routeBlank, serveBare, serveReference } from "./pages.mjs";
import { quantile } from "./stats.mjs";

const TRIALS = Number(process.argv[2] ?? 15);
const CATEGORIES = ["toplevel", "blink.user_timing"];
const SEGMENTS = ["noticed", "released", "delivered", "granted"];

/** In the waiting page: queues for lock `name` and marks (on the trace) when it is granted. */
function awaitMarked(name) {
  window.__granted = navigator.locks.request(name, () => performance.mark("bench-granted"));
}

/**
 * The segments of one trial from its trace, in ms after the `bench-crash` mark, or null when
 * the trace lacks an event it needs.
 */
function segments(trace) {
  const events = trace.traceEvents ?? trace;
  const threads = new Map();
  const processes = new Map();
  for (const e of events) {
    if (e.ph !== "M") continue;
    if (e.name === "thread_name") threads.set(`${e.pid}:${e.tid}`, e.args.name);
    if (e.name === "process_name") processes.set(e.pid, e.args.name);
  }
  const mark = (name) => events.find((e) => e.cat === "blink.user_timing" && e.name === name);
  const crashed = mark("bench-crash");
  const granted = mark("bench-granted");
  if (!crashed || !granted) return null;
  const sorted = events.filter((e) => e.ts > crashed.ts).sort((a, b) => a.ts - b.ts);
  const inBrowser = (e) => processes.get(e.pid) === "Browser";
  const closed = sorted.filter((e) => e.name === "Closed mojo endpoint" && inBrowser(e));
  const lock = closed.find((e) => e.args?.chrome_mojo_event_info?.mojo_interface_tag === "blink.mojom.LockHandle");
  if (!closed.length || !lock) return null;
  const heard = sorted.find(
    (e) =>
      e.ts > lock.ts &&
      e.pid === granted.pid &&
      e.name === "EpollEvent" &&
      threads.get(`${e.pid}:${e.tid}`) === "Chrome_ChildIOThread",
  );
  if (!heard) return null;
  const ms = (e) => (e.ts - crashed.ts) / 1000;
  return { noticed: ms(closed[0]), released: ms(lock), delivered: ms(heard), granted: ms(granted) };
}

const env = await launch();
const reference = await serveReference();
const bareBuilt = existsSync(fileURLToPath(new URL("../../target/bench-bare/index.html", import.meta.url)));
const bare = bareBuilt ? await serveBare() : null;
const victims = {
  "a blank page": (origin) => blankOf(origin),
  "the reference's page": () => reference.url,
  ...(bare ? { "the driver alone (bare page)": () => bare.url } : {}),
  "a page of the app": () => env.url,
};
try {
  const context = await env.browser.newContext();
  const originOf = (url) => new URL(url).origin;
  const origins = new Set([env.url, reference.url, ...(bare ? [bare.url] : [])].map(originOf));
  const waiters = new Map();
  for (const origin of origins) {
    const waiter = await context.newPage();
    await waiter.goto(await routeBlank(context, origin));
    waiters.set(origin, waiter);
  }
  for (let i = 0; i < 10; i++) await (await context.newPage()).goto(env.url);
  const rows = Object.fromEntries(Object.keys(victims).map((kind) => [kind, []]));
  let missing = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    for (const [kind, urlOf] of Object.entries(victims)) {
      const origin = originOf(env.url);
      const url = urlOf(origin);
      const waiter = waiters.get(originOf(url));
      const name = `bench-trace-${trial}-${kind}`;
      const victim = await context.newPage();
      await victim.goto(url);
      await new Promise((r) => setTimeout(r, 3_000));
      await victim.evaluate(holdLock, name);
      await waiter.evaluate(awaitMarked, name);
      await env.browser.startTracing(undefined, { categories: CATEGORIES });
      await new Promise((r) => setTimeout(r, 200));
      // Attach first (attaching takes the victim's main thread a few ms, more for a larger
      // page), then mark the trace from the waiting tab, then crash.
      const cdp = await context.newCDPSession(victim);
      await waiter.evaluate(() => performance.mark("bench-crash"));
      cdp.send("Page.crash").catch(() => {});
      await waiter.evaluate(() => window.__granted);
      await new Promise((r) => setTimeout(r, 100));
      const trace = JSON.parse((await env.browser.stopTracing()).toString());
      await victim.close().catch(() => {});
      const row = segments(trace);
      if (row) rows[kind].push(row);
      else missing++;
    }
  }
  await context.close();
  console.log(`a crashed tab's lock, traced (${TRIALS} trials; ms after the mark set just before the crash command, p50 / p95):`);
  console.log(`| the crashed tab | ${SEGMENTS.join(" | ")} |`);
  console.log(`|---|${SEGMENTS.map(() => "---|").join("")}`);
  for (const [kind, list] of Object.entries(rows)) {
    const cells = SEGMENTS.map((s) => {
      const values = list.map((r) => r[s]);
      if (!values.length) return "no trial";
      return `${quantile(values, 0.5).toFixed(1)} / ${quantile(values, 0.95).toFixed(1)}`;
    });
    console.log(`| ${kind} (n=${list.length}) | ${cells.join(" | ")} |`);
  }
  if (missing) console.log(`${missing} trials left out: their trace lacked an event the split needs`);
} finally {
  await bare?.close();
  await reference.close();
  await env.close();
}
