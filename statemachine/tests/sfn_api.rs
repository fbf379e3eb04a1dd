//! `asl serve` speaks the Step Functions API: driven over loopback by boto3 (the real AWS
//! client, from the virtualenv `scripts/test-all` installs) and by raw HTTP for bad input.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `asl serve`; killed by pid when dropped, also when a test panics.
struct Server {
    child: Child,
    port: u16,
    _db: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `asl serve --port 0`, reads the port it bound, and returns once it answers a
    /// real API request.
    fn start() -> Server {
        let db = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_asl"))
            .args(["serve", "--port", "0", "--db"])
            .arg(db.path().join("engine.db"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("start asl serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        let server = Server {
            child,
            port,
            _db: db,
        };
        server.wait_until_answers();
        server
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_until_answers(&self) {
        for _ in 0..200 {
            if let Ok((200, _)) = self.post(Some("AWSStepFunctions.ListStateMachines"), b"{}") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("asl serve never answered ListStateMachines");
    }

    /// One raw HTTP/1.1 request; returns the status and the body.
    fn post(&self, target: Option<&str>, body: &[u8]) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let target = target
            .map(|t| format!("X-Amz-Target: {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-amz-json-1.0\r\n\
             {target}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("PETAVATAR_PYTHON") {
        return PathBuf::from(p);
    }
    if let Some(moto) = std::env::var_os("PETAVATAR_MOTO_SERVER") {
        let beside = Path::new(&moto).with_file_name("python");
        if beside.exists() {
            return beside;
        }
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/moto-venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with boto3: run scripts/test-all once (it creates target/moto-venv) \
         or set PETAVATAR_PYTHON"
    );
    venv
}

#[test]
fn boto3_drives_the_endpoint() {
    let server = Server::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sfn_api/boto3_client.py");
    let out = Command::new(python())
        .arg(script)
        .arg(server.endpoint())
        .output()
        .expect("run the boto3 script");
    assert!(
        out.status.success(),
        "boto3 script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts AWS's error shape: a 400 whose body is `{"__type": code, "message": ...}`.
fn assert_aws_error(answer: (u16, String), code: &str) {
    let (status, body) = answer;
    assert_eq!(status, 400, "body: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON error body");
    assert_eq!(v["__type"], code, "body: {body}");
    assert!(v["message"].is_string(), "body: {body}");
}

#[test]
fn bad_requests_get_aws_errors_with_400() {
    let server = Server::start();
    let post = |target: Option<&str>, body: &[u8]| server.post(target, body).expect("answer");
    let create = Some("AWSStepFunctions.CreateStateMachine");
    assert_aws_error(post(create, b"{not json"), "SerializationException");
    assert_aws_error(post(create, b"[1, 2]"), "ValidationException");
    assert_aws_error(
        post(create, br#"{"name": 5, "definition": "{}"}"#),
        "ValidationException",
    );
    assert_aws_error(
        post(create, br#"{"definition": "{}"}"#),
        "ValidationException",
    );
    assert_aws_error(
        post(
            Some("AWSStepFunctions.ListExecutions"),
            br#"{"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:x", "maxResults": "ten"}"#,
        ),
        "ValidationException",
    );
    assert_aws_error(
        post(
            Some("AWSStepFunctions.GetExecutionHistory"),
            br#"{"executionArn": "arn:aws:states:us-east-1:123456789012:execution:x:y", "reverseOrder": "yes"}"#,
        ),
        "ValidationException",
    );
    assert_aws_error(
        post(Some("AWSStepFunctions.NoSuchAction"), b"{}"),
        "UnknownOperationException",
    );
    assert_aws_error(
        post(Some("SomethingElse.CreateStateMachine"), b"{}"),
        "UnknownOperationException",
    );
    assert_aws_error(post(None, b"{}"), "UnknownOperationException");
    let oversized = vec![b' '; statemachine::api::MAX_BODY_BYTES + 1];
    assert_aws_error(post(create, &oversized), "ValidationException");
    // Still serving after all of that.
    assert_eq!(
        post(Some("AWSStepFunctions.ListStateMachines"), b"{}").0,
        200
    );
}
