// Shared helpers for the multi-tab end-to-end tests: one headless Chromium (Debian's, never a
// downloaded one), one browser context (so all tabs share BroadcastChannel, Web Locks and
// storage, as tabs of one profile do), and the served app.
import { chromium } from "playwright-core";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "./server.mjs";

/** The built app to serve: `dist/`, or CONCLAVE_DIST (for a build kept apart, e.g. `trunk build --release --dist target/dist-x`). */
export const DIST = process.env.CONCLAVE_DIST ?? fileURLToPath(new URL("../../dist", import.meta.url));

/** Chromium's flags on this machine (as root, offline). */
export const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/**
 * A configuration directory of Chromium's own for one launch, removed at close. Debian's build
 * starts `chrome_crashpad_handler` whatever the flags, and it keeps a minidump of every crashed
 * renderer in `$XDG_CONFIG_HOME/chromium/Crash Reports`: under the home directory by default,
 * where they pile up (Debian's launcher deletes them only after 30 days; this project's tests
 * and benchmarks crash hundreds of tabs a run). Here each launch starts with an empty crash
 * database and leaves nothing behind.
 *
 * With CHROMIUM_NO_CRASHPAD=1, Chromium runs without its crash reporter: where `Crash Reports`
 * is a file, the reporter cannot start. It writes its minidump before the renderer dies (and
 * the browser lets go of its locks): for benchmarks that want the time of a crash without it.
 */
async function configHome() {
  const config = await mkdtemp(join(tmpdir(), "conclave-chromium-config-"));
  await mkdir(join(config, "chromium"));
  if (process.env.CHROMIUM_NO_CRASHPAD === "1") {
    await writeFile(join(config, "chromium", "Crash Reports"), "");
  }
  return config;
}

/**
 * CHROMIUM_FLAGS adds flags (separated by spaces) to every launch: for experiments such as
 * `--js-flags=--no-wasm-lazy-compilation` (V8 then compiles every WebAssembly function when
 * the module loads instead of when each first runs).
 */
export const EXTRA_ARGS = (process.env.CHROMIUM_FLAGS ?? "").split(" ").filter(Boolean);

/**
 * Starts the server and the browser; returns { url, browser, context, configDir, close }, where
 * configDir is the launch's own configuration directory (its crash database is under
 * `chromium/Crash Reports`).
 */
export async function launch() {
  const server = await serve(DIST);
  const config = await configHome();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [...ARGS, ...EXTRA_ARGS],
    env: { ...process.env, XDG_CONFIG_HOME: config },
  });
  const context = await browser.newContext();
  // Record every CSP violation from the first moment of every page. Init scripts run through
  // the DevTools protocol, so the policy under test does not apply to this one.
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return {
    url: server.url,
    browser,
    context,
    configDir: config,
    async close() {
      await browser.close();
      await server.close();
      await rm(config, { recursive: true, force: true });
    },
  };
}

/**
 * Closes every tab still open in `context`. The tabs of a context share its locks, channel and
 * storage, so a test that fails midway would leave tabs (a leader among them, holding the
 * leader lock) that every later test of the file would meet: each file closes what a test
 * left, after each test.
 */
export async function closeTabs(context) {
  await Promise.all(context.pages().map((page) => page.close().catch(() => {})));
}

/** Opens `n` tabs and navigates them all at the same moment. */
export async function openTabs(context, url, n) {
  const pages = await Promise.all(Array.from({ length: n }, () => context.newPage()));
  await Promise.all(pages.map((page) => page.goto(url)));
  return pages;
}

/** This tab's id, as the app shows it (waits for the app to mount; the coordination panel
 * that shows it may be folded away). */
export async function tabId(page) {
  const id = page.getByTestId("tab-id");
  await id.filter({ hasText: /^[0-9a-f]{32}$/ }).waitFor({ state: "attached" });
  return id.textContent();
}

/**
 * Unfolds the coordination panel (closed by default), to type into what it holds or to read
 * what only it shows: folded, it draws nothing, so its counters, sequence numbers and ages wait
 * (who leads, the terms and the tabs listed show at once, folded or not). Resolves once the
 * app has shown them as they are now; an unfolded panel refreshes them once a second.
 */
export async function openPanel(page) {
  await page.evaluate(
    () =>
      new Promise((resolve) => {
        const panel = document.querySelector("[data-testid=coordination]");
        if (panel.open) return resolve();
        // After the app's own listener (added first) and the redrawing it starts (microtasks).
        panel.addEventListener("toggle", () => setTimeout(resolve, 0), { once: true });
        panel.open = true;
      }),
  );
}

/** Folds the coordination panel again: from then on its counters wait (see `openPanel`). */
export async function closePanel(page) {
  await page.evaluate(
    () =>
      new Promise((resolve) => {
        const panel = document.querySelector("[data-testid=coordination]");
        if (!panel.open) return resolve();
        panel.addEventListener("toggle", () => setTimeout(resolve, 0), { once: true });
        panel.open = false;
      }),
  );
}

/** The ids of the peers the tab lists. */
export function peerIds(page) {
  return page.$$eval("[data-testid=peer-row]", (rows) => rows.map((r) => r.dataset.peerId));
}

/**
 * Polls `check` every 25 ms until it returns true; resolves to the elapsed ms, or throws, with
 * what `describe` (if given) says of the state it gave up in.
 */
export async function within(ms, what, check, describe) {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > ms) {
      const state = describe ? ` (${await describe()})` : "";
      throw new Error(`not within ${ms} ms: ${what}${state}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Makes `page` say it is hidden, as a background tab's page does (headless Chromium shows every
 * page), or visible again, and fires `visibilitychange` as the browser would.
 */
export function emulateHidden(page, hidden) {
  return page.evaluate((hidden) => {
    if (hidden) {
      Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
      Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    } else {
      delete document.visibilityState;
      delete document.hidden;
    }
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);
}

export function sameSet(a, b) {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}

/**
 * An init script: records, in every page from its first moment, each change of the role and
 * term the panel shows, with its wall-clock time, in `window.__roles`. A MutationObserver sees
 * every state the page ever rendered; init scripts run through the DevTools protocol, outside
 * the page's CSP.
 */
export function recordRoles() {
  window.__roles = [];
  const record = () => {
    const role = document.querySelector("[data-testid=role]")?.textContent;
    const term = document.querySelector("[data-testid=term]")?.textContent;
    const last = window.__roles.at(-1);
    if (role && (!last || last.role !== role || last.term !== term)) {
      window.__roles.push({ role, term, at: performance.timeOrigin + performance.now() });
    }
  };
  new MutationObserver(record).observe(document, { subtree: true, childList: true, characterData: true });
}

/**
 * A browser profile that outlives its browser, for tests that close (or lose) every tab, end
 * the browser and start it again on the same profile, as a person relaunching it does. The
 * server starts once and stays up until `close()`: the origin (host and port) is the same at
 * every launch, or the relaunched app would read another origin's storage. It serves `root`
 * (the built app by default; a benchmark's bare page from elsewhere). One user-data
 * directory is made here and removed by `close()`.
 *
 * Returns { url, profileDir, open(), close() }:
 * - `open()` starts Chromium on the profile (Debian's, the same flags and a fresh crash
 *   database as `launch()`, the same CSP recorder in every page) and resolves to its
 *   persistent context. Closing that context ends that browser, and Playwright waits for the
 *   process to exit; only one browser may run on a profile at a time (Chromium locks it), so
 *   `open()` refuses while the last one it returned is still open.
 * - `close()` closes a browser still open, the server, and removes the profile and every
 *   launch's configuration directory.
 */
export async function launchPersistent(root = DIST) {
  const server = await serve(root);
  const profileDir = await mkdtemp(join(tmpdir(), "conclave-chromium-profile-"));
  const configs = [];
  let current = null;
  return {
    url: server.url,
    profileDir,
    async open() {
      if (current) throw new Error("a browser still runs on this profile: close its context first");
      const config = await configHome();
      configs.push(config);
      const context = await chromium.launchPersistentContext(profileDir, {
        executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
        headless: true,
        args: [...ARGS, ...EXTRA_ARGS],
        env: { ...process.env, XDG_CONFIG_HOME: config },
      });
      current = context;
      context.once("close", () => {
        if (current === context) current = null;
      });
      await context.addInitScript(() => {
        window.__cspViolations = [];
        document.addEventListener("securitypolicyviolation", (e) => {
          window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
        });
      });
      return context;
    },
    async close() {
      await current?.close().catch(() => {});
      await server.close();
      await rm(profileDir, { recursive: true, force: true });
      await Promise.all(configs.map((c) => rm(c, { recursive: true, force: true })));
    },
  };
}
