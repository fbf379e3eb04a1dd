import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { INFRA_DIR, type ContextSource } from './config';

/**
 * The settings a command outside `cdk` (preflight, ship) sees must be the ones `cdk deploy`
 * will see: cdk.json's context, then `-c key=value` / `--context key=value` arguments (the
 * same spelling as cdk's), then the environment (loadSettings).
 */
export function contextArgs(args: readonly string[]): Record<string, string> {
  const context: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let pair: string | undefined;
    if (arg === '-c' || arg === '--context') pair = args[++i];
    else if (arg.startsWith('--context=')) pair = arg.slice('--context='.length);
    if (pair === undefined) continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`context argument ${JSON.stringify(pair)}: expected key=value`);
    context[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return context;
}

export function cdkJsonContext(dir: string = INFRA_DIR): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(dir, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

export function contextSource(args: readonly string[], dir: string = INFRA_DIR): ContextSource {
  const values: Record<string, unknown> = { ...cdkJsonContext(dir), ...contextArgs(args) };
  return { tryGetContext: (key: string) => values[key] };
}
