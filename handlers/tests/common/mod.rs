//! Test harness shared by the test files: moto's server (a real AWS emulator over HTTP) started
//! per test on a free loopback port and stopped by its pid when the test ends ([`Moto`]); a
//! deployment on it the way infra builds one ([`stack::Stack`]); the Lambda events AWS sends
//! ([`events`]); and a local HTTP server for fakes ([`serve_on_loopback`]).
#![allow(dead_code)]

pub mod events;
pub mod stack;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;
use handlers::config::Settings;
use handlers::wiring::Clients;

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "AKIDTESTING";
pub const SECRET_KEY: &str = "test-secret-key";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where moto_server is: `$PETAVATAR_MOTO_SERVER`, the venv handlers/scripts/test-adapters.sh
/// creates (`target/moto-venv`), or `moto_server` on the PATH.
pub fn moto_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("PETAVATAR_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = workspace_root().join("target/moto-venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|candidate| candidate.exists())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "moto_server not found. Install it with `bash handlers/scripts/test-adapters.sh` \
             (creates target/moto-venv: python3 -m venv target/moto-venv && \
             target/moto-venv/bin/pip install 'moto[server]'), or set PETAVATAR_MOTO_SERVER"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running moto server; killed (by pid) when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new(moto_server_path())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        moto.wait_ready();
        moto
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = self.url.trim_start_matches("http://").to_owned();
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&address).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto_server did not listen on {address} within 30 s");
    }

    /// POST /moto-api/config (e.g. Step Functions execution settings).
    pub async fn configure(&self, config: serde_json::Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/moto-api/config", self.url))
            .json(&config)
            .send()
            .await
            .expect("moto config request");
        assert!(
            response.status().is_success(),
            "moto config: {}",
            response.status()
        );
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "tests",
            ))
            .endpoint_url(&self.url)
            .load()
            .await
    }

    /// The settings a Lambda would read, pointed at this server.
    pub fn settings(&self, vars: &[(&str, &str)]) -> Settings {
        let url = self.url.clone();
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Settings::from_lookup(move |name| {
            if name == "AWS_ENDPOINT_URL" {
                return Some(url.clone());
            }
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .expect("settings")
    }

    pub async fn clients(&self, settings: &Settings) -> Clients {
        Clients::new(&self.sdk_config().await, settings)
    }

    /// The environment a Lambda binary needs to talk to this server.
    pub fn lambda_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.url.clone()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates the jobs table the way infra does (partition key `job_id`, TTL on `ttl`).
pub async fn create_jobs_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    };
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("job_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("job_id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create table");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable TTL");
}

pub async fn create_bucket(client: &aws_sdk_s3::Client, name: &str) {
    client
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("create bucket");
}

pub async fn create_queue(client: &aws_sdk_sqs::Client, name: &str) -> String {
    create_queue_with(client, name, HashMap::new()).await
}

/// A queue with these attributes (`RedrivePolicy`, `VisibilityTimeout`, …).
pub async fn create_queue_with(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: HashMap<QueueAttributeName, String>,
) -> String {
    client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

/// The ARN of the queue at `url`.
pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> String {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("queue ARN")
}

/// Messages waiting in the queue at `url` (visible or not).
pub async fn queue_depth(client: &aws_sdk_sqs::Client, url: &str) -> usize {
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let count = |name: &QueueAttributeName| -> usize {
        attributes
            .attributes()
            .and_then(|a| a.get(name))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    count(&QueueAttributeName::ApproximateNumberOfMessages)
        + count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
}

/// A state machine with one Pass state (the worker only starts executions).
pub async fn create_state_machine(client: &aws_sdk_sfn::Client, name: &str) -> String {
    client
        .create_state_machine()
        .name(name)
        .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#)
        .role_arn("arn:aws:iam::123456789012:role/pipeline")
        .send()
        .await
        .expect("create state machine")
        .state_machine_arn
}

/// Serves `app` on a free loopback port for the rest of the test; returns its base URL.
pub async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}
