//! The real `pipeline.asl.json` under the embedded engine, with the offline backend and
//! injected faults, on a virtual clock: the retry schedule (1 s, 2 s, 4 s) read from the
//! execution history, the catch path, and the job record each path leaves behind; the calls
//! per stage when one stage keeps failing (no retry storm: 4 of that stage, 1 of the others);
//! and a photo refused for its content ending at `JobRejected`, a succeeded execution.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use petavatar::runtime::{
    JobOutcome, StageHandler, create_pipeline, execution_input, job_outcome, stage_handlers,
};
use serde_json::Value;
use statemachine::{
    Engine, ExecutionStatusChange, HandlerRegistry, HistoryEvent, InvocationContext, TaskFailure,
    TaskHandler, VirtualClock,
};
use steps::memory::InMemoryWorld;
use steps::ports::{
    GeneratedImage, ImageGenerator, ImageRequest, JobStore, ModelError, ObjectStore, VisionModel,
    VisionRequest, VisionVerdict,
};
use steps::{Deps, ImageFormat, Job, JobStatus, StageName};

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
    change: ExecutionStatusChange,
    job: Job,
    history: Vec<HistoryEvent>,
    /// Every sleep the engine took, in seconds of virtual time.
    sleeps: Vec<i64>,
}

const CHELSEA: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/chelsea.png"
));

async fn run_chelsea(faults: Faults) -> Outcome {
    run_pipeline(CHELSEA, faults, |deps| {
        stage_handlers(deps, &[], Duration::ZERO)
    })
    .await
}

/// Uploads `photo`, creates its job and runs the pipeline on it with the handlers `handlers`
/// builds from the (fault-injected) ports.
async fn run_pipeline(
    photo: &[u8],
    faults: Faults,
    handlers: impl FnOnce(&Deps) -> HandlerRegistry,
) -> Outcome {
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
    uploads
        .put(&key, bytes::Bytes::copy_from_slice(photo), "image/png")
        .await
        .expect("upload");
    jobs.create(Job::new(job_id, "owner", key.clone(), chrono::Utc::now()))
        .await
        .expect("job");

    let clock = VirtualClock::starting_2024();
    let engine = Engine::builder()
        .clock(Arc::new(clock.clone()))
        .handlers(handlers(&deps))
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
        change: ExecutionStatusChange::from(done),
        job: jobs.get(job_id).await.expect("job"),
        history: engine.history(&started.execution_arn).expect("history"),
        sleeps: clock
            .sleeps()
            .iter()
            .map(|(from, to)| (*to - *from).num_seconds())
            .collect(),
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

/// Calls per function name, shared by every [`Counted`] handler of one run.
type Calls = Arc<Mutex<BTreeMap<&'static str, u32>>>;

/// A stage's real in-process function, counted; `fault` makes every call fail with that error
/// instead (a dependency that never recovers).
struct Counted {
    function: &'static str,
    inner: StageHandler,
    fault: Option<&'static str>,
    calls: Calls,
}

#[async_trait]
impl TaskHandler for Counted {
    async fn invoke(&self, payload: Value, ctx: InvocationContext) -> Result<Value, TaskFailure> {
        *self
            .calls
            .lock()
            .expect("calls")
            .entry(self.function)
            .or_default() += 1;
        match self.fault {
            Some(error) => Err(TaskFailure::new(
                error,
                format!(r#"{{"errorType":"{error}","errorMessage":"injected: {error}"}}"#),
            )),
            None => self.inner.invoke(payload, ctx).await,
        }
    }
}

/// The pipeline's handlers, each counted; `faults` maps a stage to the error it keeps failing with.
fn counted_handlers(
    deps: &Deps,
    faults: &[(StageName, &'static str)],
    calls: &Calls,
) -> HandlerRegistry {
    let mut registry = HandlerRegistry::new();
    for stage in StageName::ALL {
        let handler = Counted {
            function: stage.function_name(),
            inner: StageHandler {
                stage,
                deps: deps.clone(),
                observers: Vec::new(),
                delay: Duration::ZERO,
            },
            fault: faults.iter().find(|(s, _)| *s == stage).map(|(_, e)| *e),
            calls: calls.clone(),
        };
        registry.register(stage.function_name(), Arc::new(handler));
    }
    registry
}

/// Runs chelsea with `faults`; returns the outcome and the calls per function.
async fn count_calls(
    photo: &[u8],
    faults: &[(StageName, &'static str)],
) -> (Outcome, BTreeMap<&'static str, u32>) {
    let calls = Calls::default();
    let out = run_pipeline(photo, Faults::NONE, |deps| {
        counted_handlers(deps, faults, &calls)
    })
    .await;
    let calls = calls.lock().expect("calls").clone();
    (out, calls)
}

/// The invocations of each function the history records (`LambdaFunctionScheduled`).
fn scheduled_per_function(history: &[HistoryEvent]) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for event in history
        .iter()
        .filter(|e| e.event_type == "LambdaFunctionScheduled")
    {
        let resource = event
            .details
            .as_ref()
            .and_then(|d| d.get("resource"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let function = resource.rsplit(':').next().unwrap_or_default().to_owned();
        *counts.entry(function).or_default() += 1;
    }
    counts
}

const TRANSIENT: &str = "PetAvatar.Transient";

/// The stages that run before `failing` does (each once), in pipeline order, and the one that may
/// run beside it (the other Parallel branch: once if it started before the Parallel failed).
fn upstream_of(failing: StageName) -> (Vec<StageName>, Option<StageName>) {
    use StageName::*;
    match failing {
        ValidateImage => (vec![], None),
        AnalyzePet => (vec![ValidateImage], None),
        MapCareer => (vec![ValidateImage, AnalyzePet], None),
        GenerateAvatar => (
            vec![ValidateImage, AnalyzePet, MapCareer],
            Some(WriteIdentity),
        ),
        WriteIdentity => (
            vec![ValidateImage, AnalyzePet, MapCareer],
            Some(GenerateAvatar),
        ),
        RecordResult => (
            vec![
                ValidateImage,
                AnalyzePet,
                MapCareer,
                GenerateAvatar,
                WriteIdentity,
            ],
            None,
        ),
        RecordFailure => (vec![], None),
    }
}

#[tokio::test]
async fn a_stage_that_keeps_failing_is_called_4_times_and_every_other_stage_once() {
    for failing in [
        StageName::ValidateImage,
        StageName::AnalyzePet,
        StageName::MapCareer,
        StageName::GenerateAvatar,
        StageName::WriteIdentity,
        StageName::RecordResult,
    ] {
        let (out, calls) = count_calls(CHELSEA, &[(failing, TRANSIENT)]).await;
        let stage = failing.state_name();
        assert_eq!(out.status, "FAILED", "{stage}");
        assert_eq!(out.error.as_deref(), Some(TRANSIENT), "{stage}");
        assert_eq!(
            calls.get(failing.function_name()),
            Some(&4),
            "{stage}: the first call and 3 retries: {calls:?}"
        );
        let (upstream, sibling) = upstream_of(failing);
        let mut expected: BTreeMap<&str, u32> = upstream
            .iter()
            .map(|s| (s.function_name(), 1))
            .chain([(failing.function_name(), 4)])
            .chain([(StageName::RecordFailure.function_name(), 1)])
            .collect();
        if let Some(sibling) = sibling {
            // The sibling branch runs once, unless the Parallel failed before it was scheduled.
            let sibling_calls = calls.get(sibling.function_name()).copied().unwrap_or(0);
            assert!(sibling_calls <= 1, "{stage}: {calls:?}");
            if sibling_calls == 1 {
                expected.insert(sibling.function_name(), 1);
            }
        }
        assert_eq!(calls, expected, "{stage}: calls per function");
        let scheduled = scheduled_per_function(&out.history);
        let from_history: BTreeMap<&str, u32> =
            scheduled.iter().map(|(f, n)| (f.as_str(), *n)).collect();
        assert_eq!(from_history, calls, "{stage}: the history shows every call");
        assert_eq!(
            out.sleeps,
            vec![1, 2, 4],
            "{stage}: one backoff schedule, not nested ones"
        );
        assert_eq!(out.job.status, JobStatus::Failed, "{stage}");
        assert_eq!(
            out.job.error.as_ref().map(|e| e.code.as_str()),
            Some(TRANSIENT)
        );
    }
}

#[tokio::test]
async fn a_failure_record_that_keeps_failing_is_tried_4_times_and_the_execution_fails() {
    let (out, calls) = count_calls(
        CHELSEA,
        &[
            (StageName::MapCareer, "PetAvatar.ModelError"),
            (StageName::RecordFailure, TRANSIENT),
        ],
    )
    .await;
    assert_eq!(out.status, "FAILED");
    assert_eq!(
        out.error.as_deref(),
        Some("PetAvatar.ModelError"),
        "the stage's error, not the recorder's"
    );
    assert_eq!(
        calls.get("petavatar-map-career"),
        Some(&1),
        "permanent: no retry"
    );
    assert_eq!(calls.get("petavatar-record-failure"), Some(&4));
    assert_eq!(out.sleeps, vec![1, 2, 4]);
    assert_eq!(job_outcome(&out.change), Some(JobOutcome::Failed));
}

/// A PNG that is not a picture of anything: a truncated header.
const NOT_AN_IMAGE: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR truncated";

#[tokio::test]
async fn a_refused_photo_ends_at_job_rejected_a_succeeded_execution_with_a_failed_job() {
    let (out, calls) = count_calls(NOT_AN_IMAGE, &[]).await;
    assert_eq!(out.status, "SUCCEEDED", "{:?}", out.error);
    assert_eq!(
        calls.get("petavatar-validate-image"),
        Some(&1),
        "not retried"
    );
    assert_eq!(calls.get("petavatar-record-failure"), Some(&1));
    assert_eq!(calls.get("petavatar-analyze-pet"), None);
    let states: Vec<&str> = out
        .history
        .iter()
        .filter(|e| e.event_type.ends_with("StateEntered"))
        .filter_map(|e| e.details.as_ref()?.get("name")?.as_str())
        .collect();
    assert_eq!(states, ["ValidateImage", "RecordRejection", "JobRejected"]);

    // Clients see what they always saw: the job failed, with the refusal's code and message.
    assert_eq!(out.job.status, JobStatus::Failed);
    let error = out.job.error.clone().expect("the job says why");
    assert_eq!(error.code, "PetAvatar.InvalidImage");
    assert_eq!(job_outcome(&out.change), Some(JobOutcome::Rejected(error)));
    let output: Value =
        serde_json::from_str(out.change.output.as_deref().expect("output")).expect("json");
    assert_eq!(output["rejected"], true);
    assert_eq!(output["status"], "failed");
}

#[tokio::test]
async fn not_a_pet_is_a_rejection_and_a_model_fault_is_a_failure() {
    let (rejected, calls) =
        count_calls(CHELSEA, &[(StageName::AnalyzePet, "PetAvatar.NotAPet")]).await;
    assert_eq!(rejected.status, "SUCCEEDED");
    assert_eq!(calls.get("petavatar-analyze-pet"), Some(&1));
    assert_eq!(
        rejected.job.error.as_ref().map(|e| e.code.as_str()),
        Some("PetAvatar.NotAPet")
    );
    assert!(matches!(
        job_outcome(&rejected.change),
        Some(JobOutcome::Rejected(e)) if e.code == "PetAvatar.NotAPet"
    ));

    let (failed, _) =
        count_calls(CHELSEA, &[(StageName::AnalyzePet, "PetAvatar.ModelError")]).await;
    assert_eq!(failed.status, "FAILED");
    assert_eq!(failed.job.status, JobStatus::Failed);
    assert_eq!(job_outcome(&failed.change), Some(JobOutcome::Failed));

    let (completed, _) = count_calls(CHELSEA, &[]).await;
    assert_eq!(completed.status, "SUCCEEDED");
    assert_eq!(job_outcome(&completed.change), Some(JobOutcome::Completed));
}

#[tokio::test]
async fn a_rejection_that_cannot_be_recorded_fails_the_execution_with_the_refusals_name() {
    let (out, calls) = count_calls(
        CHELSEA,
        &[
            (StageName::AnalyzePet, "PetAvatar.NotAPet"),
            (StageName::RecordFailure, TRANSIENT),
        ],
    )
    .await;
    assert_eq!(out.status, "FAILED", "a fault: it alarms");
    assert_eq!(out.error.as_deref(), Some("PetAvatar.NotAPet"));
    assert_eq!(calls.get("petavatar-record-failure"), Some(&4));
    assert_eq!(job_outcome(&out.change), Some(JobOutcome::Failed));
}
