import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';

/**
 * Bedrock model ids → the IAM statements that allow bedrock:InvokeModel on exactly that model.
 * (Converse is authorised by bedrock:InvokeModel too.)
 *
 * - `us.anthropic.…` style ids are system-defined cross-region inference profiles: the caller
 *   needs the profile ARN in its own region, and the foundation model in every region the
 *   profile routes to. The latter is fenced with `bedrock:InferenceProfileArn`, so it grants
 *   nothing except through this one profile.
 * - other ids are foundation models, invoked on demand in one region.
 * - a full ARN is used as is.
 */

const PROFILE_PREFIXES = ['us', 'us-gov', 'eu', 'apac', 'jp', 'au', 'ca', 'global'];

export type ModelTarget =
  | { readonly kind: 'profile'; readonly profileId: string; readonly foundationModelId: string; readonly global: boolean }
  | { readonly kind: 'foundation'; readonly modelId: string }
  | { readonly kind: 'arn'; readonly arn: string };

export function classifyModelId(modelId: string): ModelTarget {
  if (modelId.startsWith('arn:')) return { kind: 'arn', arn: modelId };
  const dot = modelId.indexOf('.');
  const prefix = dot > 0 ? modelId.slice(0, dot) : '';
  if (PROFILE_PREFIXES.includes(prefix)) {
    return { kind: 'profile', profileId: modelId, foundationModelId: modelId.slice(dot + 1), global: prefix === 'global' };
  }
  return { kind: 'foundation', modelId };
}

export interface ModelGrant {
  readonly statements: iam.PolicyStatement[];
  /** Resource strings containing `*`, as cdk-nag prints them, with the reason they are needed. */
  readonly wildcardResources: readonly string[];
}

/**
 * @param region the region the model is invoked from (the profile's source region)
 * @param routingRegions regions a profile may route to; empty = any (still condition-fenced)
 */
export function modelGrant(modelId: string, region: string, routingRegions: readonly string[]): ModelGrant {
  const target = classifyModelId(modelId);
  const partition = Aws.PARTITION;
  switch (target.kind) {
    case 'arn':
      return { statements: [invoke([target.arn])], wildcardResources: [] };
    case 'foundation':
      return {
        statements: [invoke([`arn:${partition}:bedrock:${region}::foundation-model/${target.modelId}`])],
        wildcardResources: [],
      };
    case 'profile': {
      const profileArn = `arn:${partition}:bedrock:${region}:${Aws.ACCOUNT_ID}:inference-profile/${target.profileId}`;
      const regions = routingRegions.length > 0 ? [...routingRegions] : ['*'];
      const modelArns = regions.map((r) => `arn:${partition}:bedrock:${r}::foundation-model/${target.foundationModelId}`);
      // A global profile may also be authorised against the region-less foundation-model ARN.
      if (target.global) modelArns.push(`arn:${partition}:bedrock:::foundation-model/${target.foundationModelId}`);
      const viaProfile = invoke(modelArns);
      viaProfile.addCondition('StringEquals', { 'bedrock:InferenceProfileArn': profileArn });
      return {
        statements: [invoke([profileArn]), viaProfile],
        wildcardResources: modelArns
          .filter((arn) => arn.includes('*'))
          .map((arn) => arn.replace(partition, '<AWS::Partition>')),
      };
    }
  }
}

function invoke(resources: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({ actions: ['bedrock:InvokeModel'], resources });
}
