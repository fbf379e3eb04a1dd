import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { logicalId, resourcesOfType, synthTemplate } from './helpers';

const { stack, template } = synthTemplate();
const dataBuckets = {
  uploads: logicalId(stack, stack.uploadsBucket),
  generated: logicalId(stack, stack.generatedBucket),
};
const accessLogs = logicalId(stack, stack.accessLogsBucket);

describe('buckets', () => {
  test('three buckets: uploads, generated, and their access-log bucket', () => {
    assert.deepEqual(
      Object.keys(resourcesOfType(template, 'AWS::S3::Bucket')).sort(),
      [accessLogs, dataBuckets.generated, dataBuckets.uploads].sort(),
    );
  });

  for (const [name, id] of [...Object.entries(dataBuckets), ['access-logs', accessLogs]]) {
    test(`${name} bucket is encrypted, private and owner-enforced`, () => {
      const bucket = template.toJSON().Resources[id].Properties;
      assert.deepEqual(bucket.BucketEncryption.ServerSideEncryptionConfiguration, [
        { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
      ]);
      assert.deepEqual(bucket.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      assert.deepEqual(bucket.OwnershipControls.Rules, [{ ObjectOwnership: 'BucketOwnerEnforced' }]);
    });

    test(`${name} bucket denies plain HTTP and TLS below 1.2`, () => {
      const policies = Object.values(resourcesOfType(template, 'AWS::S3::BucketPolicy')).filter(
        (p) => p.Properties.Bucket.Ref === id,
      );
      assert.equal(policies.length, 1);
      const statements: any[] = policies[0].Properties.PolicyDocument.Statement;
      const denyHttp = statements.find(
        (s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
      );
      assert.ok(denyHttp, 'a Deny on aws:SecureTransport=false');
      assert.equal(denyHttp.Principal.AWS, '*');
      const denyOldTls = statements.find(
        (s) => s.Effect === 'Deny' && s.Condition?.NumericLessThan?.['s3:TlsVersion'] === 1.2,
      );
      assert.ok(denyOldTls, 'a Deny on s3:TlsVersion < 1.2');
    });
  }

  for (const [name, id] of Object.entries(dataBuckets)) {
    test(`${name} bucket expires objects after 7 days and logs access`, () => {
      const bucket = template.toJSON().Resources[id].Properties;
      const rules: any[] = bucket.LifecycleConfiguration.Rules;
      assert.equal(rules.length, 1);
      assert.equal(rules[0].Status, 'Enabled');
      assert.equal(rules[0].ExpirationInDays, 7);
      assert.equal(rules[0].Prefix, undefined, 'the whole bucket expires, not one prefix');
      assert.equal(rules[0].AbortIncompleteMultipartUpload.DaysAfterInitiation, 1);
      assert.deepEqual(bucket.LoggingConfiguration.DestinationBucketName, { Ref: accessLogs });
    });
  }

  test('uploads bucket allows the browser POST upload (CORS)', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      CorsConfiguration: {
        CorsRules: [Match.objectLike({ AllowedMethods: ['POST'], AllowedOrigins: ['*'], AllowedHeaders: ['*'] })],
      },
      LifecycleConfiguration: Match.anyValue(),
      LoggingConfiguration: { DestinationBucketName: { Ref: accessLogs }, LogFilePrefix: 'uploads-bucket/' },
    });
  });

  test('CORS origins come from settings', () => {
    const { template: t } = synthTemplate({ corsOrigins: 'https://app.example.com' });
    const uploads = Object.values(resourcesOfType(t, 'AWS::S3::Bucket')).find(
      (b) => b.Properties.LoggingConfiguration?.LogFilePrefix === 'uploads-bucket/',
    );
    assert.deepEqual(uploads?.Properties.CorsConfiguration.CorsRules[0].AllowedOrigins, ['https://app.example.com']);
  });
});

describe('jobs table', () => {
  test('partition key job_id, TTL on ttl, point-in-time recovery', () => {
    const tables = resourcesOfType(template, 'AWS::DynamoDB::Table');
    assert.equal(Object.keys(tables).length, 1);
    const table = Object.values(tables)[0].Properties;
    assert.deepEqual(table.KeySchema, [{ AttributeName: 'job_id', KeyType: 'HASH' }]);
    assert.deepEqual(table.AttributeDefinitions, [{ AttributeName: 'job_id', AttributeType: 'S' }]);
    assert.deepEqual(table.TimeToLiveSpecification, { AttributeName: 'ttl', Enabled: true });
    assert.equal(table.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled, true);
    assert.equal(table.BillingMode, 'PAY_PER_REQUEST');
    assert.equal(table.TableName, 'PetAvatar-jobs');
  });

  test('the table survives stack deletion', () => {
    const [table] = Object.values(resourcesOfType(template, 'AWS::DynamoDB::Table')) as any[];
    assert.equal(table.DeletionPolicy, 'Retain');
  });
});

describe('queues', () => {
  const queueId = logicalId(stack, stack.jobsQueue);
  const dlqId = logicalId(stack, stack.jobsDlq);

  test('job queue moves a message to the DLQ after 3 receives', () => {
    const queue = template.toJSON().Resources[queueId].Properties;
    assert.deepEqual(queue.RedrivePolicy, {
      deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] },
      maxReceiveCount: 3,
    });
  });

  test('visibility timeout is at least six times the worker timeout', () => {
    const queue = template.toJSON().Resources[queueId].Properties;
    const worker = template.toJSON().Resources[logicalId(stack, stack.functions.SqsWorker)].Properties;
    assert.ok(queue.VisibilityTimeout >= 6 * worker.Timeout, `${queue.VisibilityTimeout} vs ${worker.Timeout}`);
  });

  test('every queue is encrypted and TLS-only', () => {
    const queues = resourcesOfType(template, 'AWS::SQS::Queue');
    assert.equal(Object.keys(queues).length, 3);
    const policies = Object.values(resourcesOfType(template, 'AWS::SQS::QueuePolicy'));
    for (const [id, q] of Object.entries(queues)) {
      assert.equal(q.Properties.SqsManagedSseEnabled, true, `${id} encrypted`);
      const policy = policies.find((p) => (p.Properties.Queues as any[]).some((r) => r['Ref'] === id));
      assert.ok(policy, `${id} has a queue policy`);
      const deny = (policy.Properties.PolicyDocument.Statement as any[]).find(
        (s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
      );
      assert.ok(deny, `${id} denies plain HTTP`);
    }
  });

  test('the worker consumes the job queue with partial batch failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionName: { Ref: logicalId(stack, stack.functions.SqsWorker) },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
});
