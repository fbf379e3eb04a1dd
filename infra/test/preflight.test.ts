import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  AccessDeniedException,
  BedrockClient,
  GetFoundationModelAvailabilityCommand,
  GetFoundationModelCommand,
  GetInferenceProfileCommand,
  GetUseCaseForModelAccessCommand,
  ResourceNotFoundException,
  ValidationException,
} from '@aws-sdk/client-bedrock';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { loadSettings } from '../lib/config';
import { ALL_FUNCTIONS } from '../lib/functions';
import { type Finding, elfMachine, preflight, type PreflightClients, report } from '../lib/preflight';

const FIXTURES = path.join(__dirname, 'fixtures', 'preflight');
const fixture = (name: string): any => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8'));

const CLAUDE = 'anthropic.claude-sonnet-4-5-20250929-v1:0';
const STABILITY = 'stability.stable-image-core-v1:1';

// ------------------------------------------------------------------------------- Lambda builds

/** A 64-bit little-endian ELF header for `machine` (62 x86_64, 183 aarch64): what `file` reads. */
function elfHeader(machine: number): Buffer {
  const header = Buffer.alloc(64);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2; // ELFCLASS64
  header[5] = 1; // little-endian
  header[6] = 1;
  header.writeUInt16LE(3, 16); // ET_DYN
  header.writeUInt16LE(machine, 18);
  return header;
}

/** A cargo-lambda output directory: `<dir>/<bin>/bootstrap` for `bins`. */
function lambdaDir(bins: readonly string[], content: (bin: string) => Buffer | string = () => elfHeader(62)): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'petavatar-lambda-'));
  for (const bin of bins) {
    mkdirSync(path.join(dir, bin));
    writeFileSync(path.join(dir, bin, 'bootstrap'), content(bin));
  }
  return dir;
}

const ALL_BINS = ALL_FUNCTIONS.map((f) => f.bin);
const BUILT_X86 = lambdaDir(ALL_BINS);

const settingsWith = (context: Record<string, string> = {}) =>
  loadSettings({ tryGetContext: (k: string) => ({ lambdaAssetDir: BUILT_X86, ...context })[k] }, {});

// ------------------------------------------------------------------------------- a fake account

type Answer = unknown;

/** What one region's Bedrock answers; anything unset is the fixture of a ready account. */
interface RegionAnswers {
  profile?: Answer;
  models?: Record<string, Answer>;
  availability?: Record<string, Answer>;
  useCase?: Answer;
}

const notFound = (message: string) => new ResourceNotFoundException({ message, $metadata: { httpStatusCode: 404 } });
const invalid = (message: string) => new ValidationException({ message, $metadata: { httpStatusCode: 400 } });
const denied = (message: string) => new AccessDeniedException({ message, $metadata: { httpStatusCode: 403 } });

async function answer(value: Answer): Promise<any> {
  if (value instanceof Error) throw value;
  return value;
}

/**
 * Bedrock and STS clients whose `send` is replaced by aws-sdk-client-mock: nothing leaves the
 * process, and every call is recorded.
 */
class FakeAccount implements PreflightClients {
  readonly calls: string[] = [];
  private readonly bedrockClients = new Map<string, BedrockClient>();

  constructor(
    private readonly answers: Record<string, RegionAnswers> = {},
    private readonly caller: Answer = fixture('sts-get-caller-identity.json'),
  ) {}

  sts(region: string): STSClient {
    const client = new STSClient({ region });
    mockClient(client)
      .on(GetCallerIdentityCommand)
      .callsFake(() => {
        this.calls.push(`${region} sts:GetCallerIdentity`);
        return answer(this.caller);
      });
    return client;
  }

  bedrock(region: string): BedrockClient {
    const existing = this.bedrockClients.get(region);
    if (existing) return existing;
    const client = new BedrockClient({ region });
    const a = this.answers[region] ?? {};
    const record = (what: string) => this.calls.push(`${region} ${what}`);
    const mock = mockClient(client);
    mock.on(GetInferenceProfileCommand).callsFake((input) => {
      record(`GetInferenceProfile ${input.inferenceProfileIdentifier}`);
      return answer(a.profile ?? fixture('get-inference-profile.us.anthropic.claude-sonnet-4-5.json'));
    });
    mock.on(GetFoundationModelCommand).callsFake((input) => {
      record(`GetFoundationModel ${input.modelIdentifier}`);
      const id = input.modelIdentifier as string;
      const fallback = id.startsWith('stability.')
        ? fixture('get-foundation-model.stability.stable-image-core.json')
        : fixture('get-foundation-model.anthropic.claude-sonnet-4-5.json');
      return answer(a.models?.[id] ?? fallback);
    });
    mock.on(GetFoundationModelAvailabilityCommand).callsFake((input) => {
      record(`GetFoundationModelAvailability ${input.modelId}`);
      const ready = { ...fixture('get-foundation-model-availability.subscribed.json'), modelId: input.modelId };
      return answer(a.availability?.[input.modelId as string] ?? ready);
    });
    mock.on(GetUseCaseForModelAccessCommand).callsFake(() => {
      record('GetUseCaseForModelAccess');
      return answer(a.useCase ?? { formData: new TextEncoder().encode('{"companyName":"Example"}') });
    });
    this.bedrockClients.set(region, client);
    return client;
  }
}

const problems = (findings: readonly Finding[]) => findings.filter((f) => f.level === 'problem').map((f) => f.line);
const notes = (findings: readonly Finding[]) => findings.filter((f) => f.level === 'note').map((f) => f.line);

/** Runs the preflight and expects exactly `expected` as its problem lines. */
async function expectProblems(
  context: Record<string, string>,
  account: FakeAccount,
  expected: (string | RegExp)[],
): Promise<Finding[]> {
  const settings = settingsWith(context);
  const findings = await preflight(settings, account);
  const lines = problems(findings);
  assert.equal(lines.length, expected.length, `problems:\n${lines.join('\n')}`);
  expected.forEach((e, i) => (typeof e === 'string' ? assert.equal(lines[i], e) : assert.match(lines[i], e)));
  const { text, ok } = report(settings, findings);
  assert.equal(ok, expected.length === 0);
  for (const line of lines) assert.ok(text.split('\n').includes(`PROBLEM ${line}`), 'each problem is one printed line');
  return findings;
}

describe('preflight: a ready account', () => {
  test('the defaults in us-west-2 pass, after reading each model, its access and the use-case form', async () => {
    const account = new FakeAccount();
    const settings = settingsWith();
    const findings = await expectProblems({}, account, []);
    assert.deepEqual(notes(findings), []);
    assert.deepEqual(account.calls, [
      'us-west-2 sts:GetCallerIdentity',
      'us-west-2 GetInferenceProfile us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      `us-west-2 GetFoundationModel ${CLAUDE}`,
      `us-west-2 GetFoundationModelAvailability ${CLAUDE}`,
      `us-west-2 GetFoundationModel ${STABILITY}`,
      `us-west-2 GetFoundationModelAvailability ${STABILITY}`,
      'us-west-2 GetUseCaseForModelAccess',
    ]);
    const { text, ok } = report(settings, findings);
    assert.ok(ok);
    assert.equal(text.split('\n').at(-1), 'preflight: OK');
    assert.match(text.split('\n')[0], /^preflight: stack in us-west-2, image model in us-west-2, Lambdas x86_64 from /);
  });

  test('not subscribed yet is a note (the functions subscribe on the first call), not a problem', async () => {
    const fresh = {
      agreementAvailability: { status: 'NOT_AVAILABLE' },
      authorizationStatus: 'AUTHORIZED',
      entitlementAvailability: 'NOT_AVAILABLE',
      regionAvailability: 'AVAILABLE',
    };
    const findings = await expectProblems({}, new FakeAccount({ 'us-west-2': { availability: { [STABILITY]: fresh } } }), []);
    assert.deepEqual(notes(findings), [
      `image model ${STABILITY}: not subscribed yet; the functions' first call subscribes (the stack grants aws-marketplace:Subscribe for it), which takes up to 15 minutes: to have it ready, accept the offer now (aws bedrock list-foundation-model-agreement-offers --model-id ${STABILITY} --region us-west-2, then aws bedrock create-foundation-model-agreement)`,
    ]);
  });

  test('an identity that may not read model access gets a note, and the deploy goes on', async () => {
    const account = new FakeAccount({
      'us-west-2': { availability: { [CLAUDE]: denied('User is not authorized to perform: bedrock:GetFoundationModelAvailability') } },
    });
    const findings = await expectProblems({}, account, []);
    assert.deepEqual(notes(findings), [
      `text/vision model us.anthropic.claude-sonnet-4-5-20250929-v1:0: could not read model access in us-west-2 (AccessDeniedException: User is not authorized to perform: bedrock:GetFoundationModelAvailability); not checked`,
    ]);
  });
});

describe('preflight: each problem is one line that says what to do', () => {
  test('no Lambda builds', async () => {
    await expectProblems({ lambdaAssetDir: lambdaDir([]) }, new FakeAccount(), [
      /^Lambda builds: none in \S+: run `npm run build-lambdas` \(or -c lambdaAssetDir=<cargo-lambda output>\)$/,
    ]);
  });

  test('some Lambda builds missing', async () => {
    await expectProblems({ lambdaAssetDir: lambdaDir(ALL_BINS.filter((b) => b !== 'sqs-worker' && b !== 'api-status')) }, new FakeAccount(), [
      /^Lambda builds: api-status, sqs-worker missing in \S+: run `npm run build-lambdas`$/,
    ]);
  });

  test('Lambda builds for the other architecture', async () => {
    await expectProblems({ lambdaArchitecture: 'arm64' }, new FakeAccount(), [
      'Lambda builds: all built for x86_64 but the stack deploys arm64: run `npm run build-lambdas:arm64`, or deploy with -c lambdaArchitecture=x86_64',
    ]);
  });

  test('a placeholder instead of a build', async () => {
    const dir = lambdaDir(ALL_BINS, (bin) => (bin === 'analyze-pet' ? '#!/bin/sh\necho placeholder\n' : elfHeader(62)));
    await expectProblems({ lambdaAssetDir: dir }, new FakeAccount(), [
      /^Lambda builds: analyze-pet in \S+ not a 64-bit Linux executable \(a placeholder\?\): run `npm run build-lambdas`$/,
    ]);
  });

  test('a region name that is not one', async () => {
    const account = new FakeAccount();
    await expectProblems({ region: 'us-westt' }, account, ['region us-westt: not an AWS region name: pass -c region=us-west-2 (or another region)']);
    assert.deepEqual(account.calls, [], 'no AWS call for a region that cannot exist');
  });

  test('no credentials', async () => {
    const noCredentials = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    const account = new FakeAccount({}, noCredentials);
    await expectProblems({}, account, [
      'AWS credentials: CredentialsProviderError: Could not load credentials from any providers: configure credentials for the deploy account (aws configure, or AWS_PROFILE=…) and run again',
    ]);
    assert.deepEqual(account.calls, ['us-west-2 sts:GetCallerIdentity'], 'no model check without credentials');
  });

  test('credentials for another account than the stack is pinned to', async () => {
    await expectProblems({ account: '444455556666' }, new FakeAccount(), [
      'AWS account: the credentials are for 111122223333 but the stack deploys to 444455556666: switch credentials or -c account=111122223333',
    ]);
  });

  test('a `us.` inference profile called from Europe', async () => {
    const account = new FakeAccount({
      'eu-west-1': { profile: invalid('The provided model identifier is invalid.') },
    });
    await expectProblems({ region: 'eu-west-1', imageModelRegion: 'us-west-2' }, account, [
      `text/vision model us.anthropic.claude-sonnet-4-5-20250929-v1:0: no such inference profile in eu-west-1: a \`us.\` profile is called from its own geography only: use -c textModelId=eu.${CLAUDE}, or deploy to a region of that geography (-c region=…)`,
    ]);
  });

  test('the image model where it is not offered', async () => {
    const account = new FakeAccount({
      'eu-west-1': {
        profile: { ...fixture('get-inference-profile.us.anthropic.claude-sonnet-4-5.json'), inferenceProfileId: `eu.${CLAUDE}` },
        models: { [STABILITY]: notFound(`Could not find model ${STABILITY}`) },
      },
    });
    await expectProblems({ region: 'eu-west-1', textModelId: `eu.${CLAUDE}` }, account, [
      `image model ${STABILITY}: ${STABILITY} is not offered in eu-west-1: call it where it is offered (-c imageModelRegion=us-west-2) or choose another (-c imageModelId=…)`,
    ]);
  });

  test('a vision model that cannot see', async () => {
    const textOnly = fixture('get-foundation-model.anthropic.claude-sonnet-4-5.json');
    textOnly.modelDetails.inputModalities = ['TEXT'];
    textOnly.modelDetails.inferenceTypesSupported = ['ON_DEMAND'];
    const account = new FakeAccount({ 'us-west-2': { models: { 'amazon.titan-text-premier-v1:0': textOnly } } });
    await expectProblems({ visionModelId: 'amazon.titan-text-premier-v1:0' }, account, [
      'vision model amazon.titan-text-premier-v1:0: takes no image input, and AnalyzePet sends the photo: choose a model with image input (-c visionModelId=…)',
    ]);
  });

  test('a foundation model that needs an inference profile', async () => {
    await expectProblems({ textModelId: CLAUDE }, new FakeAccount(), [
      `text/vision model ${CLAUDE}: cannot be called on demand in us-west-2, only through an inference profile: use -c textModelId=us.${CLAUDE}`,
    ]);
  });

  test('model access denied by a policy', async () => {
    const blocked = { ...fixture('get-foundation-model-availability.subscribed.json'), authorizationStatus: 'NOT_AUTHORIZED' };
    await expectProblems({}, new FakeAccount({ 'us-west-2': { availability: { [CLAUDE]: blocked } } }), [
      'text/vision model us.anthropic.claude-sonnet-4-5-20250929-v1:0: the account is not authorized to use it in us-west-2 (a policy or SCP denies it): allow it, then check again in the Bedrock console > Model catalog',
    ]);
  });

  test('a Marketplace subscription that failed', async () => {
    const failed = {
      ...fixture('get-foundation-model-availability.subscribed.json'),
      agreementAvailability: { status: 'ERROR', errorMessage: 'No valid payment method' },
      entitlementAvailability: 'NOT_AVAILABLE',
    };
    await expectProblems({}, new FakeAccount({ 'us-west-2': { availability: { [STABILITY]: failed } } }), [
      `image model ${STABILITY}: the Marketplace subscription failed (No valid payment method): check the account's payment method, then accept the offer again (aws bedrock list-foundation-model-agreement-offers --model-id ${STABILITY} --region us-west-2, then aws bedrock create-foundation-model-agreement)`,
    ]);
  });

  test("Anthropic's use-case form not submitted", async () => {
    const account = new FakeAccount({ 'us-west-2': { useCase: notFound('Use case details not found for this account') } });
    await expectProblems({}, account, [
      "Anthropic models: the account has not submitted Anthropic's one-time use-case form: Bedrock console > Model catalog > the Claude model > submit use case details (or aws bedrock put-use-case-for-model-access)",
    ]);
  });

  test('Bedrock not reachable in the region', async () => {
    const offline = Object.assign(new Error('getaddrinfo ENOTFOUND bedrock.eu-mars-1.amazonaws.com'), { code: 'ENOTFOUND' });
    const account = new FakeAccount({ 'eu-mars-1': { profile: offline, models: { [STABILITY]: offline }, useCase: offline } });
    await expectProblems({ region: 'eu-mars-1', imageModelRegion: 'eu-mars-1' }, account, [
      'Bedrock not reachable in eu-mars-1: Error: getaddrinfo ENOTFOUND bedrock.eu-mars-1.amazonaws.com: check the region (-c region=…, -c imageModelRegion=…) and the network',
    ]);
  });
});

describe('preflight: the ELF reader', () => {
  test('reads the machine of a 64-bit little-endian ELF, and nothing else', () => {
    const dir = lambdaDir(['x', 'a', 's'], (bin) => (bin === 'x' ? elfHeader(62) : bin === 'a' ? elfHeader(183) : '#!/bin/sh\n'));
    assert.equal(elfMachine(path.join(dir, 'x', 'bootstrap')), 62);
    assert.equal(elfMachine(path.join(dir, 'a', 'bootstrap')), 183);
    assert.equal(elfMachine(path.join(dir, 's', 'bootstrap')), undefined);
    assert.equal(elfMachine(path.join(__dirname, '..', 'placeholder-asset', 'bootstrap')), undefined);
  });
});

describe('npm run preflight (the command itself)', () => {
  test('without credentials it prints the credentials line and exits 1, before any request', async () => {
    const run = promisify(execFile);
    const env = {
      PATH: process.env.PATH,
      HOME: mkdtempSync(path.join(tmpdir(), 'petavatar-home-')),
      // No credentials anywhere, and no instance metadata lookup: nothing leaves this machine.
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const infra = path.join(__dirname, '..');
    const failure = await run('node', ['--import', 'tsx', 'bin/preflight.ts', '-c', `lambdaAssetDir=${BUILT_X86}`], { cwd: infra, env }).then(
      () => assert.fail('preflight must fail without credentials'),
      (e: { code: number; stdout: string }) => e,
    );
    assert.equal(failure.code, 1);
    const lines = failure.stdout.trim().split('\n');
    assert.match(lines[0], /^preflight: stack in us-west-2, image model in us-west-2, Lambdas x86_64 from /);
    assert.match(lines[1], /^PROBLEM AWS credentials: CredentialsProviderError: .*: configure credentials for the deploy account/);
    assert.equal(lines.at(-1), 'preflight: 1 problem: fix it and run `npm run preflight` again');
  });
});
