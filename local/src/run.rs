//! `petavatar run PHOTO`: the whole pipeline on one photo, in process, with a progress
//! bar; the identity printed, the avatar and `result.json` written to `--out`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use statemachine::{Engine, ExecutionStatus, HistoryStore};
use steps::memory::{InMemoryObjectStore, InMemoryWorld};
use steps::ports::{JobStore, ObjectStore};
use steps::{ImageFormat, Job, JobStatus, StageError, StageName, keys};
use uuid::Uuid;

use crate::runtime::{self, StageObserver};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read {path}: {source}")]
    ReadPhoto {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("engine: {0}")]
    Engine(#[from] statemachine::EngineError),
    /// The vision model's weights are missing or corrupt: checked before the photo is read.
    #[error("{0}")]
    Vision(#[from] vision::LoadError),
    #[error("job store: {0}")]
    Jobs(#[from] steps::ports::JobStoreError),
    #[error("object store: {0}")]
    Objects(#[from] steps::ports::ObjectStoreError),
    /// The pipeline ran and the job failed (e.g. `PetAvatar.NotAPet`).
    #[error("the job failed: {message} ({code})")]
    JobFailed { code: String, message: String },
    #[error("the execution ended {status} without recording why: {detail}")]
    ExecutionEnded { status: String, detail: String },
}

pub struct RunOptions {
    pub photo: PathBuf,
    pub out: PathBuf,
    pub species: Option<String>,
}

/// The stages a successful job goes through (RecordFailure only runs on failure).
const SHOWN_STAGES: [StageName; 6] = [
    StageName::ValidateImage,
    StageName::AnalyzePet,
    StageName::MapCareer,
    StageName::GenerateAvatar,
    StageName::WriteIdentity,
    StageName::RecordResult,
];

/// Progress per stage: a bar on a terminal, plain lines otherwise.
struct ProgressObserver {
    bar: ProgressBar,
    interactive: bool,
    running: Mutex<Vec<StageName>>,
}

impl ProgressObserver {
    fn new() -> Self {
        let interactive = std::io::stderr().is_terminal();
        let bar = if interactive {
            ProgressBar::new(SHOWN_STAGES.len() as u64)
        } else {
            ProgressBar::hidden()
        };
        let style = ProgressStyle::with_template("{spinner} [{bar:24}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(120));
        Self {
            bar,
            interactive,
            running: Mutex::new(Vec::new()),
        }
    }

    fn line(&self, text: String) {
        if self.interactive {
            self.bar.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Vec<StageName>> {
        match self.running.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl StageObserver for ProgressObserver {
    fn started(&self, stage: StageName, _job_id: &str) {
        let mut running = self.running();
        running.push(stage);
        let names: Vec<&str> = running.iter().map(|s| s.state_name()).collect();
        self.bar.set_message(names.join(" + "));
    }

    fn finished(
        &self,
        stage: StageName,
        _job_id: &str,
        outcome: Result<(), &StageError>,
        elapsed: Duration,
    ) {
        self.running().retain(|s| *s != stage);
        let ms = elapsed.as_millis();
        match outcome {
            Ok(()) => {
                if SHOWN_STAGES.contains(&stage) {
                    self.bar.inc(1);
                }
                self.line(format!("  ok   {:<16} {ms:>6} ms", stage.state_name()));
            }
            Err(e) => self.line(format!(
                "  FAIL {:<16} {ms:>6} ms  {}: {e}",
                stage.state_name(),
                e.name()
            )),
        }
    }
}

/// The format a photo is uploaded as: from its bytes when they are JPEG, PNG or HEIC, else from
/// its extension (ValidateImage has the last word and names what it really is).
pub fn photo_format(bytes: &[u8], path: &Path) -> ImageFormat {
    if let Ok(format) = steps::imaging::detect_format(bytes) {
        return format;
    }
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => ImageFormat::Png,
        Some("heic" | "heif") => ImageFormat::Heic,
        _ => ImageFormat::Jpeg,
    }
}

/// What one pipeline run left in memory.
pub struct Outcome {
    pub job: Job,
    /// `generated/{job_id}/*` (the avatar and its variants): file name → PNG bytes, sorted.
    pub images: Vec<(String, Bytes)>,
    pub execution_arn: String,
    pub history: Vec<statemachine::HistoryEvent>,
    pub description: statemachine::ExecutionDescription,
}

impl Outcome {
    /// The job's result: `Ok` when it completed, else why it did not.
    pub fn result(&self) -> Result<(), RunError> {
        match (self.description.status, self.job.status) {
            (ExecutionStatus::Succeeded, JobStatus::Completed) => Ok(()),
            (_, JobStatus::Failed) => {
                let (code, message) = self
                    .job
                    .error
                    .clone()
                    .map(|e| (e.code, e.message))
                    .unwrap_or_else(|| ("PetAvatar.Internal".into(), "the job failed".into()));
                Err(RunError::JobFailed { code, message })
            }
            (status, _) => Err(RunError::ExecutionEnded {
                status: status.to_string(),
                detail: self
                    .description
                    .cause
                    .clone()
                    .or(self.description.error.clone())
                    .unwrap_or_default(),
            }),
        }
    }

    /// The PNG of one generated file (`avatar.png`, `avatar-256.png`, …).
    pub fn image(&self, file_name: &str) -> Option<&Bytes> {
        self.images
            .iter()
            .find(|(name, _)| name == file_name)
            .map(|(_, bytes)| bytes)
    }
}

/// The pipeline on one photo, in memory: the real ASL under the embedded engine with the
/// offline text and image models and `vision` (the local pretrained models in `run`). Stage
/// lines go to stderr when `progress` is set.
pub async fn pipeline(
    photo_path: &Path,
    photo: Vec<u8>,
    species: Option<&str>,
    vision: Arc<dyn steps::ports::VisionModel>,
    progress: bool,
) -> Result<Outcome, RunError> {
    let InMemoryWorld {
        mut deps,
        uploads,
        generated,
        jobs,
    } = InMemoryWorld::offline();
    // The embedded default sees with the local pretrained models; the texture heuristic of
    // `steps::offline` is only the evaluation's baseline.
    deps.vision = vision;

    let job_id = Uuid::new_v4();
    let format = photo_format(&photo, photo_path);
    let upload_key = keys::upload(job_id, format);
    uploads
        .put(&upload_key, Bytes::from(photo), format.content_type())
        .await?;
    jobs.create(Job::new(job_id, "local", upload_key.clone(), Utc::now()))
        .await?;

    let observer = progress.then(|| Arc::new(ProgressObserver::new()));
    let observers: Vec<Arc<dyn StageObserver>> = observer
        .iter()
        .map(|o| o.clone() as Arc<dyn StageObserver>)
        .collect();
    let engine = Engine::builder()
        .store(HistoryStore::in_memory())
        .handlers(runtime::stage_handlers(&deps, &observers, Duration::ZERO))
        .execution_span(runtime::execution_span)
        .build();
    let sm_arn = runtime::create_pipeline(&engine)?;
    if progress {
        eprintln!("job {job_id}: {}", photo_path.display());
    }
    let input = runtime::execution_input(job_id, &upload_key, species);
    let started = engine
        .start_execution(&sm_arn, Some(&job_id.to_string()), input)
        .await?;
    let description = engine.wait(&started.execution_arn).await?;
    if let Some(observer) = &observer {
        observer.bar.finish_and_clear();
    }
    let job = jobs.get(job_id).await?;
    let history = engine.history(&started.execution_arn)?;
    let images = generated_images(generated.as_ref(), job_id).await?;
    Ok(Outcome {
        job,
        images,
        execution_arn: started.execution_arn,
        history,
        description,
    })
}

/// Reads a photo from disk.
pub async fn read_photo(path: &Path) -> Result<Vec<u8>, RunError> {
    tokio::fs::read(path)
        .await
        .map_err(|source| RunError::ReadPhoto {
            path: path.to_owned(),
            source,
        })
}

/// Runs the pipeline on one photo. The stores and the history live in memory: `run` leaves
/// nothing behind but what it writes to `--out`.
pub async fn run(options: RunOptions) -> Result<Job, RunError> {
    let vision = Arc::new(vision::LocalVision::load()?);
    let photo = read_photo(&options.photo).await?;
    let outcome = pipeline(
        &options.photo,
        photo,
        options.species.as_deref(),
        vision,
        true,
    )
    .await?;
    std::fs::create_dir_all(&options.out).map_err(|source| RunError::Write {
        path: options.out.clone(),
        source,
    })?;
    write_json(
        &options.out.join("history.json"),
        &json!({"events": outcome.history}),
    )?;
    outcome.result()?;
    let mut files = Vec::new();
    for (file_name, bytes) in &outcome.images {
        let path = options.out.join(file_name);
        std::fs::write(&path, bytes).map_err(|source| RunError::Write {
            path: path.clone(),
            source,
        })?;
        files.push(file_name.clone());
    }
    write_json(
        &options.out.join("result.json"),
        &result_document(&outcome.job, &files, &outcome.execution_arn),
    )?;
    Ok(outcome.job)
}

fn write_json(path: &Path, value: &Value) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    std::fs::write(path, text + "\n").map_err(|source| RunError::Write {
        path: path.to_owned(),
        source,
    })
}

/// `generated/{job_id}/*` (the avatar and its variants), sorted by file name.
async fn generated_images(
    generated: &InMemoryObjectStore,
    job_id: Uuid,
) -> Result<Vec<(String, Bytes)>, RunError> {
    let prefix = format!("generated/{job_id}/");
    let mut images = Vec::new();
    for key in generated.keys() {
        let Some(file_name) = key.strip_prefix(&prefix) else {
            continue;
        };
        if file_name.contains('/') {
            continue;
        }
        images.push((file_name.to_owned(), generated.get(&key).await?));
    }
    images.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(images)
}

fn result_document(job: &Job, files: &[String], execution_arn: &str) -> Value {
    json!({
        "job_id": job.job_id,
        "status": job.status,
        "execution_arn": execution_arn,
        "avatar": "avatar.png",
        "files": files,
        "identity": job.identity_package,
        "career": job.career_profile,
        "pet_analysis": job.pet_analysis,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    })
}

/// The identity as a person reads it.
pub fn render_identity(job: &Job) -> String {
    let mut out = String::new();
    if let Some(id) = &job.identity_package {
        out.push_str(&format!(
            "\n{} — {} ({})\n",
            id.name, id.job_title, id.seniority
        ));
        if let Some(career) = &job.career_profile {
            out.push_str(&format!(
                "Industry: {} · Work style: {}\n",
                career.industry, career.work_style
            ));
        }
        if let Some(pet) = &job.pet_analysis {
            out.push_str(&format!(
                "Pet: {}, {} · {} · {} · vibe: {}\n",
                pet.species, pet.breed, pet.expression, pet.posture, pet.vibe
            ));
            out.push_str(&format!(
                "Dominant traits: {}\n",
                pet.dominant_traits.join(", ")
            ));
        }
        out.push_str(&format!("Similarity: {}/100\n\n", id.similarity.score));
        for paragraph in &id.bio {
            out.push_str(paragraph);
            out.push_str("\n\n");
        }
        out.push_str(&format!("Skills: {}\n", id.skills.join(", ")));
        out.push_str(&format!(
            "Career: {}\n     → {}\n     → {}\n",
            id.trajectory.past, id.trajectory.present, id.trajectory.future
        ));
        out.push_str(&format!("Model: {}\n", id.model));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_photo_format_comes_from_the_bytes_then_the_extension() {
        let png = b"\x89PNG\r\n\x1a\n....";
        assert_eq!(photo_format(png, Path::new("cat.jpg")), ImageFormat::Png);
        assert_eq!(
            photo_format(&[0xFF, 0xD8, 0xFF, 0xE0], Path::new("cat.png")),
            ImageFormat::Jpeg
        );
        assert_eq!(
            photo_format(b"text", Path::new("cat.HEIF")),
            ImageFormat::Heic
        );
        assert_eq!(photo_format(b"text", Path::new("cat")), ImageFormat::Jpeg);
    }
}
