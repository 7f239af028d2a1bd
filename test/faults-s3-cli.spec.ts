import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../core/src/testing/fault-proxy.js';
import { startS3rver, type S3rverHandle } from '../plugins/target-s3/test/s3rver-helper.js';
import { agent } from './helpers/agent.js';
import { bytes, digestTree, writeTree } from './helpers/trees.js';

// Issue 24: backups through a proxy that injects the faults of a real network and a real service
// (503 SlowDown, 500, 429, a reset in the middle of a body, stalls, truncated answers, a server
// gone for seconds) between hokan and a real S3 server. Every run ends completed or incomplete with
// the reasons of a network, nothing is recorded as stored that is not (`agent verify` on a clean
// network finds every copy good), and the next clean run completes; the restore is byte-identical.
// `npm run fault:campaign -- --rounds N [--seed S]` runs it at length (scripts/fault-campaign.mjs).
const ROUNDS = Number(process.env.HOKAN_FAULT_ROUNDS) || 3;
const SEED = Number(process.env.HOKAN_FAULT_SEED) || (Date.now() ^ (process.pid << 8)) >>> 0;
const NETWORK_REASONS = ['network-error', 'target-unavailable', 'io-error', 'multiple-errors'];

let s3: S3rverHandle;
let proxy: FaultProxy;
let dir: string;
beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['faults'] });
  proxy = await startFaultProxy({ upstreamPort: s3.port, rate: 0.15, seed: SEED, stallMs: 1500, vanishMs: 2000 });
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
    const src = join(dir, 'Documents');
    await mkdir(src, { recursive: true });
    const config = join(dir, 'config.json');
    const target = { type: 's3', bucket: 'faults', prefix: 'pc/', endpoint: proxy.endpoint, region: 'us-east-1', forcePathStyle: true, checksums: 'when-required', accessKeyId: '${env:K}', secretAccessKey: '${env:S}', partSize: 5 * 2 ** 20 };
    await writeFile(config, JSON.stringify({ device: 'pc', plugins: ['@hokan/target-s3'], targets: { cloud: target }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['cloud'], generations: 3 }] }));
    const run = (...a: string[]) =>
      agent([...a, '-v', '--config', config, '--data-dir', join(dir, 'data')], { cwd: dir, env: { K: 'S3RVER', S: 'S3RVER' }, timeoutMs: 150_000 }).catch((e: Error) => {
        throw new Error(`agent ${a.join(' ')} (faults so far ${JSON.stringify(proxy.injected)}, requests ${proxy.requests}): ${e.message}`);
      });
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 40; i++) files[`d${i % 4}/f${i}.txt`] = bytes(200 + i * 37, i);
    files['big/video.bin'] = bytes(11 * 2 ** 20, 7);
    await writeTree(src, files);
    const figures = { runs: 0, completed: 0, incomplete: 0, faults: 0, bytesSent: 0, resent: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      // Changes: a few files rewritten, one added, one deleted.
      for (let k = 0; k < 3; k++) await writeFile(join(src, `d${k}/f${(round * 7 + k * 5) % 40}.txt`), bytes(300 + round, round * 100 + k));
      await writeFile(join(src, `d${round % 4}/new-${round}.txt`), bytes(500, 1000 + round));
      await rm(join(src, `d${(round + 1) % 4}/f${(round * 11 + 3) % 40}.txt`), { force: true });
      proxy.setRate(0.15);
      const before = proxy.requests;
      const faulty = await run('backup', '--json');
      expect(faulty.stdout, faulty.stderr).not.toBe("");
      const rec = JSON.parse(faulty.stdout)[0] ?? JSON.parse(faulty.stdout);
      if (!rec?.status) throw new Error(`round ${round}: ${faulty.stdout} ${faulty.stderr}`);
      figures.runs++;
      expect(['completed', 'incomplete'], `round ${round}: ${JSON.stringify(rec)}`).toContain(rec.status);
      for (const reason of rec.reasons) expect(NETWORK_REASONS, `round ${round}: reasons ${rec.reasons}`).toContain(reason);
      if (rec.status === 'completed') figures.completed++;
      else figures.incomplete++;
      figures.bytesSent += rec.bytes;
      void before;
      // On a clean network: every copy the index believes stored is there and whole.
      proxy.setRate(0);
      const v = await run('verify', '--job', 'docs');
      expect(v.code, `round ${round}: verify after a faulty run\n${v.stdout}\n${v.stderr}`).toBe(0);
      expect(v.stdout).toMatch(/ 0 bad/);
      const clean = JSON.parse((await run('backup', '--json')).stdout)[0];
      expect(clean, `round ${round}: the clean run after it`).toMatchObject({ status: 'completed', counts: { failed: 0 } });
      figures.resent += clean.counts.uploaded;
      const to = join(dir, `restored-${round}`);
      const r = await run('restore', '--job', 'docs', '--to', to);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
      await rm(to, { recursive: true, force: true });
    }
    figures.faults = Object.values(proxy.injected).reduce((a, b) => a + b, 0);
    console.log(`fault campaign figures: ${JSON.stringify({ ...figures, injected: proxy.injected, filesLost: 0 })}`);
    expect(figures.faults, 'faults were injected').toBeGreaterThan(0);
  }, Math.max(600_000, ROUNDS * 120_000));
});
