//! Carries out the engine's [`StoreOp`]s on IndexedDB ([`crate::idb`]): the sessions, their
//! messages and every tab's ledger, as structured JS values (through `serde-wasm-bindgen`),
//! each commit in one strict, fenced transaction.
//!
//! Layout (database `<channel>:store`, version 1): `sessions` keyed by session id;
//! `messages` keyed by `[session id, order]`, so that a session's messages are one key range;
//! `meta` holding `"fence"` (the highest term that claimed or wrote the store, as a string that
//! orders as terms do), `"rev"` (the store's revision), `"ledger:<tab id>"` (each tab's
//! ledger), `"question:<id>"` (each question waiting for an answer), `"resolved:<id>"` (each of
//! the latest questions resolved, with how) and
//! `"draft:<session id>:<tab id>"` (each recovered draft offered) and `"task:<id>"` (each
//! import, with where it goes on from); version 2 adds `staging`, keyed by `[stage, chunk]`:
//! the files staged for import, as bytes.

use conclave_core::data::store::{MessageRecord, Write};
use conclave_core::data::{Commit, Image, ItemId, Message, StoreError, StoreOp, StoreResult};
use conclave_core::{TabId, Term};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::idb::{self, Db, IdbError, Reading};

const SESSIONS: &str = "sessions";
const MESSAGES: &str = "messages";
const META: &str = "meta";
const LEDGER_PREFIX: &str = "ledger:";
const QUESTION_PREFIX: &str = "question:";
const RESOLVED_PREFIX: &str = "resolved:";
const DRAFT_PREFIX: &str = "draft:";
const TASK_PREFIX: &str = "task:";

/// The database name for `channel`.
pub fn database_name(channel: &str) -> String {
    format!("{channel}:store")
}

/// Runs `op` on `db` and says how it went.
pub async fn run(db: &Db, op: StoreOp) -> StoreResult {
    match op {
        StoreOp::Read => StoreResult::Read(read(db).await),
        StoreOp::Claim { term } => {
            let result = match db.commit(&fence(term), Vec::new()).await {
                Ok(()) => read(db).await,
                Err(error) => Err(store_error(error)),
            };
            StoreResult::Claimed { term, result }
        }
        StoreOp::ReadChunk { task, stage, index } => {
            let result = match db.read_chunk(&stage, index).await {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => Err(StoreError::Failed(format!(
                    "chunk {index} of the staged file is missing"
                ))),
                Err(error) => Err(store_error(error)),
            };
            StoreResult::Chunk {
                task,
                index,
                result,
            }
        }
        StoreOp::Commit(commit) => {
            let rev = commit.rev;
            let result = match writes(&commit) {
                Ok(writes) => db
                    .commit_after(&fence(commit.term), rev.saturating_sub(1), writes)
                    .await
                    .map_err(store_error),
                Err(error) => Err(error),
            };
            StoreResult::Committed { rev, result }
        }
    }
}

/// The fence string of `term`: 16 hex digits of its number, then its leader's 32, so that
/// strings order as terms do.
fn fence(term: Term) -> String {
    let leader = term.leader().unwrap_or(Term::ZERO_LEADER);
    format!("{:016x}{leader}", term.number())
}

/// The term a fence string names ([`Term::ZERO`] if it names none).
fn term_of(fence: &str) -> Term {
    let number = fence
        .get(..16)
        .and_then(|n| u64::from_str_radix(n, 16).ok());
    let leader = fence.get(16..).and_then(|l| l.parse::<TabId>().ok());
    match (number, leader) {
        (Some(number), Some(leader)) => Term::new(number, leader),
        _ => Term::ZERO,
    }
}

fn store_error(error: IdbError) -> StoreError {
    match error {
        IdbError::Fenced { stored, .. } => StoreError::Fenced {
            stored: term_of(&stored),
        },
        IdbError::Behind { stored, base } => StoreError::Behind { stored, base },
        IdbError::QuotaExceeded => StoreError::Full,
        other => StoreError::Failed(other.to_string()),
    }
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, StoreError> {
    serde_wasm_bindgen::to_value(value).map_err(|e| StoreError::Failed(e.to_string()))
}

fn draft_key(session: ItemId, from: TabId) -> JsValue {
    JsValue::from_str(&format!("{DRAFT_PREFIX}{session}:{from}"))
}

fn message_key(session: ItemId, order: f64) -> JsValue {
    let key = js_sys::Array::new();
    key.push(&JsValue::from_str(&session.to_string()));
    key.push(&JsValue::from_f64(order));
    key.into()
}

/// The IndexedDB writes of `commit`, its revision last.
fn writes(commit: &Commit) -> Result<Vec<idb::Write>, StoreError> {
    let mut out = Vec::with_capacity(commit.writes.len() + 1);
    for write in &commit.writes {
        match write {
            Write::PutSession(record) => out.push(idb::Write::Put {
                store: SESSIONS,
                key: JsValue::from_str(&record.id.to_string()),
                value: to_js(record)?,
            }),
            Write::DeleteSession(id) => {
                out.push(idb::Write::Delete {
                    store: SESSIONS,
                    key: JsValue::from_str(&id.to_string()),
                });
                out.push(idb::Write::DeleteRange {
                    store: MESSAGES,
                    lower: message_key(*id, 0.0),
                    upper: message_key(*id, f64::MAX),
                });
            }
            Write::PutMessage(record) => out.push(idb::Write::Put {
                store: MESSAGES,
                // Orders stay far below 2^53, where an f64 is exact.
                #[allow(clippy::cast_precision_loss)]
                key: message_key(record.session, record.order as f64),
                value: to_js(record)?,
            }),
            Write::PutLedger(record) => out.push(idb::Write::Put {
                store: META,
                key: JsValue::from_str(&format!("{LEDGER_PREFIX}{}", record.tab)),
                value: to_js(record)?,
            }),
            Write::PutQuestion(question) => out.push(idb::Write::Put {
                store: META,
                key: JsValue::from_str(&format!("{QUESTION_PREFIX}{}", question.id)),
                value: to_js(question)?,
            }),
            Write::DeleteQuestion(id) => out.push(idb::Write::Delete {
                store: META,
                key: JsValue::from_str(&format!("{QUESTION_PREFIX}{id}")),
            }),
            Write::PutResolved(resolved) => out.push(idb::Write::Put {
                store: META,
                key: JsValue::from_str(&format!("{RESOLVED_PREFIX}{}", resolved.question)),
                value: to_js(resolved)?,
            }),
            Write::DeleteResolved(id) => out.push(idb::Write::Delete {
                store: META,
                key: JsValue::from_str(&format!("{RESOLVED_PREFIX}{id}")),
            }),
            Write::PutDraft(draft) => out.push(idb::Write::Put {
                store: META,
                key: draft_key(draft.session, draft.from),
                value: to_js(draft)?,
            }),
            Write::DeleteDraft { session, from } => out.push(idb::Write::Delete {
                store: META,
                key: draft_key(*session, *from),
            }),
            Write::PutTask(record) => out.push(idb::Write::Put {
                store: META,
                key: JsValue::from_str(&format!("{TASK_PREFIX}{}", record.task.id)),
                value: to_js(record)?,
            }),
            Write::DeleteTask(id) => out.push(idb::Write::Delete {
                store: META,
                key: JsValue::from_str(&format!("{TASK_PREFIX}{id}")),
            }),
            Write::DeleteStage(stage) => out.push(idb::Write::DeleteRange {
                store: idb::STAGING,
                lower: idb::chunk_key(stage, 0),
                upper: idb::chunk_key(stage, u64::from(u32::MAX)),
            }),
        }
    }
    #[allow(clippy::cast_precision_loss)]
    out.push(idb::Write::Put {
        store: META,
        key: JsValue::from_str(idb::REV),
        value: JsValue::from_f64(commit.rev as f64),
    });
    Ok(out)
}

/// How many of each session's latest messages a read of the store takes: the others are read
/// as they are drawn ([`read_messages`]).
const WINDOW: u64 = 100;

/// The store as a tab reads it, in one read-only transaction: every session, every record of
/// `meta`, and of each session its number of messages and the latest [`WINDOW`] of them (so
/// that a store of tens of thousands of messages costs what its sessions' latest do), decoded
/// a page at a time as the pages arrive (each in a task of its own). A record that does not
/// decode (a foreign or corrupted one) is left out and reported on the console, never fatal.
async fn read(db: &Db) -> Result<Image, StoreError> {
    let mut image = Image::default();
    let mut skipped = 0usize;
    let reading = db
        .reading(&[SESSIONS, MESSAGES, META])
        .map_err(store_error)?;
    reading
        .pages(SESSIONS, |page| {
            decode_into(page, &mut image.sessions, &mut skipped);
        })
        .await
        .map_err(store_error)?;
    reading
        .pages(META, |page| decode_meta(page, &mut image, &mut skipped))
        .await
        .map_err(store_error)?;
    let ids: Vec<ItemId> = image.sessions.iter().map(|s| s.id).collect();
    for id in ids {
        let all = (message_key(id, 0.0), message_key(id, f64::MAX));
        let count = reading
            .count(MESSAGES, all.0, all.1)
            .await
            .map_err(store_error)?;
        image.counts.insert(id, count);
        let latest = message_values(&reading, id, count.saturating_sub(WINDOW), count).await?;
        for value in latest {
            decode_one(value, &mut image.messages, &mut skipped);
        }
    }
    if skipped > 0 {
        web_sys::console::warn_1(
            &format!("conclave: {skipped} records in the store did not decode and were skipped")
                .into(),
        );
    }
    Ok(image)
}

/// The values of the `messages` records of `session` at places `from..to`, in order, read in
/// `reading` (none for an empty range, which IndexedDB refuses).
async fn message_values(
    reading: &Reading<'_>,
    session: ItemId,
    from: u64,
    to: u64,
) -> Result<Vec<JsValue>, StoreError> {
    if from >= to {
        return Ok(Vec::new());
    }
    // Places stay far below 2^53, where an f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    let (lower, upper) = (
        message_key(session, from as f64),
        message_key(session, to as f64),
    );
    reading
        .range(MESSAGES, lower, upper)
        .await
        .map_err(store_error)
}

/// The messages of `session` at places `from..to`, in order: those the store has (fewer if the
/// session was deleted meanwhile). A record that does not decode ends the run there: what
/// follows it would not be at its place.
///
/// # Errors
///
/// [`StoreError::Failed`] if the read fails.
pub async fn read_messages(
    db: &Db,
    session: ItemId,
    from: u64,
    to: u64,
) -> Result<Vec<Message>, StoreError> {
    let reading = db.reading(&[MESSAGES]).map_err(store_error)?;
    let values = message_values(&reading, session, from, to).await?;
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        match serde_wasm_bindgen::from_value::<MessageRecord>(value) {
            Ok(record) if record.order == from + out.len() as u64 => out.push(record.message),
            _ => break,
        }
    }
    Ok(out)
}

/// Decodes a page of the `meta` store into `image`: the revision, the fence, and the records
/// by their keys' prefixes.
fn decode_meta(page: Vec<(JsValue, JsValue)>, image: &mut Image, skipped: &mut usize) {
    for (key, value) in page {
        let key = key.as_string().unwrap_or_default();
        if key == idb::REV {
            image.rev = idb::revision(Some(value)).unwrap_or(0);
        } else if key == idb::FENCE {
            image.fence = term_of(&value.as_string().unwrap_or_default());
        } else if key.starts_with(QUESTION_PREFIX) {
            decode_one(value, &mut image.questions, skipped);
        } else if key.starts_with(RESOLVED_PREFIX) {
            decode_one(value, &mut image.resolved, skipped);
        } else if key.starts_with(LEDGER_PREFIX) {
            decode_one(value, &mut image.ledgers, skipped);
        } else if key.starts_with(DRAFT_PREFIX) {
            decode_one(value, &mut image.drafts, skipped);
        } else if key.starts_with(TASK_PREFIX) {
            decode_one(value, &mut image.tasks, skipped);
        }
    }
}

fn decode_into<T: DeserializeOwned>(
    records: Vec<(JsValue, JsValue)>,
    out: &mut Vec<T>,
    skipped: &mut usize,
) {
    for (_, value) in records {
        decode_one(value, out, skipped);
    }
}

/// Decodes `value` into `out`, or counts it in `skipped`.
fn decode_one<T: DeserializeOwned>(value: JsValue, out: &mut Vec<T>, skipped: &mut usize) {
    match serde_wasm_bindgen::from_value(value) {
        Ok(record) => out.push(record),
        Err(_) => *skipped += 1,
    }
}
