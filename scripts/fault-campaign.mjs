#!/usr/bin/env node
// The fault campaign (issue 24): backups through the fault proxy (core/src/testing/fault-proxy.ts)
// against a real server, at length — test/faults-<target>-cli.spec.ts with more rounds.
//   npm run fault:campaign -- [--target s3|azure|nas] [--server rclone,apache,webdav-server] --rounds 20 [--seed 1234] [--rate 0.15]
// Targets: s3 (s3rver), azure (Azurite, faults in Azure's form: 503 ServerBusy, 500 OperationTimedOut),
// nas (WebDAV: rclone serve webdav and Apache mod_dav by default, `--server` to choose; plain 503/500/429/507).
// Each round changes the source, runs a backup through injected faults, then checks on a clean
// network: verify finds every recorded copy good, the next run completes, the restore equals the
// source. The figures lines give runs, completed, incomplete, faults per kind, files sent again, files lost (0).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { target: { type: 'string', default: 's3' }, server: { type: 'string' }, rounds: { type: 'string', default: '20' }, seed: { type: 'string' }, rate: { type: 'string' } } });
const specs = { s3: 'test/faults-s3-cli.spec.ts', azure: 'test/faults-azure-cli.spec.ts', nas: 'test/faults-nas-cli.spec.ts' };
const spec = specs[values.target];
if (!spec) {
  console.error(`--target ${values.target}: expected one of ${Object.keys(specs).join(', ')}`);
  process.exit(2);
}
if (values.server && values.target !== 'nas') {
  console.error('--server is for --target nas (rclone, apache, webdav-server)');
  process.exit(2);
}
const seed = values.seed ?? String((Date.now() ^ (process.pid << 8)) >>> 0);
if (values.rate !== undefined && !(Number(values.rate) > 0 && Number(values.rate) <= 1)) {
  console.error(`--rate ${values.rate}: expected the share of requests that meet a fault, more than 0 and at most 1`);
  process.exit(2);
}
console.log(`fault campaign: ${values.target}${values.server ? ` (${values.server})` : ''}, ${values.rounds} rounds, seed ${seed}${values.rate ? `, rate ${values.rate}` : ''} (replay with --seed ${seed})`);
const child = spawn('npx', ['vitest', 'run', '--testTimeout', '7200000', spec], {
  stdio: 'inherit',
  env: { ...process.env, HOKAN_FAULT_ROUNDS: values.rounds, HOKAN_FAULT_SEED: seed, ...(values.server ? { HOKAN_FAULT_SERVER: values.server } : {}), ...(values.rate ? { HOKAN_FAULT_RATE: values.rate } : {}) },
});
child.on('exit', (code) => process.exit(code ?? 1));
