//! The AWS adapters against moto's server over HTTP (the real SDK clients, real requests).
//! Needs moto: `bash handlers/scripts/test-adapters.sh` installs it into target/moto-venv.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use api::s3_post::Refusal;
use bytes::Bytes;
use chrono::Utc;
use common::events::{job_message_body, s3_event, sqs_event, status_change};
use common::queue_depth;
use common::s3_post::check_upload;
use common::stack::{MAX_RECEIVE_COUNT, Stack, new_job};
use handlers::lambda::reconciler;
use handlers::lambda::s3_event::{self, S3EventHandler};
use handlers::lambda::worker::handle;
use handlers::s3::{PresignTarget, S3ObjectStore, S3Presigner};
use handlers::sfn::StepFunctions;
use handlers::sqs::SqsJobQueue;
use serde_json::{Value, json};
use steps::lifecycle::{
    ExecutionEnd, ExecutionInput, JobStarter, PipelineStarter, ReconcileOutcome, Started,
    execution_arn,
};
use steps::ports::{
    JobMessage, JobQueue, JobStore, JobStoreError, ObjectStore, ObjectStoreError, PostPolicy,
    Presigner,
};
use steps::{JobError, JobStatus, Stage};
use uuid::Uuid;

#[tokio::test]
async fn s3_objects_round_trip() {
    let stack = Stack::new().await;
    let (clients, store) = (&stack.clients, &stack.uploads);

    let body = Bytes::from_static(b"\x89PNG\r\n\x1a\nnot really");
    store
        .put("work/j/normalized.jpg", body.clone(), "image/jpeg")
        .await
        .unwrap();
    assert_eq!(store.get("work/j/normalized.jpg").await.unwrap(), body);
    let meta = store.head("work/j/normalized.jpg").await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
    assert_eq!(meta.content_type.as_deref(), Some("image/jpeg"));

    assert_eq!(
        store.get("missing").await,
        Err(ObjectStoreError::NotFound("missing".into()))
    );
    assert_eq!(
        store.head("missing").await,
        Err(ObjectStoreError::NotFound("missing".into()))
    );
    // A bucket that does not exist is no NotFound of the key: the caller must see a real error.
    let nowhere = S3ObjectStore::new(clients.s3.clone(), "no-such-bucket");
    assert!(matches!(
        nowhere.get("k").await,
        Err(ObjectStoreError::Other(_))
    ));
}

fn presigner(
    moto: &common::Moto,
    clients: &handlers::wiring::Clients,
    bucket: &str,
) -> S3Presigner {
    S3Presigner::new(
        clients.s3.clone(),
        clients.sdk.credentials_provider().unwrap(),
        PresignTarget {
            bucket: bucket.into(),
            region: common::REGION.into(),
            endpoint: Some(moto.url.clone()),
            path_style: true,
        },
    )
}

async fn post_upload(
    url: &str,
    fields: &BTreeMap<String, String>,
    file: Vec<u8>,
    content_type: &str,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.clone(), v.clone());
    }
    let part = reqwest::multipart::Part::bytes(file)
        .file_name("photo")
        .mime_str(content_type)
        .unwrap();
    form = form.part("file", part);
    reqwest::Client::new()
        .post(url)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Recomputes the signature of a presigned POST with Python's standard library — an
/// implementation independent of ours — following the SigV4 POST algorithm.
fn python_signature(secret: &str, fields: &BTreeMap<String, String>) -> String {
    let script = r#"
import hmac, hashlib, sys
secret, credential, policy = sys.argv[1], sys.argv[2], sys.argv[3]
_, date, region, service, _ = credential.split('/')
def h(key, msg): return hmac.new(key, msg.encode(), hashlib.sha256).digest()
key = h(h(h(h(('AWS4' + secret).encode(), date), region), service), 'aws4_request')
print(hmac.new(key, policy.encode(), hashlib.sha256).hexdigest())
"#;
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            script,
            secret,
            &fields["x-amz-credential"],
            &fields["policy"],
        ])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn presigned_post_uploads_what_the_policy_allows() {
    let stack = Stack::new().await;
    let (moto, clients) = (&stack.moto, &stack.clients);
    let presigner = presigner(moto, clients, "uploads");
    let key = format!("uploads/{}/original.png", Uuid::new_v4());
    let post = presigner
        .presign_post(PostPolicy {
            key: key.clone(),
            content_types: vec!["image/png".into()],
            max_bytes: 50 * 1024 * 1024,
            expires_in: Duration::from_secs(900),
        })
        .await
        .unwrap();
    assert_eq!(post.url, format!("{}/uploads", moto.url));
    assert!((post.expires_at - Utc::now()).num_seconds() > 890);

    // Our signature agrees with an independent computation.
    assert_eq!(
        post.fields["x-amz-signature"],
        python_signature(common::SECRET_KEY, &post.fields)
    );

    // The upload S3 would accept: moto stores it where the policy says.
    let photo = vec![7u8; 4096];
    let now = Utc::now();
    assert_eq!(
        check_upload(
            &post.fields,
            photo.len() as u64,
            common::SECRET_KEY,
            "uploads",
            now
        ),
        Ok(204)
    );
    let response = post_upload(&post.url, &post.fields, photo.clone(), "image/png").await;
    assert!(
        response.status().is_success(),
        "POST upload: {}",
        response.status()
    );
    let stored = S3ObjectStore::new(clients.s3.clone(), "uploads");
    assert_eq!(stored.get(&key).await.unwrap().len(), photo.len());
    assert_eq!(
        stored.head(&key).await.unwrap().content_type.as_deref(),
        Some("image/png")
    );

    // What S3 would refuse (moto does not check policies; S3's documented rules do).
    let too_big = 50 * 1024 * 1024 + 1;
    assert!(matches!(
        check_upload(&post.fields, too_big, common::SECRET_KEY, "uploads", now),
        Err(Refusal::EntityTooLarge { .. })
    ));
    let mut gif = post.fields.clone();
    gif.insert("Content-Type".into(), "image/gif".into());
    assert!(matches!(
        check_upload(&gif, 10, common::SECRET_KEY, "uploads", now),
        Err(Refusal::ConditionFailed(_))
    ));
    let mut other_key = post.fields.clone();
    other_key.insert("key".into(), "uploads/someone-else/original.png".into());
    assert!(matches!(
        check_upload(&other_key, 10, common::SECRET_KEY, "uploads", now),
        Err(Refusal::ConditionFailed(_))
    ));
    assert_eq!(
        check_upload(
            &post.fields,
            10,
            common::SECRET_KEY,
            "uploads",
            now + chrono::Duration::seconds(901)
        ),
        Err(Refusal::Expired)
    );

    // One content type per policy: a choice cannot be expressed exactly.
    let several = presigner
        .presign_post(PostPolicy {
            key,
            content_types: vec!["image/png".into(), "image/jpeg".into()],
            max_bytes: 10,
            expires_in: Duration::from_secs(60),
        })
        .await;
    assert!(several.is_err());
}

#[tokio::test]
async fn presigned_get_downloads_for_an_hour() {
    let stack = Stack::new().await;
    let (moto, clients) = (&stack.moto, &stack.clients);
    let store = S3ObjectStore::new(clients.s3.clone(), "generated");
    store
        .put(
            "generated/j/avatar.png",
            Bytes::from_static(b"avatar bytes"),
            "image/png",
        )
        .await
        .unwrap();
    let url = presigner(moto, clients, "generated")
        .presign_get("generated/j/avatar.png", Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(
        url.starts_with(&format!("{}/generated/generated/j/avatar.png?", moto.url)),
        "{url}"
    );
    assert!(url.contains("X-Amz-Expires=3600"), "{url}");
    assert!(url.contains("X-Amz-Signature="), "{url}");
    let body = reqwest::get(&url).await.unwrap();
    assert!(body.status().is_success());
    assert_eq!(body.bytes().await.unwrap().as_ref(), b"avatar bytes");
}

fn results_for(job_id: Uuid) -> steps::JobResults {
    let analysis: steps::PetAnalysis = serde_json::from_value(json!({
        "species": "dog", "breed": "collie", "expression": "alert", "posture": "sitting",
        "personality": steps::DIMENSIONS.iter().map(|(n, _)| ((*n).to_owned(), json!(50))).collect::<serde_json::Map<_, _>>(),
        "dominant_traits": ["energy", "playfulness", "curiosity"], "vibe": "v", "palette": ["#000000"],
        "model": "offline"
    }))
    .unwrap();
    let career: steps::CareerProfile = serde_json::from_value(json!({
        "job_title": "Director", "seniority": "senior", "industry": "i", "work_style": "w",
        "attire": "suit", "background": "office", "confidence": 0.75, "key_traits": ["focus"], "model": "offline"
    }))
    .unwrap();
    let identity: steps::IdentityPackage = serde_json::from_value(json!({
        "name": "Rex", "job_title": "Director", "seniority": "senior", "bio": ["a", "b", "c"],
        "skills": ["s1", "s2", "s3", "s4", "s5"], "trajectory": {"past": "p", "present": "n", "future": "f"},
        "similarity": {"score": 80, "breakdown": {"trait_alignment": 80.5, "career_fit": 75.0, "dominant_overlap": 50.0, "seniority_fit": 100.0}},
        "model": "offline"
    }))
    .unwrap();
    steps::JobResults {
        avatar_key: format!("generated/{job_id}/avatar.png"),
        identity_package: identity,
        pet_analysis: analysis,
        career_profile: career,
    }
}

#[tokio::test]
async fn job_store_enforces_the_lifecycle_with_conditional_writes() {
    let stack = Stack::new().await;
    let (jobs, dynamodb) = (&stack.jobs, &stack.clients.dynamodb);
    let job = new_job();
    let id = job.job_id;
    jobs.create(job.clone()).await.unwrap();
    assert_eq!(jobs.get(id).await.unwrap(), job);
    assert_eq!(
        jobs.create(job.clone()).await,
        Err(JobStoreError::AlreadyExists(id))
    );

    // TTL: the table expires items by `ttl`, seven days after creation.
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name("jobs")
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description.unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(
        jobs.get(id).await.unwrap().ttl - job.created_at.timestamp(),
        7 * 24 * 3600
    );

    let advanced = jobs.advance(id, Stage::ValidateImage, 10).await.unwrap();
    assert_eq!(
        (advanced.status, advanced.stage, advanced.progress),
        (JobStatus::Processing, Stage::ValidateImage, 10)
    );
    // The parallel branches in either order: progress and stage never go back.
    jobs.advance(id, Stage::WriteIdentity, 65).await.unwrap();
    let later = jobs.advance(id, Stage::GenerateAvatar, 60).await.unwrap();
    assert_eq!(
        (later.status, later.stage, later.progress),
        (JobStatus::Processing, Stage::WriteIdentity, 65)
    );

    let arn = "arn:aws:states:us-east-1:123456789012:execution:P:x";
    assert_eq!(
        jobs.set_execution_arn(id, arn)
            .await
            .unwrap()
            .execution_arn
            .as_deref(),
        Some(arn)
    );

    let done = jobs.complete(id, results_for(id)).await.unwrap();
    assert_eq!(
        (done.status, done.stage, done.progress),
        (JobStatus::Completed, Stage::Completed, 100)
    );
    assert_eq!(
        done.identity_package,
        Some(results_for(id).identity_package)
    );
    assert_eq!(jobs.get(id).await.unwrap(), done);

    // Terminal: nothing moves it any more.
    let error = JobError {
        code: "PetAvatar.Internal".into(),
        message: "late".into(),
    };
    for refused in [
        jobs.fail(id, error.clone()).await,
        jobs.advance(id, Stage::RecordResult, 90).await,
        jobs.complete(id, results_for(id)).await,
    ] {
        assert!(
            matches!(
                refused,
                Err(JobStoreError::Conflict {
                    current: JobStatus::Completed,
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    assert_eq!(jobs.get(id).await.unwrap(), done);

    let missing = Uuid::new_v4();
    assert_eq!(
        jobs.get(missing).await,
        Err(JobStoreError::NotFound(missing))
    );
    assert_eq!(
        jobs.advance(missing, Stage::AnalyzePet, 25).await,
        Err(JobStoreError::NotFound(missing))
    );
    assert_eq!(
        jobs.fail(missing, error).await,
        Err(JobStoreError::NotFound(missing))
    );
}

/// Whichever terminal write comes first wins; the other is refused by its condition. (Sent at
/// the same instant they would test moto rather than us: moto's DynamoDB checks a condition and
/// writes without a lock, so two racing writes can both pass on it; DynamoDB serialises them.)
#[tokio::test]
async fn the_first_terminal_write_wins_in_either_order() {
    let stack = Stack::new().await;
    let jobs = &stack.jobs;
    let error = JobError {
        code: "States.Timeout".into(),
        message: "timed out".into(),
    };
    for complete_first in [true, false] {
        let job = stack.create_job().await;
        let id = job.job_id;
        jobs.advance(id, Stage::RecordResult, 90).await.unwrap();
        let (first, second) = if complete_first {
            let first = jobs.complete(id, results_for(id)).await;
            (first, jobs.fail(id, error.clone()).await)
        } else {
            let first = jobs.fail(id, error.clone()).await;
            (first, jobs.complete(id, results_for(id)).await)
        };
        let winner = first.expect("the first terminal write wins").status;
        assert_eq!(
            winner,
            if complete_first {
                JobStatus::Completed
            } else {
                JobStatus::Failed
            }
        );
        assert!(
            matches!(second, Err(JobStoreError::Conflict { current, .. }) if current == winner),
            "{second:?}"
        );
        assert_eq!(jobs.get(id).await.unwrap().status, winner);
    }
}

#[tokio::test]
async fn the_queue_carries_job_messages() {
    let stack = Stack::new().await;
    let (sqs, url) = (&stack.sqs, &stack.queue_url);
    let message = JobMessage {
        job_id: Uuid::new_v4(),
        s3_upload_key: "uploads/x/original.png".into(),
        timestamp: Utc::now(),
    };
    SqsJobQueue::new(sqs.clone(), url)
        .send(message.clone())
        .await
        .unwrap();
    let received = sqs
        .receive_message()
        .queue_url(url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let bodies: Vec<JobMessage> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies, vec![message.clone()]);

    let nowhere = SqsJobQueue::new(
        sqs.clone(),
        format!("{}/123456789012/no-such-queue", stack.moto.url),
    );
    assert!(nowhere.send(message).await.is_err());
}

#[tokio::test]
async fn the_worker_can_tell_whether_a_jobs_execution_exists() {
    let stack = Stack::new().await;
    let input = ExecutionInput {
        job_id: Uuid::new_v4(),
        bucket: "uploads".into(),
        key: "uploads/x/original.png".into(),
        species_hint: None,
    };
    let starter = &stack.starter;
    assert!(!starter.execution_exists(input.job_id).await.unwrap());
    starter.start(&input).await.unwrap();
    assert!(starter.execution_exists(input.job_id).await.unwrap());
    assert!(!starter.execution_exists(Uuid::new_v4()).await.unwrap());
}

#[tokio::test]
async fn starting_the_pipeline_twice_yields_one_execution() {
    let stack = Stack::new().await;
    let (sfn, machine, starter) = (&stack.sfn, &stack.state_machine_arn, &stack.starter);
    let input = ExecutionInput {
        job_id: Uuid::new_v4(),
        bucket: "uploads".into(),
        key: "uploads/x/original.png".into(),
        species_hint: None,
    };
    let first = starter.start(&input).await.unwrap();
    assert!(matches!(first, Started::New { .. }));
    let second = starter.start(&input).await.unwrap();
    assert_eq!(second.execution_arn(), first.execution_arn());
    assert_eq!(
        first.execution_arn(),
        execution_arn(machine, &input.job_id.to_string())
    );

    // Another input under the same name is ExecutionAlreadyExists: still the job's execution.
    let other = ExecutionInput {
        key: "uploads/x/original.jpg".into(),
        ..input.clone()
    };
    let third = starter.start(&other).await.unwrap();
    assert_eq!(third.execution_arn(), first.execution_arn());

    assert_eq!(stack.execution_count().await, 1);
    let described = sfn
        .describe_execution()
        .execution_arn(first.execution_arn())
        .send()
        .await
        .unwrap();
    let sent: Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(
        sent,
        json!({"job_id": input.job_id, "bucket": "uploads", "key": "uploads/x/original.png", "species_hint": null})
    );
}

#[tokio::test]
async fn the_worker_starts_each_job_once_and_reports_failures_per_message() {
    let stack = Stack::new().await;
    let (jobs, worker) = (&stack.jobs, stack.worker());

    let job = stack.create_job().await;
    let done = stack.create_job().await;
    jobs.fail(
        done.job_id,
        JobError {
            code: "X".into(),
            message: "m".into(),
        },
    )
    .await
    .unwrap();
    let ghost = new_job();

    let response = handle(
        &worker,
        sqs_event(&[
            ("m1", &job_message_body(&job)),
            ("m2", &job_message_body(&job)), // the S3 event and POST /process both queued it
            ("m3", "not json"),
            ("m4", &job_message_body(&ghost)),
            ("m5", &job_message_body(&done)),
        ]),
    )
    .await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m3", "m4"]);
    assert_eq!(
        jobs.get(job.job_id).await.unwrap().status,
        JobStatus::Queued,
        "a first receive that fails gives nothing up"
    );

    assert_eq!(
        stack.execution_count().await,
        1,
        "one execution for the job, none for the failed one"
    );
    let expected_arn = execution_arn(&stack.state_machine_arn, &job.job_id.to_string());
    assert_eq!(
        jobs.get(job.job_id).await.unwrap().execution_arn.as_deref(),
        Some(expected_arn.as_str())
    );

    // Redelivery: still one execution, and no failure.
    let again = handle(&worker, sqs_event(&[("m6", &job_message_body(&job))])).await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(stack.execution_count().await, 1);
}

#[tokio::test]
async fn a_job_whose_execution_never_starts_fails_with_its_last_receive() {
    let stack = Stack::new().await;
    let gone = StepFunctions::new(
        stack.sfn.clone(),
        "arn:aws:states:us-east-1:123456789012:stateMachine:Gone",
    );
    let worker = JobStarter {
        starter: &gone,
        ..stack.worker()
    };
    let job = stack.create_job().await;
    let ended = stack.create_job().await;
    let queue = SqsJobQueue::new(stack.sqs.clone(), &stack.queue_url);
    for queued in [&job, &ended] {
        queue
            .send(JobMessage {
                job_id: queued.job_id,
                s3_upload_key: queued.upload_key.clone(),
                timestamp: Utc::now(),
            })
            .await
            .unwrap();
    }

    for receive in 1..MAX_RECEIVE_COUNT {
        let response = stack.deliver(&worker).await.expect("the messages");
        assert_eq!(response.batch_item_failures.len(), 2, "receive {receive}");
        assert_eq!(
            stack.jobs.get(job.job_id).await.unwrap().status,
            JobStatus::Queued,
            "receive {receive}: retried, not yet given up"
        );
    }
    // Meanwhile an operator ended the other job: giving up must not overwrite its end.
    let aborted = JobError {
        code: "PetAvatar.Aborted".into(),
        message: "stopped by an operator".into(),
    };
    stack
        .jobs
        .fail(ended.job_id, aborted.clone())
        .await
        .unwrap();
    let last = stack.deliver(&worker).await.expect("the messages");
    assert_eq!(
        last.batch_item_failures.len(),
        1,
        "the unstarted job's message still fails, for the dead-letter queue"
    );

    let failed = stack.jobs.get(job.job_id).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    let error = failed.error.unwrap();
    assert_eq!(error.code, api::NOT_STARTED);
    assert!(
        error.message.contains("after 3 attempts") && error.message.contains("Gone"),
        "{}",
        error.message
    );
    assert_eq!(
        stack.jobs.get(ended.job_id).await.unwrap().error,
        Some(aborted),
        "an ended job keeps its end"
    );

    // SQS itself moves the message on: the next receive finds nothing, the DLQ holds it.
    assert!(stack.deliver(&worker).await.is_none());
    assert_eq!(queue_depth(&stack.sqs, &stack.queue_url).await, 0);
    assert_eq!(queue_depth(&stack.sqs, &stack.dlq_url).await, 1);
    assert_eq!(stack.execution_count().await, 0);
}

#[tokio::test]
async fn an_upload_event_queues_its_job_once() {
    let stack = Stack::new().await;
    let (jobs, sqs, url) = (&stack.jobs, &stack.sqs, &stack.queue_url);
    let queue = SqsJobQueue::new(sqs.clone(), url);
    let handler = S3EventHandler {
        jobs,
        queue: &queue,
        uploads_bucket: "uploads",
    };

    let job = stack.create_job().await;
    let outcomes = handler
        .handle(s3_event("uploads", &job.upload_key))
        .await
        .unwrap();
    assert_eq!(outcomes, [s3_event::Outcome::Queued]);
    let received = sqs.receive_message().queue_url(url).send().await.unwrap();
    let message: JobMessage = serde_json::from_str(received.messages()[0].body().unwrap()).unwrap();
    assert_eq!(
        (message.job_id, message.s3_upload_key),
        (job.job_id, job.upload_key.clone())
    );

    // Already underway: not queued again. Unknown job or foreign key: ignored, not retried.
    jobs.advance(job.job_id, Stage::ValidateImage, 10)
        .await
        .unwrap();
    assert_eq!(
        handler
            .handle(s3_event("uploads", &job.upload_key))
            .await
            .unwrap(),
        [s3_event::Outcome::AlreadyUnderway]
    );
    let ghost = new_job();
    assert!(matches!(
        handler
            .handle(s3_event("uploads", &ghost.upload_key))
            .await
            .unwrap()[0],
        s3_event::Outcome::Ignored(_)
    ));
    assert!(matches!(
        handler
            .handle(s3_event("uploads", "work/x/normalized.jpg"))
            .await
            .unwrap()[0],
        s3_event::Outcome::Ignored(_)
    ));
    assert!(matches!(
        handler
            .handle(s3_event("other", &job.upload_key))
            .await
            .unwrap()[0],
        s3_event::Outcome::Ignored(_)
    ));
}

/// Every row of the lifecycle's outcome table, through EventBridge's status-change events and
/// DynamoDB (local/src/lifecycle.rs runs the same rows through the engine's status changes).
#[tokio::test]
async fn the_outcome_table_holds_for_eventbridge_events() {
    let stack = Stack::new().await;
    let jobs = &stack.jobs;
    for case in steps::lifecycle::outcome_table() {
        let job = stack.create_job().await;
        jobs.advance(job.job_id, Stage::AnalyzePet, 25)
            .await
            .unwrap();
        let mut detail = status_change(&stack.state_machine_arn, &job, status_of(&case.end));
        if let ExecutionEnd::Failed { error, cause } | ExecutionEnd::Aborted { error, cause } =
            &case.end
        {
            detail.error = error.clone();
            detail.cause = cause.clone();
        }
        if let ExecutionEnd::Succeeded { output } = &case.end {
            detail.output = output.clone();
        }
        assert_eq!(
            reconciler::execution_end(&detail).as_ref(),
            Some(&case.end),
            "{}",
            case.name
        );
        reconciler::reconcile(jobs, &detail).await.unwrap();
        let job = jobs.get(job.job_id).await.unwrap();
        assert_eq!(
            job.error.map(|e| e.code).as_deref(),
            case.code,
            "{}",
            case.name
        );
    }
}

/// The `status` of EventBridge's event for `end`.
fn status_of(end: &ExecutionEnd) -> &'static str {
    match end {
        ExecutionEnd::Running => "RUNNING",
        ExecutionEnd::Succeeded { .. } => "SUCCEEDED",
        ExecutionEnd::Failed { .. } => "FAILED",
        ExecutionEnd::TimedOut => "TIMED_OUT",
        ExecutionEnd::Aborted { .. } => "ABORTED",
    }
}

#[tokio::test]
async fn the_reconciler_fails_unfinished_jobs_only() {
    let stack = Stack::new().await;
    let jobs = &stack.jobs;
    let change = |job, status| status_change(&stack.state_machine_arn, job, status);

    let stuck = stack.create_job().await;
    jobs.advance(stuck.job_id, Stage::AnalyzePet, 25)
        .await
        .unwrap();
    let outcome = reconciler::reconcile(jobs, &change(&stuck, "TIMED_OUT"))
        .await
        .unwrap();
    assert!(matches!(outcome, ReconcileOutcome::MarkedFailed(_)));
    let failed = jobs.get(stuck.job_id).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(
        failed.stage,
        Stage::AnalyzePet,
        "the stage where it stopped is kept"
    );
    assert_eq!(failed.error.unwrap().code, "States.Timeout");

    let finished = stack.create_job().await;
    jobs.complete(finished.job_id, results_for(finished.job_id))
        .await
        .unwrap();
    let outcome = reconciler::reconcile(jobs, &change(&finished, "ABORTED"))
        .await
        .unwrap();
    assert_eq!(outcome, ReconcileOutcome::AlreadyTerminal);
    assert_eq!(
        jobs.get(finished.job_id).await.unwrap().status,
        JobStatus::Completed
    );

    let running = stack.create_job().await;
    let outcome = reconciler::reconcile(jobs, &change(&running, "SUCCEEDED"))
        .await
        .unwrap();
    assert!(matches!(outcome, ReconcileOutcome::Ignored(_)));
    assert_eq!(
        jobs.get(running.job_id).await.unwrap().status,
        JobStatus::Queued
    );
}
