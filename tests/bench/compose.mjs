// What the write benchmarks do in a page: one write through the composer, timed.

/**
 * In a page: submits `text` through the composer (its text and an Enter) and resolves to { t0, t1 }: when it was
 * submitted and when the compose status said "Saved." for it (wall clock); rejects if it is
 * refused or unanswered within `bound` ms.
 */
export function timedWrite({ text, bound }) {
  const now = () => performance.timeOrigin + performance.now();
  const input = document.querySelector("[data-testid=compose-text]");
  const status = document.querySelector("[data-testid=compose-status]");
  const before = status.dataset.tries;
  return new Promise((resolve, reject) => {
    let t0;
    // "Saved." counts only after this submit's own "Sending…": the status's attribute and its
    // text need not change in the same step.
    let sending = false;
    const check = () => {
      if (status.dataset.tries === before) return;
      const said = status.textContent;
      if (said === "Sending…") sending = true;
      else if (said === "Saved." && sending) finish(() => resolve({ t0, t1: now() }));
      else if (said.startsWith("Not ")) finish(() => reject(new Error(`"${text}": ${said}`)));
    };
    const observer = new MutationObserver(check);
    const timer = setTimeout(
      () => finish(() => reject(new Error(`"${text}": no answer within ${bound} ms (status: ${status.textContent})`))),
      bound,
    );
    const finish = (end) => {
      observer.disconnect();
      clearTimeout(timer);
      end();
    };
    observer.observe(status, { subtree: true, childList: true, characterData: true, attributes: true });
    t0 = now();
    input.value = text;
    input.dispatchEvent(new Event("input", { bubbles: true }));
    // Enter, as the keyboard sends it (the composer is no form: see session_view.rs).
    input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true, cancelable: true }));
    check();
  });
}
