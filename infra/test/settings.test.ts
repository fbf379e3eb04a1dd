import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from '../lib/app';
import { placeholdersIn, loadDefinition } from '../lib/asl';
import { DEFAULT_LAMBDA_ASSET_DIR, DEFAULT_TEXT_MODEL_ID, loadSettings } from '../lib/config';
import { ALL_FUNCTIONS } from '../lib/functions';
import { classifyModelId } from '../lib/models';
import { profileGeography } from '../lib/preflight';
import { aslPathForTests, build, resourcesOfType, synthTemplate } from './helpers';

const ctx = (values: Record<string, unknown>) => ({ tryGetContext: (k: string) => values[k] });

describe('settings', () => {
  test('defaults', () => {
    const s = loadSettings(ctx({}), {});
    assert.equal(s.region, 'us-west-2');
    assert.equal(s.textModelId, DEFAULT_TEXT_MODEL_ID);
    assert.equal(s.visionModelId, DEFAULT_TEXT_MODEL_ID, 'vision defaults to the text model');
    assert.equal(s.imageModelId, 'stability.stable-image-core-v1:1');
    assert.equal(s.imageModelRegion, 'us-west-2');
    assert.equal(s.logRetentionDays, 30);
    assert.equal(s.architecture, Architecture.X86_64);
    assert.equal(s.lambdaAssetDir, DEFAULT_LAMBDA_ASSET_DIR);
    assert.equal(s.placeholderAssets, false);
    assert.deepEqual(s.corsOrigins, ['*']);
  });

  test('context wins over environment, environment over defaults', () => {
    const env = { PETAVATAR_TEXT_MODEL_ID: 'from-env', PETAVATAR_LOG_RETENTION_DAYS: '14', PETAVATAR_REGION: 'eu-west-1' };
    const fromEnv = loadSettings(ctx({}), env);
    assert.equal(fromEnv.textModelId, 'from-env');
    assert.equal(fromEnv.logRetentionDays, 14);
    assert.equal(fromEnv.region, 'eu-west-1');
    const fromContext = loadSettings(ctx({ textModelId: 'from-context', region: 'ap-southeast-2' }), env);
    assert.equal(fromContext.textModelId, 'from-context');
    assert.equal(fromContext.region, 'ap-southeast-2');
  });

  test("the caller's profile region does not move the stack: the defaults deploy together in us-west-2", () => {
    const s = loadSettings(ctx({}), { CDK_DEFAULT_REGION: 'eu-central-1', CDK_DEFAULT_ACCOUNT: '111122223333' });
    assert.equal(s.region, 'us-west-2');
    assert.equal(s.imageModelRegion, 'us-west-2', 'the image model is called where the stack is');
    assert.equal(s.account, '111122223333', 'the account still follows the profile');
    // The default text/vision id is a cross-region profile of the default region's geography,
    // and the image model is one AWS offers there (the marketplace table knows both).
    const prefix = s.textModelId.slice(0, s.textModelId.indexOf('.'));
    assert.equal(classifyModelId(s.textModelId).kind, 'profile');
    assert.equal(profileGeography(s.region), prefix);
    assert.equal(classifyModelId(s.imageModelId).kind, 'foundation');
  });

  test('the default synth calls every model in the one region it deploys to', () => {
    const { stack, template } = synthTemplate();
    const rendered = JSON.stringify(template.toJSON());
    const bedrockRegions = new Set([...rendered.matchAll(/:bedrock:([a-z0-9-*]*):/g)].map((m) => m[1]));
    // `*`: the foundation model a cross-region profile routes to (fenced by the profile ARN).
    assert.deepEqual([...bedrockRegions].sort(), ['*', 'us-west-2']);
    const resources = template.toJSON().Resources;
    for (const f of ALL_FUNCTIONS) {
      const env = resources[stack.resolve(stack.getLogicalId(stack.functions[f.id].node.defaultChild as any))].Properties.Environment.Variables;
      assert.equal(env.IMAGE_MODEL_REGION, 'us-west-2', f.id);
    }
  });

  test('the AnalyzePet vision gate is off unless asked for, and reaches the function', () => {
    assert.equal(loadSettings(ctx({}), {}).visionGate, 'off');
    assert.equal(loadSettings(ctx({}), { PETAVATAR_VISION_GATE: 'local' }).visionGate, 'local');
    assert.throws(() => loadSettings(ctx({ visionGate: 'on' }), {}), /off or local/);
    const { stack, template } = synthTemplate({ visionGate: 'local' });
    const fn = template.toJSON().Resources[stack.resolve(stack.getLogicalId(stack.functions.AnalyzePet.node.defaultChild as any))];
    assert.equal(fn.Properties.Environment.Variables.PETAVATAR_VISION_GATE, 'local');
  });

  test('architecture switch', () => {
    assert.equal(loadSettings(ctx({ lambdaArchitecture: 'arm64' }), {}).architecture, Architecture.ARM_64);
    assert.equal(loadSettings(ctx({}), { PETAVATAR_LAMBDA_ARCHITECTURE: 'aarch64' }).architecture, Architecture.ARM_64);
    assert.throws(() => loadSettings(ctx({ lambdaArchitecture: 'sparc' }), {}), /x86_64 or arm64/);
  });

  test('bad values are rejected, not silently defaulted', () => {
    assert.throws(() => loadSettings(ctx({ logRetentionDays: 'week' }), {}), /positive integer/);
    assert.throws(() => loadSettings(ctx({ placeholderAssets: 'maybe' }), {}), /true\/false/);
  });

  test('model ids are classified as profile, foundation model or ARN', () => {
    assert.deepEqual(classifyModelId('us.anthropic.claude-sonnet-4-5-20250929-v1:0'), {
      kind: 'profile',
      profileId: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      foundationModelId: 'anthropic.claude-sonnet-4-5-20250929-v1:0',
      global: false,
    });
    assert.equal(classifyModelId('global.anthropic.claude-sonnet-4-5-20250929-v1:0').kind, 'profile');
    assert.equal(classifyModelId('stability.stable-image-core-v1:1').kind, 'foundation');
    assert.equal(classifyModelId('anthropic.claude-3-haiku-20240307-v1:0').kind, 'foundation');
    assert.equal(classifyModelId('arn:aws:bedrock:us-east-1:123:application-inference-profile/x').kind, 'arn');
  });
});

describe('Lambda code and runtime', () => {
  test('all fifteen functions: provided.al2023, bootstrap handler, x86_64 by default', () => {
    const { template } = synthTemplate();
    const fns = Object.values(resourcesOfType(template, 'AWS::Lambda::Function')).filter(
      (f) => f.Properties.Runtime === 'provided.al2023',
    );
    assert.equal(fns.length, ALL_FUNCTIONS.length);
    for (const f of fns) {
      assert.equal(f.Properties.Handler, 'bootstrap');
      assert.deepEqual(f.Properties.Architectures, ['x86_64']);
    }
  });

  test('-c lambdaArchitecture=arm64 switches every function', () => {
    const { template } = synthTemplate({ lambdaArchitecture: 'arm64' });
    const fns = Object.values(resourcesOfType(template, 'AWS::Lambda::Function')).filter(
      (f) => f.Properties.Runtime === 'provided.al2023',
    );
    assert.equal(fns.length, ALL_FUNCTIONS.length);
    for (const f of fns) assert.deepEqual(f.Properties.Architectures, ['arm64']);
  });

  test('missing binaries fail the synth unless placeholders are asked for', () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'petavatar-no-lambdas-'));
    assert.throws(
      () => buildApp({ context: { lambdaAssetDir: empty, aslPath: aslPathForTests() } }, {}),
      /missing Lambda binary .*validate-image\/bootstrap.*cargo lambda build/,
    );
    const { stack } = build({ lambdaAssetDir: empty });
    assert.deepEqual(stack.placeholderBins, ALL_FUNCTIONS.map((f) => f.bin));
  });

  test('built binaries are used, and placeholders only fill the gaps', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'petavatar-lambdas-'));
    const built = ALL_FUNCTIONS.filter((f) => f.bin !== 'api-openapi');
    for (const f of built) {
      mkdirSync(path.join(dir, f.bin));
      writeFileSync(path.join(dir, f.bin, 'bootstrap'), `#!/bin/sh\n# fake ${f.bin}\n`, { mode: 0o755 });
    }
    const { stack } = build({ lambdaAssetDir: dir });
    assert.deepEqual(stack.placeholderBins, ['api-openapi']);

    // Each built function ships its own asset (distinct contents -> distinct hashes).
    const template = Template.fromStack(stack).toJSON();
    const keyOf = (id: string) =>
      template.Resources[stack.resolve(stack.getLogicalId(stack.functions[id].node.defaultChild as any))].Properties.Code.S3Key;
    const builtKeys = new Set(built.map((f) => keyOf(f.id)));
    assert.equal(builtKeys.size, built.length);
    assert.ok(!builtKeys.has(keyOf('ApiOpenApi')), 'the placeholder asset differs from every built one');

    // With every binary present the flag is not needed at all.
    mkdirSync(path.join(dir, 'api-openapi'));
    writeFileSync(path.join(dir, 'api-openapi', 'bootstrap'), '#!/bin/sh\n', { mode: 0o755 });
    const full = buildApp({ context: { lambdaAssetDir: dir, aslPath: aslPathForTests() } }, {});
    assert.deepEqual(full.stack.placeholderBins, []);
  });
});

describe('ASL loading', () => {
  const write = (text: string) => {
    const p = path.join(mkdtempSync(path.join(tmpdir(), 'petavatar-asl-')), 'x.asl.json');
    writeFileSync(p, text);
    return p;
  };

  test('finds placeholders', () => {
    assert.deepEqual([...placeholdersIn('{"a":"${A}","b":"${B_c1}","c":"${A}","d":"$.x"}')].sort(), ['A', 'B_c1']);
  });

  test('a placeholder the stack does not fill is an error', () => {
    const p = write('{"StartAt":"X","States":{"X":{"Type":"Task","Resource":"${NopeFunctionArn}","End":true}}}');
    assert.throws(() => loadDefinition(p, ['ValidateImageFunctionArn']), /\$\{NopeFunctionArn\}/);
  });

  test('non-JSON and non-ASL files are errors, a missing file names statemachine/', () => {
    assert.throws(() => loadDefinition(write('{oops'), []), /not valid JSON/);
    assert.throws(() => loadDefinition(write('{"a":1}'), []), /no "States"/);
    assert.throws(() => loadDefinition('/nonexistent/pipeline.asl.json', []), /statemachine\//);
  });
});
