import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Annotations, ArnFormat, CfnElement, CfnOutput, Duration, RemovalPolicy, Stack, Token, type StackProps } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ACCESS, type BucketName, type FunctionAccess, type ModelRole } from './access';
import { faultErrorsMetric } from './alarms';
import { loadDefinition, rejectionsByTask, type TaskRejections } from './asl';
import { PLACEHOLDER_ASSET_DIR, type PetAvatarSettings } from './config';
import { ALL_FUNCTIONS, API_FUNCTIONS, type FunctionSpec, HANDLERS, SQS_WORKER_TIMEOUT_SECONDS, STAGES } from './functions';
import { marketplaceProductIds, marketplaceStatements, modelGrant } from './models';
import { acknowledge } from './nag';

export interface PetAvatarStackProps extends StackProps {
  readonly settings: PetAvatarSettings;
}

/** Upload keys live under this prefix; S3 events outside it (e.g. work/) are ignored. */
export const UPLOAD_PREFIX = 'uploads/';
export const DATA_RETENTION_DAYS = 7;
export const MAX_RECEIVE_COUNT = 3;
/** The status changes the reconciler repairs: anything that ended without RecordResult/RecordFailure. */
export const RECONCILED_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'];

const ERROR_TEMPLATE = (code: string, message: string): string =>
  JSON.stringify({ error: { code, message } });
/** `$context.error.messageString` is already a quoted, escaped JSON string. */
const ERROR_TEMPLATE_FROM_CONTEXT = (code: string): string =>
  `{"error":{"code":"${code}","message":$context.error.messageString}}`;

export class PetAvatarStack extends Stack {
  public readonly uploadsBucket: s3.Bucket;
  public readonly generatedBucket: s3.Bucket;
  public readonly accessLogsBucket: s3.Bucket;
  public readonly jobsTable: dynamodb.Table;
  public readonly jobsQueue: sqs.Queue;
  public readonly jobsDlq: sqs.Queue;
  public readonly reconcilerDlq: sqs.Queue;
  public readonly functions: Readonly<Record<string, lambda.Function>>;
  public readonly stateMachine: sfn.StateMachine;
  public readonly api: apigw.RestApi;
  public readonly alarmTopic: sns.Topic;
  public readonly alarms: cloudwatch.Alarm[] = [];
  /** What each stage Task hands to RecordRejection (from the ASL's catchers). */
  public rejections: readonly TaskRejections[] = [];
  /** Binaries that fell back to placeholder-asset/ (empty for a deployable synth). */
  public readonly placeholderBins: string[] = [];

  private readonly settings: PetAvatarSettings;

  constructor(scope: Construct, id: string, props: PetAvatarStackProps) {
    super(scope, id, props);
    this.settings = props.settings;

    this.accessLogsBucket = this.createAccessLogsBucket();
    this.uploadsBucket = this.createDataBucket('UploadsBucket', 'uploads-bucket/', [s3.HttpMethods.POST]);
    this.generatedBucket = this.createDataBucket('GeneratedBucket', 'generated-bucket/', [
      s3.HttpMethods.GET,
      s3.HttpMethods.HEAD,
    ]);
    this.jobsTable = this.createJobsTable();
    this.jobsDlq = this.createQueue('JobsDlq', { retentionPeriod: Duration.days(14) });
    this.jobsQueue = this.createQueue('JobsQueue', {
      retentionPeriod: Duration.days(4),
      // AWS advises at least six times the consumer's timeout, so a slow batch is not redelivered.
      visibilityTimeout: Duration.seconds(6 * SQS_WORKER_TIMEOUT_SECONDS),
      deadLetterQueue: { queue: this.jobsDlq, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    this.reconcilerDlq = this.createQueue('ReconcilerEventsDlq', { retentionPeriod: Duration.days(14) });
    acknowledge(
      this.reconcilerDlq,
      'AwsSolutions-SQS3',
      'This queue is itself a dead-letter queue: EventBridge parks status-change events here that it could not deliver to the reconciler.',
    );

    const fns: Record<string, lambda.Function> = {};
    for (const spec of ALL_FUNCTIONS) fns[spec.id] = this.createFunction(spec);
    this.functions = fns;
    this.reportPlaceholders();

    this.stateMachine = this.createStateMachine(props.settings.aslPath);
    for (const spec of [...API_FUNCTIONS, ...HANDLERS]) {
      fns[spec.id].addEnvironment('STATE_MACHINE_ARN', this.stateMachine.stateMachineArn);
    }
    for (const spec of ALL_FUNCTIONS) this.applyAccess(spec, fns[spec.id]);

    this.wireS3Events(fns.S3Event);
    fns.SqsWorker.addEventSource(
      new SqsEventSource(this.jobsQueue, { batchSize: 10, reportBatchItemFailures: true }),
    );
    this.wireReconciler(fns.ExecutionReconciler);

    this.api = this.createApi(fns);
    this.alarmTopic = this.createAlarms();
    this.createOutputs();
  }

  // ---------------------------------------------------------------- storage

  private createAccessLogsBucket(): s3.Bucket {
    const bucket = new s3.Bucket(this, 'AccessLogsBucket', {
      // Server access log delivery only supports SSE-S3 on the target bucket.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(this.settings.logRetentionDays) }],
    });
    return bucket;
  }

  private createDataBucket(id: string, logPrefix: string, corsMethods: s3.HttpMethods[]): s3.Bucket {
    return new s3.Bucket(this, id, {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: logPrefix,
      lifecycleRules: [
        {
          id: `expire-after-${DATA_RETENTION_DAYS}-days`,
          expiration: Duration.days(DATA_RETENTION_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      cors: [
        {
          allowedMethods: corsMethods,
          allowedOrigins: [...this.settings.corsOrigins],
          allowedHeaders: ['*'],
          exposedHeaders: ['ETag'],
          maxAge: 3000,
        },
      ],
    });
  }

  private createJobsTable(): dynamodb.Table {
    return new dynamodb.Table(this, 'Jobs', {
      tableName: `${this.stackName}-jobs`,
      partitionKey: { name: 'job_id', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  private createQueue(id: string, props: sqs.QueueProps): sqs.Queue {
    return new sqs.Queue(this, id, {
      ...props,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
  }

  // ---------------------------------------------------------------- functions

  private createFunction(spec: FunctionSpec): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${spec.id}Logs`, {
      retention: this.settings.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // An explicit role keeps AWSLambdaBasicExecutionRole (a managed policy writing to any
    // log group) off the function: it may write to its own log group only.
    const role = new iam.Role(this, `${spec.id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `PetAvatar ${spec.id}: ${spec.description}`,
    });
    logGroup.grantWrite(role);
    return new lambda.Function(this, spec.id, {
      description: `PetAvatar ${spec.id}: ${spec.description}`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: this.settings.architecture,
      handler: 'bootstrap',
      code: this.codeFor(spec.bin),
      memorySize: spec.memoryMiB,
      timeout: Duration.seconds(spec.timeoutSeconds),
      role,
      logGroup,
      environment: this.environmentFor(spec),
    });
  }

  private codeFor(bin: string): lambda.Code {
    const dir = path.join(this.settings.lambdaAssetDir, bin);
    if (existsSync(path.join(dir, 'bootstrap'))) return lambda.Code.fromAsset(dir);
    if (this.settings.placeholderAssets) {
      this.placeholderBins.push(bin);
      return lambda.Code.fromAsset(PLACEHOLDER_ASSET_DIR);
    }
    throw new Error(
      `missing Lambda binary ${path.join(dir, 'bootstrap')}: build the handlers first ` +
        `(cargo lambda build --release --bins -p handlers --features vision-gate${this.settings.architecture === lambda.Architecture.ARM_64 ? ' --arm64' : ''}), ` +
        `or synth with -c placeholderAssets=true (never deploy that)`,
    );
  }

  private reportPlaceholders(): void {
    if (this.placeholderBins.length === 0) return;
    Annotations.of(this).addWarningV2(
      'petavatar:placeholder-lambda-code',
      `Lambda code for ${this.placeholderBins.join(', ')} is the placeholder (placeholderAssets=true). ` +
        'Fine for synth and tests; do NOT deploy this assembly.',
    );
  }

  /**
   * Every function sees the same configuration (names, URLs, model ids: no secrets), so one
   * settings loader in handlers/ serves all binaries; IAM, not the environment, decides what
   * each may touch. The state machine ARN is added later, and not to the stages (it would
   * be a cycle: the machine's definition references the stage functions).
   */
  private environmentFor(spec: FunctionSpec): Record<string, string> {
    return {
      RUST_LOG: 'info',
      PETAVATAR_MODEL_BACKEND: 'bedrock',
      JOBS_TABLE: this.jobsTable.tableName,
      UPLOADS_BUCKET: this.uploadsBucket.bucketName,
      GENERATED_BUCKET: this.generatedBucket.bucketName,
      JOBS_QUEUE_URL: this.jobsQueue.queueUrl,
      // The worker fails a job whose message is on its last receive before the DLQ.
      JOBS_MAX_RECEIVE_COUNT: String(MAX_RECEIVE_COUNT),
      VISION_MODEL_ID: this.settings.visionModelId,
      TEXT_MODEL_ID: this.settings.textModelId,
      IMAGE_MODEL_ID: this.settings.imageModelId,
      IMAGE_MODEL_REGION: this.settings.imageModelRegion,
      CORS_ALLOWED_ORIGINS: this.settings.corsOrigins.join(','),
      // Read by analyze-pet only (handlers' wiring::gated_vision).
      PETAVATAR_VISION_GATE: this.settings.visionGate,
      // lambda_http's own setting: API paths without the `/{stage}` prefix, as the router's
      // routes are (the API functions refuse to start without it).
      AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH: 'true',
      PETAVATAR_FUNCTION: spec.id,
    };
  }

  private modelSetting(role: ModelRole): { modelId: string; region: string } {
    switch (role) {
      case 'vision':
        return { modelId: this.settings.visionModelId, region: this.settings.region };
      case 'text':
        return { modelId: this.settings.textModelId, region: this.settings.region };
      case 'image':
        return { modelId: this.settings.imageModelId, region: this.settings.imageModelRegion };
    }
  }

  private bucket(name: BucketName): s3.Bucket {
    return name === 'uploads' ? this.uploadsBucket : this.generatedBucket;
  }

  /** Logical id as cdk-nag prints it in finding ids, e.g. `<UploadsBucketABC123.Arn>`. */
  private nagArn(construct: Construct & { node: { defaultChild?: unknown } }): string {
    const logicalId = this.resolve(this.getLogicalId(construct.node.defaultChild as CfnElement)) as string;
    return `<${logicalId}.Arn>`;
  }

  /** The executions ARN pattern as cdk-nag prints it: tokens become `<Logical.Attr>`/`<AWS::…>`. */
  private nagExecutions(executions: (name: string) => string): string {
    const logicalId = this.resolve(this.getLogicalId(this.stateMachine.node.defaultChild as CfnElement)) as string;
    const region = Token.isUnresolved(this.region) ? '<AWS::Region>' : this.region;
    return executions(`<${logicalId}.Name>`)
      .replace(this.region, region)
      .replace(/\$\{Token\[AWS\.Partition\.\d+\]\}/, '<AWS::Partition>')
      .replace(/\$\{Token\[AWS\.AccountId\.\d+\]\}/, '<AWS::AccountId>');
  }

  private applyAccess(spec: FunctionSpec, fn: lambda.Function): void {
    const access: FunctionAccess = ACCESS[spec.id] ?? {};
    const role = fn.role as iam.Role;
    if (access.readJobs) {
      role.addToPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [this.jobsTable.tableArn] }),
      );
    }
    if (access.writeJobs) {
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: [...access.writeJobs.actions],
          resources: [this.jobsTable.tableArn],
          conditions: { 'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...access.writeJobs.attributes] } },
        }),
      );
    }
    for (const grant of access.objects ?? []) {
      const bucket = this.bucket(grant.bucket);
      role.addToPolicy(
        new iam.PolicyStatement({ actions: [...grant.actions], resources: [bucket.arnForObjects(`${grant.prefix}*`)] }),
      );
      acknowledge(
        role,
        `AwsSolutions-IAM5[Resource::${this.nagArn(bucket)}/${grant.prefix}*]`,
        `Object keys are per-job (${grant.prefix}{job_id}/...) and unknown until a job exists; the grant is limited to the ${grant.prefix} prefix of the ${grant.bucket} bucket and to ${grant.actions.join(', ')}.`,
      );
    }
    if (access.listUploads) {
      role.addToPolicy(
        new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.uploadsBucket.bucketArn] }),
      );
    }
    if (access.sendJobs) {
      role.addToPolicy(new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.jobsQueue.queueArn] }));
    }
    if (access.startPipeline) {
      role.addToPolicy(
        new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachine.stateMachineArn] }),
      );
      // Before failing a job whose message goes to the DLQ, the worker checks that its execution
      // really does not exist (DescribeExecution on this machine's executions only).
      const executions = (name: string) =>
        this.formatArn({ service: 'states', resource: 'execution', arnFormat: ArnFormat.COLON_RESOURCE_NAME, resourceName: `${name}:*` });
      role.addToPolicy(
        new iam.PolicyStatement({
          actions: ['states:DescribeExecution'],
          resources: [executions(this.stateMachine.stateMachineName)],
        }),
      );
      acknowledge(
        role,
        `AwsSolutions-IAM5[Resource::${this.nagExecutions(executions)}]`,
        'Executions are named after jobs (execution name = job id), unknown until a job exists; the grant is DescribeExecution only, on the executions of the pipeline state machine only.',
      );
    }
    for (const modelRole of access.models ?? []) {
      const { modelId, region } = this.modelSetting(modelRole);
      const grant = modelGrant(modelId, region, this.settings.modelRoutingRegions);
      for (const statement of grant.statements) role.addToPolicy(statement);
      for (const resource of grant.wildcardResources) {
        acknowledge(
          role,
          `AwsSolutions-IAM5[Resource::${resource}]`,
          `Cross-region inference profile ${modelId} routes to the foundation model in several regions; the region is a wildcard but the statement only applies through that one profile (condition bedrock:InferenceProfileArn). Pin the regions with -c modelRoutingRegions=...`,
        );
      }
    }
    const productIds = [
      ...new Set(
        (access.models ?? []).flatMap((modelRole) =>
          marketplaceProductIds(this.modelSetting(modelRole).modelId, this.settings.marketplaceProductIds),
        ),
      ),
    ];
    const marketplace = marketplaceStatements(productIds);
    for (const statement of marketplace) role.addToPolicy(statement);
    if (marketplace.length > 0) {
      acknowledge(
        role,
        'AwsSolutions-IAM5[Resource::*]',
        `The first call of a Marketplace model subscribes the account to it, and Bedrock requires the calling role to hold aws-marketplace:Subscribe and aws-marketplace:ViewSubscriptions, which have no resource-level permissions. Subscribe is limited to product ${productIds.join(', ')} by the aws-marketplace:ProductId condition.`,
      );
    }
  }

  // ---------------------------------------------------------------- pipeline

  private createStateMachine(aslPath: string): sfn.StateMachine {
    const substitutions: Record<string, string> = {};
    for (const spec of STAGES) substitutions[spec.aslPlaceholder as string] = this.functions[spec.id].functionArn;
    const { text, unusedSubstitutions } = loadDefinition(aslPath, Object.keys(substitutions));
    this.rejections = rejectionsByTask(text);
    if (unusedSubstitutions.length > 0) {
      Annotations.of(this).addWarningV2(
        'petavatar:unused-asl-substitution',
        `${aslPath} does not reference ${unusedSubstitutions.join(', ')}`,
      );
    }

    const logGroup = new logs.LogGroup(this, 'PipelineLogs', {
      // The /aws/vendedlogs/ prefix keeps Step Functions from growing the account's
      // CloudWatch Logs resource policy with one entry per log group.
      logGroupName: `/aws/vendedlogs/states/${this.stackName}-pipeline`,
      retention: this.settings.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const machine = new sfn.StateMachine(this, 'Pipeline', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: 'PetAvatar pipeline, from statemachine/pipeline.asl.json',
      definitionBody: sfn.DefinitionBody.fromString(text),
      definitionSubstitutions: substitutions,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
      tracingEnabled: true,
    });
    for (const spec of STAGES) {
      machine.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.functions[spec.id].functionArn] }),
      );
    }
    acknowledge(
      machine.role,
      'AwsSolutions-IAM5[Resource::*]',
      'Added by CDK for logging and tracing: the CloudWatch Logs delivery actions (logs:CreateLogDelivery, ...) and X-Ray PutTraceSegments/PutTelemetryRecords/GetSampling* do not support resource-level permissions.',
    );
    return machine;
  }

  private wireS3Events(handler: lambda.Function): void {
    this.uploadsBucket.addEventNotification(s3.EventType.OBJECT_CREATED, new s3n.LambdaDestination(handler), {
      prefix: UPLOAD_PREFIX,
    });
    // CDK implements bucket notifications with a singleton custom-resource Lambda of its own.
    const notificationsHandler = this.node
      .findAll()
      .find((c) => c.node.id.startsWith('BucketNotificationsHandler'));
    if (notificationsHandler) {
      acknowledge(
        notificationsHandler,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        "CDK's own BucketNotificationsHandler custom resource (configures the S3 event notification at deploy time); its role is fixed by aws-cdk-lib.",
      );
    }
  }

  private wireReconciler(reconciler: lambda.Function): void {
    new events.Rule(this, 'ExecutionStatusChange', {
      description: 'Pipeline executions that ended without RecordResult/RecordFailure -> reconciler',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { status: RECONCILED_STATUSES, stateMachineArn: [this.stateMachine.stateMachineArn] },
      },
      targets: [
        new targets.LambdaFunction(reconciler, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
          deadLetterQueue: this.reconcilerDlq,
        }),
      ],
    });
  }

  // ---------------------------------------------------------------- API

  private createApi(fns: Record<string, lambda.Function>): apigw.RestApi {
    const s = this.settings;
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: s.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const api = new apigw.RestApi(this, 'Api', {
      restApiName: `${this.stackName}-api`,
      description: 'PetAvatar API (x-api-key on every route)',
      // true only when asked: it creates the account-wide AWS::ApiGateway::Account setting.
      cloudWatchRole: s.createApiGatewayAccountRole,
      endpointTypes: [apigw.EndpointType.REGIONAL],
      apiKeySourceType: apigw.ApiKeySourceType.HEADER,
      defaultMethodOptions: { apiKeyRequired: true },
      defaultCorsPreflightOptions: {
        allowOrigins: [...s.corsOrigins],
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['Content-Type', 'X-Api-Key'],
        maxAge: Duration.hours(1),
      },
      deployOptions: {
        stageName: s.apiStageName,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields({
          caller: false,
          httpMethod: true,
          ip: true,
          protocol: true,
          requestTime: true,
          resourcePath: true,
          responseLength: true,
          status: true,
          user: false,
        }),
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
        throttlingRateLimit: s.apiRateLimit,
        throttlingBurstLimit: s.apiBurstLimit,
      },
    });
    if (s.createApiGatewayAccountRole) {
      acknowledge(
        api,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'The account-wide API Gateway logging role (created only with createApiGatewayAccountRole=true) uses the AWS-managed policy API Gateway documents for it.',
      );
    }

    const validator = api.addRequestValidator('Validator', {
      requestValidatorName: 'body-and-params',
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const processModel = api.addModel('ProcessRequest', {
      contentType: 'application/json',
      modelName: 'ProcessRequest',
      schema: {
        schema: apigw.JsonSchemaVersion.DRAFT4,
        title: 'ProcessRequest',
        type: apigw.JsonSchemaType.OBJECT,
        required: ['s3_uri'],
        properties: { s3_uri: { type: apigw.JsonSchemaType.STRING, minLength: 1, maxLength: 2048 } },
      },
    });
    const integration = (fn: lambda.Function) => new apigw.LambdaIntegration(fn, { proxy: true });
    const jobIdParam = { 'method.request.path.job_id': true };

    api.root.addResource('presigned-url').addMethod('GET', integration(fns.ApiPresignedUrl), {
      requestValidator: validator,
    });
    api.root.addResource('process').addMethod('POST', integration(fns.ApiProcess), {
      requestValidator: validator,
      requestModels: { 'application/json': processModel },
    });
    api.root.addResource('status').addResource('{job_id}').addMethod('GET', integration(fns.ApiStatus), {
      requestValidator: validator,
      requestParameters: jobIdParam,
    });
    api.root.addResource('results').addResource('{job_id}').addMethod('GET', integration(fns.ApiResults), {
      requestValidator: validator,
      requestParameters: jobIdParam,
    });
    api.root.addResource('openapi.json').addMethod('GET', integration(fns.ApiOpenApi), {
      requestValidator: validator,
    });

    this.addGatewayResponses(api);

    const key = api.addApiKey('DefaultApiKey', { description: 'PetAvatar default client key' });
    const plan = api.addUsagePlan('UsagePlan', {
      name: `${this.stackName}-default`,
      throttle: { rateLimit: s.apiRateLimit, burstLimit: s.apiBurstLimit },
      apiStages: [{ api, stage: api.deploymentStage }],
    });
    plan.addApiKey(key);
    new CfnOutput(this, 'ApiKeyId', {
      value: key.keyId,
      description: 'aws apigateway get-api-key --include-value --api-key <id>',
    });

    acknowledge(
      api,
      'AwsSolutions-APIG3',
      'No WAF web ACL: access is by API key with usage-plan throttling (DESIGN §4); attach a WAF ACL to the stage when the API is exposed beyond known clients.',
    );
    acknowledge(
      api,
      'AwsSolutions-APIG4',
      'Authorisation is the API key by design (DESIGN §4: every route takes x-api-key, jobs are scoped to the key that created them in the handlers). CORS preflight OPTIONS methods must stay open for browsers.',
    );
    acknowledge(
      api,
      'AwsSolutions-COG4',
      'No Cognito user pool: clients are API-key holders, not end users (DESIGN §4).',
    );
    return api;
  }

  private addGatewayResponses(api: apigw.RestApi): void {
    const origins = this.settings.corsOrigins;
    const allowOrigin = origins.includes('*') ? '*' : origins.length === 1 ? origins[0] : undefined;
    const responseHeaders: Record<string, string> = allowOrigin
      ? { 'Access-Control-Allow-Origin': `'${allowOrigin}'` }
      : {};
    const add = (id: string, type: apigw.ResponseType, statusCode: string | undefined, template: string) =>
      api.addGatewayResponse(id, {
        type,
        statusCode,
        responseHeaders,
        templates: { 'application/json': template },
      });

    add(
      'InvalidApiKey',
      apigw.ResponseType.INVALID_API_KEY,
      '401',
      ERROR_TEMPLATE('Unauthorized', 'The x-api-key header is missing or not a valid API key'),
    );
    // API Gateway also answers an unknown route with MISSING_AUTHENTICATION_TOKEN.
    add(
      'MissingAuthenticationToken',
      apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      '401',
      ERROR_TEMPLATE('Unauthorized', 'Missing x-api-key header (or unknown route)'),
    );
    // Codes follow the api crate's ApiError names, so clients see one vocabulary.
    add('BadRequestBody', apigw.ResponseType.BAD_REQUEST_BODY, '400', ERROR_TEMPLATE_FROM_CONTEXT('InvalidBody'));
    add(
      'BadRequestParameters',
      apigw.ResponseType.BAD_REQUEST_PARAMETERS,
      '400',
      ERROR_TEMPLATE_FROM_CONTEXT('InvalidQuery'),
    );
    add('ResourceNotFound', apigw.ResponseType.RESOURCE_NOT_FOUND, '404', ERROR_TEMPLATE_FROM_CONTEXT('RouteNotFound'));
    add('Throttled', apigw.ResponseType.THROTTLED, '429', ERROR_TEMPLATE_FROM_CONTEXT('TooManyRequests'));
    add('QuotaExceeded', apigw.ResponseType.QUOTA_EXCEEDED, '429', ERROR_TEMPLATE_FROM_CONTEXT('TooManyRequests'));
    add('Default4xx', apigw.ResponseType.DEFAULT_4XX, undefined, ERROR_TEMPLATE_FROM_CONTEXT('ClientError'));
    add('Default5xx', apigw.ResponseType.DEFAULT_5XX, undefined, ERROR_TEMPLATE_FROM_CONTEXT('InternalError'));
  }

  // ---------------------------------------------------------------- alarms

  private createAlarms(): sns.Topic {
    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'PetAvatar alarms', enforceSSL: true });
    if (this.settings.alarmEmail) topic.addSubscription(new subscriptions.EmailSubscription(this.settings.alarmEmail));
    const action = new cwActions.SnsAction(topic);
    const alarm = (id: string, props: cloudwatch.AlarmProps) => {
      const a = new cloudwatch.Alarm(this, id, {
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...props,
      });
      a.addAlarmAction(action);
      this.alarms.push(a);
      return a;
    };
    const fiveMinutes = Duration.minutes(5);

    for (const spec of ALL_FUNCTIONS) {
      const rejections = this.rejectionsOf(spec);
      alarm(`${spec.id}ErrorsAlarm`, {
        alarmDescription:
          rejections.length === 0
            ? `Lambda ${spec.id} reported errors`
            : `Lambda ${spec.id} reported errors other than rejected photos (${rejections.join(', ')} are answers, not faults)`,
        metric: faultErrorsMetric(this.functions[spec.id], spec.id, rejections, fiveMinutes),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
    }
    for (const [id, queue] of [
      ['JobsDlqDepthAlarm', this.jobsDlq],
      ['ReconcilerDlqDepthAlarm', this.reconcilerDlq],
    ] as const) {
      alarm(id, {
        alarmDescription: `Messages waiting in dead-letter queue ${queue.node.id}`,
        metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: 0,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
    }
    alarm('PipelineExecutionsFailedAlarm', {
      alarmDescription: 'Pipeline executions failed',
      metric: this.stateMachine.metricFailed({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('PipelineExecutionsTimedOutAlarm', {
      alarmDescription: 'Pipeline executions timed out',
      metric: this.stateMachine.metricTimedOut({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    alarm('Api5xxAlarm', {
      alarmDescription: 'API answered with 5xx',
      metric: this.api.metricServerError({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    return topic;
  }

  /**
   * The rejection names of a stage function, whichever Task of the definition runs it. The
   * `Stage` dimension the function writes is its state name, which is the spec id.
   */
  private rejectionsOf(spec: FunctionSpec): string[] {
    if (spec.aslPlaceholder === undefined) return [];
    const names = this.rejections.filter((r) => r.placeholder === spec.aslPlaceholder).flatMap((r) => r.errors);
    return [...new Set(names)];
  }

  private createOutputs(): void {
    const out = (id: string, value: string) => new CfnOutput(this, id, { value });
    out('ApiUrl', this.api.url);
    out('UploadsBucketName', this.uploadsBucket.bucketName);
    out('GeneratedBucketName', this.generatedBucket.bucketName);
    out('JobsTableName', this.jobsTable.tableName);
    out('JobsQueueUrl', this.jobsQueue.queueUrl);
    out('StateMachineArn', this.stateMachine.stateMachineArn);
    out('AlarmTopicArn', this.alarmTopic.topicArn);
  }
}

