import * as path from 'node:path';
import { Architecture } from 'aws-cdk-lib/aws-lambda';

/**
 * Deployment settings. Each one is read from CDK context (`-c name=value` or cdk.json),
 * then from the environment variable named in `SETTINGS`, then falls back to its default.
 * Keeping the table in one place lets the README and the tests name the same keys.
 */
export interface PetAvatarSettings {
  /** AWS region to deploy into. */
  readonly region: string;
  /** AWS account, or undefined for an environment-agnostic synth. */
  readonly account?: string;
  /** Converse model used by AnalyzePet (needs image input). */
  readonly visionModelId: string;
  /** Converse model used by MapCareer and WriteIdentity. */
  readonly textModelId: string;
  /** InvokeModel image model used by GenerateAvatar. */
  readonly imageModelId: string;
  /** Region the image model is invoked in (Stability models are not offered in every region). */
  readonly imageModelRegion: string;
  /**
   * Regions a cross-region inference profile may route to. Empty means "any region",
   * still fenced by the `bedrock:InferenceProfileArn` condition.
   */
  readonly modelRoutingRegions: readonly string[];
  /**
   * AWS Marketplace product ids the model functions may subscribe to on a model's first call.
   * Empty: those of the configured models (lib/models.ts).
   */
  readonly marketplaceProductIds: readonly string[];
  /** Retention of every log group the stack creates, in days. */
  readonly logRetentionDays: number;
  /** Lambda CPU architecture. */
  readonly architecture: Architecture;
  /** Directory holding cargo-lambda output: `<dir>/<bin>/bootstrap`. */
  readonly lambdaAssetDir: string;
  /** Use `placeholder-asset/` for any missing binary instead of failing (tests, offline synth). */
  readonly placeholderAssets: boolean;
  /** Origins allowed by CORS on the API and the buckets. */
  readonly corsOrigins: readonly string[];
  /** API Gateway stage name. */
  readonly apiStageName: string;
  /** Usage-plan steady-state request rate per second and burst. */
  readonly apiRateLimit: number;
  readonly apiBurstLimit: number;
  /** Let the stack create the account-wide API Gateway CloudWatch role (first deploy in an account). */
  readonly createApiGatewayAccountRole: boolean;
  /**
   * AnalyzePet's local gate: `local` runs the `vision` classifier before the vision model and
   * refuses non-pets and people without a Bedrock call; `off` sends every photo to the model.
   */
  readonly visionGate: 'off' | 'local';
  /** Optional e-mail address subscribed to the alarm topic. */
  readonly alarmEmail?: string;
  /** The ASL definition deployed as the pipeline. */
  readonly aslPath: string;
}

/** Context key → environment variable, so both spellings are documented together. */
export const SETTINGS = {
  region: 'PETAVATAR_REGION',
  account: 'PETAVATAR_ACCOUNT',
  visionModelId: 'PETAVATAR_VISION_MODEL_ID',
  textModelId: 'PETAVATAR_TEXT_MODEL_ID',
  imageModelId: 'PETAVATAR_IMAGE_MODEL_ID',
  imageModelRegion: 'PETAVATAR_IMAGE_MODEL_REGION',
  modelRoutingRegions: 'PETAVATAR_MODEL_ROUTING_REGIONS',
  marketplaceProductIds: 'PETAVATAR_MARKETPLACE_PRODUCT_IDS',
  logRetentionDays: 'PETAVATAR_LOG_RETENTION_DAYS',
  lambdaArchitecture: 'PETAVATAR_LAMBDA_ARCHITECTURE',
  lambdaAssetDir: 'PETAVATAR_LAMBDA_ASSET_DIR',
  placeholderAssets: 'PETAVATAR_PLACEHOLDER_ASSETS',
  corsOrigins: 'PETAVATAR_CORS_ORIGINS',
  apiStageName: 'PETAVATAR_API_STAGE',
  apiRateLimit: 'PETAVATAR_API_RATE_LIMIT',
  apiBurstLimit: 'PETAVATAR_API_BURST_LIMIT',
  createApiGatewayAccountRole: 'PETAVATAR_CREATE_APIGW_ACCOUNT_ROLE',
  visionGate: 'PETAVATAR_VISION_GATE',
  alarmEmail: 'PETAVATAR_ALARM_EMAIL',
  aslPath: 'PETAVATAR_ASL_PATH',
} as const;

export type SettingKey = keyof typeof SETTINGS;

/** Where the defaults deploy together: AWS documents Stable Image Core in us-west-2. */
export const DEFAULT_REGION = 'us-west-2';
export const DEFAULT_TEXT_MODEL_ID = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
export const DEFAULT_IMAGE_MODEL_ID = 'stability.stable-image-core-v1:1';
export const DEFAULT_LOG_RETENTION_DAYS = 30;

/** infra/ itself, so relative defaults do not depend on the working directory. */
export const INFRA_DIR = path.resolve(__dirname, '..');
export const REPO_DIR = path.resolve(INFRA_DIR, '..');
export const DEFAULT_LAMBDA_ASSET_DIR = path.join(REPO_DIR, 'target', 'lambda');
export const PLACEHOLDER_ASSET_DIR = path.join(INFRA_DIR, 'placeholder-asset');
export const DEFAULT_ASL_PATH = path.join(REPO_DIR, 'statemachine', 'pipeline.asl.json');

/** Reads one raw setting; a source is anything with CDK's `tryGetContext` shape. */
export type ContextSource = { tryGetContext(key: string): unknown };

function raw(ctx: ContextSource, env: NodeJS.ProcessEnv, key: SettingKey): string | undefined {
  const fromContext = ctx.tryGetContext(key);
  if (fromContext !== undefined && fromContext !== null && fromContext !== '') {
    return Array.isArray(fromContext) ? fromContext.join(',') : String(fromContext);
  }
  const fromEnv = env[SETTINGS[key]];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

function parseBoolean(key: SettingKey, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  const lowered = value.toLowerCase();
  if (['true', '1', 'yes'].includes(lowered)) return true;
  if (['false', '0', 'no'].includes(lowered)) return false;
  throw new Error(`setting ${key}: expected true/false, got ${JSON.stringify(value)}`);
}

function parsePositiveInt(key: SettingKey, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`setting ${key}: expected a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

function parseList(value: string | undefined, fallback: readonly string[]): readonly string[] {
  if (value === undefined) return fallback;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function parseArchitecture(value: string | undefined): Architecture {
  switch ((value ?? 'x86_64').toLowerCase()) {
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return Architecture.X86_64;
    case 'arm64':
    case 'aarch64':
      return Architecture.ARM_64;
    default:
      throw new Error(`setting lambdaArchitecture: expected x86_64 or arm64, got ${JSON.stringify(value)}`);
  }
}

function parseVisionGate(value: string | undefined): 'off' | 'local' {
  if (value === undefined || value === 'off' || value === 'local') return value ?? 'off';
  throw new Error(`setting visionGate: expected off or local, got ${JSON.stringify(value)}`);
}

export function loadSettings(ctx: ContextSource, env: NodeJS.ProcessEnv = process.env): PetAvatarSettings {
  // Not CDK_DEFAULT_REGION (the caller's profile): the default models are all offered in
  // DEFAULT_REGION (a `us.` inference profile, Stable Image Core), and a deploy elsewhere must be
  // asked for (-c region=…), together with models offered there.
  const region = raw(ctx, env, 'region') ?? DEFAULT_REGION;
  const textModelId = raw(ctx, env, 'textModelId') ?? DEFAULT_TEXT_MODEL_ID;
  const assetDir = raw(ctx, env, 'lambdaAssetDir');
  const aslPath = raw(ctx, env, 'aslPath');
  return {
    region,
    account: raw(ctx, env, 'account') ?? env.CDK_DEFAULT_ACCOUNT,
    textModelId,
    visionModelId: raw(ctx, env, 'visionModelId') ?? textModelId,
    imageModelId: raw(ctx, env, 'imageModelId') ?? DEFAULT_IMAGE_MODEL_ID,
    imageModelRegion: raw(ctx, env, 'imageModelRegion') ?? region,
    modelRoutingRegions: parseList(raw(ctx, env, 'modelRoutingRegions'), []),
    marketplaceProductIds: parseList(raw(ctx, env, 'marketplaceProductIds'), []),
    logRetentionDays: parsePositiveInt('logRetentionDays', raw(ctx, env, 'logRetentionDays'), DEFAULT_LOG_RETENTION_DAYS),
    architecture: parseArchitecture(raw(ctx, env, 'lambdaArchitecture')),
    lambdaAssetDir: assetDir === undefined ? DEFAULT_LAMBDA_ASSET_DIR : path.resolve(INFRA_DIR, assetDir),
    placeholderAssets: parseBoolean('placeholderAssets', raw(ctx, env, 'placeholderAssets'), false),
    corsOrigins: parseList(raw(ctx, env, 'corsOrigins'), ['*']),
    apiStageName: raw(ctx, env, 'apiStageName') ?? 'v1',
    apiRateLimit: parsePositiveInt('apiRateLimit', raw(ctx, env, 'apiRateLimit'), 10),
    apiBurstLimit: parsePositiveInt('apiBurstLimit', raw(ctx, env, 'apiBurstLimit'), 20),
    createApiGatewayAccountRole: parseBoolean(
      'createApiGatewayAccountRole',
      raw(ctx, env, 'createApiGatewayAccountRole'),
      false,
    ),
    visionGate: parseVisionGate(raw(ctx, env, 'visionGate')),
    alarmEmail: raw(ctx, env, 'alarmEmail'),
    aslPath: aslPath === undefined ? DEFAULT_ASL_PATH : path.resolve(INFRA_DIR, aslPath),
  };
}
