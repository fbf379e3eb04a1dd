//! The local-only routes beside the API: the web page, the execution view and its JSON,
//! and the presigned upload/download endpoints that stand in for S3.

use std::collections::HashMap;
use std::sync::Arc;

use api::ApiError;
use axum::Router;
use axum::extract::multipart::Field;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use statemachine::Engine;
use steps::ports::{JobQueue, JobStore, ObjectStore, ObjectStoreError};
use tracing::Instrument;

use api::s3_post::{self, Refusal};
use sha2::{Digest, Sha256};

use crate::console;
use crate::limits::{KeyLimits, UploadSlot};
use crate::operator::{self, OperatorAuth};
use crate::signing::{
    FIELD_BUCKET, FIELD_KEY, FIELD_POLICY, FIELD_SIGNATURE, SignatureError, Signer,
};
use crate::store::{FsObjectStore, PartialObject};

pub const INDEX_HTML: &str = include_str!("web/index.html");
pub const EXECUTIONS_HTML: &str = include_str!("web/executions.html");
/// A paw (16, 32 and 48 px): browsers ask for `/favicon.ico` whatever the page says.
pub const FAVICON_ICO: &[u8] = include_bytes!("web/favicon.ico");

/// What the local routes need.
#[derive(Clone)]
pub struct LocalState {
    pub signer: Signer,
    /// Buckets by name.
    pub buckets: Arc<HashMap<String, FsObjectStore>>,
    pub uploads_bucket: String,
    pub jobs: Arc<dyn JobStore>,
    pub queue: Arc<dyn JobQueue>,
    pub engine: Engine,
    pub state_machine_arn: String,
    pub max_upload_bytes: u64,
    /// Uploads at once and open presigned forms, per API key.
    pub limits: KeyLimits,
    /// Who may open the operator routes (`crate::operator`).
    pub operators: Arc<OperatorAuth>,
}

pub fn routes(state: LocalState) -> Router {
    // Room for the form fields around a file of the largest allowed size; the policy's
    // own limit is enforced while the file streams in.
    let body_limit = usize::try_from(state.max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(1024 * 1024);
    Router::new()
        .route("/", get(|| async { Html(INDEX_HTML) }))
        .route("/favicon.ico", get(favicon))
        .merge(operator_routes(&state))
        .route(
            "/local/upload",
            post(upload).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route("/local/download", get(download))
        .with_state(state)
}

/// What only an operator may open: the execution pages (a sign-in page otherwise) and their
/// JSON (401/403 otherwise); and the sign-in itself, open to all.
fn operator_routes(state: &LocalState) -> Router<LocalState> {
    let auth = state.operators.clone();
    let pages = Router::new()
        .route("/executions", get(|| async { Html(EXECUTIONS_HTML) }))
        .route(
            "/executions/{name}",
            get(|| async { Html(EXECUTIONS_HTML) }),
        )
        .route_layer(middleware::from_fn_with_state(
            auth.clone(),
            operator::require_operator_page,
        ));
    let json = Router::new()
        .route("/api/executions", get(console::list_executions))
        .route("/api/executions/{name}", get(console::execution_detail))
        .route("/api/executions/{name}/redrive", post(console::redrive))
        .route("/api/executions/{name}/stop", post(console::stop))
        .route_layer(middleware::from_fn_with_state(
            auth.clone(),
            operator::require_operator_api,
        ));
    let sign_in = Router::new()
        .route(
            "/operator/login",
            get(operator::login_form).post(operator::login),
        )
        .route("/operator/logout", post(operator::logout))
        .with_state(auth);
    pages.merge(json).merge(sign_in)
}

async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/x-icon"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON_ICO,
    )
}

fn access_denied(e: SignatureError) -> ApiError {
    tracing::info!(reason = %e, "signed request refused");
    ApiError::new(StatusCode::FORBIDDEN, "AccessDenied", e.to_string())
}

/// An execution's ARN from its name (the job id) or from the ARN itself.
pub fn execution_arn(state_machine_arn: &str, name_or_arn: &str) -> String {
    if name_or_arn.starts_with("arn:") {
        name_or_arn.to_owned()
    } else {
        crate::runtime::execution_arn(state_machine_arn, name_or_arn)
    }
}

/// The presigned POST of the local "S3": form fields first, the file last (as S3 requires),
/// judged by S3's own rules (`api::s3_post`) and answered as S3 answers, errors in its XML.
async fn upload(State(state): State<LocalState>, mut form: Multipart) -> Response {
    let result = store_upload(&state, &mut form).await;
    if result.is_err() {
        // Read the rest of a refused form before answering, so the client gets the answer
        // rather than a connection closed in the middle of its upload.
        while let Ok(Some(mut field)) = form.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    }
    result.unwrap_or_else(|refusal| refusal.into_response())
}

/// Why the local S3 refused a POST: one of S3's own refusals, or one of the few errors S3
/// raises outside the policy (a malformed form, a missing file, an unknown bucket).
#[derive(Debug, thiserror::Error)]
enum UploadRefusal {
    #[error(transparent)]
    Policy(#[from] Refusal),
    #[error("{message}")]
    Other {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
}

impl IntoResponse for UploadRefusal {
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let (status, body) = match &self {
            UploadRefusal::Policy(refusal) => (
                StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN),
                refusal.to_xml(&request_id),
            ),
            UploadRefusal::Other {
                status,
                code,
                message,
            } => (*status, s3_post::error_xml(code, message, &request_id)),
        };
        tracing::info!(status = status.as_u16(), reason = %self, "upload refused");
        (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
    }
}

async fn store_upload(state: &LocalState, form: &mut Multipart) -> Result<Response, UploadRefusal> {
    let mut fields: Vec<(String, String)> = Vec::new();
    while let Some(field) = form.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        if !name.eq_ignore_ascii_case("file") {
            let value = field.text().await.map_err(form_error)?;
            fields.push((name, value));
            continue;
        }
        let span = tracing::info_span!("upload", job_id = tracing::field::Empty);
        if let Ok(job_id) = api::validate::parse_upload_key(form_value(&fields, FIELD_KEY)) {
            span.record("job_id", tracing::field::display(job_id));
        }
        return store_file(state, &fields, field).instrument(span).await;
    }
    Err(UploadRefusal::Other {
        status: StatusCode::BAD_REQUEST,
        code: "InvalidArgument",
        message: "POST requires exactly one file upload per request.".into(),
    })
}

/// A form field's value by case-insensitive name (the first one), or "".
fn form_value<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// Checks the signature and the policy, streams the file in within the policy's
/// `content-length-range` and stores it.
async fn store_file(
    state: &LocalState,
    fields: &[(String, String)],
    mut file: Field<'_>,
) -> Result<Response, UploadRefusal> {
    // The bucket S3 takes from the URL; the local endpoint serves several from one URL.
    let bucket_name = form_value(fields, FIELD_BUCKET);
    let bucket = state
        .buckets
        .get(bucket_name)
        .ok_or_else(|| UploadRefusal::Other {
            status: StatusCode::NOT_FOUND,
            code: "NoSuchBucket",
            message: "The specified bucket does not exist".into(),
        })?;
    state
        .signer
        .verify_policy(
            form_value(fields, FIELD_POLICY),
            form_value(fields, FIELD_SIGNATURE),
        )
        .map_err(|_| Refusal::SignatureDoesNotMatch)?;
    let accepted = s3_post::check_form(bucket_name, fields, Utc::now())?;
    let cap = accepted
        .length_range
        .map_or(state.max_upload_bytes, |(_, max)| {
            max.min(state.max_upload_bytes)
        });
    let key = accepted.key.as_str();
    let _slot = upload_slot(state, key).await?;
    let (object, etag) = stream_to_disk(bucket, key, &mut file, cap).await?;
    // Too small: the partial file is removed as `object` drops.
    accepted.check_size(object.written())?;
    object.commit().await.map_err(|e| internal_error(&e))?;
    if let Ok(job_id) = api::validate::parse_upload_key(key) {
        state.limits.forms.used(job_id);
    }
    tracing::info!(bucket = bucket_name, key, "object stored");
    if bucket_name == state.uploads_bucket {
        object_created(state, key).await;
    }
    let status = StatusCode::from_u16(accepted.status).unwrap_or(StatusCode::NO_CONTENT);
    let location = format!("/{bucket_name}/{key}");
    let body = accepted.body(&location, &etag);
    let mut response = (status, [(header::ETAG, format!("\"{etag}\""))]).into_response();
    if !body.is_empty() {
        response = (
            status,
            [
                (header::ETAG, format!("\"{etag}\"")),
                (header::CONTENT_TYPE, "application/xml".to_owned()),
            ],
            body,
        )
            .into_response();
    }
    Ok(response)
}

/// Streams the `file` part into a temporary file of `bucket` as it arrives: memory per upload
/// stays at a chunk plus the file's write buffer, whatever the size. More than `max_bytes` is
/// refused while it streams. On any failure the temporary file is removed (dropping the
/// [`PartialObject`] does it), and so it is when the client goes away or a timeout ends the
/// request. Returns the object and its ETag (the first 16 bytes of its SHA-256, in hex).
async fn stream_to_disk(
    bucket: &FsObjectStore,
    key: &str,
    file: &mut Field<'_>,
    max_bytes: u64,
) -> Result<(PartialObject, String), UploadRefusal> {
    let mut object = bucket.begin(key).await.map_err(|e| internal_error(&e))?;
    let mut digest = Sha256::new();
    while let Some(chunk) = file.chunk().await.map_err(form_error)? {
        let size = object.written() + chunk.len() as u64;
        if size > max_bytes {
            drop(object);
            while let Ok(Some(_)) = file.chunk().await {}
            return Err(Refusal::EntityTooLarge {
                size,
                max: max_bytes,
            }
            .into());
        }
        digest.update(&chunk);
        object.write(&chunk).await.map_err(|e| internal_error(&e))?;
    }
    let etag = hex::encode(&digest.finalize()[..16]);
    Ok((object, etag))
}

/// S3's answer to a failure of its own; the cause goes to the log, not to the client.
fn internal_error(e: &ObjectStoreError) -> UploadRefusal {
    tracing::error!(error = %e, context = "store upload", "internal error");
    let (status, code, message) = if api::error::PortFailure::is_transient(e) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service is unable to handle request.",
        )
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    };
    UploadRefusal::Other {
        status,
        code,
        message: message.into(),
    }
}

/// A slot among the uploads the job's API key may run at once. When the key has them all the
/// answer is S3's `SlowDown` (503, with `Retry-After`), which S3 clients retry with backoff.
/// An upload outside `uploads/{job_id}/`, or of an unknown job, belongs to no key and takes
/// none: its policy alone governs it.
async fn upload_slot(state: &LocalState, key: &str) -> Result<Option<UploadSlot>, UploadRefusal> {
    let Ok(job_id) = api::validate::parse_upload_key(key) else {
        return Ok(None);
    };
    let Ok(job) = state.jobs.get(job_id).await else {
        return Ok(None);
    };
    match state.limits.uploads.try_acquire(&job.owner) {
        Some(slot) => Ok(Some(slot)),
        None => {
            tracing::info!(%job_id, "upload refused: its key has too many uploads in progress");
            Err(UploadRefusal::Other {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "SlowDown",
                message: "Please reduce your request rate.".into(),
            })
        }
    }
}

/// The S3 event notification: an object under `uploads/{job_id}/` queues its job, exactly
/// as `POST /process` would (the queue deduplicates the two).
async fn object_created(state: &LocalState, key: &str) {
    let Ok(job_id) = api::validate::parse_upload_key(key) else {
        tracing::info!(
            key,
            "object outside uploads/{{job_id}}/original.*; no job started"
        );
        return;
    };
    let span = tracing::info_span!("s3_event", %job_id);
    async move {
        match api::submit_upload(
            state.jobs.as_ref(),
            state.queue.as_ref(),
            job_id,
            key,
            Utc::now(),
        )
        .await
        {
            Ok(status) => tracing::info!(%status, "upload event handled"),
            Err(e) => tracing::warn!(error = %e, "upload event not handled"),
        }
    }
    .instrument(span)
    .await
}

fn form_error(e: axum::extract::multipart::MultipartError) -> UploadRefusal {
    if is_body_timeout(&e) {
        // S3's own answer to a body that stops arriving.
        return UploadRefusal::Other {
            status: StatusCode::BAD_REQUEST,
            code: "RequestTimeout",
            message: "Your socket connection to the server was not read from or written to \
                      within the timeout period. Idle connections will be closed."
                .into(),
        };
    }
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return UploadRefusal::Other {
            status: StatusCode::BAD_REQUEST,
            code: "EntityTooLarge",
            message: "Your proposed upload exceeds the maximum allowed size".into(),
        };
    }
    UploadRefusal::Other {
        status: StatusCode::BAD_REQUEST,
        code: "MalformedPOSTRequest",
        message: format!(
            "The body of your POST request is not well-formed multipart/form-data. ({})",
            e.body_text()
        ),
    }
}

/// Whether the body stopped because it went idle too long (the server's body timeout).
fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// No `Debug`: the signature is what lets anyone download.
#[derive(Deserialize)]
struct DownloadQuery {
    bucket: Option<String>,
    key: Option<String>,
    expires: Option<i64>,
    signature: Option<String>,
}

async fn download(
    State(state): State<LocalState>,
    Query(query): Query<DownloadQuery>,
) -> Result<Response, ApiError> {
    let (Some(bucket), Some(key), Some(expires), Some(signature)) =
        (query.bucket, query.key, query.expires, query.signature)
    else {
        return Err(access_denied(SignatureError::BadSignature));
    };
    state
        .signer
        .verify_download(&bucket, &key, expires, &signature, Utc::now())
        .map_err(access_denied)?;
    let store = state
        .buckets
        .get(&bucket)
        .ok_or_else(|| ApiError::not_found("NoSuchBucket", "no such bucket"))?;
    let meta = store.head(&key).await.map_err(object_error)?;
    let bytes = store.get(&key).await.map_err(object_error)?;
    let content_type = meta
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
}

fn object_error(e: ObjectStoreError) -> ApiError {
    match e {
        ObjectStoreError::NotFound(_) => ApiError::not_found("NoSuchKey", "no such object"),
        other => ApiError::internal("read object", other),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use steps::memory::InMemoryJobStore;
    use steps::ports::{PostPolicy, Presigner};

    use super::*;
    use crate::jobqueue::LocalJobQueue;
    use crate::presign::LocalPresigner;
    use crate::queue::SqliteQueue;
    use telemetry::capture::Captured;

    const UPLOADS: &str = "petavatar-uploads";

    /// The local routes on loopback, with the uploads bucket at `uploads_root`.
    async fn serve_local_routes(uploads_root: std::path::PathBuf, signer: Signer) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut buckets = HashMap::new();
        let db = uploads_root.with_extension("keys.db");
        buckets.insert(UPLOADS.to_owned(), FsObjectStore::new(uploads_root));
        let state = LocalState {
            signer,
            buckets: Arc::new(buckets),
            uploads_bucket: UPLOADS.to_owned(),
            jobs: Arc::new(InMemoryJobStore::new()),
            queue: Arc::new(LocalJobQueue {
                queue: SqliteQueue::in_memory(3).unwrap(),
            }),
            engine: Engine::builder().in_memory().build(),
            state_machine_arn: "arn:aws:states:local:000000000000:stateMachine:p".to_owned(),
            max_upload_bytes: api::MAX_UPLOAD_BYTES,
            limits: KeyLimits::new(16, 16),
            operators: Arc::new(OperatorAuth {
                operators: crate::store::ApiKeyStore::open_operators(&db).unwrap(),
                clients: crate::store::ApiKeyStore::open(&db).unwrap(),
            }),
        };
        tokio::spawn(async move { axum::serve(listener, routes(state)).await });
        base
    }

    #[tokio::test]
    async fn an_upload_that_cannot_be_stored_is_logged_with_its_job() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the bucket's folder should be: storing anything in it fails.
        let uploads_root = dir.path().join("uploads");
        std::fs::write(&uploads_root, b"not a folder").unwrap();
        let signer = Signer::new(vec![7; 32]);
        let base = serve_local_routes(uploads_root, signer.clone()).await;
        let job_id = uuid::Uuid::new_v4();
        let presigner = LocalPresigner {
            base_url: base.clone(),
            bucket: UPLOADS.to_owned(),
            signer,
        };
        let post = presigner
            .presign_post(PostPolicy {
                key: format!("uploads/{job_id}/original.png"),
                content_types: vec!["image/png".to_owned()],
                max_bytes: 1024,
                expires_in: Duration::from_secs(60),
            })
            .await
            .unwrap();
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in post.fields {
            form = form.text(name, value);
        }
        form = form.part("file", reqwest::multipart::Part::bytes(b"png".to_vec()));

        let (logs, _guard) = Captured::install();
        let res = reqwest::Client::new()
            .post(post.url)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let lines = logs.lines("internal error");
        assert_eq!(lines.len(), 1);
        assert_eq!(
            lines[0]["span"]["job_id"],
            job_id.to_string(),
            "{}",
            lines[0]
        );
    }
}
