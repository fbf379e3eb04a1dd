//! ValidateImage: check the upload and write the normalized JPEG the models read.
//!
//! Reads the whole execution input (`$`): `{job_id, bucket, key, species_hint}`; only `job_id`
//! and `key` are used (the bucket is the uploads store in `Deps`). Output (`$.image`):
//! `ImageInfo {format, width, height, bytes, normalized_key, original_*}`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{ImageInfo, Stage, keys};
use crate::error::StageError;
use crate::{Deps, enter_stage, imaging};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub job_id: Uuid,
    /// The upload key, `uploads/{job_id}/original.{ext}`.
    pub key: String,
    /// The uploads bucket (informational: the stage reads through `Deps::uploads`).
    #[serde(default)]
    pub bucket: Option<String>,
}

pub type Output = ImageInfo;

pub async fn run(input: Input, deps: &Deps) -> Result<Output, StageError> {
    check_key_belongs_to_job(&input)?;
    enter_stage(deps, input.job_id, Stage::ValidateImage).await?;
    // Size first, from the metadata: a 2 GB upload is refused without being downloaded.
    let meta = deps.uploads.head(&input.key).await?;
    imaging::check_size(meta.size, &deps.limits)?;
    let original = deps.uploads.get(&input.key).await?;
    let limits = deps.limits;
    let (format, normalized) =
        tokio::task::spawn_blocking(move || imaging::normalize(&original, &limits))
            .await
            .map_err(|e| StageError::Internal(format!("normalize task: {e}")))??;
    let normalized_key = keys::normalized(input.job_id);
    let bytes = normalized.jpeg.len() as u64;
    deps.uploads
        .put(&normalized_key, Bytes::from(normalized.jpeg), "image/jpeg")
        .await?;
    tracing::info!(job_id = %input.job_id, format = format.as_str(), width = normalized.width, height = normalized.height, bytes, "image normalized");
    Ok(ImageInfo {
        format,
        width: normalized.width,
        height: normalized.height,
        bytes,
        normalized_key,
        original_width: normalized.original_width,
        original_height: normalized.original_height,
        original_bytes: meta.size,
    })
}

/// The upload must live under `uploads/{job_id}/`: a job may only read its own upload.
fn check_key_belongs_to_job(input: &Input) -> Result<(), StageError> {
    let prefix = keys::upload_prefix(input.job_id);
    let rest = input.key.strip_prefix(&prefix).unwrap_or_default();
    if rest.is_empty() || rest.contains('/') {
        return Err(StageError::InvalidInput(format!(
            "key {} is not an upload of job {}",
            input.key, input.job_id
        )));
    }
    Ok(())
}
