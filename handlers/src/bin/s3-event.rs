//! Lambda: S3 ObjectCreated under `uploads/` → the job queue.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    handlers::lambda::s3_event::serve().await
}
