//! CloudWatch Embedded Metric Format: one JSON document per line on stdout. On AWS, CloudWatch
//! Logs extracts the metrics (no PutMetricData call, no latency); locally the lines stay
//! greppable beside the logs.
//!
//! Every metric is in the `PetAvatar` namespace and carries the dimension `Service` =
//! `petavatar`, then its own:
//!
//! | metric | unit | dimensions | properties |
//! |---|---|---|---|
//! | `JobsStarted`, `JobsCompleted`, `JobsFailed` | Count | `Service` | `job_id` |
//! | `JobsRejected` | Count | `Service`, `Reason` (the error name: `PetAvatar.NotAPet`, …) | `job_id` |
//! | `StageDuration` | Milliseconds | `Service`, `Stage` | `job_id` |
//! | `StageErrors` | Count | `Service`, `Stage`, `ErrorType` | `job_id` |
//! | `ModelCalls` | Count | `Service`, `Model`, `Operation` | |
//! | `ModelLatency` | Milliseconds | `Service`, `Model`, `Operation` | |
//! | `ModelErrors` | Count | `Service`, `Model`, `Operation` | `ErrorKind` |
//!
//! Properties are logged with the metric but are not dimensions (a job id as a dimension
//! would make one metric per job).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "PetAvatar";
/// The value of the `Service` dimension every metric carries.
pub const SERVICE: &str = "petavatar";

/// The CloudWatch units PetAvatar uses (EMF spells them as CloudWatch does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// The end points of a job that are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent {
    /// The worker started the job's execution (the first start, not a redelivery).
    Started,
    Completed,
    Failed,
}

impl JobEvent {
    pub fn metric_name(self) -> &'static str {
        match self {
            JobEvent::Started => "JobsStarted",
            JobEvent::Completed => "JobsCompleted",
            JobEvent::Failed => "JobsFailed",
        }
    }
}

/// One metric value with its dimensions and its other (non-dimension) properties.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: Unit,
    /// In order; the first is always `Service`.
    pub dimensions: Vec<(String, String)>,
    pub properties: Vec<(String, String)>,
}

impl Metric {
    /// A metric with the `Service` dimension.
    pub fn new(name: &str, value: f64, unit: Unit) -> Self {
        Metric {
            name: name.to_owned(),
            value,
            unit,
            dimensions: vec![("Service".to_owned(), SERVICE.to_owned())],
            properties: Vec::new(),
        }
    }

    pub fn dimension(mut self, name: &str, value: &str) -> Self {
        self.dimensions.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn property(mut self, name: &str, value: &str) -> Self {
        self.properties.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn job_event(event: JobEvent, job_id: &str) -> Self {
        Metric::new(event.metric_name(), 1.0, Unit::Count).property("job_id", job_id)
    }

    /// A job refused for its input (not a pet, not a usable image): an answer, not a fault, so
    /// it is not a `JobsFailed`. `reason` is the refusal's error name (a handful of values).
    pub fn job_rejected(reason: &str, job_id: &str) -> Self {
        Metric::new("JobsRejected", 1.0, Unit::Count)
            .dimension("Reason", reason)
            .property("job_id", job_id)
    }

    /// `stage` is the state's name in the state machine (`ValidateImage`).
    pub fn stage_duration(stage: &str, job_id: &str, millis: f64) -> Self {
        Metric::new("StageDuration", millis, Unit::Milliseconds)
            .dimension("Stage", stage)
            .property("job_id", job_id)
    }

    /// `error_type` is the stage error's dotted name (`PetAvatar.NotAPet`).
    pub fn stage_error(stage: &str, error_type: &str, job_id: &str) -> Self {
        Metric::new("StageErrors", 1.0, Unit::Count)
            .dimension("Stage", stage)
            .dimension("ErrorType", error_type)
            .property("job_id", job_id)
    }

    pub fn model_calls(model: &str, operation: &str) -> Self {
        Metric::new("ModelCalls", 1.0, Unit::Count)
            .dimension("Model", model)
            .dimension("Operation", operation)
    }

    pub fn model_latency(model: &str, operation: &str, millis: f64) -> Self {
        Metric::new("ModelLatency", millis, Unit::Milliseconds)
            .dimension("Model", model)
            .dimension("Operation", operation)
    }

    pub fn model_error(model: &str, operation: &str, kind: &str) -> Self {
        Metric::new("ModelErrors", 1.0, Unit::Count)
            .dimension("Model", model)
            .dimension("Operation", operation)
            .property("ErrorKind", kind)
    }

    /// The EMF document at `at`: the `_aws` directive first, then every dimension, property
    /// and the value as top-level members (EMF resolves the directive's names against them).
    pub fn document(&self, at: SystemTime) -> Value {
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(k, _)| k.as_str()).collect();
        let mut doc = Map::new();
        doc.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": epoch_millis(at),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimension_names],
                    "Metrics": [{"Name": self.name, "Unit": self.unit.as_str()}],
                }],
            }),
        );
        // A property never overwrites the directive, a dimension or the value: those are
        // inserted after it.
        for (k, v) in self.properties.iter().filter(|(k, _)| k != "_aws") {
            doc.insert(k.clone(), Value::String(v.clone()));
        }
        for (k, v) in &self.dimensions {
            doc.insert(k.clone(), Value::String(v.clone()));
        }
        doc.insert(self.name.clone(), number(self.value));
        Value::Object(doc)
    }
}

fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Counts read better as integers (`"JobsStarted": 1`, not `1.0`).
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// Writes `metric` at `at` as one line.
pub fn write_line(out: &mut impl Write, metric: &Metric, at: SystemTime) -> std::io::Result<()> {
    writeln!(out, "{}", metric.document(at))
}

/// Writes `metric` to stdout, where CloudWatch Logs collects it on AWS.
pub fn emit(metric: &Metric) {
    emit_at(metric, SystemTime::now());
}

/// Writes `metric` to stdout with the timestamp `at`: CloudWatch files the value under that
/// time, not under the time the line was written.
pub fn emit_at(metric: &Metric, at: SystemTime) {
    let mut out = std::io::stdout().lock();
    // A lost metric line must never fail a job.
    let _ = write_line(&mut out, metric, at);
}

/// Counts `event` for `job_id`.
pub fn job_event(event: JobEvent, job_id: &str) {
    emit(&Metric::job_event(event, job_id));
}

/// Counts a job refused for its input, by `reason` (its error name).
pub fn job_rejected(reason: &str, job_id: &str) {
    emit(&Metric::job_rejected(reason, job_id));
}

/// A stage run's duration.
pub fn stage_duration(stage: &str, job_id: &str, millis: f64) {
    emit(&Metric::stage_duration(stage, job_id, millis));
}

/// A stage run that failed with `error_type`.
pub fn stage_error(stage: &str, error_type: &str, job_id: &str) {
    emit(&Metric::stage_error(stage, error_type, job_id));
}

/// A stage run that failed with `error_type`, filed under `invoked_at`, the time the run
/// began. Lambda files its `Errors` metric under the invocation's start too, so an alarm that
/// subtracts one from the other compares the same period (infra's rejection-aware alarms).
pub fn stage_error_at(stage: &str, error_type: &str, job_id: &str, invoked_at: SystemTime) {
    emit_at(&Metric::stage_error(stage, error_type, job_id), invoked_at);
}

/// A model call: `ModelCalls` and `ModelLatency`, plus `ModelErrors` with its kind when it failed.
pub fn model_call(model: &str, operation: &str, millis: f64, error_kind: Option<&str>) {
    emit(&Metric::model_calls(model, operation));
    emit(&Metric::model_latency(model, operation, millis));
    if let Some(kind) = error_kind {
        emit(&Metric::model_error(model, operation, kind));
    }
}

/// `ModelErrors` alone: a model answered, but unusably (the call itself was counted).
pub fn model_error(model: &str, operation: &str, kind: &str) {
    emit(&Metric::model_error(model, operation, kind));
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
    }

    /// The EMF specification's rules for one document with one directive.
    fn assert_valid_emf(doc: &Value) {
        let aws = &doc["_aws"];
        assert!(
            aws["Timestamp"].is_u64(),
            "Timestamp is epoch millis: {doc}"
        );
        let directives = aws["CloudWatchMetrics"]
            .as_array()
            .expect("a directive list");
        assert_eq!(directives.len(), 1, "{doc}");
        let directive = &directives[0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        for set in directive["Dimensions"].as_array().expect("dimension sets") {
            let set = set.as_array().expect("a dimension set is a list of names");
            assert!(!set.is_empty() && set.len() <= 30, "{doc}");
            for name in set {
                let name = name.as_str().expect("dimension names are strings");
                assert!(
                    doc[name].is_string(),
                    "dimension {name} is a top-level string: {doc}"
                );
            }
        }
        for metric in directive["Metrics"].as_array().expect("metric definitions") {
            let name = metric["Name"].as_str().expect("a metric name");
            assert!(
                doc[name].is_number(),
                "metric {name} is a top-level number: {doc}"
            );
            assert!(
                ["Count", "Milliseconds"].contains(&metric["Unit"].as_str().unwrap_or("")),
                "{doc}"
            );
        }
    }

    #[test]
    fn a_stage_duration_follows_the_embedded_metric_format() {
        let doc = Metric::stage_duration("AnalyzePet", "j1", 12.5).document(at());
        assert_valid_emf(&doc);
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123u64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["Service", "Stage"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "StageDuration", "Unit": "Milliseconds"}])
        );
        assert_eq!(doc["Service"], "petavatar");
        assert_eq!(doc["Stage"], "AnalyzePet");
        assert_eq!(doc["StageDuration"], 12.5);
        assert_eq!(
            doc["job_id"], "j1",
            "a property, logged but not a dimension"
        );
        let keys: Vec<&str> = doc
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys[0], "_aws", "the directive leads the line");
    }

    #[test]
    fn every_metric_has_its_documented_unit_and_dimensions() {
        let cases = [
            (
                Metric::job_event(JobEvent::Started, "j"),
                "JobsStarted",
                "Count",
                json!(["Service"]),
            ),
            (
                Metric::job_event(JobEvent::Completed, "j"),
                "JobsCompleted",
                "Count",
                json!(["Service"]),
            ),
            (
                Metric::job_event(JobEvent::Failed, "j"),
                "JobsFailed",
                "Count",
                json!(["Service"]),
            ),
            (
                Metric::job_rejected("PetAvatar.NotAPet", "j"),
                "JobsRejected",
                "Count",
                json!(["Service", "Reason"]),
            ),
            (
                Metric::stage_error("MapCareer", "PetAvatar.Transient", "j"),
                "StageErrors",
                "Count",
                json!(["Service", "Stage", "ErrorType"]),
            ),
            (
                Metric::model_calls("m", "Converse"),
                "ModelCalls",
                "Count",
                json!(["Service", "Model", "Operation"]),
            ),
            (
                Metric::model_latency("m", "Converse", 840.25),
                "ModelLatency",
                "Milliseconds",
                json!(["Service", "Model", "Operation"]),
            ),
            (
                Metric::model_error("m", "Converse", "Throttled"),
                "ModelErrors",
                "Count",
                json!(["Service", "Model", "Operation"]),
            ),
        ];
        for (metric, name, unit, dimensions) in cases {
            let doc = metric.document(at());
            assert_valid_emf(&doc);
            let directive = &doc["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Metrics"], json!([{"Name": name, "Unit": unit}]));
            assert_eq!(directive["Dimensions"], json!([dimensions]), "{name}");
        }
        let failed = Metric::model_error("m", "Converse", "Throttled").document(at());
        assert_eq!(failed["ErrorKind"], "Throttled");
        assert_eq!(
            Metric::stage_error("MapCareer", "PetAvatar.Transient", "j").document(at())["ErrorType"],
            "PetAvatar.Transient"
        );
    }

    #[test]
    fn counts_are_integers_and_fractions_stay_fractions() {
        let count = Metric::job_event(JobEvent::Started, "j").document(at());
        assert_eq!(count["JobsStarted"], json!(1));
        assert!(count["JobsStarted"].is_i64());
        let latency = Metric::model_latency("m", "Converse", 0.5).document(at());
        assert_eq!(latency["ModelLatency"], json!(0.5));
    }

    #[test]
    fn a_property_cannot_overwrite_the_directive_a_dimension_or_the_value() {
        let doc = Metric::new("JobsStarted", 1.0, Unit::Count)
            .property("_aws", "x")
            .property("Service", "other")
            .property("JobsStarted", "many")
            .document(at());
        assert_valid_emf(&doc);
        assert_eq!(doc["Service"], "petavatar");
        assert_eq!(doc["JobsStarted"], 1);
    }

    #[test]
    fn a_metric_is_written_as_one_json_line() {
        let mut out = Vec::new();
        let metric = Metric::stage_duration("ValidateImage", "j2", 3.0);
        write_line(&mut out, &metric, at()).unwrap();
        write_line(&mut out, &metric, at()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(text.ends_with('\n'));
        let parsed: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(parsed, metric.document(at()));
    }
}
