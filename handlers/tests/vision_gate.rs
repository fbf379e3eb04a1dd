//! The AnalyzePet gate (feature `vision-gate`): the local classifier refuses a person and a
//! coffee cup without calling the configured vision model, and hands a cat to it.

#![cfg(feature = "vision-gate")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use handlers::vision_gate::GatedVision;
use steps::ports::{ModelError, NonPetSubject, VisionModel, VisionRequest, VisionVerdict};
use uuid::Uuid;

/// The paid model behind the gate: counts its calls and answers NotAPet with a marker reason
/// (distinguishable from the gate's own refusals).
#[derive(Default)]
struct CountingModel {
    calls: AtomicUsize,
}

#[async_trait]
impl VisionModel for CountingModel {
    async fn analyse(&self, _request: VisionRequest) -> Result<VisionVerdict, ModelError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(VisionVerdict::NotAPet {
            subject: NonPetSubject::NoAnimal,
            reason: "answered by the model behind the gate".into(),
        })
    }
}

fn request(name: &str) -> VisionRequest {
    let path = format!("{}/../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let image = image::open(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&image)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    VisionRequest {
        job_id: Uuid::new_v4(),
        jpeg: Bytes::from(jpeg),
        width: image.width(),
        height: image.height(),
        species_hint: None,
    }
}

#[tokio::test]
async fn refuses_non_pets_before_the_model_and_passes_pets_to_it() {
    let model = Arc::new(CountingModel::default());
    let gate = GatedVision::load(model.clone()).unwrap_or_else(|e| panic!("{e}"));

    for (photo, subject) in [
        ("astronaut.png", NonPetSubject::Person),
        ("coffee.png", NonPetSubject::NoAnimal),
    ] {
        match gate.analyse(request(photo)).await {
            Ok(VisionVerdict::NotAPet { subject: s, reason }) => {
                assert_eq!(s, subject, "{photo}: {reason}");
                assert!(
                    reason.starts_with(vision::MODEL),
                    "{photo}: the gate refused it, not the model: {reason}"
                );
            }
            other => panic!("{photo}: {other:?}"),
        }
    }
    assert_eq!(
        model.calls.load(Ordering::SeqCst),
        0,
        "no paid call for a refused photo"
    );

    let verdict = gate.analyse(request("chelsea.png")).await;
    assert!(
        matches!(&verdict, Ok(VisionVerdict::NotAPet { reason, .. }) if reason == "answered by the model behind the gate"),
        "the cat goes to the model, whose answer is kept: {verdict:?}"
    );
    assert_eq!(model.calls.load(Ordering::SeqCst), 1);
}
