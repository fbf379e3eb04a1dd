//! `petavatar serve`: the API, the web page, the local S3 endpoints, the queue, the worker,
//! the reconciler and the engine, with everything in one data folder:
//!
//! ```text
//! DATA/petavatar.db      jobs, API keys (SHA-256), queue + dead-letter queue
//! DATA/engine.db         the engine's durable execution history
//! DATA/objects/BUCKET/…  uploads and generated images
//! DATA/signing.key       the HMAC secret of presigned URLs
//! ```
//!
//! The folder and everything in it is the owner's only (0700/0600, see [`crate::private`]).
//! The HTTP server bounds every phase of a connection ([`crate::http_server`]) and checks
//! every request's Host and adds security headers ([`crate::guard`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use api::{ApiConfig, ApiError, ApiState, Authenticator, Owner};
use async_trait::async_trait;
use axum::http::request::Parts;
use statemachine::{Engine, HistoryStore};
use steps::Deps;
use steps::ports::{JobQueue, JobStore};

use crate::guard::{self, AllowedHosts, FormsGuard};
use crate::http_server::{self, ServerLimits};
use crate::jobqueue::LocalJobQueue;
use crate::limits::KeyLimits;
use crate::operator::OperatorAuth;
use crate::presign::LocalPresigner;
use crate::queue::SqliteQueue;
use crate::runtime::{self, GENERATED_BUCKET, UPLOADS_BUCKET};
use crate::signing::Signer;
use crate::store::{ApiKeyStore, FsObjectStore, KeyKind, SqliteJobStore};
use crate::summary::ServerEvents;
use crate::web::{self, LocalState};
use crate::worker::{self, Worker};

pub struct ServeOptions {
    pub port: u16,
    pub data: PathBuf,
    /// Pause before each stage (`--stage-delay-ms`), to watch a job move through the stages.
    pub stage_delay: Duration,
    /// Executions run at once (`--max-running-jobs`); more jobs wait, `queued`.
    pub max_running_jobs: usize,
    /// Timeouts and caps of the HTTP server.
    pub limits: ServerLimits,
    /// Host names the server answers for besides its loopback address (`--allowed-host`).
    pub allowed_hosts: Vec<String>,
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
    #[error("content security policy: {0}")]
    Header(#[from] axum::http::header::InvalidHeaderValue),
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
    // A key file too short to use is replaced.
    let _ = std::fs::remove_file(&path);
    crate::private::write_new_private_file(&path, &secret).map_err(data_error(&path))?;
    Ok(secret.to_vec())
}

/// Creates the data folder owner-only; an existing folder that others can read is kept as it
/// is (it may be shared on purpose) but said in the log.
fn create_data_folder(data: &Path) -> Result<(), ServeError> {
    crate::private::create_private_dir(data).map_err(data_error(data))?;
    if crate::private::is_shared(data) {
        tracing::warn!(
            data = %data.display(),
            "the data folder can be read by other users; chmod 700 it to keep jobs and keys private"
        );
    }
    Ok(())
}

/// Removes the temporary files of uploads cut short by a crash.
fn sweep_partial_uploads(buckets: &[&FsObjectStore]) {
    for bucket in buckets {
        match bucket.sweep_partials() {
            Ok(0) => {}
            Ok(removed) => tracing::info!(
                removed,
                bucket = %bucket.root().display(),
                "unfinished uploads of an earlier run removed"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                bucket = %bucket.root().display(),
                "cannot sweep unfinished uploads"
            ),
        }
    }
}

/// Checks `x-api-key` against the keys in the database, current at each request (see
/// [`ApiKeyStore::authenticator`]) so that a key created with `petavatar keys create` works
/// without a restart.
///
/// Refusals are counted into `failures` (logged as one summary line per window, see
/// [`crate::summary`]), never logged one by one: wrong-key traffic cannot flood the log.
pub struct SqliteKeyAuthenticator {
    pub keys: Arc<ApiKeyStore>,
    /// Where refusals are counted; `None` for a second look at a request the routes check
    /// (and count) anyway.
    pub failures: Option<Arc<ServerEvents>>,
}

#[async_trait]
impl Authenticator for SqliteKeyAuthenticator {
    async fn authenticate(&self, parts: &Parts) -> Result<Owner, ApiError> {
        let authenticator = self.keys.authenticator().map_err(|e| {
            if crate::store::is_transient_sqlite(&e) {
                ApiError::unavailable("read api keys", e)
            } else {
                ApiError::internal("read api keys", e)
            }
        })?;
        let presented = parts
            .headers
            .get(api::API_KEY_HEADER)
            .and_then(|v| v.to_str().ok());
        let Some(presented) = presented else {
            if let Some(events) = &self.failures {
                events.auth.missing_key();
            }
            return Err(ApiError::unauthorized());
        };
        authenticator.owner_of(presented).ok_or_else(|| {
            if let Some(events) = &self.failures {
                events.auth.unknown_key();
            }
            ApiError::unauthorized()
        })
    }
}

/// Creates a key of `kind` in `data` and returns it (shown once: only its hash is kept).
pub fn create_key(data: &Path, kind: KeyKind) -> Result<(String, String), ServeError> {
    create_data_folder(data)?;
    Ok(ApiKeyStore::open_kind(&database_path(data), kind)?.create()?)
}

pub async fn serve(options: ServeOptions) -> Result<(), ServeError> {
    // First, so that missing or corrupt weights stop the server before it touches anything.
    let vision = vision::LocalVision::load()?;
    let data = options.data.clone();
    create_data_folder(&data)?;
    let db = database_path(&data);

    let keys = Arc::new(ApiKeyStore::open(&db)?);
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

    let listener = tokio::net::TcpListener::bind(http_server::loopback(options.port))
        .await
        .map_err(|source| ServeError::Bind {
            port: options.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    let base_url = format!("http://{addr}");

    let jobs: Arc<dyn JobStore> = Arc::new(SqliteJobStore::open_waiting(
        &db,
        options.limits.db_busy_timeout,
    )?);
    let uploads = FsObjectStore::new(data.join("objects").join(UPLOADS_BUCKET));
    let generated = FsObjectStore::new(data.join("objects").join(GENERATED_BUCKET));
    crate::private::create_private_dir(&data.join("objects")).map_err(data_error(&data))?;
    sweep_partial_uploads(&[&uploads, &generated]);
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
        .store(open_history(&data)?)
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

    let events = Arc::new(ServerEvents::with_window(options.limits.summary_window));
    events.spawn_reporter();
    let key_limits = KeyLimits::new(
        options.limits.max_uploads_per_key,
        options.limits.max_open_forms_per_key,
    );
    let forms_guard = FormsGuard {
        auth: Arc::new(SqliteKeyAuthenticator {
            keys: keys.clone(),
            failures: None,
        }),
        forms: key_limits.forms.clone(),
    };
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
        auth: Arc::new(SqliteKeyAuthenticator {
            keys: keys.clone(),
            failures: Some(events.clone()),
        }),
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
        limits: key_limits,
        operators,
    };
    let app = app(AppParts {
        api: api::router(api_state),
        local: local_state,
        limits: &options.limits,
        hosts: AllowedHosts::new(addr.port(), &options.allowed_hosts),
        forms: forms_guard,
        events: events.clone(),
        base_url: &base_url,
    })?;

    eprintln!(
        "PetAvatar listening on {base_url} (data in {})",
        data.display()
    );
    tracing::info!(url = base_url, data = %data.display(), "listening");
    http_server::run(
        listener,
        app,
        &options.limits,
        events.connections.clone(),
        shutdown_signal(),
    )
    .await;
    engine.shutdown();
    Ok(())
}

/// The engine's history, in a database file created owner-only.
fn open_history(data: &Path) -> Result<HistoryStore, ServeError> {
    let path = engine_path(data);
    crate::private::create_private_file(&path).map_err(data_error(&path))?;
    Ok(HistoryStore::open(path)?)
}

/// What [`app`] is made of.
pub struct AppParts<'a> {
    pub api: axum::Router,
    pub local: LocalState,
    pub limits: &'a ServerLimits,
    pub hosts: AllowedHosts,
    pub forms: FormsGuard,
    pub events: Arc<ServerEvents>,
    pub base_url: &'a str,
}

/// The routes with their guards, outermost first: security headers (on every answer, refusals
/// included), the Host check, `Retry-After`/timeout answers, the open-forms limit, then the
/// whole-request timeouts (the upload's longer than the rest's).
pub fn app(parts: AppParts<'_>) -> Result<axum::Router, ServeError> {
    let deadlines = guard::Deadlines {
        request: parts.limits.request_timeout,
        upload: parts.limits.upload_timeout,
    };
    let routes =
        parts
            .api
            .merge(web::routes(parts.local))
            .layer(axum::middleware::from_fn_with_state(
                deadlines,
                guard::whole_request_deadline,
            ));
    let csp =
        guard::content_security_policy(&[web::INDEX_HTML, web::EXECUTIONS_HTML], parts.base_url);
    let mut app = routes
        .layer(axum::middleware::from_fn_with_state(
            parts.forms,
            guard::limit_open_forms,
        ))
        .layer(axum::middleware::from_fn_with_state(
            parts.events.connections.clone(),
            guard::retry_after_and_timeouts,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(parts.hosts),
            guard::check_host,
        ));
    for layer in guard::security_headers(&csp)? {
        app = app.layer(layer);
    }
    Ok(app)
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
