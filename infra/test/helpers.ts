import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnElement } from 'aws-cdk-lib';
import { aslExists } from '../lib/asl';
import { buildApp } from '../lib/app';
import { DEFAULT_ASL_PATH } from '../lib/config';
import { STAGES } from '../lib/functions';
import type { PetAvatarStack } from '../lib/petavatar-stack';

/** The definition under test: the real file, or a draft named by PETAVATAR_ASL_PATH. */
export const ASL_UNDER_TEST = process.env.PETAVATAR_ASL_PATH ?? DEFAULT_ASL_PATH;
export const REAL_ASL_AVAILABLE = aslExists(ASL_UNDER_TEST);

let stubPath: string | undefined;

/**
 * Until statemachine/pipeline.asl.json exists, the stack tests that are not about the
 * definition still need *some* ASL to build the stack. This writes a throw-away chain of
 * the seven Task placeholders to a temp dir: it is not a copy of the pipeline, it is never
 * committed, and the definition test skips instead of comparing against it.
 */
export function aslPathForTests(): string {
  if (REAL_ASL_AVAILABLE) return ASL_UNDER_TEST;
  if (stubPath) return stubPath;
  const states: Record<string, unknown> = {};
  STAGES.forEach((s, i) => {
    const next = STAGES[i + 1];
    states[s.id] = {
      Type: 'Task',
      Resource: '${' + s.aslPlaceholder + '}',
      ...(next ? { Next: next.id } : { End: true }),
    };
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'petavatar-asl-stub-'));
  stubPath = path.join(dir, 'stub.asl.json');
  writeFileSync(stubPath, JSON.stringify({ Comment: 'test stub', StartAt: STAGES[0].id, States: states }));
  return stubPath;
}

/** Builds the app as `cdk synth` would, with placeholder Lambda code and no shell env leaking in. */
export function build(context: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) {
  return buildApp(
    { context: { placeholderAssets: 'true', aslPath: aslPathForTests(), ...context } },
    env,
  );
}

export function synthTemplate(context: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) {
  const built = build(context, env);
  return { ...built, template: Template.fromStack(built.stack) };
}

export function logicalId(stack: PetAvatarStack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.resolve(stack.getLogicalId(construct.node.defaultChild as CfnElement)) as string;
}

export type Resources = Record<string, { Type: string; Properties?: any; Metadata?: any }>;

export function resourcesOfType(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}

/** Normalises an IAM Action field to a list. */
export function actionsOf(statement: { Action?: string | string[] }): string[] {
  if (statement.Action === undefined) return [];
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

/** The policy statements attached to one Lambda function's role, across all inline policies. */
export function statementsForRole(template: Template, roleLogicalId: string): any[] {
  const policies = resourcesOfType(template, 'AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as any[]).some((r) => r.Ref === roleLogicalId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as any[]);
}
