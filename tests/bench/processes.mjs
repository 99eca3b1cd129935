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
