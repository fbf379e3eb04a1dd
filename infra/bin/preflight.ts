#!/usr/bin/env node
// npm run preflight [-- -c key=value ...]: checks what the first deploy and the first job need
// (lib/preflight.ts). Exit 1 when there is a problem, so `npm run ship` stops before deploying.
import { BedrockClient } from '@aws-sdk/client-bedrock';
import { STSClient } from '@aws-sdk/client-sts';
import { contextSource } from '../lib/cli';
import { loadSettings } from '../lib/config';
import { preflight, report } from '../lib/preflight';

async function main(): Promise<number> {
  const settings = loadSettings(contextSource(process.argv.slice(2)));
  const clients = {
    sts: (region: string) => new STSClient({ region }),
    bedrock: (region: string) => new BedrockClient({ region }),
  };
  const { text, ok } = report(settings, await preflight(settings, clients));
  console.log(text);
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`preflight: ${(e as Error).message}`);
    process.exit(2);
  },
);
