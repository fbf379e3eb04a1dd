//! A small emulator of the Lambda Runtime API (the HTTP interface a custom runtime such as
//! `bootstrap` polls), for running the real Lambda binaries locally in tests and benchmarks:
//! start it, spawn a binary with `AWS_LAMBDA_RUNTIME_API` pointing at it, [`invoke`] events.
//!
//! Implemented routes (API version 2018-06-01):
//! - `GET  /runtime/invocation/next` — long-polls until an event is queued; answers it with the
//!   `Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn`, `-Trace-Id` headers;
//! - `POST /runtime/invocation/{id}/response` and `/runtime/invocation/{id}/error`;
//! - `POST /runtime/init/error`.
//!
//! [`invoke`]: RuntimeApiEmulator::invoke

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

/// How a function answered one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `/response`: the function's result.
    Response(Value),
    /// `/error`: `errorType` is what Step Functions matches in `ErrorEquals`.
    Error {
        error_type: String,
        error_message: String,
    },
    /// `/init/error`: the function could not start.
    InitError {
        error_type: String,
        error_message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot listen: {0}")]
    Listen(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// How long [`RuntimeApiEmulator::start`] waits for its own server to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One HTTP/1.1 request for a path the API does not have: any status line (404) shows the
/// server answers.
async fn answers_http(address: &str) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request =
        format!("GET /2018-06-01/ready HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0u8; 8];
    stream.read_exact(&mut head).await?;
    if &head == b"HTTP/1.1" {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            String::from_utf8_lossy(&head).into_owned(),
        ))
    }
}

struct Pending {
    request_id: String,
    event: Value,
}

#[derive(Default)]
struct Inner {
    queue: Mutex<VecDeque<Pending>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<Outcome>>,
    init_failed: Notify,
    polls: Mutex<Vec<Instant>>,
    function_arn: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The emulator; its server runs until the value is dropped.
pub struct RuntimeApiEmulator {
    inner: Arc<Inner>,
    address: String,
    server: tokio::task::JoinHandle<()>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Drop for RuntimeApiEmulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApiEmulator {
    /// Starts on a free loopback port.
    pub async fn start(function_name: &str) -> Result<Self, EmulatorError> {
        let inner = Arc::new(Inner {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            ..Inner::default()
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| EmulatorError::Listen(e.to_string()))?;
        let address = listener
            .local_addr()
            .map_err(|e| EmulatorError::Listen(e.to_string()))?
            .to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let emulator = Self {
            inner,
            address,
            server,
            next_id: std::sync::atomic::AtomicU64::new(1),
        };
        emulator.wait_until_it_answers().await?;
        Ok(emulator)
    }

    /// Returns once the server answers an HTTP request (bounded by [`READY_TIMEOUT`]), not
    /// merely once its listener is bound: a bound port is not yet a served one.
    async fn wait_until_it_answers(&self) -> Result<(), EmulatorError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut backoff = Duration::from_millis(10);
        loop {
            match answers_http(&self.address).await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(EmulatorError::Listen(format!(
                        "no HTTP answer on {} within {READY_TIMEOUT:?}: {e}",
                        self.address
                    )));
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
            }
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The environment Lambda gives a function (what `lambda_runtime` reads at start).
    pub fn lambda_environment(&self, function_name: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", function_name),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/local"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// When the function first asked for an event (it finished its init), if it has.
    pub fn first_poll(&self) -> Option<Instant> {
        lock(&self.inner.polls).first().copied()
    }

    /// Queues `event` and waits for the function's answer (or its init error).
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Outcome, EmulatorError> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request_id = format!("00000000-0000-4000-8000-{id:012}");
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.waiting).insert(request_id.clone(), tx);
        lock(&self.inner.queue).push_back(Pending { request_id, event });
        self.inner.queued.notify_waiters();
        self.inner.queued.notify_one();
        let init_failed = self.inner.init_failed.notified();
        if let Some(failure) = lock(&self.inner.init_error).clone() {
            return Ok(failure);
        }
        tokio::select! {
            answer = rx => answer.map_err(|_| EmulatorError::Timeout(timeout)),
            () = init_failed => Ok(lock(&self.inner.init_error).clone().unwrap_or(Outcome::InitError {
                error_type: "Runtime.Unknown".into(),
                error_message: String::new(),
            })),
            () = tokio::time::sleep(timeout) => Err(EmulatorError::Timeout(timeout)),
        }
    }
}

async fn next(State(inner): State<Arc<Inner>>) -> Response {
    lock(&inner.polls).push(Instant::now());
    loop {
        let notified = inner.queued.notified();
        if let Some(pending) = lock(&inner.queue).pop_front() {
            return deliver(&inner, pending);
        }
        notified.await;
    }
}

fn deliver(inner: &Inner, pending: Pending) -> Response {
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 60_000;
    let mut response = (StatusCode::OK, pending.event.to_string()).into_response();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &pending.request_id);
    set("lambda-runtime-deadline-ms", &deadline.to_string());
    set("lambda-runtime-invoked-function-arn", &inner.function_arn);
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0",
    );
    set("content-type", "application/json");
    response
}

fn answer(inner: &Inner, id: &str, outcome: Outcome) -> StatusCode {
    match lock(&inner.waiting).remove(id) {
        Some(waiter) => {
            let _ = waiter.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    answer(&inner, &id, Outcome::Response(value))
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(rename = "errorType", default)]
    error_type: String,
    #[serde(rename = "errorMessage", default)]
    error_message: String,
}

fn error_body(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let error_type = if parsed.error_type.is_empty() {
        header_type.unwrap_or_default()
    } else {
        parsed.error_type
    };
    (error_type, parsed.error_message)
}

async fn error(
    State(inner): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (error_type, error_message) = error_body(&headers, &body);
    answer(
        &inner,
        &id,
        Outcome::Error {
            error_type,
            error_message,
        },
    )
}

async fn init_error(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (error_type, error_message) = error_body(&headers, &body);
    *lock(&inner.init_error) = Some(Outcome::InitError {
        error_type,
        error_message,
    });
    inner.init_failed.notify_waiters();
    StatusCode::ACCEPTED
}
