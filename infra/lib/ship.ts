import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { contextSource } from './cli';
import { loadSettings } from './config';

/** One step of `npm run ship`: an npm script and its arguments. */
export interface Step {
  readonly script: string;
  readonly args: readonly string[];
}

/**
 * `npm run ship -- -c key=value ...`: build the Lambdas for the stack's architecture, run the
 * preflight with the same settings, and deploy only if it found no problem. The arguments go
 * to both the preflight and `cdk deploy`, so both see one configuration.
 */
export function shipPlan(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Step[] {
  const settings = loadSettings(contextSource(args), env);
  const build = settings.architecture === Architecture.ARM_64 ? 'build-lambdas:arm64' : 'build-lambdas';
  return [
    { script: build, args: [] },
    { script: 'preflight', args: [...args] },
    { script: 'deploy', args: [...args] },
  ];
}

/** The npm command line of a step. */
export function npmArgs(step: Step): string[] {
  return step.args.length === 0 ? ['run', step.script] : ['run', step.script, '--', ...step.args];
}
