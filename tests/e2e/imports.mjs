// Importing a file into the served app's open session, as the end-to-end test of imports
// (imports.test.mjs) and the imports benchmark (tests/bench/imports.mjs) both do: the files they
// import (a streaming-history JSON export, the same bytes every run), the pick, and what the
// tabs say of the import while it runs; and the leader's renderer crashed mid-import.
import { within } from "./browser.mjs";
import { tasks } from "./app.mjs";

/** A small deterministic random number generator (same file every run). */
export function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const ARTISTS = [
  ["Beyoncé", "RENAISSANCE", "CUFF IT"],
  ["Sigur Rós", "( )", "Untitled #1 - Vaka"],
  ["坂本龍一", "async", "andata"],
  ["Mötley Crüe", "Dr. Feelgood", "Kickstart My Heart"],
  ["The Beatles", "Abbey Road", "Here Comes The Sun - Remastered 2009"],
  ["Daft Punk", "Random Access Memories", "Get Lucky (feat. Pharrell Williams & Nile Rodgers)"],
  ["Rosalía", "MOTOMAMI", "SAOKO"],
  ["Nina Simone", "I Put a Spell on You", "Feeling Good"],
  ["AC/DC", "Back In Black", "You Shook Me All Night Long"],
  ["Queen", "A Night at the Opera", 'Bohemian Rhapsody "Live Aid" 🎸'],
  ["Stromae", "Racine carrée", "Papaoutai"],
  ["Björk", "Homogenic", "Jóga"],
];

/**
 * A streaming history like a music service's export: records until the JSON array passes
 * `bytes`. Returns { records, buffer }: `buffer` is `JSON.stringify(records)`, so each
 * record's text, as imported, is `JSON.stringify(record)`.
 */
export function streamingHistory(bytes, seed = 1) {
  const rand = random(seed);
  const records = [];
  let size = 2;
  let ts = Date.UTC(2024, 0, 1);
  while (size < bytes) {
    const [artist, album, track] = ARTISTS[Math.floor(rand() * ARTISTS.length)];
    ts += Math.floor(rand() * 400_000);
    const ms = Math.floor(rand() * 300_000);
    const record = {
      ts: new Date(ts).toISOString().replace(/\.\d+Z$/, "Z"),
      platform: rand() < 0.5 ? "android" : "OS X 14.2.1 [arm 2]",
      ms_played: ms,
      conn_country: "FR",
      master_metadata_track_name: track,
      master_metadata_album_artist_name: artist,
      master_metadata_album_album_name: album,
      spotify_track_uri: `spotify:track:${Math.floor(rand() * 2 ** 48).toString(36).padStart(10, "0")}`,
      episode_name: null,
      reason_start: rand() < 0.7 ? "trackdone" : "clickrow",
      reason_end: ms > 30_000 ? "trackdone" : "fwdbtn",
      shuffle: rand() < 0.4,
      skipped: ms < 30_000,
      offline: false,
      offline_timestamp: Math.floor(ts / 1000),
      incognito_mode: false,
    };
    records.push(record);
    size += JSON.stringify(record).length + 1;
  }
  return { records, texts: records.map((r) => JSON.stringify(r)), buffer: Buffer.from(JSON.stringify(records)) };
}

/** This tab's import status. */
export function importStatus(page) {
  return page.$eval("[data-testid=import-status]", (p) => p.textContent);
}

/** Waits until `page`'s import status says how the start went (started or not); returns it. */
export async function startOutcome(page, bound = 30_000) {
  let said = "";
  await within(bound, "the import status says how the start went", async () => {
    said = await importStatus(page);
    return said === "Import started." || said.startsWith("Not started");
  });
  return said;
}

/** Picks `file` in `page`'s import input (the open session). */
export function pick(page, file) {
  return page.getByTestId("import-file").setInputFiles(file);
}

/** Waits until every page lists task `id` in a state in `states`; resolves to each page's row. */
export async function taskIn(pages, id, states, bound) {
  let rows;
  await within(bound, `task ${id} ${states.join("/")} in every tab`, async () => {
    rows = await Promise.all(pages.map(async (p) => (await tasks(p)).find((t) => t.id === id)));
    return rows.every((r) => r && states.includes(r.state));
  });
  return rows;
}

/** Waits until some page lists a task of its open session; resolves to it (the first). */
export async function firstTask(pages, bound = 15_000) {
  let task;
  await within(bound, "a task listed", async () => {
    for (const p of pages) {
      task = (await tasks(p))[0];
      if (task) return true;
    }
    return false;
  });
  return task;
}

/** The most records any page shows for task `id`. */
export async function recordsOf(pages, id) {
  const rows = await Promise.all(pages.map(async (p) => (await tasks(p)).find((t) => t.id === id)));
  return Math.max(...rows.map((r) => r?.records ?? 0));
}

/** Crashes `page`'s renderer, as workspace.test.mjs does (`env.context` holds it). */
export async function crash(env, page) {
  const cdp = await env.context.newCDPSession(page);
  cdp.send("Page.crash").catch(() => {});
  await new Promise((r) => setTimeout(r, 100));
  await page.close().catch(() => {});
}
