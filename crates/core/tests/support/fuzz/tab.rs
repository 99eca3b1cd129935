//! The checks that run a tab ([`Page`]): what other tabs send it, a file it imports, and a
//! durable store it loads.

use std::collections::BTreeMap;

use conclave_core::data::store::{Image, MessageRecord, SessionRecord, TaskRecord};
use conclave_core::data::{Cursor, Format, ItemId, Message, Task, TaskState};
use conclave_core::{auth, Lifecycle, Received, TabId, MAX_SAFE_INTEGER};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::page::{Page, KEY_ITEM};
use super::{utf8, KEY};

/// The tab every check runs.
pub const ME: TabId = TabId::from_bytes([0x11; 16]);
/// Another tab: the one that sends, or that started an import.
pub const OTHER: TabId = TabId::from_bytes([0x22; 16]);

/// The most time an `engine` input may let pass, in ms.
pub const ENGINE_MS: u64 = 600_000;
/// The most time one line of an `engine` input may let pass, in ms.
const LINE_MS: u64 = 60_000;

/// `engine` — input: a script, one command a line, for a tab that holds the key. The first
/// line says how it starts: `leader` (it leads, the store claimed), `nokey` (no key yet: its
/// bootstrap window is open), anything else (it follows; another tab holds the leader lock).
/// Then:
/// - `s <payload>`: another tab sends `payload`, signed with the key (so that it reaches the
///   decoder and the protocol); `h <payload>`: the same on the heir's channel; `r <text>`:
///   `text` arrives as it is; `n`: something not a string arrives; `o`: a string too long;
/// - `t <ms>`: time passes (at most a minute a line, ten minutes an input);
/// - `b <key> <text>`: another page writes a `localStorage` item (a backup, the stored term…);
/// - `f <stage> <index> <bytes>`: a chunk of a file staged for import;
/// - `l <0-5>`: the page turns visible, hidden, frozen, resumed, closing, restored;
/// - `w <ms>`: the wall clock is set to read `ms` since the Unix epoch (it starts at 0);
/// - `g`: the tab holding the leader lock lets go of it; `k`: the shared key is written.
///
/// Every message is accounted for once, and every text the tab posts its peers read
/// ([`Page`]).
pub fn engine(data: &[u8]) {
    let mut lines = data.split(|&b| b == b'\n');
    let mut page = match lines.next().unwrap_or_default() {
        b"leader" => Page::leading(ME, Image::default(), BTreeMap::new()),
        b"nokey" => Page::open(ME, None, true, Image::default()),
        _ => Page::open(ME, Some(KEY), false, Image::default()),
    };
    let mut budget = ENGINE_MS;
    for line in lines {
        run_line(&mut page, line, &mut budget);
    }
}

/// Carries out one line of an `engine` script; `budget` is the time still allowed to pass.
pub fn run_line(page: &mut Page, line: &[u8], budget: &mut u64) {
    let Some((&command, rest)) = line.split_first() else {
        return;
    };
    let arg = rest.strip_prefix(b" ").unwrap_or(rest);
    match command {
        b's' | b'h' => {
            if let Some(payload) = utf8(arg) {
                let text = auth::seal(payload.to_owned(), Some(&KEY));
                page.receive(Received::Text(&text), command == b'h');
            }
        }
        b'r' => {
            if let Some(text) = utf8(arg) {
                page.receive(Received::Text(text), false);
            }
        }
        b'n' => page.receive(Received::NotText, false),
        b'o' => page.receive(Received::Oversized, false),
        b't' => {
            let ms = utf8(arg)
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(0u64)
                .min(LINE_MS)
                .min(*budget);
            *budget -= ms;
            page.run_for(ms);
        }
        b'b' => {
            if let Some((key, text)) = utf8(arg).and_then(|arg| arg.split_once(' ')) {
                page.store_item(key, text);
            }
        }
        b'f' => {
            let mut parts = arg.splitn(3, |&b| b == b' ');
            let stage = parts.next().and_then(utf8);
            let index = parts.next().and_then(utf8).and_then(|i| i.parse().ok());
            if let (Some(stage), Some(index)) = (stage, index) {
                let bytes = parts.next().unwrap_or_default().to_vec();
                page.staged.insert((stage.to_owned(), index), bytes);
            }
        }
        b'l' => {
            let change = match arg.first() {
                Some(b'0') => Lifecycle::Visible,
                Some(b'1') => Lifecycle::Hidden,
                Some(b'2') => Lifecycle::Frozen,
                Some(b'3') => Lifecycle::Resumed,
                Some(b'4') => Lifecycle::Closing,
                Some(b'5') => Lifecycle::Restored,
                _ => return,
            };
            page.lifecycle(change);
        }
        b'w' => {
            if let Some(wall) = utf8(arg).and_then(|wall| wall.parse().ok()) {
                page.set_wall_clock(wall);
            }
        }
        b'g' => page.free_leader_lock(),
        b'k' => page.store_item(KEY_ITEM, &KEY.to_hex()),
        _ => {}
    }
}

/// The session an `import` check imports into, and its import.
pub const SESSION: ItemId = ItemId {
    tab: OTHER,
    number: 1,
};
pub const TASK: ItemId = ItemId {
    tab: OTHER,
    number: 2,
};
/// Where an `import` check's file is staged.
pub const STAGE: &str = "stage";

/// At most this many chunks per cut file: each is a commit, and a fuzzer wants short runs.
const MAX_PIECES: usize = 16;

/// `import` — input: a byte of flags (bit 0: the file is JSON, not lines), a byte `n`, then
/// `n % 8 + 1` bytes of chunk sizes (each byte `b` is `b + 1` bytes, taken in turn; at most
/// 16 chunks), and the file. A leader imports the file from its store, as a new leader resumes
/// an import: staged in one chunk, and again cut into chunks of those sizes (when that makes
/// more than one). The import ends, and its messages (ids and texts, in order) and how it ends
/// are the same whichever way the file was cut.
pub fn import(data: &[u8]) {
    let [flags, n, rest @ ..] = data else { return };
    let n = usize::from(n % 8) + 1;
    if rest.len() < n {
        return;
    }
    let (sizes, file) = rest.split_at(n);
    let format = if flags & 1 == 0 {
        Format::Lines
    } else {
        Format::Json
    };
    let whole = imported(format, &[file]);
    let floor = file.len().div_ceil(MAX_PIECES);
    let mut pieces = Vec::new();
    let mut left = file;
    for &size in sizes.iter().cycle() {
        if left.is_empty() {
            break;
        }
        let (piece, after) = left.split_at((usize::from(size) + 1).max(floor).min(left.len()));
        pieces.push(piece);
        left = after;
    }
    if pieces.len() > 1 {
        assert_eq!(imported(format, &pieces), whole, "cut as {pieces:?}");
    }
}

/// What a leader imports of `pieces` (a file's staged chunks), resuming the import from its
/// store: the messages in order, and how the import ended.
fn imported(format: Format, pieces: &[&[u8]]) -> (Vec<Message>, TaskState) {
    let task = Task {
        id: TASK,
        session: SESSION,
        name: "file".to_owned(),
        format,
        stage: STAGE.to_owned(),
        chunks: pieces.len() as u64,
        bytes: pieces.iter().map(|p| p.len() as u64).sum(),
        chunks_done: 0,
        records: 0,
        state: TaskState::Running,
    };
    let image = Image {
        rev: 1,
        sessions: vec![SessionRecord {
            id: SESSION,
            title: "imports".to_owned(),
            created: 1,
        }],
        tasks: vec![TaskRecord {
            task,
            cursor: Cursor::default(),
        }],
        ..Image::default()
    };
    let staged = pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| ((STAGE.to_owned(), i as u64), piece.to_vec()))
        .collect();
    let mut page = Page::leading(ME, image, staged);
    let state = |page: &Page| {
        page.image
            .tasks
            .iter()
            .find(|r| r.task.id == TASK)
            .map(|r| r.task.state.clone())
    };
    for _ in 0..10 {
        if state(&page) != Some(TaskState::Running) {
            break;
        }
        page.run_for(1_000);
    }
    let state = state(&page).unwrap_or_else(|| panic!("the import's task is gone"));
    assert_ne!(state, TaskState::Running, "the import stalled");
    // Every chunk is staged: an import that could not read one never reached the parser.
    let unread = matches!(&state, TaskState::Failed { reason, .. } if reason.contains("staged"));
    assert!(
        !unread,
        "the import could not read its staged file: {state:?}"
    );
    let mut messages: Vec<&MessageRecord> = page
        .image
        .messages
        .iter()
        .filter(|m| m.session == SESSION)
        .collect();
    messages.sort_by_key(|m| m.order);
    let messages = messages.into_iter().map(|m| m.message.clone()).collect();
    (messages, state)
}

/// `store` — input: what the durable store holds, as JSON: `{"rev": n, "sessions": [..],
/// "messages": [..], "ledgers": [..], "questions": [..], "drafts": [..], "tasks": [..],
/// "staged": {"<stage>": ["<chunk>", ..]}}`, each record in its stored form, read as the
/// driver reads the store (`crates/web/src/store.rs`): a record that does not decode is left
/// out. A follower loads it; a leader claims it, resumes its imports and serves for a while.
/// Neither panics, and each keeps its promises ([`Page`]).
pub fn store(data: &[u8]) {
    let Ok(Value::Object(stored)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let image = Image {
        rev: stored
            .get("rev")
            .and_then(Value::as_u64)
            .filter(|&rev| rev <= MAX_SAFE_INTEGER)
            .unwrap_or(0),
        sessions: records(&stored, "sessions"),
        messages: records(&stored, "messages"),
        ledgers: records(&stored, "ledgers"),
        questions: records(&stored, "questions"),
        resolved: records(&stored, "resolved"),
        drafts: records(&stored, "drafts"),
        tasks: records(&stored, "tasks"),
        ..Image::default()
    };
    let mut staged = BTreeMap::new();
    if let Some(Value::Object(stages)) = stored.get("staged") {
        for (stage, chunks) in stages {
            for (i, chunk) in chunks.as_array().into_iter().flatten().enumerate() {
                let bytes = chunk.as_str().unwrap_or_default().as_bytes().to_vec();
                staged.insert((stage.clone(), i as u64), bytes);
            }
        }
    }
    let mut follower = Page::open(ME, Some(KEY), false, image.clone());
    follower.run_for(5_000);
    let mut leader = Page::leading(ME, image, staged);
    leader.run_for(30_000);
}

/// The records stored under `name` that decode as `T`.
fn records<T: DeserializeOwned>(stored: &Map<String, Value>, name: &str) -> Vec<T> {
    stored
        .get(name)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|record| T::deserialize(record).ok())
        .collect()
}
