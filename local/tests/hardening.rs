//! `petavatar serve` against hostile and unlucky clients (#17): connections that never finish
//! their headers, bodies that stop, half-closed requests, too many connections or uploads, a
//! foreign Host, wrong keys by the hundred, a locked database, a killed upload; and the modes
//! of a new data folder.
//!
//! No test waits for a fixed time or asserts how long something took: each configures a short
//! timeout and waits, bounded by a generous deadline, for what the server does (a closed
//! connection, an answer, a file gone, a log line).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Client, Server, chelsea};
use reqwest::StatusCode;
use serde_json::Value;

/// Far longer than any timeout configured here: only a server that never closes reaches it.
const DEADLINE: Duration = Duration::from_secs(90);

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(address(server)).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Reads until the server closes the connection; what it sent. Panics if it is still open at
/// [`DEADLINE`].
fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "connection still open after {DEADLINE:?}; received: {}",
                    String::from_utf8_lossy(&received)
                )
            }
            // A reset is a close too.
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn status_of(response: &str) -> u16 {
    response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {response:?}"))
}

/// Waits (bounded) until `done` holds, checking every 20 ms.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Files under `dir` whose name marks an object still being written.
fn partial_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(partial_files(&path));
        } else if path.to_string_lossy().contains(".partial-") {
            found.push(path);
        }
    }
    found
}

fn uploads_dir(server: &Server) -> PathBuf {
    server.data.join("objects").join("petavatar-uploads")
}

/// Starts a presigned upload by hand and stops in the middle of the file: the fields, the
/// file part's headers and the first `sent` bytes of a PNG of `total` bytes (Content-Length
/// says the whole form).
fn stalled_upload(server: &Server, presigned: &Value, sent: usize) -> TcpStream {
    let boundary = "----petavatar-stalled";
    let mut head = String::new();
    for (k, v) in presigned["upload_fields"].as_object().unwrap() {
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{}\r\n",
            v.as_str().unwrap()
        ));
    }
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    ));
    let file = chelsea();
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = head.len() + file.len() + tail.len();
    let mut stream = connect(server);
    write!(
        stream,
        "POST /local/upload HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {length}\r\n\r\n{head}",
        address(server)
    )
    .unwrap();
    stream.write_all(&file[..sent.min(file.len())]).unwrap();
    stream.flush().unwrap();
    stream
}

#[test]
fn silent_slow_and_idle_connections_are_closed_by_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(&dir.path().join("data"), 0, &["--header-timeout-s", "1"]);

    // Silent: connects and sends nothing.
    let mut silent = connect(&server);
    // Partial headers, then nothing.
    let mut partial = connect(&server);
    write!(
        partial,
        "GET /openapi.json HTTP/1.1\r\nHost: {}\r\n",
        address(&server)
    )
    .unwrap();
    // Slowloris: one header line every 100 ms, for as long as the server lets it.
    let mut slowloris = connect(&server);
    let mut writer = slowloris.try_clone().unwrap();
    let drip = std::thread::spawn(move || {
        let mut lines = 0u32;
        if writer.write_all(b"GET / HTTP/1.1\r\n").is_err() {
            return lines;
        }
        while writer
            .write_all(format!("X-Drip-{lines}: x\r\n").as_bytes())
            .is_ok()
        {
            lines += 1;
            std::thread::sleep(Duration::from_millis(100));
            if lines > 2000 {
                break;
            }
        }
        lines
    });
    // Kept alive after one answered request, then idle.
    let mut idle = connect(&server);
    write!(
        idle,
        "GET /openapi.json HTTP/1.1\r\nHost: {}\r\n\r\n",
        address(&server)
    )
    .unwrap();

    for (name, stream) in [
        ("silent", &mut silent),
        ("partial headers", &mut partial),
        ("slowloris", &mut slowloris),
    ] {
        let received = read_until_closed(stream);
        assert!(
            received.is_empty() || status_of(&received) >= 400,
            "{name}: {received}"
        );
    }
    let lines = drip.join().unwrap();
    assert!(lines < 2000, "the slowloris was never cut off");
    let received = read_until_closed(&mut idle);
    assert_eq!(status_of(&received), 200, "{received}");
}

#[test]
fn a_half_closed_request_with_large_headers_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0);
    let mut stream = connect(&server);
    let padding = "p".repeat(8 * 1024);
    write!(
        stream,
        "GET /openapi.json HTTP/1.1\r\nHost: {}\r\nX-Padding: {padding}\r\n\r\n",
        address(&server)
    )
    .unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let received = read_until_closed(&mut stream);
    assert_eq!(status_of(&received), 200, "{received}");
    assert!(received.contains("\"openapi\""), "{received}");
}

#[test]
fn connections_over_the_cap_are_answered_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        0,
        &["--max-connections", "2", "--header-timeout-s", "60"],
    );
    // Two connections take the slots (accepted in order, so before the third).
    let _first = connect(&server);
    let _second = connect(&server);
    let mut third = connect(&server);
    write!(
        third,
        "GET /openapi.json HTTP/1.1\r\nHost: {}\r\n\r\n",
        address(&server)
    )
    .unwrap();
    let received = read_until_closed(&mut third);
    assert_eq!(status_of(&received), 503, "{received}");
    assert_eq!(header(&received, "retry-after"), Some("1"), "{received}");
    assert!(received.contains("ServiceUnavailable"), "{received}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_cut_and_its_partial_file_removed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(&dir.path().join("data"), 0, &["--body-idle-timeout-s", "1"]);
    let client = Client::new(&server, &server.key());
    let presigned = client.presign("image/png").await;
    let uploads = uploads_dir(&server);
    let received = tokio::task::spawn_blocking(move || {
        let mut stream = stalled_upload(&server, &presigned, 1000);
        let received = read_until_closed(&mut stream);
        (server, received)
    })
    .await
    .unwrap();
    let (_server, received) = received;
    assert_eq!(status_of(&received), 400, "{received}");
    assert!(
        received.contains("<Code>RequestTimeout</Code>"),
        "{received}"
    );
    assert_eq!(partial_files(&uploads), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_per_key_are_capped_and_a_client_gone_frees_its_slot_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        0,
        &["--max-uploads-per-key", "1", "--body-idle-timeout-s", "60"],
    );
    let client = Client::new(&server, &server.key());
    let first = client.presign("image/png").await;
    let uploads = uploads_dir(&server);
    let stalled = stalled_upload(&server, &first, 1000);
    // The upload holds its slot once its file is being written.
    let watched = uploads.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the partial file", || !partial_files(&watched).is_empty())
    })
    .await
    .unwrap();

    let second = client.presign("image/png").await;
    let refused = client.upload(&second, chelsea()).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("<Code>SlowDown</Code>")
    );

    // The first client goes away: its partial file is removed and its slot given back.
    stalled.shutdown(Shutdown::Both).unwrap();
    drop(stalled);
    let watched = uploads.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the partial file removed", || {
            partial_files(&watched).is_empty()
        })
    })
    .await
    .unwrap();
    let deadline = Instant::now() + DEADLINE;
    loop {
        let third = client.presign("image/png").await;
        let status = client.upload(&third, chelsea()).await.status();
        if status == StatusCode::NO_CONTENT {
            break;
        }
        // The slot is given back when the server notices the close, a moment after the file.
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "the slot was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_partial_file_of_a_killed_server_is_swept_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, 0);
    let client = Client::new(&server, &server.key());
    let presigned = client.presign("image/png").await;
    let uploads = uploads_dir(&server);
    let stalled = stalled_upload(&server, &presigned, 1000);
    let watched = uploads.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the partial file", || !partial_files(&watched).is_empty())
    })
    .await
    .unwrap();
    server.kill();
    drop(stalled);
    assert_eq!(partial_files(&uploads).len(), 1, "SIGKILL leaves the file");
    let _restarted = Server::start(&data, 0);
    assert_eq!(partial_files(&uploads), Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_is_refused_and_every_answer_has_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        0,
        &["--allowed-host", "petavatar.example"],
    );
    let raw = |host: &str, path: &str| {
        let mut stream = connect(&server);
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        read_until_closed(&mut stream)
    };
    let own = address(&server);
    let port = own.rsplit_once(':').unwrap().1.to_owned();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
    ] {
        let answer = raw(&host, "/");
        assert_eq!(status_of(&answer), 421, "{host}: {answer}");
        assert!(answer.contains("MisdirectedRequest"), "{answer}");
        assert!(!answer.contains("<html"), "{answer}");
    }
    for host in [
        own.clone(),
        format!("localhost:{port}"),
        "petavatar.example".to_owned(),
    ] {
        assert_eq!(status_of(&raw(&host, "/openapi.json")), 200, "{host}");
    }
    // Pages, API answers, errors and refusals alike.
    for (host, path, status) in [
        (own.as_str(), "/", 200),
        // Without an operator key: the sign-in page, a page like any other.
        (own.as_str(), "/executions", 401),
        (own.as_str(), "/openapi.json", 200),
        (
            own.as_str(),
            "/status/00000000-0000-0000-0000-000000000000",
            401,
        ),
        (own.as_str(), "/no-such-page", 404),
        ("evil.example", "/", 421),
    ] {
        let answer = raw(host, path);
        assert_eq!(status_of(&answer), status, "{path}: {answer}");
        assert_eq!(
            header(&answer, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(header(&answer, "x-frame-options"), Some("DENY"), "{path}");
        let csp = header(&answer, "content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_are_logged_as_a_summary_not_a_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        0,
        &["--summary-interval-ms", "200"],
    );
    let http = reqwest::Client::new();
    let url = format!(
        "{}/status/00000000-0000-0000-0000-000000000000",
        server.base
    );
    for i in 0..300 {
        let request = http.get(&url).header("x-api-key", format!("wrong-{i}"));
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    for _ in 0..20 {
        assert_eq!(
            http.get(&url).send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let summaries = |logs: &[Value]| -> Vec<Value> {
        logs.iter()
            .filter(|l| {
                l["fields"]["message"]
                    .as_str()
                    .or(l["message"].as_str())
                    .is_some_and(|m| m.starts_with("auth failures"))
            })
            .cloned()
            .collect()
    };
    let count = |lines: &[Value], field: &str| -> u64 {
        lines
            .iter()
            .map(|l| {
                l["fields"][field]
                    .as_u64()
                    .or(l[field].as_u64())
                    .unwrap_or_default()
            })
            .sum()
    };
    let deadline = Instant::now() + DEADLINE;
    loop {
        let lines = summaries(&server.logs());
        if count(&lines, "failures") >= 320 {
            assert_eq!(count(&lines, "failures"), 320, "{lines:?}");
            assert_eq!(count(&lines, "unknown_key"), 300, "{lines:?}");
            assert_eq!(count(&lines, "missing_key"), 20, "{lines:?}");
            assert!(lines.len() < 320, "{} summary lines", lines.len());
            break;
        }
        assert!(Instant::now() < deadline, "summaries so far: {lines:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = std::fs::read_to_string(&server.log).unwrap();
    assert!(
        !text.contains("unknown api key refused"),
        "a line per refusal"
    );
    assert!(!text.contains("wrong-"), "a presented key was logged");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_data_folder_and_everything_in_it_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, 0);
    let client = Client::new(&server, &server.key());
    let presigned = client.presign("image/png").await;
    assert_eq!(
        client.upload(&presigned, chelsea()).await.status(),
        StatusCode::NO_CONTENT
    );
    let job_id = presigned["job_id"].as_str().unwrap().to_owned();
    client
        .poll_until(&job_id, Duration::from_secs(300), common::is_terminal)
        .await;

    fn walk(path: &Path, seen: &mut Vec<(PathBuf, u32, bool)>) {
        let meta = std::fs::metadata(path).unwrap();
        seen.push((
            path.to_owned(),
            meta.permissions().mode() & 0o777,
            meta.is_dir(),
        ));
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).unwrap().flatten() {
                walk(&entry.path(), seen);
            }
        }
    }
    let mut seen = Vec::new();
    walk(&data, &mut seen);
    let names: Vec<String> = seen
        .iter()
        .map(|(p, _, _)| p.strip_prefix(&data).unwrap().display().to_string())
        .collect();
    for expected in ["petavatar.db", "engine.db", "signing.key", "objects"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("objects/petavatar-generated/")),
        "{names:?}"
    );
    for (path, mode, is_dir) in seen {
        let wanted = if is_dir { 0o700 } else { 0o600 };
        assert_eq!(mode, wanted, "{} is {mode:o}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_store_is_retried_and_the_job_completes_once_it_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Each stage waits 1.5 s before it works, so the lock is taken while the first one runs.
    let server = Server::start_with(&data, 1500, &["--db-busy-timeout-ms", "200"]);
    let client = Client::new(&server, &server.key());
    let presigned = client.presign("image/png").await;
    assert_eq!(
        client.upload(&presigned, chelsea()).await.status(),
        StatusCode::NO_CONTENT
    );
    let job_id = presigned["job_id"].as_str().unwrap().to_owned();
    client
        .poll_until(&job_id, DEADLINE, |s| s["status"] == "processing")
        .await;

    // Another process's write lock on the job database (WAL: readers go on).
    let locker = rusqlite::Connection::open(data.join("petavatar.db")).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let log = server.log.clone();
    let retried = tokio::task::spawn_blocking(move || {
        wait_for("a stage failing PetAvatar.Transient", || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .any(|line| {
                    line.contains("the state machine retries")
                        && line.contains("PetAvatar.Transient")
                        && line.contains("database is locked")
                })
        })
    })
    .await;
    locker.execute_batch("ROLLBACK").unwrap();
    retried.unwrap();

    let statuses = client
        .poll_until(&job_id, Duration::from_secs(300), common::is_terminal)
        .await;
    let last = statuses.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
}
