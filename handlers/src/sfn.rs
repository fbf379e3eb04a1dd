//! Step Functions: starting the pipeline for a job. The execution is named after the job and its
//! input is deterministic (`{job_id, bucket, key, species_hint}`), so starting it twice — a
//! redelivered message, or the S3 event and `POST /process` both firing — yields one execution.

use aws_sdk_sfn::Client;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aws_error::{Failure, classify};

/// The execution input (docs/ARCHITECTURE.md: "State machine input and output").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionInput {
    pub job_id: Uuid,
    pub bucket: String,
    pub key: String,
    pub species_hint: Option<String>,
}

impl ExecutionInput {
    /// The JSON text sent to StartExecution. Field order is fixed by the struct, so the same job
    /// always produces byte-identical input (Step Functions compares inputs for idempotency).
    pub fn to_json(&self) -> Result<String, StartError> {
        serde_json::to_string(self)
            .map_err(|e| StartError::Permanent(format!("cannot serialise the input: {e}")))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A new execution (or, for an identical running one, the same ARN again).
    New { execution_arn: String },
    /// `ExecutionAlreadyExists`: the job's execution was started before. Counts as success.
    AlreadyExisted { execution_arn: String },
}

impl Started {
    pub fn execution_arn(&self) -> &str {
        match self {
            Started::New { execution_arn } | Started::AlreadyExisted { execution_arn } => {
                execution_arn
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// Throttled, a 5xx, the execution limit: leave the message for redelivery.
    #[error("start execution: temporary failure: {0}")]
    Transient(String),
    #[error("start execution: {0}")]
    Permanent(String),
}

#[derive(Debug, Clone)]
pub struct PipelineStarter {
    client: Client,
    state_machine_arn: String,
}

impl PipelineStarter {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    pub async fn start(&self, input: &ExecutionInput) -> Result<Started, StartError> {
        let name = input.job_id.to_string();
        let result = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(&name)
            .input(input.to_json()?)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Started::New {
                execution_arn: output.execution_arn().to_owned(),
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_already_exists()) =>
            {
                Ok(Started::AlreadyExisted {
                    execution_arn: execution_arn(&self.state_machine_arn, &name),
                })
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_limit_exceeded()) =>
            {
                Err(StartError::Transient("too many running executions".into()))
            }
            Err(e) => Err(match classify(&e) {
                Failure::Transient(m) => StartError::Transient(m),
                Failure::Permanent { message, .. } => StartError::Permanent(message),
            }),
        }
    }
}

impl PipelineStarter {
    /// Whether the job's execution exists (DescribeExecution): a worker giving up on a message
    /// fails the job only if it does not, since an earlier receive may have started it.
    pub async fn execution_exists(&self, job_id: Uuid) -> Result<bool, StartError> {
        let arn = execution_arn(&self.state_machine_arn, &job_id.to_string());
        match self
            .client
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_execution_does_not_exist()) =>
            {
                Ok(false)
            }
            Err(e) => Err(match classify(&e) {
                Failure::Transient(m) => StartError::Transient(m),
                Failure::Permanent { message, .. } => StartError::Permanent(message),
            }),
        }
    }
}

/// The ARN of the execution `name` of a standard state machine:
/// `arn:aws:states:r:a:stateMachine:M` → `arn:aws:states:r:a:execution:M:name`.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_arns_follow_the_state_machine() {
        assert_eq!(
            execution_arn(
                "arn:aws:states:eu-west-1:123456789012:stateMachine:Pipeline",
                "job-1"
            ),
            "arn:aws:states:eu-west-1:123456789012:execution:Pipeline:job-1"
        );
    }

    #[test]
    fn the_input_is_byte_identical_for_a_job() {
        let input = ExecutionInput {
            job_id: Uuid::nil(),
            bucket: "b".into(),
            key: "uploads/x/original.png".into(),
            species_hint: None,
        };
        assert_eq!(
            input.to_json().unwrap(),
            r#"{"job_id":"00000000-0000-0000-0000-000000000000","bucket":"b","key":"uploads/x/original.png","species_hint":null}"#
        );
    }
}
