//! Stage error mapping with model ports that misbehave (the stores are the real in-memory ones).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use steps::domain::{CareerProfile, IdentityDraft, Trajectory};
use steps::memory::{InMemoryJobStore, InMemoryObjectStore};
use steps::offline::{OfflineBackend, career_for};
use steps::ports::*;
use steps::{
    Deps, Job, JobStatus, PetAnalysis, Stage, analyze_pet, generate_avatar, map_career,
    record_result, write_identity,
};
use uuid::Uuid;

/// A model that fails in a chosen way, or, for the text model, returns a chosen draft.
struct Misbehaving {
    error: Option<ModelError>,
    draft: Option<IdentityDraft>,
    image: Option<Bytes>,
}

#[async_trait]
impl VisionModel for Misbehaving {
    async fn analyse(&self, _: VisionRequest) -> Result<VisionVerdict, ModelError> {
        Err(self
            .error
            .clone()
            .unwrap_or(ModelError::Permanent("no".into())))
    }
}

#[async_trait]
impl TextModel for Misbehaving {
    async fn career(&self, r: CareerRequest) -> Result<CareerProfile, ModelError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(CareerProfile {
                key_traits: vec!["charm".into()],
                ..career_for(&r.analysis)
            }),
        }
    }
    async fn identity(&self, _: IdentityRequest) -> Result<IdentityDraft, ModelError> {
        self.draft
            .clone()
            .ok_or(ModelError::Transient("throttled".into()))
    }
}

#[async_trait]
impl ImageGenerator for Misbehaving {
    async fn generate(&self, _: ImageRequest) -> Result<GeneratedImage, ModelError> {
        match (&self.error, &self.image) {
            (Some(e), _) => Err(e.clone()),
            (None, Some(png)) => Ok(GeneratedImage {
                png: png.clone(),
                width: 0,
                height: 0,
                model: "fake".into(),
            }),
            (None, None) => Err(ModelError::Permanent("nothing".into())),
        }
    }
}

struct World {
    deps: Deps,
    jobs: Arc<InMemoryJobStore>,
    generated: Arc<InMemoryObjectStore>,
    job_id: Uuid,
}

async fn world(model: Misbehaving) -> World {
    let uploads = Arc::new(InMemoryObjectStore::new());
    let generated = Arc::new(InMemoryObjectStore::new());
    let jobs = Arc::new(InMemoryJobStore::new());
    let model = Arc::new(model);
    let deps = Deps {
        uploads: uploads.clone(),
        generated: generated.clone(),
        jobs: jobs.clone(),
        vision: model.clone(),
        text: model.clone(),
        images: model,
        limits: Default::default(),
    };
    let job_id = Uuid::new_v4();
    jobs.create(Job::new(
        job_id,
        "o",
        format!("uploads/{job_id}/original.png"),
        Utc::now(),
    ))
    .await
    .unwrap();
    uploads
        .put(
            &format!("work/{job_id}/normalized.jpg"),
            Bytes::from_static(b"jpeg"),
            "image/jpeg",
        )
        .await
        .unwrap();
    World {
        deps,
        jobs,
        generated,
        job_id,
    }
}

fn misbehaving(error: Option<ModelError>) -> Misbehaving {
    Misbehaving {
        error,
        draft: None,
        image: None,
    }
}

/// A cat analysis produced by the real offline backend from the fixture.
async fn analysis() -> PetAnalysis {
    let bytes = std::fs::read(format!(
        "{}/../fixtures/chelsea.png",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let image = image::load_from_memory(&bytes).unwrap().to_rgb8();
    match steps::offline::analyse_pixels(&image, Some("cat")).unwrap() {
        VisionVerdict::Pet(a) => *a,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn model_errors_map_to_stable_names() {
    let cases = [
        (ModelError::Transient("429".into()), "PetAvatar.Transient"),
        (
            ModelError::InvalidOutput("bad json".into()),
            "PetAvatar.ModelOutput",
        ),
        (
            ModelError::ContentFiltered("guardrail".into()),
            "PetAvatar.ContentFiltered",
        ),
        (
            ModelError::Permanent("unknown model".into()),
            "PetAvatar.ModelError",
        ),
        (
            ModelError::AccessDenied("enable the model".into()),
            "PetAvatar.ModelAccessDenied",
        ),
    ];
    for (error, name) in cases {
        let w = world(misbehaving(Some(error))).await;
        let image = steps::ImageInfo {
            format: steps::ImageFormat::Png,
            width: 1,
            height: 1,
            bytes: 4,
            normalized_key: format!("work/{}/normalized.jpg", w.job_id),
            original_width: 1,
            original_height: 1,
            original_bytes: 4,
        };
        let err = analyze_pet::run(
            analyze_pet::Input {
                job_id: w.job_id,
                image,
                species_hint: None,
            },
            &w.deps,
        )
        .await
        .unwrap_err();
        assert_eq!(err.name(), name);
        let job = w.jobs.get(w.job_id).await.unwrap();
        assert_eq!(
            (job.stage, job.progress),
            (Stage::AnalyzePet, Stage::AnalyzePet.progress())
        );
    }
}

#[tokio::test]
async fn a_career_with_unknown_traits_is_model_output() {
    let w = world(misbehaving(None)).await;
    let err = map_career::run(
        map_career::Input {
            job_id: w.job_id,
            analysis: analysis().await,
        },
        &w.deps,
    )
    .await
    .unwrap_err();
    assert_eq!(err.name(), "PetAvatar.ModelOutput", "{err}");
}

#[tokio::test]
async fn an_identity_with_four_skills_or_two_paragraphs_is_model_output() {
    let analysis = analysis().await;
    let career = career_for(&analysis);
    let good = IdentityDraft {
        name: "Cleo Purrington".into(),
        bio: ["One.".into(), "Two.".into(), "Three.".into()],
        skills: ["a", "b", "c", "d", "e"].map(String::from).to_vec(),
        trajectory: Trajectory {
            past: "p".into(),
            present: "n".into(),
            future: "f".into(),
        },
        model: "fake".into(),
    };
    let four = IdentityDraft {
        skills: good.skills[..4].to_vec(),
        ..good.clone()
    };
    let merged = IdentityDraft {
        bio: ["One.\n\nTwo.".into(), "Three.".into(), "Four.".into()],
        ..good.clone()
    };
    let dup = IdentityDraft {
        skills: ["a", "A", "c", "d", "e"].map(String::from).to_vec(),
        ..good.clone()
    };
    for (draft, ok) in [(good, true), (four, false), (merged, false), (dup, false)] {
        let w = world(Misbehaving {
            error: None,
            draft: Some(draft),
            image: None,
        })
        .await;
        let out = write_identity::run(
            write_identity::Input {
                job_id: w.job_id,
                analysis: analysis.clone(),
                career: career.clone(),
            },
            &w.deps,
        )
        .await;
        match (out, ok) {
            (Ok(identity), true) => {
                assert_eq!(identity.job_title, career.job_title);
                assert_eq!(
                    identity.similarity,
                    steps::scoring::similarity(&analysis, &career)
                );
            }
            (Err(e), false) => assert_eq!(e.name(), "PetAvatar.ModelOutput"),
            (other, _) => panic!("unexpected {other:?}"),
        }
    }
    let w = world(misbehaving(None)).await;
    let err = write_identity::run(
        write_identity::Input {
            job_id: w.job_id,
            analysis,
            career,
        },
        &w.deps,
    )
    .await
    .unwrap_err();
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_non_square_model_image_is_brought_to_1024_and_garbage_is_refused() {
    let analysis = analysis().await;
    let career = career_for(&analysis);
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        1200,
        900,
        image::Rgb([10, 200, 30]),
    ))
    .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
    .unwrap();
    let w = world(Misbehaving {
        error: None,
        draft: None,
        image: Some(Bytes::from(png)),
    })
    .await;
    let avatar = generate_avatar::run(
        generate_avatar::Input {
            job_id: w.job_id,
            analysis: analysis.clone(),
            career: career.clone(),
        },
        &w.deps,
    )
    .await
    .unwrap();
    let stored = w.generated.get(&avatar.avatar_key).await.unwrap();
    let img = image::load_from_memory(&stored).unwrap();
    assert_eq!((img.width(), img.height()), (1024, 1024));
    assert_eq!(
        avatar.variants.iter().map(|v| v.size).collect::<Vec<_>>(),
        vec![512, 256]
    );
    assert_eq!(avatar.model, "fake");

    let w = world(Misbehaving {
        error: None,
        draft: None,
        image: Some(Bytes::from_static(b"not a png")),
    })
    .await;
    let err = generate_avatar::run(
        generate_avatar::Input {
            job_id: w.job_id,
            analysis,
            career,
        },
        &w.deps,
    )
    .await
    .unwrap_err();
    assert_eq!(err.name(), "PetAvatar.ModelOutput");
}

#[tokio::test]
async fn record_result_twice_is_idempotent_and_after_failure_conflicts() {
    let analysis = analysis().await;
    let career = career_for(&analysis);
    let w = world(misbehaving(None)).await;
    let offline = OfflineBackend::new();
    let draft = offline
        .identity(IdentityRequest {
            job_id: w.job_id,
            analysis: analysis.clone(),
            career: career.clone(),
        })
        .await
        .unwrap();
    let similarity = steps::scoring::similarity(&analysis, &career);
    let identity = steps::IdentityPackage::new(draft, &career, similarity);
    let avatar = steps::Avatar {
        avatar_key: format!("generated/{}/avatar.png", w.job_id),
        width: 1024,
        height: 1024,
        variants: vec![],
        prompt: "p".into(),
        seed: 1,
        model: "offline".into(),
    };
    let input = record_result::Input {
        job_id: w.job_id,
        analysis,
        career,
        generated: (avatar, identity),
    };
    let first = record_result::run(input.clone(), &w.deps).await.unwrap();
    let second = record_result::run(input.clone(), &w.deps).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.status, JobStatus::Completed);

    let w2 = world(misbehaving(None)).await;
    w2.jobs
        .fail(
            w2.job_id,
            steps::JobError {
                code: "PetAvatar.NotAPet".into(),
                message: "m".into(),
            },
        )
        .await
        .unwrap();
    let err = record_result::run(
        record_result::Input {
            job_id: w2.job_id,
            ..input
        },
        &w2.deps,
    )
    .await
    .unwrap_err();
    assert_eq!(err.name(), "PetAvatar.JobConflict");
}
