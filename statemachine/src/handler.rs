//! Task handlers: what a Lambda function is, in process.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A failed invocation: `error` plays the role of the Lambda `errorType`, `cause` the
/// role of the error payload text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct TaskFailure {
    pub error: String,
    pub cause: String,
}

/// The error of a handler that panicked.
///
/// In process, a panicking handler is what a Lambda function whose runtime crashes is on AWS
/// (a Rust bootstrap that panics exits with status 101). Lambda answers such an invocation
/// with an unhandled function error whose payload has `errorType` `Runtime.ExitError`, and
/// Step Functions reports unhandled Lambda errors as `Lambda.Unknown` ("Unhandled errors in
/// Lambda are reported as `Lambda.Unknown` in the error output. These include out-of-memory
/// errors and function timeouts": Step Functions developer guide, "Handle Lambda service
/// exceptions"). So the error is `Lambda.Unknown`, matched by `States.ALL` and
/// `States.TaskFailed`, and the cause keeps Lambda's `Runtime.ExitError` payload.
pub const HANDLER_CRASHED_ERROR: &str = "Lambda.Unknown";

impl TaskFailure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskFailure {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// The failure reported for a handler that panicked with `panic` (the payload
    /// `catch_unwind` returns): [`HANDLER_CRASHED_ERROR`], with the cause Lambda's payload for a
    /// crashed runtime, its message naming the panic.
    pub fn from_panic(panic: &(dyn std::any::Any + Send)) -> Self {
        let message = panic_message(panic);
        let payload = serde_json::json!({
            "errorType": "Runtime.ExitError",
            "errorMessage": format!("Runtime exited with error: panic: {message}"),
        });
        TaskFailure::new(HANDLER_CRASHED_ERROR, payload.to_string())
    }
}

/// The text of a panic payload (`panic!` with a literal or with format arguments).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}

/// What an invocation knows about where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvocationContext {
    pub function_name: String,
    pub execution_arn: String,
    pub state_name: String,
    /// How many times this state was retried before this attempt (`$$.State.RetryCount`).
    pub retry_count: u32,
}

/// An in-process Lambda function.
#[async_trait]
pub trait TaskHandler: Send + Sync + 'static {
    async fn invoke(
        &self,
        payload: serde_json::Value,
        ctx: InvocationContext,
    ) -> Result<serde_json::Value, TaskFailure>;
}

/// Handlers by Lambda function name.
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    handlers: HashMap<String, Arc<dyn TaskHandler>>,
}

impl HandlerRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) the handler of `function_name`.
    pub fn register(
        &mut self,
        function_name: impl Into<String>,
        handler: Arc<dyn TaskHandler>,
    ) -> &mut Self {
        self.handlers.insert(function_name.into(), handler);
        self
    }

    /// Builder-style [`HandlerRegistry::register`].
    pub fn with(mut self, function_name: impl Into<String>, handler: Arc<dyn TaskHandler>) -> Self {
        self.register(function_name, handler);
        self
    }

    pub fn get(&self, function_name: &str) -> Option<Arc<dyn TaskHandler>> {
        self.handlers.get(function_name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }
}

impl std::fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerRegistry")
            .field("functions", &self.names())
            .finish()
    }
}

/// A handler made from a closure, for tests and stubs.
pub struct FnHandler<F>(pub F);

#[async_trait]
impl<F> TaskHandler for FnHandler<F>
where
    F: Fn(serde_json::Value, InvocationContext) -> Result<serde_json::Value, TaskFailure>
        + Send
        + Sync
        + 'static,
{
    async fn invoke(
        &self,
        payload: serde_json::Value,
        ctx: InvocationContext,
    ) -> Result<serde_json::Value, TaskFailure> {
        (self.0)(payload, ctx)
    }
}

/// The function name inside a Lambda function ARN, a partial ARN or a plain name:
/// `arn:aws:lambda:us-east-1:123:function:name[:qualifier]`, `123:function:name`, `name`.
pub fn lambda_function_name(reference: &str) -> &str {
    let parts: Vec<&str> = reference.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) if i + 1 < parts.len() => parts[i + 1],
        _ => parts.first().copied().unwrap_or(reference),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_lambda_unknown_with_the_runtime_exit_payload() {
        let caught = std::panic::catch_unwind(|| panic!("bad {}", "input")).unwrap_err();
        let f = TaskFailure::from_panic(caught.as_ref());
        assert_eq!(f.error, "Lambda.Unknown");
        let payload: serde_json::Value = serde_json::from_str(&f.cause).unwrap();
        assert_eq!(payload["errorType"], "Runtime.ExitError");
        assert_eq!(
            payload["errorMessage"],
            "Runtime exited with error: panic: bad input"
        );
        let literal = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert!(
            TaskFailure::from_panic(literal.as_ref())
                .cause
                .contains("panic: plain")
        );
    }

    #[test]
    fn function_names_from_arns() {
        assert_eq!(
            lambda_function_name("arn:aws:lambda:us-east-1:111111111111:function:f1"),
            "f1"
        );
        assert_eq!(
            lambda_function_name("arn:aws:lambda:local:000000000000:function:f2:$LATEST"),
            "f2"
        );
        assert_eq!(lambda_function_name("123:function:f3"), "f3");
        assert_eq!(lambda_function_name("f4"), "f4");
    }
}
