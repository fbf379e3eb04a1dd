//! AnalyzePet's optional local gate (`PETAVATAR_VISION_GATE=local`, feature `vision-gate`): the
//! `vision` crate's classifier (EfficientNet-Lite0 + MTCNN, weights compiled in) looks at the
//! photo first, and a photo it refuses (no animal, a person) is refused as `PetAvatar.NotAPet`
//! without a Bedrock call. A photo it takes for a pet goes to the configured vision model, whose
//! analysis is the one kept: the gate only saves the paid call on what it can refuse.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use steps::ports::{ModelError, VisionModel, VisionRequest, VisionVerdict};
use vision::LocalVision;

/// The local classifier in front of `model`.
pub struct GatedVision {
    local: LocalVision,
    model: Arc<dyn VisionModel>,
}

impl GatedVision {
    /// Loads the embedded weights (checksums verified): once per cold start.
    pub fn load(model: Arc<dyn VisionModel>) -> Result<Self, vision::LoadError> {
        Ok(Self {
            local: LocalVision::load()?,
            model,
        })
    }

    pub fn with_local(local: LocalVision, model: Arc<dyn VisionModel>) -> Self {
        Self { local, model }
    }
}

#[async_trait]
impl VisionModel for GatedVision {
    async fn analyse(&self, request: VisionRequest) -> Result<VisionVerdict, ModelError> {
        let started = Instant::now();
        let local = self.local.analyse(request.clone()).await;
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        match local {
            Ok(refusal @ VisionVerdict::NotAPet { .. }) => {
                telemetry::emf::model_call(vision::MODEL, "gate", millis, None);
                tracing::info!(
                    model = vision::MODEL,
                    latency_ms = millis,
                    "refused by the local vision gate; no Bedrock call"
                );
                return Ok(refusal);
            }
            Ok(VisionVerdict::Pet(_)) => {
                telemetry::emf::model_call(vision::MODEL, "gate", millis, None);
            }
            // The gate saves money; it must not fail a job the model could still answer.
            Err(e) => {
                telemetry::emf::model_call(vision::MODEL, "gate", millis, Some("Permanent"));
                tracing::warn!(model = vision::MODEL, error = %e, "local vision gate failed; asking the model");
            }
        }
        self.model.analyse(request).await
    }
}
