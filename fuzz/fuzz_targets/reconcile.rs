#![no_main]
//! Fuzz target `reconcile`: see `checks::reconcile` for the input and what is checked.

#[path = "../../crates/core/tests/support/fuzz/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::reconcile(data));
