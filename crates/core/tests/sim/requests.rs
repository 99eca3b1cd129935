//! The sessions workspace in the simulator (SPEC 2.6): tabs make requests, the leader
//! applies them to a durable store, every tab renders the store.
//!
//! The store here is a [`Image`], run as the browser's IndexedDB runs it: one transaction at
//! a time, all or nothing, fenced by the term, each commit only on the revision it follows. A
//! transaction lands when its time comes, even if its page is paused (the browser process
//! runs it); a page in the back/forward cache has its transaction aborted; a crashed page's
//! transaction lands or not, at random (it may have reached the browser process); until the
//! heal, a live page's commit now and then fails on its own (the disk), and one its leader
//! placed behind it then finds the store short. The results reach the page as any input does.
//!
//! **R1–R5**, checked on every commit that lands and every request that ends:
//! - R1: no request is applied twice (a message id is inserted into the store at most once);
//! - R2: a request its caller saw *applied* is in the store (or its session is deleted);
//! - R3: no request is applied after its caller saw it *refused*;
//! - R4: each tab's requests are applied in its order;
//! - R5 (at the end, after the heal and a settling time with no faults): every running tab's
//!   requests have ended, and every running tab shows exactly the store (every session, and
//!   its count; of its messages, those it holds: a tab told of an import's batch by its size
//!   alone reads from the store the messages it draws);
//! - W: every message a tab holds is the one the store has at its place (checked after a
//!   change now and then, and after every read of the store's messages, which tabs make now
//!   and then as the app does for what it draws). A tab's read of the store (and a writer's
//!   claim) takes each session's count and only its latest few messages, as the browser's
//!   does.
//! - R6: every question is resolved at most once — one answer applied, or the timeout —
//!   and every tab sees the same resolution, once.

use std::collections::{BTreeMap, BTreeSet};

use conclave_core::data::store::Write;
use conclave_core::data::{
    Change, Image, ItemId, Message, Op, Outcome, Refusal, Resolution, StoreError, StoreOp,
    StoreResult, View,
};
use conclave_core::{TabId, Term};

use super::imports::Imports;
use super::Rng;

/// What the workspace went through over one seed.
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestStats {
    pub made: u64,
    pub applied: u64,
    pub refused: u64,
    pub expired: u64,
    pub commits: u64,
    pub fenced: u64,
    /// Commits refused because the one before them failed (or was lost with its page).
    pub behind: u64,
    /// Commits of a live page that failed on their own.
    pub failed_commits: u64,
    pub lost_commits: u64,
    pub questions_answered: u64,
    pub questions_timed_out: u64,
    pub answers_too_late: u64,
    pub read_only: u64,
    /// Import batches a tab was told of by their size alone.
    pub batches_unsent: u64,
    /// Reads of a session's messages from the store into a tab's view that changed it.
    pub fills: u64,
}

impl RequestStats {
    pub fn add(&mut self, other: &Self) {
        self.made += other.made;
        self.applied += other.applied;
        self.refused += other.refused;
        self.expired += other.expired;
        self.commits += other.commits;
        self.fenced += other.fenced;
        self.behind += other.behind;
        self.failed_commits += other.failed_commits;
        self.lost_commits += other.lost_commits;
        self.questions_answered += other.questions_answered;
        self.questions_timed_out += other.questions_timed_out;
        self.answers_too_late += other.answers_too_late;
        self.read_only += other.read_only;
        self.batches_unsent += other.batches_unsent;
        self.fills += other.fills;
    }
}

/// How often a live page's commit fails on its own before the heal, per mille.
const FAIL_PER_MILLE: u64 = 20;

/// How often a tab reads some of a session's messages from the store after a change, as the
/// app does for what it draws, per mille.
const FILL_PER_MILLE: u64 = 200;

pub struct Requests {
    pub enabled: bool,
    pub rng: Rng,
    /// Whether a live page's commit may fail on its own (the disk, say) now and then: until
    /// the heal.
    pub failing: bool,
    /// Its own stream, so that the requests drawn stay those of the seed.
    faults: Rng,
    /// The tabs' reads of messages from the store: a stream of its own too.
    reads: Rng,
    store: Image,
    /// R1: every message id ever inserted.
    inserted: BTreeSet<ItemId>,
    /// R3: requests whose caller saw them refused.
    refused: BTreeSet<ItemId>,
    /// R4: per tab, the highest request number applied so far.
    last_applied: BTreeMap<TabId, u64>,
    /// Every request made, by id.
    ops: BTreeMap<ItemId, Op>,
    /// R6: each question's resolution, as the first tab saw it.
    resolutions: BTreeMap<ItemId, Resolution>,
    /// R6: per (tab, question), seen resolved.
    seen_resolved: BTreeSet<(usize, ItemId)>,
    /// R6: the answer applied to each question.
    answered: BTreeMap<ItemId, ItemId>,
    /// Per tab index: what it shows.
    views: BTreeMap<usize, View>,
    pub stats: RequestStats,
}

impl Requests {
    pub fn new(seed: u64) -> Self {
        Self {
            enabled: true,
            rng: Rng::new(seed ^ 0x5e55_1075),
            failing: true,
            faults: Rng::new(seed ^ 0x0d15_ca11),
            reads: Rng::new(seed ^ 0x5ead_0f57),
            store: Image::default(),
            inserted: BTreeSet::new(),
            refused: BTreeSet::new(),
            last_applied: BTreeMap::new(),
            views: BTreeMap::new(),
            ops: BTreeMap::new(),
            resolutions: BTreeMap::new(),
            seen_resolved: BTreeSet::new(),
            answered: BTreeMap::new(),
            stats: RequestStats::default(),
        }
    }

    /// A request tab `i` (whose view is as recorded) might make now.
    pub fn draw(&mut self, i: usize, n: u64) -> Op {
        let sessions: Vec<ItemId> = self
            .views
            .get(&i)
            .map(|v| v.sessions().iter().map(|s| s.id).collect())
            .unwrap_or_default();
        let pick = self.rng.range(0, 99);
        let some = |rng: &mut Rng| sessions[rng.range(0, sessions.len() as u64 - 1) as usize];
        if sessions.is_empty() || pick < 8 {
            return Op::Create {
                title: format!("session {n} of tab {i}"),
            };
        }
        let questions: Vec<ItemId> = self
            .views
            .get(&i)
            .map(|v| v.questions().iter().map(|q| q.id).collect())
            .unwrap_or_default();
        if !questions.is_empty() && pick < 30 {
            let question = questions[self.rng.range(0, questions.len() as u64 - 1) as usize];
            return Op::Answer {
                question,
                confirm: self.rng.chance(500),
            };
        }
        match pick {
            8..=11 => Op::Rename {
                session: some(&mut self.rng),
                title: format!("renamed {n}"),
            },
            12 if self.rng.chance(300) => Op::Delete {
                session: some(&mut self.rng),
            },
            13..=14 => Op::AskDelete {
                session: some(&mut self.rng),
            },
            _ => Op::Add {
                session: some(&mut self.rng),
                text: format!("message {n} from tab {i}"),
            },
        }
    }

    pub fn made(&mut self, tab: TabId, number: u64, op: Op) {
        self.stats.made += 1;
        self.ops.insert(ItemId { tab, number }, op);
    }

    /// Runs `op` against the store for tab `i` (with id `id`), as the browser would; the
    /// result, or `None` if it never reaches the page. `landing` decides, for a transaction
    /// of a page that is gone, whether it reached the browser in time.
    pub fn run(
        &mut self,
        id: TabId,
        op: StoreOp,
        page_alive: bool,
        cached: bool,
        imports: &mut Imports,
    ) -> Result<Option<StoreResult>, String> {
        Ok(match op {
            StoreOp::ReadChunk { task, stage, index } => page_alive.then(|| StoreResult::Chunk {
                task,
                index,
                result: imports
                    .chunk(&stage, index)
                    .ok_or_else(|| StoreError::Failed("no such staged chunk".into())),
            }),
            StoreOp::Read => page_alive.then(|| StoreResult::Read(Ok(self.read()))),
            StoreOp::Claim { term } => {
                if cached {
                    return Ok(None);
                }
                let result = self.store.claim(term).map(|()| self.read());
                page_alive.then_some(StoreResult::Claimed { term, result })
            }
            StoreOp::Commit(commit) => {
                let lands = if cached {
                    false
                } else if page_alive {
                    true
                } else {
                    self.rng.chance(500)
                };
                if !lands {
                    self.stats.lost_commits += 1;
                    return Ok(None);
                }
                // A commit of a live page fails on its own now and then (the leader loads the
                // store again; a commit it placed behind this one finds the store short).
                if page_alive && self.failing && self.faults.chance(FAIL_PER_MILLE) {
                    self.stats.failed_commits += 1;
                    return Ok(Some(StoreResult::Committed {
                        rev: commit.rev,
                        result: Err(StoreError::Failed("the disk failed (simulated)".into())),
                    }));
                }
                // Past the failure above, the fence and a revision other than the one the
                // commit follows (the one before it failed) are the only ways a commit fails
                // here: check what would land first.
                if self.store.fence <= commit.term && self.store.rev + 1 == commit.rev {
                    self.check_landing(id, &commit.writes, commit.term)?;
                    imports.check_landing(&self.store, &commit.writes)?;
                }
                let result = self.store.commit(&commit);
                match &result {
                    Ok(()) => self.stats.commits += 1,
                    Err(StoreError::Fenced { .. }) => self.stats.fenced += 1,
                    Err(StoreError::Behind { .. }) => self.stats.behind += 1,
                    Err(_) => {}
                }
                page_alive.then_some(StoreResult::Committed {
                    rev: commit.rev,
                    result,
                })
            }
        })
    }

    /// R1, R3, R4 for a commit about to land.
    fn check_landing(&mut self, writer: TabId, writes: &[Write], term: Term) -> Result<(), String> {
        for write in writes {
            let id = match write {
                Write::PutMessage(record) => record.message.id,
                Write::PutSession(record)
                    if !self.store.sessions.iter().any(|s| s.id == record.id) =>
                {
                    record.id
                }
                _ => continue,
            };
            if !self.inserted.insert(id) {
                return Err(format!(
                    "R1: request {id:?} applied twice (commit of {} at {term:?})",
                    writer.short()
                ));
            }
            if self.refused.contains(&id) {
                return Err(format!(
                    "R3: request {id:?} applied after its caller saw it refused"
                ));
            }
            let last = self.last_applied.entry(id.tab).or_insert(0);
            if id.number <= *last {
                return Err(format!(
                    "R4: request {id:?} applied after request {} of the same tab",
                    *last
                ));
            }
            *last = id.number;
        }
        Ok(())
    }

    /// R2, R3 when a request of tab `id` ends.
    pub fn ended(&mut self, id: TabId, number: u64, outcome: Outcome) -> Result<(), String> {
        let item = ItemId { tab: id, number };
        match outcome {
            Outcome::Applied => {
                self.stats.applied += 1;
                if let Some(Op::Answer { question, .. }) = self.ops.get(&item) {
                    if let Some(other) = self.answered.insert(*question, item) {
                        return Err(format!(
                            "R6: question {question:?} answered twice: by {other:?} and {item:?}"
                        ));
                    }
                    if self.resolutions.get(question) == Some(&Resolution::TimedOut) {
                        return Err(format!(
                            "R6: question {question:?} timed out and was answered by {item:?}"
                        ));
                    }
                }
                let ledger = self
                    .store
                    .ledgers
                    .iter()
                    .find(|l| l.tab == id)
                    .map_or(0, |l| l.ledger.number);
                if ledger < number {
                    return Err(format!(
                        "R2: request {item:?} seen applied, but the store's ledger is at {ledger}"
                    ));
                }
                // What it inserted landed (it may have been deleted since, with its session).
                let inserts = matches!(
                    self.ops.get(&item),
                    Some(Op::Create { .. } | Op::Add { .. })
                );
                if inserts && !self.inserted.contains(&item) {
                    return Err(format!("R2: request {item:?} seen applied never landed"));
                }
            }
            Outcome::Refused(reason) => {
                self.stats.refused += 1;
                if reason == Refusal::Expired {
                    self.stats.expired += 1;
                }
                if reason == Refusal::AlreadyResolved {
                    self.stats.answers_too_late += 1;
                }
                if self.inserted.contains(&item) {
                    return Err(format!(
                        "R3: request {item:?} seen refused ({reason:?}) but applied"
                    ));
                }
                self.refused.insert(item);
            }
        }
        Ok(())
    }

    /// The store as it stands.
    pub fn store(&self) -> &Image {
        &self.store
    }

    /// The imports tab `i` shows running.
    pub fn running_of(&self, i: usize) -> Vec<ItemId> {
        self.views
            .get(&i)
            .map(|v| {
                v.tasks()
                    .iter()
                    .filter(|t| t.is_running())
                    .map(|t| t.id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The sessions tab `i` shows.
    pub fn sessions_of(&self, i: usize) -> Vec<ItemId> {
        self.views
            .get(&i)
            .map(|v| v.sessions().iter().map(|s| s.id).collect())
            .unwrap_or_default()
    }

    pub fn loaded(&mut self, i: usize, view: View) {
        self.views.insert(i, view);
    }

    pub fn changed(&mut self, i: usize, rev: u64, changes: &[Change]) -> Result<(), String> {
        for change in changes {
            if let Change::Resolved { id, resolution, .. } = change {
                if !self.seen_resolved.insert((i, *id)) {
                    return Err(format!("R6: tab {i} saw question {id:?} resolved twice"));
                }
                if !self.resolutions.contains_key(id) {
                    if *resolution == Resolution::TimedOut {
                        self.stats.questions_timed_out += 1;
                    } else {
                        self.stats.questions_answered += 1;
                    }
                }
                let first = *self.resolutions.entry(*id).or_insert(*resolution);
                if first != *resolution {
                    return Err(format!(
                        "R6: question {id:?} resolved {first:?} and {resolution:?}"
                    ));
                }
                if *resolution == Resolution::TimedOut && self.answered.contains_key(id) {
                    return Err(format!("R6: question {id:?} answered, then timed out"));
                }
            }
        }
        let view = self.views.entry(i).or_default();
        if rev != view.rev() + 1 {
            return Err(format!(
                "tab {i} applied revision {rev} on top of {}",
                view.rev()
            ));
        }
        view.apply(rev, changes);
        for change in changes {
            if let Change::Imported {
                messages, added, ..
            } = change
            {
                if messages.len() as u64 != *added {
                    self.stats.batches_unsent += 1;
                }
            }
        }
        if self.reads.chance(FILL_PER_MILLE) {
            self.fill(i);
            self.check_held(i)?;
        }
        Ok(())
    }

    /// The store as a tab reads it: everything but messages, of which only each session's
    /// latest few (none to four), and how many each session has.
    fn read(&mut self) -> Image {
        let mut image = self.store.clone();
        let mut counts = BTreeMap::new();
        for session in &image.sessions {
            let count = image
                .messages
                .iter()
                .filter(|m| m.session == session.id)
                .count() as u64;
            counts.insert(
                session.id,
                (count, count.saturating_sub(self.reads.range(0, 4))),
            );
        }
        image.messages.retain(|m| {
            counts
                .get(&m.session)
                .is_some_and(|&(_, from)| m.order >= from)
        });
        image.counts = counts
            .into_iter()
            .map(|(id, (count, _))| (id, count))
            .collect();
        image
    }

    /// Tab `i` reads from the store the latest few messages of one of its sessions, or all of
    /// them, or a run in between (what it draws, or searches), and takes them into its view.
    fn fill(&mut self, i: usize) {
        let sessions: Vec<(ItemId, u64)> = self.views.get(&i).map_or_else(Vec::new, |view| {
            view.sessions().iter().map(|s| (s.id, s.count)).collect()
        });
        if sessions.is_empty() {
            return;
        }
        let (session, count) = sessions[self.reads.range(0, sessions.len() as u64 - 1) as usize];
        let to = count - self.reads.range(0, count.min(3));
        let from = match self.reads.range(0, 2) {
            0 => 0,
            1 => to.saturating_sub(self.reads.range(1, 40)),
            _ => self.reads.range(0, to),
        };
        let messages = self.stored(session, from..to);
        let filled = self.views.get_mut(&i);
        if filled.is_some_and(|view| view.fill(session, from, messages)) {
            self.stats.fills += 1;
        }
    }

    /// The messages the store holds of `session` at `places`, in order.
    fn stored(&self, session: ItemId, places: std::ops::Range<u64>) -> Vec<Message> {
        let mut records: Vec<_> = self
            .store
            .messages
            .iter()
            .filter(|m| m.session == session && places.contains(&m.order))
            .collect();
        records.sort_by_key(|m| m.order);
        records.into_iter().map(|m| m.message.clone()).collect()
    }

    /// W for tab `i`: each message it holds of a session the store has is the store's at its
    /// place.
    fn check_held(&self, i: usize) -> Result<(), String> {
        let Some(view) = self.views.get(&i) else {
            return Ok(());
        };
        for session in view.sessions() {
            if session.messages.is_empty()
                || !self.store.sessions.iter().any(|s| s.id == session.id)
            {
                continue;
            }
            if self.stored(session.id, session.from..session.held_to()) != session.messages {
                return Err(format!(
                    "W: tab {i} holds messages {}..{} of session {:?} (of {}) that the store does not hold there",
                    session.from,
                    session.held_to(),
                    session.id,
                    session.count
                ));
            }
        }
        Ok(())
    }

    /// R5 for tab `i`, which runs: nothing outstanding, and it shows the store.
    pub fn check_settled(&self, i: usize, outstanding: usize) -> Result<(), String> {
        if outstanding > 0 {
            return Err(format!(
                "R5: tab {i} still has {outstanding} requests outstanding"
            ));
        }
        let store = self.store.view();
        match self.views.get(&i) {
            Some(view) if view.agrees_with(&store) => Ok(()),
            Some(view) => Err(format!(
                "R5: tab {i} shows revision {} ({} sessions, {} messages), the store {} ({} sessions, {} messages)",
                view.rev(),
                view.sessions().len(),
                view.message_count(),
                store.rev(),
                store.sessions().len(),
                store.message_count()
            )),
            None if self.store.rev == 0 => Ok(()),
            None => Err(format!("R5: tab {i} never read the store")),
        }
    }
}
