import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TargetError, type TargetErrorKind } from '../common/errors.js';
import type { ObjectInfo, RewindableSource, Target } from '../common/target.js';
import { HOSTILE_KEYS, NFC_NAME, NFD_NAME, keyRefusalReason } from './hostile-keys.js';
import { bufferSource, hashStream, patternBytes, readAll, sha256Hex } from './sources.js';

export interface TargetConformanceOptions<T extends Target = Target> {
  /** Shown in the test names: `target conformance: <name>`. */
  name: string;
  /**
   * Returns a fresh, empty target (its own folder, bucket prefix or container). Called before
   * every test, so tests never see each other's objects.
   */
  create(): T | Promise<T>;
  /** Removes what `create` made (called after every test, after the target is disposed). */
  cleanup?(target: T): void | Promise<void>;
  /**
   * Whether the real server this suite needs is there. Return `true`, or a reason string when it is
   * not: the whole suite is then registered as skipped with that reason in its name. CI must
   * provide the server, so use this only for suites that need outside accounts.
   */
  available?: () => boolean | string;
  /** Size of the large object (default 12 MiB); S3-like targets use more than twice their part size. */
  largeObjectSize?: number;
  /** A part size to test ranged reads across (default 5 MiB). */
  partSize?: number;
  /** How many puts run at once in the parallel test (default 32). */
  parallelPuts?: number;
  /** Per-test timeout in milliseconds (default 30 s). */
  timeoutMs?: number;
}

/**
 * The conformance suite every Target passes (restic/rclone style): register it in a spec file
 * with a factory for a real, empty target.
 *
 * ```ts
 * describeTargetConformance({ name: 'hdd', create: () => new HddTarget({ type: 'hdd', path: mkdtempSync(...) }) });
 * ```
 *
 * Capabilities steer the few cases where targets may legitimately differ, and every such case still
 * asserts the declared behaviour rather than being skipped: a key that breaks a declared
 * `forbiddenChars`/`forbiddenTrailingChars`/`maxNameLength` rule must be refused with a
 * `permanent` TargetError and leave nothing behind; with `normalizationInsensitive`, NFC and NFD
 * forms must name one object; with `preservesMtime`, `stat` must return the `mtimeMs` given to `put`.
 */
export function describeTargetConformance<T extends Target>(opts: TargetConformanceOptions<T>): void {
  const avail = opts.available ? opts.available() : true;
  const reason = avail === true ? undefined : avail === false ? 'not available' : avail;
  const large = opts.largeObjectSize ?? 12 * 1024 * 1024;
  const partSize = Math.min(opts.partSize ?? 5 * 1024 * 1024, Math.max(1, large - 1));
  const parallel = opts.parallelPuts ?? 32;
  const timeout = opts.timeoutMs ?? 30_000;

  const title = `target conformance: ${opts.name}${reason ? ` (skipped: ${reason})` : ''}`;
  (reason ? describe.skip : describe)(title, () => {
    let t: T;

    beforeEach(async () => {
      t = await opts.create();
    });

    afterEach(async () => {
      try {
        await t?.[Symbol.asyncDispose]();
      } finally {
        await opts.cleanup?.(t);
      }
    });

    const test = (name: string, fn: () => Promise<void>) => it(name, fn, timeout);

    test('check() passes on a usable target', async () => {
      await expect(t.check()).resolves.toBeUndefined();
      expect(t.capabilities.maxConnections).toBeGreaterThan(0);
      expect(typeof t.capabilities.serverSideMove).toBe('boolean');
    });

    test('stat and get of a missing key are not-found', async () => {
      await expectKind(t.stat('missing/nothing.txt'), 'not-found');
      await expectKind(t.get('missing/nothing.txt', undefined, readAll), 'not-found');
      await expectKind(t.get('nothing-at-top.bin', { start: 0, end: 3 }, readAll), 'not-found');
    });

    test('put then get returns the same bytes; stat returns the size', async () => {
      const data = patternBytes(100_003, 7);
      await put(t, 'put/get/data.bin', data);
      expect(sha256Hex(await t.get('put/get/data.bin', undefined, readAll))).toBe(sha256Hex(data));
      const info = await t.stat('put/get/data.bin');
      expect(info.key).toBe('put/get/data.bin');
      expect(info.size).toBe(data.length);
    });

    test('a small body in irregular chunks, and a text body', async () => {
      const data = patternBytes(10_007, 3);
      await t.put('chunks.bin', bufferSource(data, { chunkSize: 997 }), { size: data.length });
      expect((await t.get('chunks.bin', undefined, readAll)).equals(data)).toBe(true);
      await put(t, 'text.txt', Buffer.from('保管 — hokan\n'));
      expect((await t.get('text.txt', undefined, readAll)).toString('utf8')).toBe('保管 — hokan\n');
    });

    test('ranged reads: start only, start and inclusive end, the last byte, the first byte', async () => {
      const data = patternBytes(4096 + 17, 11);
      await put(t, 'range.bin', data);
      expect((await t.get('range.bin', { start: 1000 }, readAll)).equals(data.subarray(1000))).toBe(true);
      expect((await t.get('range.bin', { start: 10, end: 19 }, readAll)).equals(data.subarray(10, 20))).toBe(true);
      expect((await t.get('range.bin', { start: data.length - 1 }, readAll)).equals(data.subarray(data.length - 1))).toBe(true);
      expect((await t.get('range.bin', { start: data.length - 1, end: data.length - 1 }, readAll)).equals(data.subarray(data.length - 1))).toBe(true);
      expect((await t.get('range.bin', { start: 0, end: 0 }, readAll)).equals(data.subarray(0, 1))).toBe(true);
      expect((await t.get('range.bin', { start: 0 }, readAll)).equals(data)).toBe(true);
    });

    test('a body opened more than once yields the same object (a retried put)', async () => {
      const data = patternBytes(70_001, 5);
      const body = bufferSource(data, { chunkSize: 4093 });
      await t.put('retry/a.bin', body, { size: data.length });
      await t.put('retry/b.bin', body, { size: data.length });
      await t.put('retry/a.bin', body, { size: data.length });
      expect(body.opens).toBeGreaterThanOrEqual(3);
      expect((await t.get('retry/a.bin', undefined, readAll)).equals(data)).toBe(true);
      expect((await t.get('retry/b.bin', undefined, readAll)).equals(data)).toBe(true);
      expect(await listKeys(t, 'retry/')).toEqual(['retry/a.bin', 'retry/b.bin']);
    });

    test('list returns every object exactly once, with sizes, and filters by prefix', async () => {
      const keys: Record<string, number> = {
        'a/b/c.txt': 1,
        'a/b/d.txt': 2,
        'a/bc.txt': 3,
        'a/b2/e': 4,
        'a/x/y/z/deep.bin': 5,
        'ab.txt': 6,
        'top.txt': 7,
      };
      for (const [k, n] of Object.entries(keys)) await put(t, k, patternBytes(n, n));
      const all = await listAll(t, '');
      expect(all.map((i) => i.key).sort()).toEqual(Object.keys(keys).sort());
      for (const i of all) expect(i.size).toBe(keys[i.key]);
      expect(await listKeys(t, 'a/')).toEqual(['a/b/c.txt', 'a/b/d.txt', 'a/b2/e', 'a/bc.txt', 'a/x/y/z/deep.bin']);
      expect(await listKeys(t, 'a/b/')).toEqual(['a/b/c.txt', 'a/b/d.txt']);
      expect(await listKeys(t, 'a/b')).toEqual(['a/b/c.txt', 'a/b/d.txt', 'a/b2/e', 'a/bc.txt']);
      expect(await listKeys(t, 'a')).toEqual(['a/b/c.txt', 'a/b/d.txt', 'a/b2/e', 'a/bc.txt', 'a/x/y/z/deep.bin', 'ab.txt']);
      expect(await listKeys(t, 'a/x/y/')).toEqual(['a/x/y/z/deep.bin']);
      expect(await listKeys(t, 'a/x/y/z/de')).toEqual(['a/x/y/z/deep.bin']);
      expect(await listKeys(t, 'a/b/c.txt')).toEqual(['a/b/c.txt']);
      expect(await listKeys(t, 'nothing/')).toEqual([]);
      expect(await listKeys(t, 'a/b/c.txt/')).toEqual([]);
      expect(await listKeys(t, 'zzz')).toEqual([]);
      expect(await listKeys(t, 't')).toEqual(['top.txt']);
    });

    test('list of an empty target is empty', async () => {
      expect(await listKeys(t, '')).toEqual([]);
    });

    test('overwrite replaces the content and the size', async () => {
      await put(t, 'over/write.txt', patternBytes(5000, 1));
      const small = Buffer.from('short');
      await put(t, 'over/write.txt', small);
      expect((await t.get('over/write.txt', undefined, readAll)).equals(small)).toBe(true);
      expect((await t.stat('over/write.txt')).size).toBe(5);
      const listed = await listAll(t, 'over/');
      expect(listed.map((i) => [i.key, i.size])).toEqual([['over/write.txt', 5]]);
      const big = patternBytes(9000, 2);
      await put(t, 'over/write.txt', big);
      expect((await t.get('over/write.txt', undefined, readAll)).equals(big)).toBe(true);
      expect((await t.stat('over/write.txt')).size).toBe(9000);
    });

    test('move: to a new key, over an existing key, and of a missing key', async () => {
      const one = Buffer.from('one');
      const two = patternBytes(3333, 2);
      await put(t, 'mv/src/one.txt', one);
      await t.move('mv/src/one.txt', 'mv/dst/deeper/one.txt');
      await expectKind(t.stat('mv/src/one.txt'), 'not-found');
      expect((await t.get('mv/dst/deeper/one.txt', undefined, readAll)).equals(one)).toBe(true);
      expect((await t.stat('mv/dst/deeper/one.txt')).size).toBe(3);

      await put(t, 'mv/src/two.bin', two);
      await t.move('mv/src/two.bin', 'mv/dst/deeper/one.txt');
      await expectKind(t.stat('mv/src/two.bin'), 'not-found');
      expect((await t.get('mv/dst/deeper/one.txt', undefined, readAll)).equals(two)).toBe(true);
      expect((await t.stat('mv/dst/deeper/one.txt')).size).toBe(two.length);
      expect(await listKeys(t, 'mv/')).toEqual(['mv/dst/deeper/one.txt']);

      await expectKind(t.move('mv/src/missing.txt', 'mv/dst/x.txt'), 'not-found');
      await expectKind(t.stat('mv/dst/x.txt'), 'not-found');
      expect(await listKeys(t, 'mv/')).toEqual(['mv/dst/deeper/one.txt']);
    });

    test('move with ifAbsent: an object at `to` stays where the target has moveIfAbsent, else it is overwritten', async () => {
      const kept = Buffer.from('the version kept earlier');
      const other = patternBytes(1200, 4);
      const fresh = Buffer.from('fresh');
      await put(t, 'mia/versions/v1/a.txt', kept);
      await put(t, 'mia/live/a.txt', other);
      const r = await t.move('mia/live/a.txt', 'mia/versions/v1/a.txt', { ifAbsent: true, deferSync: true });
      await t.flush?.();
      if (t.capabilities.moveIfAbsent) {
        expect(r).toBe('exists');
        expect((await t.get('mia/versions/v1/a.txt', undefined, readAll)).equals(kept)).toBe(true);
        expect((await t.get('mia/live/a.txt', undefined, readAll)).equals(other)).toBe(true);
      } else {
        expect(r).toBeUndefined();
        expect((await t.get('mia/versions/v1/a.txt', undefined, readAll)).equals(other)).toBe(true);
        await expectKind(t.stat('mia/live/a.txt'), 'not-found');
      }
      // To a key that is free (in a folder not there yet): moved, whatever the capability.
      await put(t, 'mia/live/sub/b.txt', fresh);
      expect(await t.move('mia/live/sub/b.txt', 'mia/versions/v2/sub/b.txt', { ifAbsent: true })).toBeUndefined();
      expect((await t.get('mia/versions/v2/sub/b.txt', undefined, readAll)).equals(fresh)).toBe(true);
      await expectKind(t.stat('mia/live/sub/b.txt'), 'not-found');
      // Of a missing key: not-found, as without it.
      await expectKind(t.move('mia/live/missing.txt', 'mia/versions/v3/missing.txt', { ifAbsent: true }), 'not-found');
    });

    test('move with deferSync, then a put over its source, then flush: both in place (the engine keeping a version)', async () => {
      const old1 = Buffer.from('old one');
      const old2 = patternBytes(2500, 3);
      const next = Buffer.from('the new one');
      await put(t, 'dmv/live/a/one.txt', old1);
      await put(t, 'dmv/live/b/two.bin', old2);
      await put(t, 'dmv/live/b/three.txt', Buffer.from('3'));
      // A replaced file: its version moved aside, the new content put at its key, one flush.
      await t.move('dmv/live/a/one.txt', 'dmv/versions/v1/a/one.txt', { deferSync: true });
      await t.put('dmv/live/a/one.txt', bufferSource(next), { size: next.length }, { deferSync: true });
      // Deleted files: the second empties its folder (a disk prunes it) after the first was moved from it.
      await t.move('dmv/live/b/two.bin', 'dmv/versions/v1/b/two.bin', { deferSync: true });
      await t.move('dmv/live/b/three.txt', 'dmv/versions/v1/b/three.txt', { deferSync: true });
      await t.flush?.();
      expect((await t.get('dmv/versions/v1/a/one.txt', undefined, readAll)).equals(old1)).toBe(true);
      expect((await t.get('dmv/live/a/one.txt', undefined, readAll)).equals(next)).toBe(true);
      expect((await t.get('dmv/versions/v1/b/two.bin', undefined, readAll)).equals(old2)).toBe(true);
      expect(await listKeys(t, 'dmv/')).toEqual(['dmv/live/a/one.txt', 'dmv/versions/v1/a/one.txt', 'dmv/versions/v1/b/three.txt', 'dmv/versions/v1/b/two.bin']);
      // Nothing is left waiting: a second flush has nothing to do and succeeds.
      await t.flush?.();
    });

    test('move keeps mtime where the target keeps it', async () => {
      const mtimeMs = Date.UTC(2021, 4, 6, 7, 8, 10);
      await t.put('mvm/a.txt', bufferSource('a'), { size: 1, mtimeMs });
      await t.move('mvm/a.txt', 'mvm/b.txt');
      const info = await t.stat('mvm/b.txt');
      if (t.capabilities.preservesMtime) expect(info.mtimeMs).toBe(mtimeMs);
      expect(info.size).toBe(1);
    });

    test('remove: an existing key, then a missing key is fine', async () => {
      await put(t, 'rm/x/one.txt', Buffer.from('1'));
      await put(t, 'rm/keep.txt', Buffer.from('2'));
      await t.remove('rm/x/one.txt');
      await expectKind(t.stat('rm/x/one.txt'), 'not-found');
      await expectKind(t.get('rm/x/one.txt', undefined, readAll), 'not-found');
      expect(await listKeys(t, 'rm/')).toEqual(['rm/keep.txt']);
      await expect(t.remove('rm/x/one.txt')).resolves.toBeUndefined();
      await expect(t.remove('rm/never/was.txt')).resolves.toBeUndefined();
      expect((await t.get('rm/keep.txt', undefined, readAll)).toString()).toBe('2');
      // The removed key can be written again.
      await put(t, 'rm/x/one.txt', Buffer.from('again'));
      expect((await t.get('rm/x/one.txt', undefined, readAll)).toString()).toBe('again');
    });

    test('zero-length objects', async () => {
      await put(t, 'empty/zero.bin', Buffer.alloc(0));
      expect((await t.get('empty/zero.bin', undefined, readAll)).length).toBe(0);
      expect((await t.stat('empty/zero.bin')).size).toBe(0);
      expect((await listAll(t, 'empty/')).map((i) => [i.key, i.size])).toEqual([['empty/zero.bin', 0]]);
      await t.move('empty/zero.bin', 'empty/moved.bin');
      expect((await t.stat('empty/moved.bin')).size).toBe(0);
      await put(t, 'empty/moved.bin', Buffer.from('now full'));
      await put(t, 'empty/moved.bin', Buffer.alloc(0));
      expect((await t.get('empty/moved.bin', undefined, readAll)).length).toBe(0);
    });

    test(`a multi-part-sized object (${large} bytes) is byte-identical, also in ranges across parts`, async () => {
      const data = patternBytes(large, 42);
      await t.put('large/object.bin', bufferSource(data, { chunkSize: 256 * 1024 }), { size: data.length });
      expect(await t.get('large/object.bin', undefined, hashStream)).toEqual({ size: data.length, sha256: sha256Hex(data) });
      expect((await t.stat('large/object.bin')).size).toBe(data.length);
      const s = partSize - 100;
      const e = Math.min(data.length - 1, partSize + 100);
      expect((await t.get('large/object.bin', { start: s, end: e }, readAll)).equals(data.subarray(s, e + 1))).toBe(true);
      const tail = await t.get('large/object.bin', { start: data.length - 10 }, readAll);
      expect(tail.equals(data.subarray(data.length - 10))).toBe(true);
    });

    test('hostile keys round-trip exactly, or are refused as the capabilities declare', async () => {
      let held = 0;
      for (const [i, key] of HOSTILE_KEYS.entries()) {
        const data = Buffer.from(`hostile ${i}: ${key}`);
        const why = keyRefusalReason(key, t.capabilities);
        if (why) {
          await expectKind(put(t, key, data), 'permanent');
          await expectKind(t.stat(key), ['not-found', 'permanent']);
          continue;
        }
        held++;
        await put(t, key, data);
        expect((await t.stat(key)).size).toBe(data.length);
        expect((await t.get(key, undefined, readAll)).equals(data)).toBe(true);
        expect(await listKeys(t, key)).toEqual([key]);
        const dir = key.slice(0, key.lastIndexOf('/') + 1);
        expect(await listKeys(t, dir)).toContain(key);
      }
      const expected = HOSTILE_KEYS.filter((k) => !keyRefusalReason(k, t.capabilities)).sort(byCodeUnits);
      expect(await listKeys(t, '')).toEqual(expected);
      expect(held).toBe(expected.length);
      // A hostile key can be moved and removed like any other.
      for (const key of expected.slice(0, 3)) {
        await t.move(key, `${key}.moved`);
        await expectKind(t.stat(key), 'not-found');
        expect((await t.get(`${key}.moved`, undefined, readAll)).length).toBeGreaterThan(0);
        await t.remove(`${key}.moved`);
      }
    });

    test('the same name in NFC and NFD forms: two distinct keys (or one object where declared)', async () => {
      expect(NFC_NAME).not.toBe(NFD_NAME);
      const nfc = `unicode/${NFC_NAME}`;
      const nfd = `unicode/${NFD_NAME}`;
      await put(t, nfc, Buffer.from('nfc'));
      await put(t, nfd, Buffer.from('nfd-form'));
      if (t.capabilities.normalizationInsensitive) {
        // Declared: both forms name one object, so the second put replaced the first.
        expect((await t.get(nfc, undefined, readAll)).toString()).toBe('nfd-form');
        expect((await t.get(nfd, undefined, readAll)).toString()).toBe('nfd-form');
        expect(await listAll(t, 'unicode/')).toHaveLength(1);
      } else {
        expect((await t.get(nfc, undefined, readAll)).toString()).toBe('nfc');
        expect((await t.get(nfd, undefined, readAll)).toString()).toBe('nfd-form');
        expect((await t.stat(nfc)).size).toBe(3);
        expect((await t.stat(nfd)).size).toBe(8);
        expect(await listKeys(t, 'unicode/')).toEqual([nfc, nfd].sort(byCodeUnits));
        await t.remove(nfc);
        expect(await listKeys(t, 'unicode/')).toEqual([nfd]);
      }
    });

    test(`${parallel} parallel puts are all readable after`, async () => {
      const items = Array.from({ length: parallel }, (_, i) => ({ key: `par/${i % 4}/item-${i}.bin`, data: patternBytes(1000 + i * 37, i + 1) }));
      await Promise.all(items.map((x) => put(t, x.key, x.data)));
      const listed = await listAll(t, 'par/');
      expect(listed.map((i) => i.key).sort()).toEqual(items.map((x) => x.key).sort());
      for (const x of items) expect((await t.get(x.key, undefined, readAll)).equals(x.data)).toBe(true);
    });

    test('parallel puts to the same key leave one whole version', async () => {
      // Several rounds: a race between overwrites (Apache's MOVE deletes the destination first) shows
      // in only some of them.
      for (let round = 0; round < 6; round++) {
        const versions = Array.from({ length: 8 }, (_, i) => patternBytes(20_000 + i, i + 100 + round));
        await Promise.all(versions.map((v) => put(t, 'same/key.bin', v)));
        const got = await t.get('same/key.bin', undefined, readAll);
        expect(versions.some((v) => v.equals(got))).toBe(true);
        expect(await listKeys(t, 'same/')).toEqual(['same/key.bin']);
      }
    });

    test('a put aborted mid-stream leaves nothing visible, and an old object survives intact', async () => {
      const old = Buffer.from('the old version');
      await put(t, 'abort/kept.txt', old);
      for (const key of ['abort/new.bin', 'abort/kept.txt']) {
        const ac = new AbortController();
        const body = stallingSource(256 * 1024, 64 * 1024, () => ac.abort(new Error('stop')));
        const p = t.put(key, body, { size: body.size }, { signal: ac.signal });
        await expect(withDeadline(p, 5000, 'put did not stop within 5 s of its signal being aborted')).rejects.not.toThrow(/did not stop/);
      }
      await expectKind(t.stat('abort/new.bin'), 'not-found');
      expect((await t.get('abort/kept.txt', undefined, readAll)).equals(old)).toBe(true);
      expect((await t.stat('abort/kept.txt')).size).toBe(old.length);
      expect(await listKeys(t, 'abort/')).toEqual(['abort/kept.txt']);
    });

    test('a put whose body fails mid-way leaves nothing visible, and an old object survives intact', async () => {
      const old = Buffer.from('old');
      await put(t, 'fail/kept.txt', old);
      for (const key of ['fail/new.bin', 'fail/kept.txt']) {
        const body = failingSource(300_000, 100_000);
        await expect(t.put(key, body, { size: body.size })).rejects.toBeDefined();
      }
      await expectKind(t.stat('fail/new.bin'), 'not-found');
      expect((await t.get('fail/kept.txt', undefined, readAll)).equals(old)).toBe(true);
      expect(await listKeys(t, 'fail/')).toEqual(['fail/kept.txt']);
    });

    test('a put with an already aborted signal writes nothing', async () => {
      const ac = new AbortController();
      ac.abort(new Error('never started'));
      await expect(t.put('pre/aborted.txt', bufferSource('x'), { size: 1 }, { signal: ac.signal })).rejects.toBeDefined();
      expect(await listKeys(t, 'pre/')).toEqual([]);
    });

    test('stat returns size and the mtime given to put', async () => {
      const mtimeMs = Date.UTC(2020, 0, 2, 3, 4, 6); // whole, even seconds: exact on every file system
      await t.put('meta/dated.txt', bufferSource('dated'), { size: 5, mtimeMs });
      const info = await t.stat('meta/dated.txt');
      expect(info.size).toBe(5);
      if (t.capabilities.preservesMtime) {
        expect(info.mtimeMs).toBe(mtimeMs);
        const listed = await listAll(t, 'meta/');
        expect(listed[0]!.mtimeMs).toBe(mtimeMs);
      } else if (info.mtimeMs !== undefined) {
        expect(Number.isFinite(info.mtimeMs)).toBe(true);
      }
    });

    test('get closes the stream when consume returns early, and passes consume errors through', async () => {
      const data = patternBytes(1024 * 1024, 9);
      await put(t, 'early/big.bin', data);
      const first = await t.get('early/big.bin', undefined, async (body) => {
        for await (const c of body) return (c as Buffer).subarray(0, 4);
        return Buffer.alloc(0);
      });
      expect(first.equals(data.subarray(0, 4))).toBe(true);
      const mine = new Error('consumer failed');
      await expect(t.get('early/big.bin', undefined, async () => Promise.reject(mine))).rejects.toBe(mine);
      // The object is not held open: it can be replaced and removed.
      await put(t, 'early/big.bin', Buffer.from('small'));
      await t.remove('early/big.bin');
      await expectKind(t.stat('early/big.bin'), 'not-found');
    });
  });
}

// ---------------------------------------------------------------------------------------------

async function put(t: Target, key: string, data: Buffer): Promise<void> {
  await t.put(key, bufferSource(data), { size: data.length });
}

async function listAll(t: Target, prefix: string): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const i of t.list(prefix)) out.push(i);
  return out;
}

/** Listed keys, sorted by UTF-16 code units; fails on a key listed twice. */
async function listKeys(t: Target, prefix: string): Promise<string[]> {
  const keys = (await listAll(t, prefix)).map((i) => i.key);
  expect(new Set(keys).size, `list(${JSON.stringify(prefix)}) returned a key twice: ${keys.join(', ')}`).toBe(keys.length);
  for (const k of keys) expect(k.startsWith(prefix)).toBe(true);
  return keys.sort(byCodeUnits);
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function expectKind(p: Promise<unknown>, kind: TargetErrorKind | TargetErrorKind[]): Promise<void> {
  const kinds = Array.isArray(kind) ? kind : [kind];
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  expect(error, `expected a TargetError of kind ${kinds.join(' or ')}`).toBeDefined();
  expect(TargetError.is(error), `expected a TargetError, got ${String(error)}`).toBe(true);
  expect(kinds).toContain((error as TargetError).kind);
}

/** `p`, or a rejection with `message` after `ms`. */
function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** A body that yields `before` bytes, calls `onStall`, then never yields more until destroyed. */
function stallingSource(size: number, before: number, onStall: () => void): RewindableSource {
  return {
    size,
    open(): Readable {
      let sent = 0;
      let stalled = false;
      return new Readable({
        read() {
          if (sent < before) {
            const n = Math.min(16 * 1024, before - sent);
            sent += n;
            this.push(patternBytes(n, sent));
          } else if (!stalled) {
            stalled = true;
            setTimeout(onStall, 20);
          }
        },
      });
    },
  };
}

/** A body that yields `before` bytes and then errors (a source file that became unreadable). */
function failingSource(size: number, before: number): RewindableSource {
  return {
    size,
    open(): Readable {
      let sent = 0;
      return new Readable({
        read() {
          if (sent < before) {
            const n = Math.min(16 * 1024, before - sent);
            sent += n;
            this.push(patternBytes(n, sent));
          } else {
            this.destroy(Object.assign(new Error('EIO: the source went away'), { code: 'EIO' }));
          }
        },
      });
    },
  };
}
