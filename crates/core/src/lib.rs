//! # conclave-core: the pure protocol of Conclave
//!
//! Conclave makes a web app open in many tabs behave like one app. This crate is its protocol,
//! written as a *sans-IO* state machine: it never reads a clock, never draws a random number,
//! never touches a channel or storage. Everything enters as an input and leaves as an output, so
//! the same code runs in the browser (driven by `conclave-web`) and in a deterministic simulator
//! on the host.
//!
//! ## Model and run loop
//! Each tab owns one [`Engine`]. The driver:
//! 1. feeds every input through a `handle_*` method — a received message
//!    ([`Engine::handle_message`], or [`Engine::handle_message_to_heir`] from the heir's
//!    channel), the passing of time ([`Engine::handle_timeout`]), a page lifecycle change
//!    ([`Engine::handle_lifecycle`]);
//!    and the answers of the lock manager and the stores (`handle_lock`, `handle_stored_term`,
//!    `handle_persisted`, `handle_store`);
//! 2. then carries out every [`Output`] of [`Engine::poll_output`] until it returns `None`, in
//!    the order they come (the engine hands them out in the order the driver must keep: see
//!    [`Output`]) — texts to post, terms to store, lock requests, store operations, events;
//! 3. and arms one timer for [`Engine::poll_timeout`].
//!
//! ## Time
//! [`Millis`] is a point on *one tab's own* monotonic clock. Instants of different tabs are
//! never compared: how long a peer has been silent is measured on the receiver's clock.
//!
//! ## What it guarantees today
//! - **Identity**: a tab's [`TabId`] is 128 bits the driver draws from the platform's secure
//!   random source; its [`Incarnation`] grows when it comes back from a freeze or the
//!   back/forward cache.
//! - **Presence**: a tab greets on start, every tab answers a greeting at once, says "still here"
//!   every [`Config::heartbeat_ms`] (every [`Config::hidden_heartbeat_ms`] while it is a hidden
//!   follower), and says goodbye on `pagehide`/`freeze`. A peer that falls
//!   silent leaves the list [`Config::visible_ttl_ms`] after it was last heard (visible peers,
//!   3 s by default) or [`Config::hidden_ttl_ms`] (hidden peers, whose timers the browser
//!   throttles to once a minute: 75 s by default). A leader left behind by a later term leaves
//!   it sooner, [`Config::heartbeat_ms`] after this tab learned the later term, unless heard
//!   at it meanwhile (a running tab that hears of a later term than the one it led says so at
//!   once): its resignation may have reached nobody, when its heir closed at the same moment.
//! - **Sequencing**: every message carries (sender, incarnation, seq); each is classified as
//!   first, next, gap, late, duplicate or old, and none is delivered twice. State per sender is
//!   a fixed-size [`seq::Window`]: memory is O(live senders), whatever the input.
//! - **Authentication**: with the app's shared [`Key`], every message is signed with
//!   HMAC-SHA-256 over the exact bytes sent and verified in constant time. A tab without the key
//!   is in a 5-second *bootstrap window* in which it accepts unsigned greetings only; after it,
//!   or once the tab holds the key, every unsigned message is rejected.
//! - **Bad input**: nothing received panics. Every dropped message is counted under a named
//!   [`Rejection`].
//! - **Backups**: [`VClock`]s are canonical and compare as before / after / equal /
//!   concurrent; [`reconcile::reconcile`] folds per-tab backups into the store without losing a
//!   message, the same way whatever their order or how often it runs, resolving concurrent
//!   renames deterministically and naming every skipped backup.
//!
//! ## Example
//! ```
//! use conclave_core::{Config, Engine, Millis, Received, Rejection, TabId};
//!
//! let mut tab = Engine::new(Config::default(), TabId::from_bytes([9; 16]), Millis(0), true, None);
//! tab.handle_message(Millis(5), Received::Text("{not json"));
//! assert_eq!(tab.counters().rejected(Rejection::Malformed), 1);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod auth;
pub mod data;
mod election;
mod engine;
mod hex;
mod ids;
mod json;
pub mod reconcile;
mod rejection;
pub mod seq;
pub mod vclock;
pub mod wire;

pub use auth::Key;
pub use election::{CorruptTerm, LockChange, LockName, LockRequest, Mode, Role, StepDown, Term};
pub use engine::{
    Config, Counters, Engine, Event, LeaveReason, Lifecycle, Output, Peer, Received, SendError,
    Start,
};
pub use ids::{Incarnation, Millis, ParseTabIdError, Seq, TabId, MAX_SAFE_INTEGER};
pub use rejection::Rejection;
pub use vclock::{Causality, VClock};
