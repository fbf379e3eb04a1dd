//! Lambda: job queue → `StartExecution(name = job_id)`, with partial batch failures.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    handlers::lambda::worker::serve().await
}
