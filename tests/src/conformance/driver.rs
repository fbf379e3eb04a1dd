//! The conformance test binary's main: options from the environment, parallel runs with a
//! global watchdog, the printed report, `target/conformance-report.md`, and the floor check.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::manifest::{Case, DataSet};
use super::report::{self, CaseOutcome, Status};
use super::run::{RunConfig, load_snapshots, run_case};
use super::{ConformanceError, data_dir, workspace_root};

/// Options, from the environment.
#[derive(Debug, Clone)]
pub struct Options {
    /// `CONFORMANCE_FILTER`: run only cases whose id contains this.
    pub filter: Option<String>,
    /// `CONFORMANCE_VERBOSE=1`: print every difference of each failing case.
    pub verbose: bool,
    /// `CONFORMANCE_JOBS`: cases run at once (default 4).
    pub jobs: usize,
    /// `CONFORMANCE_CASE_TIMEOUT_SECS`: real-time limit of one case (default 20).
    pub case_timeout: Duration,
    /// `CONFORMANCE_TOTAL_TIMEOUT_SECS`: limit of the whole run (default 900).
    pub total_timeout: Duration,
    /// `CONFORMANCE_UPDATE_FLOOR=1`: write the achieved counts to the floor file.
    pub update_floor: bool,
}

impl Options {
    pub fn from_env() -> Options {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let secs = |name: &str, default: u64| {
            Duration::from_secs(var(name).and_then(|v| v.parse().ok()).unwrap_or(default))
        };
        Options {
            filter: var("CONFORMANCE_FILTER"),
            verbose: var("CONFORMANCE_VERBOSE").is_some_and(|v| v != "0"),
            jobs: var("CONFORMANCE_JOBS")
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(4),
            case_timeout: secs("CONFORMANCE_CASE_TIMEOUT_SECS", 20),
            total_timeout: secs("CONFORMANCE_TOTAL_TIMEOUT_SECS", 900),
            update_floor: var("CONFORMANCE_UPDATE_FLOOR").is_some_and(|v| v != "0"),
        }
    }
}

pub fn floor_path() -> PathBuf {
    workspace_root().join("tests").join("conformance-floor.txt")
}

fn report_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("conformance-report.md")
}

/// Runs the suite; returns the process exit code.
pub fn main_entry() -> i32 {
    let Some(dir) = data_dir() else {
        println!("conformance data not found, skipped");
        return 0;
    };
    match run_suite(dir, Options::from_env()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("conformance runner error: {e}");
            1
        }
    }
}

fn run_suite(dir: PathBuf, opts: Options) -> Result<i32, ConformanceError> {
    let ds = Arc::new(DataSet::load(&dir)?);
    let cases: Vec<Case> = ds
        .manifest
        .cases
        .iter()
        .filter(|c| {
            opts.filter
                .as_ref()
                .is_none_or(|f| c.common().id.contains(f.as_str()))
        })
        .cloned()
        .collect();
    let snapshots = Arc::new(load_snapshots(&ds, &cases)?);
    println!(
        "conformance: {} of {} cases from {}",
        cases.len(),
        ds.manifest.cases.len(),
        dir.display()
    );
    let started = Instant::now();
    let outcomes = run_all(ds, snapshots, &cases, &opts);
    let elapsed = started.elapsed();

    print_failures(&outcomes, opts.verbose);
    println!("\n{}", report::table(&outcomes));
    println!("failure categories:");
    for (category, ids) in report::categories(&outcomes) {
        println!(
            "  {:>4}  {category}  (e.g. {})",
            ids.len(),
            report::short_id(&ids[0])
        );
    }
    let markdown = report::markdown(&outcomes, 300);
    let path = report_path();
    match std::fs::write(&path, &markdown) {
        Ok(()) => println!("report written to {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
    println!("run took {:.1} s", elapsed.as_secs_f64());

    let code = check_floor(&outcomes, &opts);
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    println!(
        "conformance: {passed} passed, {} failed",
        outcomes.len() - passed
    );
    Ok(code)
}

/// Runs every case on a separate runtime thread; cases still running at the global deadline
/// are reported as timeouts (a case stuck in a loop that never yields cannot be cancelled).
fn run_all(
    ds: Arc<DataSet>,
    snapshots: Arc<super::run::Snapshots>,
    cases: &[Case],
    opts: &Options,
) -> Vec<CaseOutcome> {
    let (tx, rx) = mpsc::channel::<CaseOutcome>();
    let cfg = RunConfig {
        case_timeout: opts.case_timeout,
        verbose: opts.verbose,
    };
    let jobs = opts.jobs;
    let to_run = cases.to_vec();
    let spawned = std::thread::Builder::new()
        .name("conformance-runtime".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let mut stream = futures::stream::iter(to_run.into_iter().map(|case| {
                    let (ds, snapshots, cfg) = (ds.clone(), snapshots.clone(), cfg.clone());
                    let fallback = placeholder_outcome(&case);
                    async move {
                        match tokio::spawn(run_case(ds, snapshots, case, cfg)).await {
                            Ok(outcome) => outcome,
                            Err(e) => CaseOutcome {
                                status: Status::Error,
                                summary: format!("panicked: {}", panic_message(e)),
                                ..fallback
                            },
                        }
                    }
                }))
                .buffer_unordered(jobs);
                while let Some(outcome) = stream.next().await {
                    if tx.send(outcome).is_err() {
                        break;
                    }
                }
            });
            // Shutting down could wait for stuck engine tasks; the process exits instead.
            std::mem::forget(rt);
        });
    if let Err(e) = spawned {
        eprintln!("could not start the runtime thread: {e}");
    }

    let deadline = Instant::now() + opts.total_timeout;
    let mut outcomes: Vec<CaseOutcome> = Vec::with_capacity(cases.len());
    while outcomes.len() < cases.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(o) => outcomes.push(o),
            Err(_) => break,
        }
    }
    for case in cases {
        if !outcomes.iter().any(|o| o.id == case.common().id) {
            outcomes.push(CaseOutcome {
                status: Status::Timeout,
                summary: "not finished when the whole run's time limit passed".into(),
                ..placeholder_outcome(case)
            });
        }
    }
    // Manifest order, so reports are stable.
    let order: std::collections::HashMap<&str, usize> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.common().id.as_str(), i))
        .collect();
    outcomes.sort_by_key(|o| order.get(o.id.as_str()).copied().unwrap_or(usize::MAX));
    outcomes
}

fn placeholder_outcome(case: &Case) -> CaseOutcome {
    let c = case.common();
    CaseOutcome {
        id: c.id.clone(),
        area: c.area.clone(),
        language: c.query_language.clone(),
        status: Status::Error,
        summary: String::new(),
        details: Vec::new(),
        pairs: None,
        fail_category: None,
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "(non-string panic)".into()),
        Err(e) => e.to_string(),
    }
}

fn print_failures(outcomes: &[CaseOutcome], verbose: bool) {
    for o in outcomes.iter().filter(|o| !o.passed()) {
        println!(
            "FAIL {} [{:?}] {}",
            report::short_id(&o.id),
            o.status,
            report::truncate_line(&o.summary, 240)
        );
        if verbose {
            for d in &o.details {
                println!("       {d}");
            }
        }
    }
}

/// Compares with the floor; returns 1 if any group fell below it.
fn check_floor(outcomes: &[CaseOutcome], opts: &Options) -> i32 {
    let counts = report::group_counts(outcomes);
    let path = floor_path();
    if opts.update_floor {
        if opts.filter.is_some() {
            eprintln!("not updating the floor from a filtered run");
        } else if let Err(e) = std::fs::write(&path, report::render_floor(&counts)) {
            eprintln!("could not write {}: {e}", path.display());
        } else {
            println!("floor updated: {}", path.display());
        }
    }
    if opts.filter.is_some() {
        println!("filtered run: floor not checked");
        return 0;
    }
    let floor = match std::fs::read_to_string(&path) {
        Ok(text) => report::parse_floor(&text),
        Err(_) => {
            println!("no floor file at {}: not checked", path.display());
            return 0;
        }
    };
    let below = report::below_floor(&floor, &counts);
    if below.is_empty() {
        println!("floor: every group at or above {}", path.display());
        return 0;
    }
    for (group, min, got) in &below {
        println!("BELOW FLOOR: {group}: {got} passed, floor {min}");
    }
    1
}
