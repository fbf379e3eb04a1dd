//! A real `petavatar serve` process on loopback, and a client for it.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

pub const CHELSEA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/chelsea.png");

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_petavatar")
}

/// The states a successful job's execution enters, each once (RecordFailure is not among them).
pub const PIPELINE_STATES: [&str; 6] = [
    "ValidateImage",
    "AnalyzePet",
    "MapCareer",
    "GenerateAvatar",
    "WriteIdentity",
    "RecordResult",
];

/// Runs `petavatar ARGS…` to completion: `petavatar(&[&"run", &photo, &"--out", &out])`.
pub fn petavatar(args: &[&dyn AsRef<OsStr>]) -> Output {
    Command::new(binary())
        .args(args.iter().map(|arg| arg.as_ref()))
        .output()
        .unwrap()
}

pub struct Server {
    pub child: Child,
    pub base: String,
    pub data: PathBuf,
    pub log: PathBuf,
    /// The key printed at first start (None after a restart).
    pub key: Option<String>,
}

impl Server {
    /// Starts `petavatar serve --port 0 --data DATA` and waits until it listens.
    pub fn start(data: &Path, stage_delay_ms: u64) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let log = data.with_extension(format!("{}.log", std::process::id()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Command::new(binary())
            .args(["serve", "--port", "0", "--data"])
            .arg(data)
            .env("PETAVATAR_STAGE_DELAY_MS", stage_delay_ms.to_string())
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut key = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not start; log in {}", log.display());
            };
            if let Some((_, k)) = line.split_once("(shown once, keep it): ") {
                key = Some(k.trim().to_owned());
            }
            if let Some(rest) = line.split_once("listening on ").map(|(_, r)| r) {
                let base = rest.split_whitespace().next().unwrap().to_owned();
                return Server {
                    child,
                    base,
                    data: data.to_owned(),
                    log,
                    key,
                };
            }
        }
    }

    pub fn key(&self) -> String {
        self.key.clone().expect("the first start prints a key")
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn logs(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Creates another API key in a data folder with `petavatar keys create`.
pub fn create_key(data: &Path) -> String {
    let out = petavatar(&[&"keys", &"create", &"--data", &data]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Client {
    pub fn new(server: &Server, key: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: server.base.clone(),
            key: key.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with the client's API key; the status and the JSON body (or null).
    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let res = request.header("x-api-key", &self.key).send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        self.send(request).await
    }

    /// GET without an API key (the pages and the operator routes take none).
    pub async fn get_unauthenticated(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// An HTML page of the server.
    pub async fn page(&self, path: &str) -> String {
        self.get_unauthenticated(path).await.text().await.unwrap()
    }

    /// `GET /api/executions/{job_id}`: `{execution, definition, events}`.
    pub async fn execution(&self, job_id: &str) -> Value {
        let res = self
            .get_unauthenticated(&format!("/api/executions/{job_id}"))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    pub async fn presign(&self, content_type: &str) -> Value {
        let (status, body) = self
            .get(&format!("/presigned-url?content_type={content_type}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Posts the presigned form with `fields` (possibly altered) and the file.
    pub async fn upload_with(
        &self,
        url: &str,
        fields: &serde_json::Map<String, Value>,
        file: Vec<u8>,
    ) -> reqwest::Response {
        let mut form = Form::new();
        for (k, v) in fields {
            form = form.text(k.clone(), v.as_str().unwrap().to_owned());
        }
        form = form.part("file", Part::bytes(file).file_name("photo.png"));
        self.http.post(url).multipart(form).send().await.unwrap()
    }

    pub async fn upload(&self, presigned: &Value, file: Vec<u8>) -> reqwest::Response {
        self.upload_with(
            presigned["upload_url"].as_str().unwrap(),
            presigned["upload_fields"].as_object().unwrap(),
            file,
        )
        .await
    }

    pub async fn process(&self, s3_uri: &str) -> (StatusCode, Value) {
        self.post_json("/process", &json!({ "s3_uri": s3_uri }).to_string())
            .await
    }

    /// Polls the status until `done` holds; returns every status seen.
    pub async fn poll_until(
        &self,
        job_id: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let (status, body) = self.get(&format!("/status/{job_id}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let finished = done(&body);
            seen.push(body);
            if finished {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out; statuses seen: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub fn is_terminal(status: &Value) -> bool {
    matches!(status["status"].as_str(), Some("completed" | "failed"))
}

pub fn chelsea() -> Vec<u8> {
    std::fs::read(CHELSEA).unwrap()
}

/// Width and height from a PNG's IHDR.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(&[0x89, b'P', b'N', b'G']), "not a PNG");
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    (w, h)
}

pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
}

/// The names of the states an execution entered, in order (`detail` from `Client::execution`).
pub fn entered_states(detail: &Value) -> Vec<String> {
    detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["stateEnteredEventDetails"]["name"].as_str())
        .map(str::to_owned)
        .collect()
}

/// Each of `states` was entered exactly once: nothing ran twice, not even across a restart.
pub fn assert_entered_once(detail: &Value, states: &[&str]) {
    let entered = entered_states(detail);
    for state in states {
        let times = entered.iter().filter(|s| s == state).count();
        assert_eq!(times, 1, "{state} in {entered:?}");
    }
}
