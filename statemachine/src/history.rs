//! Execution history events, shaped like `GetExecutionHistory`.

use chrono::{DateTime, Utc};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// One history event. Serialises as
/// `{"timestamp", "type", "id", "previousEventId", "<type>EventDetails": {...}}`,
/// with `timestamp` in epoch seconds (the Step Functions JSON wire format).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    pub timestamp: DateTime<Utc>,
    /// e.g. `TaskStateEntered`.
    pub event_type: String,
    pub id: i64,
    pub previous_event_id: i64,
    /// The details object; `input`/`output` members hold JSON text, as on AWS.
    pub details: Option<Map<String, Value>>,
}

impl HistoryEvent {
    /// The member name of the details object, e.g. `stateEnteredEventDetails`.
    pub fn details_key(&self) -> String {
        details_key(&self.event_type)
    }

    /// A string member of the details, e.g. `name`, `error`, `output`.
    pub fn detail_str(&self, member: &str) -> Option<&str> {
        self.details.as_ref()?.get(member)?.as_str()
    }

    /// The details `output` (or `input`) member parsed as JSON.
    pub fn detail_json(&self, member: &str) -> Option<Value> {
        serde_json::from_str(self.detail_str(member)?).ok()
    }

    /// This event as a JSON value (same as its `Serialize` output).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Seconds since the epoch with millisecond precision, as the AWS JSON protocol sends them.
pub fn epoch_seconds(t: &DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

impl Serialize for HistoryEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("timestamp", &epoch_seconds(&self.timestamp))?;
        map.serialize_entry("type", &self.event_type)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("previousEventId", &self.previous_event_id)?;
        if let Some(details) = &self.details {
            map.serialize_entry(&self.details_key(), details)?;
        }
        map.end()
    }
}

/// The details member name AWS uses for an event type.
pub fn details_key(event_type: &str) -> String {
    let base = if event_type.ends_with("StateEntered") {
        "stateEntered".to_string()
    } else if event_type.ends_with("StateExited") {
        "stateExited".to_string()
    } else {
        let mut chars = event_type.chars();
        match chars.next() {
            Some(first) => first.to_lowercase().collect::<String>() + chars.as_str(),
            None => String::new(),
        }
    };
    format!("{base}EventDetails")
}

/// Which page of a history to read, like `GetExecutionHistory`'s request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryQuery {
    #[serde(default)]
    pub reverse_order: bool,
    /// Page size (1..=1000); `None` means 100, as on AWS.
    pub max_results: Option<u32>,
    pub next_token: Option<String>,
}

/// One page of history, serialises like the `GetExecutionHistory` response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    pub events: Vec<HistoryEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Payload size limit of Step Functions (256 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// Maximum events in one execution history.
pub const MAX_HISTORY_EVENTS: usize = 25_000;

/// `{"truncated": false}`, the `inputDetails`/`outputDetails` object.
pub(crate) fn not_truncated() -> Value {
    let mut m = Map::new();
    m.insert("truncated".into(), Value::Bool(false));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_keys_follow_aws_names() {
        assert_eq!(details_key("PassStateEntered"), "stateEnteredEventDetails");
        assert_eq!(details_key("MapStateExited"), "stateExitedEventDetails");
        assert_eq!(details_key("TaskScheduled"), "taskScheduledEventDetails");
        assert_eq!(
            details_key("LambdaFunctionScheduled"),
            "lambdaFunctionScheduledEventDetails"
        );
        assert_eq!(
            details_key("ExecutionStarted"),
            "executionStartedEventDetails"
        );
    }

    #[test]
    fn event_serialises_like_get_execution_history() {
        let ev = HistoryEvent {
            timestamp: DateTime::<Utc>::from_timestamp(1_700_000_000, 250_000_000).unwrap(),
            event_type: "PassStateEntered".into(),
            id: 2,
            previous_event_id: 0,
            details: Some(
                serde_json::json!({"name": "A", "input": "{}", "inputDetails": {"truncated": false}})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        };
        let v = ev.to_json();
        assert_eq!(v["type"], "PassStateEntered");
        assert_eq!(v["timestamp"], 1_700_000_000.25);
        assert_eq!(v["stateEnteredEventDetails"]["name"], "A");
        assert_eq!(v["previousEventId"], 0);
    }
}

/// The details of an event the engine records. The frequent shapes are kept typed, so that
/// recording a transition builds no JSON map; [`EventDetails::to_map`] gives the map a reader
/// sees, and [`EventDetails::to_json`] the same map's text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EventDetails {
    None,
    Map(Map<String, Value>),
    /// `{"input", "inputDetails": {"truncated": false}, "name"}`
    StateEntered {
        input: String,
        name: String,
    },
    /// `{"name", "output", "outputDetails": {"truncated": false}}`
    StateExited {
        name: String,
        output: String,
    },
    /// `{"index", "name"}`
    MapIteration {
        index: usize,
        name: String,
    },
}

impl From<Option<Map<String, Value>>> for EventDetails {
    fn from(d: Option<Map<String, Value>>) -> Self {
        match d {
            Some(m) => EventDetails::Map(m),
            None => EventDetails::None,
        }
    }
}

/// `{"truncated": false}` as a serde struct, for writing without building a map.
#[derive(Serialize)]
struct NotTruncated {
    truncated: bool,
}

const NOT_TRUNCATED: NotTruncated = NotTruncated { truncated: false };

#[derive(Serialize)]
struct EnteredJson<'a> {
    input: &'a str,
    #[serde(rename = "inputDetails")]
    input_details: NotTruncated,
    name: &'a str,
}

#[derive(Serialize)]
struct ExitedJson<'a> {
    name: &'a str,
    output: &'a str,
    #[serde(rename = "outputDetails")]
    output_details: NotTruncated,
}

#[derive(Serialize)]
struct IterationJson<'a> {
    index: usize,
    name: &'a str,
}

impl EventDetails {
    /// [`EventDetails::to_map`] without a copy of a map.
    pub(crate) fn into_map(self) -> Option<Map<String, Value>> {
        match self {
            EventDetails::Map(m) => Some(m),
            other => other.to_map(),
        }
    }

    /// The details object, members in the order AWS writes them.
    pub(crate) fn to_map(&self) -> Option<Map<String, Value>> {
        let mut m = Map::new();
        match self {
            EventDetails::None => return None,
            EventDetails::Map(map) => return Some(map.clone()),
            EventDetails::StateEntered { input, name } => {
                m.insert("input".into(), Value::String(input.clone()));
                m.insert("inputDetails".into(), not_truncated());
                m.insert("name".into(), Value::String(name.clone()));
            }
            EventDetails::StateExited { name, output } => {
                m.insert("name".into(), Value::String(name.clone()));
                m.insert("output".into(), Value::String(output.clone()));
                m.insert("outputDetails".into(), not_truncated());
            }
            EventDetails::MapIteration { index, name } => {
                m.insert("index".into(), Value::from(*index));
                m.insert("name".into(), Value::String(name.clone()));
            }
        }
        Some(m)
    }

    /// The details as JSON text, `None` without details.
    #[cfg(test)]
    pub(crate) fn to_json(&self) -> Result<Option<String>, serde_json::Error> {
        if *self == EventDetails::None {
            return Ok(None);
        }
        let mut out = Vec::new();
        self.write_json(&mut out)?;
        Ok(String::from_utf8(out).ok())
    }

    /// Writes the details as JSON (`null` without details), as the map
    /// [`EventDetails::to_map`] gives would be written.
    pub(crate) fn write_json(&self, out: impl std::io::Write) -> Result<(), serde_json::Error> {
        match self {
            EventDetails::None => serde_json::to_writer(out, &Value::Null),
            EventDetails::Map(map) => serde_json::to_writer(out, map),
            EventDetails::StateEntered { input, name } => serde_json::to_writer(
                out,
                &EnteredJson {
                    input,
                    input_details: NOT_TRUNCATED,
                    name,
                },
            ),
            EventDetails::StateExited { name, output } => serde_json::to_writer(
                out,
                &ExitedJson {
                    name,
                    output,
                    output_details: NOT_TRUNCATED,
                },
            ),
            EventDetails::MapIteration { index, name } => serde_json::to_writer(
                out,
                &IterationJson {
                    index: *index,
                    name,
                },
            ),
        }
    }
}

#[cfg(test)]
mod details_tests {
    use super::*;

    /// The typed shapes read back (map and text) exactly as the maps they stand for.
    #[test]
    fn typed_details_equal_their_maps() {
        let cases = [
            EventDetails::StateEntered {
                input: "{\"a\":\"\\u00e9\\\"\"}".into(),
                name: "S \"1\"".into(),
            },
            EventDetails::StateExited {
                name: "S".into(),
                output: "[1,2]".into(),
            },
            EventDetails::MapIteration {
                index: 7,
                name: "M".into(),
            },
        ];
        let expected = [
            serde_json::json!({"input": "{\"a\":\"\\u00e9\\\"\"}", "inputDetails": {"truncated": false}, "name": "S \"1\""}),
            serde_json::json!({"name": "S", "output": "[1,2]", "outputDetails": {"truncated": false}}),
            serde_json::json!({"index": 7, "name": "M"}),
        ];
        for (d, want) in cases.iter().zip(expected) {
            let map = d.to_map().unwrap();
            assert_eq!(Value::Object(map.clone()), want);
            let text = d.to_json().unwrap().unwrap();
            assert_eq!(
                text,
                serde_json::to_string(&map).unwrap(),
                "same text, same order"
            );
        }
        assert_eq!(EventDetails::None.to_json().unwrap(), None);
    }
}
