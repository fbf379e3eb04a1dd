//! A real `petavatar serve` process on loopback, and a client for it.

#![allow(dead_code)]

pub mod moto;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

pub const CHELSEA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/chelsea.png");

/// The `petavatar` binary cargo built for these tests, or `$PETAVATAR_BIN` (scripts/soak-flaky
/// runs a copy, so that another worktree building into the shared target dir cannot swap the
/// binary under a long soak; the browser test reads the same variable).
pub fn binary() -> String {
    std::env::var("PETAVATAR_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_petavatar").to_owned())
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

/// How long a helper may take to start, or a request to find it warming up, on a busy
/// machine (six engineers, two cores). Only a broken helper takes this long.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A `petavatar serve` process; killed (SIGKILL, by pid) when dropped, also when a test
/// panics, including while it starts.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub data: PathBuf,
    pub log: PathBuf,
    /// The key printed at first start (None after a restart).
    pub key: Option<String>,
    /// The operator key printed at first start (None after a restart).
    pub operator_key: Option<String>,
}

impl Server {
    /// Starts `petavatar serve --port 0 --data DATA`: the server binds a port the kernel
    /// picks (no other process can take it first) and prints it; returns once the server
    /// answers an HTTP request.
    pub fn start(data: &Path, stage_delay_ms: u64) -> Server {
        Self::start_with(data, stage_delay_ms, &[])
    }

    /// The same with more `serve` arguments (short timeouts, small caps). The data folder is
    /// left for the server to create (its parent is created here, for the log beside it).
    pub fn start_with(data: &Path, stage_delay_ms: u64, args: &[&str]) -> Server {
        std::fs::create_dir_all(data.parent().unwrap()).unwrap();
        let log = data.with_extension(format!("{}.log", std::process::id()));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let mut child = Command::new(binary())
            .args(["serve", "--port", "0", "--data"])
            .arg(data)
            .args(args)
            .env("PETAVATAR_STAGE_DELAY_MS", stage_delay_ms.to_string())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut server = Server {
            child,
            base: String::new(),
            data: data.to_owned(),
            log,
            key: None,
            operator_key: None,
        };
        let lines = drain_lines(stderr);
        server.read_address_and_key(&lines);
        server.wait_until_it_answers();
        server
    }

    /// Reads stderr until the "listening on URL" line, keeping the key printed before it.
    fn read_address_and_key(&mut self, lines: &mpsc::Receiver<String>) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            else {
                panic!(
                    "server printed no address within {START_TIMEOUT:?} (exit: {:?}); log in {}",
                    self.child.try_wait(),
                    self.log.display()
                );
            };
            if let Some((_, k)) = line.split_once("(shown once, keep it): ") {
                self.key = Some(k.trim().to_owned());
            }
            if line.starts_with("Created operator key ")
                && let Some((_, k)) = line.rsplit_once("): ")
            {
                self.operator_key = Some(k.trim().to_owned());
            }
            if let Some(rest) = line.split_once("listening on ").map(|(_, r)| r) {
                self.base = rest.split_whitespace().next().unwrap().to_owned();
                return;
            }
        }
    }

    /// Polls `GET /openapi.json` (no key needed) until it answers 200, with a short backoff.
    fn wait_until_it_answers(&mut self) {
        let address = self.base.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + START_TIMEOUT;
        let mut backoff = Duration::from_millis(20);
        loop {
            let answer = http_status(&address, "/openapi.json");
            if matches!(answer, Ok(200)) {
                return;
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!("server exited ({exit}); log in {}", self.log.display());
            }
            assert!(
                Instant::now() < deadline,
                "server on {address} did not answer within {START_TIMEOUT:?} (last: {answer:?}); log in {}",
                self.log.display()
            );
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    pub fn key(&self) -> String {
        self.key.clone().expect("the first start prints a key")
    }

    pub fn operator_key(&self) -> String {
        self.operator_key
            .clone()
            .expect("the first start prints an operator key")
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

/// Reads a child's pipe line by line on a thread for the rest of the child's life (a pipe
/// nobody reads would block the child once full); the lines go to the receiver while it lives.
fn drain_lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// One plain HTTP/1.1 GET over a fresh connection; the status code of the answer.
/// (Blocking on purpose: [`Server::start`] is called from sync and async tests alike.)
pub fn http_status(address: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    text.strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, text.into_owned()))
}

/// Sends `request`, again while the connection is refused (the request never left, so this
/// is safe for a POST too) or, for a request that may be repeated, reset; with a short
/// backoff, for at most [`START_TIMEOUT`]. A request whose body cannot be cloned (a
/// multipart stream) is sent once.
pub async fn send_retrying(
    request: reqwest::RequestBuilder,
    repeatable: bool,
) -> reqwest::Response {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut backoff = Duration::from_millis(20);
    loop {
        let Some(attempt) = request.try_clone() else {
            return request.send().await.unwrap();
        };
        match attempt.send().await {
            Ok(response) => return response,
            Err(e)
                if Instant::now() < deadline
                    && (e.is_connect() || (repeatable && was_reset(&e))) =>
            {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// The connection was reset or closed before the answer came.
fn was_reset(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
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
    /// The server's operator key, for the operator routes (empty after a restart).
    pub operator_key: String,
}

impl Client {
    pub fn new(server: &Server, key: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: server.base.clone(),
            key: key.to_owned(),
            operator_key: server.operator_key.clone().unwrap_or_default(),
        }
    }

    /// A request to an operator route with the operator key; the response as it came.
    pub async fn operator_get(&self, path: &str) -> reqwest::Response {
        send_retrying(
            self.http
                .get(self.url(path))
                .header("x-operator-key", &self.operator_key),
            true,
        )
        .await
    }

    /// POST of a JSON body to an operator route with the operator key.
    pub async fn operator_post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let res = send_retrying(
            self.http
                .post(self.url(path))
                .header("x-operator-key", &self.operator_key)
                .json(body),
            false,
        )
        .await;
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with the client's API key; the status and the JSON body (or null).
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        repeatable: bool,
    ) -> (StatusCode, Value) {
        let res = send_retrying(request.header("x-api-key", &self.key), repeatable).await;
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path)), true).await
    }

    pub async fn post_json(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned());
        self.send(request, false).await
    }

    /// GET without any key (the client's page, the icon, the sign-in page).
    pub async fn get_unauthenticated(&self, path: &str) -> reqwest::Response {
        send_retrying(self.http.get(self.url(path)), true).await
    }

    /// An HTML page of the server.
    pub async fn page(&self, path: &str) -> String {
        self.get_unauthenticated(path).await.text().await.unwrap()
    }

    /// `GET /api/executions/{job_id}`: `{execution, definition, events}`.
    pub async fn execution(&self, job_id: &str) -> Value {
        let res = self
            .operator_get(&format!("/api/executions/{job_id}"))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// The execution's detail once it has ended. A job is `completed` as soon as RecordResult
    /// has written it, a moment before the engine records the execution's own end, so a test
    /// that saw the job finish waits (bounded) for the execution too.
    pub async fn finished_execution(&self, job_id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let detail = self.execution(job_id).await;
            if detail["execution"]["status"] != "RUNNING" {
                return detail;
            }
            assert!(
                Instant::now() < deadline,
                "execution still RUNNING: {detail}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
