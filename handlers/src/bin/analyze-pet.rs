//! Lambda: the AnalyzePet stage of the pipeline (a Task in statemachine/pipeline.asl.json).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    handlers::lambda::stage::serve_analyze_pet().await
}
