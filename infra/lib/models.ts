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

/**
 * AWS Marketplace product ids of the serverless models the stack knows, from AWS's table
 * "Use product ID condition keys to control access" (Bedrock user guide). The first call of a
 * third-party model in an account subscribes to its product, and the *calling* role needs
 * `aws-marketplace:Subscribe` for it; the product id scopes that grant to the one model.
 * Another model: add its id here, or pass `-c marketplaceProductIds=prod-…` (its model card).
 */
export const MARKETPLACE_PRODUCT_IDS: Readonly<Record<string, string>> = {
  'anthropic.claude-sonnet-4-5-20250929-v1:0': 'prod-mxcfnwvpd6kb4',
  'anthropic.claude-haiku-4-5-20251001-v1:0': 'prod-xdkflymybwmvi',
  'anthropic.claude-sonnet-4-20250514-v1:0': 'prod-4pmewlybdftbs',
  'anthropic.claude-opus-4-1-20250805-v1:0': 'prod-w3q2d6rfge4tw',
  // AWS lists one product, "Stable Image Core 1.0", for the model's v1 revisions.
  'stability.stable-image-core-v1:0': 'prod-eacdrmv7zfc5e',
  'stability.stable-image-core-v1:1': 'prod-eacdrmv7zfc5e',
  'stability.sd3-large-v1:0': 'prod-cqfmszl26sxu4',
  'stability.stable-image-ultra-v1:0': 'prod-7boen2z2wnxrg',
  'stability.stable-image-ultra-v1:1': 'prod-7boen2z2wnxrg',
  'stability.sd3-5-large-v1:0': 'prodview-ajc3gw4mjy7my',
};

/** Providers whose Bedrock models are not sold through AWS Marketplace (no subscription). */
const NO_MARKETPLACE_PROVIDERS = ['amazon', 'meta', 'mistral', 'deepseek', 'qwen', 'openai'];

/** The foundation model behind an id (a profile's model; an ARN's last path element). */
export function foundationModelOf(modelId: string): string {
  const target = classifyModelId(modelId);
  switch (target.kind) {
    case 'profile':
      return target.foundationModelId;
    case 'foundation':
      return target.modelId;
    case 'arn':
      return target.arn.slice(target.arn.lastIndexOf('/') + 1);
  }
}

export function providerOf(modelId: string): string {
  const model = foundationModelOf(modelId);
  return model.slice(0, Math.max(model.indexOf('.'), 0));
}

/**
 * The product ids the first call of `modelId` may subscribe to: `override` when given, none
 * for a provider outside Marketplace, else the table's. Throws for a third-party model the
 * table does not know: deploying without the grant is the failure this exists to prevent.
 */
export function marketplaceProductIds(modelId: string, override: readonly string[]): string[] {
  if (override.length > 0) return [...override];
  if (NO_MARKETPLACE_PROVIDERS.includes(providerOf(modelId))) return [];
  const productId = MARKETPLACE_PRODUCT_IDS[foundationModelOf(modelId)];
  if (productId === undefined) {
    throw new Error(
      `model ${modelId}: its AWS Marketplace product id is unknown, and its first call needs aws-marketplace:Subscribe ` +
        'scoped to it. Pass -c marketplaceProductIds=<product id from the model card> (or add it to MARKETPLACE_PRODUCT_IDS in lib/models.ts).',
    );
  }
  return [productId];
}

/**
 * What the first call of a Marketplace model needs besides bedrock:InvokeModel (AWS: "Request
 * access to models"): Subscribe, scoped to the product ids, and ViewSubscriptions. Neither
 * action has resource-level permissions, hence `*`. Unsubscribe is not granted: the functions
 * never unsubscribe.
 */
export function marketplaceStatements(productIds: readonly string[]): iam.PolicyStatement[] {
  if (productIds.length === 0) return [];
  return [
    new iam.PolicyStatement({
      actions: ['aws-marketplace:Subscribe'],
      resources: ['*'],
      conditions: { 'ForAnyValue:StringEquals': { 'aws-marketplace:ProductId': [...productIds] } },
    }),
    new iam.PolicyStatement({ actions: ['aws-marketplace:ViewSubscriptions'], resources: ['*'] }),
  ];
}
