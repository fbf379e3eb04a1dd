//! `<States.* expression>\0<JSON input>`: intrinsic syntax check and evaluation must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| statemachine_fuzz::intrinsics(data));
