//! The app's data: a sessions workspace that every tab edits and one tab writes.
//!
//! # The model
//! - **One writer.** Only the leader writes the durable store. Any tab may make a request
//!   ([`crate::Engine::handle_request`]); it goes to the leader, which applies each tab's
//!   requests once, in that tab's order, commits them to the store in one transaction with
//!   each tab's [`Ledger`] (the highest request number consumed and the latest outcomes), and
//!   only then tells every tab: the [`Change`]s, which every tab applies to its [`View`], and
//!   the answers, which end the requests.
//! - **Exactly once.** A request is (tab, request number), numbered in order for the whole
//!   life of the tab. A number at or below the tab's ledger is never applied again: it is
//!   answered from the ledger. Because the ledger is in the store, a new leader, which loads the
//!   store, deduplicates exactly as the old one did.
//! - **Every request ends once.** For its caller a request ends in exactly one of *applied* or
//!   *refused* (with the [`Refusal`]); a request whose deadline passes is abandoned and ends
//!   only once the leader confirms it consumed it as expired (or that it was applied before).
//!   Until then the caller sees it outstanding: it is never told "failed" and then applied.
//! - **Fencing.** A new leader claims the store with its term before loading it; the store
//!   refuses any later transaction of a lower term, so a deposed leader's late commit changes
//!   nothing. Its messages are fenced by the term as every leader action is.
//! - **Every tab renders the same state.** The store's revision grows by one per commit; a
//!   tab applies the changes of the next revision, and reloads the store when it sees a gap.
//!
//! The driver carries out [`StoreOp`]s (read, claim, commit: IndexedDB in the browser, a
//! [`store::Image`] in the simulator) and reports each result with
//! [`crate::Engine::handle_store`].

mod backup;
mod import;
mod model;
mod outbox;
mod session;
pub mod store;
mod writer;

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

pub use backup::{
    backup_key, backup_prefix, key_tab, Backup, BackupFailure, BackupRejection, BackupStatus,
    Found, RawBackup, Verdict, BACKUP_FORMAT, MAX_BACKUP_BYTES, SETTLE_MS,
};
pub use import::{
    Cursor, Format, JsonState, Task, TaskState, BATCH_RECORD_BYTES, CHUNK_BYTES, MAX_IMPORT_BYTES,
};
pub use model::{
    Change, Draft, ItemId, Message, Op, ParseItemIdError, Question, Refusal, Resolution,
    ResolvedQuestion, View, MAX_RESOLVED, MAX_TEXT_BYTES, MAX_TITLE_BYTES,
};
pub use outbox::{Breaker, Pending, RequestCounters, Stage, COOL_DOWN_MS, TRIP_AFTER};
pub use session::Session;
pub use store::{Commit, Image, Ledger, Outcome, StoreError};

use crate::election::Term;
use crate::engine::Event;
use crate::ids::{Millis, TabId};
use crate::wire::{Body, Committed, Request, MAX_REQUESTS};
use backup::Keeper;
pub(crate) use backup::OwnWrite;
use outbox::{Outbox, Send};
use writer::{Incoming, Writer, WriterOut};

/// The most requests a tab keeps outstanding; more are refused at once with
/// [`Refusal::Busy`].
pub const MAX_PENDING: usize = 32;

/// A commit's changes and answers stay under this many bytes once sent, so that they fit one
/// channel message with room to spare.
pub(crate) const BATCH_BYTES: usize = 40_000;

/// At most how many bytes a record holding `text` bytes of text takes in a message: JSON
/// escapes a byte into at most 6, and the rest fits in 160.
pub(crate) const fn sent_bytes(text: usize) -> usize {
    text * 6 + 160
}

/// At most how many bytes `op` takes in a message.
fn request_bytes(op: &Op) -> usize {
    let text = match op {
        Op::Create { title } | Op::Rename { title, .. } => title.len(),
        Op::Add { text, .. } => text.len(),
        Op::Import { stage, name, .. } => stage.len() + name.len(),
        Op::Delete { .. }
        | Op::AskDelete { .. }
        | Op::Answer { .. }
        | Op::Dismiss { .. }
        | Op::Cancel { .. } => 0,
    };
    sent_bytes(text)
}

/// How many commits heard while loading (or ahead of a gap) a tab keeps to apply after.
const MAX_EARLY: usize = 64;

/// The leader's answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The tab that made the request.
    pub tab: TabId,
    /// Its number.
    pub number: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// What the engine asks of the durable store. Carry each out and report its result with
/// [`crate::Engine::handle_store`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// Read everything, in one read-only transaction: report [`StoreResult::Read`].
    Read,
    /// Claim the store for this term (a read-write transaction that fails if the store has
    /// seen a higher one, and stamps this one), then read everything: report
    /// [`StoreResult::Claimed`].
    Claim {
        /// The term.
        term: Term,
    },
    /// Run this commit (one read-write transaction, strict durability, all or nothing,
    /// fenced by its term): report [`StoreResult::Committed`].
    Commit(Commit),
    /// Read chunk `index` of the file staged as `stage` (for import `task`): report
    /// [`StoreResult::Chunk`].
    ReadChunk {
        /// The import.
        task: ItemId,
        /// Where its file is staged.
        stage: String,
        /// The chunk, from 0.
        index: u64,
    },
}

/// The result of a [`StoreOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreResult {
    /// What [`StoreOp::Read`] found.
    Read(Result<Image, StoreError>),
    /// How [`StoreOp::Claim`] for `term` went.
    Claimed {
        /// The term claimed.
        term: Term,
        /// What the store holds, or why the claim failed.
        result: Result<Image, StoreError>,
    },
    /// How the [`StoreOp::Commit`] of revision `rev` went.
    Committed {
        /// The commit's revision.
        rev: u64,
        /// Whether it is durable.
        result: Result<(), StoreError>,
    },
    /// What [`StoreOp::ReadChunk`] read: the chunk's bytes, or why it could not (the staged
    /// file is gone, or storage failed).
    Chunk {
        /// The import.
        task: ItemId,
        /// The chunk.
        index: u64,
        /// Its bytes.
        result: Result<Vec<u8>, StoreError>,
    },
}

/// How the store stands, as this tab knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStatus {
    /// The revision this tab's view shows (`None` until the store is first read).
    pub rev: Option<u64>,
    /// Whether this tab is the store's writer and has claimed it.
    pub writing: bool,
    /// Requests the leader holds but has not committed yet (the leader only).
    pub queued: usize,
    /// The last error the store reported to this tab, if the last transaction failed.
    pub error: Option<StoreError>,
}

/// One tab's data layer: its own requests, its view's revision, and, while it leads, the
/// writer.
#[derive(Clone, Debug)]
pub(crate) struct Data {
    me: TabId,
    budget_ms: u64,
    question_ms: u64,
    outbox: Outbox,
    writer: Option<Writer>,
    /// The leader requests were last sent to.
    sent_to: Option<TabId>,
    rev: Option<u64>,
    reading: bool,
    /// Commits heard ahead of the view: (revision, changes, how many reads had been asked for
    /// when it was heard).
    early: Vec<(u64, Vec<Change>, u64)>,
    /// How many reads of the store this tab has asked for.
    reads: u64,
    ops: VecDeque<StoreOp>,
    /// News for the app, in order.
    events: VecDeque<Event>,
    /// What to post on the channel, in order.
    sends: VecDeque<Body>,
    error: Option<StoreError>,
    /// After a failed claim (storage failing, not fenced), when to claim again.
    claim_at: Option<Millis>,
    /// This tab's own backup.
    keeper: Keeper,
    /// The channel, whose name scopes the backup keys.
    channel: String,
    /// While this tab writes: when to read every backup next.
    reconcile_at: Option<Millis>,
    /// Every backup is to be read now.
    read_backups: bool,
    /// Backups whose content is durable, to delete if they still hold the text read.
    forgets: VecDeque<(String, String)>,
    /// The backups found at the last reading, and what became of each.
    found: Vec<Found>,
    /// While this tab writes: when it last sent an import's batch with its records.
    import_sent_at: Option<Millis>,
    /// While this tab writes: commits of an import's batches told by their size alone, not
    /// sent yet, and since when the first has waited.
    held: Vec<Committed>,
    held_since: Option<Millis>,
    /// While this tab writes: the latest revision the other tabs were told of (sent, or what
    /// its claim read), which its presence messages say.
    told_rev: Option<u64>,
}

/// How long a writer waits before claiming the store again after storage failed.
const CLAIM_RETRY_MS: u64 = 1_000;

/// While an import runs, how often at most the writer sends one of its batches to the other
/// tabs with its records, in ms; the others go by their size alone. A tab
/// draws a running import a few times a second at most, its latest rows: taking in every
/// record (receiving, checking, decoding, keeping) cost each tab as much as writing them cost
/// the leader, on the same cores. What a tab draws and lacks it reads from the store.
pub const IMPORT_SENT_MS: u64 = 250;

/// How many commits told by their size alone wait, at most, to go together in one message:
/// a few kilobytes.
const MAX_HELD: usize = 32;

/// Whether `change` is an import's batch told by its size alone.
fn told_by_size(change: &Change) -> bool {
    matches!(change, Change::Imported { messages, added, .. } if messages.is_empty() && *added > 0)
}

/// What of `changes` the writer sends the other tabs at `now`, having last sent an import's
/// records at `sent_at` (updated): a running import's batch goes without its records unless
/// [`IMPORT_SENT_MS`] have passed since; the batch that ends an import, and every other
/// change, go whole.
fn sent_changes(now: Millis, sent_at: &mut Option<Millis>, changes: &[Change]) -> Vec<Change> {
    changes
        .iter()
        .map(|change| {
            let mut sent = change.clone();
            if let Change::Imported {
                messages, state, ..
            } = &mut sent
            {
                if *state == TaskState::Running && !messages.is_empty() {
                    if sent_at.is_some_and(|at| now < at.plus(IMPORT_SENT_MS)) {
                        messages.clear();
                    } else {
                        *sent_at = Some(now);
                    }
                }
            }
            sent
        })
        .collect()
}

impl Data {
    pub(crate) fn new(
        me: TabId,
        channel: &str,
        budget_ms: u64,
        question_ms: u64,
        seed: u64,
    ) -> Self {
        Self {
            me,
            budget_ms,
            question_ms,
            outbox: Outbox::new(budget_ms, seed),
            writer: None,
            sent_to: None,
            rev: None,
            reading: true,
            early: Vec::new(),
            reads: 0,
            ops: VecDeque::from([StoreOp::Read]),
            events: VecDeque::new(),
            sends: VecDeque::new(),
            error: None,
            claim_at: None,
            keeper: Keeper::new(channel, me),
            channel: channel.to_owned(),
            reconcile_at: None,
            read_backups: false,
            forgets: VecDeque::new(),
            found: Vec::new(),
            import_sent_at: None,
            held: Vec::new(),
            held_since: None,
            told_rev: None,
        }
    }

    pub(crate) fn backup_status(&self) -> BackupStatus {
        self.keeper.status()
    }

    pub(crate) fn backups_found(&self) -> &[Found] {
        &self.found
    }

    pub(crate) fn drafts(&self) -> &std::collections::BTreeMap<ItemId, String> {
        self.keeper.drafts()
    }

    /// The text typed in `session` is now `text`.
    pub(crate) fn draft(&mut self, session: ItemId, text: &str) {
        self.keeper.draft(session, text);
    }

    /// The page is being hidden, frozen or closed: check the backup once more.
    pub(crate) fn touch_backup(&mut self) {
        self.keeper.recheck();
    }

    /// What this tab's own backup key needs now, if anything.
    pub(crate) fn poll_own_backup(&mut self) -> Option<OwnWrite> {
        let outbox = &self.outbox;
        self.keeper.poll(outbox.last_number(), || {
            outbox.pending().map(|p| (p.number, p.op.clone())).collect()
        })
    }

    /// The browser refused this tab's last backup write.
    pub(crate) fn backup_refused(&mut self) {
        self.keeper.refused();
    }

    /// Whether every backup is to be read now (the prefix of their keys).
    pub(crate) fn poll_read_backups(&mut self) -> Option<String> {
        std::mem::take(&mut self.read_backups).then(|| backup_prefix(&self.channel))
    }

    /// The next backup whose content is durable: delete it if it still holds this text.
    pub(crate) fn poll_forget(&mut self) -> Option<(String, String)> {
        self.forgets.pop_front()
    }

    /// A tab left at `now`: while this tab writes, read the backups once its last write has
    /// settled.
    pub(crate) fn on_peer_left(&mut self, now: Millis) {
        if self.writer.is_some() {
            let at = now.plus(SETTLE_MS);
            self.reconcile_at = Some(self.reconcile_at.map_or(at, |due| due.min(at)));
        }
    }

    /// Every backup key and its text, read at this tab's request; `live` tells
    /// which tabs are open. The backups of dead tabs go to the writer.
    pub(crate) fn handle_backups(&mut self, backups: &[RawBackup], live: impl Fn(TabId) -> bool) {
        let Some(writer) = self.writer.as_mut().filter(|w| w.is_ready()) else {
            return;
        };
        let mut found = Vec::with_capacity(backups.len());
        for raw in backups {
            let tab = key_tab(&self.channel, &raw.key);
            let verdict = match tab {
                Some(tab) if tab == self.me || live(tab) => Verdict::Live,
                _ => match Backup::parse(&self.channel, &raw.key, &raw.text) {
                    Err(reason) => Verdict::Skipped(reason),
                    Ok(backup) => recover(writer, backup, raw),
                },
            };
            found.push(Found {
                key: raw.key.clone(),
                tab,
                verdict,
            });
        }
        if !found.is_empty() || !self.found.is_empty() {
            self.found = found.clone();
            self.events.push_back(Event::BackupsFound(found));
        }
    }

    pub(crate) fn status(&self) -> StoreStatus {
        StoreStatus {
            rev: self.rev,
            writing: self.writer.as_ref().is_some_and(Writer::is_ready),
            queued: self.writer.as_ref().map_or(0, Writer::queued),
            error: self.error.clone(),
        }
    }

    pub(crate) fn counters(&self) -> RequestCounters {
        self.outbox.counters()
    }

    pub(crate) fn breaker(&self, now: Millis) -> Breaker {
        self.outbox.breaker(now)
    }

    pub(crate) fn pending(&self) -> impl Iterator<Item = &Pending> {
        self.outbox.pending()
    }

    pub(crate) fn poll_op(&mut self) -> Option<StoreOp> {
        self.ops.pop_front()
    }

    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub(crate) fn poll_send(&mut self) -> Option<Body> {
        self.sends.pop_front()
    }

    pub(crate) fn deadline(&self) -> Option<Millis> {
        let claim = self.claim_at.filter(|_| self.writer.is_some());
        let question = self.writer.as_ref().and_then(Writer::deadline);
        let reconcile = self.reconcile_at.filter(|_| self.writer.is_some());
        let held = self.held_since.map(|at| at.plus(IMPORT_SENT_MS));
        let shrink = self.keeper.deadline();
        [
            self.outbox.deadline(),
            claim,
            question,
            reconcile,
            held,
            shrink,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A request from this tab's app, sent to `leader`.
    pub(crate) fn make(
        &mut self,
        now: Millis,
        op: Op,
        leader: Option<TabId>,
    ) -> Result<u64, Refusal> {
        let (number, send) = self.outbox.make(now, op)?;
        self.keeper.touch();
        self.route(now, vec![send], leader);
        Ok(number)
    }

    /// Sends what the outbox wants to `leader`: to this tab's own writer when it leads, on
    /// the channel otherwise, and nowhere while no tab leads (it goes when one does).
    fn route(&mut self, now: Millis, sends: Vec<Send>, leader: Option<TabId>) {
        match leader {
            Some(leader) if leader == self.me => {
                for send in sends {
                    self.take(now, self.me, send);
                }
            }
            Some(_) => {
                for send in sends {
                    match send {
                        Send::Request(request) => self.queue_request(request),
                        Send::Abandon { upto } => self.sends.push_back(Body::Abandon { upto }),
                    }
                }
            }
            None => {}
        }
    }

    /// Queues `request` for the leader: with the requests queued just before it, in one
    /// message, while that message stays within [`MAX_REQUESTS`] and [`BATCH_BYTES`]. The
    /// engine seals what is queued only when it next posts, so the requests a tab's app makes
    /// in one turn go as one message.
    fn queue_request(&mut self, request: Request) {
        let bytes = request_bytes(&request.op);
        if let Some(Body::Requests(batch)) = self.sends.back_mut() {
            let queued: usize = batch.iter().map(|r| request_bytes(&r.op)).sum();
            if batch.len() < MAX_REQUESTS && queued + bytes <= BATCH_BYTES {
                batch.push(request);
                return;
            }
        }
        self.sends.push_back(Body::Requests(vec![request]));
    }

    /// A request or abandonment from `tab` (this one, or one heard on the channel), for the
    /// writer if this tab writes.
    fn take(&mut self, now: Millis, tab: TabId, send: Send) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        writer.take(match send {
            Send::Request(Request {
                number,
                op,
                budget_ms,
            }) => Incoming::Request {
                tab,
                number,
                op,
                // A tab's own budget, never more than this tab would give: a peer cannot
                // keep a request alive for ever.
                expires: now.plus(budget_ms.min(self.budget_ms)),
            },
            Send::Abandon { upto } => Incoming::Abandon { tab, upto },
        });
    }

    pub(crate) fn on_request(&mut self, now: Millis, from: TabId, request: Request) {
        self.take(now, from, Send::Request(request));
    }

    pub(crate) fn on_abandon(&mut self, now: Millis, from: TabId, upto: u64) {
        self.take(now, from, Send::Abandon { upto });
    }

    /// The leader committed revision `rev`.
    pub(crate) fn on_committed(
        &mut self,
        now: Millis,
        rev: u64,
        changes: Vec<Change>,
        answers: &[Answer],
    ) {
        self.on_answers(now, answers);
        self.advance_view(rev, changes);
    }

    pub(crate) fn on_answers(&mut self, now: Millis, answers: &[Answer]) {
        for answer in answers.iter().filter(|a| a.tab == self.me) {
            if self.outbox.answer(now, answer.number, answer.outcome) {
                self.keeper.shrink_later(now);
                self.events.push_back(Event::RequestEnded {
                    number: answer.number,
                    outcome: answer.outcome,
                });
            }
        }
    }

    fn advance_view(&mut self, rev: u64, changes: Vec<Change>) {
        match self.rev {
            Some(shown) if !self.reading && rev == shown + 1 => {
                self.rev = Some(rev);
                self.events
                    .push_back(Event::WorkspaceChanged { rev, changes });
                self.apply_early();
            }
            Some(shown) if rev <= shown => {}
            _ => {
                if self.early.len() >= MAX_EARLY {
                    self.early.clear();
                }
                self.early.push((rev, changes, self.reads));
                self.read();
            }
        }
    }

    fn apply_early(&mut self) {
        self.early.sort_by_key(|(rev, ..)| *rev);
        let shown = self.rev.unwrap_or(0);
        self.early.retain(|(rev, ..)| *rev > shown);
        while let Some(shown) = self.rev {
            let Some(at) = self.early.iter().position(|(rev, ..)| *rev == shown + 1) else {
                break;
            };
            let (rev, changes, _) = self.early.remove(at);
            self.rev = Some(rev);
            self.events
                .push_back(Event::WorkspaceChanged { rev, changes });
        }
        if !self.early.is_empty() {
            // A revision is missing between the view and what was heard: read the store.
            self.read();
        }
    }

    /// What this tab has written to the store, while it writes.
    pub(crate) fn written_view(&self) -> Option<&View> {
        self.writer.as_ref().and_then(Writer::view)
    }

    /// The latest store revision this tab has told the others of, while it writes.
    pub(crate) fn written_rev(&self) -> Option<u64> {
        self.writer
            .as_ref()
            .filter(|w| w.is_ready())
            .and(self.told_rev)
    }

    /// Tells the other tabs of `commit`: at once, with the commits held before it; or, if it
    /// is an import's batch told by its size alone and answers no request, held to go with
    /// the next (at most [`IMPORT_SENT_MS`] later, at most [`MAX_HELD`] together). Most of an
    /// import's commits then reach the tabs a few times a second, each message a few.
    fn tell(&mut self, now: Millis, commit: Committed) {
        let quiet = commit.answers.is_empty()
            && !commit.changes.is_empty()
            && commit.changes.iter().all(told_by_size);
        if self.held.is_empty() {
            self.held_since = Some(now);
        }
        self.held.push(commit);
        if !quiet || self.held.len() >= MAX_HELD {
            self.send_held();
        }
    }

    /// Sends the commits held, if any.
    fn send_held(&mut self) {
        self.held_since = None;
        if let Some(last) = self.held.last() {
            self.told_rev = Some(last.rev);
            self.sends
                .push_back(Body::Committed(std::mem::take(&mut self.held)));
        }
    }

    /// The page comes back from a freeze or the back/forward cache: a read it had out may
    /// have been aborted, and commits were made without it. Read the store again.
    pub(crate) fn on_wake(&mut self) {
        // A leader may have taken its backup key meanwhile, thinking it dead.
        self.keeper.woke();
        self.reading = false;
        self.read();
    }

    /// The leader says the store is at `rev`: read it if this tab shows less.
    pub(crate) fn on_leader_rev(&mut self, rev: u64) {
        if self.writer.is_none() && self.rev.is_some_and(|shown| rev > shown) {
            self.read();
        }
    }

    fn read(&mut self) {
        if !self.reading {
            self.reading = true;
            self.reads += 1;
            self.ops.push_back(StoreOp::Read);
        }
    }

    fn loaded(&mut self, image: Image) {
        if self.rev.is_none_or(|shown| image.rev > shown) {
            self.rev = Some(image.rev);
            self.events
                .push_back(Event::WorkspaceLoaded(image.into_view()));
        }
        self.apply_early();
    }

    pub(crate) fn handle_store(&mut self, now: Millis, result: StoreResult) {
        match result {
            StoreResult::Read(result) => {
                self.reading = false;
                match result {
                    Ok(image) => {
                        self.error = None;
                        // A commit heard before this read was asked for is in the store it
                        // read, unless it never was (a keyholder that lies): one the read
                        // cannot place is dropped, not read for again and again.
                        let read = self.reads;
                        self.early.retain(|&(rev, _, heard)| {
                            heard >= read || rev <= image.rev.saturating_add(1)
                        });
                        self.loaded(image);
                    }
                    Err(error) => self.error = Some(error),
                }
            }
            StoreResult::Claimed { term, result } => {
                let Some(writer) = self.writer.as_mut().filter(|w| w.fence == term) else {
                    return;
                };
                match result {
                    Ok(image) => {
                        writer.claimed(now, &image);
                        self.told_rev = Some(image.rev);
                        // A new writer reads every backup, before anything else it does.
                        self.reconcile_at = Some(now);
                        self.error = None;
                        self.loaded(image);
                    }
                    Err(StoreError::Fenced { .. }) => writer.fenced(),
                    Err(error) => {
                        // Storage failed: claim again a little later.
                        self.error = Some(error);
                        self.claim_at = Some(now.plus(CLAIM_RETRY_MS));
                    }
                }
            }
            StoreResult::Chunk {
                task,
                index,
                result,
            } => {
                if let Some(writer) = self.writer.as_mut() {
                    writer.chunk_read(task, index, result.map_err(|e| e.to_string()));
                }
            }
            StoreResult::Committed { rev, result } => {
                let Some(writer) = self.writer.as_mut() else {
                    return;
                };
                if writer.in_flight_rev() != Some(rev) {
                    // Not this writer's next commit (one of a writer of an earlier leadership,
                    // or one placed after a commit that failed): ignore.
                    return;
                }
                match result {
                    Ok(()) => {
                        if let Some(done) = writer.committed() {
                            self.error = None;
                            self.forgets.extend(done.forgets.iter().cloned());
                            let changes =
                                sent_changes(now, &mut self.import_sent_at, &done.changes);
                            self.tell(
                                now,
                                Committed {
                                    rev: done.rev,
                                    changes,
                                    answers: done.answers.clone(),
                                },
                            );
                            self.on_committed(now, done.rev, done.changes, &done.answers);
                        }
                    }
                    Err(StoreError::Fenced { .. }) => writer.fenced(),
                    Err(error) => {
                        // What the writer holds is ahead of the store: load it again, a
                        // little later (the tabs send their requests again meanwhile).
                        self.error = Some(error);
                        writer.reload();
                        self.claim_at = Some(now.plus(CLAIM_RETRY_MS));
                    }
                }
            }
        }
    }

    /// Brings the data layer up to date at `now` with the election: this tab writes while
    /// it leads (`leading`: the term it leads), sends its requests to `leader`, retries and
    /// abandons when due, and commits what the writer has.
    pub(crate) fn sync(&mut self, now: Millis, leading: Option<Term>, leader: Option<TabId>) {
        let writes = matches!((leading, &self.writer), (Some(fence), Some(w)) if w.fence == fence);
        self.keeper.tick(now);
        // Held commits are durable: they are told, whoever writes next.
        if !writes
            || self
                .held_since
                .is_some_and(|at| now >= at.plus(IMPORT_SENT_MS))
        {
            self.send_held();
        }
        match (leading, &self.writer) {
            _ if writes => {}
            (Some(term), _) => {
                self.writer = Some(Writer::new(term, self.question_ms));
                self.ops.push_back(StoreOp::Claim { term });
                // Everything of this tab's own goes to its new writer.
                self.sent_to = None;
            }
            (None, Some(_)) => {
                self.writer = None;
                self.reconcile_at = None;
                self.read_backups = false;
            }
            (None, None) => {}
        }
        if self.reconcile_at.is_some_and(|at| at <= now) {
            self.reconcile_at = None;
            // A writer still claiming reads them once its claim succeeds.
            self.read_backups = self.writer.as_ref().is_some_and(Writer::is_ready);
        }
        if let Some(writer) = &self.writer {
            if self.claim_at.is_some_and(|at| at <= now) {
                self.claim_at = None;
                self.ops.push_back(StoreOp::Claim { term: writer.fence });
            }
        } else {
            self.claim_at = None;
        }
        if leader != self.sent_to {
            self.sent_to = leader;
            if leader.is_some() {
                let sends = self.outbox.resend(now, true);
                self.route(now, sends, leader);
            }
        }
        if let Some(send) = self.outbox.expire(now) {
            self.route(now, vec![send], leader);
        }
        if self.outbox.retry_due(now) {
            let sends = self.outbox.resend(now, false);
            self.route(now, sends, leader);
        }
        self.step_writer(now);
    }

    fn step_writer(&mut self, now: Millis) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        if writer.is_fenced() {
            return;
        }
        for out in writer.step(now) {
            match out {
                WriterOut::Commit(commit) => self.ops.push_back(StoreOp::Commit(commit)),
                WriterOut::Answers(answers) => {
                    self.on_answers(now, &answers);
                    self.sends.push_back(Body::Answers(answers));
                }
                WriterOut::Forget(forgets) => self.forgets.extend(forgets),
                WriterOut::ReadChunk { task, stage, index } => {
                    self.ops
                        .push_back(StoreOp::ReadChunk { task, stage, index });
                }
            }
        }
    }
}

/// Gives `writer` what dead tab's `backup` (read as `raw`) holds that the store lacks: its
/// requests not consumed, in order (its caller is gone: no deadline), then its drafts and its
/// key, to delete once everything is durable.
fn recover(writer: &mut Writer, backup: Backup, raw: &RawBackup) -> Verdict {
    let tab = backup.tab;
    let consumed = writer.consumed(tab);
    let upto = backup.clock.get(tab);
    let requests: Vec<(u64, Op)> = backup
        .requests
        .into_iter()
        .filter(|(number, _)| *number > consumed)
        .collect();
    let drafts = writer.view().map_or(0, |view| {
        backup
            .drafts
            .iter()
            .filter(|(session, text)| view.offers_anew(**session, tab, text))
            .count()
    });
    let verdict = if requests.is_empty() && drafts == 0 {
        Verdict::Stored
    } else {
        Verdict::Applied {
            requests: requests.len(),
            drafts,
        }
    };
    for (number, op) in requests {
        writer.take(Incoming::Request {
            tab,
            number,
            op,
            expires: Millis(u64::MAX),
        });
    }
    writer.take(Incoming::Recover {
        tab,
        upto,
        drafts: backup.drafts.into_iter().collect(),
        key: raw.key.clone(),
        text: raw.text.clone(),
    });
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> ItemId {
        ItemId {
            tab: TabId::from_bytes([2; 16]),
            number: 1,
        }
    }

    /// What a follower queued for the leader, one entry a message: the request numbers in it.
    fn messages(data: &mut Data) -> Vec<Vec<u64>> {
        std::iter::from_fn(|| data.poll_send())
            .map(|body| match body {
                Body::Requests(requests) => requests.iter().map(|r| r.number).collect(),
                other => panic!("not requests: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_running_imports_batches_go_to_the_tabs_whole_at_most_every_interval_and_its_last_whole() {
        let batch = |n: u64, state: TaskState| Change::Imported {
            task: session(),
            messages: vec![Message {
                id: ItemId {
                    tab: TabId::from_bytes([4; 16]),
                    number: n,
                },
                text: format!("record {n}"),
            }],
            added: 1,
            chunks_done: n,
            state,
        };
        let whole = |changes: &[Change]| match &changes[0] {
            Change::Imported {
                messages, added, ..
            } => {
                assert_eq!(*added, 1, "the size always goes");
                !messages.is_empty()
            }
            other => panic!("not a batch: {other:?}"),
        };
        let mut at = None;
        let mut sent =
            |ms: u64, change: Change| whole(&sent_changes(Millis(ms), &mut at, &[change]));
        assert!(sent(1_000, batch(1, TaskState::Running)), "the first batch");
        assert!(!sent(1_010, batch(2, TaskState::Running)));
        assert!(!sent(1_249, batch(3, TaskState::Running)));
        assert!(sent(1_250, batch(4, TaskState::Running)), "an interval on");
        assert!(!sent(1_260, batch(5, TaskState::Running)));
        assert!(sent(1_270, batch(6, TaskState::Done)), "the last batch");
        // Other changes go as they are.
        let added = Change::Added {
            session: session(),
            message: Message {
                id: session(),
                text: "typed".into(),
            },
        };
        assert_eq!(
            sent_changes(Millis(1_280), &mut at, std::slice::from_ref(&added)),
            [added]
        );
    }

    #[test]
    fn the_requests_of_one_turn_go_to_the_leader_together_within_one_messages_bounds() {
        let leader = Some(TabId::from_bytes([2; 16]));
        let mut data = Data::new(TabId::from_bytes([1; 16]), "conclave", 10_000, 30_000, 7);
        let add = |text: String| Op::Add {
            session: session(),
            text,
        };
        for i in 0..3 {
            data.make(Millis(0), add(format!("short {i}")), leader)
                .expect("made");
        }
        assert_eq!(messages(&mut data), [vec![1, 2, 3]]);
        // The longest texts, escaped at worst, fill a message each.
        for _ in 0..3 {
            data.make(Millis(1), add("\u{1}".repeat(MAX_TEXT_BYTES)), leader)
                .expect("made");
        }
        assert_eq!(messages(&mut data), [vec![4], vec![5], vec![6]]);
        // A tab's most outstanding requests fit one message.
        let mut full = Data::new(TabId::from_bytes([1; 16]), "conclave", 10_000, 30_000, 7);
        for i in 0..MAX_PENDING {
            full.make(Millis(0), add(format!("m{i}")), leader)
                .expect("made");
        }
        assert_eq!(
            messages(&mut full),
            [(1..=MAX_PENDING as u64).collect::<Vec<_>>()]
        );
    }

    /// Runs what `data` asks of the store at `now` against `image`: reads and chunks at once,
    /// commits kept in `placed` (the store answers them when the test says).
    fn serve(
        data: &mut Data,
        now: Millis,
        image: &Image,
        file: &[Vec<u8>],
        placed: &mut VecDeque<Commit>,
    ) {
        while let Some(op) = data.poll_op() {
            let result = match op {
                StoreOp::Read => StoreResult::Read(Ok(image.clone())),
                StoreOp::Claim { term } => {
                    let mut claimed = image.clone();
                    let result = claimed.claim(term).map(|()| claimed);
                    StoreResult::Claimed { term, result }
                }
                StoreOp::ReadChunk { task, index, .. } => StoreResult::Chunk {
                    task,
                    index,
                    result: Ok(file[usize::try_from(index).expect("small")].clone()),
                },
                StoreOp::Commit(commit) => {
                    placed.push_back(commit);
                    continue;
                }
            };
            data.handle_store(now, result);
        }
    }

    /// The leader of [`importing`]: tab 1, at term 1.
    fn leader() -> (TabId, Term) {
        let me = TabId::from_bytes([1; 16]);
        (me, Term::new(1, me))
    }

    /// Brings the [`leader`]'s `data` up to `now`.
    fn step(data: &mut Data, now: Millis) {
        let (me, term) = leader();
        data.sync(now, Some(term), Some(me));
    }

    /// `commit` lands in `image`, and `data` hears so at `now`.
    fn land(data: &mut Data, image: &mut Image, commit: &Commit, now: Millis) {
        image.commit(commit).expect("lands");
        let ok = StoreResult::Committed {
            rev: commit.rev,
            result: Ok(()),
        };
        data.handle_store(now, ok);
    }

    /// The [`leader`], having claimed an empty store, asked to create a session and import a
    /// file of `lines` lines into it (nothing committed yet): its data layer, the store, and
    /// the file's chunks.
    fn importing(lines: usize) -> (Data, Image, Vec<Vec<u8>>) {
        let (me, term) = leader();
        let mut data = Data::new(me, "conclave", 10_000, 30_000, 7);
        let mut image = Image::default();
        image.claim(term).expect("claims");
        let lines: String = (0..lines).map(|i| format!("{i:0>99}\n")).collect();
        let file: Vec<Vec<u8>> = lines
            .as_bytes()
            .chunks(CHUNK_BYTES)
            .map(<[u8]>::to_vec)
            .collect();
        let mut placed = VecDeque::new();
        let now = Millis(0);
        step(&mut data, now);
        serve(&mut data, now, &image, &file, &mut placed);
        step(&mut data, now);
        data.make(now, Op::Create { title: "s".into() }, Some(me))
            .expect("made");
        data.make(
            now,
            Op::Import {
                session: ItemId { tab: me, number: 1 },
                stage: "stage".into(),
                name: "file".into(),
                format: Format::Lines,
                chunks: file.len() as u64,
                bytes: lines.len() as u64,
            },
            Some(me),
        )
        .expect("made");
        (data, image, file)
    }

    /// Takes what `data` sends at `now`: each commit told, (revision, when), and each message's
    /// number of commits; checks that only commits told by their size wait for a later one.
    fn take_told(
        data: &mut Data,
        now: Millis,
        told: &mut Vec<(u64, Millis)>,
        sizes: &mut Vec<usize>,
    ) {
        while let Some(body) = data.poll_send() {
            let Body::Committed(commits) = body else {
                continue;
            };
            sizes.push(commits.len());
            for (i, commit) in commits.iter().enumerate() {
                told.push((commit.rev, now));
                let last = i + 1 == commits.len();
                assert!(
                    last || commit.changes.iter().all(told_by_size),
                    "only batches told by their size wait for a later commit"
                );
            }
        }
    }

    #[test]
    fn an_imports_commits_told_by_size_reach_the_tabs_together_in_order_and_within_the_interval() {
        let (mut data, mut image, file) = importing(20_000);
        let mut placed = VecDeque::new();
        let mut now = Millis(0);
        // Every commit lands 4 ms after it is placed; what is sent is taken at once.
        let mut landed = std::collections::BTreeMap::new();
        let mut told: Vec<(u64, Millis)> = Vec::new();
        let mut sizes = Vec::new();
        let mut paused = false;
        loop {
            now = now.plus(4);
            step(&mut data, now);
            serve(&mut data, now, &image, &file, &mut placed);
            if let Some(commit) = placed.pop_front() {
                land(&mut data, &mut image, &commit, now);
                landed.insert(commit.rev, now);
            }
            take_told(&mut data, now, &mut told, &mut sizes);
            let rev = told.last().map(|(rev, _)| *rev);
            assert_eq!(
                data.written_rev().filter(|&r| r > 0),
                rev,
                "presence says what was told"
            );
            if landed.len() == 20 && !paused {
                // The store stalls: what is held goes alone when the interval ends.
                paused = true;
                let (stalled, before) = (now, told.len());
                while told.len() < landed.len() {
                    now = now.plus(1);
                    step(&mut data, now);
                    take_told(&mut data, now, &mut told, &mut sizes);
                    assert!(
                        now <= stalled.plus(IMPORT_SENT_MS),
                        "held past the interval"
                    );
                }
                assert!(told.len() > before, "something was held");
            }
            let done = data
                .written_view()
                .is_some_and(|v| v.tasks().iter().all(|t| !t.is_running()));
            if done && placed.is_empty() && told.len() == landed.len() {
                break;
            }
            assert!(now.0 < 100_000, "the import never ended");
        }
        let revs: Vec<u64> = told.iter().map(|(rev, _)| *rev).collect();
        assert_eq!(
            revs,
            landed.keys().copied().collect::<Vec<_>>(),
            "each once, in order"
        );
        for (rev, at) in &told {
            assert!(
                *at <= landed[rev].plus(IMPORT_SENT_MS),
                "revision {rev} waited too long"
            );
        }
        assert!(
            sizes.iter().any(|&n| n > 1),
            "commits travelled together: {sizes:?}"
        );
        assert!(sizes.iter().all(|&n| n <= MAX_HELD));
        assert!(
            sizes.len() * 4 < revs.len(),
            "{} messages for {} commits",
            sizes.len(),
            revs.len()
        );
    }

    #[test]
    fn an_import_batch_placed_behind_a_commit_that_fails_fails_too_and_the_leader_loads_again() {
        // Two chunks of lines: several batches.
        let (mut data, mut image, file) = importing(1_200);
        let mut placed = VecDeque::new();
        let mut now = Millis(0);
        // Commits land one by one until two are in flight.
        while placed.len() < 2 {
            now = now.plus(1);
            step(&mut data, now);
            serve(&mut data, now, &image, &file, &mut placed);
            let importing = data
                .written_view()
                .is_some_and(|v| v.tasks().iter().any(|t| t.is_running()));
            if placed.len() == 1 && !importing {
                let commit = placed.pop_front().expect("placed");
                land(&mut data, &mut image, &commit, now);
            }
            assert!(now.0 < 1_000, "two commits never in flight");
        }
        while data.poll_send().is_some() {}
        let before = image.clone();
        let (first, second) = (
            placed.pop_front().expect("one"),
            placed.pop_front().expect("two"),
        );
        assert_eq!(second.rev, first.rev + 1);
        // The first fails (the disk, say); the second, placed behind it, finds the store short.
        let failed = StoreError::Failed("disk".into());
        assert_eq!(
            image.commit(&second),
            Err(StoreError::Behind {
                stored: first.rev - 1,
                base: first.rev
            })
        );
        data.handle_store(
            now,
            StoreResult::Committed {
                rev: first.rev,
                result: Err(failed),
            },
        );
        data.handle_store(
            now,
            StoreResult::Committed {
                rev: second.rev,
                result: Err(StoreError::Behind {
                    stored: first.rev - 1,
                    base: first.rev,
                }),
            },
        );
        step(&mut data, now);
        assert_eq!(image, before, "nothing of either landed");
        assert!(
            std::iter::from_fn(|| data.poll_send()).all(|b| !matches!(b, Body::Committed(_))),
            "no tab is told of either"
        );
        serve(&mut data, now, &image, &file, &mut placed);
        assert!(
            placed.is_empty(),
            "nothing more is placed before the store is loaded again"
        );
        // A little later the leader claims and loads the store again, and goes on from there.
        now = now.plus(CLAIM_RETRY_MS);
        step(&mut data, now);
        let (_, term) = leader();
        assert_eq!(data.poll_op(), Some(StoreOp::Claim { term }));
    }
}
