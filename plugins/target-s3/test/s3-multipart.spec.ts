/**
 * Multipart uploads against a real s3rver: byte-identical objects, resume after an interruption
 * (bytes on the wire counted by a TCP proxy), a stale saved state, cleanup of abandoned uploads and a
 * server-side move of a multipart-sized object.
 */
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { TargetError } from '@hokan/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MultipartResumeState } from '../src/multipart-upload.js';
import type { S3Target } from '../src/s3-target.js';
import { makeTarget } from './helpers.js';
import { S3RVER_CREDENTIALS, startS3rver, type S3rverHandle } from './s3rver-helper.js';
import { failingSource, memoryResumeStore, startCountingProxy, trackingSource, type CountingProxy } from './test-utils.js';
import { bufferSource, patternBytes, readAll } from './sources-local.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const BUCKET = 'mp';

let s3: S3rverHandle;
let proxy: CountingProxy;
let raw: S3Client;
let n = 0;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: [BUCKET] });
  proxy = await startCountingProxy(s3.port);
  raw = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...S3RVER_CREDENTIALS } });
});

afterAll(async () => {
  raw?.destroy();
  await proxy?.close();
  await s3?.stop();
});

/** A target through the counting proxy, under its own prefix. */
async function target(extra: Record<string, unknown> = {}, internals = {}): Promise<S3Target> {
  return makeTarget({ ...s3.targetConfig(BUCKET), endpoint: proxy.endpoint, prefix: `t${++n}`, partSize: PART, maxConnections: 2, ...extra }, internals);
}

async function uploadsUnder(prefix: string) {
  const r = await raw.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
  return r.Uploads ?? [];
}

async function getAll(t: S3Target, key: string): Promise<Buffer> {
  return t.get(key, undefined, readAll);
}

describe('target-s3 multipart', () => {
  it('a multipart-sized object is byte-identical, carries mtime and sha256, and the body is read once from 0', async () => {
    const t = await target();
    const data = patternBytes(3 * PART + 12345, 7);
    const src = trackingSource(data);
    proxy.reset();
    const progress: number[] = [];
    await t.put('big/file.bin', src, { size: data.length, mtimeMs: 1700000000123, sha256: 'ab'.repeat(32) }, { onProgress: (b) => progress.push(b) });
    expect(src.opens).toEqual([0]);
    expect(src.bytesRead).toBe(data.length);
    expect(progress.at(-1)).toBe(data.length);
    expect(proxy.requestBytes).toBeGreaterThanOrEqual(data.length);
    expect(proxy.requestBytes).toBeLessThan(data.length + 64 * 1024);
    expect((await getAll(t, 'big/file.bin')).equals(data)).toBe(true);
    expect(await t.stat('big/file.bin')).toEqual({ key: 'big/file.bin', size: data.length, mtimeMs: 1700000000123, sha256: 'ab'.repeat(32) });
    expect(await uploadsUnder('t')).toEqual([]);
    await t[Symbol.asyncDispose]();
  });

  it('resumes after a read error: the second run sends only the missing parts', async () => {
    const t = await target();
    const data = patternBytes(5 * PART + 1 * MiB, 11); // 6 parts: five of 5 MiB and one of 1 MiB
    const meta = { size: data.length, mtimeMs: 1700000001000 };
    const store = memoryResumeStore();

    // Run 1: the file fails to read 12 MiB in — parts 1 and 2 (10 MiB) are on the server.
    proxy.reset();
    const err = await t.put('r/file.bin', failingSource(data, 12 * MiB), meta, { resume: store }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('simulated read error at byte 12582912');
    const firstRun = proxy.requestBytes;
    const saved = store.value as MultipartResumeState;
    expect(saved).toMatchObject({ v: 1, key: `t${n}/r/file.bin`, size: data.length, mtimeMs: 1700000001000, partSize: PART });
    expect(saved.parts.map((p) => p.PartNumber).sort()).toEqual([1, 2]);
    expect(saved.parts.every((p) => p.size === PART)).toBe(true);
    await expect(t.stat('r/file.bin')).rejects.toSatisfy((e) => TargetError.isNotFound(e));
    expect((await uploadsUnder(`t${n}/`)).map((u) => u.UploadId)).toEqual([saved.uploadId]);

    // Run 2 (a new target object, as after a restart): only parts 3..6 = 16 MiB go over the wire.
    const t2 = await target({ prefix: `t${n}` });
    proxy.reset();
    const src = trackingSource(data);
    const progress: number[] = [];
    await t2.put('r/file.bin', src, meta, { resume: store, onProgress: (b) => progress.push(b) });
    const secondRun = proxy.requestBytes;
    const missing = data.length - 2 * PART;
    expect(src.opens).toEqual([0]); // read from 0: the skipped 10 MiB were read (and hashed by whoever wraps the source) but not sent
    expect(src.bytesRead).toBe(data.length);
    expect(progress.at(-1)).toBe(missing);
    expect(secondRun).toBeGreaterThanOrEqual(missing);
    expect(secondRun).toBeLessThan(missing + 64 * 1024);
    expect(firstRun).toBeGreaterThanOrEqual(2 * PART);
    expect(store.value).toBeUndefined();
    expect((await getAll(t2, 'r/file.bin')).equals(data)).toBe(true);
    expect(await uploadsUnder(`t${n}/`)).toEqual([]);
    console.info(`resume after read error: run 1 sent ${firstRun} bytes, run 2 sent ${secondRun} bytes (file ${data.length}, missing parts ${missing})`);
    await t[Symbol.asyncDispose]();
    await t2[Symbol.asyncDispose]();
  });

  it('resumes after an abort signal mid-upload (the agent stopped), using ListParts for what the server holds', async () => {
    const t = await target({ maxConnections: 1 });
    const data = patternBytes(4 * PART + 333, 13); // 5 parts
    const meta = { size: data.length, mtimeMs: 1700000002000 };
    const store = memoryResumeStore();
    const ac = new AbortController();
    proxy.reset();
    const err = await t
      .put('a/file.bin', bufferSource(data), meta, {
        resume: store,
        signal: ac.signal,
        onProgress: (sent) => {
          if (sent >= 2 * PART) ac.abort(new Error('agent stopping'));
        },
      })
      .catch((e: unknown) => e);
    expect(TargetError.is(err) || (err as Error).message === 'agent stopping').toBe(true);
    const firstRun = proxy.requestBytes;
    const saved = store.value as MultipartResumeState;
    const done = saved.parts.length;
    expect(done).toBeGreaterThanOrEqual(2);
    expect(done).toBeLessThan(5);
    await expect(t.stat('a/file.bin')).rejects.toSatisfy((e) => TargetError.isNotFound(e));

    // Forget what the state says about parts: the server's ListParts is the truth.
    store.value = { ...saved, parts: [] };
    proxy.reset();
    await t.put('a/file.bin', bufferSource(data), meta, { resume: store });
    const secondRun = proxy.requestBytes;
    const missing = data.length - done * PART;
    expect(secondRun).toBeGreaterThanOrEqual(missing);
    expect(secondRun).toBeLessThan(missing + 64 * 1024);
    expect((await getAll(t, 'a/file.bin')).equals(data)).toBe(true);
    console.info(`resume after abort: run 1 sent ${firstRun} bytes (${done} parts held), run 2 sent ${secondRun} bytes (missing ${missing})`);
    await t[Symbol.asyncDispose]();
  });

  it('a saved state that no longer matches the file aborts the old upload and starts afresh', async () => {
    const t = await target();
    const data = patternBytes(2 * PART + 1000, 17);
    const store = memoryResumeStore();
    await t.put('s/file.bin', failingSource(data, PART + 10), { size: data.length, mtimeMs: 1000 }, { resume: store }).catch(() => {});
    const old = store.value as MultipartResumeState;
    expect(old.parts).toHaveLength(1);

    const changed = patternBytes(2 * PART + 1000, 18);
    proxy.reset();
    await t.put('s/file.bin', bufferSource(changed), { size: changed.length, mtimeMs: 2000 }, { resume: store });
    expect(proxy.requestBytes).toBeGreaterThanOrEqual(changed.length);
    expect((await getAll(t, 's/file.bin')).equals(changed)).toBe(true);
    expect(store.value).toBeUndefined();
    expect(await uploadsUnder(`t${n}/`)).toEqual([]); // the old upload was aborted, not left behind
    await t[Symbol.asyncDispose]();
  });

  it('a saved upload the server no longer has (completed or aborted elsewhere) starts afresh', async () => {
    const t = await target();
    const data = patternBytes(2 * PART + 5, 19);
    const store = memoryResumeStore();
    store.value = { v: 1, uploadId: 'deadbeefdeadbeefdeadbeefdeadbeef', key: `t${n}/g/file.bin`, size: data.length, mtimeMs: 5, partSize: PART, parts: [{ PartNumber: 1, ETag: '"x"', size: PART }] };
    await t.put('g/file.bin', bufferSource(data), { size: data.length, mtimeMs: 5 }, { resume: store });
    expect((await getAll(t, 'g/file.bin')).equals(data)).toBe(true);
    expect(store.value).toBeUndefined();
    await t[Symbol.asyncDispose]();
  });

  it('without a resume store an interrupted multipart upload is aborted at once and nothing is visible', async () => {
    const t = await target();
    const data = patternBytes(3 * PART, 23);
    await t.put('x/old.bin', bufferSource(Buffer.from('old')), { size: 3 });
    await expect(t.put('x/old.bin', failingSource(data, 2 * PART + 100), { size: data.length })).rejects.toThrow('simulated read error');
    expect(await uploadsUnder(`t${n}/`)).toEqual([]);
    expect((await getAll(t, 'x/old.bin')).toString()).toBe('old');
    await t[Symbol.asyncDispose]();
  });

  it('cleanup aborts abandoned uploads older than the cutoff and keeps the protected ones', async () => {
    const t = await target();
    const prefix = `t${n}/`;
    const data = patternBytes(2 * PART + 10, 29);
    const s1 = memoryResumeStore();
    const s2 = memoryResumeStore();
    await t.put('c/abandoned.bin', failingSource(data, PART + 10), { size: data.length }, { resume: s1 }).catch(() => {});
    await t.put('c/kept.bin', failingSource(data, PART + 10), { size: data.length }, { resume: s2 }).catch(() => {});
    expect((await uploadsUnder(prefix)).map((u) => u.Key).sort()).toEqual([`${prefix}c/abandoned.bin`, `${prefix}c/kept.bin`]);

    await t.cleanup({ olderThanMs: 60 * 60 * 1000, keep: () => false }); // both are younger than an hour
    expect(await uploadsUnder(prefix)).toHaveLength(2);

    await new Promise((r) => setTimeout(r, 20));
    const asked: string[] = [];
    await t.cleanup({ olderThanMs: 10, keep: (k) => (asked.push(k), k === 'c/kept.bin') });
    expect(asked.sort()).toEqual(['c/abandoned.bin', 'c/kept.bin']); // keys relative to the prefix
    expect((await uploadsUnder(prefix)).map((u) => u.Key)).toEqual([`${prefix}c/kept.bin`]);

    // The kept one still resumes.
    await t.put('c/kept.bin', bufferSource(data), { size: data.length }, { resume: s2 });
    expect((await getAll(t, 'c/kept.bin')).equals(data)).toBe(true);
    expect(await uploadsUnder(prefix)).toEqual([]);
    await t[Symbol.asyncDispose]();
  });

  it('move of a multipart-sized object is server-side (CopyObject, and UploadPartCopy above the threshold)', async () => {
    const t = await target({}, { multipartCopyThreshold: PART, copyPartSize: PART });
    const data = patternBytes(2 * PART + 777, 31);
    await t.put('m/from name ? & + é.bin', bufferSource(data), { size: data.length, mtimeMs: 1600000000000, sha256: 'cd'.repeat(32) });
    proxy.reset();
    await t.move('m/from name ? & + é.bin', 'm/to/ünïcode # %.bin');
    expect(proxy.requestBytes).toBeLessThan(64 * 1024); // no re-upload
    await expect(t.stat('m/from name ? & + é.bin')).rejects.toSatisfy((e) => TargetError.isNotFound(e));
    expect(await t.stat('m/to/ünïcode # %.bin')).toEqual({ key: 'm/to/ünïcode # %.bin', size: data.length, mtimeMs: 1600000000000, sha256: 'cd'.repeat(32) });
    expect((await getAll(t, 'm/to/ünïcode # %.bin')).equals(data)).toBe(true);
    expect(await uploadsUnder(`t${n}/`)).toEqual([]);

    const t2 = await target({ prefix: `t${n}` }); // default threshold: one CopyObject
    proxy.reset();
    await t2.move('m/to/ünïcode # %.bin', 'm/again.bin');
    expect(proxy.requestBytes).toBeLessThan(64 * 1024);
    expect((await getAll(t2, 'm/again.bin')).equals(data)).toBe(true);
    expect((await t2.stat('m/again.bin')).mtimeMs).toBe(1600000000000);
    await t[Symbol.asyncDispose]();
    await t2[Symbol.asyncDispose]();
  });
});
