//! Running one case against the engine: build the definition and input, register the stub
//! Lambdas, run on a virtual clock, fetch the history, normalise and compare.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use statemachine::{Clock, Engine, HandlerRegistry, VirtualClock};

use super::ConformanceError;
use super::compare::{Difference, differences, truncate};
use super::jsonpath::JsonPath;
use super::lambdas::StubLambda;
use super::manifest::{
    Case, ChoiceCase, DataSet, ExecutionCase, ExtraNormalisation, HarnessConstants, Patch,
};
use super::normalise::{
    Normaliser, RunFacts, compare_ready, context_object_as_recorded, describe_response,
    history_response,
};
use super::patch::{TokenContext, apply_patches, substitute_tokens};
use super::report::{CaseOutcome, Status};

/// The role ARN the engine reports; normalised to `snf_role_arn`.
const ROLE_ARN: &str = "arn:aws:iam::111111111111:role/conformance-sfn-role";

/// Sleeps further ahead than this never end: an execution waiting decades (the
/// `test_timestamp_too_far_in_future_boundary` cases) stays RUNNING, as on AWS.
const HORIZON_DAYS: i64 = 3650;

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub case_timeout: Duration,
    pub verbose: bool,
}

/// Snapshot files by path relative to the data folder.
pub type Snapshots = HashMap<String, Value>;

pub fn load_snapshots(ds: &DataSet, cases: &[Case]) -> Result<Snapshots, ConformanceError> {
    let mut out = Snapshots::new();
    for case in cases {
        let file = &case.common().expected.snapshot_file;
        if out.contains_key(file) {
            continue;
        }
        let text = ds.read_text(file)?;
        let value = serde_json::from_str(&text).map_err(|e| ConformanceError::Json {
            what: file.clone(),
            source: e,
        })?;
        out.insert(file.clone(), value);
    }
    Ok(out)
}

/// A virtual clock whose sleeps past the horizon never complete.
struct HorizonClock {
    inner: VirtualClock,
}

impl Clock for HorizonClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> BoxFuture<'static, ()> {
        if t - self.inner.now() > chrono::Duration::days(HORIZON_DAYS) {
            return Box::pin(futures::future::pending());
        }
        self.inner.sleep_until(t)
    }
}

struct CaseEnv {
    engine: Engine,
    start: DateTime<Utc>,
}

fn case_env(consts: &HarnessConstants, case: Option<&ExecutionCase>) -> CaseEnv {
    let start = Utc::now();
    let clock: Arc<dyn Clock> = Arc::new(HorizonClock {
        inner: VirtualClock::new(start),
    });
    let mut registry = HandlerRegistry::new();
    for lambda in case.map(|c| c.lambdas.values()).into_iter().flatten() {
        registry.register(
            lambda.function_name.clone(),
            Arc::new(StubLambda::new(lambda.behaviour.clone(), clock.clone())),
        );
    }
    let engine = Engine::builder()
        .in_memory()
        .clock(clock.clone())
        .handlers(registry)
        .region(consts.region.clone())
        .account_id(consts.account_id.clone())
        .role_arn(ROLE_ARN)
        .build();
    CaseEnv { engine, start }
}

/// Runs one case within its time limit.
pub async fn run_case(
    ds: Arc<DataSet>,
    snapshots: Arc<Snapshots>,
    case: Case,
    cfg: RunConfig,
) -> CaseOutcome {
    let common = case.common().clone();
    let mut outcome = CaseOutcome {
        id: common.id.clone(),
        area: common.area.clone(),
        language: common.query_language.clone(),
        status: Status::Pass,
        summary: String::new(),
        details: Vec::new(),
        pairs: None,
        fail_category: None,
    };
    let consts = &ds.manifest.harness_constants;
    let env = case_env(
        consts,
        match &case {
            Case::Execution(c) => Some(c),
            Case::ChoiceIo(_) => None,
        },
    );
    let work = async {
        match &case {
            Case::Execution(c) => run_execution(&ds, &snapshots, c, &env, &cfg)
                .await
                .map(|(diffs, fails)| (diffs, fails, None)),
            Case::ChoiceIo(c) => run_choice(&ds, c, &env)
                .await
                .map(|(d, p)| (d, false, Some(p))),
        }
    };
    let result = tokio::time::timeout(cfg.case_timeout, work).await;
    env.engine.shutdown();
    match result {
        Err(_) => {
            outcome.status = Status::Timeout;
            outcome.summary = format!("did not finish within {:?}", cfg.case_timeout);
        }
        Ok(Err(message)) => {
            outcome.status = Status::Error;
            outcome.summary = message;
        }
        Ok(Ok((diffs, expected_fails, pairs))) => {
            outcome.pairs = pairs;
            if let Some(first) = diffs.first() {
                outcome.status = Status::Fail;
                outcome.summary = first.describe(160);
                outcome.fail_category = Some(super::report::categorise(&diffs, expected_fails));
                outcome.details = diffs.iter().map(|d| d.describe(usize::MAX)).collect();
            }
        }
    }
    outcome
}

fn load_template(ds: &DataSet, template: &str) -> Result<Value, String> {
    let text = ds
        .read_text(template)
        .map_err(|e| format!("template: {e}"))?;
    super::json5::parse(&text).map_err(|e| format!("template {template}: {e}"))
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

async fn run_execution(
    ds: &DataSet,
    snapshots: &Snapshots,
    case: &ExecutionCase,
    env: &CaseEnv,
    cfg: &RunConfig,
) -> Result<(Vec<Difference>, bool), String> {
    let consts = &ds.manifest.harness_constants;
    let tokens = TokenContext {
        constants: consts,
        now: env.start,
    };
    let mut definition = load_template(ds, &case.common.template)?;
    let patches: Vec<Patch> = case
        .patches
        .iter()
        .map(|p| match p {
            Patch::Set { path, value } => {
                substitute_tokens(value, &tokens).map(|value| Patch::Set {
                    path: path.clone(),
                    value,
                })
            }
            Patch::Remove { path } => Ok(Patch::Remove { path: path.clone() }),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("patches: {e}"))?;
    apply_patches(&mut definition, &patches).map_err(|e| format!("patches: {e}"))?;
    let input = substitute_tokens(&case.input, &tokens).map_err(|e| format!("input: {e}"))?;

    let expected_root = &snapshots
        .get(&case.common.expected.snapshot_file)
        .ok_or("snapshot file not loaded")?[&case.common.expected.key]["recorded-content"];
    let match_key = &case.common.expected.match_key;
    let expected = expected_root
        .get(match_key)
        .ok_or_else(|| format!("snapshot has no {match_key}"))?;

    let sm_name = format!("conformance_sm_{}", random_suffix());
    let exec_name = case
        .execution_name
        .clone()
        .unwrap_or_else(|| format!("conformance_exec_{}", random_suffix()));
    let definition_text = serde_json::to_string(&definition).map_err(|e| e.to_string())?;
    let sm_arn = env
        .engine
        .create_state_machine(&sm_name, &definition_text)
        .map_err(|e| format!("create_state_machine: {e}"))?;
    // The LocalStack tests sent `json.dumps(input)`; the text matters when the input is not
    // an object (it is then never parsed back by the normalisation).
    let input_text = super::pyjson::dumps(&input);
    let started = env
        .engine
        .start_execution_json(&sm_arn, Some(&exec_name), &input_text)
        .await
        .map_err(|e| format!("start_execution: {e}"))?;
    let arn = started.execution_arn;

    let expected_events = expected
        .get("events")
        .and_then(Value::as_array)
        .map(Vec::len);
    let ends_terminal = expected_events.is_none() || history_is_terminal(expected);
    if ends_terminal {
        env.engine
            .wait(&arn)
            .await
            .map_err(|e| format!("wait: {e}"))?;
    } else {
        // AWS's history was taken while the execution ran: take ours once it has as many
        // events (or when it ends).
        wait_for_events(&env.engine, &arn, expected_events.unwrap_or(0)).await?;
    }

    let facts = run_facts(
        case, consts, &sm_arn, &sm_name, &exec_name, &input, env, &arn,
    )?;
    let skip: Vec<JsonPath> = case
        .common
        .skip_paths
        .iter()
        .map(|p| JsonPath::parse(p).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let parallel = case
        .extra_normalisation
        .contains(&ExtraNormalisation::ParallelEventsSort);
    let limit = if cfg.verbose { 200 } else { 40 };

    let mut keys = vec![match_key.clone()];
    keys.extend(case.common.expected.also_match_keys.iter().cloned());
    let mut diffs = Vec::new();
    for key in keys {
        let Some(expected) = expected_root.get(&key) else {
            continue;
        };
        let actual = actual_response(&env.engine, &arn, &key)?;
        let mut actual = Normaliser::new().normalise(actual, &facts, &case.extra_normalisation);
        context_object_as_recorded(&mut actual, case.common.recorded_on());
        let actual = compare_ready(actual, &skip, parallel);
        let expected = compare_ready(expected.clone(), &skip, parallel);
        for mut d in differences(&expected, &actual, limit) {
            if key != *match_key {
                d.pointer = format!("[{key}]{}", d.pointer);
            }
            diffs.push(d);
        }
        if !diffs.is_empty() && !cfg.verbose {
            break;
        }
    }
    let expected_fails = expected.to_string().contains("\"ExecutionFailed\"");
    Ok((diffs, expected_fails))
}

fn history_is_terminal(expected: &Value) -> bool {
    let last_type = expected
        .get("events")
        .and_then(Value::as_array)
        .and_then(|e| e.last())
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    matches!(
        last_type,
        "ExecutionSucceeded" | "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted"
    )
}

async fn wait_for_events(engine: &Engine, arn: &str, count: usize) -> Result<(), String> {
    loop {
        let events = engine.history(arn).map_err(|e| format!("history: {e}"))?;
        let done = engine
            .describe_execution(arn)
            .map(|d| d.status.is_terminal())
            .unwrap_or(true);
        if events.len() >= count || done {
            // Give the engine a moment to record anything it is about to add.
            tokio::time::sleep(Duration::from_millis(100)).await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[allow(clippy::too_many_arguments)]
fn run_facts(
    case: &ExecutionCase,
    consts: &HarnessConstants,
    sm_arn: &str,
    sm_name: &str,
    exec_name: &str,
    input: &Value,
    env: &CaseEnv,
    arn: &str,
) -> Result<RunFacts, String> {
    let arn_parts: Vec<&str> = sm_arn.split(':').collect();
    let region = arn_parts.get(3).copied().unwrap_or_default().to_string();
    let account = arn_parts.get(4).copied().unwrap_or_default().to_string();
    let role_arn = env
        .engine
        .history(arn)
        .ok()
        .and_then(|events| {
            events
                .iter()
                .find(|e| e.event_type == "ExecutionStarted")
                .and_then(|e| e.detail_str("roleArn").map(str::to_string))
        })
        .unwrap_or_else(|| ROLE_ARN.to_string());
    let mut regions = vec![consts.region.clone()];
    if !region.is_empty() && region != consts.region {
        regions.push(region);
    }
    Ok(RunFacts {
        lambdas: case
            .lambdas
            .values()
            .map(|l| (l.function_name.clone(), l.snapshot_placeholder.clone()))
            .collect(),
        role_arn: Some(role_arn),
        state_machine_name: Some(sm_name.to_string()),
        execution_name: Some(exec_name.to_string()),
        accounts: vec![account],
        regions,
        canonical_account: consts.account_id.clone(),
        role_placeholder: consts.role_arn_placeholder.clone(),
        generated_input: input.clone(),
    })
}

/// The API response recorded under `key`, raw (before normalisation).
fn actual_response(engine: &Engine, arn: &str, key: &str) -> Result<Value, String> {
    if key == "describe_execution" {
        let d = engine
            .describe_execution(arn)
            .map_err(|e| format!("describe_execution: {e}"))?;
        let v = serde_json::to_value(&d).map_err(|e| e.to_string())?;
        return Ok(describe_response(v));
    }
    let events = engine.history(arn).map_err(|e| format!("history: {e}"))?;
    Ok(history_response(
        events.iter().map(|e| e.to_json()).collect(),
    ))
}

/// A `choice_io` case: one state machine per pair, run once, output compared.
async fn run_choice(
    ds: &DataSet,
    case: &ChoiceCase,
    env: &CaseEnv,
) -> Result<(Vec<Difference>, (usize, usize)), String> {
    let template = load_template(ds, &case.common.template)?;
    let mut first: Option<Difference> = None;
    let mut passed = 0;
    for (i, pair) in case.cases.iter().enumerate() {
        let outcome = run_choice_pair(&template, pair, env, i).await;
        match outcome {
            Ok(None) => passed += 1,
            Ok(Some(mut d)) => {
                d.pointer = format!("[pair {i}]{}", d.pointer);
                first.get_or_insert(d);
            }
            Err(message) => {
                first.get_or_insert(Difference {
                    pointer: format!("[pair {i}]"),
                    expected: Some(pair.expected_output.clone()),
                    actual: Some(Value::String(truncate(&message, 200))),
                });
            }
        }
    }
    Ok((first.into_iter().collect(), (passed, case.cases.len())))
}

async fn run_choice_pair(
    template: &Value,
    pair: &super::manifest::ChoicePair,
    env: &CaseEnv,
    index: usize,
) -> Result<Option<Difference>, String> {
    let mut definition = template.clone();
    apply_patches(&mut definition, &pair.patches).map_err(|e| format!("patches: {e}"))?;
    let text = serde_json::to_string(&definition).map_err(|e| e.to_string())?;
    let sm_arn = env
        .engine
        .create_state_machine(&format!("choice_{index}_{}", random_suffix()), &text)
        .map_err(|e| format!("create_state_machine: {e}"))?;
    let input = super::pyjson::dumps(&pair.input);
    let started = env
        .engine
        .start_execution_json(&sm_arn, None, &input)
        .await
        .map_err(|e| format!("start_execution: {e}"))?;
    let d = env
        .engine
        .wait(&started.execution_arn)
        .await
        .map_err(|e| format!("wait: {e}"))?;
    let events = env
        .engine
        .history(&started.execution_arn)
        .map_err(|e| format!("history: {e}"))?;
    let output = events
        .iter()
        .find(|e| e.event_type == "ExecutionSucceeded")
        .and_then(|e| e.detail_json("output"));
    let Some(output) = output else {
        return Err(format!(
            "execution {}: {} {}",
            d.status.as_str(),
            d.error.unwrap_or_default(),
            d.cause.unwrap_or_default()
        ));
    };
    Ok(differences(&pair.expected_output, &output, 1)
        .into_iter()
        .next())
}
