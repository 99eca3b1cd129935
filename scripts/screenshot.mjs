// Takes the README's screenshot, `docs/screenshot.png`: three tabs of the served release build
// (`dist/`, from `trunk build --release`) side by side, after one tab created a session and
// each wrote in it, with the leader's coordination panel unfolded.
//   node scripts/screenshot.mjs
import { writeFile } from "node:fs/promises";
import { launch, openPanel, openTabs, tabId, within } from "../tests/e2e/browser.mjs";

const WIDTH = 520;
const HEIGHT = 760;

const env = await launch();
try {
  const pages = await openTabs(env.context, env.url, 3);
  for (const page of pages) await page.setViewportSize({ width: WIDTH, height: HEIGHT });
  await Promise.all(pages.map(tabId));
  await pages[0].getByTestId("new-session-title").fill("Trip plans");
  await pages[0].getByTestId("new-session").click();
  for (const [i, page] of pages.entries()) {
    await within(10_000, "the session is listed", async () => (await page.getByTestId("session").count()) === 1);
    await page.getByTestId("switch-session").first().click();
    const box = page.getByTestId("compose-text");
    await box.fill(["Book the train for Friday", "I'll take the tent", "Who brings the map?"][i]);
    await box.press("Enter");
    await within(10_000, "saved", async () => (await page.getByTestId("compose-status").textContent()) === "Saved.");
  }
  await within(10_000, "every tab shows the three messages", async () =>
    (await Promise.all(pages.map((p) => p.getByTestId("message").count()))).every((n) => n === 3),
  );
  await pages[2].getByTestId("compose-text").fill("Map's on me, and the");
  for (const page of pages) await openPanel(page);
  const shots = await Promise.all(pages.map((p) => p.screenshot({ type: "png" })));
  // Composed by the browser itself: three images side by side on one page.
  const sheet = await env.context.newPage();
  await sheet.setViewportSize({ width: WIDTH * 3 + 16, height: HEIGHT });
  const images = shots.map((s) => `<img src="data:image/png;base64,${s.toString("base64")}">`).join("");
  await sheet.setContent(
    `<body style="margin:0;background:#888;display:flex;gap:8px">${images}</body>`,
  );
  await sheet.screenshot({ path: "docs/screenshot.png", type: "png" });
  console.log("wrote docs/screenshot.png");
} finally {
  await env.close();
}
