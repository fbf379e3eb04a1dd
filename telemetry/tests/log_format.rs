//! The JSON log line format, as the services write it (through `capture`, which installs the
//! very subscriber `logging::init_json` does, on this thread).

use serde_json::Value;
use telemetry::capture::Captured;

/// The `job_id` a line carries from any of its spans.
fn job_id_of(line: &Value) -> Option<&str> {
    line["spans"]
        .as_array()?
        .iter()
        .find_map(|span| span["job_id"].as_str())
}

#[test]
fn a_line_is_one_json_object_with_its_event_fields_at_the_top() {
    let (logs, _guard) = Captured::install();
    tracing::info!(attempt = 2, key = "uploads/x/original.png", "job queued");
    let text = logs.text();
    assert_eq!(text.lines().count(), 1, "{text}");
    let line = &logs.lines("job queued")[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["attempt"], 2);
    assert_eq!(line["key"], "uploads/x/original.png");
    assert_eq!(line["target"], "log_format");
    assert!(
        line["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
        "RFC 3339 UTC: {line}"
    );
}

#[test]
fn every_line_under_a_job_span_carries_the_job_id_even_from_a_nested_span() {
    let (logs, _guard) = Captured::install();
    let job = tracing::info_span!("worker", job_id = "6f1c", receive_count = 1);
    job.in_scope(|| {
        tracing::info!("execution started");
        tracing::info_span!("stage", stage = "ValidateImage").in_scope(|| {
            tracing::warn!(
                error = "throttled",
                "stage failed; the state machine retries"
            );
        });
    });
    tracing::info!("outside any job");

    let started = &logs.lines("execution started")[0];
    assert_eq!(started["span"]["name"], "worker");
    assert_eq!(started["span"]["job_id"], "6f1c");
    assert_eq!(job_id_of(started), Some("6f1c"));

    let nested = &logs.lines("stage failed; the state machine retries")[0];
    assert_eq!(
        nested["span"]["name"], "stage",
        "the current span is the innermost"
    );
    assert_eq!(nested["span"]["stage"], "ValidateImage");
    assert_eq!(job_id_of(nested), Some("6f1c"), "{nested}");
    assert_eq!(nested["spans"][0]["name"], "worker", "outermost first");

    let outside = &logs.lines("outside any job")[0];
    assert_eq!(job_id_of(outside), None);
    assert!(outside.get("span").is_none(), "{outside}");
}

#[test]
fn the_level_filter_applies() {
    let (logs, guard) = Captured::install();
    tracing::debug!("a detail");
    tracing::info!("a fact");
    drop(guard);
    assert!(logs.lines("a detail").is_empty());
    assert_eq!(logs.lines("a fact").len(), 1);

    let (logs, _guard) = Captured::install_filtered("debug");
    tracing::debug!("a detail");
    assert_eq!(logs.lines("a detail").len(), 1);
}
