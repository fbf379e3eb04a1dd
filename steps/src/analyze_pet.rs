//! AnalyzePet: the vision model looks at the normalized photo. A photo with no animal, or with a
//! person, is `PetAvatar.NotAPet`.
//!
//! Reads `$.job_id`, `$.image` (ValidateImage's output) and `$.species_hint`. Output
//! (`$.analysis`): `PetAnalysis`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{ImageInfo, PetAnalysis, Stage};
use crate::error::StageError;
use crate::ports::{NonPetSubject, VisionRequest, VisionVerdict};
use crate::{Deps, enter_stage};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub job_id: Uuid,
    pub image: ImageInfo,
    #[serde(default)]
    pub species_hint: Option<String>,
}

pub type Output = PetAnalysis;

pub async fn run(input: Input, deps: &Deps) -> Result<Output, StageError> {
    enter_stage(deps, input.job_id, Stage::AnalyzePet).await?;
    let jpeg = deps.uploads.get(&input.image.normalized_key).await?;
    let species_hint = input
        .species_hint
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let request = VisionRequest {
        job_id: input.job_id,
        jpeg,
        width: input.image.width,
        height: input.image.height,
        species_hint,
    };
    match deps.vision.analyse(request).await? {
        VisionVerdict::Pet(analysis) => {
            check_analysis(&analysis)?;
            tracing::info!(job_id = %input.job_id, species = %analysis.species, dominant = ?analysis.dominant_traits, "pet analysed");
            Ok(*analysis)
        }
        VisionVerdict::NotAPet { subject, reason } => {
            tracing::info!(job_id = %input.job_id, ?subject, %reason, "photo rejected: not a pet");
            Err(StageError::NotAPet(not_a_pet_message(subject, &reason)))
        }
    }
}

fn not_a_pet_message(subject: NonPetSubject, reason: &str) -> String {
    match subject {
        NonPetSubject::Person => format!("the photo shows a person, not a pet ({reason})"),
        NonPetSubject::NoAnimal => format!("no animal found in the photo ({reason})"),
    }
}

/// The dominant traits must be the analysis' own top three dimensions' names.
fn check_analysis(analysis: &PetAnalysis) -> Result<(), StageError> {
    for trait_name in &analysis.dominant_traits {
        if analysis.personality.get(trait_name).is_none() {
            return Err(StageError::ModelOutput(format!(
                "dominant trait {trait_name} is not one of the 47 dimensions"
            )));
        }
    }
    Ok(())
}
