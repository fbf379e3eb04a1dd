//! What every request of `petavatar serve` passes through, whatever its route:
//!
//! - the **Host** header must name this server (its loopback address and port, `localhost`, or
//!   a name given with `--allowed-host`): a page on another origin whose DNS name was rebound
//!   to 127.0.0.1 sends its own name, and is refused 421 before any route runs;
//! - **security headers** on every answer: `X-Content-Type-Options: nosniff`,
//!   `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` and a Content-Security-Policy
//!   made for the pages this server ships (their inline scripts allowed by hash, nothing from
//!   elsewhere);
//! - **`Retry-After`** on every 429 and 503, and the error shape on a bare 408 of a timeout;
//! - the **open presigned forms** of a key counted at `GET /presigned-url` (429 past the
//!   limit).

use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{ApiError, Authenticator};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::limits::OpenForms;
use crate::summary::ConnectionEvents;

/// The host names (and port) a request may address.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    port: u16,
    /// `--allowed-host` names, lower case, any port (a proxy in front may use its own).
    names: Vec<String>,
}

/// Names of the loopback interface, accepted with this server's port.
const LOOPBACK_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

impl AllowedHosts {
    pub fn new(port: u16, names: &[String]) -> Self {
        Self {
            port,
            names: names
                .iter()
                .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// Whether `host` (a Host header: `name` or `name:port`) addresses this server.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let (name, port) = split_host(&host);
        let name = name.trim_end_matches('.');
        if self.names.iter().any(|allowed| allowed == name) {
            return true;
        }
        let port_matches = match port {
            Some(port) => port.parse::<u16>().ok() == Some(self.port),
            None => self.port == 80,
        };
        port_matches && LOOPBACK_NAMES.contains(&name)
    }
}

/// `name:port` → (`name`, `Some(port)`), keeping an IPv6 literal's brackets.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => {
                let (name, rest) = host.split_at(end + 1);
                (name, rest.strip_prefix(':'))
            }
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

/// Refuses a request whose Host header names another server (421), or that has none (400).
pub async fn check_host(
    State(allowed): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
    match host {
        Some(host) if allowed.allows(&host) => next.run(request).await,
        Some(_) => ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "MisdirectedRequest",
            "this server does not answer for that Host; see --allowed-host",
        )
        .into_response(),
        None => {
            ApiError::bad_request("MissingHost", "the request has no Host header").into_response()
        }
    }
}

/// The inline `<script>` blocks of a page (no attributes), for their CSP hashes.
fn inline_scripts(page: &str) -> Vec<&str> {
    let mut scripts = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<script>") {
        let body = &rest[start + "<script>".len()..];
        let Some(end) = body.find("</script>") else {
            break;
        };
        scripts.push(&body[..end]);
        rest = &body[end..];
    }
    scripts
}

/// A Content-Security-Policy for `pages`: scripts only from this server or inline blocks of
/// these very pages (by SHA-256, computed from the pages at start, so a page edit needs no
/// policy edit), styles from here or inline (the pages and their SVG use style attributes),
/// images from here or `data:`/`blob:` (the photo's preview), and, like fetches, from the
/// listen address the signed URLs name (the page may be open as `localhost`), fetches to this server, no
/// frames, no plugins, no foreign form targets.
pub fn content_security_policy(pages: &[&str], base_url: &str) -> String {
    let mut script_src = vec!["'self'".to_owned()];
    for page in pages {
        for script in inline_scripts(page) {
            let hash = BASE64.encode(Sha256::digest(script.as_bytes()));
            let source = format!("'sha256-{hash}'");
            if !script_src.contains(&source) {
                script_src.push(source);
            }
        }
    }
    format!(
        "default-src 'none'; script-src {}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' {base_url} data: blob:; connect-src 'self' {base_url}; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        script_src.join(" ")
    )
}

/// The headers every answer carries (set unless a route set its own).
pub fn security_headers(
    csp: &str,
) -> Result<Vec<SetResponseHeaderLayer<HeaderValue>>, axum::http::header::InvalidHeaderValue> {
    Ok(vec![
        SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ),
        SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(csp)?,
        ),
    ])
}

/// The longest a request may take, from its headers to its answer: the upload's own bound, or
/// the one of every other route.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub request: Duration,
    pub upload: Duration,
}

/// The path whose requests carry up to 50 MB and so get [`Deadlines::upload`].
pub const UPLOAD_PATH: &str = "/local/upload";

/// Bounds a whole request by its route's deadline. The handler is dropped when it passes (an
/// upload's partial file and its slot go with it) and the client gets 408 and a closed
/// connection. (tower-http's `TimeoutLayer` has one duration per layer; picking it by path here
/// keeps the routes as they are.)
pub async fn whole_request_deadline(
    State(deadlines): State<Deadlines>,
    request: Request,
    next: Next,
) -> Response {
    let deadline = if request.uri().path() == UPLOAD_PATH {
        deadlines.upload
    } else {
        deadlines.request
    };
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_elapsed) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}

/// Seconds a client told 429 or 503 waits before it retries.
pub const RETRY_AFTER: HeaderValue = HeaderValue::from_static("1");

/// Adds `Retry-After` to a 429 or 503 that has none, and gives a timeout's bare 408 (from
/// tower-http's `TimeoutLayer`) the API's error shape.
pub async fn retry_after_and_timeouts(
    State(events): State<Arc<ConnectionEvents>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let status = response.status();
    if status == StatusCode::REQUEST_TIMEOUT {
        events.request_timeout();
        if is_bare(response.headers()) {
            response = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                "the request took too long",
            )
            .into_response();
        }
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, RETRY_AFTER);
    }
    response
}

fn is_bare(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::CONTENT_TYPE)
}

/// What the open-forms check needs: who is calling, and the count per key.
#[derive(Clone)]
pub struct FormsGuard {
    pub auth: Arc<dyn Authenticator>,
    pub forms: Arc<OpenForms>,
}

/// Largest `GET /presigned-url` answer read back for its job id.
const PRESIGN_BODY_LIMIT: usize = 64 * 1024;

/// At `GET /presigned-url`: 429 when the caller's key holds its limit of open forms; else
/// the form issued is counted until its upload is stored or it expires. A request without a
/// valid key goes on to the route, which answers 401.
pub async fn limit_open_forms(
    State(guard): State<FormsGuard>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::GET || request.uri().path() != "/presigned-url" {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let owner = guard.auth.authenticate(&parts).await.ok();
    let request = Request::from_parts(parts, body);
    let Some(owner) = owner else {
        return next.run(request).await;
    };
    if !guard.forms.has_room(owner.as_str(), Instant::now()) {
        tracing::info!(
            key_id = owner.as_str(),
            "presigned form refused: the key has too many open"
        );
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "too many presigned forms open for this API key; use or let some expire first",
        )
        .into_response();
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, PRESIGN_BODY_LIMIT).await else {
        return ApiError::internal("presigned-url", "answer too large").into_response();
    };
    let job_id = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["job_id"].as_str().and_then(|s| s.parse().ok()));
    if let Some(job_id) = job_id {
        guard.forms.issued(owner.as_str(), job_id, Instant::now());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The name of a header, for tests and scripts that check them.
pub const SECURITY_HEADERS: [HeaderName; 4] = [
    header::X_CONTENT_TYPE_OPTIONS,
    header::X_FRAME_OPTIONS,
    header::REFERRER_POLICY,
    header::CONTENT_SECURITY_POLICY,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_server_and_configured_names_are_allowed_hosts() {
        let hosts = AllowedHosts::new(8080, &["PetAvatar.example.".to_owned()]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
            "petavatar.example",
            "petavatar.example:443",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "127.0.0.1:9090",
            "127.0.0.1",
            "localhost",
            "127.0.0.1.evil.example:8080",
            "",
            "[::1]",
            "petavatar.example.evil:8080",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
        assert!(AllowedHosts::new(80, &[]).allows("localhost"));
    }

    #[test]
    fn the_policy_allows_the_inline_scripts_of_the_pages_by_hash() {
        let page = "<p>x</p><script>alert(1)</script><script>let a = 2;</script>";
        let csp = content_security_policy(&[page, page], "http://127.0.0.1:8080");
        let hash = BASE64.encode(Sha256::digest(b"alert(1)"));
        assert!(csp.contains(&format!("'sha256-{hash}'")), "{csp}");
        assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:8080"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        // The shipped pages have inline scripts, and each is hashed.
        let shipped = content_security_policy(
            &[crate::web::INDEX_HTML, crate::web::EXECUTIONS_HTML],
            "http://127.0.0.1:8080",
        );
        assert!(shipped.matches("'sha256-").count() >= 2, "{shipped}");
    }
}
