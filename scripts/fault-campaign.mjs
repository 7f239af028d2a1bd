#!/usr/bin/env node
// The fault campaign (issue 24): backups through the fault proxy (core/src/testing/fault-proxy.ts)
// against a real S3 server, at length — test/faults-s3-cli.spec.ts with more rounds.
//   npm run fault:campaign -- --rounds 20 [--seed 1234]
// Each round changes the source, runs a backup through injected faults, then checks on a clean
// network: verify finds every recorded copy good, the next run completes, the restore equals the
// source. The last line gives the figures (runs, completed, incomplete, faults per kind, files lost: 0).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, seed: { type: 'string' } } });
const seed = values.seed ?? String((Date.now() ^ (process.pid << 8)) >>> 0);
console.log(`fault campaign: ${values.rounds} rounds, seed ${seed} (replay with --seed ${seed})`);
const child = spawn('npx', ['vitest', 'run', '--testTimeout', '7200000', 'test/faults-s3-cli.spec.ts'], {
  stdio: 'inherit',
  env: { ...process.env, HOKAN_FAULT_ROUNDS: values.rounds, HOKAN_FAULT_SEED: seed },
});
child.on('exit', (code) => process.exit(code ?? 1));
