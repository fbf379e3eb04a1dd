//! Run every stage, in the order of the state machine, on one photo with the offline backend and
//! in-memory stores; print the state after each stage and write the avatar.
//!
//! `cargo run -p steps --example offline_pipeline -- fixtures/chelsea.png /tmp/avatar.png [species]`

use bytes::Bytes;
use chrono::Utc;
use serde_json::{Value, json};
use steps::memory::InMemoryWorld;
use steps::ports::{JobStore, ObjectStore};
use steps::{Deps, Job, StageName, run_json};
use uuid::Uuid;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let photo = args
        .get(1)
        .ok_or("usage: offline_pipeline PHOTO [OUT.png] [SPECIES]")?;
    let out = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "/tmp/petavatar-avatar.png".into());
    let species = args.get(3).cloned();
    let InMemoryWorld {
        deps,
        uploads,
        generated,
        jobs,
    } = InMemoryWorld::offline();

    let job_id = Uuid::new_v4();
    let bytes = std::fs::read(photo)?;
    let ext = photo.rsplit('.').next().unwrap_or("bin");
    let key = format!("uploads/{job_id}/original.{ext}");
    uploads
        .put(&key, Bytes::from(bytes), "application/octet-stream")
        .await?;
    jobs.create(Job::new(job_id, "example", &key, Utc::now()))
        .await?;

    let mut state =
        json!({"job_id": job_id, "bucket": "local", "key": key, "species_hint": species});
    let steps: [(StageName, &str); 3] = [
        (StageName::ValidateImage, "image"),
        (StageName::AnalyzePet, "analysis"),
        (StageName::MapCareer, "career"),
    ];
    for (stage, path) in steps {
        match run_json(stage, state.clone(), &deps).await {
            Ok(output) => state[path] = output,
            Err(e) => return fail(&deps, &state, e).await,
        }
        println!("{} ok", stage.state_name());
    }
    let avatar = run_json(StageName::GenerateAvatar, state.clone(), &deps).await;
    let identity = run_json(StageName::WriteIdentity, state.clone(), &deps).await;
    match (avatar, identity) {
        (Ok(a), Ok(i)) => state["generated"] = Value::Array(vec![a, i]),
        (Err(e), _) | (_, Err(e)) => return fail(&deps, &state, e).await,
    }
    run_json(StageName::RecordResult, state.clone(), &deps).await?;
    let job = jobs.get(job_id).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "status": job.status, "career": state["career"], "identity": state["generated"][1],
            "dominant_traits": state["analysis"]["dominant_traits"], "palette": state["analysis"]["palette"],
            "prompt": state["generated"][0]["prompt"],
        }))?
    );
    let png = generated.get(&steps::keys::avatar(job_id)).await?;
    std::fs::write(&out, &png)?;
    println!("avatar written to {out}");
    Ok(())
}

async fn fail(
    deps: &Deps,
    state: &Value,
    e: steps::StageError,
) -> Result<(), Box<dyn std::error::Error>> {
    let payload = json!({"job_id": state["job_id"], "error": {"Error": e.name(), "Cause": serde_json::to_string(&e.to_payload())?}});
    let recorded = run_json(StageName::RecordFailure, payload, deps).await?;
    println!("failed: {recorded}");
    Ok(())
}
