//! PetAvatar's public HTTP API as an axum [`Router`] over ports: the same routes serve
//! `petavatar serve` locally and the API Lambdas on AWS (through `lambda_http`). Nothing
//! here knows SQLite, files or the AWS SDK: the caller builds an [`ApiState`] from its
//! adapters.
//!
//! Routes (DESIGN §4): `GET /presigned-url`, `POST /process`, `GET /status/{job_id}`,
//! `GET /results/{job_id}`, and `GET /openapi.json`.

pub mod auth;
pub mod body;
pub mod error;
pub mod openapi;
mod routes;
pub mod s3_post;
pub mod submit;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Method};
use chrono::{DateTime, Utc};
use steps::ports::{JobQueue, JobStore, ObjectStore, Presigner};
use tower_http::cors::{Any, CorsLayer};
use uuid::Uuid;

pub use auth::{
    API_KEY_HEADER, ApiKeyAuthenticator, Authenticator, ContextAuthenticator, Owner, StoredApiKey,
    hash_api_key,
};
pub use error::ApiError;
pub use routes::ProcessRequest;
pub use submit::{NOT_STARTED, SubmitError, not_started, submit_upload};

/// The largest upload the API accepts (the presigned POST's `content-length-range`).
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;
/// How long a presigned upload is valid.
pub const UPLOAD_EXPIRES_IN: Duration = Duration::from_secs(900);
/// How long a signed avatar URL is valid.
pub const DOWNLOAD_EXPIRES_IN: Duration = Duration::from_secs(3600);

/// Time and job ids, injectable so tests can pin both.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    fn new_job_id(&self) -> Uuid;
}

/// Wall-clock time and random (v4) job ids.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn new_job_id(&self) -> Uuid {
        Uuid::new_v4()
    }
}

/// Settings that differ between deployments.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The bucket `POST /process` URIs must name (`s3://{uploads_bucket}/uploads/…`).
    pub uploads_bucket: String,
    pub max_upload_bytes: u64,
    pub upload_expires_in: Duration,
    pub download_expires_in: Duration,
}

impl ApiConfig {
    pub fn new(uploads_bucket: impl Into<String>) -> Self {
        Self {
            uploads_bucket: uploads_bucket.into(),
            max_upload_bytes: MAX_UPLOAD_BYTES,
            upload_expires_in: UPLOAD_EXPIRES_IN,
            download_expires_in: DOWNLOAD_EXPIRES_IN,
        }
    }
}

/// The ports the routes use.
#[derive(Clone)]
pub struct ApiState {
    pub jobs: Arc<dyn JobStore>,
    /// The uploads bucket (only `head` is used: does the upload exist, how large is it).
    pub uploads: Arc<dyn ObjectStore>,
    /// Presigns POSTs into the uploads bucket.
    pub upload_presigner: Arc<dyn Presigner>,
    /// Presigns GETs from the generated bucket (the avatar).
    pub avatar_presigner: Arc<dyn Presigner>,
    pub queue: Arc<dyn JobQueue>,
    pub auth: Arc<dyn Authenticator>,
    pub clock: Arc<dyn Clock>,
    pub config: ApiConfig,
}

/// The API: routes, JSON errors for unknown routes and methods, CORS and request tracing.
pub fn router(state: ApiState) -> Router {
    routes::routes()
        .layer(cors_layer())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Browsers may call the API from any origin: every call is authenticated by its API key,
/// never by cookies, so there are no credentials to protect from other origins.
fn cors_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            HeaderName::from_static("content-type"),
            HeaderName::from_static(API_KEY_HEADER),
        ])
        .max_age(Duration::from_secs(600))
}
