//! Init time of a Lambda bootstrap: from process spawn to its first `GET /invocation/next` on the
//! Runtime API emulator (`handlers::runtime_api`), i.e. what Lambda reports as Init Duration
//! minus the sandbox's own start. No AWS call happens during init (the SDK clients are built,
//! not used), so no endpoint is needed.
//!
//! ```text
//! cargo build --release -p handlers --features vision-gate --bin analyze-pet
//! cargo run --release -p handlers --features vision-gate --example init-time -- target/release/analyze-pet 15
//! PETAVATAR_VISION_GATE=local cargo run --release -p handlers --features vision-gate --example init-time -- target/release/analyze-pet 15
//! ```
//! Prints the bootstrap's size and the median, p90 and min of N cold inits.

use std::error::Error;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use handlers::runtime_api::RuntimeApiEmulator;

type Res<T> = Result<T, Box<dyn Error>>;

/// A cold init that takes longer than this is reported as a failure, not waited for.
const INIT_LIMIT: Duration = Duration::from_secs(60);

async fn one_init(bootstrap: &Path, gate: &str) -> Res<Duration> {
    let name = "analyze-pet";
    let emulator = RuntimeApiEmulator::start(name).await?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(bootstrap)
        .env_clear()
        .envs(emulator.lambda_environment(name))
        .envs([
            ("AWS_REGION", "us-west-2"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            (
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            ),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("JOBS_TABLE", "jobs"),
            ("UPLOADS_BUCKET", "uploads"),
            ("GENERATED_BUCKET", "generated"),
            ("PETAVATAR_VISION_GATE", gate),
            ("RUST_LOG", "error"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let init = loop {
        if let Some(polled) = emulator.first_poll() {
            break polled.duration_since(started);
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("{} exited during init: {status}", bootstrap.display()).into());
        }
        if started.elapsed() > INIT_LIMIT {
            return Err(format!("no poll within {INIT_LIMIT:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    child.kill().await?;
    Ok(init)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().ok_or("usage: init-time <bootstrap> [runs]")?;
    let runs: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(11);
    let gate = std::env::var("PETAVATAR_VISION_GATE").unwrap_or_else(|_| "off".into());
    let path = Path::new(&bootstrap);
    let size = std::fs::metadata(path)?.len();
    one_init(path, &gate).await?; // warms the page cache: every measured run reads the file from memory
    let mut inits = Vec::with_capacity(runs);
    for _ in 0..runs {
        inits.push(one_init(path, &gate).await?);
    }
    inits.sort();
    let pick = |q: f64| inits[((inits.len() - 1) as f64 * q).round() as usize];
    println!(
        "{bootstrap}: {:.1} MB, PETAVATAR_VISION_GATE={gate}: init median {:.1} ms, p90 {:.1} ms, min {:.1} ms ({runs} runs)",
        size as f64 / 1e6,
        ms(pick(0.5)),
        ms(pick(0.9)),
        ms(inits[0]),
    );
    Ok(())
}
