// Screenshots of the served app as a person sees it with three tabs open: one tab leads, a
// session with a few messages is open, a question waits for an answer, and the coordination
// panel is unfolded. Written into docs/screenshots/: `app-390.png` (a phone, the full page) and
// `app-1440.png` (a desktop, the viewport).
//
//   node tests/e2e/screenshots.mjs        (CONCLAVE_DIST=... for a build kept apart)
//
// The same scene is what the accessibility check (accessibility.test.mjs) inspects: `scene`
// is exported for it.
import { mkdir } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { closeTabs, launch, openPanel, openTabs, tabId, within } from "./browser.mjs";
import { createSession, leaderOf, messages } from "./app.mjs";

/** The messages written in the open session. */
export const TEXTS = [
  "Agenda for Monday: the release checklist, then the migration plan.",
  "I will take the migration plan; it needs the new import format.",
  "Checklist is in the notes session, ready for review.",
];

/**
 * Opens three tabs on `url` in `context` and waits for one agreed leader; from the leader,
 * creates a session and writes `TEXTS` in it; from another tab, creates a second session and
 * asks every tab whether to delete it (the question shows in every tab for 30 s, unless
 * answered). Resolves to { pages, ids, lead, shown }: `shown` is the leading tab, whose open
 * session holds the messages.
 */
export async function scene(context, url) {
  const pages = await openTabs(context, url, 3);
  const ids = await Promise.all(pages.map(tabId));
  const lead = await leaderOf(pages, ids, 10_000);
  const shown = pages[lead];
  const other = pages[(lead + 1) % pages.length];
  // The creating tab opens the session it created.
  await createSession(shown, "Release planning");
  await within(10_000, "the new session is open", async () => (await shown.getByTestId("compose-text").count()) === 1);
  const box = shown.getByTestId("compose-text");
  for (const text of TEXTS) {
    await box.fill(text);
    await box.press("Enter");
  }
  await within(10_000, "the messages are shown", async () => (await messages(shown)).length === TEXTS.length);
  const old = await createSession(other, "Old drafts");
  await other.$eval(`[data-testid=session][data-session-id="${old}"] [data-testid=delete-session]`, (b) => b.click());
  await within(10_000, "the question shows", async () => (await shown.getByTestId("question").count()) === 1);
  return { pages, ids, lead, shown };
}

/** Writes both screenshots into `dir`; resolves to their paths. */
async function shoot(dir) {
  const env = await launch();
  try {
    const { shown } = await scene(env.context, env.url);
    await openPanel(shown);
    // The panel's tables fill in once it is unfolded (it refreshes once a second).
    await within(5_000, "the panel lists the other tabs", async () =>
      (await shown.$$("[data-testid=peer-row]")).length === 2,
    );
    // Focus nowhere: no focus ring in the shot.
    await shown.evaluate(() => document.activeElement?.blur());

    await shown.setViewportSize({ width: 390, height: 844 });
    await shown.waitForTimeout(300);
    const width = await shown.evaluate(() => document.documentElement.scrollWidth);
    if (width > 390) throw new Error(`the page is ${width} px wide at a 390 px viewport: it overflows`);
    const phone = `${dir}/app-390.png`;
    await shown.screenshot({ path: phone, fullPage: true });

    await shown.setViewportSize({ width: 1440, height: 1100 });
    await shown.evaluate(() => window.scrollTo(0, 0));
    await shown.waitForTimeout(300);
    const desktop = `${dir}/app-1440.png`;
    await shown.screenshot({ path: desktop });
    await closeTabs(env.context);
    return [phone, desktop];
  } finally {
    await env.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = fileURLToPath(new URL("../../docs/screenshots", import.meta.url));
  await mkdir(dir, { recursive: true });
  for (const path of await shoot(dir)) console.log(`wrote ${path}`);
}
