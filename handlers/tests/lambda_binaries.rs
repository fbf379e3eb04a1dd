//! Each Lambda binary, built by cargo, driven through the Lambda Runtime API: the test runs
//! `handlers::runtime_api::RuntimeApiEmulator`, spawns the binary with `AWS_LAMBDA_RUNTIME_API`
//! pointing at it and AWS pointed at moto's server, sends events and reads the responses and
//! `errorType`s the binary posts back.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use common::events::{s3_event_json, sqs_record, status_change_event_json};
use common::serve_on_loopback;
use common::stack::Stack;
use handlers::config::IGNORE_STAGE_IN_PATH;
use handlers::runtime_api::{Outcome, RuntimeApiEmulator};
use serde_json::{Value, json};
use steps::JobStatus;
use steps::ports::{JobMessage, JobStore, ObjectStore};
use uuid::Uuid;

/// An upper bound on one invocation, cold start included (no wall-clock assertion: only a
/// hung binary takes this long, and the machine may be busy).
const TIMEOUT: Duration = Duration::from_secs(180);

/// The path of the Lambda binary `$name`: the one cargo built for this test, or the copy in
/// `$PETAVATAR_LAMBDA_BIN_DIR` (scripts/soak-flaky runs copies, so that another worktree
/// building into the shared target dir cannot swap a binary under a long soak).
macro_rules! lambda_bin {
    ($name:literal) => {
        lambda_binary($name, env!(concat!("CARGO_BIN_EXE_", $name)))
    };
}

fn lambda_binary(name: &str, built: &str) -> String {
    match std::env::var_os("PETAVATAR_LAMBDA_BIN_DIR") {
        Some(dir) => std::path::Path::new(&dir)
            .join(name)
            .to_string_lossy()
            .into_owned(),
        None => built.to_owned(),
    }
}

/// A Lambda binary running against an emulator; killed (by pid) when dropped.
struct Function {
    emulator: RuntimeApiEmulator,
    child: Child,
    name: String,
}

impl Function {
    async fn start(name: &str, binary: &str, env: &[(String, String)]) -> Function {
        let emulator = RuntimeApiEmulator::start(name).await.unwrap();
        let log = std::fs::File::create(
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("lambda-{name}-{}.log", Uuid::new_v4())),
        )
        .unwrap();
        let child = Command::new(binary)
            .env_clear()
            .envs(emulator.lambda_environment(name))
            .envs(env.iter().cloned())
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Function {
            emulator,
            child,
            name: name.to_owned(),
        }
    }

    async fn invoke(&mut self, event: Value) -> Outcome {
        match self.emulator.invoke(event, TIMEOUT).await {
            Ok(outcome) => outcome,
            Err(e) => panic!("{}: {e} (exited: {:?})", self.name, self.child.try_wait()),
        }
    }

    async fn respond(&mut self, event: Value) -> Value {
        match self.invoke(event).await {
            Outcome::Response(value) => value,
            other => panic!("{}: expected a response, got {other:?}", self.name),
        }
    }

    async fn error_type(&mut self, event: Value) -> String {
        match self.invoke(event).await {
            Outcome::Error { error_type, .. } => error_type,
            other => panic!("{}: expected an error, got {other:?}", self.name),
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Lambda binary of the stack, with the environment infra gives it (offline models).
async fn function(stack: &Stack, bin: &str, path: &str) -> Function {
    Function::start(bin, path, &stack.env("offline")).await
}

fn cat_photo() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/chelsea.png"
    ))
    .unwrap()
}

#[tokio::test]
async fn the_stage_binaries_run_a_job_through_the_pipeline() {
    let stack = Stack::new().await;
    let job = stack.job_with_upload(&cat_photo()).await;
    let mut state = json!({"job_id": job.job_id, "bucket": "uploads", "key": job.upload_key, "species_hint": null});

    let mut validate = function(&stack, "validate-image", &lambda_bin!("validate-image")).await;
    state["image"] = validate.respond(state.clone()).await;
    assert_eq!(
        state["image"]["normalized_key"],
        format!("work/{}/normalized.jpg", job.job_id)
    );
    assert!(
        stack
            .uploads
            .head(&format!("work/{}/normalized.jpg", job.job_id))
            .await
            .is_ok()
    );

    // Same process, a bad upload: the errorType is the stable dotted name.
    let not_an_image = stack
        .job_with_upload(b"this is a text file, not a photo")
        .await;
    let bad = json!({"job_id": not_an_image.job_id, "bucket": "uploads", "key": not_an_image.upload_key, "species_hint": null});
    assert_eq!(validate.error_type(bad).await, "PetAvatar.InvalidImage");
    assert_eq!(
        validate.error_type(json!({"nothing": true})).await,
        "PetAvatar.InvalidInput"
    );

    let mut analyze = function(&stack, "analyze-pet", &lambda_bin!("analyze-pet")).await;
    state["analysis"] = analyze.respond(state.clone()).await;
    assert_eq!(
        state["analysis"]["personality"].as_object().unwrap().len(),
        47
    );

    let mut career = function(&stack, "map-career", &lambda_bin!("map-career")).await;
    state["career"] = career.respond(state.clone()).await;

    let mut avatar = function(&stack, "generate-avatar", &lambda_bin!("generate-avatar")).await;
    let mut identity = function(&stack, "write-identity", &lambda_bin!("write-identity")).await;
    let (a, i) = tokio::join!(
        avatar.respond(state.clone()),
        identity.respond(state.clone())
    );
    state["generated"] = json!([a, i]);
    assert_eq!(
        state["generated"][0]["avatar_key"],
        format!("generated/{}/avatar.png", job.job_id)
    );

    let mut record = function(&stack, "record-result", &lambda_bin!("record-result")).await;
    record.respond(state.clone()).await;
    let done = stack.jobs.get(job.job_id).await.unwrap();
    assert_eq!((done.status, done.progress), (JobStatus::Completed, 100));
    assert_eq!(
        done.identity_package.unwrap().name,
        state["generated"][1]["name"].as_str().unwrap()
    );

    // A retried RecordResult is idempotent; a stage on a completed job is refused by the
    // conditional write (status never leaves a terminal state).
    assert_eq!(record.respond(state.clone()).await["status"], "completed");
    assert_eq!(
        validate.error_type(state.clone()).await,
        "PetAvatar.JobConflict"
    );
    assert_eq!(
        stack.jobs.get(job.job_id).await.unwrap().status,
        JobStatus::Completed
    );

    let mut failure = function(&stack, "record-failure", &lambda_bin!("record-failure")).await;
    let caught = json!({
        "job_id": not_an_image.job_id,
        "error": {"Error": "PetAvatar.InvalidImage", "Cause": "{\"errorType\":\"PetAvatar.InvalidImage\",\"errorMessage\":\"invalid image: not an image\"}"}
    });
    let answer = failure.respond(caught).await;
    assert_eq!(answer["status"], "failed");
    let failed = stack.jobs.get(not_an_image.job_id).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.unwrap().message, "invalid image: not an image");
}

/// The smallest Bedrock: every Converse call answers "this photo shows a person".
async fn bedrock_that_sees_a_person() -> String {
    serve_on_loopback(Router::new().route(
        "/model/{model}/converse",
        post(|| async {
            axum::Json(json!({
                "output": {"message": {"role": "assistant", "content": [{"toolUse": {
                    "toolUseId": "t1", "name": "record_pet_analysis",
                    "input": {"subject": "person", "reason": "a person holds the cat"}}}]}},
                "stopReason": "tool_use",
                "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                "metrics": {"latencyMs": 1}
            }))
        }),
    ))
    .await
}

#[tokio::test]
async fn analyze_pet_on_bedrock_reports_not_a_pet() {
    let stack = Stack::new().await;
    let job = stack.job_with_upload(&cat_photo()).await;
    let mut env = stack.env("bedrock");
    env.push((
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME".into(),
        bedrock_that_sees_a_person().await,
    ));
    let mut validate = function(&stack, "validate-image", &lambda_bin!("validate-image")).await;
    let mut state = json!({"job_id": job.job_id, "bucket": "uploads", "key": job.upload_key, "species_hint": "cat"});
    state["image"] = validate.respond(state.clone()).await;

    let mut analyze = Function::start("analyze-pet", &lambda_bin!("analyze-pet"), &env).await;
    match analyze.invoke(state).await {
        Outcome::Error {
            error_type,
            error_message,
        } => {
            assert_eq!(error_type, "PetAvatar.NotAPet");
            assert!(error_message.contains("person"), "{error_message}");
        }
        other => panic!("expected NotAPet, got {other:?}"),
    }
}

#[tokio::test]
async fn the_event_handlers_run_as_binaries() {
    let stack = Stack::new().await;
    let job = stack.job_with_upload(&cat_photo()).await;

    // S3 event → the job queue.
    let mut s3_event = function(&stack, "s3-event", &lambda_bin!("s3-event")).await;
    let event = s3_event_json("uploads", &job.upload_key);
    assert_eq!(s3_event.respond(event).await["queued"], 1);
    let received = stack
        .sqs
        .receive_message()
        .queue_url(&stack.queue_url)
        .send()
        .await
        .unwrap();
    let body = received.messages()[0].body().unwrap().to_owned();
    let message: JobMessage = serde_json::from_str(&body).unwrap();
    assert_eq!(message.job_id, job.job_id);

    // The queued message → StartExecution(name = job_id); a malformed one is reported alone.
    let mut worker = function(&stack, "sqs-worker", &lambda_bin!("sqs-worker")).await;
    let record = |id, body| sqs_record(id, body, Some(1));
    let batch =
        json!({"Records": [record("m1", &body), record("m2", "{oops"), record("m3", &body)]});
    let answer = worker.respond(batch).await;
    assert_eq!(
        answer["batchItemFailures"],
        json!([{"itemIdentifier": "m2"}])
    );
    let executions = stack
        .sfn
        .list_executions()
        .state_machine_arn(&stack.state_machine_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(executions.executions().len(), 1);
    assert_eq!(executions.executions()[0].name(), job.job_id.to_string());

    // The execution times out → the reconciler fails the job.
    let mut reconciler = function(
        &stack,
        "execution-reconciler",
        &lambda_bin!("execution-reconciler"),
    )
    .await;
    let change = status_change_event_json(&stack.state_machine_arn, &job, "TIMED_OUT");
    assert_eq!(
        change["detail"]["executionArn"],
        executions.executions()[0].execution_arn(),
        "the event names the execution the worker started"
    );
    reconciler.respond(change).await;
    let failed = stack.jobs.get(job.job_id).await.unwrap();
    assert_eq!(
        (failed.status, failed.error.unwrap().code.as_str()),
        (JobStatus::Failed, "States.Timeout")
    );
}

fn gateway_event(
    method: &str,
    resource: &str,
    path: &str,
    api_key_id: Option<&str>,
    query: Value,
    body: Option<Value>,
) -> Value {
    json!({
        "resource": resource, "path": path, "httpMethod": method,
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "x-api-key": "secret-key", "content-type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": query, "multiValueQueryStringParameters": null,
        "pathParameters": null, "stageVariables": null,
        "requestContext": {
            "resourceId": "r1", "resourcePath": resource, "httpMethod": method, "path": format!("/prod{path}"),
            "accountId": "123456789012", "stage": "prod", "requestId": "req-1", "apiId": "abc123",
            "protocol": "HTTP/1.1", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "requestTimeEpoch": 1_795_000_000_000_i64,
            "identity": {"apiKeyId": api_key_id, "sourceIp": "198.51.100.7", "userAgent": "tests"}
        },
        "body": body.map(|b| b.to_string()), "isBase64Encoded": false
    })
}

fn body_of(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_api_binaries_serve_the_router_behind_api_gateway() {
    let stack = Stack::new().await;
    let mut presign = function(
        &stack,
        "api-presigned-url",
        &lambda_bin!("api-presigned-url"),
    )
    .await;
    let created = presign
        .respond(gateway_event(
            "GET",
            "/presigned-url",
            "/presigned-url",
            Some("key-a"),
            json!({"content_type": "image/png"}),
            None,
        ))
        .await;
    assert_eq!(created["statusCode"], 200, "{created}");
    let created = body_of(&created);
    let job_id: Uuid = created["job_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(created["expires_in"], 900);
    assert_eq!(created["upload_fields"]["Content-Type"], "image/png");
    assert!(
        created["upload_url"]
            .as_str()
            .unwrap()
            .ends_with("/uploads")
    );
    assert_eq!(
        stack.jobs.get(job_id).await.unwrap().owner,
        "key-a",
        "the owner is the API key's id"
    );

    let mut status = function(&stack, "api-status", &lambda_bin!("api-status")).await;
    let path = format!("/status/{job_id}");
    let mine = status
        .respond(gateway_event(
            "GET",
            "/status/{job_id}",
            &path,
            Some("key-a"),
            Value::Null,
            None,
        ))
        .await;
    assert_eq!(mine["statusCode"], 200, "{mine}");
    assert_eq!(body_of(&mine)["status"], "queued");
    let theirs = status
        .respond(gateway_event(
            "GET",
            "/status/{job_id}",
            &path,
            Some("key-b"),
            Value::Null,
            None,
        ))
        .await;
    assert_eq!(
        theirs["statusCode"], 404,
        "another key does not see the job"
    );
    let anonymous = status
        .respond(gateway_event(
            "GET",
            "/status/{job_id}",
            &path,
            None,
            Value::Null,
            None,
        ))
        .await;
    assert_eq!(anonymous["statusCode"], 401);

    let mut process = function(&stack, "api-process", &lambda_bin!("api-process")).await;
    let s3_uri = created["s3_uri"].as_str().unwrap().to_owned();
    let missing = process
        .respond(gateway_event(
            "POST",
            "/process",
            "/process",
            Some("key-a"),
            Value::Null,
            Some(json!({"s3_uri": s3_uri})),
        ))
        .await;
    assert_eq!(
        missing["statusCode"], 404,
        "nothing uploaded yet: {missing}"
    );
    stack
        .uploads
        .put(
            &format!("uploads/{job_id}/original.png"),
            Bytes::from(cat_photo()),
            "image/png",
        )
        .await
        .unwrap();
    // The Lambda path parses bodies as `petavatar serve` does: an array (serde alone would
    // take it as the fields in order), an unknown field and a null are 400s naming the problem.
    for (body, named) in [
        (json!([s3_uri]), "not an array"),
        (
            json!({"s3_uri": s3_uri, "priority": 1}),
            "unknown field `priority`",
        ),
        (
            json!({"s3_uri": null}),
            "`s3_uri` must be a string, not null",
        ),
    ] {
        let refused = process
            .respond(gateway_event(
                "POST",
                "/process",
                "/process",
                Some("key-a"),
                Value::Null,
                Some(body.clone()),
            ))
            .await;
        assert_eq!(refused["statusCode"], 400, "{body}: {refused}");
        let error = &body_of(&refused)["error"];
        assert_eq!(error["code"], "InvalidBody", "{refused}");
        assert!(
            error["message"].as_str().unwrap().contains(named),
            "{body}: {refused}"
        );
    }
    let queued = process
        .respond(gateway_event(
            "POST",
            "/process",
            "/process",
            Some("key-a"),
            Value::Null,
            Some(json!({"s3_uri": s3_uri})),
        ))
        .await;
    assert_eq!(queued["statusCode"], 202, "{queued}");

    let mut results = function(&stack, "api-results", &lambda_bin!("api-results")).await;
    let path = format!("/results/{job_id}");
    let early = results
        .respond(gateway_event(
            "GET",
            "/results/{job_id}",
            &path,
            Some("key-a"),
            Value::Null,
            None,
        ))
        .await;
    assert_eq!(early["statusCode"], 409, "{early}");

    let mut openapi = function(&stack, "api-openapi", &lambda_bin!("api-openapi")).await;
    let doc = openapi
        .respond(gateway_event(
            "GET",
            "/openapi.json",
            "/openapi.json",
            None,
            Value::Null,
            None,
        ))
        .await;
    assert_eq!(doc["statusCode"], 200, "{doc}");
    assert!(body_of(&doc)["paths"]["/presigned-url"].is_object());
}

/// `lambda_http` strips the stage only under its own setting; an API function deployed
/// without it would answer 404 to every route, so it refuses to start instead, naming it.
#[tokio::test]
async fn an_api_binary_refuses_to_start_unless_lambda_http_leaves_the_stage_out() {
    let emulator = RuntimeApiEmulator::start("api-status").await.unwrap();
    let run = |ignore: Option<&'static str>| {
        let mut command = tokio::process::Command::new(lambda_bin!("api-status"));
        command
            .env_clear()
            .envs(emulator.lambda_environment("api-status"))
            .envs([
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", common::ACCESS_KEY),
                ("AWS_SECRET_ACCESS_KEY", common::SECRET_KEY),
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("JOBS_TABLE", "jobs"),
                ("UPLOADS_BUCKET", "uploads"),
                ("GENERATED_BUCKET", "generated"),
                ("JOBS_QUEUE_URL", "http://127.0.0.1:9/queue"),
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(value) = ignore {
            command.env(IGNORE_STAGE_IN_PATH, value);
        }
        command.output()
    };
    for ignore in [None, Some("false")] {
        let output = tokio::time::timeout(TIMEOUT, run(ignore))
            .await
            .expect("api-status exits")
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{ignore:?}: {stderr}");
        assert!(
            stderr.contains(IGNORE_STAGE_IN_PATH),
            "{ignore:?}: {stderr}"
        );
    }
    assert!(
        emulator.first_poll().is_none(),
        "it never asked for an invocation"
    );
}
