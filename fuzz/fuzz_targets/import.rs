#![no_main]
//! Fuzz target `import`: see `checks::import` for the input and what is checked.

#[path = "../../crates/core/tests/support/fuzz/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::import(data));
