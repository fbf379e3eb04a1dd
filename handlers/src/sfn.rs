//! Step Functions: starting the pipeline for a job. The execution is named after the job and its
//! input is deterministic (`{job_id, bucket, key, species_hint}`), so starting it twice — a
//! redelivered message, or the S3 event and `POST /process` both firing — yields one execution.

use async_trait::async_trait;
use aws_sdk_sfn::Client;
use steps::lifecycle::{ExecutionInput, PipelineStarter, StartError, Started, execution_arn};
use uuid::Uuid;

use crate::aws_error::{Failure, classify};

#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: Client,
    state_machine_arn: String,
}

impl StepFunctions {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }
}

#[async_trait]
impl PipelineStarter for StepFunctions {
    async fn start(&self, input: &ExecutionInput) -> Result<Started, StartError> {
        let name = input.execution_name();
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

    async fn execution_exists(&self, job_id: Uuid) -> Result<bool, StartError> {
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
