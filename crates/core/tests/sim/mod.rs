//! A deterministic simulator of many tabs on one broadcast channel.
//!
//! One virtual clock, one seeded random source, one delivery queue. Each seed draws its own
//! fault profile — message loss, duplication, delay and reordering; hidden tabs whose timers
//! fire at 1 s and at 60 s granularity; frozen windows; main threads blocked for 5 s; crashes
//! and new tabs (restarts are new page loads, hence new ids); back/forward-cache round trips;
//! bursts of tabs opened in the same millisecond — and the invariants are checked after every
//! step. Every seed ends with a heal phase (faults stop, every tab runs and is visible) after
//! which presence must have converged.
//!
//! The same seed always gives the same trace hash; a failing seed reports itself and replays
//! with `CONCLAVE_SIM_SEED=<seed>`.

#![allow(unreachable_pub)] // the harness API of the simulation tests

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::hash::{DefaultHasher, Hash, Hasher};

use conclave_core::{Config, Engine, Event, Incarnation, Key, Lifecycle, Millis, Received, TabId};
use proptest::prelude::Rng as _;
use proptest::test_runner::{RngAlgorithm, TestRng};

/// How long faults are injected, in virtual ms.
const CHAOS_MS: u64 = 15_000;
/// The most tabs alive at once.
const MAX_TABS: usize = 16;

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
    state: State,
    /// Timer granularity while hidden: 1 s, or 60 s after five minutes hidden.
    hidden: Option<u64>,
}

impl Tab {
    fn clock(&self, now: u64) -> Millis {
        Millis(now - self.origin)
    }
    fn is_running(&self) -> bool {
        self.state == State::Running
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
    pub trace_hash: u64,
    /// Virtual ms from a tab's goodbye to its absence from every running tab's list.
    pub goodbye_ms: Vec<u64>,
    /// Virtual ms from a silent death (crash) to its absence from every running tab's list.
    pub silent_ms: Vec<u64>,
    pub deliveries: u64,
}

type MessageKey = (TabId, Incarnation, u64);
/// Per (receiver, sender, incarnation).
type StreamKey = (usize, TabId, Incarnation);
/// The highest seq delivered, and every gap announced so far (inclusive ranges).
type StreamProgress = (u64, Vec<(u64, u64)>);

pub struct Sim {
    seed: u64,
    rng: Rng,
    profile: Profile,
    now: u64,
    tabs: Vec<Tab>,
    /// (deliver at, order, to, text)
    queue: BinaryHeap<Reverse<(u64, u64, usize, String)>>,
    order: u64,
    /// Per (from, to): the last scheduled delivery, to keep channels FIFO unless reordering.
    fifo: BTreeMap<(usize, usize), u64>,
    next_fault: u64,
    healing: bool,
    ever_hidden: bool,
    sent: BTreeSet<MessageKey>,
    delivered: BTreeSet<(usize, MessageKey)>,
    /// Per (receiver, sender, incarnation): highest delivered seq and announced gaps.
    progress: BTreeMap<StreamKey, StreamProgress>,
    /// Tabs that left, and since when: (id, since, silent).
    departures: Vec<(TabId, u64, bool)>,
    hasher: DefaultHasher,
    outcome: Outcome,
    pub trace: Option<Vec<String>>,
}

impl Sim {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let profile = Profile::draw(&mut rng);
        let mut sim = Self {
            seed,
            rng,
            profile,
            now: 0,
            tabs: Vec::new(),
            queue: BinaryHeap::new(),
            order: 0,
            fifo: BTreeMap::new(),
            next_fault: 0,
            healing: false,
            ever_hidden: false,
            sent: BTreeSet::new(),
            delivered: BTreeSet::new(),
            progress: BTreeMap::new(),
            departures: Vec::new(),
            hasher: DefaultHasher::new(),
            outcome: Outcome::default(),
            trace: None,
        };
        sim.next_fault = sim.rng.range(0, 2 * sim.profile.fault_every_ms);
        sim
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
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
        self.heal()?;
        // A tab that died while hidden advertised the long hidden time-to-live: outlast it.
        let heal_ms = if self.ever_hidden {
            Config::default().hidden_ttl_ms + 5_000
        } else {
            Config::default().visible_ttl_ms + 2_000
        };
        self.run_until(CHAOS_MS + heal_ms)?;
        self.check_converged()?;
        self.outcome.trace_hash = self.hasher.finish();
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
        let engine = Engine::new(
            Config::default(),
            id,
            Millis(0),
            true,
            Some(Key::from_bytes([42; 32])),
        );
        self.tabs.push(Tab {
            engine,
            origin: self.now,
            state: State::Running,
            hidden: None,
        });
        let i = self.tabs.len() - 1;
        self.log(|| format!("open tab {i} {}", id.short()));
        self.drain(i)
    }

    /// Posts what tab `i` sent and checks what it reported.
    fn drain(&mut self, i: usize) -> Result<(), Violation> {
        while let Some(text) = self.tabs[i].engine.poll_transmit() {
            text.hash(&mut self.hasher);
            self.record_sent(i, &text)?;
            for j in 0..self.tabs.len() {
                if j == i || self.tabs[j].state == State::Gone {
                    continue;
                }
                if !self.healing && self.rng.chance(self.profile.loss_per_mille) {
                    continue;
                }
                let copies = if !self.healing && self.rng.chance(self.profile.dup_per_mille) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let mut at = self.now + self.rng.range(0, self.profile.max_delay_ms);
                    if !self.profile.reorder {
                        let last = self.fifo.entry((i, j)).or_insert(0);
                        at = at.max(*last);
                        *last = at;
                    }
                    self.order += 1;
                    self.queue.push(Reverse((at, self.order, j, text.clone())));
                }
            }
        }
        while let Some(event) = self.tabs[i].engine.poll_event() {
            format!("{event:?}").hash(&mut self.hasher);
            self.check_event(i, event)?;
        }
        self.check_memory(i)
    }

    fn record_sent(&mut self, i: usize, text: &str) -> Result<(), Violation> {
        let payload = text.rsplit_once('#').map_or(text, |(payload, _)| payload);
        let value: serde_json::Value = serde_json::from_str(payload)
            .map_err(|e| self.violation(format!("tab {i} sent unparsable text {text}: {e}")))?;
        let key = (
            self.tabs[i].engine.id(),
            Incarnation(value["inc"].as_u64().unwrap_or(u64::MAX) as u32),
            value["seq"].as_u64().unwrap_or(0),
        );
        if !self.sent.insert(key) {
            return Err(self.violation(format!("tab {i} reused (incarnation, seq) {key:?}")));
        }
        Ok(())
    }

    fn check_event(&mut self, i: usize, event: Event) -> Result<(), Violation> {
        if let Event::Delivered {
            from,
            incarnation,
            seq,
        } = event
        {
            self.outcome.deliveries += 1;
            let key = (from, incarnation, seq.0);
            // Integrity: only what was sent is delivered.
            if !self.sent.contains(&key) {
                return Err(self.violation(format!("tab {i} delivered {key:?}, never sent")));
            }
            // S4: never twice.
            if !self.delivered.insert((i, key)) {
                return Err(self.violation(format!("S4: tab {i} delivered {key:?} twice")));
            }
            // S5: in order, or filling a gap announced earlier.
            let (highest, gaps) = self
                .progress
                .entry((i, from, incarnation))
                .or_insert((0, Vec::new()));
            if *highest == 0 || seq.0 > *highest {
                if *highest != 0 && seq.0 > *highest + 1 {
                    gaps.push((*highest + 1, seq.0 - 1));
                }
                *highest = seq.0;
            } else if !gaps.iter().any(|&(lo, hi)| (lo..=hi).contains(&seq.0)) {
                let h = *highest;
                return Err(self.violation(format!(
                    "S5: tab {i} delivered {key:?} below highest {h} with no gap announced"
                )));
            }
        }
        Ok(())
    }

    /// S7: state is O(live senders): a tab lists only tabs that exist, never itself.
    fn check_memory(&self, i: usize) -> Result<(), Violation> {
        let me = self.tabs[i].engine.id();
        let listed = self.tabs[i].engine.peers().count();
        if listed >= self.tabs.len() || self.tabs[i].engine.peers().any(|p| p.id == me) {
            return Err(self.violation(format!(
                "S7: tab {i} lists {listed} peers of {} tabs",
                self.tabs.len()
            )));
        }
        Ok(())
    }

    fn run_until(&mut self, end: u64) -> Result<(), Violation> {
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
            let Some(next) = [next_delivery, next_timer, next_wake, next_fault]
                .into_iter()
                .flatten()
                .min()
            else {
                break;
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            self.wake_due()?;
            if next_fault == Some(next) && next < CHAOS_MS {
                self.inject_fault()?;
                self.next_fault = self.now + self.rng.range(1, 2 * self.profile.fault_every_ms);
            } else if next_fault == Some(next) {
                self.next_fault = u64::MAX;
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
                if let Some(change) = change {
                    let clock = self.tabs[i].clock(self.now);
                    self.log(|| format!("tab {i} {change:?}"));
                    self.tabs[i].engine.handle_lifecycle(clock, change);
                    self.drain(i)?;
                }
            }
        }
        Ok(())
    }

    fn deliver_due(&mut self) -> Result<(), Violation> {
        while let Some(Reverse((at, _, _, _))) = self.queue.peek() {
            if *at > self.now {
                break;
            }
            let Some(Reverse((_, order, to, text))) = self.queue.pop() else {
                break;
            };
            match self.tabs[to].state {
                State::Running => {
                    let clock = self.tabs[to].clock(self.now);
                    self.tabs[to]
                        .engine
                        .handle_message(clock, Received::Text(&text));
                    self.drain(to)?;
                }
                // A paused page runs its queued tasks when it resumes.
                State::Paused { until, .. } => self.queue.push(Reverse((until, order, to, text))),
                State::Cached { .. } | State::Gone => {}
            }
        }
        Ok(())
    }

    fn fire_timers(&mut self) -> Result<(), Violation> {
        for i in 0..self.tabs.len() {
            if self.tabs[i].is_running() && self.tabs[i].timer_at().is_some_and(|t| t <= self.now) {
                let clock = self.tabs[i].clock(self.now);
                self.tabs[i].engine.handle_timeout(clock);
                self.drain(i)?;
            }
        }
        Ok(())
    }

    fn inject_fault(&mut self) -> Result<(), Violation> {
        let live: Vec<usize> = (0..self.tabs.len())
            .filter(|&i| self.tabs[i].is_running())
            .collect();
        let kind = self.rng.range(0, 9);
        if live.is_empty() || kind == 0 {
            // Open tabs, sometimes several in the same millisecond.
            let burst = if self.rng.chance(300) {
                self.rng.range(2, 5)
            } else {
                1
            };
            for _ in 0..burst {
                self.open_tab()?;
            }
            return Ok(());
        }
        let i = live[self.rng.range(0, live.len() as u64 - 1) as usize];
        let clock = self.tabs[i].clock(self.now);
        let id = self.tabs[i].engine.id();
        match kind {
            1 => {
                self.log(|| format!("crash tab {i}"));
                self.tabs[i].state = State::Gone;
                self.departures.push((id, self.now, true));
            }
            2 => {
                self.log(|| format!("close tab {i}"));
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Closing);
                self.drain(i)?;
                self.tabs[i].state = State::Gone;
                self.departures.push((id, self.now, false));
                if self.tabs[i].engine.poll_timeout().is_some() {
                    return Err(self.violation(format!("tab {i} armed a timer after closing")));
                }
            }
            3 => {
                let until = self.now + self.rng.range(500, 20_000);
                self.log(|| format!("freeze tab {i} until {until}"));
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Frozen);
                self.drain(i)?;
                self.tabs[i].state = State::Paused {
                    until,
                    frozen: true,
                };
            }
            4 => {
                self.log(|| format!("block tab {i} for 5 s"));
                self.tabs[i].state = State::Paused {
                    until: self.now + 5_000,
                    frozen: false,
                };
            }
            5 | 6 => {
                let granularity = if self.rng.chance(300) { 60_000 } else { 1_000 };
                self.log(|| format!("hide tab {i} ({granularity} ms timers)"));
                self.tabs[i].hidden = Some(granularity);
                self.ever_hidden = true;
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Hidden);
                self.drain(i)?;
            }
            7 => {
                self.log(|| format!("show tab {i}"));
                self.tabs[i].hidden = None;
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Visible);
                self.drain(i)?;
            }
            _ => {
                let until = self
                    .rng
                    .chance(700)
                    .then(|| self.now + self.rng.range(100, 30_000));
                self.log(|| format!("tab {i} into the back/forward cache until {until:?}"));
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Closing);
                self.drain(i)?;
                self.tabs[i].state = State::Cached { until };
            }
        }
        Ok(())
    }

    /// Faults stop: every paused or cached tab comes back, every tab is visible, the network
    /// stops losing and duplicating.
    fn heal(&mut self) -> Result<(), Violation> {
        self.healing = true;
        self.log(|| "heal".to_owned());
        // Input queued for a paused tab runs as soon as it resumes, which is now.
        let now = self.now;
        let paused: Vec<bool> = self
            .tabs
            .iter()
            .map(|t| matches!(t.state, State::Paused { .. }))
            .collect();
        self.queue = std::mem::take(&mut self.queue)
            .into_iter()
            .map(|Reverse((at, order, to, text))| {
                Reverse((if paused[to] { at.min(now) } else { at }, order, to, text))
            })
            .collect();
        for i in 0..self.tabs.len() {
            let clock = self.tabs[i].clock(self.now);
            match self.tabs[i].state {
                State::Paused { frozen, .. } => {
                    self.tabs[i].state = State::Running;
                    if frozen {
                        self.tabs[i]
                            .engine
                            .handle_lifecycle(clock, Lifecycle::Resumed);
                    }
                }
                State::Cached { .. } => {
                    self.tabs[i].state = State::Running;
                    self.tabs[i]
                        .engine
                        .handle_lifecycle(clock, Lifecycle::Restored);
                }
                State::Running | State::Gone => {}
            }
            if self.tabs[i].is_running() && self.tabs[i].hidden.take().is_some() {
                self.tabs[i]
                    .engine
                    .handle_lifecycle(clock, Lifecycle::Visible);
            }
            self.drain(i)?;
        }
        Ok(())
    }

    fn measure_departures(&mut self) {
        if self.departures.is_empty() {
            return;
        }
        let listed: BTreeSet<TabId> = self
            .tabs
            .iter()
            .filter(|t| t.is_running())
            .flat_map(|t| t.engine.peers().map(|p| p.id))
            .collect();
        let now = self.now;
        let outcome = &mut self.outcome;
        self.departures.retain(|&(id, since, silent)| {
            if listed.contains(&id) {
                return true;
            }
            if silent {
                &mut outcome.silent_ms
            } else {
                &mut outcome.goodbye_ms
            }
            .push(now - since);
            false
        });
    }

    /// After the heal phase every running tab lists exactly the other running tabs.
    fn check_converged(&self) -> Result<(), Violation> {
        let running: BTreeSet<TabId> = self
            .tabs
            .iter()
            .filter(|t| t.is_running())
            .map(|t| t.engine.id())
            .collect();
        for (i, tab) in self.tabs.iter().enumerate().filter(|(_, t)| t.is_running()) {
            let listed: BTreeSet<TabId> = tab.engine.peers().map(|p| p.id).collect();
            let mut expected = running.clone();
            expected.remove(&tab.engine.id());
            if listed != expected {
                let extra: Vec<String> =
                    listed.difference(&expected).map(|id| id.short()).collect();
                let missing: Vec<String> =
                    expected.difference(&listed).map(|id| id.short()).collect();
                return Err(self.violation(format!(
                    "convergence: tab {i} lists {} peers, {} tabs run besides it (extra {extra:?}, missing {missing:?})",
                    listed.len(),
                    expected.len()
                )));
            }
        }
        Ok(())
    }
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
