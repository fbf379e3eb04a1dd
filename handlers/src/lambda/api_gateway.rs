//! The shared `api` router behind API Gateway (REST API, Lambda proxy integration) through
//! `lambda_http`. infra deploys one function per route (least privilege); each serves the same
//! router, and API Gateway only ever sends it its own route.
//!
//! Two things differ from a plain HTTP server:
//! - API Gateway has already checked `x-api-key`; the caller is the key's id, taken from
//!   `requestContext.identity.apiKeyId` and handed to `api::ContextAuthenticator` as an
//!   `api::Owner` request extension. A request without one is refused (401) by the router.
//! - `lambda_http` prefixes REST API paths with the stage (`/prod/status/…`) unless its own
//!   setting `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set; the router's routes have no stage,
//!   so infra sets it and the cold start fails without it
//!   ([`crate::config::Settings::require_stage_ignored_in_path`]).

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

/// Prepares a gateway request for the router: the owner as an extension.
pub fn prepare(mut request: Request) -> Request {
    if let Some(owner) = api_key_id(&request) {
        request.extensions_mut().insert(api::Owner(owner));
    }
    request
}

/// The main of an API binary.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let (settings, clients) = wiring::cold_start().await?;
    settings.require_stage_ignored_in_path()?;
    let router = api::router(wiring::api_state(&clients, &settings)?);
    let app = tower::ServiceBuilder::new()
        .map_request(prepare)
        .service(router);
    tracing::info!(function = %settings.function_name, "api function ready");
    lambda_http::run(app).await
}
