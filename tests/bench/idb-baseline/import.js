// The baseline beside the app's imports (tests/bench/imports.mjs): a plain import loop in one
// tab, with no coordination (no BroadcastChannel, no Web Locks, no leader, nothing drawn). When
// a file is picked in the page's input, it reads the File in slices of 64 KiB, finds the JSON
// array's elements with a streaming byte scan (the same one conclave-core's import runs:
// `value_end` in crates/core/src/data/import.rs), checks each is UTF-8 and valid JSON, and
// writes them into IndexedDB as a session's messages, in the app's record shape (key
// `[session, order]`, value `{ session, order, message: { id, text } }`), in batches of at most
// 24 KiB of text within one slice, one strict readwrite transaction per batch holding its
// messages and the import's progress, each waited for before the next (as the app's leader
// commits them). Nothing is staged first: the app copies the file into its store before it
// starts, this loop does not.
//
// Exposes `window.__importBaseline` once its database is open; its `result` is a promise once
// a file was picked, resolving to { start, end, records, bytes, commits } (wall-clock ms: from
// the `change` event to the last commit).

/** conclave-core's `import::CHUNK_BYTES`: the slice read at a time. */
const CHUNK_BYTES = 64 * 1024;
/** conclave-core's `import::BATCH_RECORD_BYTES`: a batch's text stays under it. */
const BATCH_RECORD_BYTES = 24 * 1024;

const now = () => performance.timeOrigin + performance.now();

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Resolves when `tx` has committed (its `complete` event), rejects on abort or error. */
function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error("aborted"));
    tx.onerror = () => reject(tx.error);
  });
}

function open(name) {
  const req = indexedDB.open(name, 1);
  req.onupgradeneeded = () => {
    req.result.createObjectStore("messages");
    req.result.createObjectStore("meta");
  };
  return request(req);
}

const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
/** Ids shaped as the app's: a 32-hex-digit tab id, a dot, a number. */
const SESSION = `${hex(crypto.getRandomValues(new Uint8Array(16)))}.1`;
const IMPORTER = hex(crypto.getRandomValues(new Uint8Array(16)));

const [SPACE, TAB, LF, CR, COMMA, QUOTE, BACKSLASH, OPEN_SQ, CLOSE_SQ, OPEN_CURLY, CLOSE_CURLY] = [
  0x20, 0x09, 0x0a, 0x0d, 0x2c, 0x22, 0x5c, 0x5b, 0x5d, 0x7b, 0x7d,
];
const isSpace = (b) => b === SPACE || b === TAB || b === LF || b === CR || b === 0x0c;

/** Where the JSON value starting at `start` ends (exclusive), or -1 if `input` ends first. */
function valueEnd(input, start) {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = start; i < input.length; i++) {
    const b = input[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (b === BACKSLASH) escaped = true;
      else if (b === QUOTE) {
        inString = false;
        if (depth === 0) return i + 1;
      }
      continue;
    }
    if (b === QUOTE) inString = true;
    else if (b === OPEN_SQ || b === OPEN_CURLY) depth++;
    else if ((b === CLOSE_SQ || b === CLOSE_CURLY) && depth > 0) {
      depth--;
      if (depth === 0) return i + 1;
    } else if (depth === 0 && (b === COMMA || b === CLOSE_SQ || b === CLOSE_CURLY || isSpace(b))) return i;
  }
  return -1;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The elements of a JSON array in `input` (the carry, then a slice), from `state` ("before"
 * the `[`, "inside", "after" the `]`): { records, carry, state }; throws at a bad record.
 */
function parse(state, input, last) {
  const records = [];
  let at = 0;
  for (;;) {
    while (at < input.length && (isSpace(input[at]) || (state === "inside" && input[at] === COMMA))) at++;
    if (at === input.length) {
      if (last && state !== "after") throw new Error("the file ends before its JSON array is closed");
      return { records, carry: new Uint8Array(0), state };
    }
    if (state === "before") {
      if (input[at] !== OPEN_SQ) throw new Error("the file is not a JSON array");
      state = "inside";
      at++;
    } else if (state === "after") {
      throw new Error("the file goes on after its JSON array");
    } else if (input[at] === CLOSE_SQ) {
      state = "after";
      at++;
    } else {
      const end = valueEnd(input, at);
      if (end < 0) {
        if (last) throw new Error("the file ends in the middle of a record");
        return { records, carry: input.slice(at), state };
      }
      const text = utf8.decode(input.subarray(at, end));
      JSON.parse(text); // Valid JSON, as the app checks each record.
      records.push({ text, bytes: end - at });
      at = end;
    }
  }
}

/** Imports `file` into the session; resolves to what it did. */
async function importFile(db, file, start) {
  const chunks = Math.max(1, Math.ceil(file.size / CHUNK_BYTES));
  let carry = new Uint8Array(0);
  let state = "before";
  let records = 0;
  let commits = 0;
  for (let chunk = 0; chunk < chunks; chunk++) {
    const bytes = new Uint8Array(await file.slice(chunk * CHUNK_BYTES, (chunk + 1) * CHUNK_BYTES).arrayBuffer());
    const input = new Uint8Array(carry.length + bytes.length);
    input.set(carry);
    input.set(bytes, carry.length);
    const into = { carry: Array.from(carry), json: state };
    const parsed = parse(state, input, chunk + 1 === chunks);
    carry = parsed.carry;
    state = parsed.state;
    // Batches of at most BATCH_RECORD_BYTES of text (at least one record), within the slice.
    let i = 0;
    while (i < parsed.records.length) {
      const batch = [];
      let size = 0;
      while (i < parsed.records.length && (size === 0 || size + parsed.records[i].bytes <= BATCH_RECORD_BYTES)) {
        size += Math.max(1, parsed.records[i].bytes);
        batch.push(parsed.records[i++].text);
      }
      const tx = db.transaction(["messages", "meta"], "readwrite", { durability: "strict" });
      const messages = tx.objectStore("messages");
      for (const text of batch) {
        const order = records++;
        messages.put({ session: SESSION, order, message: { id: `${IMPORTER}.${order + 1}`, text } }, [SESSION, order]);
      }
      const last = chunk + 1 === chunks && i === parsed.records.length;
      tx.objectStore("meta").put(
        {
          task: { session: SESSION, name: file.name, chunks, bytes: file.size, chunks_done: i === parsed.records.length ? chunk + 1 : chunk, records, state: last ? "done" : "running" },
          cursor: { chunk, skip: i, ...into, records },
        },
        "task:baseline",
      );
      tx.objectStore("meta").put(++commits, "rev");
      await done(tx);
    }
  }
  return { start, end: now(), records, bytes: file.size, commits };
}

const db = await open("import-baseline");

window.__importBaseline = { result: null, session: SESSION };
document.getElementById("file").addEventListener("change", (event) => {
  const start = now();
  const file = event.target.files[0];
  if (file && !window.__importBaseline.result) window.__importBaseline.result = importFile(db, file, start);
});
