//! WriteIdentity: the text model writes the name, three-paragraph bio, skills and trajectory;
//! the stage checks the shape and adds the similarity score (`scoring`).
//!
//! Reads `$.job_id`, `$.analysis` and `$.career`. Output (`$.generated[1]`): `IdentityPackage`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{CareerProfile, IdentityDraft, IdentityPackage, PetAnalysis, Stage};
use crate::error::StageError;
use crate::ports::IdentityRequest;
use crate::{Deps, enter_stage, scoring};

pub const MIN_SKILLS: usize = 5;
pub const MAX_SKILLS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub job_id: Uuid,
    pub analysis: PetAnalysis,
    pub career: CareerProfile,
}

pub type Output = IdentityPackage;

pub async fn run(input: Input, deps: &Deps) -> Result<Output, StageError> {
    enter_stage(deps, input.job_id, Stage::WriteIdentity).await?;
    let request = IdentityRequest {
        job_id: input.job_id,
        analysis: input.analysis.clone(),
        career: input.career.clone(),
    };
    let draft = deps.text.identity(request).await?;
    check_draft(&draft)?;
    let similarity = scoring::similarity(&input.analysis, &input.career);
    tracing::info!(job_id = %input.job_id, name = %draft.name, score = similarity.score, "identity written");
    Ok(IdentityPackage::new(draft, &input.career, similarity))
}

/// The shape rules: a name, three non-empty paragraphs, 5–10 distinct skills, a full trajectory.
pub fn check_draft(draft: &IdentityDraft) -> Result<(), StageError> {
    let bad = |why: String| Err(StageError::ModelOutput(why));
    if draft.name.trim().is_empty() {
        return bad("the identity has no name".into());
    }
    if draft
        .bio
        .iter()
        .any(|p| p.trim().is_empty() || p.contains("\n\n"))
    {
        return bad("the bio must be exactly three non-empty paragraphs".into());
    }
    let mut skills: Vec<String> = draft
        .skills
        .iter()
        .map(|s| s.trim().to_lowercase())
        .collect();
    skills.sort();
    skills.dedup();
    if skills.len() != draft.skills.len() || skills.iter().any(String::is_empty) {
        return bad(format!(
            "skills must be distinct and non-empty: {:?}",
            draft.skills
        ));
    }
    if !(MIN_SKILLS..=MAX_SKILLS).contains(&draft.skills.len()) {
        return bad(format!("{} skills; 5–10 expected", draft.skills.len()));
    }
    let t = &draft.trajectory;
    if [&t.past, &t.present, &t.future]
        .iter()
        .any(|s| s.trim().is_empty())
    {
        return bad("the trajectory needs a past, a present and a future".into());
    }
    Ok(())
}
