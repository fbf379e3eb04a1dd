#!/usr/bin/env node
// npm run ship [-- -c key=value ...]: build-lambdas, preflight, deploy (lib/ship.ts); the first
// step that fails stops the rest.
import { spawnSync } from 'node:child_process';
import { npmArgs, shipPlan } from '../lib/ship';

for (const step of shipPlan(process.argv.slice(2))) {
  console.log(`\n==== ship: npm ${npmArgs(step).join(' ')} ====`);
  const { status, error } = spawnSync('npm', npmArgs(step), { stdio: 'inherit' });
  if (error) throw error;
  if (status !== 0) {
    console.error(`ship: \`npm run ${step.script}\` failed (exit ${status}); nothing after it ran`);
    process.exit(status ?? 1);
  }
}
