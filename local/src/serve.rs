//! `petavatar serve`: the API, the web page, the local S3 endpoints, the queue, the worker,
//! the reconciler and the engine, with everything in one data folder:
//!
//! ```text
//! DATA/petavatar.db      jobs, API keys (SHA-256), queue + dead-letter queue
//! DATA/engine.db         the engine's durable execution history
//! DATA/objects/BUCKET/…  uploads and generated images
//! DATA/signing.key       the HMAC secret of presigned URLs
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use api::{ApiConfig, ApiError, ApiState, Authenticator, Owner};
use async_trait::async_trait;
use axum::http::request::Parts;
use statemachine::{Engine, HistoryStore};
use steps::Deps;
use steps::ports::{JobQueue, JobStore};

use crate::jobqueue::LocalJobQueue;
use crate::operator::OperatorAuth;
use crate::presign::LocalPresigner;
use crate::queue::SqliteQueue;
use crate::runtime::{self, GENERATED_BUCKET, UPLOADS_BUCKET};
use crate::signing::Signer;
use crate::store::{ApiKeyStore, FsObjectStore, KeyKind, SqliteJobStore};
use crate::web::{self, LocalState};
use crate::worker::{self, Worker};

pub struct ServeOptions {
    pub port: u16,
    pub data: PathBuf,
    /// Pause before each stage (`--stage-delay-ms`), to watch a job move through the stages.
    pub stage_delay: Duration,
    /// Executions run at once (`--max-running-jobs`); more jobs wait, `queued`.
    pub max_running_jobs: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("data folder {path}: {source}")]
    Data {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("queue: {0}")]
    Queue(#[from] crate::queue::QueueError),
    #[error("engine history: {0}")]
    History(#[from] statemachine::StoreError),
    #[error("engine: {0}")]
    Engine(#[from] statemachine::EngineError),
    /// The vision model's weights are missing or corrupt: the server does not start.
    #[error("{0}")]
    Vision(#[from] vision::LoadError),
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// Files of the data folder.
pub fn database_path(data: &Path) -> PathBuf {
    data.join("petavatar.db")
}

pub fn engine_path(data: &Path) -> PathBuf {
    data.join("engine.db")
}

fn data_error(path: &Path) -> impl FnOnce(std::io::Error) -> ServeError + '_ {
    move |source| ServeError::Data {
        path: path.to_owned(),
        source,
    }
}

/// The HMAC secret, created at first start, readable by the owner only.
fn signing_secret(data: &Path) -> Result<Vec<u8>, ServeError> {
    let path = data.join("signing.key");
    match std::fs::read(&path) {
        Ok(secret) if secret.len() >= 32 => return Ok(secret),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(data_error(&path)(e)),
    }
    let secret: [u8; 32] = rand::random();
    std::fs::write(&path, secret).map_err(data_error(&path))?;
    restrict_permissions(&path);
    Ok(secret.to_vec())
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}

/// Checks `x-api-key` against the keys in the database, current at each request (see
/// [`ApiKeyStore::authenticator`]) so that a key created with `petavatar keys create` works
/// without a restart.
pub struct SqliteKeyAuthenticator {
    pub keys: ApiKeyStore,
}

#[async_trait]
impl Authenticator for SqliteKeyAuthenticator {
    async fn authenticate(&self, parts: &Parts) -> Result<Owner, ApiError> {
        let authenticator = self
            .keys
            .authenticator()
            .map_err(|e| ApiError::internal("read api keys", e))?;
        authenticator.authenticate(parts).await
    }
}

/// Creates a key of `kind` in `data` and returns it (shown once: only its hash is kept).
pub fn create_key(data: &Path, kind: KeyKind) -> Result<(String, String), ServeError> {
    std::fs::create_dir_all(data).map_err(data_error(data))?;
    Ok(ApiKeyStore::open_kind(&database_path(data), kind)?.create()?)
}

pub async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    // First, so that missing or corrupt weights stop the server before it touches anything.
    let vision = vision::LocalVision::load()?;
    let data = options.data.clone();
    std::fs::create_dir_all(&data).map_err(data_error(&data))?;
    let db = database_path(&data);

    let keys = ApiKeyStore::open(&db)?;
    if keys.all()?.is_empty() {
        let (key_id, key) = keys.create()?;
        eprintln!("Created API key {key_id} (shown once, keep it): {key}");
        tracing::info!(key_id, "api key created");
    }
    let operator_keys = ApiKeyStore::open_operators(&db)?;
    if operator_keys.all()?.is_empty() {
        let (key_id, key) = operator_keys.create()?;
        eprintln!(
            "Created operator key {key_id} for the execution pages and the operator API (shown once, keep it; sign in at /operator/login): {key}"
        );
        tracing::info!(key_id, "operator key created");
    }
    let operators = Arc::new(OperatorAuth {
        operators: operator_keys,
        clients: ApiKeyStore::open(&db)?,
    });

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port)))
        .await
        .map_err(|source| ServeError::Bind {
            port: options.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    let base_url = format!("http://{addr}");

    let jobs: Arc<dyn JobStore> = Arc::new(SqliteJobStore::open(&db)?);
    let uploads = FsObjectStore::new(data.join("objects").join(UPLOADS_BUCKET));
    let generated = FsObjectStore::new(data.join("objects").join(GENERATED_BUCKET));
    let signer = Signer::new(signing_secret(&data)?);
    let sqlite_queue = SqliteQueue::open(&db, 3)?;
    let queue: Arc<dyn JobQueue> = Arc::new(LocalJobQueue {
        queue: sqlite_queue.clone(),
    });

    let mut deps = Deps::offline(
        Arc::new(uploads.clone()),
        Arc::new(generated.clone()),
        jobs.clone(),
    );
    deps.vision = Arc::new(vision);
    let engine = Engine::builder()
        .store(HistoryStore::open(engine_path(&data))?)
        // Executions resumed at start-up have no caller span: name their job in each line.
        .execution_span(runtime::execution_span)
        .handlers(runtime::stage_handlers(&deps, &[], options.stage_delay))
        .build();
    let state_machine_arn = runtime::create_pipeline(&engine)?;
    // The reconciler listens before any execution resumes, so none can end unheard; the
    // executions that ended while the server was down are caught up after.
    worker::spawn_reconciler(engine.clone(), jobs.clone());
    let resumed = engine.resume_all()?;
    tracing::info!(resumed, "engine started; running executions resumed");
    worker::reconcile_finished(&engine, jobs.as_ref()).await;
    let worker = Worker {
        queue: sqlite_queue,
        engine: engine.clone(),
        state_machine_arn: state_machine_arn.clone(),
        jobs: jobs.clone(),
        visibility_timeout: worker::VISIBILITY_TIMEOUT,
        poll_interval: Duration::from_millis(200),
        slots: worker::execution_slots(options.max_running_jobs),
    };
    tokio::spawn(worker.run());

    let api_state = ApiState {
        jobs: jobs.clone(),
        uploads: Arc::new(uploads.clone()),
        upload_presigner: Arc::new(LocalPresigner {
            base_url: base_url.clone(),
            bucket: UPLOADS_BUCKET.to_owned(),
            signer: signer.clone(),
        }),
        avatar_presigner: Arc::new(LocalPresigner {
            base_url: base_url.clone(),
            bucket: GENERATED_BUCKET.to_owned(),
            signer: signer.clone(),
        }),
        queue: queue.clone(),
        auth: Arc::new(SqliteKeyAuthenticator { keys }),
        clock: Arc::new(api::SystemClock),
        config: ApiConfig::new(UPLOADS_BUCKET),
    };
    let mut buckets = HashMap::new();
    buckets.insert(UPLOADS_BUCKET.to_owned(), uploads);
    buckets.insert(GENERATED_BUCKET.to_owned(), generated);
    let local_state = LocalState {
        signer,
        buckets: Arc::new(buckets),
        uploads_bucket: UPLOADS_BUCKET.to_owned(),
        jobs,
        queue,
        engine: engine.clone(),
        state_machine_arn,
        max_upload_bytes: api::MAX_UPLOAD_BYTES,
        operators,
    };
    let app = api::router(api_state).merge(web::routes(local_state));

    eprintln!(
        "PetAvatar listening on {base_url} (data in {})",
        data.display()
    );
    tracing::info!(url = base_url, data = %data.display(), "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(ServeError::Serve)?;
    engine.shutdown();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down");
}
