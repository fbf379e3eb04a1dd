//! Durability: an engine dropped mid-execution (blocked in a handler, or waiting in a retry
//! backoff) is reopened on the same SQLite file, resumes, never re-runs a completed state,
//! and the history stays continuous. Also redrive.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use common::*;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use statemachine::{
    Clock, ExecutionStatus, FnHandler, GroupCommit, HandlerRegistry, HistoryStore, TaskFailure,
    VirtualClock,
};

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

/// An engine on `db` whose store keeps up to `max_events` buffered events and never writes
/// them for age alone, so a test decides exactly which events a crash loses.
fn engine_with_bound(
    db: &std::path::Path,
    max_events: usize,
    clock: Arc<dyn Clock>,
    handlers: HandlerRegistry,
) -> statemachine::Engine {
    let policy = GroupCommit {
        max_events,
        max_delay: std::time::Duration::from_secs(3600),
    };
    statemachine::Engine::builder()
        .store(HistoryStore::open_with(db, policy).unwrap())
        .clock(clock)
        .handlers(handlers)
        .build()
}

/// A fixed clock that "kills the process" (shuts the engine down, as a crash would) when
/// asked for the time for the `kill_at`-th time after being armed.
struct KillingClock {
    now: DateTime<Utc>,
    calls: AtomicU32,
    kill_at: u32,
    engine: std::sync::Mutex<Option<statemachine::Engine>>,
}

impl Clock for KillingClock {
    fn now(&self) -> DateTime<Utc> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.kill_at
            && let Some(engine) = self.engine.lock().unwrap().take()
        {
            engine.shutdown();
        }
        self.now
    }
    fn sleep_until(&self, _t: DateTime<Utc>) -> BoxFuture<'static, ()> {
        Box::pin(futures::future::pending())
    }
}

fn pass_chain(n: usize) -> String {
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let mut s = json!({"Type": "Pass", "Result": format!("P{i:03}"), "ResultPath": "$.last"});
        if i + 1 < n {
            s["Next"] = json!(format!("P{:03}", i + 1));
        } else {
            s["End"] = json!(true);
        }
        states.insert(format!("P{i:03}"), s);
    }
    json!({"StartAt": "P000", "States": states}).to_string()
}

#[tokio::test]
async fn crash_in_a_pure_chain_loses_only_buffered_events_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("engine.db");
    let t0 = VirtualClock::starting_2024().now();
    // Event ids: 1 ExecutionStarted (written with the execution), then each Pass state
    // emits Entered and Exited; the clock is asked once per event. The run dies when it asks
    // for event 75's time, so events 2..=74 were emitted. With 16 events per group commit,
    // 2..=65 were written in four transactions and 66..=74 were still buffered.
    let clock = Arc::new(KillingClock {
        now: t0,
        calls: AtomicU32::new(0),
        kill_at: 75,
        engine: std::sync::Mutex::new(None),
    });
    let exec = {
        let engine = engine_with_bound(&db, 16, clock.clone(), HandlerRegistry::new());
        let sm = engine
            .create_state_machine("chain", &pass_chain(100))
            .unwrap();
        *clock.engine.lock().unwrap() = Some(engine.clone());
        clock.calls.store(0, Ordering::SeqCst);
        let s = engine
            .start_execution(&sm, Some("c"), json!({"job": "j"}))
            .await
            .unwrap();
        let c = clock.clone();
        wait_until(move || c.calls.load(Ordering::SeqCst) >= 75).await;
        // Let the run observe that it was closed and return.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        s.execution_arn
        // The engine and its store are dropped here without writing the buffer.
    };
    assert!(
        clock.engine.lock().unwrap().is_none(),
        "the crash did not happen"
    );

    let engine = durable_engine(&db, Arc::new(VirtualClock::new(t0)), HandlerRegistry::new());
    assert_eq!(
        engine.describe_execution(&exec).unwrap().status,
        ExecutionStatus::Running
    );
    let durable = engine.history(&exec).unwrap();
    assert_continuous(&durable);
    assert_eq!(
        durable.len(),
        65,
        "the durable prefix ends at the last group commit; the 9 buffered events are lost"
    );

    assert_eq!(engine.resume_all().unwrap(), 1);
    let done = engine.wait(&exec).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(
        done.output_json().unwrap(),
        json!({"job": "j", "last": "P099"})
    );
    let h = engine.history(&exec).unwrap();
    assert_continuous(&h);
    assert_eq!(h.len(), 202);
    assert_eq!(
        &h[..65],
        &durable[..],
        "the durable prefix is kept as it was"
    );
    let entered: Vec<String> = h
        .iter()
        .filter(|e| e.event_type == "PassStateEntered")
        .map(|e| e.detail_str("name").unwrap().to_string())
        .collect();
    let expected: Vec<String> = (0..100).map(|i| format!("P{i:03}")).collect();
    assert_eq!(entered, expected, "every state exactly once, in order");
}

/// A clock whose sleeps never end and that counts them: the process dies in a Wait state.
struct SleepingForever {
    now: DateTime<Utc>,
    sleeps: Arc<AtomicU32>,
}

impl Clock for SleepingForever {
    fn now(&self) -> DateTime<Utc> {
        self.now
    }
    fn sleep_until(&self, _t: DateTime<Utc>) -> BoxFuture<'static, ()> {
        self.sleeps.fetch_add(1, Ordering::SeqCst);
        Box::pin(futures::future::pending())
    }
}

#[tokio::test]
async fn crash_in_a_wait_state_resumes_on_the_recorded_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("engine.db");
    let t0 = VirtualClock::starting_2024().now();
    let def = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass", "Next": "Hold"},
        "Hold": {"Type": "Wait", "Seconds": 60, "Next": "C"},
        "C": {"Type": "Pass", "End": true}}})
    .to_string();
    let sleeps = Arc::new(AtomicU32::new(0));
    let exec = {
        // A bound no chain here reaches: only the flush before the sleep writes events.
        let engine = engine_with_bound(
            &db,
            10_000,
            Arc::new(SleepingForever {
                now: t0,
                sleeps: sleeps.clone(),
            }),
            HandlerRegistry::new(),
        );
        let sm = engine.create_state_machine("wait", &def).unwrap();
        let s = engine
            .start_execution(&sm, Some("w"), json!({"v": 1}))
            .await
            .unwrap();
        let n = sleeps.clone();
        wait_until(move || n.load(Ordering::SeqCst) == 1).await;
        engine.shutdown();
        s.execution_arn
    };
    let clock = VirtualClock::new(t0 + chrono::Duration::seconds(10));
    let engine = durable_engine(&db, Arc::new(clock.clone()), HandlerRegistry::new());
    let durable = engine.history(&exec).unwrap();
    assert_eq!(
        types(&durable).last(),
        Some(&"WaitStateEntered"),
        "everything up to the Wait was written before the sleep"
    );
    engine.resume_all().unwrap();
    let done = engine.wait(&exec).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let h = engine.history(&exec).unwrap();
    assert_continuous(&h);
    let at = |ty: &str| h.iter().find(|e| e.event_type == ty).unwrap().timestamp;
    // Measured from the recorded entry, not from the restart.
    assert_eq!(
        (at("WaitStateExited") - at("WaitStateEntered")).num_seconds(),
        60
    );
    assert_eq!(at("WaitStateExited"), t0 + chrono::Duration::seconds(60));
    assert_eq!(
        h.iter()
            .filter(|e| e.event_type == "WaitStateEntered")
            .count(),
        1
    );
}

/// Group commit across a Task: the task's outcome is durable as soon as it is known, the
/// pure transitions after it are not; a crash there re-runs only those.
#[tokio::test]
async fn crash_after_a_task_outcome_does_not_rerun_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("engine.db");
    let t0 = VirtualClock::starting_2024().now();
    let quick_calls = Arc::new(AtomicU32::new(0));
    let blocked_calls = Arc::new(AtomicU32::new(0));
    // Branch 0 blocks in its handler (written before the call); branch 1 runs a task, then
    // Pass states that stay buffered while the Parallel waits for branch 0.
    let def = json!({"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": true,
        "Branches": [
            {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": arn("slow"), "End": true}}},
            {"StartAt": "Quick", "States": {
                "Quick": {"Type": "Task", "Resource": arn("quick"), "Next": "P1"},
                "P1": {"Type": "Pass", "Next": "P2"},
                "P2": {"Type": "Pass", "End": true}}}]}}})
    .to_string();
    let exec = {
        let engine = engine_with_bound(
            &db,
            10_000,
            Arc::new(FrozenClock(t0)),
            HandlerRegistry::new()
                .with("quick", Counting::new(&quick_calls))
                .with(
                    "slow",
                    Arc::new(Blocking {
                        calls: blocked_calls.clone(),
                    }),
                ),
        );
        let sm = engine.create_state_machine("par", &def).unwrap();
        let s = engine
            .start_execution(&sm, Some("p"), json!({"v": 1}))
            .await
            .unwrap();
        let (q, b) = (quick_calls.clone(), blocked_calls.clone());
        wait_until(move || q.load(Ordering::SeqCst) == 1 && b.load(Ordering::SeqCst) == 1).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        engine.shutdown();
        s.execution_arn
    };
    let engine = durable_engine(
        &db,
        Arc::new(VirtualClock::new(t0)),
        HandlerRegistry::new()
            .with("quick", Counting::new(&quick_calls))
            .with("slow", Counting::new(&blocked_calls)),
    );
    let durable = engine.history(&exec).unwrap();
    assert!(
        types(&durable).contains(&"LambdaFunctionSucceeded"),
        "a task outcome is written when it is known: {:?}",
        types(&durable)
    );
    assert!(
        !types(&durable).contains(&"PassStateEntered"),
        "pure transitions after it were still buffered: {:?}",
        types(&durable)
    );
    engine.resume_all().unwrap();
    let done = engine.wait(&exec).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(
        quick_calls.load(Ordering::SeqCst),
        1,
        "a completed task ran again"
    );
    assert_eq!(blocked_calls.load(Ordering::SeqCst), 2);
    let h = engine.history(&exec).unwrap();
    assert_continuous(&h);
    assert_eq!(
        h.iter()
            .filter(|e| e.event_type == "PassStateEntered")
            .count(),
        2
    );
    let out = done.output_json().unwrap();
    assert_eq!(out[1]["seen"]["v"], 1);
}
