//! The bar `statemachine/pipeline.asl.json` must clear, read from the JSON itself (issue #16):
//!
//! 1. every Task, at any depth, retries the transient errors with the 1 s / 2 s / 4 s schedule
//!    (`IntervalSeconds: 1, BackoffRate: 2, MaxAttempts: 3`);
//! 2. every top-level Task and every top-level Parallel/Map catches `States.ALL`, so no job is
//!    left `processing`;
//! 3. no state with branches retries an error that a Task inside its branches already retries:
//!    the retries would multiply (a Parallel retrying a failing branch task's errors ran that task
//!    4 × 4 = 16 times, and its healthy sibling 4 times);
//! 4. no Retry names an error that is an answer about the input (a rejection), and the catchers
//!    that lead to `RecordRejection` name nothing transient.
//!
//! Each rule is also run on a definition broken on purpose, so the bar is known to fail when
//! it should.

use serde_json::{Value, json};

const TRANSIENT: [&str; 5] = [
    "PetAvatar.Transient",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

/// Errors that mean "this photo is refused", not "something broke".
const REJECTIONS: [&str; 4] = [
    "PetAvatar.InvalidImage",
    "PetAvatar.UnsupportedFormat",
    "PetAvatar.ImageTooLarge",
    "PetAvatar.NotAPet",
];

fn pipeline() -> Value {
    serde_json::from_str(statemachine::PIPELINE_ASL).expect("pipeline.asl.json is JSON")
}

fn states(scope: &Value) -> impl Iterator<Item = (&String, &Value)> {
    scope["States"].as_object().into_iter().flatten()
}

/// The scopes (`{StartAt, States}`) nested in a state: Parallel branches, a Map's processor.
fn sub_scopes(state: &Value) -> Vec<&Value> {
    let mut scopes: Vec<&Value> = state["Branches"].as_array().into_iter().flatten().collect();
    for key in ["ItemProcessor", "Iterator"] {
        if state.get(key).is_some() {
            scopes.push(&state[key]);
        }
    }
    scopes
}

/// `(path, state)` of every state at any depth.
fn all_states(scope: &Value, path: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, state) in states(scope) {
        let here = format!("{path}/{name}");
        out.push((here.clone(), state.clone()));
        for (i, sub) in sub_scopes(state).into_iter().enumerate() {
            out.extend(all_states(sub, &format!("{here}[{i}]")));
        }
    }
    out
}

fn error_names(list: &Value) -> Vec<&str> {
    list["ErrorEquals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The errors a state's Retry covers (`States.ALL` and `States.TaskFailed` cover the others).
fn retried(state: &Value) -> Vec<&str> {
    state["Retry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(error_names)
        .collect()
}

fn covers(retried: &[&str], error: &str) -> bool {
    retried.contains(&error)
        || retried.contains(&"States.ALL")
        || (retried.contains(&"States.TaskFailed") && error != "States.Timeout")
}

/// Rule 1.
fn tasks_without_the_transient_retry(definition: &Value) -> Vec<String> {
    all_states(definition, "")
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task")
        .filter(|(_, s)| {
            !s["Retry"].as_array().into_iter().flatten().any(|r| {
                let names = error_names(r);
                TRANSIENT.iter().all(|e| names.contains(e))
                    && r["IntervalSeconds"] == json!(1)
                    && r["BackoffRate"] == json!(2)
                    && r["MaxAttempts"] == json!(3)
            })
        })
        .map(|(path, _)| path)
        .collect()
}

/// Rule 2.
fn top_level_states_without_catch_all(definition: &Value) -> Vec<String> {
    states(definition)
        .filter(|(_, s)| ["Task", "Parallel", "Map"].contains(&s["Type"].as_str().unwrap_or("")))
        .filter(|(_, s)| {
            !s["Catch"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| error_names(c).contains(&"States.ALL"))
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Rule 3: `(state, error)` for each error a state with branches retries that a Task inside
/// them retries already.
fn retries_that_multiply(definition: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, state) in all_states(definition, "") {
        let outer = retried(&state);
        if outer.is_empty() {
            continue;
        }
        for scope in sub_scopes(&state) {
            for (_, inner) in all_states(scope, "") {
                for error in retried(&inner) {
                    if covers(&outer, error) {
                        found.push((path.clone(), error.to_owned()));
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Rule 4.
fn rejections_retried_or_transients_rejected(definition: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for (path, state) in all_states(definition, "") {
        for error in retried(&state) {
            if REJECTIONS.contains(&error) {
                found.push(format!("{path} retries {error}"));
            }
        }
        for catcher in state["Catch"].as_array().into_iter().flatten() {
            if catcher["Next"] == "RecordRejection" {
                for error in error_names(catcher) {
                    if !REJECTIONS.contains(&error) {
                        found.push(format!("{path} rejects {error}"));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_task_retries_transient_errors_on_the_1_2_4_second_schedule() {
    assert_eq!(
        tasks_without_the_transient_retry(&pipeline()),
        Vec::<String>::new()
    );
}

#[test]
fn every_top_level_task_and_the_parallel_catch_everything() {
    let definition = pipeline();
    assert_eq!(
        top_level_states_without_catch_all(&definition),
        Vec::<String>::new()
    );
    assert!(
        states(&definition).any(|(_, s)| s["Type"] == "Parallel"),
        "the rule saw the Parallel state"
    );
}

#[test]
fn no_state_retries_what_its_branches_retry() {
    assert_eq!(
        retries_that_multiply(&pipeline()),
        Vec::<(String, String)>::new()
    );
}

#[test]
fn rejections_are_never_retried_and_only_rejections_are_rejected() {
    let definition = pipeline();
    assert_eq!(
        rejections_retried_or_transients_rejected(&definition),
        Vec::<String>::new()
    );
    let rejected: Vec<String> = all_states(&definition, "")
        .iter()
        .flat_map(|(_, s)| s["Catch"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["Next"] == "RecordRejection")
        .flat_map(|c| {
            error_names(&c)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    for rejection in REJECTIONS {
        assert!(
            rejected.iter().any(|r| r == rejection),
            "{rejection} reaches RecordRejection"
        );
    }
    assert_eq!(
        definition["States"]["JobRejected"]["Type"], "Succeed",
        "a rejection ends the execution without failing it"
    );
}

// ---- the bar fails when it should

#[test]
fn the_bar_flags_a_retry_on_the_parallel() {
    let mut broken = pipeline();
    let retry = broken["States"]["ValidateImage"]["Retry"].clone();
    broken["States"]["GenerateAvatarAndIdentity"]["Retry"] = retry;
    let found = retries_that_multiply(&broken);
    assert!(
        found.contains(&(
            "/GenerateAvatarAndIdentity".to_owned(),
            "PetAvatar.Transient".to_owned()
        )),
        "{found:?}"
    );
    broken["States"]["GenerateAvatarAndIdentity"]["Retry"] =
        json!([{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]);
    assert_eq!(
        retries_that_multiply(&broken).len(),
        TRANSIENT.len(),
        "States.ALL covers them all"
    );
}

#[test]
fn the_bar_flags_a_branch_task_without_retry_and_a_task_without_catch() {
    let mut broken = pipeline();
    broken["States"]["GenerateAvatarAndIdentity"]["Branches"][1]["States"]["WriteIdentity"]
        .as_object_mut()
        .expect("a state")
        .remove("Retry");
    broken["States"]["MapCareer"]
        .as_object_mut()
        .expect("a state")
        .remove("Catch");
    assert_eq!(
        tasks_without_the_transient_retry(&broken),
        vec!["/GenerateAvatarAndIdentity[1]/WriteIdentity".to_owned()]
    );
    assert_eq!(
        top_level_states_without_catch_all(&broken),
        vec!["MapCareer".to_owned()]
    );

    let mut slow = pipeline();
    slow["States"]["AnalyzePet"]["Retry"][0]["MaxAttempts"] = json!(6);
    assert_eq!(
        tasks_without_the_transient_retry(&slow),
        vec!["/AnalyzePet".to_owned()]
    );
}

#[test]
fn the_bar_flags_a_retried_rejection_and_a_rejected_transient() {
    let mut broken = pipeline();
    broken["States"]["AnalyzePet"]["Retry"][0]["ErrorEquals"]
        .as_array_mut()
        .expect("a list of names")
        .push(json!("PetAvatar.NotAPet"));
    broken["States"]["ValidateImage"]["Catch"][0]["ErrorEquals"]
        .as_array_mut()
        .expect("a list of names")
        .push(json!("PetAvatar.Transient"));
    assert_eq!(
        rejections_retried_or_transients_rejected(&broken),
        vec![
            "/ValidateImage rejects PetAvatar.Transient".to_owned(),
            "/AnalyzePet retries PetAvatar.NotAPet".to_owned()
        ]
    );
}
