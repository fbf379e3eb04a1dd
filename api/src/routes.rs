//! The route handlers. Each one authenticates first (401 before anything else), then
//! validates, then talks to the ports.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use steps::ports::{JobStoreError, ObjectStoreError, PostPolicy};
use steps::{ImageFormat, Job, JobError, JobStatus, imaging, keys};
use tracing::Instrument;
use uuid::Uuid;

use crate::body::{self, BodySchema, Field, JsonType};
use crate::error::ApiError;
use crate::submit::{SubmitError, submit_upload};
use crate::validate::{parse_job_id, parse_s3_uri};
use crate::{ApiState, Owner, openapi};

pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/presigned-url", get(presigned_url))
        .route("/process", post(process))
        .route("/status/{job_id}", get(status))
        .route("/results/{job_id}", get(results))
        .route("/openapi.json", get(openapi_document))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The authenticated caller.
pub(crate) struct Caller(pub Owner);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        state.auth.authenticate(parts).await.map(Caller)
    }
}

#[derive(Debug, Deserialize)]
struct PresignQuery {
    content_type: Option<String>,
}

#[derive(Debug, Serialize)]
struct PresignedUploadBody {
    job_id: Uuid,
    upload_url: String,
    upload_fields: std::collections::BTreeMap<String, String>,
    expires_in: u64,
    /// What to give `POST /process` once the upload is done.
    s3_uri: String,
}

fn format_for_content_type(content_type: &str) -> Option<ImageFormat> {
    match content_type.trim().to_ascii_lowercase().as_str() {
        "image/jpeg" | "image/jpg" => Some(ImageFormat::Jpeg),
        "image/png" => Some(ImageFormat::Png),
        "image/heic" | "image/heif" => Some(ImageFormat::Heic),
        _ => None,
    }
}

/// The upload types this deployment presigns: those its ValidateImage decodes (a build without
/// HEIC never hands out a policy for a HEIC upload it would then refuse).
fn offered_content_types() -> String {
    [
        ("image/jpeg", ImageFormat::Jpeg),
        ("image/png", ImageFormat::Png),
        ("image/heic", ImageFormat::Heic),
    ]
    .iter()
    .filter(|(_, format)| imaging::decodes(*format))
    .map(|(content_type, _)| *content_type)
    .collect::<Vec<_>>()
    .join(", ")
}

async fn presigned_url(
    Caller(owner): Caller,
    State(state): State<ApiState>,
    query: Result<Query<PresignQuery>, QueryRejection>,
) -> Result<Json<PresignedUploadBody>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("InvalidQuery", e.body_text()))?;
    let content_type = query
        .content_type
        .unwrap_or_else(|| "image/jpeg".to_owned());
    let format = format_for_content_type(&content_type)
        .filter(|format| imaging::decodes(*format))
        .ok_or_else(|| {
            ApiError::bad_request(
                "UnsupportedFormat",
                format!("content_type must be one of {}", offered_content_types()),
            )
        })?;
    let now = state.clock.now();
    let job_id = state.clock.new_job_id();
    let key = keys::upload(job_id, format);
    let span = tracing::info_span!("presigned_url", %job_id);
    async move {
        // Presign before the job exists: a presign failure then leaves no `queued` job behind
        // that nobody can upload to. A job whose creation fails is never handed out either.
        let post = state
            .upload_presigner
            .presign_post(PostPolicy {
                key: key.clone(),
                content_types: vec![format.content_type().to_owned()],
                max_bytes: state.config.max_upload_bytes,
                expires_in: state.config.upload_expires_in,
            })
            .await
            .map_err(|e| ApiError::internal("presign upload", e))?;
        state
            .jobs
            .create(Job::new(job_id, owner.as_str(), key.clone(), now))
            .await
            .map_err(|e| ApiError::port("create job", e))?;
        tracing::info!(%job_id, "upload presigned");
        Ok(Json(PresignedUploadBody {
            job_id,
            upload_url: post.url,
            upload_fields: post.fields,
            expires_in: state.config.upload_expires_in.as_secs(),
            s3_uri: format!("s3://{}/{key}", state.config.uploads_bucket),
        }))
    }
    .instrument(span)
    .await
}

/// The body of `POST /process`: `{"s3_uri": "s3://…"}` and nothing else.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessRequest {
    pub s3_uri: String,
}

impl BodySchema for ProcessRequest {
    const WHAT: &'static str = "the body of POST /process";
    const FIELDS: &'static [Field] = &[Field {
        name: "s3_uri",
        json_type: JsonType::String,
        required: true,
    }];
}

async fn process(
    Caller(owner): Caller,
    State(state): State<ApiState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body: ProcessRequest = body::parse(body)?;
    let location = parse_s3_uri(&body.s3_uri)?;
    if location.bucket != state.config.uploads_bucket {
        return Err(ApiError::bad_request(
            "InvalidS3Uri",
            format!("uploads go to the bucket {}", state.config.uploads_bucket),
        ));
    }
    let job_id = location.job_id;
    let span = tracing::info_span!("process", %job_id);
    async move {
        let job = owned_job(&state, &owner, job_id).await?;
        if job.upload_key != location.key {
            return Err(ApiError::not_found(
                "ObjectNotFound",
                "no upload at this URI for this job",
            ));
        }
        let meta = state
            .uploads
            .head(&location.key)
            .await
            .map_err(|e| match e {
                ObjectStoreError::NotFound(_) => {
                    ApiError::not_found("ObjectNotFound", "nothing has been uploaded at this URI")
                }
                other => ApiError::port("head upload", other),
            })?;
        if meta.size > state.config.max_upload_bytes {
            return Err(ApiError::too_large(format!(
                "the upload is {} bytes; the limit is {} bytes (50 MB)",
                meta.size, state.config.max_upload_bytes
            )));
        }
        let status = submit_upload(
            state.jobs.as_ref(),
            state.queue.as_ref(),
            job_id,
            &location.key,
            state.clock.now(),
        )
        .await
        .map_err(submit_error)?;
        let message = match status {
            JobStatus::Queued => "the job is queued for processing".to_owned(),
            other => format!("the job was already submitted and is {other}"),
        };
        let body = json!({"job_id": job_id, "status": status, "message": message});
        Ok((StatusCode::ACCEPTED, Json(body)).into_response())
    }
    .instrument(span)
    .await
}

fn submit_error(e: SubmitError) -> ApiError {
    match e {
        SubmitError::JobNotFound(_) => ApiError::job_not_found(),
        SubmitError::WrongKey { .. } => {
            ApiError::not_found("ObjectNotFound", "no upload at this URI for this job")
        }
        SubmitError::Store(e) => ApiError::port("queue job", e),
        SubmitError::Queue(e) => ApiError::port("queue job", e),
    }
}

/// The job if it exists and belongs to `owner`; another key's job is "not found" too, so
/// a caller learns nothing about job ids that are not theirs.
async fn owned_job(state: &ApiState, owner: &Owner, job_id: Uuid) -> Result<Job, ApiError> {
    match state.jobs.get(job_id).await {
        Ok(job) if job.owner == owner.as_str() => Ok(job),
        Ok(_) => {
            tracing::info!(%job_id, "job of another key requested");
            Err(ApiError::job_not_found())
        }
        Err(JobStoreError::NotFound(_)) => Err(ApiError::job_not_found()),
        Err(other) => Err(ApiError::port("get job", other)),
    }
}

#[derive(Debug, Serialize)]
struct StatusBody {
    job_id: Uuid,
    status: JobStatus,
    stage: steps::Stage,
    progress: u8,
    /// Every pipeline stage and where it is (both Parallel branches while they run).
    stages: Vec<steps::StageReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<JobError>,
    created_at: String,
    updated_at: String,
    expires_at: String,
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn status(
    Caller(owner): Caller,
    State(state): State<ApiState>,
    Path(raw_id): Path<String>,
) -> Result<Json<StatusBody>, ApiError> {
    let job_id = parse_job_id(&raw_id)?;
    let span = tracing::info_span!("status", %job_id);
    async move {
        let job = owned_job(&state, &owner, job_id).await?;
        Ok(Json(StatusBody {
            job_id,
            status: job.status,
            stage: job.stage,
            progress: job.progress,
            stages: steps::stage_reports(job.status, job.stage),
            error: job.error.clone(),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            expires_at: rfc3339(job.expires_at()),
        }))
    }
    .instrument(span)
    .await
}

async fn results(
    Caller(owner): Caller,
    State(state): State<ApiState>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job_id = parse_job_id(&raw_id)?;
    let span = tracing::info_span!("results", %job_id);
    async move {
        let job = owned_job(&state, &owner, job_id).await?;
        if job.status != JobStatus::Completed {
            return Err(not_completed(&job));
        }
        let (Some(avatar_key), Some(identity), Some(analysis)) = (
            job.avatar_key.as_deref(),
            job.identity_package.as_ref(),
            job.pet_analysis.as_ref(),
        ) else {
            return Err(ApiError::internal(
                "results",
                format!("completed job {job_id} lacks its results"),
            ));
        };
        let avatar_url = state
            .avatar_presigner
            .presign_get(avatar_key, state.config.download_expires_in)
            .await
            .map_err(|e| ApiError::internal("presign avatar", e))?;
        // Every size GenerateAvatar stored: the 1024 px avatar, then its variants.
        let mut avatars =
            vec![json!({"size": steps::generate_avatar::AVATAR_SIZE, "url": avatar_url})];
        for size in steps::generate_avatar::VARIANT_SIZES {
            let url = state
                .avatar_presigner
                .presign_get(
                    &keys::avatar_variant(job_id, size),
                    state.config.download_expires_in,
                )
                .await
                .map_err(|e| ApiError::internal("presign avatar variant", e))?;
            avatars.push(json!({"size": size, "url": url}));
        }
        Ok(Json(json!({
            "job_id": job_id,
            "avatar_url": avatar_url,
            "avatar_url_expires_in": state.config.download_expires_in.as_secs(),
            "avatars": avatars,
            "identity": identity,
            "career": job.career_profile,
            "pet_analysis": analysis,
        })))
    }
    .instrument(span)
    .await
}

fn not_completed(job: &Job) -> ApiError {
    let message = match (&job.status, &job.error) {
        (JobStatus::Failed, Some(error)) => {
            format!("the job failed: {} ({})", error.message, error.code)
        }
        (status, _) => format!(
            "the job is {status} (stage {}); results come when it completes",
            job.stage
        ),
    };
    ApiError::conflict("JobNotCompleted", message)
}

async fn openapi_document() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi::OPENAPI_JSON,
    )
        .into_response()
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("RouteNotFound", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "this route does not take that method",
    )
}
