// This machine's processes, read from /proc (the browser under test runs here): for the
// benchmarks that look at Chromium's processes from outside.
import { readdirSync, readFileSync } from "node:fs";

/**
 * The ids of this machine's processes whose command line passes `test`: the text of
 * /proc/<pid>/cmdline, its arguments separated by NUL, except where the process has rewritten
 * it (Chromium's own processes do, into one text separated by spaces).
 */
export function pidsWhere(test) {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((pid) => {
      try {
        return test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
      } catch {
        return false; // The process ended while it was read.
      }
    });
}

/** The process ids of this machine's Chromium renderers (the browser runs here). */
export function rendererPids() {
  return pidsWhere((cmdline) => cmdline.includes("--type=renderer"));
}
