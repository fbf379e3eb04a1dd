import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadSettings, type PetAvatarSettings } from './config';
import { PetAvatarStack } from './petavatar-stack';

export const STACK_NAME = 'PetAvatar';

/**
 * Feature flags the stack relies on, set here rather than in cdk.json so that tests that
 * build the app in-process get the same behaviour as `cdk synth`.
 */
export const FEATURE_FLAGS: Record<string, unknown> = {
  // Server access logs delivered through a bucket policy: works with BucketOwnerEnforced (no ACLs).
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
};

/**
 * Builds the CDK app exactly as `cdk synth` does (bin/app.ts) so tests exercise the same
 * wiring, cdk-nag included. `env` is injectable so tests do not inherit the caller's shell.
 */
export function buildApp(
  props: AppProps = {},
  env: NodeJS.ProcessEnv = process.env,
): { app: App; stack: PetAvatarStack; settings: PetAvatarSettings } {
  const app = new App({ ...props, context: { ...FEATURE_FLAGS, ...props.context } });
  const settings = loadSettings(app.node, env);
  const stack = new PetAvatarStack(app, STACK_NAME, {
    settings,
    env: { account: settings.account, region: settings.region },
    description: 'PetAvatar: pet photo -> avatar and career identity (Step Functions + Lambda + Bedrock)',
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack, settings };
}
