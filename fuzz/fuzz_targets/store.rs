#![no_main]
//! Fuzz target `store`: see `checks::store` for the input and what is checked.

#[path = "../../crates/core/tests/support/fuzz/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::store(data));
