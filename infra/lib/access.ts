/**
 * Who touches what. The stack turns this table into one IAM policy per function, so the
 * least-privilege story can be read (and reviewed, and tested) in one place.
 *
 * Job-table writes are fenced with `dynamodb:Attributes`: a function may only write (and
 * name in its condition/update expressions) the attributes listed for it. The handlers
 * must stay within these lists; a new attribute means a change here first.
 */

export type BucketName = 'uploads' | 'generated';
export type ModelRole = 'vision' | 'text' | 'image';
export type TableWrite = 'dynamodb:PutItem' | 'dynamodb:UpdateItem';

export interface ObjectAccess {
  readonly bucket: BucketName;
  /** Key prefix, ending in `/`. */
  readonly prefix: string;
  readonly actions: readonly ('s3:GetObject' | 's3:PutObject')[];
}

export interface FunctionAccess {
  /** dynamodb:GetItem on the jobs table. */
  readonly readJobs?: boolean;
  readonly writeJobs?: { readonly actions: readonly TableWrite[]; readonly attributes: readonly string[] };
  readonly objects?: readonly ObjectAccess[];
  /**
   * s3:ListBucket on the uploads bucket. Without it S3 answers HeadObject on a missing key
   * with 403 instead of 404, and POST /process must tell "no such object" (404) apart.
   */
  readonly listUploads?: boolean;
  /** sqs:SendMessage on the job queue. */
  readonly sendJobs?: boolean;
  /** states:StartExecution on the pipeline state machine. */
  readonly startPipeline?: boolean;
  readonly models?: readonly ModelRole[];
}

/**
 * Attributes every job writer may name: the key plus the fields its conditions check.
 * Absent optional fields must be left out of a PutItem, not written as NULL.
 */
const GUARD = ['job_id', 'owner', 'status', 'stage', 'progress', 'updated_at'];
const CREATE = [...GUARD, 'created_at', 'upload_key', 'ttl'];
const ADVANCE = [...GUARD];

export const ACCESS: Readonly<Record<string, FunctionAccess>> = {
  // Stages.
  ValidateImage: {
    writeJobs: { actions: ['dynamodb:UpdateItem'], attributes: ADVANCE },
    objects: [
      { bucket: 'uploads', prefix: 'uploads/', actions: ['s3:GetObject'] },
      { bucket: 'uploads', prefix: 'work/', actions: ['s3:PutObject'] },
    ],
  },
  AnalyzePet: {
    writeJobs: { actions: ['dynamodb:UpdateItem'], attributes: ADVANCE },
    objects: [{ bucket: 'uploads', prefix: 'work/', actions: ['s3:GetObject'] }],
    models: ['vision'],
  },
  MapCareer: {
    writeJobs: { actions: ['dynamodb:UpdateItem'], attributes: ADVANCE },
    models: ['text'],
  },
  GenerateAvatar: {
    writeJobs: { actions: ['dynamodb:UpdateItem'], attributes: ADVANCE },
    objects: [{ bucket: 'generated', prefix: 'generated/', actions: ['s3:PutObject'] }],
    models: ['image'],
  },
  WriteIdentity: {
    writeJobs: { actions: ['dynamodb:UpdateItem'], attributes: ADVANCE },
    models: ['text'],
  },
  RecordResult: {
    writeJobs: {
      actions: ['dynamodb:UpdateItem'],
      attributes: [...GUARD, 'avatar_key', 'identity_package', 'pet_analysis', 'career_profile'],
    },
  },
  RecordFailure: {
    writeJobs: { actions: ['dynamodb:UpdateItem'], attributes: [...GUARD, 'error'] },
  },

  // API routes: one function each, so a read-only route cannot write.
  ApiPresignedUrl: {
    // The presigned POST is signed with this role's credentials: it needs PutObject itself.
    writeJobs: { actions: ['dynamodb:PutItem'], attributes: CREATE },
    objects: [{ bucket: 'uploads', prefix: 'uploads/', actions: ['s3:PutObject'] }],
  },
  ApiProcess: {
    // api::submit_upload only reads the job and queues it; the job was created by presigned-url.
    readJobs: true,
    objects: [{ bucket: 'uploads', prefix: 'uploads/', actions: ['s3:GetObject'] }],
    listUploads: true,
    sendJobs: true,
  },
  ApiStatus: { readJobs: true },
  ApiResults: {
    readJobs: true,
    // Presigned GET of the avatar, signed with this role's credentials.
    objects: [{ bucket: 'generated', prefix: 'generated/', actions: ['s3:GetObject'] }],
  },
  ApiOpenApi: {},

  // Event handlers.
  S3Event: {
    // Same path as POST /process (api::submit_upload): read the job, queue it.
    readJobs: true,
    sendJobs: true,
  },
  SqsWorker: {
    readJobs: true,
    // `error`: on the last receive before the DLQ the worker fails the job (PetAvatar.NotStarted).
    writeJobs: { actions: ['dynamodb:UpdateItem'], attributes: [...GUARD, 'execution_arn', 'error'] },
    startPipeline: true,
  },
  ExecutionReconciler: {
    readJobs: true,
    writeJobs: { actions: ['dynamodb:UpdateItem'], attributes: [...GUARD, 'error'] },
  },
};
