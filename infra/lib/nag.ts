import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Every cdk-nag finding the stack accepts goes through `acknowledge`, so each one carries a
 * written reason and the full list can be printed (`npm run nag-report`) and tested.
 */
export interface Suppression {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
}

const registry = new WeakMap<IConstruct, Suppression[]>();

/**
 * Context key that records suppressions without applying them. Tests use it to prove each
 * suppression still matches a real finding (no stale suppressions hiding nothing).
 */
export const SKIP_ACKNOWLEDGEMENTS_CONTEXT = 'petavatar:recordSuppressionsOnly';

export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  if (reason.trim().length < 20) {
    throw new Error(`suppression ${id} at ${scope.node.path} needs a real reason, got ${JSON.stringify(reason)}`);
  }
  if (scope.node.tryGetContext(SKIP_ACKNOWLEDGEMENTS_CONTEXT) !== true) {
    Validations.of(scope).acknowledge({ id, reason });
  }
  const root = scope.node.root;
  const list = registry.get(root) ?? [];
  list.push({ path: scope.node.path, id, reason });
  registry.set(root, list);
}

/** All suppressions recorded under the construct tree containing `scope`. */
export function suppressionsOf(scope: IConstruct): readonly Suppression[] {
  return registry.get(scope.node.root) ?? [];
}
