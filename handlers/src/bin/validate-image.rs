//! Lambda: the ValidateImage stage of the pipeline (a Task in statemachine/pipeline.asl.json).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    handlers::lambda::stage::serve(steps::StageName::ValidateImage).await
}
