import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../core/src/testing/fault-proxy.js';
import { startS3rver, type S3rverHandle } from '../plugins/target-s3/test/s3rver-helper.js';
import { faultRounds, faultSeed } from './helpers/fault-rounds.js';

// Issue 24: backups through a proxy that injects the faults of a real network and a real service
// (503 SlowDown, 500, 429, a reset in the middle of a body, stalls, truncated answers, a server
// gone for seconds) between hokan and a real S3 server. Every run ends completed or incomplete with
// the reasons of a network, nothing is recorded as stored that is not (`agent verify` on a clean
// network finds every copy good), and the next clean run completes; the restore is byte-identical.
// `npm run fault:campaign -- --rounds N [--seed S]` runs it at length (scripts/fault-campaign.mjs).
const ROUNDS = Number(process.env.HOKAN_FAULT_ROUNDS) || 3;
const SEED = faultSeed();

let s3: S3rverHandle;
let proxy: FaultProxy;
let dir: string;
beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['faults'] });
  proxy = await startFaultProxy({ upstreamPort: s3.port, flavor: 's3', rate: 0.15, seed: SEED, stallMs: 1500, vanishMs: 2000 });
  dir = await mkdtemp(join(tmpdir(), 'hokan-faults-'));
});
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('backups through injected network and service faults (issue 24)', () => {
  it(`${ROUNDS} rounds of changes and faulty runs on s3: statuses right, nothing recorded that is not stored, the next clean run completes, restore byte-identical`, async () => {
    console.log(`fault campaign: seed ${SEED}, ${ROUNDS} rounds (replay: HOKAN_FAULT_SEED=${SEED})`);
    const target = { type: 's3', bucket: 'faults', prefix: 'pc/', endpoint: proxy.endpoint, region: 'us-east-1', forcePathStyle: true, checksums: 'when-required', accessKeyId: '${env:K}', secretAccessKey: '${env:S}', partSize: 5 * 2 ** 20 };
    const f = await faultRounds({ name: 's3', dir, proxy, target, plugin: '@hokan/target-s3', env: { K: 'S3RVER', S: 'S3RVER' }, rounds: ROUNDS, seed: SEED });
    expect(f.faults, 'faults were injected').toBeGreaterThan(0);
    expect(f.filesLost).toBe(0);
  }, Math.max(600_000, ROUNDS * 120_000));
});
