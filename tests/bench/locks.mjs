// What the benchmarks do to pages around a lock and a crash: hold a lock for as long as the page
// lives, wait for one and note when it came, and crash a page's renderer on a timed command.

/** In a page: takes lock `name` and holds it for as long as the page lives. */
export function holdLock(name) {
  return new Promise((held) => navigator.locks.request(name, () => (held(), new Promise(() => {}))));
}

/** In a page: waits for lock `name`; `window.__granted` resolves to when it was granted. */
export function awaitLock(name) {
  window.__granted = navigator.locks.request(name, () => performance.timeOrigin + performance.now());
}

/**
 * Crashes `page`'s renderer (CDP `Page.crash`); resolves to the moment of the command on the
 * machine's wall clock. The DevTools session is attached first: attaching takes the page's main
 * thread a few ms, more for a larger page, and the clock times the crash command alone.
 */
export async function crash(context, page) {
  const cdp = await context.newCDPSession(page);
  const at = await page.evaluate(() => performance.timeOrigin + performance.now());
  cdp.send("Page.crash").catch(() => {});
  return at;
}
