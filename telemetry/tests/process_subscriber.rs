//! The process-wide subscribers (a test binary of its own: a global subscriber set here would
//! otherwise stand in the captures' way).

#[test]
fn installing_the_process_subscribers_twice_is_harmless() {
    telemetry::logging::init_json();
    telemetry::logging::init_json();
    telemetry::logging::init_cli();
    tracing::info!("a line on stdout");
}
