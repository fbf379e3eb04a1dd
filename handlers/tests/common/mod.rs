//! Test harness shared by the test files: moto's server (a real AWS emulator over HTTP) started
//! per test on a port it binds itself, ready once it answers HTTP, and stopped by its pid when
//! the test ends ([`Moto`]); a
//! deployment on it the way infra builds one ([`stack::Stack`]); the Lambda events AWS sends
//! ([`events`]); S3's answer to a presigned POST ([`s3_post`]); and a local HTTP server for
//! fakes ([`serve_on_loopback`]).
#![allow(dead_code)]

pub mod events;
pub mod s3_post;
pub mod stack;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
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

/// How long a helper may take to start on a busy machine (six engineers, two cores).
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running moto server; killed (by pid) when dropped, also when a test panics.
pub struct Moto {
    child: Child,
    pub url: String,
    /// moto's first lines on stderr, for the message when it does not come up.
    startup: Arc<Mutex<Vec<String>>>,
}

impl Moto {
    /// Starts `moto_server -p 0` (the kernel picks the port as moto binds: no other process
    /// can take it in between), reads the port from the line it prints once bound, and
    /// returns once moto answers an HTTP request (a TCP connect succeeds earlier than that).
    pub fn start() -> Moto {
        let mut last_failure = String::new();
        // A start that fails (moto exiting at once) is retried a few times: the machine is
        // shared, and a transient failure is not what the test is about.
        for _ in 0..3 {
            match Moto::try_start() {
                Ok(moto) => return moto,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("moto_server did not start: {last_failure}");
    }

    fn try_start() -> Result<Moto, String> {
        let mut child = Command::new(moto_server_path())
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto_server starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut moto = Moto {
            child,
            url: String::new(),
            startup: Arc::new(Mutex::new(Vec::new())),
        };
        let port = moto.drain_stderr_until_port(stderr);
        let Some(port) = port else {
            return Err(format!(
                "no port within {START_TIMEOUT:?} (exit: {:?}); stderr: {}",
                moto.child.try_wait(),
                moto.startup_lines()
            ));
        };
        moto.url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + START_TIMEOUT;
        let mut backoff = Duration::from_millis(20);
        loop {
            // GET /moto-api/config answers 201 with the current settings; it changes nothing.
            match http_status(&format!("127.0.0.1:{port}"), "GET", "/moto-api/config") {
                Ok(status) if (200..300).contains(&status) => return Ok(moto),
                Ok(status) => return Err(format!("GET /moto-api/config answered {status}")),
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!(
                        "no HTTP answer on port {port} within {START_TIMEOUT:?}: {e}; stderr: {}",
                        moto.startup_lines()
                    ));
                }
                Err(_) => {
                    if let Ok(Some(exit)) = moto.child.try_wait() {
                        return Err(format!("exited ({exit}); stderr: {}", moto.startup_lines()));
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
            }
        }
    }

    /// Reads moto's stderr on a thread for the rest of its life (werkzeug logs every request
    /// there: a full pipe would block moto), until the `Running on http://127.0.0.1:PORT`
    /// line werkzeug prints after binding. None: moto exited or never printed it.
    fn drain_stderr_until_port(&self, stderr: std::process::ChildStderr) -> Option<u16> {
        let (tx, rx) = mpsc::channel();
        let startup = self.startup.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut kept = startup.lock().unwrap_or_else(|p| p.into_inner());
                if kept.len() < 40 {
                    kept.push(line.clone());
                }
                drop(kept);
                if let Some(port) = running_on_port(&line) {
                    let _ = tx.send(port);
                }
            }
        });
        rx.recv_timeout(START_TIMEOUT).ok()
    }

    fn startup_lines(&self) -> String {
        self.startup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join(" | ")
    }

    /// POST /moto-api/config (e.g. Step Functions execution settings). The request is
    /// idempotent, so a connection reset or refusal is retried (bounded).
    pub async fn configure(&self, config: serde_json::Value) {
        let client = reqwest::Client::new();
        let url = format!("{}/moto-api/config", self.url);
        let response = retry_connection_errors(|| client.post(&url).json(&config).send())
            .await
            .unwrap_or_else(|e| panic!("moto config request: {e:?}"));
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

/// Serves `app` on a loopback port for the rest of the test; returns its base URL once the
/// server answers HTTP. The listener is bound here and handed to the server, so no other
/// process can take the port.
pub async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    wait_until_answers(&url).await;
    url
}

/// Waits (bounded) until `base` answers an HTTP request, whatever its status: a route the
/// server does not have answers 404, which shows it serves.
pub async fn wait_until_answers(base: &str) {
    let client = reqwest::Client::new();
    let url = format!("{base}/.well-known/ready");
    retry_connection_errors(|| client.get(&url).send())
        .await
        .unwrap_or_else(|e| panic!("{base} does not answer HTTP: {e:?}"));
}

/// Runs `send` again while it fails to connect or the connection is reset, with a short
/// backoff, for at most [`START_TIMEOUT`]: a helper still warming up is not a failure.
pub async fn retry_connection_errors<F, Fut>(mut send: F) -> reqwest::Result<reqwest::Response>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let deadline = Instant::now() + START_TIMEOUT;
    let mut backoff = Duration::from_millis(20);
    loop {
        match send().await {
            Err(e) if is_warming_up(&e) && Instant::now() < deadline => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
            result => return result,
        }
    }
}

/// A refused connect, or a connection closed or reset before the answer.
fn is_warming_up(error: &reqwest::Error) -> bool {
    if error.is_connect() {
        return true;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        if cause
            .to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The port in werkzeug's ` * Running on http://127.0.0.1:PORT` line.
fn running_on_port(line: &str) -> Option<u16> {
    let rest = line.split_once("Running on http://127.0.0.1:")?.1;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// One plain HTTP/1.1 request over a fresh connection; the status code of the answer.
/// (Blocking on purpose: [`Moto::start`] is called from sync and async tests alike.)
pub fn http_status(address: &str, method: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    text.strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, text.into_owned()))
}
