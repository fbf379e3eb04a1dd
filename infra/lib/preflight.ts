import { openSync, readSync, closeSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  type BedrockClient,
  GetFoundationModelAvailabilityCommand,
  type GetFoundationModelAvailabilityCommandOutput,
  GetFoundationModelCommand,
  type FoundationModelDetails,
  GetInferenceProfileCommand,
  GetUseCaseForModelAccessCommand,
} from '@aws-sdk/client-bedrock';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import type { PetAvatarSettings } from './config';
import { ALL_FUNCTIONS } from './functions';
import { classifyModelId, foundationModelOf, providerOf } from './models';

/**
 * `npm run preflight` (and `npm run ship`, before `cdk deploy`): what would make the first
 * deploy or the first job fail, checked with the account's own read-only APIs. Each problem is
 * one line a person can act on; notes are printed but do not stop the deploy.
 */

export type Level = 'problem' | 'note';

export interface Finding {
  readonly level: Level;
  readonly line: string;
}

/** The AWS clients the checks use, per region (the image model may live in another one). */
export interface PreflightClients {
  sts(region: string): STSClient;
  bedrock(region: string): BedrockClient;
}

const problem = (line: string): Finding => ({ level: 'problem', line });
const note = (line: string): Finding => ({ level: 'note', line });

// ------------------------------------------------------------------------------------ builds

/** ELF `e_machine` values (ELF spec): what cargo-lambda builds for the two Lambda architectures. */
const ELF_MACHINE: Record<string, number> = { x86_64: 62, arm64: 183 };
const ELF_MACHINE_NAME: Record<number, string> = { 62: 'x86_64', 183: 'arm64' };

function architectureName(architecture: Architecture): string {
  return architecture === Architecture.ARM_64 ? 'arm64' : 'x86_64';
}

/** `ELF` + 64-bit + little-endian, and the machine; undefined when the file is no such ELF. */
export function elfMachine(file: string): number | undefined {
  const header = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return undefined;
  } finally {
    closeSync(fd);
  }
  const isElf = header.readUInt32BE(0) === 0x7f454c46;
  const is64LittleEndian = header[4] === 2 && header[5] === 1;
  return isElf && is64LittleEndian ? header.readUInt16LE(18) : undefined;
}

/** Every function's `<dir>/<bin>/bootstrap` is there, a Linux executable, for the stack's architecture. */
export function checkLambdaBuilds(settings: PetAvatarSettings): Finding[] {
  const dir = settings.lambdaAssetDir;
  const arch = architectureName(settings.architecture);
  const buildCommand = arch === 'arm64' ? 'npm run build-lambdas:arm64' : 'npm run build-lambdas';
  const bins = ALL_FUNCTIONS.map((f) => f.bin);
  const missing = bins.filter((bin) => !existsSync(path.join(dir, bin, 'bootstrap')));
  const findings: Finding[] = [];
  if (missing.length === bins.length) {
    return [problem(`Lambda builds: none in ${dir}: run \`${buildCommand}\` (or -c lambdaAssetDir=<cargo-lambda output>)`)];
  }
  if (missing.length > 0) {
    findings.push(problem(`Lambda builds: ${missing.join(', ')} missing in ${dir}: run \`${buildCommand}\``));
  }
  const notElf: string[] = [];
  const wrongArch = new Map<string, string[]>();
  for (const bin of bins.filter((b) => !missing.includes(b))) {
    const machine = elfMachine(path.join(dir, bin, 'bootstrap'));
    if (machine === undefined) notElf.push(bin);
    else if (machine !== ELF_MACHINE[arch]) {
      const built = ELF_MACHINE_NAME[machine] ?? `ELF machine ${machine}`;
      wrongArch.set(built, [...(wrongArch.get(built) ?? []), bin]);
    }
  }
  if (notElf.length > 0) {
    findings.push(
      problem(`Lambda builds: ${notElf.join(', ')} in ${dir} not a 64-bit Linux executable (a placeholder?): run \`${buildCommand}\``),
    );
  }
  for (const [built, list] of wrongArch) {
    const other = built === 'arm64' ? '-c lambdaArchitecture=arm64' : '-c lambdaArchitecture=x86_64';
    findings.push(
      problem(
        `Lambda builds: ${list.length === bins.length ? 'all' : list.join(', ')} built for ${built} but the stack deploys ${arch}: run \`${buildCommand}\`, or deploy with ${other}`,
      ),
    );
  }
  return findings;
}

// ------------------------------------------------------------------------------------ AWS

interface AwsError {
  name?: string;
  message?: string;
  $fault?: string;
  $metadata?: unknown;
}

/** A modeled error from the service (it answered), as opposed to no answer at all. */
function isServiceError(e: unknown): e is AwsError {
  return typeof e === 'object' && e !== null && '$fault' in e && '$metadata' in e;
}

function describe(e: unknown): string {
  const err = e as AwsError;
  return `${err.name ?? 'Error'}: ${err.message ?? String(e)}`;
}

const NOT_FOUND = ['ResourceNotFoundException', 'ValidationException'];

/** The geography prefix of a region's cross-region inference profiles (`us.` for us-west-2). */
export function profileGeography(region: string): string | undefined {
  if (region.startsWith('us-gov-')) return 'us-gov';
  if (region.startsWith('ap-northeast-1') || region.startsWith('ap-northeast-3')) return 'jp';
  if (region.startsWith('ap-southeast-2') || region.startsWith('ap-southeast-4')) return 'au';
  const geo: Record<string, string> = { us: 'us', eu: 'eu', ap: 'apac', ca: 'ca' };
  return geo[region.split('-')[0]];
}

const REGION_NAME = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$/;

/** One model the stack calls, under the setting that names it. */
interface ModelUse {
  readonly label: string;
  readonly setting: string;
  readonly modelId: string;
  readonly region: string;
  readonly regionSetting: string;
  /** What the stage needs of it. */
  readonly input?: 'IMAGE';
  readonly output: 'TEXT' | 'IMAGE';
}

function modelUses(s: PetAvatarSettings): ModelUse[] {
  const text: ModelUse = { label: 'text model', setting: 'textModelId', modelId: s.textModelId, region: s.region, regionSetting: 'region', output: 'TEXT' };
  const vision: ModelUse = { label: 'vision model', setting: 'visionModelId', modelId: s.visionModelId, region: s.region, regionSetting: 'region', input: 'IMAGE', output: 'TEXT' };
  const image: ModelUse = {
    label: 'image model',
    setting: 'imageModelId',
    modelId: s.imageModelId,
    region: s.imageModelRegion,
    regionSetting: 'imageModelRegion',
    output: 'IMAGE',
  };
  // One model for text and vision (the default) is checked once, as the vision model needs more.
  return s.visionModelId === s.textModelId ? [{ ...vision, label: 'text/vision model', setting: 'textModelId' }, image] : [vision, text, image];
}

/** Checks one model use; `unreachable` collects regions whose Bedrock endpoint did not answer. */
async function checkModel(use: ModelUse, clients: PreflightClients, unreachable: Set<string>): Promise<Finding[]> {
  const { label, setting, modelId, region, regionSetting } = use;
  const who = `${label} ${modelId}`;
  const target = classifyModelId(modelId);
  if (target.kind === 'arn') return [note(`${who}: an ARN, used as given (not checked)`)];
  const bedrock = clients.bedrock(region);
  const findings: Finding[] = [];
  const call = async <T>(send: () => Promise<T>): Promise<T | AwsError | undefined> => {
    try {
      return await send();
    } catch (e) {
      if (isServiceError(e)) return e;
      unreachable.add(`${region}: ${describe(e)}`);
      return undefined;
    }
  };
  const failed = (r: unknown): r is AwsError => isServiceError(r);

  if (target.kind === 'profile') {
    const profile = await call(() => bedrock.send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: target.profileId })));
    if (profile === undefined) return findings;
    if (failed(profile)) {
      if (NOT_FOUND.includes(profile.name ?? '')) {
        const geo = profileGeography(region);
        const prefix = target.profileId.slice(0, target.profileId.indexOf('.'));
        const hint =
          geo !== undefined && geo !== prefix && !target.global
            ? `a \`${prefix}.\` profile is called from its own geography only: use -c ${setting}=${geo}.${target.foundationModelId}, or deploy to a region of that geography (-c ${regionSetting}=…)`
            : `choose a profile offered there (aws bedrock list-inference-profiles --region ${region}) and pass -c ${setting}=…`;
        findings.push(problem(`${who}: no such inference profile in ${region}: ${hint}`));
        return findings;
      }
      findings.push(note(`${who}: could not read the inference profile (${describe(profile)}); not checked`));
    } else if (profile.status !== 'ACTIVE') {
      findings.push(problem(`${who}: inference profile is ${profile.status} in ${region}: choose an active one (-c ${setting}=…)`));
    }
  }

  const foundation = foundationModelOf(modelId);
  const details = await call(() => bedrock.send(new GetFoundationModelCommand({ modelIdentifier: foundation })));
  if (details === undefined) return findings;
  if (failed(details)) {
    if (NOT_FOUND.includes(details.name ?? '')) {
      const elsewhere =
        use.output === 'IMAGE'
          ? `call it where it is offered (-c imageModelRegion=us-west-2) or choose another (-c ${setting}=…)`
          : `choose one offered there (-c ${setting}=…), or deploy to a region that has it (-c ${regionSetting}=…)`;
      findings.push(problem(`${who}: ${foundation} is not offered in ${region}: ${elsewhere}`));
      return findings;
    }
    findings.push(note(`${who}: could not read the model (${describe(details)}); not checked`));
  } else {
    findings.push(...checkCapabilities(use, target.kind, details.modelDetails));
  }

  const availability = await call(() =>
    bedrock.send(new GetFoundationModelAvailabilityCommand({ modelId: foundation })),
  );
  if (availability === undefined) return findings;
  if (failed(availability)) {
    findings.push(note(`${who}: could not read model access in ${region} (${describe(availability)}); not checked`));
  } else {
    findings.push(...checkAccess(who, foundation, region, availability));
  }
  return findings;
}

function checkCapabilities(use: ModelUse, kind: 'profile' | 'foundation', details: FoundationModelDetails | undefined): Finding[] {
  if (details === undefined) return [];
  const who = `${use.label} ${use.modelId}`;
  const findings: Finding[] = [];
  if (use.input && !(details.inputModalities ?? []).includes(use.input)) {
    findings.push(problem(`${who}: takes no ${use.input.toLowerCase()} input, and AnalyzePet sends the photo: choose a model with image input (-c ${use.setting}=…)`));
  }
  if (!(details.outputModalities ?? []).includes(use.output)) {
    findings.push(problem(`${who}: produces no ${use.output.toLowerCase()}: choose another model (-c ${use.setting}=…)`));
  }
  const types = details.inferenceTypesSupported ?? [];
  if (kind === 'foundation' && !types.includes('ON_DEMAND')) {
    const geo = profileGeography(use.region);
    findings.push(
      problem(
        `${who}: cannot be called on demand in ${use.region}, only through an inference profile: use -c ${use.setting}=${geo ?? 'us'}.${use.modelId}`,
      ),
    );
  }
  if (details.modelLifecycle?.status === 'LEGACY') {
    findings.push(note(`${who}: is LEGACY on Bedrock (end of life announced): plan to move to a newer model`));
  }
  return findings;
}

function checkAccess(
  who: string,
  foundation: string,
  region: string,
  a: GetFoundationModelAvailabilityCommandOutput,
): Finding[] {
  const findings: Finding[] = [];
  const offer = `aws bedrock list-foundation-model-agreement-offers --model-id ${foundation} --region ${region}`;
  if (a.regionAvailability === 'NOT_AVAILABLE') {
    findings.push(problem(`${who}: not available to the account in ${region}: choose another region or model`));
  }
  if (a.authorizationStatus === 'NOT_AUTHORIZED') {
    findings.push(
      problem(
        `${who}: the account is not authorized to use it in ${region} (a policy or SCP denies it): allow it, then check again in the Bedrock console > Model catalog`,
      ),
    );
  }
  const agreement = a.agreementAvailability?.status;
  if (agreement === 'ERROR') {
    findings.push(
      problem(
        `${who}: the Marketplace subscription failed (${a.agreementAvailability?.errorMessage ?? 'no reason given'}): check the account's payment method, then accept the offer again (${offer}, then aws bedrock create-foundation-model-agreement)`,
      ),
    );
  } else if (agreement === 'PENDING') {
    findings.push(note(`${who}: Marketplace subscription pending (up to 15 minutes); jobs may be refused until it completes`));
  } else if (agreement === 'NOT_AVAILABLE' && a.entitlementAvailability !== 'AVAILABLE') {
    findings.push(
      note(
        `${who}: not subscribed yet; the functions' first call subscribes (the stack grants aws-marketplace:Subscribe for it), which takes up to 15 minutes: to have it ready, accept the offer now (${offer}, then aws bedrock create-foundation-model-agreement)`,
      ),
    );
  }
  return findings;
}

/** Anthropic's one-time use-case form, per account (AWS: Request access to models). */
async function checkAnthropicUseCase(region: string, clients: PreflightClients, unreachable: Set<string>): Promise<Finding[]> {
  try {
    await clients.bedrock(region).send(new GetUseCaseForModelAccessCommand({}));
    return [];
  } catch (e) {
    if (!isServiceError(e)) {
      unreachable.add(`${region}: ${describe(e)}`);
      return [];
    }
    if (e.name === 'ResourceNotFoundException') {
      return [
        problem(
          "Anthropic models: the account has not submitted Anthropic's one-time use-case form: Bedrock console > Model catalog > the Claude model > submit use case details (or aws bedrock put-use-case-for-model-access)",
        ),
      ];
    }
    return [note(`Anthropic use-case form: could not check (${describe(e)})`)];
  }
}

/** Runs every check. Offline checks first; AWS checks only once credentials work. */
export async function preflight(settings: PetAvatarSettings, clients: PreflightClients): Promise<Finding[]> {
  const findings: Finding[] = [...checkLambdaBuilds(settings)];
  const regions = [...new Set([settings.region, settings.imageModelRegion])];
  const badRegions = regions.filter((r) => !REGION_NAME.test(r));
  if (badRegions.length > 0) {
    findings.push(...badRegions.map((r) => problem(`region ${r}: not an AWS region name: pass -c region=us-west-2 (or another region)`)));
    return findings;
  }

  let account: string | undefined;
  try {
    account = (await clients.sts(settings.region).send(new GetCallerIdentityCommand({}))).Account;
  } catch (e) {
    findings.push(
      problem(`AWS credentials: ${describe(e)}: configure credentials for the deploy account (aws configure, or AWS_PROFILE=…) and run again`),
    );
    return findings;
  }
  if (settings.account !== undefined && account !== undefined && settings.account !== account) {
    findings.push(
      problem(`AWS account: the credentials are for ${account} but the stack deploys to ${settings.account}: switch credentials or -c account=${account}`),
    );
  }

  const unreachable = new Set<string>();
  for (const use of modelUses(settings)) findings.push(...(await checkModel(use, clients, unreachable)));
  const anthropic = modelUses(settings).find((u) => providerOf(u.modelId) === 'anthropic');
  if (anthropic) findings.push(...(await checkAnthropicUseCase(anthropic.region, clients, unreachable)));
  for (const what of unreachable) {
    findings.push(problem(`Bedrock not reachable in ${what}: check the region (-c region=…, -c imageModelRegion=…) and the network`));
  }
  return findings;
}

/** The report: a header, one line per finding, a verdict. */
export function report(settings: PetAvatarSettings, findings: readonly Finding[]): { text: string; ok: boolean } {
  const problems = findings.filter((f) => f.level === 'problem');
  const lines = [
    `preflight: stack in ${settings.region}, image model in ${settings.imageModelRegion}, Lambdas ${architectureName(settings.architecture)} from ${settings.lambdaAssetDir}`,
    ...findings.map((f) => `${f.level === 'problem' ? 'PROBLEM' : 'note   '} ${f.line}`),
    problems.length === 0
      ? 'preflight: OK'
      : `preflight: ${problems.length} problem${problems.length === 1 ? '' : 's'}: fix ${problems.length === 1 ? 'it' : 'them'} and run \`npm run preflight\` again`,
  ];
  return { text: lines.join('\n'), ok: problems.length === 0 };
}
