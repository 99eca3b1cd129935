//! A deterministic simulator of many tabs on one broadcast channel.
//!
//! One virtual clock, one seeded random source, one delivery queue. Each seed draws its own
//! fault profile — message loss, duplication, delay and reordering; hidden tabs whose timers
//! fire at 1 s and at 60 s granularity; frozen windows; main threads blocked for 5 s; crashes
//! and new tabs (restarts are new page loads, hence new ids); back/forward-cache round trips;
//! bursts of tabs opened in the same millisecond; with Web Locks (a lock manager with a queue,
//! steals, notices that take up to 50 ms, and thieves that now and then die before their
//! steal's grant reaches them) or without (lease mode); terms persisted through
//! a store whose unconfirmed writes are lost in a crash; the whole machine sleeping for up to two
//! minutes, each tab's clock either counting the sleep or stopping through it — and the
//! invariants are checked after every step.
//!
//! Clocks: the core only ever reads a tab's monotonic clock (`performance.now()` in the
//! browser), so a jump of the wall clock (`Date.now()`: a user or NTP setting the time) never
//! reaches it. What a tab can see is its monotonic clock running on from another tab's: every
//! tab has its own origin, and a machine sleep leaps some tabs' clocks ahead of others'.
//!
//! The app's data rides along (`data.rs`): users write, each tab keeps its emergency backup in
//! its own key, leaders reconcile the backups into the durable store, and S6 (no acknowledged
//! write is ever lost) is checked after every change to storage. Input queued for a blocked tab runs in a random order when it resumes, its timer
//! sometimes first. Every seed ends with a heal phase (faults stop, every tab runs and is
//! visible) after which presence must have converged and every tab must follow one leader, then
//! a quiet phase with some tabs hidden in which no election may happen, then a farewell: with
//! no faults, the leader closes (often with its heir, so that nobody hears its resignation), and
//! every tab that said goodbye must leave every visible tab's list within a heartbeat and
//! [`FAREWELL_SLACK_MS`] (promptness), whatever time-to-live it advertised.
//!
//! The same seed always gives the same trace hash; a failing seed reports itself and replays
//! with `CONCLAVE_SIM_SEED=<seed>`.

#![allow(unreachable_pub)] // the harness API of the simulation tests

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use conclave_core::reconcile::RawBackup;
use conclave_core::{
    Config, Engine, Event, Incarnation, Key, LeaveReason, Lifecycle, LockChange, LockName,
    LockRequest, Millis, Mode, Output, Received, Rejection, Role, Start, TabId, Term,
};
use proptest::prelude::Rng as _;
use proptest::test_runner::{RngAlgorithm, TestRng};

mod backups;
mod channel;
mod data;
mod faults;
mod imports;
mod invariants;
mod locks;
mod replay;
mod requests;
mod scenarios;
mod terms;

pub use backups::BackupStats;
use backups::Backups;
use conclave_core::data::{ItemId, Refusal, StoreOp, StoreResult};
use data::Data;
pub use data::DataStats;
pub use imports::ImportStats;
use imports::Imports;
use locks::Locks;
pub use replay::ReplayStats;
use replay::Replayer;
pub use requests::RequestStats;
use requests::Requests;
pub use scenarios::ScenarioStats;
use scenarios::{TabWatch, Watch};
use terms::TermItems;
pub use terms::TermStats;

/// How long faults are injected, in virtual ms.
const CHAOS_MS: u64 = 15_000;
/// The most tabs alive at once.
const MAX_TABS: usize = 16;
/// The longest a storage write takes to be confirmed, in virtual ms.
const PERSIST_MS: u64 = 20;
/// How long the quiet phase after the heal lasts, in virtual ms: a minute and more, so that
/// hidden tabs' one-minute timers fire in it...
const QUIET_MS: u64 = 65_000;
/// ...in one seed in this many; the others check agreement again after a short quiet phase.
const QUIET_EVERY: u64 = 5;
const SHORT_QUIET_MS: u64 = 3_000;
/// In the farewell (no faults), the longest a tab that said goodbye may stay in a visible
/// tab's list, beyond one heartbeat: a few message delays and lock notices (each at most 50
/// ms) while a new leader takes the deposed one's term. A tab whose timers run once a second
/// may take a second more; one whose timers run once a minute is held to the convergence
/// check only.
const FAREWELL_SLACK_MS: u64 = 500;
/// How long a question waits for an answer in the simulator, in virtual ms.
const QUESTION_TIMEOUT_MS: u64 = 3_000;
/// After the farewell, how long requests made before it have to end (R5): a new leader,
/// then a retry.
const SETTLE_REQUESTS_MS: u64 = 3_000;
/// How long the farewell runs, once every tab is shown, before the remaining tabs must agree
/// on one leader again.
const FAREWELL_SETTLE_MS: u64 = 6_000;

/// The wall clock at virtual time 0, in ms since the Unix epoch: the tabs' wall clock is the
/// virtual time from there (it runs on while the machine sleeps; a tab's own clock may not).
const WALL_EPOCH: u64 = 1_764_806_400_000;

/// A seeded random source with the few draws the simulator needs.
pub struct Rng(TestRng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..16].copy_from_slice(&(!seed).to_le_bytes());
        Self(TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.0.next_u64() % (hi - lo + 1)
    }
    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.range(0, 999) < per_mille
    }
    pub fn id(&mut self) -> TabId {
        let mut bytes = [0u8; 16];
        self.0.fill_bytes(&mut bytes);
        TabId::from_bytes(bytes)
    }
}

/// What one seed throws at the tabs.
#[derive(Clone, Debug)]
pub struct Profile {
    pub initial_tabs: u64,
    pub same_millisecond_start: bool,
    pub loss_per_mille: u64,
    pub dup_per_mille: u64,
    pub max_delay_ms: u64,
    /// Deliveries between one pair of tabs may overtake each other.
    pub reorder: bool,
    /// Mean virtual ms between two faults.
    pub fault_every_ms: u64,
    /// Web Locks or lease-only.
    pub mode: Mode,
    /// Whether the whole machine goes to sleep now and then (drawn apart, see [`Sim::new`]).
    pub machine_sleeps: bool,
}

impl Profile {
    pub fn draw(rng: &mut Rng) -> Self {
        let initial_tabs = match rng.range(0, 9) {
            0..=5 => rng.range(1, 5),
            6..=8 => rng.range(6, 10),
            _ => rng.range(11, MAX_TABS as u64),
        };
        Self {
            initial_tabs,
            same_millisecond_start: rng.chance(500),
            loss_per_mille: if rng.chance(500) {
                rng.range(0, 200)
            } else {
                0
            },
            dup_per_mille: if rng.chance(400) {
                rng.range(0, 100)
            } else {
                0
            },
            max_delay_ms: rng.range(0, 50),
            reorder: rng.chance(300),
            fault_every_ms: rng.range(300, 5_000),
            mode: if rng.chance(600) {
                Mode::WebLocks
            } else {
                Mode::Lease
            },
            machine_sleeps: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    /// Frozen (`freeze` … `resume`) or main thread blocked: input waits until `until`.
    Paused {
        until: u64,
        frozen: bool,
    },
    /// In the back/forward cache until `until` (if ever): input is lost.
    Cached {
        until: Option<u64>,
    },
    /// Crashed or closed for good.
    Gone,
}

struct Tab {
    engine: Engine,
    /// Virtual time at which the tab's own clock read 0.
    origin: u64,
    /// Since when it hears the channel (virtual ms): its opening, or its return from the
    /// back/forward cache or a freeze (F1).
    listening_since: u64,
    state: State,
    /// Timer granularity while hidden: 1 s, or 60 s after five minutes hidden.
    hidden: Option<u64>,
    /// Per lock, the generation of this tab's current request: notices for older ones are void.
    lock_gen: [u64; 2],
    /// The highest term this tab has reported (S2).
    term: Term,
    /// The highest leader-message term this tab has accepted (S3).
    accepted: Term,
    /// Unpaused by the heal but has not run any input yet: it cannot act before it does.
    fresh: bool,
    /// Holds the heir lock, as far as the driver knows (from the grant until the lock is lost
    /// or released).
    holds_heir: bool,
    /// Asleep with the machine since then, on a platform whose monotonic clock stops in sleep.
    clock_stopped_at: Option<u64>,
    /// What its pinned scenarios need remembered.
    watch: TabWatch,
}

impl Tab {
    fn clock(&self, now: u64) -> Millis {
        Millis(now - self.origin)
    }
    fn is_running(&self) -> bool {
        self.state == State::Running
    }
    /// Whether the driver listens on the heir's channel: while it holds the heir lock, or
    /// does not follow (a new leader keeps listening for a resignation still on its way).
    fn listens_as_heir(&self) -> bool {
        self.holds_heir || self.engine.role() != Role::Follower
    }

    /// Whether the page listens on the leader's channel: while it does not follow, as the
    /// driver does.
    fn listens_as_leader(&self) -> bool {
        self.engine.role() != Role::Follower
    }

    /// Wakes from the machine's sleep: a clock that stopped resumes where it stopped (and the
    /// wall clock, which went on, is read again).
    fn restart_clock(&mut self, now: u64) {
        if let Some(since) = self.clock_stopped_at.take() {
            self.origin += now - since;
            let clock = self.clock(now);
            self.engine.handle_wall_clock(clock, WALL_EPOCH + now);
        }
    }
    /// When this tab's timer fires, in virtual time, if it is armed and the tab runs.
    fn timer_at(&self) -> Option<u64> {
        let deadline = self.engine.poll_timeout()?.0 + self.origin;
        match self.state {
            State::Running => Some(match self.hidden {
                Some(g) => deadline.div_ceil(g) * g,
                None => deadline,
            }),
            State::Paused { until, .. } => Some(deadline.max(until)),
            State::Cached { .. } | State::Gone => None,
        }
    }
}

/// A broken invariant, with the seed that broke it.
#[derive(Debug)]
pub struct Violation {
    pub seed: u64,
    pub at_ms: u64,
    pub what: String,
}

/// What one seed measured.
#[derive(Debug, Default)]
pub struct Outcome {
    pub mode: Option<Mode>,
    /// Virtual ms from the leader's close (or trip to the back/forward cache) to a new leader.
    pub failover_close_ms: Vec<u64>,
    /// Virtual ms from the leader's crash to a new leader.
    pub failover_crash_ms: Vec<u64>,
    /// Virtual ms from the leader's freeze or 5 s block to a new leader.
    pub failover_freeze_ms: Vec<u64>,
    /// Virtual ms during which two or more running tabs acted as leader.
    pub split_brain_ms: u64,
    /// Elections in the quiet phase (no faults, some tabs hidden).
    pub quiet_elections: u64,
    /// Whether the quiet phase lasted a minute and more.
    pub quiet_minute: bool,
    /// Elections over the whole seed.
    pub elections: u64,
    pub trace_hash: u64,
    /// Virtual ms from a tab's goodbye to its absence from every running tab's list.
    pub goodbye_ms: Vec<u64>,
    /// Virtual ms from a silent death (crash) to its absence from every running tab's list.
    pub silent_ms: Vec<u64>,
    /// Virtual ms from a goodbye in the farewell (the leader, often with its heir) to its
    /// absence from every visible running tab's list.
    pub farewell_ms: Vec<u64>,
    pub deliveries: u64,
    /// What the app's data went through (S6).
    pub data: DataStats,
    /// What the workspace's requests went through (R1-R5).
    pub requests: RequestStats,
    /// What the backups went through (B1-B4).
    pub backups: BackupStats,
    /// What the imports went through (T1-T4).
    pub imports: ImportStats,
    /// What the term items' corruption did.
    pub terms: TermStats,
    /// What the replaying adversary did.
    pub replays: ReplayStats,
    /// Times the whole machine slept.
    pub machine_sleeps: u64,
    /// How often each scenario a regression seed pins happened.
    pub scenarios: ScenarioStats,
}

type MessageKey = (TabId, Incarnation, u64);
/// Per (receiver, sender, incarnation).
type StreamKey = (usize, TabId, Incarnation);

/// Which of the app's channels a text is posted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    /// The app's channel: every tab.
    App,
    /// The heir's channel.
    Heir,
    /// The leader's channel.
    Leader,
}

/// An input waiting in the delivery queue.
#[derive(Clone, Debug)]
enum Input {
    Text(String),
    /// A text posted on the heir's channel.
    ToHeir(String),
    /// A text posted on the leader's channel.
    ToLeader(String),
    /// A lock notice for the request of this generation.
    Lock(LockName, LockChange, u64),
    Persisted(Term),
    /// The page crashes (a thief that dies before its steal's grant reaches it).
    Crash,
    /// A reconciliation of the backups read commits (the app's data, not the engine's).
    Reconcile(Vec<RawBackup>),
    /// A transaction on the durable store runs (and its result goes to the page).
    Store(StoreOp),
    /// The result of a transaction that ran while the page was paused.
    StoreDone(StoreResult),
}

/// How a tab left, for the figure its absence from the lists goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Departure {
    Goodbye,
    Silent,
    /// A goodbye in the farewell: measured against the visible tabs' lists alone.
    Farewell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loss {
    Close,
    Crash,
    Freeze,
}
/// The highest seq delivered, and every gap announced so far (inclusive ranges).
type StreamProgress = (u64, Vec<(u64, u64)>);

pub struct Sim {
    seed: u64,
    rng: Rng,
    profile: Profile,
    now: u64,
    tabs: Vec<Tab>,
    /// (deliver at, tie-break, order, to); the input itself is in `inputs` under `order`.
    queue: BinaryHeap<Reverse<(u64, u64, u64, usize)>>,
    inputs: BTreeMap<u64, Input>,
    order: u64,
    /// The leader lock and the heir lock, by [`LockName::index`].
    locks: [Locks; 2],
    /// Per tab: the last lock notice's delivery time, so that notices arrive in order.
    notice_fifo: BTreeMap<usize, u64>,
    /// `localStorage`'s term and theft record, as text (a fault overwrites them).
    terms: TermItems,
    /// A same-origin page replaying recorded messages (F1).
    replayer: Replayer,
    /// S1: who led each term.
    led: BTreeMap<Term, TabId>,
    /// Leaders lost and not yet replaced: (how, since, their term).
    losses: Vec<(Loss, u64, Term)>,
    quiet: bool,
    /// Per (from, to): the last scheduled delivery, to keep channels FIFO unless reordering.
    fifo: BTreeMap<(usize, usize), u64>,
    next_fault: u64,
    healing: bool,
    ever_hidden: bool,
    /// Every message sent, and whether it is a leader action (fenced by its term).
    sent: BTreeMap<MessageKey, bool>,
    delivered: BTreeSet<(usize, MessageKey)>,
    /// Per (receiver, sender, incarnation): highest delivered seq and announced gaps.
    progress: BTreeMap<StreamKey, StreamProgress>,
    /// Tabs that left, since when, and how.
    departures: Vec<(TabId, u64, Departure)>,
    hasher: DefaultHasher,
    outcome: Outcome,
    /// The app's data: backups, the durable store, and S6.
    data: Data,
    /// While the machine sleeps, nothing runs and no fault is injected.
    asleep_until: Option<u64>,
    /// The sessions workspace: requests, the durable store, R1-R5.
    requests: Requests,
    /// Whether tabs still make requests (not in the farewell, after which R5 is checked).
    requests_open: bool,
    /// Per tab: the time of its last store transaction, so that they run in order.
    store_fifo: BTreeMap<usize, u64>,
    /// Emergency backups: each tab's key, the leader's readings, B1-B4.
    backups: Backups,
    /// Imports: staged files, T1-T4.
    imports: Imports,
    /// Counts the scenarios the regression seeds pin.
    watch: Watch,
    pub trace: Option<Vec<String>>,
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut profile = Profile::draw(&mut rng);
        // Later additions draw from the data model's own source, so that the engines' histories
        // of seeds without machine sleeps are what they were before these faults existed.
        let mut data = Data::new(seed);
        profile.machine_sleeps = data.rng.chance(250);
        let mut sim = Self {
            seed,
            rng,
            profile,
            now: 0,
            tabs: Vec::new(),
            queue: BinaryHeap::new(),
            inputs: BTreeMap::new(),
            order: 0,
            locks: Default::default(),
            notice_fifo: BTreeMap::new(),
            terms: TermItems::new(seed),
            replayer: Replayer::new(seed),
            led: BTreeMap::new(),
            losses: Vec::new(),
            quiet: false,
            fifo: BTreeMap::new(),
            next_fault: 0,
            healing: false,
            ever_hidden: false,
            sent: BTreeMap::new(),
            delivered: BTreeSet::new(),
            progress: BTreeMap::new(),
            departures: Vec::new(),
            hasher: DefaultHasher::new(),
            outcome: Outcome::default(),
            data,
            asleep_until: None,
            requests: Requests::new(seed),
            requests_open: true,
            store_fifo: BTreeMap::new(),
            backups: Backups::new(seed),
            imports: Imports::new(seed),
            watch: Watch::default(),
            trace: None,
        };
        sim.next_fault = sim.rng.range(0, 2 * sim.profile.fault_every_ms);
        sim
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The same seed without machine sleeps: the history it had when it was pinned.
    pub fn without_machine_sleeps(mut self) -> Self {
        self.profile.machine_sleeps = false;
        self
    }

    /// The same seed without its term items overwritten: the history it had before that fault.
    pub fn without_term_corruption(mut self) -> Self {
        self.terms.corrupting = false;
        self
    }

    /// The same seed without workspace requests (nor store transactions, nor backups): the
    /// history it had before they existed.
    pub fn without_requests(mut self) -> Self {
        self.requests.enabled = false;
        self.backups.enabled = false;
        self.imports.enabled = false;
        self
    }

    /// The same seed without emergency backups or imports: the history its requests had
    /// before them.
    pub fn without_backups_or_imports(mut self) -> Self {
        self.backups.enabled = false;
        self.imports.enabled = false;
        self
    }

    /// Runs the seed and returns its trace as well.
    pub fn run_traced(mut self) -> (Result<Outcome, Violation>, Vec<String>) {
        self.trace = Some(Vec::new());
        let result = self.run_inner();
        (result, self.trace.take().unwrap_or_default())
    }

    /// Runs the seed to the end: chaos, then heal, then the convergence check.
    pub fn run(mut self) -> Result<Outcome, Violation> {
        self.run_inner()
    }

    fn run_inner(&mut self) -> Result<Outcome, Violation> {
        let n = self.profile.initial_tabs;
        for _ in 0..n {
            let opened_at = if self.profile.same_millisecond_start {
                0
            } else {
                self.rng.range(0, 2_000)
            };
            self.now = opened_at.max(self.now);
            self.open_tab()?;
        }
        self.run_until(CHAOS_MS)?;
        if let Some(wake) = self.asleep_until {
            // The heal comes when the machine wakes.
            self.run_until(wake.max(CHAOS_MS))?;
        }
        self.heal()?;
        let healed = self.now;
        // A tab that died while hidden advertised the long hidden time-to-live: outlast it.
        let heal_ms = if self.ever_hidden {
            Config::default().hidden_ttl_ms + 5_000
        } else {
            Config::default().visible_ttl_ms + 2_000
        };
        self.run_until(healed + heal_ms)?;
        self.check_converged()?;
        self.check_one_leader()?;
        self.go_quiet()?;
        let quiet_ms = if self.seed.is_multiple_of(QUIET_EVERY) {
            self.outcome.quiet_minute = true;
            QUIET_MS
        } else {
            SHORT_QUIET_MS
        };
        self.run_until(healed + heal_ms + quiet_ms)?;
        self.check_one_leader()?;
        self.requests_open = false;
        self.farewell()?;
        self.last_reconciliation()?;
        if self.requests.enabled {
            // Requests made just before the farewell have a few seconds more to end.
            self.run_until(self.now + SETTLE_REQUESTS_MS)?;
            self.check_requests_settled()?;
            // The leader that runs at the end, and the tabs it still lists (alive, as far as
            // it knows).
            let leader = self
                .tabs
                .iter()
                .find(|t| t.is_running() && t.engine.is_leader())
                .map(|t| t.engine.peers().map(|p| p.id).collect::<BTreeSet<_>>());
            let result = self.backups.check(self.requests.store(), leader.as_ref());
            result.map_err(|e| self.violation(e))?;
            let result = self.imports.check_end(self.requests.store());
            result.map_err(|e| self.violation(e))?;
        }
        self.outcome.requests = self.requests.stats;
        self.outcome.backups = self.backups.stats;
        self.outcome.imports = self.imports.stats;
        self.outcome.terms = self.terms.stats;
        self.outcome.replays = self.replayer.stats;
        self.outcome.mode = Some(self.profile.mode);
        self.outcome.trace_hash = self.hasher.finish();
        self.outcome.data = self.data.stats;
        self.watch_end();
        self.outcome.scenarios = self.watch.stats;
        Ok(std::mem::take(&mut self.outcome))
    }

    fn violation(&self, what: String) -> Violation {
        Violation {
            seed: self.seed,
            at_ms: self.now,
            what,
        }
    }

    fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(trace) = &mut self.trace {
            trace.push(format!("{:>7} {}", self.now, line()));
        }
    }

    fn open_tab(&mut self) -> Result<(), Violation> {
        if self.tabs.iter().filter(|t| t.state != State::Gone).count() >= MAX_TABS {
            return Ok(());
        }
        let id = self.rng.id();
        let config = Config {
            mode: self.profile.mode,
            // Questions time out inside a seed's phases, so that timeouts race answers.
            question_timeout_ms: QUESTION_TIMEOUT_MS,
            ..Config::default()
        };
        let engine = Engine::start(
            config,
            Start {
                id,
                now: Millis(0),
                visible: true,
                key: Some(Key::from_bytes([42; 32])),
                term: self.terms.term(),
                wall: WALL_EPOCH + self.now,
            },
        );
        self.tabs.push(Tab {
            engine,
            origin: self.now,
            listening_since: self.now,
            state: State::Running,
            hidden: None,
            lock_gen: [0; 2],
            term: self.terms.term(),
            accepted: Term::ZERO,
            fresh: false,
            holds_heir: false,
            clock_stopped_at: None,
            watch: TabWatch::default(),
        });
        self.data.open(id);
        let i = self.tabs.len() - 1;
        self.log(|| format!("open tab {i} {}", id.short()));
        self.drain(i)
    }

    /// Posts what tab `i` sent and checks what it reported.
    fn drain(&mut self, i: usize) -> Result<(), Violation> {
        self.tabs[i].fresh = false;
        self.watch_input(i);
        // Terms to store are scheduled after the drain's posts: their write delays are drawn
        // after the posts' delivery delays, so that every pinned seed replays its history.
        let mut persists = Vec::new();
        while let Some(output) = self.tabs[i].engine.poll_output() {
            if !matches!(
                output,
                Output::Persist(_)
                    | Output::RecordTheft(_)
                    | Output::Transmit(_)
                    | Output::TransmitToHeir(_)
                    | Output::TransmitToLeader(_)
            ) {
                self.schedule_persists(i, &mut persists);
            }
            match output {
                Output::ReadTerm => {
                    // localStorage is read synchronously, as the driver does.
                    let clock = self.tabs[i].clock(self.now);
                    let stored = self.terms.term.as_deref();
                    self.tabs[i].engine.handle_stored_term(clock, stored);
                }
                Output::TransmitToHeir(text) => self.sent(i, &text, Channel::Heir)?,
                Output::TransmitToLeader(text) => self.sent(i, &text, Channel::Leader)?,
                Output::Transmit(text) => self.sent(i, &text, Channel::App)?,
                Output::Persist(term) => persists.push(term),
                Output::RecordTheft(term) => {
                    // localStorage writes synchronously: the record is there before the steal.
                    self.log(|| format!("tab {i} records a theft from {term:?}"));
                    self.terms.store_theft(term);
                }
                Output::Lock(name, request) => {
                    self.log(|| format!("tab {i} {name:?} lock {request:?}"));
                    self.lock_request(i, name, request);
                }
                Output::Store(op) if self.requests.enabled => {
                    // IndexedDB runs a page's transactions in the order it created them.
                    let last = self.store_fifo.entry(i).or_insert(0);
                    let at = (self.now + self.requests.rng.range(1, 12)).max(*last);
                    *last = at;
                    self.push(at, i, Input::Store(op));
                }
                Output::Event(event) => {
                    format!("{event:?}").hash(&mut self.hasher);
                    self.check_event(i, event)?;
                }
                Output::WriteBackup { key, text } => {
                    let taken = self.backups.write(key, text);
                    if !taken {
                        self.tabs[i].engine.handle_backup_refused();
                    }
                }
                Output::RemoveBackup { key } => self.backups.remove(&key),
                Output::ReadBackups { prefix } => {
                    let found = self.backups.read(&prefix);
                    self.log(|| format!("tab {i} reads {} backups", found.len()));
                    let clock = self.tabs[i].clock(self.now);
                    self.tabs[i].engine.handle_backups(clock, &found);
                    let found = format!("  {:?}", self.tabs[i].engine.backups_found());
                    self.log(|| found);
                }
                Output::DeleteBackup { key, text } => {
                    self.log(|| format!("tab {i} deletes backup {key}"));
                    let result = self.backups.delete(&key, &text);
                    result.map_err(|e| self.violation(e))?;
                }
                _ => {}
            }
        }
        self.schedule_persists(i, &mut persists);
        self.watch_drained(i);
        self.check_memory(i)?;
        self.check_terms(i)?;
        self.check_acting()
    }

    /// Schedules the confirmations of tab `i`'s term writes, each after its own delay.
    fn schedule_persists(&mut self, i: usize, persists: &mut Vec<Term>) {
        for term in persists.drain(..) {
            let at = self.now + self.rng.range(0, PERSIST_MS);
            // Now and then storage refuses the write (full, or disabled): it is never
            // confirmed, and the tab must not lead that term, nor wedge the election.
            if self.backups.refuse_term_write(self.healing) {
                self.log(|| format!("tab {i}'s write of {term:?} refused"));
                continue;
            }
            self.push(at, i, Input::Persisted(term));
        }
    }

    fn run_until(&mut self, end: u64) -> Result<(), Violation> {
        let mut steps_at_now = 0u32;
        loop {
            let next_delivery = self.queue.peek().map(|Reverse((at, ..))| *at);
            let next_timer = self.tabs.iter().filter_map(Tab::timer_at).min();
            let next_wake = self
                .tabs
                .iter()
                .filter_map(|t| match t.state {
                    State::Paused { until, .. } => Some(until),
                    State::Cached { until } => until,
                    _ => None,
                })
                .min();
            let next_fault = (!self.healing).then_some(self.next_fault);
            let next_corruption = self.terms.due(self.healing);
            let next_replay = self.replayer.due(self.healing);
            let Some(next) = [
                next_delivery,
                next_timer,
                next_wake,
                next_fault,
                next_corruption,
                next_replay,
            ]
            .into_iter()
            .flatten()
            .min() else {
                break;
            };
            if next > end {
                break;
            }
            if self.acting().len() > 1 {
                self.outcome.split_brain_ms += next.saturating_sub(self.now);
            }
            // A timer that keeps asking to run at the same instant is a livelock.
            steps_at_now = if next <= self.now {
                steps_at_now + 1
            } else {
                0
            };
            if steps_at_now > 10_000 {
                let due: Vec<(usize, u64)> = (0..self.tabs.len())
                    .filter_map(|i| Some((i, self.tabs[i].timer_at()?)))
                    .filter(|&(_, t)| t <= next)
                    .collect();
                return Err(self.violation(format!("livelock: timers due at {next}: {due:?}")));
            }
            self.now = self.now.max(next);
            self.wake_due()?;
            if next_fault == Some(next) && next < CHAOS_MS {
                if self.asleep_until.is_some_and(|wake| self.now < wake) {
                    // Nothing happens while the machine sleeps.
                } else if self.profile.machine_sleeps && self.data.rng.chance(150) {
                    self.sleep_machine();
                } else {
                    self.inject_fault()?;
                }
                self.next_fault = self.now + self.rng.range(1, 2 * self.profile.fault_every_ms);
            } else if next_fault == Some(next) {
                self.next_fault = u64::MAX;
            }
            if next_replay == Some(next) {
                self.replay()?;
            }
            let asleep = self.asleep_until.is_some_and(|wake| self.now < wake);
            if next_corruption == Some(next) && next < CHAOS_MS && !asleep {
                let line = self.terms.corrupt(self.now);
                self.log(|| line);
            } else if next_corruption == Some(next) {
                // Nothing runs while the machine sleeps; after the chaos, nothing corrupts.
                self.terms.postpone(self.now);
            }
            self.deliver_due()?;
            self.fire_timers()?;
            self.measure_departures();
        }
        self.now = end;
        Ok(())
    }

    fn wake_due(&mut self) -> Result<(), Violation> {
        for i in 0..self.tabs.len() {
            let change = match self.tabs[i].state {
                State::Paused { until, frozen } if until <= self.now => {
                    Some(frozen.then_some(Lifecycle::Resumed))
                }
                State::Cached { until: Some(until) } if until <= self.now => {
                    Some(Some(Lifecycle::Restored))
                }
                _ => None,
            };
            if let Some(change) = change {
                self.tabs[i].state = State::Running;
                self.tabs[i].restart_clock(self.now);
                // Until it runs an input, a resumed thread cannot act.
                self.tabs[i].fresh = change.is_none();
                if change.is_none() {
                    self.watch_unblocked(i);
                } else if change == Some(Lifecycle::Restored) {
                    self.watch_restored(i);
                }
                if change.is_none() && self.rng.chance(500) {
                    // A blocked thread resumes: its overdue timer may run before its queued input.
                    if self.tabs[i].timer_at().is_some_and(|t| t <= self.now) {
                        let clock = self.tabs[i].clock(self.now);
                        self.tabs[i].engine.handle_timeout(clock);
                        self.drain(i)?;
                    }
                }
                if let Some(change) = change {
                    let clock = self.tabs[i].clock(self.now);
                    self.log(|| format!("tab {i} {change:?}"));
                    self.tabs[i].listening_since = self.now;
                    self.tabs[i].engine.handle_lifecycle(clock, change);
                    self.drain(i)?;
                }
            }
        }
        Ok(())
    }

    fn deliver_due(&mut self) -> Result<(), Violation> {
        while let Some(Reverse((at, ..))) = self.queue.peek() {
            if *at > self.now {
                break;
            }
            let Some(Reverse((_, _, order, to))) = self.queue.pop() else {
                break;
            };
            match self.tabs[to].state {
                State::Running => {
                    let Some(input) = self.inputs.remove(&order) else {
                        continue;
                    };
                    let clock = self.tabs[to].clock(self.now);
                    match input {
                        Input::Text(text) => {
                            self.tabs[to]
                                .engine
                                .handle_message(clock, Received::Text(&text));
                        }
                        // Posted while it listened; not dispatched once it stopped.
                        Input::ToHeir(text) if self.tabs[to].listens_as_heir() => {
                            self.log(|| format!("tab {to} hears on the heir's channel"));
                            self.tabs[to]
                                .engine
                                .handle_message_to_heir(clock, Received::Text(&text));
                        }
                        Input::ToHeir(_) => continue,
                        // The same for the leader's channel.
                        Input::ToLeader(text) if self.tabs[to].listens_as_leader() => {
                            self.tabs[to]
                                .engine
                                .handle_message(clock, Received::Text(&text));
                        }
                        Input::ToLeader(_) => continue,
                        Input::Lock(name, change, lock_gen) => {
                            self.watch_notice(to, (name, change, lock_gen), order);
                            if lock_gen != self.tabs[to].lock_gen[name.index()] {
                                continue;
                            }
                            self.log(|| format!("tab {to} {name:?} lock {change:?}"));
                            if name == LockName::Heir {
                                self.tabs[to].holds_heir = change == LockChange::Granted;
                            }
                            if change == LockChange::Granted && name == LockName::Leader {
                                // The driver reads the stored term and theft record before
                                // taking the lock.
                                let engine = &mut self.tabs[to].engine;
                                engine.handle_stored_term(clock, self.terms.term.as_deref());
                                engine.handle_stored_theft(self.terms.theft.as_deref());
                            }
                            self.tabs[to].engine.handle_lock(clock, name, change);
                        }
                        Input::Persisted(term) => {
                            self.terms.store_term(term);
                            self.tabs[to].engine.handle_persisted(clock, term);
                        }
                        Input::Crash => {
                            self.thief_dies(to);
                            continue;
                        }
                        // The app's data, not the engine's: nothing to drain.
                        Input::Reconcile(read) => {
                            self.commit(to, &read)?;
                            continue;
                        }
                        Input::Store(op) => {
                            let id = self.tabs[to].engine.id();
                            self.log(|| format!("tab {to} store {}", op_name(&op)));
                            let result = self.requests.run(id, op, true, false, &mut self.imports);
                            match result.map_err(|e| self.violation(e))? {
                                Some(result) => self.tabs[to].engine.handle_store(clock, result),
                                None => continue,
                            }
                        }
                        Input::StoreDone(result) => {
                            self.tabs[to].engine.handle_store(clock, result)
                        }
                    }
                    self.drain(to)?;
                }
                // A crash does not wait for the page to run.
                State::Paused { .. } if matches!(self.inputs.get(&order), Some(Input::Crash)) => {
                    self.inputs.remove(&order);
                    self.thief_dies(to);
                }
                // The browser runs a paused page's transaction; the page hears when it resumes.
                State::Paused { until, .. }
                    if matches!(self.inputs.get(&order), Some(Input::Store(_))) =>
                {
                    if let Some(Input::Store(op)) = self.inputs.remove(&order) {
                        let id = self.tabs[to].engine.id();
                        let result = self.requests.run(id, op, true, false, &mut self.imports);
                        if let Some(result) = result.map_err(|e| self.violation(e))? {
                            self.order += 1;
                            self.inputs.insert(self.order, Input::StoreDone(result));
                            let shuffle = self.requests.rng.range(1, u64::from(u32::MAX));
                            self.queue.push(Reverse((until, shuffle, self.order, to)));
                        }
                    }
                }
                // A paused page runs its queued tasks when it resumes, in no promised order.
                State::Paused { until, .. } => {
                    let rng = if matches!(self.inputs.get(&order), Some(Input::Reconcile(_))) {
                        &mut self.data.rng
                    } else {
                        &mut self.rng
                    };
                    let shuffle = rng.range(1, u64::from(u32::MAX));
                    self.queue.push(Reverse((until, shuffle, order, to)));
                }
                State::Cached { .. } => match self.inputs.remove(&order) {
                    // The page is not running; a write it made still lands, a notice is void,
                    // and a transaction it had open is aborted.
                    Some(Input::Persisted(term)) => self.terms.store_term(term),
                    Some(Input::Reconcile(_)) => self.data.lost_commit(),
                    Some(Input::Store(op)) => {
                        let id = self.tabs[to].engine.id();
                        let result = self.requests.run(id, op, false, true, &mut self.imports);
                        result.map_err(|e| self.violation(e))?;
                    }
                    _ => {}
                },
                // A crashed page's unconfirmed writes are lost.
                State::Gone => match self.inputs.remove(&order) {
                    Some(Input::Reconcile(_)) => self.data.lost_commit(),
                    Some(Input::Store(op)) => {
                        let id = self.tabs[to].engine.id();
                        let result = self.requests.run(id, op, false, false, &mut self.imports);
                        result.map_err(|e| self.violation(e))?;
                    }
                    _ => {}
                },
            }
        }
        Ok(())
    }

    fn fire_timers(&mut self) -> Result<(), Violation> {
        for i in 0..self.tabs.len() {
            if self.tabs[i].is_running() && self.tabs[i].timer_at().is_some_and(|t| t <= self.now) {
                let clock = self.tabs[i].clock(self.now);
                self.tabs[i].engine.handle_timeout(clock);
                // The app's own messages, now and then: a leader's are leader actions (S3).
                if self.rng.chance(150) {
                    let data = format!("work of tab {i} at {}", self.now);
                    if self.tabs[i].engine.handle_broadcast(clock, &data).is_err() {
                        return Err(self.violation(format!("tab {i} could not broadcast")));
                    }
                }
                // The user types now and then; the leader reconciles the backups now and then.
                if self.data.rng.chance(80) {
                    self.data.write(i);
                }
                if self.tabs[i].engine.is_leader() && self.data.rng.chance(100) {
                    self.start_reconciliation(i);
                }
                // Types a draft in a session it shows, now and then.
                if self.requests.enabled && self.requests_open {
                    let sessions = self.requests.sessions_of(i);
                    if let Some((session, text)) = self.backups.draw_draft(i, &sessions, self.now) {
                        self.tabs[i].engine.handle_draft(session, &text);
                    }
                }
                // And makes requests of the workspace: several in a row now and then.
                if self.requests.enabled && self.requests_open && self.requests.rng.chance(120) {
                    let burst = if self.requests.rng.chance(200) { 5 } else { 1 };
                    for _ in 0..burst {
                        let n = self.requests.stats.made;
                        let sessions = self.requests.sessions_of(i);
                        let running = self.requests.running_of(i);
                        let op = match self.imports.draw(i, &sessions, &running) {
                            Some(op) => op,
                            None => self.requests.draw(i, n),
                        };
                        match self.tabs[i].engine.handle_request(clock, op.clone()) {
                            Ok(number) => {
                                let id = self.tabs[i].engine.id();
                                self.log(|| format!("tab {i} request {number}: {op:?}"));
                                self.imports.made(i, ItemId { tab: id, number }, &op);
                                self.requests.made(id, number, op);
                            }
                            Err(Refusal::Busy) => {}
                            // The breaker is open: no leader answered lately.
                            Err(Refusal::ReadOnly) => self.requests.stats.read_only += 1,
                            Err(e) => {
                                return Err(self.violation(format!("tab {i}: {op:?} refused: {e}")))
                            }
                        }
                    }
                }
                self.drain(i)?;
            }
        }
        Ok(())
    }

    /// The farewell, after the quiet phase: no faults, and the leader closes — with Web Locks
    /// often together with its heir, so that its resignation, which goes to the heir alone, is
    /// heard by nobody — and now and then one more tab with it. Promptness: each of them leaves
    /// the list of every visible running tab within a heartbeat and [`FAREWELL_SLACK_MS`]
    /// (a second more where timers run once a second), whatever time-to-live it advertised
    /// (75 s if hidden); then, shown, the remaining tabs agree on one leader.
    fn farewell(&mut self) -> Result<(), Violation> {
        self.quiet = false;
        let running: Vec<usize> = (0..self.tabs.len())
            .filter(|&i| self.tabs[i].is_running())
            .collect();
        let Some(&leader) = self.leading().first() else {
            return Ok(());
        };
        if running.len() < 2 {
            return Ok(());
        }
        let mut leaving = vec![leader];
        if self.profile.mode == Mode::WebLocks && running.len() >= 3 && self.rng.chance(700) {
            if let Some(heir) = running.iter().copied().find(|&i| self.tabs[i].holds_heir) {
                leaving.push(heir);
            }
        }
        if running.len() > leaving.len() + 1 && self.rng.chance(300) {
            let rest: Vec<usize> = running
                .iter()
                .copied()
                .filter(|i| !leaving.contains(i))
                .collect();
            leaving.push(rest[self.rng.range(0, rest.len() as u64 - 1) as usize]);
        }
        let start = self.now;
        self.log(|| format!("farewell: tabs {leaving:?} close"));
        let mut gone = Vec::new();
        for i in leaving {
            let id = self.tabs[i].engine.id();
            self.close(i)?;
            self.departures.push((id, start, Departure::Farewell));
            gone.push(id);
        }
        let bound = start + Config::default().heartbeat_ms + FAREWELL_SLACK_MS;
        self.run_until(bound)?;
        self.check_farewell(&gone, None, start)?;
        self.run_until(bound + 1_000)?;
        self.check_farewell(&gone, Some(1_000), start)?;
        // A tab whose timers run once a minute may wait that long to act on the leader lock
        // (its last input was long ago): show every tab, as the heal does, then they agree.
        self.log(|| "farewell: every tab shown".to_owned());
        for i in 0..self.tabs.len() {
            if self.tabs[i].is_running() && self.tabs[i].hidden.is_some() {
                self.show(i)?;
            }
        }
        self.run_until(self.now + FAREWELL_SETTLE_MS)?;
        self.check_one_leader()
    }
}

impl Sim {
    /// Tab `i`, acting as leader, reads every backup; the reconciliation commits a little later.
    fn start_reconciliation(&mut self, i: usize) {
        let read = self.data.read();
        let at = self.now + self.data.rng.range(0, PERSIST_MS);
        self.push(at, i, Input::Reconcile(read));
    }

    /// Tab `i`'s reconciliation commits; running tabs learn the store now and then.
    fn commit(&mut self, i: usize, read: &[RawBackup]) -> Result<(), Violation> {
        self.log(|| format!("tab {i} commits a reconciliation of {} keys", read.len()));
        if let Err(what) = self.data.commit(read) {
            return Err(self.violation(what));
        }
        for j in 0..self.tabs.len() {
            if self.tabs[j].is_running() && self.data.rng.chance(700) {
                if let Err(what) = self.data.learn(j) {
                    return Err(self.violation(what));
                }
            }
        }
        Ok(())
    }

    /// The end of the seed: the leader reconciles once more, and then every acknowledged
    /// write must be in the store.
    fn last_reconciliation(&mut self) -> Result<(), Violation> {
        let Some(&leader) = self.leading().first() else {
            return Ok(());
        };
        let read = self.data.read();
        self.commit(leader, &read)?;
        self.data
            .check_all_stored()
            .map_err(|what| self.violation(what))
    }
}

fn op_name(op: &StoreOp) -> String {
    match op {
        StoreOp::Read => "read".to_owned(),
        StoreOp::Claim { term } => format!("claim {term:?}"),
        StoreOp::Commit(c) => format!(
            "commit rev {} at {:?} ({} writes)",
            c.rev,
            c.term,
            c.writes.len()
        ),
        StoreOp::ReadChunk { task, index, .. } => format!("read chunk {index} of import {task:?}"),
    }
}

fn tab_id(tab: &Tab) -> TabId {
    tab.engine.id()
}

/// p50, p99 and max of `values` (sorted in place); zeros when empty.
pub fn percentiles(values: &mut [u64]) -> (u64, u64, u64) {
    if values.is_empty() {
        return (0, 0, 0);
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), values[values.len() - 1])
}
