// What a follower's write costs the whole browser, process by process and thread by thread, in
// this machine's headless Chromium on the served app (a release build in dist/; CONCLAVE_DIST=…
// another): 5 tabs, IndexedDB in memory (browser.mjs's launch()), one follower writing one
// message at a time through its composer, each once the last is saved (10 writes first, not
// counted), with a tab that neither leads nor writes brought to the front (the one the browser
// draws at its full frame rate). The writes are traced with Chromium's tracing, category
// `toplevel` alone (the lightest); every task's thread time is summed by process (each tab by
// its role) and thread, per write. Beside it, in the same run, the floor: 5 tabs of the bare
// page (idb-baseline/, its own origin) doing the same write through a tab that commits and
// answers on the channel (writes.mjs's floor), a tab that neither commits nor writes in front.
// With two cores, a write that costs the machine N ms of CPU cannot be acknowledged faster
// than N / 2 ms once writes follow each other. A benchmark, not a test: it prints figures and
// judges nothing.
//
//   node tests/bench/thread-cost.mjs [writes]   (default 80)
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch, openTabs } from "../e2e/browser.mjs";
import { serve } from "../e2e/server.mjs";
import { timedWrite, writingTabs } from "./compose.mjs";
import { quantile } from "./stats.mjs";

const WRITES = Number(process.argv[2] ?? 80);
const TABS = 5;
const WARM_UP = 10;
const BASELINE = fileURLToPath(new URL("./idb-baseline", import.meta.url));
/** How many of the costliest threads each line names. */
const TOP = 8;

/**
 * Traces `write` (one write, resolving to { t0, t1 }) `WRITES` times in `env`'s browser, after
 * `WARM_UP` untraced; returns the trace's events, the acknowledgement times and each tab's
 * process id (from the mark each tab makes).
 */
async function traced(env, pages, write) {
  for (let i = 0; i < WARM_UP; i++) await write(i);
  const dir = await mkdtemp(join(tmpdir(), "conclave-thread-cost-"));
  const path = join(dir, "trace.json");
  const acked = [];
  try {
    await env.browser.startTracing(undefined, { path, categories: ["toplevel", "blink.user_timing", "__metadata"] });
    for (const [i, page] of pages.entries()) await page.evaluate((name) => performance.mark(name), `conclave-tab-${i}`);
    for (let i = 0; i < WRITES; i++) {
      const { t0, t1 } = await write(WARM_UP + i);
      acked.push(t1 - t0);
    }
    await env.browser.stopTracing();
    return { events: JSON.parse(await readFile(path, "utf8")).traceEvents, acked };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The trace's thread time per write by "process / thread", costliest first, and its total. */
function byThread(events, roles) {
  const processes = new Map();
  const threads = new Map();
  const tabOf = new Map();
  for (const e of events) {
    if (e.name === "process_name") processes.set(e.pid, e.args.name);
    if (e.name === "thread_name") threads.set(`${e.pid}:${e.tid}`, e.args.name);
    const mark = /^conclave-tab-(\d+)$/.exec(e.name);
    if (mark && e.cat?.includes("user_timing")) tabOf.set(e.pid, Number(mark[1]));
  }
  const sums = new Map();
  for (const e of events) {
    if (e.ph !== "X" || (e.name !== "ThreadControllerImpl::RunTask" && e.name !== "ThreadPool_RunTask")) continue;
    const process = tabOf.has(e.pid) ? roles[tabOf.get(e.pid)] : (processes.get(e.pid) ?? `process ${e.pid}`);
    // Pool threads are numbered: one line for all of a kind.
    const thread = String(threads.get(`${e.pid}:${e.tid}`) ?? e.tid).replace(/\d+$/, "");
    const key = `${process} / ${thread}`;
    sums.set(key, (sums.get(key) ?? 0) + (e.tdur ?? e.dur));
  }
  const sorted = [...sums].sort((a, b) => b[1] - a[1]);
  return { sorted, total: sorted.reduce((sum, [, us]) => sum + us, 0) };
}

function report(label, { events, acked }, roles) {
  const { sorted, total } = byThread(events, roles);
  acked.sort((a, b) => a - b);
  const ms = (us) => (us / 1000 / WRITES).toFixed(2);
  const tabs = roles.map((role) => [role, sorted.filter(([key]) => key.startsWith(`${role} /`)).reduce((sum, [, us]) => sum + us, 0)]);
  console.log(
    `${label}: ${ms(total)} ms of CPU a write (acknowledged p50 ${quantile(acked, 0.5).toFixed(1)} ms, traced); ` +
      `each tab: ${tabs.map(([role, us]) => `${role} ${ms(us)}`).join(", ")}`,
  );
  console.log(`${label}: costliest threads, ms a write: ${sorted.slice(0, TOP).map(([key, us]) => `${key} ${ms(us)}`).join("; ")}`);
}

/** The app: 5 tabs, one session, a follower writing, a bystander in front. */
async function app() {
  const env = await launch();
  try {
    const { pages, lead, w } = await writingTabs(env.context, env.url, TABS, "thread cost");
    const front = [...pages.keys()].find((i) => i !== lead && i !== w);
    await pages[front].bringToFront();
    const roles = pages.map((_, i) => (i === lead ? "the leader" : i === w ? "the writer" : i === front ? `tab ${i} (in front)` : `tab ${i}`));
    const run = await traced(env, pages, (i) => pages[w].evaluate(timedWrite, { text: `thread cost #${i}`, bound: 30_000 }));
    report(`Conclave, ${TABS} tabs`, run, roles);
  } finally {
    await env.close();
  }
}

/** The floor: the bare page's relayed write (tab 0 commits, tab 1 writes, tab 2 in front). */
async function floor() {
  const env = await launch();
  const server = await serve(BASELINE);
  const context = await env.browser.newContext();
  try {
    const pages = await openTabs(context, server.url, TABS);
    await Promise.all(pages.map((page) => page.waitForFunction(() => window.__baseline !== undefined)));
    await pages[0].evaluate(() => window.__baseline.lead());
    await pages[2].bringToFront();
    const roles = pages.map((_, i) => (i === 0 ? "the committing tab" : i === 1 ? "the writer" : i === 2 ? "tab 2 (in front)" : `tab ${i}`));
    const run = await traced({ browser: env.browser }, pages, (i) => pages[1].evaluate((text) => window.__baseline.relayed(text), `relayed #${i}`));
    report(`floor, ${TABS} tabs of a bare page`, run, roles);
  } finally {
    await context.close();
    await server.close();
    await env.close();
  }
}

await app();
await floor();
