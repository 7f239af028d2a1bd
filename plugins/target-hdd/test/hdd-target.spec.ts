import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Container, FSYNC_EACH_MAX, TargetContribution, TargetError, keepHelpers, nullLogger, type TargetContribution as TargetContributionType } from '@hokan/core';
import { bufferSource, describeTargetConformance, patternBytes, readAll, sha256Hex } from '@hokan/core/testing';
import plugin, { HddTarget, TEMP_PREFIX } from '../src/index.js';

const base = mkdtempSync(join(tmpdir(), 'hokan-hdd-'));
afterAll(async () => {
  await fs.rm(base, { recursive: true, force: true });
});
let n = 0;
const freshDir = () => mkdtempSync(join(base, `t${n++}-`));

describeTargetConformance({
  name: 'hdd (posix rules, real temp folder)',
  create: () => HddTarget.create({ type: 'hdd', path: freshDir() }),
  cleanup: (t) => fs.rm(t.root, { recursive: true, force: true }),
});

describeTargetConformance({
  name: 'hdd (filesystem: "windows" rules on a real temp folder)',
  create: () => HddTarget.create({ type: 'hdd', path: freshDir(), filesystem: 'windows' }),
  cleanup: (t) => fs.rm(t.root, { recursive: true, force: true }),
});

/** The TargetError kind a promise rejects with (fails the test when it resolves or throws something else). */
async function kindOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(TargetError.is(e), `expected a TargetError, got ${String(e)}`).toBe(true);
  return (e as TargetError).kind;
}

const put = (t: HddTarget, key: string, data: string | Buffer, mtimeMs?: number) =>
  t.put(key, bufferSource(data), { size: Buffer.byteLength(data), mtimeMs });

const isRoot = process.getuid?.() === 0;
/** Mounts a real tmpfs (we run as root here; see below for the cases that need it). */
function mountTmpfs(dir: string, options: string): () => void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  let mounted = true;
  return () => {
    if (mounted) execFileSync('umount', ['-l', dir]);
    mounted = false;
  };
}

describe('hdd target', () => {
  let root: string;
  let t: HddTarget;
  const unmounts: (() => void)[] = [];

  beforeEach(async () => {
    root = freshDir();
    t = await HddTarget.create({ type: 'hdd', path: root });
  });
  afterEach(async () => {
    while (unmounts.length) unmounts.pop()!();
    await fs.chmod(root, 0o755).catch(() => undefined);
  });

  it('stores a key as a plain file under the root, with the given mtime, browsable', async () => {
    const mtimeMs = Date.UTC(2019, 6, 1, 12, 30, 15, 250);
    await put(t, 'Documents/見積書 2024.xlsx', 'spreadsheet', mtimeMs);
    const file = join(root, 'Documents', '見積書 2024.xlsx');
    expect(readFileSync(file, 'utf8')).toBe('spreadsheet');
    expect(Math.round((await fs.stat(file)).mtimeMs)).toBe(mtimeMs);
    expect((await t.stat('Documents/見積書 2024.xlsx')).mtimeMs).toBe(mtimeMs);
  });

  it('keeps the source\'s permission bits on the copy (owner always read-write, never setuid), streamed or copied from a local file, and setMode follows a change', async () => {
    const modeOf = (k: string) => statSync(join(root, k)).mode & 0o7777;
    await t.put('streamed/private.txt', bufferSource('secret'), { size: 6, mode: 0o600 });
    await t.put('streamed/shared.txt', bufferSource('shared'), { size: 6, mode: 0o4755 });
    await t.put('streamed/readonly.txt', bufferSource('ro'), { size: 2, mode: 0o444 });
    const local = join(freshDir(), 'key.pem');
    writeFileSync(local, 'k'.repeat(1000));
    const st = statSync(local);
    const lf = { ...bufferSource('k'.repeat(1000)), localFile: { path: local, size: 1000, mtimeMs: st.mtimeMs, copied: () => {}, changed: () => new Error('changed') } };
    await t.put('local/key.pem', lf, { size: 1000, mode: 0o640 });
    expect([modeOf('streamed/private.txt'), modeOf('streamed/shared.txt'), modeOf('streamed/readonly.txt'), modeOf('local/key.pem')]).toEqual([0o600, 0o755, 0o644, 0o640]);
    await t.setMode('local/key.pem', 0o600);
    expect(modeOf('local/key.pem')).toBe(0o600);
    expect(await kindOf(t.setMode('nope.txt', 0o600))).toBe('not-found');
  });

  it('temporary files are never listed, a failed put leaves none, and cleanup removes stale ones', async () => {
    await put(t, 'a/b/keep.txt', 'keep');
    // Leftovers of a put killed mid-way (kill -9): one old, one recent.
    const stale = join(root, 'a', 'b', `${TEMP_PREFIX}0123456789abcdef`);
    const fresh = join(root, 'a', `${TEMP_PREFIX}fedcba9876543210`);
    await fs.writeFile(stale, 'half');
    await fs.writeFile(fresh, 'half');
    const old = new Date(Date.now() - 2 * 3600_000);
    await fs.utimes(stale, old, old);
    const keys: string[] = [];
    for await (const i of t.list('')) keys.push(i.key);
    expect(keys).toEqual(['a/b/keep.txt']);
    keys.length = 0;
    for await (const i of t.list('a/b/.hokan')) keys.push(i.key);
    expect(keys).toEqual([]);

    const body = { size: 10, open: () => bufferSource('12345').open() }; // yields 5 of 10 bytes
    expect(await kindOf(t.put('a/b/short.bin', body, { size: 10 }))).toBe('permanent');
    expect(readdirSync(join(root, 'a', 'b')).sort()).toEqual([`${TEMP_PREFIX}0123456789abcdef`, 'keep.txt']);

    await t.cleanup({ olderThanMs: 3600_000, keep: () => false });
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(fresh)).toBe(true);
    expect(readFileSync(join(root, 'a', 'b', 'keep.txt'), 'utf8')).toBe('keep');
  });

  it('refuses keys that could escape the root or that it reserves, and writes nothing', async () => {
    const outside = join(root, '..', 'escaped.txt');
    for (const key of ['../escaped.txt', 'a/../../escaped.txt', '/etc/passwd-hokan', 'a//b', 'a/./b', './a', 'a/', '', 'a\0b', `${TEMP_PREFIX}x`, `a/${TEMP_PREFIX}y/b`, '..']) {
      expect(await kindOf(put(t, key, 'x')), JSON.stringify(key)).toBe('permanent');
      expect(await kindOf(t.stat(key))).toBe('permanent');
      expect(await kindOf(t.move('nope', key))).toBe('permanent');
      expect(await kindOf(t.remove(key))).toBe('permanent');
    }
    expect(existsSync(outside)).toBe(false);
    expect(existsSync('/etc/passwd-hokan')).toBe(false);
    expect(readdirSync(root)).toEqual([]);
    const keys: string[] = [];
    for await (const i of t.list('../')) keys.push(i.key);
    expect(keys).toEqual([]);
  });

  it('prunes folders left empty by remove and move, never the root', async () => {
    await put(t, 'x/y/z/one.txt', '1');
    await put(t, 'x/two.txt', '2');
    await t.move('x/y/z/one.txt', 'w/one.txt');
    expect(existsSync(join(root, 'x', 'y'))).toBe(false);
    expect(existsSync(join(root, 'x', 'two.txt'))).toBe(true);
    await t.remove('x/two.txt');
    await t.remove('w/one.txt');
    expect(readdirSync(root)).toEqual([]);
    expect(existsSync(root)).toBe(true);
  });

  it('a missing root (disk not plugged in) is unavailable, and nothing is created', async () => {
    const mountPoint = join(freshDir(), 'BACKUP1');
    const path = join(mountPoint, 'hokan');
    const u = await HddTarget.create({ type: 'hdd', path });
    const e = await u.check().then(
      () => undefined,
      (x: unknown) => x as TargetError,
    );
    expect(TargetError.isKind(e, 'unavailable')).toBe(true);
    expect(e!.message).toContain(path);
    expect(e!.hint).toContain('plug in the disk or create the folder');
    expect(await kindOf(put(u, 'a/b.txt', 'x'))).toBe('unavailable');
    expect(await kindOf(put(u, 'top.txt', 'x'))).toBe('unavailable');
    expect(await kindOf(u.stat('a/b.txt'))).toBe('unavailable');
    expect(await kindOf(u.get('a/b.txt', undefined, readAll))).toBe('unavailable');
    expect(await kindOf(u.move('a/b.txt', 'c.txt'))).toBe('unavailable');
    expect(await kindOf(u.remove('a/b.txt'))).toBe('unavailable');
    expect(await kindOf(u.usage())).toBe('unavailable');
    expect(await kindOf((async () => { for await (const _ of u.list('')) void _; })())).toBe('unavailable');
    expect(await kindOf((async () => { for await (const _ of u.list('a/')) void _; })())).toBe('unavailable');
    expect(existsSync(mountPoint)).toBe(false);
  });

  it('createIfMissing creates the root only when its parent exists', async () => {
    const parent = freshDir();
    const ok = await HddTarget.create({ type: 'hdd', path: join(parent, 'hokan'), createIfMissing: true });
    await ok.check();
    expect(existsSync(join(parent, 'hokan'))).toBe(true);
    const deep = join(parent, 'not-mounted', 'hokan');
    const bad = await HddTarget.create({ type: 'hdd', path: deep, createIfMissing: true });
    expect(await kindOf(bad.check())).toBe('unavailable');
    expect(existsSync(join(parent, 'not-mounted'))).toBe(false);
  });

  it('a missing volume marker is unavailable; with the marker the target checks fine', async () => {
    const disk = freshDir();
    await fs.mkdir(join(disk, 'hokan'));
    const m = await HddTarget.create({ type: 'hdd', path: join(disk, 'hokan'), volumeMarker: '../.hokan-volume' });
    const e = await m.check().then(
      () => undefined,
      (x: unknown) => x as TargetError,
    );
    expect(TargetError.isKind(e, 'unavailable')).toBe(true);
    expect(e!.message).toContain(join(disk, '.hokan-volume'));
    await fs.writeFile(join(disk, '.hokan-volume'), '');
    await m.check();
  });

  it('a disk unplugged mid-run is unavailable, and the root is not re-created on the system disk', async () => {
    const disk = freshDir();
    let unplug: () => Promise<void>;
    if (isRoot) {
      const umount = mountTmpfs(disk, 'size=4m');
      unmounts.push(umount);
      unplug = async () => umount();
    } else {
      unplug = () => fs.rm(join(disk, 'hokan'), { recursive: true, force: true }); // the next best thing without mount rights
    }
    const path = join(disk, 'hokan');
    await fs.mkdir(path);
    const d = await HddTarget.create({ type: 'hdd', path });
    await d.check();
    await put(d, 'docs/a.txt', 'a');
    await unplug();
    expect(await kindOf(put(d, 'docs/b.txt', 'b'))).toBe('unavailable');
    expect(await kindOf(d.stat('docs/a.txt'))).toBe('unavailable');
    expect(await kindOf(d.check())).toBe('unavailable');
    expect(existsSync(path)).toBe(false);
  });

  it('a read-only disk or folder is an auth error (access denied), from check and put', async () => {
    let dir: string;
    if (isRoot) {
      // Root ignores permission bits, so use what root cannot write to: a read-only mount.
      dir = freshDir();
      unmounts.push(mountTmpfs(dir, 'size=1m,ro'));
    } else {
      dir = freshDir();
      await fs.chmod(dir, 0o555);
    }
    const r = await HddTarget.create({ type: 'hdd', path: dir });
    const e = await r.check().then(
      () => undefined,
      (x: unknown) => x as TargetError,
    );
    expect(TargetError.isKind(e, 'auth')).toBe(true);
    expect(e!.hint).toBeTruthy();
    expect(await kindOf(put(r, 'a/b.txt', 'x'))).toBe('auth');
    expect(await kindOf(put(r, 'b.txt', 'x'))).toBe('auth');
  });

  // ENOSPC needs a small real file system: a 1 MiB tmpfs, which needs mount rights (root here).
  it.runIf(isRoot)('a full disk is a quota error; the partial file is gone and the old object survives', async () => {
    const dir = freshDir();
    unmounts.push(mountTmpfs(dir, 'size=1m'));
    const q = await HddTarget.create({ type: 'hdd', path: dir });
    await q.check();
    await put(q, 'old.bin', patternBytes(100_000, 1));
    const free = (await q.usage()).free!;
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThanOrEqual(1024 * 1024);
    const big = patternBytes(2 * 1024 * 1024, 2);
    expect(await kindOf(q.put('big.bin', bufferSource(big), { size: big.length }))).toBe('quota');
    expect(await kindOf(q.put('old.bin', bufferSource(big), { size: big.length }))).toBe('quota');
    expect(readdirSync(dir)).toEqual(['old.bin']);
    expect((await q.get('old.bin', undefined, readAll)).equals(patternBytes(100_000, 1))).toBe(true);
  });

  it('usage reports the free bytes of the disk', async () => {
    const u = await t.usage();
    expect(u.used).toBeUndefined();
    expect(u.free).toBeGreaterThan(0);
  });

  it('capabilities: posix rules on a posix file system, Windows rules when asked', async () => {
    expect(t.filesystem).toBe('posix');
    expect(t.capabilities).toMatchObject({ maxConnections: 16, serverSideMove: true, maxNameBytes: 255, preservesMtime: true });
    expect(t.capabilities.forbiddenChars).toBeUndefined();
    const w = await HddTarget.create({ type: 'hdd', path: freshDir(), filesystem: 'windows', maxConnections: 2 });
    expect(w.capabilities).toMatchObject({ maxConnections: 2, forbiddenChars: '\\:*?"<>|', forbiddenTrailingChars: ' .', maxNameLength: 255 });
    expect(await kindOf(put(w, 'docs/CON.txt', 'x'))).toBe('permanent');
    expect(await kindOf(put(w, 'docs/a?.txt', 'x'))).toBe('permanent');
    expect(await kindOf(put(t, `docs/${'あ'.repeat(86)}`, 'x'))).toBe('permanent'); // 258 bytes
    await put(t, `docs/${'あ'.repeat(85)}`, 'x'); // 255 bytes
  });

  it('the plugin binds an hdd TargetContribution that creates a working target', async () => {
    expect(plugin.id).toBe('target-hdd');
    expect(plugin.apiVersion).toBe(1);
    const c = new Container();
    await c.load(plugin.module!);
    const contribution = c.get<TargetContributionType>(TargetContribution);
    expect(contribution.type).toBe('hdd');
    const made = await contribution.create({ type: 'hdd', path: root }, { id: 'usb', logger: nullLogger, dataDir: base });
    await made.check();
    await made.put('p.txt', bufferSource('plugin'), { size: 6 });
    expect(readFileSync(join(root, 'p.txt'), 'utf8')).toBe('plugin');
  });

  it('schema.json accepts the documented config and refuses unknown keys', async () => {
    const { default: Ajv2020 } = await import('ajv/dist/2020.js');
    const schema = JSON.parse(readFileSync(new URL('../schema.json', import.meta.url), 'utf8'));
    const ajv = new (Ajv2020 as unknown as typeof import('ajv').default)({ strict: true });
    const validate = ajv.compile(schema);
    expect(validate({ type: 'hdd', path: '/media/BACKUP1/hokan' })).toBe(true);
    expect(validate({ type: 'hdd', path: '/m', volumeMarker: '../.v', createIfMissing: true, filesystem: 'windows', maxConnections: 2 })).toBe(true);
    expect(validate({ type: 'hdd' })).toBe(false);
    expect(validate({ type: 'hdd', path: '/m', pth: 'typo' })).toBe(false);
    expect(validate({ type: 'hdd', path: '/m', filesystem: 'fat' })).toBe(false);
  });
});

/** A local file as the engine hands it over (`RewindableSource.localFile`): the target must copy it itself. */
function localBody(abs: string, over: { size?: number; mtimeMs?: number } = {}) {
  const st = existsSync(abs) ? statSync(abs) : { size: over.size ?? 0, mtimeMs: over.mtimeMs ?? 0 };
  const seen = { sha256: undefined as string | undefined, changed: false };
  const size = over.size ?? st.size;
  const body = {
    size,
    open(): never {
      throw new Error('a local file is copied by the copy workers, not streamed');
    },
    localFile: {
      path: abs,
      size,
      mtimeMs: over.mtimeMs ?? st.mtimeMs,
      copied: (h: string) => void (seen.sha256 = h),
      changed: () => {
        seen.changed = true;
        return Object.assign(new Error(`${abs} changed while it was read`), { code: 'E_TEST_CHANGED' });
      },
    },
  };
  return { body, seen };
}

/** Every file under a folder, relative (temporary files included: a failed put must leave none). */
const allFiles = (dir: string) => (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[]).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(dir.length + 1)).sort();

describe('hdd target: local files and deferred durability', () => {
  let root: string;
  let src: string;
  let t: HddTarget;
  const unmounts: (() => void)[] = [];
  beforeEach(async () => {
    root = freshDir();
    src = freshDir();
    t = await HddTarget.create({ type: 'hdd', path: root });
  });
  afterEach(async () => {
    await t[Symbol.asyncDispose]();
    while (unmounts.length) unmounts.pop()!();
  });

  it('copies local files in its copy workers: bytes, mtime and hash, many at once into new folders', async () => {
    const sizes = [0, 1, 4096, 1024 * 1024, 3 * 1024 * 1024 + 5];
    const files = Array.from({ length: 20 }, (_, i) => ({ rel: `d${i % 4}/deep ${i}/見 ${i}.bin`, data: patternBytes(sizes[i % sizes.length]!, i + 1) }));
    for (const f of files) writeFileSync(join(src, `${files.indexOf(f)}.bin`), f.data);
    const mtimeMs = Date.UTC(2021, 2, 3, 4, 5, 6);
    const results = await Promise.all(
      files.map(async (f, i) => {
        const { body, seen } = localBody(join(src, `${i}.bin`));
        await t.put(f.rel, body, { size: body.size, mtimeMs });
        return seen;
      }),
    );
    for (const [i, f] of files.entries()) {
      expect(readFileSync(join(root, f.rel)).equals(f.data), f.rel).toBe(true);
      expect(results[i]!.sha256).toBe(sha256Hex(f.data));
      expect(statSync(join(root, f.rel)).mtimeMs).toBe(mtimeMs);
    }
    expect(allFiles(root)).toEqual(files.map((f) => f.rel).sort());
  });

  it('a local file that changed since the scan, grew, or vanished: the body says why, and nothing is left', async () => {
    const abs = join(src, 'a.bin');
    writeFileSync(abs, patternBytes(200_000, 3));
    await put(t, 'kept.bin', 'old content');
    const st = statSync(abs);
    for (const [key, over] of [
      ['x/changed.bin', { mtimeMs: st.mtimeMs - 5000 }],
      ['x/grew.bin', { size: st.size - 10 }],
      ['kept.bin', { size: st.size + 10 }],
    ] as const) {
      const { body, seen } = localBody(abs, over);
      await expect(t.put(key, body, { size: body.size })).rejects.toMatchObject({ code: 'E_TEST_CHANGED' });
      expect(seen.changed).toBe(true);
      expect(seen.sha256).toBeUndefined();
    }
    const gone = localBody(join(src, 'missing.bin'), { size: 5, mtimeMs: 1 });
    await expect(t.put('x/gone.bin', gone.body, { size: 5 })).rejects.toMatchObject({ code: 'ENOENT' });
    expect(allFiles(root)).toEqual(['kept.bin']);
    expect(readFileSync(join(root, 'kept.bin'), 'utf8')).toBe('old content');
  });

  it('a big local file reports progress as it is copied, and an abort stops its copy and leaves nothing', async () => {
    const data = patternBytes(40 * 1024 * 1024 + 3, 21);
    writeFileSync(join(src, 'big.bin'), data);
    const progress: number[] = [];
    const { body, seen } = localBody(join(src, 'big.bin'));
    await t.put('v/big.bin', body, { size: body.size }, { onProgress: (n) => progress.push(n), deferSync: true });
    expect(seen.sha256).toBe(sha256Hex(data));
    expect(progress.length).toBeGreaterThanOrEqual(3); // every 16 MiB, then the end
    expect(progress.at(-1)).toBe(data.length);
    expect(progress[0]).toBeLessThan(data.length);
    const ac = new AbortController();
    const again = localBody(join(src, 'big.bin'));
    const p = t.put('v/aborted.bin', again.body, { size: again.body.size }, { signal: ac.signal, onProgress: () => ac.abort(new Error('stop')) });
    await expect(p).rejects.toThrow('stop');
    expect(allFiles(root)).toEqual(['v/big.bin']);
  });

  it('deferred puts are in place at once and made durable by flush; a flush with nothing to do is a no-op', async () => {
    await t.flush(); // nothing yet
    writeFileSync(join(src, 'l.bin'), patternBytes(70_000, 9));
    const { body } = localBody(join(src, 'l.bin'));
    await t.put('a/local.bin', body, { size: body.size }, { deferSync: true });
    await t.put('a/streamed.txt', bufferSource('streamed'), { size: 8 }, { deferSync: true });
    expect(readFileSync(join(root, 'a/streamed.txt'), 'utf8')).toBe('streamed');
    expect(readFileSync(join(root, 'a/local.bin')).equals(patternBytes(70_000, 9))).toBe(true);
    await t.flush();
    await t.flush();
    expect(allFiles(root)).toEqual(['a/local.bin', 'a/streamed.txt']);
  });

  it('a window of a few files is made durable by their own fsyncs; a bigger one by `sync -f`, or without it on the PATH an fsync of each file and folder', async () => {
    const debug: string[] = [];
    const logger = { ...nullLogger, debug: (o: object | string, m?: string) => void debug.push(typeof o === 'string' ? o : m ?? '') };
    const d = await HddTarget.create({ type: 'hdd', path: root }, { logger });
    const path = process.env.PATH;
    process.env.PATH = freshDir(); // an empty folder: no `sync` to find
    try {
      await d.put('b/x.txt', bufferSource('x'), { size: 1 }, { deferSync: true });
      await d.flush(); // one file: never asks for `sync -f`
      expect(debug.join('\n')).not.toContain('sync -f');
      for (let i = 0; i <= FSYNC_EACH_MAX; i++) await d.put(`c/${i}.txt`, bufferSource(String(i)), { size: String(i).length }, { deferSync: true });
      await d.flush(); // more than FSYNC_EACH_MAX: `sync -f` first, not there
    } finally {
      process.env.PATH = path;
    }
    expect(debug.join('\n')).toContain('flushing file by file');
    await d.put('b/y.txt', bufferSource('y'), { size: 1 }, { deferSync: true });
    await d.flush();
    expect(allFiles(root).filter((f) => f.startsWith('b/'))).toEqual(['b/x.txt', 'b/y.txt']);
    expect(allFiles(root).filter((f) => f.startsWith('c/'))).toHaveLength(FSYNC_EACH_MAX + 1);
    await d[Symbol.asyncDispose]();
  });

  it('what counts is the fsyncs a window would take: a few files spread over many folders are made durable by `sync -f`', async () => {
    const debug: string[] = [];
    const logger = { ...nullLogger, debug: (o: object | string, m?: string) => void debug.push(typeof o === 'string' ? o : m ?? '') };
    const d = await HddTarget.create({ type: 'hdd', path: root }, { logger });
    const path = process.env.PATH;
    process.env.PATH = freshDir(); // no `sync` to find: asking for it is logged, and the files are fsynced one by one
    const n = Math.floor(FSYNC_EACH_MAX / 2) + 1; // fewer files than FSYNC_EACH_MAX, but a folder each: more fsyncs than it
    try {
      for (let i = 0; i < 3; i++) await d.put(`few/${i}.txt`, bufferSource(String(i)), { size: String(i).length }, { deferSync: true });
      await d.flush(); // three files in one folder: four fsyncs of their own
      expect(debug.join('\n')).not.toContain('sync -f');
      for (let i = 0; i < n; i++) await d.put(`spread/${i}/f.txt`, bufferSource(String(i)), { size: String(i).length }, { deferSync: true });
      await d.flush();
    } finally {
      process.env.PATH = path;
    }
    expect(debug.join('\n')).toContain('flushing file by file');
    expect(allFiles(root).filter((f) => f.startsWith('spread/'))).toHaveLength(n);
    await d[Symbol.asyncDispose]();
  });

  it('in `agent run` (helpers kept) the `sync -f` helper of the disk starts when the target opens, is parked after, and stops with the others', async () => {
    /** The helpers running for this root (their command line names it). */
    const helpers = () =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
            return argv.includes('hokan-sync') && argv.includes(root);
          } catch {
            return false; // gone meanwhile
          }
        });
    const once = await HddTarget.create({ type: 'hdd', path: root });
    expect(helpers()).toEqual([]); // a one-shot command starts none until a window needs one
    await once[Symbol.asyncDispose]();
    keepHelpers(true);
    try {
      const t = await HddTarget.create({ type: 'hdd', path: root });
      expect(helpers()).toHaveLength(1); // before any put or flush
      await t[Symbol.asyncDispose]();
      expect(helpers()).toHaveLength(1); // parked for the next run
      const next = await HddTarget.create({ type: 'hdd', path: root });
      expect(helpers()).toHaveLength(1); // the parked one, taken again
      for (let i = 0; i <= FSYNC_EACH_MAX; i++) await next.put(`w/${i}.txt`, bufferSource(String(i)), { size: String(i).length }, { deferSync: true });
      await next.flush();
      expect(helpers()).toHaveLength(1);
      await next[Symbol.asyncDispose]();
    } finally {
      keepHelpers(false);
    }
    await expect.poll(helpers, { timeout: 5000 }).toEqual([]);
  });

  it.runIf(isRoot)('a local file on a full disk is a quota error from the copy worker; nothing is left, the old object survives', async () => {
    const disk = freshDir();
    unmounts.push(mountTmpfs(disk, 'size=1m'));
    const q = await HddTarget.create({ type: 'hdd', path: disk });
    await put(q, 'old.bin', 'the old version');
    writeFileSync(join(src, 'big.bin'), patternBytes(2 * 1024 * 1024, 5));
    for (const deferSync of [false, true]) {
      const { body } = localBody(join(src, 'big.bin'));
      expect(await kindOf(q.put('old.bin', body, { size: body.size }, { deferSync }))).toBe('quota');
    }
    expect(readdirSync(disk)).toEqual(['old.bin']);
    expect(readFileSync(join(disk, 'old.bin'), 'utf8')).toBe('the old version');
    await q[Symbol.asyncDispose]();
  });

  it.runIf(isRoot)('a flush after the disk was unplugged is unavailable', async () => {
    const disk = freshDir();
    const umount = mountTmpfs(disk, 'size=4m');
    unmounts.push(umount);
    const path = join(disk, 'hokan');
    await fs.mkdir(path);
    const d = await HddTarget.create({ type: 'hdd', path });
    await d.put('c/z.txt', bufferSource('z'), { size: 1 }, { deferSync: true });
    umount();
    expect(await kindOf(d.flush())).toBe('unavailable');
    await d[Symbol.asyncDispose]();
  });
});

describe('hdd getToFile: the owner of a restored file', () => {
  it.runIf(isRoot)('as root: given in the copy worker (owned); one the system refuses leaves the file in place, not owned, for the engine to say why', async () => {
    const t = await HddTarget.create({ type: 'hdd', path: freshDir() });
    const out = freshDir();
    try {
      const data = Buffer.from('owned bytes\n');
      await put(t, 'j/a.txt', data, 1_700_000_000_000);
      const sink = (name: string, owner: { uid: number; gid: number }) => ({ tmp: join(out, `.tmp-${name}`), rename: join(out, name), size: data.length, sha256: sha256Hex(data), mtimeMs: 1_700_000_000_000, mode: 0o4750, owner });
      const ok = await t.getToFile('j/a.txt', sink('a.txt', { uid: 1234, gid: 5678 }));
      expect(ok).toEqual({ sha256: sha256Hex(data), size: data.length, ok: true, owned: true });
      const st = statSync(join(out, 'a.txt'));
      // setuid survives: the mode is set after the chown that clears it.
      expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([1234, 5678, 0o4750]);
      // An owner no system call can give (a uid beyond 32 bits; on a real disk: EPERM on a share that squashes root).
      const refused = await t.getToFile('j/a.txt', sink('b.txt', { uid: 2 ** 33, gid: 0 }));
      expect(refused).toEqual({ sha256: sha256Hex(data), size: data.length, ok: true, owned: false });
      expect(readFileSync(join(out, 'b.txt'))).toEqual(data);
      // …and without its setuid bit: never a setuid file of the wrong user.
      expect(statSync(join(out, 'b.txt')).mode & 0o7777).toBe(0o750);
      expect(readdirSync(out).sort()).toEqual(['a.txt', 'b.txt']);
    } finally {
      await t[Symbol.asyncDispose]();
    }
  });
});
