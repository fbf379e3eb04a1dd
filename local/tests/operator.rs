//! The operator routes of `petavatar serve` over loopback HTTP: they take an operator key
//! (header or the sign-in cookie), refuse a client's API key (403) and a missing one (401).

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

/// The operator routes: the JSON behind the execution pages, and the pages.
fn operator_paths() -> Vec<String> {
    let unknown = uuid::Uuid::new_v4();
    vec![
        "/api/executions".to_owned(),
        format!("/api/executions/{unknown}"),
        "/executions".to_owned(),
        format!("/executions/{unknown}"),
    ]
}

async fn status_with(client: &Client, path: &str, headers: &[(&str, &str)]) -> StatusCode {
    let mut request = client.http.get(client.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send_retrying(request, true).await.status()
}

/// Creates a key with `petavatar keys create [--operator]` while the server runs.
fn created_key(data: &std::path::Path, operator: bool) -> String {
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"keys", &"create", &"--data", &data];
    if operator {
        args.push(&"--operator");
    }
    let out = petavatar(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_routes_answer_401_without_a_key_403_to_a_client_key_200_to_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0);
    let client_key = server.key();
    let operator_key = server.operator_key();
    assert!(operator_key.starts_with("pa_op_"), "{operator_key}");
    let client = Client::new(&server, &client_key);

    for path in operator_paths() {
        assert_eq!(
            status_with(&client, &path, &[]).await,
            StatusCode::UNAUTHORIZED,
            "{path} without a key"
        );
        assert_eq!(
            status_with(&client, &path, &[("x-operator-key", "pa_op_not-a-key")]).await,
            StatusCode::UNAUTHORIZED,
            "{path} with a made-up key"
        );
        for header in ["x-api-key", "x-operator-key"] {
            assert_eq!(
                status_with(&client, &path, &[(header, &client_key)]).await,
                StatusCode::FORBIDDEN,
                "{path} with the client key in {header}"
            );
        }
        let cookie = format!("petavatar_operator={client_key}");
        assert_eq!(
            status_with(&client, &path, &[("cookie", &cookie)]).await,
            StatusCode::FORBIDDEN,
            "{path} with the client key as the cookie"
        );
        let expected = if path.starts_with("/api/executions/") {
            // Past the guard: no such execution.
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(
            status_with(&client, &path, &[("x-operator-key", &operator_key)]).await,
            expected,
            "{path} with the operator key"
        );
    }

    // The JSON refusals are the API's error shape.
    let res = send_retrying(
        client
            .http
            .get(client.url("/api/executions"))
            .header("x-api-key", &client_key),
        true,
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Forbidden", "{body}");

    // A page refused is the sign-in page, which goes back to where the operator was going.
    let res = send_retrying(client.http.get(client.url("/executions/abc")), true).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let page = res.text().await.unwrap();
    assert!(page.contains(r#"id="login-form""#), "{page}");
    assert!(page.contains(r#"value="/executions/abc""#), "{page}");

    // A key created while the server runs works at once; a client's never does.
    let second = created_key(&server.data, true);
    assert_eq!(
        status_with(&client, "/api/executions", &[("x-operator-key", &second)]).await,
        StatusCode::OK
    );
    let another_client = created_key(&server.data, false);
    assert_eq!(
        status_with(
            &client,
            "/api/executions",
            &[("x-api-key", &another_client)]
        )
        .await,
        StatusCode::FORBIDDEN
    );

    // Neither kind of key, nor its hash, is ever logged.
    let logs = std::fs::read_to_string(&server.log).unwrap();
    for key in [&client_key, &operator_key, &second, &another_client] {
        assert!(!logs.contains(key.as_str()), "a key is in the log");
        let hash = hex_sha256(key);
        assert!(!logs.contains(&hash), "a key's hash is in the log");
    }
}

fn hex_sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_sets_an_http_only_strict_cookie_that_opens_the_pages() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0);
    let client = Client::new(&server, &server.key());
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |key: String| {
        let request = browser
            .post(client.url("/operator/login"))
            .form(&[("key", key.as_str()), ("next", "/executions/abc")]);
        async move { send_retrying(request, false).await }
    };

    for refused in [server.key(), "pa_op_wrong".to_owned()] {
        let res = sign_in(refused).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().get(SET_COOKIE).is_none());
        assert!(res.text().await.unwrap().contains(r#"id="login-form""#));
    }

    let res = sign_in(server.operator_key()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/executions/abc");
    let set_cookie = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    for path in ["/api/executions", "/executions", "/executions/abc"] {
        let res = send_retrying(browser.get(client.url(path)).header(COOKIE, &cookie), true).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }

    // Somewhere else to go back to is not followed.
    let res = send_retrying(
        browser.post(client.url("/operator/login")).form(&[
            ("key", server.operator_key().as_str()),
            ("next", "//evil.example/"),
        ]),
        false,
    )
    .await;
    assert_eq!(res.headers()[LOCATION], "/executions");

    let res = send_retrying(browser.post(client.url("/operator/logout")), false).await;
    assert!(
        res.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

/// Runs `petavatar executions ARGS… --api BASE --operator-key KEY`; its stdout.
fn operator_cli(server: &Server, args: &[&str]) -> String {
    let key = server.operator_key();
    let mut all: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"executions"];
    for arg in args {
        all.push(arg);
    }
    all.extend([
        &"--api" as &dyn AsRef<std::ffi::OsStr>,
        &server.base,
        &"--operator-key",
        &key,
    ]);
    let out = petavatar(&all);
    assert!(
        out.status.success(),
        "executions {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_stops_a_running_job_then_redrives_it_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    // Each stage waits 3 s: the job is still running when the operator stops it.
    let server = Server::start(&dir.path().join("data"), 3000);
    let client = Client::new(&server, &server.key());
    let presigned = client.presign("image/png").await;
    let job_id = presigned["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        client.upload(&presigned, chelsea()).await.status(),
        StatusCode::NO_CONTENT
    );
    client
        .poll_until(&job_id, std::time::Duration::from_secs(120), |s| {
            s["status"] == "processing"
        })
        .await;

    // A client's key may not stop it.
    let res = send_retrying(
        client
            .http
            .post(client.url(&format!("/api/executions/{job_id}/stop")))
            .header("x-api-key", &client.key)
            .json(&serde_json::json!({})),
        false,
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let printed = operator_cli(
        &server,
        &[
            "stop",
            &job_id,
            "--error",
            "Operator.Cancelled",
            "--cause",
            "stopped by the test",
        ],
    );
    assert!(
        printed.contains("failed Operator.Cancelled: stopped by the test; execution ABORTED"),
        "{printed}"
    );
    let (_, status) = client.get(&format!("/status/{job_id}")).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["error"]["code"], "Operator.Cancelled", "{status}");
    assert_eq!(
        status["error"]["message"], "stopped by the test",
        "{status}"
    );

    // Stopping an ended job is refused; listing finds it by status and by name prefix.
    let (code, body) = client
        .operator_post(
            &format!("/api/executions/{job_id}/stop"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    for query in [
        "status=ABORTED".to_owned(),
        format!("name_prefix={}", &job_id[..8]),
    ] {
        let list: Value = client
            .operator_get(&format!("/api/executions?{query}"))
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
        assert_eq!(names, [job_id.as_str()], "{query}");
    }
    let none: Value = client
        .operator_get("/api/executions?status=SUCCEEDED")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["executions"], serde_json::json!([]));
    let res = client.operator_get("/api/executions?status=BROKEN").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Redriven, the job goes back to processing and on to completed.
    let printed = operator_cli(&server, &["redrive", &job_id, "--wait", "5m"]);
    let lines: Vec<&str> = printed.lines().collect();
    assert!(
        lines[0].contains(": processing; execution RUNNING (redriven 1 times)"),
        "{printed}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .contains(": completed; execution SUCCEEDED (redriven 1 times)"),
        "{printed}"
    );
    let (_, status) = client.get(&format!("/status/{job_id}")).await;
    assert_eq!(status["status"], "completed", "{status}");
    let detail = client.execution(&job_id).await;
    let events = detail["events"].as_array().unwrap();
    let count = |kind: &str| events.iter().filter(|e| e["type"] == kind).count();
    assert_eq!(count("ExecutionAborted"), 1);
    assert_eq!(count("ExecutionRedriven"), 1);
    assert_eq!(count("ExecutionSucceeded"), 1);
    assert_eq!(detail["job"]["status"], "completed");

    // A completed job is not redriven.
    let (code, body) = client
        .operator_post(
            &format!("/api/executions/{job_id}/redrive"),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "JobStatusConflict", "{body}");
}
