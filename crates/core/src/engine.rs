//! The per-tab state machine: inputs in (`handle_*`), one drain out ([`Engine::poll_output`]).

use std::collections::{BTreeMap, VecDeque};

mod lead;

use crate::auth::{self, Key, Opened};
use crate::data::{
    BackupStatus, Change, Data, Found, ItemId, Op, Outcome, OwnWrite, Pending, RawBackup, Refusal,
    RequestCounters, StoreError, StoreOp, StoreResult, StoreStatus, View,
};
use crate::election::{LockName, LockRequest, Mode, Role, StepDown, Term};
use crate::ids::{Incarnation, Millis, Seq, TabId};
use crate::rejection::Rejection;
use crate::seq::{Class, Tracker};
use crate::wire::{Beacon, Body, Codec, Envelope, DEFAULT_MAX_MESSAGE_BYTES};

/// How a tab runs. [`Config::default`] gives the documented bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The BroadcastChannel name; messages naming another channel are rejected.
    pub channel: String,
    /// Messages longer than this many bytes are rejected before parsing.
    pub max_message_bytes: usize,
    /// How often a tab says "still here", in ms.
    pub heartbeat_ms: u64,
    /// How often a *hidden* follower says "still here", in ms: its peers keep it listed for
    /// [`Config::hidden_ttl_ms`], so it need not be heard every second, and every heartbeat
    /// costs each tab that hears it (the channel's own delivery is most of an idle tab's
    /// work). A tab that leads, campaigns or is shown heartbeats every [`Config::heartbeat_ms`].
    pub hidden_heartbeat_ms: u64,
    /// How long peers keep a *visible* tab listed without hearing from it, in ms.
    pub visible_ttl_ms: u64,
    /// How long peers keep a *hidden* tab listed without hearing from it, in ms. Chrome runs a
    /// hidden tab's timers at most once a minute after five minutes hidden, so this must exceed
    /// a minute or hidden tabs would flicker out of every list.
    pub hidden_ttl_ms: u64,
    /// The largest time-to-live accepted from a peer, in ms; larger claims are clamped. Also
    /// how long a departed sender's sequence window is kept.
    pub max_ttl_ms: u64,
    /// For how long after start a tab without the key accepts unsigned greetings, in ms.
    pub bootstrap_window_ms: u64,
    /// How leadership is gated: by Web Locks, or by terms and probes alone.
    pub mode: Mode,
    /// How long a follower hears nothing from the leader before probing it, in ms.
    pub probe_after_ms: u64,
    /// How long a probe waits for the leader's answer before the followers take over, in ms.
    pub probe_timeout_ms: u64,
    /// How much later each follower after the first in rank order takes over, in ms.
    pub stagger_ms: u64,
    /// How long a tab that starts, resumes or is restored listens before it may campaign, in ms.
    pub listen_ms: u64,
    /// A leader whose previous input is older than this reads the stored term before acting,
    /// in ms: it may have been deposed while it could not run. Its own heartbeat timer gives
    /// it an input every [`Config::heartbeat_ms`] (every second or so when hidden).
    pub stall_ms: u64,
    /// The longest the lock manager takes to tell a tab its lock was stolen, in ms.
    pub lock_notice_ms: u64,
    /// How long followers wait for the successor a resigning leader named, in ms.
    pub handoff_ms: u64,
    /// How long a request may wait for a leader to apply it, in ms; past it the request is
    /// abandoned, and ends refused as expired unless it was applied in time.
    pub request_budget_ms: u64,
    /// How long a question (a confirmation asked of every tab) waits for an answer before the
    /// leader cancels it, in ms.
    pub question_timeout_ms: u64,
    /// How far before this tab started listening a message's send time may be and the message
    /// still be taken as sent to it, in ms: the few ms between the channel's opening and the
    /// engine's start, and clock resolution. Further back, it is a replay
    /// ([`Rejection::SentBeforeStart`]).
    pub fresh_slack_ms: u64,
    /// The oldest a message may be when it arrives, in ms ([`Rejection::TooOld`]): older than
    /// any delivery, unless this tab's thread was stopped that long (it then learns again what
    /// it missed: presence from the next heartbeats, the workspace by reloading at the gap).
    pub max_age_ms: u64,
}

impl Config {
    /// How long a tab that stole the lock waits before acting, unless its victim is heard at
    /// the new term first: the victim's stall bound plus the lock notice, so that an alive
    /// victim has either heard of the theft or will verify before acting again.
    #[must_use]
    pub fn steal_grace_ms(&self) -> u64 {
        self.stall_ms.saturating_add(self.lock_notice_ms)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            channel: "conclave".to_owned(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            heartbeat_ms: 1_000,
            hidden_heartbeat_ms: 15_000,
            visible_ttl_ms: 3_000,
            hidden_ttl_ms: 75_000,
            max_ttl_ms: 5 * 60 * 1_000,
            bootstrap_window_ms: 5_000,
            mode: Mode::WebLocks,
            probe_after_ms: 1_100,
            probe_timeout_ms: 250,
            stagger_ms: 150,
            listen_ms: 500,
            stall_ms: 1_200,
            lock_notice_ms: 100,
            handoff_ms: 1_000,
            request_budget_ms: 5_000,
            question_timeout_ms: 30_000,
            fresh_slack_ms: 250,
            max_age_ms: 60_000,
        }
    }
}

/// A page lifecycle change, as the browser reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// `visibilitychange` to visible.
    Visible,
    /// `visibilitychange` to hidden: timers will be throttled.
    Hidden,
    /// `freeze`: the page stops running until `resume` (or is discarded).
    Frozen,
    /// `resume` after a freeze: a new incarnation begins.
    Resumed,
    /// `pagehide`: the tab is closing or entering the back/forward cache.
    Closing,
    /// `pageshow` with `persisted`: restored from the back/forward cache; a new incarnation.
    Restored,
}

/// What arrived on the channel, as far as the driver could tell without parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// A string: the only kind of message tabs send.
    Text(&'a str),
    /// Anything else (an object, a number, a blob): rejected as [`Rejection::NotText`].
    NotText,
    /// A string the driver did not copy because it is longer than the limit.
    Oversized,
}

/// Why a peer left this tab's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaveReason {
    /// It said goodbye (`pagehide` or `freeze`).
    Goodbye,
    /// Nothing was heard from it for longer than its time-to-live.
    Silent,
}

/// What the driver must do next: one of these per [`Engine::poll_output`], in the order they
/// come. Drain until `None` after every input, carrying each out before polling the next.
///
/// The engine hands them out in this order, which every driver keeps by construction:
/// 1. [`Output::ReadTerm`] first: the stored term is read and answered
///    ([`Engine::handle_stored_term`]) before anything else, and before any other input.
/// 2. Durable terms: [`Output::Persist`], then [`Output::RecordTheft`]. A driver whose storage
///    answers at once (`localStorage`) makes a term durable before any message about it
///    leaves, and a new leader's first heartbeat already says it leads.
/// 3. Backups, synchronous too: this tab's own ([`Output::WriteBackup`],
///    [`Output::RemoveBackup`]), so that what a request's message announces is backed up
///    before it leaves, then [`Output::ReadBackups`] and [`Output::DeleteBackup`].
/// 4. Texts: [`Output::TransmitToHeir`], then [`Output::TransmitToLeader`], then
///    [`Output::Transmit`].
/// 5. [`Output::Lock`] requests for the lock manager, after the theft record they may need.
/// 6. [`Output::Store`] operations for the durable store.
/// 7. [`Output::Event`]s for the app, last: by then everything they report has been handed
///    out.
///
/// An input given while draining (a synchronous answer, like [`Engine::handle_persisted`] for
/// a `localStorage` write) is fine: what it causes comes out of the same drain, in the same
/// order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Read the stored term and answer with [`Engine::handle_stored_term`] at once; until then
    /// this tab does not act as leader.
    ReadTerm,
    /// Post this text on the heir's channel (`<channel>:heir`): only the holder of the heir
    /// lock, and a leader, listen there ([`Engine::handle_message_to_heir`]).
    TransmitToHeir(String),
    /// Post this text on the leader's channel (`<channel>:to-leader`): only a tab that leads,
    /// or is becoming leader, listens there, and hands what it hears to
    /// [`Engine::handle_message`]. A follower's requests go there, so that the other tabs are
    /// not woken by what only the writer takes.
    TransmitToLeader(String),
    /// Post this text on the channel.
    Transmit(String),
    /// Write this term to durable storage (keep the highest ever written); confirm with
    /// [`Engine::handle_persisted`]. A write that fails is never confirmed, and this tab does
    /// not lead that term.
    Persist(Term),
    /// Write `text` to this tab's own backup key (`localStorage`), at once; if the browser
    /// refuses (storage full), report it with [`Engine::handle_backup_refused`] before any
    /// other input: the previous backup stays.
    WriteBackup {
        /// The key.
        key: String,
        /// The text.
        text: String,
    },
    /// Remove this tab's own backup key: it has nothing left to protect.
    RemoveBackup {
        /// The key.
        key: String,
    },
    /// Read every `localStorage` key starting with this prefix, and answer at once with
    /// [`Engine::handle_backups`] (the leader reconciles the backups of dead tabs).
    ReadBackups {
        /// The prefix.
        prefix: String,
    },
    /// Delete this backup key if, and only if, it still holds `text`: everything in it is
    /// durable in the store (its tab may have written again since it was read).
    DeleteBackup {
        /// The key.
        key: String,
        /// The text that was read, and is now durable.
        text: String,
    },
    /// This tab is about to steal the leader lock from the leader of this term: write it to
    /// durable storage (keep the highest ever written) before carrying out any
    /// [`Output::Lock`] after it, so that if this tab dies before it uses the lock, the lock's
    /// next holder learns that the leader it robbed may not know yet. A write that fails is no
    /// worse than none.
    RecordTheft(Term),
    /// A request for the lock manager, about this lock; report what it says with
    /// [`Engine::handle_lock`].
    Lock(LockName, LockRequest),
    /// Something to do with the durable store; report how it went with
    /// [`Engine::handle_store`].
    Store(StoreOp),
    /// News for the app.
    Event(Event),
}

/// Something the app should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Another tab's app broadcast `data` ([`Engine::handle_broadcast`]); it arrives once.
    Message {
        /// The sending tab.
        from: TabId,
        /// What its app sent.
        data: String,
    },
    /// A message passed every check and was handed to the protocol: no (sender, incarnation,
    /// seq) is ever delivered twice.
    Delivered {
        /// The sender.
        from: TabId,
        /// The sender's incarnation.
        incarnation: Incarnation,
        /// The message's sequence number.
        seq: Seq,
        /// The term it carried.
        term: Term,
    },
    /// A tab was heard for the first time (or again after it left).
    PeerJoined(TabId),
    /// A tab left the list.
    PeerLeft {
        /// The tab.
        id: TabId,
        /// Why.
        reason: LeaveReason,
    },
    /// The highest known term changed, and with it (perhaps) the leader.
    LeaderChanged {
        /// The new term; its leader is [`Term::leader`].
        term: Term,
    },
    /// This tab now leads `term`: it may act as leader.
    BecameLeader {
        /// The term it leads.
        term: Term,
    },
    /// This tab stopped leading `term`.
    LostLeadership {
        /// The term it led (or had minted).
        term: Term,
        /// Why.
        reason: StepDown,
    },
    /// The store was read: the workspace is now this (replace what is shown).
    WorkspaceLoaded(View),
    /// The leader read the backups ([`Output::ReadBackups`]): what it found, and what became
    /// of each.
    BackupsFound(Vec<Found>),
    /// The store's next revision: apply these changes, in order, to the workspace shown.
    WorkspaceChanged {
        /// The revision they make.
        rev: u64,
        /// What changed.
        changes: Vec<Change>,
    },
    /// This tab's request `number` ([`Engine::handle_request`]) ended: it will not change again.
    RequestEnded {
        /// The request's number.
        number: u64,
        /// How it ended.
        outcome: Outcome,
    },
}

/// Why [`Engine::handle_broadcast`] refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The page is frozen or closed: nothing is sent until it resumes.
    #[error("the tab is frozen or closed")]
    Away,
    /// The signed message would be longer than every receiver accepts.
    #[error("the message would be {size} bytes; at most {max} are accepted")]
    TooLarge {
        /// Its size once encoded and signed, in bytes.
        size: usize,
        /// The limit, in bytes.
        max: usize,
    },
}

/// What this tab knows of another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The peer's id.
    pub id: TabId,
    /// The peer's current incarnation.
    pub incarnation: Incarnation,
    /// The highest sequence number heard from it.
    pub seq: Seq,
    /// When it was last heard, on this tab's clock.
    pub last_heard: Millis,
    /// Whether its page said it was visible.
    pub visible: bool,
}

/// How many messages of each class this tab sent, received, delivered and dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages this tab posted.
    pub sent: u64,
    /// Stored terms and theft records read that were corrupt (not a term, or one above
    /// [`Term::MAX_NUMBER`]): taken as none ([`Engine::handle_stored_term`]).
    pub corrupt_stored: u64,
    /// Messages received on the heir's channel that this tab passed on to every tab.
    pub relayed: u64,
    /// First message from a sender (or its new incarnation).
    pub first: u64,
    /// In order.
    pub next: u64,
    /// Arrived after a gap.
    pub gap: u64,
    /// Sequence numbers skipped over by gaps (they may still arrive late).
    pub missing: u64,
    /// Arrived late, filling a gap.
    pub late: u64,
    /// Seen before: dropped.
    pub duplicate: u64,
    /// Below the window: dropped.
    pub old: u64,
    rejected: [u64; Rejection::ALL.len()],
}

impl Counters {
    /// How many messages were rejected for `reason`.
    #[must_use]
    pub fn rejected(&self, reason: Rejection) -> u64 {
        self.rejected[reason.index()]
    }

    /// How many messages were rejected, all reasons together.
    #[must_use]
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    fn count(&mut self, class: Class) {
        let slot = match class {
            Class::First => &mut self.first,
            Class::Next => &mut self.next,
            Class::Gap { missing } => {
                self.missing = self.missing.saturating_add(missing);
                &mut self.gap
            }
            Class::Late => &mut self.late,
            Class::Duplicate => &mut self.duplicate,
            Class::Old => &mut self.old,
        };
        *slot = slot.saturating_add(1);
    }

    fn reject(&mut self, reason: Rejection) {
        let slot = &mut self.rejected[reason.index()];
        *slot = slot.saturating_add(1);
    }
}

/// The presence messages a tab announces itself with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Presence {
    /// A greeting: sent at once.
    Hello,
    /// A heartbeat: owed until the driver takes it.
    Heartbeat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Running,
    /// Frozen or closed: the page is not running; nothing is sent until it resumes.
    Away,
}

/// What a tab knows when it starts.
#[derive(Clone, Debug)]
pub struct Start {
    /// The id the driver drew for it.
    pub id: TabId,
    /// The tab's clock now.
    pub now: Millis,
    /// Whether its page is visible.
    pub visible: bool,
    /// The app's shared key, if the driver has one.
    pub key: Option<Key>,
    /// The highest term persisted by earlier pages of the app ([`Term::ZERO`] if none).
    pub term: Term,
    /// The wall clock at `now`, in ms since the Unix epoch (`Date.now()`); see
    /// [`Engine::handle_wall_clock`].
    pub wall: u64,
}

/// How many departed senders' windows are kept to recognise their late messages.
const MAX_RETIRED_SENDERS: usize = 1_024;

/// A listed peer that led (or minted) a term this tab has since left behind for a later one:
/// it stays listed only if heard at the later term within a heartbeat (a running tab that
/// hears of a later term than the one it led says so at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Deposed {
    id: TabId,
    /// It has heard of the later term once heard at this term or higher.
    term: Term,
    /// Until when it may take to be heard so.
    until: Millis,
}

/// One tab's protocol state.
///
/// # Run loop
/// The driver feeds every input through a `handle_*` method, then carries out every
/// [`Output`] of [`Engine::poll_output`] until it returns `None`, in the order they come, and
/// finally asks [`Engine::poll_timeout`] for the instant at which [`Engine::handle_timeout`]
/// must next be called. Time is always an input: the engine never reads a clock.
///
/// # Examples
/// ```
/// use conclave_core::{Config, Engine, Event, Key, Millis, Output, Received, TabId};
///
/// let key = Key::from_bytes([7; 32]);
/// let mut a = Engine::new(Config::default(), TabId::from_bytes([1; 16]), Millis(0), true, Some(key.clone()));
/// let mut b = Engine::new(Config::default(), TabId::from_bytes([2; 16]), Millis(0), true, Some(key));
/// while let Some(output) = a.poll_output() {
///     if let Output::Transmit(text) = output {
///         b.handle_message(Millis(1), Received::Text(&text));
///     }
/// }
/// let events: Vec<Event> = std::iter::from_fn(|| b.poll_output())
///     .filter_map(|output| match output {
///         Output::Event(event) => Some(event),
///         _ => None,
///     })
///     .collect();
/// assert!(events.contains(&Event::PeerJoined(a.id())));
/// assert_eq!(b.peers().count(), 1);
/// ```
#[derive(Debug)]
pub struct Engine {
    config: Config,
    codec: Codec,
    me: TabId,
    key: Option<Key>,
    started: Millis,
    /// Since when it hears the channel: its start, or its return from being away. A message
    /// sent before then was not sent to it.
    listening_since: Millis,
    /// The latest instant an input reported: messages sealed now are stamped with it.
    seen: Millis,
    /// The wall clock minus this tab's clock ([`Engine::handle_wall_clock`]).
    wall_offset: u64,
    incarnation: Incarnation,
    next_seq: u64,
    visible: bool,
    phase: Phase,
    /// What each listed peer last said of itself. Its incarnation, highest seq and when it was
    /// last heard live in its sequence window in `tracker`, which every listed peer has.
    peers: BTreeMap<TabId, Beacon>,
    /// Listed peers deposed by a later term and not yet heard at it (rarely more than one).
    deposed: Vec<Deposed>,
    tracker: Tracker,
    counters: Counters,
    /// When this tab last said it is here (`None`: not yet).
    last_heartbeat: Option<Millis>,
    /// A heartbeat owed but not yet sealed: it is sealed, with this tab's term and beacon as
    /// they are then, when the driver next takes a text, or before any later message (so the
    /// order holds). Another heartbeat before then is the same one: a candidate whose term
    /// becomes durable before the driver posts (storage that answers at once) says "leader"
    /// once instead of "candidate" and "leader" back to back, each waking every tab.
    owed_heartbeat: bool,
    transmit: VecDeque<String>,
    /// Texts for the heir's channel ([`Output::TransmitToHeir`]).
    to_heir: VecDeque<String>,
    /// Texts for the leader's channel ([`Output::TransmitToLeader`]).
    to_leader: VecDeque<String>,
    events: VecDeque<Event>,
    lead: lead::Lead,
    /// The workspace: this tab's requests, its view's revision and, while it leads, the
    /// store's writer.
    data: Data,
}

impl Engine {
    /// A tab that has just started at `now`, with the id the driver drew for it and the app's
    /// shared key if the driver has one. It greets its peers at once (the greeting is waiting in
    /// [`Output::Transmit`]), signed when it holds the key.
    ///
    /// Without a key the tab is in its *bootstrap window* for
    /// [`Config::bootstrap_window_ms`]: it sends unsigned, and accepts unsigned greetings only.
    /// The window closes early when [`Engine::handle_key`] hands it the key.
    #[must_use]
    pub fn new(config: Config, me: TabId, now: Millis, visible: bool, key: Option<Key>) -> Self {
        Self::start(
            config,
            Start {
                id: me,
                now,
                visible,
                key,
                term: Term::ZERO,
                wall: now.0,
            },
        )
    }

    /// A tab that has just started, as [`Engine::new`], that also knows the highest term
    /// persisted by earlier pages. In [`Mode::WebLocks`] it queues for the heir lock at once
    /// (the request is waiting in [`Output::Lock`]).
    #[must_use]
    pub fn start(config: Config, start: Start) -> Self {
        let Start {
            id: me,
            now,
            visible,
            key,
            term,
            wall,
        } = start;
        let codec = Codec::new(config.channel.clone(), config.max_message_bytes);
        let tracker = Tracker::new(config.max_ttl_ms, MAX_RETIRED_SENDERS);
        // A term above the limit is corrupt: believed by nobody (the driver parses the stored
        // text with [`Term::parse_stored`], which refuses it; this guards any other caller).
        let term = if term.is_in_range() { term } else { Term::ZERO };
        let lead = lead::Lead::new(&config, term, now);
        let config_budget = config.request_budget_ms;
        let question_ms = config.question_timeout_ms;
        let data = Data::new(
            me,
            &config.channel,
            config_budget,
            question_ms,
            me.low_bits(),
        );
        let mut engine = Self {
            config,
            codec,
            me,
            key,
            started: now,
            listening_since: now,
            seen: now,
            wall_offset: wall.saturating_sub(now.0),
            incarnation: Incarnation::default(),
            next_seq: 1,
            visible,
            phase: Phase::Running,
            peers: BTreeMap::new(),
            deposed: Vec::new(),
            tracker,
            counters: Counters::default(),
            last_heartbeat: None,
            owed_heartbeat: false,
            transmit: VecDeque::new(),
            to_heir: VecDeque::new(),
            to_leader: VecDeque::new(),
            events: VecDeque::new(),
            lead,
            // The tab id is 128 bits from the secure random source: its low half seeds the
            // retries' jitter, so that tabs do not retry in step.
            data,
        };
        engine.announce(now, Presence::Hello);
        engine.queue_for_lock();
        engine
    }

    /// This tab's id.
    #[must_use]
    pub fn id(&self) -> TabId {
        self.me
    }

    /// This tab's current incarnation.
    #[must_use]
    pub fn incarnation(&self) -> Incarnation {
        self.incarnation
    }

    /// Whether this tab's page is visible, as last reported.
    #[must_use]
    pub fn is_visible(&self) -> bool {
        self.visible
    }

    /// Whether this tab holds the key (and so signs and verifies).
    #[must_use]
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// Whether the bootstrap window is open at `now`: no key yet, and younger than the window.
    #[must_use]
    pub fn bootstrap_open(&self, now: Millis) -> bool {
        self.key.is_none() && now.since(self.started) < self.config.bootstrap_window_ms
    }

    /// The counters of every message class and rejection reason.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The tabs currently listed, ordered by id.
    pub fn peers(&self) -> impl Iterator<Item = Peer> + '_ {
        self.peers.iter().filter_map(|(&id, beacon)| {
            let window = self.tracker.window(id)?;
            Some(Peer {
                id,
                incarnation: window.incarnation(),
                seq: window.highest(),
                last_heard: window.last_heard(),
                visible: beacon.visible,
            })
        })
    }

    /// Handles one message received from the channel at `now`.
    pub fn handle_message(&mut self, now: Millis, received: Received<'_>) {
        self.seen = self.seen.max(now);
        self.receive(now, received);
    }

    /// Handles one message received at `now` on the *heir's channel*, which the driver listens
    /// to while this tab holds the heir lock (from the grant until it loses or releases it) or
    /// does not follow (a resignation overtaken by the lock grant may still be on its way):
    /// as [`Engine::handle_message`], and if it is delivered (signed, new, not fenced), its text
    /// is passed on unchanged to every tab, next in [`Output::Transmit`].
    ///
    /// A leader's resignation goes to the heir alone ([`Output::TransmitToHeir`]), so
    /// that the one tab that takes over is the only one woken while it does; the others hear
    /// the resignation from it, after it leads.
    pub fn handle_message_to_heir(&mut self, now: Millis, received: Received<'_>) {
        self.seen = self.seen.max(now);
        if let (true, Received::Text(text)) = (self.receive(now, received), received) {
            self.seal_owed();
            self.transmit.push_back(text.to_owned());
            self.counters.relayed = self.counters.relayed.saturating_add(1);
        }
    }

    /// [`Engine::handle_message`]; whether the message was signed and delivered.
    fn receive(&mut self, now: Millis, received: Received<'_>) -> bool {
        if self.phase == Phase::Away {
            return false;
        }
        self.stall_guard(now);
        let text = match received {
            Received::Text(text) => text,
            Received::NotText => return self.reject(Rejection::NotText),
            Received::Oversized => return self.reject(Rejection::Oversized),
        };
        if text.len() > self.codec.max_bytes() {
            return self.reject(Rejection::Oversized);
        }
        let (payload, signed) = match auth::open(text, self.key.as_ref()) {
            Ok(Opened::Signed(payload)) => (payload, true),
            Ok(Opened::Unsigned(payload)) => (payload, false),
            Err(reason) => return self.reject(reason),
        };
        let envelope = match self.codec.decode(payload) {
            Ok(envelope) => envelope,
            Err(reason) => return self.reject(reason),
        };
        if !signed {
            if !self.bootstrap_open(now) {
                return self.reject(Rejection::Unsigned);
            }
            // Only a greeting joins unsigned: presence claims and, later, leadership and state
            // never do.
            if !matches!(envelope.body, Body::Hello(_)) {
                return self.reject(Rejection::UnsignedKind);
            }
        }
        if let Err(reason) = self.fresh(now, &envelope) {
            return self.reject(reason);
        }
        if envelope.from == self.me {
            return self.reject(Rejection::OwnId);
        }
        if envelope.body.is_leader_only() && !envelope.from_leader() {
            return self.reject(Rejection::NotLeader);
        }
        if envelope.from_leader() && envelope.term < self.lead.term {
            // A deposed leader that has not heard yet: tell it (unless it is leaving). Its
            // actions are fenced (before sequencing, so that they leave no trace in its window).
            if !matches!(envelope.body, Body::Resign { .. }) {
                self.correct(now);
            }
            if envelope.is_leader_action() {
                return self.reject(Rejection::StaleTerm);
            }
        }
        let class =
            match self
                .tracker
                .observe(envelope.from, envelope.incarnation, envelope.seq, now)
            {
                Ok(class) => class,
                Err(_) => return self.reject(Rejection::StaleIncarnation),
            };
        self.counters.count(class);
        if !class.is_delivered() {
            return false;
        }
        self.deliver(now, envelope);
        self.advance(now);
        signed
    }

    /// Whether `envelope` is fresh at `now`: its age (this tab's wall clock now minus the
    /// sender's at sealing) is no more than how long this tab has listened (plus
    /// [`Config::fresh_slack_ms`]), nor than [`Config::max_age_ms`]. Ages are differences of
    /// one shared clock read moments apart, so a wall clock that is set, or a machine that
    /// sleeps, shifts only the ages of messages in flight at that moment.
    fn fresh(&self, now: Millis, envelope: &Envelope) -> Result<(), Rejection> {
        let age = self.wall_at(now).saturating_sub(envelope.at);
        let listened = now.since(self.listening_since);
        if age > listened.saturating_add(self.config.fresh_slack_ms) {
            return Err(Rejection::SentBeforeStart);
        }
        if age > self.config.max_age_ms {
            return Err(Rejection::TooOld);
        }
        Ok(())
    }

    /// The wall clock at this tab's `now`.
    fn wall_at(&self, now: Millis) -> u64 {
        now.0.saturating_add(self.wall_offset)
    }

    /// Reports that the wall clock (ms since the Unix epoch, `Date.now()`) reads `wall` at
    /// `now`. The driver says so before every input: the wall clock is the one the tabs of a
    /// machine share, and messages are stamped and judged by it, while this tab's own clock
    /// (monotonic, stopped while the machine sleeps on some platforms) runs its timers.
    pub fn handle_wall_clock(&mut self, now: Millis, wall: u64) {
        self.seen = self.seen.max(now);
        self.wall_offset = wall.saturating_sub(now.0);
    }

    /// Counts a message rejected for `reason`: it was not delivered.
    fn reject(&mut self, reason: Rejection) -> bool {
        self.counters.reject(reason);
        false
    }

    fn deliver(&mut self, now: Millis, envelope: Envelope) {
        self.events.push_back(Event::Delivered {
            from: envelope.from,
            incarnation: envelope.incarnation,
            seq: envelope.seq,
            term: envelope.term,
        });
        self.observe_term(now, &envelope);
        self.deposed
            .retain(|d| d.id != envelope.from || envelope.term < d.term);
        // A message it sent before leaving, heard after its goodbye (the tracker keeps it
        // retired): its data is delivered, but it is no sign of life.
        let departed = self.tracker.window(envelope.from).is_none();
        let beacon = match envelope.body {
            Body::Probe if departed => return,
            Body::Probe => return self.answer_probe(&envelope),
            Body::Alive => return,
            Body::App(data) => {
                let from = envelope.from;
                self.events.push_back(Event::Message { from, data });
                return;
            }
            Body::Requests(requests) => {
                for request in requests {
                    self.data.on_request(now, envelope.from, request);
                }
                return;
            }
            Body::Abandon { upto } => return self.data.on_abandon(now, envelope.from, upto),
            Body::Committed(commits) => {
                for c in commits {
                    self.data.on_committed(now, c.rev, c.changes, &c.answers);
                }
                return;
            }
            Body::Answers(answers) => return self.data.on_answers(now, &answers),
            Body::Resign { successor } => {
                self.on_resign(now, envelope.from, envelope.term, successor);
                // A leader resigns only as it goes away: the resignation is its goodbye too.
                return self.on_bye(now, envelope.from, envelope.term);
            }
            Body::Bye => return self.on_bye(now, envelope.from, envelope.term),
            Body::Hello(_) | Body::Welcome(_) | Body::Heartbeat(_) if departed => return,
            Body::Hello(beacon) => {
                // Answer a newcomer at once, so it lists us without waiting for a heartbeat.
                self.send(Body::Welcome(self.beacon()));
                beacon
            }
            Body::Welcome(beacon) | Body::Heartbeat(beacon) => beacon,
        };
        if beacon.acting {
            self.on_leader_acting(envelope.from, envelope.term);
            if let Some(rev) = beacon.rev.filter(|_| self.leader() == Some(envelope.from)) {
                self.data.on_leader_rev(rev);
            }
        }
        if self.peers.insert(envelope.from, beacon).is_none() {
            self.events.push_back(Event::PeerJoined(envelope.from));
        }
    }

    /// Broadcasts `data` from this tab's app to every other tab's app: signed, sequenced, and
    /// delivered to each at most once, in order per sender (or after an announced gap).
    ///
    /// # Errors
    /// [`SendError::Away`] while the page is frozen or closed; [`SendError::TooLarge`] when the
    /// message would exceed [`Config::max_message_bytes`] (the receivers would refuse it).
    pub fn handle_broadcast(&mut self, now: Millis, data: &str) -> Result<(), SendError> {
        self.seen = self.seen.max(now);
        if self.phase == Phase::Away {
            return Err(SendError::Away);
        }
        // The envelope and tag add under 300 bytes; JSON escaping at most 6 bytes per char.
        let bound = data.len().saturating_mul(6).saturating_add(512);
        if bound > self.codec.max_bytes() {
            let envelope = self.envelope(Body::App(data.to_owned()));
            let size = auth::seal(self.codec.encode(&envelope), self.key.as_ref()).len();
            if size > self.codec.max_bytes() {
                return Err(SendError::TooLarge {
                    size,
                    max: self.codec.max_bytes(),
                });
            }
        }
        self.stall_guard(now);
        self.send(Body::App(data.to_owned()));
        self.advance(now);
        Ok(())
    }

    /// Hands the tab the app's shared key at `now`: the bootstrap window closes, and the tab
    /// greets again, signed, so that peers which dropped its unsigned or differently signed
    /// messages hear it. Handing the same key again does nothing.
    pub fn handle_key(&mut self, now: Millis, key: Key) {
        self.seen = self.seen.max(now);
        if self.key.as_ref() == Some(&key) {
            return;
        }
        self.key = Some(key);
        if self.phase == Phase::Running {
            self.announce(now, Presence::Hello);
        }
    }

    /// Handles the passing of time: call it at (or after) [`Engine::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Millis) {
        self.seen = self.seen.max(now);
        if self.phase == Phase::Away {
            return;
        }
        self.stall_guard(now);
        if now >= self.next_heartbeat() {
            self.announce(now, Presence::Heartbeat);
        }
        let expired: Vec<TabId> = self
            .peers
            .iter()
            .filter(|(&id, beacon)| self.expiry(id, beacon) <= now)
            .map(|(&id, _)| id)
            .collect();
        self.tracker.prune(now);
        for id in expired {
            self.peers.remove(&id);
            self.deposed.retain(|d| d.id != id);
            self.tracker.retire(id, now);
            self.on_leader_gone(now, id, None);
            self.data.on_peer_left(now);
            self.events.push_back(Event::PeerLeft {
                id,
                reason: LeaveReason::Silent,
            });
        }
        self.advance(now);
    }

    /// Peer `from` said goodbye at `term`: forget it now.
    fn on_bye(&mut self, now: Millis, from: TabId, term: Term) {
        self.tracker.retire(from, now);
        self.deposed.retain(|d| d.id != from);
        self.on_leader_gone(now, from, Some(term));
        if self.peers.remove(&from).is_some() {
            self.data.on_peer_left(now);
            self.events.push_back(Event::PeerLeft {
                id: from,
                reason: LeaveReason::Goodbye,
            });
        }
    }

    /// Handles a page lifecycle change at `now`.
    pub fn handle_lifecycle(&mut self, now: Millis, change: Lifecycle) {
        self.seen = self.seen.max(now);
        if matches!(
            change,
            Lifecycle::Hidden | Lifecycle::Frozen | Lifecycle::Closing
        ) {
            // The page may never run again: its backup must hold what it holds now.
            self.data.touch_backup();
        }
        match change {
            Lifecycle::Visible | Lifecycle::Hidden => {
                self.visible = change == Lifecycle::Visible;
                if self.phase == Phase::Running {
                    self.stall_guard(now);
                    // Tell peers the new time-to-live before timers start being throttled.
                    self.announce(now, Presence::Heartbeat);
                    self.advance(now);
                }
            }
            Lifecycle::Frozen | Lifecycle::Closing => {
                if self.phase == Phase::Running {
                    // A leader's resignation is its goodbye; anyone else just says goodbye.
                    // One message, not two, wakes every other tab while the heir takes over.
                    if !self.resign(now) {
                        self.send(Body::Bye);
                    }
                    self.phase = Phase::Away;
                    self.release_lock();
                }
            }
            Lifecycle::Resumed | Lifecycle::Restored => {
                if self.phase == Phase::Away {
                    self.incarnation = self.incarnation.next();
                    self.next_seq = 1;
                    self.phase = Phase::Running;
                    // What was sent while it was away was not sent to it.
                    self.listening_since = now;
                    // Time passed while away; give peers one time-to-live to be heard again
                    // rather than dropping them all before their answers arrive.
                    self.tracker.refresh(now);
                    self.deposed.clear();
                    self.lead.wake(&self.config, now);
                    self.announce(now, Presence::Hello);
                    self.queue_for_lock();
                    // Commits made while it was away never reached it.
                    self.data.on_wake();
                }
            }
        }
    }

    /// What the driver must do next, if anything: see [`Output`] for the order. Drain until
    /// `None` after every input.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.poll_read_term() {
            return Some(Output::ReadTerm);
        }
        if let Some(term) = self.poll_persist() {
            return Some(Output::Persist(term));
        }
        if let Some(term) = self.poll_record_theft() {
            return Some(Output::RecordTheft(term));
        }
        match self.data.poll_own_backup() {
            Some(OwnWrite::Write { key, text }) => return Some(Output::WriteBackup { key, text }),
            Some(OwnWrite::Remove { key }) => return Some(Output::RemoveBackup { key }),
            None => {}
        }
        if let Some(prefix) = self.data.poll_read_backups() {
            return Some(Output::ReadBackups { prefix });
        }
        if let Some((key, text)) = self.data.poll_forget() {
            return Some(Output::DeleteBackup { key, text });
        }
        if let Some(text) = self.poll_transmit_to_heir() {
            return Some(Output::TransmitToHeir(text));
        }
        if let Some(text) = self.poll_transmit_to_leader() {
            return Some(Output::TransmitToLeader(text));
        }
        if let Some(text) = self.poll_transmit() {
            return Some(Output::Transmit(text));
        }
        if let Some((name, request)) = self.poll_lock() {
            return Some(Output::Lock(name, request));
        }
        if let Some(op) = self.poll_store() {
            return Some(Output::Store(op));
        }
        self.poll_event().map(Output::Event)
    }

    /// The next text to post on the channel, if any.
    #[must_use]
    fn poll_transmit(&mut self) -> Option<String> {
        self.seal_owed();
        self.transmit.pop_front()
    }

    /// The next text to post on the heir's channel (`<channel>:heir`), if any: only the
    /// holder of the heir lock, and a leader, listen there (see
    /// [`Engine::handle_message_to_heir`]). Drain until `None` after every input.
    #[must_use]
    fn poll_transmit_to_heir(&mut self) -> Option<String> {
        self.to_heir.pop_front()
    }

    /// The next text to post on the leader's channel, if any ([`Output::TransmitToLeader`]).
    #[must_use]
    fn poll_transmit_to_leader(&mut self) -> Option<String> {
        self.seal_owed();
        self.to_leader.pop_front()
    }

    /// The next event for the app, if any.
    #[must_use]
    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Takes a request from this tab's app at `now`: it goes to the leader (this tab's own
    /// writer when it leads), is applied there at most once, and ends, for this tab, in exactly
    /// one [`Event::RequestEnded`] with its number. Sent again to every new leader and after a
    /// jittered backoff while unanswered; abandoned when [`Config::request_budget_ms`] passes.
    ///
    /// # Errors
    /// A [`Refusal`] when it cannot be sent at all: invalid ([`Refusal::EmptyText`] and the
    /// like), or [`Refusal::Busy`] when [`crate::data::MAX_PENDING`] requests are outstanding.
    pub fn handle_request(&mut self, now: Millis, op: Op) -> Result<u64, Refusal> {
        self.seen = self.seen.max(now);
        let leader = self.leader();
        let number = self.data.make(now, op, leader)?;
        if self.phase == Phase::Running {
            self.sync_data(now);
        }
        Ok(number)
    }

    /// Reports how a [`StoreOp`] from [`Output::Store`] went, at `now`.
    pub fn handle_store(&mut self, now: Millis, result: StoreResult) {
        self.seen = self.seen.max(now);
        let fence = match &result {
            StoreResult::Claimed {
                result: Err(StoreError::Fenced { stored }),
                ..
            }
            | StoreResult::Committed {
                result: Err(StoreError::Fenced { stored }),
                ..
            } => Some(*stored),
            _ => None,
        };
        self.data.handle_store(now, result);
        if let Some(fence) = fence {
            self.learn_fence(now, fence);
        }
        if self.phase == Phase::Running {
            self.sync_data(now);
        } else {
            self.drain_data();
        }
    }

    /// The next thing to do with the durable store, if any.
    #[must_use]
    fn poll_store(&mut self) -> Option<StoreOp> {
        self.data.poll_op()
    }

    /// The text typed now in `session` (empty: none): kept in this tab's backup until it is
    /// sent or cleared, and offered in the session if this tab dies meanwhile.
    pub fn handle_draft(&mut self, session: ItemId, text: &str) {
        self.data.draft(session, text);
    }

    /// The browser refused the last [`Output::WriteBackup`] (storage full, or disabled): the
    /// previous backup stays, and [`Engine::backup_status`] names the drafts not protected.
    pub fn handle_backup_refused(&mut self) {
        self.data.backup_refused();
    }

    /// Every backup key and its text, as [`Output::ReadBackups`] asked, read at `now`.
    pub fn handle_backups(&mut self, now: Millis, backups: &[RawBackup]) {
        self.seen = self.seen.max(now);
        let peers = &self.peers;
        self.data
            .handle_backups(backups, |tab| peers.contains_key(&tab));
        if self.phase == Phase::Running {
            self.sync_data(now);
        }
    }

    /// How this tab's own backup stands.
    #[must_use]
    pub fn backup_status(&self) -> BackupStatus {
        self.data.backup_status()
    }

    /// The backups this tab found the last time it read them (as leader), and what became of
    /// each.
    #[must_use]
    pub fn backups_found(&self) -> &[Found] {
        self.data.backups_found()
    }

    /// What this tab is typing, by session, as [`Engine::handle_draft`] last said.
    #[must_use]
    pub fn drafts(&self) -> &BTreeMap<ItemId, String> {
        self.data.drafts()
    }

    /// How the durable store stands, as this tab knows it.
    #[must_use]
    pub fn store_status(&self) -> StoreStatus {
        self.data.status()
    }

    /// What this tab's requests have come to.
    #[must_use]
    pub fn request_counters(&self) -> RequestCounters {
        self.data.counters()
    }

    /// The retry policy's circuit breaker at `now`: open (read-only) while no leader answers.
    #[must_use]
    pub fn breaker(&self, now: Millis) -> crate::data::Breaker {
        self.data.breaker(now)
    }

    /// This tab's requests not yet ended, oldest first.
    pub fn pending_requests(&self) -> impl Iterator<Item = &Pending> {
        self.data.pending()
    }

    /// Brings the data layer up to date with the election at `now`, and takes what it says.
    pub(super) fn sync_data(&mut self, now: Millis) {
        if self.verifying_its_lead() {
            // A leader checking its term after a stall keeps its writer, and commits nothing,
            // until it knows whether it was deposed: dropping the writer would lose the news
            // of the commits in flight (every tab would then read the whole store at the gap)
            // and have the next writer claim and read the whole store again.
            return;
        }
        let leading = self.is_leader().then_some(self.lead.term);
        let leader = self.leader();
        self.data.sync(now, leading, leader);
        self.drain_data();
    }

    /// Takes the data layer's events. Its messages wait until this tab next posts
    /// ([`Engine::seal_owed`]), so that the requests made in one turn go together.
    fn drain_data(&mut self) {
        while let Some(event) = self.data.poll_event() {
            self.events.push_back(event);
        }
    }

    /// A copy of this engine, for [`Engine::rehearse_takeover`] alone. A copy is this tab in
    /// all but memory (its id, its key, its next sequence number), so nothing it says may be
    /// posted: which is why the engine is not `Clone`.
    fn rehearsal_copy(&self) -> Self {
        Self {
            config: self.config.clone(),
            codec: self.codec.clone(),
            me: self.me,
            key: self.key.clone(),
            started: self.started,
            listening_since: self.listening_since,
            seen: self.seen,
            wall_offset: self.wall_offset,
            incarnation: self.incarnation,
            next_seq: self.next_seq,
            visible: self.visible,
            phase: self.phase,
            peers: self.peers.clone(),
            deposed: self.deposed.clone(),
            tracker: self.tracker.clone(),
            counters: self.counters.clone(),
            last_heartbeat: self.last_heartbeat,
            owed_heartbeat: self.owed_heartbeat,
            // What is queued here is this engine's to say, and the copy's would be dropped.
            transmit: VecDeque::new(),
            to_heir: VecDeque::new(),
            to_leader: VecDeque::new(),
            events: VecDeque::new(),
            lead: self.lead.clone(),
            data: self.data.clone(),
        }
    }

    /// Whether this tab writes the store now (it leads and has claimed it).
    #[must_use]
    pub fn is_writing(&self) -> bool {
        self.data.written_view().is_some()
    }

    /// Whether the file staged as `stage` may still be wanted, as this tab's writer sees the
    /// store: `None` unless this tab writes it. Else `Some(true)` while a running import
    /// reads it, or while the tab that staged it (named in the stage: `<tab id>.<n>`) is this
    /// one or a listed peer, which may be about to ask for its import; also for a stage not
    /// named so (not this app's: kept, as every record it cannot read is). `Some(false)`: an
    /// orphan, staged by a tab gone without its import starting, or left by an ended import;
    /// its chunks are the leader's to remove.
    #[must_use]
    pub fn stage_in_use(&self, stage: &str) -> Option<bool> {
        let view = self.data.written_view()?;
        if view
            .tasks()
            .iter()
            .any(|task| task.is_running() && task.stage == stage)
        {
            return Some(true);
        }
        let Some(tab) = stage
            .split_once('.')
            .and_then(|(tab, _)| tab.parse::<TabId>().ok())
        else {
            return Some(true);
        };
        Some(tab == self.me || self.peers.contains_key(&tab))
    }

    /// When [`Engine::handle_timeout`] must next be called; `None` while the tab is away.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Millis> {
        if self.phase == Phase::Away {
            return None;
        }
        let earliest_expiry = self
            .peers
            .iter()
            .map(|(&id, beacon)| self.expiry(id, beacon))
            .min();
        let heartbeat = self.next_heartbeat();
        let presence = earliest_expiry.map_or(heartbeat, |e| e.min(heartbeat));
        let deadline = self.lead_deadline().map_or(presence, |d| d.min(presence));
        Some(self.data.deadline().map_or(deadline, |d| d.min(deadline)))
    }

    /// When peer `id`, which last said `beacon`, leaves the list unless heard from again.
    fn expiry(&self, id: TabId, beacon: &Beacon) -> Millis {
        let floor = self.config.heartbeat_ms.saturating_mul(2);
        let ttl = beacon
            .ttl_ms
            .clamp(floor, self.config.max_ttl_ms.max(floor));
        // Every listed peer has a live window; without one it is due now.
        let silent = self
            .tracker
            .window(id)
            .map_or(Millis(0), |window| window.last_heard().plus(ttl));
        self.deposed
            .iter()
            .filter(|d| d.id == id)
            .fold(silent, |due, d| due.min(d.until))
    }

    /// This tab has just left term `old` behind for the later `new`: the peer that led `old`,
    /// if it is listed and does not lead `new`, must be heard at `new` within a heartbeat. A
    /// running tab hears of the later term as this one did, and says so at once (see
    /// `adopt`); one that is not heard is gone without a word that reached us (its goodbye
    /// went to an heir that left too, it crashed) or cannot run, and leaves the list.
    fn expect_heard_at(&mut self, now: Millis, old: Term, new: Term) {
        let Some(id) = old
            .leader()
            .filter(|&l| l != self.me && Some(l) != new.leader())
        else {
            return;
        };
        if self.peers.contains_key(&id) {
            let until = now.plus(self.config.heartbeat_ms);
            self.deposed.retain(|d| d.id != id);
            self.deposed.push(Deposed {
                id,
                term: new,
                until,
            });
        }
    }

    fn beacon(&self) -> Beacon {
        Beacon {
            acting: self.is_leader(),
            ttl_ms: if self.visible {
                self.config.visible_ttl_ms
            } else {
                self.config.hidden_ttl_ms
            },
            visible: self.visible,
            rev: self.data.written_rev(),
        }
    }

    /// Sends a presence message and restarts the heartbeat period. A heartbeat is owed, and
    /// sealed only when the driver takes it or something is sent after it (see
    /// `owed_heartbeat`); a greeting goes at once.
    fn announce(&mut self, now: Millis, presence: Presence) {
        match presence {
            Presence::Hello => self.send(Body::Hello(self.beacon())),
            Presence::Heartbeat => self.owed_heartbeat = true,
        }
        self.last_heartbeat = Some(now);
    }

    /// When this tab next says it is here: a heartbeat period after it last did (at once if
    /// it never did). The period is the long hidden one only for a hidden follower, so a
    /// follower that becomes candidate or leader while hidden heartbeats every second at once.
    fn next_heartbeat(&self) -> Millis {
        let period = if self.visible || self.role() != Role::Follower {
            self.config.heartbeat_ms
        } else {
            self.config
                .hidden_heartbeat_ms
                .max(self.config.heartbeat_ms)
        };
        self.last_heartbeat
            .map_or(Millis(0), |last| last.plus(period))
    }

    /// Seals what is owed behind what is already queued: the data layer's messages (not
    /// while away: they wait for the tab's return), then the owed heartbeat, if any. Called
    /// before anything else is sealed, so that nothing overtakes them. Requests and their
    /// abandonment, which only the writer takes, go on the leader's channel.
    fn seal_owed(&mut self) {
        while let Some(body) = (self.phase == Phase::Running)
            .then(|| self.data.poll_send())
            .flatten()
        {
            let to_leader = matches!(body, Body::Requests(_) | Body::Abandon { .. });
            let text = self.seal(body);
            if to_leader {
                self.to_leader.push_back(text);
            } else {
                self.transmit.push_back(text);
            }
        }
        if std::mem::take(&mut self.owed_heartbeat) {
            let text = self.seal(Body::Heartbeat(self.beacon()));
            self.transmit.push_back(text);
        }
    }

    /// The envelope `body` would be sent in now.
    fn envelope(&self, body: Body) -> Envelope {
        Envelope {
            from: self.me,
            incarnation: self.incarnation,
            seq: Seq(self.next_seq),
            at: self.wall_at(self.seen),
            term: self.lead.term,
            body,
        }
    }

    fn send(&mut self, body: Body) {
        self.seal_owed();
        let text = self.seal(body);
        self.transmit.push_back(text);
    }

    /// Sends `body` on the heir's channel only.
    fn send_to_heir(&mut self, body: Body) {
        let text = self.seal(body);
        self.to_heir.push_back(text);
    }

    /// `body`, signed and sequenced as this tab's next message.
    fn seal(&mut self, body: Body) -> String {
        let envelope = self.envelope(body);
        self.next_seq = self.next_seq.saturating_add(1);
        self.counters.sent = self.counters.sent.saturating_add(1);
        auth::seal(self.codec.encode(&envelope), self.key.as_ref())
    }
}
