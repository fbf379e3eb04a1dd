//! PetAvatar on AWS: the Lambda entry points (one binary per stage and per handler, in
//! `src/bin`) and the AWS adapters behind `steps::ports` — S3 ([`s3`], with the presigned POST
//! signer in [`post_policy`]), DynamoDB ([`dynamodb`]), SQS ([`sqs`]), Step Functions ([`sfn`])
//! and Bedrock ([`bedrock`]). The AWS SDK crates are used here and nowhere else in the
//! workspace.
//!
//! Configuration comes from the environment ([`config`]); clients are built once per cold start
//! ([`wiring`]); logs are JSON and metrics are CloudWatch EMF lines (the `telemetry` crate).

pub mod aws_error;
pub mod bedrock;
pub mod config;
pub mod dynamodb;
pub mod lambda;
pub mod post_policy;
pub mod runtime_api;
pub mod s3;
pub mod sfn;
pub mod sqs;
#[cfg(feature = "vision-gate")]
pub mod vision_gate;
pub mod wiring;
