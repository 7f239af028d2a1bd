import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnRgw } from '../plugins/target-s3/test/rgw-helper.js';
import { startCountingProxy, type CountingProxy } from '../plugins/target-s3/test/test-utils.js';
import { agent, collect, startAgent } from './helpers/agent.js';
import { foldersScenario, legalNamesScenario } from './helpers/scenarios.js';
import { awkwardTree, bytes, digestTree, writeTree } from './helpers/trees.js';

/**
 * The CLI against Ceph RGW (a real S3 implementation, plugins/target-s3/test/rgw-helper.ts), with the
 * target settings a person writes for it: provider "ceph", endpoint, bucket and keys as `${env:…}` —
 * no addressing, checksum or part tuning unless the test says why.
 */
const MiB = 1024 * 1024;

describeOnRgw('target-s3 on Ceph RGW through the CLI', { buckets: ['office-backup', 'resume'] }, (rgw) => {
  let proxy: CountingProxy;
  let dir: string;
  beforeAll(async () => {
    proxy = await startCountingProxy(rgw().port);
    dir = await mkdtemp(join(tmpdir(), 'hokan-rgw-cli-'));
  });
  afterAll(async () => {
    await proxy?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function setup(name: string, bucket: string, extra: Record<string, unknown> = {}) {
    const base = join(dir, name);
    const src = join(base, 'Documents');
    await mkdir(src, { recursive: true });
    const config = join(base, 'config.json');
    const { accessKeyId, secretAccessKey, ...settings } = rgw().targetConfig(bucket);
    const target = { ...settings, prefix: 'office-pc/', endpoint: proxy.endpoint, accessKeyId: '${env:TEST_S3_KEY}', secretAccessKey: '${env:TEST_S3_SECRET}', ...extra };
    await writeFile(config, JSON.stringify({ device: 'office-pc', plugins: ['@hokan/target-s3'], targets: { cloud: target }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['cloud'] }] }, null, 2));
    const env = { TEST_S3_KEY: String(accessKeyId), TEST_S3_SECRET: String(secretAccessKey) };
    const args = (...a: string[]) => [...a, '--config', config, '--data-dir', join(base, 'data')];
    const run = (...a: string[]) => agent(args(...a), { cwd: base, env });
    return { base, src, args, run, env };
  }

  it('every legal name — 255 bytes, 85 Japanese characters, a backslash — is backed up, versioned and restored (issue 27)', async () => {
    const { base, src, run } = await setup('legal-names', 'office-backup', { prefix: 'legal-names/' });
    await legalNamesScenario({ base, src, run, target: 'cloud' });
  }, 180_000);

  it('folders come back as they were: empty ones, their permission bits and mtimes, as of any run (issue 27)', async () => {
    const { base, src, run } = await setup('folders', 'office-backup', { prefix: 'folders/' });
    await foldersScenario({ base, src, run, target: 'cloud' });
  }, 180_000);

  it('backup, change, backup; restore an older generation, the whole tree at the first run and at a time, verify — byte-identical', async () => {
    const { base, src, run } = await setup('e2e', 'office-backup');
    await awkwardTree(src);
    // Larger than the default 16 MiB part: a multipart upload with the default settings.
    await writeTree(src, { 'big/video.bin': bytes(20 * MiB, 7) });
    const firstDigest = await digestTree(src);
    const b1 = await run('backup', '--json');
    expect(b1.stderr).toBe('');
    expect(b1.code).toBe(0);
    const first = JSON.parse(b1.stdout)[0];
    expect(first).toMatchObject({ status: 'completed', counts: { uploaded: 9, failed: 0 } });
    expect(b1.stdout + b1.stderr).not.toContain(rgw().secretAccessKey);

    await new Promise((r) => setTimeout(r, 1100));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await writeFile(join(src, 'report.txt'), 'quarterly report, revised\n');
    await writeTree(src, { 'big/video.bin': bytes(20 * MiB, 8) });
    const b2 = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(b2).toMatchObject({ status: 'completed', counts: { uploaded: 2, unchanged: 7 } });

    const older = join(base, 'older');
    expect((await run('restore', '--job', 'docs', '--path', 'report.txt', '--run', first.id, '--to', older)).code).toBe(0);
    expect(await digestTree(older)).toEqual({ 'Documents/report.txt': firstDigest['report.txt'] });

    const whole = join(base, 'whole');
    expect((await run('restore', '--job', 'docs', '--run', first.id, '--to', whole)).code).toBe(0);
    expect(await digestTree(join(whole, 'Documents'))).toEqual(firstDigest);

    const atTime = join(base, 'at-time');
    expect((await run('restore', '--job', 'docs', '--at', between, '--to', atTime)).code).toBe(0);
    expect(await digestTree(join(atTime, 'Documents'))).toEqual(firstDigest);

    const latest = join(base, 'latest');
    expect((await run('restore', '--job', 'docs', '--to', latest)).code).toBe(0);
    expect(await digestTree(join(latest, 'Documents'))).toEqual(await digestTree(src));
    const v = await run('verify', '--job', 'docs');
    // 8 stored files (the link is recorded, not stored) and the 2 older versions.
    expect(v.stdout).toMatch(/checked 10 stored versions .* 10 good, 0 bad/);
  });

  it('kill -9 in the middle of a large upload: after the kill the server receives at most 70% of the file, and the restore is byte-identical', async () => {
    const SIZE = 64 * MiB;
    // 4 MiB parts would be refused (S3's 5 MiB minimum); 8 MiB parts, two at a time, so parts finish
    // one after another while the file goes up.
    const { base, src, args, env, run } = await setup('resume', 'resume', { partSize: 8 * MiB, maxConnections: 2 });
    await writeTree(src, { 'archive.bin': bytes(SIZE, 42) });
    proxy.reset();
    const child = startAgent(args('backup'), { cwd: base, env });
    const done = collect(child, 120_000);
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (proxy.requestBytes >= SIZE * 0.55) {
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
    const before = proxy.requestBytes;

    proxy.reset();
    const next = await run('backup', '--json');
    expect(next.code).toBe(0);
    const [rec] = JSON.parse(next.stdout);
    expect(rec).toMatchObject({ status: 'completed', counts: { uploaded: 1 }, targetResults: [{ resumedUploads: 1 }] });
    const after = proxy.requestBytes;
    console.log(`RGW kill-and-resume: ${(before / SIZE * 100).toFixed(0)}% sent before the kill, ${(after / SIZE * 100).toFixed(0)}% after`);
    expect(after).toBeLessThanOrEqual(SIZE * 0.7);
    expect(before + after).toBeLessThan(SIZE * 1.4);
    const history = JSON.parse((await run('history', '--json')).stdout);
    expect(history.runs.map((r: { status: string }) => r.status)).toEqual(['completed', 'interrupted']);
    const to = join(base, 'r');
    expect((await run('restore', '--job', 'docs', '--to', to)).code).toBe(0);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
  });
});
