//! The engine's log lines, in the services' JSON format: an execution runs inside the span of
//! whoever started (or redrove) it, so the caller's fields (a job's `job_id`) are on every
//! line the engine and its handlers log for it; resumed executions get theirs from the
//! builder's `execution_span` factory.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use common::*;
use serde_json::{Value, json};
use statemachine::{
    Engine, ExecutionStatus, HandlerRegistry, InvocationContext, TaskFailure, TaskHandler,
    VirtualClock,
};
use telemetry::capture::Captured;
use tracing::Instrument;

/// The engine's line for a panicking handler.
const PANIC_LINE: &str = "task handler panicked";
/// The line the handler itself logs before it panics.
const HANDLER_LINE: &str = "handler called";

/// Logs a line, then panics.
struct LogsThenPanics;

#[async_trait]
impl TaskHandler for LogsThenPanics {
    async fn invoke(&self, _payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        tracing::info!("{HANDLER_LINE}");
        panic!("handler bug");
    }
}

fn one_task() -> String {
    json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": arn("t"), "End": true}}})
        .to_string()
}

fn panicking() -> HandlerRegistry {
    HandlerRegistry::new().with("t", Arc::new(LogsThenPanics))
}

/// The value of `field` in the line's spans (outermost first), wherever it is nested.
fn span_field<'a>(line: &'a Value, field: &str) -> Option<&'a Value> {
    line["spans"]
        .as_array()?
        .iter()
        .find_map(|span| span.get(field))
}

fn job_span(job_id: &str) -> tracing::Span {
    tracing::info_span!("job", job_id = %job_id)
}

#[tokio::test]
async fn lines_of_an_execution_carry_the_fields_of_the_span_it_was_started_in() {
    let (logs, _guard) = Captured::install();
    let (_, engine) = virtual_engine(panicking());
    let sm = engine.create_state_machine("sm", &one_task()).unwrap();
    let started = engine
        .start_execution(&sm, Some("exec-1"), json!({}))
        .instrument(job_span("job-1"))
        .await
        .unwrap();
    // Waited for outside the job's span: the lines owe their job_id to the execution's task.
    let done = engine.wait(&started.execution_arn).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Failed);

    for message in [PANIC_LINE, HANDLER_LINE] {
        let lines = logs.lines(message);
        assert_eq!(lines.len(), 1, "{message}: {}", logs.text());
        let line = &lines[0];
        assert_eq!(span_field(line, "job_id"), Some(&json!("job-1")), "{line}");
        assert_eq!(
            span_field(line, "execution"),
            Some(&json!("exec-1")),
            "{line}"
        );
    }
    assert_eq!(logs.lines(PANIC_LINE)[0]["span"]["name"], "execution");

    // A redrive runs inside the span of its own caller.
    engine
        .redrive_execution(&started.execution_arn)
        .instrument(job_span("job-1-redriven"))
        .await
        .unwrap();
    engine.wait(&started.execution_arn).await.unwrap();
    let redriven: Vec<Value> = logs
        .lines(PANIC_LINE)
        .into_iter()
        .filter_map(|l| span_field(&l, "job_id").cloned())
        .collect();
    assert_eq!(redriven, [json!("job-1"), json!("job-1-redriven")]);
}

#[tokio::test]
async fn without_a_caller_span_the_lines_name_the_execution() {
    let (logs, _guard) = Captured::install();
    let (_, engine) = virtual_engine(panicking());
    let sm = engine.create_state_machine("sm", &one_task()).unwrap();
    let started = engine
        .start_execution(&sm, Some("exec-2"), json!({}))
        .await
        .unwrap();
    engine.wait(&started.execution_arn).await.unwrap();
    let lines = logs.lines(PANIC_LINE);
    assert_eq!(lines.len(), 1, "{}", logs.text());
    assert_eq!(lines[0]["span"]["execution"], "exec-2", "{}", lines[0]);
    assert_eq!(span_field(&lines[0], "job_id"), None);
}

/// The embedder's factory: its execution names are job ids.
fn job_id_span(name: &str) -> tracing::Span {
    tracing::info_span!("job", job_id = %name)
}

#[tokio::test]
async fn a_resumed_execution_runs_in_the_span_the_builder_makes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("engine.db");
    let clock = VirtualClock::starting_2024();
    let calls = Arc::new(AtomicU32::new(0));
    let arn = {
        let engine = durable_engine(
            &db,
            Arc::new(clock.clone()),
            HandlerRegistry::new().with(
                "t",
                Arc::new(Blocking {
                    calls: calls.clone(),
                }),
            ),
        );
        let sm = engine.create_state_machine("sm", &one_task()).unwrap();
        let started = engine
            .start_execution(&sm, Some("job-3"), json!({}))
            .await
            .unwrap();
        wait_until(|| calls.load(Ordering::SeqCst) == 1).await;
        engine.shutdown();
        started.execution_arn
    };

    let (logs, _guard) = Captured::install();
    let engine = Engine::builder()
        .store(statemachine::HistoryStore::open(&db).unwrap())
        .clock(Arc::new(clock))
        .handlers(panicking())
        .execution_span(job_id_span)
        .build();
    assert_eq!(engine.resume_all().unwrap(), 1);
    assert_eq!(
        engine.wait(&arn).await.unwrap().status,
        ExecutionStatus::Failed
    );
    let lines = logs.lines(PANIC_LINE);
    assert_eq!(lines.len(), 1, "{}", logs.text());
    assert_eq!(lines[0]["span"]["job_id"], "job-3", "{}", lines[0]);
}
