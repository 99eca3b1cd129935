// What a send from the composer costs its tab before any answer, on the served app (a release
// build in dist/, or CONCLAVE_DIST) in this machine's headless Chromium: from the send to the
// return of the call that made it (the app's handler has run: the request is made, backed up
// and posted). A benchmark, not a test: it prints figures and judges nothing.
//
// One tab (it leads), one session, `sends` sends one after another, 30 ms apart; each sets the
// composer's text, fires its `input` event (the draft is backed up, as when typing), then sends:
// with an Enter `keydown` on the composer; or, in a build whose composer is a `<form>` (before
// the change in session_view.rs), with the form's requestSubmit(), which is what Enter and the
// Send button did there. Also, as a second row, the same with style and layout brought up to
// date before the send (reading `offsetHeight`): what of the send is the browser's layout.
//
//   node tests/bench/send.mjs [sends]        (default 300)
import { launch, openTabs } from "../e2e/browser.mjs";
import { stats } from "./stats.mjs";

const SENDS = Number(process.argv[2] ?? 300);

/** In the page: `sends` timed sends, alternating with and without layout done first. */
async function measure(sends) {
  const input = document.querySelector("[data-testid=compose-text]");
  const form = input.form;
  const send = form
    ? () => form.requestSubmit()
    : () => input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
  const times = { dirty: [], clean: [] };
  for (let i = 0; i < sends; i++) {
    const clean = i % 2 === 1;
    input.value = `send ${i}`;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    if (clean) void document.body.offsetHeight;
    const t0 = performance.now();
    send();
    times[clean ? "clean" : "dirty"].push(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  return { how: form ? "the form's requestSubmit()" : "an Enter keydown", ...times };
}

const env = await launch();
try {
  const [page] = await openTabs(env.context, env.url, 1);
  await page.getByTestId("new-session-title").fill("Sends");
  await page.getByTestId("new-session").click();
  await page.getByTestId("session-title").waitFor();
  const { how, dirty, clean } = await page.evaluate(measure, SENDS);
  console.log(`a send from the composer (${how}), to the return of the call: ${stats(dirty)}`);
  console.log(`the same, style and layout brought up to date before it: ${stats(clean)}`);
} finally {
  await env.close();
}
