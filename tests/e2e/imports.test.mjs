// Importing a file into a session, in real tabs of one headless Chromium, on the served app: one
// task per session (two tabs starting the same import at once start one), a 20 MiB import that
// survives its leader crashing twice (every record once, in order), deleting the session or
// cancelling mid-import (nothing lands after), two sessions importing at once, and malformed
// files (the task fails at the bad record and keeps the ones before). Each test runs on its own
// browser, server and storage (`launch()`), so what one leaves in the store never meets another.
import { test } from "node:test";
import assert from "node:assert/strict";
import { launch, openTabs, tabId, within } from "./browser.mjs";
import {
  createSession,
  leaderOf,
  messages,
  metaKeys,
  openSession,
  sessions,
  stagedChunks,
  storedMessages,
  tasks,
} from "./app.mjs";
import { crash, firstTask, pick, random, recordsOf, startOutcome, streamingHistory, taskIn } from "./imports.mjs";

const MiB = 1024 * 1024;

/** Runs `body(env)` on a fresh browser, server and storage, closed after. */
async function fresh(body) {
  const env = await launch();
  try {
    await body(env);
  } finally {
    await env.close();
  }
}

/** Chat lines, one message each: `n` of them, tagged `tag`. */
function chatLines(n, tag) {
  const rand = random(n + tag.length);
  const who = ["alice", "bob", "chloé", "dmitri", "eun-ji"];
  return Array.from({ length: n }, (_, i) => {
    const words = Array.from({ length: 4 + Math.floor(rand() * 12) }, () => Math.floor(rand() * 1e6).toString(36));
    return `${tag} #${i} <${who[i % who.length]}> ${words.join(" ")}`;
  });
}

/** Asserts the store holds exactly `texts`, in order, once each, as `session`'s messages. */
async function assertStored(page, session, texts, what) {
  const stored = await storedMessages(page, session);
  assert.equal(stored.texts.length, texts.length, `${what}: ${stored.texts.length} messages stored, ${texts.length} expected`);
  assert.deepEqual(stored.orders, texts.map((_, i) => stored.orders[0] + i), `${what}: orders contiguous`);
  assert.equal(new Set(stored.ids).size, stored.ids.length, `${what}: a message id stored twice`);
  for (let i = 0; i < texts.length; i++) {
    if (stored.texts[i] !== texts[i]) {
      assert.fail(`${what}: record ${i + 1} stored as ${JSON.stringify(stored.texts[i])?.slice(0, 200)}, expected ${JSON.stringify(texts[i]).slice(0, 200)}`);
    }
  }
}

/** Opens `n` tabs, waits for an agreed leader; { pages, ids, leader } (the leader's index). */
async function tabs(env, n) {
  const pages = await openTabs(env.context, env.url, n);
  const ids = await Promise.all(pages.map(tabId));
  const leader = await leaderOf(pages, ids, 10_000);
  return { pages, ids, leader };
}

test("two tabs start the same import into one session at the same moment: one runs, the other is told which, every record lands once", async () => {
  await fresh(async (env) => {
    const { pages, ids, leader } = await tabs(env, 3);
    const session = await createSession(pages[0], "Chat log");
    await openSession(pages, session);
    const lines = chatLines(30_000, "log");
    const name = "chat-log.txt";
    const file = { name, mimeType: "text/plain", buffer: Buffer.from(lines.join("\n") + "\n") };
    const [a, b] = pages.filter((_, i) => i !== leader);
    const [idA, idB] = ids.filter((_, i) => i !== leader);
    const start = performance.now();
    await Promise.all([pick(a, file), pick(b, file)]);
    const said = await Promise.all([startOutcome(a), startOutcome(b)]);
    console.log(`# ${(file.buffer.length / MiB).toFixed(2)} MiB, ${lines.length} lines picked in two tabs at once: ${JSON.stringify(said)}`);
    assert.equal(said.filter((s) => s === "Import started.").length, 1, "exactly one start accepted");
    const other = said.find((s) => s !== "Import started.");
    assert.equal(other, `Not started: “${name}” is already being imported into this session.`);
    // One task, the same in every tab, while it runs and once it is done.
    const task = await firstTask(pages);
    const running = await Promise.all(pages.map(tasks));
    for (const [i, listed] of running.entries()) {
      assert.equal(listed.length, 1, `tab ${i}: one task listed (${JSON.stringify(listed)})`);
      assert.equal(listed[0].id, task.id);
      assert.equal(listed[0].name, name);
    }
    const done = await taskIn(pages, task.id, ["done", "failed", "cancelled"], 40_000);
    const ms = performance.now() - start;
    for (const row of done) {
      assert.equal(row.state, "done", JSON.stringify(row));
      assert.equal(row.records, lines.length);
      assert.equal(row.chunksDone, row.chunks);
    }
    for (const page of pages) assert.equal((await tasks(page)).length, 1, "still one task");
    await assertStored(pages[0], session, lines, "the chat log");
    await within(5_000, "every tab counts every message", async () =>
      (await Promise.all(pages.map((p) => p.$eval("[data-testid=search-count]", (e) => e.textContent)))).every(
        (t) => t === `${lines.length} of ${lines.length} messages`,
      ),
    );
    console.log(`# done in every tab ${(ms / 1000).toFixed(1)} s after the pick: ${lines.length} records, once each, in order`);
    // The tabs that do not write were told most batches by their size alone: each draws the
    // latest 500 (read from the store), and a search finds the first record (read too).
    await within(10_000, "every tab draws the file's latest 500 records", async () =>
      (await Promise.all(pages.map(messages))).every(
        (shown) => shown.length === 500 && shown.every(([, , text], i) => text === lines[lines.length - 500 + i]),
      ),
    );
    const first = lines[0];
    await Promise.all(pages.map((p) => p.fill("[data-testid=search]", first)));
    await within(10_000, "a search in every tab finds the first record", async () =>
      (await Promise.all(pages.map(messages))).every((shown) => shown.length === 1 && shown[0][2] === first),
    );
    await Promise.all(pages.map((p) => p.fill("[data-testid=search]", "")));
    // The refused start's staged copy should not stay behind once the import is over (stages
    // are named `<tab id>.<n>`).
    const refused = said[0] === "Import started." ? idB : idA;
    const staged = await stagedChunks(pages[0]);
    console.log(`# staging after the import: ${JSON.stringify(staged)} (the refused tab is ${refused})`);
    assert.deepEqual(staged, {}, `the staging store still holds ${JSON.stringify(staged)}: the refused tab's (${refused}) staged file was never removed`);
  });
});

// On this machine (2 cores) the 20 MiB import runs at 0.4-0.5 MiB/s (900-1,100 records/s of
// ~460 bytes), slowing from ~1,450 to ~750 records/s as the session grows: the test takes
// 53-61 s, most of it the import itself; 20 MiB is kept (under the ~90 s beyond which it would
// be cut down).
test("a 20 MiB streaming history imported while the leader's renderer is crashed twice: every record once, in order", async () => {
  await fresh(async (env) => {
    const generated = performance.now();
    const history = streamingHistory(20 * MiB);
    const { texts, buffer } = history;
    console.log(
      `# generated ${texts.length} records, ${(buffer.length / MiB).toFixed(2)} MiB, in ${(performance.now() - generated).toFixed(0)} ms`,
    );
    let { pages, ids, leader } = await tabs(env, 3);
    const starter = pages[(leader + 1) % 3];
    const session = await createSession(starter, "Streaming history");
    await openSession(pages, session);
    const start = performance.now();
    await pick(starter, { name: "Streaming_History_Audio_2024.json", mimeType: "application/json", buffer });
    const picked = performance.now();
    assert.equal(await startOutcome(starter, 60_000), "Import started.");
    const started = performance.now();
    console.log(
      `# the file handed to the page in ${((picked - start) / 1000).toFixed(1)} s (Playwright's transfer), staged and started ${((started - picked) / 1000).toFixed(1)} s later`,
    );
    const task = await firstTask(pages);
    // The import's pace: records every 5 s, to see whether it slows as the session grows.
    const samples = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push([performance.now() - started, await recordsOf(pages, task.id).catch(() => NaN)]);
        await new Promise((r) => setTimeout(r, 5_000));
      }
    })();
    const crashes = [];
    // The leader crashes once a fifth of the records are in, and again past half.
    for (const [round, share] of [0.2, 0.5].entries()) {
      const before = Math.max(1, Math.floor(texts.length * share));
      await within(60_000, `round ${round}: progress past ${before} records`, async () => (await recordsOf(pages, task.id)) >= before);
      const victim = pages[leader];
      const at = await recordsOf(pages, task.id);
      const [row] = await taskIn(pages, task.id, ["running", "done", "failed", "cancelled"], 1_000);
      assert.equal(row.state, "running", `round ${round}: the import still runs when its leader crashes`);
      await crash(env, victim);
      const crashed = performance.now();
      pages = pages.filter((p) => p !== victim);
      ids = ids.filter((_, i) => i !== leader);
      leader = await leaderOf(pages, ids, 15_000);
      const elected = performance.now();
      await within(30_000, `round ${round}: the new leader goes on past ${at} records`, async () => (await recordsOf(pages, task.id)) > at);
      crashes.push(
        `crash ${round + 1} at ${at} records (${((crashed - started) / 1000).toFixed(1)} s): new leader in ${(elected - crashed).toFixed(0)} ms, progress again ${(performance.now() - crashed).toFixed(0)} ms after the crash`,
      );
    }
    for (const c of crashes) console.log(`# ${c}`);
    const [done] = await taskIn(pages, task.id, ["done", "failed", "cancelled"], 90_000);
    const ended = performance.now();
    sampling = false;
    await sampler;
    samples.push([ended - started, done.records]);
    const pace = samples.slice(1).map(([t, r], i) => `${(t / 1000).toFixed(0)} s: ${r} (${((r - samples[i][1]) / ((t - samples[i][0]) / 1000)).toFixed(0)}/s)`);
    console.log(`# records in by time since the start: ${pace.join(", ")}`);
    assert.equal(done.state, "done", JSON.stringify(done));
    assert.equal(done.records, texts.length);
    const s = (ended - started) / 1000;
    console.log(
      `# ${texts.length} records, ${(buffer.length / MiB).toFixed(2)} MiB imported in ${s.toFixed(1)} s after the start (${((ended - start) / 1000).toFixed(1)} s with staging), through 2 leader crashes: ${(texts.length / s).toFixed(0)} records/s, ${(buffer.length / MiB / s).toFixed(2)} MiB/s`,
    );
    const read = performance.now();
    await assertStored(pages[0], session, texts, "the streaming history");
    console.log(`# the store read back and compared in ${(performance.now() - read).toFixed(0)} ms: every record once, in order`);
    await within(10_000, "the remaining tab counts every message", async () =>
      (await pages[0].$eval("[data-testid=search-count]", (e) => e.textContent)) === `${texts.length} of ${texts.length} messages`,
    );
    // The list grows to its 500 rows a few dozen a task once the import is done.
    await within(20_000, "the remaining tab draws the latest 500", async () =>
      (await pages[0].$eval("[data-testid=earlier-not-shown]", (e) => e.textContent)) === `${texts.length - 500} earlier messages not shown.`,
    );
    assert.deepEqual(await stagedChunks(pages[0]), {}, "the staged file is removed once imported");
  });
});

test("deleting the session mid-import ends the import: the session, its task, its messages and its staged file go, and nothing lands after", async () => {
  await fresh(async (env) => {
    const { pages, leader } = await tabs(env, 3);
    const [importer, asker, confirmer] = [1, 2, 0].map((k) => pages[(leader + k) % 3]);
    const keep = await createSession(asker, "Kept");
    const session = await createSession(asker, "Doomed");
    await openSession(pages, session);
    const { texts, buffer } = streamingHistory(6 * MiB, 3);
    const stagedBefore = await stagedChunks(importer);
    await pick(importer, { name: "Streaming_History_Audio_2023.json", mimeType: "application/json", buffer });
    assert.equal(await startOutcome(importer), "Import started.");
    const stages = Object.keys(await stagedChunks(importer)).filter((s) => !(s in stagedBefore));
    const task = await firstTask(pages);
    await within(20_000, "some progress", async () => (await recordsOf(pages, task.id)) > 2_000);
    // Ask from one tab, confirm from another: the deletion is applied in the writer's order.
    await asker.$eval(`[data-testid=session][data-session-id="${session}"] [data-testid=delete-session]`, (b) => b.click());
    let question;
    await within(5_000, "the question shows in the confirming tab", async () => {
      question = await confirmer.$$eval(
        "[data-testid=question]",
        (qs) => qs.find((q) => q.querySelector("strong")?.textContent === "Doomed")?.dataset.questionId,
      );
      return Boolean(question);
    });
    const at = await recordsOf(pages, task.id);
    await confirmer.$eval(`[data-testid=question][data-question-id="${question}"] [data-testid=answer-yes]`, (b) => b.click());
    const confirmed = performance.now();
    await within(10_000, "the session and its task gone from every tab", async () => {
      const listed = await Promise.all(pages.map(sessions));
      const rows = await Promise.all(pages.map(tasks));
      return listed.every((l) => !l.some(([id]) => id === session)) && rows.every((r) => !r.some((t) => t.id === task.id));
    });
    console.log(
      `# deleted at ${at} of ${texts.length} records: gone from every tab ${(performance.now() - confirmed).toFixed(0)} ms after the confirmation (stage ${stages.join(", ")})`,
    );
    assert.ok(at < texts.length, "deleted while the import still ran");
    for (const check of ["at once", "2 s later"]) {
      if (check !== "at once") await new Promise((r) => setTimeout(r, 2_000));
      const stored = await storedMessages(pages[0], session);
      assert.equal(stored.texts.length, 0, `${check}: ${stored.texts.length} messages of the deleted session in the store`);
      const staged = await stagedChunks(pages[0]);
      for (const stage of stages) assert.ok(!(stage in staged), `${check}: ${staged[stage]} chunks of the deleted session's stage still staged`);
      assert.deepEqual(staged, {}, `${check}: the staging store is empty`);
      assert.ok(!(await metaKeys(pages[0])).includes(`task:${task.id}`), `${check}: the task's record is gone`);
    }
    // The other session is untouched, and the app still works.
    assert.ok((await sessions(pages[0])).some(([id]) => id === keep));
    console.log("# the store holds no message, no staged chunk and no task record of it, at once and 2 s later");
  });
});

test("two tabs import into their own sessions at the same moment: both finish, each record once in its own session", async () => {
  await fresh(async (env) => {
    const { pages } = await tabs(env, 2);
    const sessionA = await createSession(pages[0], "Tab A's import");
    const sessionB = await createSession(pages[1], "Tab B's import");
    await openSession([pages[0]], sessionA);
    await openSession([pages[1]], sessionB);
    const fileA = streamingHistory(3 * MiB, 11);
    const linesB = chatLines(40_000, "tab-b");
    const files = [
      { name: "Streaming_History_A.json", mimeType: "application/json", buffer: fileA.buffer },
      { name: "notes-b.md", mimeType: "text/markdown", buffer: Buffer.from(linesB.join("\r\n")) },
    ];
    const start = performance.now();
    await Promise.all([pick(pages[0], files[0]), pick(pages[1], files[1])]);
    const said = await Promise.all(pages.map((p) => startOutcome(p)));
    assert.deepEqual(said, ["Import started.", "Import started."]);
    const [taskA, taskB] = await Promise.all(pages.map((p) => firstTask([p])));
    const ends = await Promise.all(
      [
        [pages[0], taskA],
        [pages[1], taskB],
      ].map(async ([page, task]) => {
        const [row] = await taskIn([page], task.id, ["done", "failed", "cancelled"], 50_000);
        return { row, ms: performance.now() - start };
      }),
    );
    for (const { row } of ends) assert.equal(row.state, "done", JSON.stringify(row));
    assert.equal(ends[0].row.records, fileA.texts.length);
    assert.equal(ends[1].row.records, linesB.length);
    console.log(
      `# at once: ${(files[0].buffer.length / MiB).toFixed(2)} MiB JSON (${fileA.texts.length} records) done in ${(ends[0].ms / 1000).toFixed(1)} s, ${(files[1].buffer.length / MiB).toFixed(2)} MiB Markdown (${linesB.length} lines) done in ${(ends[1].ms / 1000).toFixed(1)} s`,
    );
    // Each tab sees the other's import done too.
    await openSession([pages[0]], sessionB);
    await openSession([pages[1]], sessionA);
    await taskIn([pages[1]], taskA.id, ["done"], 5_000);
    await taskIn([pages[0]], taskB.id, ["done"], 5_000);
    await assertStored(pages[0], sessionA, fileA.texts, "session A");
    await assertStored(pages[1], sessionB, linesB, "session B");
  });
});

test("malformed files: the import fails at the bad record, says which and why, and keeps every record before it", async () => {
  await fresh(async (env) => {
    const { pages } = await tabs(env, 2);
    const [page, other] = pages;
    // Each case: its file, how many good records come first, and what the error should say.
    const good = chatLines(4_000, "good");
    const history = streamingHistory(400_000, 5);
    const cases = [
      {
        title: "Bad byte",
        // Good lines (some blank, some padded with spaces, which are trimmed and skipped),
        // then a line with a byte that is not UTF-8, then more good lines.
        file: {
          name: "bad-byte.txt",
          mimeType: "text/plain",
          buffer: Buffer.concat([
            Buffer.from(good.map((l, i) => (i % 100 === 0 ? `\n   ${l}  ` : l)).join("\n") + "\n"),
            Buffer.from("this line has a bad byte here: "),
            Buffer.from([0xff, 0xfe]),
            Buffer.from(" and goes on\n" + chatLines(500, "after").join("\n") + "\n"),
          ]),
        },
        kept: good,
        reason: /UTF-8/,
      },
      {
        title: "Broken element",
        file: {
          name: "broken-element.json",
          mimeType: "application/json",
          buffer: Buffer.from(
            `[${history.texts.join(",")},{"ts":"2024-12-31T23:59:59Z","ms_played": ,"master_metadata_track_name":"x"},${history.texts.slice(0, 50).join(",")}]`,
          ),
        },
        kept: history.texts,
        reason: /not valid JSON/,
      },
      {
        title: "Cut in a record",
        file: {
          name: "cut-short.json",
          mimeType: "application/json",
          buffer: Buffer.from(`[${history.texts.join(",")},${history.texts[0].slice(0, 60)}`),
        },
        kept: history.texts,
        reason: /ends in the middle of a record/,
      },
      {
        title: "Never closed",
        file: {
          name: "never-closed.json",
          mimeType: "application/json",
          buffer: Buffer.from(`[${history.texts.join(",")}`),
        },
        kept: history.texts,
        reason: /ends before its JSON array is closed/,
      },
    ];
    for (const c of cases) {
      const session = await createSession(page, c.title);
      await openSession(pages, session);
      await pick(page, c.file);
      assert.equal(await startOutcome(page), "Import started.", c.title);
      const task = await firstTask([page]);
      const rows = await taskIn(pages, task.id, ["done", "failed", "cancelled"], 20_000);
      for (const row of rows) {
        assert.equal(row.state, "failed", `${c.title}: ${JSON.stringify(row)}`);
        assert.equal(row.records, c.kept.length, `${c.title}: records kept`);
        assert.match(row.error, new RegExp(`^stopped at record ${c.kept.length + 1}: `), c.title);
        assert.match(row.error, c.reason, c.title);
        assert.equal(row.cancel, false, `${c.title}: no cancel button once failed`);
      }
      await assertStored(other, session, c.kept, c.title);
      console.log(`# ${c.title} (${c.file.name}, ${(c.file.buffer.length / 1024).toFixed(0)} KiB): “${rows[0].error}”, ${rows[0].progress}`);
    }
    assert.deepEqual(await stagedChunks(page), {}, "every failed import's staged file is removed");
  });
});

test("cancel from another tab: cancelled in every tab, the records before kept, nothing lands after", async () => {
  await fresh(async (env) => {
    const { pages, leader } = await tabs(env, 3);
    const [starter, canceller] = [1, 2].map((k) => pages[(leader + k) % 3]);
    const session = await createSession(starter, "Cancelled import");
    await openSession(pages, session);
    // Long enough that the import still runs when the click lands (the leader commits a
    // 6 MiB file in about 2 s).
    const { texts, buffer } = streamingHistory(16 * MiB, 7);
    await pick(starter, { name: "Streaming_History_Video.json", mimeType: "application/json", buffer });
    assert.equal(await startOutcome(starter), "Import started.");
    const task = await firstTask(pages);
    await within(20_000, "some progress", async () => (await recordsOf(pages, task.id)) > 1_000);
    // Pressed as a person does: Playwright's click waits for the button to be visible, stable
    // and hit, then presses and releases the mouse on it.
    const button = canceller.locator(`[data-testid=task][data-task-id="${task.id}"] [data-testid=cancel-task]`);
    let pressed = null;
    const tried = performance.now();
    try {
      await button.click({ timeout: 5_000 });
      pressed = "clicked";
    } catch (e) {
      pressed = String(e)
        // Without the terminal's colour codes.
        .replace(/\x1b\[[0-9;]*m/g, "")
        .split("\n")
        .filter((l) => /detached|stable|Timeout/.test(l))
        .map((l) => l.trim())
        .slice(0, 3)
        .join(" | ");
    }
    console.log(`# Playwright's click on Cancel (${((performance.now() - tried) / 1000).toFixed(1)} s): ${pressed}`);
    const at = await recordsOf(pages, task.id);
    if (pressed !== "clicked") {
      // The rest of the test still checks what a cancel does: the button found and clicked in
      // one task of the page (the failure above is reported at the end).
      await canceller.evaluate((id) => document.querySelector(`[data-testid=task][data-task-id="${id}"] [data-testid=cancel-task]`).click(), task.id);
    }
    const cancelled = performance.now();
    const rows = await taskIn(pages, task.id, ["done", "failed", "cancelled"], 10_000);
    const ms = performance.now() - cancelled;
    for (const row of rows) {
      assert.equal(row.state, "cancelled", JSON.stringify(row));
      assert.equal(row.records, rows[0].records, "every tab says the same");
      assert.equal(row.cancel, false);
    }
    const kept = rows[0].records;
    console.log(`# cancel pressed at ${at} records shown; cancelled in every tab ${ms.toFixed(0)} ms later with ${kept} of ${texts.length} records kept (“${rows[0].progress}”)`);
    assert.ok(kept >= at && kept < texts.length);
    for (const check of ["at once", "2 s later", "4 s later"]) {
      if (check !== "at once") await new Promise((r) => setTimeout(r, 2_000));
      await assertStored(pages[0], session, texts.slice(0, kept), `${check}`);
      for (const page of pages) {
        const [row] = (await tasks(page)).filter((t) => t.id === task.id);
        assert.deepEqual([row.state, row.records], ["cancelled", kept], check);
      }
    }
    assert.deepEqual(await stagedChunks(pages[0]), {}, "the cancelled import's staged file is removed");
    assert.equal(
      pressed,
      "clicked",
      "a person's click on Cancel never landed within 5 s: the button is replaced (detached and drawn again) at every batch of the running import",
    );
  });
});

test("a file staged by a tab that died before its import started is swept by the leader; a live tab's is kept", async () => {
  await fresh(async (env) => {
    const pages = await openTabs(env.context, env.url, 3);
    const ids = await Promise.all(pages.map(tabId));
    const leader = await leaderOf(pages, ids, 10_000);
    const rest = pages.filter((_, i) => i !== leader);
    const restIds = ids.filter((_, i) => i !== leader);
    // Staged as the app stages (`<tab id>.<n>`, chunk by chunk): one by a tab that is gone,
    // one by each tab that stays open (its import may be on its way: the next leader's own and
    // a peer's), one not named as the app names.
    const dead = "0123456789abcdef0123456789abcdef.1";
    const live = restIds.map((id) => `${id}.7`);
    const foreign = "not-a-stage";
    await pages[0].evaluate(
      (stages) =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open("conclave:store");
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const tx = open.result.transaction("staging", "readwrite");
            for (const stage of stages) for (let i = 0; i < 3; i++) tx.objectStore("staging").put(new Uint8Array([i]), [stage, i]);
            tx.oncomplete = () => {
              open.result.close();
              resolve();
            };
            tx.onerror = () => reject(tx.error);
          };
        }),
      [dead, ...live, foreign],
    );
    const kept = { [live[0]]: 3, [live[1]]: 3, [foreign]: 3 };
    assert.deepEqual(await stagedChunks(pages[0]), { ...kept, [dead]: 3 });
    // The leader sweeps 5 s after it starts writing; a new leader, to be sure it comes after
    // the planting: the first closes.
    await pages[leader].close();
    await leaderOf(rest, restIds, 10_000);
    const swept = await within(15_000, "the dead tab's file swept", async () => !((await stagedChunks(rest[0]))[dead] > 0));
    console.log(`# the orphaned file was swept ${(swept / 1000).toFixed(1)} s after the new leader was found`);
    assert.deepEqual(await stagedChunks(rest[0]), kept, "the live tabs' and the foreign stage are kept");
  });
});
