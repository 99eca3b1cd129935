//! Runs a [`conclave_core::Engine`] on the page's BroadcastChannel, timers and lifecycle events.
//!
//! The driver holds no protocol logic: it turns web events into engine inputs, and engine
//! outputs into web calls. Shared mutable state lives here, at the edge, and nowhere in the core.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};

use conclave_core::data::{
    Change, Format, ItemId, Message, Op, Outcome, RawBackup, Refusal, StoreError, StoreOp,
    StoreResult, View, CHUNK_BYTES, MAX_IMPORT_BYTES,
};
use conclave_core::{
    Config, Engine, Event, Lifecycle, LockChange, LockName, LockRequest, Millis, Mode, Output,
    Received, Role, SendError, Start, TabId, Term,
};
use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast as _, JsValue};
use web_sys::{BroadcastChannel, MessageEvent, PageTransitionEvent, StorageEvent};

use crate::idb::Db;
use crate::locks::{Locks, Notice};
use crate::platform::{self, Clock};
use crate::{store, ImportError, Snapshot, StartError};

/// One tab's live coordination: joined to the channel from [`Driver::start`] until dropped.
///
/// Dropping the driver says goodbye to the other tabs, closes the channel, cancels the timer
/// and removes every listener.
#[must_use = "the tab leaves the channel as soon as the driver is dropped"]
pub struct Driver {
    shared: Rc<RefCell<Shared>>,
    _listeners: [EventListener; 8],
}

struct Shared {
    engine: Engine,
    channel: BroadcastChannel,
    clock: Clock,
    max_message_bytes: usize,
    window: web_sys::Window,
    channel_name: String,
    /// The engine's next deadline and the timer set for it. Kept while the deadline stays the
    /// same: most inputs do not move it, and re-arming costs a timer and a closure each time.
    timer: Option<(Millis, Timeout)>,
    on_change: Rc<dyn Fn(Snapshot)>,
    /// The app's handler for other tabs' app messages, if it set one.
    on_message: Option<Rc<dyn Fn(TabId, String)>>,
    /// App messages delivered by the engine, handed to `on_message` once nothing is borrowed.
    inbox: Vec<(TabId, String)>,
    /// The leader lock and the heir lock, by [`LockName::index`]; `None` in lease mode (no Web
    /// Locks, or the app asked for leases).
    locks: Option<[Locks; 2]>,
    /// Lock requests the engine made, run once the engine is no longer borrowed.
    lock_requests: Vec<(LockName, LockRequest)>,
    /// The heir's channel and its listener, while this tab holds the heir lock or leads (or is
    /// about to): only they listen there, so that a leader's hand-off wakes no other tab. A
    /// new leader keeps listening after it lets go of the heir lock: when the lock manager's
    /// grant came first, the resignation it led on may still be on its way, to be passed on.
    heir_channel: Listening,
    /// The leader's channel and its listener, while this tab does not follow: the other tabs'
    /// requests come there, so that they wake no tab but the writer.
    leader_channel: Listening,
    /// The channel object this tab posts its requests to the leader from, with no listener,
    /// and when it last did: opened for a post and kept while the tab goes on writing (opening
    /// one costs more than a post), closed once idle ([`LEADER_SENDER_IDLE_MS`]). While open it
    /// also receives the other writing tabs' requests, which, with no listener, wake no script.
    leader_sender: Option<(BroadcastChannel, Millis)>,
    rehearsal: Rehearsal,
    /// The durable store (IndexedDB), once open.
    db: DbState,
    /// Files staged for import so far (each gets its own stage).
    next_stage: u64,
    /// This tab's import requests not yet ended, and their stages: a refused one's staged
    /// file is removed here (a started import's goes with its task).
    staged: BTreeMap<u64, String>,
    /// Store operations the engine asked for, run once the engine is no longer borrowed.
    store_ops: Vec<StoreOp>,
    /// The app's handler for workspace news, if it set one.
    on_data: Option<Rc<dyn Fn(WorkspaceEvent)>>,
    /// Workspace news from the engine, handed to `on_data` once nothing is borrowed.
    data_inbox: Vec<WorkspaceEvent>,
    /// While this tab writes the store: the next sweep of staged files nobody will import.
    sweep: Option<Timeout>,
    /// A pump is queued for the end of this turn ([`feed_in_turn`]).
    pump_due: bool,
}

/// The durable store's connection.
enum DbState {
    /// Being opened: operations wait.
    Opening(Vec<StoreOp>),
    Open(Rc<Db>),
    /// It cannot be opened (no IndexedDB, refused): every operation fails with this reason.
    Failed(String),
}

/// News of the workspace for the app ([`Driver::on_workspace`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkspaceEvent {
    /// The store was read: show this workspace instead of what is shown.
    Loaded(View),
    /// The store's next revision: apply these changes, in order, to what is shown.
    Changed {
        /// The revision they make.
        rev: u64,
        /// What changed.
        changes: Vec<Change>,
    },
    /// This tab's request `number` ended.
    Ended {
        /// Its number ([`Driver::request`]).
        number: u64,
        /// How it ended.
        outcome: Outcome,
    },
}

/// Whether this page has rehearsed its take-over yet ([`Engine::rehearse_takeover`]: the path
/// from the leader lock's grant to leading, run once on a copy of the engine so that it is
/// compiled before a failover needs it). Once per page: compiled code stays compiled.
enum Rehearsal {
    /// Not yet: when this tab is next granted the heir lock.
    Due,
    /// On this timer (held only to be cancelled when dropped), [`REHEARSAL_DELAY_MS`] after the
    /// heir lock's grant.
    Scheduled {
        _timer: Timeout,
    },
    Done,
}

/// How long after the heir lock's grant a tab rehearses its take-over: the grant often comes
/// in a failover (the last heir has just come to lead), whose work it should not compete with.
const REHEARSAL_DELAY_MS: u32 = 250;

impl Driver {
    /// Draws this tab's id, joins the channel named in `config`, greets the other tabs and
    /// starts listening. `on_change` receives a fresh [`Snapshot`] after every change.
    ///
    /// With [`Mode::WebLocks`] the tab queues for the heir lock (`<channel>:heir`, then, as the
    /// heir, for `<channel>:leader`); where the browser has no Web Locks it falls back to
    /// [`Mode::Lease`]. The
    /// highest term is kept in `localStorage`, so terms only grow across reloads.
    ///
    /// # Errors
    /// A [`StartError`] when the page has no window, no secure random source or no
    /// BroadcastChannel: the tab cannot coordinate and should run alone in safe mode.
    pub fn start(
        config: Config,
        on_change: impl Fn(Snapshot) + 'static,
    ) -> Result<Self, StartError> {
        let window = web_sys::window().ok_or(StartError::NoWindow)?;
        let document = window.document().ok_or(StartError::NoWindow)?;
        let id = platform::random_tab_id(&window)?;
        let channel = BroadcastChannel::new(&config.channel)
            .map_err(|e| StartError::NoBroadcastChannel(platform::describe(&e)))?;
        let clock = Clock::new(&window);
        let max_message_bytes = config.max_message_bytes;
        let channel_name = config.channel.clone();
        let config_channel = config.channel.clone();
        let key = platform::shared_key(&window, &channel_name);
        let visible = platform::is_visible(&document);
        let locks = match config.mode {
            Mode::WebLocks => {
                let [leader, heir] = LockName::ALL
                    .map(|name| Locks::new(&window, format!("{channel_name}:{}", name.suffix())));
                leader.zip(heir).map(<[Locks; 2]>::from)
            }
            Mode::Lease => None,
        };
        let config = Config {
            mode: if locks.is_some() {
                Mode::WebLocks
            } else {
                Mode::Lease
            },
            ..config
        };
        let start = Start {
            id,
            now: clock.now(),
            visible,
            key,
            // A corrupt stored term is no term (the engine counts it on its first read).
            term: platform::stored_text(&window, &platform::term_item(&channel_name))
                .and_then(|text| Term::parse_stored(&text).ok())
                .unwrap_or(Term::ZERO),
            wall: platform::wall_clock(),
        };
        let engine = Engine::start(config, start);
        let shared = Rc::new(RefCell::new(Shared {
            engine,
            channel,
            clock,
            max_message_bytes,
            window: window.clone(),
            channel_name,
            timer: None,
            on_change: Rc::new(on_change),
            on_message: None,
            inbox: Vec::new(),
            locks,
            lock_requests: Vec::new(),
            heir_channel: None,
            leader_channel: None,
            leader_sender: None,
            rehearsal: Rehearsal::Due,
            db: DbState::Opening(Vec::new()),
            next_stage: 0,
            staged: BTreeMap::new(),
            store_ops: Vec::new(),
            on_data: None,
            data_inbox: Vec::new(),
            sweep: None,
            pump_due: false,
        }));
        open_store(&shared, &store::database_name(&config_channel));

        let weak = Rc::downgrade(&shared);
        let channel = shared.borrow().channel.clone();
        let listeners = [
            listen(&channel, "message", &weak, |shared, event| {
                receive(shared, event, Engine::handle_message);
            }),
            // A message the browser could not deserialise for this page.
            listen(&channel, "messageerror", &weak, |shared, _| {
                receive(shared, &JsValue::UNDEFINED, Engine::handle_message);
            }),
            listen(&window, "pagehide", &weak, |shared, _| {
                lifecycle(shared, Lifecycle::Closing);
            }),
            listen(&window, "pageshow", &weak, |shared, event| {
                let restored = event
                    .dyn_ref::<PageTransitionEvent>()
                    .is_some_and(PageTransitionEvent::persisted);
                if restored {
                    lifecycle(shared, Lifecycle::Restored);
                }
            }),
            listen(&document, "visibilitychange", &weak, {
                let document = document.clone();
                move |shared, _| {
                    let visible = platform::is_visible(&document);
                    lifecycle(
                        shared,
                        if visible {
                            Lifecycle::Visible
                        } else {
                            Lifecycle::Hidden
                        },
                    );
                }
            }),
            listen(&document, "freeze", &weak, |shared, _| {
                lifecycle(shared, Lifecycle::Frozen);
            }),
            listen(&document, "resume", &weak, |shared, _| {
                lifecycle(shared, Lifecycle::Resumed);
            }),
            // Another tab wrote the shared key (two tabs created one at once) or a higher
            // term: adopt what is stored now.
            listen(&window, "storage", &weak, |shared, event| {
                let item = event.dyn_ref::<StorageEvent>().and_then(StorageEvent::key);
                storage_changed(shared, item.as_deref());
            }),
        ];
        pump(&shared);
        PAGE_DRIVER.with(|page| *page.borrow_mut() = Rc::downgrade(&shared));
        Ok(Self {
            shared,
            _listeners: listeners,
        })
    }

    /// Broadcasts `data` from this tab's app to every other tab's app: signed and sequenced
    /// like every message, and handed at most once, in order, to the [`Driver::on_message`]
    /// handler of each tab that verifies it. A deposed leader's messages are refused by every
    /// tab that knows the higher term.
    ///
    /// # Errors
    /// [`SendError::Away`] while the page is frozen or closing; [`SendError::TooLarge`] when the
    /// signed message would exceed [`Config::max_message_bytes`] (the receivers would refuse it).
    pub fn broadcast(&self, data: &str) -> Result<(), SendError> {
        feed_result(&self.shared, |inner, now| {
            inner.engine.handle_broadcast(now, data)
        })
    }

    /// Hands every app message another tab broadcasts from now on to `handler`, with its
    /// sender; it replaces any earlier handler. Messages that arrived before it was set are
    /// not kept. Called after the input that delivered them, with nothing borrowed, so the
    /// handler may use the driver (to answer, say).
    pub fn on_message(&self, handler: impl Fn(TabId, String) + 'static) {
        self.shared.borrow_mut().on_message = Some(Rc::new(handler));
    }

    /// Makes a request of the workspace: it goes to the leader (this tab's own writer when
    /// it leads), is applied there at most once, and ends in exactly one
    /// [`WorkspaceEvent::Ended`] with the number returned here.
    ///
    /// # Errors
    /// A [`Refusal`] when it cannot be sent at all (invalid, or too many outstanding).
    pub fn request(&self, op: Op) -> Result<u64, Refusal> {
        feed_in_turn(&self.shared, |inner, now| {
            inner.engine.handle_request(now, op)
        })
    }

    /// What is typed now in `session` (empty: nothing): kept in this tab's emergency backup
    /// until sent or cleared, and offered in the session if the tab dies meanwhile. The backup
    /// is written at the end of this turn, with whatever else the turn changed: a text typed
    /// and sent in one turn (an Enter, a request, the draft cleared) is one write, not three.
    pub fn draft(&self, session: ItemId, text: &str) {
        feed_in_turn(&self.shared, |inner, _| {
            inner.engine.handle_draft(session, text);
        });
    }

    /// The messages of `session` at places `from..to`, read from the store, for the
    /// workspace's [`View::fill`]: what the tab draws and
    /// was told of only by its size (an import's batches).
    ///
    /// # Errors
    /// [`StoreError::Failed`] if the store is not open or the read fails.
    pub fn read_messages(
        &self,
        session: ItemId,
        from: u64,
        to: u64,
    ) -> impl std::future::Future<Output = Result<Vec<Message>, StoreError>> + 'static {
        let db = match &self.shared.borrow().db {
            DbState::Open(db) => Ok(Rc::clone(db)),
            _ => Err(StoreError::Failed("the store is not open".to_owned())),
        };
        async move { store::read_messages(&*db?, session, from, to).await }
    }

    /// Imports `file` into `session`, read as `format`: stages it in this tab's store (in
    /// chunks of [`CHUNK_BYTES`]), then asks the leader to import it; resolves to the
    /// request's number (its end comes as [`WorkspaceEvent::Ended`], and the import's progress
    /// in the workspace's tasks).
    ///
    /// # Errors
    /// [`ImportError`]: the file cannot be read or staged, or the request is refused at once.
    pub fn import(
        &self,
        session: ItemId,
        file: &web_sys::File,
        format: Format,
    ) -> impl std::future::Future<Output = Result<u64, ImportError>> + 'static {
        let shared = Rc::clone(&self.shared);
        let file = file.clone();
        async move {
            // The file's size as JS gives it: whole bytes, far below 2^53.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let bytes = file.size() as u64;
            if bytes > MAX_IMPORT_BYTES {
                return Err(ImportError::Refused(Refusal::FileTooLarge));
            }
            let (db, stage) = {
                let mut inner = shared.borrow_mut();
                let DbState::Open(db) = &inner.db else {
                    return Err(ImportError::Storage("the store is not open".to_owned()));
                };
                let db = Rc::clone(db);
                inner.next_stage += 1;
                let stage = format!("{}.{}", inner.engine.id(), inner.next_stage);
                (db, stage)
            };
            let chunks = bytes.div_ceil(CHUNK_BYTES as u64).max(1);
            let mut index = 0;
            while index < chunks {
                let mut batch = Vec::new();
                while index < chunks && batch.len() < STAGE_BATCH {
                    batch.push(read_slice(&file, index).await?);
                    index += 1;
                }
                let first = index - batch.len() as u64;
                db.stage(&stage, first, &batch)
                    .await
                    .map_err(|e| ImportError::Storage(e.to_string()))?;
            }
            let op = Op::Import {
                session,
                stage: stage.clone(),
                name: file.name().chars().take(100).collect(),
                format,
                chunks,
                bytes,
            };
            let made = feed_result(&shared, |inner, now| {
                let made = inner.engine.handle_request(now, op);
                if let Ok(number) = made {
                    inner.staged.insert(number, stage.clone());
                }
                made
            });
            if made.is_err() {
                // Refused at once: nothing will ever read the staged file.
                let _ = db.unstage(&stage).await;
            }
            made.map_err(ImportError::Refused)
        }
    }

    /// Hands the workspace's news (the store read, each revision, this tab's requests
    /// ending) to `handler`, replacing any earlier one. Called with nothing borrowed.
    pub fn on_workspace(&self, handler: impl Fn(WorkspaceEvent) + 'static) {
        self.shared.borrow_mut().on_data = Some(Rc::new(handler));
    }

    /// Whether this tab may act as leader now, read at the call
    /// ([`conclave_core::Engine::is_leader_at`]): a tab whose thread was blocked or page
    /// frozen past the stall bound says no from the moment it runs again, before the engine's
    /// next input has it check whether it was deposed meanwhile.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        let shared = self.shared.borrow();
        shared.engine.is_leader_at(shared.clock.now())
    }

    /// The current state, read now (between inputs it equals what `on_change` last received,
    /// but for [`Snapshot::now`], and [`Snapshot::is_leader`] once the stall bound has passed
    /// since the last input).
    pub fn snapshot(&self) -> Snapshot {
        let shared = self.shared.borrow();
        Snapshot::of(&shared.engine, shared.clock.now())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let mut shared = self.shared.borrow_mut();
        let now = shared.clock.now();
        shared.engine.handle_lifecycle(now, Lifecycle::Closing);
        shared.flush();
        shared.lock_requests.clear();
        shared.timer = None;
        shared.rehearsal = Rehearsal::Done;
        stop_listening(&mut shared.heir_channel);
        stop_listening(&mut shared.leader_channel);
        shared.close_leader_sender(None);
        shared.channel.close();
        for lock in shared.locks.iter_mut().flatten() {
            lock.release();
        }
    }
}

/// Feeds one input to the engine at the current time, then drains it with [`pump`].
fn feed(shared: &Rc<RefCell<Shared>>, input: impl FnOnce(&mut Shared, Millis)) {
    feed_result(shared, input);
}

/// [`feed`], for an input that answers.
fn feed_result<T>(shared: &Rc<RefCell<Shared>>, input: impl FnOnce(&mut Shared, Millis) -> T) -> T {
    let answer = take_input(shared, input);
    pump(shared);
    answer
}

/// [`feed_result`], but what the input makes the engine say is carried out at the end of this
/// turn (a microtask), with whatever else is fed meanwhile: the requests a page makes in one
/// turn leave as one message and one backup write. Any other input carries it out sooner.
fn feed_in_turn<T>(
    shared: &Rc<RefCell<Shared>>,
    input: impl FnOnce(&mut Shared, Millis) -> T,
) -> T {
    let answer = take_input(shared, input);
    if !std::mem::replace(&mut shared.borrow_mut().pump_due, true) {
        let weak = Rc::downgrade(shared);
        wasm_bindgen_futures::spawn_local(async move {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            // Already carried out by another input's pump, if no longer due.
            let due = shared.borrow().pump_due;
            if due {
                pump(&shared);
            }
        });
    }
    answer
}

/// Hands `input` to the engine at this instant, the shared wall clock read first.
fn take_input<T>(shared: &Rc<RefCell<Shared>>, input: impl FnOnce(&mut Shared, Millis) -> T) -> T {
    let mut inner = shared.borrow_mut();
    let now = inner.clock.now();
    // Messages are stamped and judged by the wall clock the tabs share.
    inner.engine.handle_wall_clock(now, platform::wall_clock());
    input(&mut inner, now)
}

/// A message event (or, for `messageerror`, `undefined`) from the channel or the heir's
/// channel, whatever it carries, handed to the engine by `handle`.
fn receive(
    shared: &Rc<RefCell<Shared>>,
    event: &JsValue,
    handle: fn(&mut Engine, Millis, Received<'_>),
) {
    let data = event
        .dyn_ref::<MessageEvent>()
        .map_or(JsValue::UNDEFINED, MessageEvent::data);
    feed(shared, |inner, now| {
        match data.dyn_ref::<js_sys::JsString>() {
            // A string's UTF-8 form is at least as long as its UTF-16 length, so a string over the
            // limit in UTF-16 units is too long in bytes: refuse it before copying.
            Some(text) if text.length() as usize > inner.max_message_bytes => {
                handle(&mut inner.engine, now, Received::Oversized);
            }
            Some(text) => {
                let text = String::from(text);
                handle(&mut inner.engine, now, Received::Text(&text));
            }
            None => handle(&mut inner.engine, now, Received::NotText),
        }
    });
}

fn lifecycle(shared: &Rc<RefCell<Shared>>, change: Lifecycle) {
    feed(shared, |inner, now| {
        inner.engine.handle_lifecycle(now, change)
    });
}

/// A `storage` event for `item`: adopt the stored key or term if `item` is ours. (`None`
/// means storage was cleared: keep the key and term this tab holds.)
fn storage_changed(shared: &Rc<RefCell<Shared>>, item: Option<&str>) {
    let (key_item, term_item) = {
        let inner = shared.borrow();
        (
            platform::key_item(&inner.channel_name),
            platform::term_item(&inner.channel_name),
        )
    };
    if item == Some(key_item.as_str()) {
        let key = {
            let inner = shared.borrow();
            platform::stored_key(&inner.window, &inner.channel_name)
        };
        if let Some(key) = key {
            feed(shared, |inner, now| inner.engine.handle_key(now, key));
        }
    } else if item == Some(term_item.as_str()) {
        feed(shared, |inner, now| {
            let term = inner.stored(platform::term_item);
            inner.engine.handle_stored_term(now, term.as_deref());
        });
    }
}

/// The lock manager reported on request `generation` for lock `name`.
fn lock_notice(
    shared: &Rc<RefCell<Shared>>,
    name: LockName,
    (change, generation): Notice,
    release: Option<js_sys::Function>,
) {
    let current = {
        let mut inner = shared.borrow_mut();
        let Some(locks) = inner.locks.as_mut().map(|l| &mut l[name.index()]) else {
            return;
        };
        let current = locks.is_current(generation);
        match (current, change, release) {
            (true, LockChange::Granted, Some(release)) => locks.granted(release),
            (true, LockChange::Lost, _) => locks.lost(),
            // A grant for a request this tab has since given up: hand the lock straight back.
            (false, LockChange::Granted, Some(release)) => {
                let _ = release.call0(&JsValue::UNDEFINED);
            }
            _ => {}
        }
        current
    };
    if current {
        feed(shared, |inner, now| {
            if change == LockChange::Granted && name == LockName::Leader {
                // On the timeline, so that a failover can be split into the lock manager's
                // part and this tab's.
                inner.mark_now("conclave:leader-lock-granted");
                // Whoever held the lock before wrote its term first: start above it.
                let term = inner.stored(platform::term_item);
                inner.engine.handle_stored_term(now, term.as_deref());
                // ...and whether it was a thief that died before it used the lock.
                let robbed = inner.stored(platform::theft_item);
                inner.engine.handle_stored_theft(robbed.as_deref());
            }
            inner.engine.handle_lock(now, name, change);
        });
        if change == LockChange::Granted && name == LockName::Heir {
            schedule_rehearsal(shared);
        }
    }
}

/// Has this tab rehearse its take-over [`REHEARSAL_DELAY_MS`] from now, if it has not yet.
/// The rehearsal runs only if the tab is still the heir waiting for the leader lock then;
/// otherwise it waits for the next grant of the heir lock.
fn schedule_rehearsal(shared: &Rc<RefCell<Shared>>) {
    let mut inner = shared.borrow_mut();
    if !matches!(inner.rehearsal, Rehearsal::Due) {
        return;
    }
    let weak = Rc::downgrade(shared);
    let timer = Timeout::new(REHEARSAL_DELAY_MS, move || {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let mut inner = shared.borrow_mut();
        let now = inner.clock.now();
        // Replacing the spent timer drops it, as `pump`'s timer does.
        inner.rehearsal = match inner.engine.rehearse_takeover(now) {
            Some(term) => {
                // The one step of the take-over outside the engine: the text of the term
                // it stores.
                std::hint::black_box(term.stored_text());
                inner.mark_now("conclave:takeover-rehearsed");
                Rehearsal::Done
            }
            None => Rehearsal::Due,
        };
    });
    inner.rehearsal = Rehearsal::Scheduled { _timer: timer };
}

impl Shared {
    /// Carries out everything the engine asks for, in the order it asks ([`Output`]): terms
    /// are stored and the stored term read at once (`localStorage` is synchronous), texts
    /// posted, lock requests and store operations collected for [`run_lock_requests`] and
    /// [`run_store_ops`] (they answer asynchronously), and events taken: app messages go to
    /// the inbox (when the app listens), workspace news to the data inbox, leadership changes
    /// are marked on the timeline, and the rest are dropped (the snapshot carries their effect).
    fn flush(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::ReadTerm => {
                    let term = self.stored(platform::term_item);
                    let now = self.clock.now();
                    self.engine.handle_stored_term(now, term.as_deref());
                }
                // When localStorage refuses (full, or disabled), the term is not durable and
                // is never confirmed, so this tab will not lead.
                Output::Persist(term) if self.store(platform::term_item, term) => {
                    let now = self.clock.now();
                    self.engine.handle_persisted(now, term);
                }
                Output::RecordTheft(robbed) => {
                    // Before the steal goes out (lock requests run after the flush). If
                    // storage refuses, the steal goes ahead unrecorded.
                    let _ = self.store(platform::theft_item, robbed);
                }
                // Synchronous: when the browser refuses (storage full), the previous backup
                // stays and the engine is told at once.
                Output::WriteBackup { key, text }
                    if !platform::write_item(&self.window, &key, &text) =>
                {
                    self.engine.handle_backup_refused();
                }
                Output::RemoveBackup { key } => platform::remove_item(&self.window, &key, None),
                Output::ReadBackups { prefix } => {
                    let found: Vec<RawBackup> = platform::items_with_prefix(&self.window, &prefix)
                        .into_iter()
                        .map(|(key, text)| RawBackup { key, text })
                        .collect();
                    let now = self.clock.now();
                    self.engine.handle_backups(now, &found);
                }
                Output::DeleteBackup { key, text } => {
                    platform::remove_item(&self.window, &key, Some(&text));
                }
                Output::TransmitToHeir(text) => self.post_to_heir(&text),
                Output::TransmitToLeader(text) => self.post_to_leader(&text),
                Output::Transmit(text) => {
                    // `postMessage` of a string throws only once the channel is closed, which
                    // happens only on drop, after the last flush: nothing is lost by ignoring it.
                    let _ = self.channel.post_message(&JsValue::from_str(&text));
                }
                Output::Lock(name, request) => self.lock_requests.push((name, request)),
                Output::Store(op) => self.store_ops.push(op),
                Output::Event(event) => self.take_event(event),
                // Kinds added later are carried out by a driver that knows them.
                _ => {}
            }
        }
        if self.locks.is_none() {
            self.lock_requests.clear();
        }
    }

    /// Removes the file staged as `stage`, later (its import was refused).
    fn unstage(&self, stage: String) {
        if let DbState::Open(db) = &self.db {
            let db = Rc::clone(db);
            wasm_bindgen_futures::spawn_local(async move {
                // A failure leaves the chunks for a later sweep; nothing else depends on them.
                let _ = db.unstage(&stage).await;
            });
        }
    }

    /// Marks `event` on the timeline and passes on what the app listens for.
    fn take_event(&mut self, event: Event) {
        self.mark(&event);
        let news = match event {
            Event::Message { from, data } => {
                if self.on_message.is_some() {
                    self.inbox.push((from, data));
                }
                return;
            }
            Event::WorkspaceLoaded(view) => WorkspaceEvent::Loaded(view),
            Event::WorkspaceChanged { rev, changes } => WorkspaceEvent::Changed { rev, changes },
            Event::RequestEnded { number, outcome } => {
                if let Some(stage) = self.staged.remove(&number) {
                    if matches!(outcome, Outcome::Refused(_)) {
                        self.unstage(stage);
                    }
                }
                WorkspaceEvent::Ended { number, outcome }
            }
            _ => return,
        };
        self.data_inbox.push(news);
    }

    /// The text stored in this channel's `item` ([`platform::term_item`] or
    /// [`platform::theft_item`]): a term, unless corrupt.
    fn stored(&self, item: fn(&str) -> String) -> Option<String> {
        platform::stored_text(&self.window, &item(&self.channel_name))
    }

    /// Writes `term` to this channel's `item` unless a higher one is there; `false` when
    /// storage refused.
    fn store(&self, item: fn(&str) -> String, term: Term) -> bool {
        platform::store_term(&self.window, &item(&self.channel_name), term)
    }

    /// Marks a change of leadership on the page's User Timing timeline (`conclave:became-leader`,
    /// `conclave:lost-leadership`), where DevTools and `performance.getEntriesByName` find it:
    /// the moment the tab may act, before the app renders anything. Other events leave no mark.
    fn mark(&self, event: &Event) {
        let name = match event {
            Event::BecameLeader { .. } => "conclave:became-leader",
            Event::LostLeadership { .. } => "conclave:lost-leadership",
            _ => return,
        };
        self.mark_now(name);
    }

    /// With Web Locks, listens on the heir's channel while this tab holds the heir lock or
    /// does not follow; stops otherwise (and in lease mode nobody posts there). What arrives
    /// there is handed to [`Engine::handle_message_to_heir`], which passes it on to every tab.
    fn tune_heir_channel(&mut self, weak: &Weak<RefCell<Shared>>) {
        let Some(locks) = &self.locks else {
            return;
        };
        let holds_heir = locks[LockName::Heir.index()].is_held();
        if !holds_heir && self.engine.role() == Role::Follower {
            stop_listening(&mut self.heir_channel);
        } else if self.heir_channel.is_none() {
            // Without it (the browser refused a second channel) the heir still takes over when
            // the leader lock comes; the resignation is then lost, and the other tabs drop the
            // departed leader once it has been silent for its time-to-live.
            let name = heir_channel_name(&self.channel_name);
            self.heir_channel = listening(&name, weak, Engine::handle_message_to_heir);
        }
    }

    /// Listens on the leader's channel while this tab does not follow (it leads, or is about
    /// to); stops otherwise. What arrives there goes to [`Engine::handle_message`], as on the
    /// channel. Were the browser to refuse the channel here (it opened the app's own), the
    /// requests posted there would go unheard until this tab next tries to open it, and time
    /// out for their tabs.
    fn tune_leader_channel(&mut self, weak: &Weak<RefCell<Shared>>) {
        if self.engine.role() == Role::Follower {
            stop_listening(&mut self.leader_channel);
        } else if self.leader_channel.is_none() {
            let name = leader_channel_name(&self.channel_name);
            self.leader_channel = listening(&name, weak, Engine::handle_message);
        }
    }

    /// Posts `text` on the leader's channel from this tab's sending object (opened now if
    /// need be), or on the channel if the browser refuses to open one (the leader takes
    /// requests heard there too).
    fn post_to_leader(&mut self, text: &str) {
        let text = JsValue::from_str(text);
        let now = self.clock.now();
        if self.leader_sender.is_none() {
            self.leader_sender = BroadcastChannel::new(&leader_channel_name(&self.channel_name))
                .ok()
                .map(|channel| (channel, now));
        }
        match &mut self.leader_sender {
            Some((channel, used)) => {
                let _ = channel.post_message(&text);
                *used = now;
            }
            None => {
                let _ = self.channel.post_message(&text);
            }
        }
    }

    /// Closes the sending object of the leader's channel if it was idle for
    /// [`LEADER_SENDER_IDLE_MS`] at `now` (`None`: whenever it was last used).
    fn close_leader_sender(&mut self, now: Option<Millis>) {
        let idle = |used: Millis| now.is_none_or(|now| now.since(used) >= LEADER_SENDER_IDLE_MS);
        if let Some((channel, _)) = self.leader_sender.take_if(|(_, used)| idle(*used)) {
            channel.close();
        }
    }

    /// Posts `text` on the heir's channel, from a channel object opened for the purpose (one
    /// kept open would receive everything posted there, waking this tab), or on the channel
    /// if the browser refuses to open one.
    fn post_to_heir(&self, text: &str) {
        let text = JsValue::from_str(text);
        match BroadcastChannel::new(&heir_channel_name(&self.channel_name)) {
            Ok(channel) => {
                let _ = channel.post_message(&text);
                channel.close();
            }
            Err(_) => {
                let _ = self.channel.post_message(&text);
            }
        }
    }

    /// Marks `name` on the page's User Timing timeline now.
    fn mark_now(&self, name: &str) {
        if let Some(performance) = self.window.performance() {
            // A mark fails only for a name the platform reserves; ours are not.
            let _ = performance.mark(name);
        }
    }
}

/// Sends the lock requests the engine made to the lock manager.
fn run_lock_requests(inner: &mut Shared, weak: &Weak<RefCell<Shared>>) {
    let requests = std::mem::take(&mut inner.lock_requests);
    let Some(locks) = inner.locks.as_mut() else {
        return;
    };
    for (name, request) in requests {
        let weak = Weak::clone(weak);
        let notify = move |notice: Notice, release: Option<js_sys::Function>| {
            if let Some(shared) = weak.upgrade() {
                lock_notice(&shared, name, notice, release);
            } else if let Some(release) = release {
                // The driver is gone: let go of the lock at once.
                let _ = release.call0(&JsValue::UNDEFINED);
            }
        };
        let lock = &mut locks[name.index()];
        match request {
            LockRequest::Request => lock.request(false, notify),
            LockRequest::Steal => lock.request(true, notify),
            LockRequest::Release => {
                lock.release();
            }
        }
    }
}

/// Drains the engine after an input, re-arms the timer, and tells the app.
fn pump(shared: &Rc<RefCell<Shared>>) {
    let (snapshot, on_change, messages, on_message, news, on_data) = {
        let mut inner = shared.borrow_mut();
        inner.pump_due = false;
        inner.flush();
        run_store_ops(&mut inner, shared);
        // The lock manager calls back asynchronously, never from inside `request`.
        run_lock_requests(&mut inner, &Rc::downgrade(shared));
        inner.tune_heir_channel(&Rc::downgrade(shared));
        inner.tune_leader_channel(&Rc::downgrade(shared));
        let now = inner.clock.now();
        inner.close_leader_sender(Some(now));
        if !inner.engine.is_writing() {
            inner.sweep = None;
        } else if inner.sweep.is_none() {
            inner.sweep = Some(schedule_sweep(Rc::downgrade(shared), SWEEP_AFTER_MS));
        }
        let now = inner.clock.now();
        let deadline = inner.engine.poll_timeout();
        if inner.timer.as_ref().map(|(at, _)| *at) != deadline {
            inner.timer = deadline.map(|deadline| {
                let delay = u32::try_from(deadline.since(now)).unwrap_or(u32::MAX);
                let weak = Rc::downgrade(shared);
                let timeout = Timeout::new(delay, move || {
                    if let Some(shared) = weak.upgrade() {
                        // Spent: whatever deadline the engine names next gets a new timer.
                        drop(shared.borrow_mut().timer.take());
                        feed(&shared, |inner, now| inner.engine.handle_timeout(now));
                    }
                });
                (deadline, timeout)
            });
        }
        (
            Snapshot::of(&inner.engine, now),
            Rc::clone(&inner.on_change),
            std::mem::take(&mut inner.inbox),
            inner.on_message.clone(),
            std::mem::take(&mut inner.data_inbox),
            inner.on_data.clone(),
        )
    };
    // Called with no borrow held, so the app may use the driver from inside its callbacks.
    on_change(snapshot);
    if let Some(on_message) = on_message {
        for (from, data) in messages {
            on_message(from, data);
        }
    }
    if let Some(on_data) = on_data {
        for event in news {
            on_data(event);
        }
    }
}

/// Opens the store, then runs what waited for it (or fails it, if it cannot be opened).
fn open_store(shared: &Rc<RefCell<Shared>>, name: &str) {
    let weak = Rc::downgrade(shared);
    let name = name.to_owned();
    wasm_bindgen_futures::spawn_local(async move {
        let opened = Db::open(&name).await;
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let waiting = {
            let mut inner = shared.borrow_mut();
            let state = match opened {
                Ok(db) => DbState::Open(Rc::new(db)),
                Err(error) => DbState::Failed(error.to_string()),
            };
            match std::mem::replace(&mut inner.db, state) {
                DbState::Opening(waiting) => waiting,
                _ => Vec::new(),
            }
        };
        let mut inner = shared.borrow_mut();
        inner.store_ops.splice(0..0, waiting);
        run_store_ops(&mut inner, &shared);
        drop(inner);
        pump(&shared);
    });
}

/// Starts the store operations the engine asked for; each reports its result to the engine
/// when it completes. Transactions start in the order asked (IndexedDB runs read-write
/// transactions over the same stores in the order they were created).
/// How many chunks one staging transaction writes.
const STAGE_BATCH: usize = 16;

/// Chunk `index` of `file`'s bytes.
async fn read_slice(file: &web_sys::File, index: u64) -> Result<Vec<u8>, ImportError> {
    let unreadable = |e: JsValue| ImportError::Unreadable(platform::describe(&e));
    // Byte offsets far below 2^53, where an f64 is exact.
    #[allow(clippy::cast_precision_loss)]
    let (start, end) = (
        (index * CHUNK_BYTES as u64) as f64,
        ((index + 1) * CHUNK_BYTES as u64) as f64,
    );
    let slice = file
        .slice_with_f64_and_f64(start, end)
        .map_err(unreadable)?;
    let buffer = wasm_bindgen_futures::JsFuture::from(slice.array_buffer())
        .await
        .map_err(unreadable)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

fn run_store_ops(inner: &mut Shared, shared: &Rc<RefCell<Shared>>) {
    let ops = std::mem::take(&mut inner.store_ops);
    for op in ops {
        match &mut inner.db {
            DbState::Opening(waiting) => waiting.push(op),
            DbState::Open(db) => {
                let db = Rc::clone(db);
                let weak = Rc::downgrade(shared);
                wasm_bindgen_futures::spawn_local(async move {
                    let result = store::run(&db, op).await;
                    if let Some(shared) = weak.upgrade() {
                        feed(&shared, |inner, now| inner.engine.handle_store(now, result));
                    }
                });
            }
            DbState::Failed(reason) => {
                let error = StoreError::Failed(reason.clone());
                let result = match op {
                    StoreOp::Read => StoreResult::Read(Err(error)),
                    StoreOp::Claim { term } => StoreResult::Claimed {
                        term,
                        result: Err(error),
                    },
                    StoreOp::Commit(commit) => StoreResult::Committed {
                        rev: commit.rev,
                        result: Err(error),
                    },
                    StoreOp::ReadChunk { task, index, .. } => StoreResult::Chunk {
                        task,
                        index,
                        result: Err(error),
                    },
                };
                // Reported as a later task, as a transaction's failure would be.
                let weak = Rc::downgrade(shared);
                wasm_bindgen_futures::spawn_local(async move {
                    if let Some(shared) = weak.upgrade() {
                        feed(&shared, |inner, now| inner.engine.handle_store(now, result));
                    }
                });
            }
        }
    }
}

/// How long after it starts writing the store a leader first sweeps the staged files, in ms:
/// the tabs alive then have been heard from.
const SWEEP_AFTER_MS: u32 = 5_000;
/// How often a leader sweeps the staged files again, in ms.
const SWEEP_EVERY_MS: u32 = 5 * 60 * 1_000;

/// In `delay` ms, removes the staged files nobody will import (each stage the engine says is
/// not in use: its tab gone without its import starting, or its import ended), then again
/// every [`SWEEP_EVERY_MS`] while this tab writes. A tab that died after staging leaves its
/// file behind; nothing else removes it.
fn schedule_sweep(weak: Weak<RefCell<Shared>>, delay: u32) -> Timeout {
    Timeout::new(delay, move || {
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let Ok(mut inner) = shared.try_borrow_mut() else {
            return;
        };
        inner.sweep = Some(schedule_sweep(Weak::clone(&weak), SWEEP_EVERY_MS));
        let DbState::Open(db) = &inner.db else {
            return;
        };
        let db = Rc::clone(db);
        drop(inner);
        wasm_bindgen_futures::spawn_local(async move {
            let Ok(stages) = db.staged().await else {
                return;
            };
            let orphans: Vec<String> = {
                let Some(shared) = weak.upgrade() else {
                    return;
                };
                let Ok(inner) = shared.try_borrow() else {
                    return;
                };
                stages
                    .into_iter()
                    .filter(|stage| inner.engine.stage_in_use(stage) == Some(false))
                    .collect()
            };
            for stage in orphans {
                // A failure leaves the chunks for the next sweep.
                let _ = db.unstage(&stage).await;
            }
        });
    })
}

/// The channel a leader's hand-off goes to: only the holder of the heir lock (and a leader,
/// for a resignation overtaken by its lock grant) listens there.
fn heir_channel_name(channel: &str) -> String {
    format!("{channel}:heir")
}

/// How long a tab keeps its sending object of the leader's channel open after its last post,
/// in ms: past it, the object is closed at the next turn the driver runs.
const LEADER_SENDER_IDLE_MS: u64 = 2_000;

/// The leader's channel: where the other tabs' requests go.
fn leader_channel_name(channel: &str) -> String {
    format!("{channel}:to-leader")
}

/// A channel of the app's that this tab listens on (the heir's, the leader's), with its
/// listener; `None` while it does not.
type Listening = Option<(BroadcastChannel, EventListener)>;

/// Opens channel `name` and hands every message that arrives there to `handle`, while the
/// driver lives; `None` if the browser refuses to open it.
fn listening(
    name: &str,
    shared: &Weak<RefCell<Shared>>,
    handle: fn(&mut Engine, Millis, Received<'_>),
) -> Listening {
    let channel = BroadcastChannel::new(name).ok()?;
    let listener = listen(&channel, "message", shared, move |shared, event| {
        receive(shared, event, handle);
    });
    Some((channel, listener))
}

/// Stops listening on the channel in `listening`, if any: the listener goes, then the channel
/// is closed.
fn stop_listening(listening: &mut Listening) {
    if let Some((channel, listener)) = listening.take() {
        drop(listener);
        channel.close();
    }
}

/// Listens for `event` on `target`, handing it to the driver while the driver lives.
fn listen(
    target: &web_sys::EventTarget,
    event: &'static str,
    shared: &Weak<RefCell<Shared>>,
    handler: impl Fn(&Rc<RefCell<Shared>>, &web_sys::Event) + 'static,
) -> EventListener {
    let shared = Weak::clone(shared);
    EventListener::new(target, event, move |e| {
        if let Some(shared) = shared.upgrade() {
            handler(&shared, e);
        }
    })
}

thread_local! {
    /// The page's driver: the last one started (a page runs one; tests run several in turn).
    static PAGE_DRIVER: RefCell<Weak<RefCell<Shared>>> = const { RefCell::new(Weak::new()) };
}

/// For page scripts (and the end-to-end tests), as `isLeader()` among the app's exports:
/// whether the page's tab may act as leader now, read at the call as [`Driver::is_leader`]
/// reads it; `false` with no driver running, or while the driver is busy.
#[wasm_bindgen(js_name = isLeader)]
#[must_use]
pub fn page_is_leader() -> bool {
    PAGE_DRIVER.with(|page| {
        let Some(shared) = page.borrow().upgrade() else {
            return false;
        };
        let Ok(shared) = shared.try_borrow() else {
            return false;
        };
        shared.engine.is_leader_at(shared.clock.now())
    })
}

/// For page scripts (and the benchmarks), as `addMessage(session, text)` among the app's
/// exports: asks the leader to add `text` to session `session` (its id as the page shows it
/// in `data-session-id`), as the composer's Send does, without the form; returns the
/// request's number (it ends as every request does, in the requests the page lists).
///
/// # Errors
/// `session` is not a session id, no driver runs on the page (or it is busy), or the request
/// is refused at once (its [`Refusal`], as text).
#[wasm_bindgen(js_name = addMessage)]
pub fn page_add_message(session: &str, text: &str) -> Result<f64, wasm_bindgen::JsError> {
    use wasm_bindgen::JsError;
    let session: ItemId = session
        .parse()
        .map_err(|e| JsError::new(&format!("not a session id: {e}")))?;
    let shared = PAGE_DRIVER
        .with(|page| page.borrow().upgrade())
        .ok_or_else(|| JsError::new("no driver runs on this page"))?;
    if shared.try_borrow_mut().is_err() {
        return Err(JsError::new("the driver is busy"));
    }
    let op = Op::Add {
        session,
        text: text.to_owned(),
    };
    let number = feed_in_turn(&shared, |inner, now| inner.engine.handle_request(now, op))
        .map_err(|refusal| JsError::new(&refusal.to_string()))?;
    // Request numbers count this tab's requests: far below 2^53, exact as a JavaScript number.
    #[allow(clippy::cast_precision_loss)]
    Ok(number as f64)
}
