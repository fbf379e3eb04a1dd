//! The shared `api` router behind API Gateway (REST API, Lambda proxy integration) through
//! `lambda_http`. infra deploys one function per route (least privilege); each serves the same
//! router, and API Gateway only ever sends it its own route.
//!
//! Two things differ from a plain HTTP server:
//! - API Gateway has already checked `x-api-key`; the caller is the key's id, taken from
//!   `requestContext.identity.apiKeyId` and handed to `api::ContextAuthenticator` as an
//!   `api::Owner` request extension. A request without one is refused (401) by the router.
//! - `lambda_http` prefixes REST API paths with the stage (`/prod/status/…`); the router's
//!   routes have no stage, so the prefix is removed again.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::wiring;

/// The API key id API Gateway authenticated the request with.
pub fn api_key_id(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context
            .identity
            .api_key_id
            .clone()
            .filter(|id| !id.is_empty()),
        _ => None,
    }
}

fn stage_of(request: &Request) -> Option<String> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(context) => context.stage.clone(),
        _ => None,
    }
}

/// Prepares a gateway request for the router: owner extension in, stage prefix out.
pub fn prepare(mut request: Request) -> Request {
    if let Some(owner) = api_key_id(&request) {
        request.extensions_mut().insert(api::Owner(owner));
    }
    if let Some(stage) = stage_of(&request) {
        let prefix = format!("/{stage}");
        let uri = request.uri();
        let path = uri.path();
        if let Some(rest) = path
            .strip_prefix(&prefix)
            .filter(|r| r.starts_with('/') || r.is_empty())
        {
            let rest = if rest.is_empty() { "/" } else { rest };
            let rebuilt = match uri.query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_owned(),
            };
            if let Ok(new_uri) = rebuilt.parse() {
                *request.uri_mut() = new_uri;
            }
        }
    }
    request
}

/// The main of an API binary.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let (settings, clients) = wiring::cold_start().await?;
    let router = api::router(wiring::api_state(&clients, &settings)?);
    let app = tower::ServiceBuilder::new()
        .map_request(prepare)
        .service(router);
    tracing::info!(function = %settings.function_name, "api function ready");
    lambda_http::run(app).await
}
