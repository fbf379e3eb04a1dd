//! Domain types: the job record and the results the pipeline produces.
//!
//! Every type here is `serde`-serialisable; the JSON shapes are documented in `steps/README.md`.
//! Field names are snake_case in JSON; enums serialise as the lower-case strings shown.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::personality::Personality;

/// How long a job (and its images) is kept: DynamoDB TTL and the buckets' lifecycle.
pub const JOB_RETENTION_DAYS: i64 = 7;

/// Lifecycle of a job. Ordered: a job only ever moves forwards (`Queued` < `Processing` < terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Processing,
    Completed,
    Failed,
}

impl JobStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }

    /// Rank used by conditional writes: a write may keep or raise the rank, never lower it,
    /// and nothing leaves a terminal status.
    pub fn rank(self) -> u8 {
        match self {
            JobStatus::Queued => 0,
            JobStatus::Processing => 1,
            JobStatus::Completed | JobStatus::Failed => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
        }
    }

    /// May a job in `self` move to `next`? Same status is allowed (idempotent retries) except
    /// between the two terminal states.
    pub fn can_move_to(self, next: JobStatus) -> bool {
        if self.is_terminal() {
            return self == next;
        }
        next.rank() >= self.rank()
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pipeline stage a job is in (or last reached). Serialised snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Queued,
    ValidateImage,
    AnalyzePet,
    MapCareer,
    GenerateAvatar,
    WriteIdentity,
    RecordResult,
    Completed,
    Failed,
}

impl Stage {
    /// Progress (0–100) a job shows once it has entered this stage.
    pub fn progress(self) -> u8 {
        match self {
            Stage::Queued => 0,
            Stage::ValidateImage => 10,
            Stage::AnalyzePet => 25,
            Stage::MapCareer => 45,
            // The two branches of the Parallel run at once: both enter at 60, so neither's
            // report is dropped as a step backwards, whichever comes first.
            Stage::GenerateAvatar => 60,
            Stage::WriteIdentity => 60,
            Stage::RecordResult => 90,
            Stage::Completed => 100,
            Stage::Failed => 100,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Queued => "queued",
            Stage::ValidateImage => "validate_image",
            Stage::AnalyzePet => "analyze_pet",
            Stage::MapCareer => "map_career",
            Stage::GenerateAvatar => "generate_avatar",
            Stage::WriteIdentity => "write_identity",
            Stage::RecordResult => "record_result",
            Stage::Completed => "completed",
            Stage::Failed => "failed",
        }
    }
}

/// The stages of a successful job in pipeline order, as `/status` lists them. The two branches
/// of the Parallel share one step (`Stage::step`).
pub const PIPELINE_STAGES: [Stage; 6] = [
    Stage::ValidateImage,
    Stage::AnalyzePet,
    Stage::MapCareer,
    Stage::GenerateAvatar,
    Stage::WriteIdentity,
    Stage::RecordResult,
];

/// Where a stage of `/status`'s list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Pending,
    Running,
    Done,
    Failed,
}

/// One entry of `/status`'s `stages` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageReport {
    pub name: Stage,
    pub state: StageState,
}

impl Stage {
    /// The step of the pipeline a stage belongs to (0 for ValidateImage, …); the Parallel's two
    /// branches are one step. `None` outside the pipeline (queued, completed, failed).
    pub fn step(self) -> Option<usize> {
        match self {
            Stage::ValidateImage => Some(0),
            Stage::AnalyzePet => Some(1),
            Stage::MapCareer => Some(2),
            Stage::GenerateAvatar | Stage::WriteIdentity => Some(3),
            Stage::RecordResult => Some(4),
            Stage::Queued | Stage::Completed | Stage::Failed => None,
        }
    }
}

/// Every pipeline stage with its state, read from the job's status and stage: the stages of
/// the steps before the job's are done, those of its step run (both Parallel branches while
/// the Parallel runs: it ends when both have), later ones are pending. A failed job's stage is
/// failed (the other branch of a failed Parallel is left pending: it was stopped).
pub fn stage_reports(status: JobStatus, stage: Stage) -> Vec<StageReport> {
    let current = stage.step();
    PIPELINE_STAGES
        .iter()
        .map(|&name| {
            let step = name.step();
            let state = match (status, current) {
                (JobStatus::Completed, _) => StageState::Done,
                (_, None) => StageState::Pending,
                (_, Some(c)) if step < Some(c) => StageState::Done,
                (JobStatus::Failed, Some(_)) if name == stage => StageState::Failed,
                (JobStatus::Failed, Some(_)) => StageState::Pending,
                (_, Some(c)) if step == Some(c) => StageState::Running,
                _ => StageState::Pending,
            };
            StageReport { name, state }
        })
        .collect()
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error recorded on a failed job: `code` is the stable dotted error name
/// (`PetAvatar.NotAPet`), `message` a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

/// The job record (DynamoDB table `jobs`, partition key `job_id`; SQLite locally).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: Uuid,
    /// The id of the API key that created the job; only that key can see it.
    pub owner: String,
    pub status: JobStatus,
    pub stage: Stage,
    /// 0–100, never decreases.
    pub progress: u8,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `uploads/{job_id}/original.{ext}`
    pub upload_key: String,
    /// `generated/{job_id}/avatar.png`, set on completion.
    #[serde(default)]
    pub avatar_key: Option<String>,
    #[serde(default)]
    pub execution_arn: Option<String>,
    #[serde(default)]
    pub error: Option<JobError>,
    #[serde(default)]
    pub identity_package: Option<IdentityPackage>,
    #[serde(default)]
    pub pet_analysis: Option<PetAnalysis>,
    #[serde(default)]
    pub career_profile: Option<CareerProfile>,
    /// Expiry as Unix epoch seconds (DynamoDB TTL attribute): `created_at` + 7 days.
    pub ttl: i64,
}

impl Job {
    /// A fresh job in `queued`, progress 0, expiring 7 days after `now`.
    pub fn new(
        job_id: Uuid,
        owner: impl Into<String>,
        upload_key: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        Job {
            job_id,
            owner: owner.into(),
            status: JobStatus::Queued,
            stage: Stage::Queued,
            progress: 0,
            created_at: now,
            updated_at: now,
            upload_key: upload_key.into(),
            avatar_key: None,
            execution_arn: None,
            error: None,
            identity_package: None,
            pet_analysis: None,
            career_profile: None,
            ttl: (now + Duration::days(JOB_RETENTION_DAYS)).timestamp(),
        }
    }

    /// When the job and its images expire (the `ttl`, as a timestamp).
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(self.ttl, 0)
            .unwrap_or(self.created_at + Duration::days(JOB_RETENTION_DAYS))
    }
}

/// What `JobStore::complete` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResults {
    pub avatar_key: String,
    pub identity_package: IdentityPackage,
    pub pet_analysis: PetAnalysis,
    pub career_profile: CareerProfile,
}

/// Which backend produced a result (`"offline"`, `"bedrock:<model id>"`).
pub type ModelName = String;

/// The pet analysis (AnalyzePet's output, `$.analysis`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PetAnalysis {
    /// `cat`, `dog`, … or `unknown` when the backend cannot tell.
    pub species: String,
    /// A breed, or a description such as `unknown` / `mixed`.
    pub breed: String,
    pub expression: String,
    pub posture: String,
    /// Exactly 47 named dimensions, each 0–100 (see `personality::DIMENSIONS`).
    pub personality: Personality,
    /// The three highest dimensions, highest first (names from `personality::DIMENSIONS`).
    pub dominant_traits: [String; 3],
    /// A short phrase summing up the pet.
    pub vibe: String,
    /// The main colours of the pet (hex `#rrggbb`), most prominent first; used for the avatar.
    #[serde(default)]
    pub palette: Vec<String>,
    pub model: ModelName,
    /// How sure the vision model is of `species` (0–1), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The model's other readings of the photo, most likely first (may be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Alternative>,
}

/// One reading of the photo by a classifier: a class (an ImageNet class name for the local
/// model), the species group it belongs to (`None` when it is not an animal) and its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub label: String,
    #[serde(default)]
    pub species: Option<String>,
    pub probability: f64,
}

/// Seniority of the career.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Seniority {
    EntryLevel,
    MidLevel,
    Senior,
    Executive,
}

impl Seniority {
    pub const ALL: [Seniority; 4] = [
        Seniority::EntryLevel,
        Seniority::MidLevel,
        Seniority::Senior,
        Seniority::Executive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Seniority::EntryLevel => "entry-level",
            Seniority::MidLevel => "mid-level",
            Seniority::Senior => "senior",
            Seniority::Executive => "executive",
        }
    }

    /// Centre of the band of "leadership" scores (0–100) that fits this seniority.
    pub fn band_centre(self) -> f64 {
        match self {
            Seniority::EntryLevel => 12.5,
            Seniority::MidLevel => 37.5,
            Seniority::Senior => 62.5,
            Seniority::Executive => 87.5,
        }
    }

    /// The seniority whose band holds a leadership score (0–100).
    pub fn from_leadership(score: f64) -> Seniority {
        if score < 25.0 {
            Seniority::EntryLevel
        } else if score < 50.0 {
            Seniority::MidLevel
        } else if score < 75.0 {
            Seniority::Senior
        } else {
            Seniority::Executive
        }
    }
}

impl std::fmt::Display for Seniority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The career profile (MapCareer's output, `$.career`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareerProfile {
    pub job_title: String,
    pub seniority: Seniority,
    pub industry: String,
    pub work_style: String,
    /// What the avatar wears (`navy suit`, `white lab coat`, `grey hoodie`, …).
    pub attire: String,
    /// The scene behind the avatar (`corner office`, `laboratory`, …).
    pub background: String,
    /// How sure the mapper is of this career, 0.0–1.0.
    pub confidence: f64,
    /// 3–5 personality dimension names the role draws on most (used by the similarity score).
    pub key_traits: Vec<String>,
    pub model: ModelName,
}

/// Past, present and future of the career.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trajectory {
    pub past: String,
    pub present: String,
    pub future: String,
}

/// The four components of the similarity score, each 0–100 (see `scoring`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarityBreakdown {
    /// 40 %: how strong the pet is in the traits the role draws on (mean of its `key_traits`).
    pub trait_alignment: f64,
    /// 30 %: the career mapper's confidence in the match.
    pub career_fit: f64,
    /// 15 %: how many of the pet's three dominant traits the role uses (same trait 1, same family ½).
    pub dominant_overlap: f64,
    /// 15 %: distance of the pet's leadership score from the seniority's band.
    pub seniority_fit: f64,
}

/// The similarity score: 0–100, `0.40·trait_alignment + 0.30·career_fit + 0.15·dominant_overlap + 0.15·seniority_fit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarityScore {
    pub score: u8,
    pub breakdown: SimilarityBreakdown,
}

/// What the text model writes for the identity (WriteIdentity adds the score).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityDraft {
    pub name: String,
    /// Exactly three paragraphs.
    pub bio: [String; 3],
    /// 5–10 skills.
    pub skills: Vec<String>,
    pub trajectory: Trajectory,
    pub model: ModelName,
}

/// The identity package (WriteIdentity's output, `$.generated[1]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityPackage {
    pub name: String,
    pub job_title: String,
    pub seniority: Seniority,
    /// Exactly three paragraphs.
    pub bio: [String; 3],
    /// 5–10 skills.
    pub skills: Vec<String>,
    pub trajectory: Trajectory,
    pub similarity: SimilarityScore,
    pub model: ModelName,
}

impl IdentityPackage {
    /// The package of a drafted identity: the career's title and seniority, and the score.
    pub fn new(draft: IdentityDraft, career: &CareerProfile, similarity: SimilarityScore) -> Self {
        IdentityPackage {
            name: draft.name,
            job_title: career.job_title.clone(),
            seniority: career.seniority,
            bio: draft.bio,
            skills: draft.skills,
            trajectory: draft.trajectory,
            similarity,
            model: draft.model,
        }
    }
}

/// A smaller copy of the avatar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvatarVariant {
    pub size: u32,
    pub key: String,
}

/// The avatar (GenerateAvatar's output, `$.generated[0]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Avatar {
    /// `generated/{job_id}/avatar.png`, 1024×1024.
    pub avatar_key: String,
    pub width: u32,
    pub height: u32,
    /// 512 and 256 px copies (`generated/{job_id}/avatar-512.png`, …).
    pub variants: Vec<AvatarVariant>,
    /// The prompt given to the image model (names the attire and the background).
    pub prompt: String,
    pub seed: u64,
    pub model: ModelName,
}

/// Image formats the service accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
    Heic,
}

impl ImageFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::Heic => "heic",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Heic => "image/heic",
        }
    }

    /// The upload key extension (`uploads/{job_id}/original.{ext}`).
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Heic => "heic",
        }
    }

    /// Content types a presigned POST allows.
    pub const ACCEPTED_CONTENT_TYPES: [&'static str; 4] =
        ["image/jpeg", "image/png", "image/heic", "image/heif"];
}

/// ValidateImage's output (`$.image`): the normalized image the models read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The format of the upload, detected from its bytes.
    pub format: ImageFormat,
    /// Dimensions of the normalized JPEG (after orientation and resize).
    pub width: u32,
    pub height: u32,
    /// Size of the normalized JPEG in bytes.
    pub bytes: u64,
    /// `work/{job_id}/normalized.jpg`
    pub normalized_key: String,
    /// Dimensions and size of the upload as received.
    pub original_width: u32,
    pub original_height: u32,
    pub original_bytes: u64,
}

/// Object keys, in one place.
pub mod keys {
    use uuid::Uuid;

    use super::ImageFormat;

    pub fn upload(job_id: Uuid, format: ImageFormat) -> String {
        format!("uploads/{job_id}/original.{}", format.extension())
    }

    /// The prefix under which an upload for a job lives (`uploads/{job_id}/`).
    pub fn upload_prefix(job_id: Uuid) -> String {
        format!("uploads/{job_id}/")
    }

    pub fn normalized(job_id: Uuid) -> String {
        format!("work/{job_id}/normalized.jpg")
    }

    pub fn avatar(job_id: Uuid) -> String {
        format!("generated/{job_id}/avatar.png")
    }

    pub fn avatar_variant(job_id: Uuid, size: u32) -> String {
        format!("generated/{job_id}/avatar-{size}.png")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_seven_days_after_creation() {
        let now = Utc::now();
        let job = Job::new(Uuid::new_v4(), "key-1", "uploads/x/original.png", now);
        assert_eq!(job.ttl - now.timestamp(), 7 * 24 * 3600);
        assert_eq!(job.status, JobStatus::Queued);
    }

    #[test]
    fn statuses_serialise_lowercase() {
        assert_eq!(
            serde_json::to_string(&JobStatus::Processing).ok(),
            Some("\"processing\"".to_string())
        );
        assert_eq!(
            serde_json::to_string(&Seniority::EntryLevel).ok(),
            Some("\"entry-level\"".to_string())
        );
        assert_eq!(
            serde_json::to_string(&Stage::GenerateAvatar).ok(),
            Some("\"generate_avatar\"".to_string())
        );
    }

    #[test]
    fn terminal_statuses_do_not_move() {
        assert!(!JobStatus::Completed.can_move_to(JobStatus::Failed));
        assert!(!JobStatus::Failed.can_move_to(JobStatus::Processing));
        assert!(JobStatus::Queued.can_move_to(JobStatus::Processing));
        assert!(!JobStatus::Processing.can_move_to(JobStatus::Queued));
    }
}

#[cfg(test)]
mod stage_report_tests {
    use super::*;

    fn states(status: JobStatus, stage: Stage) -> Vec<StageState> {
        stage_reports(status, stage)
            .iter()
            .map(|r| r.state)
            .collect()
    }

    #[test]
    fn both_parallel_branches_run_together_and_every_stage_is_listed() {
        use StageState::*;
        assert_eq!(states(JobStatus::Queued, Stage::Queued), [Pending; 6]);
        assert_eq!(
            states(JobStatus::Processing, Stage::AnalyzePet),
            [Done, Running, Pending, Pending, Pending, Pending]
        );
        for branch in [Stage::GenerateAvatar, Stage::WriteIdentity] {
            assert_eq!(
                states(JobStatus::Processing, branch),
                [Done, Done, Done, Running, Running, Pending]
            );
        }
        assert_eq!(
            states(JobStatus::Processing, Stage::RecordResult),
            [Done, Done, Done, Done, Done, Running]
        );
        assert_eq!(states(JobStatus::Completed, Stage::Completed), [Done; 6]);
        assert_eq!(
            states(JobStatus::Failed, Stage::GenerateAvatar),
            [Done, Done, Done, Failed, Pending, Pending]
        );
        assert_eq!(
            states(JobStatus::Failed, Stage::ValidateImage),
            [Failed, Pending, Pending, Pending, Pending, Pending]
        );
    }

    /// Progress follows the steps: a later step never shows less, the branches share one value.
    #[test]
    fn progress_grows_step_by_step() {
        let mut last = 0;
        for stage in PIPELINE_STAGES {
            assert!(stage.progress() >= last, "{stage}");
            last = stage.progress();
        }
        assert_eq!(
            Stage::GenerateAvatar.progress(),
            Stage::WriteIdentity.progress()
        );
    }
}
