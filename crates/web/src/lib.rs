//! # conclave-web: the browser driver of Conclave
//!
//! Runs the pure [`conclave_core`] protocol on real web APIs: a `BroadcastChannel` carries the
//! messages, `gloo-timers` fires the engine's next deadline, `crypto.getRandomValues` draws the
//! tab id and the app's shared signing key (kept in `localStorage`; tabs that create one at the
//! same moment converge on the last write through the `storage` event), and page lifecycle events (`pagehide`, `pageshow`, `visibilitychange`, `freeze`,
//! `resume`) become engine inputs. It registers no `unload` or `beforeunload` listener, so pages
//! stay eligible for the back/forward cache.
//!
//! The driver holds no protocol logic. Bad input from other tabs (non-strings, oversized
//! strings, garbage) is passed to the engine, which counts it by name; nothing from the channel
//! is unwrapped.
//!
//! ## Example
//! ```no_run
//! use conclave_web::{Config, Driver};
//!
//! let driver = Driver::start(Config::default(), |snapshot| {
//!     web_sys::console::log_1(&format!("{} peers", snapshot.peers.len()).into());
//! });
//! // Keep `driver` alive for as long as the tab should take part.
//! # drop(driver);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod driver;
mod error;
mod idb;
mod locks;
mod platform;
mod snapshot;
mod store;

pub use conclave_core::data::{
    BackupFailure, BackupRejection, BackupStatus, Breaker, Change, Draft, Format, Found, ItemId,
    Message, Op, Outcome, Pending, Question, Refusal, RequestCounters, Resolution,
    ResolvedQuestion, Session, Stage, StoreError, StoreStatus, Task, TaskState, Verdict, View,
    CHUNK_BYTES, MAX_IMPORT_BYTES,
};
pub use conclave_core::{
    Config, Counters, Incarnation, Key, Millis, Mode, Peer, Rejection, Role, SendError, Seq, TabId,
    Term,
};
pub use driver::{page_add_message, page_is_leader, Driver, WorkspaceEvent};
pub use error::{ImportError, StartError};
// The IndexedDB layer is the driver's; it is public only so that the browser tests in
// `tests/idb.rs` (which see nothing else) can exercise it, hence hidden from the docs.
#[doc(hidden)]
pub use idb::{Db, IdbError, Write};
// Likewise the store's mapping of the engine's operations, for `tests/store.rs`.
// Likewise the backups' `localStorage` reads and deletions, for `tests/backup_cost.rs`.
#[doc(hidden)]
pub use platform::{items_with_prefix, remove_item};
pub use snapshot::Snapshot;
#[doc(hidden)]
pub use store::{database_name, read_messages, run as run_store_op};
