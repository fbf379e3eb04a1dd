//! The offline model backend (work in progress: the real implementation follows).

use async_trait::async_trait;

use crate::domain::{CareerProfile, IdentityDraft};
use crate::ports::{
    CareerRequest, GeneratedImage, IdentityRequest, ImageGenerator, ImageRequest, ModelError,
    TextModel, VisionModel, VisionRequest, VisionVerdict,
};

/// Deterministic, measured, no network. Results carry `model: "offline"`.
#[derive(Debug, Clone, Default)]
pub struct OfflineBackend;

impl OfflineBackend {
    pub fn new() -> Self {
        OfflineBackend
    }
}

fn pending() -> ModelError {
    ModelError::Permanent("offline backend not implemented yet".into())
}

#[async_trait]
impl VisionModel for OfflineBackend {
    async fn analyse(&self, _request: VisionRequest) -> Result<VisionVerdict, ModelError> {
        Err(pending())
    }
}

#[async_trait]
impl TextModel for OfflineBackend {
    async fn career(&self, _request: CareerRequest) -> Result<CareerProfile, ModelError> {
        Err(pending())
    }
    async fn identity(&self, _request: IdentityRequest) -> Result<IdentityDraft, ModelError> {
        Err(pending())
    }
}

#[async_trait]
impl ImageGenerator for OfflineBackend {
    async fn generate(&self, _request: ImageRequest) -> Result<GeneratedImage, ModelError> {
        Err(pending())
    }
}
