//! The events AWS hands the Lambdas, as JSON (what the Runtime API delivers to a binary) and as
//! the `aws_lambda_events` types (what the handlers take in process).

use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::{Value, json};
use steps::Job;

/// One SQS record as the event source mapping delivers it; `receive_count` is its
/// `ApproximateReceiveCount` attribute (none: the attribute is absent).
pub fn sqs_record(message_id: &str, body: &str, receive_count: Option<u32>) -> Value {
    let mut attributes = serde_json::Map::new();
    if let Some(count) = receive_count {
        attributes.insert("ApproximateReceiveCount".into(), json!(count.to_string()));
    }
    json!({
        "messageId": message_id, "receiptHandle": format!("receipt-{message_id}"), "body": body,
        "attributes": attributes, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs",
        "awsRegion": "us-east-1"
    })
}

/// A batch of first deliveries: `(message_id, body)`.
pub fn sqs_event_json(messages: &[(&str, &str)]) -> Value {
    json!({"Records": messages.iter().map(|(id, body)| sqs_record(id, body, Some(1))).collect::<Vec<_>>()})
}

pub fn sqs_event(messages: &[(&str, &str)]) -> SqsEvent {
    serde_json::from_value(sqs_event_json(messages)).expect("an SQS event")
}

/// The body of the job's queue message, as `api::submit_upload` sends it.
pub fn job_message_body(job: &Job) -> String {
    serde_json::to_string(&steps::ports::JobMessage {
        job_id: job.job_id,
        s3_upload_key: job.upload_key.clone(),
        timestamp: chrono::Utc::now(),
    })
    .expect("a job message")
}

/// S3's ObjectCreated notification for `key` in `bucket`.
pub fn s3_event_json(bucket: &str, key: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-28T10:00:00.000Z", "eventName": "ObjectCreated:Post",
        "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "uploads",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "X"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": 1024, "eTag": "e", "sequencer": "1"}}
    }]})
}

pub fn s3_event(bucket: &str, key: &str) -> S3Event {
    serde_json::from_value(s3_event_json(bucket, key)).expect("an S3 event")
}

/// The `detail` of Step Functions' "Execution Status Change" for the job's execution.
pub fn status_change_detail(state_machine_arn: &str, job: &Job, status: &str) -> Value {
    let name = job.job_id.to_string();
    let execution_arn = steps::lifecycle::execution_arn(state_machine_arn, &name);
    json!({
        "executionArn": execution_arn, "stateMachineArn": state_machine_arn,
        "name": name, "status": status, "startDate": 1, "stopDate": 2,
        "input": json!({"job_id": job.job_id, "bucket": "uploads", "key": job.upload_key, "species_hint": null}).to_string(),
        "output": null, "error": null, "cause": null
    })
}

/// The EventBridge event around [`status_change_detail`].
pub fn status_change_event_json(state_machine_arn: &str, job: &Job, status: &str) -> Value {
    let detail = status_change_detail(state_machine_arn, job, status);
    json!({
        "version": "0", "id": "e1", "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states", "account": "123456789012", "time": "2026-11-28T10:05:00Z",
        "region": "us-east-1", "resources": [detail["executionArn"]], "detail": detail
    })
}

pub fn status_change(
    state_machine_arn: &str,
    job: &Job,
    status: &str,
) -> handlers::lambda::reconciler::ExecutionStatusChange {
    serde_json::from_value(status_change_detail(state_machine_arn, job, status))
        .expect("a status change")
}

/// The record the event source mapping makes of a message it received from SQS (with the
/// system attributes, `ApproximateReceiveCount` among them).
pub fn sqs_record_of(message: &aws_sdk_sqs::types::Message) -> Value {
    let attributes: serde_json::Map<String, Value> = message
        .attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| (name.as_str().to_owned(), json!(value)))
        .collect();
    json!({
        "messageId": message.message_id(), "receiptHandle": message.receipt_handle(),
        "body": message.body(), "attributes": attributes, "messageAttributes": {},
        "md5OfBody": message.md5_of_body().unwrap_or_default(), "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs", "awsRegion": "us-east-1"
    })
}
