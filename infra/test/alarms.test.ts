import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ALL_FUNCTIONS } from '../lib/functions';
import { logicalId, resourcesOfType, synthTemplate } from './helpers';

const { stack, template } = synthTemplate();
const alarms = Object.values(resourcesOfType(template, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties);
const topicId = logicalId(stack, stack.alarmTopic);

function dimension(alarm: any, name: string): unknown {
  return (alarm.Dimensions ?? []).find((d: any) => d.Name === name)?.Value;
}

describe('alarms', () => {
  test('every alarm notifies the SNS topic', () => {
    assert.ok(alarms.length > 0);
    for (const a of alarms) assert.deepEqual(a.AlarmActions, [{ Ref: topicId }], a.AlarmDescription);
  });

  test('one error alarm per Lambda function', () => {
    for (const f of ALL_FUNCTIONS) {
      const fnId = logicalId(stack, stack.functions[f.id]);
      const matching = alarms.filter(
        (a) => a.Namespace === 'AWS/Lambda' && a.MetricName === 'Errors' && (dimension(a, 'FunctionName') as any)?.Ref === fnId,
      );
      assert.equal(matching.length, 1, f.id);
      assert.equal(matching[0].Threshold, 1);
      assert.equal(matching[0].ComparisonOperator, 'GreaterThanOrEqualToThreshold');
      assert.equal(matching[0].Statistic, 'Sum');
    }
  });

  for (const [name, queue] of [
    ['job DLQ', () => stack.jobsDlq],
    ['reconciler DLQ', () => stack.reconcilerDlq],
  ] as const) {
    test(`${name} depth > 0 alarms`, () => {
      const queueId = logicalId(stack, queue());
      const matching = alarms.filter(
        (a) =>
          a.Namespace === 'AWS/SQS' &&
          a.MetricName === 'ApproximateNumberOfMessagesVisible' &&
          JSON.stringify(dimension(a, 'QueueName')).includes(`"${queueId}"`),
      );
      assert.equal(matching.length, 1);
      assert.equal(matching[0].Threshold, 0);
      assert.equal(matching[0].ComparisonOperator, 'GreaterThanThreshold');
    });
  }

  test('failed and timed-out executions alarm', () => {
    const machineId = logicalId(stack, stack.stateMachine);
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
      const matching = alarms.filter(
        (a) => a.Namespace === 'AWS/States' && a.MetricName === metric && (dimension(a, 'StateMachineArn') as any)?.Ref === machineId,
      );
      assert.equal(matching.length, 1, metric);
      assert.equal(matching[0].Threshold, 1);
    }
  });

  test('alarm topic is TLS-only and the e-mail subscription is optional', () => {
    assert.deepEqual(resourcesOfType(template, 'AWS::SNS::Subscription'), {});
    const [policy] = Object.values(resourcesOfType(template, 'AWS::SNS::TopicPolicy'));
    const deny = policy.Properties.PolicyDocument.Statement.find(
      (s: any) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false',
    );
    assert.ok(deny);
    const { template: withEmail } = synthTemplate({ alarmEmail: 'ops@example.com' });
    const subs = Object.values(resourcesOfType(withEmail, 'AWS::SNS::Subscription'));
    assert.equal(subs.length, 1);
    assert.equal(subs[0].Properties.Protocol, 'email');
    assert.equal(subs[0].Properties.Endpoint, 'ops@example.com');
  });
});
