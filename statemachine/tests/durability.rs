//! Durability: an engine dropped mid-execution (blocked in a handler, or waiting in a retry
//! backoff) is reopened on the same SQLite file, resumes, never re-runs a completed state,
//! and the history stays continuous. Also redrive.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::*;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use statemachine::{
    Clock, ExecutionStatus, FnHandler, HandlerRegistry, InvocationContext, TaskFailure,
    TaskHandler, VirtualClock,
};

struct Blocking {
    calls: Arc<AtomicU32>,
}

#[async_trait]
impl TaskHandler for Blocking {
    async fn invoke(&self, _payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        futures::future::pending().await
    }
}

/// A clock whose sleeps never finish: the process "dies" while waiting.
struct FrozenClock(DateTime<Utc>);

impl Clock for FrozenClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
    fn sleep_until(&self, _t: DateTime<Utc>) -> BoxFuture<'static, ()> {
        Box::pin(futures::future::pending())
    }
}

fn two_step() -> String {
    json!({"StartAt": "First", "States": {
        "First": {"Type": "Task", "Resource": arn("first"), "ResultPath": "$.first", "Next": "Second"},
        "Second": {"Type": "Task", "Resource": arn("second"), "ResultPath": "$.second", "End": true}}})
    .to_string()
}

#[tokio::test]
async fn resume_after_crash_in_a_handler_does_not_rerun_completed_states() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("engine.db");
    let first_calls = Arc::new(AtomicU32::new(0));
    let second_calls = Arc::new(AtomicU32::new(0));
    let clock = VirtualClock::starting_2024();

    let arn_exec = {
        let engine = durable_engine(
            &db,
            Arc::new(clock.clone()),
            HandlerRegistry::new()
                .with("first", Counting::new(&first_calls))
                .with(
                    "second",
                    Arc::new(Blocking {
                        calls: second_calls.clone(),
                    }),
                ),
        );
        let sm = engine.create_state_machine("durable", &two_step()).unwrap();
        let s = engine
            .start_execution(&sm, Some("job-1"), json!({"job_id": "job-1"}))
            .await
            .unwrap();
        let calls = second_calls.clone();
        wait_until(|| calls.load(Ordering::SeqCst) == 1).await;
        engine.shutdown();
        s.execution_arn
    };

    let engine = durable_engine(
        &db,
        Arc::new(clock.clone()),
        HandlerRegistry::new()
            .with("first", Counting::new(&first_calls))
            .with("second", Counting::new(&second_calls)),
    );
    assert_eq!(
        engine.describe_execution(&arn_exec).unwrap().status,
        ExecutionStatus::Running
    );
    assert_eq!(engine.resume_all().unwrap(), 1);
    let done = engine.wait(&arn_exec).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(
        first_calls.load(Ordering::SeqCst),
        1,
        "a completed state ran again"
    );
    assert_eq!(
        second_calls.load(Ordering::SeqCst),
        2,
        "the interrupted task is invoked again"
    );
    let out = done.output_json().unwrap();
    assert_eq!(out["first"]["seen"]["job_id"], "job-1");
    assert_eq!(out["second"]["seen"]["first"]["seen"]["job_id"], "job-1");
    let h = engine.history(&arn_exec).unwrap();
    assert_continuous(&h);
    let entered: Vec<_> = h
        .iter()
        .filter(|e| e.event_type == "TaskStateEntered")
        .map(|e| e.detail_str("name").unwrap_or_default().to_string())
        .collect();
    assert_eq!(entered, vec!["First", "Second"]);
}

#[tokio::test]
async fn resume_in_retry_backoff_keeps_the_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("engine.db");
    let calls = Arc::new(AtomicU32::new(0));
    let t0 = VirtualClock::starting_2024().now();
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": arn("flaky"),
        "Retry": [{"ErrorEquals": ["PetAvatar.Transient"], "IntervalSeconds": 30, "MaxAttempts": 2}], "End": true}}})
    .to_string();
    let flaky = {
        let calls = calls.clone();
        move || {
            let calls = calls.clone();
            Arc::new(FnHandler(move |p: Value, _| {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(TaskFailure::new("PetAvatar.Transient", "throttled"))
                } else {
                    Ok(p)
                }
            }))
        }
    };
    let exec = {
        let engine = durable_engine(
            &db,
            Arc::new(FrozenClock(t0)),
            HandlerRegistry::new().with("flaky", flaky()),
        );
        let sm = engine.create_state_machine("backoff", &def).unwrap();
        let s = engine
            .start_execution(&sm, Some("b"), json!({"v": 1}))
            .await
            .unwrap();
        let c = calls.clone();
        wait_until(|| c.load(Ordering::SeqCst) == 1).await;
        // Let the failure event reach the store, then "crash" while sleeping.
        let e2 = engine.clone();
        let a2 = s.execution_arn.clone();
        wait_until(move || {
            e2.history(&a2)
                .unwrap()
                .iter()
                .any(|e| e.event_type == "LambdaFunctionFailed")
        })
        .await;
        engine.shutdown();
        s.execution_arn
    };
    let clock = VirtualClock::new(t0 + chrono::Duration::seconds(10));
    let engine = durable_engine(
        &db,
        Arc::new(clock.clone()),
        HandlerRegistry::new().with("flaky", flaky()),
    );
    engine.resume_all().unwrap();
    let done = engine.wait(&exec).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let h = engine.history(&exec).unwrap();
    assert_continuous(&h);
    let failed = h
        .iter()
        .find(|e| e.event_type == "LambdaFunctionFailed")
        .unwrap()
        .timestamp;
    let rescheduled = h
        .iter()
        .filter(|e| e.event_type == "LambdaFunctionScheduled")
        .nth(1)
        .unwrap()
        .timestamp;
    // The backoff is measured from the failure, not from the restart.
    assert_eq!((rescheduled - failed).num_seconds(), 30);
}

#[tokio::test]
async fn redrive_restarts_from_the_failed_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("engine.db");
    let first_calls = Arc::new(AtomicU32::new(0));
    let second_calls = Arc::new(AtomicU32::new(0));
    let clock = VirtualClock::starting_2024();
    let fail_second = Arc::new(AtomicU32::new(1));
    let second = {
        let calls = second_calls.clone();
        let fail = fail_second.clone();
        Arc::new(FnHandler(move |p: Value, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            if fail.load(Ordering::SeqCst) == 1 {
                Err(TaskFailure::new("PetAvatar.ModelOutput", "bad output"))
            } else {
                Ok(p)
            }
        }))
    };
    let engine = durable_engine(
        &db,
        Arc::new(clock.clone()),
        HandlerRegistry::new()
            .with("first", Counting::new(&first_calls))
            .with("second", second),
    );
    let sm = engine.create_state_machine("redrive", &two_step()).unwrap();
    let s = engine
        .start_execution(&sm, Some("r"), json!({}))
        .await
        .unwrap();
    let failed = engine.wait(&s.execution_arn).await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    fail_second.store(0, Ordering::SeqCst);
    engine.redrive_execution(&s.execution_arn).await.unwrap();
    let done = engine.wait(&s.execution_arn).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.redrive_count, 1);
    assert_eq!(first_calls.load(Ordering::SeqCst), 1);
    assert_eq!(second_calls.load(Ordering::SeqCst), 2);
    let h = engine.history(&s.execution_arn).unwrap();
    let ty: Vec<&str> = h.iter().map(|e| e.event_type.as_str()).collect();
    assert!(ty.contains(&"ExecutionRedriven"));
    assert_eq!(ty.last(), Some(&"ExecutionSucceeded"));
    assert_continuous(&h);
}
