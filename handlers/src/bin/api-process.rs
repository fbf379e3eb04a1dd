//! Lambda: `POST /process` behind API Gateway. Serves the shared `api` router; API Gateway routes
//! only this route here, and the function's role allows only what this route needs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    handlers::lambda::api_gateway::serve().await
}
