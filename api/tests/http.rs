//! The API over real HTTP on loopback: every route and every documented error.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::{ApiConfig, ApiKeyAuthenticator, ApiState, Owner, StoredApiKey, hash_api_key};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use steps::memory::{InMemoryJobStore, InMemoryObjectStore};
use steps::ports::{
    JobMessage, JobQueue, JobStore, JobStoreError, ObjectStore, PostPolicy, PresignError,
    PresignedPost, Presigner, QueueError,
};
use steps::{
    CareerProfile, IdentityPackage, JobError, JobResults, Personality, PetAnalysis, Seniority,
    SimilarityBreakdown, SimilarityScore, Stage, Trajectory,
};
use uuid::Uuid;

const KEY_A: &str = "key-a-secret";
const KEY_B: &str = "key-b-secret";
const BUCKET: &str = "petavatar-uploads";

/// Presigns with a recognisable, inspectable URL (the real signer is tested in `local`).
struct EchoPresigner;

#[async_trait]
impl Presigner for EchoPresigner {
    async fn presign_post(&self, policy: PostPolicy) -> Result<PresignedPost, PresignError> {
        let mut fields = BTreeMap::new();
        fields.insert("key".to_owned(), policy.key);
        fields.insert("Content-Type".to_owned(), policy.content_types.join(","));
        fields.insert("max".to_owned(), policy.max_bytes.to_string());
        fields.insert(
            "expires".to_owned(),
            policy.expires_in.as_secs().to_string(),
        );
        Ok(PresignedPost {
            url: "https://uploads.example/".to_owned(),
            fields,
            expires_at: Utc::now(),
        })
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, PresignError> {
        Ok(format!(
            "https://generated.example/{key}?expires_in={}",
            expires_in.as_secs()
        ))
    }
}

#[derive(Default)]
struct RecordingQueue {
    sent: Mutex<Vec<JobMessage>>,
    /// When set, `send` fails with this error (a throttled or broken queue).
    failure: Mutex<Option<QueueError>>,
}

#[async_trait]
impl JobQueue for RecordingQueue {
    async fn send(&self, message: JobMessage) -> Result<(), QueueError> {
        if let Some(error) = self.failure.lock().unwrap().clone() {
            return Err(error);
        }
        self.sent.lock().unwrap().push(message);
        Ok(())
    }
}

struct Server {
    base: String,
    jobs: Arc<InMemoryJobStore>,
    uploads: Arc<InMemoryObjectStore>,
    queue: Arc<RecordingQueue>,
    client: reqwest::Client,
}

/// A presigner whose signing always fails (no credentials, a broken key).
struct FailingPresigner;

#[async_trait]
impl Presigner for FailingPresigner {
    async fn presign_post(&self, _: PostPolicy) -> Result<PresignedPost, PresignError> {
        Err(PresignError::Failed("no signing credentials".into()))
    }

    async fn presign_get(&self, _: &str, _: Duration) -> Result<String, PresignError> {
        Err(PresignError::Failed("no signing credentials".into()))
    }
}

/// Real time, and always the same job id: a test knows which job a request would create.
struct FixedJobId(Uuid);

impl api::Clock for FixedJobId {
    fn now(&self) -> chrono::DateTime<Utc> {
        Utc::now()
    }

    fn new_job_id(&self) -> Uuid {
        self.0
    }
}

async fn start() -> Server {
    start_with(Arc::new(EchoPresigner), Arc::new(api::SystemClock)).await
}

async fn start_with(upload_presigner: Arc<dyn Presigner>, clock: Arc<dyn api::Clock>) -> Server {
    let jobs = Arc::new(InMemoryJobStore::new());
    let uploads = Arc::new(InMemoryObjectStore::new());
    let queue = Arc::new(RecordingQueue::default());
    let auth = ApiKeyAuthenticator::new(vec![
        StoredApiKey {
            owner: Owner("owner-a".into()),
            sha256: hash_api_key(KEY_A),
        },
        StoredApiKey {
            owner: Owner("owner-b".into()),
            sha256: hash_api_key(KEY_B),
        },
    ]);
    let state = ApiState {
        jobs: jobs.clone(),
        uploads: uploads.clone(),
        upload_presigner,
        avatar_presigner: Arc::new(EchoPresigner),
        queue: queue.clone(),
        auth: Arc::new(auth),
        clock,
        config: ApiConfig::new(BUCKET),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The listener is bound here and handed over: no other process can take the port.
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await.unwrap() });
    let server = Server {
        base: format!("http://{addr}"),
        jobs,
        uploads,
        queue,
        client: reqwest::Client::new(),
    };
    let (status, _) = server.get("/openapi.json", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the server answers before a test uses it"
    );
    server
}

/// How long a request may find the server not yet serving (a busy machine); only a broken
/// server takes this long.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Sends `request`, again (short backoff, bounded) while the connection is refused: such a
/// request never left, so repeating it is safe whatever its method.
async fn send_retrying(request: reqwest::RequestBuilder) -> reqwest::Response {
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    let mut backoff = Duration::from_millis(10);
    loop {
        let attempt = request.try_clone().expect("a body that can be sent again");
        match attempt.send().await {
            Ok(response) => return response,
            Err(e) if e.is_connect() && std::time::Instant::now() < deadline => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}

impl Server {
    async fn get(&self, path: &str, key: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        let res = send_retrying(req).await;
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn post_raw(&self, path: &str, key: Option<&str>, body: &str) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(key) = key {
            req = req.header("x-api-key", key);
        }
        let res = send_retrying(req).await;
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn process(&self, key: &str, s3_uri: &str) -> (StatusCode, Value) {
        self.post_raw(
            "/process",
            Some(key),
            &json!({"s3_uri": s3_uri}).to_string(),
        )
        .await
    }

    /// A job created through the API, with its upload stored.
    async fn uploaded_job(&self, key: &str) -> (Uuid, String) {
        let (status, body) = self
            .get("/presigned-url?content_type=image/png", Some(key))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let job_id: Uuid = body["job_id"].as_str().unwrap().parse().unwrap();
        let upload_key = body["upload_fields"]["key"].as_str().unwrap().to_owned();
        self.uploads
            .put(
                &upload_key,
                Bytes::from_static(b"\x89PNG fake"),
                "image/png",
            )
            .await
            .unwrap();
        (job_id, format!("s3://{BUCKET}/{upload_key}"))
    }
}

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(
        body.as_object().unwrap().len(),
        1,
        "only `error` at the top: {body}"
    );
}

fn results_for(job_id: Uuid) -> JobResults {
    let scores = std::array::from_fn(|i| (i * 2) as u8);
    let analysis = PetAnalysis {
        species: "cat".into(),
        breed: "tabby".into(),
        expression: "alert".into(),
        posture: "sitting".into(),
        personality: Personality::from_scores(scores),
        dominant_traits: ["a".into(), "b".into(), "c".into()],
        vibe: "calm".into(),
        palette: vec![],
        model: "offline".into(),
        confidence: None,
        alternatives: vec![],
    };
    let career = CareerProfile {
        job_title: "Chief Napping Officer".into(),
        seniority: Seniority::Executive,
        industry: "rest".into(),
        work_style: "slow".into(),
        attire: "suit".into(),
        background: "office".into(),
        confidence: 0.9,
        key_traits: vec!["a".into()],
        model: "offline".into(),
    };
    JobResults {
        avatar_key: format!("generated/{job_id}/avatar.png"),
        identity_package: IdentityPackage {
            name: "Whiskers McGee".into(),
            job_title: career.job_title.clone(),
            seniority: career.seniority,
            bio: ["one".into(), "two".into(), "three".into()],
            skills: vec!["napping".into(); 5],
            trajectory: Trajectory {
                past: "p".into(),
                present: "n".into(),
                future: "f".into(),
            },
            similarity: SimilarityScore {
                score: 80,
                breakdown: SimilarityBreakdown {
                    trait_alignment: 1.0,
                    career_fit: 1.0,
                    dominant_overlap: 1.0,
                    seniority_fit: 1.0,
                },
            },
            model: "offline".into(),
        },
        pet_analysis: analysis,
        career_profile: career,
    }
}

#[tokio::test]
async fn every_route_needs_a_valid_key() {
    let s = start().await;
    let id = Uuid::new_v4();
    for key in [None, Some("wrong"), Some("")] {
        for path in [
            "/presigned-url".to_owned(),
            format!("/status/{id}"),
            format!("/results/{id}"),
            "/status/not-a-uuid".to_owned(),
        ] {
            let (status, body) = s.get(&path, key).await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        let (status, body) = s.post_raw("/process", key, "{}").await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    assert!(s.jobs.get(id).await.is_err());
}

#[tokio::test]
async fn presigned_url_creates_a_job_of_the_caller() {
    let s = start().await;
    let (status, body) = s.get("/presigned-url", Some(KEY_A)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["upload_url"], "https://uploads.example/");
    let job_id: Uuid = body["job_id"].as_str().unwrap().parse().unwrap();
    let key = format!("uploads/{job_id}/original.jpg");
    assert_eq!(body["upload_fields"]["key"], key.as_str());
    assert_eq!(body["upload_fields"]["Content-Type"], "image/jpeg");
    assert_eq!(body["upload_fields"]["max"], (50 * 1024 * 1024).to_string());
    assert_eq!(body["upload_fields"]["expires"], "900");
    assert_eq!(body["s3_uri"], format!("s3://{BUCKET}/{key}"));
    let job = s.jobs.get(job_id).await.unwrap();
    assert_eq!(job.owner, "owner-a");
    assert_eq!(job.upload_key, key);

    let (_, png) = s
        .get("/presigned-url?content_type=image/png", Some(KEY_A))
        .await;
    assert!(
        png["upload_fields"]["key"]
            .as_str()
            .unwrap()
            .ends_with("/original.png")
    );
    // HEIC is offered exactly when this build's ValidateImage decodes it (the default build
    // does; `steps` without its `heic` feature does not, and then the policy must not offer it).
    let (status, heic) = s
        .get("/presigned-url?content_type=image/heic", Some(KEY_A))
        .await;
    if steps::imaging::decodes(steps::ImageFormat::Heic) {
        assert_eq!(status, StatusCode::OK, "{heic}");
        assert!(
            heic["upload_fields"]["key"]
                .as_str()
                .unwrap()
                .ends_with("/original.heic")
        );
        assert_eq!(heic["upload_fields"]["Content-Type"], "image/heic");
    } else {
        assert_error(status, &heic, StatusCode::BAD_REQUEST, "UnsupportedFormat");
    }
    let (status, body) = s
        .get("/presigned-url?content_type=image/gif", Some(KEY_A))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "UnsupportedFormat");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("image/jpeg, image/png"), "{message}");
}

#[tokio::test]
async fn a_presign_failure_leaves_no_job_behind() {
    let job_id = Uuid::new_v4();
    let s = start_with(Arc::new(FailingPresigner), Arc::new(FixedJobId(job_id))).await;
    let (status, body) = s
        .get("/presigned-url?content_type=image/png", Some(KEY_A))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
    );
    assert!(
        matches!(s.jobs.get(job_id).await, Err(JobStoreError::NotFound(_))),
        "no orphan `queued` job"
    );

    // The same request with a working presigner creates exactly that job.
    let s = start_with(Arc::new(EchoPresigner), Arc::new(FixedJobId(job_id))).await;
    let (status, body) = s
        .get("/presigned-url?content_type=image/png", Some(KEY_A))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.jobs.get(job_id).await.unwrap().owner, "owner-a");
}

#[tokio::test]
async fn api_keys_never_reach_the_logs() {
    let (logs, _guard) = telemetry::capture::Captured::install_filtered("trace");
    let s = start().await;
    let (job_id, uri) = s.uploaded_job(KEY_A).await;
    s.process(KEY_A, &uri).await;
    s.get(&format!("/status/{job_id}"), Some(KEY_A)).await;
    s.get(&format!("/status/{job_id}"), Some(KEY_B)).await;
    s.get(&format!("/results/{job_id}"), Some(KEY_A)).await;
    s.get("/status/not-a-uuid", Some(KEY_A)).await;
    s.get("/presigned-url", Some("a-wrong-key-secret")).await;

    let text = logs.text();
    assert!(
        !logs.lines("upload presigned").is_empty(),
        "the requests were logged: {text}"
    );
    for secret in [
        KEY_A.to_owned(),
        KEY_B.to_owned(),
        "a-wrong-key-secret".to_owned(),
        hex::encode(hash_api_key(KEY_A)),
    ] {
        assert!(!text.contains(&secret), "{secret} in the logs:\n{text}");
    }
}

#[tokio::test]
async fn process_queues_the_upload_once() {
    let s = start().await;
    let (job_id, uri) = s.uploaded_job(KEY_A).await;
    let (status, body) = s.process(KEY_A, &uri).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["job_id"], job_id.to_string());
    assert_eq!(body["status"], "queued");
    assert!(body["message"].as_str().is_some());
    {
        let sent = s.queue.sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].job_id, job_id);
        assert_eq!(
            sent[0].s3_upload_key,
            format!("uploads/{job_id}/original.png")
        );
    }
    // Once the job runs, another call changes nothing and queues nothing.
    s.jobs.advance(job_id, Stage::AnalyzePet, 25).await.unwrap();
    let (status, body) = s.process(KEY_A, &uri).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["status"], "processing");
    assert_eq!(s.queue.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_throttled_queue_is_503_and_a_broken_one_500() {
    let s = start().await;
    let (_, uri) = s.uploaded_job(KEY_A).await;
    *s.queue.failure.lock().unwrap() = Some(QueueError::Unavailable("throttled".into()));
    let (status, body) = s.process(KEY_A, &uri).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
    );
    *s.queue.failure.lock().unwrap() = Some(QueueError::Other("no such queue".into()));
    let (status, body) = s.process(KEY_A, &uri).await;
    assert_error(
        status,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
    );
    assert!(!body.to_string().contains("no such queue"), "{body}");
}

#[tokio::test]
async fn process_refuses_bad_bodies_and_uris() {
    let s = start().await;
    let (job_id, uri) = s.uploaded_job(KEY_A).await;
    // Each malformed body is a 400 whose message names what is wrong (the field, or the type).
    let array = json!([uri]).to_string();
    let unknown = json!({"s3_uri": uri, "extra": 1}).to_string();
    let misspelt = json!({"s3_url": uri}).to_string();
    for (body, named) in [
        ("", "JSON"),
        ("not json", "JSON"),
        ("[]", "not an array"),
        // serde alone takes an array as the struct's fields in order: this one was a 202.
        (array.as_str(), "not an array"),
        (r#""s3://x""#, "not a string"),
        ("null", "not null"),
        ("7", "not a number"),
        ("{}", "`s3_uri` is required"),
        (
            r#"{"s3_uri": 5}"#,
            "`s3_uri` must be a string, not a number",
        ),
        (r#"{"s3_uri": null}"#, "`s3_uri` must be a string, not null"),
        (
            r#"{"s3_uri": ["s3://x"]}"#,
            "`s3_uri` must be a string, not an array",
        ),
        (
            r#"{"s3_uri": {"bucket": "b"}}"#,
            "`s3_uri` must be a string, not an object",
        ),
        (unknown.as_str(), "unknown field `extra`"),
        (misspelt.as_str(), "unknown field `s3_url`"),
    ] {
        let (status, resp) = s.post_raw("/process", Some(KEY_A), body).await;
        assert_error(status, &resp, StatusCode::BAD_REQUEST, "InvalidBody");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: {message}");
    }
    for bad in [
        "https://bucket/key".to_owned(),
        "s3://".to_owned(),
        format!("s3://{BUCKET}/uploads/{job_id}"),
        format!("s3://{BUCKET}/uploads/not-a-uuid/original.png"),
        format!("s3://{BUCKET}/elsewhere/{job_id}/original.png"),
        format!("s3://other-bucket/uploads/{job_id}/original.png"),
    ] {
        let (status, resp) = s.process(KEY_A, &bad).await;
        assert_error(status, &resp, StatusCode::BAD_REQUEST, "InvalidS3Uri");
    }
    let (status, resp) = s.process(KEY_A, &uri.replace(".png", ".gif")).await;
    assert_error(status, &resp, StatusCode::BAD_REQUEST, "UnsupportedFormat");
    // A request without a JSON content type is a bad body too.
    let res = s
        .client
        .post(format!("{}/process", s.base))
        .header("x-api-key", KEY_A)
        .body(json!({"s3_uri": uri}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(s.queue.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn process_answers_404_for_missing_jobs_objects_and_other_keys() {
    let s = start().await;
    let (status, body) = s
        .process(
            KEY_A,
            &format!("s3://{BUCKET}/uploads/{}/original.png", Uuid::new_v4()),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "JobNotFound");

    let (_, uri) = s.uploaded_job(KEY_A).await;
    let (status, body) = s.process(KEY_B, &uri).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "JobNotFound");

    let (status, presigned) = s
        .get("/presigned-url?content_type=image/png", Some(KEY_A))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = s
        .process(KEY_A, presigned["s3_uri"].as_str().unwrap())
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ObjectNotFound");
    // The job's id with another extension is not its upload.
    let (status, body) = s.process(KEY_A, &uri.replace(".png", ".jpg")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "ObjectNotFound");
    assert!(s.queue.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn process_answers_413_over_50_mb() {
    let s = start().await;
    let (status, presigned) = s
        .get("/presigned-url?content_type=image/png", Some(KEY_A))
        .await;
    assert_eq!(status, StatusCode::OK);
    let key = presigned["upload_fields"]["key"].as_str().unwrap();
    let over = Bytes::from(vec![0u8; 50 * 1024 * 1024 + 1]);
    s.uploads.put(key, over, "image/png").await.unwrap();
    let (status, body) = s
        .process(KEY_A, presigned["s3_uri"].as_str().unwrap())
        .await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "ImageTooLarge",
    );

    let (_, exact) = s
        .get("/presigned-url?content_type=image/png", Some(KEY_A))
        .await;
    let key = exact["upload_fields"]["key"].as_str().unwrap();
    s.uploads
        .put(key, Bytes::from(vec![0u8; 50 * 1024 * 1024]), "image/png")
        .await
        .unwrap();
    let (status, _) = s.process(KEY_A, exact["s3_uri"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn status_reports_the_job_of_its_owner_only() {
    let s = start().await;
    let (job_id, _) = s.uploaded_job(KEY_A).await;
    let (status, body) = s.get(&format!("/status/{job_id}"), Some(KEY_A)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["job_id"], job_id.to_string());
    assert_eq!(body["status"], "queued");
    assert_eq!(body["stage"], "queued");
    assert_eq!(body["progress"], 0);
    assert!(body.get("error").is_none());
    let created =
        chrono::DateTime::parse_from_rfc3339(body["created_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    // The TTL is whole seconds, so up to one second short of 7 days after creation.
    let lifetime_ms = (expires - created).num_milliseconds();
    assert!(
        (7 * 86_400_000 - 1000..=7 * 86_400_000).contains(&lifetime_ms),
        "{lifetime_ms}"
    );
    chrono::DateTime::parse_from_rfc3339(body["updated_at"].as_str().unwrap()).unwrap();

    s.jobs.advance(job_id, Stage::MapCareer, 45).await.unwrap();
    let (_, body) = s.get(&format!("/status/{job_id}"), Some(KEY_A)).await;
    assert_eq!(
        (
            body["status"].as_str(),
            body["stage"].as_str(),
            body["progress"].as_u64()
        ),
        (Some("processing"), Some("map_career"), Some(45))
    );

    s.jobs
        .fail(
            job_id,
            JobError {
                code: "PetAvatar.NotAPet".into(),
                message: "no animal".into(),
            },
        )
        .await
        .unwrap();
    let (_, body) = s.get(&format!("/status/{job_id}"), Some(KEY_A)).await;
    assert_eq!(body["status"], "failed");
    assert_eq!(
        body["error"],
        json!({"code": "PetAvatar.NotAPet", "message": "no animal"})
    );

    let (status, body) = s.get(&format!("/status/{job_id}"), Some(KEY_B)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "JobNotFound");
    let (status, body) = s
        .get(&format!("/status/{}", Uuid::new_v4()), Some(KEY_A))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "JobNotFound");
    for bad in [
        "not-a-uuid",
        "123",
        &job_id.simple().to_string(),
        &format!("{job_id}0"),
    ] {
        let (status, body) = s.get(&format!("/status/{bad}"), Some(KEY_A)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "InvalidJobId");
    }
}

#[tokio::test]
async fn results_wait_for_completion() {
    let s = start().await;
    let (job_id, _) = s.uploaded_job(KEY_A).await;
    let path = format!("/results/{job_id}");
    let (status, body) = s.get(&path, Some(KEY_A)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "JobNotCompleted");
    s.jobs
        .advance(job_id, Stage::GenerateAvatar, 60)
        .await
        .unwrap();
    let (status, body) = s.get(&path, Some(KEY_A)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "JobNotCompleted");

    s.jobs.complete(job_id, results_for(job_id)).await.unwrap();
    let (status, body) = s.get(&path, Some(KEY_A)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["job_id"], job_id.to_string());
    assert_eq!(
        body["avatar_url"],
        format!("https://generated.example/generated/{job_id}/avatar.png?expires_in=3600")
    );
    assert_eq!(body["identity"]["name"], "Whiskers McGee");
    assert_eq!(body["identity"]["seniority"], "executive");
    assert_eq!(body["pet_analysis"]["species"], "cat");
    assert_eq!(body["career"]["job_title"], "Chief Napping Officer");

    let (status, body) = s.get(&path, Some(KEY_B)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "JobNotFound");
    let (status, body) = s.get("/results/nope", Some(KEY_A)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "InvalidJobId");
    let (status, body) = s
        .get(&format!("/results/{}", Uuid::new_v4()), Some(KEY_A))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "JobNotFound");
}

#[tokio::test]
async fn results_of_a_failed_job_say_why() {
    let s = start().await;
    let (job_id, _) = s.uploaded_job(KEY_A).await;
    s.jobs
        .fail(
            job_id,
            JobError {
                code: "PetAvatar.NotAPet".into(),
                message: "a person".into(),
            },
        )
        .await
        .unwrap();
    let (status, body) = s.get(&format!("/results/{job_id}"), Some(KEY_A)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "JobNotCompleted");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("PetAvatar.NotAPet")
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let s = start().await;
    let (status, body) = s.get("/nowhere", Some(KEY_A)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "RouteNotFound");
    let (status, body) = s.post_raw("/status/x", Some(KEY_A), "{}").await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
    );
}

#[tokio::test]
async fn cors_preflight_allows_the_api_key_header() {
    let s = start().await;
    let res = s
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/status/{}", s.base, Uuid::new_v4()),
        )
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "x-api-key")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let headers = res.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-api-key")
    );
    let (_, _) = s.get("/presigned-url", Some(KEY_A)).await;
    let res = s
        .client
        .get(format!("{}/openapi.json", s.base))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}

/// The OpenAPI request schema and the server's own body check say the same thing.
#[test]
fn the_documented_process_body_is_the_checked_one() {
    use api::body::BodySchema;
    let doc: Value = serde_json::from_str(api::openapi::OPENAPI_JSON).unwrap();
    let schema = &doc["components"]["schemas"]["ProcessRequest"];
    assert_eq!(schema["type"], "object");
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown fields are refused"
    );
    let properties = schema["properties"].as_object().unwrap();
    let fields = api::ProcessRequest::FIELDS;
    assert_eq!(properties.len(), fields.len());
    let mut required = Vec::new();
    for field in fields {
        assert_eq!(
            properties[field.name]["type"],
            field.json_type.schema_name(),
            "{}",
            field.name
        );
        if field.required {
            required.push(json!(field.name));
        }
    }
    assert_eq!(schema["required"], Value::Array(required));
}

#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let s = start().await;
    let (status, doc) = s.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let (job_id, uri) = s.uploaded_job(KEY_A).await;
    // Every documented operation is routed (answers something other than 404/405 for a real job).
    for (method, path) in api::openapi::operations() {
        let path = path.replace("{job_id}", &job_id.to_string());
        let (status, body) = match method.as_str() {
            "get" => s.get(&path, Some(KEY_A)).await,
            "post" => s.process(KEY_A, &uri).await,
            other => panic!("undocumented method {other}"),
        };
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status} {body}"
        );
    }
    // Every field a real response carries is documented, and every required one is there.
    let (_, status_body) = s.get(&format!("/status/{job_id}"), Some(KEY_A)).await;
    let (_, presigned_body) = s.get("/presigned-url", Some(KEY_A)).await;
    let (_, process_body) = s.process(KEY_A, &uri).await;
    let (_, error_body) = s.get("/status/nope", Some(KEY_A)).await;
    s.jobs.complete(job_id, results_for(job_id)).await.unwrap();
    let (_, results_body) = s.get(&format!("/results/{job_id}"), Some(KEY_A)).await;
    for (schema, body) in [
        ("JobStatus", &status_body),
        ("PresignedUpload", &presigned_body),
        ("ProcessAccepted", &process_body),
        ("JobResults", &results_body),
        ("Error", &error_body),
    ] {
        let schema = &doc["components"]["schemas"][schema];
        let properties = schema["properties"].as_object().unwrap();
        for field in body.as_object().unwrap().keys() {
            assert!(properties.contains_key(field), "{field} is not documented");
        }
        for required in schema["required"].as_array().unwrap() {
            assert!(
                body.get(required.as_str().unwrap()).is_some(),
                "{required} missing"
            );
        }
    }
}
