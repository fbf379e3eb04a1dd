//! PetAvatar's core: domain types, ports (traits), one module per pipeline stage, and the
//! offline model backend. Knows nothing of AWS or of the ASL engine: `handlers` (Lambda) and
//! `local` (embedded runtime) plug adapters into `Deps` and call the same stage code.
//!
//! Each stage is `steps::<stage>::run(input, &deps) -> Result<Output, StageError>`. Every Task
//! in `statemachine/pipeline.asl.json` passes the **whole state** to its Lambda (no
//! `InputPath`/`Parameters`); each stage's `Input` type names only the fields it reads and
//! ignores the rest. `ResultPath` then adds the stage's output to the state. `run_json` does
//! the (de)serialisation for a handler.

pub mod colour;
pub mod domain;
pub mod error;
pub mod imaging;
pub mod invoke;
pub mod job_rules;
pub mod lifecycle;
pub mod memory;
pub mod offline;
pub mod personality;
pub mod ports;
pub mod scoring;

pub mod analyze_pet;
pub mod generate_avatar;
pub mod map_career;
pub mod record_failure;
pub mod record_result;
pub mod validate_image;
pub mod write_identity;

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use domain::*;
pub use error::{ErrorPayload, StageError};
pub use imaging::ImageLimits;
pub use personality::{DIMENSIONS, Personality};

use ports::{ImageGenerator, JobStore, ObjectStore, TextModel, VisionModel};

/// The ports a stage may use.
#[derive(Clone)]
pub struct Deps {
    /// The uploads bucket: `uploads/{job_id}/original.{ext}` and `work/{job_id}/normalized.jpg`.
    pub uploads: Arc<dyn ObjectStore>,
    /// The generated bucket: `generated/{job_id}/avatar.png` and its variants.
    pub generated: Arc<dyn ObjectStore>,
    pub jobs: Arc<dyn JobStore>,
    pub vision: Arc<dyn VisionModel>,
    pub text: Arc<dyn TextModel>,
    pub images: Arc<dyn ImageGenerator>,
    pub limits: ImageLimits,
}

impl Deps {
    /// Deps using the offline model backend for vision, text and images.
    pub fn offline(
        uploads: Arc<dyn ObjectStore>,
        generated: Arc<dyn ObjectStore>,
        jobs: Arc<dyn JobStore>,
    ) -> Self {
        let backend = Arc::new(offline::OfflineBackend::new());
        Deps {
            uploads,
            generated,
            jobs,
            vision: backend.clone(),
            text: backend.clone(),
            images: backend,
            limits: ImageLimits::default(),
        }
    }
}

/// The seven stages, with the names the ASL file and the runtimes use for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StageName {
    ValidateImage,
    AnalyzePet,
    MapCareer,
    GenerateAvatar,
    WriteIdentity,
    RecordResult,
    RecordFailure,
}

impl StageName {
    pub const ALL: [StageName; 7] = [
        StageName::ValidateImage,
        StageName::AnalyzePet,
        StageName::MapCareer,
        StageName::GenerateAvatar,
        StageName::WriteIdentity,
        StageName::RecordResult,
        StageName::RecordFailure,
    ];

    /// The ASL state name (`ValidateImage`).
    pub fn state_name(self) -> &'static str {
        match self {
            StageName::ValidateImage => "ValidateImage",
            StageName::AnalyzePet => "AnalyzePet",
            StageName::MapCareer => "MapCareer",
            StageName::GenerateAvatar => "GenerateAvatar",
            StageName::WriteIdentity => "WriteIdentity",
            StageName::RecordResult => "RecordResult",
            StageName::RecordFailure => "RecordFailure",
        }
    }

    /// The placeholder in `pipeline.asl.json` (`ValidateImageFunctionArn`, used as `${…}`).
    pub fn placeholder(self) -> String {
        format!("{}FunctionArn", self.state_name())
    }

    /// The function name (`petavatar-validate-image`), locally and as the Lambda name suffix.
    pub fn function_name(self) -> &'static str {
        match self {
            StageName::ValidateImage => "petavatar-validate-image",
            StageName::AnalyzePet => "petavatar-analyze-pet",
            StageName::MapCareer => "petavatar-map-career",
            StageName::GenerateAvatar => "petavatar-generate-avatar",
            StageName::WriteIdentity => "petavatar-write-identity",
            StageName::RecordResult => "petavatar-record-result",
            StageName::RecordFailure => "petavatar-record-failure",
        }
    }

    pub fn from_function_name(name: &str) -> Option<StageName> {
        StageName::ALL
            .into_iter()
            .find(|s| s.function_name() == name)
    }

    pub fn from_state_name(name: &str) -> Option<StageName> {
        StageName::ALL.into_iter().find(|s| s.state_name() == name)
    }
}

/// Run a stage on a JSON payload (the state the ASL passes) and return its JSON output.
/// This is all a Lambda handler or an in-process task handler has to call.
pub async fn run_json(stage: StageName, payload: Value, deps: &Deps) -> Result<Value, StageError> {
    match stage {
        StageName::ValidateImage => call(payload, |i| validate_image::run(i, deps)).await,
        StageName::AnalyzePet => call(payload, |i| analyze_pet::run(i, deps)).await,
        StageName::MapCareer => call(payload, |i| map_career::run(i, deps)).await,
        StageName::GenerateAvatar => call(payload, |i| generate_avatar::run(i, deps)).await,
        StageName::WriteIdentity => call(payload, |i| write_identity::run(i, deps)).await,
        StageName::RecordResult => call(payload, |i| record_result::run(i, deps)).await,
        StageName::RecordFailure => call(payload, |i| record_failure::run(i, deps)).await,
    }
}

async fn call<I, O, F, Fut>(payload: Value, f: F) -> Result<Value, StageError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: std::future::Future<Output = Result<O, StageError>>,
{
    let input: I =
        serde_json::from_value(payload).map_err(|e| StageError::InvalidInput(e.to_string()))?;
    let output = f(input).await?;
    serde_json::to_value(output)
        .map_err(|e| StageError::Internal(format!("cannot serialise stage output: {e}")))
}

/// Record that a job entered `stage` (status `processing`, progress per `Stage::progress`).
pub(crate) async fn enter_stage(
    deps: &Deps,
    job_id: uuid::Uuid,
    stage: Stage,
) -> Result<Job, StageError> {
    let job = deps.jobs.advance(job_id, stage, stage.progress()).await?;
    tracing::info!(%job_id, stage = stage.as_str(), progress = job.progress, "stage started");
    Ok(job)
}
