#!/usr/bin/env node
// The engine conformance suite (model-based) at length, for before a release:
//   npm run test:model -- --runs 500 [--seed 1234] [--target memory|hdd|s3|azure]
// Runs N generated cases per seed (one fresh seed unless --seed; failures print the seed to replay).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '200' }, seed: { type: 'string' }, target: { type: 'string', multiple: true } } });
const specs = { memory: 'core/src/testing/memory-engine.spec.ts', hdd: 'plugins/target-hdd/test/hdd-engine.spec.ts', s3: 'plugins/target-s3/test/s3-engine.spec.ts', azure: 'plugins/target-azure/test/azure-engine.spec.ts' };
const chosen = values.target?.length ? values.target : Object.keys(specs);
for (const t of chosen) if (!specs[t]) throw new Error(`--target ${t}: not one of ${Object.keys(specs).join(', ')}`);
const seed = values.seed ?? String((Date.now() ^ (process.pid << 8)) >>> 0);
console.log(`engine conformance: ${values.runs} cases per target, seed ${seed} (replay with --seed ${seed})`);
const child = spawn('npx', ['vitest', 'run', '-t', 'seed', '--testTimeout', '3600000', ...chosen.map((t) => specs[t])], {
  stdio: 'inherit',
  env: { ...process.env, HOKAN_MODEL_RUNS: values.runs, HOKAN_MODEL_SEED: seed },
});
child.on('exit', (code) => process.exit(code ?? 1));
