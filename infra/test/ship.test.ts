import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { contextArgs } from '../lib/cli';
import { npmArgs, shipPlan } from '../lib/ship';

const scripts = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).scripts as Record<string, string>;

describe('npm run ship', () => {
  test('builds, runs the preflight, and deploys only after it: with the same settings', () => {
    const args = ['-c', 'region=eu-west-1', '--context', 'alarmEmail=ops@example.com'];
    assert.deepEqual(shipPlan(args, {}).map(npmArgs), [
      ['run', 'build-lambdas'],
      ['run', 'preflight', '--', ...args],
      ['run', 'deploy', '--', ...args],
    ]);
  });

  test('arm64 (flag or environment) builds for arm64', () => {
    assert.deepEqual(shipPlan(['-c', 'lambdaArchitecture=arm64'], {})[0], { script: 'build-lambdas:arm64', args: [] });
    assert.deepEqual(shipPlan([], { PETAVATAR_LAMBDA_ARCHITECTURE: 'arm64' })[0], { script: 'build-lambdas:arm64', args: [] });
  });

  test('the npm scripts are wired to it', () => {
    assert.equal(scripts.ship, 'tsx bin/ship.ts');
    assert.equal(scripts['ship:arm64'], 'tsx bin/ship.ts -c lambdaArchitecture=arm64');
    assert.equal(scripts.preflight, 'tsx bin/preflight.ts');
    assert.match(scripts.deploy, /cdk deploy/);
  });

  test('bin/ship.ts runs the steps in order and stops at a failed preflight: nothing is deployed', async () => {
    // A stand-in `npm` first on PATH records each call and fails the preflight.
    const bin = mkdtempSync(path.join(tmpdir(), 'petavatar-fake-npm-'));
    const log = path.join(bin, 'calls.log');
    writeFileSync(
      path.join(bin, 'npm'),
      `#!/bin/sh\necho "$*" >> '${log}'\n[ "$2" = preflight ] && exit 1\nexit 0\n`,
      { mode: 0o755 },
    );
    const failure = await promisify(execFile)('node', ['--import', 'tsx', 'bin/ship.ts', '-c', 'region=eu-west-1'], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    }).then(
      () => assert.fail('ship must fail when the preflight fails'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(failure.code, 1);
    assert.match(failure.stderr, /`npm run preflight` failed \(exit 1\); nothing after it ran/);
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), [
      'run build-lambdas',
      'run preflight -- -c region=eu-west-1',
    ]);
  });

  test('context arguments read as cdk reads them', () => {
    assert.deepEqual(contextArgs(['-c', 'a=1', '--context', 'b=x=y', '--context=c=3', 'deploy']), { a: '1', b: 'x=y', c: '3' });
    assert.throws(() => contextArgs(['-c', 'novalue']), /key=value/);
  });
});
