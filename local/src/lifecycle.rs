//! The embedded engine as the job lifecycle's adapter (`steps::lifecycle`): it starts
//! executions as Step Functions does for the sqs-worker Lambda, and its status changes are the
//! lifecycle's execution ends, as EventBridge's events are for the reconciler Lambda.

use async_trait::async_trait;
use statemachine::{Engine, EngineError, ExecutionStatus, ExecutionStatusChange};
use steps::lifecycle::{
    ControlError, ExecutionControl, ExecutionEnd, ExecutionInput, PipelineStarter, StartError,
    Started, execution_arn,
};
use uuid::Uuid;

/// Starts the pipeline state machine in the embedded engine.
pub struct EngineStarter {
    pub engine: Engine,
    pub state_machine_arn: String,
}

#[async_trait]
impl PipelineStarter for EngineStarter {
    async fn start(&self, input: &ExecutionInput) -> Result<Started, StartError> {
        let name = input.execution_name();
        match self
            .engine
            .start_execution(&self.state_machine_arn, Some(&name), input.to_value())
            .await
        {
            Ok(started) if started.already_existed => Ok(Started::AlreadyExisted {
                execution_arn: started.execution_arn,
            }),
            Ok(started) => Ok(Started::New {
                execution_arn: started.execution_arn,
            }),
            Err(EngineError::ExecutionAlreadyExists(_)) => Ok(Started::AlreadyExisted {
                execution_arn: execution_arn(&self.state_machine_arn, &name),
            }),
            Err(e) => Err(start_error(e)),
        }
    }

    async fn execution_exists(&self, job_id: Uuid) -> Result<bool, StartError> {
        let arn = execution_arn(&self.state_machine_arn, &job_id.to_string());
        match self.engine.describe_execution(&arn) {
            Ok(_) => Ok(true),
            Err(EngineError::ExecutionDoesNotExist(_)) => Ok(false),
            Err(e) => Err(start_error(e)),
        }
    }
}

/// A busy history database or an engine shutting down may pass; anything else will not.
fn start_error(e: EngineError) -> StartError {
    match e {
        EngineError::Store(_) | EngineError::Shutdown => StartError::Transient(e.to_string()),
        other => StartError::Permanent(other.to_string()),
    }
}

/// The engine's status change as the lifecycle's execution end.
pub fn execution_end(change: &ExecutionStatusChange) -> ExecutionEnd {
    match change.status {
        ExecutionStatus::Running => ExecutionEnd::Running,
        ExecutionStatus::Succeeded => ExecutionEnd::Succeeded {
            output: change.output.clone(),
        },
        ExecutionStatus::Failed => ExecutionEnd::Failed {
            error: change.error.clone(),
            cause: change.cause.clone(),
        },
        ExecutionStatus::TimedOut => ExecutionEnd::TimedOut,
        ExecutionStatus::Aborted => ExecutionEnd::Aborted {
            error: change.error.clone(),
            cause: change.cause.clone(),
        },
    }
}

/// An operator's redrive and stop, on the embedded engine (RedriveExecution, StopExecution).
#[async_trait]
impl ExecutionControl for EngineStarter {
    async fn redrive(&self, job_id: Uuid) -> Result<(), ControlError> {
        let arn = execution_arn(&self.state_machine_arn, &job_id.to_string());
        self.engine
            .redrive_execution(&arn)
            .await
            .map(|_| ())
            .map_err(control_error)
    }

    async fn stop(
        &self,
        job_id: Uuid,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<(), ControlError> {
        let arn = execution_arn(&self.state_machine_arn, &job_id.to_string());
        // StopExecution of an ended execution changes nothing; the operator is told so.
        let status = self
            .engine
            .describe_execution(&arn)
            .map_err(control_error)?
            .status;
        if status != ExecutionStatus::Running {
            return Err(ControlError::NotAllowed(format!(
                "Execution is {status} and cannot be stopped"
            )));
        }
        self.engine
            .stop_execution(&arn, error, cause)
            .await
            .map(|_| ())
            .map_err(control_error)
    }
}

fn control_error(e: EngineError) -> ControlError {
    match e {
        EngineError::ExecutionDoesNotExist(arn) => ControlError::NoExecution(arn),
        EngineError::ExecutionNotRedrivable(why) => ControlError::NotAllowed(why),
        EngineError::Store(_) | EngineError::Shutdown => ControlError::Unavailable(e.to_string()),
        other => ControlError::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteJobStore;
    use steps::lifecycle::{ExecutionEnd, outcome_table};
    use steps::ports::JobStore;
    use steps::{Job, Stage};

    /// The status change the engine publishes for `end`.
    fn change_for(job_id: Uuid, end: &ExecutionEnd) -> ExecutionStatusChange {
        let (status, output, error, cause) = match end.clone() {
            ExecutionEnd::Running => (ExecutionStatus::Running, None, None, None),
            ExecutionEnd::Succeeded { output } => (ExecutionStatus::Succeeded, output, None, None),
            ExecutionEnd::Failed { error, cause } => (ExecutionStatus::Failed, None, error, cause),
            ExecutionEnd::TimedOut => (ExecutionStatus::TimedOut, None, None, None),
            ExecutionEnd::Aborted { error, cause } => {
                (ExecutionStatus::Aborted, None, error, cause)
            }
        };
        ExecutionStatusChange {
            execution_arn: execution_arn(
                "arn:aws:states:local:0:stateMachine:p",
                &job_id.to_string(),
            ),
            state_machine_arn: "arn:aws:states:local:0:stateMachine:p".into(),
            name: job_id.to_string(),
            status,
            start_date: chrono::Utc::now(),
            stop_date: None,
            output,
            error,
            cause,
        }
    }

    /// Every row of the lifecycle's outcome table, through the engine's status changes and the
    /// SQLite job store (handlers/tests/aws_adapters.rs runs the same rows through EventBridge
    /// events and DynamoDB).
    #[tokio::test]
    async fn the_outcome_table_holds_for_engine_status_changes() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = SqliteJobStore::open(&dir.path().join("jobs.db")).unwrap();
        for case in outcome_table() {
            let job_id = Uuid::new_v4();
            jobs.create(Job::new(
                job_id,
                "owner",
                "uploads/x/original.png",
                chrono::Utc::now(),
            ))
            .await
            .unwrap();
            jobs.advance(job_id, Stage::AnalyzePet, 20).await.unwrap();
            let change = change_for(job_id, &case.end);
            assert_eq!(execution_end(&change), case.end, "{}", case.name);
            crate::worker::reconcile(&jobs, &change).await;
            let job = jobs.get(job_id).await.unwrap();
            assert_eq!(
                job.error.map(|e| e.code).as_deref(),
                case.code,
                "{}",
                case.name
            );
        }
    }
}
