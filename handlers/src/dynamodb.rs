//! DynamoDB behind `steps::ports::JobStore`: the job table (partition key `job_id`, TTL attribute
//! `ttl`). The lifecycle rules of `steps::memory` (status never moves backwards, never leaves a
//! terminal state; progress never decreases) are enforced by `ConditionExpression`s, so two
//! writers racing (the parallel branches, a retry and the reconciler) cannot break them.
//!
//! Each write names only the attributes infra/lib/access.ts allows its function
//! (`dynamodb:Attributes`): advance touches `status, stage, progress, updated_at`; complete adds
//! the results; fail adds `error`; the worker adds `execution_arn`. Absent optional fields are
//! left out of items, never written as NULL.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};
use steps::job_rules::JobUpdate;
use steps::ports::{JobStore, JobStoreError};
use steps::{Job, JobError, JobResults, JobStatus, Stage};
use uuid::Uuid;

use crate::aws_error::{Failure, classify};

type Item = HashMap<String, AttributeValue>;

/// The jobs table.
#[derive(Debug, Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// An UpdateItem on the job that returns the item as it ends up (or as it was, if refused).
    fn update_request(&self, job_id: Uuid) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("job_id", AttributeValue::S(job_id.to_string()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }

    /// Runs a conditional update; a refused condition becomes `NotFound` or `Conflict` from the
    /// item DynamoDB returns with the refusal.
    async fn conditional(
        &self,
        job_id: Uuid,
        request: UpdateItemFluentBuilder,
        attempted: &str,
    ) -> Result<Result<Job, Refused>, JobStoreError> {
        match request.send().await {
            Ok(output) => {
                let item = output.attributes.ok_or_else(|| {
                    JobStoreError::Other(format!("job {job_id}: update returned no item"))
                })?;
                job_from_item(&item).map(Ok)
            }
            Err(err) => {
                let refused = err
                    .as_service_error()
                    .and_then(|e| match e {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => Some(c),
                        _ => None,
                    });
                let Some(refused) = refused else {
                    return Err(job_error(classify(&err), job_id));
                };
                // With ALL_OLD, a refusal carries the item whenever it exists: no item means no
                // job. (No read here: the stages' roles may not GetItem.)
                Ok(Err(match refused.item() {
                    None => Refused::Missing,
                    Some(item) => Refused::By(job_from_item(item)?.status, attempted.to_owned()),
                }))
            }
        }
    }

    async fn read(&self, job_id: Uuid, consistent: bool) -> Result<Option<Job>, JobStoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("job_id", AttributeValue::S(job_id.to_string()))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| job_error(classify(&e), job_id))?;
        output.item.as_ref().map(job_from_item).transpose()
    }
}

/// Why a conditional write did not happen.
enum Refused {
    Missing,
    By(JobStatus, String),
}

impl Refused {
    fn into_error(self, job_id: Uuid) -> JobStoreError {
        match self {
            Refused::Missing => JobStoreError::NotFound(job_id),
            Refused::By(current, attempted) => JobStoreError::Conflict {
                job_id,
                current,
                attempted,
            },
        }
    }
}

fn job_error(failure: Failure, job_id: Uuid) -> JobStoreError {
    match failure {
        Failure::Transient(m) => JobStoreError::Unavailable(format!("job {job_id}: {m}")),
        Failure::Permanent { message, .. } => {
            JobStoreError::Other(format!("job {job_id}: {message}"))
        }
    }
}

const NOT_TERMINAL: &str = "attribute_exists(job_id) AND #status IN (:queued, :processing)";

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn timestamp(at: DateTime<Utc>) -> AttributeValue {
    s(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// Adds the placeholders every status-guarded update uses.
fn guarded(request: UpdateItemFluentBuilder, now: DateTime<Utc>) -> UpdateItemFluentBuilder {
    request
        .condition_expression(NOT_TERMINAL)
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#updated_at", "updated_at")
        .expression_attribute_values(":queued", s(JobStatus::Queued.as_str()))
        .expression_attribute_values(":processing", s(JobStatus::Processing.as_str()))
        .expression_attribute_values(":now", timestamp(now))
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create(&self, job: Job) -> Result<(), JobStoreError> {
        let job_id = job.job_id;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_from_job(&job)?))
            .condition_expression("attribute_not_exists(job_id)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(JobStoreError::AlreadyExists(job_id))
            }
            Err(e) => Err(job_error(classify(&e), job_id)),
        }
    }

    async fn get(&self, job_id: Uuid) -> Result<Job, JobStoreError> {
        self.read(job_id, true)
            .await?
            .ok_or(JobStoreError::NotFound(job_id))
    }

    async fn update(&self, job_id: Uuid, update: JobUpdate) -> Result<Job, JobStoreError> {
        // One conditional UpdateItem per kind of write: DynamoDB evaluates job_rules' guards
        // itself (ConditionExpression), so no read-modify-write race between writers.
        match update {
            JobUpdate::Advance { stage, progress } => {
                self.advance_item(job_id, stage, progress).await
            }
            JobUpdate::Complete(results) => self.complete_item(job_id, *results).await,
            JobUpdate::Fail(error) => self.fail_item(job_id, error).await,
            JobUpdate::SetExecutionArn(arn) => self.record_execution_arn(job_id, &arn).await,
            JobUpdate::Redrive => self.redrive_item(job_id).await,
        }
    }
}

/// The four conditional writes behind [`JobStore::update`].
impl DynamoJobStore {
    async fn advance_item(
        &self,
        job_id: Uuid,
        stage: Stage,
        progress: u8,
    ) -> Result<Job, JobStoreError> {
        let progress = progress.min(100);
        let attempted = format!("advance to {stage}");
        // First try to move forward: stage and progress follow when progress does not go back.
        let forward = guarded(self.update_request(job_id), Utc::now())
            .condition_expression(format!("{NOT_TERMINAL} AND #progress <= :progress"))
            .update_expression("SET #status = :processing, #stage = :stage, #progress = :progress, #updated_at = :now")
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_names("#progress", "progress")
            .expression_attribute_values(":stage", s(stage.as_str()))
            .expression_attribute_values(":progress", n(progress));
        match self.conditional(job_id, forward, &attempted).await? {
            Ok(job) => return Ok(job),
            Err(Refused::By(current, _)) if !current.is_terminal() => {}
            Err(refused) => return Err(refused.into_error(job_id)),
        }
        // Further along already (the other parallel branch reported first): keep its stage and
        // progress, only the status and the time move.
        let status_only = guarded(self.update_request(job_id), Utc::now())
            .update_expression("SET #status = :processing, #updated_at = :now");
        self.conditional(job_id, status_only, &attempted)
            .await?
            .map_err(|r| r.into_error(job_id))
    }

    async fn complete_item(&self, job_id: Uuid, results: JobResults) -> Result<Job, JobStoreError> {
        let request = guarded(self.update_request(job_id), Utc::now())
            .update_expression(
                "SET #status = :completed, #stage = :stage, #progress = :progress, #updated_at = :now, \
                 avatar_key = :avatar_key, identity_package = :identity, pet_analysis = :analysis, \
                 career_profile = :career",
            )
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_names("#progress", "progress")
            .expression_attribute_values(":completed", s(JobStatus::Completed.as_str()))
            .expression_attribute_values(":stage", s(Stage::Completed.as_str()))
            .expression_attribute_values(":progress", n(100))
            .expression_attribute_values(":avatar_key", s(results.avatar_key))
            .expression_attribute_values(":identity", to_attribute(&results.identity_package)?)
            .expression_attribute_values(":analysis", to_attribute(&results.pet_analysis)?)
            .expression_attribute_values(":career", to_attribute(&results.career_profile)?);
        self.conditional(job_id, request, "complete")
            .await?
            .map_err(|r| r.into_error(job_id))
    }

    async fn fail_item(&self, job_id: Uuid, error: JobError) -> Result<Job, JobStoreError> {
        // The stage stays where the job failed: an operator wants to know which stage it was.
        let request = guarded(self.update_request(job_id), Utc::now())
            .update_expression("SET #status = :failed, #updated_at = :now, #error = :error")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":failed", s(JobStatus::Failed.as_str()))
            .expression_attribute_values(":error", to_attribute(&error)?);
        self.conditional(job_id, request, "fail")
            .await?
            .map_err(|r| r.into_error(job_id))
    }

    /// `failed → processing`, the error removed (job_rules::check_redrive): the one write out
    /// of a terminal status, so it has its own condition instead of `guarded`'s.
    async fn redrive_item(&self, job_id: Uuid) -> Result<Job, JobStoreError> {
        let request = self
            .update_request(job_id)
            .condition_expression("attribute_exists(job_id) AND #status = :failed")
            .update_expression("SET #status = :processing, #updated_at = :now REMOVE #error")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":failed", s(JobStatus::Failed.as_str()))
            .expression_attribute_values(":processing", s(JobStatus::Processing.as_str()))
            .expression_attribute_values(":now", timestamp(Utc::now()));
        self.conditional(job_id, request, "redrive")
            .await?
            .map_err(|r| r.into_error(job_id))
    }

    async fn record_execution_arn(
        &self,
        job_id: Uuid,
        execution_arn: &str,
    ) -> Result<Job, JobStoreError> {
        let request = self
            .update_request(job_id)
            .condition_expression("attribute_exists(job_id)")
            .update_expression("SET execution_arn = :arn, #updated_at = :now")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":arn", s(execution_arn))
            .expression_attribute_values(":now", timestamp(Utc::now()));
        self.conditional(job_id, request, "record the execution")
            .await?
            .map_err(|r| r.into_error(job_id))
    }
}

// ---------------------------------------------------------------------------------------------
// Items <-> jobs. The job's JSON (its serde form, shared with the API and SQLite) is the source:
// a job becomes an item attribute by attribute, nested values as DynamoDB maps and lists so
// they stay readable in the console. Numbers keep their exact decimal text.

/// The item for a job (for `PutItem`).
pub fn item_from_job(job: &Job) -> Result<Item, JobStoreError> {
    let Value::Object(fields) = to_json(job)? else {
        return Err(JobStoreError::Other(
            "a job must serialise as an object".into(),
        ));
    };
    Ok(fields
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k, attribute_from_json(v)))
        .collect())
}

/// The job an item holds.
pub fn job_from_item(item: &Item) -> Result<Job, JobStoreError> {
    let fields: Map<String, Value> = item
        .iter()
        .map(|(k, v)| Ok((k.clone(), json_from_attribute(v)?)))
        .collect::<Result<_, JobStoreError>>()?;
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| JobStoreError::Other(format!("a job item does not match the job record: {e}")))
}

fn to_json(value: &impl Serialize) -> Result<Value, JobStoreError> {
    serde_json::to_value(value).map_err(|e| JobStoreError::Other(format!("cannot serialise: {e}")))
}

fn to_attribute(value: &impl Serialize) -> Result<AttributeValue, JobStoreError> {
    Ok(attribute_from_json(to_json(value)?))
}

/// Reads a JSON-shaped attribute back into a type (used by tests and tools).
pub fn from_attribute<T: DeserializeOwned>(value: &AttributeValue) -> Result<T, JobStoreError> {
    serde_json::from_value(json_from_attribute(value)?)
        .map_err(|e| JobStoreError::Other(format!("unexpected attribute: {e}")))
}

pub fn attribute_from_json(value: Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(num) => AttributeValue::N(num.to_string()),
        Value::String(text) => AttributeValue::S(text),
        Value::Array(items) => {
            AttributeValue::L(items.into_iter().map(attribute_from_json).collect())
        }
        Value::Object(map) => AttributeValue::M(
            map.into_iter()
                .map(|(k, v)| (k, attribute_from_json(v)))
                .collect(),
        ),
    }
}

pub fn json_from_attribute(value: &AttributeValue) -> Result<Value, JobStoreError> {
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(text) => Value::Number(
            text.parse::<Number>()
                .map_err(|e| JobStoreError::Other(format!("number attribute {text:?}: {e}")))?,
        ),
        AttributeValue::S(text) => Value::String(text.clone()),
        AttributeValue::L(items) => Value::Array(
            items
                .iter()
                .map(json_from_attribute)
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), json_from_attribute(v)?)))
                .collect::<Result<_, JobStoreError>>()?,
        ),
        other => {
            return Err(JobStoreError::Other(format!(
                "unexpected attribute type {other:?}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_job_becomes_the_create_attributes_only() {
        let job = Job::new(
            Uuid::new_v4(),
            "key-1",
            "uploads/x/original.png",
            Utc::now(),
        );
        let item = item_from_job(&job).unwrap();
        let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
        names.sort();
        // infra/lib/access.ts CREATE: PutItem may name exactly these.
        assert_eq!(
            names,
            [
                "created_at",
                "job_id",
                "owner",
                "progress",
                "stage",
                "status",
                "ttl",
                "updated_at",
                "upload_key"
            ]
        );
        assert_eq!(item["ttl"], AttributeValue::N(job.ttl.to_string()));
        assert_eq!(job_from_item(&item).unwrap(), job);
    }

    #[test]
    fn nested_values_round_trip() {
        let error = JobError {
            code: "PetAvatar.NotAPet".into(),
            message: "a person".into(),
        };
        let attribute = to_attribute(&error).unwrap();
        assert!(matches!(attribute, AttributeValue::M(_)));
        assert_eq!(from_attribute::<JobError>(&attribute).unwrap(), error);
        let v: Value = serde_json::json!({"a": [1, 2.5, -3, "x", true, null], "b": {"c": 0.125}});
        assert_eq!(
            json_from_attribute(&attribute_from_json(v.clone())).unwrap(),
            v
        );
    }
}
