import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { rejectionsByTask, REJECTION_STATE } from '../lib/asl';
import { EMF_NAMESPACE, EMF_SERVICE, STAGE_ERRORS_METRIC } from '../lib/alarms';
import { ALL_FUNCTIONS, STAGES } from '../lib/functions';
import { aslPathForTests, logicalId, REAL_ASL_AVAILABLE, resourcesOfType, synthTemplate } from './helpers';

const { stack, template } = synthTemplate();
const alarms = Object.values(resourcesOfType(template, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties);
const topicId = logicalId(stack, stack.alarmTopic);

function dimension(alarm: any, name: string): unknown {
  return (alarm.Dimensions ?? []).find((d: any) => d.Name === name)?.Value;
}

/** The alarm on a function's Lambda `Errors`, plain or inside metric math. */
function errorsAlarmOf(fnId: string): any[] {
  const fnRef = logicalId(stack, stack.functions[fnId]);
  const isErrorsOf = (m: any) =>
    m?.Namespace === 'AWS/Lambda' && m?.MetricName === 'Errors' && (dimension(m, 'FunctionName') as any)?.Ref === fnRef;
  return alarms.filter((a) => isErrorsOf(a) || (a.Metrics ?? []).some((q: any) => isErrorsOf(q.MetricStat?.Metric)));
}

/** Evaluates an alarm's `FILL(id, 0) - (FILL(id, 0) + …)` expression for one period's values. */
function evaluate(expression: string, values: Record<string, number>): number {
  assert.match(expression, /^FILL\(\w+, 0\) - \((FILL\(\w+, 0\)( \+ )?)+\)$/);
  const arithmetic = expression.replace(/FILL\((\w+), 0\)/g, (_, id: string) => String(values[id] ?? 0));
  return Function(`return (${arithmetic});`)() as number;
}

const definition = readFileSync(aslPathForTests(), 'utf8');
const rejections = rejectionsByTask(definition);
const rejectingStages = new Set(
  rejections.map((r) => STAGES.find((s) => s.aslPlaceholder === r.placeholder)?.id).filter((id) => id !== undefined),
);

describe('alarms', () => {
  test('every alarm notifies the SNS topic', () => {
    assert.ok(alarms.length > 0);
    for (const a of alarms) assert.deepEqual(a.AlarmActions, [{ Ref: topicId }], a.AlarmDescription);
  });

  test('one error alarm per Lambda function', () => {
    for (const f of ALL_FUNCTIONS) {
      const matching = errorsAlarmOf(f.id);
      assert.equal(matching.length, 1, f.id);
      assert.equal(matching[0].Threshold, 1);
      assert.equal(matching[0].ComparisonOperator, 'GreaterThanOrEqualToThreshold');
    }
  });

  test('the rejection names come from the catchers that lead to RecordRejection', { skip: !REAL_ASL_AVAILABLE }, () => {
    const byState = Object.fromEntries(rejections.map((r) => [r.state, [...r.errors].sort()]));
    const photo = ['PetAvatar.ImageTooLarge', 'PetAvatar.InvalidImage', 'PetAvatar.NotAPet', 'PetAvatar.UnsupportedFormat'];
    assert.deepEqual(byState, { ValidateImage: photo, AnalyzePet: photo });
    assert.deepEqual([...rejectingStages].sort(), ['AnalyzePet', 'ValidateImage']);
  });

  test('functions that reject nothing alarm on plain Lambda Errors', () => {
    for (const f of ALL_FUNCTIONS.filter((f) => !rejectingStages.has(f.id))) {
      const [a] = errorsAlarmOf(f.id);
      assert.equal(a.MetricName, 'Errors', f.id);
      assert.equal(a.Statistic, 'Sum', f.id);
      assert.equal(a.Metrics, undefined, f.id);
    }
  });

  test('a rejecting stage alarms on Errors less its StageErrors for exactly its rejection names', () => {
    assert.ok(rejectingStages.size > 0);
    for (const stage of rejectingStages) {
      const [a] = errorsAlarmOf(stage);
      const names = rejections.filter((r) => r.placeholder === `${stage}FunctionArn`).flatMap((r) => r.errors);
      const queries: any[] = a.Metrics;
      const expression = queries.find((q) => q.Expression !== undefined);
      assert.equal(expression.ReturnData, true, stage);
      const subtracted = queries.filter((q) => q.MetricStat?.Metric?.MetricName === STAGE_ERRORS_METRIC);
      assert.deepEqual(
        subtracted.map((q) => dimension(q.MetricStat.Metric, 'ErrorType')).sort(),
        [...new Set(names)].sort(),
        stage,
      );
      for (const q of subtracted) {
        assert.equal(q.MetricStat.Metric.Namespace, EMF_NAMESPACE);
        assert.equal(dimension(q.MetricStat.Metric, 'Service'), EMF_SERVICE);
        assert.equal(dimension(q.MetricStat.Metric, 'Stage'), stage);
        assert.equal(q.MetricStat.Stat, 'Sum');
        assert.equal(q.MetricStat.Period, 300);
        assert.equal(q.ReturnData, false);
      }
      const errors = queries.find((q) => q.MetricStat?.Metric?.MetricName === 'Errors');
      assert.equal(errors.MetricStat.Period, 300);
      const ids = Object.fromEntries(queries.map((q) => [q.MetricStat?.Metric?.MetricName === 'Errors' ? 'errors' : dimension(q.MetricStat?.Metric ?? {}, 'ErrorType'), q.Id]));
      // One period: rejected photos alone stay below the threshold; a crash beside them does not.
      const rejectedOnly: Record<string, number> = { [ids.errors]: 3, [ids['PetAvatar.NotAPet']]: 2, [ids['PetAvatar.InvalidImage']]: 1 };
      assert.ok(evaluate(expression.Expression, rejectedOnly) < a.Threshold, `${stage}: rejections alone must not alarm`);
      const crashToo = { ...rejectedOnly, [ids.errors]: 4 };
      assert.ok(evaluate(expression.Expression, crashToo) >= a.Threshold, `${stage}: a fault beside rejections alarms`);
      assert.ok(evaluate(expression.Expression, { [ids.errors]: 1 }) >= a.Threshold, `${stage}: a fault alone alarms`);
      assert.ok(evaluate(expression.Expression, {}) < a.Threshold, `${stage}: a quiet period is OK`);
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

describe('rejectionsByTask', () => {
  test('reads the catchers into RecordRejection, in Parallel branches too, once per name', () => {
    const catchTo = (next: string, ...errors: string[]) => ({ ErrorEquals: errors, Next: next });
    const definition = JSON.stringify({
      StartAt: 'A',
      States: {
        A: {
          Type: 'Task',
          Resource: '${AFunctionArn}',
          Catch: [catchTo(REJECTION_STATE, 'X.One', 'X.Two'), catchTo(REJECTION_STATE, 'X.One'), catchTo('RecordFailure', 'States.ALL')],
          Next: 'P',
        },
        P: {
          Type: 'Parallel',
          Catch: [catchTo(REJECTION_STATE, 'X.Parallel')],
          Branches: [
            { StartAt: 'B', States: { B: { Type: 'Task', Resource: '${BFunctionArn}', Catch: [catchTo(REJECTION_STATE, 'X.Three')], End: true } } },
          ],
          Next: 'C',
        },
        C: { Type: 'Task', Resource: 'arn:aws:states:::sns:publish', Catch: [catchTo(REJECTION_STATE, 'X.Four')], Next: 'D' },
        D: { Type: 'Task', Resource: '${DFunctionArn}', Catch: [catchTo('RecordFailure', 'States.ALL')], End: true },
      },
    });
    assert.deepEqual(rejectionsByTask(definition), [
      { state: 'A', placeholder: 'AFunctionArn', errors: ['X.One', 'X.Two'] },
      { state: 'B', placeholder: 'BFunctionArn', errors: ['X.Three'] },
    ]);
  });
});
