//! Arbitrary bytes as definition text: parsing and validating must return, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| statemachine_fuzz::definition(data));
