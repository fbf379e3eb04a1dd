//! `ImageGenerator` on a Stability model through Bedrock's InvokeModel (default
//! `stability.stable-image-core-v1:1`). Request `{prompt, aspect_ratio, output_format, seed,
//! negative_prompt}`; response `{seeds, finish_reasons, images: [base64]}`. A non-null finish
//! reason is the model's content filter refusing: `ModelError::ContentFiltered`.

use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::primitives::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use steps::ImageFormat;
use steps::ports::{GeneratedImage, ImageGenerator, ImageRequest, ModelError};

use super::converse::error_kind;
use super::{CallTarget, invoke_model_error};

/// The largest seed the Stability models accept.
pub const MAX_SEED: u64 = 4_294_967_294;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StabilityRequest {
    pub prompt: String,
    pub aspect_ratio: String,
    pub output_format: String,
    pub seed: u64,
    pub negative_prompt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StabilityResponse {
    #[serde(default)]
    pub seeds: Vec<u64>,
    #[serde(default)]
    pub finish_reasons: Vec<Option<String>>,
    #[serde(default)]
    pub images: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct StabilityImages {
    client: Client,
    model_id: String,
}

impl StabilityImages {
    pub fn new(client: Client, model_id: impl Into<String>) -> Self {
        Self {
            client,
            model_id: model_id.into(),
        }
    }

    pub fn request_for(request: &ImageRequest) -> StabilityRequest {
        StabilityRequest {
            prompt: request.prompt.clone(),
            aspect_ratio: "1:1".into(),
            output_format: "png".into(),
            seed: request.seed.min(MAX_SEED),
            negative_prompt: request.negative_prompt.clone(),
        }
    }
}

/// The PNG in a response, or why there is none.
pub fn image_from_response(body: &[u8], model: &str) -> Result<GeneratedImage, ModelError> {
    let response: StabilityResponse = serde_json::from_slice(body).map_err(|e| {
        ModelError::InvalidOutput(format!("{model} answered with unexpected JSON: {e}"))
    })?;
    if let Some(reason) = response.finish_reasons.iter().flatten().next() {
        return Err(ModelError::ContentFiltered(format!(
            "{model} refused the image: {reason}"
        )));
    }
    let encoded = response
        .images
        .first()
        .ok_or_else(|| ModelError::InvalidOutput(format!("{model} returned no image")))?;
    let png = BASE64.decode(encoded).map_err(|e| {
        ModelError::InvalidOutput(format!("{model} returned an image that is not Base64: {e}"))
    })?;
    let (width, height) =
        steps::imaging::header_dimensions(&png, ImageFormat::Png).map_err(|e| {
            ModelError::InvalidOutput(format!("{model} returned an image that is not a PNG: {e}"))
        })?;
    Ok(GeneratedImage {
        png: Bytes::from(png),
        width,
        height,
        model: format!("bedrock:{model}"),
    })
}

#[async_trait]
impl ImageGenerator for StabilityImages {
    async fn generate(&self, request: ImageRequest) -> Result<GeneratedImage, ModelError> {
        let body = serde_json::to_vec(&Self::request_for(&request))
            .map_err(|e| ModelError::Permanent(format!("cannot serialise the request: {e}")))?;
        let started = Instant::now();
        let result = self
            .client
            .invoke_model()
            .model_id(&self.model_id)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .send()
            .await;
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        let generated = match result {
            Ok(output) => image_from_response(output.body().as_ref(), &self.model_id),
            Err(e) => Err(invoke_model_error(
                &e,
                CallTarget {
                    model_id: &self.model_id,
                    region: self.client.config().region().map(|r| r.as_ref()),
                },
            )),
        };
        telemetry::emf::model_call(
            &self.model_id,
            "generate",
            millis,
            generated.as_ref().err().map(error_kind),
        );
        if let Ok(image) = &generated {
            tracing::info!(model = %self.model_id, width = image.width, height = image.height, latency_ms = millis, "image generated");
        }
        generated
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bedrock::schema::tests::{career_input, pet_input};
    use crate::bedrock::schema::{VisionOutcome, parse_vision};

    fn sample_analysis() -> steps::PetAnalysis {
        match parse_vision(&pet_input(), "m").unwrap() {
            VisionOutcome::Pet(a) => *a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_finish_reason_is_a_refusal() {
        let body = json!({"seeds": [1], "finish_reasons": ["Filter reason: prompt"], "images": []});
        let err = image_from_response(body.to_string().as_bytes(), "m").unwrap_err();
        assert!(matches!(err, ModelError::ContentFiltered(_)));
    }

    #[test]
    fn a_missing_or_broken_image_is_invalid_output() {
        let none = json!({"seeds": [1], "finish_reasons": [null], "images": []});
        assert!(matches!(
            image_from_response(none.to_string().as_bytes(), "m"),
            Err(ModelError::InvalidOutput(_))
        ));
        let text =
            json!({"seeds": [1], "finish_reasons": [null], "images": [BASE64.encode(b"hello")]});
        assert!(matches!(
            image_from_response(text.to_string().as_bytes(), "m"),
            Err(ModelError::InvalidOutput(_))
        ));
    }

    #[test]
    fn seeds_stay_in_range() {
        let request = ImageRequest {
            job_id: uuid::Uuid::nil(),
            prompt: "p".into(),
            negative_prompt: "n".into(),
            seed: u64::MAX,
            size: 1024,
            analysis: sample_analysis(),
            career: crate::bedrock::schema::parse_career(&career_input(), "m").unwrap(),
        };
        assert_eq!(StabilityImages::request_for(&request).seed, MAX_SEED);
    }
}
