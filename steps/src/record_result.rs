//! RecordResult: the job becomes `completed` with its results.
//!
//! Reads the whole state: `$.job_id`, `$.analysis`, `$.career`, `$.generated` = `[avatar,
//! identity]`. Output: `{job_id, status}` (the state machine ends here).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{
    Avatar, CareerProfile, IdentityPackage, JobResults, JobStatus, PetAnalysis, Stage,
};
use crate::error::StageError;
use crate::{Deps, enter_stage};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub job_id: Uuid,
    pub analysis: PetAnalysis,
    pub career: CareerProfile,
    /// The Parallel state's output: the GenerateAvatar branch, then the WriteIdentity branch.
    pub generated: (Avatar, IdentityPackage),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub job_id: Uuid,
    pub status: JobStatus,
}

pub async fn run(input: Input, deps: &Deps) -> Result<Output, StageError> {
    let job_id = input.job_id;
    if let Some(done) = already_completed(deps, job_id).await? {
        return Ok(done);
    }
    enter_stage(deps, job_id, Stage::RecordResult).await?;
    let (avatar, identity) = input.generated;
    let results = JobResults {
        avatar_key: avatar.avatar_key,
        identity_package: identity,
        pet_analysis: input.analysis,
        career_profile: input.career,
    };
    let job = deps.jobs.complete(job_id, results).await?;
    tracing::info!(%job_id, "job completed");
    Ok(Output {
        job_id,
        status: job.status,
    })
}

/// A retried RecordResult whose first attempt did write: report success again (idempotent).
async fn already_completed(deps: &Deps, job_id: Uuid) -> Result<Option<Output>, StageError> {
    let job = deps.jobs.get(job_id).await?;
    Ok((job.status == JobStatus::Completed).then_some(Output {
        job_id,
        status: job.status,
    }))
}
