//! The operator's credential: what opens the execution pages and the operator API (every job's
//! history, inputs and outputs), which a client's API key must never open.
//!
//! An operator key (`pa_op_…`, `petavatar keys create --operator`; the first start of `serve`
//! creates one and prints it once) is presented either
//! - in the `x-operator-key` header (scripts, `curl`, `petavatar executions … --api`), or
//! - in the `petavatar_operator` cookie, which `POST /operator/login` sets after checking the
//!   key typed into the sign-in page: `HttpOnly` (no script on the page can read it),
//!   `SameSite=Strict` (no other site's page can make the browser send it, so the action
//!   buttons cannot be triggered from elsewhere), `Path=/`, for the browser session.
//!
//! Keys are stored as SHA-256 only and compared in constant time against every stored hash
//! (`api::ApiKeyAuthenticator`); neither a key nor its hash is logged. Without a credential the
//! answer is 401; with a client's key (in either place, or in `x-api-key`) it is 403: the key is
//! real, but it is not allowed here.

use std::sync::Arc;

use api::{ApiError, Owner};
use axum::extract::{Form, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::store::ApiKeyStore;

/// The header an operator key is sent in.
pub const OPERATOR_KEY_HEADER: &str = "x-operator-key";
/// The cookie the sign-in page sets.
pub const OPERATOR_COOKIE: &str = "petavatar_operator";

pub const LOGIN_HTML: &str = include_str!("web/login.html");

/// The operator keys and, to tell "not allowed" from "unknown", the client keys.
pub struct OperatorAuth {
    pub operators: ApiKeyStore,
    pub clients: ApiKeyStore,
}

/// Why a request is not an operator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No credential, or one that is no key at all: 401.
    Unauthenticated,
    /// A client's API key: 403.
    ClientKey,
    /// The keys could not be read: 500.
    Unreadable,
}

impl Refused {
    pub fn status(self) -> StatusCode {
        match self {
            Refused::Unauthenticated => StatusCode::UNAUTHORIZED,
            Refused::ClientKey => StatusCode::FORBIDDEN,
            Refused::Unreadable => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn api_error(self) -> ApiError {
        match self {
            Refused::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "an operator key is required (x-operator-key header, or sign in at /operator/login)",
            ),
            Refused::ClientKey => ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "a client API key cannot open the operator routes; use an operator key",
            ),
            Refused::Unreadable => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "the keys cannot be read",
            ),
        }
    }
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl OperatorAuth {
    /// The operator a key belongs to, if it is an operator key.
    pub fn operator_of(&self, key: &str) -> Result<Option<Owner>, Refused> {
        let operators = self.operators.authenticator().map_err(|e| {
            tracing::error!(error = %e, "cannot read the operator keys");
            Refused::Unreadable
        })?;
        Ok(operators.owner_of(key))
    }

    fn is_client_key(&self, key: &str) -> Result<bool, Refused> {
        let clients = self.clients.authenticator().map_err(|e| {
            tracing::error!(error = %e, "cannot read the api keys");
            Refused::Unreadable
        })?;
        Ok(clients.owner_of(key).is_some())
    }

    /// The operator of a request: the `x-operator-key` header first, then the cookie.
    pub fn check(&self, headers: &HeaderMap) -> Result<Owner, Refused> {
        let presented = [
            header_value(headers, OPERATOR_KEY_HEADER),
            cookie(headers, OPERATOR_COOKIE),
        ];
        for key in presented.iter().flatten() {
            if let Some(operator) = self.operator_of(key)? {
                return Ok(operator);
            }
        }
        let client_keys = presented
            .iter()
            .chain([header_value(headers, api::API_KEY_HEADER)].iter())
            .flatten()
            .copied()
            .collect::<Vec<_>>();
        for key in client_keys {
            if self.is_client_key(key)? {
                tracing::info!("operator route refused to a client api key");
                return Err(Refused::ClientKey);
            }
        }
        Err(Refused::Unauthenticated)
    }
}

/// Middleware of the operator's JSON routes: `{"error": …}` 401/403 unless an operator asks.
pub async fn require_operator_api(
    State(auth): State<Arc<OperatorAuth>>,
    request: Request,
    next: Next,
) -> Response {
    match auth.check(request.headers()) {
        Ok(_) => next.run(request).await,
        Err(refused) => refused.api_error().into_response(),
    }
}

/// Middleware of the operator's pages: the sign-in page (401/403) unless an operator asks.
pub async fn require_operator_page(
    State(auth): State<Arc<OperatorAuth>>,
    request: Request,
    next: Next,
) -> Response {
    match auth.check(request.headers()) {
        Ok(_) => next.run(request).await,
        Err(refused) => {
            let message = match refused {
                Refused::ClientKey => "A client API key cannot open these pages.",
                _ => "",
            };
            login_page(refused.status(), request.uri().path(), message)
        }
    }
}

/// Escapes text for an HTML attribute or element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Only a path of this server is a place to go back to after signing in (never `//host`).
fn local_path(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/executions"
    }
}

fn login_page(status: StatusCode, next: &str, message: &str) -> Response {
    let html = LOGIN_HTML
        .replace("{{next}}", &escape(local_path(next)))
        .replace("{{message}}", &escape(message));
    (status, no_store(), Html(html)).into_response()
}

fn no_store() -> [(header::HeaderName, &'static str); 1] {
    [(header::CACHE_CONTROL, "no-store")]
}

/// No `Debug`: the key is in it.
#[derive(Deserialize)]
pub struct LoginForm {
    key: String,
    #[serde(default)]
    next: String,
}

/// `GET /operator/login`: the sign-in page.
pub async fn login_form() -> Response {
    login_page(StatusCode::OK, "/executions", "")
}

/// `POST /operator/login` (form `key`, `next`): sets the cookie and goes back to `next`.
pub async fn login(State(auth): State<Arc<OperatorAuth>>, Form(form): Form<LoginForm>) -> Response {
    let next = local_path(&form.next).to_owned();
    let key = form.key.trim();
    match auth.operator_of(key) {
        Ok(Some(operator)) => {
            tracing::info!(operator = operator.as_str(), "operator signed in");
            let cookie = format!("{OPERATOR_COOKIE}={key}; HttpOnly; SameSite=Strict; Path=/");
            let Ok(cookie) = HeaderValue::from_str(&cookie) else {
                return login_page(
                    StatusCode::UNAUTHORIZED,
                    &next,
                    "That is not an operator key.",
                );
            };
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        Ok(None) => {
            tracing::info!("operator sign-in refused");
            let refused = if auth.is_client_key(key).unwrap_or(false) {
                "A client API key cannot open these pages; use an operator key."
            } else {
                "That is not an operator key."
            };
            login_page(StatusCode::UNAUTHORIZED, &next, refused)
        }
        Err(refused) => login_page(refused.status(), &next, "The keys cannot be read."),
    }
}

/// `POST /operator/logout`: forgets the cookie.
pub async fn logout() -> Response {
    let mut response = Redirect::to("/operator/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "petavatar_operator=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> (tempfile::TempDir, OperatorAuth, String, String) {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("petavatar.db");
        let operators = ApiKeyStore::open_operators(&db).unwrap();
        let clients = ApiKeyStore::open(&db).unwrap();
        let (_, operator_key) = operators.create().unwrap();
        let (_, client_key) = clients.create().unwrap();
        (
            dir,
            OperatorAuth { operators, clients },
            operator_key,
            client_key,
        )
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn an_operator_key_opens_in_the_header_or_the_cookie() {
        let (_dir, auth, op, _) = auth();
        assert!(auth.check(&headers(&[(OPERATOR_KEY_HEADER, &op)])).is_ok());
        let cookie = format!("theme=dark; {OPERATOR_COOKIE}={op}");
        assert!(auth.check(&headers(&[("cookie", &cookie)])).is_ok());
    }

    #[test]
    fn a_client_key_is_forbidden_wherever_it_is_put() {
        let (_dir, auth, _, client) = auth();
        for name in [OPERATOR_KEY_HEADER, api::API_KEY_HEADER] {
            assert_eq!(
                auth.check(&headers(&[(name, &client)])),
                Err(Refused::ClientKey),
                "{name}"
            );
        }
        let cookie = format!("{OPERATOR_COOKIE}={client}");
        assert_eq!(
            auth.check(&headers(&[("cookie", &cookie)])),
            Err(Refused::ClientKey)
        );
    }

    #[test]
    fn no_key_or_a_wrong_one_is_unauthenticated() {
        let (_dir, auth, op, _) = auth();
        assert_eq!(auth.check(&HeaderMap::new()), Err(Refused::Unauthenticated));
        let near = format!("{op}0");
        assert_eq!(
            auth.check(&headers(&[(OPERATOR_KEY_HEADER, &near)])),
            Err(Refused::Unauthenticated)
        );
    }

    #[test]
    fn sign_in_only_goes_back_to_a_path_of_this_server() {
        assert_eq!(local_path("/executions/abc"), "/executions/abc");
        assert_eq!(local_path("//evil.example/"), "/executions");
        assert_eq!(local_path("https://evil.example/"), "/executions");
        assert_eq!(local_path("/\\evil.example"), "/executions");
    }
}
