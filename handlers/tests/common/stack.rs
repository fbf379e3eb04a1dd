//! A deployment on moto the way infra builds it: the two buckets, the jobs table, the job queue
//! with its dead-letter queue, and a state machine (one Pass state: the tests here start
//! executions, they do not run the pipeline).

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use bytes::Bytes;
use chrono::Utc;
use handlers::dynamodb::DynamoJobStore;
use handlers::s3::S3ObjectStore;
use handlers::sfn::StepFunctions;
use handlers::wiring::Clients;
use serde_json::json;
use steps::Job;
use steps::lifecycle::JobStarter;
use steps::ports::{JobStore, ObjectStore};
use uuid::Uuid;

use super::events::sqs_record_of;
use super::{
    Moto, create_bucket, create_jobs_table, create_queue_with, create_state_machine, queue_arn,
};

/// infra's `MAX_RECEIVE_COUNT`: the job queue's redrive policy.
pub const MAX_RECEIVE_COUNT: u32 = 3;
pub const UPLOADS: &str = "uploads";
pub const GENERATED: &str = "generated";
pub const JOBS_TABLE: &str = "jobs";

/// A job of the owner `key-owner` with its upload key, not stored.
pub fn new_job() -> Job {
    let id = Uuid::new_v4();
    Job::new(
        id,
        "key-owner",
        format!("uploads/{id}/original.png"),
        Utc::now(),
    )
}

pub struct Stack {
    pub moto: Moto,
    pub clients: Clients,
    pub jobs: DynamoJobStore,
    pub uploads: S3ObjectStore,
    pub sqs: aws_sdk_sqs::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub queue_url: String,
    pub dlq_url: String,
    pub state_machine_arn: String,
    pub starter: StepFunctions,
}

impl Stack {
    pub async fn new() -> Stack {
        let moto = Moto::start();
        moto.configure(json!({"stepfunctions": {"execute_state_machine": false}}))
            .await;
        let clients = moto.clients(&moto.settings(&[])).await;
        create_bucket(&clients.s3, UPLOADS).await;
        create_bucket(&clients.s3, GENERATED).await;
        create_jobs_table(&clients.dynamodb, JOBS_TABLE).await;
        let sqs = clients.sqs();
        let (queue_url, dlq_url) = create_job_queues(&sqs).await;
        let sfn = clients.sfn();
        let state_machine_arn = create_state_machine(&sfn, "Pipeline").await;
        Stack {
            jobs: DynamoJobStore::new(clients.dynamodb.clone(), JOBS_TABLE),
            uploads: S3ObjectStore::new(clients.s3.clone(), UPLOADS),
            starter: StepFunctions::new(sfn.clone(), &state_machine_arn),
            moto,
            clients,
            sqs,
            sfn,
            queue_url,
            dlq_url,
            state_machine_arn,
        }
    }

    /// The environment infra gives every function, pointed at moto.
    pub fn env(&self, backend: &str) -> Vec<(String, String)> {
        let mut env = self.moto.lambda_env();
        env.extend(
            [
                ("JOBS_TABLE", JOBS_TABLE),
                ("UPLOADS_BUCKET", UPLOADS),
                ("GENERATED_BUCKET", GENERATED),
                ("JOBS_QUEUE_URL", self.queue_url.as_str()),
                ("STATE_MACHINE_ARN", self.state_machine_arn.as_str()),
                ("PETAVATAR_MODEL_BACKEND", backend),
                // As infra sets it: lambda_http leaves the stage out of API paths.
                (handlers::config::IGNORE_STAGE_IN_PATH, "true"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        env
    }

    /// A stored job, nothing uploaded yet.
    pub async fn create_job(&self) -> Job {
        let job = new_job();
        self.jobs.create(job.clone()).await.expect("create job");
        job
    }

    /// A stored job with `photo` uploaded at its key.
    pub async fn job_with_upload(&self, photo: &[u8]) -> Job {
        let job = self.create_job().await;
        self.uploads
            .put(&job.upload_key, Bytes::copy_from_slice(photo), "image/png")
            .await
            .expect("upload");
        job
    }

    /// The sqs-worker as its Lambda is configured.
    pub fn worker(&self) -> JobStarter<'_> {
        JobStarter {
            jobs: &self.jobs,
            starter: &self.starter,
            uploads_bucket: UPLOADS,
            max_receive_count: MAX_RECEIVE_COUNT,
        }
    }

    /// The executions of the state machine.
    pub async fn execution_count(&self) -> usize {
        self.sfn
            .list_executions()
            .state_machine_arn(&self.state_machine_arn)
            .send()
            .await
            .expect("list executions")
            .executions()
            .len()
    }

    /// One poll of the Lambda event source mapping: receive a batch from the job queue (with
    /// its system attributes), hand it to `worker`, delete the messages it did not report as
    /// failures. `None` when the queue gave nothing (a message past its last receive moves to
    /// the dead-letter queue during the receive).
    pub async fn deliver(&self, worker: &JobStarter<'_>) -> Option<SqsBatchResponse> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let messages = received.messages();
        if messages.is_empty() {
            return None;
        }
        let records: Vec<_> = messages.iter().map(sqs_record_of).collect();
        let event: SqsEvent =
            serde_json::from_value(json!({ "Records": records })).expect("an SQS event");
        let response = handlers::lambda::worker::handle(worker, event).await;
        for message in messages {
            let failed = response
                .batch_item_failures
                .iter()
                .any(|f| Some(f.item_identifier.as_str()) == message.message_id());
            if !failed {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
        Some(response)
    }
}

/// The job queue and its dead-letter queue. Visibility timeout 0: a message reported as failed
/// comes back at the next receive (on AWS, after the timeout).
async fn create_job_queues(sqs: &aws_sdk_sqs::Client) -> (String, String) {
    let dlq_url = create_queue_with(sqs, "jobs-dlq", HashMap::new()).await;
    let redrive = json!({
        "deadLetterTargetArn": queue_arn(sqs, &dlq_url).await,
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    });
    let attributes = HashMap::from([
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        (QueueAttributeName::VisibilityTimeout, "0".to_owned()),
    ]);
    let queue_url = create_queue_with(sqs, "jobs", attributes).await;
    (queue_url, dlq_url)
}
