//! The reactive API: this tab's coordination as Leptos signals, in the style of leptos-use
//! (`use_conclave()` / `use_conclave_with_options(options)`, an options struct, a named return
//! struct). Signals carry plain data only — ids, terms, peers, counters — never a `web_sys`
//! object, so they can be cloned, compared and read anywhere.

use conclave_web::{Config, Counters, Driver, Mode, Peer, Snapshot, TabId, Term};
use leptos::prelude::*;

/// How [`use_conclave_with_options`] joins the other tabs.
#[derive(Clone, Debug)]
pub struct UseConclaveOptions {
    /// The channel (and lock, and storage) name shared by the app's tabs.
    pub channel: String,
    /// Web Locks where the browser has them, or lease-only.
    pub mode: Mode,
}

impl Default for UseConclaveOptions {
    fn default() -> Self {
        let config = Config::default();
        Self {
            channel: config.channel,
            mode: config.mode,
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
}

/// [`use_conclave_with_options`] with the default options.
pub fn use_conclave() -> UseConclaveReturn {
    use_conclave_with_options(UseConclaveOptions::default())
}

/// Joins this tab to the app's other tabs for as long as the calling component lives: the
/// driver starts now and says goodbye (resigning if it leads) when the component is cleaned up.
pub fn use_conclave_with_options(options: UseConclaveOptions) -> UseConclaveReturn {
    let snapshot = RwSignal::new(None::<Snapshot>);
    let config = Config {
        channel: options.channel,
        mode: options.mode,
        ..Config::default()
    };
    let error = match Driver::start(config, move |s| snapshot.set(Some(s))) {
        Ok(driver) => {
            // `new_local`: the driver holds JavaScript objects, which never leave this thread.
            // The stored value is disposed of, and the driver dropped, with the owner.
            let _keep = StoredValue::new_local(driver);
            None
        }
        Err(error) => Some(error.to_string()),
    };
    let error = RwSignal::new(error);
    UseConclaveReturn {
        is_leader: Signal::derive(move || {
            snapshot.with(|s| s.as_ref().is_some_and(|s| s.is_leader))
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
    }
}
