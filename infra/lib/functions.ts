/**
 * The catalogue of Lambda functions: one per pipeline stage and one per handler.
 * `bin` is the cargo binary name in the `handlers` crate; cargo-lambda writes it to
 * `target/lambda/<bin>/bootstrap`. This list is the contract with handlers/ (see README).
 */

export type FunctionKind = 'stage' | 'api' | 'handler';

export interface FunctionSpec {
  /** Construct id, also the stem of the deployed function name. */
  readonly id: string;
  readonly bin: string;
  readonly kind: FunctionKind;
  readonly description: string;
  readonly memoryMiB: number;
  readonly timeoutSeconds: number;
  /** For stages: the `${...}` placeholder in pipeline.asl.json that receives this function's ARN. */
  readonly aslPlaceholder?: string;
}

function stage(id: string, bin: string, description: string, memoryMiB: number, timeoutSeconds: number): FunctionSpec {
  return { id, bin, kind: 'stage', description, memoryMiB, timeoutSeconds, aslPlaceholder: `${id}FunctionArn` };
}

// API Gateway gives an integration at most 29 s; the API functions stop well before that.
const API_TIMEOUT_SECONDS = 20;

export const STAGES: readonly FunctionSpec[] = [
  stage('ValidateImage', 'validate-image', 'Checks the upload and writes the normalized JPEG', 2048, 60),
  stage('AnalyzePet', 'analyze-pet', 'Vision model: species, breed, 47 personality dimensions', 512, 120),
  stage('MapCareer', 'map-career', 'Text model: traits to a career profile', 512, 120),
  stage('GenerateAvatar', 'generate-avatar', 'Image model: the 1024x1024 avatar and its variants', 1024, 180),
  stage('WriteIdentity', 'write-identity', 'Text model: name, bio, skills, trajectory, similarity', 512, 120),
  stage('RecordResult', 'record-result', 'Marks the job completed with its results', 256, 30),
  stage('RecordFailure', 'record-failure', 'Marks the job failed with {code, message}', 256, 30),
];

export const API_FUNCTIONS: readonly FunctionSpec[] = [
  { id: 'ApiPresignedUrl', bin: 'api-presigned-url', kind: 'api', description: 'GET /presigned-url', memoryMiB: 256, timeoutSeconds: API_TIMEOUT_SECONDS },
  { id: 'ApiProcess', bin: 'api-process', kind: 'api', description: 'POST /process', memoryMiB: 256, timeoutSeconds: API_TIMEOUT_SECONDS },
  { id: 'ApiStatus', bin: 'api-status', kind: 'api', description: 'GET /status/{job_id}', memoryMiB: 256, timeoutSeconds: API_TIMEOUT_SECONDS },
  { id: 'ApiResults', bin: 'api-results', kind: 'api', description: 'GET /results/{job_id}', memoryMiB: 256, timeoutSeconds: API_TIMEOUT_SECONDS },
  { id: 'ApiOpenApi', bin: 'api-openapi', kind: 'api', description: 'GET /openapi.json', memoryMiB: 128, timeoutSeconds: 10 },
];

export const SQS_WORKER_TIMEOUT_SECONDS = 30;

export const HANDLERS: readonly FunctionSpec[] = [
  { id: 'S3Event', bin: 's3-event', kind: 'handler', description: 'S3 ObjectCreated under uploads/ -> job queue', memoryMiB: 256, timeoutSeconds: 30 },
  { id: 'SqsWorker', bin: 'sqs-worker', kind: 'handler', description: 'Job queue -> StartExecution(name = job_id)', memoryMiB: 256, timeoutSeconds: SQS_WORKER_TIMEOUT_SECONDS },
  { id: 'ExecutionReconciler', bin: 'execution-reconciler', kind: 'handler', description: 'FAILED/TIMED_OUT/ABORTED executions -> job failed', memoryMiB: 256, timeoutSeconds: 30 },
];

export const ALL_FUNCTIONS: readonly FunctionSpec[] = [...STAGES, ...API_FUNCTIONS, ...HANDLERS];
