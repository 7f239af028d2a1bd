import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { S3RVER_CREDENTIALS, startS3rver, type S3rverHandle } from '../plugins/target-s3/test/s3rver-helper.js';
import { startCountingProxy, type CountingProxy } from '../plugins/target-s3/test/test-utils.js';
import { agent, collect, startAgent, whileFirstHoldsLease } from './helpers/agent.js';
import { foldersScenario, prunedRestoreScenario, wipedTargetScenario } from './helpers/scenarios.js';
import { awkwardTree, bytes, digestTree, writeTree } from './helpers/trees.js';

/** Backups to a real s3rver through the CLI, with the keys given as `${env:…}` references. */
let s3: S3rverHandle;
let proxy: CountingProxy;
let dir: string;
const MiB = 1024 * 1024;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['office-backup', 'resume'] });
  proxy = await startCountingProxy(s3.port);
  dir = await mkdtemp(join(tmpdir(), 'hokan-s3-cli-'));
});
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function setup(name: string, bucket: string, extra: Record<string, unknown> = {}) {
  const base = join(dir, name);
  const src = join(base, 'Documents');
  await mkdir(src, { recursive: true });
  const config = join(base, 'config.json');
  const target = { type: 's3', bucket, prefix: 'office-pc/', endpoint: proxy.endpoint, region: 'us-east-1', forcePathStyle: true, checksums: 'when-required', accessKeyId: '${env:TEST_S3_KEY}', secretAccessKey: '${env:TEST_S3_SECRET}', ...extra };
  await writeFile(config, JSON.stringify({ device: 'office-pc', plugins: ['@hokan/target-s3'], targets: { cloud: target }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['cloud'] }] }, null, 2));
  const env = { TEST_S3_KEY: 'S3RVER', TEST_S3_SECRET: 'S3RVER' };
  const args = (...a: string[]) => [...a, '--config', config, '--data-dir', join(base, 'data')];
  const run = (...a: string[]) => agent(args(...a), { cwd: base, env });
  return { base, src, args, run, env };
}

describe('target-s3 through the CLI', () => {
  it('two data folders back up one job to one bucket at the same moment: one writes, the other stops naming the holder; nothing is lost (issue 26)', async () => {
    const { base, src, env } = await setup('two-writers', 'office-backup', { prefix: 'two-writers/' });
    const files: Record<string, string> = {};
    for (let i = 0; i < 120; i++) files[`d${i % 4}/f${i}.txt`] = `content ${i}`;
    await writeTree(src, files);
    const config = join(base, 'config.json');
    const as = (data: string, ...a: string[]) => agent([...a, '--json', '--config', config, '--data-dir', join(base, data)], { cwd: base, env });
    // The first is frozen once its lease is in the bucket, so the second meets a live holder whatever the machine's speed.
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...S3RVER_CREDENTIALS } });
    const leases = async () => ((await client.send(new ListObjectsV2Command({ Bucket: 'office-backup', Prefix: 'two-writers/docs/.hokan/leases/' }))).Contents ?? []).filter((o) => o.Key!.endsWith('.json'));
    const [x, y] = await whileFirstHoldsLease({ args: ['backup', '--json', '--config', config, '--data-dir', join(base, 'd1')], opts: { cwd: base, env } }, leases, () => as('d2', 'backup'));
    client.destroy();
    const runs = [JSON.parse(x.stdout)[0], JSON.parse(y.stdout)[0]];
    const winner = runs.find((r) => r.status === 'completed');
    const loser = runs.find((r) => r !== winner);
    expect(winner?.counts).toMatchObject({ uploaded: 120 });
    expect(loser).toMatchObject({ status: 'incomplete', reasons: ['target-busy'], counts: { uploaded: 0 } });
    expect(loser.targetResults[0].error).toMatch(/another run writes to this job's place on the target: device "office-pc"/);
    // The one that could not write catches up from the bucket: nothing to send, every file restores.
    const loserDir = runs[0] === loser ? 'd1' : 'd2';
    const next = JSON.parse((await as(loserDir, 'backup')).stdout)[0];
    expect(next).toMatchObject({ status: 'completed', counts: { uploaded: 0, unchanged: 120 } });
    const to = join(base, 'out');
    expect((await as(loserDir, 'restore', '--job', 'docs', '--run', winner.id, '--to', to)).code).toBe(0);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
  });

  it('backup, change, backup; restore an older generation and the whole tree at the first run, byte-identical', async () => {
    const { base, src, run } = await setup('e2e', 'office-backup');
    await awkwardTree(src);
    await writeTree(src, { 'big/video.bin': bytes(12 * MiB, 7) });
    const firstDigest = await digestTree(src);
    const b1 = await run('backup', '--json');
    expect(b1.stderr).toBe('');
    expect(b1.code).toBe(0);
    const first = JSON.parse(b1.stdout)[0];
    expect(first).toMatchObject({ status: 'completed', counts: { uploaded: 9, failed: 0 } });
    // The secrets never reach the output.
    expect(b1.stdout + b1.stderr).not.toContain('S3RVER');

    await new Promise((r) => setTimeout(r, 1100));
    await writeFile(join(src, 'report.txt'), 'quarterly report, revised\n');
    await writeTree(src, { 'big/video.bin': bytes(12 * MiB, 8) });
    const b2 = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(b2).toMatchObject({ status: 'completed', counts: { uploaded: 2, unchanged: 7 } });

    const older = join(base, 'older');
    const r1 = await run('restore', '--job', 'docs', '--path', 'report.txt', '--run', first.id, '--to', older);
    expect(r1.code).toBe(0);
    expect(await digestTree(older)).toEqual({ 'Documents/report.txt': firstDigest['report.txt'] });

    const whole = join(base, 'whole');
    expect((await run('restore', '--job', 'docs', '--run', first.id, '--to', whole)).code).toBe(0);
    expect(await digestTree(join(whole, 'Documents'))).toEqual(firstDigest);

    const latest = join(base, 'latest');
    expect((await run('restore', '--job', 'docs', '--to', latest)).code).toBe(0);
    expect(await digestTree(join(latest, 'Documents'))).toEqual(await digestTree(src));
    const v = await run('verify', '--job', 'docs');
    // 8 stored files (the link is recorded, not stored) and the 2 older versions.
    expect(v.stdout).toMatch(/checked 10 stored versions .* 10 good, 0 bad/);
  });

  it('folders come back as they were: empty ones, their permission bits and mtimes, as of any run (issue 27)', async () => {
    const { base, src, run } = await setup('folders', 'office-backup', { prefix: 'folders/' });
    await foldersScenario({ base, src, run, target: 'cloud' });
  }, 180_000);

  it('a restore as of a run whose version was pruned says so; history marks partial runs; versions says what was pruned (issue 30)', async () => {
    const { base, src, run } = await setup('pruned', 'office-backup', { prefix: 'pruned/' });
    const config = join(base, 'config.json');
    const cfg = JSON.parse(await readFile(config, 'utf8'));
    cfg.jobs[0].generations = 2;
    await writeFile(config, JSON.stringify(cfg));
    await prunedRestoreScenario({ base, src, run, target: 'cloud' });
  }, 180_000);

  it('a bucket prefix emptied behind hokan\'s back is noticed: target-reset, everything sent again, restore from it byte-identical (issue 24)', async () => {
    const { base, src, run } = await setup('wiped', 'office-backup', { prefix: 'wiped-1/' });
    const config = join(base, 'config.json');
    const cfg = JSON.parse(await readFile(config, 'utf8'));
    cfg.targets.cloud2 = { ...cfg.targets.cloud, prefix: 'wiped-2/' };
    cfg.jobs[0].targets = ['cloud', 'cloud2'];
    await writeFile(config, JSON.stringify(cfg));
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...S3RVER_CREDENTIALS } });
    const wipe = async () => {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: 'office-backup', Prefix: 'wiped-2/' }));
      expect(listed.IsTruncated).toBeFalsy();
      await client.send(new DeleteObjectsCommand({ Bucket: 'office-backup', Delete: { Objects: (listed.Contents ?? []).map((o) => ({ Key: o.Key! })) } }));
    };
    try {
      await wipedTargetScenario({ base, src, run, target: 'cloud' }, 'cloud2', wipe);
    } finally {
      client.destroy();
    }
  }, 180_000);

  it('wrong keys get their own message and exit 3; the secret is never printed', async () => {
    const { src, args, base } = await setup('badkey', 'office-backup');
    await writeTree(src, { 'a.txt': 'a' });
    const r = await agent(args('backup'), { cwd: base, env: { TEST_S3_KEY: 'WRONGKEYID', TEST_S3_SECRET: 'not-the-secret-123' } });
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/incomplete \((access-denied|target-unavailable)\)/);
    expect(r.stdout + r.stderr).not.toContain('not-the-secret-123');
  });

  it('kill -9 in the middle of a multipart upload: the next run sends only the missing parts', async () => {
    const SIZE = 40 * MiB;
    const { base, src, args, env, run } = await setup('resume', 'resume', { partSize: 5 * MiB, maxConnections: 2 });
    await writeTree(src, { 'archive.bin': bytes(SIZE, 42) });
    proxy.reset();
    const child = startAgent(args('backup'), { cwd: base, env });
    const done = collect(child, 120_000);
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (proxy.requestBytes >= 22 * MiB) {
          child.kill('SIGKILL');
          clearInterval(t);
          resolve();
        }
      }, 2);
      child.on('exit', () => {
        clearInterval(t);
        reject(new Error('the backup finished before it could be killed'));
      });
    });
    expect((await done).signal).toBe('SIGKILL');
    const sentBefore = proxy.requestBytes;

    proxy.reset();
    const next = await run('backup', '--json');
    expect(next.code).toBe(0);
    const [rec] = JSON.parse(next.stdout);
    expect(rec).toMatchObject({ status: 'completed', counts: { uploaded: 1 }, targetResults: [{ resumedUploads: 1 }] });
    const resent = proxy.requestBytes;
    // With 5 MiB parts, two at a time, at least two whole parts were on the server when it died:
    // the second run sends the rest, not the whole 40 MiB again.
    expect(resent).toBeLessThan(SIZE - 2 * 5 * MiB + 2 * MiB);
    expect(resent + sentBefore).toBeLessThan(SIZE * 1.5);
    const history = JSON.parse((await run('history', '--json')).stdout);
    expect(history.runs.map((r: { status: string }) => r.status)).toEqual(['completed', 'interrupted']);
    const to = join(base, 'r');
    expect((await run('restore', '--job', 'docs', '--to', to)).code).toBe(0);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
  });
});

describe('target-s3 through the CLI on a stock s3rver (no ListParts, ListMultipartUploads, AbortMultipartUpload, UploadPartCopy)', () => {
  let stock: S3rverHandle;
  let stockProxy: CountingProxy;
  beforeAll(async () => {
    stock = await startS3rver({ buckets: ['stock'], stock: true });
    stockProxy = await startCountingProxy(stock.port);
  });
  afterAll(async () => {
    await stockProxy?.close();
    await stock?.stop();
  });

  it('kill -9 in the middle of a multipart upload: the next run starts that upload over, says so, and completes; restore byte-identical', async () => {
    const SIZE = 40 * MiB;
    const { base, src, args, env, run } = await setup('stock-resume', 'stock', { endpoint: stockProxy.endpoint, partSize: 5 * MiB, maxConnections: 2 });
    await writeTree(src, { 'archive.bin': bytes(SIZE, 43) });
    stockProxy.reset();
    const child = startAgent(args('backup'), { cwd: base, env });
    const done = collect(child, 120_000);
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (stockProxy.requestBytes >= 22 * MiB) {
          child.kill('SIGKILL');
          clearInterval(t);
          resolve();
        }
      }, 2);
      child.on('exit', () => {
        clearInterval(t);
        reject(new Error('the backup finished before it could be killed'));
      });
    });
    expect((await done).signal).toBe('SIGKILL');

    stockProxy.reset();
    const next = await run('backup', '--json');
    expect(next.code).toBe(0);
    const [rec] = JSON.parse(next.stdout);
    expect(rec).toMatchObject({ status: 'completed', counts: { uploaded: 1, failed: 0 }, targetResults: [{ id: 'cloud', status: 'completed', restartedUploads: 1 }] });
    // Started over: the whole file went up again.
    expect(stockProxy.requestBytes).toBeGreaterThanOrEqual(SIZE);
    const shown = JSON.parse((await run('show', rec.id, '--json')).stdout);
    expect(shown.files).toEqual([expect.objectContaining({ path: 'Documents/archive.bin', status: 'uploaded', resumed: false })]);
    expect((await run('show', rec.id)).stdout).toContain('cloud: completed — 1 unfinished upload(s) started over');
    const history = JSON.parse((await run('history', '--json')).stdout);
    expect(history.runs.map((r: { status: string }) => r.status)).toEqual(['completed', 'interrupted']);
    // The run after is a plain one: nothing left to start over, nothing sent.
    const third = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(third).toMatchObject({ status: 'completed', counts: { uploaded: 0, unchanged: 1 } });
    expect(third.targetResults[0].restartedUploads).toBeUndefined();
    const to = join(base, 'r');
    expect((await run('restore', '--job', 'docs', '--to', to)).code).toBe(0);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
  });
});
