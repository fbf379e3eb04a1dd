//! GenerateAvatar: the image model paints the pet as a professional; the stage stores the
//! 1024×1024 PNG and its 512 and 256 px variants.
//!
//! Reads `$.job_id`, `$.analysis` and `$.career` (the Parallel branch receives the whole state).
//! Output (`$.generated[0]`): `Avatar {avatar_key, width, height, variants, prompt, seed, model}`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::{Avatar, AvatarVariant, CareerProfile, PetAnalysis, Stage, keys};
use crate::error::StageError;
use crate::ports::ImageRequest;
use crate::{Deps, enter_stage, imaging};

/// Side of the avatar in pixels.
pub const AVATAR_SIZE: u32 = 1024;
/// Sides of the smaller copies.
pub const VARIANT_SIZES: [u32; 2] = [512, 256];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub job_id: Uuid,
    pub analysis: PetAnalysis,
    pub career: CareerProfile,
}

pub type Output = Avatar;

pub async fn run(input: Input, deps: &Deps) -> Result<Output, StageError> {
    enter_stage(deps, input.job_id, Stage::GenerateAvatar).await?;
    let prompt = avatar_prompt(&input.analysis, &input.career);
    let seed = seed_for(input.job_id);
    let request = ImageRequest {
        job_id: input.job_id,
        prompt: prompt.clone(),
        negative_prompt: NEGATIVE_PROMPT.to_string(),
        seed,
        size: AVATAR_SIZE,
        analysis: input.analysis,
        career: input.career,
    };
    let generated = deps.images.generate(request).await?;
    let png = generated.png.clone();
    let (avatar, variants) = tokio::task::spawn_blocking(move || square_and_variants(&png))
        .await
        .map_err(|e| StageError::Internal(format!("variant task: {e}")))??;
    let avatar_key = keys::avatar(input.job_id);
    deps.generated
        .put(&avatar_key, Bytes::from(avatar), "image/png")
        .await?;
    let mut stored = Vec::with_capacity(variants.len());
    for (size, png) in variants {
        let key = keys::avatar_variant(input.job_id, size);
        deps.generated
            .put(&key, Bytes::from(png), "image/png")
            .await?;
        stored.push(AvatarVariant { size, key });
    }
    tracing::info!(job_id = %input.job_id, model = %generated.model, "avatar generated");
    Ok(Avatar {
        avatar_key,
        width: AVATAR_SIZE,
        height: AVATAR_SIZE,
        variants: stored,
        prompt,
        seed,
        model: generated.model,
    })
}

const NEGATIVE_PROMPT: &str = "animal head on human body, extra limbs, distorted face, text, watermark, logo, blurry, low quality";

/// The prompt for the image model. It always names the attire and the background.
pub fn avatar_prompt(analysis: &PetAnalysis, career: &CareerProfile) -> String {
    let species = if analysis.species == "unknown" {
        "pet".to_string()
    } else {
        analysis.species.clone()
    };
    let colours = if analysis.palette.is_empty() {
        String::new()
    } else {
        format!(
            ", with hair and accents in the pet's colours {}",
            analysis.palette.join(" ")
        )
    };
    format!(
        "Professional portrait illustration of a person who embodies a {species} ({breed}), {expression} expression, {vibe}, \
         working as {article} {seniority} {title} in {industry}, wearing {attire}, in front of {background}{colours}. \
         Head-and-shoulders corporate headshot, soft studio light, clean vector illustration style.",
        breed = analysis.breed,
        expression = analysis.expression,
        vibe = analysis.vibe,
        article = crate::offline::identity::article_for(career.seniority.as_str()),
        seniority = career.seniority,
        title = career.job_title,
        industry = career.industry,
        attire = career.attire,
        background = career.background,
    )
}

/// A seed derived from the job id: the same job always asks for the same picture. Kept below
/// 2^32 − 1, the largest seed the Stability models accept.
pub fn seed_for(job_id: Uuid) -> u64 {
    let digest = Sha256::digest(job_id.as_bytes());
    u64::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 4_294_967_295)
}

type Variants = Vec<(u32, Vec<u8>)>;

/// Check the model's image, bring it to exactly 1024×1024 and make the smaller copies.
fn square_and_variants(png: &[u8]) -> Result<(Vec<u8>, Variants), StageError> {
    let image = image::load_from_memory(png)
        .map_err(|e| {
            StageError::ModelOutput(format!("the image model returned an unreadable image: {e}"))
        })?
        .to_rgba8();
    let (w, h) = image.dimensions();
    if w < AVATAR_SIZE / 2 || h < AVATAR_SIZE / 2 {
        return Err(StageError::ModelOutput(format!(
            "the image model returned {w}×{h}, too small for a {AVATAR_SIZE} px avatar"
        )));
    }
    let full = if (w, h) == (AVATAR_SIZE, AVATAR_SIZE) {
        png.to_vec()
    } else {
        resize_png(&image, AVATAR_SIZE)?
    };
    let variants = VARIANT_SIZES
        .iter()
        .map(|&size| Ok((size, resize_png(&image, size)?)))
        .collect::<Result<_, StageError>>()?;
    Ok((full, variants))
}

fn resize_png(image: &image::RgbaImage, size: u32) -> Result<Vec<u8>, StageError> {
    let resized = image::imageops::resize(image, size, size, image::imageops::FilterType::Lanczos3);
    imaging::encode_png_rgba(resized.as_raw(), size, size)
}
