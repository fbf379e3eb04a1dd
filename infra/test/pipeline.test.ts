import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { placeholdersIn, substitute } from '../lib/asl';
import { STAGES } from '../lib/functions';
import { ASL_UNDER_TEST, REAL_ASL_AVAILABLE, logicalId, resourcesOfType, synthTemplate } from './helpers';

const { stack, template } = synthTemplate();
const resources = template.toJSON().Resources;
const [machineId, machine] = Object.entries(resourcesOfType(template, 'AWS::StepFunctions::StateMachine'))[0];

/**
 * Renders the deployed DefinitionString back to JSON: a plain string or an Fn::Join whose
 * token parts become markers, then CloudFormation's DefinitionSubstitutions applied the way
 * Step Functions applies them. Each intrinsic becomes a readable marker such as
 * `<GetAtt ValidateImage0C737F95.Arn>`.
 */
function marker(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, any>;
  if (v['Fn::GetAtt']) return `<GetAtt ${v['Fn::GetAtt'][0]}.${v['Fn::GetAtt'][1]}>`;
  if (v.Ref) return `<Ref ${v.Ref}>`;
  return `<${JSON.stringify(value)}>`;
}

function deployedDefinition(): unknown {
  const props = machine.Properties;
  const raw = props.DefinitionString;
  let text: string;
  if (typeof raw === 'string') {
    text = raw;
  } else {
    const [separator, parts] = raw['Fn::Join'] as [string, unknown[]];
    text = parts.map(marker).join(separator);
  }
  const substitutions: Record<string, string> = {};
  for (const [k, v] of Object.entries(props.DefinitionSubstitutions ?? {})) substitutions[k] = marker(v);
  const rendered = substitute(text, substitutions);
  assert.deepEqual([...placeholdersIn(rendered)], [], 'every placeholder is substituted');
  return JSON.parse(rendered);
}

describe('state machine', () => {
  test('is a STANDARD machine', () => {
    assert.equal(machine.Properties.StateMachineType, 'STANDARD');
  });

  test(
    'deploys pipeline.asl.json with each placeholder bound to its stage function',
    { skip: REAL_ASL_AVAILABLE ? false : `${ASL_UNDER_TEST} not written yet (statemachine/ owns it)` },
    () => {
      const fileText = readFileSync(ASL_UNDER_TEST, 'utf8');
      const expected: Record<string, string> = {};
      for (const s of STAGES) {
        expected[s.aslPlaceholder as string] = `<GetAtt ${logicalId(stack, stack.functions[s.id])}.Arn>`;
      }
      const want = JSON.parse(substitute(fileText, expected)) as { States: Record<string, unknown> };
      const got = deployedDefinition() as { States: Record<string, unknown> };
      assert.deepEqual(Object.keys(got.States).sort(), Object.keys(want.States).sort());
      for (const name of Object.keys(want.States)) {
        assert.deepEqual(got.States[name], want.States[name], `state ${name}`);
      }
      assert.deepEqual(got, want, 'the whole definition');
      // Every stage placeholder in the file is one the stack fills.
      for (const name of placeholdersIn(fileText)) assert.ok(name in expected, `unknown placeholder ${name}`);
    },
  );

  test(
    'the deployed definition, with real-looking function ARNs, passes asl-validator (ARN checks on)',
    { skip: REAL_ASL_AVAILABLE ? false : `${ASL_UNDER_TEST} not written yet (statemachine/ owns it)` },
    () => {
      const validator = require('asl-validator') as (
        d: unknown,
        o: { checkPaths: boolean; checkArn: boolean },
      ) => { isValid: boolean; errors: unknown[] };
      const asText = JSON.stringify(deployedDefinition()).replace(
        /<GetAtt ([A-Za-z0-9]+)\.Arn>/g,
        (_m, id: string) => `arn:aws:lambda:us-west-2:123456789012:function:PetAvatar-${id}`,
      );
      const result = validator(JSON.parse(asText), { checkPaths: true, checkArn: true });
      assert.deepEqual(result.errors, []);
      assert.equal(result.isValid, true);
    },
  );

  test('substitutions map every stage placeholder to that stage function', () => {
    const subs = machine.Properties.DefinitionSubstitutions;
    assert.deepEqual(Object.keys(subs).sort(), STAGES.map((s) => s.aslPlaceholder).sort());
    for (const s of STAGES) {
      assert.deepEqual(subs[s.aslPlaceholder as string], {
        'Fn::GetAtt': [logicalId(stack, stack.functions[s.id]), 'Arn'],
      });
    }
    // The definition handed to CloudFormation is the file's text, not a CDK rendering of it.
    const rendered = deployedDefinition() as { States: Record<string, { Resource?: string }> };
    const resourcesUsed = new Set(
      JSON.stringify(rendered).match(/<GetAtt [A-Za-z0-9]+\.Arn>/g) ?? [],
    );
    assert.ok(resourcesUsed.size > 0, 'the definition invokes the stage functions');
  });

  test('logs ALL events with execution data to its own log group', () => {
    const logging = machine.Properties.LoggingConfiguration;
    assert.equal(logging.Level, 'ALL');
    assert.equal(logging.IncludeExecutionData, true);
    const target = logging.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn;
    const logGroupId = target['Fn::GetAtt'][0];
    assert.equal(resources[logGroupId].Type, 'AWS::Logs::LogGroup');
    assert.equal(resources[logGroupId].Properties.RetentionInDays, 30);
  });

  test('X-Ray tracing is on', () => {
    assert.deepEqual(machine.Properties.TracingConfiguration, { Enabled: true });
  });

  test('its role may invoke exactly the seven stage functions', () => {
    const roleId = machine.Properties.RoleArn['Fn::GetAtt'][0];
    const statements = Object.values(resourcesOfType(template, 'AWS::IAM::Policy'))
      .filter((p) => p.Properties.Roles.some((r: any) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as any[]);
    const invoked = statements
      .filter((s) => s.Action === 'lambda:InvokeFunction')
      .map((s) => s.Resource['Fn::GetAtt'][0])
      .sort();
    assert.deepEqual(invoked, STAGES.map((s) => logicalId(stack, stack.functions[s.id])).sort());
  });
});

describe('event wiring', () => {
  test('objects created under uploads/ trigger the s3-event function', () => {
    const [notifications] = Object.values(resourcesOfType(template, 'Custom::S3BucketNotifications'));
    assert.deepEqual(notifications.Properties.BucketName, { Ref: logicalId(stack, stack.uploadsBucket) });
    assert.deepEqual(notifications.Properties.NotificationConfiguration.LambdaFunctionConfigurations, [
      {
        Events: ['s3:ObjectCreated:*'],
        Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } },
        LambdaFunctionArn: { 'Fn::GetAtt': [logicalId(stack, stack.functions.S3Event), 'Arn'] },
      },
    ]);
  });

  test('execution status changes FAILED/TIMED_OUT/ABORTED of this machine go to the reconciler', () => {
    const rules = Object.values(resourcesOfType(template, 'AWS::Events::Rule'));
    assert.equal(rules.length, 1);
    const rule = rules[0].Properties;
    assert.deepEqual(rule.EventPattern.source, ['aws.states']);
    assert.deepEqual(rule.EventPattern['detail-type'], ['Step Functions Execution Status Change']);
    assert.deepEqual([...rule.EventPattern.detail.status].sort(), ['ABORTED', 'FAILED', 'TIMED_OUT']);
    assert.deepEqual(rule.EventPattern.detail.stateMachineArn, [{ Ref: machineId }]);
    assert.equal(rule.Targets.length, 1);
    assert.deepEqual(rule.Targets[0].Arn, {
      'Fn::GetAtt': [logicalId(stack, stack.functions.ExecutionReconciler), 'Arn'],
    });
    assert.deepEqual(rule.Targets[0].DeadLetterConfig.Arn, {
      'Fn::GetAtt': [logicalId(stack, stack.reconcilerDlq), 'Arn'],
    });
  });
});
