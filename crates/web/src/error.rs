//! Why a tab cannot coordinate.

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
