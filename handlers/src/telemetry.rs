//! Logs and metrics as CloudWatch reads them.
//!
//! Logs: one JSON object per line (tracing-subscriber's JSON format), with the fields of the
//! current span flattened in, so every line of an invocation carries its `job_id`.
//!
//! Metrics: CloudWatch Embedded Metric Format documents, one JSON line each, printed to stdout;
//! CloudWatch Logs extracts them into metrics in the `PetAvatar` namespace (no PutMetricData call,
//! no extra latency). Names: `JobsStarted`, `JobsCompleted`, `JobsFailed` (Count),
//! `StageDuration` (Milliseconds, by `Stage`), `StageErrors` (Count, by `Stage` and `ErrorType`),
//! `ModelCalls`, `ModelErrors` (Count) and `ModelLatency` (Milliseconds), by `Model` and
//! `Operation`.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tracing_subscriber::EnvFilter;

pub const NAMESPACE: &str = "PetAvatar";

/// Installs the JSON log subscriber (`RUST_LOG`, default `info`). Safe to call twice.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric value with its dimensions and extra (non-dimension) properties.
#[derive(Debug, Clone)]
pub struct Metric<'a> {
    pub name: &'a str,
    pub value: f64,
    pub unit: Unit,
    pub dimensions: &'a [(&'a str, &'a str)],
    pub properties: &'a [(&'a str, &'a str)],
}

/// The EMF document for `metric` at `at`.
pub fn emf_document(metric: &Metric<'_>, at: DateTime<Utc>) -> Value {
    let names: Vec<&str> = metric.dimensions.iter().map(|(k, _)| *k).collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": [{"Name": metric.name, "Unit": metric.unit.as_str()}],
            }],
        }),
    );
    for (k, v) in metric.dimensions.iter().chain(metric.properties) {
        doc.insert((*k).to_owned(), Value::String((*v).to_owned()));
    }
    doc.insert(metric.name.to_owned(), json!(metric.value));
    Value::Object(doc)
}

/// Prints one EMF line. A metric that cannot be written must never fail a job, so errors are
/// dropped.
pub fn emit(metric: &Metric<'_>) {
    let line = emf_document(metric, Utc::now());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// `JobsStarted` / `JobsCompleted` / `JobsFailed`.
pub fn job_event(name: &str, job_id: &str) {
    emit(&Metric {
        name,
        value: 1.0,
        unit: Unit::Count,
        dimensions: &[("Service", "petavatar")],
        properties: &[("job_id", job_id)],
    });
}

pub fn stage_duration(stage: &str, job_id: &str, millis: f64) {
    emit(&Metric {
        name: "StageDuration",
        value: millis,
        unit: Unit::Milliseconds,
        dimensions: &[("Stage", stage)],
        properties: &[("job_id", job_id)],
    });
}

pub fn stage_error(stage: &str, error_type: &str, job_id: &str) {
    emit(&Metric {
        name: "StageErrors",
        value: 1.0,
        unit: Unit::Count,
        dimensions: &[("Stage", stage), ("ErrorType", error_type)],
        properties: &[("job_id", job_id)],
    });
}

/// A model call: `ModelCalls` and `ModelLatency`, plus `ModelErrors` with its kind on failure.
pub fn model_call(model: &str, operation: &str, millis: f64, error_kind: Option<&str>) {
    let dimensions = [("Model", model), ("Operation", operation)];
    emit(&Metric {
        name: "ModelCalls",
        value: 1.0,
        unit: Unit::Count,
        dimensions: &dimensions,
        properties: &[],
    });
    emit(&Metric {
        name: "ModelLatency",
        value: millis,
        unit: Unit::Milliseconds,
        dimensions: &dimensions,
        properties: &[],
    });
    if let Some(kind) = error_kind {
        emit(&Metric {
            name: "ModelErrors",
            value: 1.0,
            unit: Unit::Count,
            dimensions: &dimensions,
            properties: &[("ErrorKind", kind)],
        });
    }
}

/// `ModelErrors` alone: a model answered, but unusably (the call itself was counted).
pub fn model_error(model: &str, operation: &str, kind: &str) {
    emit(&Metric {
        name: "ModelErrors",
        value: 1.0,
        unit: Unit::Count,
        dimensions: &[("Model", model), ("Operation", operation)],
        properties: &[("ErrorKind", kind)],
    });
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let doc = emf_document(
            &Metric {
                name: "StageDuration",
                value: 12.5,
                unit: Unit::Milliseconds,
                dimensions: &[("Stage", "ValidateImage")],
                properties: &[("job_id", "j1")],
            },
            at,
        );
        assert_eq!(doc["_aws"]["Timestamp"], at.timestamp_millis());
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "PetAvatar");
        assert_eq!(directive["Dimensions"], json!([["Stage"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "StageDuration", "Unit": "Milliseconds"}])
        );
        // Every dimension and metric named in the directive is a top-level member.
        assert_eq!(doc["Stage"], "ValidateImage");
        assert_eq!(doc["StageDuration"], 12.5);
        assert_eq!(doc["job_id"], "j1");
    }
}
