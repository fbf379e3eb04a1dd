//! `<path>\0<JSON document>`: JSONPath parse, select and ResultPath-style set must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| statemachine_fuzz::jsonpath(data));
