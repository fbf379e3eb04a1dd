//! The offline model backend: deterministic, honest, no network.
//!
//! - **Vision** (`VisionModel`): measures the photo (`measure`) and maps the measurements to the
//!   47 dimensions (`traits`). It cannot recognise species: `species` is `"unknown"` unless the
//!   client gave a hint, and `breed` is `"unknown"`. It refuses a photo as `NotAPet` when too
//!   little of it has fur-like texture (`MIN_COAT_FRACTION`), which is how it turns away photos
//!   of objects, scenes and people (skin and clothing are smooth or have parallel folds; fur is
//!   fine, incoherent texture). It cannot tell a person from an object, and a smooth-coated or
//!   tiny pet can be refused: the Bedrock backend is the one that sees animals.
//! - **Text** (`TextModel`): careers by cosine similarity against a catalogue (`careers`), the
//!   identity from templates (`identity`).
//! - **Image** (`ImageGenerator`): an illustrated portrait drawn with tiny-skia (`avatar`).
//!
//! Every result carries `model: "offline"`.

pub mod avatar;
pub mod careers;
pub mod identity;
pub mod measure;
pub mod traits;

use async_trait::async_trait;
use bytes::Bytes;

use crate::domain::{CareerProfile, IdentityDraft, PetAnalysis};
use crate::imaging;
use crate::ports::{
    CareerRequest, GeneratedImage, IdentityRequest, ImageGenerator, ImageRequest, ModelError,
    NonPetSubject, TextModel, VisionModel, VisionRequest, VisionVerdict,
};
use measure::PhotoStats;

/// The `model` field of offline results.
pub const MODEL: &str = "offline";

/// Share of the photo (measured at 512 px) that must have fur-like texture for it to count as a
/// pet photo. Measured on the fixtures: the cat 0.22; rocket 0.10, person 0.06, coffee 0.04.
pub const MIN_COAT_FRACTION: f64 = 0.15;

/// Deterministic, measured, no network. Results carry `model: "offline"`.
#[derive(Debug, Clone, Default)]
pub struct OfflineBackend;

impl OfflineBackend {
    pub fn new() -> Self {
        OfflineBackend
    }
}

/// Analyse decoded pixels (what `VisionModel::analyse` does after decoding the JPEG).
pub fn analyse_pixels(
    image: &image::RgbImage,
    species_hint: Option<&str>,
) -> Result<VisionVerdict, ModelError> {
    let stats = measure::measure(image).map_err(|e| ModelError::Permanent(e.to_string()))?;
    if stats.coat_fraction < MIN_COAT_FRACTION {
        return Ok(VisionVerdict::NotAPet {
            subject: NonPetSubject::NoAnimal,
            reason: format!(
                "offline backend: fur-like texture covers {:.0}% of the photo, at least {:.0}% is needed",
                stats.coat_fraction * 100.0,
                MIN_COAT_FRACTION * 100.0
            ),
        });
    }
    Ok(VisionVerdict::Pet(Box::new(analysis_from(
        &stats,
        species_hint,
    ))))
}

fn analysis_from(stats: &PhotoStats, species_hint: Option<&str>) -> PetAnalysis {
    let personality = traits::personality(stats);
    PetAnalysis {
        species: species_hint.map_or_else(|| "unknown".to_string(), str::to_string),
        breed: "unknown".to_string(),
        expression: traits::expression(stats).to_string(),
        posture: traits::posture(stats).to_string(),
        dominant_traits: personality.dominant(),
        vibe: traits::vibe(&personality, stats),
        personality,
        palette: stats
            .palette
            .iter()
            .map(|c| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]))
            .collect(),
        model: MODEL.to_string(),
        confidence: None,
        alternatives: Vec::new(),
    }
}

/// Map an analysis to the best-fitting career of the catalogue.
pub fn career_for(analysis: &PetAnalysis) -> CareerProfile {
    let ranked = careers::ranked(&analysis.personality);
    let (best, score) = ranked[0];
    let runner_up = ranked.get(1).map_or(-1.0, |r| r.1);
    CareerProfile {
        job_title: best.title.to_string(),
        seniority: careers::seniority(&analysis.personality, best.title),
        industry: best.industry.to_string(),
        work_style: best.work_style.to_string(),
        attire: best.attire.describe().to_string(),
        background: best.scene.describe().to_string(),
        confidence: (careers::confidence(score, runner_up) * 1000.0).round() / 1000.0,
        key_traits: best.key_traits.iter().map(|t| t.to_string()).collect(),
        model: MODEL.to_string(),
    }
}

/// The portrait for an image request (see [`avatar::Portrait::for_request`]).
pub fn portrait_for(request: &ImageRequest) -> avatar::Portrait {
    avatar::Portrait::for_request(request)
}

#[async_trait]
impl VisionModel for OfflineBackend {
    async fn analyse(&self, request: VisionRequest) -> Result<VisionVerdict, ModelError> {
        let hint = request.species_hint.clone();
        tokio::task::spawn_blocking(move || {
            let image = imaging::decode_rgb(&request.jpeg)
                .map_err(|e| ModelError::Permanent(e.to_string()))?;
            analyse_pixels(&image, hint.as_deref())
        })
        .await
        .map_err(|e| ModelError::Permanent(format!("analysis task: {e}")))?
    }
}

#[async_trait]
impl TextModel for OfflineBackend {
    async fn career(&self, request: CareerRequest) -> Result<CareerProfile, ModelError> {
        Ok(career_for(&request.analysis))
    }

    async fn identity(&self, request: IdentityRequest) -> Result<IdentityDraft, ModelError> {
        Ok(identity::write(
            request.job_id,
            &request.analysis,
            &request.career,
        ))
    }
}

#[async_trait]
impl ImageGenerator for OfflineBackend {
    async fn generate(&self, request: ImageRequest) -> Result<GeneratedImage, ModelError> {
        let portrait = portrait_for(&request);
        let size = request.size;
        let png = tokio::task::spawn_blocking(move || avatar::render_png(&portrait))
            .await
            .map_err(|e| ModelError::Permanent(format!("render task: {e}")))?
            .map_err(|e| ModelError::Permanent(e.to_string()))?;
        Ok(GeneratedImage {
            png: Bytes::from(png),
            width: size,
            height: size,
            model: MODEL.to_string(),
        })
    }
}
