//! The SQS worker: each job message starts the pipeline, `StartExecution(name = job_id)` with the
//! deterministic input `{job_id, bucket, key, species_hint}`. `ExecutionAlreadyExists` counts as
//! success (a redelivery, or the S3 event and `POST /process` both queued the job). Failures are
//! reported per message (`batchItemFailures`), so one bad message does not send its batch-mates
//! back: temporary ones (throttling, 5xx) come back after the visibility timeout; permanent ones
//! come back too. A message that fails on its last receive (`ApproximateReceiveCount` has
//! reached the queue's `maxReceiveCount`) goes on to the dead-letter queue, where an operator
//! sees it; its job is failed first (`PetAvatar.NotStarted`, as `petavatar`'s worker does), so
//! that it does not stay `queued` for ever. What a delivery does to its job is
//! `steps::lifecycle::JobStarter`, shared with `petavatar`'s worker; this is the SQS adapter.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use steps::lifecycle::{JobStarter, StartJobError, StartOutcome};
use steps::ports::JobMessage;
use tracing::Instrument;

use crate::sfn::StepFunctions;
use crate::wiring;

/// How many times SQS has delivered `message` (the event source passes the
/// `ApproximateReceiveCount` attribute), if it says.
pub fn receive_count(message: &SqsMessage) -> Option<u32> {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
}

/// Handles a batch; the response names the messages to redeliver.
pub async fn handle(starter: &JobStarter<'_>, event: SqsEvent) -> SqsBatchResponse {
    let results =
        futures::future::join_all(event.records.iter().map(|m| handle_message(starter, m))).await;
    let mut response = SqsBatchResponse::default();
    for (message, result) in event.records.iter().zip(results) {
        if let Err(error) = result {
            // A message without an id cannot be named; failing the whole batch is the only
            // way to get it back, and Lambda does that when the id is empty.
            response.add_failure(message.message_id.clone().unwrap_or_default());
            tracing::debug!(error = %error, "message left for redelivery");
        }
    }
    response
}

async fn handle_message(
    starter: &JobStarter<'_>,
    message: &SqsMessage,
) -> Result<StartOutcome, StartJobError> {
    let body = message.body.as_deref().unwrap_or_default();
    let parsed: JobMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(message_id = ?message.message_id, error = %e, "malformed job message");
            return Err(StartJobError::Permanent(format!(
                "malformed job message: {e}"
            )));
        }
    };
    let receive_count = receive_count(message);
    let span = tracing::info_span!("job_message", job_id = %parsed.job_id, message_id = ?message.message_id, receive_count);
    starter
        .deliver(parsed.job_id, receive_count)
        .instrument(span)
        .await
}

/// The main of the sqs-worker binary.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let (settings, clients) = wiring::cold_start().await?;
    let jobs = wiring::job_store(&clients, &settings)?;
    let sfn = StepFunctions::new(clients.sfn(), settings.state_machine_arn()?);
    let starter = JobStarter {
        jobs: jobs.as_ref(),
        starter: &sfn,
        uploads_bucket: settings.uploads_bucket()?,
        max_receive_count: settings.jobs_max_receive_count,
    };
    let starter = &starter;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Diagnostic>(handle(starter, event.payload).await)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(attributes: serde_json::Value) -> SqsMessage {
        serde_json::from_value(serde_json::json!({
            "messageId": "m1", "body": "{}", "attributes": attributes, "messageAttributes": {}
        }))
        .unwrap()
    }

    #[test]
    fn the_receive_count_comes_from_the_message_attributes() {
        assert_eq!(
            receive_count(&message(
                serde_json::json!({"ApproximateReceiveCount": "3"})
            )),
            Some(3)
        );
        assert_eq!(receive_count(&message(serde_json::json!({}))), None);
        assert_eq!(
            receive_count(&message(
                serde_json::json!({"ApproximateReceiveCount": "x"})
            )),
            None
        );
    }
}
