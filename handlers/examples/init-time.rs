//! Init time of Lambda bootstraps: from process spawn to the first `GET /invocation/next` on the
//! Runtime API emulator (`handlers::runtime_api`), i.e. what Lambda reports as Init Duration
//! minus the sandbox's own start. No AWS call happens during init (the SDK clients are built,
//! not used), so no endpoint is needed; every function gets the variables infra sets.
//!
//! ```text
//! cargo build --release -p handlers --bin analyze-pet --bin api-status
//! cargo run --release -p handlers --example init-time -- --runs 15 target/release/analyze-pet target/release/api-status
//! PETAVATAR_VISION_GATE=local cargo run --release -p handlers --example init-time -- target/release/analyze-pet
//! ```
//! Several bootstraps are measured side by side: one warm-up each (the page cache then holds
//! every file, as on a Lambda host), then N rounds that start each bootstrap once in turn, so a
//! busy machine slows all of them alike. Prints each bootstrap's size and the median, p90 and
//! min of its N cold inits.

use std::error::Error;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use handlers::runtime_api::RuntimeApiEmulator;

type Res<T> = Result<T, Box<dyn Error>>;

/// A cold init that takes longer than this is reported as a failure, not waited for.
const INIT_LIMIT: Duration = Duration::from_secs(60);

async fn one_init(bootstrap: &Path, gate: &str) -> Res<Duration> {
    let name = "init-time";
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
            (
                "JOBS_QUEUE_URL",
                "https://sqs.us-west-2.amazonaws.com/123456789012/jobs",
            ),
            (
                "STATE_MACHINE_ARN",
                "arn:aws:states:us-west-2:123456789012:stateMachine:pipeline",
            ),
            (handlers::config::IGNORE_STAGE_IN_PATH, "true"),
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

/// `[--runs N] <bootstrap>...`
fn parse_args() -> Res<(usize, Vec<String>)> {
    let usage = "usage: init-time [--runs N] <bootstrap>...";
    let mut runs = 11;
    let mut bootstraps = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--runs" {
            runs = args.next().ok_or(usage)?.parse()?;
        } else {
            bootstraps.push(arg);
        }
    }
    if bootstraps.is_empty() || runs == 0 {
        return Err(usage.into());
    }
    Ok((runs, bootstraps))
}

#[tokio::main]
async fn main() -> Res<()> {
    let (runs, bootstraps) = parse_args()?;
    let gate = std::env::var("PETAVATAR_VISION_GATE").unwrap_or_else(|_| "off".into());
    let paths: Vec<&Path> = bootstraps.iter().map(Path::new).collect();
    for path in &paths {
        one_init(path, &gate).await?; // warms the page cache: every measured run reads the file from memory
    }
    let mut inits: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); paths.len()];
    for _ in 0..runs {
        for (path, times) in paths.iter().zip(&mut inits) {
            times.push(one_init(path, &gate).await?);
        }
    }
    for (path, mut times) in paths.iter().zip(inits) {
        times.sort();
        let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        println!(
            "{}: {:.1} MB, PETAVATAR_VISION_GATE={gate}: init median {:.1} ms, p90 {:.1} ms, min {:.1} ms ({runs} runs)",
            path.display(),
            std::fs::metadata(path)?.len() as f64 / 1e6,
            ms(pick(0.5)),
            ms(pick(0.9)),
            ms(times[0]),
        );
    }
    Ok(())
}
