/**
 * The s3 target on a stock s3rver (no project middleware), which lacks ListParts (405),
 * ListMultipartUploads (501), AbortMultipartUpload (405) and UploadPartCopy (501): each is found
 * missing once, remembered for the run, and the work gets done another way.
 */
import type { Logger } from '@hokan/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3Target } from '../src/s3-target.js';
import { makeTarget } from './helpers.js';
import { startS3rver, type S3rverHandle } from './s3rver-helper.js';
import { bufferSource, patternBytes, readAll } from './sources-local.js';
import { failingSource, memoryResumeStore, startCountingProxy, type CountingProxy } from './test-utils.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
let s3: S3rverHandle;
let proxy: CountingProxy;
let n = 0;

beforeAll(async () => {
  s3 = await startS3rver({ buckets: ['stock'], stock: true });
  proxy = await startCountingProxy(s3.port);
});
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
});

/** A logger that keeps its info and warn lines. */
function recordingLogger(): Logger & { lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (a: object | string, b?: string) => lines.push({ level, msg: typeof a === 'string' ? a : (b ?? '') });
  const log = { lines, debug() {}, info: at('info'), warn: at('warn'), error: at('error'), child: () => log } as unknown as Logger & { lines: typeof lines };
  return log;
}

async function target(log: Logger, internals = {}): Promise<S3Target> {
  return makeTarget({ ...s3.targetConfig('stock'), endpoint: proxy.endpoint, prefix: `s${++n}/`, partSize: PART, maxConnections: 2 }, internals, log);
}

describe('target-s3 on a stock s3rver', () => {
  it('an interrupted upload that cannot be continued (no ListParts) starts over once, says so, and completes', async () => {
    const log = recordingLogger();
    const t = await target(log);
    const data = patternBytes(4 * PART + 123, 3);
    const meta = { size: data.length, mtimeMs: 1700000002000 };
    const store = memoryResumeStore();
    await expect(t.put('big.bin', failingSource(data, 12 * MiB), meta, { resume: store })).rejects.toThrow(/simulated read error/);
    expect((store.value as { parts: { PartNumber: number }[] }).parts.map((p) => p.PartNumber).sort()).toEqual([1, 2]);

    const outcomes: boolean[] = [];
    proxy.reset();
    await t.put('big.bin', bufferSource(data), meta, { resume: store, onResume: (r) => outcomes.push(r) });
    expect(outcomes).toEqual([false]);
    // Started over: the whole file went up again.
    expect(proxy.requestBytes).toBeGreaterThanOrEqual(data.length);
    expect(store.value).toBeUndefined();
    expect((await t.get('big.bin', undefined, readAll)).equals(data)).toBe(true);
    expect(log.lines).toContainEqual({ level: 'info', msg: 'the S3 server does not implement ListParts (HTTP 405 MethodNotAllowed): an interrupted upload of a large file starts over instead of continuing' });
    expect(log.lines.some((l) => /the upload of s\d+\/big\.bin that an earlier run left unfinished cannot be continued: the S3 server cannot list the parts it holds \(no ListParts\); it starts over/.test(l.msg))).toBe(true);
    expect(t.features.lacks('ListParts')).toBe(true);
    await t[Symbol.asyncDispose]();
  });

  it('cleanup is skipped with a warning (no ListMultipartUploads), once per run', async () => {
    const log = recordingLogger();
    const t = await target(log);
    await expect(t.cleanup({ olderThanMs: 0, keep: () => false })).resolves.toBeUndefined();
    proxy.reset();
    await expect(t.cleanup({ olderThanMs: 0, keep: () => false })).resolves.toBeUndefined();
    expect(proxy.requestBytes).toBe(0); // remembered: not asked again
    const warns = log.lines.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(1);
    expect(warns[0]!.msg).toMatch(/^cleanup skipped: the S3 server cannot list unfinished multipart uploads \(no ListMultipartUploads\)/);
    await t[Symbol.asyncDispose]();
  });

  it('a large object (above the multipart copy threshold) moves by one CopyObject when UploadPartCopy is missing', async () => {
    const log = recordingLogger();
    const t = await target(log, { multipartCopyThreshold: 6 * MiB, copyPartSize: PART });
    const a = patternBytes(3 * PART, 5);
    const b = patternBytes(2 * PART, 6);
    await t.put('gen/a.bin', bufferSource(a), { size: a.length, mtimeMs: 1700000003000 });
    await t.put('gen/b.bin', bufferSource(b), { size: b.length, mtimeMs: 1700000004000 });
    await t.move('gen/a.bin', 'versions/a.bin');
    expect(t.features.lacks('UploadPartCopy')).toBe(true);
    await t.move('gen/b.bin', 'versions/b.bin');
    expect((await t.get('versions/a.bin', undefined, readAll)).equals(a)).toBe(true);
    expect((await t.get('versions/b.bin', undefined, readAll)).equals(b)).toBe(true);
    expect(await t.stat('versions/a.bin')).toMatchObject({ size: a.length, mtimeMs: 1700000003000 });
    await expect(t.stat('gen/a.bin')).rejects.toMatchObject({ kind: 'not-found' });
    expect(log.lines.filter((l) => l.msg.startsWith('the S3 server does not implement UploadPartCopy (HTTP 501 NotImplemented)'))).toHaveLength(1);
    await t[Symbol.asyncDispose]();
  });
});
