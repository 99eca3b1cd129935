//! Why a tab cannot coordinate, or cannot import a file.

use conclave_core::data::Refusal;

/// Why [`crate::Driver::import`] could not start an import.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The leader refused it at once, or it could not be sent (see the [`Refusal`]).
    #[error("{0}")]
    Refused(Refusal),
    /// The file could not be read.
    #[error("the file could not be read: {0}")]
    Unreadable(String),
    /// The file could not be staged (storage full, or unavailable).
    #[error("the file could not be staged: {0}")]
    Storage(String),
}

/// Why [`crate::Driver::start`] could not start the tab's coordination.
///
/// The app shows the message in a safe-mode banner and runs the tab alone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Not running in a page with a `window` (a worker, or a non-browser host).
    #[error("no window: coordination needs a browser page")]
    NoWindow,
    /// `crypto.getRandomValues` is missing or threw; a tab id must never be guessed or derived
    /// from the clock, so the tab does not coordinate.
    #[error("no secure random source: {0}")]
    NoRandomSource(String),
    /// `BroadcastChannel` is missing or could not be opened.
    #[error("BroadcastChannel unavailable: {0}")]
    NoBroadcastChannel(String),
}
