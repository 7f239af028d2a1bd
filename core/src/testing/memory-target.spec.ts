import { describe, expect, it } from 'vitest';
import { TargetError } from '../common/errors.js';
import { describeTargetConformance } from './conformance.js';
import { MemoryTarget } from './memory-target.js';
import { bufferSource, readAll } from './sources.js';

describeTargetConformance({ name: 'memory', create: () => new MemoryTarget() });
describeTargetConformance({
  name: 'memory (windows-like, normalization-insensitive)',
  create: () =>
    new MemoryTarget({
      capabilities: { forbiddenChars: '\\:*?"<>|', forbiddenTrailingChars: ' .', maxNameLength: 255, normalizationInsensitive: true, preservesMtime: false },
    }),
});

describe('MemoryTarget faults', () => {
  it('fails the Nth put with the chosen kind, once, and leaves nothing behind', async () => {
    const t = new MemoryTarget({ faults: [{ op: 'put', nth: 2, kind: 'transient' }] });
    await t.put('a', bufferSource('1'), { size: 1 });
    const e = await t.put('b', bufferSource('2'), { size: 1 }).catch((x: unknown) => x);
    expect(TargetError.isTransient(e)).toBe(true);
    expect(t.keys()).toEqual(['a']);
    await t.put('b', bufferSource('2'), { size: 1 });
    expect(t.keys()).toEqual(['a', 'b']);
    expect(t.calls.put).toBe(3);
  });

  it('fails a put after part of the body was read', async () => {
    const t = new MemoryTarget();
    const body = bufferSource(Buffer.alloc(100_000, 1), { chunkSize: 10_000 });
    t.injectFault({ op: 'put', key: /\.bin$/, afterBytes: 30_000, kind: 'permanent' });
    let progress = 0;
    const e = await t.put('x.bin', body, { size: body.size }, { onProgress: (n) => (progress = n) }).catch((x: unknown) => x);
    expect(TargetError.isKind(e, 'permanent')).toBe(true);
    expect(progress).toBe(30_000);
    expect(t.peek('x.bin')).toBeUndefined();
  });

  it('a fault matches by key, every time until disposed', async () => {
    const t = new MemoryTarget();
    const d = t.injectFault({ op: 'stat', key: 'k', kind: 'auth' });
    await t.put('k', bufferSource('v'), { size: 1 });
    for (let i = 0; i < 3; i++) expect(TargetError.isKind(await t.stat('k').catch((x: unknown) => x), 'auth')).toBe(true);
    await d.dispose();
    expect((await t.stat('k')).size).toBe(1);
  });

  it('a custom error value is thrown as is', async () => {
    const bug = new Error('target bug');
    const t = new MemoryTarget({ faults: [{ op: '*', error: () => bug, times: 1 }] });
    await expect(t.check()).rejects.toBe(bug);
    await expect(t.check()).resolves.toBeUndefined();
  });

  it('quota: a put that does not fit is a quota error; overwrites count the old size once', async () => {
    const t = new MemoryTarget({ quotaBytes: 10 });
    await t.put('a', bufferSource('12345678'), { size: 8 });
    expect(TargetError.isKind(await t.put('b', bufferSource('123'), { size: 3 }).catch((x: unknown) => x), 'quota')).toBe(true);
    await t.put('a', bufferSource('1234567890'), { size: 10 });
    expect(await t.usage()).toEqual({ used: 10, free: 0 });
  });

  it('unplugged: every call is unavailable; plugged back in, the data is there', async () => {
    const t = new MemoryTarget();
    await t.put('a', bufferSource('x'), { size: 1 });
    t.setAvailable(false);
    for (const p of [t.check(), t.stat('a'), t.get('a', undefined, readAll), t.remove('a'), t.put('b', bufferSource('y'), { size: 1 })]) {
      expect(TargetError.isKind(await p.catch((x: unknown) => x), 'unavailable')).toBe(true);
    }
    t.setAvailable(true);
    expect((await t.get('a', undefined, readAll)).toString()).toBe('x');
  });

  it('counts concurrent puts', async () => {
    const t = new MemoryTarget({ latencyMs: 5 });
    await Promise.all(Array.from({ length: 6 }, (_, i) => t.put(`k${i}`, bufferSource('v'), { size: 1 })));
    expect(t.maxInFlight).toBeGreaterThan(1);
    expect(t.inFlight).toBe(0);
  });
});
