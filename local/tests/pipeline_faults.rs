//! The real `pipeline.asl.json` under the embedded engine, with the offline backend and
//! injected faults, on a virtual clock: the retry schedule (1 s, 2 s, 4 s) read from the
//! execution history, the catch path, and the job record each path leaves behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use petavatar::runtime::{create_pipeline, execution_input, stage_handlers};
use statemachine::{Engine, HistoryEvent, VirtualClock};
use steps::memory::InMemoryWorld;
use steps::ports::{
    GeneratedImage, ImageGenerator, ImageRequest, JobStore, ModelError, ObjectStore, VisionModel,
    VisionRequest, VisionVerdict,
};
use steps::{ImageFormat, Job, JobStatus};

/// Which model port fails, how often, and how.
#[derive(Clone, Copy)]
struct Faults {
    port: Port,
    failures: u32,
    permanent: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Port {
    Vision,
    Images,
}

impl Faults {
    const NONE: Faults = Faults::transient(Port::Vision, 0);

    const fn transient(port: Port, failures: u32) -> Self {
        Faults {
            port,
            failures,
            permanent: false,
        }
    }
}

/// Counts down the injected failures, then lets calls through to the offline backend.
struct Injector {
    left: AtomicU32,
    permanent: bool,
}

impl Injector {
    fn new(faults: Faults, port: Port) -> Self {
        let failures = if faults.port == port {
            faults.failures
        } else {
            0
        };
        Injector {
            left: AtomicU32::new(failures),
            permanent: faults.permanent,
        }
    }

    fn next_fault(&self) -> Option<ModelError> {
        let taken = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        taken.then(|| {
            if self.permanent {
                ModelError::Permanent("access denied to the model".into())
            } else {
                ModelError::Transient("throttled".into())
            }
        })
    }
}

struct FaultyVision {
    faults: Injector,
    inner: Arc<dyn VisionModel>,
}

#[async_trait]
impl VisionModel for FaultyVision {
    async fn analyse(&self, request: VisionRequest) -> Result<VisionVerdict, ModelError> {
        match self.faults.next_fault() {
            Some(fault) => Err(fault),
            None => self.inner.analyse(request).await,
        }
    }
}

struct FaultyImages {
    faults: Injector,
    inner: Arc<dyn ImageGenerator>,
}

#[async_trait]
impl ImageGenerator for FaultyImages {
    async fn generate(&self, request: ImageRequest) -> Result<GeneratedImage, ModelError> {
        match self.faults.next_fault() {
            Some(fault) => Err(fault),
            None => self.inner.generate(request).await,
        }
    }
}

struct Outcome {
    status: String,
    error: Option<String>,
    job: Job,
    history: Vec<HistoryEvent>,
}

async fn run_chelsea(faults: Faults) -> Outcome {
    let InMemoryWorld {
        mut deps,
        uploads,
        jobs,
        ..
    } = InMemoryWorld::offline();
    deps.vision = Arc::new(FaultyVision {
        faults: Injector::new(faults, Port::Vision),
        inner: deps.vision.clone(),
    });
    deps.images = Arc::new(FaultyImages {
        faults: Injector::new(faults, Port::Images),
        inner: deps.images.clone(),
    });
    let job_id = uuid::Uuid::new_v4();
    let key = steps::keys::upload(job_id, ImageFormat::Png);
    let photo = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/chelsea.png"
    ))
    .expect("fixture");
    uploads
        .put(&key, bytes::Bytes::from(photo), "image/png")
        .await
        .expect("upload");
    jobs.create(Job::new(job_id, "owner", key.clone(), chrono::Utc::now()))
        .await
        .expect("job");

    let clock = VirtualClock::starting_2024();
    let engine = Engine::builder()
        .clock(Arc::new(clock.clone()))
        .handlers(stage_handlers(&deps, &[], Duration::ZERO))
        .build();
    let machine = create_pipeline(&engine).expect("pipeline");
    let name = job_id.to_string();
    let started = engine
        .start_execution(&machine, Some(&name), execution_input(job_id, &key, None))
        .await
        .expect("start");
    let done = tokio::time::timeout(
        Duration::from_secs(120),
        engine.wait(&started.execution_arn),
    )
    .await
    .expect("the execution ends")
    .expect("describe");
    Outcome {
        status: serde_json::to_value(done.status)
            .expect("status")
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        error: done.error.clone(),
        job: jobs.get(job_id).await.expect("job"),
        history: engine.history(&started.execution_arn).expect("history"),
    }
}

/// Seconds between consecutive invocations of one stage's function, from the history's
/// timestamps (virtual time).
fn invocation_gaps(history: &[HistoryEvent], function: &str) -> Vec<i64> {
    let scheduled: Vec<_> = history
        .iter()
        .filter(|e| e.event_type == "LambdaFunctionScheduled")
        .filter(|e| {
            e.details
                .as_ref()
                .and_then(|d| d.get("resource"))
                .and_then(|r| r.as_str())
                .is_some_and(|r| r.ends_with(&format!(":function:{function}")))
        })
        .map(|e| e.timestamp)
        .collect();
    scheduled
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds())
        .collect()
}

#[tokio::test]
async fn chelsea_completes_with_a_full_record() {
    let out = run_chelsea(Faults::NONE).await;
    assert_eq!(out.status, "SUCCEEDED", "{:?}", out.error);
    assert_eq!(out.job.status, JobStatus::Completed);
    assert_eq!(out.job.progress, 100);
    assert!(out.job.identity_package.is_some());
    assert!(out.job.pet_analysis.is_some());
    assert!(out.job.career_profile.is_some());
    assert!(out.job.avatar_key.is_some());
    assert!(out.job.error.is_none());
}

#[tokio::test]
async fn transient_faults_are_retried_after_1_2_and_4_seconds_then_the_job_completes() {
    let out = run_chelsea(Faults::transient(Port::Vision, 3)).await;
    assert_eq!(out.status, "SUCCEEDED", "{:?}", out.error);
    assert_eq!(
        invocation_gaps(&out.history, "petavatar-analyze-pet"),
        vec![1, 2, 4]
    );
    let failed = out
        .history
        .iter()
        .filter(|e| e.event_type == "LambdaFunctionFailed")
        .count();
    assert_eq!(failed, 3, "each fault is in the history");
    assert_eq!(out.job.status, JobStatus::Completed);
}

#[tokio::test]
async fn a_fourth_transient_fault_exhausts_the_retries_and_fails_the_job() {
    let out = run_chelsea(Faults::transient(Port::Vision, 4)).await;
    assert_eq!(out.status, "FAILED");
    assert_eq!(out.error.as_deref(), Some("PetAvatar.Transient"));
    assert_eq!(
        invocation_gaps(&out.history, "petavatar-analyze-pet"),
        vec![1, 2, 4]
    );
    assert_eq!(out.job.status, JobStatus::Failed);
    let error = out.job.error.expect("the job says why");
    assert_eq!(error.code, "PetAvatar.Transient");
    assert!(error.message.contains("throttled"), "{}", error.message);
}

#[tokio::test]
async fn a_permanent_error_is_not_retried_and_fails_the_job_with_its_reason() {
    let out = run_chelsea(Faults {
        port: Port::Vision,
        failures: 1,
        permanent: true,
    })
    .await;
    assert_eq!(out.status, "FAILED");
    assert_eq!(out.error.as_deref(), Some("PetAvatar.ModelError"));
    assert!(
        invocation_gaps(&out.history, "petavatar-analyze-pet").is_empty(),
        "no retry"
    );
    assert_eq!(out.job.status, JobStatus::Failed);
    let error = out.job.error.expect("the job says why");
    assert_eq!(error.code, "PetAvatar.ModelError");
    assert!(error.message.contains("access denied"), "{}", error.message);
}

#[tokio::test]
async fn transient_faults_inside_the_parallel_branch_are_retried_there() {
    let out = run_chelsea(Faults::transient(Port::Images, 2)).await;
    assert_eq!(out.status, "SUCCEEDED", "{:?}", out.error);
    assert_eq!(
        invocation_gaps(&out.history, "petavatar-generate-avatar"),
        vec![1, 2]
    );
    assert!(
        invocation_gaps(&out.history, "petavatar-write-identity").is_empty(),
        "the sibling branch ran once"
    );
    assert_eq!(out.job.status, JobStatus::Completed);
    assert!(out.job.avatar_key.is_some());
}

#[tokio::test]
async fn every_path_leaves_the_job_terminal_never_processing() {
    for faults in [
        Faults::NONE,
        Faults::transient(Port::Vision, 4),
        Faults::transient(Port::Images, 4),
    ] {
        let out = run_chelsea(faults).await;
        assert!(
            matches!(out.job.status, JobStatus::Completed | JobStatus::Failed),
            "{:?}",
            out.job.status
        );
        let last = out.history.last().expect("history");
        assert!(
            ["ExecutionSucceeded", "ExecutionFailed"].contains(&last.event_type.as_str()),
            "{}",
            last.event_type
        );
    }
}
