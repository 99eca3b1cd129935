//! Reconciling per-tab emergency backups into the durable store (SPEC 2.5).
//!
//! Each tab keeps what it has not yet seen durably stored — its pending [`Op`]s — in its own
//! `localStorage` key, `conclave:backup:<tab id>`, stamped with its [`VClock`]. At start and on
//! every leadership change the leader reads every such key and calls [`reconcile`], which is
//! pure: it returns the new [`Store`] to persist and a [`Report`] to show.
//!
//! ## What happens to each backup
//! Each backup is judged against the store clock *as it was before this reconciliation*, so the
//! verdict does not depend on the order the keys were read in:
//! - rejected by [`parse_backup`] (foreign, corrupted, another version…): **skipped**, listed with
//!   its [`BackupRejection`], never deleted, never fatal;
//! - clock before or equal to the store clock: **dropped** as already stored;
//! - clock after the store clock: **applied**;
//! - clock concurrent with the store clock: **merged**.
//!
//! Dropping is a claim made by the clock; the reconciler checks it. A backup the clock calls
//! stored but that holds a write the store lacks (the store clock ran ahead of its data) is
//! applied anyway and listed as **recovered**, so an acknowledged write is never lost to a bad
//! clock.
//!
//! ## How writes combine
//! The store is a join of everything it has seen, so applying a backup twice, or backups in any
//! order or grouping, gives the same store:
//! - **Messages** are a grow-only set keyed by id within their session. A message is never
//!   removed. Two different messages under one id (which ids drawn from the secure random source
//!   make practically impossible) keep the larger by [`Message`]'s order and are reported as a
//!   [`MessageCollision`].
//! - **Titles** are a register: each write carries the clock of the tab when it wrote it and the
//!   writing tab. The kept title is the write with the largest **(clock total, writer tab id,
//!   title text)**. A write that happened after another has a strictly larger clock total
//!   ([`VClock::total`]), so a later rename always beats an earlier one; between concurrent
//!   renames the order picks one the same way in every tab and every run, and the loser is
//!   reported as a [`TitleConflict`]. Within one backup, a session's last title write is the
//!   tab's own latest word and the only one that counts.
//! - A message or rename for a session that neither the store nor the backup created makes the
//!   session exist with an empty title, so that nothing is lost.
//! - The store clock becomes the join of itself and every backup clock read.
//!
//! ## Deleting backups
//! [`Report::deletable`] lists every key whose backups were all applied, merged, recovered or
//! dropped; never a skipped one. The driver deletes a key only after the new store is durable,
//! and only if it still holds the text that was reconciled (its tab may have written again).
//! A live tab's key may be left for the tab to clear itself.
//!
//! # Examples
//! ```
//! use conclave_core::reconcile::{reconcile, Backup, Message, Op, RawBackup, Store};
//! use conclave_core::{TabId, VClock};
//!
//! let tab = TabId::from_bytes([7; 16]);
//! let mut clock = VClock::new();
//! clock.tick(tab);
//! let backup = Backup {
//!     tab,
//!     clock: clock.clone(),
//!     ops: vec![
//!         Op::CreateSession { session: "s1".into(), title: "Plans".into(), clock },
//!         Op::AddMessage {
//!             session: "s1".into(),
//!             message: Message { id: "m1".into(), author: tab, text: "hello".into() },
//!         },
//!     ],
//! };
//! let raw = RawBackup { key: backup.key(), text: backup.encode() };
//!
//! let done = reconcile(&Store::default(), &[raw.clone()]);
//! assert_eq!(done.store.sessions["s1"].title, "Plans");
//! assert!(done.report.applied.contains(&tab));
//! assert!(done.report.deletable.contains(&raw.key));
//!
//! // Reading the same key again changes nothing: it is already stored.
//! let again = reconcile(&done.store, &[raw]);
//! assert_eq!(again.store, done.store);
//! assert!(again.report.dropped.contains(&tab));
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::TabId;
use crate::json::{unsafe_number_at, HexId, SafeU64};
use crate::vclock::{Causality, VClock};

/// Every backup key is this prefix followed by the tab id in 32 lowercase hex digits.
pub const BACKUP_KEY_PREFIX: &str = "conclave:backup:";

/// The backup format this build writes and reads. Backups of any other version are skipped.
pub const BACKUP_VERSION: u64 = 1;

/// The largest backup text read, in bytes, checked before parsing. A backup is written
/// synchronously inside `pagehide`, so it must stay small; `localStorage` holds about 5 MB for
/// the whole origin.
pub const MAX_BACKUP_BYTES: usize = 256 * 1024;

/// The `localStorage` key of `tab`'s backup.
///
/// # Examples
/// ```
/// use conclave_core::TabId;
/// let key = conclave_core::reconcile::backup_key(TabId::from_bytes([0xab; 16]));
/// assert_eq!(key, format!("conclave:backup:{}", "ab".repeat(16)));
/// ```
#[must_use]
pub fn backup_key(tab: TabId) -> String {
    format!("{BACKUP_KEY_PREFIX}{tab}")
}

/// One message of a session.
///
/// Ordered field by field; the order only matters to pick one of two different messages that
/// claim the same id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Unique id, drawn by the writing tab; the key of the grow-only set.
    pub id: String,
    /// The tab that wrote it.
    #[serde(with = "hex_id")]
    pub author: TabId,
    /// What it says.
    pub text: String,
}

/// A session: a title and a grow-only set of messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// Its id, the same as its key in [`Store::sessions`].
    pub id: String,
    /// Its title: the kept write of the title register.
    pub title: String,
    /// The clock of the tab that wrote [`Session::title`], when it wrote it.
    pub title_clock: VClock,
    /// The tab that wrote [`Session::title`].
    #[serde(with = "hex_id")]
    pub title_by: TabId,
    /// Its messages, by id.
    pub messages: BTreeMap<String, Message>,
}

impl Session {
    /// A session known only through a message or rename: untitled, with the title register at
    /// its bottom value (empty clock, the zero tab id, empty text), which every write beats.
    #[must_use]
    pub fn untitled(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            title: String::new(),
            title_clock: VClock::new(),
            title_by: TabId::from_bytes([0; 16]),
            messages: BTreeMap::new(),
        }
    }

    fn title_write(&self) -> TitleWrite<'_> {
        TitleWrite {
            title: &self.title,
            clock: &self.title_clock,
            by: self.title_by,
        }
    }
}

/// The durable store, as far as reconciliation is concerned: the sessions and the clock of
/// everything applied to them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// The join of the clocks of every backup and request applied.
    pub clock: VClock,
    /// The sessions, by id.
    pub sessions: BTreeMap<String, Session>,
}

/// One pending operation in a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Create a session titled `title`. If it already exists, this is a title write.
    CreateSession {
        /// The new session's id.
        session: String,
        /// Its first title.
        title: String,
        /// The writing tab's clock when it created the session.
        clock: VClock,
    },
    /// Rename a session.
    RenameSession {
        /// The session's id.
        session: String,
        /// The new title.
        title: String,
        /// The writing tab's clock when it renamed the session.
        clock: VClock,
    },
    /// Add a message to a session.
    AddMessage {
        /// The session's id.
        session: String,
        /// The message.
        message: Message,
    },
}

impl Op {
    /// The session this operation touches.
    #[must_use]
    pub fn session(&self) -> &str {
        match self {
            Op::CreateSession { session, .. }
            | Op::RenameSession { session, .. }
            | Op::AddMessage { session, .. } => session,
        }
    }

    /// The title this operation writes, with the writer's clock when it wrote it; `None` for a
    /// message.
    #[must_use]
    pub fn title_write(&self) -> Option<(&str, &VClock)> {
        match self {
            Op::CreateSession { title, clock, .. } | Op::RenameSession { title, clock, .. } => {
                Some((title, clock))
            }
            Op::AddMessage { .. } => None,
        }
    }
}

/// One tab's emergency backup: its pending operations, stamped with its clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    /// The tab that wrote it (the id in its key).
    pub tab: TabId,
    /// The tab's clock when it wrote the backup. The clocks of its title writes, in order, and
    /// then this one only move forward (each is at or after the one before).
    pub clock: VClock,
    /// The pending operations, oldest first.
    pub ops: Vec<Op>,
}

impl Backup {
    /// The `localStorage` key this backup is written under.
    #[must_use]
    pub fn key(&self) -> String {
        backup_key(self.tab)
    }

    /// The text to write under [`Backup::key`]:
    /// `{"v":1,"tab":"<32 hex>","clock":{…},"ops":[{"add_message":{…}},…]}`.
    ///
    /// The driver checks the length against [`MAX_BACKUP_BYTES`] before writing.
    #[must_use]
    pub fn encode(&self) -> String {
        let out = BackupOut {
            v: BACKUP_VERSION,
            tab: self.tab.to_string(),
            clock: &self.clock,
            ops: &self.ops,
        };
        // Strings, counters and string-keyed maps always serialise.
        serde_json::to_string(&out).unwrap_or_default()
    }
}

/// One key and its text, as read from `localStorage`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawBackup {
    /// The key.
    pub key: String,
    /// The text stored under it.
    pub text: String,
}

/// Why a stored backup was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum BackupRejection {
    /// The key is not `conclave:backup:` followed by a canonical tab id: another app's key.
    #[error("not a conclave backup key")]
    ForeignKey,
    /// The text is longer than [`MAX_BACKUP_BYTES`]; it was not parsed.
    #[error("backup too large")]
    Oversized,
    /// The text is not JSON, or not the shape of a backup (a field missing, unknown or of the
    /// wrong type, a bad tab id).
    #[error("malformed backup")]
    Malformed,
    /// A counter is outside what JavaScript holds exactly (above 2^53 − 1, or not finite).
    #[error("unsafe number in backup")]
    UnsafeNumber,
    /// The backup was written in another format version (an older or newer build).
    #[error("unknown backup version")]
    WrongVersion,
    /// The tab id inside the backup is not the one in its key.
    #[error("backup tab id does not match its key")]
    IdMismatch,
    /// The operations' clocks go backwards, or past the backup's clock: a tab's clock never
    /// does either, so the backup was not written by a tab.
    #[error("backup clocks go backwards")]
    Inconsistent,
}

impl BackupRejection {
    /// Every reason, in display order.
    pub const ALL: [BackupRejection; 7] = [
        BackupRejection::ForeignKey,
        BackupRejection::Oversized,
        BackupRejection::Malformed,
        BackupRejection::UnsafeNumber,
        BackupRejection::WrongVersion,
        BackupRejection::IdMismatch,
        BackupRejection::Inconsistent,
    ];

    /// A stable, kebab-case name, used in the app and in tests.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            BackupRejection::ForeignKey => "foreign-key",
            BackupRejection::Oversized => "oversized",
            BackupRejection::Malformed => "malformed",
            BackupRejection::UnsafeNumber => "unsafe-number",
            BackupRejection::WrongVersion => "wrong-version",
            BackupRejection::IdMismatch => "id-mismatch",
            BackupRejection::Inconsistent => "inconsistent",
        }
    }
}

/// Reads one stored backup, trusting nothing in it.
///
/// # Errors
/// The [`BackupRejection`] naming the first problem found, in this order:
/// [`ForeignKey`](BackupRejection::ForeignKey), [`Oversized`](BackupRejection::Oversized)
/// (before any parsing), [`Malformed`](BackupRejection::Malformed) or
/// [`UnsafeNumber`](BackupRejection::UnsafeNumber) in the version,
/// [`WrongVersion`](BackupRejection::WrongVersion), `Malformed` or `UnsafeNumber` in the body,
/// [`IdMismatch`](BackupRejection::IdMismatch), [`Inconsistent`](BackupRejection::Inconsistent).
///
/// # Examples
/// ```
/// use conclave_core::reconcile::{parse_backup, BackupRejection};
/// assert_eq!(parse_backup("theme", "dark"), Err(BackupRejection::ForeignKey));
/// let key = format!("conclave:backup:{}", "01".repeat(16));
/// assert_eq!(parse_backup(&key, "{\"v\":2}"), Err(BackupRejection::WrongVersion));
/// ```
pub fn parse_backup(key: &str, text: &str) -> Result<Backup, BackupRejection> {
    let key_tab: TabId = key
        .strip_prefix(BACKUP_KEY_PREFIX)
        .and_then(|hex| hex.parse().ok())
        .ok_or(BackupRejection::ForeignKey)?;
    if text.len() > MAX_BACKUP_BYTES {
        return Err(BackupRejection::Oversized);
    }
    // The version decides how to read the rest, so it is checked first.
    let header: Header = serde_json::from_str(text).map_err(|e| classify(&e, text))?;
    if header.v.0 != BACKUP_VERSION {
        return Err(BackupRejection::WrongVersion);
    }
    let body: BackupIn = serde_json::from_str(text).map_err(|e| classify(&e, text))?;
    if body.tab.0 != key_tab {
        return Err(BackupRejection::IdMismatch);
    }
    if !clocks_run_forward(&body.ops, &body.clock) {
        return Err(BackupRejection::Inconsistent);
    }
    Ok(Backup {
        tab: key_tab,
        clock: body.clock,
        ops: body.ops,
    })
}

/// Whether the clocks of `ops` only move forward, and end at or before `clock`: a tab's clock
/// never goes back, so a backup whose clocks do is not one a tab wrote.
fn clocks_run_forward(ops: &[Op], clock: &VClock) -> bool {
    let mut stamps = ops.iter().filter_map(|op| match op {
        Op::CreateSession { clock, .. } | Op::RenameSession { clock, .. } => Some(clock),
        Op::AddMessage { .. } => None,
    });
    let Some(mut previous) = stamps.next() else {
        return true;
    };
    for stamp in stamps {
        if !previous.is_covered_by(stamp) {
            return false;
        }
        previous = stamp;
    }
    previous.is_covered_by(clock)
}

/// Maps serde_json's error reading `text` to the rejection it stands for: a number JavaScript
/// does not hold exactly where the error is ([`unsafe_number_at`]), or anything else malformed.
pub(crate) fn classify(err: &serde_json::Error, text: &str) -> BackupRejection {
    if unsafe_number_at(text, err) {
        BackupRejection::UnsafeNumber
    } else {
        BackupRejection::Malformed
    }
}

/// Only the field that decides whether the rest can be read at all.
#[derive(Deserialize)]
struct Header {
    v: SafeU64,
}

#[derive(Serialize)]
struct BackupOut<'a> {
    v: u64,
    tab: String,
    clock: &'a VClock,
    ops: &'a [Op],
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupIn {
    #[allow(dead_code)] // checked through `Header`; listed so that the field is known
    v: SafeU64,
    tab: HexId,
    clock: VClock,
    ops: Vec<Op>,
}

/// The outcome of [`reconcile`]: the store to persist, and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconciliation {
    /// The new store.
    pub store: Store,
    /// What happened to each backup.
    pub report: Report,
}

/// What [`reconcile`] did with each backup. Every list is sorted, so two runs over the same
/// backups, in any order, give equal reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Tabs whose backup was after the store clock, and was applied.
    pub applied: BTreeSet<TabId>,
    /// Tabs whose backup was before or equal to the store clock and held nothing new.
    pub dropped: BTreeSet<TabId>,
    /// Tabs whose backup was concurrent with the store clock, and was merged.
    pub merged: BTreeSet<TabId>,
    /// Tabs whose backup the clock called stored, but which held writes the store lacked;
    /// those writes were applied. A sign that the store lost data its clock had counted.
    pub recovered: BTreeSet<TabId>,
    /// Concurrent renames: which title was kept and which discarded.
    pub conflicts: BTreeSet<TitleConflict>,
    /// Message ids that named two different messages.
    pub collisions: BTreeSet<MessageCollision>,
    /// Keys that were not read as backups, and why.
    pub skipped: BTreeSet<Skipped>,
    /// Keys whose backups are now in the store and can be deleted (see the module docs).
    pub deletable: BTreeSet<String>,
}

/// Two concurrent title writes to one session; one was kept.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TitleConflict {
    /// The session.
    pub session: String,
    /// The title kept.
    pub kept: String,
    /// The tab that wrote the kept title.
    pub kept_by: TabId,
    /// The title discarded.
    pub discarded: String,
    /// The tab that wrote the discarded title.
    pub discarded_by: TabId,
}

/// One message id that named two different messages; the larger was kept.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageCollision {
    /// The session.
    pub session: String,
    /// The message id.
    pub id: String,
}

/// A key that was not read as a backup.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Skipped {
    /// The key.
    pub key: String,
    /// Why.
    pub reason: BackupRejection,
}

/// Reconciles the backups read from `localStorage` into `store`. Pure and total: it never
/// panics, whatever the backups hold.
///
/// The new store holds every message of `store` and of every backup that parses; reconciling
/// the same backups again changes nothing; the order of `backups` changes nothing, in the store
/// or in the report. See the module docs for the rules.
#[must_use]
pub fn reconcile(store: &Store, backups: &[RawBackup]) -> Reconciliation {
    let mut report = Report::default();
    let mut read = Vec::new();
    for raw in backups {
        match parse_backup(&raw.key, &raw.text) {
            Ok(backup) => read.push((raw.key.as_str(), backup)),
            Err(reason) => {
                report.skipped.insert(Skipped {
                    key: raw.key.clone(),
                    reason,
                });
            }
        }
    }

    let mut next = store.clone();
    // The title writes that may have lost to a concurrent one, by session.
    let mut contenders: BTreeMap<&str, BTreeSet<TitleWrite<'_>>> = BTreeMap::new();
    for (key, backup) in &read {
        let titles = last_title_writes(backup);
        let causality = backup.clock.compare(&store.clock);
        let stored = matches!(causality, Causality::Before | Causality::Equal);
        let dropped = stored && !adds_to(store, backup, &titles);
        let verdict = match causality {
            _ if dropped => &mut report.dropped,
            _ if stored => &mut report.recovered,
            Causality::Concurrent => &mut report.merged,
            _ => &mut report.applied,
        };
        verdict.insert(backup.tab);
        // A dropped backup's writes are in the store already: it cannot have lost anything.
        if !dropped {
            for (&session, &write) in &titles {
                contenders.entry(session).or_default().insert(write);
            }
        }
        apply(&mut next, backup, &titles, &mut report.collisions);
        next.clock.merge(&backup.clock);
        report.deletable.insert((*key).to_owned());
    }
    for skipped in &report.skipped {
        report.deletable.remove(&skipped.key);
    }

    report.conflicts = title_conflicts(store, &next, contenders);

    Reconciliation {
        store: next,
        report,
    }
}

/// The concurrent title writes that lost: every contender that is concurrent with (or has the
/// same clock as) the kept write of its session and named it differently. `contenders` holds
/// the title writes of every backup that was not dropped; the store's own title joins them,
/// since a backup may have beaten it concurrently.
fn title_conflicts<'a>(
    old: &'a Store,
    new: &Store,
    mut contenders: BTreeMap<&str, BTreeSet<TitleWrite<'a>>>,
) -> BTreeSet<TitleConflict> {
    let mut conflicts = BTreeSet::new();
    for (&session, writes) in &mut contenders {
        if let Some(stored) = old.sessions.get(session) {
            writes.insert(stored.title_write());
        }
        let Some(kept) = new.sessions.get(session).map(Session::title_write) else {
            continue;
        };
        for lost in writes.iter() {
            let concurrent = matches!(
                lost.clock.compare(kept.clock),
                Causality::Concurrent | Causality::Equal
            );
            if concurrent && lost.title != kept.title && !lost.is_bottom() {
                conflicts.insert(TitleConflict {
                    session: session.to_owned(),
                    kept: kept.title.to_owned(),
                    kept_by: kept.by,
                    discarded: lost.title.to_owned(),
                    discarded_by: lost.by,
                });
            }
        }
    }
    conflicts
}

/// One write of a session title: what, when (the writer's clock) and by whom.
///
/// Ordered as the title register: the larger write wins. The order is total and consistent with
/// causality: first by [`TitleWrite::rank`], then (only for distinct writes of equal rank, which
/// a tab does not produce) by the clock's entries, so that even then the winner does not depend
/// on the order the writes arrive in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TitleWrite<'a> {
    title: &'a str,
    clock: &'a VClock,
    by: TabId,
}

impl<'a> TitleWrite<'a> {
    /// (clock total, writer, title): a write that happened after another has a strictly larger
    /// clock total, so it always ranks higher.
    fn rank(&self) -> (u128, TabId, &'a str) {
        (self.clock.total(), self.by, self.title)
    }

    /// Whether this is the register's bottom value (an untitled session nobody named).
    fn is_bottom(&self) -> bool {
        self.clock.is_empty() && self.title.is_empty() && self.by == TabId::from_bytes([0; 16])
    }
}

impl Ord for TitleWrite<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank()
            .cmp(&other.rank())
            .then_with(|| self.clock.iter().cmp(other.clock.iter()))
    }
}

impl PartialOrd for TitleWrite<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The last title write of each session in `backup`: the tab's own latest word.
fn last_title_writes(backup: &Backup) -> BTreeMap<&str, TitleWrite<'_>> {
    let mut titles = BTreeMap::new();
    for op in &backup.ops {
        if let Some((title, clock)) = op.title_write() {
            let write = TitleWrite {
                title,
                clock,
                by: backup.tab,
            };
            titles.insert(op.session(), write);
        }
    }
    titles
}

/// Whether applying `backup` to `store` would change it.
fn adds_to(store: &Store, backup: &Backup, titles: &BTreeMap<&str, TitleWrite<'_>>) -> bool {
    let adds_message = backup.ops.iter().any(|op| {
        let Some(session) = store.sessions.get(op.session()) else {
            return true;
        };
        match op {
            Op::AddMessage { message, .. } => session
                .messages
                .get(&message.id)
                .is_none_or(|old| old < message),
            Op::CreateSession { .. } | Op::RenameSession { .. } => false,
        }
    });
    adds_message
        || titles.iter().any(|(&session, write)| {
            store
                .sessions
                .get(session)
                .is_none_or(|s| *write > s.title_write())
        })
}

/// Applies `backup` to `store`: joins its messages and title writes in.
fn apply(
    store: &mut Store,
    backup: &Backup,
    titles: &BTreeMap<&str, TitleWrite<'_>>,
    collisions: &mut BTreeSet<MessageCollision>,
) {
    for op in &backup.ops {
        let id = op.session();
        let session = store
            .sessions
            .entry(id.to_owned())
            .or_insert_with(|| Session::untitled(id));
        let Op::AddMessage { message, .. } = op else {
            continue;
        };
        match session.messages.get_mut(&message.id) {
            None => {
                session.messages.insert(message.id.clone(), message.clone());
            }
            Some(old) if old != message => {
                collisions.insert(MessageCollision {
                    session: id.to_owned(),
                    id: message.id.clone(),
                });
                if *old < *message {
                    *old = message.clone();
                }
            }
            Some(_) => {}
        }
    }
    for (&id, write) in titles {
        if let Some(session) = store.sessions.get_mut(id) {
            if *write > session.title_write() {
                session.title = write.title.to_owned();
                session.title_clock = write.clock.clone();
                session.title_by = write.by;
            }
        }
    }
}

/// Serde for a [`TabId`] field as its 32-hex form.
mod hex_id {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::ids::TabId;
    use crate::json::HexId;

    pub(super) fn serialize<S: Serializer>(id: &TabId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(id)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<TabId, D::Error> {
        HexId::deserialize(deserializer).map(|HexId(id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TabId {
        TabId::from_bytes([n; 16])
    }

    fn clock(entries: &[(u8, u64)]) -> VClock {
        entries.iter().map(|&(n, v)| (id(n), v)).collect()
    }

    fn write<'a>(title: &'a str, clock: &'a VClock, by: u8) -> TitleWrite<'a> {
        TitleWrite {
            title,
            clock,
            by: id(by),
        }
    }

    #[test]
    fn a_title_write_outranks_every_write_it_happened_after() {
        let (early, late) = (clock(&[(1, 1)]), clock(&[(1, 1), (2, 1)]));
        // Even against the largest writer id and title, the later write wins.
        assert!(write("a", &late, 1) > write("zzz", &early, 255));
        let (x, y) = (clock(&[(1, 2)]), clock(&[(2, 2)]));
        assert!(
            write("a", &y, 2) > write("a", &x, 1),
            "concurrent: the writer id decides"
        );
        assert!(
            write("b", &x, 1) > write("a", &x, 1),
            "same writer and clock: the title"
        );
        let (p, q) = (clock(&[(1, 1), (2, 2)]), clock(&[(1, 2), (2, 1)]));
        assert_ne!(write("a", &p, 1).cmp(&write("a", &q, 1)), Ordering::Equal);
    }

    #[test]
    fn only_the_last_title_write_of_each_session_in_a_backup_counts() {
        let at = clock(&[(2, 1)]);
        let rename = |session: &str, title: &str| Op::RenameSession {
            session: session.into(),
            title: title.into(),
            clock: at.clone(),
        };
        let backup = Backup {
            tab: id(2),
            clock: at.clone(),
            ops: vec![
                rename("s", "first"),
                rename("t", "other"),
                rename("s", "last"),
            ],
        };
        let titles = last_title_writes(&backup);
        let kept: Vec<_> = titles.iter().map(|(&s, w)| (s, w.title)).collect();
        assert_eq!(kept, [("s", "last"), ("t", "other")]);
        assert!(titles.values().all(|w| w.by == id(2) && !w.is_bottom()));
        assert!(Session::untitled("u").title_write().is_bottom());
    }
}
