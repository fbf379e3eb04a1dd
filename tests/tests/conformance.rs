//! ASL conformance suite (harness = false): replays the AWS-recorded Step Functions snapshots
//! against the embedded engine and prints its own report. See docs/CONFORMANCE.md.

fn main() {
    let code = petavatar_tests::conformance::driver::main_entry();
    // Exit at once: a case stuck in the engine must not keep the process alive.
    std::process::exit(code);
}
