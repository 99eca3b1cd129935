//! The checks of the fuzz targets, in one place for both of their users: each target in
//! `fuzz/fuzz_targets/` is one line that calls its check here (`#[path]`-included), and the
//! stable test `tests/fuzz_regressions.rs` replays every seed and every input fuzzing ever
//! found (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`) through the very same check.
//!
//! A check reads the fuzzer's bytes as its target's input (each documents its format: plain
//! text where the decoder takes text, a few lines where it takes more), runs the decoder the way
//! the driver does, and panics only when a promise breaks: the decoder panics, or what it
//! accepts does not write back as itself, or a tab stops accounting for what it was sent. Input
//! the decoder refuses is the ordinary case and passes.
//!
//! Everything here goes through the core's public API: what a fuzzer reaches, an attacker
//! (another same-origin page, a corrupted profile) reaches the same way.
// Each fuzz target uses one check; the seed generator is the stable test's alone.
#![allow(dead_code, unreachable_pub)]

mod page;
pub mod seeds;
mod tab;
mod text;

pub use tab::{engine, import, store};
pub use text::{backup, envelope, ids, reconcile};

use conclave_core::Key;

/// A target's check: it panics when the input breaks a promise.
pub type Check = fn(&[u8]);

/// Every target, by name (as in `fuzz/Cargo.toml` and the folders of `fuzz/seeds/`,
/// `fuzz/regressions/` and `fuzz/findings/`), with its check.
pub const TARGETS: [(&str, Check); 7] = [
    ("envelope", envelope),
    ("engine", engine),
    ("backup", backup),
    ("reconcile", reconcile),
    ("import", import),
    ("store", store),
    ("ids", ids),
];

/// The channel every check's tab uses.
pub const CHANNEL: &str = "conclave";

/// The app's shared key in every check: what another tab signs with, so that fuzzed messages
/// reach past the tag check to the decoder and the protocol behind it.
pub const KEY: Key = Key::from_bytes([0x5e; 32]);

/// `data` as text, or `None` when it is not UTF-8: what crosses a tab boundary or comes out
/// of `localStorage` is a JavaScript string, which the driver hands over as UTF-8.
fn utf8(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// `data` as a first line and the rest: a storage key and the text stored under it.
fn key_and_text(data: &[u8]) -> Option<(&str, &str)> {
    utf8(data)?.split_once('\n')
}
