//! The app's data in the simulator (SPEC 2.5): what users type, each tab's emergency backup in
//! its own `localStorage` key, and the leader's reconciliations into the durable store.
//!
//! - A **write** ticks the tab's vector clock, appends the operation to the tab's pending list,
//!   and rewrites the tab's backup key synchronously. Once that returns, the write is
//!   *acknowledged*: the user was told it is saved.
//! - A tab acting as leader **reads** every backup key (when it starts leading and now and
//!   then after), and later **commits** [`reconcile`] of what it read into the durable store in
//!   one transaction (IndexedDB: read, join, write). A crash or a trip to the back/forward
//!   cache before the commit loses it. Only after the commit does it delete the keys the report
//!   calls deletable, and only those still holding the text it read. A deposed leader may still
//!   commit: the store is a join, so that is harmless, and S6 checks it is.
//! - After a commit, running tabs **learn** the store (the leader tells them) now and then:
//!   they drop from their pending list what the store holds, merge its clock into theirs and
//!   rewrite (or remove) their key.
//!
//! **S6**, checked after every change to storage: every acknowledged write is in the durable
//! store (a rename counts as kept when the store's title write ranks at or above it) or in a
//! backup key still stored; corrupted and foreign keys are never deleted. At the end of a
//! seed, after the leader's last reconciliation, every acknowledged write is in the store.
//!
//! This model draws from its own random source, so the engines' histories, and the seeds
//! pinned for the bugs they found, are the same with or without it.

use std::collections::{BTreeMap, BTreeSet};

use conclave_core::reconcile::{
    backup_key, reconcile, Backup, Message, Op, RawBackup, Store, BACKUP_KEY_PREFIX,
};
use conclave_core::{TabId, VClock};

use super::Rng;

/// A write the user was told is saved.
#[derive(Clone, Debug)]
enum Ack {
    Message { session: String, id: String },
    Title { session: String, rank: Rank },
}

/// The title register's order: (clock total, writer, title).
type Rank = (u128, TabId, String);

struct Writer {
    id: TabId,
    clock: VClock,
    pending: Vec<Op>,
}

/// What the data model did over one seed.
#[derive(Debug, Default, Clone, Copy)]
pub struct DataStats {
    pub acknowledged: u64,
    pub reconciliations: u64,
    pub lost_commits: u64,
    pub applied: u64,
    pub merged: u64,
    pub dropped: u64,
    pub recovered: u64,
    pub conflicts: u64,
    pub deleted_keys: u64,
    pub skipped: u64,
}

pub struct Data {
    pub rng: Rng,
    /// `localStorage`: every backup key and what it holds. A write is synchronous and survives
    /// any crash of the page that made it.
    storage: BTreeMap<String, (String, Option<Backup>)>,
    /// The durable store: changed only by committed reconciliations.
    store: Store,
    /// By the simulator's tab index.
    writers: Vec<Writer>,
    acks: Vec<Ack>,
    sessions: Vec<String>,
    /// Keys that are not backups of this build: they must be skipped and never deleted.
    junk: BTreeSet<String>,
    next: u64,
    pub stats: DataStats,
}

impl DataStats {
    pub fn add(&mut self, other: &Self) {
        self.acknowledged += other.acknowledged;
        self.reconciliations += other.reconciliations;
        self.lost_commits += other.lost_commits;
        self.applied += other.applied;
        self.merged += other.merged;
        self.dropped += other.dropped;
        self.recovered += other.recovered;
        self.conflicts += other.conflicts;
        self.deleted_keys += other.deleted_keys;
        self.skipped += other.skipped;
    }
}

impl Data {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x5eed_da7a_0000_0000);
        let mut storage = BTreeMap::new();
        let mut junk = BTreeSet::new();
        if rng.chance(200) {
            // A corrupted backup, and one written by a future version, under valid keys.
            for text in [
                "{\"v\":1,\"tab\":",
                "{\"v\":99,\"tab\":\"00\",\"clock\":{},\"ops\":[]}",
            ] {
                let key = backup_key(rng.id());
                storage.insert(key.clone(), (text.to_owned(), None));
                junk.insert(key);
            }
        }
        Self {
            rng,
            storage,
            store: Store::default(),
            writers: Vec::new(),
            acks: Vec::new(),
            sessions: Vec::new(),
            junk,
            next: 0,
            stats: DataStats::default(),
        }
    }

    /// A tab opened; tabs are numbered as the simulator numbers them.
    pub fn open(&mut self, id: TabId) {
        self.writers.push(Writer {
            id,
            clock: VClock::new(),
            pending: Vec::new(),
        });
    }

    /// Tab `i`'s user writes something: a message mostly, sometimes a new session or a rename.
    pub fn write(&mut self, i: usize) {
        self.next += 1;
        let n = self.next;
        let kind = self.rng.range(0, 9);
        let writer = &mut self.writers[i];
        writer.clock.tick(writer.id);
        let pick = |rng: &mut Rng, sessions: &[String]| {
            sessions[rng.range(0, sessions.len() as u64 - 1) as usize].clone()
        };
        let (op, ack) = if self.sessions.is_empty() || kind == 0 {
            let session = format!("s{n}");
            self.sessions.push(session.clone());
            let title = format!("session {n}");
            let rank = (writer.clock.total(), writer.id, title.clone());
            let op = Op::CreateSession {
                session: session.clone(),
                title,
                clock: writer.clock.clone(),
            };
            (op, Ack::Title { session, rank })
        } else if kind == 1 {
            let session = pick(&mut self.rng, &self.sessions);
            let title = format!("renamed {n}");
            let rank = (writer.clock.total(), writer.id, title.clone());
            let op = Op::RenameSession {
                session: session.clone(),
                title,
                clock: writer.clock.clone(),
            };
            (op, Ack::Title { session, rank })
        } else {
            let session = pick(&mut self.rng, &self.sessions);
            let id = format!("m{n}");
            let op = Op::AddMessage {
                session: session.clone(),
                message: Message {
                    id: id.clone(),
                    author: writer.id,
                    text: format!("message {n}"),
                },
            };
            (op, Ack::Message { session, id })
        };
        writer.pending.push(op);
        self.save(i);
        // `setItem` returned: the write is acknowledged.
        self.acks.push(ack);
        self.stats.acknowledged += 1;
    }

    /// Rewrites tab `i`'s key from its pending list, or removes it when nothing is pending.
    fn save(&mut self, i: usize) {
        let writer = &self.writers[i];
        let key = backup_key(writer.id);
        if writer.pending.is_empty() {
            self.storage.remove(&key);
            return;
        }
        let backup = Backup {
            tab: writer.id,
            clock: writer.clock.clone(),
            ops: writer.pending.clone(),
        };
        self.storage.insert(key, (backup.encode(), Some(backup)));
    }

    /// The leader reads every backup key.
    pub fn read(&self) -> Vec<RawBackup> {
        self.storage
            .range(BACKUP_KEY_PREFIX.to_owned()..)
            .take_while(|(key, _)| key.starts_with(BACKUP_KEY_PREFIX))
            .map(|(key, (text, _))| RawBackup {
                key: key.clone(),
                text: text.clone(),
            })
            .collect()
    }

    /// A reconciliation of what was `read` commits; then the keys it covered are deleted.
    pub fn commit(&mut self, read: &[RawBackup]) -> Result<(), String> {
        let done = reconcile(&self.store, read);
        let report = &done.report;
        self.stats.reconciliations += 1;
        self.stats.applied += report.applied.len() as u64;
        self.stats.merged += report.merged.len() as u64;
        self.stats.dropped += report.dropped.len() as u64;
        self.stats.recovered += report.recovered.len() as u64;
        self.stats.conflicts += report.conflicts.len() as u64;
        self.stats.skipped += report.skipped.len() as u64;
        self.store = done.store;
        for key in &report.deletable {
            let unchanged = read
                .iter()
                .any(|r| &r.key == key && self.storage.get(key).is_some_and(|(t, _)| *t == r.text));
            if unchanged {
                self.storage.remove(key);
                self.stats.deleted_keys += 1;
            }
        }
        self.check()
    }

    /// A commit that never happened: its tab crashed or left first.
    pub fn lost_commit(&mut self) {
        self.stats.lost_commits += 1;
    }

    /// Tab `i` learns the store: it forgets what is stored and catches its clock up.
    pub fn learn(&mut self, i: usize) -> Result<(), String> {
        let store = &self.store;
        let writer = &mut self.writers[i];
        let before = writer.pending.len();
        writer.pending.retain(|op| !stores(store, writer.id, op));
        writer.clock.merge(&store.clock);
        if writer.pending.len() != before {
            self.save(i);
        }
        self.check()
    }

    /// S6: every acknowledged write is stored, or still in a backup key; no junk key deleted.
    pub fn check(&self) -> Result<(), String> {
        if let Some(key) = self.junk.iter().find(|k| !self.storage.contains_key(*k)) {
            return Err(format!("S6: the unreadable key {key} was deleted"));
        }
        let mut backed_up: BTreeSet<(&str, &str)> = BTreeSet::new();
        let mut titles: BTreeMap<&str, Vec<Rank>> = BTreeMap::new();
        for backup in self.storage.values().filter_map(|(_, b)| b.as_ref()) {
            for op in &backup.ops {
                match (op, rank(backup.tab, op)) {
                    (Op::AddMessage { session, message }, _) => {
                        backed_up.insert((session, &message.id));
                    }
                    (_, Some(rank)) => titles.entry(op.session()).or_default().push(rank),
                    (_, None) => {}
                }
            }
        }
        for ack in &self.acks {
            let kept = match ack {
                Ack::Message { session, id } => {
                    self.store
                        .sessions
                        .get(session)
                        .is_some_and(|s| s.messages.contains_key(id))
                        || backed_up.contains(&(session.as_str(), id.as_str()))
                }
                Ack::Title { session, rank } => {
                    title_kept(&self.store, session, rank)
                        || titles
                            .get(session.as_str())
                            .is_some_and(|r| r.contains(rank))
                }
            };
            if !kept {
                return Err(format!(
                    "S6: the acknowledged write {ack:?} is neither stored nor backed up"
                ));
            }
        }
        Ok(())
    }

    /// At the end of a seed, after a last reconciliation: every acknowledged write is stored.
    pub fn check_all_stored(&self) -> Result<(), String> {
        for ack in &self.acks {
            let stored = match ack {
                Ack::Message { session, id } => self
                    .store
                    .sessions
                    .get(session)
                    .is_some_and(|s| s.messages.contains_key(id)),
                Ack::Title { session, rank } => title_kept(&self.store, session, rank),
            };
            if !stored {
                return Err(format!(
                    "S6: after the last reconciliation, {ack:?} is not in the store"
                ));
            }
        }
        Ok(())
    }
}

/// Whether the store's title of `session` ranks at or above the write `rank`.
fn title_kept(store: &Store, session: &str, rank: &Rank) -> bool {
    store.sessions.get(session).is_some_and(|s| {
        (s.title_clock.total(), s.title_by, s.title.as_str()) >= (rank.0, rank.1, rank.2.as_str())
    })
}

/// Where `tab`'s title write `op` ranks in the title register; `None` for a message.
fn rank(tab: TabId, op: &Op) -> Option<Rank> {
    let (title, clock) = op.title_write()?;
    Some((clock.total(), tab, title.to_owned()))
}

/// Whether `store` holds `op`, written by `tab`.
fn stores(store: &Store, tab: TabId, op: &Op) -> bool {
    match (op, rank(tab, op)) {
        (Op::AddMessage { session, message }, _) => store
            .sessions
            .get(session)
            .is_some_and(|s| s.messages.get(&message.id) == Some(message)),
        (_, Some(rank)) => title_kept(store, op.session(), &rank),
        (_, None) => false,
    }
}
