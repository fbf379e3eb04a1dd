import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SKIP_ACKNOWLEDGEMENTS_CONTEXT, suppressionsOf } from '../lib/nag';
import { build } from './helpers';

/** `ruleName @ construct path` for every finding cdk-nag reports on the app. */
function findings(app: ReturnType<typeof build>['app']): string[] {
  const report = new AwsSolutionsChecks(app).validateScope(app);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`));
}

/** Whether a suppression placed on `path` covers a finding on `findingPath` (itself or a child). */
function covers(path: string, findingPath: string): boolean {
  return findingPath === path || findingPath.startsWith(`${path}/`);
}

const VARIANTS: Record<string, Record<string, unknown>> = {
  default: {},
  'ARM64, pinned model regions, account-wide API Gateway role, alarm e-mail': {
    lambdaArchitecture: 'arm64',
    modelRoutingRegions: 'us-east-1,us-east-2,us-west-2',
    createApiGatewayAccountRole: 'true',
    alarmEmail: 'ops@example.com',
  },
  'global inference profile': { textModelId: 'global.anthropic.claude-sonnet-4-5-20250929-v1:0' },
};

describe('cdk-nag AwsSolutions', () => {
  for (const [name, context] of Object.entries(VARIANTS)) {
    test(`${name}: no unsuppressed findings, and synth (which runs cdk-nag) succeeds`, () => {
      const { app } = build(context);
      assert.deepEqual(findings(app), []);
      assert.doesNotThrow(() => app.synth());
    });

    test(`${name}: every suppression matches a real finding and has a reason`, () => {
      const { app } = build({ ...context, [SKIP_ACKNOWLEDGEMENTS_CONTEXT]: true });
      const raw = findings(app);
      const suppressions = suppressionsOf(app);
      assert.ok(suppressions.length > 0);
      for (const s of suppressions) {
        assert.ok(s.reason.length >= 40, `${s.id} at ${s.path}: reason too short`);
        const matched = raw.filter((f) => {
          const [rule, path] = f.split(' @ ');
          return rule === s.id && covers(s.path, path);
        });
        assert.ok(matched.length > 0, `stale suppression ${s.id} at ${s.path}`);
      }
      // And conversely: every raw finding is covered by a recorded suppression.
      for (const f of raw) {
        const [rule, path] = f.split(' @ ');
        assert.ok(
          suppressions.some((s) => s.id === rule && covers(s.path, path)),
          `finding without suppression: ${f}`,
        );
      }
    });
  }

  test('synth fails when findings are not acknowledged (cdk-nag really runs in synth)', () => {
    const { app } = build({ [SKIP_ACKNOWLEDGEMENTS_CONTEXT]: true });
    let message = '';
    const quiet = console.error;
    console.error = () => {}; // synth prints the whole report; the file is what we check
    try {
      app.synth();
    } catch (e) {
      message = (e as Error).message;
    } finally {
      console.error = quiet;
    }
    assert.match(message, /Validation failed/);
    const reportPath = /found in: (\S+validation-report\.json)/.exec(message)?.[1];
    assert.ok(reportPath, message);
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    assert.match(JSON.stringify(report), /AwsSolutions-IAM5/);
  });

  test('the suppression list is short and known', () => {
    const { app } = build();
    const ids = [...new Set(suppressionsOf(app).map((s) => s.id.replace(/\[.*$/, '')))].sort();
    assert.deepEqual(ids, [
      'AwsSolutions-APIG3',
      'AwsSolutions-APIG4',
      'AwsSolutions-COG4',
      'AwsSolutions-IAM4',
      'AwsSolutions-IAM5',
      'AwsSolutions-SQS3',
    ]);
  });
});
