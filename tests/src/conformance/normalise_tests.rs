//! Normalisation tests: recorded (normalised) histories are turned back into plausible raw
//! responses — real UUIDs, epoch timestamps, another account and region, real names and ARNs,
//! JSON text in `input`/`output`/`cause` — and normalising them must give the recording back.
//! Real differences must still be reported.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::conformance::compare::differences;
use crate::conformance::pyjson;

const SM_NAME: &str = "sm_5b1e0c7f9a2d4e0b";
const EXEC_NAME: &str = "exec_0d9f3a1c7b2e4f60";
const ROLE: &str = "arn:aws:iam::222233334444:role/engine-role";
const ACCOUNT: &str = "222233334444";
const REGION: &str = "eu-west-3";

fn facts(lambdas: &[(&str, &str)]) -> RunFacts {
    RunFacts {
        lambdas: lambdas
            .iter()
            .map(|(f, p)| (f.to_string(), p.to_string()))
            .collect(),
        role_arn: Some(ROLE.into()),
        state_machine_name: Some(SM_NAME.into()),
        execution_name: Some(EXEC_NAME.into()),
        accounts: vec![ACCOUNT.into()],
        regions: vec![REGION.into(), "us-east-1".into()],
        canonical_account: "111111111111".into(),
        role_placeholder: "snf_role_arn".into(),
        generated_input: json!({}),
    }
}

/// Turns a recorded, normalised response back into a raw one.
fn denormalise(recorded: &Value, lambdas: &[(&str, &str)]) -> Value {
    let mut raw = recorded.clone();
    let mut uuids: BTreeMap<String, String> = BTreeMap::new();
    let uuid_re = regex::Regex::new(r"<uuid:\d+>").unwrap();
    map_text(&mut raw, &mut |s| {
        if !uuid_re.is_match(s) {
            return None;
        }
        Some(
            uuid_re
                .replace_all(s, |c: &regex::Captures| {
                    uuids
                        .entry(c[0].to_string())
                        .or_insert_with(|| uuid::Uuid::new_v4().to_string())
                        .clone()
                })
                .into_owned(),
        )
    });
    for (function_name, placeholder) in lambdas {
        replace_text(&mut raw, placeholder, function_name);
    }
    for (from, to) in [
        ("<ArnPart_0idx>", SM_NAME),
        ("<ExecArnPart_0idx>", EXEC_NAME),
        ("snf_role_arn", ROLE),
        ("arn:<partition>:", "arn:aws:"),
        ("<region>", REGION),
        ("111111111111", ACCOUNT),
    ] {
        replace_text(&mut raw, from, to);
    }
    map_text_values(&mut raw, &mut |s| {
        (s == "date").then(|| "2024-05-06T07:08:09.123Z".to_string())
    });
    if let Some(events) = raw.get_mut("events").and_then(Value::as_array_mut) {
        for (i, event) in events.iter_mut().enumerate() {
            event["timestamp"] = json!(1_714_979_289.123 + i as f64);
            let Some(obj) = event.as_object_mut() else {
                continue;
            };
            for (key, details) in obj.iter_mut() {
                if key.ends_with("EventDetails") {
                    stringify_members(details, key.starts_with("lambdaFunction"));
                }
            }
        }
        let events = std::mem::take(events);
        raw = history_response(events);
    } else {
        for member in ["startDate", "stopDate"] {
            if raw.get(member).is_some() {
                raw[member] = json!(1_714_979_289.5);
            }
        }
        stringify_members(&mut raw, false);
        raw = describe_response(raw);
    }
    raw
}

/// JSON members the API sends as text: `input`, `output`, `cause`, `parameters`.
fn stringify_members(details: &mut Value, python_cause: bool) {
    let Some(map) = details.as_object_mut() else {
        return;
    };
    for (key, value) in map.iter_mut() {
        if key == "assignedVariables"
            && let Some(vars) = value.as_object_mut()
        {
            for (_, v) in vars.iter_mut().filter(|(_, v)| v.is_object()) {
                *v = Value::String(serde_json::to_string(v).unwrap());
            }
            continue;
        }
        if !matches!(key.as_str(), "input" | "output" | "cause" | "parameters") {
            continue;
        }
        if value.is_object() {
            let text = if key == "cause" && python_cause {
                pyjson::dumps(value)
            } else {
                serde_json::to_string(value).unwrap()
            };
            *value = Value::String(text);
        }
    }
}

fn normalised(raw: Value, facts: &RunFacts) -> Value {
    Normaliser::new().normalise(raw, facts, &[])
}

/// A recorded history: a Lambda raising (direct ARN), caught, with the requestId in the
/// parsed `cause` and in `Cause` strings.
fn recorded_catch_history() -> Value {
    let cause = "{\"errorMessage\": \"Some exception was raised.\", \"errorType\": \"Exception\", \"requestId\": \"<uuid:1>\", \"stackTrace\": [\"  File \\\"/var/task/handler.py\\\", line 2, in handler\\n    raise Exception(\\\"Some exception was raised.\\\")\\n\"]}";
    json!({"events": [
        {"executionStartedEventDetails": {"input": {"FunctionName": "<lambda_function_name>", "Payload": null},
            "inputDetails": {"truncated": false}, "roleArn": "snf_role_arn"},
         "id": 1, "previousEventId": 0, "timestamp": "timestamp", "type": "ExecutionStarted"},
        {"id": 2, "previousEventId": 0, "stateEnteredEventDetails": {"input": {"FunctionName": "<lambda_function_name>", "Payload": null},
            "inputDetails": {"truncated": false}, "name": "Start"}, "timestamp": "timestamp", "type": "TaskStateEntered"},
        {"id": 3, "lambdaFunctionScheduledEventDetails": {"input": {"FunctionName": "<lambda_function_name>", "Payload": null},
            "inputDetails": {"truncated": false},
            "resource": "arn:<partition>:lambda:<region>:111111111111:function:<lambda_function_name>"},
         "previousEventId": 2, "timestamp": "timestamp", "type": "LambdaFunctionScheduled"},
        {"id": 4, "previousEventId": 3, "timestamp": "timestamp", "type": "LambdaFunctionStarted"},
        {"id": 5, "lambdaFunctionFailedEventDetails": {"cause": {"errorMessage": "Some exception was raised.",
            "errorType": "Exception", "requestId": "<uuid:1>",
            "stackTrace": ["  File \"/var/task/handler.py\", line 2, in handler\n    raise Exception(\"Some exception was raised.\")\n"]},
            "error": "Exception"},
         "previousEventId": 4, "timestamp": "timestamp", "type": "LambdaFunctionFailed"},
        {"id": 6, "previousEventId": 5, "stateExitedEventDetails": {"name": "Start",
            "output": {"Error": "Exception", "Cause": cause, "when": "date",
                       "arn": "arn:<partition>:states:<region>:111111111111:execution:<ArnPart_0idx>:<ExecArnPart_0idx>"},
            "outputDetails": {"truncated": false}}, "timestamp": "timestamp", "type": "TaskStateExited"},
        {"executionSucceededEventDetails": {"output": {"Error": "Exception", "Cause": cause},
            "outputDetails": {"truncated": false}},
         "id": 7, "previousEventId": 6, "timestamp": "timestamp", "type": "ExecutionSucceeded"}
    ],
    "ResponseMetadata": {"HTTPHeaders": {}, "HTTPStatusCode": 200}})
}

#[test]
fn perturbed_history_normalises_back() {
    let recorded = recorded_catch_history();
    let lambdas = [("lambda_fn_8c1d", "<lambda_function_name>")];
    let raw = denormalise(&recorded, &lambdas);
    let text = raw.to_string();
    assert!(text.contains(ACCOUNT) && text.contains(REGION) && text.contains(SM_NAME));
    assert!(!text.contains("<uuid:1>") && !text.contains("\"timestamp\":\"timestamp\""));
    assert!(raw["events"][4]["lambdaFunctionFailedEventDetails"]["cause"].is_string());
    let got = normalised(raw, &facts(&lambdas));
    assert_eq!(differences(&recorded, &got, 5), vec![]);
}

#[test]
fn real_differences_are_reported() {
    let recorded = recorded_catch_history();
    let lambdas = [("lambda_fn_8c1d", "<lambda_function_name>")];
    let mut raw = denormalise(&recorded, &lambdas);
    raw["events"][1]["type"] = json!("PassStateEntered");
    raw["events"][4]["lambdaFunctionFailedEventDetails"]["error"] = json!("States.TaskFailed");
    let events = raw["events"].as_array_mut().unwrap();
    events.pop();
    let got = normalised(raw, &facts(&lambdas));
    let pointers: Vec<String> = differences(&recorded, &got, 10)
        .into_iter()
        .map(|d| d.pointer)
        .collect();
    assert_eq!(
        pointers,
        [
            "/events/1/type",
            "/events/4/lambdaFunctionFailedEventDetails/error",
            "/events/6"
        ]
    );
}

#[test]
fn uuid_numbering_follows_traversal_order() {
    let a = "9b2c5a43-1d7e-4f6a-8b0c-2e4d6f8a0b1c";
    let b = "0f1e2d3c-4b5a-4978-8675-a4b3c2d1e0f9";
    let raw = json!({"events": [
        {"id": 1, "d": {"zRequestId": a, "aRequestId": b, "text": format!("{a}/{b}")}},
        {"id": 2, "d": {"requestId": format!("{b}-suffix")}}
    ]});
    let got = normalised(raw, &RunFacts::default());
    assert_eq!(
        got,
        json!({"events": [
            {"d": {"aRequestId": "<uuid:1>", "text": "<uuid:2>/<uuid:1>", "zRequestId": "<uuid:2>"}, "id": 1},
            {"d": {"requestId": "<uuid:1>-suffix"}, "id": 2}
        ]})
    );
}

#[test]
fn dates_timestamps_and_datetimes() {
    let raw = describe_response(json!({
        "startDate": 1_714_979_289.5, "stopDate": null,
        "input": "{\"TimestampValue\": \"2016-13-05T21:29:29Z\", \"at\": \"2016-03-05T21:29:29.5+01:00\", \"myTimestamp\": \"2016-03-05T21:29:29Z\"}",
        "output": "[\"2016-03-05T21:29:29Z\"]"
    }));
    let got = normalised(raw, &RunFacts::default());
    assert_eq!(
        got,
        json!({
            "input": {"TimestampValue": "timestamp", "at": "date", "myTimestamp": "date"},
            "output": "[\"date\"]",
            "startDate": "datetime",
            "ResponseMetadata": {"HTTPHeaders": {}, "HTTPStatusCode": 200}
        })
    );
}

#[test]
fn json_input_in_causes() {
    let cause = "Invalid path '$.missing' : No results for path: $['missing'] could not be found in the input '{\"a\":1}'";
    let raw = json!({"events": [
        {"evaluationFailedEventDetails": {"cause": cause}},
        {"stateExitedEventDetails": {"output": "{\"Cause\":\"x '{\\\"a\\\":1}'\"}"}}
    ]});
    let got = normalised(raw, &RunFacts::default());
    assert_eq!(
        got["events"][0]["evaluationFailedEventDetails"]["cause"],
        json!(
            "Invalid path '$.missing' : No results for path: $['missing'] could not be found in the input '<json-input:1>'"
        )
    );
    assert_eq!(
        got["events"][1]["stateExitedEventDetails"]["output"]["Cause"],
        json!("x '<json-input:1>'")
    );
}

#[test]
fn parallel_walk_reproduces_the_quirk() {
    let ev = |id: i64, t: &str| json!({"id": id, "previousEventId": id - 1, "type": t});
    let mut doc = json!({"events": [
        ev(1, "ExecutionStarted"), ev(2, "ParallelStateEntered"), ev(3, "ParallelStateStarted"),
        ev(4, "PassStateEntered"), ev(5, "PassStateEntered"), ev(6, "ParallelStateSucceeded"),
        ev(7, "ParallelStateExited"), ev(8, "PassStateEntered"), ev(9, "ExecutionSucceeded")
    ]});
    Normaliser::new().normalise(doc.clone(), &RunFacts::default(), &[]);
    parallel_events_walk(&mut doc);
    let ids: Vec<Value> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    // ParallelStateSucceeded (6) disappears; 8 is skipped by the walk but stays.
    assert_eq!(
        ids,
        [
            json!(1),
            json!(2),
            json!(3),
            json!([0]),
            json!([0]),
            json!(7),
            json!(8),
            json!(9)
        ]
    );
}

#[test]
fn skip_paths_apply_to_both_sides() {
    let p = vec![jsonpath::JsonPath::parse("$..Cause").unwrap()];
    let a = compare_ready(json!({"x": {"Cause": "a", "k": 1}}), &p, false);
    let b = compare_ready(json!({"x": {"Cause": "b", "k": 1}}), &p, false);
    assert_eq!(a, b);
}

/// Every recorded history of the data set, perturbed and normalised again, must give the
/// recording back. Runs only when the data set is present (see `docs/CONFORMANCE.md`).
#[test]
fn recorded_snapshots_round_trip() {
    let Some(dir) = crate::conformance::data_dir() else {
        eprintln!("conformance data not found, skipped");
        return;
    };
    let ds = crate::conformance::manifest::DataSet::load(&dir).unwrap();
    let mut snapshots: BTreeMap<String, Value> = BTreeMap::new();
    let (mut checked, mut failures) = (0, Vec::new());
    for case in &ds.manifest.cases {
        let crate::conformance::manifest::Case::Execution(c) = case else {
            continue;
        };
        if !c.extra_normalisation.is_empty() {
            continue;
        }
        let file = &c.common.expected.snapshot_file;
        let snap = snapshots
            .entry(file.clone())
            .or_insert_with(|| serde_json::from_str(&ds.read_text(file).unwrap()).unwrap());
        let recorded =
            &snap[&c.common.expected.key]["recorded-content"][&c.common.expected.match_key];
        let text = recorded.to_string();
        // Not invertible: the JSON text behind `<json-input:N>`, the Map Run ARN parts.
        if text.contains("<json-input:") || text.contains("MapRunArnPart") {
            continue;
        }
        let lambdas: Vec<(String, String)> = c
            .lambdas
            .values()
            .map(|l| {
                (
                    format!("fn_{}_x", l.function_name),
                    l.snapshot_placeholder.clone(),
                )
            })
            .collect();
        let pairs: Vec<(&str, &str)> = lambdas
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let raw = denormalise(recorded, &pairs);
        let got = normalised(raw, &facts(&pairs));
        // These two were recorded inconsistently; every case using them skips them.
        let skip: Vec<jsonpath::JsonPath> = ["$..SdkResponseMetadata", "$..SdkHttpMetadata"]
            .iter()
            .map(|p| jsonpath::JsonPath::parse(p).unwrap())
            .collect();
        let (recorded, got) = (
            compare_ready(recorded.clone(), &skip, false),
            compare_ready(got, &skip, false),
        );
        checked += 1;
        let diffs = differences(&recorded, &got, 1);
        if let Some(d) = diffs.first() {
            failures.push(format!("{}: {}", c.common.id, d.describe(200)));
        }
    }
    assert!(checked > 300, "only {checked} snapshots checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn context_with_redrive_count() -> Value {
    json!({"events": [{"input": {"ThisContextObject": {"Execution": {
        "Id": "arn:x", "StartTime": "date", "Name": "n", "RedriveCount": 0
    }}}}]})
}

#[test]
fn recordings_older_than_redrive_do_not_expect_redrive_count() {
    let mut doc = context_with_redrive_count();
    let october_2023 = chrono::NaiveDate::from_ymd_opt(2023, 10, 24);
    context_object_as_recorded(&mut doc, october_2023);
    let execution = &doc["events"][0]["input"]["ThisContextObject"]["Execution"];
    assert!(execution.get("RedriveCount").is_none());
    assert_eq!(execution["Name"], "n");
}

#[test]
fn newer_or_undated_recordings_keep_redrive_count() {
    for day in [chrono::NaiveDate::from_ymd_opt(2024, 7, 15), None] {
        let mut doc = context_with_redrive_count();
        context_object_as_recorded(&mut doc, day);
        assert_eq!(doc, context_with_redrive_count());
    }
}
