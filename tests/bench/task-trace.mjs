// What each tab's main thread does for a follower's write, task by task, in this machine's
// headless Chromium on the served app (a release build in dist/; CONCLAVE_DIST=… another): 5
// tabs, IndexedDB in memory (browser.mjs's launch()), one follower writing one message at a
// time through its composer, each once the last is saved (10 writes first, not traced). The
// writes are traced with Chromium's own tracing (categories toplevel, devtools.timeline); per
// tab, its main thread's tasks are summed by what each began with (a call into the app's code,
// an event, a timer, a style recalc, a garbage collection...), per write. The tracing slows
// the tabs (a style recalc most: it records invalidations), so its figures compare builds run
// the same way; they are not what a write costs untraced (writes.mjs prints that).
// A benchmark, not a test: it prints figures and judges nothing.
//
//   node tests/bench/task-trace.mjs [writes]   (default 60)
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch } from "../e2e/browser.mjs";
import { timedWrite, writingTabs } from "./compose.mjs";
import { quantile } from "./stats.mjs";

const WRITES = Number(process.argv[2] ?? 60);
const TABS = 5;
const WARM_UP = 10;
/** What a task is known by: the first of these it runs. */
const KINDS = new Set(["FunctionCall", "EventDispatch", "TimerFire", "FireAnimationFrame", "UpdateLayoutTree", "Layout", "PrePaint", "Paint", "MinorGC", "MajorGC", "ParseHTML"]);

const dir = await mkdtemp(join(tmpdir(), "conclave-trace-"));
const path = join(dir, "trace.json");
const env = await launch();
let roles;
const acked = [];
try {
  const { pages, w, role } = await writingTabs(env.context, env.url, TABS, "trace");
  roles = pages.map((_, i) => role(i));
  const writer = pages[w];
  for (let i = 0; i < WARM_UP; i++) await writer.evaluate(timedWrite, { text: `warm-up #${i}`, bound: 30_000 });
  await env.browser.startTracing(undefined, { path, categories: ["toplevel", "devtools.timeline", "blink.user_timing"] });
  // Each tab marks itself, so that its process is known in the trace.
  for (const [i, page] of pages.entries()) await page.evaluate((name) => performance.mark(name), `conclave-tab-${i}`);
  for (let i = 0; i < WRITES; i++) {
    const { t0, t1 } = await writer.evaluate(timedWrite, { text: `trace #${i}`, bound: 30_000 });
    acked.push(t1 - t0);
  }
  await env.browser.stopTracing();
} finally {
  await env.close();
}
const { traceEvents } = JSON.parse(await readFile(path, "utf8"));
await rm(dir, { recursive: true, force: true });

const tabOf = new Map();
const mainThread = new Map();
for (const e of traceEvents) {
  const mark = /^conclave-tab-(\d+)$/.exec(e.name);
  if (mark && e.cat?.includes("user_timing")) tabOf.set(e.pid, Number(mark[1]));
  if (e.name === "thread_name" && e.args?.name === "CrRendererMain") mainThread.set(e.pid, e.tid);
}
const spans = new Map();
for (const e of traceEvents) {
  if (e.ph !== "X" || !tabOf.has(e.pid) || mainThread.get(e.pid) !== e.tid) continue;
  if (!spans.has(e.pid)) spans.set(e.pid, []);
  spans.get(e.pid).push(e);
}
acked.sort((a, b) => a - b);
console.log(`task trace: ${TABS} tabs, IndexedDB in memory, one follower writing ${WRITES} messages one at a time, traced; acknowledged p50 ${quantile(acked, 0.5).toFixed(1)} ms (traced)`);
for (const [pid, events] of [...spans].sort((a, b) => tabOf.get(a[0]) - tabOf.get(b[0]))) {
  events.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
  const kinds = new Map();
  let total = 0;
  // A task's span holds the spans of what it ran; they follow it in this order.
  for (let i = 0; i < events.length; i++) {
    const task = events[i];
    if (task.name !== "ThreadControllerImpl::RunTask") continue;
    let kind = "other";
    for (let j = i + 1; j < events.length && events[j].ts < task.ts + task.dur; j++) {
      const e = events[j];
      if (!KINDS.has(e.name)) continue;
      kind = e.name === "EventDispatch" ? `event ${e.args?.data?.type}` : e.name === "FunctionCall" ? "a call into script" : e.name;
      break;
    }
    const sum = kinds.get(kind) ?? { count: 0, us: 0 };
    sum.count++;
    sum.us += task.dur;
    kinds.set(kind, sum);
    total += task.dur;
  }
  const top = [...kinds].sort((a, b) => b[1].us - a[1].us).slice(0, 6);
  console.log(
    `task trace: ${roles[tabOf.get(pid)]}: tasks ${(total / 1000 / WRITES).toFixed(2)} ms a write; ` +
      top.map(([kind, { count, us }]) => `${kind} ${(count / WRITES).toFixed(1)} × ${(us / 1000 / WRITES).toFixed(2)} ms`).join(", "),
  );
}
