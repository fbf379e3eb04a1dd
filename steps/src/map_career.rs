//! MapCareer: traits → a career (job title, seniority, industry, work style, attire, background,
//! confidence).
//!
//! Reads `$.job_id` and `$.analysis`. Output (`$.career`): `CareerProfile`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{CareerProfile, PetAnalysis, Stage};
use crate::error::StageError;
use crate::personality;
use crate::ports::CareerRequest;
use crate::{Deps, enter_stage};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub job_id: Uuid,
    pub analysis: PetAnalysis,
}

pub type Output = CareerProfile;

pub async fn run(input: Input, deps: &Deps) -> Result<Output, StageError> {
    enter_stage(deps, input.job_id, Stage::MapCareer).await?;
    let career = deps
        .text
        .career(CareerRequest {
            job_id: input.job_id,
            analysis: input.analysis,
        })
        .await?;
    check_career(&career)?;
    tracing::info!(job_id = %input.job_id, title = %career.job_title, seniority = %career.seniority, "career mapped");
    Ok(career)
}

fn check_career(career: &CareerProfile) -> Result<(), StageError> {
    if career.job_title.trim().is_empty()
        || career.attire.trim().is_empty()
        || career.background.trim().is_empty()
    {
        return Err(StageError::ModelOutput(
            "career profile without a job title, attire or background".into(),
        ));
    }
    if !(0.0..=1.0).contains(&career.confidence) {
        return Err(StageError::ModelOutput(format!(
            "career confidence {} outside 0–1",
            career.confidence
        )));
    }
    if career.key_traits.is_empty()
        || career
            .key_traits
            .iter()
            .any(|t| personality::index_of(t).is_none())
    {
        return Err(StageError::ModelOutput(format!(
            "career key traits {:?} are not personality dimensions",
            career.key_traits
        )));
    }
    Ok(())
}
