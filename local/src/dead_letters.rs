//! `petavatar dead-letters list|replay|purge`: the dead-letter queue of a data folder (SQLite,
//! works while the server runs: its worker receives the replayed messages at its next poll).
//!
//! A job message lands here when its execution could not be started in 3 receives; the worker
//! then failed the job `PetAvatar.NotStarted` (unless its execution existed). Replaying moves
//! the message back to the queue (receive count reset, as SQS's dead-letter redrive does) and,
//! for a job the worker had given up on, reopens the job first (`steps::lifecycle::prepare_replay`);
//! the worker starts it with execution name = job id, so a job gets one execution however often
//! its messages are replayed.

use std::path::Path;

use chrono::Utc;
use statemachine::{Engine, HistoryStore};
use steps::lifecycle::{self, OperatorError, PipelineStarter, ReplayPrepared};
use steps::ports::{JobMessage, JobStore};
use uuid::Uuid;

use crate::lifecycle::EngineStarter;
use crate::queue::{DeadLetter, QueueError, SqliteQueue};
use crate::runtime::STATE_MACHINE_NAME;
use crate::serve::{database_path, engine_path};
use crate::store::SqliteJobStore;

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("no queue in {0} (has `petavatar serve --data` run there?)")]
    NoQueue(String),
    #[error("{0}")]
    Queue(#[from] QueueError),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("engine history: {0}")]
    Store(#[from] statemachine::StoreError),
    #[error("job {job_id}: {source}")]
    Job { job_id: Uuid, source: OperatorError },
    #[error("no dead letter {0}")]
    NoSuchMessage(String),
}

/// The job a message names, if its body is a job message.
pub fn job_of(letter: &DeadLetter) -> Option<Uuid> {
    serde_json::from_str::<JobMessage>(&letter.body)
        .ok()
        .map(|m| m.job_id)
}

/// What the commands work on: the queue and jobs of `data`, the engine's history beside them.
pub struct DeadLetters {
    pub queue: SqliteQueue,
    pub jobs: SqliteJobStore,
    pub starter: EngineStarter,
}

impl DeadLetters {
    pub fn open(data: &Path) -> Result<Self, DeadLetterError> {
        let db = database_path(data);
        if !db.exists() {
            return Err(DeadLetterError::NoQueue(data.display().to_string()));
        }
        // Read only: it tells whether a job's execution exists; it runs nothing.
        let engine = Engine::builder()
            .store(HistoryStore::open(engine_path(data))?)
            .build();
        let state_machine_arn = engine.state_machine_arn(STATE_MACHINE_NAME);
        Ok(Self {
            queue: SqliteQueue::open(&db, 3)?,
            jobs: SqliteJobStore::open(&db)?,
            starter: EngineStarter {
                engine,
                state_machine_arn,
            },
        })
    }

    /// Replays one dead letter (`Some(message_id)`) or all; returns the messages replayed.
    pub async fn replay(&self, message_id: Option<&str>) -> Result<usize, DeadLetterError> {
        replay(&self.queue, &self.jobs, &self.starter, message_id).await
    }
}

/// Replays dead letters over any job store and pipeline starter (the server's, in tests).
pub async fn replay(
    queue: &SqliteQueue,
    jobs: &dyn JobStore,
    starter: &dyn PipelineStarter,
    message_id: Option<&str>,
) -> Result<usize, DeadLetterError> {
    let letters: Vec<DeadLetter> = queue
        .dead_letter_messages()?
        .into_iter()
        .filter(|l| message_id.is_none_or(|id| l.message_id == id))
        .collect();
    if let (Some(id), true) = (message_id, letters.is_empty()) {
        return Err(DeadLetterError::NoSuchMessage(id.to_owned()));
    }
    let mut replayed = 0;
    for letter in &letters {
        if let Some(job_id) = job_of(letter) {
            match lifecycle::prepare_replay(jobs, starter, job_id).await {
                Ok(ReplayPrepared::Reopened | ReplayPrepared::Unchanged) => {}
                // A message for a job that is gone starts nothing: the worker drops it.
                Err(OperatorError::JobNotFound(_)) => {}
                Err(source) => return Err(DeadLetterError::Job { job_id, source }),
            }
        }
        replayed += queue.replay_dead_letters(Some(&letter.message_id), Utc::now())?;
    }
    Ok(replayed)
}

pub fn print_list(letters: &[DeadLetter]) {
    println!(
        "{:<38} {:<38} {:>8}  {:<24} LAST ERROR",
        "MESSAGE", "JOB", "RECEIVES", "SENT"
    );
    for letter in letters {
        println!(
            "{:<38} {:<38} {:>8}  {:<24} {}",
            letter.message_id,
            job_of(letter).map_or_else(|| "(not a job message)".to_owned(), |j| j.to_string()),
            letter.receive_count,
            letter.sent_at.format("%Y-%m-%d %H:%M:%S%.3f"),
            letter.last_error.as_deref().unwrap_or("-")
        );
    }
    if letters.is_empty() {
        eprintln!("the dead-letter queue is empty");
    }
}
