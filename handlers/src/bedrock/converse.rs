//! `VisionModel` and `TextModel` on Bedrock's Converse API. Every call forces one tool
//! (`ToolChoice::Tool`) whose input schema is the stage's output type, so the answer is JSON in
//! a known shape, never prose to parse. An answer that breaks the shape gets one repair turn (the
//! model sees its tool call answered with an error `toolResult` naming the problem); a second bad
//! answer is `ModelError::InvalidOutput` (`PetAvatar.ModelOutput`).

use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ImageBlock, ImageFormat, ImageSource, InferenceConfiguration,
    Message, SpecificToolChoice, StopReason, SystemContentBlock, Tool, ToolChoice,
    ToolConfiguration, ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolResultStatus,
    ToolSpecification,
};
use serde_json::Value;
use steps::ports::{
    CareerRequest, IdentityRequest, ModelError, TextModel, VisionModel, VisionRequest,
    VisionVerdict,
};
use steps::{CareerProfile, IdentityDraft};

use super::document::{to_document, to_value};
use super::schema::{self, ToolDef, VisionOutcome};
use super::{CallTarget, converse_error};

/// How many answers a model gets: the first, and one repair.
const ATTEMPTS: usize = 2;
const MAX_TOKENS: i32 = 4096;

/// Converse-backed vision and text models.
#[derive(Debug, Clone)]
pub struct ConverseModels {
    client: Client,
    vision_model_id: String,
    text_model_id: String,
}

impl ConverseModels {
    pub fn new(
        client: Client,
        vision_model_id: impl Into<String>,
        text_model_id: impl Into<String>,
    ) -> Self {
        Self {
            client,
            vision_model_id: vision_model_id.into(),
            text_model_id: text_model_id.into(),
        }
    }

    /// Sends the conversation, forcing `tool`, and parses the tool input with `parse`; repairs
    /// once.
    async fn call_tool<T>(
        &self,
        model_id: &str,
        operation: &str,
        system: &str,
        first: Message,
        tool: &ToolDef,
        parse: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<T, ModelError> {
        let config = tool_config(tool)?;
        let mut messages = vec![first];
        let mut problem = String::new();
        for attempt in 1..=ATTEMPTS {
            let output = self
                .converse(model_id, operation, system, &messages, &config)
                .await?;
            let reply = reply_of(&output)?;
            match tool_input(&reply, tool.name) {
                Ok((tool_use_id, input)) => match parse(&input) {
                    Ok(value) => return Ok(value),
                    Err(why) => {
                        problem = why;
                        tracing::warn!(model = model_id, operation, attempt, problem = %problem, "model output breaks the schema");
                        messages.push(reply);
                        messages.push(repair_request(&tool_use_id, &problem)?);
                    }
                },
                Err(why) => {
                    problem = why;
                    tracing::warn!(model = model_id, operation, attempt, problem = %problem, "model did not call the tool");
                    if !reply.content().is_empty() {
                        messages.push(reply);
                    }
                    messages.push(user_text(&format!(
                        "{problem}. Call the {} tool with the complete answer.",
                        tool.name
                    ))?);
                }
            }
        }
        telemetry::emf::model_error(model_id, operation, "InvalidOutput");
        Err(ModelError::InvalidOutput(format!(
            "{model_id} answered {operation} outside the schema twice: {problem}"
        )))
    }

    async fn converse(
        &self,
        model_id: &str,
        operation: &str,
        system: &str,
        messages: &[Message],
        config: &ToolConfiguration,
    ) -> Result<ConverseOutput, ModelError> {
        let started = Instant::now();
        let result = self
            .client
            .converse()
            .model_id(model_id)
            .system(SystemContentBlock::Text(system.to_owned()))
            .set_messages(Some(messages.to_vec()))
            .tool_config(config.clone())
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(MAX_TOKENS)
                    .build(),
            )
            .send()
            .await;
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        let output = match result {
            Ok(output) => output,
            Err(e) => {
                let region = self.client.config().region().map(|r| r.as_ref());
                let error = converse_error(&e, CallTarget { model_id, region });
                telemetry::emf::model_call(model_id, operation, millis, Some(error_kind(&error)));
                return Err(error);
            }
        };
        if matches!(
            output.stop_reason(),
            StopReason::ContentFiltered | StopReason::GuardrailIntervened
        ) {
            telemetry::emf::model_call(model_id, operation, millis, Some("ContentFiltered"));
            return Err(ModelError::ContentFiltered(format!(
                "{model_id} stopped with {} during {operation}",
                output.stop_reason().as_str()
            )));
        }
        telemetry::emf::model_call(model_id, operation, millis, None);
        if let Some(usage) = output.usage() {
            tracing::info!(
                model = model_id,
                operation,
                input_tokens = usage.input_tokens(),
                output_tokens = usage.output_tokens(),
                latency_ms = millis,
                "model answered"
            );
        }
        Ok(output)
    }
}

pub fn error_kind(error: &ModelError) -> &'static str {
    match error {
        ModelError::Transient(_) => "Transient",
        ModelError::InvalidOutput(_) => "InvalidOutput",
        ModelError::ContentFiltered(_) => "ContentFiltered",
        ModelError::AccessDenied(_) => "AccessDenied",
        ModelError::Permanent(_) => "Permanent",
    }
}

fn build_error(what: &str, e: impl std::fmt::Display) -> ModelError {
    ModelError::Permanent(format!("cannot build the {what}: {e}"))
}

fn tool_config(tool: &ToolDef) -> Result<ToolConfiguration, ModelError> {
    let spec = ToolSpecification::builder()
        .name(tool.name)
        .description(tool.description)
        .input_schema(ToolInputSchema::Json(to_document(&tool.schema)))
        .build()
        .map_err(|e| build_error("tool specification", e))?;
    let choice = SpecificToolChoice::builder()
        .name(tool.name)
        .build()
        .map_err(|e| build_error("tool choice", e))?;
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .tool_choice(ToolChoice::Tool(choice))
        .build()
        .map_err(|e| build_error("tool configuration", e))
}

fn reply_of(output: &ConverseOutput) -> Result<Message, ModelError> {
    match output.output() {
        Some(aws_sdk_bedrockruntime::types::ConverseOutput::Message(message)) => {
            Ok(message.clone())
        }
        _ => Err(ModelError::InvalidOutput(
            "the model returned no message".into(),
        )),
    }
}

/// The id and input of the call of `tool` in `reply`.
fn tool_input(reply: &Message, tool: &str) -> Result<(String, Value), String> {
    reply
        .content()
        .iter()
        .find_map(|block| match block {
            ContentBlock::ToolUse(call) if call.name() == tool => {
                Some((call.tool_use_id().to_owned(), to_value(call.input())))
            }
            _ => None,
        })
        .ok_or_else(|| format!("the answer has no call of the {tool} tool"))
}

fn repair_request(tool_use_id: &str, problem: &str) -> Result<Message, ModelError> {
    let result = ToolResultBlock::builder()
        .tool_use_id(tool_use_id)
        .status(ToolResultStatus::Error)
        .content(ToolResultContentBlock::Text(format!(
            "Rejected: {problem}. Call the tool again with input that follows its schema exactly."
        )))
        .build()
        .map_err(|e| build_error("tool result", e))?;
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::ToolResult(result))
        .build()
        .map_err(|e| build_error("repair message", e))
}

fn user_text(text: &str) -> Result<Message, ModelError> {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_owned()))
        .build()
        .map_err(|e| build_error("message", e))
}

const VISION_SYSTEM: &str = "You are a careful animal behaviourist. You look at one photo and \
record, through the tool, what it shows. Reject photos that show any person, or no animal. For a \
pet, judge species, breed, expression and posture from the photo, and score each of the 47 \
personality dimensions from 0 to 100 from visible cues (posture, gaze, ears, setting).";

const CAREER_SYSTEM: &str = "You map a pet's personality analysis to the human career it would \
have. Choose a real, specific job title and a seniority that fits its leadership and confidence \
scores. Answer only through the tool.";

const IDENTITY_SYSTEM: &str = "You write the professional identity of a pet's human alter ego: a \
name, a three-paragraph bio in the third person, 5 to 10 skills and a career trajectory. Keep it \
warm, plausible and free of animal puns in the name. Answer only through the tool.";

#[async_trait]
impl VisionModel for ConverseModels {
    async fn analyse(&self, request: VisionRequest) -> Result<VisionVerdict, ModelError> {
        let image = ImageBlock::builder()
            .format(ImageFormat::Jpeg)
            .source(ImageSource::Bytes(Blob::new(request.jpeg.to_vec())))
            .build()
            .map_err(|e| build_error("image block", e))?;
        let hint = request
            .species_hint
            .as_deref()
            .map(|s| format!(" The owner says it is a {s}; trust the photo if they disagree."))
            .unwrap_or_default();
        let prompt = format!(
            "Analyse this photo ({}×{} px).{hint} Call {} with your analysis.",
            request.width,
            request.height,
            schema::VISION_TOOL
        );
        let first = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Image(image))
            .content(ContentBlock::Text(prompt))
            .build()
            .map_err(|e| build_error("message", e))?;
        let model = format!("bedrock:{}", self.vision_model_id);
        let outcome = self
            .call_tool(
                &self.vision_model_id,
                "analyse",
                VISION_SYSTEM,
                first,
                &schema::vision_tool(),
                |input| schema::parse_vision(input, &model),
            )
            .await?;
        Ok(match outcome {
            VisionOutcome::Pet(analysis) => VisionVerdict::Pet(analysis),
            VisionOutcome::NotAPet { subject, reason } => {
                VisionVerdict::NotAPet { subject, reason }
            }
        })
    }
}

#[async_trait]
impl TextModel for ConverseModels {
    async fn career(&self, request: CareerRequest) -> Result<CareerProfile, ModelError> {
        let analysis = serde_json::to_string_pretty(&request.analysis)
            .map_err(|e| ModelError::Permanent(format!("cannot serialise the analysis: {e}")))?;
        let first = user_text(&format!(
            "The pet analysis:\n{analysis}\n\nCall {} with the career.",
            schema::CAREER_TOOL
        ))?;
        let model = format!("bedrock:{}", self.text_model_id);
        self.call_tool(
            &self.text_model_id,
            "career",
            CAREER_SYSTEM,
            first,
            &schema::career_tool(),
            |input| schema::parse_career(input, &model),
        )
        .await
    }

    async fn identity(&self, request: IdentityRequest) -> Result<IdentityDraft, ModelError> {
        let context = serde_json::json!({"analysis": request.analysis, "career": request.career});
        let first = user_text(&format!(
            "The pet and its career:\n{context:#}\n\nCall {} with the identity.",
            schema::IDENTITY_TOOL
        ))?;
        let model = format!("bedrock:{}", self.text_model_id);
        self.call_tool(
            &self.text_model_id,
            "identity",
            IDENTITY_SYSTEM,
            first,
            &schema::identity_tool(),
            |input| schema::parse_identity(input, &model),
        )
        .await
    }
}
