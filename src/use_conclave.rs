//! The reactive API: this tab's coordination as Leptos signals, in the style of leptos-use
//! (`use_conclave()` / `use_conclave_with_options(options)`, an options struct, a named return
//! struct). Signals carry plain data only — ids, terms, peers, counters — never a `web_sys`
//! object, so they can be cloned, compared and read anywhere.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use conclave_web::{
    Config, Counters, Driver, ImportError, ItemId, Mode, Op, Outcome, Peer, Refusal,
    ResolvedQuestion, SendError, Snapshot, TabId, Term, View, WorkspaceEvent,
};
use gloo_timers::callback::Timeout;
use leptos::prelude::*;

use crate::view_model::{self, ReadQueue, Timeline};

/// The workspace as the app's readers take it: as of the latest store revision this tab has,
/// every session and its messages, the same in every tab once they have the same revision.
/// [`Workspace::with`] follows every change; [`Workspace::with_outline`] only changes to its
/// outline (sessions created, renamed or deleted, questions, recovered drafts, imports), not
/// the messages added one by one, which every tab hears at every write: a reader of the
/// outline alone runs again only when it changes.
#[derive(Clone, Copy)]
pub struct Workspace {
    view: Signal<View>,
    /// Moves at every change of the outline.
    outline: Signal<u64>,
}

impl Workspace {
    /// A workspace whose view is `view`, and whose outline changes when `outline` does.
    #[must_use]
    pub fn new(view: Signal<View>, outline: Signal<u64>) -> Self {
        Self { view, outline }
    }

    /// Reads the view, following every change.
    pub fn with<R>(&self, read: impl FnOnce(&View) -> R) -> R {
        self.view.with(read)
    }

    /// Reads the view, following only changes to its outline: what `read` takes from it must
    /// not depend on the messages.
    pub fn with_outline<R>(&self, read: impl FnOnce(&View) -> R) -> R {
        self.outline.track();
        self.view.with_untracked(read)
    }

    /// Reads the view, following nothing.
    pub fn with_untracked<R>(&self, read: impl FnOnce(&View) -> R) -> R {
        self.view.with_untracked(read)
    }
}

/// How [`use_conclave_with_options`] joins the other tabs.
#[derive(Clone, Debug)]
pub struct UseConclaveOptions {
    /// The channel (and lock, and storage) name shared by the app's tabs.
    pub channel: String,
    /// Web Locks where the browser has them, or lease-only.
    pub mode: Mode,
    /// How often, at most, the signals refresh for changes that only move counters, sequence
    /// numbers or ages (every message moves them): 1,000 ms by default, 0 for every change. A
    /// change of leader, term, role or the listed tabs always shows at once.
    pub refresh_ms: u32,
    /// Whether those refreshes go on while the page is hidden (`false` by default: a hidden
    /// page draws nothing, so counters, sequence numbers and ages wait until it is shown,
    /// and show then at once). What must show at once still does, hidden or not.
    pub refresh_hidden: bool,
    /// Whether anything that shows counters, sequence numbers and ages is in view now (a
    /// panel unfolded, say): while it says no, their refreshes wait as on a hidden page, and
    /// show at once when it says yes again. `None` (the default): always in view.
    pub shown: Option<Signal<bool>>,
    /// Whether the workspace's readers (the sessions, the open session's messages) are told of
    /// its changes while the page is hidden (`false` by default: a hidden page draws nothing,
    /// so a tab behind others builds no rows for the messages the visible one is writing; its
    /// view stays current, and draws at once when the page is shown).
    pub draw_hidden: bool,
    /// How many of the latest app messages from other tabs [`UseConclaveReturn::messages`]
    /// keeps (50 by default; the oldest go first).
    pub keep_messages: usize,
}

impl Default for UseConclaveOptions {
    fn default() -> Self {
        let config = Config::default();
        Self {
            channel: config.channel,
            mode: config.mode,
            refresh_ms: 1_000,
            refresh_hidden: false,
            shown: None,
            draw_hidden: false,
            keep_messages: 50,
        }
    }
}

impl UseConclaveOptions {
    /// The same options on another channel.
    #[must_use]
    pub fn channel(self, channel: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            ..self
        }
    }

    /// The same options with another election mode.
    #[must_use]
    pub fn mode(self, mode: Mode) -> Self {
        Self { mode, ..self }
    }

    /// The same options with another refresh bound for counters, sequence numbers and ages.
    #[must_use]
    pub fn refresh_ms(self, refresh_ms: u32) -> Self {
        Self { refresh_ms, ..self }
    }

    /// The same options, refreshing counters, sequence numbers and ages while the page is
    /// hidden too (or not).
    #[must_use]
    pub fn refresh_hidden(self, refresh_hidden: bool) -> Self {
        Self {
            refresh_hidden,
            ..self
        }
    }

    /// The same options, refreshing counters, sequence numbers and ages only while `shown`
    /// says they are in view.
    #[must_use]
    pub fn shown(self, shown: Signal<bool>) -> Self {
        Self {
            shown: Some(shown),
            ..self
        }
    }

    /// The same options, telling the workspace's readers of its changes while the page is
    /// hidden too (or not).
    #[must_use]
    pub fn draw_hidden(self, draw_hidden: bool) -> Self {
        Self {
            draw_hidden,
            ..self
        }
    }

    /// The same options keeping another number of app messages.
    #[must_use]
    pub fn keep_messages(self, keep_messages: usize) -> Self {
        Self {
            keep_messages,
            ..self
        }
    }
}

/// What [`use_conclave`] returns: read-only signals that change as the tabs do.
#[derive(Clone, Copy)]
pub struct UseConclaveReturn {
    /// Whether this tab may act as leader now.
    pub is_leader: Signal<bool>,
    /// The leader this tab follows (itself when leading), if any.
    pub leader: Signal<Option<TabId>>,
    /// The highest term this tab knows.
    pub term: Signal<Term>,
    /// The other tabs, ordered by id.
    pub peers: Signal<Vec<Peer>>,
    /// Message counters by class and by rejection reason.
    pub counters: Signal<Counters>,
    /// Everything at once, for panels; `None` until the driver starts, or in safe mode.
    pub snapshot: Signal<Option<Snapshot>>,
    /// Why the tab runs alone (safe mode), if it does.
    pub error: Signal<Option<String>>,
    /// The latest app messages other tabs broadcast, oldest first, at most
    /// [`UseConclaveOptions::keep_messages`] of them. Each is appended as it is delivered, so a
    /// burst is kept whole even when it arrives between two renders.
    pub messages: Signal<Vec<AppMessage>>,
    /// Broadcasts the given text to every other tab's app, signed and sequenced
    /// ([`Driver::broadcast`]); [`SendError::Away`] also in safe mode, where the tab runs alone.
    pub broadcast: Callback<String, Result<(), SendError>>,
    /// The workspace as of the latest store revision this tab has, every change or only its
    /// outline ([`Workspace`]).
    pub workspace: Workspace,
    /// Makes a request of the workspace ([`Driver::request`]): `Ok` with its number, which
    /// [`UseConclaveReturn::ended`] lists once it ends, or the reason it was refused at once
    /// (also in safe mode: [`Refusal::Busy`]).
    pub request: Callback<Op, Result<u64, Refusal>>,
    /// This tab's latest ended requests (number, outcome), oldest first, at most 50.
    pub ended: Signal<Vec<(u64, Outcome)>>,
    /// Says what is typed now in a session (empty: nothing) ([`Driver::draft`]): kept in this
    /// tab's emergency backup until sent or cleared.
    pub draft: Callback<(ItemId, String)>,
    /// Imports a file into a session ([`Driver::import`]): stages it, then asks the leader;
    /// how the start went lands in [`UseConclaveReturn::import_started`].
    pub import: Callback<(ItemId, web_sys::File)>,
    /// Reads from the store the messages of a session at places `from..to` into
    /// [`UseConclaveReturn::workspace`] ([`View::fill`]): those a list draws that the tab was
    /// told of only by their size. One read at a time: asked meanwhile, the latest ask runs
    /// once the read ends; the same ask twice in a row is read once.
    pub read: Callback<(ItemId, u64, u64)>,
    /// How this tab's latest import start went (counted, so that two alike tell apart): the
    /// request's number, or why it did not start.
    pub import_started: Signal<Option<(u32, Result<u64, ImportError>)>>,
    /// The latest questions resolved, oldest first, as the workspace keeps them (its latest
    /// twenty): each once, whichever tab answered (or the
    /// timeout), also in a tab that read the store rather than heard the change.
    pub resolved: Signal<Vec<ResolvedQuestion>>,
    /// Who led, at which term, over the last five minutes, as this tab saw it: every change
    /// of leader the driver reported, recorded whether or not anything showed it.
    pub timeline: Signal<Timeline>,
}

/// How many ended requests [`UseConclaveReturn::ended`] keeps.
const KEEP_ENDED: usize = 50;

/// An app message from another tab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppMessage {
    /// The tab that broadcast it.
    pub from: TabId,
    /// What its app sent.
    pub data: String,
}

/// [`use_conclave_with_options`] with the default options.
pub fn use_conclave() -> UseConclaveReturn {
    use_conclave_with_options(UseConclaveOptions::default())
}

/// Joins this tab to the app's other tabs for as long as the calling component lives: the
/// driver starts now and says goodbye (resigning if it leads) when the component is cleaned up.
pub fn use_conclave_with_options(options: UseConclaveOptions) -> UseConclaveReturn {
    let snapshot = RwSignal::new(None::<Snapshot>);
    let timeline = RwSignal::new(Timeline::default());
    let refresh = Refresh::new(snapshot, timeline, &options);
    let config = Config {
        channel: options.channel,
        mode: options.mode,
        ..Config::default()
    };
    let messages = RwSignal::new(Vec::<AppMessage>::new());
    let keep = options.keep_messages;
    if let Some(shown) = options.shown {
        // Back in view: what waited shows at once.
        let refresh = refresh.clone();
        Effect::new(move |_| {
            if shown.get() {
                refresh.catch_up();
            }
        });
    }
    let workspace = RwSignal::new(View::default());
    let outline = RwSignal::new(0u64);
    let redraws = Redraws::new(workspace, outline, options.draw_hidden);
    let ended = RwSignal::new(Vec::<(u64, Outcome)>::new());
    let shows = redraws.clone();
    let (driver, error) = match Driver::start(config, move |s| {
        shows.visibility(s.visible);
        refresh.offer(s);
    }) {
        Ok(driver) => {
            driver.on_message(move |from, data| {
                // The owner (and with it the signal) may be gone while a message is handled.
                messages.try_update(|log| keep_last(log, [AppMessage { from, data }], keep));
            });
            driver.on_workspace(move |event| match event {
                // The owner (and with it the signals) may be gone while news is handled.
                // A view read whole from the store: told as a change is (not while hidden).
                WorkspaceEvent::Loaded(view) => {
                    if workspace.try_update_untracked(|v| *v = view).is_some() {
                        redraws.reshaped();
                        redraws.now();
                    }
                }
                WorkspaceEvent::Changed { rev, changes } => {
                    if view_model::outline_changed(&changes) {
                        redraws.reshaped();
                    }
                    let importing = workspace.try_update_untracked(|view| {
                        view.apply(rev, &changes);
                        view.tasks().iter().any(|t| t.is_running())
                    });
                    match importing {
                        Some(true) => redraws.changed(),
                        Some(false) => redraws.now(),
                        None => {}
                    }
                }
                WorkspaceEvent::Ended { number, outcome } => {
                    ended.try_update(|list| keep_last(list, [(number, outcome)], KEEP_ENDED));
                }
            });
            // `new_local`: the driver holds JavaScript objects, which never leave this thread.
            // The stored value is disposed of, and the driver dropped, with the owner.
            (Some(StoredValue::new_local(driver)), None)
        }
        Err(error) => (None, Some(error.to_string())),
    };
    let error = RwSignal::new(error);
    let broadcast = Callback::new(move |data: String| {
        driver
            .and_then(|d| d.try_with_value(|d| d.broadcast(&data)))
            .unwrap_or(Err(SendError::Away))
    });
    let request = Callback::new(move |op: Op| {
        driver
            .and_then(|d| d.try_with_value(|d| d.request(op)))
            .unwrap_or(Err(Refusal::Busy))
    });
    let import_started = RwSignal::new(None::<(u32, Result<u64, ImportError>)>);
    let import = Callback::new(move |(session, file): (ItemId, web_sys::File)| {
        let format = view_model::format_of(&file.name());
        let attempt = import_started.with_untracked(|s| s.as_ref().map_or(0, |(n, _)| *n)) + 1;
        let started = driver.and_then(|d| d.try_with_value(|d| d.import(session, &file, format)));
        match started {
            Some(future) => leptos::task::spawn_local(async move {
                let result = future.await;
                // The owner (and with it the signal) may be gone once the import has started.
                let _ = import_started.try_set(Some((attempt, result)));
            }),
            None => import_started.set(Some((attempt, Err(ImportError::Refused(Refusal::Busy))))),
        }
    });
    let reads = Reads::new(workspace);
    let read = Callback::new(move |wanted: Wanted| {
        if let Some(driver) = driver {
            reads.ask(driver, wanted);
        }
    });
    let draft = Callback::new(move |(session, text): (ItemId, String)| {
        if let Some(driver) = driver {
            let _ = driver.try_with_value(|d| d.draft(session, &text));
        }
    });
    let readers = Workspace::new(workspace.into(), outline.into());
    UseConclaveReturn {
        workspace: readers,
        request,
        draft,
        import,
        read,
        import_started: import_started.into(),
        ended: ended.into(),
        timeline: timeline.into(),
        resolved: Memo::new(move |_| readers.with_outline(|v| v.resolved().to_vec())).into(),
        // Read from the driver at every read too: a snapshot taken before the thread was
        // blocked still says "leader" when it resumes, before the engine's next input.
        is_leader: Signal::derive(move || {
            snapshot.with(|s| s.as_ref().is_some_and(|s| s.is_leader))
                && driver.is_some_and(|d| d.try_with_value(Driver::is_leader).unwrap_or(false))
        }),
        leader: Signal::derive(move || snapshot.with(|s| s.as_ref().and_then(|s| s.leader))),
        term: Signal::derive(move || snapshot.with(|s| s.as_ref().map_or(Term::ZERO, |s| s.term))),
        peers: Signal::derive(move || {
            snapshot.with(|s| s.as_ref().map(|s| s.peers.clone()).unwrap_or_default())
        }),
        counters: Signal::derive(move || {
            snapshot.with(|s| s.as_ref().map(|s| s.counters.clone()).unwrap_or_default())
        }),
        snapshot: snapshot.into(),
        error: error.into(),
        messages: messages.into(),
        broadcast,
    }
}

/// Appends `items` to `list`, then keeps only its last `keep`.
fn keep_last<T>(list: &mut Vec<T>, items: impl IntoIterator<Item = T>, keep: usize) {
    list.extend(items);
    let excess = list.len().saturating_sub(keep);
    list.drain(..excess);
}

/// Hands the driver's snapshots to the signal: at once when they change what must show at once
/// ([`view_model::shows_at_once`]), otherwise the latest of them at most every `refresh_ms`,
/// and, unless `refresh_hidden`, not while the page is hidden: the latest waits until the page
/// is shown again, which shows at once (visibility is one of the things that do). Nor while
/// `shown` says nothing shows them: the latest waits until it does ([`Refresh::catch_up`]).
#[derive(Clone)]
struct Refresh {
    signal: RwSignal<Option<Snapshot>>,
    /// Every snapshot offered is recorded here first, shown or not.
    timeline: RwSignal<Timeline>,
    refresh_ms: u32,
    refresh_hidden: bool,
    shown: Option<Signal<bool>>,
    /// The latest snapshot not yet shown, and the timer that will show it.
    waiting: Rc<RefCell<(Option<Snapshot>, Option<Timeout>)>>,
}

impl Refresh {
    fn new(
        signal: RwSignal<Option<Snapshot>>,
        timeline: RwSignal<Timeline>,
        options: &UseConclaveOptions,
    ) -> Self {
        Self {
            signal,
            timeline,
            refresh_ms: options.refresh_ms,
            refresh_hidden: options.refresh_hidden,
            shown: options.shown,
            waiting: Rc::default(),
        }
    }

    fn offer(&self, next: Snapshot) {
        // The owner (and with it the signal) may be gone while the driver reports.
        self.timeline.try_maybe_update(|t| (t.record(&next), ()));
        let at_once = self.refresh_ms == 0
            || self
                .signal
                .try_with_untracked(|shown| {
                    shown
                        .as_ref()
                        .is_none_or(|shown| view_model::shows_at_once(shown, &next))
                })
                .unwrap_or(true);
        if at_once {
            // Anything waiting is older than this: drop it with its timer.
            *self.waiting.borrow_mut() = (None, None);
            self.show(next);
            return;
        }
        // A hidden page, or a folded panel, draws nothing: a refresh there would be work for
        // nobody (every tab takes about one a second, beside the messages it hears).
        let in_view = self
            .shown
            .is_none_or(|shown| shown.try_get_untracked().unwrap_or(true));
        let draws = (next.visible || self.refresh_hidden) && in_view;
        let mut waiting = self.waiting.borrow_mut();
        waiting.0 = Some(next);
        if waiting.1.is_none() && draws {
            let this = self.clone();
            waiting.1 = Some(Timeout::new(self.refresh_ms, move || this.catch_up()));
        }
    }

    /// Shows the latest snapshot that waits, if any, now.
    fn catch_up(&self) {
        let latest = std::mem::take(&mut *self.waiting.borrow_mut()).0;
        if let Some(latest) = latest {
            self.show(latest);
        }
    }

    fn show(&self, snapshot: Snapshot) {
        // The owner (and with it the signal) may be gone by the time a timer fires.
        let _ = self.signal.try_set(Some(snapshot));
    }
}

/// While an import runs, how often at most the workspace is drawn again, in ms.
const IMPORT_REDRAW_MS: u32 = 250;

/// When the workspace signal tells its readers it changed. At once for every change, except
/// while an import runs anywhere: its batches (one every ten milliseconds or so, each a
/// revision) are then drawn together, at most every [`IMPORT_REDRAW_MS`]: the first change at
/// once, the ones that follow within the interval when it ends. Drawing every batch in every
/// tab (the lists, the progress, the sidebar, and the layout each change brings) was most of
/// what the tabs that do not import spent on an import. Nor while the page is hidden (unless
/// [`UseConclaveOptions::draw_hidden`]): a tab behind others drew every message the visible
/// one wrote, for nobody; shown again, its readers are told at once if anything changed. The
/// view itself is always current: only its readers are told later. A request's outcome does
/// not wait: it travels apart.
#[derive(Clone)]
struct Redraws {
    workspace: RwSignal<View>,
    /// Moves when the outline changed ([`Workspace::with_outline`]), told with the rest.
    outline: RwSignal<u64>,
    /// Whether a change not yet told touched the outline.
    reshaped: Rc<Cell<bool>>,
    /// The interval that follows a redraw while importing, and whether a change waits for its
    /// end.
    pending: Rc<RefCell<Option<(Timeout, bool)>>>,
    /// Whether the page is hidden (as the latest snapshot says) and its readers wait.
    hidden: Rc<Cell<bool>>,
    /// Whether a change waits for the page to be shown.
    held: Rc<Cell<bool>>,
    draw_hidden: bool,
}

impl Redraws {
    fn new(workspace: RwSignal<View>, outline: RwSignal<u64>, draw_hidden: bool) -> Self {
        Self {
            workspace,
            outline,
            reshaped: Rc::default(),
            pending: Rc::default(),
            hidden: Rc::default(),
            held: Rc::default(),
            draw_hidden,
        }
    }

    /// The page is `visible` or not, as a snapshot says: shown again, a change that waited is
    /// told now.
    fn visibility(&self, visible: bool) {
        self.hidden.set(!visible && !self.draw_hidden);
        if self.held.take() {
            // Still hidden, it is held again; shown, it is told.
            self.tell();
        }
    }

    /// Tells the readers now, and ends any interval.
    fn now(&self) {
        self.drawn();
        self.tell();
    }

    /// Notes that the change about to be told touched the outline: its readers are told too.
    fn reshaped(&self) {
        self.reshaped.set(true);
    }

    /// Tells the readers the view changed: a no-op update, which notifies (and does nothing
    /// once the owner is gone), and the outline's readers if it changed; or, while the page
    /// is hidden, notes that a change waits.
    fn tell(&self) {
        if self.hidden.get() {
            self.held.set(true);
        } else {
            self.workspace.try_update(|_| ());
            if self.reshaped.take() {
                self.outline.try_update(|n| *n += 1);
            }
        }
    }

    /// Ends any interval: nothing waits for its end any more.
    fn drawn(&self) {
        self.pending.borrow_mut().take();
    }

    /// A change while an import runs: told now if no interval runs, else when it ends.
    fn changed(&self) {
        let mut pending = self.pending.borrow_mut();
        match pending.as_mut() {
            Some((_, waiting)) => *waiting = true,
            None => {
                *pending = Some((self.interval(), false));
                drop(pending);
                self.tell();
            }
        }
    }

    /// An interval: when it ends, a change that waited is told, and another interval begins.
    fn interval(&self) -> Timeout {
        let this = self.clone();
        Timeout::new(IMPORT_REDRAW_MS, move || {
            let waited = this.pending.borrow_mut().take().is_some_and(|(_, w)| w);
            if waited {
                this.changed();
            }
        })
    }
}

/// A read of a session's messages at places `from..to`: (session, from, to).
type Wanted = (ItemId, u64, u64);

/// The reads of messages from the store into the workspace ([`UseConclaveReturn::read`]): one
/// at a time, the latest ask next, and one that failed asked for again after a wait
/// ([`ReadQueue`]).
#[derive(Clone, Copy)]
struct Reads {
    workspace: RwSignal<View>,
    queue: StoredValue<ReadQueue<Wanted>>,
}

impl Reads {
    fn new(workspace: RwSignal<View>) -> Self {
        Self {
            workspace,
            queue: StoredValue::new(ReadQueue::default()),
        }
    }

    fn ask(self, driver: StoredValue<Driver, LocalStorage>, wanted: Wanted) {
        if let Some(Some(start)) = self.queue.try_update_value(|q| q.ask(wanted)) {
            self.read(driver, start);
        }
    }

    /// Reads `wanted` into the workspace, then starts what the queue says.
    fn read(self, driver: StoredValue<Driver, LocalStorage>, wanted: Wanted) {
        let (session, from, to) = wanted;
        let Some(read) = driver.try_with_value(|d| d.read_messages(session, from, to)) else {
            return;
        };
        leptos::task::spawn_local(async move {
            let error = match read.await {
                Ok(messages) => {
                    // The owner (and with it the signal) may be gone by now.
                    self.workspace
                        .try_maybe_update(|view| (view.fill(session, from, messages), ()));
                    None
                }
                Err(error) => Some(error),
            };
            let ok = error.is_none();
            let Some((next, wait, failures)) = self.queue.try_update_value(|q| {
                let (next, wait) = q.ended(ok);
                (next, wait, q.failures())
            }) else {
                return;
            };
            if let (Some(error), 1) = (&error, failures) {
                web_sys::console::warn_1(
                    &format!("conclave: messages not read (asked for again): {error}").into(),
                );
            }
            if let Some(ms) = wait {
                Timeout::new(ms, move || {
                    if let Some(Some(again)) = self.queue.try_update_value(|q| q.retry(wanted)) {
                        self.read(driver, again);
                    }
                })
                .forget();
            }
            if let Some(next) = next {
                self.read(driver, next);
            }
        });
    }
}
