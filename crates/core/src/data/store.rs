//! What the durable store holds, and the writes that change it.
//!
//! The store (IndexedDB in the browser) holds the sessions, their messages, and per tab a
//! [`Ledger`]: the highest request number consumed (applied or refused) and the outcomes of
//! the latest ones. The ledger lives in the store *with the data*, changed in the same
//! transaction, so a new leader that loads the store deduplicates exactly as the old one did.
//!
//! Every transaction is *fenced*: it carries the writer's term and fails if the store has
//! already seen a higher one (a leader that claims the store stamps its term first). A deposed
//! leader's late commit therefore changes nothing.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::import::{Cursor, Task};
use super::model::{
    Change, Draft, ItemId, Message, Question, Refusal, Resolution, ResolvedQuestion, View,
    MAX_RESOLVED,
};
use super::session::Session;
use crate::election::Term;
use crate::ids::TabId;

/// How many of a tab's latest outcomes its ledger keeps, to answer a request sent again after
/// its answer was lost. A tab never has more requests outstanding than this
/// ([`super::MAX_PENDING`]).
pub const LEDGER_RECENT: usize = 64;

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// Applied once, and durable.
    Applied,
    /// Not applied, and never will be.
    Refused(Refusal),
}

/// One tab's record in the store: which of its requests are consumed, and how the latest
/// ones ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ledger {
    /// The highest request number consumed; requests are consumed in order, so every lower
    /// number is consumed too.
    pub number: u64,
    /// The latest outcomes, oldest first, at most [`LEDGER_RECENT`].
    pub recent: VecDeque<(u64, Outcome)>,
}

impl Ledger {
    /// Records that request `number` (the next one) ended with `outcome`.
    pub fn consume(&mut self, number: u64, outcome: Outcome) {
        self.number = number;
        self.recent.push_back((number, outcome));
        while self.recent.len() > LEDGER_RECENT {
            self.recent.pop_front();
        }
    }

    /// How request `number` ended, if it is consumed and still remembered.
    #[must_use]
    pub fn outcome(&self, number: u64) -> Option<Outcome> {
        self.recent
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, outcome)| *outcome)
    }
}

/// A session as stored (its messages are stored apart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRecord {
    /// Its id.
    pub id: ItemId,
    /// Its title.
    pub title: String,
    /// The revision that created it.
    pub created: u64,
}

/// A message as stored, keyed by (session, order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRecord {
    /// Its session.
    pub session: ItemId,
    /// Its place in the session, from 0.
    pub order: u64,
    /// The message.
    pub message: Message,
}

/// A tab's ledger as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerRecord {
    /// The tab.
    pub tab: TabId,
    /// Its ledger.
    pub ledger: Ledger,
}

/// An import as stored: the task every tab sees, and where its import goes on from (for the
/// leader alone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRecord {
    /// The task.
    pub task: Task,
    /// Where it goes on from.
    pub cursor: Cursor,
}

/// Everything the store holds, as read in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    /// The revision: how many commits changed the store.
    pub rev: u64,
    /// The highest term that claimed or wrote the store.
    pub fence: Term,
    /// Every session.
    pub sessions: Vec<SessionRecord>,
    /// Every message; or, for each session in `counts`, its latest few (a tab's read).
    pub messages: Vec<MessageRecord>,
    /// How many messages each session has, for those of which `messages` holds only the
    /// latest few: a tab reads only those (its view holds them, and it reads the others from
    /// the store as it draws them), and its writer needs only how many there are.
    pub counts: BTreeMap<ItemId, u64>,
    /// Every tab's ledger.
    pub ledgers: Vec<LedgerRecord>,
    /// Every question waiting for an answer.
    pub questions: Vec<Question>,
    /// The latest resolved questions (at most [`MAX_RESOLVED`] are written).
    pub resolved: Vec<ResolvedQuestion>,
    /// Every recovered draft offered.
    pub drafts: Vec<Draft>,
    /// Every import, running or ended.
    pub tasks: Vec<TaskRecord>,
}

/// One write of a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Creates or replaces a session record.
    PutSession(SessionRecord),
    /// Deletes a session and every message of it.
    DeleteSession(ItemId),
    /// Adds a message.
    PutMessage(MessageRecord),
    /// Replaces a tab's ledger.
    PutLedger(LedgerRecord),
    /// Adds a question.
    PutQuestion(Question),
    /// Removes a question.
    DeleteQuestion(ItemId),
    /// Keeps how a question was resolved.
    PutResolved(ResolvedQuestion),
    /// Forgets how a question was resolved (no longer among the latest).
    DeleteResolved(ItemId),
    /// Offers a recovered draft (replacing the one of the same session and tab).
    PutDraft(Draft),
    /// Takes a recovered draft away.
    DeleteDraft {
        /// Its session.
        session: ItemId,
        /// The tab that was typing it.
        from: TabId,
    },
    /// Creates or replaces an import's record.
    PutTask(TaskRecord),
    /// Removes an import's record.
    DeleteTask(ItemId),
    /// Removes a staged file (its chunks): its import has ended.
    DeleteStage(String),
}

/// One transaction for the store: all of it, or nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// The committing leader's term: the transaction fails if the store has seen a higher
    /// one.
    pub term: Term,
    /// The revision the store holds after it: the transaction fails unless the store holds
    /// the one before (`rev - 1`), so that a commit lands only on top of the commit it was
    /// built after, even when the next one is placed before that one is durable.
    pub rev: u64,
    /// The writes, in order.
    pub writes: Vec<Write>,
}

/// Why the store refused a transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store has seen a higher term than the writer's: the writer was deposed.
    #[error("a later leader ({stored:?}) has claimed the store")]
    Fenced {
        /// The store's term.
        stored: Term,
    },
    /// The store does not hold the revision the commit was built on (the one before it
    /// failed): nothing is written.
    #[error("the store holds revision {stored}, not {base} that the commit follows")]
    Behind {
        /// The revision the store holds.
        stored: u64,
        /// The revision the commit follows.
        base: u64,
    },
    /// Storage is full (`QuotaExceededError`).
    #[error("storage is full")]
    Full,
    /// Storage is missing or failed; the reason as the browser gave it.
    #[error("storage failed: {0}")]
    Failed(String),
}

impl Image {
    /// The workspace this image holds. Records that contradict each other (a message of a
    /// missing session) are left out.
    #[must_use]
    pub fn view(&self) -> View {
        self.clone().into_view()
    }

    /// [`Image::view`], moving the records into it rather than copying them: a store of tens
    /// of thousands of messages is read into a view in one task, which a copy makes longer.
    #[must_use]
    pub fn into_view(self) -> View {
        let mut sessions: BTreeMap<ItemId, Session> = self
            .sessions
            .into_iter()
            .map(|s| (s.id, Session::new(s.id, s.title, s.created, Vec::new())))
            .collect();
        let mut messages = self.messages;
        // The store reads them in this order already: a sort of sorted runs is one pass.
        messages.sort_by_key(|m| (m.session, m.order));
        for record in messages {
            let Some(session) = sessions.get_mut(&record.session) else {
                continue;
            };
            if self.counts.contains_key(&record.session) {
                // The latest few, by place: a run of consecutive places (after a gap, a record
                // that did not decode, only the run that follows it).
                if record.order != session.held_to() || session.messages.is_empty() {
                    session.messages.clear();
                    session.from = record.order;
                }
                session.messages.push(record.message);
                session.count = session.held_to();
            } else {
                session.messages.push(record.message);
                session.count += 1;
            }
        }
        for (id, &count) in &self.counts {
            if let Some(session) = sessions.get_mut(id) {
                session.count = session.count.max(count);
                if session.messages.is_empty() {
                    session.from = session.count;
                }
            }
        }
        View::new(self.rev, sessions.into_values())
            .with_questions(self.questions)
            .with_resolved(self.resolved)
            .with_drafts(self.drafts)
            .with_tasks(self.tasks.into_iter().map(|r| r.task))
    }

    /// Every tab's ledger, by tab.
    #[must_use]
    pub fn ledgers(&self) -> BTreeMap<TabId, Ledger> {
        self.ledgers
            .iter()
            .map(|r| (r.tab, r.ledger.clone()))
            .collect()
    }

    /// Runs `commit` as the store does, all or nothing: fails if the store has seen a higher
    /// term or does not hold the revision before the commit's, otherwise stamps the term and
    /// applies every write. (The browser's store does the same in one IndexedDB transaction;
    /// the simulator's store is this.)
    ///
    /// # Errors
    /// [`StoreError::Fenced`] when the store's term is higher than the commit's;
    /// [`StoreError::Behind`] when it holds another revision than `commit.rev - 1`.
    pub fn commit(&mut self, commit: &Commit) -> Result<(), StoreError> {
        self.admits(commit.term)?;
        let base = commit.rev.saturating_sub(1);
        if self.rev != base {
            return Err(StoreError::Behind {
                stored: self.rev,
                base,
            });
        }
        self.fence = commit.term;
        for write in &commit.writes {
            match write {
                Write::PutSession(record) => {
                    self.sessions.retain(|s| s.id != record.id);
                    self.sessions.push(record.clone());
                }
                Write::DeleteSession(id) => {
                    self.sessions.retain(|s| s.id != *id);
                    self.messages.retain(|m| m.session != *id);
                }
                Write::PutMessage(record) => {
                    self.messages
                        .retain(|m| (m.session, m.order) != (record.session, record.order));
                    self.messages.push(record.clone());
                }
                Write::PutLedger(record) => {
                    self.ledgers.retain(|l| l.tab != record.tab);
                    self.ledgers.push(record.clone());
                }
                Write::PutQuestion(question) => {
                    self.questions.retain(|q| q.id != question.id);
                    self.questions.push(question.clone());
                }
                Write::DeleteQuestion(id) => self.questions.retain(|q| q.id != *id),
                Write::PutResolved(resolved) => {
                    self.resolved.retain(|r| r.question != resolved.question);
                    self.resolved.push(resolved.clone());
                }
                Write::DeleteResolved(id) => self.resolved.retain(|r| r.question != *id),
                Write::PutDraft(draft) => {
                    self.drafts
                        .retain(|d| (d.session, d.from) != (draft.session, draft.from));
                    self.drafts.push(draft.clone());
                }
                Write::DeleteDraft { session, from } => self
                    .drafts
                    .retain(|d| (d.session, d.from) != (*session, *from)),
                Write::PutTask(record) => {
                    self.tasks.retain(|t| t.task.id != record.task.id);
                    self.tasks.push(record.clone());
                }
                Write::DeleteTask(id) => self.tasks.retain(|t| t.task.id != *id),
                // Staged files live beside the store, not in its image.
                Write::DeleteStage(_) => {}
            }
        }
        self.rev = commit.rev;
        Ok(())
    }

    /// Claims the store for `term`: fails if it has seen a higher one, else stamps it.
    ///
    /// # Errors
    /// [`StoreError::Fenced`] when the store's term is higher.
    pub fn claim(&mut self, term: Term) -> Result<(), StoreError> {
        self.admits(term)?;
        self.fence = term;
        Ok(())
    }

    /// Whether a transaction of `term` gets past the fence (one of a higher term has run).
    fn admits(&self, term: Term) -> Result<(), StoreError> {
        if self.fence > term {
            return Err(StoreError::Fenced { stored: self.fence });
        }
        Ok(())
    }
}

/// The writes that make `change` durable, given the view *before* it (for the order of an
/// added message); the view is advanced to revision `rev` with it.
pub(crate) fn writes_for(view: &mut View, rev: u64, change: &Change, out: &mut Vec<Write>) {
    match change {
        Change::Created { id, title } | Change::Renamed { id, title } => {
            let created = match change {
                Change::Created { .. } => rev,
                _ => view.session(*id).map_or(rev, |s| s.created),
            };
            out.push(Write::PutSession(SessionRecord {
                id: *id,
                title: title.clone(),
                created,
            }));
        }
        Change::Deleted { id } => delete_session(view, *id, None, out),
        Change::Asked { question } => out.push(Write::PutQuestion(question.clone())),
        Change::Resolved {
            id,
            session,
            resolution,
        } => {
            out.push(Write::DeleteQuestion(*id));
            if view.question(*id).is_some() {
                // Kept with the data, the latest MAX_RESOLVED: a tab that reads the store
                // says how it went as one that heard it does.
                out.push(Write::PutResolved(ResolvedQuestion {
                    question: *id,
                    session: *session,
                    title: view
                        .session(*session)
                        .map(|s| s.title.clone())
                        .unwrap_or_default(),
                    resolution: *resolution,
                    rev,
                }));
                let kept = view.resolved();
                let excess = (kept.len() + 1).saturating_sub(MAX_RESOLVED);
                out.extend(
                    kept[..excess.min(kept.len())]
                        .iter()
                        .map(|r| Write::DeleteResolved(r.question)),
                );
            }
            if matches!(resolution, Resolution::Confirmed { .. }) {
                delete_session(view, *session, Some(*id), out);
            }
        }
        Change::Added { session, message } => {
            let order = view.session(*session).map_or(0, |s| s.count);
            out.push(Write::PutMessage(MessageRecord {
                session: *session,
                order,
                message: message.clone(),
            }));
        }
        Change::DraftRecovered { draft } => out.push(Write::PutDraft(draft.clone())),
        Change::Imported { task, messages, .. } => {
            let base = view
                .task(*task)
                .and_then(|t| view.session(t.session))
                .map_or(0, |s| s.count);
            if let Some(session) = view.task(*task).map(|t| t.session) {
                out.extend(messages.iter().enumerate().map(|(i, message)| {
                    Write::PutMessage(MessageRecord {
                        session,
                        order: base + i as u64,
                        message: message.clone(),
                    })
                }));
            }
        }
        // The task's record is written by the writer, which holds its cursor.
        Change::TaskStarted { .. } | Change::TaskEnded { .. } => {}
        Change::DraftDismissed { session, from } => out.push(Write::DeleteDraft {
            session: *session,
            from: *from,
        }),
    }
    view.apply(rev, std::slice::from_ref(change));
}

/// The writes that delete session `id` with its questions (but `asked`, already written) and
/// recovered drafts.
fn delete_session(view: &View, id: ItemId, asked: Option<ItemId>, out: &mut Vec<Write>) {
    out.extend(
        view.questions()
            .iter()
            .filter(|q| q.session == id && Some(q.id) != asked)
            .map(|q| Write::DeleteQuestion(q.id)),
    );
    out.extend(
        view.drafts()
            .iter()
            .filter(|d| d.session == id)
            .map(|d| Write::DeleteDraft {
                session: id,
                from: d.from,
            }),
    );
    for task in view.tasks().into_iter().filter(|t| t.session == id) {
        out.push(Write::DeleteTask(task.id));
        if task.is_running() {
            out.push(Write::DeleteStage(task.stage.clone()));
        }
    }
    out.push(Write::DeleteSession(id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::model::Op;
    use crate::election::Term;
    use crate::ids::TabId;

    fn id(n: u64) -> ItemId {
        ItemId {
            tab: TabId::from_bytes([5; 16]),
            number: n,
        }
    }

    /// Applies `op` (as request `request`) to the live view and commits its writes to `image`.
    fn commit(view: &mut View, image: &mut Image, request: ItemId, op: &Op) {
        let change = view.check(request, op).expect("the op fits the view");
        let rev = view.rev() + 1;
        let mut writes = Vec::new();
        writes_for(view, rev, &change, &mut writes);
        image
            .commit(&Commit {
                term: Term::ZERO,
                rev,
                writes,
            })
            .expect("no fence");
    }

    #[test]
    fn the_latest_resolutions_are_kept_with_the_data_and_read_back_as_heard() {
        let (mut view, mut image) = (View::default(), Image::default());
        let by = TabId::from_bytes([9; 16]);
        for k in 0..25u64 {
            let session = id(100 * k + 1);
            let title = format!("session {k}");
            commit(&mut view, &mut image, session, &Op::Create { title });
            let asked = Op::AskDelete { session };
            commit(&mut view, &mut image, id(100 * k + 2), &asked);
            let answer = ItemId {
                tab: by,
                number: k + 1,
            };
            let op = Op::Answer {
                question: id(100 * k + 2),
                confirm: k % 2 == 0,
            };
            commit(&mut view, &mut image, answer, &op);
        }
        // The live view (a tab that heard every change) and the store read back agree.
        let read = image.view();
        assert_eq!(read.resolved(), view.resolved());
        assert_eq!(
            image.resolved.len(),
            MAX_RESOLVED,
            "only the latest are written"
        );
        let kept: Vec<&str> = read.resolved().iter().map(|r| r.title.as_str()).collect();
        let expected: Vec<String> = (5..25).map(|k| format!("session {k}")).collect();
        assert_eq!(
            kept, expected,
            "oldest first, titles kept for deleted sessions"
        );
        assert!(matches!(
            read.resolved()[1].resolution,
            Resolution::Confirmed { by: tab } if tab == by
        ));
        assert!(read.session(id(601)).is_none(), "confirmed: deleted");
        assert!(read.session(id(701)).is_some(), "cancelled: kept");
        assert!(read.questions().is_empty());
    }
}
