//! The benchmark of issue #13: weights load time, classifier and face-detector latency
//! (median, p95) and peak RSS, in one process.
//!
//!     cargo run --release -p vision --example bench -- [--runs N] [--views N] [PHOTO ...]
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
    let runs = take_number(&mut args, "--runs")?.unwrap_or(30);
    let views = take_number(&mut args, "--views")?.unwrap_or(vision::DEFAULT_VIEWS);
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
        "weights load (sha256 check + parse, embedded), median / p95 / CPU per load: {loads} (5 loads)"
    );
    let model = LocalVision::load()?.with_views(views);
    println!("classifier views per photo: {}", model.views());

    let single = model.clone().with_views(1);
    println!(
        "\n| photo | size | classifier, 1 view: median / p95 / CPU | classifier, {views} views: median / p95 / CPU | faces: median / p95 / CPU | verdict ({views} views): median / p95 / CPU |"
    );
    println!("|---|---|---|---|---|---|");
    for path in &photos {
        let bytes = std::fs::read(path)?;
        let format = steps::imaging::detect_format(&bytes)?;
        let image = steps::imaging::decode_upright(&bytes, format, 1568)?.image;
        let image = steps::imaging::fit_long_edge(image, 1568)?;
        // One warm-up of each, so the first run's allocations are not counted.
        model.analyse_image(&image, None)?;
        let one_view = time_n(runs, || single.classify(&image).map(drop))?;
        let classify = time_n(runs, || model.classify(&image).map(drop))?;
        let faces = time_n(runs, || model.faces(&image).map(drop))?;
        let verdict = time_n(runs, || model.analyse_image(&image, None).map(drop))?;
        println!(
            "| {} | {}×{} | {} | {} | {} | {} |",
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            image.width(),
            image.height(),
            one_view,
            classify,
            faces,
            verdict,
        );
    }
    println!(
        "\npeak RSS (VmHWM): {}",
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}

fn take_number(
    args: &mut Vec<String>,
    flag: &str,
) -> Result<Option<usize>, Box<dyn std::error::Error>> {
    match args.iter().position(|a| a == flag) {
        Some(i) => {
            let n = args
                .get(i + 1)
                .ok_or_else(|| format!("{flag} needs a number"))?
                .parse()?;
            args.drain(i..=i + 1);
            Ok(Some(n))
        }
        None => Ok(None),
    }
}

/// Wall-clock times of `n` runs (sorted) and the process's CPU time (user + system) per run.
struct Timed {
    wall: Vec<Duration>,
    cpu_per_run: Duration,
}

impl std::fmt::Display for Timed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} / {} / {}",
            ms(percentile(&self.wall, 50)),
            ms(percentile(&self.wall, 95)),
            ms(self.cpu_per_run)
        )
    }
}

fn time_n<E: std::error::Error + 'static>(
    n: usize,
    mut f: impl FnMut() -> Result<(), E>,
) -> Result<Timed, Box<dyn std::error::Error>> {
    let n = n.max(1);
    let mut wall = Vec::with_capacity(n);
    let cpu_start = cpu_time()?;
    for _ in 0..n {
        let start = Instant::now();
        f()?;
        wall.push(start.elapsed());
    }
    let cpu = cpu_time()?.saturating_sub(cpu_start);
    wall.sort();
    Ok(Timed {
        wall,
        cpu_per_run: cpu / n as u32,
    })
}

/// User + system CPU time of this process so far, from /proc/self/stat (fields 14 and 15, in
/// USER_HZ = 100 ticks per second on Linux): unlike wall-clock time it does not grow when other
/// processes share the cores.
fn cpu_time() -> Result<Duration, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let rest = stat.rsplit_once(')').ok_or("/proc/self/stat: no ')'")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11)
        .ok_or("/proc/self/stat: short")?
        .parse::<u64>()?
        + fields
            .get(12)
            .ok_or("/proc/self/stat: short")?
            .parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
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
