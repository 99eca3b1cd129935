// Where the CPU goes between a crash and the grant of the crashed tab's lock, sampled by Linux
// `perf` over the whole machine. Among 10 tabs of the app, a victim tab holds a lock a blank
// page of its origin waits for, and its renderer is crashed (CDP `Page.crash`); `perf record
// -a` samples both cores 4,000 times a second, and each trial's window runs from the crash
// command to the grant. By kind of victim (the reference library's page, Conclave's driver
// alone on its bare page, a page of the app) it prints the median wait, the CPU time each
// process spent in the window (mean ms per crash) beside what it spent in as long a time just
// before the command, and the time of the crashed renderer (its last moments are the kernel
// tearing down its address space) and of the other renderers by function.
//
//   node tests/bench/crash-cpu.mjs [trials]
// as root (or with perf_event_paranoid ≤ 0), with `perf` installed (Debian: linux-perf; the
// tests do not need it), after release builds of the app in dist/ and of the bare page in
// target/bench-bare (see failover.mjs). Sampling costs the machine a little: the waits are
// only comparable with each other.
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch } from "../e2e/browser.mjs";
import { awaitLock, crash, holdLock } from "./locks.mjs";
import { routeBlank, serveBare, serveReference } from "./pages.mjs";
import { commandLines, rendererPids } from "./processes.mjs";
import { quantile } from "./stats.mjs";

const TRIALS = Number(process.argv[2] ?? 15);
const HZ = 4_000;
const SAMPLE_MS = 1_000 / HZ;

if (spawnSync("perf", ["--version"]).status !== 0) {
  throw new Error("crash-cpu.mjs needs Linux perf (Debian: apt-get install -y linux-perf)");
}

/** Now on CLOCK_MONOTONIC, in ms: the clock `perf record -k CLOCK_MONOTONIC` stamps samples with. */
const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

/** What each of the machine's processes is, by pid, as far as this benchmark is concerned. */
function roles() {
  const kinds = [
    ["the crash reporter", (c) => c.split("\0")[0].endsWith("chrome_crashpad_handler")],
    ["other renderers", (c) => c.includes("--type=renderer")],
    ["Chromium's GPU and utility processes", (c) => /--type=(gpu-process|utility|zygote)/.test(c)],
    ["the browser process", (c) => c.includes("chromium")],
    ["this harness (node)", (c) => c.split("\0")[0].endsWith("node")],
  ];
  const of = new Map();
  for (const [pid, cmdline] of commandLines()) {
    const kind = kinds.find(([, test]) => test(cmdline));
    if (kind) of.set(pid, kind[0]);
  }
  return of;
}

/** `perf script`'s samples: { pid, ms (monotonic), symbol }. */
function samplesOf(data) {
  const text = spawnSync("perf", ["script", "-i", data, "-F", "pid,time,ip,sym,dso"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
  }).stdout;
  const samples = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^\s*(\d+)\s+([\d.]+):\s+[0-9a-f]+\s+(.*)$/);
    if (m) samples.push({ pid: m[1], ms: Number(m[2]) * 1000, symbol: m[3].replace(/\+0x[0-9a-f]+/, "").trim() });
  }
  return samples.sort((a, b) => a.ms - b.ms);
}

const env = await launch();
const reference = await serveReference();
const bare = await serveBare();
const dir = await mkdtemp(join(tmpdir(), "conclave-crash-cpu-"));
const victims = { reference: reference.url, bare: bare.url, app: env.url };
const what = {
  reference: "the reference library's page",
  bare: "Conclave's driver alone on its bare page",
  app: "a page of the app",
};
try {
  const context = await env.browser.newContext();
  const waiters = {};
  for (const [kind, url] of Object.entries(victims)) {
    waiters[kind] = await context.newPage();
    await waiters[kind].goto(await routeBlank(context, url));
  }
  for (let i = 0; i < 10; i++) await (await context.newPage()).goto(env.url);
  const data = join(dir, "perf.data");
  const perf = spawn("perf", ["record", "-a", "-e", "cpu-clock", "-F", String(HZ), "-k", "CLOCK_MONOTONIC", "-o", data], {
    stdio: "ignore",
  });
  await new Promise((r) => setTimeout(r, 1_500));
  const windows = [];
  const role = new Map();
  for (let trial = 0; trial < TRIALS; trial++) {
    for (const [kind, url] of Object.entries(victims)) {
      const victim = await context.newPage();
      await victim.goto(url);
      await new Promise((r) => setTimeout(r, 3_000));
      const name = `bench-cpu-${kind}-${trial}`;
      await victim.evaluate(holdLock, name);
      await waiters[kind].evaluate(awaitLock, name);
      await new Promise((r) => setTimeout(r, 200));
      for (const [pid, r] of roles()) role.set(pid, r);
      const before = rendererPids();
      const start = monotonicMs();
      const command = await crash(context, victim);
      const granted = await waiters[kind].evaluate(() => window.__granted);
      await victim.close().catch(() => {});
      const after = new Set(rendererPids());
      const gone = before.filter((pid) => !after.has(pid));
      if (gone.length === 1) windows.push({ kind, start, wait: granted - command, victim: gone[0] });
    }
  }
  perf.kill("SIGINT");
  await new Promise((r) => perf.on("exit", r));
  const samples = samplesOf(data);
  for (const kind of Object.keys(victims)) {
    const mine = windows.filter((w) => w.kind === kind);
    const byRole = new Map();
    const beforeByRole = new Map();
    const bySymbol = { "the crashed renderer": new Map(), "other renderers": new Map() };
    let from = 0;
    for (const w of mine) {
      // The wait, and as long a time just before the command (what the machine was doing anyway).
      while (from < samples.length && samples[from].ms < w.start - w.wait) from++;
      for (let i = from; i < samples.length && samples[i].ms < w.start + w.wait; i++) {
        const { pid, symbol } = samples[i];
        const r = pid === "0" ? "idle" : pid === w.victim ? "the crashed renderer" : (role.get(pid) ?? "other");
        if (samples[i].ms < w.start) {
          beforeByRole.set(r, (beforeByRole.get(r) ?? 0) + 1);
          continue;
        }
        byRole.set(r, (byRole.get(r) ?? 0) + 1);
        const symbols = bySymbol[r];
        if (symbols) symbols.set(symbol, (symbols.get(symbol) ?? 0) + 1);
      }
    }
    const perCrash = (n) => ((n * SAMPLE_MS) / mine.length).toFixed(2);
    const median = quantile(mine.map((w) => w.wait), 0.5)?.toFixed(1);
    console.log(`when the crashed tab is ${what[kind]} (${mine.length} crashes, the lock granted p50 ${median} ms after the command), CPU ms per crash from the command to the grant, on 2 cores (in brackets, in as long a time just before the command):`);
    for (const [r, n] of [...byRole].sort((a, b) => b[1] - a[1])) console.log(`  ${perCrash(n)}  (${perCrash(beforeByRole.get(r) ?? 0)})  ${r}`);
    for (const [r, symbols] of Object.entries(bySymbol)) {
      console.log(`  of the time of ${r}, by function:`);
      for (const [s, n] of [...symbols].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`    ${perCrash(n)}  ${s}`);
    }
  }
  await context.close();
} finally {
  await rm(dir, { recursive: true, force: true });
  await bare.close();
  await reference.close();
  await env.close();
}
