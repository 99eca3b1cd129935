//! Emergency backups in the simulator (SPEC 2.5), run by the engine's own code: each tab
//! writes its own `localStorage` key ([`Output::WriteBackup`]), the leader reads every key
//! ([`Output::ReadBackups`]), replays what dead tabs left into the store, and deletes a key
//! once it is durable and unchanged ([`Output::DeleteBackup`]).
//!
//! `localStorage` here is a map, written and read synchronously as the browser's is. Faults:
//! a write the browser refuses (storage full), and unreadable keys planted at the start (a
//! foreign key, a corrupted one).
//!
//! **B1–B4**, checked at the end (after the heal, the farewell and the settling time), for
//! every tab that died (crashed or closed; a page in the back/forward cache comes back at the
//! heal), on the
//! backup its key held when it died. Nothing is lost: either its key still holds that backup
//! (no leader runs at the end to reconcile it, or the leader still lists the tab, not knowing
//! it dead), or
//! - B1: every request in it is consumed in the store (its tab's ledger reaches it): applied,
//!   or refused, never lost;
//! - B2: every draft in it, of a session the store still holds, is offered in that session
//!   (the text, for that tab);
//! - B3: and when a leader runs at the end and no longer lists the tab, the key is gone.
//!
//! - B4 (at every deletion): no unreadable key is ever deleted.

use std::collections::{BTreeMap, BTreeSet};

use conclave_core::data::{backup_prefix, Backup, Image, ItemId, RawBackup};
use conclave_core::TabId;

use super::Rng;

/// One in this many backup writes is refused, as by a full storage.
const REFUSE_ONE_IN: u64 = 40;

/// What the backups went through over one seed.
#[derive(Debug, Default, Clone, Copy)]
pub struct BackupStats {
    pub written: u64,
    pub refused: u64,
    pub drafts_typed: u64,
    pub readings: u64,
    pub deleted: u64,
    pub planted: u64,
    pub terms_refused: u64,
    pub dead_checked: u64,
    pub requests_checked: u64,
    pub drafts_checked: u64,
}

impl BackupStats {
    pub fn add(&mut self, other: &Self) {
        self.written += other.written;
        self.refused += other.refused;
        self.drafts_typed += other.drafts_typed;
        self.readings += other.readings;
        self.deleted += other.deleted;
        self.planted += other.planted;
        self.terms_refused += other.terms_refused;
        self.dead_checked += other.dead_checked;
        self.requests_checked += other.requests_checked;
        self.drafts_checked += other.drafts_checked;
    }
}

pub struct Backups {
    pub enabled: bool,
    pub rng: Rng,
    /// `localStorage`'s backup keys.
    storage: BTreeMap<String, String>,
    /// Keys planted unreadable: never to be deleted.
    planted: BTreeSet<String>,
    /// Tabs that died, and the backup their key held then.
    dead: Vec<(TabId, Option<Backup>)>,
    pub stats: BackupStats,
}

impl Backups {
    pub fn new(seed: u64) -> Self {
        let mut backups = Self {
            enabled: true,
            rng: Rng::new(seed ^ 0xbac_c0b5),
            storage: BTreeMap::new(),
            planted: BTreeSet::new(),
            dead: Vec::new(),
            stats: BackupStats::default(),
        };
        if backups.rng.chance(300) {
            let prefix = backup_prefix("conclave");
            for (key, text) in [
                (format!("{prefix}not-a-tab"), "{}".to_owned()),
                (
                    format!("{prefix}{}", "ab".repeat(16)),
                    "{\"v\":2,".to_owned(),
                ),
            ] {
                backups.planted.insert(key.clone());
                backups.storage.insert(key, text);
                backups.stats.planted += 1;
            }
        }
        backups
    }

    /// Whether storage refuses a tab's write of its term now (never once the faults stop).
    pub fn refuse_term_write(&mut self, healing: bool) -> bool {
        let refused = self.enabled && !healing && self.rng.chance(20);
        self.stats.terms_refused += u64::from(refused);
        refused
    }

    /// Tab writes `text` to its `key`: whether the browser took it.
    pub fn write(&mut self, key: String, text: String) -> bool {
        if !self.enabled {
            return true;
        }
        if self.rng.chance(1_000 / REFUSE_ONE_IN) {
            self.stats.refused += 1;
            return false;
        }
        self.stats.written += 1;
        self.storage.insert(key, text);
        true
    }

    pub fn remove(&mut self, key: &str) {
        self.storage.remove(key);
    }

    /// Every key under `prefix`, as the leader reads them.
    pub fn read(&mut self, prefix: &str) -> Vec<RawBackup> {
        if !self.enabled {
            return Vec::new();
        }
        self.stats.readings += 1;
        self.storage
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, text)| RawBackup {
                key: key.clone(),
                text: text.clone(),
            })
            .collect()
    }

    /// Deletes `key` if it still holds `text` (B4: never a planted, unreadable one).
    pub fn delete(&mut self, key: &str, text: &str) -> Result<(), String> {
        if self.storage.get(key).map(String::as_str) != Some(text) {
            return Ok(());
        }
        if self.planted.contains(key) {
            return Err(format!("B4: the unreadable backup {key} was deleted"));
        }
        self.storage.remove(key);
        self.stats.deleted += 1;
        Ok(())
    }

    /// Tab `tab` died: what its key holds is all it leaves.
    pub fn died(&mut self, tab: TabId) {
        if !self.enabled {
            return;
        }
        let key = conclave_core::data::backup_key("conclave", tab);
        let backup = self
            .storage
            .get(&key)
            .and_then(|text| Backup::parse("conclave", &key, text).ok());
        self.dead.push((tab, backup));
    }

    /// B1–B3 at the end: `leader` is the tabs the leader running at the end lists, if one
    /// runs.
    pub fn check(&mut self, store: &Image, leader: Option<&BTreeSet<TabId>>) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let view = store.view();
        for (tab, backup) in &self.dead {
            let key = conclave_core::data::backup_key("conclave", *tab);
            let known_dead = leader.is_some_and(|listed| !listed.contains(tab));
            let Some(backup) = backup else {
                continue;
            };
            let kept = self.storage.get(&key) == Some(&backup.encode());
            if kept && !known_dead {
                // Left for a leader that knows the tab is dead: nothing is lost.
                continue;
            }
            self.stats.dead_checked += 1;
            let consumed = store
                .ledgers
                .iter()
                .find(|l| l.tab == *tab)
                .map_or(0, |l| l.ledger.number);
            for (number, op) in &backup.requests {
                self.stats.requests_checked += 1;
                if *number > consumed {
                    return Err(format!(
                        "B1: request {number} ({op:?}) of dead tab {} was in its backup but never reached the store (ledger at {consumed})",
                        tab.short()
                    ));
                }
            }
            for (session, text) in &backup.drafts {
                if view.session(*session).is_none() {
                    continue;
                }
                self.stats.drafts_checked += 1;
                let offered = view.draft(*session, *tab).map(|d| d.text.as_str());
                if offered != Some(text.as_str()) {
                    return Err(format!(
                        "B2: the draft of dead tab {} in session {session:?} ({} bytes) is not offered (offered: {offered:?})",
                        tab.short(),
                        text.len()
                    ));
                }
            }
            if known_dead && self.storage.contains_key(&key) {
                return Err(format!(
                    "B3: the backup of dead tab {} is still there",
                    tab.short()
                ));
            }
        }
        Ok(())
    }

    /// A draft tab `i` might type now in one of `sessions`: (session, text), empty to clear.
    pub fn draw_draft(
        &mut self,
        i: usize,
        sessions: &[ItemId],
        now: u64,
    ) -> Option<(ItemId, String)> {
        if !self.enabled || sessions.is_empty() || !self.rng.chance(100) {
            return None;
        }
        let session = sessions[self.rng.range(0, sessions.len() as u64 - 1) as usize];
        self.stats.drafts_typed += 1;
        let text = if self.rng.chance(200) {
            String::new()
        } else {
            format!("draft of tab {i} at {now}")
        };
        Some((session, text))
    }
}
