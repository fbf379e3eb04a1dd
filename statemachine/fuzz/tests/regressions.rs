//! Replays every saved fuzz finding (`regressions/<target>/*`) through its target's body on
//! plain stable Rust: `cargo test --manifest-path statemachine/fuzz/Cargo.toml`.
//! A finding stays here after it is fixed, so that it cannot come back.

use std::panic;
use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target);
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries.into_iter().filter(|p| p.is_file()) {
        let data = std::fs::read(&path).unwrap();
        if panic::catch_unwind(|| run(&data)).is_err() {
            failures.push(format!("{target}: {} panicked", path.display()));
        }
    }
    failures
}

#[test]
fn saved_findings_no_longer_panic() {
    let mut failures = replay("definition", statemachine_fuzz::definition);
    failures.extend(replay("jsonpath", statemachine_fuzz::jsonpath));
    failures.extend(replay("intrinsics", statemachine_fuzz::intrinsics));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn well_formed_inputs_run() {
    // The bodies themselves must accept ordinary inputs.
    statemachine_fuzz::definition(br#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#);
    statemachine_fuzz::jsonpath(b"$.a.b[0]\0{\"a\":{\"b\":[1]}}");
    statemachine_fuzz::intrinsics(b"States.Format('{} {}', $.a, 'x')\0{\"a\":1}");
}
