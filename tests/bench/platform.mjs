// The platform's floor, measured in this machine's headless Chromium on the served app's origin:
// how fast Web Locks hands an exclusive lock to a waiting tab when the holder's tab closes or its
// renderer crashes; how soon, after a closing tab's pagehide, the other tabs hear a message it
// posted there and the first of them is granted a lock it released there (with 2, 5 and 10 tabs
// of the running app); how soon the browser lets go of a crashed tab's lock, among 10 tabs of
// the app, for a blank page, for a blank page that has written to 40 MiB of memory, for the
// failover benchmark's other pages (the reference's, Conclave's driver alone on a bare page) and
// for a page of the app (the heavier the page, the later the browser lets go of its locks:
// crash-trace.mjs splits where the time goes), and for two halves of
// a page of the app: its DOM as drawn, without its scripts (a static copy), and the running app
// with its body not painted (`visibility: hidden`), with each crashed renderer's memory just
// before its crash (read from /proc) and, for each, the CPU time the crash reporter spent on
// the crash and the size of the minidump it wrote; and how many 1 KiB messages a raw
// BroadcastChannel carries per second.
// Every later failover and throughput figure is read against these.
//
//   node tests/bench/platform.mjs [trials]
// PLATFORM_ONLY=weight runs only the crashed-page step; PLATFORM_DEATH=1 has it also time when
// each crashed renderer's process died (polling /proc from here, which takes a core of its own
// while it waits: the grants it times are not comparable with a run without it).
// after release builds of the app in dist/ and of the bare page in target/bench-bare (see
// failover.mjs).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { launch } from "../e2e/browser.mjs";
import { awaitLock, crash, holdLock } from "./locks.mjs";
import { blankOf, routeBlank, serveBare, serveReference } from "./pages.mjs";
import { pidsWhere, rendererPids } from "./processes.mjs";
import { quantile, stats } from "./stats.mjs";

const TRIALS = Number(process.argv[2] ?? 30);
const MESSAGES = 5_000;
const WEIGHT_ONLY = process.env.PLATFORM_ONLY === "weight";
/** PLATFORM_DEATH=1: the crashed-page step also times when the crashed renderer's process died. */
const DEATH = process.env.PLATFORM_DEATH === "1";
/** The memory a "heavy" blank page writes to before it is crashed. */
const HEAVY_MB = 40;

/** Epoch ms with sub-millisecond precision, on the page's clock. */
const epoch = () => performance.timeOrigin + performance.now();

async function lockHandover(env, trial, end) {
  const name = `bench-lock-${trial}`;
  const [holder, waiter] = await Promise.all([env.context.newPage(), env.context.newPage()]);
  await Promise.all([holder.goto(env.url), waiter.goto(env.url)]);
  await holder.evaluate((name) => {
    // A synchronous write in pagehide is the last thing a closing tab can say.
    addEventListener("pagehide", () =>
      localStorage.setItem(`${name}:pagehide`, String(performance.timeOrigin + performance.now())),
    );
  }, name);
  await holder.evaluate(holdLock, name);
  await waiter.evaluate(awaitLock, name);
  // The waiter's clock and the holder's share the machine's wall clock.
  let started;
  if (end === "close") {
    started = await holder.evaluate(epoch);
    await holder.close();
  } else {
    started = await crash(env.context, holder);
  }
  const granted = await waiter.evaluate(() => window.__granted);
  const pagehide = Number(await waiter.evaluate((name) => localStorage.getItem(`${name}:pagehide`), name));
  const alive = await waiter.evaluate(() => true).catch(() => false);
  await waiter.close();
  if (end === "crash") await holder.close().catch(() => {});
  if (!alive) throw new Error("the waiter died with the holder: they shared a renderer");
  return { command: granted - started, pagehide: pagehide ? granted - pagehide : null };
}

/**
 * With `n` tabs of the app open: the holder's pagehide posts a message (carrying the time) and
 * releases a lock the n - 1 others queue for. Returns the ms from that pagehide until the first
 * tab heard the message, and until the lock was granted.
 */
async function pagehideHandover(context, url, pages, trial) {
  const name = `bench-handover-${trial}`;
  const holder = pages.shift();
  await holder.evaluate(
    (name) =>
      new Promise((held) =>
        navigator.locks.request(name, () => {
          const channel = new BroadcastChannel(name);
          return new Promise((release) => {
            addEventListener("pagehide", () => {
              channel.postMessage(performance.timeOrigin + performance.now());
              release();
            });
            held();
          });
        }),
      ),
    name,
  );
  for (const page of pages) {
    await page.evaluate((name) => {
      const channel = new BroadcastChannel(name);
      window.__heard = new Promise((heard) => {
        channel.onmessage = (e) => heard({ at: e.data, heard: performance.timeOrigin + performance.now() });
      });
      window.__granted = navigator.locks.request(name, () => performance.timeOrigin + performance.now());
    }, name);
  }
  await holder.close();
  const heard = await Promise.all(pages.map((p) => p.evaluate(() => window.__heard)));
  const granted = await Promise.race(pages.map((p) => p.evaluate(() => window.__granted)));
  const pagehide = heard[0].at;
  const replacement = await context.newPage();
  await replacement.goto(url);
  pages.push(replacement);
  return { message: Math.min(...heard.map((h) => h.heard)) - pagehide, lock: granted - pagehide };
}

/**
 * The memory of every renderer, by process id: resident and proportional set sizes in MiB, and
 * the proportional part that is anonymous memory (the heaps) and shared memory (in a page that
 * paints, the tiles it rasters into for the compositor).
 */
function rendererMemory() {
  const memory = new Map();
  for (const pid of rendererPids()) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      const mib = (key) => Number(rollup.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0) / 1024;
      memory.set(pid, { rss: mib("Rss"), pss: mib("Pss"), anon: mib("Pss_Anon"), shmem: mib("Pss_Shmem") });
    } catch {
      // The process ended while it was read.
    }
  }
  return memory;
}

/** The fields of `/proc/<pid>/stat` after the command name (state first), or null once it is gone. */
function procStat(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  } catch {
    return null;
  }
}

/** CPU time (user + system, clock ticks) process `pid` has used; 0 once it is gone. */
function cpuTicks(pid) {
  const fields = procStat(pid);
  return fields ? Number(fields[11]) + Number(fields[12]) : 0;
}

/**
 * The renderer process of `page`: the one whose CPU time grows most while the page spins its
 * main thread for 300 ms (a tab's process is not otherwise named to the DevTools protocol).
 */
async function rendererOf(page) {
  const pids = rendererPids();
  const before = new Map(pids.map((pid) => [pid, cpuTicks(pid)]));
  await page.evaluate(() => {
    const end = performance.now() + 300;
    while (performance.now() < end);
  });
  const grew = (pid) => cpuTicks(pid) - before.get(pid);
  return pids.reduce((a, b) => (grew(b) > grew(a) ? b : a));
}

/**
 * Resolves to when (wall clock) process `pid` has died: its state is zombie (it has let go of
 * its memory and its connections) or it is gone. Polls /proc between turns of the event loop,
 * for at most `ms`; null if it still lives.
 */
async function deathOf(pid, ms) {
  const start = performance.now();
  while (performance.now() - start < ms) {
    await new Promise((r) => setImmediate(r));
    const state = procStat(pid)?.[0] ?? "gone";
    if (state === "Z" || state === "gone") return performance.timeOrigin + performance.now();
  }
  return null;
}

/**
 * This launch's crash reporter (Debian's Chromium starts `chrome_crashpad_handler` whatever the
 * flags; none under CHROMIUM_NO_CRASHPAD=1): `cpuMs()` is the CPU time its processes have used
 * so far (from /proc/<pid>/task/<tid>/schedstat, in ns), `dumps()` the size in bytes of each
 * minidump in its database, by file name.
 */
function crashReporter(configDir) {
  const database = join(configDir, "chromium", "Crash Reports");
  const pids = pidsWhere((cmdline) => {
    const args = cmdline.split("\0");
    return args[0].endsWith("chrome_crashpad_handler") && args.includes(`--database=${database}`);
  });
  const onCpuNs = (pid, tid) => {
    try {
      return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      return 0; // The thread ended while it was read.
    }
  };
  return {
    running: pids.length > 0,
    cpuMs: () => pids.reduce((sum, pid) => sum + readdirSync(`/proc/${pid}/task`).reduce((ns, tid) => ns + onCpuNs(pid, tid), 0), 0) / 1e6,
    dumps() {
      const sizes = new Map();
      for (const dir of ["pending", "completed"].map((d) => join(database, d))) {
        if (!existsSync(dir)) continue;
        for (const file of readdirSync(dir).filter((f) => f.endsWith(".dmp"))) sizes.set(file, statSync(join(dir, file)).size);
      }
      return sizes;
    },
  };
}

/** In a page: keeps `mb` MiB of memory the page has written to (every 4 KiB page of it). */
function touch(mb) {
  window.__ballast = new Uint8Array(mb * 1_048_576);
  for (let i = 0; i < window.__ballast.length; i += 4_096) window.__ballast[i] = 1;
}

const staticOf = (origin) => `${origin}bench-static`;

/** The pages crashRelease crashes, by kind: what each is, and where it is opened. */
const VICTIMS = {
  blank: { what: "a blank page of the origin", url: (env) => blankOf(env.url) },
  heavy: { what: `a blank page that has written to ${HEAVY_MB} MiB of memory`, url: (env) => blankOf(env.url) },
  reference: { what: "the reference library's page", url: (env) => env.referenceUrl },
  bare: { what: "Conclave's driver alone on its bare page", url: (env) => env.bareUrl },
  app: { what: "a page of the app", url: (env) => env.url },
  static: { what: "a static copy of a page of the app as drawn (its DOM and styles, no scripts)", url: (env) => staticOf(env.url) },
  unpainted: {
    what: "a page of the app whose body is not painted (visibility: hidden)",
    url: (env) => env.url,
    prepare: (page) => page.evaluate(() => (document.body.style.visibility = "hidden")),
  },
};

/**
 * With 10 tabs of the app open: a victim tab holds a lock a blank page of its origin waits for,
 * and its renderer is crashed. The victim is, in turn, each of VICTIMS (the reference's page and
 * the bare page each a group of one, the app's page a follower of the 10), opened fresh and run
 * for 3 s. Returns the ms from the crash command until the lock was granted, by kind of victim:
 * what the browser takes to let go of a crashed page's locks depends on the page.
 */
async function crashRelease(env, trials) {
  const context = await env.browser.newContext();
  const originOf = (url) => `${new URL(url).origin}/`;
  const urls = Object.fromEntries(Object.entries(VICTIMS).map(([kind, v]) => [kind, v.url(env)]));
  for (const origin of new Set(Object.values(urls).map(originOf))) await routeBlank(context, origin);
  const waiters = {};
  for (const [kind, url] of Object.entries(urls)) {
    waiters[kind] = await context.newPage();
    await waiters[kind].goto(blankOf(url));
  }
  for (let i = 0; i < 10; i++) await (await context.newPage()).goto(env.url);
  // The static copy: the last of the 10 as drawn once it has settled, without its scripts.
  await new Promise((r) => setTimeout(r, 3_000));
  const drawn = (await context.pages().at(-1).content())
    .replace(/<script\b[^>]*>[\s\S]*?<\/script>/g, "")
    .replace(/<link\b[^>]*(modulepreload|preload)[^>]*>/g, "");
  await context.route(staticOf(originOf(env.url)), (route) => route.fulfill({ contentType: "text/html", body: drawn }));
  const samples = Object.fromEntries(Object.keys(urls).map((kind) => [kind, []]));
  const memory = Object.fromEntries(Object.keys(urls).map((kind) => [kind, []]));
  const deaths = Object.fromEntries(Object.keys(urls).map((kind) => [kind, []]));
  const dumping = Object.fromEntries(Object.keys(urls).map((kind) => [kind, []]));
  const reporter = crashReporter(env.configDir);
  for (let trial = 0; trial < trials; trial++) {
    for (const [kind, url] of Object.entries(urls)) {
      const name = `bench-crash-${kind}-${trial}`;
      const victim = await context.newPage();
      await victim.goto(url);
      if (kind === "heavy") await victim.evaluate(touch, HEAVY_MB);
      await VICTIMS[kind].prepare?.(victim);
      await new Promise((r) => setTimeout(r, 3_000));
      const pid = DEATH ? await rendererOf(victim) : null;
      await victim.evaluate(holdLock, name);
      await waiters[kind].evaluate(awaitLock, name);
      // Every renderer's memory just before the crash: the one gone after it was the victim's.
      const before = rendererMemory();
      await new Promise((r) => setTimeout(r, 200));
      const [cpuBefore, dumpsBefore] = [reporter.cpuMs(), reporter.dumps()];
      const started = await crash(context, victim);
      const died = pid !== null ? await deathOf(pid, 2_000) : null;
      const granted = await waiters[kind].evaluate(() => window.__granted);
      if (reporter.running) {
        // The reporter has written its dump before the renderer died; let it finish its books.
        await new Promise((r) => setTimeout(r, 300));
        const added = [...reporter.dumps()].filter(([file]) => !dumpsBefore.has(file));
        if (added.length === 1) dumping[kind].push({ cpu: reporter.cpuMs() - cpuBefore, bytes: added[0][1] });
      }
      samples[kind].push(granted - started);
      if (died !== null) deaths[kind].push({ died: died - started, after: granted - died });
      await victim.close().catch(() => {});
      const after = rendererMemory();
      const gone = [...before.keys()].filter((pid) => !after.has(pid));
      if (gone.length === 1) memory[kind].push(before.get(gone[0]));
    }
  }
  await context.close();
  return { samples, memory, deaths, dumping };
}

async function broadcastThroughput(env) {
  const [sender, receiver] = await Promise.all([env.context.newPage(), env.context.newPage()]);
  await Promise.all([sender.goto(env.url), receiver.goto(env.url)]);
  await receiver.evaluate((count) => {
    window.__done = new Promise((done) => {
      const channel = new BroadcastChannel("bench-raw");
      let seen = 0;
      channel.onmessage = () => {
        if (++seen === count) done(performance.timeOrigin + performance.now());
      };
    });
  }, MESSAGES);
  const started = await sender.evaluate((count) => {
    const channel = new BroadcastChannel("bench-raw");
    const body = "x".repeat(1024);
    const start = performance.timeOrigin + performance.now();
    for (let i = 0; i < count; i++) channel.postMessage(body);
    return start;
  }, MESSAGES);
  const finished = await receiver.evaluate(() => window.__done);
  await Promise.all([sender.close(), receiver.close()]);
  return (MESSAGES / (finished - started)) * 1000;
}

const env = await launch();
const reference = await serveReference();
env.referenceUrl = reference.url;
const bare = await serveBare();
env.bareUrl = bare.url;
try {
  for (const end of WEIGHT_ONLY ? [] : ["close", "crash"]) {
    const samples = [];
    for (let trial = 0; trial < TRIALS; trial++) samples.push(await lockHandover(env, `${end}-${trial}`, end));
    const what = end === "close" ? "closes (page.close)" : "crashes (CDP Page.crash)";
    console.log(`raw Web Locks hand-over, from the command, when the holder's tab ${what}: ${stats(samples.map((s) => s.command))}`);
    const fromPagehide = samples.map((s) => s.pagehide).filter((v) => v !== null);
    if (fromPagehide.length) {
      console.log(`raw Web Locks hand-over, from the holder's pagehide, when it ${what}: ${stats(fromPagehide)}`);
    }
  }
  for (const n of WEIGHT_ONLY ? [] : [2, 5, 10]) {
    const context = await env.browser.newContext();
    const pages = [];
    for (let i = 0; i < n; i++) {
      pages.push(await context.newPage());
      await pages.at(-1).goto(env.url);
    }
    const samples = [];
    for (let trial = 0; trial < TRIALS; trial++) samples.push(await pagehideHandover(context, env.url, pages, `${n}-${trial}`));
    await context.close();
    console.log(`${n} tabs of the app, from a closing tab's pagehide: a BroadcastChannel message posted there is heard in ${stats(samples.map((s) => s.message))}; a lock released there is granted in ${stats(samples.map((s) => s.lock))}`);
  }
  const { samples: released, memory, deaths, dumping } = await crashRelease(env, TRIALS);
  for (const [kind, { what }] of Object.entries(VICTIMS)) {
    console.log(`with 10 tabs of the app open, a crashed tab's lock is granted to a waiting tab of its origin ${stats(released[kind])} after the command when the crashed tab is ${what}`);
  }
  for (const [kind, { what }] of Object.entries(VICTIMS)) {
    const median = (key) => quantile(memory[kind].map((m) => m[key]), 0.5)?.toFixed(1);
    if (deaths[kind].length) {
      console.log(`its renderer's process died ${stats(deaths[kind].map((d) => d.died))} after the command, and the lock was granted ${stats(deaths[kind].map((d) => d.after))} after that death, when the crashed tab is ${what}`);
    }
    console.log(`its renderer just before the crash, median of ${memory[kind].length}, when the crashed tab is ${what}: resident ${median("rss")} MiB, proportional ${median("pss")} MiB (anonymous ${median("anon")}, shared ${median("shmem")})`);
    if (dumping[kind].length) {
      const bytes = quantile(dumping[kind].map((d) => d.bytes), 0.5);
      console.log(`the crash reporter spent ${stats(dumping[kind].map((d) => d.cpu))} of CPU time on the crash, and its minidump was ${bytes} B (median), when the crashed tab is ${what}`);
    }
  }
  if (!WEIGHT_ONLY) {
    const rates = [];
    for (let run = 0; run < 5; run++) rates.push(await broadcastThroughput(env));
    rates.sort((a, b) => a - b);
    console.log(`raw BroadcastChannel, 1 KiB strings, ${MESSAGES} per run: median ${Math.round(rates[2])} messages/s (5 runs, min ${Math.round(rates[0])}, max ${Math.round(rates[4])})`);
  }
} finally {
  await bare.close();
  await reference.close();
  await env.close();
}
