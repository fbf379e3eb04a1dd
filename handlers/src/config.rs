//! Settings every Lambda reads from its environment. infra/ gives every function the same
//! variables (names, URLs, model ids — no secrets); IAM, not the environment, decides what each
//! function may touch. Each binary asks only for what it uses, so a missing variable fails the
//! cold start with a message naming it rather than an invocation later.

/// Default Converse model for vision and text (a cross-region inference profile id).
pub const DEFAULT_TEXT_MODEL_ID: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
/// Default InvokeModel image model.
pub const DEFAULT_IMAGE_MODEL_ID: &str = "stability.stable-image-core-v1:1";
/// The job queue's `maxReceiveCount` (infra's `MAX_RECEIVE_COUNT`): after this many receives a
/// message goes to the dead-letter queue.
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 3;
/// `lambda_http`'s own setting: when set, a REST API request's path is the resource path as the
/// router knows it (`/status/…`), not prefixed with the stage (`/prod/status/…`). lambda_http
/// only asks whether it is set, so any value (even `false`) turns it on: we accept `true` only.
pub const IGNORE_STAGE_IN_PATH: &str = "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} has an invalid value {value:?}: {why}")]
    Invalid {
        name: &'static str,
        value: String,
        why: &'static str,
    },
}

/// Which model backend the stages use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelBackend {
    /// Amazon Bedrock (Converse for vision/text, InvokeModel on a Stability model for images).
    Bedrock,
    /// `steps::offline`: deterministic, no AWS account needed (tests, demos).
    Offline,
}

/// Whether AnalyzePet runs the local classifier before its vision model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisionGate {
    /// Every photo goes to the vision model (the default).
    Off,
    /// The `vision` crate's classifier refuses non-pets and people first, with no model call
    /// (needs the `vision-gate` feature).
    Local,
}

/// The environment, read once at cold start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub jobs_table: Option<String>,
    pub uploads_bucket: Option<String>,
    pub generated_bucket: Option<String>,
    pub jobs_queue_url: Option<String>,
    pub state_machine_arn: Option<String>,
    pub model_backend: ModelBackend,
    pub vision_model_id: String,
    pub text_model_id: String,
    pub image_model_id: String,
    /// Region the image model is invoked in, when it differs from the function's region.
    pub image_model_region: Option<String>,
    /// Path-style S3 addressing (`{endpoint}/{bucket}/{key}`), for S3-compatible emulators.
    pub s3_force_path_style: bool,
    /// The S3 endpoint when not AWS's (`AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`).
    pub s3_endpoint_url: Option<String>,
    /// The name this function reports in logs and metrics.
    pub function_name: String,
    /// The job queue's `maxReceiveCount` (`JOBS_MAX_RECEIVE_COUNT`): the worker fails a job
    /// whose message fails on this receive, the last before the dead-letter queue.
    pub jobs_max_receive_count: u32,
    /// `PETAVATAR_VISION_GATE`: `off` (default) or `local` (AnalyzePet only).
    pub vision_gate: VisionGate,
    /// [`IGNORE_STAGE_IN_PATH`] as set (the API functions require `true`).
    pub ignore_stage_in_path: Option<String>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let model_backend = match get("PETAVATAR_MODEL_BACKEND").as_deref() {
            None | Some("bedrock") => ModelBackend::Bedrock,
            Some("offline") => ModelBackend::Offline,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "PETAVATAR_MODEL_BACKEND",
                    value: other.to_owned(),
                    why: "expected bedrock or offline",
                });
            }
        };
        let text_model_id = get("TEXT_MODEL_ID").unwrap_or_else(|| DEFAULT_TEXT_MODEL_ID.into());
        let s3_endpoint_url = get("AWS_ENDPOINT_URL_S3").or_else(|| get("AWS_ENDPOINT_URL"));
        let s3_force_path_style = match get("PETAVATAR_S3_FORCE_PATH_STYLE").as_deref() {
            Some("true" | "1") => true,
            Some("false" | "0") => false,
            // Emulators (moto, MinIO) are reached by IP or localhost: no bucket subdomains there.
            None => s3_endpoint_url.is_some(),
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "PETAVATAR_S3_FORCE_PATH_STYLE",
                    value: other.to_owned(),
                    why: "expected true or false",
                });
            }
        };
        let jobs_max_receive_count = match get("JOBS_MAX_RECEIVE_COUNT") {
            None => DEFAULT_MAX_RECEIVE_COUNT,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(SettingsError::Invalid {
                        name: "JOBS_MAX_RECEIVE_COUNT",
                        value: text,
                        why: "expected a whole number from 1",
                    });
                }
            },
        };
        let vision_gate = match get("PETAVATAR_VISION_GATE").as_deref() {
            None | Some("off") => VisionGate::Off,
            Some("local") => VisionGate::Local,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "PETAVATAR_VISION_GATE",
                    value: other.to_owned(),
                    why: "expected off or local",
                });
            }
        };
        Ok(Settings {
            jobs_table: get("JOBS_TABLE"),
            uploads_bucket: get("UPLOADS_BUCKET"),
            generated_bucket: get("GENERATED_BUCKET"),
            jobs_queue_url: get("JOBS_QUEUE_URL"),
            state_machine_arn: get("STATE_MACHINE_ARN"),
            model_backend,
            vision_model_id: get("VISION_MODEL_ID").unwrap_or_else(|| text_model_id.clone()),
            text_model_id,
            image_model_id: get("IMAGE_MODEL_ID").unwrap_or_else(|| DEFAULT_IMAGE_MODEL_ID.into()),
            image_model_region: get("IMAGE_MODEL_REGION"),
            s3_force_path_style,
            s3_endpoint_url,
            function_name: get("PETAVATAR_FUNCTION")
                .or_else(|| get("AWS_LAMBDA_FUNCTION_NAME"))
                .unwrap_or_else(|| "petavatar".into()),
            jobs_max_receive_count,
            vision_gate,
            ignore_stage_in_path: lookup(IGNORE_STAGE_IN_PATH),
        })
    }

    pub fn jobs_table(&self) -> Result<&str, SettingsError> {
        required(&self.jobs_table, "JOBS_TABLE")
    }

    pub fn uploads_bucket(&self) -> Result<&str, SettingsError> {
        required(&self.uploads_bucket, "UPLOADS_BUCKET")
    }

    pub fn generated_bucket(&self) -> Result<&str, SettingsError> {
        required(&self.generated_bucket, "GENERATED_BUCKET")
    }

    pub fn jobs_queue_url(&self) -> Result<&str, SettingsError> {
        required(&self.jobs_queue_url, "JOBS_QUEUE_URL")
    }

    pub fn state_machine_arn(&self) -> Result<&str, SettingsError> {
        required(&self.state_machine_arn, "STATE_MACHINE_ARN")
    }

    /// The API functions route by the resource path: `lambda_http` must leave the stage out
    /// ([`IGNORE_STAGE_IN_PATH`] = `true`, set by infra), or every route would be a 404.
    pub fn require_stage_ignored_in_path(&self) -> Result<(), SettingsError> {
        match self.ignore_stage_in_path.as_deref() {
            Some("true") => Ok(()),
            None => Err(SettingsError::Missing(IGNORE_STAGE_IN_PATH)),
            Some(other) => Err(SettingsError::Invalid {
                name: IGNORE_STAGE_IN_PATH,
                value: other.to_owned(),
                why: "expected true (lambda_http treats any value as set)",
            }),
        }
    }
}

fn required<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, SettingsError> {
    value.as_deref().ok_or(SettingsError::Missing(name))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_to_bedrock_and_the_documented_models() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.model_backend, ModelBackend::Bedrock);
        assert_eq!(s.text_model_id, DEFAULT_TEXT_MODEL_ID);
        assert_eq!(s.vision_model_id, DEFAULT_TEXT_MODEL_ID);
        assert_eq!(s.image_model_id, DEFAULT_IMAGE_MODEL_ID);
        assert!(!s.s3_force_path_style);
        assert_eq!(s.jobs_table(), Err(SettingsError::Missing("JOBS_TABLE")));
    }

    #[test]
    fn vision_follows_text_unless_set() {
        let s = settings(&[("TEXT_MODEL_ID", "t"), ("IMAGE_MODEL_ID", "i")]).unwrap();
        assert_eq!(
            (s.text_model_id.as_str(), s.vision_model_id.as_str()),
            ("t", "t")
        );
        let s = settings(&[("TEXT_MODEL_ID", "t"), ("VISION_MODEL_ID", "v")]).unwrap();
        assert_eq!(s.vision_model_id, "v");
    }

    #[test]
    fn an_endpoint_override_implies_path_style() {
        let s = settings(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]).unwrap();
        assert!(s.s3_force_path_style);
        assert_eq!(s.s3_endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        let s = settings(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("PETAVATAR_S3_FORCE_PATH_STYLE", "false"),
        ])
        .unwrap();
        assert!(!s.s3_force_path_style);
    }

    #[test]
    fn the_max_receive_count_defaults_to_the_queues() {
        assert_eq!(settings(&[]).unwrap().jobs_max_receive_count, 3);
        let s = settings(&[("JOBS_MAX_RECEIVE_COUNT", "5")]).unwrap();
        assert_eq!(s.jobs_max_receive_count, 5);
        for bad in ["0", "-1", "three"] {
            assert!(
                matches!(
                    settings(&[("JOBS_MAX_RECEIVE_COUNT", bad)]),
                    Err(SettingsError::Invalid { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_vision_gate_is_off_unless_asked_for() {
        assert_eq!(settings(&[]).unwrap().vision_gate, VisionGate::Off);
        let s = settings(&[("PETAVATAR_VISION_GATE", "local")]).unwrap();
        assert_eq!(s.vision_gate, VisionGate::Local);
        assert!(matches!(
            settings(&[("PETAVATAR_VISION_GATE", "on")]),
            Err(SettingsError::Invalid {
                name: "PETAVATAR_VISION_GATE",
                ..
            })
        ));
    }

    #[test]
    fn the_api_needs_the_stage_left_out_of_paths() {
        let missing = settings(&[]).unwrap().require_stage_ignored_in_path();
        assert_eq!(missing, Err(SettingsError::Missing(IGNORE_STAGE_IN_PATH)));
        let off = settings(&[(IGNORE_STAGE_IN_PATH, "false")]).unwrap();
        assert!(matches!(
            off.require_stage_ignored_in_path(),
            Err(SettingsError::Invalid { .. })
        ));
        let on = settings(&[(IGNORE_STAGE_IN_PATH, "true")]).unwrap();
        assert_eq!(on.require_stage_ignored_in_path(), Ok(()));
    }

    #[test]
    fn refuses_an_unknown_backend() {
        assert!(matches!(
            settings(&[("PETAVATAR_MODEL_BACKEND", "gpt")]),
            Err(SettingsError::Invalid { .. })
        ));
        let s = settings(&[("PETAVATAR_MODEL_BACKEND", "offline")]).unwrap();
        assert_eq!(s.model_backend, ModelBackend::Offline);
    }
}
