//! What an operator does, for the execution pages, their JSON and `petavatar executions`:
//! list executions (by status, start time, name prefix; paged, as ListExecutions), and redrive or
//! stop a job's execution. Job changes go through `steps::lifecycle` (redrive, stop), the one
//! module that decides what happens to a job around its execution.
//!
//! Routes (all behind the operator key, `crate::operator`):
//!
//! | route | does |
//! |---|---|
//! | `GET /api/executions?status=&started_after=&started_before=&name_prefix=&max_results=&next_token=` | `{executions, nextToken?}`, newest first |
//! | `GET /api/executions/{job_id}` | `{execution, definition, events, job}` |
//! | `POST /api/executions/{job_id}/redrive` `{}` | the job back to `processing`, the execution redriven; `{job, execution}` |
//! | `POST /api/executions/{job_id}/stop` `{error?, cause?}` | the execution aborted, the job `failed` with that error; `{job, execution}` |
//!
//! The two POSTs take a JSON body (`content-type: application/json`): with the sign-in
//! cookie's `SameSite=Strict`, a page of another site can make a browser send neither.

use api::ApiError;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use statemachine::{EngineError, ExecutionDescription, ExecutionStatus};
use steps::Job;
use steps::lifecycle::{self, ControlError, OperatorError};
use uuid::Uuid;

use crate::lifecycle::EngineStarter;
use crate::web::{LocalState, execution_arn};

/// Executions per page unless asked (ListExecutions' default is 100 too).
pub const DEFAULT_PAGE: usize = 100;
/// The most an operator may ask for in one page (ListExecutions' maximum).
pub const MAX_PAGE: usize = 1000;
/// StopExecution's limits on the error and the cause.
pub const MAX_ERROR_CHARS: usize = 256;
pub const MAX_CAUSE_CHARS: usize = 32_768;

/// Which executions, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionFilter {
    pub status: Option<ExecutionStatus>,
    pub started_after: Option<DateTime<Utc>>,
    pub started_before: Option<DateTime<Utc>>,
    pub name_prefix: Option<String>,
    pub max_results: Option<usize>,
    /// The `nextToken` of the page before.
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown status {0:?} (RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED)")]
    Status(String),
    #[error("{0:?} is not a time (RFC 3339, e.g. 2026-12-03T16:00:00Z)")]
    Time(String),
    #[error("max_results must be 1 to {MAX_PAGE}")]
    PageSize,
    #[error("invalid next_token")]
    Token,
}

/// An execution status by its ListExecutions name (`FAILED`, `failed`).
pub fn parse_status(text: &str) -> Result<ExecutionStatus, FilterError> {
    Ok(match text.trim().to_ascii_uppercase().as_str() {
        "RUNNING" => ExecutionStatus::Running,
        "SUCCEEDED" => ExecutionStatus::Succeeded,
        "FAILED" => ExecutionStatus::Failed,
        "TIMED_OUT" => ExecutionStatus::TimedOut,
        "ABORTED" => ExecutionStatus::Aborted,
        _ => return Err(FilterError::Status(text.to_owned())),
    })
}

pub fn parse_time(text: &str) -> Result<DateTime<Utc>, FilterError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| FilterError::Time(text.to_owned()))
}

/// Where a page ends: the start (ms) and name of its last execution. Executions started later
/// come before it, so a page stays where it was while new executions arrive.
fn token_of(e: &ExecutionDescription) -> String {
    format!("{}/{}", e.start_date.timestamp_millis(), e.name)
}

fn parse_token(token: &str) -> Result<(i64, String), FilterError> {
    let (millis, name) = token.split_once('/').ok_or(FilterError::Token)?;
    Ok((
        millis.parse().map_err(|_| FilterError::Token)?,
        name.to_owned(),
    ))
}

/// Newest first, then by name: the order pages follow.
fn order_key(e: &ExecutionDescription) -> (i64, String) {
    (e.start_date.timestamp_millis(), e.name.clone())
}

/// One page of the executions that pass the filter, and the token of the next, if any.
pub fn page_of(
    mut executions: Vec<ExecutionDescription>,
    filter: &ExecutionFilter,
) -> Result<(Vec<ExecutionDescription>, Option<String>), FilterError> {
    let size = filter.max_results.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&size) {
        return Err(FilterError::PageSize);
    }
    let after = filter.next_token.as_deref().map(parse_token).transpose()?;
    executions.retain(|e| {
        filter.status.is_none_or(|s| e.status == s)
            && filter.started_after.is_none_or(|t| e.start_date >= t)
            && filter.started_before.is_none_or(|t| e.start_date < t)
            && filter
                .name_prefix
                .as_deref()
                .is_none_or(|p| e.name.starts_with(p))
            && after.as_ref().is_none_or(|a| order_key(e) < *a)
    });
    executions.sort_by_key(|e| std::cmp::Reverse(order_key(e)));
    let more = executions.len() > size;
    executions.truncate(size);
    let next = more.then(|| executions.last().map(token_of)).flatten();
    Ok((executions, next))
}

// ---------------------------------------------------------------------------------------------
// Routes

/// The query of `GET /api/executions`. No `Debug` needed, nothing secret either.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    status: Option<String>,
    started_after: Option<String>,
    started_before: Option<String>,
    name_prefix: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

impl ListQuery {
    fn filter(self) -> Result<ExecutionFilter, FilterError> {
        let nonempty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        Ok(ExecutionFilter {
            status: nonempty(self.status)
                .as_deref()
                .map(parse_status)
                .transpose()?,
            started_after: nonempty(self.started_after)
                .as_deref()
                .map(parse_time)
                .transpose()?,
            started_before: nonempty(self.started_before)
                .as_deref()
                .map(parse_time)
                .transpose()?,
            name_prefix: nonempty(self.name_prefix),
            max_results: self.max_results,
            next_token: nonempty(self.next_token),
        })
    }
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::ExecutionDoesNotExist(_) => {
            ApiError::not_found("ExecutionDoesNotExist", e.to_string())
        }
        other => ApiError::internal("engine", other),
    }
}

pub async fn list_executions(
    State(state): State<LocalState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = query
        .filter()
        .map_err(|e| ApiError::bad_request("InvalidParameter", e.to_string()))?;
    let all = state.engine.list_executions(None).map_err(engine_error)?;
    let (executions, next) = page_of(all, &filter)
        .map_err(|e| ApiError::bad_request("InvalidParameter", e.to_string()))?;
    let mut body = json!({ "executions": executions });
    if let Some(next) = next {
        body["nextToken"] = json!(next);
    }
    Ok(Json(body))
}

/// What the execution page shows of a job beside its execution.
fn job_summary(job: &Job) -> Value {
    json!({
        "job_id": job.job_id,
        "status": job.status,
        "stage": job.stage,
        "progress": job.progress,
        "error": job.error,
        "updated_at": job.updated_at,
    })
}

async fn job_of(state: &LocalState, name: &str) -> Value {
    match Uuid::parse_str(name) {
        Ok(job_id) => state
            .jobs
            .get(job_id)
            .await
            .map(|job| job_summary(&job))
            .unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

pub async fn execution_detail(
    State(state): State<LocalState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let arn = execution_arn(&state.state_machine_arn, &name);
    let execution = state
        .engine
        .describe_execution(&arn)
        .map_err(engine_error)?;
    let definition = state
        .engine
        .describe_state_machine(&execution.state_machine_arn)
        .map_err(engine_error)?;
    let definition: Value = serde_json::from_str(&definition).unwrap_or(Value::Null);
    let events = state.engine.history(&arn).map_err(engine_error)?;
    let job = job_of(&state, &execution.name).await;
    Ok(Json(
        json!({ "execution": execution, "definition": definition, "events": events, "job": job }),
    ))
}

/// The body of `POST …/stop`. Unknown fields are refused, as the public API does.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    error: Option<String>,
    cause: Option<String>,
}

/// The body of `POST …/redrive`: an empty object.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RedriveRequest {}

fn job_id_of(name: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(name).map_err(|_| {
        ApiError::bad_request("InvalidJobId", "the execution's name must be its job id")
    })
}

fn operator_error(e: OperatorError) -> ApiError {
    let message = e.to_string();
    match e {
        OperatorError::JobNotFound(_) => ApiError::job_not_found(),
        OperatorError::WrongStatus { .. } => ApiError::conflict("JobStatusConflict", message),
        OperatorError::Control(ControlError::NoExecution(_)) => {
            ApiError::not_found("ExecutionDoesNotExist", message)
        }
        OperatorError::Control(ControlError::NotAllowed(_)) => {
            ApiError::conflict("ExecutionNotRedrivable", message)
        }
        OperatorError::Control(ControlError::Unavailable(_)) => {
            ApiError::unavailable("engine", message)
        }
        other => ApiError::internal("operator action", other),
    }
}

fn starter(state: &LocalState) -> EngineStarter {
    EngineStarter {
        engine: state.engine.clone(),
        state_machine_arn: state.state_machine_arn.clone(),
    }
}

async fn answer(state: &LocalState, job: &Job) -> Result<Json<Value>, ApiError> {
    let arn = execution_arn(&state.state_machine_arn, &job.job_id.to_string());
    let execution = state
        .engine
        .describe_execution(&arn)
        .map_err(engine_error)?;
    Ok(Json(
        json!({ "job": job_summary(job), "execution": execution }),
    ))
}

pub async fn redrive(
    State(state): State<LocalState>,
    Path(name): Path<String>,
    Json(_): Json<RedriveRequest>,
) -> Result<Json<Value>, ApiError> {
    let job_id = job_id_of(&name)?;
    let job = lifecycle::redrive(state.jobs.as_ref(), &starter(&state), job_id)
        .await
        .map_err(operator_error)?;
    answer(&state, &job).await
}

pub async fn stop(
    State(state): State<LocalState>,
    Path(name): Path<String>,
    Json(request): Json<StopRequest>,
) -> Result<Json<Value>, ApiError> {
    let job_id = job_id_of(&name)?;
    let error = request.error.filter(|e| !e.trim().is_empty());
    let cause = request.cause.filter(|c| !c.trim().is_empty());
    if error
        .as_ref()
        .is_some_and(|e| e.chars().count() > MAX_ERROR_CHARS)
        || cause
            .as_ref()
            .is_some_and(|c| c.chars().count() > MAX_CAUSE_CHARS)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidBody",
            format!("error is at most {MAX_ERROR_CHARS} characters, cause {MAX_CAUSE_CHARS}"),
        ));
    }
    let job = lifecycle::stop(
        state.jobs.as_ref(),
        &starter(&state),
        job_id,
        error.as_deref(),
        cause.as_deref(),
    )
    .await
    .map_err(operator_error)?;
    answer(&state, &job).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use statemachine::Engine;

    /// `n` finished executions named `job-00` … of a one-state machine, in a real engine.
    async fn executions(n: usize) -> Vec<ExecutionDescription> {
        let engine = Engine::builder().in_memory().build();
        let arn = engine
            .create_state_machine(
                "m",
                r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#,
            )
            .unwrap();
        for i in 0..n {
            let started = engine
                .start_execution(&arn, Some(&format!("job-{i:02}")), json!({}))
                .await
                .unwrap();
            engine.wait(&started.execution_arn).await.unwrap();
        }
        engine.list_executions(None).unwrap()
    }

    #[tokio::test]
    async fn pages_cover_every_execution_once_newest_first() {
        let all = executions(7).await;
        let mut filter = ExecutionFilter {
            max_results: Some(3),
            ..ExecutionFilter::default()
        };
        let mut seen = Vec::new();
        loop {
            let (page, next) = page_of(all.clone(), &filter).unwrap();
            assert!(page.len() <= 3);
            seen.extend(page.into_iter().map(|e| e.name));
            match next {
                Some(token) => filter.next_token = Some(token),
                None => break,
            }
        }
        let mut expected: Vec<(i64, String)> = all.iter().map(order_key).collect();
        expected.sort_by(|a, b| b.cmp(a));
        let expected: Vec<String> = expected.into_iter().map(|(_, n)| n).collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn filters_by_status_prefix_and_time() {
        let all = executions(3).await;
        let by_prefix = ExecutionFilter {
            name_prefix: Some("job-01".into()),
            ..ExecutionFilter::default()
        };
        let (page, next) = page_of(all.clone(), &by_prefix).unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!((page[0].name.as_str(), next), ("job-01", None));
        let failed = ExecutionFilter {
            status: Some(ExecutionStatus::Failed),
            ..ExecutionFilter::default()
        };
        assert!(page_of(all.clone(), &failed).unwrap().0.is_empty());
        let first_start = all.iter().map(|e| e.start_date).min().unwrap();
        let before_all = ExecutionFilter {
            started_before: Some(first_start),
            ..ExecutionFilter::default()
        };
        assert!(page_of(all.clone(), &before_all).unwrap().0.is_empty());
        let since_first = ExecutionFilter {
            started_after: Some(first_start),
            ..ExecutionFilter::default()
        };
        assert_eq!(page_of(all.clone(), &since_first).unwrap().0.len(), 3);
        let too_big = ExecutionFilter {
            max_results: Some(MAX_PAGE + 1),
            ..ExecutionFilter::default()
        };
        assert_eq!(page_of(all.clone(), &too_big), Err(FilterError::PageSize));
        let bad_token = ExecutionFilter {
            next_token: Some("nope".into()),
            ..ExecutionFilter::default()
        };
        assert_eq!(page_of(all, &bad_token), Err(FilterError::Token));
    }

    #[test]
    fn statuses_and_times_parse_strictly() {
        assert_eq!(parse_status("failed"), Ok(ExecutionStatus::Failed));
        assert!(parse_status("BROKEN").is_err());
        assert!(parse_time("2026-12-03T16:00:00Z").is_ok());
        assert!(parse_time("yesterday").is_err());
    }
}
