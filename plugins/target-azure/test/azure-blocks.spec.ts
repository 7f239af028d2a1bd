/**
 * Block uploads against a real Azurite: byte-identical blobs, resume after an interruption (bytes on
 * the wire counted by a proxy), a saved state of another version of the file, cleanup of abandoned
 * uploads and a server-side move.
 */
import { createHash } from 'node:crypto';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { TargetError } from '@hokan/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AzureTarget } from '../src/azure-target.js';
import type { BlockResumeState } from '../src/block-upload.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteHandle } from './azurite-helper.js';
import { bufferSource, failingSource, makeTarget, memoryResumeStore, patternBytes, readAll } from './helpers.js';

const MiB = 1024 * 1024;
const BLOCK = 5 * MiB;
const CONTAINER = 'blocks';

let az: AzuriteHandle;
let raw: ContainerClient;
let n = 0;

beforeAll(async () => {
  az = await startAzurite();
  await az.createContainer(CONTAINER);
  raw = new BlobServiceClient(az.endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)).getContainerClient(CONTAINER);
});
afterAll(async () => az?.stop());

/** A target through the counting proxy, under its own prefix. */
async function target(extra: Record<string, unknown> = {}): Promise<AzureTarget> {
  return makeTarget({ ...az.targetConfig(CONTAINER), endpoint: az.proxy.endpoint, prefix: `t${++n}`, blockSize: BLOCK, maxConnections: 2, ...extra }, { copyPollMs: 50 });
}

async function uncommitted(blob: string): Promise<string[]> {
  try {
    const r = await raw.getBlockBlobClient(blob).getBlockList('uncommitted');
    return (r.uncommittedBlocks ?? []).map((b) => b.name);
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return [];
    throw e;
  }
}

async function committedCount(blob: string): Promise<number> {
  return ((await raw.getBlockBlobClient(blob).getBlockList('committed')).committedBlocks ?? []).length;
}

describe('target-azure block uploads', () => {
  it('a blob larger than one block is byte-identical, carries mtime and sha256, and is sent once', async () => {
    const t = await target();
    const data = patternBytes(3 * BLOCK + 12345, 7);
    az.proxy.reset();
    const progress: number[] = [];
    await t.put('big/file.bin', bufferSource(data), { size: data.length, mtimeMs: 1700000000123, sha256: 'ab'.repeat(32) }, { onProgress: (b) => progress.push(b) });
    expect(progress.at(-1)).toBe(data.length);
    expect(az.proxy.requestBytes).toBeGreaterThanOrEqual(data.length);
    expect(az.proxy.requestBytes).toBeLessThan(data.length + 64 * 1024);
    expect(az.proxy.requests).toBe(5); // four Put Block and one Put Block List
    expect((await t.get('big/file.bin', undefined, readAll)).equals(data)).toBe(true);
    expect(await t.stat('big/file.bin')).toEqual({ key: 'big/file.bin', size: data.length, mtimeMs: 1700000000123, sha256: 'ab'.repeat(32) });
    expect(await committedCount(`t${n}/big/file.bin`)).toBe(4);
    const props = await raw.getBlockBlobClient(`t${n}/big/file.bin`).getProperties();
    expect(props.metadata).toEqual({ mtime: '1700000000123', sha256: 'ab'.repeat(32) });
  });

  it('a small file is one Put Blob, with the tier asked for', async () => {
    const t = await target({ accessTier: 'Cool' });
    az.proxy.reset();
    await t.put('small.txt', bufferSource('small'), { size: 5, mtimeMs: 5000 });
    expect(az.proxy.requests).toBe(1);
    const props = await raw.getBlockBlobClient(`t${n}/small.txt`).getProperties();
    expect(props.accessTier).toBe('Cool');
    // The SHA-256 is computed as the body is read when the caller does not give one.
    expect(props.metadata).toEqual({ mtime: '5000', sha256: createHash('sha256').update('small').digest('hex') });
    // Azure computes the content MD5 of a Put Blob.
    expect(Buffer.from(props.contentMD5!).toString('hex')).toBe(createHash('md5').update('small').digest('hex'));
  });

  it('resumes after a read error: the next run (a new target, as after a restart) sends only the missing blocks', async () => {
    const t = await target();
    const data = patternBytes(5 * BLOCK + 1 * MiB, 11); // 6 blocks: five of 5 MiB and one of 1 MiB
    const meta = { size: data.length, mtimeMs: 1700000001000 };
    const store = memoryResumeStore();
    const blob = `t${n}/r/file.bin`;

    // Run 1: the file fails to read 12 MiB in — blocks 0 and 1 (10 MiB) are staged.
    az.proxy.reset();
    const err = await t.put('r/file.bin', failingSource(data, 12 * MiB), meta, { resume: store }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('simulated read error at byte 12582912');
    const firstRun = az.proxy.requestBytes;
    const saved = store.value as BlockResumeState;
    expect(saved).toMatchObject({ v: 1, blob, size: data.length, mtimeMs: 1700000001000, blockSize: BLOCK });
    expect(saved.nonce).toMatch(/^[0-9a-f]{12}$/);
    const staged = await uncommitted(blob);
    expect(staged).toHaveLength(2);
    for (const [i, id] of staged.map((s) => Buffer.from(s, 'base64').toString()).sort().entries()) expect(id).toBe(`${saved.nonce}-00000${i}-${createHash('sha256').update(data.subarray(i * BLOCK, (i + 1) * BLOCK)).digest('hex').slice(0, 32)}`);
    await expect(t.stat('r/file.bin')).rejects.toSatisfy((e) => TargetError.isNotFound(e));
    expect(firstRun).toBeGreaterThanOrEqual(2 * BLOCK);

    const t2 = await target({ prefix: `t${n}` });
    az.proxy.reset();
    const progress: number[] = [];
    await t2.put('r/file.bin', bufferSource(data), meta, { resume: store, onProgress: (b) => progress.push(b) });
    const secondRun = az.proxy.requestBytes;
    const missing = data.length - 2 * BLOCK;
    expect(progress.at(-1)).toBe(missing);
    expect(secondRun).toBeGreaterThanOrEqual(missing);
    expect(secondRun).toBeLessThan(missing + 64 * 1024);
    expect(store.value).toBeUndefined();
    expect((await t2.get('r/file.bin', undefined, readAll)).equals(data)).toBe(true);
    expect(await committedCount(blob)).toBe(6);
    // The SHA-256 of every byte, the skipped blocks' included.
    expect((await t2.stat('r/file.bin')).sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(await uncommitted(blob)).toEqual([]);
    console.info(`azure resume after read error: run 1 sent ${firstRun} bytes, run 2 sent ${secondRun} bytes (file ${data.length}, missing blocks ${missing})`);
  });

  it('resumes after an abort signal mid-upload (the agent stopped), asking the service which blocks it holds', async () => {
    const t = await target({ maxConnections: 1 });
    const data = patternBytes(4 * BLOCK + 333, 13); // 5 blocks
    const meta = { size: data.length, mtimeMs: 1700000002000 };
    const store = memoryResumeStore();
    const ac = new AbortController();
    const err = await t
      .put('a/file.bin', bufferSource(data), meta, {
        resume: store,
        signal: ac.signal,
        onProgress: (sent) => {
          if (sent >= 2 * BLOCK) ac.abort(new Error('agent stopping'));
        },
      })
      .catch((e: unknown) => e);
    expect(TargetError.is(err) || (err as Error).message === 'agent stopping').toBe(true);
    const done = (await uncommitted(`t${n}/a/file.bin`)).length;
    expect(done).toBeGreaterThanOrEqual(2);
    expect(done).toBeLessThan(5);
    await expect(t.stat('a/file.bin')).rejects.toSatisfy((e) => TargetError.isNotFound(e));

    az.proxy.reset();
    await t.put('a/file.bin', bufferSource(data), meta, { resume: store });
    const missing = data.length - done * BLOCK;
    expect(az.proxy.requestBytes).toBeGreaterThanOrEqual(missing);
    expect(az.proxy.requestBytes).toBeLessThan(missing + 64 * 1024);
    expect((await t.get('a/file.bin', undefined, readAll)).equals(data)).toBe(true);
  });

  it('a saved state of another version of the file (other mtime) starts afresh with new block ids', async () => {
    const t = await target();
    const data = patternBytes(2 * BLOCK + 1000, 17);
    const store = memoryResumeStore();
    await t.put('s/file.bin', failingSource(data, BLOCK + 10), { size: data.length, mtimeMs: 1000 }, { resume: store }).catch(() => {});
    const old = store.value as BlockResumeState;
    expect(await uncommitted(`t${n}/s/file.bin`)).toHaveLength(1);

    const changed = patternBytes(2 * BLOCK + 1000, 18);
    az.proxy.reset();
    await t.put('s/file.bin', bufferSource(changed), { size: changed.length, mtimeMs: 2000 }, { resume: store });
    expect(az.proxy.requestBytes).toBeGreaterThanOrEqual(changed.length);
    expect((await t.get('s/file.bin', undefined, readAll)).equals(changed)).toBe(true);
    expect(store.value).toBeUndefined();
    const ids = ((await raw.getBlockBlobClient(`t${n}/s/file.bin`).getBlockList('committed')).committedBlocks ?? []).map((b) => Buffer.from(b.name, 'base64').toString());
    expect(ids.some((id) => id.startsWith(old.nonce))).toBe(false);
    expect(await uncommitted(`t${n}/s/file.bin`)).toEqual([]); // the commit dropped the old version's block
  });

  it('the same size and mtime but other bytes (rewritten in place, mtime put back): a held block of the old bytes is never committed', async () => {
    const t = await target();
    const data = patternBytes(3 * BLOCK, 19);
    const meta = { size: data.length, mtimeMs: 3000 };
    const store = memoryResumeStore();
    await t.put('same/file.bin', failingSource(data, 2 * BLOCK + 10), meta, { resume: store }).catch(() => {});
    expect(await uncommitted(`t${n}/same/file.bin`)).toHaveLength(2);

    const changed = Buffer.from(data);
    changed.fill(0x41, 100, 200); // block 0 differs, block 1 is the same
    az.proxy.reset();
    await t.put('same/file.bin', bufferSource(changed), meta, { resume: store });
    // Block 0 again (its bytes changed) and block 2 (missing); block 1 was held with the same bytes.
    expect(az.proxy.requestBytes).toBeGreaterThanOrEqual(2 * BLOCK);
    expect(az.proxy.requestBytes).toBeLessThan(2 * BLOCK + 64 * 1024);
    expect((await t.get('same/file.bin', undefined, readAll)).equals(changed)).toBe(true);
  });

  it('without a resume store an interrupted upload leaves nothing visible and the old blob intact', async () => {
    const t = await target();
    const data = patternBytes(3 * BLOCK, 23);
    await t.put('x/old.bin', bufferSource('old'), { size: 3 });
    await expect(t.put('x/old.bin', failingSource(data, 2 * BLOCK + 100), { size: data.length })).rejects.toThrow('simulated read error');
    expect((await t.get('x/old.bin', undefined, readAll)).toString()).toBe('old');
    const keys: string[] = [];
    for await (const o of t.list('x/')) keys.push(o.key);
    expect(keys).toEqual(['x/old.bin']);
  });

  it('cleanup removes abandoned uploads older than the cutoff, keeps the protected ones and every committed blob', async () => {
    const t = await target();
    const prefix = `t${n}/`;
    const data = patternBytes(2 * BLOCK + 10, 29);
    const s1 = memoryResumeStore();
    const s2 = memoryResumeStore();
    await t.put('c/abandoned.bin', failingSource(data, BLOCK + 10), { size: data.length }, { resume: s1 }).catch(() => {});
    await t.put('c/kept.bin', failingSource(data, BLOCK + 10), { size: data.length }, { resume: s2 }).catch(() => {});
    await t.put('c/plain.txt', bufferSource('plain'), { size: 5 }); // committed by hokan (with its metadata)
    await raw.getBlockBlobClient(`${prefix}c/other.txt`).upload('by another tool', 15); // committed by someone else

    await t.cleanup({ olderThanMs: 60 * 60 * 1000, keep: () => false }); // all younger than an hour
    expect(await uncommitted(`${prefix}c/abandoned.bin`)).toHaveLength(1);

    await new Promise((r) => setTimeout(r, 1100)); // Azurite's times have whole seconds
    const asked: string[] = [];
    await t.cleanup({ olderThanMs: 10, keep: (k) => (asked.push(k), k === 'c/kept.bin') });
    // Blobs with hokan's metadata are committed: only those without any are looked at.
    expect(asked.sort()).toEqual(['c/abandoned.bin', 'c/kept.bin', 'c/other.txt']);
    expect(await uncommitted(`${prefix}c/abandoned.bin`)).toEqual([]);
    expect(await uncommitted(`${prefix}c/kept.bin`)).toHaveLength(1);
    const listed: string[] = [];
    for await (const b of raw.listBlobsFlat({ prefix, includeUncommitedBlobs: true })) listed.push(b.name);
    expect(listed.sort()).toEqual([`${prefix}c/kept.bin`, `${prefix}c/other.txt`, `${prefix}c/plain.txt`]);

    // The kept one still resumes.
    az.proxy.reset();
    await t.put('c/kept.bin', bufferSource(data), { size: data.length }, { resume: s2 });
    expect(az.proxy.requestBytes).toBeLessThan(data.length - BLOCK + 64 * 1024);
    expect((await t.get('c/kept.bin', undefined, readAll)).equals(data)).toBe(true);
  });

  it('move of a block blob is server-side (Copy Blob, then Delete Blob) and keeps its metadata', async () => {
    const t = await target();
    const data = patternBytes(2 * BLOCK + 777, 31);
    await t.put('m/from name ? & + é.bin', bufferSource(data), { size: data.length, mtimeMs: 1600000000000, sha256: 'cd'.repeat(32) });
    az.proxy.reset();
    await t.move('m/from name ? & + é.bin', 'm/to/ünïcode # %.bin');
    expect(az.proxy.requestBytes).toBeLessThan(64 * 1024); // no re-upload
    await expect(t.stat('m/from name ? & + é.bin')).rejects.toSatisfy((e) => TargetError.isNotFound(e));
    expect(await t.stat('m/to/ünïcode # %.bin')).toEqual({ key: 'm/to/ünïcode # %.bin', size: data.length, mtimeMs: 1600000000000, sha256: 'cd'.repeat(32) });
    expect((await t.get('m/to/ünïcode # %.bin', undefined, readAll)).equals(data)).toBe(true);
  });
});
