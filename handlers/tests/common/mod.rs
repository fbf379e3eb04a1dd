//! Test harness: moto's server (a real AWS emulator over HTTP) started per test on a free
//! loopback port and stopped by its pid when the test ends.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
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
    client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
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
