//! moto's S3 over HTTP (the AWS emulator scripts/test-all installs), for comparing the local
//! presigned POST with S3's. Started on a port it binds itself, ready once it answers HTTP,
//! killed by its pid when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::START_TIMEOUT;

/// `$PETAVATAR_MOTO_SERVER` (set by scripts/test-all), the workspace's `target/moto-venv`, or
/// `moto_server` on the PATH.
fn moto_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("PETAVATAR_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/moto-venv/bin/moto_server"
    ));
    if venv.exists() {
        return venv;
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("moto_server"))
                .find(|candidate| candidate.exists())
        })
        .unwrap_or_else(|| {
            panic!(
                "moto_server not found: run scripts/test-all, or python3 -m venv target/moto-venv && \
                 target/moto-venv/bin/pip install 'moto[server]', or set PETAVATAR_MOTO_SERVER"
            )
        })
}

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    pub async fn start() -> Moto {
        let mut child = Command::new(moto_server_path())
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto_server starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        // Werkzeug logs every request on stderr: keep reading it so the pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("http://127.0.0.1:")
                    .nth(1)
                    .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|port| port.parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let mut moto = Moto {
            child,
            url: String::new(),
        };
        let port = rx
            .recv_timeout(START_TIMEOUT)
            .expect("moto_server printed its port");
        moto.url = format!("http://127.0.0.1:{port}");
        // Ready when it answers HTTP (a TCP connect succeeds earlier than that).
        let deadline = Instant::now() + START_TIMEOUT;
        let client = reqwest::Client::new();
        loop {
            match client
                .get(format!("{}/moto-api/config", moto.url))
                .send()
                .await
            {
                Ok(res) if res.status().is_success() => return moto,
                _ if Instant::now() >= deadline => panic!("moto did not answer on port {port}"),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Creates a bucket (moto takes unsigned requests).
    pub async fn create_bucket(&self, name: &str) {
        let res = reqwest::Client::new()
            .put(format!("{}/{name}", self.url))
            .send()
            .await
            .expect("create bucket");
        assert!(res.status().is_success(), "create bucket: {}", res.status());
    }
}
