//! Imports as the app shows them: one row per import of the open session, with its progress,
//! its rate and the time it has left, and what a refused start says. Plain functions of a
//! [`View`], tested without a page.

use conclave_web::{Format, ItemId, Refusal, Task, TaskState, View};

/// How many of a session's latest messages the list draws (a large import holds tens of
/// thousands); the count and the search still cover them all.
pub const MAX_SHOWN: usize = 500;

/// How many the list draws while an import runs into the session: each redraw (a few times a
/// second) builds at most this many rows, in every tab that shows the session. A hundred took
/// over 50 ms a redraw in this machine's Chromium with five tabs open; thirty stay under it.
pub const MAX_SHOWN_IMPORTING: usize = 30;

/// One import, as the session view lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRow {
    /// Its id (the row's key and its `data-task-id`).
    pub id: ItemId,
    /// The file's name.
    pub name: String,
    /// `running`, `done`, `failed` or `cancelled` (its `data-state`).
    pub state: &'static str,
    /// Chunks read, and of how many.
    pub chunks_done: u64,
    /// Every chunk of the file.
    pub chunks: u64,
    /// Records imported.
    pub records: u64,
    /// What it says of its progress, in words.
    pub progress: String,
    /// Why it stopped, if it failed.
    pub error: Option<String>,
}

/// The imports of `session`, oldest first; `rates` gives, per running import, the records
/// per second seen lately, for the time it has left.
#[must_use]
pub fn task_rows(
    view: &View,
    session: ItemId,
    rate: impl Fn(ItemId) -> Option<f64>,
) -> Vec<TaskRow> {
    view.tasks()
        .into_iter()
        .filter(|t| t.session == session)
        .map(|t| row(t, rate(t.id)))
        .collect()
}

fn row(task: &Task, rate: Option<f64>) -> TaskRow {
    let (state, error) = match &task.state {
        TaskState::Running => ("running", None),
        TaskState::Done => ("done", None),
        TaskState::Failed { record, reason } => (
            "failed",
            Some(format!("stopped at record {record}: {reason}")),
        ),
        TaskState::Cancelled { .. } => ("cancelled", None),
    };
    let mib = |bytes: u64| {
        // A file's size, far below 2^53: exact as an f64.
        #[allow(clippy::cast_precision_loss)]
        let mib = bytes as f64 / (1024.0 * 1024.0);
        mib
    };
    let progress = match &task.state {
        TaskState::Running => {
            let left = match rate {
                Some(rate) if rate > 0.0 && task.chunks_done > 0 => {
                    // Records left, estimated from the records per chunk so far.
                    #[allow(clippy::cast_precision_loss)]
                    let per_chunk = task.records as f64 / task.chunks_done as f64;
                    #[allow(clippy::cast_precision_loss)]
                    let left = (task.chunks - task.chunks_done) as f64 * per_chunk / rate;
                    format!(", {rate:.0} records/s, about {left:.0} s left")
                }
                _ => String::new(),
            };
            format!(
                "{} of {} chunks, {} messages{left}",
                task.chunks_done, task.chunks, task.records
            )
        }
        TaskState::Done => format!(
            "done: {} messages from {:.1} MiB",
            task.records,
            mib(task.bytes)
        ),
        TaskState::Failed { .. } => format!("{} messages kept", task.records),
        TaskState::Cancelled { .. } => format!("cancelled: {} messages kept", task.records),
    };
    TaskRow {
        id: task.id,
        name: task.name.clone(),
        state,
        chunks_done: task.chunks_done,
        chunks: task.chunks,
        records: task.records,
        progress,
        error,
    }
}

/// How a file is read, from its name: JSON for `.json`, lines otherwise.
#[must_use]
pub fn format_of(name: &str) -> Format {
    if name.to_ascii_lowercase().ends_with(".json") {
        Format::Json
    } else {
        Format::Lines
    }
}

/// What a refused import says; a running import of the session is named.
#[must_use]
pub fn import_refused(refusal: &Refusal, view: &View, session: ItemId) -> String {
    match (refusal, view.running_task(session)) {
        (Refusal::TaskRunning, Some(task)) => format!(
            "Not started: “{}” is already being imported into this session.",
            task.name
        ),
        _ => format!("Not started: {refusal}."),
    }
}

#[cfg(test)]
mod tests {
    use conclave_web::{Change, Op, TabId};

    use super::*;

    fn id(tab: u8, number: u64) -> ItemId {
        ItemId {
            tab: TabId::from_bytes([tab; 16]),
            number,
        }
    }

    #[test]
    fn a_refused_second_import_names_the_running_one() {
        let mut view = View::default();
        let session = id(1, 1);
        view.apply(
            1,
            &[Change::Created {
                id: session,
                title: "S".into(),
            }],
        );
        let import = Op::Import {
            session,
            stage: "s".into(),
            name: "history.json".into(),
            format: Format::Json,
            chunks: 1,
            bytes: 10,
        };
        let started = view
            .check(id(2, 1), &import)
            .unwrap_or_else(|e| panic!("{e}"));
        view.apply(2, &[started]);
        let refused = view.check(id(3, 1), &import);
        assert_eq!(refused, Err(Refusal::TaskRunning));
        let said = import_refused(&Refusal::TaskRunning, &view, session);
        assert!(said.contains("“history.json”"), "{said}");
        let rows = task_rows(&view, session, |_| Some(100.0));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].state, "running");
        assert_eq!(rows[0].progress, "0 of 1 chunks, 0 messages");
    }

    #[test]
    fn json_files_are_read_as_json_and_the_rest_as_lines() {
        assert_eq!(format_of("Streaming_History_2024.JSON"), Format::Json);
        assert_eq!(format_of("notes.md"), Format::Lines);
        assert_eq!(format_of("chat.txt"), Format::Lines);
    }
}
