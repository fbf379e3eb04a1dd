//! Benchmark: ValidateImage's normalization (decode → orient → resize to a 1568 px long edge →
//! JPEG) against `vipsthumbnail` and Pillow doing the same, plus peak memory on a ~50 MB input.
//!
//! `cargo run --release -p steps --example normalize_bench [-- RUNS]`
//!
//! Every tool runs as a child process on the same file, so the times include process start-up
//! and file I/O for all three; peak memory is the child's max RSS (`getrusage(RUSAGE_CHILDREN)`,
//! read through a tiny Python wrapper). The in-process time of the Rust stage is printed too.
//! Needs `vipsthumbnail` (Debian: libvips-tools) and Pillow (`pip install pillow`); a missing
//! tool is reported and skipped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use image::{ImageEncoder, RgbImage};
use steps::ImageLimits;
use steps::imaging;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        return child(&args[2], &args[3]);
    }
    let runs: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let dir = std::env::temp_dir().join("petavatar-bench");
    std::fs::create_dir_all(&dir)?;

    let photo = dir.join("24mp.jpg");
    let size = write_photo(&photo, 6000, 4000, 92, 24.0)?;
    println!(
        "input: {} (6000×4000, 24 MP, {:.1} MB)",
        photo.display(),
        size as f64 / 1e6
    );
    let bytes = std::fs::read(&photo)?;
    let in_process = median((0..runs).map(|_| {
        let t = Instant::now();
        let result = imaging::normalize(&bytes, &ImageLimits::default());
        (t.elapsed(), result.is_ok())
    }))?;
    println!(
        "rust in-process normalize: {:>7.1} ms (median of {runs})",
        ms(in_process)
    );

    println!(
        "\n{:<22} {:>10} {:>10} {:>12}",
        "tool (child process)", "median ms", "vs rust", "peak RSS MB"
    );
    let contenders = tools(&dir, &photo)?;
    // Round-robin, so background load on the machine hits every tool alike.
    let mut samples: Vec<Result<(Vec<Duration>, u64), String>> =
        contenders.iter().map(|_| Ok((Vec::new(), 0))).collect();
    for _ in 0..runs {
        for (tool, slot) in contenders.iter().zip(samples.iter_mut()) {
            if let Ok((times, peak)) = slot {
                match run_tool(tool, 1) {
                    Ok((t, rss)) => {
                        times.push(t);
                        *peak = (*peak).max(rss);
                    }
                    Err(e) => *slot = Err(e.to_string()),
                }
            }
        }
    }
    let mut rust_ms = None;
    for (tool, slot) in contenders.iter().zip(samples) {
        match slot {
            Ok((times, rss_kb)) => {
                let t = ms(median(times.into_iter().map(|t| (t, true)))?);
                let base = *rust_ms.get_or_insert(t);
                println!(
                    "{:<22} {:>10.1} {:>9.2}x {:>12.1}",
                    tool.name,
                    t,
                    t / base,
                    rss_kb as f64 / 1024.0
                );
            }
            Err(e) => println!("{:<22} skipped: {e}", tool.name),
        }
    }

    let big = dir.join("50mb.jpg");
    let big_size = write_photo_near(&big, 7000, 7000, 45e6..=imaging::MAX_UPLOAD_BYTES as f64)?;
    println!(
        "\npeak memory on a {:.1} MB input ({}, 7000×7000 = 49 MP):",
        big_size as f64 / 1e6,
        big.display()
    );
    for tool in tools(&dir, &big)? {
        match run_tool(&tool, 1) {
            Ok((time, rss_kb)) => println!(
                "{:<22} {:>10.1} ms {:>10.1} MB peak RSS",
                tool.name,
                ms(time),
                rss_kb as f64 / 1024.0
            ),
            Err(e) => println!("{:<22} skipped: {e}", tool.name),
        }
    }
    Ok(())
}

/// What the stage does, as a process: read, normalize, write.
fn child(input: &str, output: &str) -> Result<(), Error> {
    let bytes = std::fs::read(input)?;
    let (_, normalized) = imaging::normalize(&bytes, &ImageLimits::default())?;
    drop(bytes);
    std::fs::write(output, normalized.jpeg)?;
    Ok(())
}

struct Tool {
    name: &'static str,
    command: Vec<String>,
}

fn tools(dir: &Path, input: &Path) -> Result<Vec<Tool>, Error> {
    let exe = std::env::current_exe()?.display().to_string();
    let input = input.display().to_string();
    let out = |name: &str| dir.join(name).display().to_string();
    let pillow = "import sys\nfrom PIL import Image, ImageOps\nim = Image.open(sys.argv[1])\nim.draft('RGB', (1568, 1568))\n\
                  im = ImageOps.exif_transpose(im)\nim.thumbnail((1568, 1568), Image.LANCZOS)\nim.convert('RGB').save(sys.argv[2], quality=88)\n";
    Ok(vec![
        Tool {
            name: "rust steps::imaging",
            command: vec![exe, "--child".into(), input.clone(), out("rust.jpg")],
        },
        Tool {
            name: "vipsthumbnail 1568",
            command: vec![
                "vipsthumbnail".into(),
                input.clone(),
                "--size".into(),
                "1568x1568".into(),
                "-o".into(),
                format!("{}[Q=88,strip]", out("vips.jpg")),
            ],
        },
        Tool {
            name: "Pillow thumbnail",
            command: vec![
                "python3".into(),
                "-c".into(),
                pillow.into(),
                input,
                out("pillow.jpg"),
            ],
        },
    ])
}

/// Run a tool `runs` times under a getrusage wrapper; median wall time and max child RSS (kB).
fn run_tool(tool: &Tool, runs: usize) -> Result<(Duration, u64), Error> {
    const WRAPPER: &str = "import resource, subprocess, sys, time\nt = time.perf_counter()\nr = subprocess.run(sys.argv[1:])\n\
                           e = time.perf_counter() - t\nprint(r.returncode, e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n";
    let mut times = Vec::with_capacity(runs);
    let mut peak = 0u64;
    for _ in 0..runs {
        let output = Command::new("python3")
            .arg("-c")
            .arg(WRAPPER)
            .args(&tool.command)
            .output()?;
        let text = String::from_utf8_lossy(&output.stdout);
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 3 || fields[0] != "0" {
            return Err(format!(
                "failed: {} {}",
                text.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            )
            .into());
        }
        times.push((Duration::from_secs_f64(fields[1].parse()?), true));
        peak = peak.max(fields[2].parse()?);
    }
    Ok((median(times.into_iter())?, peak))
}

fn median(samples: impl Iterator<Item = (Duration, bool)>) -> Result<Duration, Error> {
    let mut times = Vec::new();
    for (t, ok) in samples {
        if !ok {
            return Err("normalize failed".into());
        }
        times.push(t);
    }
    times.sort();
    times
        .get(times.len() / 2)
        .copied()
        .ok_or_else(|| "no samples".into())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A photo whose encoded size falls in `target` bytes (the grain is adjusted, a few tries).
fn write_photo_near(
    path: &PathBuf,
    w: u32,
    h: u32,
    target: std::ops::RangeInclusive<f64>,
) -> Result<u64, Error> {
    let mut grain = 40.0f32;
    for _ in 0..6 {
        let size = write_photo(path, w, h, 95, grain)?;
        if target.contains(&(size as f64)) {
            return Ok(size);
        }
        // JPEG size grows roughly linearly with the grain amplitude at this quality.
        let mid = (target.start() + target.end()) / 2.0;
        grain = (grain * (mid / size as f64) as f32).clamp(1.0, 200.0);
    }
    Err("could not produce an input of the target size".into())
}

/// A photo-like test image: smooth gradients and shapes with film-grain noise of `grain`
/// amplitude (the grain sets the JPEG size). Deterministic.
fn write_photo(path: &PathBuf, w: u32, h: u32, quality: u8, grain: f32) -> Result<u64, Error> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let img = RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let d = ((fx - 0.5).powi(2) + (fy - 0.45).powi(2)).sqrt();
        let subject = if d < 0.25 { 1.0 } else { 0.0 };
        let base = [
            120.0 + 90.0 * fx - 40.0 * subject + 30.0 * (fy * 20.0).sin(),
            100.0 + 60.0 * fy + 50.0 * subject,
            140.0 - 80.0 * fx + 20.0 * (fx * 31.0).cos(),
        ];
        image::Rgb(base.map(|b| (b + grain * noise()).clamp(0.0, 255.0) as u8))
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).write_image(
        img.as_raw(),
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )?;
    std::fs::write(path, &out)?;
    Ok(out.len() as u64)
}
