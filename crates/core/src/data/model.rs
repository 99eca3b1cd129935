//! The workspace a person sees: sessions of messages, the operations that change it, and the
//! changes those leave behind.
//!
//! Every tab holds a [`View`] and applies the same [`Change`]s to it in the same order (the
//! order of the store's revisions), so every tab renders the same state. Only the leader turns
//! an [`Op`] into a [`Change`] ([`View::check`]), against its own view of the store.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::import::{Format, Task, TaskState, CHUNK_BYTES, MAX_IMPORT_BYTES};
use super::session::Session;
use crate::ids::TabId;

/// The longest session title accepted, in bytes of UTF-8.
pub const MAX_TITLE_BYTES: usize = 200;
/// The longest message accepted, in bytes of UTF-8. With JSON's worst-case escaping, a batch
/// of such messages still fits one channel message (64 KiB).
pub const MAX_TEXT_BYTES: usize = 4_096;

/// The id of a session or a message: the request that created it, (tab, request number).
/// Unique without coordination: a tab's id is random and its request numbers only grow.
/// Written `<32 hex>.<number>`.
///
/// # Examples
/// ```
/// use conclave_core::data::ItemId;
/// use conclave_core::TabId;
/// let id = ItemId { tab: TabId::from_bytes([1; 16]), number: 7 };
/// assert_eq!(id.to_string().parse::<ItemId>(), Ok(id));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemId {
    /// The tab that asked for it.
    pub tab: TabId,
    /// That tab's request number.
    pub number: u64,
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tab, self.number)
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.tab.short(), self.number)
    }
}

/// Why a text is not an [`ItemId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an item id (32 lowercase hex digits, a dot, a number)")]
pub struct ParseItemIdError;

impl FromStr for ItemId {
    type Err = ParseItemIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tab, number) = s.split_once('.').ok_or(ParseItemIdError)?;
        let tab = tab.parse().map_err(|_| ParseItemIdError)?;
        // One spelling per number: no sign, no leading zero.
        if number.is_empty()
            || !number.bytes().all(|b| b.is_ascii_digit())
            || (number.len() > 1 && number.starts_with('0'))
        {
            return Err(ParseItemIdError);
        }
        let number: u64 = number.parse().map_err(|_| ParseItemIdError)?;
        if number > crate::ids::MAX_SAFE_INTEGER {
            return Err(ParseItemIdError);
        }
        Ok(Self { tab, number })
    }
}

impl Serialize for ItemId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ItemId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One message of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Its id (the request that added it).
    pub id: ItemId,
    /// What was written.
    pub text: String,
}

impl Message {
    /// The tab that wrote it.
    #[must_use]
    pub fn author(&self) -> TabId {
        self.id.tab
    }
}

/// What a request asks the leader to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Op {
    /// Create a session with this title; its id is the request's.
    Create {
        /// The title.
        title: String,
    },
    /// Rename a session.
    Rename {
        /// The session.
        session: ItemId,
        /// The new title.
        title: String,
    },
    /// Delete a session and its messages.
    Delete {
        /// The session.
        session: ItemId,
    },
    /// Add a message to a session; its id is the request's.
    Add {
        /// The session.
        session: ItemId,
        /// What was written.
        text: String,
    },
    /// Ask every tab to confirm deleting a session: a [`Question`] whose id is the request's,
    /// answered once ([`Op::Answer`]) from any tab, or cancelled when it times out.
    AskDelete {
        /// The session.
        session: ItemId,
    },
    /// Answer a pending question: the first answer wins; later ones are refused with
    /// [`Refusal::AlreadyResolved`].
    Answer {
        /// The question.
        question: ItemId,
        /// Whether to go ahead (delete the session) or cancel.
        confirm: bool,
    },
    /// Take away a recovered draft offered in a session (restored into a composer, or
    /// discarded). A draft no longer offered is refused ([`Refusal::NoSuchDraft`]).
    Dismiss {
        /// The session it is offered in.
        session: ItemId,
        /// The tab that was typing it.
        from: TabId,
    },
    /// Import a staged file into a session, as its messages: a long task, one per session at a
    /// time ([`Refusal::TaskRunning`] otherwise), run by the leader ([`super::Task`]).
    Import {
        /// The session.
        session: ItemId,
        /// Where the file is staged.
        stage: String,
        /// The file's name.
        name: String,
        /// How to read it.
        format: Format,
        /// How many chunks of [`super::CHUNK_BYTES`] are staged.
        chunks: u64,
        /// The file's size, in bytes.
        bytes: u64,
    },
    /// Cancel a running import; what it imported is kept.
    Cancel {
        /// The task.
        task: ItemId,
    },
}

impl Op {
    /// Checks what can be checked without the store.
    ///
    /// # Errors
    /// [`Refusal::EmptyTitle`], [`Refusal::TitleTooLong`], [`Refusal::EmptyText`] or
    /// [`Refusal::TextTooLong`].
    pub fn validate(&self) -> Result<(), Refusal> {
        match self {
            Op::Create { title } | Op::Rename { title, .. } => {
                if title.trim().is_empty() {
                    Err(Refusal::EmptyTitle)
                } else if title.len() > MAX_TITLE_BYTES {
                    Err(Refusal::TitleTooLong)
                } else {
                    Ok(())
                }
            }
            Op::Delete { .. }
            | Op::AskDelete { .. }
            | Op::Answer { .. }
            | Op::Dismiss { .. }
            | Op::Cancel { .. } => Ok(()),
            Op::Import {
                name,
                chunks,
                bytes,
                ..
            } => {
                if *bytes > MAX_IMPORT_BYTES {
                    Err(Refusal::FileTooLarge)
                } else if name.len() > MAX_TITLE_BYTES
                    || *chunks != bytes.div_ceil(CHUNK_BYTES as u64).max(1)
                {
                    Err(Refusal::BadFile)
                } else {
                    Ok(())
                }
            }
            Op::Add { text, .. } => {
                if text.trim().is_empty() {
                    Err(Refusal::EmptyText)
                } else if text.len() > MAX_TEXT_BYTES {
                    Err(Refusal::TextTooLong)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// The session it is about, if it names one.
    #[must_use]
    pub fn session(&self) -> Option<ItemId> {
        match self {
            Op::Create { .. } | Op::Answer { .. } | Op::Dismiss { .. } | Op::Cancel { .. } => None,
            Op::Import { session, .. } => Some(*session),
            Op::Rename { session, .. }
            | Op::Delete { session }
            | Op::Add { session, .. }
            | Op::AskDelete { session } => Some(*session),
        }
    }
}

/// Why a request cannot be applied: a permanent answer (retrying would not help).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Refusal {
    /// The session it names does not exist (never did, or was deleted).
    #[error("the session no longer exists")]
    NoSuchSession,
    /// A title was empty or only spaces.
    #[error("a title cannot be empty")]
    EmptyTitle,
    /// A title was longer than [`MAX_TITLE_BYTES`].
    #[error("the title is longer than {MAX_TITLE_BYTES} bytes")]
    TitleTooLong,
    /// A message was empty or only spaces.
    #[error("a message cannot be empty")]
    EmptyText,
    /// A message was longer than [`MAX_TEXT_BYTES`].
    #[error("the message is longer than {MAX_TEXT_BYTES} bytes")]
    TextTooLong,
    /// Its deadline passed before the leader could apply it: it was not applied, and never
    /// will be.
    #[error("no leader could apply it before its deadline; it was not applied")]
    Expired,
    /// This tab has more requests waiting than it may (the leader is unreachable or slow).
    #[error("too many requests are waiting for the leader")]
    Busy,
    /// The question was already answered (from this tab or another) or timed out.
    #[error("already answered")]
    AlreadyResolved,
    /// A question about this session is already waiting for an answer.
    #[error("a confirmation for this session is already waiting")]
    AlreadyAsked,
    /// The tab is read-only: the leader has not answered for a while (the retry policy's
    /// circuit breaker is open); nothing is sent until it answers again.
    #[error("read-only: no leader answers; try again shortly")]
    ReadOnly,
    /// The recovered draft is no longer offered (another tab restored or discarded it).
    #[error("the draft is no longer offered")]
    NoSuchDraft,
    /// The session already has a running import: one task per session at a time.
    #[error("an import is already running in this session")]
    TaskRunning,
    /// The task is not running (it ended, or it never existed).
    #[error("the import is not running")]
    TaskNotRunning,
    /// The file is larger than [`super::MAX_IMPORT_BYTES`].
    #[error("the file is too large to import")]
    FileTooLarge,
    /// The import's description does not add up (its chunks and size disagree, or its name is
    /// too long).
    #[error("the file's description is not valid")]
    BadFile,
}

/// What applying one request did to the workspace; every tab applies it to its [`View`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Change {
    /// A session was created.
    Created {
        /// Its id.
        id: ItemId,
        /// Its title.
        title: String,
    },
    /// A session was renamed.
    Renamed {
        /// The session.
        id: ItemId,
        /// Its new title.
        title: String,
    },
    /// A session and its messages were deleted.
    Deleted {
        /// The session.
        id: ItemId,
    },
    /// A message was added to a session.
    Added {
        /// The session.
        session: ItemId,
        /// The message.
        message: Message,
    },
    /// A question was asked of every tab.
    Asked {
        /// The question.
        question: Question,
    },
    /// A question was resolved, once: it is gone, and if confirmed, its session is deleted.
    Resolved {
        /// The question.
        id: ItemId,
        /// Its session.
        session: ItemId,
        /// How it was resolved.
        resolution: Resolution,
    },
    /// A draft recovered from a tab that died is offered in its session.
    DraftRecovered {
        /// The draft.
        draft: Draft,
    },
    /// A recovered draft is no longer offered.
    DraftDismissed {
        /// Its session.
        session: ItemId,
        /// The tab that was typing it.
        from: TabId,
    },
    /// An import started.
    TaskStarted {
        /// The task, as it starts.
        task: Task,
    },
    /// A batch of an import's records became the session's next messages.
    Imported {
        /// The task.
        task: ItemId,
        /// The messages, in the file's order: all of them, or none where they were left out of
        /// what was sent to the tabs (each reads from the store those it draws).
        messages: Vec<Message>,
        /// How many messages the batch added.
        added: u64,
        /// Chunks fully read, after this batch.
        chunks_done: u64,
        /// How the task stands after it (running, done, or failed at a bad record).
        state: TaskState,
    },
    /// An import was cancelled.
    TaskEnded {
        /// The task.
        task: ItemId,
        /// How it ended.
        state: TaskState,
    },
}

/// What a tab was typing in a session, not sent yet: recovered from its backup after it
/// died, and offered in the session to whoever opens it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// The session it was typed in.
    pub session: ItemId,
    /// The tab that was typing it.
    pub from: TabId,
    /// The text.
    pub text: String,
}

/// A question every tab shows until one answers it or it times out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Its id (the request that asked it).
    pub id: ItemId,
    /// The session it would delete.
    pub session: ItemId,
}

/// A question as it was resolved: kept in the store with the data (the latest
/// [`MAX_RESOLVED`] of them), so that a tab that reads the store, rather than hearing the
/// change, still says how each was resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolvedQuestion {
    /// The question's id.
    pub question: ItemId,
    /// The session it was about.
    pub session: ItemId,
    /// The session's title when the question was resolved (a confirmed one is gone).
    pub title: String,
    /// How it was resolved.
    pub resolution: Resolution,
    /// The store revision that resolved it (their order).
    pub rev: u64,
}

/// How many resolved questions the store keeps, the latest.
pub const MAX_RESOLVED: usize = 20;

/// Orders `resolved` by the revision that resolved each (one commit may resolve several:
/// then by id, as a view read from the store has them), each question once, and keeps the
/// latest [`MAX_RESOLVED`].
fn keep_latest(resolved: &mut Vec<ResolvedQuestion>) {
    resolved.sort_by_key(|r| (r.rev, r.question));
    resolved.dedup_by_key(|r| r.question);
    let excess = resolved.len().saturating_sub(MAX_RESOLVED);
    resolved.drain(..excess);
}

/// How a question was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Resolution {
    /// A tab answered yes.
    Confirmed {
        /// The tab that answered.
        by: TabId,
    },
    /// A tab answered no.
    Cancelled {
        /// The tab that answered.
        by: TabId,
    },
    /// Nobody answered in time: cancelled.
    TimedOut,
}

/// The workspace as of one store revision: every session and its messages.
///
/// # Examples
/// ```
/// use conclave_core::data::{ItemId, Op, View};
/// use conclave_core::TabId;
/// let mut view = View::default();
/// let id = ItemId { tab: TabId::from_bytes([1; 16]), number: 1 };
/// let change = view.check(id, &Op::Create { title: "Notes".into() }).unwrap();
/// view.apply(1, &[change]);
/// assert_eq!(view.session(id).map(|s| s.title.as_str()), Some("Notes"));
/// assert_eq!(view.rev(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    rev: u64,
    sessions: BTreeMap<ItemId, Session>,
    questions: BTreeMap<ItemId, Question>,
    /// The latest resolved questions, oldest first, at most [`MAX_RESOLVED`].
    resolved: Vec<ResolvedQuestion>,
    drafts: BTreeMap<(ItemId, TabId), Draft>,
    tasks: BTreeMap<ItemId, Task>,
}

impl View {
    /// A view of revision `rev` holding `sessions`.
    #[must_use]
    pub fn new(rev: u64, sessions: impl IntoIterator<Item = Session>) -> Self {
        Self {
            rev,
            sessions: sessions.into_iter().map(|s| (s.id, s)).collect(),
            questions: BTreeMap::new(),
            resolved: Vec::new(),
            drafts: BTreeMap::new(),
            tasks: BTreeMap::new(),
        }
    }

    /// The same view with these imports (those of a missing session are left out).
    #[must_use]
    pub fn with_tasks(mut self, tasks: impl IntoIterator<Item = Task>) -> Self {
        self.tasks = tasks
            .into_iter()
            .filter(|t| self.sessions.contains_key(&t.session))
            .map(|t| (t.id, t))
            .collect();
        self
    }

    /// Every import, running or ended, oldest first.
    #[must_use]
    pub fn tasks(&self) -> Vec<&Task> {
        self.tasks.values().collect()
    }

    /// The import `id`, if its session still exists.
    #[must_use]
    pub fn task(&self, id: ItemId) -> Option<&Task> {
        self.tasks.get(&id)
    }

    /// The running import of `session`, if any.
    #[must_use]
    pub fn running_task(&self, session: ItemId) -> Option<&Task> {
        self.tasks
            .values()
            .find(|t| t.session == session && t.is_running())
    }

    /// The same view with these recovered drafts offered (those of a missing session are
    /// left out).
    #[must_use]
    pub fn with_drafts(mut self, drafts: impl IntoIterator<Item = Draft>) -> Self {
        self.drafts = drafts
            .into_iter()
            .filter(|d| self.sessions.contains_key(&d.session))
            .map(|d| ((d.session, d.from), d))
            .collect();
        self
    }

    /// Every recovered draft offered, by session then tab.
    #[must_use]
    pub fn drafts(&self) -> Vec<&Draft> {
        self.drafts.values().collect()
    }

    /// The recovered draft of tab `from` offered in `session`, if any.
    #[must_use]
    pub fn draft(&self, session: ItemId, from: TabId) -> Option<&Draft> {
        self.drafts.get(&(session, from))
    }

    /// Whether `text`, typed by tab `from` in `session`, would be offered anew: the session
    /// exists and does not offer that text of that tab already.
    #[must_use]
    pub fn offers_anew(&self, session: ItemId, from: TabId, text: &str) -> bool {
        self.sessions.contains_key(&session)
            && self.draft(session, from).is_none_or(|d| d.text != text)
    }

    /// The same view with these questions pending (those about a missing session are left
    /// out).
    #[must_use]
    pub fn with_questions(mut self, questions: impl IntoIterator<Item = Question>) -> Self {
        self.questions = questions
            .into_iter()
            .filter(|q| self.sessions.contains_key(&q.session))
            .map(|q| (q.id, q))
            .collect();
        self
    }

    /// The same view with these questions resolved: the latest [`MAX_RESOLVED`] of them, by
    /// the revision that resolved them.
    #[must_use]
    pub fn with_resolved(mut self, resolved: impl IntoIterator<Item = ResolvedQuestion>) -> Self {
        self.resolved = resolved.into_iter().collect();
        keep_latest(&mut self.resolved);
        self
    }

    /// The latest resolved questions, oldest first (at most [`MAX_RESOLVED`]).
    #[must_use]
    pub fn resolved(&self) -> &[ResolvedQuestion] {
        &self.resolved
    }

    /// The questions waiting for an answer, oldest first.
    #[must_use]
    pub fn questions(&self) -> Vec<&Question> {
        self.questions.values().collect()
    }

    /// The question `id`, if it is still waiting.
    #[must_use]
    pub fn question(&self, id: ItemId) -> Option<&Question> {
        self.questions.get(&id)
    }

    /// The store revision this view shows (0: the empty store).
    #[must_use]
    pub fn rev(&self) -> u64 {
        self.rev
    }

    /// The session `id`, if it exists.
    #[must_use]
    pub fn session(&self, id: ItemId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// Every session, in the order they were created.
    #[must_use]
    pub fn sessions(&self) -> Vec<&Session> {
        let mut list: Vec<&Session> = self.sessions.values().collect();
        list.sort_by_key(|s| (s.created, s.id));
        list
    }

    /// How many messages all sessions have together (held or not).
    #[must_use]
    pub fn message_count(&self) -> u64 {
        self.sessions.values().map(|s| s.count).sum()
    }

    /// Takes in `messages` of `session`, read from the store at places `from..`
    /// ([`Session::fill`]): whether what the view holds changed.
    pub fn fill(&mut self, session: ItemId, from: u64, messages: Vec<Message>) -> bool {
        self.sessions
            .get_mut(&session)
            .is_some_and(|s| s.fill(from, messages))
    }

    /// Whether this view shows what `full` (a view holding every message, the store's) does:
    /// the same revision, sessions, counts, questions, drafts and tasks, and each message held
    /// the one `full` has at its place.
    #[must_use]
    pub fn agrees_with(&self, full: &View) -> bool {
        let windows = self.sessions.len() == full.sessions.len()
            && self.sessions.values().all(|mine| {
                full.sessions.get(&mine.id).is_some_and(|theirs| {
                    let at = usize::try_from(mine.from).unwrap_or(usize::MAX);
                    let held = at
                        .checked_add(mine.messages.len())
                        .and_then(|to| theirs.messages.get(at..to));
                    theirs.holds_all()
                        && (&mine.title, mine.created, mine.count)
                            == (&theirs.title, theirs.created, theirs.count)
                        && held == Some(&mine.messages[..])
                })
            });
        windows
            && (
                self.rev,
                &self.questions,
                &self.resolved,
                &self.drafts,
                &self.tasks,
            ) == (
                full.rev,
                &full.questions,
                &full.resolved,
                &full.drafts,
                &full.tasks,
            )
    }

    /// What request `id` asking for `op` would change, checked against this view.
    ///
    /// # Errors
    /// The [`Refusal`] that makes it impossible.
    pub fn check(&self, id: ItemId, op: &Op) -> Result<Change, Refusal> {
        op.validate()?;
        if let Some(session) = op.session() {
            if !self.sessions.contains_key(&session) {
                return Err(Refusal::NoSuchSession);
            }
        }
        Ok(match op.clone() {
            Op::Create { title } => Change::Created { id, title },
            Op::Rename { session, title } => Change::Renamed { id: session, title },
            Op::Delete { session } => Change::Deleted { id: session },
            Op::Add { session, text } => Change::Added {
                session,
                message: Message { id, text },
            },
            Op::AskDelete { session } => {
                if self.questions.values().any(|q| q.session == session) {
                    return Err(Refusal::AlreadyAsked);
                }
                Change::Asked {
                    question: Question { id, session },
                }
            }
            Op::Import {
                session,
                stage,
                name,
                format,
                chunks,
                bytes,
            } => {
                if self.running_task(session).is_some() {
                    return Err(Refusal::TaskRunning);
                }
                Change::TaskStarted {
                    task: Task {
                        id,
                        session,
                        name,
                        format,
                        stage,
                        chunks,
                        bytes,
                        chunks_done: 0,
                        records: 0,
                        state: TaskState::Running,
                    },
                }
            }
            Op::Cancel { task } => {
                if !self.tasks.get(&task).is_some_and(Task::is_running) {
                    return Err(Refusal::TaskNotRunning);
                }
                Change::TaskEnded {
                    task,
                    state: TaskState::Cancelled { by: id.tab },
                }
            }
            Op::Dismiss { session, from } => {
                if !self.drafts.contains_key(&(session, from)) {
                    return Err(Refusal::NoSuchDraft);
                }
                Change::DraftDismissed { session, from }
            }
            Op::Answer { question, confirm } => {
                let question = self
                    .questions
                    .get(&question)
                    .ok_or(Refusal::AlreadyResolved)?;
                let by = id.tab;
                Change::Resolved {
                    id: question.id,
                    session: question.session,
                    resolution: if confirm {
                        Resolution::Confirmed { by }
                    } else {
                        Resolution::Cancelled { by }
                    },
                }
            }
        })
    }

    /// Applies the changes of revision `rev` (this view's next), in order. A change that no
    /// longer fits (a rename of a session deleted in the same revision) is skipped.
    pub fn apply(&mut self, rev: u64, changes: &[Change]) {
        for change in changes {
            self.apply_one(rev, change);
        }
        self.rev = rev;
    }

    fn apply_one(&mut self, rev: u64, change: &Change) {
        match change {
            Change::Created { id, title } => {
                self.sessions
                    .entry(*id)
                    .or_insert_with(|| Session::new(*id, title.clone(), rev, Vec::new()));
            }
            Change::Renamed { id, title } => {
                if let Some(session) = self.sessions.get_mut(id) {
                    session.title.clone_from(title);
                }
            }
            Change::Deleted { id } => self.remove_session(*id),
            Change::Asked { question } => {
                if self.sessions.contains_key(&question.session) {
                    self.questions.insert(question.id, question.clone());
                }
            }
            Change::Resolved {
                id,
                session,
                resolution,
            } => {
                // The entry goes before the resolution takes effect.
                if self.questions.remove(id).is_some() {
                    let title = self
                        .sessions
                        .get(session)
                        .map(|s| s.title.clone())
                        .unwrap_or_default();
                    self.resolved.push(ResolvedQuestion {
                        question: *id,
                        session: *session,
                        title,
                        resolution: *resolution,
                        rev,
                    });
                    keep_latest(&mut self.resolved);
                }
                if matches!(resolution, Resolution::Confirmed { .. }) {
                    self.remove_session(*session);
                }
            }
            Change::Added { session, message } => {
                if let Some(session) = self.sessions.get_mut(session) {
                    session.append(std::slice::from_ref(message));
                }
            }
            Change::DraftRecovered { draft } => {
                if self.sessions.contains_key(&draft.session) {
                    self.drafts
                        .insert((draft.session, draft.from), draft.clone());
                }
            }
            Change::DraftDismissed { session, from } => {
                self.drafts.remove(&(*session, *from));
            }
            Change::TaskStarted { task } => {
                if self.sessions.contains_key(&task.session) {
                    self.tasks.insert(task.id, task.clone());
                }
            }
            Change::Imported {
                task,
                messages,
                added,
                chunks_done,
                state,
            } => {
                let Some(task) = self.tasks.get_mut(task) else {
                    return;
                };
                task.chunks_done = *chunks_done;
                task.records += added;
                task.state = state.clone();
                if let Some(session) = self.sessions.get_mut(&task.session) {
                    if messages.len() as u64 == *added {
                        session.append(messages);
                    } else {
                        session.skip(*added);
                    }
                }
            }
            Change::TaskEnded { task, state } => {
                if let Some(task) = self.tasks.get_mut(task) {
                    task.state = state.clone();
                }
            }
        }
    }

    /// Session `id` goes, with its questions and drafts.
    fn remove_session(&mut self, id: ItemId) {
        self.sessions.remove(&id);
        self.questions.retain(|_, q| q.session != id);
        self.drafts.retain(|&(session, _), _| session != id);
        self.tasks.retain(|_, t| t.session != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> ItemId {
        ItemId {
            tab: TabId::from_bytes([3; 16]),
            number: n,
        }
    }

    #[test]
    fn item_ids_have_one_spelling() {
        let good = id(12).to_string();
        assert_eq!(good.parse::<ItemId>(), Ok(id(12)));
        for bad in [
            String::new(),
            "x.1".to_owned(),
            good.replace(".12", ".012"),
            good.replace(".12", ".+12"),
            good.replace(".12", "."),
            good.replace(".12", ".9007199254740992"),
            good.replace(".12", ""),
        ] {
            assert_eq!(bad.parse::<ItemId>(), Err(ParseItemIdError), "{bad}");
        }
    }

    #[test]
    fn ops_on_a_missing_session_are_refused() {
        let view = View::default();
        let add = Op::Add {
            session: id(1),
            text: "hi".into(),
        };
        assert_eq!(view.check(id(2), &add), Err(Refusal::NoSuchSession));
        let empty = Op::Create { title: " ".into() };
        assert_eq!(view.check(id(2), &empty), Err(Refusal::EmptyTitle));
        let long = Op::Create {
            title: "x".repeat(MAX_TITLE_BYTES + 1),
        };
        assert_eq!(view.check(id(2), &long), Err(Refusal::TitleTooLong));
    }

    #[test]
    fn a_view_applies_changes_in_order_and_lists_sessions_as_created() {
        let mut view = View::default();
        let a = view.check(id(1), &Op::Create { title: "a".into() });
        let b = view.check(id(2), &Op::Create { title: "b".into() });
        view.apply(1, &[b.unwrap_or_else(|e| panic!("{e}"))]);
        view.apply(2, &[a.unwrap_or_else(|e| panic!("{e}"))]);
        let add = view.check(
            id(3),
            &Op::Add {
                session: id(1),
                text: "hello".into(),
            },
        );
        view.apply(3, &[add.unwrap_or_else(|e| panic!("{e}"))]);
        let titles: Vec<&str> = view.sessions().iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["b", "a"]);
        assert_eq!(view.message_count(), 1);
        view.apply(4, &[Change::Deleted { id: id(1) }]);
        assert_eq!(view.message_count(), 0);
        assert_eq!(view.rev(), 4);
    }
}
