//! CloudWatch Embedded Metric Format: one JSON line per metric event, which CloudWatch
//! Logs turns into metrics on AWS and which stays greppable locally.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub const NAMESPACE: &str = "PetAvatar";

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

/// One EMF document: a metric with its dimensions, plus properties (e.g. the job id)
/// that are logged but are not dimensions.
pub fn metric_line(
    name: &str,
    value: f64,
    unit: Unit,
    dimensions: &[(&str, &str)],
    properties: &[(&str, &str)],
    at: DateTime<Utc>,
) -> Value {
    let dimension_names: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    let mut doc = json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimension_names],
                "Metrics": [{"Name": name, "Unit": unit.as_str()}],
            }],
        },
    });
    if let Value::Object(map) = &mut doc {
        for (k, v) in dimensions.iter().chain(properties) {
            map.insert((*k).to_owned(), Value::String((*v).to_owned()));
        }
        // Counts read better as integers (`"JobsStarted": 1`, not `1.0`).
        let number = if value.fract() == 0.0 && value.abs() < 1e15 {
            json!(value as i64)
        } else {
            json!(value)
        };
        map.insert(name.to_owned(), number);
    }
    doc
}

/// Writes an EMF line to stdout (where CloudWatch Logs collects it on AWS).
pub fn emit(
    name: &str,
    value: f64,
    unit: Unit,
    dimensions: &[(&str, &str)],
    properties: &[(&str, &str)],
) {
    let line = metric_line(name, value, unit, dimensions, properties, Utc::now());
    let mut out = std::io::stdout().lock();
    // A lost metric line must never fail a job.
    let _ = writeln!(out, "{line}");
}

/// Counts a job event (`JobsStarted`, `JobsCompleted`, `JobsFailed`).
pub fn job_event(name: &str, job_id: &str) {
    emit(
        name,
        1.0,
        Unit::Count,
        &[("Service", "petavatar")],
        &[("job_id", job_id)],
    );
}

/// A stage's duration in milliseconds.
pub fn stage_duration(stage: &str, millis: f64, job_id: &str) {
    emit(
        "StageDuration",
        millis,
        Unit::Milliseconds,
        &[("Service", "petavatar"), ("Stage", stage)],
        &[("job_id", job_id)],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_line_follows_the_emf_specification() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let line = metric_line(
            "StageDuration",
            12.5,
            Unit::Milliseconds,
            &[("Service", "petavatar"), ("Stage", "analyze_pet")],
            &[("job_id", "j1")],
            at,
        );
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(directive["Namespace"], "PetAvatar");
        assert_eq!(directive["Dimensions"], json!([["Service", "Stage"]]));
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "StageDuration", "Unit": "Milliseconds"})
        );
        // Every dimension and metric named in the directive is a top-level member.
        assert_eq!(line["Service"], "petavatar");
        assert_eq!(line["Stage"], "analyze_pet");
        assert_eq!(line["StageDuration"], 12.5);
        assert_eq!(line["job_id"], "j1");
    }
}
