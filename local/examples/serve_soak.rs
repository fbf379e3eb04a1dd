//! The soak/benchmark of `petavatar serve` against hostile and unlucky clients (#17), over
//! loopback, bounded in time. It starts the server binary in a fresh data folder and prints:
//!
//! 1. `/status` requests/s from 8 keep-alive clients, idle and while 200 slow clients (one
//!    header line a second) hold connections, and the ratio;
//! 2. the server's peak RSS while N unfinished 50 MB uploads are held open, beside idle;
//! 3. how many silent connections the header timeout closed;
//! 4. RSS 60 s after a burst of jobs (all finished) beside idle.
//!
//! ```sh
//! scripts/serve-soak            # builds the release binary, then runs this
//! cargo run --release -p petavatar --example serve_soak -- target/release/petavatar [--uploads 8] [--slow 200] [--jobs 100] [--seconds 5]
//! ```

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHELSEA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/chelsea.png");
const UPLOAD_BYTES: usize = 50_000_000;
/// The header timeout the server runs with here, so that the timeout phase stays short.
const HEADER_TIMEOUT_S: u64 = 5;

struct Options {
    binary: String,
    uploads: usize,
    slow: usize,
    jobs: usize,
    seconds: u64,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        binary: "target/release/petavatar".into(),
        uploads: 8,
        slow: 200,
        jobs: 100,
        seconds: 5,
    };
    while let Some(arg) = args.next() {
        let mut number = || args.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        match arg.as_str() {
            "--uploads" => o.uploads = number(),
            "--slow" => o.slow = number(),
            "--jobs" => o.jobs = number(),
            "--seconds" => o.seconds = number() as u64,
            other => o.binary = other.to_owned(),
        }
    }
    o
}

struct Server {
    child: Child,
    address: String,
    key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(binary: &str, data: &std::path::Path) -> Server {
    let mut child = Command::new(binary)
        .args(["serve", "--port", "0", "--header-timeout-s"])
        .arg(HEADER_TIMEOUT_S.to_string())
        .arg("--data")
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let (mut key, mut address) = (String::new(), String::new());
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some((_, k)) = line.split_once("(shown once, keep it): ") {
            key = k.trim().to_owned();
        }
        if let Some((_, rest)) = line.split_once("listening on http://") {
            address = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    assert!(!address.is_empty(), "the server printed no address");
    Server {
        child,
        address,
        key,
    }
}

/// Resident set size of `pid`, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

async fn presign(http: &reqwest::Client, server: &Server) -> serde_json::Value {
    let url = format!(
        "http://{}/presigned-url?content_type=image/png",
        server.address
    );
    loop {
        match http.get(&url).header("x-api-key", &server.key).send().await {
            Ok(r) if r.status().is_success() => return r.json().await.expect("json"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// `/status` answers per second from 8 keep-alive clients for `seconds`.
async fn status_rate(server: &Server, job_id: &str, seconds: u64) -> f64 {
    let http = reqwest::Client::new();
    let url = format!("http://{}/status/{job_id}", server.address);
    let count = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, url, key, count) =
            (http.clone(), url.clone(), server.key.clone(), count.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                if let Ok(r) = http.get(&url).header("x-api-key", &key).send().await
                    && r.status().is_success()
                    && r.bytes().await.is_ok()
                {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    count.load(Ordering::Relaxed) as f64 / seconds as f64
}

/// `n` clients that send one header line a second and reconnect when the server closes them.
fn slow_clients(server: &Server, n: usize, stop: Arc<AtomicBool>) -> Arc<AtomicU64> {
    let closed = Arc::new(AtomicU64::new(0));
    for _ in 0..n {
        let (address, stop, closed) = (server.address.clone(), stop.clone(), closed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut stream) = TcpStream::connect(&address).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let mut line = 0u64;
                let _ = stream.write_all(b"GET / HTTP/1.1\r\n").await;
                while !stop.load(Ordering::Relaxed) {
                    line += 1;
                    if stream
                        .write_all(format!("X-Slow-{line}: x\r\n").as_bytes())
                        .await
                        .is_err()
                    {
                        break;
                    }
                    let mut buf = [0u8; 512];
                    let answer =
                        tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
                    if let Ok(Ok(0) | Err(_)) = answer {
                        break;
                    }
                }
                closed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    closed
}

/// Opens an upload of a 50 MB file and sends all of it but the last MB; the stream is held.
async fn unfinished_upload(address: String, presigned: serde_json::Value) -> TcpStream {
    let boundary = "----soak";
    let mut head = String::new();
    for (k, v) in presigned["upload_fields"].as_object().expect("fields") {
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{}\r\n",
            v.as_str().unwrap_or_default()
        ));
    }
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n"
    ));
    let tail = format!("\r\n--{boundary}--\r\n");
    let length = head.len() + UPLOAD_BYTES + tail.len();
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let request = format!(
        "POST /local/upload HTTP/1.1\r\nHost: {address}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n{head}"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let chunk = vec![0x5au8; 1 << 20];
    for _ in 0..(UPLOAD_BYTES >> 20) - 1 {
        stream.write_all(&chunk).await.expect("write");
    }
    stream
}

async fn upload_chelsea(http: &reqwest::Client, server: &Server) -> String {
    let presigned = presign(http, server).await;
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in presigned["upload_fields"].as_object().expect("fields") {
        form = form.text(k.clone(), v.as_str().unwrap_or_default().to_owned());
    }
    let photo = std::fs::read(CHELSEA).expect("chelsea");
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(photo).file_name("c.png"),
    );
    let url = presigned["upload_url"].as_str().unwrap_or_default();
    let status = http
        .post(url)
        .multipart(form)
        .send()
        .await
        .map(|r| r.status());
    assert!(
        matches!(status, Ok(s) if s.is_success()),
        "upload: {status:?}"
    );
    presigned["job_id"].as_str().unwrap_or_default().to_owned()
}

async fn wait_terminal(
    http: &reqwest::Client,
    server: &Server,
    job_id: &str,
    until: Instant,
) -> bool {
    let url = format!("http://{}/status/{job_id}", server.address);
    while Instant::now() < until {
        if let Ok(r) = http.get(&url).header("x-api-key", &server.key).send().await
            && let Ok(v) = r.json::<serde_json::Value>().await
            && matches!(v["status"].as_str(), Some("completed" | "failed"))
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

#[tokio::main]
async fn main() {
    let o = options();
    let data = tempfile::tempdir().expect("tempdir");
    let server = start(&o.binary, &data.path().join("data"));
    let pid = server.child.id();
    let http = reqwest::Client::new();
    println!("load average before: {}", loadavg());
    let job = presign(&http, &server).await;
    let job_id = job["job_id"].as_str().unwrap_or_default().to_owned();
    let idle = rss_mib(pid);
    println!("idle RSS: {idle:.1} MiB");

    // 1. /status with and without slow clients.
    let idle_rate = status_rate(&server, &job_id, o.seconds).await;
    let stop = Arc::new(AtomicBool::new(false));
    let closed = slow_clients(&server, o.slow, stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let slow_rate = status_rate(&server, &job_id, o.seconds).await;
    stop.store(true, Ordering::Relaxed);
    println!(
        "/status: {idle_rate:.0} req/s idle, {slow_rate:.0} req/s with {} slow clients ({:.0} %); slow connections closed by the server meanwhile: {}",
        o.slow,
        100.0 * slow_rate / idle_rate.max(1.0),
        closed.load(Ordering::Relaxed)
    );

    // 2. Unfinished 50 MB uploads.
    let before_uploads = rss_mib(pid);
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max((rss_mib(pid) * 1024.0) as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let mut opening = Vec::new();
    for _ in 0..o.uploads {
        let presigned = presign(&http, &server).await;
        opening.push(tokio::spawn(unfinished_upload(
            server.address.clone(),
            presigned,
        )));
    }
    let mut streams = Vec::new();
    for upload in opening {
        streams.push(upload.await.expect("upload"));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let peak = peak.load(Ordering::Relaxed) as f64 / 1024.0;
    println!(
        "{} unfinished 50 MB uploads: peak RSS {peak:.1} MiB vs {before_uploads:.1} MiB before (+{:.1} MiB)",
        o.uploads,
        peak - before_uploads
    );
    drop(streams);

    // 3. Silent connections and the header timeout.
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(TcpStream::connect(&server.address).await.expect("connect"));
    }
    let started = Instant::now();
    let mut closed_by_timeout = 0;
    for mut s in silent {
        let mut buf = [0u8; 64];
        let until = Duration::from_secs(HEADER_TIMEOUT_S * 4).saturating_sub(started.elapsed());
        if matches!(
            tokio::time::timeout(until, s.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        ) {
            closed_by_timeout += 1;
        }
    }
    println!(
        "silent connections closed by the {HEADER_TIMEOUT_S} s header timeout: {closed_by_timeout}/50 (within {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // 4. A burst of jobs, then 60 s of quiet.
    if o.jobs > 0 {
        let started = Instant::now();
        let mut ids = Vec::new();
        for _ in 0..o.jobs {
            ids.push(upload_chelsea(&http, &server).await);
        }
        let until = Instant::now() + Duration::from_secs(1800);
        let mut finished = 0;
        let mut peak_burst = 0.0f64;
        for id in &ids {
            peak_burst = peak_burst.max(rss_mib(pid));
            if wait_terminal(&http, &server, id, until).await {
                finished += 1;
            }
        }
        let took = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(60)).await;
        println!(
            "{} jobs: {finished} finished in {took:.0} s (RSS seen during: {peak_burst:.1} MiB); RSS 60 s after: {:.1} MiB (idle was {idle:.1} MiB)",
            o.jobs,
            rss_mib(pid)
        );
    }
    println!("load average after: {}", loadavg());
}
