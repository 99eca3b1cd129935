// This machine's processes, read from /proc (the browser under test runs here): for the
// benchmarks that look at Chromium's processes from outside.
import { readdirSync, readFileSync } from "node:fs";

/**
 * Every process's command line, by pid: the text of /proc/<pid>/cmdline, its arguments
 * separated by NUL, except where the process has rewritten it (Chromium's own processes do,
 * into one text separated by spaces).
 */
export function commandLines() {
  const lines = new Map();
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      lines.set(pid, readFileSync(`/proc/${pid}/cmdline`, "utf8"));
    } catch {
      // The process ended while it was read.
    }
  }
  return lines;
}

/** The ids of this machine's processes whose command line (see commandLines) passes `test`. */
export function pidsWhere(test) {
  return [...commandLines()].filter(([, cmdline]) => test(cmdline)).map(([pid]) => pid);
}

/** The process ids of this machine's Chromium renderers (the browser runs here). */
export function rendererPids() {
  return pidsWhere((cmdline) => cmdline.includes("--type=renderer"));
}

/**
 * The CPU time (ms, user + system) and kind of every process whose command line (see
 * commandLines) passes `test`, by pid. A Chromium process's kind is its `--type` (`browser`
 * without one), with a utility process's sub-type after a colon.
 */
export function cpuByProcess(test) {
  const out = new Map();
  for (const [pid, cmdline] of commandLines()) {
    if (!test(cmdline)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // After the command's name: field 3 (state) on; utime and stime are fields 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const line = cmdline.replaceAll("\0", " ");
      const type = / --type=(\S+)/.exec(line)?.[1] ?? "browser";
      const sub = / --utility-sub-type=(\S+)/.exec(line)?.[1];
      const ms = (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100 on Linux.
      out.set(pid, { kind: sub ? `${type}:${sub}` : type, ms });
    } catch {
      // The process ended while it was read.
    }
  }
  return out;
}

/**
 * What the processes used between two readings of cpuByProcess, in ms: `{ total, kinds }`,
 * `kinds` by kind, most first. A process that started in between counts from zero.
 */
export function cpuSpent(before, after) {
  const kinds = new Map();
  for (const [pid, { kind, ms }] of after) kinds.set(kind, (kinds.get(kind) ?? 0) + ms - (before.get(pid)?.ms ?? 0));
  const sorted = [...kinds].sort((a, b) => b[1] - a[1]);
  return { total: sorted.reduce((sum, [, ms]) => sum + ms, 0), kinds: sorted };
}
