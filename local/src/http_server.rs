//! The HTTP/1.1 server under `petavatar serve`, with a bound on every phase of a connection:
//!
//! - **headers**: hyper's `header_read_timeout` (with a tokio timer). Its clock starts each
//!   time the connection waits for a request, the first or the next one on a kept-alive
//!   connection, so it also closes a silent connection and an idle keep-alive one;
//! - **body**: tower-http's `RequestBodyTimeout` ends a body that sends nothing for
//!   `body_idle_timeout` (the handler answers 408);
//! - **whole request**: tower-http's `TimeoutLayer` (408), longer for uploads (see
//!   `serve::app`);
//! - **connections**: at most `max_connections` at once; one more is answered 503 with
//!   `Retry-After` and closed, without reading its request;
//! - **half-closed requests**: a client may shut its side down once its request is sent and
//!   still gets its answer (`half_close`).
//!
//! `axum::serve` sets none of these, hence this loop over hyper's connection builder.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::summary::ConnectionEvents;

/// The bounds of `petavatar serve`'s connections and requests.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// From the moment a connection waits for a request (new, or kept alive after the last
    /// one) until that request's headers are complete.
    pub header_read_timeout: Duration,
    /// The longest pause allowed between two pieces of a request body.
    pub body_idle_timeout: Duration,
    /// A whole request, from its headers to its answer (all routes but the upload).
    pub request_timeout: Duration,
    /// A whole upload (`POST /local/upload`, up to 50 MB).
    pub upload_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Uploads streaming at once per API key.
    pub max_uploads_per_key: usize,
    /// Presigned forms open (issued, unused, unexpired) per API key.
    pub max_open_forms_per_key: usize,
    /// How long a database write waits for another connection's lock before it fails (and the
    /// stage is retried, see `store::is_transient_sqlite`).
    pub db_busy_timeout: Duration,
    /// How often the counts of refused keys and of timeouts are logged.
    pub summary_window: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            // 50 MB at 200 KB/s.
            upload_timeout: Duration::from_secs(300),
            max_connections: 1024,
            max_uploads_per_key: crate::limits::DEFAULT_UPLOADS_PER_KEY,
            max_open_forms_per_key: crate::limits::DEFAULT_OPEN_FORMS_PER_KEY,
            db_busy_timeout: crate::store::BUSY_TIMEOUT,
            summary_window: crate::summary::WINDOW,
        }
    }
}

/// What a client over the connection cap is told to wait before it tries again.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// How long a stopping server lets the requests in progress finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in progress
/// finish for a few seconds.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: &ServerLimits,
    events: Arc<ConnectionEvents>,
    shutdown: impl Future<Output = ()>,
) {
    let service = tower::ServiceBuilder::new()
        .layer(RequestBodyTimeoutLayer::new(limits.body_idle_timeout))
        .service(app);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .half_close(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            events.refused();
            tokio::spawn(refuse_busy(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(service.clone()),
        );
        let connection = graceful.watch(connection);
        let events = events.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await
                && e.is_timeout()
            {
                events.header_timeout();
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("requests still in progress at shutdown were cut");
    }
}

/// `accept` fails on a connection reset before it was accepted (nothing to do) or when the
/// process is out of file descriptors (wait a moment, or the loop would spin).
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; pausing");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The answer to a connection over the cap, in the API's error shape.
fn busy_response() -> String {
    let body =
        r#"{"error":{"code":"ServiceUnavailable","message":"too many connections; retry later"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: {RETRY_AFTER_SECONDS}\r\nconnection: close\r\n\
         x-content-type-options: nosniff\r\n\r\n{body}",
        body.len()
    )
}

/// Answers 503 and closes, without parsing the request. What the client sent meanwhile is
/// read and dropped for a moment, so that closing does not reset the connection before the
/// client has read the answer.
async fn refuse_busy(mut stream: TcpStream) {
    const LINGER: Duration = Duration::from_secs(1);
    let exchange = async {
        stream.write_all(busy_response().as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut drained = 0usize;
        while drained < 64 * 1024 {
            let n = stream.read(&mut sink).await?;
            if n == 0 {
                break;
            }
            drained += n;
        }
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(LINGER, exchange).await;
}

/// The address `serve` listens on: loopback only.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
