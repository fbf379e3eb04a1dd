//! Cold-start benchmark: each Lambda binary built by cargo-lambda (`target/lambda/<bin>/bootstrap`)
//! from process spawn to its first invocation answered through the Runtime API emulator, side by
//! side with a Python 3 + boto3 handler doing the same AWS work (handlers/bench/python_handler.py)
//! under the same emulator, against the same moto server.
//!
//! ```text
//! bash handlers/scripts/test-adapters.sh --no-run     # moto venv (boto3 comes with it)
//! cargo lambda build --release -p handlers            # the bootstraps
//! cargo run -p handlers --example cold-start -- 7     # 7 cold starts per function
//! ```
//! Environment: `PETAVATAR_LAMBDA_DIR` (default target/lambda), `PETAVATAR_MOTO_VENV` (default
//! target/moto-venv). Stages run the offline model backend (no Bedrock here), so the model
//! stages' figures include that backend's work.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use bytes::Bytes;
use chrono::Utc;
use handlers::dynamodb::DynamoJobStore;
use handlers::runtime_api::{Outcome, RuntimeApiEmulator};
use handlers::s3::S3ObjectStore;
use serde_json::{Value, json};
use steps::Job;
use steps::ports::{JobStore, ObjectStore};
use uuid::Uuid;

type Res<T> = Result<T, Box<dyn Error>>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto(venv: &Path) -> Res<Moto> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(venv.join("bin/moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!(
                "moto_server ({}): {e}; run handlers/scripts/test-adapters.sh first",
                venv.display()
            )
        })?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("moto_server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

/// What is spawned: a release bootstrap, or python running the boto3 handler.
struct Program {
    label: String,
    command: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

struct Measurement {
    total: Duration,
    init: Option<Duration>,
}

async fn cold_start(program: &Program, event: Value) -> Res<(Measurement, Outcome)> {
    let emulator = RuntimeApiEmulator::start(&program.label).await?;
    let started = Instant::now();
    let mut child = Command::new(&program.command)
        .args(&program.args)
        .env_clear()
        .envs(emulator.lambda_environment(&program.label))
        .envs(program.env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let outcome = emulator.invoke(event, Duration::from_secs(60)).await;
    let total = started.elapsed();
    let init = emulator.first_poll().map(|t| t.duration_since(started));
    let _ = child.kill();
    let _ = child.wait();
    let outcome = outcome?;
    if let Outcome::InitError { .. } = outcome {
        return Err(format!("{}: init error {outcome:?}", program.label).into());
    }
    Ok((Measurement { total, init }, outcome))
}

fn response(outcome: Outcome, what: &str) -> Res<Value> {
    match outcome {
        Outcome::Response(v) => Ok(v),
        other => Err(format!("{what}: expected a response, got {other:?}").into()),
    }
}

struct Stack {
    jobs: DynamoJobStore,
    uploads: S3ObjectStore,
    env: Vec<(String, String)>,
    photo: Vec<u8>,
}

impl Stack {
    async fn new(moto: &Moto) -> Res<Stack> {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "AKIDBENCH",
                "bench-secret",
                None,
                None,
                "bench",
            ))
            .endpoint_url(&moto.url)
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        for bucket in ["uploads", "generated"] {
            s3.create_bucket().bucket(bucket).send().await?;
        }
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        use aws_sdk_dynamodb::types::*;
        dynamodb
            .create_table()
            .table_name("jobs")
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("job_id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("job_id")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await?;
        let queue_url = aws_sdk_sqs::Client::new(&sdk)
            .create_queue()
            .queue_name("jobs")
            .send()
            .await?
            .queue_url
            .unwrap_or_default();
        let state_machine_arn = aws_sdk_sfn::Client::new(&sdk)
            .create_state_machine()
            .name("Pipeline")
            .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Pass","End":true}}}"#)
            .role_arn("arn:aws:iam::123456789012:role/pipeline")
            .send()
            .await?
            .state_machine_arn;
        let env = [
            ("AWS_ENDPOINT_URL", moto.url.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDBENCH"),
            ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
            ("JOBS_TABLE", "jobs"),
            ("UPLOADS_BUCKET", "uploads"),
            ("GENERATED_BUCKET", "generated"),
            ("JOBS_QUEUE_URL", queue_url.as_str()),
            ("STATE_MACHINE_ARN", state_machine_arn.as_str()),
            ("PETAVATAR_MODEL_BACKEND", "offline"),
            // As infra sets it (read by lambda_http in the API functions).
            (handlers::config::IGNORE_STAGE_IN_PATH, "true"),
            ("RUST_LOG", "info"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        Ok(Stack {
            jobs: DynamoJobStore::new(dynamodb, "jobs"),
            uploads: S3ObjectStore::new(s3, "uploads"),
            env,
            photo: std::fs::read(root().join("fixtures/chelsea.png"))?,
        })
    }

    async fn new_job(&self) -> Res<Job> {
        let id = Uuid::new_v4();
        let job = Job::new(
            id,
            "key-bench",
            format!("uploads/{id}/original.png"),
            Utc::now(),
        );
        self.jobs.create(job.clone()).await?;
        self.uploads
            .put(
                &job.upload_key,
                Bytes::from(self.photo.clone()),
                "image/png",
            )
            .await?;
        Ok(job)
    }
}

fn gateway(method: &str, resource: &str, path: &str, query: Value, body: Option<Value>) -> Value {
    json!({
        "resource": resource, "path": path, "httpMethod": method,
        "headers": {"Host": "api.example.com", "content-type": "application/json"}, "multiValueHeaders": {},
        "queryStringParameters": query, "multiValueQueryStringParameters": null, "pathParameters": null, "stageVariables": null,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": format!("/prod{path}"), "accountId": "123456789012",
            "stage": "prod", "requestId": "r", "apiId": "a", "protocol": "HTTP/1.1", "identity": {"apiKeyId": "key-bench"}},
        "body": body.map(|b| b.to_string()), "isBase64Encoded": false
    })
}

fn sqs_batch(job: &Job) -> Value {
    let body =
        json!({"job_id": job.job_id, "s3_upload_key": job.upload_key, "timestamp": Utc::now()})
            .to_string();
    json!({"Records": [{"messageId": "m1", "receiptHandle": "r", "body": body, "attributes": {}, "messageAttributes": {},
        "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs", "awsRegion": "us-east-1"}]})
}

fn s3_event(job: &Job) -> Value {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-28T10:00:00.000Z", "eventName": "ObjectCreated:Post", "userIdentity": {"principalId": "X"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c", "bucket": {"name": "uploads", "ownerIdentity": {"principalId": "X"}, "arn": "arn:aws:s3:::uploads"},
               "object": {"key": job.upload_key, "size": 1, "eTag": "e", "sequencer": "1"}}}]})
}

fn status_change(job: &Job) -> Value {
    json!({"version": "0", "id": "e", "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "account": "123456789012", "time": "2026-11-28T10:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"executionArn": format!("arn:aws:states:us-east-1:123456789012:execution:Pipeline:{}", job.job_id),
            "name": job.job_id.to_string(), "status": "TIMED_OUT",
            "input": json!({"job_id": job.job_id, "bucket": "uploads", "key": job.upload_key, "species_hint": null}).to_string()}})
}

fn failure(job: &Job) -> Value {
    json!({"job_id": job.job_id, "error": {"Error": "PetAvatar.InvalidImage",
        "Cause": "{\"errorType\":\"PetAvatar.InvalidImage\",\"errorMessage\":\"invalid image\"}"}})
}

#[derive(Default)]
struct Results {
    rust: BTreeMap<String, Vec<Measurement>>,
    python: BTreeMap<String, Vec<Measurement>>,
}

struct Bench<'a> {
    stack: &'a Stack,
    lambda_dir: PathBuf,
    python: PathBuf,
    results: Results,
}

impl Bench<'_> {
    fn rust(&self, bin: &str) -> Res<Program> {
        let bootstrap = self.lambda_dir.join(bin).join("bootstrap");
        if !bootstrap.exists() {
            return Err(format!(
                "{} missing: build with `cargo lambda build --release -p handlers`",
                bootstrap.display()
            )
            .into());
        }
        Ok(Program {
            label: bin.to_owned(),
            command: bootstrap,
            args: vec![],
            env: self.stack.env.clone(),
        })
    }

    fn python(&self, handler: &str) -> Program {
        let mut env = self.stack.env.clone();
        env.push(("PETAVATAR_HANDLER".into(), handler.into()));
        env.push(("AWS_DEFAULT_REGION".into(), "us-east-1".into()));
        Program {
            label: format!("python-{handler}"),
            command: self.python.clone(),
            args: vec![
                root()
                    .join("handlers/bench/python_handler.py")
                    .display()
                    .to_string(),
            ],
            env,
        }
    }

    async fn run_rust(&mut self, bin: &str, event: Value) -> Res<Value> {
        let (m, outcome) = cold_start(&self.rust(bin)?, event).await?;
        self.results.rust.entry(bin.to_owned()).or_default().push(m);
        response(outcome, bin)
    }

    async fn run_python(&mut self, handler: &str, event: Value) -> Res<Value> {
        let (m, outcome) = cold_start(&self.python(handler), event).await?;
        self.results
            .python
            .entry(handler.to_owned())
            .or_default()
            .push(m);
        response(outcome, handler)
    }

    async fn round(&mut self) -> Res<()> {
        // The pipeline, one fresh process per stage.
        let job = self.stack.new_job().await?;
        let mut state = json!({"job_id": job.job_id, "bucket": "uploads", "key": job.upload_key, "species_hint": null});
        state["image"] = self.run_rust("validate-image", state.clone()).await?;
        state["analysis"] = self.run_rust("analyze-pet", state.clone()).await?;
        state["career"] = self.run_rust("map-career", state.clone()).await?;
        let avatar = self.run_rust("generate-avatar", state.clone()).await?;
        let identity = self.run_rust("write-identity", state.clone()).await?;
        state["generated"] = json!([avatar, identity]);
        self.run_rust("record-result", state).await?;

        let job = self.stack.new_job().await?;
        self.run_rust("record-failure", failure(&job)).await?;
        let job = self.stack.new_job().await?;
        self.run_python("record-failure", failure(&job)).await?;

        // The API.
        let created = self
            .run_rust(
                "api-presigned-url",
                gateway(
                    "GET",
                    "/presigned-url",
                    "/presigned-url",
                    json!({"content_type": "image/png"}),
                    None,
                ),
            )
            .await?;
        let body: Value = serde_json::from_str(created["body"].as_str().unwrap_or("{}"))?;
        let job_id = body["job_id"].as_str().unwrap_or_default().to_owned();
        let status = gateway(
            "GET",
            "/status/{job_id}",
            &format!("/status/{job_id}"),
            Value::Null,
            None,
        );
        self.run_rust("api-status", status.clone()).await?;
        self.run_python("api-status", status).await?;
        self.stack
            .uploads
            .put(
                &format!("uploads/{job_id}/original.png"),
                Bytes::from(self.stack.photo.clone()),
                "image/png",
            )
            .await?;
        let s3_uri = body["s3_uri"].clone();
        self.run_rust(
            "api-process",
            gateway(
                "POST",
                "/process",
                "/process",
                Value::Null,
                Some(json!({"s3_uri": s3_uri})),
            ),
        )
        .await?;
        self.run_rust(
            "api-results",
            gateway(
                "GET",
                "/results/{job_id}",
                &format!("/results/{job_id}"),
                Value::Null,
                None,
            ),
        )
        .await?;
        self.run_rust(
            "api-openapi",
            gateway("GET", "/openapi.json", "/openapi.json", Value::Null, None),
        )
        .await?;

        // The event handlers, each on a fresh job.
        for (bin, event) in [
            ("s3-event", s3_event as fn(&Job) -> Value),
            ("sqs-worker", sqs_batch),
            ("execution-reconciler", status_change),
        ] {
            let job = self.stack.new_job().await?;
            self.run_rust(bin, event(&job)).await?;
            let job = self.stack.new_job().await?;
            self.run_python(bin, event(&job)).await?;
        }
        Ok(())
    }
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn print(results: &Results, runs: usize) {
    println!(
        "\nCold start: process spawn -> first invocation answered (median of {runs}), milliseconds"
    );
    println!(
        "{:<22} {:>9} {:>9} | {:>10} {:>10} | {:>6}",
        "function", "rust", "rust init", "python", "py init", "ratio"
    );
    let mut ratios = Vec::new();
    for (bin, rust) in &results.rust {
        let total = median(&rust.iter().map(|m| m.total).collect::<Vec<_>>());
        let init = median(&rust.iter().filter_map(|m| m.init).collect::<Vec<_>>());
        let (py, py_init, ratio) = match results.python.get(bin) {
            Some(python) => {
                let p = median(&python.iter().map(|m| m.total).collect::<Vec<_>>());
                let pi = median(&python.iter().filter_map(|m| m.init).collect::<Vec<_>>());
                let r = p.as_secs_f64() / total.as_secs_f64();
                ratios.push(r);
                (ms(p), ms(pi), format!("{r:.1}x"))
            }
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{bin:<22} {:>9} {:>9} | {py:>10} {py_init:>10} | {ratio:>6}",
            ms(total),
            ms(init)
        );
    }
    if !ratios.is_empty() {
        let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        let min = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
        println!("\nPython/Rust ratio: geometric mean {geo:.1}x, lowest {min:.1}x (target >= 10x)");
    }
}

#[tokio::main]
async fn main() -> Res<()> {
    let runs: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(5);
    let venv = std::env::var_os("PETAVATAR_MOTO_VENV")
        .map_or_else(|| root().join("target/moto-venv"), PathBuf::from);
    let lambda_dir = std::env::var_os("PETAVATAR_LAMBDA_DIR")
        .map_or_else(|| root().join("target/lambda"), PathBuf::from);
    let moto = start_moto(&venv)?;
    let stack = Stack::new(&moto).await?;
    let mut bench = Bench {
        stack: &stack,
        lambda_dir,
        python: venv.join("bin/python"),
        results: Results::default(),
    };
    // One warm-up round: the page cache holds the binaries and Python's modules, as on a Lambda
    // host that has run the function before (a cold start still spawns a new process).
    bench.round().await?;
    bench.results = Results::default();
    for run in 1..=runs {
        eprint!("\rround {run}/{runs}");
        bench.round().await?;
    }
    eprintln!();
    print(&bench.results, runs);
    Ok(())
}
