//! The rules of a job record's life, as one pure function: the in-memory and SQLite stores call
//! it inside their atomic read-check-write. The DynamoDB store cannot (its check runs on the
//! server), so it states the same rules as condition expressions (checked against moto in
//! handlers/tests/aws_adapters.rs); all three must refuse and accept the same writes.
//!
//! - status only moves `queued → processing → completed|failed`, never backwards and never out
//!   of a terminal status; repeating a terminal write (`complete` on a completed job) is refused
//!   too, so a caller can tell "I did it" from "it was already done";
//! - `advance` keeps the larger progress, and the stage follows the progress, so the two
//!   parallel branches may report in either order;
//! - the execution ARN may be recorded in any status;
//! - the one way out of a terminal status is an operator's redrive ([`JobUpdate::Redrive`]):
//!   `failed → processing`, the error cleared, stage and progress kept (the redriven execution
//!   goes on from the state that failed);
//! - a refused write is [`JobStoreError::Conflict`] and changes nothing.

use chrono::{DateTime, Utc};

use crate::domain::{Job, JobError, JobResults, JobStatus, Stage};
use crate::ports::JobStoreError;

/// A write to a job record: one variant per `JobStore` write method.
#[derive(Debug, Clone, PartialEq)]
pub enum JobUpdate {
    /// `JobStore::advance`: the job entered `stage` with `progress`.
    Advance { stage: Stage, progress: u8 },
    /// `JobStore::complete`: the results are stored.
    Complete(Box<JobResults>),
    /// `JobStore::fail`: the job failed with this error.
    Fail(JobError),
    /// `JobStore::set_execution_arn`: the execution that runs the job.
    SetExecutionArn(String),
    /// `JobStore::redrive`: an operator redrives the failed job's execution; only from `failed`.
    Redrive,
}

impl JobUpdate {
    /// The status the write moves the job to; `None` for a write allowed in any status.
    pub fn target_status(&self) -> Option<JobStatus> {
        match self {
            JobUpdate::Advance { .. } => Some(JobStatus::Processing),
            JobUpdate::Complete(_) => Some(JobStatus::Completed),
            JobUpdate::Fail(_) => Some(JobStatus::Failed),
            JobUpdate::SetExecutionArn(_) => None,
            JobUpdate::Redrive => Some(JobStatus::Processing),
        }
    }

    /// What was attempted, as a refused write reports it (`"advance to analyze_pet"`).
    pub fn attempted(&self) -> String {
        match self {
            JobUpdate::Advance { stage, .. } => format!("advance to {stage}"),
            JobUpdate::Complete(_) => "complete".to_owned(),
            JobUpdate::Fail(_) => "fail".to_owned(),
            JobUpdate::SetExecutionArn(_) => "set the execution".to_owned(),
            JobUpdate::Redrive => "redrive".to_owned(),
        }
    }
}

/// The job after `update` at `now`, or `Conflict` if the rules refuse it (then the stored
/// record must stay as it was).
pub fn apply_update(
    job: &Job,
    update: JobUpdate,
    now: DateTime<Utc>,
) -> Result<Job, JobStoreError> {
    if matches!(update, JobUpdate::Redrive) {
        check_redrive(job)?;
    } else if let Some(target) = update.target_status() {
        check_transition(job, target, &update.attempted())?;
    }
    let mut next = job.clone();
    match update {
        JobUpdate::Advance { stage, progress } => {
            let (stage, progress) = advanced_progress(job, stage, progress);
            next.status = JobStatus::Processing;
            next.stage = stage;
            next.progress = progress;
        }
        JobUpdate::Complete(results) => {
            let results = *results;
            next.status = JobStatus::Completed;
            next.stage = Stage::Completed;
            next.progress = 100;
            next.avatar_key = Some(results.avatar_key);
            next.identity_package = Some(results.identity_package);
            next.pet_analysis = Some(results.pet_analysis);
            next.career_profile = Some(results.career_profile);
            next.error = None;
        }
        JobUpdate::Fail(error) => {
            // The stage stays where the job failed: an operator wants to know which stage it was.
            next.status = JobStatus::Failed;
            next.error = Some(error);
        }
        JobUpdate::SetExecutionArn(arn) => next.execution_arn = Some(arn),
        JobUpdate::Redrive => {
            next.status = JobStatus::Processing;
            next.error = None;
        }
    }
    next.updated_at = now;
    Ok(next)
}

/// Whether the job's status may move to `target`: never backwards, never out of a terminal
/// status, and a terminal write is not repeated.
pub fn check_transition(
    job: &Job,
    target: JobStatus,
    attempted: &str,
) -> Result<(), JobStoreError> {
    if job.status.is_terminal() || !job.status.can_move_to(target) {
        return Err(JobStoreError::Conflict {
            job_id: job.job_id,
            current: job.status,
            attempted: attempted.to_owned(),
        });
    }
    Ok(())
}

/// Whether the job may be redriven: only a failed job.
pub fn check_redrive(job: &Job) -> Result<(), JobStoreError> {
    if job.status != JobStatus::Failed {
        return Err(JobStoreError::Conflict {
            job_id: job.job_id,
            current: job.status,
            attempted: JobUpdate::Redrive.attempted(),
        });
    }
    Ok(())
}

/// Stage and progress after `advance`: the larger progress wins (capped at 100), and the
/// stage goes with it.
pub fn advanced_progress(job: &Job, stage: Stage, progress: u8) -> (Stage, u8) {
    let progress = progress.min(100);
    if progress >= job.progress {
        (stage, progress)
    } else {
        (job.stage, job.progress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn queued() -> Job {
        Job::new(
            Uuid::new_v4(),
            "key-1",
            "uploads/x/original.png",
            DateTime::<Utc>::UNIX_EPOCH,
        )
    }

    fn later() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::TimeDelta::seconds(60)
    }

    fn advance(stage: Stage, progress: u8) -> JobUpdate {
        JobUpdate::Advance { stage, progress }
    }

    fn failure() -> JobUpdate {
        JobUpdate::Fail(JobError {
            code: "PetAvatar.NotAPet".into(),
            message: "no animal".into(),
        })
    }

    #[test]
    fn advancing_moves_to_processing_and_keeps_the_larger_progress() {
        let job = apply_update(&queued(), advance(Stage::MapCareer, 45), later()).unwrap();
        assert_eq!(
            (job.status, job.stage, job.progress, job.updated_at),
            (JobStatus::Processing, Stage::MapCareer, 45, later())
        );
        let same = apply_update(&job, advance(Stage::AnalyzePet, 25), later()).unwrap();
        assert_eq!((same.stage, same.progress), (Stage::MapCareer, 45));
        let capped = apply_update(&job, advance(Stage::RecordResult, 250), later()).unwrap();
        assert_eq!((capped.stage, capped.progress), (Stage::RecordResult, 100));
    }

    #[test]
    fn failing_keeps_the_stage_and_records_the_error() {
        let processing = apply_update(&queued(), advance(Stage::AnalyzePet, 25), later()).unwrap();
        let failed = apply_update(&processing, failure(), later()).unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert_eq!(failed.stage, Stage::AnalyzePet);
        assert_eq!(failed.error.unwrap().code, "PetAvatar.NotAPet");
    }

    #[test]
    fn nothing_leaves_a_terminal_status_nor_repeats_a_terminal_write() {
        let failed = apply_update(&queued(), failure(), later()).unwrap();
        for update in [advance(Stage::RecordResult, 90), failure()] {
            let attempted = update.attempted();
            assert_eq!(
                apply_update(&failed, update, later()),
                Err(JobStoreError::Conflict {
                    job_id: failed.job_id,
                    current: JobStatus::Failed,
                    attempted,
                })
            );
        }
    }

    #[test]
    fn only_a_failed_job_is_redriven_back_to_processing() {
        let processing = apply_update(&queued(), advance(Stage::MapCareer, 45), later()).unwrap();
        let failed = apply_update(&processing, failure(), later()).unwrap();
        let redriven = apply_update(&failed, JobUpdate::Redrive, later()).unwrap();
        assert_eq!(
            (
                redriven.status,
                redriven.stage,
                redriven.progress,
                redriven.error.clone()
            ),
            (JobStatus::Processing, Stage::MapCareer, 45, None)
        );
        // And on from there as any processing job.
        let again = apply_update(&redriven, failure(), later()).unwrap();
        assert_eq!(again.status, JobStatus::Failed);
        for job in [queued(), processing, redriven] {
            assert_eq!(
                apply_update(&job, JobUpdate::Redrive, later()),
                Err(JobStoreError::Conflict {
                    job_id: job.job_id,
                    current: job.status,
                    attempted: "redrive".into(),
                }),
                "{}",
                job.status
            );
        }
        let completed_job = Job {
            status: JobStatus::Completed,
            ..queued()
        };
        assert!(apply_update(&completed_job, JobUpdate::Redrive, later()).is_err());
    }

    #[test]
    fn the_execution_is_recorded_in_any_status() {
        let failed = apply_update(&queued(), failure(), later()).unwrap();
        let with_arn =
            apply_update(&failed, JobUpdate::SetExecutionArn("arn:x".into()), later()).unwrap();
        assert_eq!(with_arn.execution_arn.as_deref(), Some("arn:x"));
        assert_eq!(with_arn.status, JobStatus::Failed);
    }
}
