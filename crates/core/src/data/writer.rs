//! The leader's side: the one tab that writes the store.
//!
//! A new leader first *claims* the store (stamps its term, which fences every older leader's
//! later transaction) and loads it. Then it takes the requests of every tab in order, per tab,
//! each once: a number at or below the tab's ledger is a duplicate (answered from the ledger
//! once durable, never applied again), the next number is applied (or refused) and consumed,
//! a later number waits for the ones before it. What arrives while commits are in flight
//! goes into the next one (group commit). Answers go out only after the commit is durable.
//!
//! While an import runs, up to [`PIPELINE`] commits are in flight at once: the next batch is
//! built and placed while the one before it is still being made durable, so the store never
//! waits for the leader between two batches. (Requests alone wait for the commit in flight,
//! so that those arriving meanwhile go together: placed at once, they made smaller commits and
//! fewer writes a second.) The store runs commits in the order they were placed, and each
//! lands only on top of the one before it ([`Commit::rev`]): if one fails, those placed after
//! it fail too, and the writer loads the store again.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::import::{self, Cursor, Task};
use super::model::{Change, Draft, ItemId, Op, Refusal, Resolution, View};
use super::store::{self, Commit, Image, Ledger, LedgerRecord, Outcome, TaskRecord, Write};
use super::{sent_bytes, Answer, BATCH_BYTES};
use crate::election::Term;
use crate::ids::{Millis, TabId};

/// A request or abandonment received by the leader.
#[derive(Clone, Debug)]
pub(crate) enum Incoming {
    Request {
        tab: TabId,
        number: u64,
        op: Op,
        /// Past this instant (the leader's clock) it is refused as expired.
        expires: Millis,
    },
    Abandon {
        tab: TabId,
        upto: u64,
    },
    /// The rest of a dead tab's backup, once its requests up to `upto` are consumed: its
    /// drafts to offer, and its key to delete (if it still holds `text`) once all is durable.
    Recover {
        tab: TabId,
        upto: u64,
        drafts: Vec<(ItemId, String)>,
        key: String,
        text: String,
    },
}

impl Incoming {
    fn tab(&self) -> TabId {
        match self {
            Incoming::Request { tab, .. }
            | Incoming::Abandon { tab, .. }
            | Incoming::Recover { tab, .. } => *tab,
        }
    }
}

/// A commit the store has not answered yet, and what to say once it is durable.
#[derive(Clone, Debug)]
pub(crate) struct InFlight {
    pub(crate) rev: u64,
    pub(crate) changes: Vec<Change>,
    pub(crate) answers: Vec<Answer>,
    /// Backup keys (with the text read) whose content this commit makes durable.
    pub(crate) forgets: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
enum State {
    /// The claim is out; requests wait.
    Claiming,
    Ready {
        /// The store as this leader has written it (including the commits in flight).
        view: View,
        ledgers: BTreeMap<TabId, Ledger>,
        /// Per tab, the highest number whose outcome is durable: only those are answered
        /// from the ledger.
        durable: BTreeMap<TabId, u64>,
        /// When each pending question times out, on this leader's clock (a new leader gives
        /// the questions it finds a full timeout again).
        asked: BTreeMap<ItemId, Millis>,
    },
    /// The store refused this leader (a later one claimed it): it writes nothing more.
    Fenced,
}

/// How many commits may be in flight at once while an import runs.
pub(crate) const PIPELINE: usize = 2;

/// The most requests a leader keeps waiting (in the queue or behind a gap); beyond it the
/// oldest are dropped, and their tabs send them again.
const MAX_QUEUED: usize = 4_096;

#[derive(Clone, Debug)]
pub(crate) struct Writer {
    pub(crate) fence: Term,
    question_ms: u64,
    state: State,
    queue: VecDeque<Incoming>,
    /// The commits placed and not yet answered, oldest first.
    in_flight: VecDeque<InFlight>,
    /// The imports under way: where each goes on from (as committed, or as the commit in
    /// flight leaves it).
    cursors: BTreeMap<ItemId, Cursor>,
    /// The staged chunk each import reads now, once read.
    chunks: BTreeMap<ItemId, (u64, Vec<u8>)>,
    /// Imports whose chunk is being read.
    reading: BTreeSet<ItemId>,
    /// Imports whose chunk could not be read, and why.
    unreadable: BTreeMap<ItemId, String>,
}

/// What the writer asks of the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriterOut {
    /// Run this commit.
    Commit(Commit),
    /// Tell these tabs how their (already durable) requests ended.
    Answers(Vec<Answer>),
    /// Read chunk `index` of the file staged as `stage`, for import `task`.
    ReadChunk {
        task: ItemId,
        stage: String,
        index: u64,
    },
    /// Everything in these backups (key, text read) is durable: delete them.
    Forget(Vec<(String, String)>),
}

impl Writer {
    pub(crate) fn new(fence: Term, question_ms: u64) -> Self {
        Self {
            fence,
            question_ms,
            state: State::Claiming,
            queue: VecDeque::new(),
            in_flight: VecDeque::new(),
            cursors: BTreeMap::new(),
            chunks: BTreeMap::new(),
            reading: BTreeSet::new(),
            unreadable: BTreeMap::new(),
        }
    }

    /// Chunk `index` of import `task` was read (or could not be).
    pub(crate) fn chunk_read(&mut self, task: ItemId, index: u64, result: Result<Vec<u8>, String>) {
        self.reading.remove(&task);
        if self.cursors.get(&task).map(|c| c.chunk) != Some(index) {
            return;
        }
        match result {
            Ok(bytes) => {
                self.chunks.insert(task, (index, bytes));
            }
            Err(reason) => {
                self.unreadable.insert(task, reason);
            }
        }
    }

    /// Forgets every import's progress in memory: the store's is loaded again.
    fn forget_imports(&mut self) {
        self.cursors.clear();
        self.chunks.clear();
        self.reading.clear();
        self.unreadable.clear();
    }

    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    pub(crate) fn is_fenced(&self) -> bool {
        matches!(self.state, State::Fenced)
    }

    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }

    /// What this writer has written (the commits in flight included), once it has claimed.
    pub(crate) fn view(&self) -> Option<&View> {
        match &self.state {
            State::Ready { view, .. } => Some(view),
            _ => None,
        }
    }

    /// The highest request number of `tab` consumed (the commits in flight included).
    pub(crate) fn consumed(&self, tab: TabId) -> u64 {
        match &self.state {
            State::Ready { ledgers, .. } => ledgers.get(&tab).map_or(0, |l| l.number),
            _ => 0,
        }
    }

    pub(crate) fn take(&mut self, incoming: Incoming) {
        if self.queue.len() >= MAX_QUEUED {
            self.queue.pop_front();
        }
        self.queue.push_back(incoming);
    }

    /// The claim succeeded at `now`: the store holds `image`.
    pub(crate) fn claimed(&mut self, now: Millis, image: &Image) {
        let ledgers = image.ledgers();
        let durable = ledgers.iter().map(|(&t, l)| (t, l.number)).collect();
        let view = image.view();
        let until = now.plus(self.question_ms);
        let asked = view.questions().iter().map(|q| (q.id, until)).collect();
        self.forget_imports();
        self.cursors = image
            .tasks
            .iter()
            .filter(|r| r.task.is_running())
            .map(|r| (r.task.id, r.cursor.clone()))
            .collect();
        self.state = State::Ready {
            view,
            ledgers,
            durable,
            asked,
        };
        self.in_flight.clear();
    }

    /// The store refused this leader.
    pub(crate) fn fenced(&mut self) {
        self.state = State::Fenced;
        self.in_flight.clear();
        self.queue.clear();
        self.forget_imports();
    }

    /// A commit in flight failed for another reason: what this leader holds in memory is
    /// ahead of the store, so it claims and loads again (the commits placed after the one that
    /// failed fail too). Their requests are sent again by their tabs.
    pub(crate) fn reload(&mut self) {
        self.state = State::Claiming;
        self.in_flight.clear();
        self.forget_imports();
    }

    /// The revision of the oldest commit in flight (the next the store answers), if any.
    pub(crate) fn in_flight_rev(&self) -> Option<u64> {
        self.in_flight.front().map(|f| f.rev)
    }

    /// When the next pending question times out, if any.
    pub(crate) fn deadline(&self) -> Option<Millis> {
        match &self.state {
            State::Ready { asked, .. } if self.may_place() => asked.values().min().copied(),
            _ => None,
        }
    }

    /// Whether the next commit may be placed now: when none is in flight, or, while an
    /// import runs, fewer than [`PIPELINE`].
    fn may_place(&self) -> bool {
        self.in_flight.is_empty() || (!self.cursors.is_empty() && self.in_flight.len() < PIPELINE)
    }

    /// The oldest commit in flight is durable: what to tell every tab.
    pub(crate) fn committed(&mut self) -> Option<InFlight> {
        let done = self.in_flight.pop_front()?;
        if let State::Ready { durable, .. } = &mut self.state {
            for answer in &done.answers {
                let at = durable.entry(answer.tab).or_default();
                *at = (*at).max(answer.number);
            }
        }
        Some(done)
    }

    /// Works through the queue at `now`: answers duplicates, and, if the next commit may be
    /// placed, builds it from what can be applied.
    pub(crate) fn step(&mut self, now: Millis) -> Vec<WriterOut> {
        let mut out = Vec::new();
        let may_place = self.may_place();
        let State::Ready {
            view,
            ledgers,
            durable,
            asked,
        } = &mut self.state
        else {
            return out;
        };
        if !may_place {
            // Duplicates of durable requests can be answered now; the rest waits.
            let mut dup = Vec::new();
            self.queue.retain(|incoming| match incoming {
                Incoming::Request { tab, number, .. }
                    if *number <= durable.get(tab).copied().unwrap_or(0) =>
                {
                    dup.extend(durable_answer(ledgers, durable, *tab, *number));
                    false
                }
                _ => true,
            });
            if !dup.is_empty() {
                out.push(WriterOut::Answers(dup));
            }
            return out;
        }
        let rev = view.rev() + 1;
        let mut changes = Vec::new();
        let mut answers = Vec::new();
        let mut dup = Vec::new();
        let mut writes = Vec::new();
        let mut touched: Vec<TabId> = Vec::new();
        let mut bytes = 0usize;
        let mut forgets = Vec::new();
        let mut waiting = VecDeque::new();
        // Questions nobody answered in time are cancelled, once, by the leader itself.
        let expired: Vec<ItemId> = asked
            .iter()
            .filter(|(_, &until)| until <= now)
            .map(|(&id, _)| id)
            .collect();
        for id in expired {
            asked.remove(&id);
            if let Some(question) = view.question(id).cloned() {
                let change = Change::Resolved {
                    id,
                    session: question.session,
                    resolution: Resolution::TimedOut,
                };
                store::writes_for(view, rev, &change, &mut writes);
                changes.push(change);
            }
        }
        let mut progress = true;
        // Requests behind a gap wait; each pass may fill a gap, so pass until nothing moves.
        while progress {
            progress = false;
            while let Some(incoming) = self.queue.pop_front() {
                if bytes >= BATCH_BYTES {
                    waiting.push_back(incoming);
                    continue;
                }
                let tab = incoming.tab();
                let ledger = ledgers.entry(tab).or_default();
                match incoming {
                    Incoming::Request {
                        number,
                        op,
                        expires,
                        ..
                    } => {
                        if number <= ledger.number {
                            // Not durable yet, it is in this commit: its answer goes with it.
                            dup.extend(durable_answer(ledgers, durable, tab, number));
                            continue;
                        }
                        if number > ledger.number + 1 {
                            waiting.push_back(Incoming::Request {
                                tab,
                                number,
                                op,
                                expires,
                            });
                            continue;
                        }
                        progress = true;
                        let outcome = if now > expires {
                            Outcome::Refused(Refusal::Expired)
                        } else {
                            let id = super::model::ItemId { tab, number };
                            match view.check(id, &op) {
                                Ok(change) => {
                                    bytes += change_bytes(&change);
                                    if let Change::Asked { question } = &change {
                                        asked.insert(question.id, now.plus(self.question_ms));
                                    }
                                    store::writes_for(view, rev, &change, &mut writes);
                                    changes.push(change);
                                    Outcome::Applied
                                }
                                Err(reason) => Outcome::Refused(reason),
                            }
                        };
                        if let (Outcome::Refused(_), Op::Import { stage, .. }) = (&outcome, &op) {
                            // A refused import's staged file has no task to end it: it goes now.
                            writes.push(Write::DeleteStage(stage.clone()));
                        }
                        ledger.consume(number, outcome);
                        answers.push(Answer {
                            tab,
                            number,
                            outcome,
                        });
                        bytes += 64;
                        if !touched.contains(&tab) {
                            touched.push(tab);
                        }
                    }
                    Incoming::Recover {
                        upto,
                        drafts,
                        key,
                        text,
                        ..
                    } => {
                        if ledger.number < upto {
                            // Its requests come first.
                            waiting.push_back(Incoming::Recover {
                                tab,
                                upto,
                                drafts,
                                key,
                                text,
                            });
                            continue;
                        }
                        progress = true;
                        for (session, typed) in drafts {
                            if view.offers_anew(session, tab, &typed) {
                                let change = Change::DraftRecovered {
                                    draft: Draft {
                                        session,
                                        from: tab,
                                        text: typed,
                                    },
                                };
                                bytes += change_bytes(&change);
                                store::writes_for(view, rev, &change, &mut writes);
                                changes.push(change);
                            }
                        }
                        forgets.push((key, text));
                    }
                    Incoming::Abandon { upto, .. } => {
                        // Those already consumed and durable are answered from the ledger (the
                        // answers may have been lost): the tab still waits for them.
                        let lowest = upto.saturating_sub(super::MAX_PENDING as u64);
                        dup.extend(
                            (lowest + 1..=upto.min(ledger.number))
                                .filter_map(|n| durable_answer(ledgers, durable, tab, n)),
                        );
                        let ledger = ledgers.entry(tab).or_default();
                        // At most a ledger's memory at once: a tab never has more outstanding.
                        let upto = upto.min(ledger.number + super::store::LEDGER_RECENT as u64);
                        if upto <= ledger.number {
                            continue;
                        }
                        progress = true;
                        for number in ledger.number + 1..=upto {
                            let outcome = Outcome::Refused(Refusal::Expired);
                            ledger.consume(number, outcome);
                            answers.push(Answer {
                                tab,
                                number,
                                outcome,
                            });
                            bytes += 64;
                        }
                        if !touched.contains(&tab) {
                            touched.push(tab);
                        }
                    }
                }
            }
            std::mem::swap(&mut self.queue, &mut waiting);
        }
        if !dup.is_empty() {
            out.push(WriterOut::Answers(dup));
        }
        // Imports: tasks started here get a cursor; each running one adds its next batch if
        // its chunk is read (or asks for the chunk); tasks that ended lose their cursor.
        let mut touched_tasks: Vec<ItemId> = Vec::new();
        for change in &changes {
            match change {
                Change::TaskStarted { task } => {
                    self.cursors.insert(task.id, Cursor::default());
                    touched_tasks.push(task.id);
                }
                Change::TaskEnded { task, .. } => touched_tasks.push(*task),
                _ => {}
            }
        }
        let running: Vec<Task> = view
            .tasks()
            .into_iter()
            .filter(|t| t.is_running() && self.cursors.contains_key(&t.id))
            .cloned()
            .collect();
        for task in running {
            if bytes >= BATCH_BYTES {
                break;
            }
            let Some(cursor) = self.cursors.get(&task.id).cloned() else {
                continue;
            };
            let batch = if let Some(reason) = self.unreadable.remove(&task.id) {
                Some(import::failed_batch(&task, &cursor, reason))
            } else {
                match self.chunks.get(&task.id) {
                    Some((index, chunk)) if *index == cursor.chunk => {
                        Some(import::next_batch(&task, &cursor, chunk))
                    }
                    _ => {
                        if self.reading.insert(task.id) {
                            out.push(WriterOut::ReadChunk {
                                task: task.id,
                                stage: task.stage.clone(),
                                index: cursor.chunk,
                            });
                        }
                        None
                    }
                }
            };
            if let Some((change, next)) = batch {
                if next.chunk != cursor.chunk {
                    self.chunks.remove(&task.id);
                }
                self.cursors.insert(task.id, next);
                bytes += change_bytes(&change);
                store::writes_for(view, rev, &change, &mut writes);
                changes.push(change);
                touched_tasks.push(task.id);
            }
        }
        for id in touched_tasks {
            let Some(task) = view.task(id) else { continue };
            let cursor = self.cursors.get(&id).cloned().unwrap_or_default();
            writes.push(Write::PutTask(TaskRecord {
                task: task.clone(),
                cursor,
            }));
            if !task.is_running() {
                writes.push(Write::DeleteStage(task.stage.clone()));
                self.cursors.remove(&id);
                self.chunks.remove(&id);
                self.reading.remove(&id);
            }
        }
        // Imports whose session went lose their cursor too.
        self.cursors.retain(|id, _| view.task(*id).is_some());
        // Questions answered or deleted with their session wait no more.
        asked.retain(|id, _| view.question(*id).is_some());
        if answers.is_empty() && changes.is_empty() {
            // Nothing new to write: what those backups hold is durable already.
            if !forgets.is_empty() {
                out.push(WriterOut::Forget(forgets));
            }
            return out;
        }
        for tab in touched {
            if let Some(ledger) = ledgers.get(&tab) {
                writes.push(Write::PutLedger(LedgerRecord {
                    tab,
                    ledger: ledger.clone(),
                }));
            }
        }
        // A batch with only refusals still advances the revision: every commit does.
        if changes.is_empty() {
            view.apply(rev, &[]);
        }
        self.in_flight.push_back(InFlight {
            rev,
            changes,
            answers,
            forgets,
        });
        out.push(WriterOut::Commit(Commit {
            term: self.fence,
            rev,
            writes,
        }));
        out
    }
}

/// The answer to request `number` of `tab`, from its ledger, if that request is consumed
/// durably (a request consumed only by the commit being built or in flight is answered with
/// that commit) and still remembered.
fn durable_answer(
    ledgers: &BTreeMap<TabId, Ledger>,
    durable: &BTreeMap<TabId, u64>,
    tab: TabId,
    number: u64,
) -> Option<Answer> {
    if number > durable.get(&tab).copied().unwrap_or(0) {
        return None;
    }
    let outcome = ledgers.get(&tab)?.outcome(number)?;
    Some(Answer {
        tab,
        number,
        outcome,
    })
}

/// An upper bound on a change's size once sent.
fn change_bytes(change: &Change) -> usize {
    let text = match change {
        Change::Created { title, .. } | Change::Renamed { title, .. } => title.len(),
        Change::Deleted { .. }
        | Change::Asked { .. }
        | Change::Resolved { .. }
        | Change::DraftDismissed { .. } => 0,
        Change::DraftRecovered { draft } => draft.text.len(),
        Change::TaskStarted { task } => task.name.len() + task.stage.len(),
        Change::TaskEnded { .. } => 0,
        Change::Imported {
            messages, state, ..
        } => {
            let failed = match state {
                super::TaskState::Failed { reason, .. } => reason.len(),
                _ => 0,
            };
            messages.iter().map(|m| m.text.len() + 64).sum::<usize>() + failed
        }
        Change::Added { message, .. } => message.text.len(),
    };
    sent_bytes(text)
}
