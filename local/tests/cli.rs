//! The CLI commands as a user runs them.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

#[test]
fn run_writes_the_avatar_and_the_identity() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = petavatar(&[&"run", &CHELSEA, &"--out", &out]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["status"], "completed");
    let name = result["identity"]["name"].as_str().unwrap();
    assert!(stdout.contains(name), "the identity is printed: {stdout}");
    assert!(stdout.contains(result["identity"]["job_title"].as_str().unwrap()));
    assert_eq!(
        png_size(&std::fs::read(out.join("avatar.png")).unwrap()),
        (1024, 1024)
    );
    let files: Vec<&str> = result["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.len() >= 2, "avatar and variants: {files:?}");
    for file in files {
        assert!(out.join(file).exists(), "{file}");
    }
    for stage in PIPELINE_STATES {
        assert!(stderr.contains(stage), "progress shows {stage}: {stderr}");
    }
    let history: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap()).unwrap();
    assert_eq!(history["events"][0]["type"], "ExecutionStarted");
    // The embedded default sees the cat.
    let analysis = &result["pet_analysis"];
    assert_eq!(analysis["species"], "cat", "{analysis}");
    assert_eq!(analysis["model"], vision::MODEL);
    assert!(stdout.contains("cat"), "{stdout}");
}

/// The sheet: one pair per photo, a refused photo crossed out, and the same photos give the
/// same sheet (the avatar depends on the photo only, not on the job).
#[test]
fn contact_sheet_pairs_each_photo_with_its_avatar_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let coffee = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/coffee.png");
    let sheet = |name: &str| {
        let out = dir.path().join(name);
        let output = petavatar(&[
            &"contact-sheet",
            &CHELSEA,
            &coffee,
            &"-o",
            &out,
            &"--tile",
            &"64",
            &"--columns",
            &"2",
        ]);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "stdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        (std::fs::read(out).unwrap(), stdout)
    };
    let (first, legend) = sheet("a.png");
    let (second, _) = sheet("b.png");
    assert!(
        legend.contains("chelsea.png: ") && legend.contains("cat"),
        "{legend}"
    );
    assert!(legend.contains("coffee.png: refused"), "{legend}");
    // Two pairs side by side: 12 + 2 × (64 + 12 + 64 + 24) wide, 12 + 64 + 24 high.
    assert_eq!(png_size(&first), (12 + 2 * (2 * 64 + 36), 12 + 64 + 24));
    assert!(first == second, "two sheets of the same photos differ");
}

#[test]
fn run_refuses_a_photo_of_a_person_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/astronaut.png");
    let output = petavatar(&[&"run", &photo, &"--out", &dir.path().join("out")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PetAvatar.NotAPet") && stderr.contains("a person's face was found"),
        "{stderr}"
    );
}

#[test]
fn run_fails_clearly_on_a_file_that_is_not_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("notes.jpg");
    std::fs::write(&photo, "these are not pixels").unwrap();
    let output = petavatar(&[&"run", &photo, &"--out", &dir.path().join("out")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: the job failed") && stderr.contains("PetAvatar.InvalidImage"),
        "{stderr}"
    );
    assert!(!dir.path().join("out/avatar.png").exists());
}

#[test]
fn run_fails_clearly_on_a_missing_file() {
    let output = petavatar(&[&"run", &"/nonexistent/cat.png"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read /nonexistent/cat.png"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_and_executions_against_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, 0);
    let key = server.key();
    let out = dir.path().join("submitted");
    let output = tokio::process::Command::new(binary())
        .args([
            "submit",
            CHELSEA,
            "--wait",
            "--api",
            &server.base,
            "--key",
            &key,
            "--out",
        ])
        .arg(&out)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let job_id = stdout.split_whitespace().nth(1).unwrap().to_owned();
    assert!(stdout.contains("Similarity:"), "{stdout}");
    assert_eq!(
        png_size(&std::fs::read(out.join("avatar.png")).unwrap()),
        (1024, 1024)
    );

    let list = petavatar(&[&"executions", &"list", &"--data", &data]);
    let table = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success());
    assert!(
        table
            .lines()
            .any(|l| l.contains(&job_id) && l.contains("SUCCEEDED")),
        "{table}"
    );

    let show = petavatar(&[&"executions", &"show", &job_id, &"--data", &data]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(
        text.contains("TaskStateEntered") && text.contains("RecordResult"),
        "{text}"
    );

    let json = petavatar(&[&"executions", &"show", &job_id, &"--json", &"--data", &data]);
    let history: Value = serde_json::from_slice(&json.stdout).unwrap();
    let events = history["events"].as_array().unwrap();
    assert_eq!(events[0]["type"], "ExecutionStarted");
    assert_eq!(events[0]["id"], 1);
    assert_eq!(events.last().unwrap()["type"], "ExecutionSucceeded");
    assert!(
        events
            .iter()
            .all(|e| e["timestamp"].is_number() && e["previousEventId"].is_number())
    );

    let bad = tokio::process::Command::new(binary())
        .args(["submit", CHELSEA, "--api", &server.base, "--key", "wrong"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("401"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_wait_gives_up_after_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // Each stage waits 20 s: the job cannot end within the 2 s the client waits, nor within
    // any lag a busy machine adds to the client (the server is killed when the test ends).
    let server = Server::start(&dir.path().join("data"), 20_000);
    let started = std::time::Instant::now();
    let output = tokio::process::Command::new(binary())
        .args([
            "submit",
            CHELSEA,
            "--wait",
            "--timeout",
            "2s",
            "--api",
            &server.base,
            "--key",
            &server.key(),
        ])
        .output()
        .await
        .unwrap();
    let waited = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    let job_id = stdout.split_whitespace().nth(1).unwrap();
    assert!(
        stderr.contains(&format!("job {job_id} did not finish within 2s")),
        "{stderr}"
    );
    assert!(stderr.contains("last seen: "), "{stderr}");
    // It waited its timeout at least (load can only lengthen that), and gave up while the
    // job was still running rather than waiting for its end: no upper bound on wall time.
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    let (status, body) = Client::new(&server, &server.key())
        .get(&format!("/status/{job_id}"))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert!(!is_terminal(&body), "{body}");
}
