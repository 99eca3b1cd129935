#![no_main]
//! Fuzz target `engine`: see `checks::engine` for the input and what is checked.

#[path = "../../crates/core/tests/support/fuzz/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::engine(data));
