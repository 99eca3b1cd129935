//! Emergency backups: what a tab has not yet seen durably stored, kept in its own
//! `localStorage` key until the leader has it in the store.
//!
//! # The orchestration
//! - **Each tab writes its own key**, `<channel>:backup:<tab id>`, synchronously: its requests
//!   not yet ended and its drafts (the text being typed in each session), stamped with a
//!   [`VClock`] whose entry for the tab is the highest request number it has made. One key per
//!   tab: a write is all or nothing, and tabs closing together cannot overwrite each other.
//!   It is written after every change (one write per input, only when the text changed), so
//!   a tab frozen or discarded without warning has it, and is checked again on `hidden`,
//!   `freeze` and `pagehide`. A tab with nothing to protect removes its key.
//! - **A budget**: a backup longer than [`MAX_BACKUP_BYTES`] is not written (the origin's
//!   `localStorage` is shared by every tab); nor is one the browser refuses (storage full).
//!   Either way the previous backup stays, and the tab names the drafts it does not protect.
//! - **The leader reads every key** once it has claimed the store, and again a moment
//!   ([`SETTLE_MS`]) after any tab leaves (long enough for the leaving tab's last write to
//!   reach this page's copy of `localStorage`). A key of a tab that is open (this one, or a
//!   listed peer) is left to its tab. Of a dead tab's backup, the requests its tab's ledger
//!   has not consumed are applied, in its order, once (the ledger deduplicates them as it does
//!   every request), and its drafts are offered in their sessions ([`super::Draft`]). Its
//!   caller is gone, so its deadline no longer matters: nothing it typed is dropped.
//! - **A key is deleted only after** everything in it is durable in the store, and only if it
//!   still holds the text that was read. An unreadable or foreign key is reported and never
//!   deleted.
//!
//! Dropped as already stored means: the backup's clock is covered by the store's (every
//! request consumed) and each of its drafts is already offered.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{ItemId, Op};
use crate::ids::{Millis, TabId, MAX_SAFE_INTEGER};
use crate::json::SafeU64;
pub use crate::reconcile::{BackupRejection, RawBackup, MAX_BACKUP_BYTES};
use crate::vclock::VClock;

/// The backup format this build writes and reads.
pub const BACKUP_FORMAT: u64 = 2;

/// How long after a tab leaves the leader reads the backups, in ms: the leaving tab's last
/// write reaches the other pages' copies of `localStorage` shortly after its goodbye.
pub const SETTLE_MS: u64 = 1_000;

/// How long after requests end their tab's backup is written without them, in ms.
const SHRINK_MS: u64 = 500;

/// The prefix of every backup key on `channel`.
#[must_use]
pub fn backup_prefix(channel: &str) -> String {
    format!("{channel}:backup:")
}

/// The `localStorage` key of `tab`'s backup on `channel`.
///
/// # Examples
/// ```
/// use conclave_core::TabId;
/// use conclave_core::data::backup_key;
/// let key = backup_key("conclave", TabId::from_bytes([0xab; 16]));
/// assert_eq!(key, format!("conclave:backup:{}", "ab".repeat(16)));
/// ```
#[must_use]
pub fn backup_key(channel: &str, tab: TabId) -> String {
    format!("{}{tab}", backup_prefix(channel))
}

/// A tab's backup: its requests not yet ended and its drafts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    /// The tab.
    pub tab: TabId,
    /// Its entry for [`Backup::tab`] is the highest request number the tab had made.
    pub clock: VClock,
    /// Its requests not yet ended, by number, in order.
    pub requests: Vec<(u64, Op)>,
    /// What it was typing, by session.
    pub drafts: BTreeMap<ItemId, String>,
}

#[derive(Serialize)]
struct BackupOut<'a> {
    v: u64,
    tab: TabId,
    clock: &'a VClock,
    requests: &'a [(u64, Op)],
    drafts: &'a BTreeMap<ItemId, String>,
}

#[derive(Deserialize)]
struct Header {
    v: SafeU64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupIn {
    #[allow(dead_code)] // checked through `Header`; listed so that the field is known
    v: SafeU64,
    tab: TabId,
    clock: VClock,
    requests: Vec<(SafeU64, Op)>,
    drafts: BTreeMap<ItemId, String>,
}

impl Backup {
    /// The text stored in its key.
    #[must_use]
    pub fn encode(&self) -> String {
        let out = BackupOut {
            v: BACKUP_FORMAT,
            tab: self.tab,
            clock: &self.clock,
            requests: &self.requests,
            drafts: &self.drafts,
        };
        // Plain data with string keys: serialising it cannot fail.
        serde_json::to_string(&out).unwrap_or_default()
    }

    /// Reads the backup stored under `key` on `channel`.
    ///
    /// # Errors
    /// The [`BackupRejection`]: a key that is not a backup key of `channel`, a text too long,
    /// not a backup of this format, of another tab than its key names, or whose requests do
    /// not run forward up to its clock.
    ///
    /// # Examples
    /// ```
    /// use conclave_core::data::{backup_key, Backup, BackupRejection};
    /// use conclave_core::TabId;
    /// let key = backup_key("conclave", TabId::from_bytes([1; 16]));
    /// assert_eq!(Backup::parse("conclave", "theme", "dark"), Err(BackupRejection::ForeignKey));
    /// assert_eq!(Backup::parse("conclave", &key, "{\"v\":1}"), Err(BackupRejection::WrongVersion));
    /// ```
    pub fn parse(channel: &str, key: &str, text: &str) -> Result<Self, BackupRejection> {
        let tab = key_tab(channel, key).ok_or(BackupRejection::ForeignKey)?;
        if text.len() > MAX_BACKUP_BYTES {
            return Err(BackupRejection::Oversized);
        }
        let header: Header =
            serde_json::from_str(text).map_err(|e| crate::reconcile::classify(&e, text))?;
        if header.v.0 != BACKUP_FORMAT {
            return Err(BackupRejection::WrongVersion);
        }
        let body: BackupIn =
            serde_json::from_str(text).map_err(|e| crate::reconcile::classify(&e, text))?;
        if body.tab != tab {
            return Err(BackupRejection::IdMismatch);
        }
        let made = body.clock.get(tab);
        let mut last = 0;
        let mut requests = Vec::with_capacity(body.requests.len());
        for (number, op) in body.requests {
            if number.0 <= last || number.0 > made || number.0 > MAX_SAFE_INTEGER {
                return Err(BackupRejection::Inconsistent);
            }
            last = number.0;
            requests.push((number.0, op));
        }
        Ok(Self {
            tab,
            clock: body.clock,
            requests,
            drafts: body.drafts,
        })
    }
}

/// The tab whose backup key on `channel` `key` is, if it is one.
#[must_use]
pub fn key_tab(channel: &str, key: &str) -> Option<TabId> {
    key.strip_prefix(&backup_prefix(channel))?.parse().ok()
}

/// What became of one backup the leader found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// What the store lacked goes to it: these many requests, applied in the tab's order,
    /// and these many drafts, offered in their sessions.
    Applied {
        /// Requests its tab's ledger had not consumed.
        requests: usize,
        /// Drafts not offered yet (drafts of a session that no longer exists are dropped).
        drafts: usize,
    },
    /// Everything in it was already stored; the key goes.
    Stored,
    /// Its tab is open: the backup is its own to keep.
    Live,
    /// It cannot be read; it stays, never deleted.
    Skipped(BackupRejection),
}

/// One backup the leader found, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its key.
    pub key: String,
    /// The tab it belongs to, when the key names one.
    pub tab: Option<TabId>,
    /// What became of it.
    pub verdict: Verdict,
}

/// Why this tab's latest backup was not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackupFailure {
    /// It is longer than [`MAX_BACKUP_BYTES`].
    #[error("the drafts are too large to back up")]
    TooLarge,
    /// The browser refused to store it (storage full, or disabled).
    #[error("the browser refused to store the backup (storage full?)")]
    Refused,
}

/// How this tab's backup stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupStatus {
    /// Backups written.
    pub writes: u64,
    /// The length of the backup stored now (0: none).
    pub bytes: usize,
    /// Why the latest backup was not written, if it was not.
    pub failure: Option<BackupFailure>,
    /// The sessions whose draft, as typed now, is not in the stored backup.
    pub unprotected: Vec<ItemId>,
}

/// What to do with this tab's own key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OwnWrite {
    Write { key: String, text: String },
    Remove { key: String },
}

/// A tab's side: its drafts, and what it last stored.
#[derive(Clone, Debug)]
pub(crate) struct Keeper {
    key: String,
    tab: TabId,
    drafts: BTreeMap<ItemId, String>,
    /// What it backs up changed since the key was last checked.
    dirty: bool,
    /// Requests ended: when to check the key (it holds more than it must meanwhile, which
    /// is harmless: a recovered request already consumed is answered from the ledger).
    shrink_at: Option<Millis>,
    /// The page is going away: the key must hold what it backs up now.
    recheck: bool,
    /// The text in its key, as last written (`None`: no key).
    stored: Option<String>,
    /// The drafts in the stored text.
    protected: BTreeMap<ItemId, String>,
    /// What was stored before the last write, should the browser refuse it.
    undo: Option<(Option<String>, BTreeMap<ItemId, String>)>,
    status: BackupStatus,
}

impl Keeper {
    pub(crate) fn new(channel: &str, tab: TabId) -> Self {
        Self {
            key: backup_key(channel, tab),
            tab,
            drafts: BTreeMap::new(),
            dirty: false,
            shrink_at: None,
            recheck: false,
            stored: None,
            protected: BTreeMap::new(),
            undo: None,
            status: BackupStatus::default(),
        }
    }

    pub(crate) fn status(&self) -> BackupStatus {
        self.status.clone()
    }

    /// Something it backs up changed: check the key again.
    pub(crate) fn touch(&mut self) {
        self.dirty = true;
    }

    /// Requests ended at `now`: check the key [`SHRINK_MS`] later (or with the next change),
    /// not now. Its write is then off the path of the answer, and one write shrinks it for the
    /// answers of a burst.
    pub(crate) fn shrink_later(&mut self, now: Millis) {
        self.shrink_at.get_or_insert(now.plus(SHRINK_MS));
    }

    /// When the key is next to be checked for requests that ended, if it is.
    pub(crate) fn deadline(&self) -> Option<Millis> {
        self.shrink_at
    }

    /// Brings the keeper to `now`: the shrink due is a change.
    pub(crate) fn tick(&mut self, now: Millis) {
        if self.shrink_at.is_some_and(|at| at <= now) {
            self.touch();
        }
    }

    /// The page is being hidden, frozen or closed: the key must hold what it backs up, which
    /// it already does unless the last write failed.
    pub(crate) fn recheck(&mut self) {
        self.recheck = true;
    }

    /// The page runs again after a freeze or the back/forward cache: a leader may have read
    /// and deleted its key meanwhile, so write it again.
    pub(crate) fn woke(&mut self) {
        self.stored = None;
        self.dirty = true;
    }

    /// The text typed in `session` is now `text` (empty: no draft).
    pub(crate) fn draft(&mut self, session: ItemId, text: &str) {
        if text.is_empty() {
            self.drafts.remove(&session);
        } else {
            self.drafts.insert(session, text.to_owned());
        }
        self.dirty = true;
    }

    /// The drafts typed now, by session.
    pub(crate) fn drafts(&self) -> &BTreeMap<ItemId, String> {
        &self.drafts
    }

    /// The write the key needs now, if it needs one; `made` is the highest request number
    /// this tab has made, `requests` those not ended.
    pub(crate) fn poll(
        &mut self,
        made: u64,
        requests: impl FnOnce() -> Vec<(u64, Op)>,
    ) -> Option<OwnWrite> {
        let recheck = std::mem::take(&mut self.recheck) && self.status.failure.is_some();
        if !std::mem::take(&mut self.dirty) && !recheck {
            return None;
        }
        // Whatever is written now holds only the requests not ended.
        self.shrink_at = None;
        self.undo = None;
        // The drafts' text alone over the budget: no need to encode to know.
        if self.drafts.values().map(String::len).sum::<usize>() > MAX_BACKUP_BYTES {
            self.fail(BackupFailure::TooLarge);
            return None;
        }
        let requests = requests();
        if requests.is_empty() && self.drafts.is_empty() {
            self.status.failure = None;
            self.status.unprotected.clear();
            self.protected.clear();
            self.status.bytes = 0;
            return self.stored.take().map(|_| OwnWrite::Remove {
                key: self.key.clone(),
            });
        }
        let mut clock = VClock::new();
        clock.raise(self.tab, made);
        let text = Backup {
            tab: self.tab,
            clock,
            requests,
            drafts: self.drafts.clone(),
        }
        .encode();
        if self.stored.as_deref() == Some(text.as_str()) {
            return None;
        }
        if text.len() > MAX_BACKUP_BYTES {
            self.fail(BackupFailure::TooLarge);
            return None;
        }
        // Counted as written unless the driver reports it refused, at once.
        let protected = std::mem::replace(&mut self.protected, self.drafts.clone());
        self.undo = Some((self.stored.replace(text.clone()), protected));
        self.status.writes += 1;
        self.status.bytes = text.len();
        self.status.failure = None;
        self.status.unprotected.clear();
        Some(OwnWrite::Write {
            key: self.key.clone(),
            text,
        })
    }

    /// The browser refused the last write: the previous backup stays.
    pub(crate) fn refused(&mut self) {
        let Some((stored, protected)) = self.undo.take() else {
            return;
        };
        self.status.writes = self.status.writes.saturating_sub(1);
        self.status.bytes = stored.as_ref().map_or(0, String::len);
        self.stored = stored;
        self.protected = protected;
        self.fail(BackupFailure::Refused);
    }

    fn fail(&mut self, failure: BackupFailure) {
        self.status.failure = Some(failure);
        self.status.unprotected = self
            .drafts
            .iter()
            .filter(|(session, text)| self.protected.get(session) != Some(text))
            .map(|(session, _)| *session)
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab() -> TabId {
        TabId::from_bytes([4; 16])
    }

    fn session(number: u64) -> ItemId {
        ItemId { tab: tab(), number }
    }

    fn add(number: u64) -> (u64, Op) {
        (
            number,
            Op::Add {
                session: session(1),
                text: format!("message {number}"),
            },
        )
    }

    fn written(write: Option<OwnWrite>) -> String {
        match write {
            Some(OwnWrite::Write { text, .. }) => text,
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn a_backup_reads_back_as_written_and_only_under_its_own_key() {
        let mut clock = VClock::new();
        clock.raise(tab(), 3);
        let backup = Backup {
            tab: tab(),
            clock,
            requests: vec![add(2), add(3)],
            drafts: BTreeMap::from([(session(1), "half a thought".to_owned())]),
        };
        let key = backup_key("conclave", tab());
        let text = backup.encode();
        assert_eq!(Backup::parse("conclave", &key, &text), Ok(backup));
        let other = backup_key("conclave", TabId::from_bytes([5; 16]));
        assert_eq!(
            Backup::parse("conclave", &other, &text),
            Err(BackupRejection::IdMismatch)
        );
        assert_eq!(
            Backup::parse("other-app", &key, &text),
            Err(BackupRejection::ForeignKey)
        );
        assert_eq!(
            Backup::parse("conclave", &key, "{\"v\":2,"),
            Err(BackupRejection::Malformed)
        );
    }

    #[test]
    fn requests_that_do_not_run_forward_up_to_the_clock_are_not_a_tabs_backup() {
        let mut clock = VClock::new();
        clock.raise(tab(), 2);
        let key = backup_key("conclave", tab());
        for requests in [vec![add(2), add(1)], vec![add(3)], vec![add(2), add(2)]] {
            let text = Backup {
                tab: tab(),
                clock: clock.clone(),
                requests,
                drafts: BTreeMap::new(),
            }
            .encode();
            assert_eq!(
                Backup::parse("conclave", &key, &text),
                Err(BackupRejection::Inconsistent)
            );
        }
    }

    #[test]
    fn requests_that_ended_leave_the_key_later_in_one_write_or_with_the_next_change() {
        let mut keeper = Keeper::new("conclave", tab());
        keeper.touch();
        assert!(written(keeper.poll(2, || vec![add(1), add(2)])).contains("\"requests\""));
        // Both end: nothing is written with the answers.
        keeper.shrink_later(Millis(1_000));
        keeper.shrink_later(Millis(1_200));
        assert_eq!(keeper.poll(2, Vec::new), None, "not with the answers");
        assert_eq!(keeper.deadline(), Some(Millis(1_000 + SHRINK_MS)));
        keeper.tick(Millis(1_000 + SHRINK_MS - 1));
        assert_eq!(keeper.poll(2, Vec::new), None);
        keeper.tick(Millis(1_000 + SHRINK_MS));
        assert_eq!(
            keeper.poll(2, Vec::new),
            Some(OwnWrite::Remove {
                key: backup_key("conclave", tab())
            }),
            "once due, nothing left: the key goes"
        );
        assert_eq!(keeper.deadline(), None);
        // A change before it is due writes what is left, and nothing waits after it.
        keeper.touch();
        assert!(keeper.poll(3, || vec![add(3)]).is_some());
        keeper.shrink_later(Millis(2_000));
        keeper.draft(session(1), "typed");
        let text = written(keeper.poll(3, Vec::new));
        assert!(text.contains("typed") && !text.contains("\"requests\":[{"));
        assert_eq!(keeper.deadline(), None);
    }

    #[test]
    fn the_keeper_writes_on_change_only_and_removes_its_key_when_nothing_is_left() {
        let mut keeper = Keeper::new("conclave", tab());
        assert_eq!(keeper.poll(0, Vec::new), None, "nothing changed");
        keeper.draft(session(1), "hello");
        let text = written(keeper.poll(0, Vec::new));
        assert!(text.contains("hello"));
        keeper.touch();
        assert_eq!(
            keeper.poll(0, Vec::new),
            None,
            "the same text is not written again"
        );
        keeper.draft(session(1), "");
        assert_eq!(
            keeper.poll(0, Vec::new),
            Some(OwnWrite::Remove {
                key: backup_key("conclave", tab())
            })
        );
        assert_eq!(keeper.status().bytes, 0);
    }

    #[test]
    fn a_refused_or_oversized_backup_keeps_the_previous_one_and_names_the_draft() {
        let mut keeper = Keeper::new("conclave", tab());
        keeper.draft(session(1), "kept");
        let first = written(keeper.poll(1, || vec![add(1)]));
        keeper.draft(session(2), "not kept");
        let _ = written(keeper.poll(1, || vec![add(1)]));
        keeper.refused();
        let status = keeper.status();
        assert_eq!(status.failure, Some(BackupFailure::Refused));
        assert_eq!(status.unprotected, vec![session(2)]);
        assert_eq!(status.bytes, first.len(), "the previous backup stands");
        assert_eq!(status.writes, 1);
        keeper.draft(session(2), &"x".repeat(MAX_BACKUP_BYTES));
        assert_eq!(
            keeper.poll(1, || vec![add(1)]),
            None,
            "too large: not written"
        );
        let status = keeper.status();
        assert_eq!(status.failure, Some(BackupFailure::TooLarge));
        assert_eq!(status.unprotected, vec![session(2)]);
        keeper.draft(session(2), "small again");
        let _ = written(keeper.poll(1, || vec![add(1)]));
        assert_eq!(keeper.status().failure, None);
        assert!(keeper.status().unprotected.is_empty());
    }
}
