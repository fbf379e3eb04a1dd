//! A server killed with SIGKILL in the middle of a job resumes it on restart.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;

/// The job has done ValidateImage and AnalyzePet and has stages still to run.
fn past_analyze_pet(status: &serde_json::Value) -> bool {
    status["status"] == "processing"
        && matches!(
            status["stage"].as_str(),
            Some("map_career" | "generate_avatar" | "write_identity" | "record_result")
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_sigkill_and_completes_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Each stage waits 3 s, so the kill lands mid-pipeline: the test kills at the first status
    // it sees past AnalyzePet, and from then on the job still has ~9 s of stages to go (no
    // poll of a loaded machine lags that much behind).
    let mut server = Server::start(&data, 3000);
    let key = server.key();
    let client = Client::new(&server, &key);
    let presigned = client.presign("image/png").await;
    let job_id = presigned["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        client.upload(&presigned, chelsea()).await.status(),
        StatusCode::NO_CONTENT
    );
    let seen = client
        .poll_until(&job_id, Duration::from_secs(120), |s| {
            past_analyze_pet(s) || is_terminal(s)
        })
        .await;
    assert_eq!(
        seen.last().unwrap()["status"],
        "processing",
        "killed too late: {seen:?}"
    );
    server.kill();

    let operator_key = server.operator_key();
    let restarted = Server::start(&data, 0);
    assert!(restarted.key.is_none(), "no new key on restart");
    assert!(
        restarted.operator_key.is_none(),
        "no new operator key on restart"
    );
    let mut client = Client::new(&restarted, &key);
    client.operator_key = operator_key;
    let seen = client
        .poll_until(&job_id, Duration::from_secs(120), is_terminal)
        .await;
    assert_eq!(seen.last().unwrap()["status"], "completed", "{seen:?}");
    let (status, results) = client.get(&format!("/results/{job_id}")).await;
    assert_eq!(status, StatusCode::OK, "{results}");

    // One execution, which went on from where it was: the stages done before the kill did not run again.
    let detail = client
        .finished_execution(&job_id, Duration::from_secs(60))
        .await;
    assert_eq!(detail["execution"]["status"], "SUCCEEDED");
    assert_entered_once(&detail, &PIPELINE_STATES);
    assert!(restarted.logs().iter().any(|l| {
        l["message"].as_str().is_some_and(|m| m.contains("resumed")) && l["resumed"] == 1
    }));
}
