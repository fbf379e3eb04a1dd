//! Every stage in sequence, as the state machine chains them, with the offline backend and the
//! in-memory stores: a cat photo completes; photos of objects and of a person are refused.

use bytes::Bytes;
use chrono::Utc;
use serde_json::{Value, json};
use steps::ports::{JobStore, ObjectStore};
use steps::{Job, JobStatus, Stage, StageError, StageName, run_json};
use uuid::Uuid;

use steps::memory::InMemoryWorld as World;

fn world() -> World {
    World::offline()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Upload a fixture, create its job, and return the execution input.
async fn submit(w: &World, name: &str) -> (Uuid, Value) {
    let job_id = Uuid::new_v4();
    let ext = name.rsplit('.').next().unwrap_or("bin");
    let key = format!("uploads/{job_id}/original.{ext}");
    w.uploads
        .put(&key, Bytes::from(fixture(name)), "application/octet-stream")
        .await
        .unwrap();
    w.jobs
        .create(Job::new(job_id, "owner-1", &key, Utc::now()))
        .await
        .unwrap();
    (
        job_id,
        json!({"job_id": job_id, "bucket": "uploads", "key": key, "species_hint": null}),
    )
}

/// The state machine's happy path and its Catch → RecordFailure path, in process.
async fn run_pipeline(w: &World, mut state: Value) -> Result<Value, StageError> {
    let result = async {
        for (stage, path) in [
            (StageName::ValidateImage, "image"),
            (StageName::AnalyzePet, "analysis"),
            (StageName::MapCareer, "career"),
        ] {
            state[path] = run_json(stage, state.clone(), &w.deps).await?;
        }
        let (avatar, identity) = tokio::join!(
            run_json(StageName::GenerateAvatar, state.clone(), &w.deps),
            run_json(StageName::WriteIdentity, state.clone(), &w.deps)
        );
        state["generated"] = json!([avatar?, identity?]);
        run_json(StageName::RecordResult, state.clone(), &w.deps).await?;
        Ok::<Value, StageError>(state.clone())
    }
    .await;
    if let Err(e) = &result {
        let caught = json!({"job_id": state["job_id"], "error": {"Error": e.name(), "Cause": serde_json::to_string(&e.to_payload()).unwrap()}});
        run_json(StageName::RecordFailure, caught, &w.deps)
            .await
            .unwrap();
    }
    result
}

#[tokio::test]
async fn chelsea_the_cat_becomes_a_professional() {
    let w = world();
    let (job_id, input) = submit(&w, "chelsea.png").await;
    let state = run_pipeline(&w, input)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", e.name()));

    let job = w.jobs.get(job_id).await.unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.stage, Stage::Completed);
    assert_eq!(job.progress, 100);
    assert_eq!(
        job.avatar_key.as_deref(),
        Some(format!("generated/{job_id}/avatar.png").as_str())
    );
    let identity = job.identity_package.expect("identity stored");
    assert_eq!(identity.bio.len(), 3);
    assert!((5..=10).contains(&identity.skills.len()));
    assert!(identity.similarity.score <= 100);
    assert_eq!(identity.model, "offline");
    let analysis = job.pet_analysis.expect("analysis stored");
    assert_eq!(analysis.personality.scores().len(), 47);
    assert_eq!(analysis.species, "unknown");
    assert!(!analysis.palette.is_empty());

    // The normalized image and the avatars exist and are what they claim.
    let image = &state["image"];
    assert_eq!(image["format"], "png");
    assert_eq!(
        (image["width"].as_u64(), image["height"].as_u64()),
        (Some(451), Some(300))
    );
    let normalized = w
        .uploads
        .get(&format!("work/{job_id}/normalized.jpg"))
        .await
        .unwrap();
    assert_eq!(
        image::guess_format(&normalized).unwrap(),
        image::ImageFormat::Jpeg
    );
    for (key, size) in [
        (format!("generated/{job_id}/avatar.png"), 1024),
        (format!("generated/{job_id}/avatar-512.png"), 512),
        (format!("generated/{job_id}/avatar-256.png"), 256),
    ] {
        let png = w.generated.get(&key).await.unwrap();
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (size, size), "{key}");
    }
    // State stays small: keys, not bytes.
    assert!(serde_json::to_vec(&state).unwrap().len() < 16 * 1024);
}

#[tokio::test]
async fn photos_without_a_pet_are_refused_as_not_a_pet() {
    for name in ["coffee.png", "rocket.jpg", "astronaut.png"] {
        let w = world();
        let (job_id, input) = submit(&w, name).await;
        let err = run_pipeline(&w, input).await.expect_err(name);
        assert_eq!(err.name(), "PetAvatar.NotAPet", "{name}: {err}");
        let job = w.jobs.get(job_id).await.unwrap();
        assert_eq!(job.status, JobStatus::Failed, "{name}");
        let error = job.error.expect("error recorded");
        assert_eq!(error.code, "PetAvatar.NotAPet");
        assert!(
            error.message.contains("no animal"),
            "{name}: {}",
            error.message
        );
        assert!(w.generated.keys().is_empty(), "{name}: nothing generated");
    }
}

#[tokio::test]
async fn the_same_job_gives_the_same_results() {
    let w = world();
    let (job_id, input) = submit(&w, "chelsea.png").await;
    let first = run_pipeline(&w, input.clone()).await.unwrap();
    let avatar_1 = w
        .generated
        .get(&format!("generated/{job_id}/avatar.png"))
        .await
        .unwrap();
    // Run the content stages again on the same state (as a retry would).
    let again = run_json(StageName::WriteIdentity, first.clone(), &w.deps).await;
    // The job is completed now, so a stage may not advance it: conflict, not a silent rewrite.
    assert_eq!(again.unwrap_err().name(), "PetAvatar.JobConflict");
    let w2 = world();
    w2.uploads
        .put(
            input["key"].as_str().unwrap(),
            Bytes::from(fixture("chelsea.png")),
            "image/png",
        )
        .await
        .unwrap();
    w2.jobs
        .create(Job::new(
            job_id,
            "owner-1",
            input["key"].as_str().unwrap(),
            Utc::now(),
        ))
        .await
        .unwrap();
    let second = run_pipeline(&w2, input).await.unwrap();
    assert_eq!(first["analysis"], second["analysis"]);
    assert_eq!(first["career"], second["career"]);
    assert_eq!(first["generated"], second["generated"]);
    let avatar_2 = w2
        .generated
        .get(&format!("generated/{job_id}/avatar.png"))
        .await
        .unwrap();
    assert_eq!(avatar_1, avatar_2);
}

#[tokio::test]
async fn species_hint_reaches_the_analysis_and_the_name() {
    let w = world();
    let (_, mut input) = submit(&w, "chelsea.png").await;
    input["species_hint"] = json!("Cat");
    let state = run_pipeline(&w, input).await.unwrap();
    assert_eq!(state["analysis"]["species"], "cat");
    // The first name comes from the cat book.
    let name = state["generated"][1]["name"].as_str().unwrap();
    let first = name.split(' ').next().unwrap();
    assert!(
        steps::offline::identity::first_names("cat").contains(&first),
        "{name}"
    );
}

#[tokio::test]
async fn record_failure_is_idempotent_and_keeps_the_first_error() {
    let w = world();
    let (job_id, _) = submit(&w, "chelsea.png").await;
    let caught = |code: &str| json!({"job_id": job_id, "error": {"Error": code, "Cause": "{\"errorType\":\"x\",\"errorMessage\":\"first\"}"}});
    run_json(
        StageName::RecordFailure,
        caught("PetAvatar.InvalidImage"),
        &w.deps,
    )
    .await
    .unwrap();
    let out = run_json(
        StageName::RecordFailure,
        caught("PetAvatar.Transient"),
        &w.deps,
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "failed");
    let job = w.jobs.get(job_id).await.unwrap();
    assert_eq!(job.error.unwrap().code, "PetAvatar.InvalidImage");
    // A States.* error without a cause still gets a message.
    let w = world();
    let (job_id, _) = submit(&w, "chelsea.png").await;
    run_json(
        StageName::RecordFailure,
        json!({"job_id": job_id, "error": {"Error": "States.Timeout"}}),
        &w.deps,
    )
    .await
    .unwrap();
    assert_eq!(
        w.jobs.get(job_id).await.unwrap().error.unwrap().message,
        "a pipeline stage timed out"
    );
}

#[tokio::test]
async fn a_stage_input_missing_fields_is_invalid_input() {
    let w = world();
    let err = run_json(
        StageName::AnalyzePet,
        json!({"job_id": Uuid::new_v4()}),
        &w.deps,
    )
    .await
    .unwrap_err();
    assert_eq!(err.name(), "PetAvatar.InvalidInput");
}
