//! The benchmark of issue #13: weights load time, classifier and face-detector latency
//! (median, p95) and peak RSS, in one process.
//!
//!     cargo run --release -p vision --example bench -- [--runs N] [PHOTO ...]
//!
//! PHOTOs default to fixtures/chelsea.png and fixtures/astronaut.png. Each photo is decoded and
//! normalized as the pipeline does (long edge ≤ 1568) once, outside the timings; then each run
//! times the classifier alone (resize + crop + EfficientNet-Lite0), the face detector alone
//! (MTCNN on a copy whose long edge is ≤ 640) and the whole verdict (both + the 47 dimensions).
//! candle uses as many threads as the machine has cores (`RAYON_NUM_THREADS` overrides): on
//! this 2-core machine, 2. The machine is shared: the figures are the median and p95 of what
//! this process saw, so compare them with a baseline measured in the same minute.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use vision::LocalVision;
use vision::weights::WeightSource;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let runs = take_runs(&mut args)?;
    let photos: Vec<PathBuf> = if args.is_empty() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        vec![root.join("chelsea.png"), root.join("astronaut.png")]
    } else {
        args.iter().map(PathBuf::from).collect()
    };

    println!(
        "threads: {} (candle), runs per photo: {runs}",
        candle_core::utils::get_num_threads()
    );
    let loads = time_n(5, || {
        LocalVision::load_from(&WeightSource::Embedded).map(drop)
    })?;
    println!(
        "weights load (sha256 check + parse, embedded): median {}, p95 {} (5 loads)",
        ms(percentile(&loads, 50)),
        ms(percentile(&loads, 95))
    );
    let model = LocalVision::load()?;

    println!(
        "\n| photo | size | classifier median | classifier p95 | faces median | faces p95 | verdict median | verdict p95 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for path in &photos {
        let bytes = std::fs::read(path)?;
        let format = steps::imaging::detect_format(&bytes)?;
        let image = steps::imaging::decode_upright(&bytes, format, 1568)?.image;
        let image = steps::imaging::fit_long_edge(image, 1568)?;
        // One warm-up of each, so the first run's allocations are not counted.
        model.analyse_image(&image, None)?;
        let classify = time_n(runs, || model.classify(&image).map(drop))?;
        let faces = time_n(runs, || model.faces(&image).map(drop))?;
        let verdict = time_n(runs, || model.analyse_image(&image, None).map(drop))?;
        println!(
            "| {} | {}×{} | {} | {} | {} | {} | {} | {} |",
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            image.width(),
            image.height(),
            ms(percentile(&classify, 50)),
            ms(percentile(&classify, 95)),
            ms(percentile(&faces, 50)),
            ms(percentile(&faces, 95)),
            ms(percentile(&verdict, 50)),
            ms(percentile(&verdict, 95)),
        );
    }
    println!(
        "\npeak RSS (VmHWM): {}",
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}

fn take_runs(args: &mut Vec<String>) -> Result<usize, Box<dyn std::error::Error>> {
    match args.iter().position(|a| a == "--runs") {
        Some(i) => {
            let n = args.get(i + 1).ok_or("--runs needs a number")?.parse()?;
            args.drain(i..=i + 1);
            Ok(n)
        }
        None => Ok(30),
    }
}

fn time_n<E: std::error::Error + 'static>(
    n: usize,
    mut f: impl FnMut() -> Result<(), E>,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times)
}

/// Nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The process's peak resident set, from /proc (Linux).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
}
