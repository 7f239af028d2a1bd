import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteHandle } from '../plugins/target-azure/test/azurite-helper.js';
import { agent, collect, startAgent } from './helpers/agent.js';
import { awkwardTree, bytes, digestTree, writeTree } from './helpers/trees.js';

/** Backups to a real Azurite through the CLI, with the account key given as an `${env:…}` reference. */
let az: AzuriteHandle;
let dir: string;
const MiB = 1024 * 1024;

beforeAll(async () => {
  az = await startAzurite();
  await az.createContainer('office-backup');
  await az.createContainer('resume');
  dir = await mkdtemp(join(tmpdir(), 'hokan-azure-cli-'));
});
afterAll(async () => {
  await az?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function setup(name: string, container: string, extra: Record<string, unknown> = {}) {
  const base = join(dir, name);
  const src = join(base, 'Documents');
  await mkdir(src, { recursive: true });
  const config = join(base, 'config.json');
  const target = { type: 'azure', account: AZURITE_ACCOUNT, container, prefix: 'office-pc/', endpoint: az.proxy.endpoint, accountKey: '${env:TEST_AZURE_KEY}', ...extra };
  await writeFile(config, JSON.stringify({ device: 'office-pc', plugins: ['@hokan/target-azure'], targets: { cloud: target }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['cloud'] }] }, null, 2));
  const env = { TEST_AZURE_KEY: AZURITE_KEY };
  const args = (...a: string[]) => [...a, '--config', config, '--data-dir', join(base, 'data')];
  const run = (...a: string[]) => agent(args(...a), { cwd: base, env });
  return { base, src, args, run, env };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('target-azure through the CLI', () => {
  it('backup, change, backup; restore an older generation and the whole tree at the first run, byte-identical; newest files readable with the SDK under their own names', async () => {
    const { base, src, run } = await setup('e2e', 'office-backup');
    await awkwardTree(src);
    await writeTree(src, { 'big/video.bin': bytes(20 * MiB, 7) });
    const firstDigest = await digestTree(src);
    const b1 = await run('backup', '--json');
    expect(b1.stderr).toBe('');
    expect(b1.code).toBe(0);
    const first = JSON.parse(b1.stdout)[0];
    expect(first).toMatchObject({ status: 'completed', counts: { uploaded: 9, failed: 0 } });
    // The key never reaches the output.
    expect(b1.stdout + b1.stderr).not.toContain(AZURITE_KEY);

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

    const latest = join(base, 'latest');
    expect((await run('restore', '--job', 'docs', '--to', latest)).code).toBe(0);
    const now = await digestTree(src);
    expect(await digestTree(join(latest, 'Documents'))).toEqual(now);
    const v = await run('verify', '--job', 'docs');
    expect(v.stdout).toMatch(/checked 10 stored versions .* 10 good, 0 bad/);

    // Azure cannot tell a container's size: status shows what hokan stored there, from the index —
    // the files of the source now (the link is not stored) and the two older versions.
    let current = 0;
    for (const e of await readdir(src, { recursive: true, withFileTypes: true })) if (e.isFile()) current += (await stat(join(e.parentPath, e.name))).size;
    const st = JSON.parse((await run('status', '--json')).stdout);
    expect(st.targets).toEqual([{ id: 'cloud', type: 'azure', used: current + 'quarterly report\n'.length + 20 * MiB, usedFrom: 'index' }]);
    expect((await run('status')).stdout).toMatch(/target cloud \(azure\): [\d.]+ MB used \(stored by hokan\)/);

    // Another client (the SDK, as Storage Explorer would) finds the newest files under their own names,
    // with the SHA-256 in the blob's metadata.
    const container = new BlobServiceClient(az.endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)).getContainerClient('office-backup');
    const names: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix: 'office-pc/' })) names.push(b.name);
    const video = names.find((n) => n.endsWith('/big/video.bin') && !n.includes('.hokan/'))!;
    const report = names.find((n) => n.endsWith('/report.txt') && !n.includes('.hokan/'))!;
    expect(video).toBeDefined();
    const videoBytes = await container.getBlobClient(video).downloadToBuffer();
    expect(sha(videoBytes)).toBe(now['big/video.bin']);
    expect((await container.getBlobClient(report).downloadToBuffer()).toString()).toBe('quarterly report, revised\n');
    expect((await container.getBlobClient(video).getProperties()).metadata?.sha256).toBe(now['big/video.bin']);
  });

  it('a wrong key gets its own message and exit 3; the key is never printed', async () => {
    const { src, args, base } = await setup('badkey', 'office-backup', { prefix: 'badkey/' });
    await writeTree(src, { 'a.txt': 'a' });
    const wrong = Buffer.from('a wrong key that is long enough to look like the real thing, 64 b').toString('base64');
    const r = await agent(args('backup'), { cwd: base, env: { TEST_AZURE_KEY: wrong } });
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/incomplete \(access-denied\)/);
    expect(r.stdout + r.stderr).toMatch(/Azure refused the account key for storage account "devstoreaccount1"/);
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });

  it('a missing container: the run says so with the fix', async () => {
    const { src, args, base, env } = await setup('nocontainer', 'not-created-yet');
    await writeTree(src, { 'a.txt': 'a' });
    const r = await agent(args('backup'), { cwd: base, env });
    expect(r.code).toBe(3);
    expect(r.stdout + r.stderr).toContain('the container "not-created-yet" does not exist in the storage account "devstoreaccount1"');
    expect(r.stdout + r.stderr).toContain('set "createContainer": true for this target');
  });

  it('kill -9 in the middle of a 128 MiB upload: the next run sends only the missing blocks, and the file restores byte-identical', async () => {
    const SIZE = 128 * MiB; // a large file that keeps the test to seconds on Azurite (~25 MB/s here)
    const BLOCK = 8 * MiB;
    const { base, src, args, env, run } = await setup('resume', 'resume', { blockSize: BLOCK, maxConnections: 4 });
    await writeTree(src, { 'archive.bin': bytes(SIZE, 42) });
    az.proxy.reset();
    const child = startAgent(args('backup'), { cwd: base, env });
    const done = collect(child, 120_000);
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (az.proxy.requestBytes >= 64 * MiB) {
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
    const sentBefore = az.proxy.requestBytes;

    az.proxy.reset();
    const next = await run('backup', '--json');
    expect(next.code).toBe(0);
    const [rec] = JSON.parse(next.stdout);
    expect(rec).toMatchObject({ status: 'completed', counts: { uploaded: 1 } });
    const resent = az.proxy.requestBytes;
    // At least 64 MiB had reached Azurite when it died; of that, at most the blocks in flight (4 × 8 MiB)
    // were not whole. The second run sends the rest, not the whole file again.
    expect(resent).toBeLessThan(SIZE - 64 * MiB + 4 * BLOCK + 1 * MiB);
    expect(resent + sentBefore).toBeLessThan(SIZE + 4 * BLOCK + 2 * MiB);
    console.info(`azure kill -9: run 1 sent ${sentBefore} bytes before the kill, run 2 sent ${resent} bytes (file ${SIZE})`);
    const history = JSON.parse((await run('history', '--json')).stdout);
    expect(history.runs.map((r: { status: string }) => r.status)).toEqual(['completed', 'interrupted']);
    const to = join(base, 'r');
    expect((await run('restore', '--job', 'docs', '--to', to)).code).toBe(0);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
  }, 180_000);
});
