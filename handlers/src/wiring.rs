//! Building the adapters once per cold start: SDK clients from the shared `SdkConfig`, then the
//! ports the stages (`steps::Deps`) and the API (`api::ApiState`) need.

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use steps::Deps;
use steps::ports::{ImageGenerator, TextModel, VisionModel};

use crate::bedrock::{ConverseModels, StabilityImages};
use crate::config::{ModelBackend, Settings, SettingsError, VisionGate};
use crate::dynamodb::DynamoJobStore;
use crate::s3::{PresignTarget, S3ObjectStore, S3Presigner};
use crate::sqs::SqsJobQueue;

#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("the AWS configuration has no {0}")]
    Incomplete(&'static str),
    #[error(
        "PETAVATAR_VISION_GATE=local, but this bootstrap was built without the vision-gate feature (build the handlers with default features)"
    )]
    VisionGateNotBuilt,
    #[cfg(feature = "vision-gate")]
    #[error("the local vision gate did not load: {0}")]
    VisionGate(#[from] vision::LoadError),
}

/// Loads the SDK configuration the usual way (environment, then the Lambda role).
pub async fn load_aws_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// What every function does first, once per cold start: JSON logs, the settings from the
/// environment, the SDK clients.
pub async fn cold_start() -> Result<(Settings, Clients), SettingsError> {
    telemetry::logging::init_json();
    let settings = Settings::from_env()?;
    let sdk = load_aws_config().await;
    let clients = Clients::new(&sdk, &settings);
    Ok((settings, clients))
}

/// The SDK clients a function may use, built from one `SdkConfig` (building a client does no I/O).
#[derive(Debug, Clone)]
pub struct Clients {
    pub sdk: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Clients {
    pub fn new(sdk: &SdkConfig, settings: &Settings) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(settings.s3_force_path_style)
            .build();
        Self {
            sdk: sdk.clone(),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
        }
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.sdk)
    }

    /// Bedrock in the function's region, or in `region` (Stability models are not offered in
    /// every region).
    pub fn bedrock(&self, region: Option<&str>) -> aws_sdk_bedrockruntime::Client {
        let mut config = aws_sdk_bedrockruntime::config::Builder::from(&self.sdk);
        if let Some(region) = region {
            config = config.region(Region::new(region.to_owned()));
        }
        aws_sdk_bedrockruntime::Client::from_conf(config.build())
    }

    pub fn region(&self) -> Result<String, WiringError> {
        self.sdk
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or(WiringError::Incomplete("region (set AWS_REGION)"))
    }
}

/// The three model ports.
pub struct Models {
    pub vision: Arc<dyn VisionModel>,
    pub text: Arc<dyn TextModel>,
    pub images: Arc<dyn ImageGenerator>,
}

pub fn models(clients: &Clients, settings: &Settings) -> Models {
    match settings.model_backend {
        ModelBackend::Offline => {
            let offline = Arc::new(steps::offline::OfflineBackend::new());
            Models {
                vision: offline.clone(),
                text: offline.clone(),
                images: offline,
            }
        }
        ModelBackend::Bedrock => {
            let converse = Arc::new(ConverseModels::new(
                clients.bedrock(None),
                &settings.vision_model_id,
                &settings.text_model_id,
            ));
            Models {
                vision: converse.clone(),
                text: converse,
                images: Arc::new(StabilityImages::new(
                    clients.bedrock(settings.image_model_region.as_deref()),
                    &settings.image_model_id,
                )),
            }
        }
    }
}

/// AnalyzePet's vision model: `model`, or the local gate in front of it
/// (`PETAVATAR_VISION_GATE=local`; its weights load here, at cold start, so a bad build fails
/// the init rather than a job). Only analyze-pet calls this, so only its bootstrap links the
/// classifier and its weights.
pub fn gated_vision(
    model: Arc<dyn VisionModel>,
    settings: &Settings,
) -> Result<Arc<dyn VisionModel>, WiringError> {
    match settings.vision_gate {
        VisionGate::Off => Ok(model),
        #[cfg(feature = "vision-gate")]
        VisionGate::Local => Ok(Arc::new(crate::vision_gate::GatedVision::load(model)?)),
        #[cfg(not(feature = "vision-gate"))]
        VisionGate::Local => {
            let _ = model;
            Err(WiringError::VisionGateNotBuilt)
        }
    }
}

pub fn job_store(
    clients: &Clients,
    settings: &Settings,
) -> Result<Arc<DynamoJobStore>, WiringError> {
    Ok(Arc::new(DynamoJobStore::new(
        clients.dynamodb.clone(),
        settings.jobs_table()?,
    )))
}

/// What every stage Lambda runs on.
pub fn stage_deps(clients: &Clients, settings: &Settings) -> Result<Deps, WiringError> {
    let models = models(clients, settings);
    Ok(Deps {
        uploads: Arc::new(S3ObjectStore::new(
            clients.s3.clone(),
            settings.uploads_bucket()?,
        )),
        generated: Arc::new(S3ObjectStore::new(
            clients.s3.clone(),
            settings.generated_bucket()?,
        )),
        jobs: job_store(clients, settings)?,
        vision: models.vision,
        text: models.text,
        images: models.images,
        limits: steps::ImageLimits::default(),
    })
}

fn presigner(
    clients: &Clients,
    settings: &Settings,
    bucket: &str,
) -> Result<S3Presigner, WiringError> {
    let credentials = clients
        .sdk
        .credentials_provider()
        .ok_or(WiringError::Incomplete("credentials provider"))?;
    Ok(S3Presigner::new(
        clients.s3.clone(),
        credentials,
        PresignTarget {
            bucket: bucket.to_owned(),
            region: clients.region()?,
            endpoint: settings.s3_endpoint_url.clone(),
            path_style: settings.s3_force_path_style,
        },
    ))
}

/// The API's ports. The caller is identified by API Gateway (`ContextAuthenticator`): the
/// gateway has checked the key; the Lambda adapter puts its id into the request.
pub fn api_state(clients: &Clients, settings: &Settings) -> Result<api::ApiState, WiringError> {
    let uploads_bucket = settings.uploads_bucket()?;
    Ok(api::ApiState {
        jobs: job_store(clients, settings)?,
        uploads: Arc::new(S3ObjectStore::new(clients.s3.clone(), uploads_bucket)),
        upload_presigner: Arc::new(presigner(clients, settings, uploads_bucket)?),
        avatar_presigner: Arc::new(presigner(clients, settings, settings.generated_bucket()?)?),
        queue: Arc::new(SqsJobQueue::new(clients.sqs(), settings.jobs_queue_url()?)),
        auth: Arc::new(api::ContextAuthenticator),
        clock: Arc::new(api::SystemClock),
        config: api::ApiConfig::new(uploads_bucket),
    })
}
