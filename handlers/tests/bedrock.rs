//! The Bedrock adapters with the real SDK client: against a local HTTP server (axum on loopback)
//! that speaks the Converse and InvokeModel wire formats, and with aws-smithy-mocks for the
//! error paths.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::operation::invoke_model::InvokeModelOutput;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::{
    AccessDeniedException, InternalServerException, ThrottlingException,
};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput as Reply, Message, StopReason, ToolUseBlock,
};
use aws_sdk_bedrockruntime::{Client, Config};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use axum::Router;
use axum::body::Bytes as Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use common::serve_on_loopback;
use handlers::bedrock::document::to_document;
use handlers::bedrock::{ConverseModels, StabilityImages};
use serde_json::{Value, json};
use steps::ports::{
    CareerRequest, IdentityRequest, ImageGenerator, ImageRequest, ModelError, NonPetSubject,
    TextModel, VisionModel, VisionRequest, VisionVerdict,
};
use uuid::Uuid;

const MODEL: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const IMAGE_MODEL: &str = "stability.stable-image-core-v1:1";

// ---------------------------------------------------------------------------------------------
// A local Bedrock: scripted answers, recorded requests.

/// A scripted answer: HTTP status, `x-amzn-errortype` (for errors), JSON body.
type Answer = (StatusCode, Option<&'static str>, Value);

#[derive(Clone, Default)]
struct Fake {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    requests: Arc<Mutex<Vec<(String, String, Value)>>>,
}

impl Fake {
    fn answer(&self, body: Value) {
        self.answers
            .lock()
            .unwrap()
            .push_back((StatusCode::OK, None, body));
    }

    fn fail(&self, status: StatusCode, error_type: &'static str, message: &str) {
        self.answers.lock().unwrap().push_back((
            status,
            Some(error_type),
            json!({"message": message}),
        ));
    }

    fn requests(&self) -> Vec<(String, String, Value)> {
        self.requests.lock().unwrap().clone()
    }
}

async fn model_call(
    State(fake): State<Fake>,
    Path((model, operation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert!(
        headers.contains_key("authorization"),
        "requests are SigV4-signed"
    );
    fake.requests
        .lock()
        .unwrap()
        .push((model, operation, parsed));
    let Some((status, error_type, body)) = fake.answers.lock().unwrap().pop_front() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no scripted answer").into_response();
    };
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(error_type) = error_type {
        response
            .headers_mut()
            .insert("x-amzn-errortype", error_type.parse().unwrap());
    }
    response
}

async fn start_fake() -> (Fake, String) {
    let fake = Fake::default();
    let app = Router::new()
        .route("/model/{model}/{operation}", post(model_call))
        .with_state(fake.clone());
    (fake, serve_on_loopback(app).await)
}

/// A client with test credentials and no retries: the state machine retries transient errors
/// (1 s / 2 s / 4 s); tests look at one call.
fn test_config() -> aws_sdk_bedrockruntime::config::Builder {
    Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(common::REGION))
        .credentials_provider(Credentials::new(
            common::ACCESS_KEY,
            common::SECRET_KEY,
            None,
            None,
            "tests",
        ))
        .retry_config(RetryConfig::disabled())
}

fn client_for(url: &str) -> Client {
    Client::from_conf(test_config().endpoint_url(url).build())
}

fn tool_answer(tool: &str, input: Value) -> Value {
    json!({
        "output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": format!("tooluse_{}", Uuid::new_v4().simple()), "name": tool, "input": input}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1200, "outputTokens": 300, "totalTokens": 1500},
        "metrics": {"latencyMs": 900}
    })
}

fn pet_input() -> Value {
    let personality: serde_json::Map<String, Value> = steps::DIMENSIONS
        .iter()
        .enumerate()
        .map(|(i, (name, _))| ((*name).to_owned(), json!((i * 7) % 101)))
        .collect();
    json!({
        "subject": "pet", "reason": "a tabby cat on a sofa", "species": "cat", "breed": "tabby",
        "expression": "curious", "posture": "lying down", "personality": personality,
        "dominant_traits": ["wisdom", "restlessness", "mischief"], "vibe": "sofa philosopher",
        "palette": ["#8B5A2B", "#F5DEB3"]
    })
}

fn career_input() -> Value {
    json!({
        "job_title": "Chief Comfort Officer", "seniority": "executive", "industry": "hospitality",
        "work_style": "unhurried", "attire": "cashmere sweater", "background": "sunlit lounge",
        "confidence": 0.82, "key_traits": ["calmness", "contentment", "charisma"]
    })
}

fn identity_input() -> Value {
    json!({
        "name": "Tabitha Whiskerton",
        "bio": ["Tabitha began her career in comfort.", "Today she leads.", "Next, the world."],
        "skills": ["negotiation", "rest planning", "mentoring", "observation", "diplomacy"],
        "trajectory": {"past": "shelter volunteer", "present": "chief comfort officer", "future": "board member"}
    })
}

fn photo() -> Bytes {
    Bytes::from(
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/rocket.jpg"
        ))
        .unwrap(),
    )
}

fn vision_request(jpeg: Bytes) -> VisionRequest {
    VisionRequest {
        job_id: Uuid::new_v4(),
        jpeg,
        width: 640,
        height: 480,
        species_hint: Some("cat".into()),
    }
}

fn analysis() -> steps::PetAnalysis {
    let mut value = pet_input();
    value.as_object_mut().unwrap().remove("subject");
    value.as_object_mut().unwrap().remove("reason");
    value["model"] = json!("bedrock:test");
    serde_json::from_value(value).unwrap()
}

fn career() -> steps::CareerProfile {
    let mut value = career_input();
    value["model"] = json!("bedrock:test");
    serde_json::from_value(value).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Converse over HTTP

#[tokio::test]
async fn vision_sends_the_photo_and_forces_the_tool() {
    let (fake, url) = start_fake().await;
    let models = ConverseModels::new(client_for(&url), MODEL, MODEL);
    fake.answer(tool_answer("record_pet_analysis", pet_input()));
    let jpeg = photo();
    let VisionVerdict::Pet(analysis) = models.analyse(vision_request(jpeg.clone())).await.unwrap()
    else {
        panic!("expected a pet");
    };
    assert_eq!(
        (analysis.species.as_str(), analysis.breed.as_str()),
        ("cat", "tabby")
    );
    assert_eq!(
        analysis.personality.get("wisdom"),
        Some(((steps::personality::index_of("wisdom").unwrap() * 7) % 101) as u8)
    );
    assert_eq!(analysis.palette, ["#8b5a2b", "#f5deb3"]);
    assert_eq!(analysis.model, format!("bedrock:{MODEL}"));

    let requests = fake.requests();
    let (model, operation, body) = &requests[0];
    assert_eq!((model.as_str(), operation.as_str()), (MODEL, "converse"));
    let content = &body["messages"][0]["content"];
    assert_eq!(content[0]["image"]["format"], "jpeg");
    let sent = BASE64
        .decode(content[0]["image"]["source"]["bytes"].as_str().unwrap())
        .unwrap();
    assert_eq!(sent, jpeg.as_ref(), "the photo travels as an image block");
    assert!(
        content[1]["text"].as_str().unwrap().contains("cat"),
        "the species hint is passed on"
    );
    assert_eq!(
        body["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "record_pet_analysis"}})
    );
    let schema = &body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"];
    assert_eq!(
        schema["properties"]["personality"]["required"]
            .as_array()
            .unwrap()
            .len(),
        47
    );
}

#[tokio::test]
async fn a_person_in_the_photo_is_not_a_pet_end_to_end() {
    let (fake, url) = start_fake().await;
    let models = Arc::new(ConverseModels::new(client_for(&url), MODEL, MODEL));
    fake.answer(tool_answer(
        "record_pet_analysis",
        json!({"subject": "person", "reason": "a man holds the cat"}),
    ));
    assert!(matches!(
        models.analyse(vision_request(photo())).await.unwrap(),
        VisionVerdict::NotAPet {
            subject: NonPetSubject::Person,
            ..
        }
    ));

    // Through the AnalyzePet stage: the Lambda errorType is PetAvatar.NotAPet.
    fake.answer(tool_answer(
        "record_pet_analysis",
        json!({"subject": "no_animal", "reason": "a rocket"}),
    ));
    let uploads = Arc::new(steps::memory::InMemoryObjectStore::new());
    let jobs = Arc::new(steps::memory::InMemoryJobStore::new());
    let job = steps::Job::new(
        Uuid::new_v4(),
        "k",
        "uploads/x/original.jpg",
        chrono::Utc::now(),
    );
    steps::ports::JobStore::create(jobs.as_ref(), job.clone())
        .await
        .unwrap();
    let key = steps::keys::normalized(job.job_id);
    steps::ports::ObjectStore::put(uploads.as_ref(), &key, photo(), "image/jpeg")
        .await
        .unwrap();
    let mut deps = steps::Deps::offline(uploads.clone(), uploads, jobs);
    deps.vision = models;
    let state = json!({
        "job_id": job.job_id, "species_hint": null,
        "image": {"format": "jpeg", "width": 640, "height": 480, "bytes": 1000, "normalized_key": key,
                  "original_width": 640, "original_height": 480, "original_bytes": 1000}
    });
    let err = steps::run_json(steps::StageName::AnalyzePet, state, &deps)
        .await
        .unwrap_err();
    assert_eq!(
        handlers::lambda::stage::diagnostic(&err).error_type,
        "PetAvatar.NotAPet"
    );
}

#[tokio::test]
async fn output_outside_the_schema_gets_one_repair() {
    let (fake, url) = start_fake().await;
    let models = ConverseModels::new(client_for(&url), MODEL, MODEL);
    let mut wrong = career_input();
    wrong["seniority"] = json!("intern");
    fake.answer(tool_answer("record_career_profile", wrong));
    fake.answer(tool_answer("record_career_profile", career_input()));
    let career = models
        .career(CareerRequest {
            job_id: Uuid::new_v4(),
            analysis: analysis(),
        })
        .await
        .unwrap();
    assert_eq!(career.job_title, "Chief Comfort Officer");

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let repair = &requests[1].2["messages"];
    assert_eq!(
        repair.as_array().unwrap().len(),
        3,
        "question, bad answer, tool result"
    );
    assert_eq!(repair[1]["role"], "assistant");
    let result = &repair[2]["content"][0]["toolResult"];
    assert_eq!(result["status"], "error");
    assert!(
        result["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("intern")
    );
}

#[tokio::test]
async fn output_outside_the_schema_twice_is_a_model_output_error() {
    let (fake, url) = start_fake().await;
    let models = ConverseModels::new(client_for(&url), MODEL, MODEL);
    let mut two_paragraphs = identity_input();
    two_paragraphs["bio"] = json!(["One.", "Two."]);
    fake.answer(tool_answer("record_identity", two_paragraphs.clone()));
    fake.answer(tool_answer("record_identity", two_paragraphs));
    let request = IdentityRequest {
        job_id: Uuid::new_v4(),
        analysis: analysis(),
        career: career(),
    };
    let err = models.identity(request.clone()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::InvalidOutput(m) if m.contains("3 paragraphs")),
        "{err:?}"
    );
    assert_eq!(steps::StageError::from(err).name(), "PetAvatar.ModelOutput");
    assert_eq!(fake.requests().len(), 2, "one repair, no more");

    fake.answer(tool_answer("record_identity", identity_input()));
    assert_eq!(
        models.identity(request).await.unwrap().name,
        "Tabitha Whiskerton"
    );
}

#[tokio::test]
async fn throttling_and_filters_over_http() {
    let (fake, url) = start_fake().await;
    let models = ConverseModels::new(client_for(&url), MODEL, MODEL);
    fake.fail(
        StatusCode::TOO_MANY_REQUESTS,
        "ThrottlingException",
        "Too many requests, please wait",
    );
    let err = models
        .career(CareerRequest {
            job_id: Uuid::new_v4(),
            analysis: analysis(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::Transient(_)), "{err:?}");
    assert_eq!(steps::StageError::from(err).name(), "PetAvatar.Transient");

    // AWS's answer when the role may not subscribe to a Marketplace model on its first call.
    fake.fail(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model.",
    );
    let err = models
        .career(CareerRequest {
            job_id: Uuid::new_v4(),
            analysis: analysis(),
        })
        .await
        .unwrap_err();
    let ModelError::AccessDenied(message) = &err else {
        panic!("AccessDeniedException must be AccessDenied, got {err:?}");
    };
    assert!(
        message.starts_with(&format!(
            "Bedrock denied access to model {MODEL} in {}: Model access is denied",
            common::REGION
        )),
        "{message}"
    );
    assert!(
        message.contains("aws-marketplace:Subscribe (scoped to the model's product id)"),
        "{message}"
    );
    let stage_error = steps::StageError::from(err);
    assert_eq!(stage_error.name(), "PetAvatar.ModelAccessDenied");
    assert!(
        !stage_error.is_transient(),
        "a person has to enable access: no retry"
    );

    // Anthropic's first-use form, and any other denial: each says what to do.
    fake.fail(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        "Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before using the model.",
    );
    let err = models
        .career(CareerRequest {
            job_id: Uuid::new_v4(),
            analysis: analysis(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModelError::AccessDenied(m) if m.contains("Anthropic's one-time use-case form")),
        "{err:?}"
    );

    let mut filtered = tool_answer("record_career_profile", career_input());
    filtered["stopReason"] = json!("content_filtered");
    fake.answer(filtered);
    let err = models
        .career(CareerRequest {
            job_id: Uuid::new_v4(),
            analysis: analysis(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::ContentFiltered(_)), "{err:?}");
    assert_eq!(
        steps::StageError::from(err).name(),
        "PetAvatar.ContentFiltered"
    );
}

// ---------------------------------------------------------------------------------------------
// InvokeModel (Stability) over HTTP

fn png(width: u32, height: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height)
        .flat_map(|i| [(i % 251) as u8, 90, 160, 255])
        .collect();
    steps::imaging::encode_png_rgba(&pixels, width, height).unwrap()
}

fn image_request() -> ImageRequest {
    ImageRequest {
        job_id: Uuid::new_v4(),
        prompt: "a professional portrait".into(),
        negative_prompt: "blurry".into(),
        seed: 1234,
        size: 1024,
        analysis: analysis(),
        career: career(),
    }
}

#[tokio::test]
async fn stability_generates_and_refuses() {
    let (fake, url) = start_fake().await;
    let images = StabilityImages::new(client_for(&url), IMAGE_MODEL);
    let picture = png(1024, 1024);
    fake.answer(
        json!({"seeds": [1234], "finish_reasons": [null], "images": [BASE64.encode(&picture)]}),
    );
    let generated = images.generate(image_request()).await.unwrap();
    assert_eq!((generated.width, generated.height), (1024, 1024));
    assert_eq!(generated.png.as_ref(), picture.as_slice());
    assert_eq!(generated.model, format!("bedrock:{IMAGE_MODEL}"));
    let (model, operation, body) = &fake.requests()[0];
    assert_eq!(
        (model.as_str(), operation.as_str()),
        (IMAGE_MODEL, "invoke")
    );
    assert_eq!(
        body,
        &json!({"prompt": "a professional portrait", "aspect_ratio": "1:1", "output_format": "png",
                "seed": 1234, "negative_prompt": "blurry"})
    );

    fake.answer(
        json!({"seeds": [1234], "finish_reasons": ["Filter reason: output image"], "images": [""]}),
    );
    let err = images.generate(image_request()).await.unwrap_err();
    assert!(matches!(err, ModelError::ContentFiltered(_)), "{err:?}");
    assert_eq!(
        steps::StageError::from(err).name(),
        "PetAvatar.ContentFiltered"
    );

    fake.fail(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailableException",
        "try later",
    );
    assert!(matches!(
        images.generate(image_request()).await,
        Err(ModelError::Transient(_))
    ));

    // The image model is called in its own region; the message names it.
    fake.fail(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        "You don't have access to the model with the specified model ID.",
    );
    let err = images.generate(image_request()).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::AccessDenied(m)
            if m.starts_with(&format!("Bedrock denied access to model {IMAGE_MODEL} in {}:", common::REGION))),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// aws-smithy-mocks: the error paths without a server

fn mocked(rules: &[&Rule]) -> Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    Client::from_conf(
        test_config()
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build(),
    )
}

fn reply(tool: &str, input: Value, stop: StopReason) -> ConverseOutput {
    let call = ToolUseBlock::builder()
        .tool_use_id("tooluse_1")
        .name(tool)
        .input(to_document(&input))
        .build()
        .unwrap();
    let message = Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::ToolUse(call))
        .build()
        .unwrap();
    ConverseOutput::builder()
        .output(Reply::Message(message))
        .stop_reason(stop)
        .build()
        .unwrap()
}

#[tokio::test]
async fn mocked_throttling_and_outages_are_transient() {
    let throttled = mock!(Client::converse).then_error(|| {
        ConverseError::ThrottlingException(
            ThrottlingException::builder().message("slow down").build(),
        )
    });
    let models = ConverseModels::new(mocked(&[&throttled]), MODEL, MODEL);
    let err = models.analyse(vision_request(photo())).await.unwrap_err();
    assert!(matches!(err, ModelError::Transient(_)), "{err:?}");
    assert_eq!(throttled.num_calls(), 1);

    let outage = mock!(Client::converse).then_error(|| {
        ConverseError::InternalServerException(
            InternalServerException::builder().message("oops").build(),
        )
    });
    let denied = mock!(Client::converse).then_error(|| {
        ConverseError::AccessDeniedException(AccessDeniedException::builder().message("no").build())
    });
    let models = ConverseModels::new(mocked(&[&outage, &denied]), MODEL, MODEL);
    let request = CareerRequest {
        job_id: Uuid::new_v4(),
        analysis: analysis(),
    };
    assert!(matches!(
        models.career(request.clone()).await,
        Err(ModelError::Transient(_))
    ));
    assert!(matches!(
        models.career(request).await,
        Err(ModelError::AccessDenied(m)) if m.contains("bedrock:InvokeModel")
    ));
}

#[tokio::test]
async fn mocked_schema_repair_and_content_filter() {
    let mut bad = career_input();
    bad["key_traits"] = json!(["calmness", "not-a-trait", "charisma"]);
    let answers = mock!(Client::converse)
        .sequence()
        .output(move || reply("record_career_profile", bad.clone(), StopReason::ToolUse))
        .output(|| reply("record_career_profile", career_input(), StopReason::ToolUse))
        .build();
    let models = ConverseModels::new(mocked(&[&answers]), MODEL, MODEL);
    let career = models
        .career(CareerRequest {
            job_id: Uuid::new_v4(),
            analysis: analysis(),
        })
        .await
        .unwrap();
    assert_eq!(career.key_traits, ["calmness", "contentment", "charisma"]);
    assert_eq!(answers.num_calls(), 2, "one repair");

    let filtered = mock!(Client::converse).then_output(|| {
        reply(
            "record_pet_analysis",
            pet_input(),
            StopReason::GuardrailIntervened,
        )
    });
    let models = ConverseModels::new(mocked(&[&filtered]), MODEL, MODEL);
    assert!(matches!(
        models.analyse(vision_request(photo())).await,
        Err(ModelError::ContentFiltered(_))
    ));

    let refused = mock!(Client::invoke_model).then_output(|| {
        let body = json!({"seeds": [7], "finish_reasons": ["Filter reason: prompt"], "images": []});
        InvokeModelOutput::builder()
            .body(Blob::new(body.to_string()))
            .content_type("application/json")
            .build()
            .unwrap()
    });
    let images = StabilityImages::new(mocked(&[&refused]), IMAGE_MODEL);
    assert!(matches!(
        images.generate(image_request()).await,
        Err(ModelError::ContentFiltered(_))
    ));
}
