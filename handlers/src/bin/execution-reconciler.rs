//! Lambda: Step Functions status changes (TIMED_OUT / ABORTED / FAILED) → job `failed` unless
//! already terminal.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    handlers::lambda::reconciler::serve().await
}
