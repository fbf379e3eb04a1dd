//! Stub Lambda functions implementing the manifest's behaviour vocabulary.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use statemachine::{Clock, InvocationContext, TaskFailure, TaskHandler};

use super::manifest::Behaviour;
use super::pyjson;

/// One stub function. Sleeping uses the engine's clock, so it is instant under a virtual clock
/// and still ordered against the state's `TimeoutSeconds`.
pub struct StubLambda {
    behaviour: Behaviour,
    clock: Arc<dyn Clock>,
}

impl StubLambda {
    pub fn new(behaviour: Behaviour, clock: Arc<dyn Clock>) -> Self {
        StubLambda { behaviour, clock }
    }
}

#[async_trait]
impl TaskHandler for StubLambda {
    async fn invoke(&self, payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        match &self.behaviour {
            Behaviour::ReturnInput => Ok(payload),
            Behaviour::Return { value } => Ok(value.clone()),
            Behaviour::SleepThenReturnInput { seconds } => {
                let millis = (seconds * 1000.0).round() as i64;
                let until = self.clock.now() + chrono::Duration::milliseconds(millis);
                self.clock.sleep_until(until).await;
                Ok(payload)
            }
            Behaviour::Raise {
                error_type,
                error_message,
                stack_trace,
            } => Err(TaskFailure::new(
                error_type.clone(),
                python_error_payload(error_type, error_message, stack_trace),
            )),
            Behaviour::ReturnRawBody { body, body_repeat } => Ok(raw_body_value(
                body.as_deref(),
                body_repeat.as_ref().map(|r| (r.char.as_str(), r.count)),
            )),
        }
    }
}

/// The Python 3.12 runtime's error payload text, with a fresh request id.
pub fn python_error_payload(
    error_type: &str,
    error_message: &str,
    stack_trace: &[String],
) -> String {
    let mut payload = Map::new();
    payload.insert("errorMessage".into(), Value::String(error_message.into()));
    payload.insert("errorType".into(), Value::String(error_type.into()));
    payload.insert(
        "requestId".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    payload.insert(
        "stackTrace".into(),
        Value::Array(stack_trace.iter().cloned().map(Value::String).collect()),
    );
    pyjson::dumps(&Value::Object(payload))
}

/// The response payload of a function returning raw bytes. A handler here can only return
/// JSON, so a body that is JSON text is returned parsed, and any other body (the oversized
/// `aaa…` one) as a JSON string of the same text: its size still exceeds the payload limit.
fn raw_body_value(body: Option<&str>, repeat: Option<(&str, usize)>) -> Value {
    let text = match (body, repeat) {
        (Some(b), _) => b.to_string(),
        (None, Some((ch, count))) => ch.repeat(count),
        (None, None) => String::new(),
    };
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_payload_is_python_formatted() {
        let text = python_error_payload(
            "Exception",
            "Some exception was raised.",
            &["  File \"/var/task/handler.py\", line 2, in handler\n".to_string()],
        );
        let re = regex::Regex::new(
            r#"^\{"errorMessage": "Some exception was raised.", "errorType": "Exception", "requestId": "[0-9a-f-]{36}", "stackTrace": \["  File \\"/var/task/handler.py\\", line 2, in handler\\n"\]\}$"#,
        )
        .unwrap();
        assert!(re.is_match(&text), "{text}");
    }

    #[test]
    fn raw_bodies() {
        assert_eq!(
            raw_body_value(Some("\"HelloWorld!\""), None),
            Value::String("HelloWorld!".into())
        );
        assert_eq!(
            raw_body_value(None, Some(("a", 3))),
            Value::String("aaa".into())
        );
    }
}
