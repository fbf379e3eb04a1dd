//! The worker: what the SQS-triggered Lambda does on AWS. It receives job messages and
//! starts one execution per job, idempotently (execution name = job id, deterministic
//! input; an execution that already exists counts as started). A message is deleted once
//! its execution exists (or its job has already ended); on an error it is left alone and comes
//! back after the visibility timeout. When its last receive fails too, the job is marked
//! failed (`PetAvatar.NotStarted`) so that it does not stay `queued` for ever, and the message
//! goes to the dead-letter queue.
//!
//! The worker runs at most as many executions at once as it has slots (by default one per
//! core, plus one): the stages are CPU-bound, so more at once would only share the cores and
//! make every job finish late, all together. A job beyond the slots stays `queued`, its message
//! on the queue, until an execution ends; jobs then complete one after another, in order.
//!
//! The reconciler plays the EventBridge rule on Step Functions status changes, through the same
//! `steps::lifecycle::reconcile` as the reconciler Lambda: a job whose execution timed out or
//! was aborted (so `RecordFailure` never ran) is marked failed. Jobs that end are counted by the
//! stage wrapper (`steps::invoke`), as on AWS.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use statemachine::{Engine, ExecutionStatus, ExecutionStatusChange};
use steps::lifecycle::{self, JobStarter, ReconcileOutcome, StartOutcome, Started};
use steps::ports::{JobMessage, JobStore};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, broadcast};
use tokio::task::JoinHandle;
use tracing::Instrument;
use uuid::Uuid;

use crate::lifecycle::{EngineStarter, execution_end};
use crate::queue::{QueueError, ReceivedMessage, SqliteQueue};
use crate::runtime;

/// How long a received message stays invisible (the SQS queue's visibility timeout).
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages per receive (the Lambda event source's batch size).
pub const BATCH_SIZE: usize = 10;

#[derive(Clone)]
pub struct Worker {
    pub queue: SqliteQueue,
    pub engine: Engine,
    pub state_machine_arn: String,
    pub jobs: Arc<dyn JobStore>,
    pub visibility_timeout: Duration,
    pub poll_interval: Duration,
    /// One permit per execution allowed to run at once; see [`execution_slots`].
    pub slots: Arc<Semaphore>,
}

/// `n` execution slots (at least one).
pub fn execution_slots(n: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(n.max(1)))
}

/// One slot per core, plus one. The stages are CPU-bound, but a job also waits between
/// them (engine and job writes, hand-offs); with exactly one per core, 100 jobs on 2 cores left
/// 5–16 % of the CPU idle and completed ~20 % fewer jobs per second than with one more, which
/// matched running them all at once (docs/BENCHMARKS.md).
pub fn default_slot_count() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from) + 1
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the worker's execution slots are closed")]
    SlotsClosed,
}

/// The error code of a job whose execution could not be started, even after the retries.
pub use steps::lifecycle::NOT_STARTED;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Started {
        job_id: Uuid,
        already_existed: bool,
    },
    /// The job had already ended (completed, failed, reconciled): nothing to start.
    Skipped {
        job_id: Uuid,
    },
    /// Left on the queue: it comes back after the visibility timeout.
    Retry(String),
}

impl Worker {
    /// Receives and handles messages until the task is dropped.
    pub async fn run(self) {
        self.hold_slots_of_running_executions().await;
        loop {
            match self.poll_once().await {
                Ok(0) => self.idle().await,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot receive from the queue");
                    tokio::time::sleep(self.poll_interval).await;
                }
            }
        }
    }

    /// Waits for the next poll: a message sent in this process ends the wait at once.
    async fn idle(&self) {
        tokio::select! {
            () = tokio::time::sleep(self.poll_interval) => {}
            () = self.queue.message_sent() => {}
        }
    }

    /// Waits for a free slot, then one ReceiveMessage of at most as many messages as there are
    /// free slots, and handles them; returns how many messages were received. Each execution
    /// it starts keeps its slot until it ends.
    pub async fn poll_once(&self) -> Result<usize, WorkerError> {
        let mut free = self.free_slots().await?;
        let queue = self.queue.clone();
        let visibility = self.visibility_timeout;
        let max = free.num_permits();
        let messages =
            tokio::task::spawn_blocking(move || queue.receive(max, visibility, Utc::now()))
                .await
                .map_err(QueueError::from)??;
        let received = messages.len();
        for message in messages {
            let slot = free.split(1);
            let outcome = self.handle(&message).await;
            self.acknowledge(&message, &outcome);
            if let (
                Outcome::Started {
                    job_id,
                    already_existed: false,
                },
                Some(slot),
            ) = (&outcome, slot)
            {
                self.hold_until_finished(
                    runtime::execution_arn(&self.state_machine_arn, &job_id.to_string()),
                    slot,
                );
            }
        }
        Ok(received)
    }

    /// Every free slot, up to a batch, once at least one is free.
    async fn free_slots(&self) -> Result<OwnedSemaphorePermit, WorkerError> {
        let mut free = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| WorkerError::SlotsClosed)?;
        while free.num_permits() < BATCH_SIZE {
            match self.slots.clone().try_acquire_owned() {
                Ok(more) => free.merge(more),
                Err(TryAcquireError::NoPermits) => break,
                Err(TryAcquireError::Closed) => return Err(WorkerError::SlotsClosed),
            }
        }
        Ok(free)
    }

    /// Gives the slot back when the execution ends (at once if it has ended, or if no one
    /// runs it in this process).
    fn hold_until_finished(&self, execution_arn: String, slot: OwnedSemaphorePermit) {
        let engine = self.engine.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.wait(&execution_arn).await {
                tracing::warn!(execution_arn, error = %e, "cannot follow the execution; its slot is freed");
            }
            drop(slot);
        });
    }

    /// Executions already running when the worker starts (resumed after a restart) count
    /// against the slots: new jobs wait until fewer than the slots are left running. The
    /// resumed ones themselves are not held back; they were started before.
    async fn hold_slots_of_running_executions(&self) {
        let running = match self.engine.list_executions(Some(&self.state_machine_arn)) {
            Ok(list) => list,
            Err(e) => {
                tracing::error!(error = %e, "cannot list executions; resumed ones are not counted against the slots");
                return;
            }
        };
        for execution in running
            .into_iter()
            .filter(|e| e.status == ExecutionStatus::Running)
        {
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
            self.hold_until_finished(execution.execution_arn, slot);
        }
    }

    /// Deletes the message of a started or ended job; a retry leaves it for redelivery, with
    /// its reason (what an operator sees of it in the dead-letter queue).
    pub fn acknowledge(&self, message: &ReceivedMessage, outcome: &Outcome) {
        let (Outcome::Started { job_id, .. } | Outcome::Skipped { job_id }) = outcome else {
            if let Outcome::Retry(reason) = outcome
                && let Err(e) = self.queue.record_error(&message.receipt_handle, reason)
            {
                tracing::warn!(message_id = message.message_id, error = %e, "cannot record why a message failed");
            }
            return;
        };
        if let Err(e) = self.queue.delete(&message.receipt_handle) {
            // The execution exists, so a redelivery only finds it again: harmless, but worth a line.
            tracing::warn!(%job_id, message_id = message.message_id, error = %e, "cannot delete a handled message");
        }
    }

    /// Starts the execution of one message's job (`steps::lifecycle::JobStarter`, as the
    /// sqs-worker Lambda does), failing the job on the message's last receive.
    pub async fn handle(&self, message: &ReceivedMessage) -> Outcome {
        let job_message: JobMessage = match serde_json::from_str(&message.body) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(message_id = message.message_id, error = %e, "malformed job message; it will go to the dead-letter queue");
                return Outcome::Retry(format!("malformed message: {e}"));
            }
        };
        let job_id = job_message.job_id;
        let span =
            tracing::info_span!("worker", job_id = %job_id, receive_count = message.receive_count);
        let starter = EngineStarter {
            engine: self.engine.clone(),
            state_machine_arn: self.state_machine_arn.clone(),
        };
        let delivered = JobStarter {
            jobs: self.jobs.as_ref(),
            starter: &starter,
            uploads_bucket: runtime::UPLOADS_BUCKET,
            max_receive_count: self.queue.max_receives(),
        }
        .deliver(job_id, Some(message.receive_count))
        .instrument(span)
        .await;
        match delivered {
            Ok(StartOutcome::Started(started)) => Outcome::Started {
                job_id,
                already_existed: matches!(started, Started::AlreadyExisted { .. }),
            },
            Ok(StartOutcome::Skipped(_)) => Outcome::Skipped { job_id },
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }
}

/// Reconciles the job of an ended execution (`steps::lifecycle::reconcile`, as the
/// reconciler Lambda does for EventBridge's status changes).
pub async fn reconcile(jobs: &dyn JobStore, change: &ExecutionStatusChange) {
    let Ok(job_id) = Uuid::parse_str(&change.name) else {
        return;
    };
    match lifecycle::reconcile(jobs, job_id, &execution_end(change)).await {
        Ok(ReconcileOutcome::MarkedFailed(_) | ReconcileOutcome::AlreadyTerminal) => {}
        Ok(ReconcileOutcome::Ignored(why)) => tracing::debug!(%job_id, why, "nothing to reconcile"),
        Err(e) => {
            tracing::error!(%job_id, error = %e, "cannot reconcile the job; the next catch-up from the history retries")
        }
    }
}

/// Starts following the engine's status changes (the EventBridge rule). It subscribes before
/// it returns, so a change published right after (an execution resumed at start-up that ends at
/// once, an operator's stop) reaches it: start it before `Engine::resume_all`.
pub fn spawn_reconciler(engine: Engine, jobs: Arc<dyn JobStore>) -> JoinHandle<()> {
    let changes = engine.subscribe();
    tokio::spawn(follow_status_changes(engine, jobs, changes))
}

/// Reconciles every status change for as long as the engine runs.
async fn follow_status_changes(
    engine: Engine,
    jobs: Arc<dyn JobStore>,
    mut changes: broadcast::Receiver<ExecutionStatusChange>,
) {
    loop {
        match changes.recv().await {
            Ok(change) => reconcile(jobs.as_ref(), &change).await,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "reconciler lagged; catching up from the history");
                reconcile_finished(&engine, jobs.as_ref()).await;
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// At start-up (and after a lag): every finished execution whose job is not terminal.
pub async fn reconcile_finished(engine: &Engine, jobs: &dyn JobStore) {
    let executions = match engine.list_executions(None) {
        Ok(list) => list,
        Err(e) => {
            tracing::error!(error = %e, "cannot list executions");
            return;
        }
    };
    for execution in executions.into_iter().filter(|e| e.status.is_terminal()) {
        let Ok(job_id) = Uuid::parse_str(&execution.name) else {
            continue;
        };
        if jobs
            .get(job_id)
            .await
            .map(|j| j.status.is_terminal())
            .unwrap_or(true)
        {
            continue;
        }
        reconcile(jobs, &ExecutionStatusChange::from(execution)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use statemachine::HistoryStore;
    use steps::memory::{InMemoryJobStore, InMemoryObjectStore, InMemoryWorld};
    use steps::ports::{JobStoreError, ObjectStore};
    use steps::{ImageFormat, Job, JobError, JobStatus, keys};

    struct Fixture {
        worker: Worker,
        jobs: Arc<InMemoryJobStore>,
        uploads: Arc<InMemoryObjectStore>,
    }

    async fn fixture(stage_delay: Duration) -> Fixture {
        fixture_with_slots(stage_delay, 4).await
    }

    async fn fixture_with_slots(stage_delay: Duration, slots: usize) -> Fixture {
        let InMemoryWorld {
            deps,
            uploads,
            jobs,
            ..
        } = InMemoryWorld::offline();
        let engine = Engine::builder()
            .store(HistoryStore::in_memory())
            .handlers(runtime::stage_handlers(&deps, &[], stage_delay))
            .build();
        let state_machine_arn = runtime::create_pipeline(&engine).unwrap();
        let worker = Worker {
            queue: SqliteQueue::in_memory(3).unwrap(),
            engine,
            state_machine_arn,
            jobs: jobs.clone(),
            visibility_timeout: Duration::ZERO,
            poll_interval: Duration::from_millis(10),
            slots: execution_slots(slots),
        };
        Fixture {
            worker,
            jobs,
            uploads,
        }
    }

    /// A job whose photo is uploaded.
    async fn new_job(f: &Fixture) -> Job {
        let job_id = Uuid::new_v4();
        let key = keys::upload(job_id, ImageFormat::Png);
        let photo = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/chelsea.png"
        ))
        .unwrap();
        f.uploads
            .put(&key, Bytes::from(photo), "image/png")
            .await
            .unwrap();
        let job = Job::new(job_id, "owner", key, Utc::now());
        f.jobs.create(job.clone()).await.unwrap();
        job
    }

    fn message(job: &Job) -> String {
        serde_json::to_string(&JobMessage {
            job_id: job.job_id,
            s3_upload_key: job.upload_key.clone(),
            timestamp: Utc::now(),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_message_starts_one_execution_and_is_deleted() {
        let f = fixture(Duration::ZERO).await;
        let job = new_job(&f).await;
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        assert_eq!(f.worker.poll_once().await.unwrap(), 2);
        assert_eq!(f.worker.queue.depth().unwrap(), 0, "both deleted");
        let executions = f.worker.engine.list_executions(None).unwrap();
        assert_eq!(executions.len(), 1);
        assert_eq!(executions[0].name, job.job_id.to_string());
        let recorded = f.jobs.get(job.job_id).await.unwrap();
        assert_eq!(
            recorded.execution_arn.as_deref(),
            Some(executions[0].execution_arn.as_str())
        );
        let done = f
            .worker
            .engine
            .wait(&executions[0].execution_arn)
            .await
            .unwrap();
        assert_eq!(done.status, ExecutionStatus::Succeeded);
        assert_eq!(
            f.jobs.get(job.job_id).await.unwrap().status,
            JobStatus::Completed
        );
    }

    #[tokio::test]
    async fn a_replayed_dead_letter_gives_its_job_exactly_one_execution() {
        let mut f = fixture(Duration::ZERO).await;
        let job = new_job(&f).await;
        // No such state machine: every start fails, until an operator fixes it.
        let real = std::mem::replace(
            &mut f.worker.state_machine_arn,
            "arn:aws:states:local:000000000000:stateMachine:missing".into(),
        );
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        for _ in 0..3 {
            assert_eq!(f.worker.poll_once().await.unwrap(), 1);
        }
        assert_eq!(f.worker.poll_once().await.unwrap(), 0, "moved to the DLQ");
        let dead = f.worker.queue.dead_letter_messages().unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].receive_count, 3);
        assert_eq!(crate::dead_letters::job_of(&dead[0]), Some(job.job_id));
        assert!(
            dead[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("missing")),
            "{:?}",
            dead[0].last_error
        );
        let failed = f.jobs.get(job.job_id).await.unwrap();
        assert_eq!(failed.error.unwrap().code, NOT_STARTED);

        f.worker.state_machine_arn = real.clone();
        let starter = EngineStarter {
            engine: f.worker.engine.clone(),
            state_machine_arn: real,
        };
        let replayed =
            crate::dead_letters::replay(&f.worker.queue, f.jobs.as_ref(), &starter, None)
                .await
                .unwrap();
        assert_eq!(replayed, 1);
        assert_eq!(f.worker.queue.dead_letter_depth().unwrap(), 0);
        // A second message for the job (a client's retry) on top of the replayed one.
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        assert_eq!(f.worker.poll_once().await.unwrap(), 2);
        let executions = f.worker.engine.list_executions(None).unwrap();
        assert_eq!(executions.len(), 1, "one execution for the job");
        let done = f
            .worker
            .engine
            .wait(&executions[0].execution_arn)
            .await
            .unwrap();
        assert_eq!(done.status, ExecutionStatus::Succeeded);
        assert_eq!(
            f.jobs.get(job.job_id).await.unwrap().status,
            JobStatus::Completed
        );
        let again = crate::dead_letters::replay(&f.worker.queue, f.jobs.as_ref(), &starter, None)
            .await
            .unwrap();
        assert_eq!(again, 0, "nothing left to replay");
    }

    #[tokio::test]
    async fn an_execution_with_the_same_name_counts_as_started() {
        let f = fixture(Duration::ZERO).await;
        let job = Job::new(
            Uuid::new_v4(),
            "owner",
            "uploads/x/original.png",
            Utc::now(),
        );
        f.jobs.create(job.clone()).await.unwrap();
        // Started elsewhere with another input: ExecutionAlreadyExists is success.
        f.worker
            .engine
            .start_execution(
                &f.worker.state_machine_arn,
                Some(&job.job_id.to_string()),
                serde_json::json!({"other": 1}),
            )
            .await
            .unwrap();
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        let received = f
            .worker
            .queue
            .receive(1, Duration::ZERO, Utc::now())
            .unwrap()
            .remove(0);
        assert_eq!(
            f.worker.handle(&received).await,
            Outcome::Started {
                job_id: job.job_id,
                already_existed: true
            }
        );
    }

    #[tokio::test]
    async fn undeliverable_messages_stay_and_end_in_the_dead_letter_queue() {
        let f = fixture(Duration::ZERO).await;
        f.worker.queue.send("not json", Utc::now()).unwrap();
        let unknown = Job::new(
            Uuid::new_v4(),
            "owner",
            "uploads/x/original.png",
            Utc::now(),
        );
        f.worker.queue.send(&message(&unknown), Utc::now()).unwrap();
        for _ in 0..3 {
            assert_eq!(f.worker.poll_once().await.unwrap(), 2);
        }
        assert_eq!(f.worker.poll_once().await.unwrap(), 0);
        assert_eq!(f.worker.queue.dead_letter_depth().unwrap(), 2);
        assert!(f.worker.engine.list_executions(None).unwrap().is_empty());
    }

    /// Polls the job until it has `status` (a minute at most: only a job that never gets
    /// there fails, not one on a busy machine).
    async fn wait_for_status(jobs: &InMemoryJobStore, job_id: Uuid, status: JobStatus) -> Job {
        for _ in 0..3000 {
            let current = jobs.get(job_id).await.unwrap();
            if current.status == status {
                return current;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("job {job_id} never became {status}");
    }

    #[tokio::test]
    async fn an_execution_stopped_right_after_the_reconciler_starts_fails_its_job() {
        let f = fixture(Duration::from_secs(30)).await;
        let job = new_job(&f).await;
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        f.worker.poll_once().await.unwrap();
        let arn = f.jobs.get(job.job_id).await.unwrap().execution_arn.unwrap();
        // Nothing yields between the two, as at start-up between the reconciler and
        // `resume_all`: the change must not be published before the reconciler listens.
        spawn_reconciler(f.worker.engine.clone(), f.jobs.clone());
        f.worker
            .engine
            .stop_execution(&arn, Some("Operator"), Some("stopped by a test"))
            .await
            .unwrap();
        let failed = wait_for_status(&f.jobs, job.job_id, JobStatus::Failed).await;
        // The operator's error and cause are the job's (steps::lifecycle::job_error_for).
        let error = failed.error.unwrap();
        assert_eq!(
            (error.code.as_str(), error.message.as_str()),
            ("Operator", "stopped by a test")
        );
    }

    /// The engine's own lines for an execution a message started carry the job's id: the
    /// execution runs inside the span the worker started it in.
    #[tokio::test]
    async fn the_engines_lines_for_a_started_execution_carry_its_job_id() {
        let (logs, _guard) = telemetry::capture::Captured::install();
        let f = fixture(Duration::ZERO).await;
        f.worker.engine.register_handler(
            steps::StageName::ValidateImage.function_name(),
            Arc::new(statemachine::FnHandler(
                |_: serde_json::Value,
                 _: statemachine::InvocationContext|
                 -> Result<serde_json::Value, statemachine::TaskFailure> {
                    panic!("a handler bug")
                },
            )),
        );
        let job = new_job(&f).await;
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        assert_eq!(f.worker.poll_once().await.unwrap(), 1);
        let arn = runtime::execution_arn(&f.worker.state_machine_arn, &job.job_id.to_string());
        f.worker.engine.wait(&arn).await.unwrap();
        let lines = logs.lines("task handler panicked");
        assert_eq!(lines.len(), 1, "{}", logs.text());
        let job_ids: Vec<&serde_json::Value> = lines[0]["spans"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|span| span.get("job_id"))
            .collect();
        assert_eq!(
            job_ids,
            [&serde_json::json!(job.job_id.to_string())],
            "{}",
            lines[0]
        );
    }

    #[tokio::test]
    async fn a_message_that_cannot_be_deleted_is_logged_with_its_job() {
        let f = fixture(Duration::ZERO).await;
        let job = new_job(&f).await;
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        let first = f
            .worker
            .queue
            .receive(1, Duration::ZERO, Utc::now())
            .unwrap();
        // A second receive makes the first receipt handle stale, so deleting with it fails.
        f.worker
            .queue
            .receive(1, Duration::ZERO, Utc::now())
            .unwrap();
        let (logs, _guard) = telemetry::capture::Captured::install();
        let started = Outcome::Started {
            job_id: job.job_id,
            already_existed: false,
        };
        f.worker.acknowledge(&first[0], &started);
        let lines = logs.lines("cannot delete a handled message");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["job_id"], job.job_id.to_string(), "{}", lines[0]);
    }

    #[tokio::test]
    async fn a_job_whose_execution_never_starts_fails_with_its_last_receive() {
        let mut f = fixture(Duration::ZERO).await;
        f.worker.state_machine_arn = "arn:aws:states:local:000000000000:stateMachine:gone".into();
        let job = new_job(&f).await;
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        for _ in 0..2 {
            f.worker.poll_once().await.unwrap();
            let current = f.jobs.get(job.job_id).await.unwrap();
            assert_eq!(
                current.status,
                JobStatus::Queued,
                "retried, not yet given up"
            );
        }
        f.worker.poll_once().await.unwrap();
        let failed = f.jobs.get(job.job_id).await.unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        let error = failed.error.unwrap();
        assert_eq!(error.code, NOT_STARTED);
        assert!(
            error.message.contains("after 3 attempts"),
            "{}",
            error.message
        );
        // The message itself still goes to the dead-letter queue, for an operator.
        assert_eq!(f.worker.poll_once().await.unwrap(), 0);
        assert_eq!(f.worker.queue.dead_letter_depth().unwrap(), 1);
    }

    /// Reads fail (a job store outage); writes go through.
    struct UnreadableJobs(Arc<InMemoryJobStore>);

    #[async_trait::async_trait]
    impl JobStore for UnreadableJobs {
        async fn create(&self, job: Job) -> Result<(), JobStoreError> {
            self.0.create(job).await
        }
        async fn get(&self, _job_id: Uuid) -> Result<Job, JobStoreError> {
            Err(JobStoreError::Unavailable("throttled".into()))
        }
        async fn update(
            &self,
            job_id: Uuid,
            update: steps::job_rules::JobUpdate,
        ) -> Result<Job, JobStoreError> {
            self.0.update(job_id, update).await
        }
    }

    #[tokio::test]
    async fn giving_up_on_a_message_leaves_a_job_whose_execution_started_to_it() {
        // An earlier receive started the execution but its acknowledgement was lost; the
        // job store then fails every read until the last receive.
        let mut f = fixture(Duration::from_secs(30)).await;
        let job = new_job(&f).await;
        let input = runtime::execution_input(job.job_id, &job.upload_key, None);
        let name = job.job_id.to_string();
        f.worker
            .engine
            .start_execution(&f.worker.state_machine_arn, Some(&name), input)
            .await
            .unwrap();
        f.worker.jobs = Arc::new(UnreadableJobs(f.jobs.clone()));
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        for _ in 0..3 {
            f.worker.poll_once().await.unwrap();
        }
        assert_eq!(f.worker.queue.dead_letter_depth().unwrap(), 0);
        assert_eq!(f.worker.poll_once().await.unwrap(), 0);
        assert_eq!(f.worker.queue.dead_letter_depth().unwrap(), 1);
        let current = f.jobs.get(job.job_id).await.unwrap();
        assert_ne!(current.status, JobStatus::Failed, "{:?}", current.error);
    }

    #[tokio::test]
    async fn a_message_for_an_ended_job_starts_nothing_and_is_deleted() {
        let f = fixture(Duration::ZERO).await;
        let job = new_job(&f).await;
        let error = JobError {
            code: "PetAvatar.Aborted".into(),
            message: "stopped".into(),
        };
        f.jobs.fail(job.job_id, error).await.unwrap();
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        assert_eq!(f.worker.poll_once().await.unwrap(), 1);
        assert_eq!(f.worker.queue.depth().unwrap(), 0);
        assert!(f.worker.engine.list_executions(None).unwrap().is_empty());
    }

    /// Waits (a minute at most) until every job has ended; returns their executions in
    /// the order they started.
    async fn executions_when_all_ended(
        f: &Fixture,
        jobs: &[&Job],
    ) -> Vec<statemachine::ExecutionDescription> {
        for job in jobs {
            for _ in 0..600 {
                if f.jobs.get(job.job_id).await.unwrap().status.is_terminal() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let mut executions = Vec::new();
        for job in jobs {
            let arn = runtime::execution_arn(&f.worker.state_machine_arn, &job.job_id.to_string());
            let done = tokio::time::timeout(Duration::from_secs(60), f.worker.engine.wait(&arn))
                .await
                .expect("the execution ends")
                .unwrap();
            assert_eq!(done.status, ExecutionStatus::Succeeded, "{done:?}");
            executions.push(done);
        }
        executions.sort_by_key(|e| e.start_date);
        executions
    }

    /// Each execution started once the one before it had stopped.
    fn assert_one_at_a_time(executions: &[statemachine::ExecutionDescription]) {
        for pair in executions.windows(2) {
            let stopped = pair[0].stop_date.expect("ended");
            assert!(
                pair[1].start_date >= stopped,
                "{} started at {} before {} stopped at {stopped}",
                pair[1].name,
                pair[1].start_date,
                pair[0].name
            );
        }
    }

    #[tokio::test]
    async fn jobs_beyond_the_slots_stay_queued_and_end_in_order() {
        let f = fixture_with_slots(Duration::from_millis(50), 1).await;
        let mut jobs = Vec::new();
        for _ in 0..3 {
            let job = new_job(&f).await;
            f.worker.queue.send(&message(&job), Utc::now()).unwrap();
            jobs.push(job);
        }
        assert_eq!(
            f.worker.poll_once().await.unwrap(),
            1,
            "one slot, one message"
        );
        for _ in 0..600 {
            if f.jobs.get(jobs[0].job_id).await.unwrap().status != JobStatus::Queued {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            f.jobs.get(jobs[0].job_id).await.unwrap().status,
            JobStatus::Processing
        );
        for waiting in &jobs[1..] {
            assert_eq!(
                f.jobs.get(waiting.job_id).await.unwrap().status,
                JobStatus::Queued
            );
        }
        assert_eq!(
            f.worker.queue.depth().unwrap(),
            2,
            "their messages wait on the queue"
        );
        assert_eq!(f.worker.engine.list_executions(None).unwrap().len(), 1);

        let worker = tokio::spawn(f.worker.clone().run());
        let executions = executions_when_all_ended(&f, &jobs.iter().collect::<Vec<_>>()).await;
        worker.abort();
        let started: Vec<&str> = executions.iter().map(|e| e.name.as_str()).collect();
        let sent: Vec<String> = jobs.iter().map(|j| j.job_id.to_string()).collect();
        assert_eq!(started, sent, "in the order they were queued");
        assert_one_at_a_time(&executions);
    }

    #[tokio::test]
    async fn executions_running_when_the_worker_starts_take_slots() {
        let f = fixture_with_slots(Duration::from_millis(50), 1).await;
        // Started before the worker runs, as a resumed execution is at start-up.
        let resumed = new_job(&f).await;
        let input = runtime::execution_input(resumed.job_id, &resumed.upload_key, None);
        f.worker
            .engine
            .start_execution(
                &f.worker.state_machine_arn,
                Some(&resumed.job_id.to_string()),
                input,
            )
            .await
            .unwrap();
        let queued = new_job(&f).await;
        f.worker.queue.send(&message(&queued), Utc::now()).unwrap();
        let worker = tokio::spawn(f.worker.clone().run());
        let executions = executions_when_all_ended(&f, &[&resumed, &queued]).await;
        worker.abort();
        assert_eq!(executions[0].name, resumed.job_id.to_string());
        assert_one_at_a_time(&executions);
    }

    #[tokio::test]
    async fn a_message_sent_while_the_worker_idles_starts_at_once() {
        let mut f = fixture(Duration::ZERO).await;
        f.worker.poll_interval = Duration::from_secs(600);
        let worker = tokio::spawn(f.worker.clone().run());
        // Let it find the queue empty and go idle.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let job = new_job(&f).await;
        let sent = std::time::Instant::now();
        f.worker.queue.send(&message(&job), Utc::now()).unwrap();
        while f.worker.engine.list_executions(None).unwrap().is_empty() {
            assert!(
                // Far below the 600 s poll interval, far above any scheduling lag.
                sent.elapsed() < Duration::from_secs(60),
                "the worker slept through the message"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let executions = executions_when_all_ended(&f, &[&job]).await;
        worker.abort();
        assert_eq!(executions[0].name, job.job_id.to_string());
    }
}
