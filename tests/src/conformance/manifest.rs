//! The conformance manifest (`asl-conformance-manifest/1`), as described in the data set's README.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::ConformanceError;

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub harness_constants: HarnessConstants,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HarnessConstants {
    pub region: String,
    pub account_id: String,
    pub partition: String,
    pub lambda_arn_pattern: String,
    pub role_arn_placeholder: String,
}

impl HarnessConstants {
    /// The Lambda function ARN the harness gives a stub function.
    pub fn lambda_arn(&self, function_name: &str) -> String {
        self.lambda_arn_pattern
            .replace("{function_name}", function_name)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Case {
    Execution(ExecutionCase),
    ChoiceIo(ChoiceCase),
}

impl Case {
    pub fn common(&self) -> &CaseCommon {
        match self {
            Case::Execution(c) => &c.common,
            Case::ChoiceIo(c) => &c.common,
        }
    }
}

/// Fields every case has.
#[derive(Debug, Clone, Deserialize)]
pub struct CaseCommon {
    pub id: String,
    pub area: String,
    pub query_language: String,
    pub template: String,
    pub expected: Expected,
    #[serde(default)]
    pub skip_paths: Vec<String>,
    #[serde(default)]
    pub confidence: String,
    /// When the snapshot was recorded on AWS, as the manifest writes it (`DD-MM-YYYY, HH:MM:SS`).
    #[serde(default)]
    pub recorded_date: String,
}

impl CaseCommon {
    /// The recording's day, if the manifest gives one.
    pub fn recorded_on(&self) -> Option<chrono::NaiveDate> {
        let day = self.recorded_date.get(..10)?;
        chrono::NaiveDate::parse_from_str(day, "%d-%m-%Y").ok()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Expected {
    pub snapshot_file: String,
    pub key: String,
    pub match_key: String,
    #[serde(default)]
    pub also_match_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExecutionCase {
    #[serde(flatten)]
    pub common: CaseCommon,
    #[serde(default)]
    pub patches: Vec<Patch>,
    pub input: Value,
    #[serde(default)]
    pub execution_name: Option<String>,
    #[serde(default)]
    pub lambdas: BTreeMap<String, Lambda>,
    #[serde(default)]
    pub extra_normalisation: Vec<ExtraNormalisation>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChoiceCase {
    #[serde(flatten)]
    pub common: CaseCommon,
    pub cases: Vec<ChoicePair>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChoicePair {
    pub input: Value,
    #[serde(default)]
    pub patches: Vec<Patch>,
    pub expected_output: Value,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Patch {
    Set { path: String, value: Value },
    Remove { path: String },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Lambda {
    pub snapshot_placeholder: String,
    pub function_name: String,
    pub behaviour: Behaviour,
    #[serde(default)]
    pub function_timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Behaviour {
    ReturnInput,
    Return {
        value: Value,
    },
    SleepThenReturnInput {
        seconds: f64,
    },
    Raise {
        #[serde(rename = "errorType")]
        error_type: String,
        #[serde(rename = "errorMessage")]
        error_message: String,
        #[serde(rename = "stackTrace", default)]
        stack_trace: Vec<String>,
    },
    ReturnRawBody {
        #[serde(default)]
        body: Option<String>,
        #[serde(default)]
        body_repeat: Option<RepeatSpec>,
    },
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RepeatSpec {
    pub char: String,
    pub count: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExtraNormalisation {
    JsonpathReplace {
        path: String,
        replacement: String,
        #[serde(default)]
        reference: bool,
    },
    RegexReplace {
        pattern: String,
        replacement: String,
    },
    ReplaceInputValue {
        input_pointer: String,
        replacement: String,
    },
    ReplaceOutputValue {
        output_pointer: String,
        replacement: String,
    },
    ParallelEventsSort,
    ParseOutputAnyJson,
}

/// The manifest plus the folder it came from.
#[derive(Debug, Clone)]
pub struct DataSet {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl DataSet {
    pub fn load(dir: &Path) -> Result<DataSet, ConformanceError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| ConformanceError::Io {
            path: path.clone(),
            source: e,
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| ConformanceError::Json {
                what: path.display().to_string(),
                source: e,
            })?;
        Ok(DataSet {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    pub fn read_text(&self, relative: &str) -> Result<String, ConformanceError> {
        let path = self.dir.join(relative);
        std::fs::read_to_string(&path).map_err(|e| ConformanceError::Io { path, source: e })
    }
}
