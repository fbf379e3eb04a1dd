//! `petavatar serve` as a real process, driven over HTTP on loopback.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const FLOW_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_flow_from_presigned_url_to_avatar_download() {
    let dir = tempfile::tempdir().unwrap();
    // Each stage waits 1 s, so the 100 ms status polls see the job in several stages even
    // when the machine is busy (the check below is of what the polls saw, not of timings).
    let server = Server::start(&dir.path().join("data"), 1000);
    let client = Client::new(&server, &server.key());

    let presigned = client.presign("image/png").await;
    assert_eq!(presigned["expires_in"], 900);
    let job_id = presigned["job_id"].as_str().unwrap().to_owned();
    assert!(
        presigned["upload_url"]
            .as_str()
            .unwrap()
            .starts_with(&server.base)
    );
    let uploaded = client.upload(&presigned, chelsea()).await;
    assert_eq!(
        uploaded.status(),
        StatusCode::NO_CONTENT,
        "{}",
        uploaded.text().await.unwrap()
    );

    let (status, accepted) = client.process(presigned["s3_uri"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["job_id"], job_id.as_str());

    let seen = client.poll_until(&job_id, FLOW_TIMEOUT, is_terminal).await;
    let last = seen.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["progress"], 100);
    // The stages show up as the job moves, and progress only grows.
    let mut stages: Vec<&str> = seen.iter().filter_map(|s| s["stage"].as_str()).collect();
    stages.dedup();
    let intermediate: Vec<&&str> = stages
        .iter()
        .filter(|s| !matches!(**s, "queued" | "completed"))
        .collect();
    assert!(intermediate.len() >= 2, "{stages:?}");
    let progress: Vec<u64> = seen
        .iter()
        .map(|s| s["progress"].as_u64().unwrap())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    // `stages` lists every stage; each was seen running, both Parallel branches at once.
    let running = |s: &Value| -> Vec<String> {
        s["stages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["state"] == "running")
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for stage in [
        "validate_image",
        "analyze_pet",
        "map_career",
        "record_result",
    ] {
        assert!(
            seen.iter().any(|s| running(s).contains(&stage.to_owned())),
            "{stage} never seen running: {seen:#?}"
        );
    }
    assert!(
        seen.iter()
            .any(|s| running(s) == ["generate_avatar", "write_identity"]),
        "the Parallel branches were never seen running together"
    );
    assert!(
        last["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "done")
    );

    let (status, results) = client.get(&format!("/results/{job_id}")).await;
    assert_eq!(status, StatusCode::OK, "{results}");
    assert!(!results["identity"]["name"].as_str().unwrap().is_empty());
    assert_eq!(results["identity"]["bio"].as_array().unwrap().len(), 3);
    assert!(results["pet_analysis"]["species"].is_string());
    let avatar = client
        .http
        .get(results["avatar_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(avatar.status(), StatusCode::OK);
    assert_eq!(avatar.headers()["content-type"], "image/png");
    assert_eq!(png_size(&avatar.bytes().await.unwrap()), (1024, 1024));
    // Every size, each with its own signed URL.
    let avatars = results["avatars"].as_array().unwrap();
    assert_eq!(avatars.len(), 3, "{results}");
    assert_eq!(avatars[0]["url"], results["avatar_url"]);
    for (entry, size) in avatars.iter().zip([1024u32, 512, 256]) {
        assert_eq!(entry["size"], size);
        let png = client
            .http
            .get(entry["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(png.status(), StatusCode::OK);
        assert_eq!(png_size(&png.bytes().await.unwrap()), (size, size));
    }

    // The execution ran every stage of the real pipeline, once.
    let detail = client
        .finished_execution(&job_id, Duration::from_secs(60))
        .await;
    assert_eq!(detail["execution"]["status"], "SUCCEEDED");
    assert_entered_once(&detail, &PIPELINE_STATES);
    assert!(!entered_states(&detail).contains(&"RecordFailure".to_owned()));

    // Every log line about the job carries its id; metrics are EMF lines.
    let logs = server.logs();
    let about_job: Vec<&Value> = logs
        .iter()
        .filter(|l| l.to_string().contains(&job_id))
        .collect();
    assert!(
        about_job.len() > 5,
        "{} lines about the job",
        about_job.len()
    );
    let stage_lines: Vec<&Value> = logs
        .iter()
        .filter(|l| l["message"] == "stage succeeded")
        .collect();
    assert!(
        stage_lines
            .iter()
            .all(|l| l["job_id"] == job_id.as_str() || l.to_string().contains("\"job_id\""))
    );
    let emf: Vec<&Value> = logs.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert!(
        emf.iter()
            .any(|l| l["JobsStarted"] == 1 && l["job_id"] == job_id.as_str())
    );
    assert!(
        emf.iter()
            .any(|l| l["JobsCompleted"] == 1 && l["job_id"] == job_id.as_str())
    );
    assert!(
        emf.iter()
            .any(|l| l["Stage"] == "AnalyzePet" && l["StageDuration"].is_number())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_alone_starts_its_job_and_both_paths_make_one_execution() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0);
    let client = Client::new(&server, &server.key());

    // The S3-event path: upload, never call /process.
    let presigned = client.presign("image/png").await;
    let event_job = presigned["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        client.upload(&presigned, chelsea()).await.status(),
        StatusCode::NO_CONTENT
    );
    let seen = client
        .poll_until(&event_job, FLOW_TIMEOUT, is_terminal)
        .await;
    assert_eq!(
        seen.last().unwrap()["status"],
        "completed",
        "{:?}",
        seen.last()
    );

    // Both paths for one upload: the event and /process (twice) → one message, one execution.
    let presigned = client.presign("image/png").await;
    let both_job = presigned["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        client.upload(&presigned, chelsea()).await.status(),
        StatusCode::NO_CONTENT
    );
    for _ in 0..2 {
        let (status, body) = client.process(presigned["s3_uri"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let seen = client
        .poll_until(&both_job, FLOW_TIMEOUT, is_terminal)
        .await;
    assert_eq!(seen.last().unwrap()["status"], "completed");
    let list: Value = client
        .operator_get("/api/executions")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == both_job).count(),
        1,
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| **n == event_job).count(),
        1,
        "{names:?}"
    );
    assert_entered_once(&client.execution(&both_job).await, &PIPELINE_STATES);
    let logs = server.logs();
    let enqueued = logs
        .iter()
        .filter(|l| {
            l["message"] == "job message sent"
                && l["job_id"] == both_job.as_str()
                && l["enqueued"] == true
        })
        .count();
    assert_eq!(enqueued, 1, "one queue message for the job");
    let started = logs
        .iter()
        .filter(|l| l["JobsStarted"] == 1 && l["job_id"] == both_job.as_str())
        .count();
    assert_eq!(started, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, 0);
    let client = Client::new(&server, &server.key());
    let other = Client::new(&server, &create_key(&data));
    let nobody = Client::new(&server, "pa_0000");

    // 401: no key, wrong key.
    let res = client.get_unauthenticated("/presigned-url").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Unauthorized");
    let (status, body) = nobody.get("/presigned-url").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "Unauthorized");

    // A job that has not been uploaded yet: 409 for results, 404 for another key.
    let presigned = client.presign("image/png").await;
    let job_id = presigned["job_id"].as_str().unwrap().to_owned();
    let (status, body) = client.get(&format!("/results/{job_id}")).await;
    assert_error(status, &body, StatusCode::CONFLICT, "JobNotCompleted");
    let (status, body) = other.get(&format!("/status/{job_id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "JobNotFound");
    let (status, body) = other.get(&format!("/results/{job_id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "JobNotFound");
    let (status, body) = other.process(presigned["s3_uri"].as_str().unwrap()).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "JobNotFound");
    let (status, body) = client
        .get(&format!("/status/{}", uuid::Uuid::new_v4()))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "JobNotFound");
    // 404: nothing uploaded yet.
    let (status, body) = client.process(presigned["s3_uri"].as_str().unwrap()).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ObjectNotFound");

    // 400: malformed ids, URIs and bodies.
    let (status, body) = client.get("/status/not-a-job").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "InvalidJobId");
    let (status, body) = client.get("/results/1234").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "InvalidJobId");
    let (status, body) = client.process("http://example.com/x.png").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "InvalidS3Uri");
    let (status, body) = client
        .process(&format!(
            "s3://petavatar-uploads/uploads/{job_id}/original.gif"
        ))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "UnsupportedFormat");
    let (status, body) = client.post_json("/process", "{not json").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "InvalidBody");
    let (status, body) = client
        .post_json("/process", &json!({"uri": "s3://x/y"}).to_string())
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "InvalidBody");

    // 413: an object over 50 MB in the uploads bucket (put there behind the API's back).
    let big = client.presign("image/png").await;
    let key = big["upload_fields"]["key"].as_str().unwrap();
    let path = data.join("objects/petavatar-uploads").join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(50 * 1024 * 1024 + 1).unwrap();
    let (status, body) = client.process(big["s3_uri"].as_str().unwrap()).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "ImageTooLarge",
    );

    // The pages, with the element ids a browser test relies on (documented in local/README.md).
    let page = client.page("/").await;
    for id in [
        "api-key",
        "drop-zone",
        "photo-input",
        "job-panel",
        "job-id",
        "status",
        "execution-link",
        "progress",
        "stage-list",
        "error",
        "result-panel",
        "avatar",
        "identity-name",
        "identity-title",
        "identity-seniority",
        "identity-similarity",
        "identity-bio",
        "identity-skills",
        "pet-species",
        "pet-breed",
        "pet-vibe",
    ] {
        assert!(
            page.contains(&format!("id=\"{id}\"")),
            "index page lacks #{id}"
        );
    }
    let view = client
        .operator_get(&format!("/executions/{job_id}"))
        .await
        .text()
        .await
        .unwrap();
    for id in [
        "execution-graph",
        "execution-status",
        "execution-name",
        "event-table",
        "execution-list",
    ] {
        assert!(
            view.contains(&format!("id=\"{id}\"")),
            "execution page lacks #{id}"
        );
    }
    // The icon browsers ask for, linked from both pages.
    let icon = client.get_unauthenticated("/favicon.ico").await;
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(icon.headers()["content-type"], "image/x-icon");
    let icon = icon.bytes().await.unwrap();
    assert!(icon.starts_with(&[0, 0, 1, 0]), "not an ICO file");
    assert!(u16::from_le_bytes([icon[4], icon[5]]) >= 2, "one size only");
    for html in [&page, &view] {
        assert!(html.contains(r#"rel="icon" href="/favicon.ico""#));
    }
    let res = client
        .operator_get(&format!("/api/executions/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // The OpenAPI document is served.
    let (status, doc) = nobody.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/process"]["post"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_urls_refuse_tampering_expiry_and_policy_violations() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, 0);
    let client = Client::new(&server, &server.key());
    let presigned = client.presign("image/png").await;
    let url = presigned["upload_url"].as_str().unwrap();
    let fields = presigned["upload_fields"].as_object().unwrap().clone();

    let altered = |name: &str, value: &str| {
        let mut f = fields.clone();
        f.insert(name.to_owned(), Value::String(value.to_owned()));
        f
    };
    let sig = fields["x-amz-signature"].as_str().unwrap();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    let other_job = format!("uploads/{}/original.png", uuid::Uuid::new_v4());
    let cases = [
        (
            "tampered signature",
            altered("x-amz-signature", &flipped),
            "SignatureDoesNotMatch",
        ),
        (
            "tampered policy",
            altered(
                "policy",
                &format!("{}A", fields["policy"].as_str().unwrap()),
            ),
            "SignatureDoesNotMatch",
        ),
        ("other key", altered("key", &other_job), "AccessDenied"),
        (
            "other content type",
            altered("Content-Type", "text/html"),
            "AccessDenied",
        ),
        (
            "a field the policy does not name",
            altered("acl", "public-read"),
            "AccessDenied",
        ),
    ];
    for (what, form, code) in cases {
        let res = client.upload_with(url, &form, chelsea()).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
        let body = res.text().await.unwrap();
        assert!(
            body.contains(&format!("<Code>{code}</Code>")),
            "{what}: {body}"
        );
    }
    // Over 50 MB: refused while streaming, as S3 does (400 EntityTooLarge).
    let res = client
        .upload(&presigned, vec![0u8; 50 * 1024 * 1024 + 1])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("<Code>EntityTooLarge</Code>")
    );
    assert!(
        !data
            .join("objects/petavatar-uploads")
            .join(fields["key"].as_str().unwrap())
            .exists()
    );

    // An expired policy and an expired download, signed with the server's own secret.
    let signer = petavatar::signing::Signer::new(std::fs::read(data.join("signing.key")).unwrap());
    let policy = api::s3_post::encode_policy(
        chrono::Utc::now() - chrono::TimeDelta::seconds(1),
        vec![
            serde_json::json!({"bucket": "petavatar-uploads"}),
            serde_json::json!(["eq", "$key", fields["key"].as_str().unwrap()]),
        ],
    );
    let signature = signer.sign_policy(&policy);
    let mut form = altered("policy", &policy);
    form.insert("x-amz-signature".into(), Value::String(signature));
    let res = client.upload_with(url, &form, chelsea()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("Policy expired"));

    // The genuine form still works.
    assert_eq!(
        client.upload(&presigned, chelsea()).await.status(),
        StatusCode::NO_CONTENT
    );

    let key = fields["key"].as_str().unwrap();
    let past = chrono::Utc::now().timestamp() - 1;
    let download = |bucket: &str, key: &str, expires: i64, signature: &str| {
        format!(
            "{}/local/download?bucket={bucket}&key={key}&expires={expires}&signature={signature}",
            server.base
        )
    };
    let good_expiry = chrono::Utc::now().timestamp() + 3600;
    let good = signer.sign_download("petavatar-uploads", key, good_expiry);
    let res = client
        .http
        .get(download("petavatar-uploads", key, good_expiry, &good))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap().len(), chelsea().len());
    let stale = signer.sign_download("petavatar-uploads", key, past);
    for (what, url) in [
        ("expired", download("petavatar-uploads", key, past, &stale)),
        (
            "later expiry",
            download("petavatar-uploads", key, good_expiry + 1, &good),
        ),
        (
            "other bucket",
            download("petavatar-generated", key, good_expiry, &good),
        ),
        (
            "no signature",
            format!(
                "{}/local/download?bucket=petavatar-uploads&key={key}",
                server.base
            ),
        ),
    ] {
        let res = client.http.get(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
    }
}
