// Accessibility of the served app, in real tabs of one headless Chromium: with three tabs open,
// a session with a few messages open and a question waiting, every control can be reached with
// the Tab key and has a name (as Chromium's accessibility tree computes it), axe-core finds no
// violation of any impact (light and dark schemes, the coordination panel folded and
// unfolded), and nothing overflows a phone's 390 px width.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { closeTabs, launch, openPanel, within } from "./browser.mjs";
import { scene } from "./screenshots.mjs";

const AXE = await readFile(new URL("../../node_modules/axe-core/axe.min.js", import.meta.url), "utf8");

let env;
before(async () => {
  env = await launch();
});
after(async () => {
  await env?.close();
});
afterEach(async () => {
  await closeTabs(env.context);
});

/**
 * Lists, in `window.__controls`, the page's interactive controls a person can see and use
 * (not disabled, drawn, not inert), in document order; resolves to a description of each.
 */
function listControls(page) {
  return page.evaluate(() => {
    const selector = [
      "a[href]",
      "button",
      "input:not([type=hidden])",
      "select",
      "textarea",
      "details > summary:first-of-type",
      "[tabindex]:not([tabindex='-1'])",
      "[contenteditable='']",
      "[contenteditable='true']",
    ].join(",");
    window.__controls = [...document.querySelectorAll(selector)].filter(
      (el) => !el.disabled && !el.closest("[inert]") && el.checkVisibility({ visibilityProperty: true }),
    );
    return window.__controls.map((el) => {
      const testid = el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : "";
      const type = el.type && el.localName === "input" ? `[type=${el.type}]` : "";
      const text = el.textContent.trim().replace(/\s+/g, " ").slice(0, 40);
      // Where it is, for a control with neither a test id nor a text.
      const within = el.parentElement?.closest("[data-testid]")?.dataset.testid;
      return `${el.localName}${type}${testid}${text ? ` "${text}"` : ""}${within ? ` in [data-testid=${within}]` : ""}`;
    });
  });
}

/** The role and name Chromium's accessibility tree gives the element `expression` evaluates to. */
async function axNode(cdp, expression) {
  const { result } = await cdp.send("Runtime.evaluate", { expression });
  const { nodes } = await cdp.send("Accessibility.getPartialAXTree", {
    objectId: result.objectId,
    fetchRelatives: false,
  });
  await cdp.send("Runtime.releaseObject", { objectId: result.objectId });
  const node = nodes[0];
  return { role: node?.role?.value ?? "", name: (node?.name?.value ?? "").trim(), ignored: Boolean(node?.ignored) };
}

/**
 * Walks the page with the Tab key from its top until focus leaves the page or comes back to
 * where it started; asserts every control `listControls` found was reached and every control
 * (and anything else focus reached) has an accessible name. Resolves to the number of stops.
 */
async function checkKeyboard(page, what) {
  const controls = await listControls(page);
  assert.ok(controls.length > 0, `${what}: no control found`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Accessibility.enable");
  try {
    const unnamed = [];
    for (const [i, control] of controls.entries()) {
      const node = await axNode(cdp, `window.__controls[${i}]`);
      if (node.ignored || node.name === "") unnamed.push(`${control} (role ${node.role || "none"})`);
    }

    // From the top: a click on the page's corner (no control there) moves the starting point
    // of sequential focus navigation to the start of the document.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.mouse.click(1, 1);
    const reached = new Set();
    const extra = [];
    let first = null;
    for (let press = 0; press < 400; press += 1) {
      await page.keyboard.press("Tab");
      const at = await page.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body || el === document.documentElement) return null;
        if (!window.__tabFirst) window.__tabFirst = el;
        else if (window.__tabFirst === el) return { again: true };
        const i = window.__controls.indexOf(el);
        const testid = el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : "";
        return { i, what: `${el.localName}${testid}${el.id ? `#${el.id}` : ""}` };
      });
      if (at === null || at.again) break;
      first ??= at;
      if (at.i >= 0) {
        reached.add(at.i);
      } else {
        // Focusable though not a control (a scrolling region, say): it needs a name too.
        const node = await axNode(cdp, "document.activeElement");
        extra.push(at.what);
        if (node.name === "") unnamed.push(`${at.what} (reached by Tab, role ${node.role || "none"})`);
      }
    }
    await page.evaluate(() => delete window.__tabFirst);
    // A control gone meanwhile (a question answered or timed out elsewhere) is not missed.
    const gone = await page.evaluate(() => window.__controls.map((el) => !el.isConnected || !el.checkVisibility()));
    const unreached = controls.filter((_, i) => !reached.has(i) && !gone[i]);
    console.log(`# ${what}: ${controls.length} controls, ${reached.size} reached by Tab${extra.length ? `, also ${extra.join(", ")}` : ""}`);
    assert.deepEqual(unreached, [], `${what}: controls the Tab key never reaches`);
    assert.deepEqual(unnamed, [], `${what}: controls without an accessible name`);
    return reached.size + extra.length;
  } finally {
    await cdp.detach();
  }
}

/**
 * Runs axe-core on the page; fails on any violation, whatever its impact (a moderate one, two
 * landmarks of one name, once slipped in unnoticed), naming the rule, its impact and the
 * failing nodes. Logs how many rules passed and what axe leaves to review by hand.
 */
async function checkAxe(page, what) {
  // The page's policy (script-src 'self') blocks an injected script element; evaluated
  // through the DevTools protocol, axe's source runs in the page's world all the same.
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(AXE);
  const results = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
  const describe = (v) => `${v.id} (${v.impact}): ${v.help}; ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`;
  console.log(
    `# ${what}: axe ${results.testEngine.version}: ${results.passes.length} rules passed, ` +
      `${results.incomplete.length} to review by hand, ${results.violations.length} violated`,
  );
  for (const v of results.incomplete) console.log(`# ${what}: to review: ${describe(v)}`);
  assert.deepEqual(results.violations.map(describe), [], `${what}: accessibility violations`);
}

test("every control is reachable by Tab and named; axe finds no violation; a phone's width holds the page", async () => {
  const { pages, shown } = await scene(env.context, env.url);
  // The imports' file picker and a pending question's buttons are among the controls.
  for (const id of ["compose-text", "import-file", "search", "answer-yes", "answer-no"]) {
    assert.equal(await shown.getByTestId(id).count(), 1, `${id} is drawn`);
  }

  await checkKeyboard(shown, "panel folded");
  await checkAxe(shown, "panel folded, light");
  await openPanel(shown);
  await within(5_000, "the panel lists the other tabs", async () =>
    (await shown.$$("[data-testid=peer-row]")).length === 2,
  );
  await checkKeyboard(shown, "panel unfolded");
  await checkAxe(shown, "panel unfolded, light");
  await shown.emulateMedia({ colorScheme: "dark" });
  await checkAxe(shown, "panel unfolded, dark");

  await shown.setViewportSize({ width: 390, height: 844 });
  await checkAxe(shown, "panel unfolded, dark, 390 px");
  const width = await shown.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the page is ${width} px wide at a 390 px viewport`);
  // Nor is anything cut off at a card's edge (a card scrolls what is too wide for it).
  const past = await shown.evaluate(() =>
    [...document.body.querySelectorAll("*")]
      .filter((el) => el.checkVisibility() && el.getBoundingClientRect().right > innerWidth + 0.5)
      .map((el) => `${el.localName}${el.className ? `.${el.className}` : ""}${el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : ""}`),
  );
  assert.deepEqual(past, [], "drawn past the right edge of a 390 px viewport");

  for (const page of pages) {
    assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
  }
});
