//! Engine behaviour on a virtual clock: retry schedule, catch, Parallel, Map, Wait,
//! timeouts, idempotent start, paging, stop, status broadcast.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::*;
use serde_json::{Value, json};
use statemachine::{
    Clock, EngineError, ExecutionDescription, ExecutionStatus, FnHandler, HANDLER_CRASHED_ERROR,
    HandlerRegistry, HistoryEvent, HistoryQuery, InvocationContext, TaskFailure, TaskHandler,
    VirtualClock,
};

fn times_of(h: &[HistoryEvent], ty: &str) -> Vec<DateTime<Utc>> {
    h.iter()
        .filter(|e| e.event_type == ty)
        .map(|e| e.timestamp)
        .collect()
}

struct Flaky {
    calls: AtomicU32,
    fail_times: u32,
    error: &'static str,
}

impl Flaky {
    /// Fails `fail_times` times with `error`, then succeeds.
    fn new(fail_times: u32, error: &'static str) -> Arc<Flaky> {
        Arc::new(Flaky {
            calls: AtomicU32::new(0),
            fail_times,
            error,
        })
    }
}

#[async_trait]
impl TaskHandler for Flaky {
    async fn invoke(&self, payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_times {
            Err(TaskFailure::new(
                self.error,
                json!({"errorType": self.error, "errorMessage": "boom"}).to_string(),
            ))
        } else {
            Ok(json!({"ok": true, "payload": payload}))
        }
    }
}

fn retry_def() -> Value {
    json!({
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task", "Resource": arn("flaky"),
                "Retry": [{"ErrorEquals": ["PetAvatar.Transient"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                "End": true
            },
            "Failed": {"Type": "Pass", "End": true}
        }
    })
}

#[tokio::test]
async fn retry_schedule_is_1_2_4_seconds_then_catch() {
    let flaky = Flaky::new(99, "PetAvatar.Transient");
    let (_, engine) = virtual_engine(HandlerRegistry::new().with("flaky", flaky.clone()));
    let (done, h) = run_to_end(&engine, &retry_def(), json!({"job_id": "j1"})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 4);
    let failed = times_of(&h, "LambdaFunctionFailed");
    let scheduled = times_of(&h, "LambdaFunctionScheduled");
    let gaps: Vec<i64> = (0..3)
        .map(|i| (scheduled[i + 1] - failed[i]).num_milliseconds())
        .collect();
    assert_eq!(gaps, vec![1000, 2000, 4000]);
    let out = done.output_json().unwrap();
    assert_eq!(out["job_id"], "j1");
    assert_eq!(out["error"]["Error"], "PetAvatar.Transient");
    assert!(out["error"]["Cause"].as_str().unwrap().contains("boom"));
    assert_continuous(&h);
}

#[tokio::test]
async fn permanent_errors_are_not_retried() {
    let flaky = Flaky::new(99, "PetAvatar.NotAPet");
    let (_, engine) = virtual_engine(HandlerRegistry::new().with("flaky", flaky.clone()));
    let (done, h) = run_to_end(&engine, &retry_def(), json!({})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 1);
    assert!(types(&h).contains(&"TaskStateExited"));
    assert_eq!(
        done.output_json().unwrap()["error"]["Error"],
        "PetAvatar.NotAPet"
    );
}

#[tokio::test]
async fn transient_error_then_success_continues() {
    let flaky = Flaky::new(2, "PetAvatar.Transient");
    let (clock, engine) = virtual_engine(HandlerRegistry::new().with("flaky", flaky.clone()));
    let start = clock.now();
    let (done, _) = run_to_end(&engine, &retry_def(), json!({"a": 1})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(
        done.output_json().unwrap(),
        json!({"ok": true, "payload": {"a": 1}})
    );
    assert_eq!((clock.now() - start).num_seconds(), 3);
}

#[tokio::test]
async fn uncaught_failure_fails_the_execution_with_error_and_cause() {
    let (_, engine) = virtual_engine(HandlerRegistry::new().with(
        "f",
        Arc::new(FnHandler(|_: Value, _| {
            Err(TaskFailure::new("Boom", "why"))
        })),
    ));
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": arn("f"), "End": true}}});
    let (done, h) = run_to_end(&engine, &def, json!({})).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("Boom"));
    assert_eq!(done.cause.as_deref(), Some("why"));
    assert_eq!(types(&h).last(), Some(&"ExecutionFailed"));
}

/// Panics on every call, counting them.
struct Panicking {
    calls: AtomicU32,
}

#[async_trait]
impl TaskHandler for Panicking {
    async fn invoke(&self, _payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        panic!("handler bug");
    }
}

/// Runs `def` with a panicking `boom` handler; a hang (the driver killed by the panic, the
/// execution left RUNNING) fails the test instead of blocking it.
async fn run_with_panicking_handler(def: Value) -> (ExecutionDescription, Vec<HistoryEvent>, u32) {
    let boom = Arc::new(Panicking {
        calls: AtomicU32::new(0),
    });
    let (_, engine) = virtual_engine(HandlerRegistry::new().with("boom", boom.clone()));
    let (done, h) = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        run_to_end(&engine, &def, json!({"a": 1})),
    )
    .await
    .expect("the execution hung after a handler panic");
    (done, h, boom.calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn a_panicking_handler_fails_the_task_as_a_crashed_lambda() {
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": arn("boom"), "End": true}}});
    let (done, h, calls) = run_with_panicking_handler(def).await;
    assert_eq!(calls, 1);
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some(HANDLER_CRASHED_ERROR));
    assert_eq!(HANDLER_CRASHED_ERROR, "Lambda.Unknown");
    let cause: Value = serde_json::from_str(done.cause.as_deref().unwrap()).unwrap();
    assert_eq!(cause["errorType"], "Runtime.ExitError");
    assert!(
        cause["errorMessage"]
            .as_str()
            .unwrap()
            .contains("handler bug")
    );
    assert_eq!(
        types(&h)[2..],
        [
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionFailed",
            "ExecutionFailed"
        ]
    );
    let failed = &h[4];
    assert_eq!(failed.detail_str("error"), Some("Lambda.Unknown"));
}

#[tokio::test]
async fn a_panicking_handler_is_retried_and_caught() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": arn("boom"), "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["Lambda.Unknown"], "IntervalSeconds": 1, "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Caught"}],
            "End": true},
        "Caught": {"Type": "Pass", "End": true}}});
    let (done, h, calls) = run_with_panicking_handler(def).await;
    assert_eq!(calls, 3, "one call and two retries");
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let out = done.output_json().unwrap();
    assert_eq!(out["a"], 1);
    assert_eq!(out["error"]["Error"], "Lambda.Unknown");
    assert_eq!(types(&h).iter().filter(|t| **t == "TaskFailed").count(), 3);
}

#[tokio::test]
async fn unknown_function_is_lambda_resource_not_found() {
    let (_, engine) = virtual_engine(HandlerRegistry::new());
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "nope", "Payload.$": "$"}, "End": true}}});
    let (done, _) = run_to_end(&engine, &def, json!({})).await;
    assert_eq!(
        done.error.as_deref(),
        Some("Lambda.ResourceNotFoundException")
    );
    assert!(done.cause.unwrap().starts_with(
        "Function not found: arn:aws:lambda:local:000000000000:function:nope:$LATEST"
    ));
}

#[tokio::test]
async fn lambda_invoke_wraps_the_result() {
    let (_, engine) = virtual_engine(
        HandlerRegistry::new().with("echo", Arc::new(FnHandler(|p: Value, _| Ok(p)))),
    );
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": arn("echo"), "Payload.$": "$"}, "ResultSelector": {"p.$": "$.Payload", "s.$": "$.StatusCode"}, "End": true}}});
    let (done, h) = run_to_end(&engine, &def, json!({"x": 1})).await;
    assert_eq!(
        done.output_json().unwrap(),
        json!({"p": {"x": 1}, "s": 200})
    );
    assert_eq!(
        types(&h)[2..5],
        ["TaskScheduled", "TaskStarted", "TaskSucceeded"]
    );
}

#[tokio::test]
async fn parallel_collects_branch_outputs_in_order() {
    let (_, engine) = virtual_engine(HandlerRegistry::new());
    let def = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 5, "Next": "A"}, "A": {"Type": "Pass", "Result": "a", "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": true}}}
    ]}}});
    let (done, h) = run_to_end(&engine, &def, json!({})).await;
    assert_eq!(done.output_json().unwrap(), json!(["a", "b"]));
    assert_eq!(types(&h).last(), Some(&"ExecutionSucceeded"));
    assert!(types(&h).contains(&"ParallelStateSucceeded"));
}

#[tokio::test]
async fn parallel_failure_is_caught() {
    let (_, engine) = virtual_engine(HandlerRegistry::new());
    let def = json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "Ok", "Catch": [{"ErrorEquals": ["X"], "Next": "Caught"}], "Branches": [
            {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "X", "Cause": "c"}}}]},
        "Ok": {"Type": "Succeed"}, "Caught": {"Type": "Pass", "End": true}}});
    let (done, h) = run_to_end(&engine, &def, json!({})).await;
    assert_eq!(
        done.output_json().unwrap(),
        json!({"Error": "X", "Cause": "c"})
    );
    assert!(types(&h).contains(&"ParallelStateFailed"));
}

#[tokio::test]
async fn map_runs_items_with_selector_sequential_and_concurrent() {
    for max in [0, 1, 2] {
        let (_, engine) = virtual_engine(HandlerRegistry::new().with(
            "double",
            Arc::new(FnHandler(|p: Value, _| {
                Ok(json!(p["v"].as_i64().unwrap_or(0) * 2))
            })),
        ));
        let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": max,
            "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
            "ItemProcessor": {"StartAt": "D", "States": {"D": {"Type": "Task", "Resource": arn("double"), "End": true}}},
            "ResultPath": "$.doubled", "End": true}}});
        let (done, h) = run_to_end(&engine, &def, json!({"items": [1, 2, 3]})).await;
        assert_eq!(
            done.output_json().unwrap()["doubled"],
            json!([2, 4, 6]),
            "MaxConcurrency {max}"
        );
        assert_eq!(
            types(&h)
                .iter()
                .filter(|t| **t == "MapIterationSucceeded")
                .count(),
            3
        );
    }
}

#[tokio::test]
async fn wait_advances_virtual_time() {
    let (_, engine) = virtual_engine(HandlerRegistry::new());
    let def = json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "Next": "T"},
        "T": {"Type": "Wait", "Timestamp": "2024-01-01T01:00:00Z", "End": true}}});
    let (done, h) = run_to_end(&engine, &def, json!({"s": 90})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let entered = times_of(&h, "WaitStateEntered");
    let exited = times_of(&h, "WaitStateExited");
    assert_eq!((exited[0] - entered[0]).num_seconds(), 90);
    assert_eq!(exited[1].to_rfc3339(), "2024-01-01T01:00:00+00:00");
}

struct Slow(Arc<dyn Clock>);

#[async_trait]
impl TaskHandler for Slow {
    async fn invoke(&self, payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        let until = self.0.now() + chrono::Duration::seconds(60);
        self.0.sleep_until(until).await;
        Ok(payload)
    }
}

#[tokio::test]
async fn task_timeout_is_states_timeout() {
    let clock = VirtualClock::starting_2024();
    let engine = engine_on(
        &clock,
        HandlerRegistry::new().with("slow", Arc::new(Slow(Arc::new(clock.clone())))),
    );
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": arn("slow"), "TimeoutSeconds": 5, "End": true}}});
    let (done, h) = run_to_end(&engine, &def, json!({})).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("States.Timeout"));
    assert!(types(&h).contains(&"LambdaFunctionTimedOut"));
    let started = times_of(&h, "LambdaFunctionStarted")[0];
    let timed_out = times_of(&h, "LambdaFunctionTimedOut")[0];
    assert_eq!((timed_out - started).num_seconds(), 5);
}

#[tokio::test]
async fn execution_timeout_times_out() {
    let (_, engine) = virtual_engine(HandlerRegistry::new());
    let def = json!({"TimeoutSeconds": 10, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": true}}});
    let (done, h) = run_to_end(&engine, &def, json!({})).await;
    assert_eq!(done.status, ExecutionStatus::TimedOut);
    assert_eq!(types(&h).last(), Some(&"ExecutionTimedOut"));
}

#[tokio::test]
async fn start_is_idempotent_per_name_and_input() {
    let (_, engine) = virtual_engine(HandlerRegistry::new());
    let sm = engine
        .create_state_machine(
            "m",
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#,
        )
        .unwrap();
    let a = engine
        .start_execution(&sm, Some("job-1"), json!({"k": 1}))
        .await
        .unwrap();
    let b = engine
        .start_execution(&sm, Some("job-1"), json!({"k": 1}))
        .await
        .unwrap();
    assert_eq!(a.execution_arn, b.execution_arn);
    assert!(!a.already_existed);
    assert!(b.already_existed);
    let c = engine
        .start_execution(&sm, Some("job-1"), json!({"k": 2}))
        .await;
    assert!(matches!(c, Err(EngineError::ExecutionAlreadyExists(_))));
    engine.wait(&a.execution_arn).await.unwrap();
    assert_eq!(engine.list_executions(Some(&sm)).unwrap().len(), 1);
}

#[tokio::test]
async fn history_pages_forwards_and_backwards() {
    let (_, engine) = virtual_engine(HandlerRegistry::new());
    let def = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": true}}});
    let sm = engine.create_state_machine("p", &def.to_string()).unwrap();
    let s = engine.start_execution(&sm, None, json!({})).await.unwrap();
    engine.wait(&s.execution_arn).await.unwrap();
    let page1 = engine
        .get_execution_history(
            &s.execution_arn,
            HistoryQuery {
                reverse_order: true,
                max_results: Some(4),
                next_token: None,
            },
        )
        .unwrap();
    assert_eq!(
        page1.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![6, 5, 4, 3]
    );
    let page2 = engine
        .get_execution_history(
            &s.execution_arn,
            HistoryQuery {
                reverse_order: true,
                max_results: Some(4),
                next_token: page1.next_token,
            },
        )
        .unwrap();
    assert_eq!(
        page2.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert!(page2.next_token.is_none());
    let json = serde_json::to_value(&page2).unwrap();
    assert_eq!(json["events"][1]["type"], "ExecutionStarted");
    assert!(json["events"][1]["executionStartedEventDetails"]["input"].is_string());
}

struct Never;

#[async_trait]
impl TaskHandler for Never {
    async fn invoke(&self, _payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        futures::future::pending().await
    }
}

#[tokio::test]
async fn stop_execution_aborts_and_broadcasts() {
    let (_, engine) = virtual_engine(HandlerRegistry::new().with("never", Arc::new(Never)));
    let mut rx = engine.subscribe();
    let def = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": arn("never"), "End": true}}});
    let sm = engine.create_state_machine("s", &def.to_string()).unwrap();
    let s = engine
        .start_execution(&sm, Some("x"), json!({}))
        .await
        .unwrap();
    assert_eq!(rx.recv().await.unwrap().status, ExecutionStatus::Running);
    tokio::task::yield_now().await;
    let d = engine
        .stop_execution(&s.execution_arn, Some("Operator"), Some("stopped by test"))
        .await
        .unwrap();
    assert_eq!(d.status, ExecutionStatus::Aborted);
    let change = rx.recv().await.unwrap();
    assert_eq!(change.status, ExecutionStatus::Aborted);
    let h = engine.history(&s.execution_arn).unwrap();
    assert_eq!(types(&h).last(), Some(&"ExecutionAborted"));
}

#[tokio::test]
async fn invalid_definitions_are_rejected_with_diagnostics() {
    let (_, engine) = virtual_engine(HandlerRegistry::new());
    let err = engine
        .create_state_machine("bad", r#"{"StartAt":"A","States":{"A":{"Type":"Pass"}}}"#)
        .unwrap_err();
    assert!(err.to_string().contains("/States/A"), "{err}");
}

#[test]
fn the_pipeline_definition_is_valid() {
    let errors: Vec<_> = statemachine::validate(statemachine::PIPELINE_ASL)
        .into_iter()
        .filter(|d| d.severity == statemachine::Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// States that read `$$` (a path, an intrinsic argument, a Choice variable, a ResultSelector)
/// get the context object; the others skip building it, which must not change anything.
#[tokio::test]
async fn context_object_reaches_every_field_that_names_it() {
    let (_, engine) = virtual_engine(
        HandlerRegistry::new().with("echo", Arc::new(FnHandler(|p: Value, _| Ok(p)))),
    );
    let def = json!({"StartAt": "Plain", "States": {
        "Plain": {"Type": "Pass", "Result": {"k": 1}, "ResultPath": "$.plain", "Next": "Ctx"},
        "Ctx": {"Type": "Pass", "Parameters": {
            "name.$": "$$.State.Name",
            "exec.$": "$$.Execution.Name",
            "input.$": "$$.Execution.Input.job",
            "fmt.$": "States.Format('{}@{}', $$.StateMachine.Name, $$.State.Name)"},
            "ResultPath": "$.ctx", "Next": "Pick"},
        "Pick": {"Type": "Choice", "Choices": [
            {"Variable": "$$.Execution.Input.job", "StringEquals": "j1", "Next": "T"}],
            "Default": "Bad"},
        "Bad": {"Type": "Fail", "Error": "ContextMissing"},
        "T": {"Type": "Task", "Resource": arn("echo"),
            "ResultSelector": {"state.$": "$$.State.Name", "retry.$": "$$.State.RetryCount"},
            "ResultPath": "$.task", "End": true}}});
    let sm = engine
        .create_state_machine("ctx", &def.to_string())
        .unwrap();
    let s = engine
        .start_execution(&sm, Some("run-7"), json!({"job": "j1"}))
        .await
        .unwrap();
    let done = engine.wait(&s.execution_arn).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
    let out = done.output_json().unwrap();
    assert_eq!(out["plain"], json!({"k": 1}));
    assert_eq!(
        out["ctx"],
        json!({"name": "Ctx", "exec": "run-7", "input": "j1", "fmt": "ctx@Ctx"})
    );
    assert_eq!(out["task"], json!({"state": "T", "retry": 0}));
}
