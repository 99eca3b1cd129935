//! One tab's page, played the way the browser driver plays it (`crates/web/src/driver.rs`):
//! `localStorage` answers at once, the lock manager and the durable store answer after the
//! drain, in the order asked, and the timer fires at the engine's deadlines. No other tab runs:
//! what they say comes from the check, and what this tab says is checked and kept.
//!
//! It checks two promises as it goes: every message handed to the tab is accounted for once
//! (delivered in some class, or rejected under a name), and every text the tab posts is one
//! its peers read: signed under the key it holds, and decoded by the codec.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use conclave_core::data::store::Image;
use conclave_core::data::{StoreError, StoreOp, StoreResult};
use conclave_core::reconcile::RawBackup;
use conclave_core::wire::Codec;
use conclave_core::{
    auth, Config, Engine, Key, Lifecycle, LockChange, LockName, LockRequest, Millis, Output,
    Received, TabId, Term,
};

use super::{CHANNEL, KEY};

/// The `localStorage` item of the highest term (as `crates/web/src/platform.rs` names them).
pub const TERM_ITEM: &str = "conclave:term:v1";
/// The `localStorage` item of the highest theft record.
pub const THEFT_ITEM: &str = "conclave:theft:v1";
/// The `localStorage` item of the shared key.
pub const KEY_ITEM: &str = "conclave:key:v1";

/// The most rounds of answers one input may cause: an engine that asks for more is busy for
/// ever (a loop between it and its driver), which is a finding.
const MAX_ROUNDS: usize = 10_000;

/// What the lock manager or the store owes the tab, in the order it was asked.
enum Owed {
    Grant(LockName),
    Store(StoreOp),
}

/// One tab, its storage, its locks and its clock.
pub struct Page {
    pub now: Millis,
    pub tab: Engine,
    /// `localStorage`: terms, the key, backups, and whatever else a page wrote there.
    pub local: BTreeMap<String, String>,
    /// The durable store (IndexedDB), as the simulator keeps it.
    pub image: Image,
    /// Staged files: chunk `index` of `stage`.
    pub staged: BTreeMap<(String, u64), Vec<u8>>,
    /// What the tab posted on the channel and on the leader's channel, oldest first, until
    /// taken.
    pub posts: Vec<String>,
    /// What the tab posted on the heir's channel, oldest first, until taken.
    pub to_heir: Vec<String>,
    /// Whether another tab holds the leader lock: this tab waits for it until
    /// [`Page::free_leader_lock`] (or steals it).
    held_elsewhere: bool,
    /// The locks this tab waits for (the leader lock, while another tab holds it).
    waiting: BTreeSet<LockName>,
    owed: VecDeque<Owed>,
    /// Frozen or closed: messages are not handed over (the page does not run).
    away: bool,
    /// Messages handed to the tab while it ran.
    handed: u64,
    codec: Codec,
}

impl Page {
    /// Tab `id`, starting now with `key`, on a store holding `image`; the leader lock is free
    /// when `leader_lock_free`, held by another tab otherwise.
    pub fn open(id: TabId, key: Option<Key>, leader_lock_free: bool, image: Image) -> Self {
        Self::start(id, key, leader_lock_free, image, BTreeMap::new())
    }

    /// Tab `id`, holding the key, once it leads with the store holding `image` claimed and
    /// the files `staged`.
    pub fn leading(id: TabId, image: Image, staged: BTreeMap<(String, u64), Vec<u8>>) -> Self {
        let mut page = Self::start(id, Some(KEY), true, image, staged);
        for _ in 0..100 {
            if page.tab.is_leader() && page.tab.store_status().writing {
                return page;
            }
            page.run_for(100);
        }
        panic!("a tab alone with the leader lock free never led and wrote the store");
    }

    /// [`Page::open`] with the files `staged`: they are there before the tab starts, as a tab
    /// with the leader lock free leads, claims the store and resumes its imports at once.
    fn start(
        id: TabId,
        key: Option<Key>,
        leader_lock_free: bool,
        image: Image,
        staged: BTreeMap<(String, u64), Vec<u8>>,
    ) -> Self {
        let config = Config::default();
        let codec = Codec::new(config.channel.clone(), config.max_message_bytes);
        assert_eq!(config.channel, CHANNEL);
        let mut page = Self {
            now: Millis(0),
            tab: Engine::new(config, id, Millis(0), true, key),
            local: BTreeMap::new(),
            image,
            staged,
            posts: Vec::new(),
            to_heir: Vec::new(),
            held_elsewhere: !leader_lock_free,
            waiting: BTreeSet::new(),
            owed: VecDeque::new(),
            away: false,
            handed: 0,
            codec,
        };
        page.settle();
        page
    }

    /// Hands the tab what arrived on the channel (or on the heir's channel).
    pub fn receive(&mut self, received: Received<'_>, to_heir: bool) {
        if !self.away {
            self.handed += 1;
        }
        if to_heir {
            self.tab.handle_message_to_heir(self.now, received);
        } else {
            self.tab.handle_message(self.now, received);
        }
        self.settle();
        let c = self.tab.counters();
        let counted = c.first + c.next + c.gap + c.late + c.duplicate + c.old + c.rejected_total();
        assert_eq!(
            counted, self.handed,
            "{received:?} was not accounted for exactly once: {c:?}"
        );
    }

    /// Another page wrote `text` to `localStorage` item `key`; the tab hears of it as the
    /// driver's `storage` listener tells it (the stored term, the key).
    pub fn store_item(&mut self, key: &str, text: &str) {
        self.local.insert(key.to_owned(), text.to_owned());
        if self.away {
            return;
        }
        if key == TERM_ITEM {
            self.tab.handle_stored_term(self.now, Some(text));
        } else if key == KEY_ITEM {
            if let Some(key) = Key::from_hex(text) {
                self.tab.handle_key(self.now, key);
            }
        }
        self.settle();
    }

    /// The page's lifecycle changes.
    pub fn lifecycle(&mut self, change: Lifecycle) {
        self.tab.handle_lifecycle(self.now, change);
        match change {
            Lifecycle::Frozen | Lifecycle::Closing => self.away = true,
            Lifecycle::Resumed | Lifecycle::Restored => self.away = false,
            _ => {}
        }
        self.settle();
    }

    /// The wall clock is set (or found changed): it reads `wall` now, as the driver tells the
    /// tab before its next input.
    pub fn set_wall_clock(&mut self, wall: u64) {
        self.tab.handle_wall_clock(self.now, wall);
        self.settle();
    }

    /// The tab that held the leader lock lets go of it.
    pub fn free_leader_lock(&mut self) {
        self.held_elsewhere = false;
        if self.waiting.remove(&LockName::Leader) {
            self.owed.push_back(Owed::Grant(LockName::Leader));
        }
        self.settle();
    }

    /// `ms` pass: the timer fires at every deadline the tab sets meanwhile.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now.plus(ms);
        let mut at_once = 0;
        while let Some(at) = self.tab.poll_timeout().filter(|&at| at <= until) {
            if at <= self.now {
                at_once += 1;
                assert!(
                    at_once < MAX_ROUNDS,
                    "the timer is due again at once, for ever"
                );
            } else {
                at_once = 0;
            }
            self.now = self.now.max(at);
            self.tab.handle_timeout(self.now);
            self.settle();
        }
        self.now = until;
    }

    /// Carries out everything the tab asks, answering the locks and the store after each
    /// drain, until it is quiet.
    pub fn settle(&mut self) {
        for _ in 0..MAX_ROUNDS {
            self.drain();
            match self.owed.pop_front() {
                Some(Owed::Grant(name)) => self.grant(name),
                Some(Owed::Store(op)) => {
                    let result = self.run_store(op);
                    self.tab.handle_store(self.now, result);
                }
                None => return,
            }
        }
        panic!("the tab never went quiet");
    }

    /// The outputs of one drain, in order; what `localStorage` does, at once.
    fn drain(&mut self) {
        while let Some(output) = self.tab.poll_output() {
            match output {
                Output::ReadTerm => {
                    let stored = self.local.get(TERM_ITEM).cloned();
                    self.tab.handle_stored_term(self.now, stored.as_deref());
                }
                Output::Persist(term) => {
                    self.keep_highest(TERM_ITEM, term);
                    self.tab.handle_persisted(self.now, term);
                }
                Output::RecordTheft(term) => self.keep_highest(THEFT_ITEM, term),
                Output::WriteBackup { key, text } => {
                    self.local.insert(key, text);
                }
                Output::RemoveBackup { key } => {
                    self.local.remove(&key);
                }
                Output::ReadBackups { prefix } => {
                    let found: Vec<RawBackup> = self
                        .local
                        .iter()
                        .filter(|(key, _)| key.starts_with(&prefix))
                        .map(|(key, text)| RawBackup {
                            key: key.clone(),
                            text: text.clone(),
                        })
                        .collect();
                    self.tab.handle_backups(self.now, &found);
                }
                Output::DeleteBackup { key, text } if self.local.get(&key) == Some(&text) => {
                    self.local.remove(&key);
                }
                // The other page hears both (a pair's other page leads or follows).
                Output::Transmit(text) | Output::TransmitToLeader(text) => {
                    self.check_sent(&text);
                    self.posts.push(text);
                }
                Output::TransmitToHeir(text) => {
                    self.check_sent(&text);
                    self.to_heir.push(text);
                }
                Output::Lock(name, request) => self.lock(name, request),
                Output::Store(op) => self.owed.push_back(Owed::Store(op)),
                _ => {}
            }
        }
    }

    /// Writes `term` to `item` unless a higher one is stored, as the driver does.
    fn keep_highest(&mut self, item: &str, term: Term) {
        if term.outranks_stored(self.local.get(item).map(String::as_str)) {
            self.local.insert(item.to_owned(), term.stored_text());
        }
    }

    fn lock(&mut self, name: LockName, request: LockRequest) {
        match request {
            LockRequest::Request if name == LockName::Leader && self.held_elsewhere => {
                self.waiting.insert(name);
            }
            LockRequest::Request => self.owed.push_back(Owed::Grant(name)),
            LockRequest::Steal => {
                if name == LockName::Leader {
                    self.held_elsewhere = false;
                }
                self.waiting.remove(&name);
                self.owed.push_back(Owed::Grant(name));
            }
            LockRequest::Release => {
                self.waiting.remove(&name);
                // A grant still on its way is handed straight back.
                self.owed
                    .retain(|owed| !matches!(owed, Owed::Grant(n) if *n == name));
            }
        }
    }

    fn grant(&mut self, name: LockName) {
        if name == LockName::Leader {
            let term = self.local.get(TERM_ITEM).cloned();
            self.tab.handle_stored_term(self.now, term.as_deref());
            let robbed = self.local.get(THEFT_ITEM).cloned();
            self.tab.handle_stored_theft(robbed.as_deref());
        }
        self.tab.handle_lock(self.now, name, LockChange::Granted);
    }

    /// Runs `op` against the store as the browser's does.
    fn run_store(&mut self, op: StoreOp) -> StoreResult {
        match op {
            StoreOp::Read => StoreResult::Read(Ok(self.image.clone())),
            StoreOp::Claim { term } => StoreResult::Claimed {
                term,
                result: self.image.claim(term).map(|()| self.image.clone()),
            },
            StoreOp::Commit(commit) => StoreResult::Committed {
                rev: commit.rev,
                result: self.image.commit(&commit),
            },
            StoreOp::ReadChunk { task, stage, index } => StoreResult::Chunk {
                task,
                index,
                result: self
                    .staged
                    .get(&(stage, index))
                    .cloned()
                    .ok_or_else(|| StoreError::Failed("no such staged chunk".to_owned())),
            },
        }
    }

    /// What the tab posts, every peer reads: signed under the key it holds, and decoded.
    fn check_sent(&self, text: &str) {
        let payload = if self.tab.has_key() {
            let (payload, _) = text
                .rsplit_once('#')
                .unwrap_or_else(|| panic!("a tab with the key posted {text:?} unsigned"));
            assert_eq!(auth::seal(payload.to_owned(), Some(&KEY)), text);
            payload
        } else {
            text
        };
        if let Err(rejection) = self.codec.decode(payload) {
            panic!("the tab posted {text:?}, which its peers reject as {rejection:?}");
        }
    }
}
