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

impl TaskFailure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        TaskFailure {
            error: error.into(),
            cause: cause.into(),
        }
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
