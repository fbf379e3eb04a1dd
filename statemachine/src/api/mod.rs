//! The Step Functions API over HTTP, on the embedded engine: AWS's JSON protocol
//! (`POST /`, `X-Amz-Target: AWSStepFunctions.<Action>`, `application/x-amz-json-1.0`), so
//! the AWS CLI, boto3 and the AWS SDKs can drive it. Any SigV4 signature is accepted.
//!
//! Every action reads and writes the engine's own store: this is a protocol adapter, not a
//! second engine. Bad requests get AWS's error shape with a 400 (see [`error`]).

pub mod error;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::engine::{Engine, ExecutionDescription, ExecutionStatus, StateMachineInfo};
use crate::history::{HistoryQuery, epoch_seconds};
use crate::validate::{Severity, validate};
pub use error::ApiError;

/// The JSON protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// Largest request body read; AWS's largest field is a 1 MiB definition.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
const TARGET_PREFIX: &str = "AWSStepFunctions.";

/// The router answering the Step Functions API on `POST /`.
pub fn router(engine: Engine) -> Router {
    Router::new().route("/", post(dispatch)).with_state(engine)
}

/// Serves the API on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, engine: Engine) -> std::io::Result<()> {
    axum::serve(listener, router(engine)).await
}

async fn dispatch(State(engine): State<Engine>, headers: HeaderMap, body: Body) -> Response {
    match answer(&engine, &headers, body).await {
        Ok(v) => (
            StatusCode::OK,
            [("content-type", CONTENT_TYPE)],
            v.to_string(),
        )
            .into_response(),
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(error = %e, "Step Functions API request failed");
            }
            e.into_response()
        }
    }
}

async fn answer(engine: &Engine, headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    let action = action_of(headers)?;
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::validation(format!(
                "Request body exceeds the maximum size of {MAX_BODY_BYTES} bytes"
            ))
        })?;
    let request = Request { bytes };
    match action {
        "CreateStateMachine" => create_state_machine(engine, request.parse()?),
        "DescribeStateMachine" => describe_state_machine(engine, request.parse()?),
        "ListStateMachines" => list_state_machines(engine, request.parse()?),
        "DeleteStateMachine" => delete_state_machine(engine, request.parse()?),
        "UpdateStateMachine" => update_state_machine(engine, request.parse()?),
        "ValidateStateMachineDefinition" => validate_definition(request.parse()?),
        "StartExecution" => start_execution(engine, request.parse()?).await,
        "StartSyncExecution" => start_sync_execution(engine, request.parse()?).await,
        "DescribeExecution" => describe_execution(engine, request.parse()?),
        "ListExecutions" => list_executions(engine, request.parse()?),
        "GetExecutionHistory" => get_execution_history(engine, request.parse()?),
        "StopExecution" => stop_execution(engine, request.parse()?).await,
        "RedriveExecution" => redrive_execution(engine, request.parse()?).await,
        other => Err(ApiError::client(
            "UnknownOperationException",
            format!("Unknown operation {other}"),
        )),
    }
}

/// The action named by `X-Amz-Target`.
fn action_of(headers: &HeaderMap) -> Result<&str, ApiError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::client("UnknownOperationException", "Missing X-Amz-Target"))?;
    target.strip_prefix(TARGET_PREFIX).ok_or_else(|| {
        ApiError::client(
            "UnknownOperationException",
            format!("Unknown operation {target}"),
        )
    })
}

struct Request {
    bytes: Bytes,
}

impl Request {
    /// The body as the action's request shape; an empty body is `{}` (as the CLI may send).
    fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let text: &[u8] = if self.bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.bytes
        };
        serde_json::from_slice(text).map_err(|e| {
            let kind = if e.is_syntax() || e.is_eof() {
                "SerializationException"
            } else {
                "ValidationException"
            };
            ApiError::client(kind, format!("Invalid request: {e}"))
        })
    }
}

fn state_machine_arn(arn: &str) -> Result<&str, ApiError> {
    checked_arn(arn, ":stateMachine:")
}

fn execution_arn(arn: &str) -> Result<&str, ApiError> {
    checked_arn(arn, ":execution:")
}

fn checked_arn<'a>(arn: &'a str, kind: &str) -> Result<&'a str, ApiError> {
    if arn.starts_with("arn:") && arn.contains(":states:") && arn.contains(kind) {
        Ok(arn)
    } else {
        Err(ApiError::invalid_arn(arn))
    }
}

/// Rejects a definition the engine would not run, with the validator's first errors.
fn check_definition(definition: &str) -> Result<(), ApiError> {
    let errors: Vec<String> = validate(definition)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{} at {}: {}", d.rule, d.path, d.message))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::client(
            "InvalidDefinition",
            format!("Invalid State Machine Definition: '{}'", errors.join("; ")),
        ))
    }
}

/// One page of `items` from `next_token` (an offset this endpoint handed out).
fn page<T>(
    items: Vec<T>,
    max_results: Option<u32>,
    next_token: Option<&str>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let start = match next_token {
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::client("InvalidToken", format!("Invalid Token: '{t}'")))?,
        None => 0,
    };
    let size = page_size(max_results)?;
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((
        items.into_iter().skip(start).take(end - start).collect(),
        next,
    ))
}

fn page_size(max_results: Option<u32>) -> Result<usize, ApiError> {
    match max_results {
        None | Some(0) => Ok(100),
        Some(n) if n <= 1000 => Ok(n as usize),
        Some(n) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000"
        ))),
    }
}

fn epoch(t: &DateTime<Utc>) -> Value {
    json!(epoch_seconds(t))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateStateMachineInput {
    name: String,
    definition: String,
    #[serde(default)]
    r#type: Option<String>,
}

fn create_state_machine(engine: &Engine, req: CreateStateMachineInput) -> Result<Value, ApiError> {
    check_type(req.r#type.as_deref())?;
    check_definition(&req.definition)?;
    let arn = engine.state_machine_arn(&req.name);
    match engine.state_machine(&arn) {
        Ok(existing) if existing.definition != req.definition => {
            return Err(ApiError::client(
                "StateMachineAlreadyExists",
                format!("State Machine Already Exists: '{arn}'"),
            ));
        }
        Ok(existing) => return Ok(created(&existing)),
        Err(_) => {}
    }
    let arn = engine.create_state_machine(&req.name, &req.definition)?;
    Ok(created(&engine.state_machine(&arn)?))
}

fn created(sm: &StateMachineInfo) -> Value {
    json!({"stateMachineArn": sm.arn, "creationDate": epoch(&sm.creation_date)})
}

/// Only STANDARD and EXPRESS exist; both run on the same engine here.
fn check_type(t: Option<&str>) -> Result<(), ApiError> {
    match t {
        None | Some("STANDARD") | Some("EXPRESS") => Ok(()),
        Some(other) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
        ))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateMachineArnInput {
    state_machine_arn: String,
}

fn describe_state_machine(engine: &Engine, req: StateMachineArnInput) -> Result<Value, ApiError> {
    let sm = engine.state_machine(state_machine_arn(&req.state_machine_arn)?)?;
    Ok(json!({
        "stateMachineArn": sm.arn,
        "name": sm.name,
        "status": "ACTIVE",
        "definition": sm.definition,
        "roleArn": sm.role_arn,
        "type": "STANDARD",
        "creationDate": epoch(&sm.creation_date),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    max_results: Option<u32>,
    next_token: Option<String>,
}

fn list_state_machines(engine: &Engine, req: ListInput) -> Result<Value, ApiError> {
    let (machines, next) = page(
        engine.list_state_machines()?,
        req.max_results,
        req.next_token.as_deref(),
    )?;
    let items: Vec<Value> = machines
        .iter()
        .map(|sm| {
            json!({
                "stateMachineArn": sm.arn,
                "name": sm.name,
                "type": "STANDARD",
                "creationDate": epoch(&sm.creation_date),
            })
        })
        .collect();
    Ok(with_token(json!({"stateMachines": items}), next))
}

fn with_token(mut v: Value, next: Option<String>) -> Value {
    if let (Some(t), Some(m)) = (next, v.as_object_mut()) {
        m.insert("nextToken".into(), Value::String(t));
    }
    v
}

fn delete_state_machine(engine: &Engine, req: StateMachineArnInput) -> Result<Value, ApiError> {
    engine.delete_state_machine(state_machine_arn(&req.state_machine_arn)?)?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateStateMachineInput {
    state_machine_arn: String,
    definition: Option<String>,
}

fn update_state_machine(engine: &Engine, req: UpdateStateMachineInput) -> Result<Value, ApiError> {
    let sm = engine.state_machine(state_machine_arn(&req.state_machine_arn)?)?;
    if let Some(definition) = &req.definition {
        check_definition(definition)?;
        engine.create_state_machine(&sm.name, definition)?;
    }
    Ok(json!({"updateDate": epoch(&engine.clock().now())}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValidateInput {
    definition: String,
    max_results: Option<u32>,
}

fn validate_definition(req: ValidateInput) -> Result<Value, ApiError> {
    let all = validate(&req.definition);
    let failed = all.iter().any(|d| d.severity == Severity::Error);
    let limit = page_size(req.max_results)?;
    let diagnostics: Vec<Value> = all
        .iter()
        .take(limit)
        .map(|d| {
            json!({
                "severity": match d.severity { Severity::Error => "ERROR", _ => "WARNING" },
                "code": d.rule,
                "message": d.message,
                "location": d.path,
            })
        })
        .collect();
    Ok(json!({
        "result": if failed { "FAIL" } else { "OK" },
        "diagnostics": diagnostics,
        "truncated": all.len() > limit,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartExecutionInput {
    state_machine_arn: String,
    name: Option<String>,
    input: Option<String>,
}

async fn start_execution(engine: &Engine, req: StartExecutionInput) -> Result<Value, ApiError> {
    let started = engine
        .start_execution_json(
            state_machine_arn(&req.state_machine_arn)?,
            req.name.as_deref(),
            req.input.as_deref().unwrap_or("{}"),
        )
        .await?;
    Ok(json!({
        "executionArn": started.execution_arn,
        "startDate": epoch(&started.start_date),
    }))
}

/// Runs the execution to its end and answers with its outcome (AWS allows this for EXPRESS
/// machines only; here any machine may be run synchronously).
async fn start_sync_execution(
    engine: &Engine,
    req: StartExecutionInput,
) -> Result<Value, ApiError> {
    let started = engine
        .start_execution_json(
            state_machine_arn(&req.state_machine_arn)?,
            req.name.as_deref(),
            req.input.as_deref().unwrap_or("{}"),
        )
        .await?;
    let done = engine.wait(&started.execution_arn).await?;
    let mut v = description(&done);
    if let Some(m) = v.as_object_mut() {
        for k in [
            "redriveCount",
            "redriveDate",
            "redriveStatus",
            "redriveStatusReason",
        ] {
            m.remove(k);
        }
        m.insert(
            "billingDetails".into(),
            json!({"billedMemoryUsedInMB": 0, "billedDurationInMilliseconds": 0}),
        );
    }
    Ok(v)
}

fn description(d: &ExecutionDescription) -> Value {
    serde_json::to_value(d).unwrap_or(Value::Null)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionArnInput {
    execution_arn: String,
}

fn describe_execution(engine: &Engine, req: ExecutionArnInput) -> Result<Value, ApiError> {
    Ok(description(
        &engine.describe_execution(execution_arn(&req.execution_arn)?)?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListExecutionsInput {
    state_machine_arn: String,
    status_filter: Option<String>,
    max_results: Option<u32>,
    next_token: Option<String>,
}

fn list_executions(engine: &Engine, req: ListExecutionsInput) -> Result<Value, ApiError> {
    let sm = state_machine_arn(&req.state_machine_arn)?;
    engine.state_machine(sm)?;
    let status = req
        .status_filter
        .as_deref()
        .map(status_filter)
        .transpose()?;
    let matching: Vec<ExecutionDescription> = engine
        .list_executions(Some(sm))?
        .into_iter()
        .filter(|d| status.is_none_or(|s| d.status == s))
        .collect();
    let (executions, next) = page(matching, req.max_results, req.next_token.as_deref())?;
    let items: Vec<Value> = executions.iter().map(list_item).collect();
    Ok(with_token(json!({"executions": items}), next))
}

fn status_filter(s: &str) -> Result<ExecutionStatus, ApiError> {
    match s {
        "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED" => {
            Ok(ExecutionStatus::parse(s))
        }
        other => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{other}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]"
        ))),
    }
}

fn list_item(d: &ExecutionDescription) -> Value {
    let mut v = json!({
        "executionArn": d.execution_arn,
        "stateMachineArn": d.state_machine_arn,
        "name": d.name,
        "status": d.status,
        "startDate": epoch(&d.start_date),
        "redriveCount": d.redrive_count,
    });
    if let Some(m) = v.as_object_mut() {
        if let Some(t) = &d.stop_date {
            m.insert("stopDate".into(), epoch(t));
        }
        if let Some(t) = &d.redrive_date {
            m.insert("redriveDate".into(), epoch(t));
        }
    }
    v
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryInput {
    execution_arn: String,
    max_results: Option<u32>,
    #[serde(default)]
    reverse_order: bool,
    next_token: Option<String>,
    include_execution_data: Option<bool>,
}

fn get_execution_history(engine: &Engine, req: HistoryInput) -> Result<Value, ApiError> {
    page_size(req.max_results)?;
    let page = engine.get_execution_history(
        execution_arn(&req.execution_arn)?,
        HistoryQuery {
            reverse_order: req.reverse_order,
            max_results: req.max_results,
            next_token: req.next_token,
        },
    )?;
    let mut v = serde_json::to_value(&page).unwrap_or(Value::Null);
    if req.include_execution_data == Some(false) {
        strip_execution_data(&mut v);
    }
    Ok(v)
}

/// `includeExecutionData: false`: the events without their input and output payloads.
fn strip_execution_data(page: &mut Value) {
    let Some(events) = page.get_mut("events").and_then(Value::as_array_mut) else {
        return;
    };
    for event in events {
        let Some(fields) = event.as_object_mut() else {
            continue;
        };
        for (key, details) in fields.iter_mut() {
            if key.ends_with("EventDetails")
                && let Some(d) = details.as_object_mut()
            {
                d.remove("input");
                d.remove("output");
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopExecutionInput {
    execution_arn: String,
    error: Option<String>,
    cause: Option<String>,
}

async fn stop_execution(engine: &Engine, req: StopExecutionInput) -> Result<Value, ApiError> {
    let d = engine
        .stop_execution(
            execution_arn(&req.execution_arn)?,
            req.error.as_deref(),
            req.cause.as_deref(),
        )
        .await?;
    let stopped = d.stop_date.unwrap_or_else(|| engine.clock().now());
    Ok(json!({"stopDate": epoch(&stopped)}))
}

async fn redrive_execution(engine: &Engine, req: ExecutionArnInput) -> Result<Value, ApiError> {
    let date = engine
        .redrive_execution(execution_arn(&req.execution_arn)?)
        .await?;
    Ok(json!({"redriveDate": epoch(&date)}))
}
