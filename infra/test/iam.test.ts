import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ALL_FUNCTIONS } from '../lib/functions';
import { MAX_RECEIVE_COUNT } from '../lib/petavatar-stack';
import { actionsOf, logicalId, statementsForRole, synthTemplate } from './helpers';

const { stack, template } = synthTemplate();
const resources = template.toJSON().Resources as Record<string, any>;

/** Every policy document in the template, with where it came from. */
function allPolicyDocuments(t = template): { where: string; doc: any }[] {
  const docs: { where: string; doc: any }[] = [];
  for (const [id, r] of Object.entries(t.toJSON().Resources as Record<string, any>)) {
    const p = r.Properties ?? {};
    if (p.PolicyDocument) docs.push({ where: id, doc: p.PolicyDocument });
    if (p.AssumeRolePolicyDocument) docs.push({ where: `${id} (trust)`, doc: p.AssumeRolePolicyDocument });
    for (const inline of p.Policies ?? []) docs.push({ where: `${id} ${inline.PolicyName}`, doc: inline.PolicyDocument });
    if (r.Type === 'AWS::KMS::Key' && p.KeyPolicy) docs.push({ where: id, doc: p.KeyPolicy });
  }
  return docs;
}

function roleOf(fnId: string): string {
  return stack.functions[fnId].role ? logicalId(stack, stack.functions[fnId].role as any) : '';
}

function actionsFor(fnId: string): string[] {
  return [...new Set(statementsForRole(template, roleOf(fnId)).flatMap(actionsOf))].sort();
}

const LOGS = ['logs:CreateLogStream', 'logs:PutLogEvents'];
/** A Marketplace model's first call subscribes the account: the caller needs these (AWS: model access). */
const MARKETPLACE = ['aws-marketplace:Subscribe', 'aws-marketplace:ViewSubscriptions'];
const CONSUME = [
  'sqs:ChangeMessageVisibility',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
  'sqs:GetQueueUrl',
  'sqs:ReceiveMessage',
];

/** What each function may do, written out by hand: the test is the second opinion on lib/access.ts. */
const EXPECTED_ACTIONS: Record<string, string[]> = {
  ValidateImage: [...LOGS, 'dynamodb:UpdateItem', 's3:GetObject', 's3:PutObject'],
  AnalyzePet: [...LOGS, ...MARKETPLACE, 'bedrock:InvokeModel', 'dynamodb:UpdateItem', 's3:GetObject'],
  MapCareer: [...LOGS, ...MARKETPLACE, 'bedrock:InvokeModel', 'dynamodb:UpdateItem'],
  GenerateAvatar: [...LOGS, ...MARKETPLACE, 'bedrock:InvokeModel', 'dynamodb:UpdateItem', 's3:PutObject'],
  WriteIdentity: [...LOGS, ...MARKETPLACE, 'bedrock:InvokeModel', 'dynamodb:UpdateItem'],
  RecordResult: [...LOGS, 'dynamodb:UpdateItem'],
  RecordFailure: [...LOGS, 'dynamodb:UpdateItem'],
  ApiPresignedUrl: [...LOGS, 'dynamodb:PutItem', 's3:PutObject'],
  ApiProcess: [...LOGS, 'dynamodb:GetItem', 's3:GetObject', 's3:ListBucket', 'sqs:SendMessage'],
  ApiStatus: [...LOGS, 'dynamodb:GetItem'],
  ApiResults: [...LOGS, 'dynamodb:GetItem', 's3:GetObject'],
  ApiOpenApi: [...LOGS],
  S3Event: [...LOGS, 'dynamodb:GetItem', 'sqs:SendMessage'],
  SqsWorker: [...LOGS, ...CONSUME, 'dynamodb:GetItem', 'dynamodb:UpdateItem', 'states:DescribeExecution', 'states:StartExecution'],
  ExecutionReconciler: [...LOGS, 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
};

describe('least privilege', () => {
  test('no Allow statement anywhere has a wildcard action, NotAction or NotResource', () => {
    for (const { where, doc } of allPolicyDocuments()) {
      for (const s of doc.Statement) {
        assert.equal(s.NotAction, undefined, `${where}: NotAction`);
        if (s.Effect !== 'Allow') continue;
        assert.equal(s.NotResource, undefined, `${where}: NotResource`);
        for (const action of actionsOf(s)) assert.ok(!action.includes('*'), `${where}: action ${action}`);
      }
    }
  });

  test('wildcard actions appear only in the TLS-only Deny statements', () => {
    for (const { where, doc } of allPolicyDocuments()) {
      for (const s of doc.Statement) {
        if (!actionsOf(s).some((a) => a.includes('*'))) continue;
        assert.equal(s.Effect, 'Deny', where);
        const plainHttp = s.Condition?.Bool?.['aws:SecureTransport'] === 'false';
        const oldTls = s.Condition?.NumericLessThan?.['s3:TlsVersion'] === 1.2;
        assert.ok(plainHttp || oldTls, `${where}: a wildcard Deny must be about TLS`);
      }
    }
  });

  test('each function has exactly the actions it needs', () => {
    assert.deepEqual(Object.keys(EXPECTED_ACTIONS).sort(), ALL_FUNCTIONS.map((f) => f.id).sort());
    for (const [fn, expected] of Object.entries(EXPECTED_ACTIONS)) {
      assert.deepEqual(actionsFor(fn), [...expected].sort(), fn);
    }
  });

  test('function roles carry no managed policies', () => {
    for (const f of ALL_FUNCTIONS) {
      const role = resources[roleOf(f.id)].Properties;
      assert.equal(role.ManagedPolicyArns, undefined, f.id);
    }
  });

  test('each function writes logs only to its own log group', () => {
    for (const f of ALL_FUNCTIONS) {
      const fn = resources[logicalId(stack, stack.functions[f.id])].Properties;
      const ownGroup = fn.LoggingConfig.LogGroup.Ref;
      const logStatements = statementsForRole(template, roleOf(f.id)).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('logs:')),
      );
      assert.equal(logStatements.length, 1, f.id);
      assert.deepEqual(logStatements[0].Resource, { 'Fn::GetAtt': [ownGroup, 'Arn'] }, f.id);
    }
  });

  test('S3 object access is confined to one prefix per grant', () => {
    const expectations: Record<string, [string, string, string][]> = {
      ValidateImage: [
        ['s3:GetObject', logicalId(stack, stack.uploadsBucket), '/uploads/*'],
        ['s3:PutObject', logicalId(stack, stack.uploadsBucket), '/work/*'],
      ],
      AnalyzePet: [['s3:GetObject', logicalId(stack, stack.uploadsBucket), '/work/*']],
      GenerateAvatar: [['s3:PutObject', logicalId(stack, stack.generatedBucket), '/generated/*']],
      ApiPresignedUrl: [['s3:PutObject', logicalId(stack, stack.uploadsBucket), '/uploads/*']],
      ApiProcess: [['s3:GetObject', logicalId(stack, stack.uploadsBucket), '/uploads/*']],
      ApiResults: [['s3:GetObject', logicalId(stack, stack.generatedBucket), '/generated/*']],
    };
    for (const [fn, grants] of Object.entries(expectations)) {
      const s3Statements = statementsForRole(template, roleOf(fn)).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('s3:')),
      );
      const got = s3Statements.filter((s) => s.Action !== 's3:ListBucket').map((s) => {
        const [bucketRef, suffix] = s.Resource['Fn::Join'][1];
        return [s.Action, bucketRef['Fn::GetAtt'][0], suffix];
      });
      assert.deepEqual(got, grants, fn);
    }
  });

  test('job-table writes are fenced by dynamodb:Attributes; reads and writes hit only the jobs table', () => {
    const table = logicalId(stack, stack.jobsTable);
    for (const f of ALL_FUNCTIONS) {
      for (const s of statementsForRole(template, roleOf(f.id))) {
        const actions = actionsOf(s).filter((a) => a.startsWith('dynamodb:'));
        if (actions.length === 0) continue;
        assert.deepEqual(s.Resource, { 'Fn::GetAtt': [table, 'Arn'] }, f.id);
        if (actions.some((a) => a !== 'dynamodb:GetItem')) {
          const attributes: string[] = s.Condition['ForAllValues:StringEquals']['dynamodb:Attributes'];
          assert.ok(attributes.includes('job_id'), `${f.id} must name the key`);
          assert.ok(!attributes.includes('*'), f.id);
        }
      }
    }
    const resultAttrs = statementsForRole(template, roleOf('RecordResult')).find((s) => s.Action === 'dynamodb:UpdateItem')
      .Condition['ForAllValues:StringEquals']['dynamodb:Attributes'];
    assert.ok(resultAttrs.includes('identity_package') && !resultAttrs.includes('error'));
    const failureAttrs = statementsForRole(template, roleOf('RecordFailure')).find((s) => s.Action === 'dynamodb:UpdateItem')
      .Condition['ForAllValues:StringEquals']['dynamodb:Attributes'];
    assert.ok(failureAttrs.includes('error') && !failureAttrs.includes('identity_package'));
    // The worker fails a job on the message's last receive (handlers: sqs-worker, PetAvatar.NotStarted).
    const workerAttrs = statementsForRole(template, roleOf('SqsWorker')).find((s) => s.Action === 'dynamodb:UpdateItem')
      .Condition['ForAllValues:StringEquals']['dynamodb:Attributes'];
    assert.ok(workerAttrs.includes('execution_arn') && workerAttrs.includes('error') && !workerAttrs.includes('identity_package'));
  });

  test('only the worker may start executions, and only of the pipeline', () => {
    const machineId = logicalId(stack, stack.stateMachine);
    for (const f of ALL_FUNCTIONS) {
      const starts = statementsForRole(template, roleOf(f.id)).filter((s) => actionsOf(s).includes('states:StartExecution'));
      if (f.id === 'SqsWorker') {
        assert.equal(starts.length, 1);
        assert.deepEqual(starts[0].Resource, { Ref: machineId });
      } else {
        assert.equal(starts.length, 0, f.id);
      }
    }
  });

  test('the worker may describe only the executions of the pipeline', () => {
    const describes = statementsForRole(template, roleOf('SqsWorker')).filter((s) => actionsOf(s).includes('states:DescribeExecution'));
    assert.equal(describes.length, 1);
    const resource = JSON.stringify(describes[0].Resource);
    assert.ok(resource.includes(':execution:'), resource);
    assert.ok(resource.includes(JSON.stringify({ 'Fn::GetAtt': [logicalId(stack, stack.stateMachine), 'Name'] })), resource);
  });

  test('sqs:SendMessage only to the job queue, only from the API process route and the S3 handler', () => {
    const senders = ALL_FUNCTIONS.filter((f) => actionsFor(f.id).includes('sqs:SendMessage')).map((f) => f.id);
    assert.deepEqual(senders.sort(), ['ApiProcess', 'S3Event']);
    for (const fn of senders) {
      const s = statementsForRole(template, roleOf(fn)).find((st) => st.Action === 'sqs:SendMessage');
      assert.deepEqual(s.Resource, { 'Fn::GetAtt': [logicalId(stack, stack.jobsQueue), 'Arn'] });
    }
  });
});

describe('Bedrock permissions', () => {
  function bedrockStatements(t: typeof template, s: typeof stack, fn: string): any[] {
    const role = logicalId(s, s.functions[fn].role as any);
    return statementsForRole(t, role).filter((st) => actionsOf(st).includes('bedrock:InvokeModel'));
  }
  const render = (v: unknown) => JSON.stringify(v);

  test('only the four model stages may invoke models', () => {
    const invokers = ALL_FUNCTIONS.filter((f) => actionsFor(f.id).includes('bedrock:InvokeModel')).map((f) => f.id);
    assert.deepEqual(invokers.sort(), ['AnalyzePet', 'GenerateAvatar', 'MapCareer', 'WriteIdentity']);
  });

  test('text/vision stages get the inference profile and its model, fenced by the profile ARN', () => {
    for (const fn of ['AnalyzePet', 'MapCareer', 'WriteIdentity']) {
      const [profile, viaProfile] = bedrockStatements(template, stack, fn);
      assert.match(render(profile.Resource), /:bedrock:us-west-2:.*:inference-profile\/us\.anthropic\.claude-sonnet-4-5-20250929-v1:0"/);
      assert.match(render(viaProfile.Resource), /:bedrock:\*::foundation-model\/anthropic\.claude-sonnet-4-5-20250929-v1:0"/);
      assert.deepEqual(viaProfile.Condition.StringEquals['bedrock:InferenceProfileArn'], profile.Resource);
    }
  });

  test('the image stage gets exactly the image model', () => {
    const statements = bedrockStatements(template, stack, 'GenerateAvatar');
    assert.equal(statements.length, 1);
    assert.match(render(statements[0].Resource), /:bedrock:us-west-2::foundation-model\/stability\.stable-image-core-v1:1"/);
    assert.equal(statements[0].Condition, undefined);
  });

  test('model ids, image region and routing regions come from settings', () => {
    const { stack: s, template: t } = synthTemplate({
      visionModelId: 'eu.anthropic.claude-haiku-4-5-20251001-v1:0',
      textModelId: 'amazon.nova-pro-v1:0',
      imageModelId: 'stability.sd3-5-large-v1:0',
      imageModelRegion: 'us-east-1',
      modelRoutingRegions: 'eu-west-1,eu-central-1',
      region: 'eu-west-1',
    });
    const [profile, viaProfile] = bedrockStatements(t, s, 'AnalyzePet');
    assert.match(render(profile.Resource), /:bedrock:eu-west-1:.*:inference-profile\/eu\.anthropic\.claude-haiku/);
    const modelArns = (viaProfile.Resource as unknown[]).map(render);
    assert.equal(modelArns.length, 2);
    assert.match(modelArns[0], /:bedrock:eu-west-1::foundation-model\/anthropic\.claude-haiku/);
    assert.match(modelArns[1], /:bedrock:eu-central-1::foundation-model\/anthropic\.claude-haiku/);

    const text = bedrockStatements(t, s, 'MapCareer');
    assert.equal(text.length, 1);
    assert.match(render(text[0].Resource), /:bedrock:eu-west-1::foundation-model\/amazon\.nova-pro-v1:0"/);

    const image = bedrockStatements(t, s, 'GenerateAvatar');
    assert.match(render(image[0].Resource), /:bedrock:us-east-1::foundation-model\/stability\.sd3-5-large-v1:0"/);

    const env = (fn: string) => t.toJSON().Resources[logicalId(s, s.functions[fn])].Properties.Environment.Variables;
    assert.equal(env('AnalyzePet').VISION_MODEL_ID, 'eu.anthropic.claude-haiku-4-5-20251001-v1:0');
    assert.equal(env('MapCareer').TEXT_MODEL_ID, 'amazon.nova-pro-v1:0');
    assert.equal(env('GenerateAvatar').IMAGE_MODEL_ID, 'stability.sd3-5-large-v1:0');
    assert.equal(env('GenerateAvatar').IMAGE_MODEL_REGION, 'us-east-1');
  });
});

describe('AWS Marketplace permissions for a model\'s first call', () => {
  function marketplaceStatementsOf(t: typeof template, s: typeof stack, fn: string): any[] {
    const role = logicalId(s, s.functions[fn].role as any);
    return statementsForRole(t, role).filter((st) => actionsOf(st).some((a) => a.startsWith('aws-marketplace:')));
  }
  const subscribeScope = (statements: any[]) => {
    const subscribe = statements.find((st) => actionsOf(st).includes('aws-marketplace:Subscribe'));
    assert.deepEqual(actionsOf(subscribe), ['aws-marketplace:Subscribe'], 'Subscribe stands alone, under its condition');
    assert.equal(subscribe.Resource, '*');
    return subscribe.Condition['ForAnyValue:StringEquals']['aws-marketplace:ProductId'];
  };

  test('each model stage may subscribe to its own model only (Claude Sonnet 4.5, Stable Image Core), and view subscriptions', () => {
    const expected: Record<string, string[]> = {
      AnalyzePet: ['prod-mxcfnwvpd6kb4'],
      MapCareer: ['prod-mxcfnwvpd6kb4'],
      WriteIdentity: ['prod-mxcfnwvpd6kb4'],
      GenerateAvatar: ['prod-eacdrmv7zfc5e'],
    };
    for (const [fn, products] of Object.entries(expected)) {
      const statements = marketplaceStatementsOf(template, stack, fn);
      assert.deepEqual(subscribeScope(statements), products, fn);
      const view = statements.find((st) => actionsOf(st).includes('aws-marketplace:ViewSubscriptions'));
      assert.deepEqual(actionsOf(view), ['aws-marketplace:ViewSubscriptions'], fn);
      assert.equal(view.Condition, undefined, fn);
      assert.ok(!statements.some((st) => actionsOf(st).includes('aws-marketplace:Unsubscribe')), `${fn}: never Unsubscribe`);
    }
    for (const f of ALL_FUNCTIONS.filter((f) => !(f.id in expected))) {
      assert.deepEqual(marketplaceStatementsOf(template, stack, f.id), [], f.id);
    }
  });

  test('models outside Marketplace get no marketplace grant; an override replaces the table', () => {
    const { stack: s, template: t } = synthTemplate({ textModelId: 'amazon.nova-pro-v1:0', visionModelId: 'us.anthropic.claude-haiku-4-5-20251001-v1:0' });
    assert.deepEqual(marketplaceStatementsOf(t, s, 'MapCareer'), []);
    assert.deepEqual(subscribeScope(marketplaceStatementsOf(t, s, 'AnalyzePet')), ['prod-xdkflymybwmvi']);
    const { stack: o, template: ot } = synthTemplate({ marketplaceProductIds: 'prod-aaaa,prod-bbbb' });
    assert.deepEqual(subscribeScope(marketplaceStatementsOf(ot, o, 'GenerateAvatar')), ['prod-aaaa', 'prod-bbbb']);
  });

  test('a third-party model whose product id is unknown stops the synth with what to set', () => {
    assert.throws(() => synthTemplate({ imageModelId: 'stability.some-future-model-v9:0' }), /marketplaceProductIds=/);
  });
});

describe('function configuration (the contract with handlers/)', () => {
  const COMMON = [
    'AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH',
    'CORS_ALLOWED_ORIGINS',
    'GENERATED_BUCKET',
    'IMAGE_MODEL_ID',
    'IMAGE_MODEL_REGION',
    'JOBS_MAX_RECEIVE_COUNT',
    'JOBS_QUEUE_URL',
    'JOBS_TABLE',
    'PETAVATAR_FUNCTION',
    'PETAVATAR_MODEL_BACKEND',
    'PETAVATAR_VISION_GATE',
    'RUST_LOG',
    'TEXT_MODEL_ID',
    'UPLOADS_BUCKET',
    'VISION_MODEL_ID',
  ];

  test('every function gets the same settings; all but the stages also get STATE_MACHINE_ARN', () => {
    for (const f of ALL_FUNCTIONS) {
      const vars = resources[logicalId(stack, stack.functions[f.id])].Properties.Environment.Variables;
      const expected = f.kind === 'stage' ? COMMON : [...COMMON, 'STATE_MACHINE_ARN'].sort();
      assert.deepEqual(Object.keys(vars).sort(), expected, f.id);
      assert.deepEqual(vars.JOBS_TABLE, { Ref: logicalId(stack, stack.jobsTable) });
      assert.deepEqual(vars.UPLOADS_BUCKET, { Ref: logicalId(stack, stack.uploadsBucket) });
      assert.deepEqual(vars.GENERATED_BUCKET, { Ref: logicalId(stack, stack.generatedBucket) });
      assert.deepEqual(vars.JOBS_QUEUE_URL, { Ref: logicalId(stack, stack.jobsQueue) });
      assert.equal(vars.PETAVATAR_FUNCTION, f.id);
      assert.equal(vars.JOBS_MAX_RECEIVE_COUNT, String(MAX_RECEIVE_COUNT));
      assert.equal(vars.VISION_MODEL_ID, 'us.anthropic.claude-sonnet-4-5-20250929-v1:0');
      assert.equal(vars.IMAGE_MODEL_ID, 'stability.stable-image-core-v1:1');
      // lambda_http leaves the stage out of the API's paths (handlers' config::IGNORE_STAGE_IN_PATH).
      assert.equal(vars.AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH, 'true');
      if (f.kind !== 'stage') assert.deepEqual(vars.STATE_MACHINE_ARN, { Ref: logicalId(stack, stack.stateMachine) });
    }
  });
});
