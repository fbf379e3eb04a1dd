//! `QueryLanguage: JSONata` states end to end on a virtual clock: Arguments, Output, Assign
//! and variable scopes, `$states` (input, result, errorOutput, context), Choice conditions,
//! Map Items/ItemSelector, Parallel, Catch, expression-valued number fields, EvaluationFailed,
//! the validation rules separating the two query languages, and replay after a restart.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use common::*;
use serde_json::{Value, json};
use statemachine::{
    Clock, ExecutionDescription, ExecutionStatus, FnHandler, HandlerRegistry, HistoryEvent,
    InvocationContext, StateMachineDefinition, TaskFailure, TaskHandler, VirtualClock,
};

fn echo() -> HandlerRegistry {
    HandlerRegistry::new().with(
        "echo",
        Arc::new(FnHandler(|payload: Value, _ctx| Ok(payload))),
    )
}

async fn run_with(
    handlers: HandlerRegistry,
    def: &Value,
    input: Value,
) -> (ExecutionDescription, Vec<HistoryEvent>) {
    let (_, engine) = virtual_engine(handlers);
    run_to_end(&engine, def, input).await
}

async fn run(def: &Value, input: Value) -> (ExecutionDescription, Vec<HistoryEvent>) {
    run_with(echo(), def, input).await
}

fn event<'a>(h: &'a [HistoryEvent], ty: &str) -> &'a HistoryEvent {
    h.iter()
        .find(|e| e.event_type == ty)
        .unwrap_or_else(|| panic!("no {ty} in {:?}", types(h)))
}

fn detail(e: &HistoryEvent, member: &str) -> Value {
    e.details
        .as_ref()
        .and_then(|d| d.get(member))
        .cloned()
        .unwrap_or(Value::Null)
}

fn jsonata(states: Value, start: &str) -> Value {
    json!({"QueryLanguage": "JSONata", "StartAt": start, "States": states})
}

#[tokio::test]
async fn output_and_assign_see_the_state_input_and_the_old_variables() {
    let def = jsonata(
        json!({
            "First": {"Type": "Pass", "Assign": {"n": 1, "greeting": "{% 'hi ' & $states.input.name %}"}, "Next": "Second"},
            "Second": {"Type": "Pass",
                "Assign": {"n": "{% $n + 1 %}", "old": "{% $n %}"},
                "Output": {"sum": "{% $n + $sum($states.input.values) %}", "literal": " {% not an expression %} ", "greeting": "{% $greeting %}"},
                "End": true}
        }),
        "First",
    );
    let (done, h) = run(&def, json!({"name": "Rex", "values": [1, 2, 3]})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    // Output used n = 1 (the value before the state), not the n it assigns.
    assert_eq!(
        done.output_json().unwrap(),
        json!({"sum": 7, "literal": " {% not an expression %} ", "greeting": "hi Rex"})
    );
    let exits: Vec<&HistoryEvent> = h
        .iter()
        .filter(|e| e.event_type == "PassStateExited")
        .collect();
    assert_eq!(
        detail(exits[1], "assignedVariables"),
        json!({"n": "2", "old": "1"})
    );
    // The first state's output is its input (no Output field).
    assert_eq!(
        exits[0].detail_json("output").unwrap(),
        json!({"name": "Rex", "values": [1, 2, 3]})
    );
}

#[tokio::test]
async fn task_arguments_result_and_expression_timeouts() {
    let def = jsonata(
        json!({
            "Call": {"Type": "Task", "Resource": arn("echo"),
                "Arguments": {"job": "{% $states.input.job_id %}", "ctx": "{% $states.context.State.Name %}"},
                "TimeoutSeconds": "{% $states.input.timeout %}",
                "Output": {"from_result": "{% $states.result.job %}", "from_input": "{% $states.input.timeout %}"},
                "Assign": {"saved": "{% $states.result %}"},
                "Next": "Read"},
            "Read": {"Type": "Pass", "Output": "{% $saved.ctx %}", "End": true}
        }),
        "Call",
    );
    let (done, h) = run(&def, json!({"job_id": "j-1", "timeout": 30})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{:?}", done.cause);
    let scheduled = event(&h, "LambdaFunctionScheduled");
    assert_eq!(
        scheduled.detail_json("input").unwrap(),
        json!({"job": "j-1", "ctx": "Call"})
    );
    assert_eq!(detail(scheduled, "timeoutInSeconds"), json!(30));
    let exited = event(&h, "TaskStateExited");
    assert_eq!(
        exited.detail_json("output").unwrap(),
        json!({"from_result": "j-1", "from_input": 30})
    );
    assert_eq!(done.output_json().unwrap(), json!("Call"));
}

#[tokio::test]
async fn without_arguments_a_task_receives_the_state_input() {
    let def = jsonata(
        json!({"Call": {"Type": "Task", "Resource": arn("echo"), "End": true}}),
        "Call",
    );
    let (done, _) = run(&def, json!({"a": 1})).await;
    assert_eq!(done.output_json().unwrap(), json!({"a": 1}));
}

fn failing() -> HandlerRegistry {
    HandlerRegistry::new().with(
        "boom",
        Arc::new(FnHandler(|_payload: Value, _ctx| {
            Err(TaskFailure::new("Custom.Error", "it broke"))
        })),
    )
}

#[tokio::test]
async fn catch_output_and_assign_see_the_error_output() {
    let def = jsonata(
        json!({
            "Call": {"Type": "Task", "Resource": arn("boom"),
                "Assign": {"never": "{% $states.result %}"},
                "Catch": [{"ErrorEquals": ["States.ALL"],
                    "Assign": {"err": "{% $states.errorOutput.Error %}"},
                    "Output": {"input": "{% $states.input %}", "cause": "{% $states.errorOutput.Cause %}"},
                    "Next": "Handled"}],
                "End": true},
            "Handled": {"Type": "Pass", "Output": {"caught": "{% $err %}", "was": "{% $states.input %}"}, "End": true}
        }),
        "Call",
    );
    let (done, h) = run_with(failing(), &def, json!({"x": 1})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{:?}", done.cause);
    assert_eq!(
        done.output_json().unwrap(),
        json!({"caught": "Custom.Error", "was": {"input": {"x": 1}, "cause": "it broke"}})
    );
    let exited = event(&h, "TaskStateExited");
    assert_eq!(
        detail(exited, "assignedVariables"),
        json!({"err": "\"Custom.Error\""})
    );
}

#[tokio::test]
async fn a_catcher_without_output_passes_the_error_output() {
    let def = jsonata(
        json!({
            "Call": {"Type": "Task", "Resource": arn("boom"),
                "Catch": [{"ErrorEquals": ["Custom.Error"], "Next": "Handled"}], "End": true},
            "Handled": {"Type": "Succeed"}
        }),
        "Call",
    );
    let (done, _) = run_with(failing(), &def, json!({})).await;
    assert_eq!(
        done.output_json().unwrap(),
        json!({"Error": "Custom.Error", "Cause": "it broke"})
    );
}

#[tokio::test]
async fn choice_conditions_rule_output_and_default_assign() {
    let def = jsonata(
        json!({
            "Decide": {"Type": "Choice",
                "Choices": [
                    {"Condition": "{% $states.input.value > 10 %}", "Output": {"big": "{% $states.input.value %}"}, "Next": "Done"},
                    {"Condition": false, "Next": "Done"}
                ],
                "Default": "Done",
                "Assign": {"took_default": true},
                "Output": "small"},
            "Done": {"Type": "Pass", "End": true}
        }),
        "Decide",
    );
    let (big, h) = run(&def, json!({"value": 42})).await;
    assert_eq!(big.output_json().unwrap(), json!({"big": 42}));
    assert_eq!(
        detail(event(&h, "ChoiceStateExited"), "assignedVariables"),
        Value::Null
    );
    let (small, h) = run(&def, json!({"value": 1})).await;
    assert_eq!(small.output_json().unwrap(), json!("small"));
    assert_eq!(
        detail(event(&h, "ChoiceStateExited"), "assignedVariables"),
        json!({"took_default": "true"})
    );
}

#[tokio::test]
async fn a_non_boolean_condition_is_a_query_evaluation_error() {
    let def = jsonata(
        json!({
            "Decide": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.value %}", "Next": "Done"}]},
            "Done": {"Type": "Succeed"}
        }),
        "Decide",
    );
    let (done, h) = run(&def, json!({"value": "yes"})).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("States.QueryEvaluationError"));
    assert_eq!(
        detail(event(&h, "EvaluationFailed"), "location"),
        json!("Condition")
    );
}

#[tokio::test]
async fn map_items_item_selector_and_scoped_variables() {
    let def = jsonata(
        json!({
            "Init": {"Type": "Pass", "Assign": {"factor": 10, "inner": "outer"}, "Next": "Each"},
            "Each": {"Type": "Map",
                "Items": "{% $states.input.numbers %}",
                "MaxConcurrency": "{% 2 %}",
                "ItemSelector": {"value": "{% $states.context.Map.Item.Value %}", "index": "{% $states.context.Map.Item.Index %}", "factor": "{% $factor %}"},
                "ItemProcessor": {"StartAt": "Scale", "States": {
                    "Scale": {"Type": "Pass", "Assign": {"inner": "{% $states.input.index %}"},
                        "Output": "{% $states.input.value * $states.input.factor %}", "End": true}}},
                "Output": {"scaled": "{% $states.result %}", "inner": "{% $inner %}"},
                "End": true}
        }),
        "Init",
    );
    let (done, h) = run(&def, json!({"numbers": [1, 2, 3]})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{:?}", done.cause);
    // Assignments inside iterations stay there: `inner` is still the outer value.
    assert_eq!(
        done.output_json().unwrap(),
        json!({"scaled": [10, 20, 30], "inner": "outer"})
    );
    assert_eq!(detail(event(&h, "MapStateStarted"), "length"), json!(3));
}

#[tokio::test]
async fn distributed_map_iterations_do_not_see_outer_variables() {
    let def = |mode: &str| {
        jsonata(
            json!({
                "Init": {"Type": "Pass", "Assign": {"outer": 1}, "Next": "Each"},
                "Each": {"Type": "Map", "Items": [1],
                    "ItemProcessor": {"ProcessorConfig": {"Mode": mode}, "StartAt": "Read",
                        "States": {"Read": {"Type": "Pass", "Output": "{% $outer %}", "End": true}}},
                    "End": true}
            }),
            "Init",
        )
    };
    let (inline, _) = run(&def("INLINE"), json!({})).await;
    assert_eq!(inline.output_json().unwrap(), json!([1]));
    let (distributed, _) = run(&def("DISTRIBUTED"), json!({})).await;
    assert_eq!(distributed.status, ExecutionStatus::Failed);
    assert_eq!(
        distributed.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
}

#[tokio::test]
async fn map_items_must_be_an_array() {
    let def = jsonata(
        json!({"Each": {"Type": "Map", "Items": "{% $states.input.n %}",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}),
        "Each",
    );
    let (done, h) = run(&def, json!({"n": 5})).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(
        types(&h),
        vec![
            "ExecutionStarted",
            "MapStateEntered",
            "EvaluationFailed",
            "MapStateFailed",
            "ExecutionFailed"
        ]
    );
    assert_eq!(
        done.cause.as_deref(),
        Some(
            "An error occurred while executing the state 'Each' (entered at the event id #2). The JSONata expression '$states.input.n' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was 'number' for value: 5"
        )
    );
}

#[tokio::test]
async fn parallel_arguments_and_branch_results() {
    let def = jsonata(
        json!({"Both": {"Type": "Parallel",
            "Arguments": {"v": "{% $states.input.v %}"},
            "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"leak": 1}, "Output": "{% $states.input.v + 1 %}", "End": true}}},
                {"StartAt": "B", "States": {"B": {"Type": "Pass", "Output": "{% $states.input.v * 2 %}", "End": true}}}
            ],
            "Output": {"results": "{% $states.result %}", "leaked": "{% $exists($leak) %}"},
            "End": true}}),
        "Both",
    );
    let (done, _) = run(&def, json!({"v": 5})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{:?}", done.cause);
    assert_eq!(
        done.output_json().unwrap(),
        json!({"results": [6, 10], "leaked": false})
    );
}

#[tokio::test]
async fn undefined_values_record_evaluation_failed() {
    let def = jsonata(
        json!({
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Pass", "Output": {"result": "{% $doesNotExist %}"}, "End": true}
        }),
        "A",
    );
    let (done, h) = run(&def, json!({})).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    let cause = "An error occurred while executing the state 'B' (entered at the event id #4). The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined).";
    let failed = event(&h, "EvaluationFailed");
    // Linked to the event before B was entered, as AWS records it.
    assert_eq!(failed.previous_event_id, 3);
    assert_eq!(
        Value::Object(failed.details.clone().unwrap()),
        json!({"cause": cause, "error": "States.QueryEvaluationError", "location": "Output/result", "state": "B"})
    );
    let end = event(&h, "ExecutionFailed");
    assert_eq!(end.previous_event_id, failed.id);
    assert_eq!(done.error.as_deref(), Some("States.QueryEvaluationError"));
    assert_eq!(done.cause.as_deref(), Some(cause));
}

#[tokio::test]
async fn query_evaluation_errors_can_be_caught() {
    let def = jsonata(
        json!({
            "Call": {"Type": "Task", "Resource": arn("echo"), "Arguments": "{% $nothing %}",
                "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Output": "{% $states.errorOutput.Error %}", "Next": "Done"}],
                "End": true},
            "Done": {"Type": "Succeed"}
        }),
        "Call",
    );
    let (done, h) = run(&def, json!({})).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(
        done.output_json().unwrap(),
        json!("States.QueryEvaluationError")
    );
    assert!(!types(&h).contains(&"LambdaFunctionScheduled"));
}

#[tokio::test]
async fn wait_seconds_and_timestamp_expressions() {
    let def = jsonata(
        json!({
            "Short": {"Type": "Wait", "Seconds": "{% $states.input.s %}", "Next": "Until"},
            "Until": {"Type": "Wait", "Timestamp": "{% $states.input.t %}", "End": true}
        }),
        "Short",
    );
    let (clock, engine) = virtual_engine(HandlerRegistry::new());
    let sm = engine
        .create_state_machine("wait", &def.to_string())
        .unwrap();
    let started = engine
        .start_execution(&sm, None, json!({"s": 5, "t": "2024-01-01T01:00:00Z"}))
        .await
        .unwrap();
    let done = engine.wait(&started.execution_arn).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert_eq!(
        sleeps[1].1.to_rfc3339(),
        "2024-01-01T01:00:00+00:00",
        "{sleeps:?}"
    );

    let (bad, h) = run(&def, json!({"s": 0, "t": "2016-12-05T21:29:29"})).await;
    assert_eq!(bad.status, ExecutionStatus::Failed);
    let failed = event(&h, "EvaluationFailed");
    let entered = h
        .iter()
        .rfind(|e| e.event_type == "WaitStateEntered")
        .unwrap();
    // A Wait's own fields fail after the state started: linked to its entered event.
    assert_eq!(failed.previous_event_id, entered.id);
    assert_eq!(detail(failed, "location"), json!("Timestamp"));
    assert!(
        bad.cause
            .as_deref()
            .unwrap()
            .ends_with("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: 2016-12-05T21:29:29")
    );
}

#[tokio::test]
async fn now_follows_the_engine_clock() {
    let def = jsonata(
        json!({
            "Nap": {"Type": "Wait", "Seconds": 5, "Next": "Stamp"},
            "Stamp": {"Type": "Pass", "Output": {"now": "{% $now() %}", "millis": "{% $millis() %}"}, "End": true}
        }),
        "Nap",
    );
    let (done, _) = run(&def, json!({})).await;
    let start = VirtualClock::starting_2024().now();
    assert_eq!(
        done.output_json().unwrap(),
        json!({
            "now": "2024-01-01T00:00:05.000Z",
            "millis": start.timestamp_millis() + 5000
        })
    );
}

#[tokio::test]
async fn fail_error_and_cause_are_expressions() {
    let def = jsonata(
        json!({"Stop": {"Type": "Fail", "Error": "{% 'App.' & $states.input.kind %}", "Cause": "{% $states.input.why %}"}}),
        "Stop",
    );
    let (done, _) = run(&def, json!({"kind": "Bad", "why": "because"})).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("App.Bad"));
    assert_eq!(done.cause.as_deref(), Some("because"));
}

#[tokio::test]
async fn mixed_languages_share_variables() {
    let def = json!({"StartAt": "Ata", "States": {
        "Ata": {"Type": "Pass", "QueryLanguage": "JSONata", "Assign": {"total": "{% $sum($states.input.values) %}"}, "Next": "Path"},
        "Path": {"Type": "Pass", "Parameters": {"total.$": "$total"}, "End": true}
    }});
    let (done, _) = run(&def, json!({"values": [1, 2]})).await;
    assert_eq!(done.output_json().unwrap(), json!({"total": 3}));
}

fn rules(def: Value) -> Vec<(String, String)> {
    statemachine::validate(&def.to_string())
        .into_iter()
        .map(|d| (d.path, d.rule))
        .collect()
}

#[test]
fn jsonpath_fields_are_invalid_in_jsonata_states_and_vice_versa() {
    let r = rules(jsonata(
        json!({"A": {"Type": "Task", "Resource": arn("echo"), "InputPath": "$", "Parameters": {}, "ResultPath": "$.r",
            "TimeoutSecondsPath": "$.t",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "B"}], "End": true},
          "B": {"Type": "Pass", "Result": 1, "End": true}}),
        "A",
    ));
    for field in [
        "/States/A/InputPath",
        "/States/A/Parameters",
        "/States/A/ResultPath",
        "/States/A/TimeoutSecondsPath",
        "/States/A/Catch/0/ResultPath",
        "/States/B/Result",
    ] {
        assert!(
            r.contains(&(field.to_string(), "Field.Unknown".to_string())),
            "{field}: {r:?}"
        );
    }
    let r = rules(json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": arn("echo"), "Arguments": {}, "Output": {}, "TimeoutSeconds": "{% 1 %}",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Output": {}, "Next": "C"}], "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Condition": true, "Next": "D"}], "Default": "D"},
        "D": {"Type": "Succeed"}}}));
    for (field, rule) in [
        ("/States/A/Arguments", "Field.Unknown"),
        ("/States/A/Output", "Field.Unknown"),
        ("/States/A/TimeoutSeconds", "Field.PositiveInteger"),
        ("/States/A/Catch/0/Output", "Field.Unknown"),
        ("/States/C/Choices/0/Condition", "Field.Unknown"),
    ] {
        assert!(
            r.contains(&(field.to_string(), rule.to_string())),
            "{field}: {r:?}"
        );
    }
}

#[test]
fn jsonata_field_shapes_are_checked() {
    let r = rules(jsonata(
        json!({
            "A": {"Type": "Task", "Resource": arn("echo"), "TimeoutSeconds": "ten", "Arguments": 5, "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Condition": "yes", "Next": "M"}, {"Variable": "$.x", "BooleanEquals": true, "Next": "M"}]},
            "M": {"Type": "Map", "Items": {"not": "an array"}, "MaxConcurrency": "2",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "Next": "W"},
            "W": {"Type": "Wait", "Seconds": "5", "End": true}
        }),
        "A",
    ));
    for (field, rule) in [
        ("/States/A/TimeoutSeconds", "JSONata.Expression"),
        ("/States/A/Arguments", "JSONata.Field"),
        ("/States/C/Choices/0/Condition", "Choice.Condition"),
        ("/States/C/Choices/1/Variable", "Field.Unknown"),
        ("/States/C/Choices/1", "Choice.Condition"),
        ("/States/M/Items", "JSONata.Field"),
        ("/States/M/MaxConcurrency", "JSONata.Expression"),
        ("/States/W/Seconds", "JSONata.Expression"),
    ] {
        assert!(
            r.contains(&(field.to_string(), rule.to_string())),
            "{field} {rule}: {r:?}"
        );
    }
    assert!(
        StateMachineDefinition::parse(
            &jsonata(
                json!({"A": {"Type": "Pass", "Output": "{% $states.input %}", "End": true}}),
                "A"
            )
            .to_string()
        )
        .is_ok()
    );
}

/// Answers once with a fresh value per call, then blocks (the process "dies" there).
struct CountingThenBlocking {
    calls: Arc<AtomicU32>,
    block_after: u32,
}

#[async_trait]
impl TaskHandler for CountingThenBlocking {
    async fn invoke(&self, payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n >= self.block_after {
            futures::future::pending::<()>().await;
        }
        Ok(json!({"call": n, "payload": payload}))
    }
}

#[tokio::test]
async fn resume_replays_recorded_outputs_and_variables() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("engine.db");
    let clock = VirtualClock::starting_2024();
    let def = jsonata(
        json!({
            "Mint": {"Type": "Pass", "Assign": {"id": "{% $uuid() %}"}, "Output": {"r": "{% $random() %}"}, "Next": "Work"},
            "Work": {"Type": "Task", "Resource": arn("work"), "Arguments": {"id": "{% $id %}"},
                "Output": {"r": "{% $states.input.r %}", "task_saw": "{% $states.result.payload.id %}"}, "Next": "Use"},
            "Use": {"Type": "Pass", "Output": {"id": "{% $id %}", "r": "{% $states.input.r %}", "task_saw": "{% $states.input.task_saw %}"}, "End": true}
        }),
        "Mint",
    )
    .to_string();
    let calls = Arc::new(AtomicU32::new(0));
    let handlers = |block_after| {
        HandlerRegistry::new().with(
            "work",
            Arc::new(CountingThenBlocking {
                calls: calls.clone(),
                block_after,
            }),
        )
    };
    let exec = {
        let engine = durable_engine(&db, Arc::new(clock.clone()), handlers(0));
        let sm = engine.create_state_machine("replay", &def).unwrap();
        let s = engine
            .start_execution(&sm, Some("run-1"), json!({}))
            .await
            .unwrap();
        wait_until(|| calls.load(Ordering::SeqCst) == 1).await;
        engine.shutdown();
        s.execution_arn
    };
    let engine = durable_engine(&db, Arc::new(clock.clone()), handlers(u32::MAX));
    assert_eq!(engine.resume_all().unwrap(), 1);
    let done = engine.wait(&exec).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{:?}", done.cause);
    let h = engine.history(&exec).unwrap();
    let minted = event(&h, "PassStateExited");
    let id: String =
        serde_json::from_str(detail(minted, "assignedVariables")["id"].as_str().unwrap()).unwrap();
    let r = minted.detail_json("output").unwrap()["r"].clone();
    // After the restart the states that ran live saw the id and number minted before it.
    assert_eq!(
        done.output_json().unwrap(),
        json!({"id": id, "r": r, "task_saw": id})
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the interrupted task ran again"
    );
}
