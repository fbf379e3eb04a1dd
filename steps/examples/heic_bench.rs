//! Benchmark: ValidateImage's normalization of a 12 MP HEIC (an iPhone photo's size,
//! 4032×3024) beside the same photo as a JPEG, and `vipsthumbnail` (libvips + libheif) on the
//! same HEIC as an outside baseline.
//!
//! `cargo run --release -p steps --example heic_bench [-- RUNS]`
//!
//! Needs `heif-enc` (Debian: libheif-examples) to write the HEIC, and optionally `vipsthumbnail`
//! (libvips-tools). Every run is a child process (read, normalize, write), round-robin so load
//! on the machine hits each alike; wall time is the median, peak memory the child's max RSS
//! (`getrusage(RUSAGE_CHILDREN)` through a tiny Python wrapper).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use image::{ImageEncoder, RgbImage};
use steps::ImageLimits;
use steps::imaging;

type Error = Box<dyn std::error::Error>;

const WIDTH: u32 = 4032;
const HEIGHT: u32 = 3024;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        return child(&args[2], &args[3]);
    }
    let runs: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let dir = std::env::temp_dir().join("petavatar-heic-bench");
    std::fs::create_dir_all(&dir)?;
    let (png, jpeg, heic) = (
        dir.join("12mp.png"),
        dir.join("12mp.jpg"),
        dir.join("12mp.heic"),
    );
    write_photo(&png, &jpeg)?;
    let status = Command::new("heif-enc")
        .args(["-q", "80"])
        .arg(&png)
        .arg("-o")
        .arg(&heic)
        .output()?;
    if !status.status.success() {
        return Err("heif-enc failed (apt-get install libheif-examples)".into());
    }
    for (path, what) in [(&jpeg, "JPEG q92"), (&heic, "HEIC q80 (heif-enc, x265)")] {
        println!(
            "input: {} ({WIDTH}×{HEIGHT}, {what}, {:.1} MB)",
            path.display(),
            std::fs::metadata(path)?.len() as f64 / 1e6
        );
    }
    let exe = std::env::current_exe()?.display().to_string();
    let out = |name: &str| dir.join(name).display().to_string();
    let tools: Vec<(&str, Vec<String>)> = vec![
        (
            "rust, the JPEG",
            vec![
                exe.clone(),
                "--child".into(),
                jpeg.display().to_string(),
                out("jpeg-out.jpg"),
            ],
        ),
        (
            "rust, the HEIC (heifer)",
            vec![
                exe,
                "--child".into(),
                heic.display().to_string(),
                out("heic-out.jpg"),
            ],
        ),
        (
            "vipsthumbnail, the HEIC",
            vec![
                "vipsthumbnail".into(),
                heic.display().to_string(),
                "--size".into(),
                "1568x1568".into(),
                "-o".into(),
                format!("{}[Q=88,strip]", out("vips.jpg")),
            ],
        ),
    ];
    let mut samples: Vec<Result<(Vec<Duration>, u64), String>> =
        tools.iter().map(|_| Ok((Vec::new(), 0))).collect();
    for _ in 0..runs {
        for ((_, command), slot) in tools.iter().zip(samples.iter_mut()) {
            if let Ok((times, peak)) = slot {
                match run_child(command) {
                    Ok((t, rss)) => {
                        times.push(t);
                        *peak = (*peak).max(rss);
                    }
                    Err(e) => *slot = Err(e.to_string()),
                }
            }
        }
    }
    println!(
        "\n{:<26} {:>10} {:>12} {:>12}",
        "12 MP → 1568 px", "median ms", "vs JPEG", "peak RSS MB"
    );
    let mut base = None;
    for ((name, _), slot) in tools.iter().zip(samples) {
        match slot {
            Ok((mut times, rss_kb)) => {
                times.sort();
                let t = times[times.len() / 2].as_secs_f64() * 1000.0;
                let base = *base.get_or_insert(t);
                println!(
                    "{name:<26} {t:>10.1} {:>11.2}x {:>12.1}",
                    t / base,
                    rss_kb as f64 / 1024.0
                );
            }
            Err(e) => println!("{name:<26} skipped: {e}"),
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

/// One run under a getrusage wrapper: wall time and max RSS (kB).
fn run_child(command: &[String]) -> Result<(Duration, u64), Error> {
    const WRAPPER: &str = "import resource, subprocess, sys, time\nt = time.perf_counter()\nr = subprocess.run(sys.argv[1:])\n\
                           e = time.perf_counter() - t\nprint(r.returncode, e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n";
    let output = Command::new("python3")
        .arg("-c")
        .arg(WRAPPER)
        .args(command)
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
    Ok((
        Duration::from_secs_f64(fields[1].parse()?),
        fields[2].parse()?,
    ))
}

/// A photo-like 12 MP picture (gradients, a subject, film grain), as PNG (the HEIC encoder's
/// input) and as JPEG. Deterministic.
fn write_photo(png: &Path, jpeg: &Path) -> Result<(), Error> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let img = RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let (fx, fy) = (x as f32 / WIDTH as f32, y as f32 / HEIGHT as f32);
        let d = ((fx - 0.5).powi(2) + (fy - 0.45).powi(2)).sqrt();
        let subject = if d < 0.25 { 1.0 } else { 0.0 };
        let base = [
            120.0 + 90.0 * fx - 40.0 * subject + 30.0 * (fy * 20.0).sin(),
            100.0 + 60.0 * fy + 50.0 * subject,
            140.0 - 80.0 * fx + 20.0 * (fx * 31.0).cos(),
        ];
        image::Rgb(base.map(|b| (b + 24.0 * noise()).clamp(0.0, 255.0) as u8))
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92).write_image(
        img.as_raw(),
        WIDTH,
        HEIGHT,
        image::ExtendedColorType::Rgb8,
    )?;
    std::fs::write(jpeg, &out)?;
    img.save_with_format(png, image::ImageFormat::Png)?;
    Ok(())
}
