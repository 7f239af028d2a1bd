import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryTarget } from '../../testing/memory-target.js';
import { bufferSource } from '../../testing/sources.js';
import { JobStore } from './job-store.js';
import { FSYNC_EACH_MAX } from '../disk/fsync.js';
import { RANGE_SIZE, RANGED_MIN, RestoreDurability, RestoreWriter } from './restore-writer.js';

// The streamed path's parallel ranged reads (targets without getToFile, e.g. S3): the bytes come
// back whole and hashed in order, a failed range is read again alone, and a damaged object never
// reaches its final name. (The whole restore through both paths: test/restore-speed.spec.ts.)
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-restore-writer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(data: Buffer) {
  const mt = new MemoryTarget({ capabilities: { maxConnections: 8 } });
  await mt.put('job/f.bin', bufferSource(data), { size: data.length });
  const writer = new RestoreWriter({ id: 'mem', target: mt, store: new JobStore(mt, 'job') });
  let n = 0;
  const tmp = async () => join(dir, `tmp-${++n}`);
  const ver = { v: 'r1', size: data.length, mtimeMs: 1_704_067_200_733, sha256: createHash('sha256').update(data).digest('hex'), mode: 0o640 };
  return { mt, writer, tmp, ver };
}

describe('RestoreWriter, ranged reads', () => {
  it('reads a big object in ranges; a range that fails is retried alone; mtime and mode set', { timeout: 20_000 }, async () => {
    const data = randomBytes(RANGED_MIN + 3 * RANGE_SIZE + 5); // 8 ranges, the last of 5 bytes
    const { mt, writer, tmp, ver } = await setup(data);
    mt.injectFault({ op: 'get', key: 'job/f.bin', nth: 3, times: 1 });
    const before = mt.calls.get;
    const dest = join(dir, 'f.bin');
    let last = 0;
    await writer.write({ keys: ['f.bin'], ver, tmp, dest }, { onBytes: (b) => (last = Math.max(last, b)) });
    expect((await readFile(dest)).equals(data)).toBe(true);
    expect(mt.calls.get - before).toBe(Math.ceil(data.length / RANGE_SIZE) + 1);
    expect(last).toBe(data.length);
    const st = await stat(dest);
    expect([Math.round(st.mtimeMs), st.mode & 0o777]).toEqual([ver.mtimeMs, 0o640]);
    expect(await readdir(dir)).toEqual(['f.bin']);
  });

  it('a damaged big object is E_HASH_MISMATCH naming the target and key, and nothing is left', async () => {
    const data = randomBytes(RANGED_MIN + 1);
    const { mt, writer, tmp, ver } = await setup(data);
    const bad = Buffer.from(data);
    bad[RANGE_SIZE + 7] ^= 1;
    await mt.put('job/f.bin', bufferSource(bad), { size: bad.length });
    const dest = join(dir, 'f.bin');
    await expect(writer.write({ keys: ['f.bin'], ver, tmp, dest })).rejects.toMatchObject({ code: 'E_HASH_MISMATCH', message: expect.stringContaining('the copy on mem (job/f.bin) does not match') });
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('RestoreDurability, windows', () => {
  /** Lands `n` small files one after another, each in a later turn of the event loop (as a restore paced by the network does). */
  async function land(d: RestoreDurability, from: number, n: number) {
    for (let i = from; i < from + n; i++) {
      const f = join(dir, `f${i}`);
      await writeFile(f, `file ${i}`);
      d.landed(f, 6);
      await new Promise((r) => setImmediate(r));
    }
  }

  it('the clock closes no window of a few files (no fsync of each file on the way): the end flushes them once', async () => {
    const d = new RestoreDurability({ files: 1000, bytes: 1 << 30, ms: 0 }); // every window is "old"
    d.roots.add(dir);
    await land(d, 0, 40);
    expect(d.flushes).toBe(0);
    await d.finish();
    expect(d.flushes).toBe(1);
  });

  it('a window of more than FSYNC_EACH_MAX files closes by the clock; one full by count or bytes at once', async () => {
    const d = new RestoreDurability({ files: 1000, bytes: 1 << 30, ms: 0 });
    d.roots.add(dir);
    await land(d, 0, FSYNC_EACH_MAX);
    expect(d.flushes).toBe(0);
    await land(d, FSYNC_EACH_MAX, 6); // the first of these closes the window by the clock
    expect(d.flushes).toBe(1);
    await d.finish(); // the last 5
    expect(d.flushes).toBe(2);
    const big = new RestoreDurability({ files: 1000, bytes: 100, ms: 60_000 });
    big.roots.add(dir);
    await writeFile(join(dir, 'big'), 'x');
    big.landed(join(dir, 'big'), 100);
    expect(big.flushes).toBe(1);
    await big.finish();
  });
});
