//! Imports in the simulator (SPEC 2.6, "one task per session"): tabs stage files and ask the
//! leader to import them, from several tabs at once, into sessions that may be deleted or the
//! import cancelled meanwhile, while leaders crash, close and freeze. The leader reads the
//! staged chunks through the same store operations as the browser (`StoreOp::ReadChunk`).
//!
//! **T1–T4**, checked on every commit that lands and at the end:
//! - T1: a session never has two running imports;
//! - T2: no record of an import lands after the import ended (done, failed, cancelled) or its
//!   session was deleted;
//! - T3: each import's records land in the file's order, each once (their ids say their
//!   place in the file: the n-th record lands n-th);
//! - T4 (at the end, after the settling time): no import is still running, and each one that
//!   finished holds exactly its file's records, in order — a malformed file's up to its bad
//!   record, and its error names that record.

use std::collections::{BTreeMap, BTreeSet};

use conclave_core::data::store::{Image, Write};
use conclave_core::data::{Format, ItemId, Op, Task, TaskState, CHUNK_BYTES};

use super::Rng;

/// What the imports went through over one seed.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImportStats {
    pub started: u64,
    pub done: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub records: u64,
    pub batches: u64,
}

impl ImportStats {
    pub fn add(&mut self, other: &Self) {
        self.started += other.started;
        self.done += other.done;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
        self.records += other.records;
        self.batches += other.batches;
    }
}

/// A file staged by a tab, and what importing it must give.
struct File {
    chunks: Vec<Vec<u8>>,
    /// The records it holds before any bad one.
    records: Vec<String>,
    /// Whether it is malformed after those records.
    bad: bool,
}

pub struct Imports {
    pub enabled: bool,
    pub rng: Rng,
    staged: BTreeMap<String, File>,
    /// Per import (by task id once started): its stage.
    stage_of: BTreeMap<ItemId, String>,
    /// Per import: records landed so far.
    landed: BTreeMap<ItemId, u64>,
    /// Imports that ended (or whose session went), as the store says.
    ended: BTreeSet<ItemId>,
    next_stage: u64,
    /// Per tab: what it asks next about the import it started last (a cancel, or deleting its
    /// session), to meet the import half way.
    follow_up: BTreeMap<usize, Op>,
    pub stats: ImportStats,
}

impl Imports {
    pub fn new(seed: u64) -> Self {
        Self {
            enabled: true,
            rng: Rng::new(seed ^ 0x1_4a0b),
            staged: BTreeMap::new(),
            stage_of: BTreeMap::new(),
            landed: BTreeMap::new(),
            ended: BTreeSet::new(),
            next_stage: 0,
            follow_up: BTreeMap::new(),
            stats: ImportStats::default(),
        }
    }

    /// An import or a cancel tab `i` might ask for now, of one of `sessions` (or of one of
    /// `running` imports); the file is staged first.
    pub fn draw(&mut self, i: usize, sessions: &[ItemId], running: &[ItemId]) -> Option<Op> {
        if !self.enabled || sessions.is_empty() {
            return None;
        }
        if self.follow_up.contains_key(&i) && self.rng.chance(300) {
            return self.follow_up.remove(&i);
        }
        if !self.rng.chance(15) {
            return None;
        }
        if !running.is_empty() && self.rng.chance(500) {
            let task = running[self.rng.range(0, running.len() as u64 - 1) as usize];
            return Some(Op::Cancel { task });
        }
        let session = sessions[self.rng.range(0, sessions.len() as u64 - 1) as usize];
        let json = self.rng.chance(500);
        // Few records, some long: files of one to four chunks, records cut across chunks.
        let count = self.rng.range(1, 300) as usize;
        let records: Vec<String> = (0..count)
            .map(|n| {
                let pad = "x".repeat(self.rng.range(0, 900) as usize);
                if json {
                    format!("{{\"n\":{n},\"tab\":{i},\"pad\":\"{pad}\"}}")
                } else {
                    format!("line {n} of tab {i} {pad}").trim_end().to_owned()
                }
            })
            .collect();
        let bad = self.rng.chance(100);
        let mut text = if json {
            format!("[{}", records.join(",\n"))
        } else {
            records.join("\n")
        };
        if bad && json {
            text.push_str(",{\"broken\": }");
        }
        if json && !bad {
            text.push(']');
        }
        // A malformed line file: a bad byte sequence.
        let mut bytes = text.into_bytes();
        if bad && !json {
            bytes.extend_from_slice(&[b'\n', 0xff, 0xfe, b'\n']);
        }
        let size = bytes.len() as u64;
        let chunks: Vec<Vec<u8>> = bytes.chunks(CHUNK_BYTES).map(<[u8]>::to_vec).collect();
        let chunks = if chunks.is_empty() {
            vec![Vec::new()]
        } else {
            chunks
        };
        let stage = format!("stage-{i}-{}", self.next_stage);
        self.next_stage += 1;
        let op = Op::Import {
            session,
            stage: stage.clone(),
            name: format!("file {stage}"),
            format: if json { Format::Json } else { Format::Lines },
            chunks: chunks.len() as u64,
            bytes: size,
        };
        self.staged.insert(
            stage,
            File {
                chunks,
                records,
                bad,
            },
        );
        Some(op)
    }

    /// Tab `i` made request `task` of `op`: if it was an import, now and then plan to cancel
    /// it or delete its session a little later.
    pub fn made(&mut self, i: usize, task: ItemId, op: &Op) {
        let Op::Import { session, .. } = op else {
            return;
        };
        if self.rng.chance(150) {
            self.follow_up.insert(i, Op::Cancel { task });
        } else if self.rng.chance(100) {
            self.follow_up.insert(i, Op::Delete { session: *session });
        }
    }

    /// Chunk `index` of `stage`, if it is staged.
    pub fn chunk(&self, stage: &str, index: u64) -> Option<Vec<u8>> {
        let file = self.staged.get(stage)?;
        file.chunks.get(usize::try_from(index).ok()?).cloned()
    }

    /// T1–T3 for a commit about to land on `store` (as it is before it).
    pub fn check_landing(&mut self, store: &Image, writes: &[Write]) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let mut tasks: BTreeMap<ItemId, Task> = store
            .tasks
            .iter()
            .map(|r| (r.task.id, r.task.clone()))
            .collect();
        for write in writes {
            match write {
                Write::PutTask(record) => {
                    let task = &record.task;
                    self.stage_of.insert(task.id, task.stage.clone());
                    if self.ended.contains(&task.id) && task.is_running() {
                        return Err(format!(
                            "T2: import {:?} runs again after it ended",
                            task.id
                        ));
                    }
                    if !task.is_running() && self.ended.insert(task.id) {
                        match &task.state {
                            TaskState::Done => self.stats.done += 1,
                            TaskState::Failed { .. } => self.stats.failed += 1,
                            TaskState::Cancelled { .. } => self.stats.cancelled += 1,
                            TaskState::Running => {}
                        }
                    }
                    if !tasks.contains_key(&task.id) {
                        self.stats.started += 1;
                    }
                    tasks.insert(task.id, task.clone());
                }
                Write::DeleteTask(id) => {
                    self.ended.insert(*id);
                    tasks.remove(id);
                }
                Write::PutMessage(record) => {
                    let Some(task) = tasks
                        .values()
                        .find(|t| t.message_id(record.message.id.number - 1) == record.message.id)
                    else {
                        continue;
                    };
                    let id = task.id;
                    if self.ended.contains(&id)
                        && !writes
                            .iter()
                            .any(|w| matches!(w, Write::PutTask(r) if r.task.id == id))
                    {
                        return Err(format!(
                            "T2: a record of import {id:?} landed after it ended"
                        ));
                    }
                    let landed = self.landed.entry(id).or_insert(0);
                    if record.message.id.number != *landed + 1 {
                        return Err(format!(
                            "T3: record {} of import {id:?} landed after record {}",
                            record.message.id.number, *landed
                        ));
                    }
                    *landed += 1;
                    self.stats.records += 1;
                }
                _ => {}
            }
        }
        if writes.iter().any(|w| matches!(w, Write::PutMessage(_)))
            && writes.iter().any(|w| matches!(w, Write::PutTask(_)))
        {
            self.stats.batches += 1;
        }
        let mut running = BTreeSet::new();
        for task in tasks.values().filter(|t| t.is_running()) {
            if !running.insert(task.session) {
                return Err(format!(
                    "T1: session {:?} has two running imports",
                    task.session
                ));
            }
        }
        Ok(())
    }

    /// T4 at the end.
    pub fn check_end(&self, store: &Image) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let view = store.view();
        for record in &store.tasks {
            let task = &record.task;
            let Some(session) = view.session(task.session) else {
                continue;
            };
            let Some(file) = self.staged.get(&task.stage) else {
                return Err(format!("T4: import {:?} has no staged file", task.id));
            };
            let ids: BTreeSet<ItemId> = (0..task.records).map(|n| task.message_id(n)).collect();
            let imported: Vec<&str> = session
                .messages
                .iter()
                .filter(|m| ids.contains(&m.id))
                .map(|m| m.text.as_str())
                .collect();
            match &task.state {
                TaskState::Running => {
                    return Err(format!(
                        "T4: import {:?} still running at the end ({} of {} chunks, {} records)",
                        task.id, task.chunks_done, task.chunks, task.records
                    ))
                }
                TaskState::Done => {
                    if file.bad
                        || imported != file.records.iter().map(String::as_str).collect::<Vec<_>>()
                    {
                        return Err(format!(
                            "T4: import {:?} done with {} records, its file holds {} (bad: {})",
                            task.id,
                            imported.len(),
                            file.records.len(),
                            file.bad
                        ));
                    }
                }
                TaskState::Failed { record, .. } => {
                    let expected: Vec<&str> = file.records.iter().map(String::as_str).collect();
                    if !file.bad || imported != expected || *record != expected.len() as u64 + 1 {
                        return Err(format!(
                            "T4: import {:?} failed at record {record} with {} records in, its file holds {} good ones (bad: {})",
                            task.id,
                            imported.len(),
                            expected.len(),
                            file.bad
                        ));
                    }
                }
                TaskState::Cancelled { .. } => {
                    let expected: Vec<&str> = file
                        .records
                        .iter()
                        .take(imported.len())
                        .map(String::as_str)
                        .collect();
                    if imported != expected {
                        return Err(format!(
                            "T4: cancelled import {:?} holds records out of its file's order",
                            task.id
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
