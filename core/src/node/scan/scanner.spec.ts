import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileEntry, ScanError, ScanItem, SourceRoot } from '../../common/model.js';
import { compareNames, keepWalkThreads, scanRoot, scanRootBatches, scanWorkerFor, startHeadStart, startScanWorker, stopHeadStart, takeHeadStartOf, walkSpec, walkThreadReady, type ScanOptions } from './scanner.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hokan-scan-'));
  fs.chmodSync(tmp, 0o755); // the unreadable-folder test walks it as `nobody`
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Creates files (content = value) and folders (value = null) under `base`. */
function tree(base: string, spec: Record<string, string | null>): void {
  for (const [rel, content] of Object.entries(spec)) {
    const p = path.join(base, rel);
    if (content === null) fs.mkdirSync(p, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fs.writeFileSync(p, content);
    }
  }
}

const rootAt = (p: string, extra: Partial<SourceRoot> = {}): SourceRoot => ({ name: path.basename(p), path: p, ...extra });

async function scan(root: SourceRoot, opts: Partial<ScanOptions> = {}): Promise<ScanItem[]> {
  const out: ScanItem[] = [];
  for await (const it of scanRoot(root, { filters: {}, followSymlinks: false, ...opts })) out.push(it);
  return out;
}
const rels = (items: ScanItem[]) => items.map((i) => i.rel);
const files = (items: ScanItem[]) => items.filter((i): i is FileEntry => i.type !== 'error');
const errors = (items: ScanItem[]) => items.filter((i): i is ScanError => i.type === 'error');
const key = (rel: string) => Buffer.from(rel.split('/').join('\0'));

const NFC = '\u00e9'; // é
const NFD = 'e\u0301'; // e + combining acute
const NFC_JA = '\u30ac'; // ガ
const NFD_JA = '\u30ab\u3099'; // カ + combining voiced mark

describe('scanRoot order (the engine merges it with LevelDB)', () => {
  it('is depth-first with names sorted by UTF-8 bytes, i.e. sorted by Buffer.compare of rel with / as \\0', async () => {
    tree(tmp, {
      a: null,
      'a/x': 'x',
      'a/y b': 'y',
      'a b': '1',
      'a-b': '2',
      'a.b': '3',
      B: '4',
      [NFC]: 'nfc',
      [NFD]: 'nfd',
      '日本/東京': 'tokyo',
      z: '5',
      '\uff21': 'fullwidth A (U+FF21: above the surrogates in UTF-16, below them in UTF-8)',
      '\u{1F600}': 'emoji (a surrogate pair)',
    });
    const got = rels(await scan(rootAt(tmp)));
    expect(got).toEqual(['B', 'a/x', 'a/y b', 'a b', 'a-b', 'a.b', NFD, 'z', NFC, '日本/東京', '\uff21', '\u{1F600}']);
    const sorted = [...got].sort((p, q) => Buffer.compare(key(p), key(q)));
    expect(got).toEqual(sorted);
    // a naive string sort would put `a b` before `a/x` and the emoji before U+FF21
    expect([...got].sort()).not.toEqual(got);
  });

  it('compareNames agrees with Buffer.compare on UTF-8', () => {
    const names = ['a', 'A', 'a b', 'a-b', 'a.b', 'ab', NFC, NFD, '日本', '\uff21', '\u{1F600}', '\u{10000}', '\ue000', '\uffff', 'z', ''];
    for (const x of names) for (const y of names) expect(Math.sign(compareNames(x, y))).toBe(Math.sign(Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });

  it('keeps the order on a deeper random tree, in both stat modes, item by item and in batches', async () => {
    const alphabet = ['a', 'b', 'B', ' ', '-', '.', '_', 'é', 'e\u0301', '日', '\u{1F600}', '\uff21', '0'];
    let seed = 0x9e3779b9;
    const rnd = (n: number) => {
      // mulberry32
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) % n);
    };
    const name = () => Array.from({ length: 1 + rnd(4) }, () => alphabet[rnd(alphabet.length)]).join('').replace(/^\./, 'x').trim() || 'q';
    const dirs = [''];
    for (let i = 0; i < 400; i++) {
      const parent = dirs[rnd(dirs.length)]!;
      const rel = parent ? `${parent}/${name()}` : name();
      const abs = path.join(tmp, rel);
      if (fs.existsSync(abs)) continue;
      if (rnd(3) === 0) {
        fs.mkdirSync(abs);
        dirs.push(rel);
      } else fs.writeFileSync(abs, String(i));
    }
    const got = rels(await scan(rootAt(tmp)));
    expect(got.length).toBeGreaterThan(150);
    expect(got).toEqual([...got].sort((p, q) => Buffer.compare(key(p), key(q))));
    expect(rels(await scan(rootAt(tmp), { statConcurrency: 8 }))).toEqual(got);
    const viaBatches: string[] = [];
    for await (const b of scanRootBatches(rootAt(tmp), { filters: {}, followSymlinks: false, batchSize: 7 })) {
      expect(b.length).toBeLessThanOrEqual(7);
      viaBatches.push(...rels(b));
    }
    expect(viaBatches).toEqual(got);
  });
});

describe('scanRoot entries', () => {
  it('yields NFC and NFD names as different files, spelled exactly as on disk', async () => {
    tree(tmp, { [NFC_JA + '.txt']: 'nfc', [NFD_JA + '.txt']: 'nfd!', [`${NFD_JA}/中身 ${NFC}.txt`]: 'in' });
    const items = files(await scan(rootAt(tmp)));
    const byRel = new Map(items.map((i) => [i.rel, i]));
    expect(byRel.get(NFC_JA + '.txt')?.size).toBe(3);
    expect(byRel.get(NFD_JA + '.txt')?.size).toBe(4);
    expect(byRel.has(`${NFD_JA}/中身 ${NFC}.txt`)).toBe(true);
    expect(items).toHaveLength(3);
    for (const i of items) {
      expect(fs.readFileSync(i.abs).length).toBe(i.size);
      expect(i.abs).toBe(path.join(tmp, i.rel));
    }
  });

  it('reports stats, empty files, spaces and 40-level deep paths', async () => {
    const deep = Array.from({ length: 40 }, (_, i) => `level ${i}`).join('/');
    tree(tmp, { 'empty file': '', 'with space/a b c.txt': 'abc', [`${deep}/bottom.txt`]: 'deep' });
    const items = files(await scan(rootAt(tmp)));
    expect(rels(items)).toEqual(['empty file', `${deep}/bottom.txt`, 'with space/a b c.txt']);
    const empty = items.find((i) => i.rel === 'empty file')!;
    const st = fs.lstatSync(path.join(tmp, 'empty file'));
    expect(empty).toMatchObject({ type: 'file', size: 0, ino: st.ino, dev: st.dev, mode: st.mode, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs });
    expect(empty.root.path).toBe(tmp);
    expect(items[1]!.rel.split('/')).toHaveLength(41);
    expect(fs.readFileSync(items[1]!.abs, 'utf8')).toBe('deep');
  });

  it('records symlinks as links and never follows them by default', async () => {
    tree(tmp, { 'real/f.txt': 'hello', other: null, 'other/o.txt': 'o' });
    fs.symlinkSync('real/f.txt', path.join(tmp, 'link-file'));
    fs.symlinkSync(path.join(tmp, 'other'), path.join(tmp, 'link-dir'));
    fs.symlinkSync('nowhere', path.join(tmp, 'dangling'));
    const items = files(await scan(rootAt(tmp)));
    expect(rels(items)).toEqual(['dangling', 'link-dir', 'link-file', 'other/o.txt', 'real/f.txt']);
    const link = items.find((i) => i.rel === 'link-file')!;
    expect(link).toMatchObject({ type: 'symlink', linkTarget: 'real/f.txt', size: 'real/f.txt'.length });
    expect(items.find((i) => i.rel === 'link-dir')).toMatchObject({ type: 'symlink', linkTarget: path.join(tmp, 'other') });
    expect(items.find((i) => i.rel === 'dangling')).toMatchObject({ type: 'symlink', linkTarget: 'nowhere' });
    expect(items.find((i) => i.rel === 'real/f.txt')).toMatchObject({ type: 'file', linkTarget: undefined });
  });

  it('follows symlinks when asked, yielding the target type, and stops at loops', async () => {
    tree(tmp, { 'real/f.txt': 'hello', 'real/sub/g.txt': 'g' });
    fs.symlinkSync('real/f.txt', path.join(tmp, 'link-file'));
    fs.symlinkSync('real', path.join(tmp, 'link-dir'));
    fs.symlinkSync('..', path.join(tmp, 'real/sub/up')); // real/sub/up -> real: a loop
    fs.symlinkSync(tmp, path.join(tmp, 'real/root')); // real/root -> the root: a loop
    fs.symlinkSync('nowhere', path.join(tmp, 'dangling'));
    const items = files(await scan(rootAt(tmp), { followSymlinks: true }));
    expect(rels(items)).toEqual([
      'dangling',
      'link-dir/f.txt',
      'link-dir/root',
      'link-dir/sub/g.txt',
      'link-dir/sub/up',
      'link-file',
      'real/f.txt',
      'real/root',
      'real/sub/g.txt',
      'real/sub/up',
    ]);
    expect(items.find((i) => i.rel === 'link-file')).toMatchObject({ type: 'file', size: 5 });
    expect(items.find((i) => i.rel === 'real/sub/up')).toMatchObject({ type: 'symlink', linkTarget: '..' });
    expect(items.find((i) => i.rel === 'real/root')).toMatchObject({ type: 'symlink', linkTarget: tmp });
    expect(items.find((i) => i.rel === 'dangling')).toMatchObject({ type: 'symlink', linkTarget: 'nowhere' });
  });

  it('reports an unreadable folder as access-denied, yields nothing beneath it and goes on', async () => {
    tree(tmp, { 'a.txt': 'a', 'locked/secret.txt': 's', 'locked/inner/deeper.txt': 'd', 'z.txt': 'z' });
    fs.chmodSync(path.join(tmp, 'locked'), 0o000);
    // root ignores permissions: walk as `nobody` (effective uid of this test process, restored after),
    // so the kernel really refuses the readdir.
    const asRoot = process.getuid?.() === 0;
    let items: ScanItem[];
    if (asRoot) {
      const nobody = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
      process.seteuid!(nobody);
      try {
        items = await scan(rootAt(tmp));
      } finally {
        process.seteuid!(0);
      }
    } else items = await scan(rootAt(tmp));
    fs.chmodSync(path.join(tmp, 'locked'), 0o755);
    expect(rels(items)).toEqual(['a.txt', 'locked', 'z.txt']);
    expect(errors(items)).toEqual([
      expect.objectContaining({ type: 'error', rel: 'locked', abs: path.join(tmp, 'locked'), reason: 'access-denied', message: expect.stringContaining('EACCES') }),
    ]);
  });

  it('reports an unreadable root as access-denied', async () => {
    const locked = path.join(tmp, 'locked');
    tree(tmp, { 'locked/a': 'a' });
    fs.chmodSync(locked, 0o000);
    let items: ScanItem[];
    if (process.getuid?.() === 0) {
      process.seteuid!(Number(execFileSync('id', ['-u', 'nobody']).toString().trim()));
      try {
        items = await scan(rootAt(locked));
      } finally {
        process.seteuid!(0);
      }
    } else items = await scan(rootAt(locked));
    expect(items).toEqual([expect.objectContaining({ type: 'error', rel: '', reason: 'access-denied' })]);
  });

  it('reports a missing root as invalid-settings; an empty root yields nothing', async () => {
    const missing = await scan(rootAt(path.join(tmp, 'gone')));
    expect(missing).toEqual([expect.objectContaining({ type: 'error', rel: '', reason: 'invalid-settings', abs: path.join(tmp, 'gone') })]);
    fs.mkdirSync(path.join(tmp, 'empty'));
    expect(await scan(rootAt(path.join(tmp, 'empty')))).toEqual([]);
    // a root whose parent is a file
    tree(tmp, { f: 'x' });
    expect(await scan(rootAt(path.join(tmp, 'f', 'sub')))).toEqual([expect.objectContaining({ reason: 'invalid-settings' })]);
  });

  it('yields a root that is a single file under its base name, whatever the filters say', async () => {
    tree(tmp, { '.secret.iso': 'data' });
    const items = await scan(rootAt(path.join(tmp, '.secret.iso')), { filters: { excludeExtensions: ['iso'], exclude: ['**'] } });
    expect(items).toEqual([expect.objectContaining({ type: 'file', rel: '.secret.iso', abs: path.join(tmp, '.secret.iso'), size: 4 })]);
  });

  it('walks a root that is itself a hidden folder', async () => {
    tree(tmp, { '.config/app/settings.json': '{}', '.config/app/.cache/x': 'x' });
    expect(rels(await scan(rootAt(path.join(tmp, '.config/app'))))).toEqual(['settings.json']);
  });

  it('reports a file name that is not valid UTF-8 instead of dropping it silently', async () => {
    const bad = Buffer.concat([Buffer.from(tmp + '/bad-'), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]);
    fs.writeFileSync(bad, 'x');
    tree(tmp, { 'good.txt': 'g' });
    const items = await scan(rootAt(tmp));
    expect(rels(files(items))).toEqual(['good.txt']);
    expect(errors(items)).toEqual([expect.objectContaining({ reason: 'forbidden-name', rel: 'bad-\ufffd\ufffd.txt' })]);
  });
});

describe('scanRoot filters', () => {
  it('excludes hidden files by default and prunes hidden folders; hidden: true keeps them', async () => {
    tree(tmp, { '.bashrc': 'x', '.git/config': 'c', 'a/.DS_Store': 'd', 'a/b.txt': 'b' });
    expect(rels(await scan(rootAt(tmp)))).toEqual(['a/b.txt']);
    expect(rels(await scan(rootAt(tmp), { filters: { hidden: true } }))).toEqual(['.bashrc', '.git/config', 'a/.DS_Store', 'a/b.txt']);
  });

  it('prunes excluded folders without reading them and reports every exclusion', async () => {
    tree(tmp, { 'app/node_modules/lib/index.js': 'x', 'app/node_modules/.bin/x': 'x', 'app/main.js': 'm', 'app/tmp.log': 'l', 'big.bin': 'x'.repeat(2048), 'old.txt': 'o' });
    fs.utimesSync(path.join(tmp, 'old.txt'), new Date(2001, 0, 1), new Date(2001, 0, 1));
    // an unreadable node_modules would give an access-denied error if it were read
    const skipped: [string, string, string][] = [];
    const items = await scan(rootAt(tmp, { exclude: ['**/*.log'] }), {
      filters: { exclude: ['**/node_modules/**'], largerThan: '1KB', modifiedBefore: '2010-01-01' },
      onSkip: (rel, reason, kind) => skipped.push([rel, reason, kind]),
    });
    expect(rels(items)).toEqual(['app/main.js']);
    expect(skipped).toEqual([
      ['app/node_modules', 'excluded by **/node_modules/**', 'dir'],
      ['app/tmp.log', 'excluded by **/*.log', 'file'],
      ['big.bin', 'larger than 1 KB', 'file'],
      ['old.txt', 'modified before 2010/01/01 00:00:00', 'file'],
    ]);
  });

  it('include-only globs, extensions, presets and regexes through the walk', async () => {
    tree(tmp, { 'docs/a.pdf': '1', 'docs/b.txt': '2', 'docs/sub/c.PDF': '3', 'music/d.mp3': '4', 'e.pdf': '5', 'docs/draft-f.pdf': '6' });
    const opts = { filters: { include: ['docs/**'], extensions: ['pdf'], excludeRegex: ['/draft-'] } };
    expect(rels(await scan(rootAt(tmp), opts))).toEqual(['docs/a.pdf', 'docs/sub/c.PDF']);
    expect(rels(await scan(rootAt(tmp, { extensions: ['mp3'] })))).toEqual(['music/d.mp3']);
  });

  it('backs up a path named explicitly in include even when hidden or excluded', async () => {
    tree(tmp, { '.config/app/settings.json': 's', '.config/other/x': 'x', 'notes/.todo': 't', 'notes/.other': 'o', 'a.md': 'a', 'b.txt': 'b' });
    const items = await scan(rootAt(tmp), { filters: { include: ['.config/app', 'notes/.todo', '**/*.md'], exclude: ['.config/**', 'notes/.todo'] } });
    expect(rels(items)).toEqual(['.config/app/settings.json', 'a.md', 'notes/.todo']);
  });

  it('calls the plugin filter only for files the built-in rules keep; exclude drops the file', async () => {
    tree(tmp, { 'a.txt': 'a', 'b.txt': 'b', '.hidden': 'h', 'link-target': 't' });
    fs.symlinkSync('link-target', path.join(tmp, 'c-link'));
    const seen: string[] = [];
    const skipped: string[] = [];
    const items = await scan(rootAt(tmp), {
      filter: async (e) => {
        seen.push(`${e.rel}:${e.type}`);
        return e.rel === 'b.txt' ? { action: 'exclude', reason: 'plugin says no' } : e.rel === 'a.txt' ? { action: 'include' } : undefined;
      },
      onSkip: (rel, reason) => skipped.push(`${rel}: ${reason}`),
    });
    expect(seen).toEqual(['a.txt:file', 'b.txt:file', 'c-link:symlink', 'link-target:file']);
    expect(rels(items)).toEqual(['a.txt', 'c-link', 'link-target']);
    expect(skipped).toEqual(['.hidden: hidden', 'b.txt: plugin says no']);
  });
});

describe('scanRoot control', () => {
  it('stops promptly when the signal aborts', async () => {
    for (let d = 0; d < 50; d++) tree(tmp, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`d${d}/f${i}`, ''])));
    const ac = new AbortController();
    let n = 0;
    const run = async () => {
      for await (const _ of scanRoot(rootAt(tmp), { filters: {}, followSymlinks: false, signal: ac.signal })) {
        if (++n === 10) ac.abort();
      }
    };
    await expect(run()).rejects.toMatchObject({ name: 'AbortError' });
    expect(n).toBeLessThan(2000);
    // an already-aborted signal yields nothing
    await expect(scan(rootAt(tmp), { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('lets the event loop run during a long walk', async () => {
    for (let d = 0; d < 100; d++) tree(tmp, Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`d${d}/f${i}`, ''])));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    const items = await scan(rootAt(tmp));
    const ms = performance.now() - t0;
    clearInterval(timer);
    expect(items).toHaveLength(10_000);
    // every ~8 ms of walking the loop gets a turn: a 1 ms timer fires along the way
    if (ms > 40) expect(ticks).toBeGreaterThan(1);
  });

  it('early exit from for-await closes the walk', async () => {
    tree(tmp, { a: 'a', b: 'b', c: 'c' });
    const got: string[] = [];
    for await (const it of scanRoot(rootAt(tmp), { filters: {}, followSymlinks: false })) {
      got.push(it.rel);
      if (got.length === 2) break;
    }
    expect(got).toEqual(['a', 'b']);
  });
});

describe('scanning in a worker thread', () => {
  /** Every item and every skip, through the worker or on this thread. */
  async function both(root: SourceRoot, opts: Partial<ScanOptions>) {
    const run = async (inWorker: boolean) => {
      const skips: [string, string, string][] = [];
      const o: ScanOptions = { filters: {}, followSymlinks: false, ...opts, onSkip: (rel, reason, kind) => skips.push([rel, reason, kind]) };
      const items: ScanItem[] = [];
      for await (const b of scanRootBatches(root, { ...o, batchSize: 5, worker: inWorker ? startScanWorker(root, { ...o, batchSize: 5 }) : undefined })) items.push(...b);
      return { items, skips };
    };
    return { here: await run(false), there: await run(true) };
  }

  it('yields the same items, fields and skips as the walk on this thread', async () => {
    tree(tmp, {
      'a.txt': 'a',
      'empty.bin': '',
      [`caf${NFC}.txt`]: 'nfc',
      [`caf${NFD}.txt`]: 'nfd',
      [`${NFC_JA}/${NFD_JA}.txt`]: 'ja',
      'with space/file name.md': 'm',
      '.hidden/secret': 's',
      'logs/x.log': 'l',
      'big.bin': 'x'.repeat(4096),
      'real/sub/g.txt': 'g',
    });
    fs.symlinkSync('real', path.join(tmp, 'link-dir'));
    fs.symlinkSync('nowhere', path.join(tmp, 'dangling'));
    fs.symlinkSync('..', path.join(tmp, 'real/sub/up'));
    fs.writeFileSync(Buffer.concat([Buffer.from(tmp + '/bad-'), Buffer.from([0xff]), Buffer.from('.txt')]), 'x');
    for (let i = 0; i < 60; i++) tree(tmp, { [`many/f${String(i).padStart(2, '0')}.txt`]: String(i) });
    const root = rootAt(tmp);
    for (const opts of [{}, { followSymlinks: true }, { filters: { exclude: ['**/*.log'], largerThan: '1KB', hidden: true } }] as Partial<ScanOptions>[]) {
      const { here, there } = await both(root, opts);
      expect(here.items.length).toBeGreaterThan(60);
      expect(there.items).toEqual(here.items);
      expect(there.skips).toEqual(here.skips);
      for (const it of there.items) expect(it.root).toBe(root);
    }
  });

  it('the platform\'s case rules reach the worker: `*.tmp` leaves A.TMP out as Windows or macOS, keeps it as Linux', async () => {
    tree(tmp, { 'A.TMP': 'x', 'b.tmp': 'y', 'Docs/THUMBS.DB': 't', 'Docs/c.txt': 'c' });
    const root = rootAt(tmp);
    for (const [platform, kept] of [['win32', ['Docs/c.txt']], ['darwin', ['Docs/c.txt']], ['linux', ['A.TMP', 'Docs/THUMBS.DB', 'Docs/c.txt']]] as const) {
      const { here, there } = await both(root, { filters: { exclude: ['*.tmp', 'Thumbs.db'] }, platform });
      expect(rels(files(there.items))).toEqual(kept);
      expect(there.items).toEqual(here.items);
      expect(there.skips).toEqual(here.skips);
    }
  });

  it('a file root, a missing root and an empty root come through as they do here', async () => {
    tree(tmp, { 'one.txt': 'x', empty: null });
    for (const p of ['one.txt', 'missing', 'empty']) {
      const { here, there } = await both(rootAt(path.join(tmp, p)), {});
      expect(there.items).toEqual(here.items);
    }
  });

  it('stops when the signal aborts, and an early exit closes the worker', async () => {
    for (let i = 0; i < 3000; i++) tree(tmp, { [`d${i % 30}/f${i}.txt`]: 'x' });
    const root = rootAt(tmp);
    const ctrl = new AbortController();
    let n = 0;
    const walk = async () => {
      for await (const b of scanRootBatches(root, { filters: {}, followSymlinks: false, signal: ctrl.signal, worker: startScanWorker(root, { filters: {}, followSymlinks: false, batchSize: 100 }) })) {
        n += b.length;
        if (n >= 200) ctrl.abort(new Error('stop'));
      }
    };
    await expect(walk()).rejects.toThrow('stop');
    expect(n).toBeLessThan(3000);
    let m = 0;
    for await (const b of scanRootBatches(root, { filters: {}, followSymlinks: false, worker: startScanWorker(root, { filters: {}, followSymlinks: false, batchSize: 100 }) })) {
      m += b.length;
      if (m >= 100) break;
    }
    expect(m).toBe(100);
  });

  describe('walk threads kept between walks (`agent run`: keepWalkThreads)', () => {
    afterEach(() => keepWalkThreads(false));
    const walkAll = async (root: SourceRoot, o: ScanOptions) => {
      const items: ScanItem[] = [];
      for await (const b of scanRootBatches(root, o)) items.push(...b);
      return items;
    };

    it('a thread whose walk ended walks the next one — other roots and filters, the same items as here', async () => {
      for (let i = 0; i < 400; i++) tree(tmp, { [`a/d${i % 9}/f${i}.txt`]: String(i), [`b/g${i % 5}/h${i}.log`]: 'x'.repeat(i) });
      fs.symlinkSync('nowhere', path.join(tmp, 'b', 'dangling'));
      keepWalkThreads(true);
      expect(walkThreadReady()).toBe(true); // one started at once
      const walks: [SourceRoot, ScanOptions][] = [
        [rootAt(path.join(tmp, 'a')), { filters: {}, followSymlinks: false, batchSize: 32 }],
        [rootAt(path.join(tmp, 'b')), { filters: { exclude: ['g2/**'], largerThan: '200B' }, followSymlinks: false, batchSize: 7 }],
        [rootAt(tmp), { filters: {}, followSymlinks: true, folders: true, batchSize: 100 }],
        [rootAt(path.join(tmp, 'a', 'd0', 'f0.txt')), { filters: {}, followSymlinks: false }],
      ];
      const ids = new Set<number>();
      for (const [root, o] of walks) {
        const w = startScanWorker(root, o);
        ids.add(w.threadId);
        const here = await walkAll(root, o);
        expect(here.length).toBeGreaterThan(0);
        expect(await walkAll(root, { ...o, worker: w })).toEqual(here);
        expect(walkThreadReady()).toBe(true); // back in the pool
      }
      expect(ids.size).toBe(1);
    });

    it('a walk left half-way stops its thread: the next walk gets another, and nothing of the old walk', async () => {
      for (let i = 0; i < 3000; i++) tree(tmp, { [`d${i % 30}/f${i}.txt`]: 'x' });
      tree(path.join(os.tmpdir(), path.basename(tmp) + '-small'), { 'only.txt': 'o' });
      const small = rootAt(path.join(os.tmpdir(), path.basename(tmp) + '-small'));
      try {
        keepWalkThreads(true);
        const o = { filters: {}, followSymlinks: false, batchSize: 100 };
        const w = startScanWorker(rootAt(tmp), o);
        let n = 0;
        for await (const b of scanRootBatches(rootAt(tmp), { ...o, worker: w })) {
          n += b.length;
          if (n >= 100) break; // closes the walk half-way
        }
        const next = startScanWorker(small, o);
        expect(next.threadId).not.toBe(w.threadId);
        expect(rels(await walkAll(small, { ...o, worker: next }))).toEqual(['only.txt']);
      } finally {
        fs.rmSync(small.path, { recursive: true, force: true });
      }
    });

    it('without a kept thread a small walk stays here; when threads are kept and none is idle, one is started for the next walk', async () => {
      tree(tmp, { 'x.txt': 'x' });
      const o = { filters: {}, followSymlinks: false };
      expect(walkThreadReady()).toBe(false);
      expect(scanWorkerFor(rootAt(tmp), o, false)).toBeUndefined();
      expect(walkThreadReady()).toBe(false); // not kept: nothing started
      keepWalkThreads(true);
      const taken = scanWorkerFor(rootAt(tmp), o, true)!; // takes the idle one
      expect(walkThreadReady()).toBe(false);
      expect(scanWorkerFor(rootAt(tmp), o, false)).toBeUndefined(); // walked here…
      expect(walkThreadReady()).toBe(true); // …and one started for next time
      await taken.close();
    });
  });

  describe('a head start (a walk started before the command loaded: cli/head-start.ts)', () => {
    afterEach(() => stopHeadStart());
    const walkAll = async (root: SourceRoot, o: ScanOptions) => {
      const items: ScanItem[] = [];
      for await (const b of scanRootBatches(root, o)) items.push(...b);
      return items;
    };

    it('is taken over by the same walk — the same thread, whose items are the whole walk in order', async () => {
      for (let i = 0; i < 300; i++) tree(tmp, { [`d${i % 7}/f${i}.txt`]: String(i) });
      const root = rootAt(tmp);
      const o = { filters: { exclude: ['d3/**'] }, followSymlinks: false, batchSize: 16 };
      const early = startHeadStart(walkSpec({ ...root }, o));
      await new Promise((r) => setTimeout(r, 200)); // it walks ahead meanwhile
      const w = startScanWorker(root, o);
      expect(w).toBe(early);
      expect(w.headStart).toBe(true);
      const here = await walkAll(root, o);
      const there = await walkAll(root, { ...o, worker: w });
      expect(here.length).toBeGreaterThan(200);
      expect(here.some((it) => it.rel.startsWith('d3/'))).toBe(false);
      expect(there).toEqual(here);
      expect(takeHeadStartOf(root, o)).toBeUndefined(); // taken once
    });

    it('of another walk (other root, other filters) is stopped, and the run walks afresh', async () => {
      tree(tmp, { 'a/x.txt': 'x', 'a/y.log': 'y', 'b/z.txt': 'z' });
      const o = { filters: { exclude: ['**/*.log'] }, followSymlinks: false };
      const rootA = rootAt(path.join(tmp, 'a'));
      const otherCase = process.platform === 'linux' ? 'win32' : 'linux'; // other case rules: another walk
      for (const stale of [walkSpec(rootAt(path.join(tmp, 'b')), o), walkSpec(rootA, { ...o, filters: {} }), walkSpec(rootA, { ...o, followSymlinks: true }), walkSpec(rootA, { ...o, platform: otherCase })]) {
        const early = startHeadStart(stale);
        const w = startScanWorker(rootA, o);
        expect(w).not.toBe(early);
        expect(w.headStart).toBe(false);
        await expect(early.next()).rejects.toThrow('closed');
        expect(rels(await walkAll(rootA, { ...o, worker: w }))).toEqual(['x.txt']);
      }
      // A root too small for a worker of its own takes only its own head start.
      startHeadStart(walkSpec(rootAt(path.join(tmp, 'b')), o));
      expect(takeHeadStartOf(rootA, o)).toBeUndefined();
      const mine = startHeadStart(walkSpec(rootA, o));
      expect(takeHeadStartOf(rootA, o)).toBe(mine);
      expect(rels(await walkAll(rootA, { ...o, worker: mine }))).toEqual(['x.txt']);
    });
  });
});
