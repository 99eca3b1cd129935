//! Importing a file into a session: the long task of the workspace.
//!
//! A tab stages the file in the browser's store, in chunks of [`CHUNK_BYTES`], and asks the
//! leader to import it ([`super::Op::Import`]). Starting is one check-and-create in the writer:
//! a session has at most one running task, and a second start is refused
//! ([`super::Refusal::TaskRunning`]). The leader then reads the staged chunks one by one, parses
//! each into records, and commits them as the session's messages *with the task's progress* in
//! one transaction, a batch of at most [`BATCH_RECORD_BYTES`] at a time. Progress is a
//! [`Cursor`]: the next chunk, how many records of it are already in, and the unparsed bytes
//! carried into it. A batch is applied only if the task's stored cursor is the one it was
//! parsed from, so a new leader resumes from the last committed batch: no record twice, none
//! skipped. Every record's message id is derived from the task and the record's position,
//! the same whichever leader imports it. Deleting the session, or cancelling, ends the task in
//! the writer's order: no batch lands after it.
//!
//! Formats: [`Format::Lines`] (text or Markdown: every non-empty line is a message) and
//! [`Format::Json`] (a JSON array: every element is a message, its JSON text). A record that
//! is not valid (not UTF-8, not JSON, longer than [`super::MAX_TEXT_BYTES`]) or a truncated
//! file stops the task with a clear error at that record; what came before it is kept.

use serde::{Deserialize, Serialize};

use super::model::{Change, ItemId, Message};
use super::MAX_TEXT_BYTES;
use crate::ids::TabId;

/// The size of a staged chunk, in bytes (the last one may be shorter).
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The largest file imported, in bytes.
pub const MAX_IMPORT_BYTES: u64 = 64 * 1024 * 1024;

/// A batch of imported records stays under this many bytes of text, so that the commit's
/// changes fit one channel message.
pub const BATCH_RECORD_BYTES: usize = 24 * 1024;

/// How a file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Text or Markdown: every non-empty line is a message.
    Lines,
    /// A JSON array: every element is a message (its JSON text).
    Json,
}

/// Where the parse of a JSON file stands at a record boundary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonState {
    /// Before the opening `[`.
    #[default]
    Before,
    /// Inside the array, between elements.
    Inside,
    /// After the closing `]`.
    After,
}

/// Where an import stands: what is in, and where to go on from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The next chunk to read.
    pub chunk: u64,
    /// How many records of (`carry` + that chunk) are already in.
    pub skip: u64,
    /// The bytes carried into that chunk: the start of a record the chunks before it did not
    /// finish.
    pub carry: Vec<u8>,
    /// For [`Format::Json`], the parse's state before `carry`.
    pub json: JsonState,
    /// Records imported so far.
    pub records: u64,
}

/// How a task stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TaskState {
    /// Importing.
    Running,
    /// Every record is in.
    Done,
    /// Stopped at a bad record (1-based) or a truncated file; the records before it are in.
    Failed {
        /// The record it stopped at.
        record: u64,
        /// Why.
        reason: String,
    },
    /// Cancelled by a tab; the records imported before are kept.
    Cancelled {
        /// The tab that cancelled it.
        by: TabId,
    },
}

/// An import into a session, as every tab sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// Its id: the request that started it.
    pub id: ItemId,
    /// The session it imports into.
    pub session: ItemId,
    /// The file's name, as picked.
    pub name: String,
    /// How the file is read.
    pub format: Format,
    /// Where the file is staged.
    pub stage: String,
    /// How many chunks are staged.
    pub chunks: u64,
    /// The file's size, in bytes.
    pub bytes: u64,
    /// Chunks fully read.
    pub chunks_done: u64,
    /// Records imported.
    pub records: u64,
    /// How it stands.
    pub state: TaskState,
}

impl Task {
    /// Whether it is still importing.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.state == TaskState::Running
    }

    /// The id of the message made of record `index` (0-based) of this task's file: the same
    /// whichever leader imports it, and no other message's.
    #[must_use]
    pub fn message_id(&self, index: u64) -> ItemId {
        let mut bytes = self.id.tab.to_bytes();
        for (byte, n) in bytes[8..].iter_mut().zip(self.id.number.to_le_bytes()) {
            *byte ^= n;
        }
        // A tab id never drawn by a tab: its top bit pattern marks an import.
        bytes[0] ^= 0xa5;
        ItemId {
            tab: TabId::from_bytes(bytes),
            number: index + 1,
        }
    }
}

/// The records of one staged chunk, parsed from a [`Cursor`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Complete records, in order, from the start of (carry + chunk).
    pub(crate) records: Vec<String>,
    /// The bytes after the last complete record (carried into the next chunk).
    pub(crate) carry: Vec<u8>,
    /// The JSON state after the last complete record.
    pub(crate) json: JsonState,
    /// The first bad record (its index among `records`' successors) and why, if any: parsing
    /// stopped there.
    pub(crate) error: Option<String>,
}

/// The next batch of `task`'s records from `chunk` (the staged chunk `cursor` names), as the
/// change that commits them and the cursor after it: at most [`BATCH_RECORD_BYTES`] of text
/// (at least one record), the chunk's records after those already in, and the task's end
/// when the file's last record is in or a bad one is met.
pub(crate) fn next_batch(task: &Task, cursor: &Cursor, chunk: &[u8]) -> (Change, Cursor) {
    let mut input = cursor.carry.clone();
    input.extend_from_slice(chunk);
    let last = cursor.chunk + 1 >= task.chunks;
    let parsed = parse(task.format, cursor.json, &input, last);
    let skip = usize::try_from(cursor.skip)
        .unwrap_or(usize::MAX)
        .min(parsed.records.len());
    let mut size = 0;
    let taken: Vec<&String> = parsed.records[skip..]
        .iter()
        .take_while(|record| {
            let fits = size == 0 || size + record.len() <= BATCH_RECORD_BYTES;
            size += record.len().max(1);
            fits
        })
        .collect();
    let messages: Vec<Message> = taken
        .iter()
        .enumerate()
        .map(|(i, text)| Message {
            id: task.message_id(cursor.records + i as u64),
            text: (*text).clone(),
        })
        .collect();
    let records = cursor.records + messages.len() as u64;
    let all_in = skip + taken.len() == parsed.records.len();
    let (next, state) = if !all_in {
        let next = Cursor {
            skip: cursor.skip + taken.len() as u64,
            records,
            ..cursor.clone()
        };
        (next, TaskState::Running)
    } else if let Some(reason) = parsed.error {
        let next = Cursor {
            records,
            ..cursor.clone()
        };
        (
            next,
            TaskState::Failed {
                record: records + 1,
                reason,
            },
        )
    } else {
        let next = Cursor {
            chunk: cursor.chunk + 1,
            skip: 0,
            carry: parsed.carry,
            json: parsed.json,
            records,
        };
        let state = if last {
            TaskState::Done
        } else {
            TaskState::Running
        };
        (next, state)
    };
    let change = Change::Imported {
        task: task.id,
        added: messages.len() as u64,
        messages,
        chunks_done: next.chunk.min(task.chunks),
        state,
    };
    (change, next)
}

/// The change that stops `task` at `cursor` because its staged file cannot be read.
pub(crate) fn failed_batch(task: &Task, cursor: &Cursor, reason: String) -> (Change, Cursor) {
    let change = Change::Imported {
        task: task.id,
        messages: Vec::new(),
        added: 0,
        chunks_done: cursor.chunk.min(task.chunks),
        state: TaskState::Failed {
            record: cursor.records + 1,
            reason: format!("the staged file could not be read: {reason}"),
        },
    };
    (change, cursor.clone())
}

/// Parses `input` (the carry, then the chunk) as `format`, from `json` state; `last` when no
/// chunk follows.
pub(crate) fn parse(format: Format, json: JsonState, input: &[u8], last: bool) -> Parsed {
    let mut parsed = match format {
        Format::Lines => lines(input, last),
        Format::Json => json_array(json, input, last),
    };
    // Each complete record was measured as it was read.
    if parsed.carry.len() > MAX_TEXT_BYTES && parsed.error.is_none() {
        // A record that has not ended within the limit never will fit it.
        parsed.carry.clear();
        parsed.error = Some(too_long());
    }
    parsed
}

/// Why a record longer than [`MAX_TEXT_BYTES`] is refused. Its length, as it stands in the
/// file, is judged before anything else about it: a record carried across chunks is refused
/// for its length before its end is read, so a whole one must be too, or the reason would
/// depend on where the chunks were cut.
fn too_long() -> String {
    format!("a record is longer than {MAX_TEXT_BYTES} bytes")
}

fn text(bytes: &[u8]) -> Result<String, String> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| "a record is not UTF-8 text".to_owned())
}

fn lines(input: &[u8], last: bool) -> Parsed {
    let mut records = Vec::new();
    let end = if last {
        input.len()
    } else {
        input.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
    };
    for line in input[..end].split(|&b| b == b'\n') {
        if line.len() > MAX_TEXT_BYTES {
            return Parsed {
                records,
                carry: Vec::new(),
                json: JsonState::Before,
                error: Some(too_long()),
            };
        }
        match text(line) {
            Ok(line) => {
                let line = line.trim();
                if !line.is_empty() {
                    records.push(line.to_owned());
                }
            }
            Err(reason) => {
                return Parsed {
                    records,
                    carry: Vec::new(),
                    json: JsonState::Before,
                    error: Some(reason),
                }
            }
        }
    }
    Parsed {
        records,
        carry: input[end..].to_vec(),
        json: JsonState::Before,
        error: None,
    }
}

fn json_array(mut state: JsonState, input: &[u8], last: bool) -> Parsed {
    let mut records = Vec::new();
    let mut at = 0;
    let fail = |records, json, reason: &str| Parsed {
        records,
        carry: Vec::new(),
        json,
        error: Some(reason.to_owned()),
    };
    loop {
        while at < input.len()
            && (input[at].is_ascii_whitespace()
                || (state == JsonState::Inside && input[at] == b','))
        {
            at += 1;
        }
        if at == input.len() {
            if last && state != JsonState::After {
                return fail(
                    records,
                    state,
                    "the file ends before its JSON array is closed",
                );
            }
            return Parsed {
                records,
                carry: Vec::new(),
                json: state,
                error: None,
            };
        }
        match state {
            JsonState::Before if input[at] == b'[' => {
                state = JsonState::Inside;
                at += 1;
            }
            JsonState::Before => return fail(records, state, "the file is not a JSON array"),
            JsonState::After => {
                return fail(records, state, "the file goes on after its JSON array")
            }
            JsonState::Inside if input[at] == b']' => {
                state = JsonState::After;
                at += 1;
            }
            JsonState::Inside => match value_end(input, at) {
                Some(end) if end - at > MAX_TEXT_BYTES => return fail(records, state, &too_long()),
                Some(end) => {
                    let record = match text(&input[at..end]) {
                        Ok(record) => record,
                        Err(reason) => return fail(records, state, &reason),
                    };
                    if serde_json::from_str::<serde::de::IgnoredAny>(&record).is_err() {
                        return fail(records, state, "a record is not valid JSON");
                    }
                    records.push(record);
                    at = end;
                }
                None if last && input.len() - at > MAX_TEXT_BYTES => {
                    return fail(records, state, &too_long())
                }
                None if last => {
                    return fail(records, state, "the file ends in the middle of a record")
                }
                None => {
                    return Parsed {
                        records,
                        carry: input[at..].to_vec(),
                        json: state,
                        error: None,
                    }
                }
            },
        }
    }
}

/// Where the JSON value starting at `start` ends (exclusive), or `None` if `input` ends first.
fn value_end(input: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in input.iter().enumerate().skip(start) {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            // A scalar ends where the array's punctuation or a space begins.
            b',' | b']' | b'}' if depth == 0 => return Some(i),
            _ if depth == 0 && b.is_ascii_whitespace() => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `file` cut into chunks of `size`, carrying as the leader does; the records and
    /// the error.
    fn in_chunks(format: Format, file: &[u8], size: usize) -> (Vec<String>, Option<String>) {
        let mut carry = Vec::new();
        let mut json = JsonState::Before;
        let mut all = Vec::new();
        let chunks: Vec<&[u8]> = file.chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut input = std::mem::take(&mut carry);
            input.extend_from_slice(chunk);
            let parsed = parse(format, json, &input, i + 1 == chunks.len());
            all.extend(parsed.records);
            if parsed.error.is_some() {
                return (all, parsed.error);
            }
            carry = parsed.carry;
            json = parsed.json;
        }
        (all, None)
    }

    #[test]
    fn lines_are_the_same_however_the_file_is_cut() {
        let file = "first line\r\n\n  second  \nthird, with é and 😀\nlast without newline";
        let whole = in_chunks(Format::Lines, file.as_bytes(), 1_000);
        assert_eq!(
            whole,
            (
                vec![
                    "first line".to_owned(),
                    "second".to_owned(),
                    "third, with é and 😀".to_owned(),
                    "last without newline".to_owned()
                ],
                None
            )
        );
        for size in 1..12 {
            assert_eq!(
                in_chunks(Format::Lines, file.as_bytes(), size),
                whole,
                "{size}"
            );
        }
    }

    #[test]
    fn json_elements_are_the_same_however_the_file_is_cut() {
        let file =
            r#" [ {"ts":"2024-01-01","track":"a, \"b\" ]"}, 12, "x}", [1,[2]], null ,true] "#;
        let whole = in_chunks(Format::Json, file.as_bytes(), 1_000);
        assert_eq!(
            whole,
            (
                vec![
                    r#"{"ts":"2024-01-01","track":"a, \"b\" ]"}"#.to_owned(),
                    "12".to_owned(),
                    r#""x}""#.to_owned(),
                    "[1,[2]]".to_owned(),
                    "null".to_owned(),
                    "true".to_owned(),
                ],
                None
            )
        );
        for size in 1..20 {
            assert_eq!(
                in_chunks(Format::Json, file.as_bytes(), size),
                whole,
                "{size}"
            );
        }
    }

    #[test]
    fn a_bad_record_stops_the_import_there_and_keeps_what_came_before() {
        let (records, error) = in_chunks(Format::Json, br#"[{"a":1},{"b":},{"c":3}]"#, 5);
        assert_eq!(records, vec![r#"{"a":1}"#.to_owned()]);
        assert_eq!(error.as_deref(), Some("a record is not valid JSON"));
        let (records, error) = in_chunks(Format::Json, br#"[{"a":1},{"b":2"#, 4);
        assert_eq!(records.len(), 1);
        assert_eq!(
            error.as_deref(),
            Some("the file ends in the middle of a record")
        );
        let (_, error) = in_chunks(Format::Json, b"{\"not\": \"an array\"}", 4);
        assert_eq!(error.as_deref(), Some("the file is not a JSON array"));
        let (records, error) = in_chunks(Format::Lines, b"ok\n\xff\xfe\nlater\n", 3);
        assert_eq!(records, vec!["ok".to_owned()]);
        assert_eq!(error.as_deref(), Some("a record is not UTF-8 text"));
        let long = format!("short\n{}\n", "x".repeat(MAX_TEXT_BYTES + 1));
        let (records, error) = in_chunks(Format::Lines, long.as_bytes(), 1_000);
        assert_eq!(records, vec!["short".to_owned()]);
        assert!(error.is_some_and(|e| e.contains("longer than")));
    }

    #[test]
    fn message_ids_differ_between_tasks_and_records() {
        let task = |number| Task {
            id: ItemId {
                tab: TabId::from_bytes([3; 16]),
                number,
            },
            session: ItemId {
                tab: TabId::from_bytes([3; 16]),
                number: 1,
            },
            name: "f".into(),
            format: Format::Lines,
            stage: "s".into(),
            chunks: 1,
            bytes: 1,
            chunks_done: 0,
            records: 0,
            state: TaskState::Running,
        };
        let (a, b) = (task(2), task(3));
        assert_ne!(a.message_id(0), b.message_id(0));
        assert_ne!(a.message_id(0), a.message_id(1));
        assert_ne!(a.message_id(0).tab, a.id.tab);
        assert_eq!(a.message_id(4), task(2).message_id(4));
    }
}
