import { mkdtemp, mkdir, readFile, rm, symlink, writeFile, appendFile, readlink, readdir, utimes, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HokanConfig, JobConfig } from '../../common/config-types.js';
import { EngineHooks } from '../../common/hooks.js';
import { nullLogger } from '../../common/logger.js';
import { TargetError } from '../../common/errors.js';
import { MemoryTarget } from '../../testing/memory-target.js';
import { bufferSource } from '../../testing/sources.js';
import { IndexStore } from '../index/index-store.js';
import { startHeadStart, takeHeadStartOf, walkSpec } from '../scan/scanner.js';
import { runBackup } from './backup.js';
import type { EngineDeps } from './deps.js';
import { listVersions, runRestore } from './restore.js';
import { runVerify } from './verify.js';

let dir: string;
let src: string;
let dataDir: string;
let index: IndexStore;
let targets: Map<string, MemoryTarget>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-engine-'));
  src = join(dir, 'src');
  dataDir = join(dir, 'data');
  await mkdir(src);
  index = await IndexStore.open(dataDir);
  targets = new Map([['mem', new MemoryTarget()]]);
});

afterEach(async () => {
  await index.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

function job(over: Partial<JobConfig> = {}): JobConfig {
  return {
    id: 'docs',
    sources: [{ path: src }],
    targets: ['mem'],
    generations: 10,
    filters: {},
    deletions: 'every-run',
    deletionThreshold: { percent: 50, count: 1000 },
    followSymlinks: false,
    ignoreInode: false,
    ignoreCtime: false,
    ...over,
  };
}

function deps(j: JobConfig = job(), device = 'pc-1'): EngineDeps {
  const config: HokanConfig = { device, plugins: [], targets: Object.fromEntries([...targets.keys()].map((k) => [k, { type: 'memory', path: k }])), jobs: [j], notify: [], presets: {} };
  return {
    index,
    hooks: new EngineHooks(),
    logger: nullLogger,
    config,
    openTarget: async (id) => {
      const t = targets.get(id);
      if (!t) throw new Error(`no target ${id}`);
      // Each open is a fresh handle on the same storage, as with a real plugin: the engine disposes it.
      return Object.create(t, { [Symbol.asyncDispose]: { value: async () => {} } }) as MemoryTarget;
    },
    retry: { retries: 2, minDelayMs: 5 },
  };
}

async function tree(files: Record<string, string>): Promise<void> {
  for (const [rel, body] of Object.entries(files)) {
    await mkdir(join(src, rel, '..'), { recursive: true });
    await writeFile(join(src, rel), body);
  }
}

/** Every file under a folder as rel → content (symlinks as `-> target`). */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    const abs = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    const rel = abs.slice(root.length + 1);
    if (e.isSymbolicLink()) out[rel] = `-> ${await readlink(abs)}`;
    else if (e.isFile()) out[rel] = await readFile(abs, 'utf8');
  }
  return out;
}

/** A `tree()` description as `snapshot()` returns it (paths with the platform separator). */
const files_ = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).map(([k, v]) => [k.split('/').join(sep), v]));

const NFC = 'caf\u00e9 \u30d1.txt';
const NFD = NFC.normalize('NFD');

describe('backup and restore', () => {
  it('backs up a tree and restores it byte-identical, Japanese NFC/NFD names, spaces, empty files, deep paths and links included', async () => {
    const deep = Array.from({ length: 30 }, (_, i) => `d${i}`).join('/');
    await tree({ 'a.txt': 'alpha', 'space name/b c.txt': 'bravo', '日本語/写真.jpg': 'jpeg-ish', [NFC]: 'nfc', [NFD]: 'nfd', 'empty.txt': '', [`${deep}/deep.txt`]: 'deep' });
    await symlink('a.txt', join(src, 'link-to-a'));
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).toBe('completed');
    expect(run.reasons).toEqual([]);
    expect(run.counts).toMatchObject({ seen: 8, uploaded: 8, unchanged: 0, failed: 0 });
    expect(run.bytes).toBe(5 + 5 + 8 + 3 + 3 + 4);
    // Browsable: the newest version sits under its own path on the target.
    const t = targets.get('mem')!;
    expect((await t.stat('docs/src/a.txt')).size).toBe(5);

    const to = join(dir, 'restored');
    const { run: r } = await runRestore(deps(), { job: 'docs', to });
    expect(r.status).toBe('completed');
    expect(r.counts.restored).toBe(8);
    expect(await snapshot(join(to, 'src'))).toEqual(await snapshot(src));
  });

  it('a second run with nothing changed uploads nothing and is completed', async () => {
    await tree({ 'a.txt': 'alpha', 'b/c.txt': 'charlie' });
    await runBackup(deps(), { job: 'docs' });
    const putsBefore = targets.get('mem')!.calls.put;
    const run = await runBackup(deps(), { job: 'docs' });
    // Only small records are written — the run's lease, its record and the head: no file is sent again.
    expect(targets.get('mem')!.calls.put - putsBefore).toBeLessThanOrEqual(3);
    expect(run.status).toBe('completed');
    expect(run.counts).toMatchObject({ seen: 2, uploaded: 0, unchanged: 2 });
    expect(run.bytes).toBe(0);
  });

  it('walking in a worker thread finds the same changes, deletions and unchanged files', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 200; i++) files[`d${i % 7}/f${String(i).padStart(3, '0')}.txt`] = `v1-${i}`;
    await tree({ ...files, [NFC]: 'nfc', [NFD]: 'nfd' });
    await symlink('d0/f000.txt', join(src, 'link'));
    expect((await runBackup(deps(), { job: 'docs', scanWorker: 'never' })).counts).toMatchObject({ uploaded: 203 });
    for (let i = 0; i < 10; i++) {
      const f = join(src, `d${i % 7}/f${String(i).padStart(3, '0')}.txt`);
      await writeFile(f, `v2-${i}-longer`);
    }
    for (let i = 190; i < 200; i++) await rm(join(src, `d${i % 7}/f${String(i).padStart(3, '0')}.txt`));
    await tree({ 'new/n.txt': 'new' });
    const run = await runBackup(deps(), { job: 'docs', scanWorker: 'always' });
    expect(run.status).toBe('completed');
    expect(run.counts).toMatchObject({ seen: 194, uploaded: 11, deleted: 10, unchanged: 183, failed: 0 });
    const to = join(dir, 'restored');
    await runRestore(deps(), { job: 'docs', to });
    expect(await snapshot(join(to, 'src'))).toEqual(await snapshot(src));
  });

  it('deleting a file that is not the last of its folder sends nothing again and deletes only that file (issue 14)', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 6; i++) files[`many/f00${i}.txt`] = `content ${i}`;
    await tree(files);
    const first = await runBackup(deps(job({ generations: 3 })), { job: 'docs' });
    expect(first.counts).toMatchObject({ uploaded: 6 });
    await rm(join(src, 'many/f000.txt'));
    const run = await runBackup(deps(job({ generations: 3 })), { job: 'docs' });
    expect(run.status).toBe('completed');
    expect(run.counts).toMatchObject({ seen: 5, uploaded: 0, unchanged: 5, deleted: 1, failed: 0 });
    const to = join(dir, 'restored');
    await runRestore(deps(job({ generations: 3 })), { job: 'docs', to });
    expect(await snapshot(join(to, 'src'))).toEqual(await snapshot(src));
    // The first run still restores as it was, f000 included.
    const to1 = join(dir, 'restored-1');
    const { run: r1 } = await runRestore(deps(job({ generations: 3 })), { job: 'docs', to: to1, run: first.id });
    expect(r1.status).toBe('completed');
    expect(await snapshot(join(to1, 'src'))).toEqual(files_(files));
  });

  it('keeps older generations, restores any of them, and drops the oldest beyond `generations`', async () => {
    const j = job({ generations: 2 });
    await tree({ 'f.txt': 'v1' });
    const r1 = await runBackup(deps(j), { job: 'docs' });
    const runs = [r1.id];
    for (const v of ['v2', 'v3', 'v4']) {
      await writeFile(join(src, 'f.txt'), v);
      await utimes(join(src, 'f.txt'), new Date(), new Date(Date.now() + runs.length * 2000));
      await new Promise((r) => setTimeout(r, 1100)); // run ids have second resolution
      runs.push((await runBackup(deps(j), { job: 'docs' })).id);
    }
    const versions = await listVersions(deps(j), 'docs', join(src, 'f.txt'));
    expect(versions.map((v) => [v.current, v.size])).toEqual([
      [true, 2],
      [false, 2],
      [false, 2],
    ]);
    expect(versions.map((v) => v.v)).toEqual([runs[3], runs[2], runs[1]]);
    // The state after run 2 holds v2.
    const to = join(dir, 'at-run-2');
    await runRestore(deps(j), { job: 'docs', to, run: runs[1] });
    expect(await readFile(join(to, 'src', 'f.txt'), 'utf8')).toBe('v2');
    // v1 was dropped by retention: the first run's state no longer has the file.
    const to1 = join(dir, 'at-run-1');
    await runRestore(deps(j), { job: 'docs', to: to1, run: runs[0] });
    expect(await snapshot(to1).catch(() => ({}))).toEqual({});
  }, 30_000);

  it('keeps a file deleted at the source as a generation, restorable with --include-deleted and at an earlier run', async () => {
    await tree({ 'keep.txt': 'k', 'gone.txt': 'bye' });
    const r1 = await runBackup(deps(), { job: 'docs' });
    await rm(join(src, 'gone.txt'));
    const r2 = await runBackup(deps(), { job: 'docs' });
    expect(r2.counts.deleted).toBe(1);
    expect(r2.status).toBe('completed');
    // Not browsable any more, but kept.
    await expect(targets.get('mem')!.stat('docs/src/gone.txt')).rejects.toMatchObject({ kind: 'not-found' });
    const plain = join(dir, 'plain');
    await runRestore(deps(), { job: 'docs', to: plain });
    expect(Object.keys(await snapshot(plain))).toEqual(['src/keep.txt']);
    const withDeleted = join(dir, 'with-deleted');
    await runRestore(deps(), { job: 'docs', to: withDeleted, includeDeleted: true });
    expect(await snapshot(withDeleted)).toEqual({ 'src/keep.txt': 'k', 'src/gone.txt': 'bye' });
    const atFirst = join(dir, 'at-first');
    await runRestore(deps(), { job: 'docs', to: atFirst, run: r1.id });
    expect(await snapshot(atFirst)).toEqual({ 'src/keep.txt': 'k', 'src/gone.txt': 'bye' });
  });

  it('mirror mode (generations 0) keeps only the newest version', async () => {
    const j = job({ generations: 0 });
    await tree({ 'f.txt': 'one' });
    await runBackup(deps(j), { job: 'docs' });
    await writeFile(join(src, 'f.txt'), 'three');
    await runBackup(deps(j), { job: 'docs' });
    const keys: string[] = [];
    for await (const o of targets.get('mem')!.list('docs/.hokan/versions/')) keys.push(o.key);
    expect(keys).toEqual([]);
    const versions = await listVersions(deps(j), 'docs', 'f.txt');
    expect(versions).toHaveLength(1);
  });
});

describe('guards: nothing is deleted by accident', () => {
  it('a source folder that is gone deletes nothing and says invalid-settings', async () => {
    await tree({ 'a.txt': 'a', 'b.txt': 'b' });
    await runBackup(deps(), { job: 'docs' });
    await rm(src, { recursive: true });
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).toBe('incomplete');
    expect(run.reasons).toContain('invalid-settings');
    expect(run.counts.deleted).toBe(0);
    expect((await targets.get('mem')!.stat('docs/src/a.txt')).size).toBe(1);
  });

  it('an empty source folder deletes nothing', async () => {
    await tree({ 'a.txt': 'a' });
    await runBackup(deps(), { job: 'docs' });
    await rm(join(src, 'a.txt'));
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.reasons).toEqual(['invalid-settings']);
    expect(run.note).toMatch(/is empty; nothing was deleted/);
    expect(run.counts.deleted).toBe(0);
  });

  it('deleting more than the threshold stops and reports instead', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`f${i}.txt`] = String(i);
    await tree(files);
    await runBackup(deps(), { job: 'docs' });
    for (let i = 0; i < 20; i++) await rm(join(src, `f${i}.txt`));
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).toBe('incomplete');
    expect(run.reasons).toEqual(['deletion-threshold']);
    expect(run.note).toMatch(/20 files \(67%\) would be deleted/);
    expect(run.counts.deleted).toBe(0);
    // With deletions switched off nothing is even considered.
    const never = await runBackup(deps(job({ deletions: 'never' })), { job: 'docs' });
    expect(never.status).toBe('completed');
  });
});

describe('faults', () => {
  it('retries transient failures and completes', async () => {
    targets.set('mem', new MemoryTarget({ faults: [{ op: 'put', key: /a\.txt$/, nth: 1, times: 2, kind: 'transient' }] }));
    await tree({ 'a.txt': 'alpha' });
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).toBe('completed');
    expect(run.counts.uploaded).toBe(1);
  });

  it('a full target stops that target with quota-exceeded; what was backed up stays', async () => {
    targets.set('mem', new MemoryTarget({ quotaBytes: 3000 }));
    await tree({ 'a.txt': 'x'.repeat(1000), 'b.txt': 'y'.repeat(5000), 'c.txt': 'z' });
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).toBe('incomplete');
    expect(run.reasons).toContain('quota-exceeded');
    expect(run.counts.uploaded).toBeGreaterThanOrEqual(1);
    const to = join(dir, 'r');
    await runRestore(deps(), { job: 'docs', to });
    expect(await readFile(join(to, 'src', 'a.txt'), 'utf8')).toBe('x'.repeat(1000));
  });

  it('takes over a walk started before the run (a head start of the bin), unless a plugin works on the source before the run', async () => {
    await tree({ 'a.txt': 'a' });
    await runBackup(deps(), { job: 'docs' });
    // A run's walk reports what it leaves out (onSkip): the early walk is started the same way.
    const early = () => startHeadStart(walkSpec({ name: 'src', path: src }, { filters: {}, followSymlinks: false, folders: true, onSkip: () => {} }));
    // Until the early walk is over (a fixed wait was too short on a loaded machine).
    const walked = async (w: ReturnType<typeof early>) => {
      for (let i = 0; i < 500 && !w.walked; i++) await new Promise((r) => setTimeout(r, 10));
      expect(w.walked, 'the early walk ended').toBe(true);
    };

    // Taken over: what the run sees is what the early walk saw (b.txt came after it).
    await walked(early());
    await writeFile(join(src, 'b.txt'), 'b');
    const taken = await runBackup(deps(), { job: 'docs' });
    expect(taken.counts).toMatchObject({ seen: 1, unchanged: 1, uploaded: 0 });
    expect((await runBackup(deps(), { job: 'docs' })).counts).toMatchObject({ seen: 2, uploaded: 1 });

    // A beforeRun tap (a plugin that mounts or snapshots the source): the early walk is stopped.
    await walked(early());
    const d = deps();
    d.hooks.beforeRun.tapPromise('test-mount', () => writeFile(join(src, 'c.txt'), 'c'));
    const after = await runBackup(d, { job: 'docs' });
    expect(after.counts).toMatchObject({ seen: 3, uploaded: 1 });
    expect(takeHeadStartOf({ name: 'src', path: src }, { filters: {}, followSymlinks: false, folders: true, onSkip: () => {} })).toBeUndefined();
  });

  it('an unavailable target is target-unavailable and the run says why', async () => {
    targets.set('mem', new MemoryTarget({ unavailable: true }));
    await tree({ 'a.txt': 'a' });
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).toBe('incomplete');
    expect(run.reasons).toEqual(['target-unavailable']);
    expect(run.error).toMatch(/^mem: /);
  });

  it('a file that changes while it is read is skipped as changed-during-backup and sent next run', async () => {
    await tree({ 'grow.log': 'start', 'calm.txt': 'calm' });
    const d = deps();
    d.hooks.beforeUpload.tap('test-grower', (item) => {
      if (item.entry.rel === 'grow.log') void appendFile(item.entry.abs, ' more').catch(() => {});
      return item;
    });
    // Make the append land before the read ends: the hook runs right before the upload.
    d.hooks.beforeUpload.tapPromise({ name: 'test-wait', stage: 10 }, async (item) => {
      await new Promise((r) => setTimeout(r, 20));
      return item;
    });
    const run = await runBackup(d, { job: 'docs' });
    expect(run.reasons).toEqual(['changed-during-backup']);
    expect(run.counts).toMatchObject({ uploaded: 1, skipped: 1 });
    await expect(targets.get('mem')!.stat('docs/src/grow.log')).rejects.toMatchObject({ kind: 'not-found' });
    const next = await runBackup(deps(), { job: 'docs' });
    expect(next.status).toBe('completed');
    expect(next.counts.uploaded).toBe(1);
  });

  it('names a target cannot hold are recorded forbidden-name, the rest goes on', async () => {
    targets.set('mem', new MemoryTarget({ capabilities: { forbiddenChars: '\\:*?"<>|' } }));
    await tree({ 'ok.txt': 'ok', 'what?.txt': 'q' });
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.reasons).toEqual(['forbidden-name']);
    expect(run.counts).toMatchObject({ uploaded: 1, skipped: 1 });
    const { files } = await index.listFiles(run.id, { status: 'skipped' });
    expect(files).toEqual([expect.objectContaining({ path: 'src/what?.txt', reason: 'forbidden-name' })]);
  });

  it('refuses a second owner of the same place', async () => {
    await tree({ 'a.txt': 'a' });
    await runBackup(deps(), { job: 'docs' });
    await index.close();
    await rm(dataDir, { recursive: true });
    index = await IndexStore.open(dataDir);
    const run = await runBackup(deps(job(), 'another-pc'), { job: 'docs' });
    expect(run.reasons).toEqual(['invalid-settings']);
    expect(run.error).toMatch(/already holds the backup of job "docs" from device "pc-1"/);
  });
});

describe('the place\'s layout (marker format)', () => {
  it('a new place keeps older versions under .hokan/versions/RUN/ROOT/REL: a name of 255 bytes keeps its versions (issue 27)', async () => {
    const long = 'あ'.repeat(85); // 255 bytes in UTF-8: the longest legal name
    await tree({ [long]: 'v1' });
    const r1 = await runBackup(deps(), { job: 'docs' });
    await writeFile(join(src, long), 'version two');
    const r2 = await runBackup(deps(), { job: 'docs' });
    expect(r2).toMatchObject({ status: 'completed', counts: { uploaded: 1, failed: 0 } });
    const mem = targets.get('mem')!;
    expect(mem.keys().filter((k) => k.includes('.hokan/versions/'))).toEqual([`docs/.hokan/versions/${r1.id}/src/${long}`]);
    expect(JSON.parse(mem.peek('docs/.hokan/marker.json')!.toString()).format).toBe(2);
    const to = join(dir, 'long-at-1');
    await runRestore(deps(), { job: 'docs', to, run: r1.id });
    expect(await readFile(join(to, 'src', long), 'utf8')).toBe('v1');
  });

  it('a place made before (format 1, or no format) keeps its layout NAME~RUN, and restores from it', async () => {
    const mem = targets.get('mem')!;
    await mem.put('docs/.hokan/marker.json', bufferSource(JSON.stringify({ device: 'pc-1', job: 'docs', created: '2026-01-01T00:00:00Z' })), { size: 0 });
    await tree({ 'f.txt': 'one' });
    const r1 = await runBackup(deps(), { job: 'docs' });
    await writeFile(join(src, 'f.txt'), 'two!');
    await runBackup(deps(), { job: 'docs' });
    expect(mem.keys().filter((k) => k.includes('.hokan/versions/'))).toEqual([`docs/.hokan/versions/src/f.txt~${r1.id}`]);
    const to = join(dir, 'legacy-at-1');
    await runRestore(deps(), { job: 'docs', to, run: r1.id });
    expect(await readFile(join(to, 'src', 'f.txt'), 'utf8')).toBe('one');
    expect(await runVerify(deps(), { job: 'docs' })).toMatchObject({ checked: 2, ok: 2 });
  });

  it('a place written by a newer hokan is refused, naming the fix, and left untouched', async () => {
    const mem = targets.get('mem')!;
    await mem.put('docs/.hokan/marker.json', bufferSource(JSON.stringify({ format: 3, device: 'pc-1', job: 'docs', created: '2030-01-01T00:00:00Z' })), { size: 0 });
    await tree({ 'f.txt': 'one' });
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).not.toBe('completed');
    expect(JSON.stringify(run)).toMatch(/written by a newer hokan \(layout 3; this one knows up to 2\)/);
    expect(mem.keys().filter((k) => !k.endsWith('marker.json'))).toEqual([]);
  });
});

describe('index rebuild from the target', () => {
  it('with the index deleted, history, restore and the next backup work from what the target holds', async () => {
    await tree({ 'a.txt': 'one', 'b/c.txt': 'cee' });
    const r1 = await runBackup(deps(), { job: 'docs' });
    await writeFile(join(src, 'a.txt'), 'two!');
    await runBackup(deps(), { job: 'docs' });
    await index.close();
    await rm(dataDir, { recursive: true });
    index = await IndexStore.open(dataDir);

    const to = join(dir, 'fresh');
    // The restore reads the history and the held versions back from the target before it looks up the run.
    const { run } = await runRestore(deps(), { job: 'docs', to, run: r1.id });
    expect(run.status).toBe('completed');
    expect(await snapshot(to)).toEqual({ 'src/a.txt': 'one', 'src/b/c.txt': 'cee' });
    const { runs } = await index.listRuns({ job: 'docs', kind: 'backup' });
    expect(runs.map((r) => r.status)).toEqual(['completed', 'completed']);
    const next = await runBackup(deps(), { job: 'docs' });
    expect(next.counts).toMatchObject({ uploaded: 0, unchanged: 2 });
  });
});

describe('clocks (issue 24)', () => {
  it('a system clock that goes back between runs, and mtimes before 1970 and far in the future: run order, generations and restores of every run stay right', async () => {
    await tree({ 'plan.txt': 'v1', 'old.txt': 'from the sixties', 'future.txt': 'from 2100' });
    await utimes(join(src, 'old.txt'), new Date('1965-03-01T00:00:00Z'), new Date('1965-03-01T00:00:00Z'));
    await utimes(join(src, 'future.txt'), new Date('2100-01-01T00:00:00Z'), new Date('2100-01-01T00:00:00Z'));
    const at = (iso: string) => new Date(iso);
    const r1 = await runBackup(deps(), { job: 'docs', now: at('2031-06-10T12:00:00Z') });
    await writeFile(join(src, 'plan.txt'), 'v2 (clock went back a day)');
    // The clock steps back a day (a dead CMOS battery), then another hour.
    const r2 = await runBackup(deps(), { job: 'docs', now: at('2031-06-09T12:00:00Z') });
    await writeFile(join(src, 'plan.txt'), 'v3 (and back an hour more)');
    const r3 = await runBackup(deps(), { job: 'docs', now: at('2031-06-09T11:00:00Z') });
    expect([r1, r2, r3].map((r) => r.status)).toEqual(['completed', 'completed', 'completed']);
    // Run ids still follow the runs' order, whatever the clock said.
    expect(r1.id < r2.id && r2.id < r3.id, `${r1.id} < ${r2.id} < ${r3.id}`).toBe(true);
    expect(r2.counts).toMatchObject({ uploaded: 1, unchanged: 2 });
    const versions = await listVersions(deps(), 'docs', 'plan.txt');
    expect(versions.map((v) => [v.v, v.current])).toEqual([[r3.id, true], [r2.id, false], [r1.id, false]]);
    for (const [r, want] of [[r1, 'v1'], [r2, 'v2 (clock went back a day)'], [r3, 'v3 (and back an hour more)']] as const) {
      const to = join(dir, `clock-${r.id}`);
      await runRestore(deps(), { job: 'docs', to, run: r.id });
      expect(await readFile(join(to, 'src', 'plan.txt'), 'utf8')).toBe(want);
      expect((await stat(join(to, 'src', 'old.txt'))).mtime.toISOString()).toBe('1965-03-01T00:00:00.000Z');
      expect((await stat(join(to, 'src', 'future.txt'))).mtime.toISOString()).toBe('2100-01-01T00:00:00.000Z');
    }
    // Nothing sent again for the odd mtimes.
    expect((await runBackup(deps(), { job: 'docs', now: at('2031-06-09T11:30:00Z') })).counts).toMatchObject({ uploaded: 0, unchanged: 3 });
  });
});

describe('a target wiped or added later (issue 24)', () => {
  it('a restore of a run the first target no longer holds takes the job\'s other target; named, it says the run is not on it', async () => {
    const files = { 'a.txt': 'alpha', 'd/b.txt': 'bravo' };
    await tree(files);
    targets.set('mem2', new MemoryTarget());
    const j = job({ targets: ['mem', 'mem2'] });
    // Dated on purpose: run ids follow the newest run this process made (the clocks test goes to 2031).
    const r1 = await runBackup(deps(j), { job: 'docs', now: new Date('2040-01-01T10:00:00Z') });
    expect(r1.status).toBe('completed');
    // The first target is wiped; the next run heals it and names the first run it holds now.
    const mem = targets.get('mem')!;
    for (const k of [...(await listKeys(mem, ''))]) await mem.remove(k);
    await writeFile(join(src, 'a.txt'), 'alpha 2');
    const r2 = await runBackup(deps(j), { job: 'docs', now: new Date('2040-01-01T12:00:00Z') });
    expect({ status: r2.status, reasons: r2.reasons }).toEqual({ status: 'incomplete', reasons: ['target-reset'] });
    const to = join(dir, 'r1');
    const { run } = await runRestore(deps(j), { job: 'docs', to, run: r1.id });
    expect({ status: run.status, targets: run.targets }).toEqual({ status: 'completed', targets: ['mem2'] });
    expect(await snapshot(join(to, 'src'))).toEqual(files_(files));
    await expect(runRestore(deps(j), { job: 'docs', to: join(dir, 'r1b'), run: r1.id, target: 'mem' })).rejects.toThrow(`target "mem" holds this job's backups from run ${r2.id} on`);
    // By time too: the state an hour before the second run is not on "mem".
    await expect(runRestore(deps(j), { job: 'docs', to: join(dir, 'r1c'), at: new Date('2040-01-01T11:00:00Z'), target: 'mem' })).rejects.toThrow(/is not on it/);
    const { run: newest } = await runRestore(deps(j), { job: 'docs', to: join(dir, 'r2'), target: 'mem' });
    expect(newest.status).toBe('completed');
    expect(await readFile(join(dir, 'r2', 'src', 'a.txt'), 'utf8')).toBe('alpha 2');
  });
});

describe('a watched run and a wiped target (issue 24)', () => {
  it('a watched run (changed paths only) that finds its target wiped looks at every file and sends it', async () => {
    await tree({ 'a.txt': 'alpha', 'd/b.txt': 'bravo' });
    const r1 = await runBackup(deps(), { job: 'docs', now: new Date('2042-01-01T10:00:00Z') });
    expect(r1.counts).toMatchObject({ uploaded: 2 });
    const mem = targets.get('mem')!;
    for (const k of [...(await listKeys(mem, ''))]) await mem.remove(k);
    // Nothing changed at the source: a watcher reports no path.
    const r2 = await runBackup(deps(), { job: 'docs', now: new Date('2042-01-01T11:00:00Z'), paths: [] });
    expect({ status: r2.status, reasons: r2.reasons, counts: r2.counts }).toMatchObject({ status: 'incomplete', reasons: ['target-reset'], counts: { seen: 2, uploaded: 2 } });
    expect(r2.note).toContain('this run looks at every file, not only the changed paths');
    const to = join(dir, 'after-wipe');
    await runRestore(deps(), { job: 'docs', to });
    expect(await snapshot(join(to, 'src'))).toEqual(files_({ 'a.txt': 'alpha', 'd/b.txt': 'bravo' }));
  });
});

describe('copies gone behind hokan\'s back (issue 24)', () => {
  it('an older version whose copy is gone when it is to be kept is dropped and said, never recorded as kept', async () => {
    await tree({ 'a.txt': 'alpha 1', 'b.txt': 'bravo 1', 'c.txt': 'charlie' });
    const j = job({ generations: 3 });
    const r1 = await runBackup(deps(j), { job: 'docs', now: new Date('2041-01-01T10:00:00Z') });
    expect(r1.status).toBe('completed');
    const mem = targets.get('mem')!;
    await mem.remove('docs/src/a.txt');
    await mem.remove('docs/src/b.txt');
    await writeFile(join(src, 'a.txt'), 'alpha 2');
    await rm(join(src, 'b.txt'));
    const r2 = await runBackup(deps(j), { job: 'docs', now: new Date('2041-01-01T12:00:00Z') });
    expect({ status: r2.status, uploaded: r2.counts.uploaded, deleted: r2.counts.deleted }).toEqual({ status: 'completed', uploaded: 1, deleted: 1 });
    expect(r2.note).toContain('mem: 2 earlier version(s) to keep were missing there');
    // Not kept: neither version of the first run is listed, and a restore of it says they were pruned.
    expect((await listVersions(deps(j), 'docs', 'a.txt')).map((v) => v.v)).toEqual([r2.id]);
    expect(await listVersions(deps(j), 'docs', 'b.txt')).toEqual([]);
    const to = join(dir, 'lost-r1');
    const { run, files } = await runRestore(deps(j), { job: 'docs', to, run: r1.id });
    expect({ status: run.status, reasons: run.reasons, failed: run.counts.failed }).toEqual({ status: 'incomplete', reasons: ['version-pruned'], failed: 0 });
    expect(files.filter((f) => f.reason === 'version-pruned').map((f) => f.path).sort()).toEqual(['src/a.txt', 'src/b.txt']);
    expect(await readFile(join(to, 'src', 'c.txt'), 'utf8')).toBe('charlie');
  });
});

describe('the per-run spot check (issue 24)', () => {
  it('picks each unchanged file with the same chance while the walk goes on: about `spotCheck` of them, never more than twice that; with a large `spotCheck` every file, and what is gone is sent again', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 400; i++) files[`d${i % 8}/f${i}.txt`] = `file ${i}`;
    await tree(files);
    const j = job();
    expect((await runBackup(deps(j), { job: 'docs' })).counts.uploaded).toBe(400);
    const mem = targets.get('mem')!;
    const looked: number[] = [];
    for (let round = 0; round < 3; round++) {
      const before = mem.calls.stat;
      const r = await runBackup(deps(j), { job: 'docs' });
      expect({ status: r.status, uploaded: r.counts.uploaded, unchanged: r.counts.unchanged }).toEqual({ status: 'completed', uploaded: 0, unchanged: 400 });
      looked.push(mem.calls.stat - before);
    }
    // Binomial(400, 20/400) per run: 0 or more than 40 has a chance below one in a million.
    for (const n of looked) expect(n).toBeGreaterThan(0);
    for (const n of looked) expect(n).toBeLessThanOrEqual(40);
    await mem.remove('docs/src/d3/f11.txt');
    await mem.remove('docs/src/d5/f205.txt');
    const all = job({ spotCheck: 1000 });
    const before = mem.calls.stat;
    const r = await runBackup(deps(all), { job: 'docs' });
    expect(mem.calls.stat - before).toBe(400);
    expect({ uploaded: r.counts.uploaded, unchanged: r.counts.unchanged }).toEqual({ uploaded: 2, unchanged: 398 });
    expect(r.note).toMatch(/mem: the spot check found 2 of 400 files checked missing or damaged there \(src\/d(3\/f11|5\/f205)\.txt, src\/d(3\/f11|5\/f205)\.txt\): sent again/);
    expect(mem.peek('docs/src/d3/f11.txt')?.toString()).toBe('file 11');
  });
});

describe('several targets (side by side)', () => {
  it('opens and closes each target of a job on its own: one that answers slowly does not hold the other back, and both end with the run', async () => {
    await tree({ 'a.txt': 'alpha', 'd/b.txt': 'bravo' });
    // `slow` answers its check only once `fast` has been checked: opened one after the other, the
    // run would wait for ever (the test's timeout); side by side, both go on.
    let fastChecked!: () => void;
    const seen = new Promise<void>((r) => (fastChecked = r));
    class Slow extends MemoryTarget {
      override async check(): Promise<void> {
        await seen;
        return super.check();
      }
    }
    class Fast extends MemoryTarget {
      override async check(): Promise<void> {
        fastChecked();
        return super.check();
      }
    }
    targets = new Map<string, MemoryTarget>([['slow', new Slow()], ['fast', new Fast()]]);
    const j = job({ targets: ['slow', 'fast'] });
    const r1 = await runBackup(deps(j), { job: 'docs' });
    expect({ status: r1.status, targets: r1.targetResults!.map((t) => [t.id, t.counts.uploaded]) }).toEqual({ status: 'completed', targets: [['slow', 2], ['fast', 2]] });
    const r2 = await runBackup(deps(j), { job: 'docs' });
    expect(r2.targetResults!.map((t) => [t.id, t.status, t.counts.unchanged])).toEqual([['slow', 'completed', 2], ['fast', 'completed', 2]]);
    // Each target was closed: its head names the last run, and no lease is left.
    for (const t of targets.values()) {
      expect(JSON.parse(t.peek('docs/.hokan/head.json')!.toString())).toMatchObject({ run: r2.id, state: 'closed' });
      expect(t.keys().filter((k) => k.includes('/.hokan/leases/'))).toEqual([]);
    }
    for (const id of ['slow', 'fast']) expect((await runRestore(deps(j), { job: 'docs', to: join(dir, `out-${id}`), target: id })).run.status).toBe('completed');
    expect(await snapshot(join(dir, 'out-slow', 'src'))).toEqual(await snapshot(src));
  }, 20_000);
});

describe('names a destination cannot hold (issue 27)', () => {
  it('restoring to Windows rules: a name it cannot hold fails forbidden-name naming --rename-unsafe; with it, the file comes back under a name it can hold, said per file', async () => {
    const names = { 'a:b.txt': 'colon', 'q?.txt': 'question', 'back\\slash.txt': 'backslash', 'CON.txt': 'device', 'dot.': 'trailing dot', 'sub|dir/x.txt': 'in a folder', 'plain.txt': 'plain' };
    await tree(names);
    await runBackup(deps(), { job: 'docs' });
    const refused = join(dir, 'win-refused');
    const first = await runRestore(deps(), { job: 'docs', to: refused, nameRules: 'windows' });
    expect(first.run.status).toBe('incomplete');
    expect(first.run.counts, JSON.stringify(first.files)).toMatchObject({ restored: 1, failed: 7 }); // six files and the folder sub|dir
    const bad = first.files.find((f) => f.path === 'src/a:b.txt')!;
    expect(bad).toMatchObject({ status: 'failed', reason: 'forbidden-name' });
    expect(bad.message).toContain('"a:b.txt" cannot be written on this system: the character : is not allowed in a name');
    expect(first.files.find((f) => f.path === 'src/CON.txt')!.message).toContain('CON is a device name');
    expect(first.files.find((f) => f.path === 'src/dot.')!.message).toContain('a name may not end in a dot');
    const renamed = join(dir, 'win-renamed');
    const second = await runRestore(deps(), { job: 'docs', to: renamed, nameRules: 'windows', renameUnsafe: true });
    expect(second.run).toMatchObject({ status: 'completed', counts: { restored: 7, failed: 0 } });
    expect(await snapshot(join(renamed, 'src'))).toEqual({ 'a：b.txt': 'colon', 'q？.txt': 'question', 'back＼slash.txt': 'backslash', 'CON_.txt': 'device', 'dot．': 'trailing dot', 'sub｜dir/x.txt': 'in a folder', 'plain.txt': 'plain' });
    expect(second.files.find((f) => f.path === 'src/a:b.txt')!.message).toBe('restored as "a：b.txt" (--rename-unsafe: this system cannot hold the name)');
    // On this system (Linux) every name comes back as it is.
    const here = join(dir, 'here');
    await runRestore(deps(), { job: 'docs', to: here });
    expect(await snapshot(join(here, 'src'))).toEqual(names);
  });
});

describe('restore safety', () => {
  it('never writes outside the chosen folder, whatever a manifest on the target says', async () => {
    await tree({ 'a.txt': 'a' });
    await runBackup(deps(), { job: 'docs' });
    const t = targets.get('mem')!;
    const evil = ['{"op":"put","p":"src/../../../evil.txt","v":"20990101T000000-0000","size":1,"mtimeMs":0,"sha256":"x"}', '{"op":"put","p":"src//etc/passwd","v":"20990101T000000-0001","size":1,"mtimeMs":0,"sha256":"x"}'].join('\n');
    const { bufferSource } = await import('../../testing/sources.js');
    await t.put('docs/.hokan/runs/20990101T000000-0000/changes-0001.jsonl', bufferSource(evil), { size: Buffer.byteLength(evil) });
    await t.put('docs/src/../../../evil.txt'.replace(/\.\.\//g, 'x/'), bufferSource('e'), { size: 1 });
    await index.close();
    await rm(dataDir, { recursive: true });
    index = await IndexStore.open(dataDir);
    const to = join(dir, 'jail', 'inside');
    const { run, files } = await runRestore(deps(), { job: 'docs', to });
    expect(files.filter((f) => f.status === 'failed').map((f) => f.reason)).toEqual(['invalid-settings', 'invalid-settings']);
    expect(run.counts.restored).toBe(1);
    await expect(stat(join(dir, 'evil.txt'))).rejects.toThrow();
    await expect(stat(join(dir, 'jail', 'evil.txt'))).rejects.toThrow();
  });

  it('honours --overwrite never | if-newer | always | rename', async () => {
    await tree({ 'f.txt': 'backed-up' });
    await utimes(join(src, 'f.txt'), new Date('2026-01-01'), new Date('2026-01-01'));
    await runBackup(deps(), { job: 'docs' });
    const local = join(src, 'f.txt');
    await writeFile(local, 'local edit');
    await utimes(local, new Date('2026-06-01'), new Date('2026-06-01'));
    await runRestore(deps(), { job: 'docs', overwrite: 'never' });
    expect(await readFile(local, 'utf8')).toBe('local edit');
    await runRestore(deps(), { job: 'docs', overwrite: 'if-newer' });
    expect(await readFile(local, 'utf8')).toBe('local edit');
    await runRestore(deps(), { job: 'docs', overwrite: 'rename' });
    expect(await readFile(local, 'utf8')).toBe('local edit');
    expect(await readFile(join(src, 'f (1).txt'), 'utf8')).toBe('backed-up');
    await runRestore(deps(), { job: 'docs', overwrite: 'always', paths: ['f.txt'] });
    expect(await readFile(local, 'utf8')).toBe('backed-up');
  });

  it('verify finds a copy that no longer matches its hash', async () => {
    await tree({ 'a.txt': 'alpha', 'b.txt': 'bravo' });
    await runBackup(deps(), { job: 'docs' });
    const ok = await runVerify(deps(), { job: 'docs' });
    expect(ok).toMatchObject({ checked: 2, ok: 2, problems: [] });
    const { bufferSource } = await import('../../testing/sources.js');
    await targets.get('mem')!.put('docs/src/b.txt', bufferSource('BRAVO'), { size: 5 });
    const bad = await runVerify(deps(), { job: 'docs' });
    expect(bad.ok).toBe(1);
    expect(bad.problems).toEqual([expect.objectContaining({ path: 'src/b.txt', reason: 'hash-mismatch' })]);
    // Restore refuses the bad copy rather than writing it.
    const { files } = await runRestore(deps(), { job: 'docs', to: join(dir, 'r') });
    expect(files.find((f) => f.path === 'src/b.txt')).toMatchObject({ status: 'failed', reason: 'hash-mismatch' });
  });

  it('a current copy verify finds damaged or missing is sent again by the next backup, over it; an older one is only reported', async () => {
    await tree({ 'a.txt': 'alpha', 'b.txt': 'bravo', 'c.txt': 'charlie v1' });
    const first = await runBackup(deps(), { job: 'docs' });
    await writeFile(join(src, 'c.txt'), 'charlie v2');
    await runBackup(deps(), { job: 'docs' }); // c.txt v1 is now a generation
    const mem = targets.get('mem')!;
    const { bufferSource } = await import('../../testing/sources.js');
    await mem.put('docs/src/b.txt', bufferSource('BRAVO'), { size: 5 }); // damaged current copy
    await mem.remove('docs/src/a.txt'); // missing current copy
    const old = mem.keys().find((k) => k.startsWith('docs/.hokan/versions/') && k.endsWith('/src/c.txt'))!;
    await mem.put(old, bufferSource('CHARLIE V1'), { size: 10 }); // damaged generation

    const v = await runVerify(deps(), { job: 'docs' });
    expect(v).toMatchObject({ checked: 4, ok: 1, resend: 2 });
    expect(v.problems.map((p) => [p.path, p.reason]).sort()).toEqual([['src/a.txt', 'not-found'], ['src/b.txt', 'hash-mismatch'], ['src/c.txt', 'hash-mismatch']]);

    // The sources did not change: only the two damaged current copies go again.
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.counts).toMatchObject({ seen: 3, uploaded: 2, unchanged: 1, failed: 0 });
    expect((await index.listFiles(run.id)).files.map((f) => [f.path, f.status]).sort()).toEqual([['src/a.txt', 'uploaded'], ['src/b.txt', 'uploaded']]);
    expect(mem.peek('docs/src/a.txt')?.toString()).toBe('alpha');
    expect(mem.peek('docs/src/b.txt')?.toString()).toBe('bravo');
    // Healed, not replaced: the same version (the first run's), no damaged copy kept as a generation,
    // and a restore of the tree as of the first run has both files again.
    expect((await listVersions(deps(), 'docs', 'b.txt')).map((x) => [x.v, x.size, x.current])).toEqual([[first.id, 5, true]]);
    expect((await listVersions(deps(), 'docs', 'a.txt')).map((x) => x.v)).toEqual([first.id]);
    const asof = await runRestore(deps(), { job: 'docs', run: first.id, to: join(dir, 'asof') });
    expect(await snapshot(join(dir, 'asof'))).toEqual({ 'src/a.txt': 'alpha', 'src/b.txt': 'bravo' });
    expect(asof.files.find((f) => f.path === 'src/c.txt')).toMatchObject({ status: 'failed', reason: 'hash-mismatch' }); // the damaged generation
    const again = await runVerify(deps(), { job: 'docs' });
    expect(again).toMatchObject({ checked: 4, ok: 3, resend: 0 });
    expect(again.problems.map((p) => p.path)).toEqual(['src/c.txt']);
    // And the next backup has nothing to send.
    expect((await runBackup(deps(), { job: 'docs' })).counts).toMatchObject({ uploaded: 0, unchanged: 3 });
    // The target's journal says the same: an index rebuilt from it holds the healed version.
    await index.close();
    await rm(dataDir, { recursive: true });
    index = await IndexStore.open(dataDir);
    const rebuilt = await runRestore(deps(), { job: 'docs', run: first.id, to: join(dir, 'rebuilt') });
    expect(rebuilt.files.filter((f) => f.status === 'restored').map((f) => f.path).sort()).toEqual(['src/a.txt', 'src/b.txt']);
    expect((await listVersions(deps(), 'docs', 'b.txt')).map((x) => [x.v, x.current])).toEqual([[first.id, true]]);
  });
});

describe('change detection and limits', () => {
  it('--full re-hashes: content changed behind the same size and mtime is found', async () => {
    await tree({ 'f.txt': 'aaaa' });
    const t0 = new Date('2026-03-01T10:00:00Z');
    await utimes(join(src, 'f.txt'), t0, t0);
    await runBackup(deps(), { job: 'docs' });
    await writeFile(join(src, 'f.txt'), 'bbbb');
    await utimes(join(src, 'f.txt'), t0, t0);
    // ctime moved, so even a normal run checks the hash; with ctime ignored only --full finds it.
    const j = job({ ignoreCtime: true, ignoreInode: true });
    expect((await runBackup(deps(j), { job: 'docs' })).counts.uploaded).toBe(0);
    const full = await runBackup(deps(j), { job: 'docs', full: true });
    expect(full.counts).toMatchObject({ uploaded: 1, unchanged: 0 });
    const { files } = await runRestore(deps(j), { job: 'docs', to: join(dir, 'r') });
    expect(files[0]).toMatchObject({ status: 'restored' });
    expect(await readFile(join(dir, 'r', 'src', 'f.txt'), 'utf8')).toBe('bbbb');
  });

  it('a ctime change with the same content is checked by hash and not sent again', async () => {
    await tree({ 'f.txt': 'same' });
    await runBackup(deps(), { job: 'docs' });
    const { link, unlink } = await import('node:fs/promises');
    await link(join(src, 'f.txt'), join(dir, 'hard-link')); // ctime moves; content, mtime and mode do not
    await unlink(join(dir, 'hard-link'));
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.counts).toMatchObject({ uploaded: 0, unchanged: 1 });
    // A chmod moves ctime too, and is a change of its own: recorded, nothing sent (issue 27).
    const { chmod } = await import('node:fs/promises');
    const puts = targets.get('mem')!.calls.put;
    await chmod(join(src, 'f.txt'), 0o600);
    const after = await runBackup(deps(), { job: 'docs' });
    expect(after.counts).toMatchObject({ uploaded: 1, unchanged: 0 });
    expect(after.bytes).toBe(0);
    // Small records only — lease, head (running, closed), run record (start, end), journal — no file.
    expect(targets.get('mem')!.calls.put - puts).toBeLessThanOrEqual(6);
  });

  it('files too large and paths too long are recorded with their reason', async () => {
    await tree({ 'small.txt': 'x', 'big.bin': 'y'.repeat(2048), [`${'n'.repeat(60)}/deep.txt`]: 'z' });
    const run = await runBackup(deps(job({ maxFileSize: '1KB', maxPathLength: 50 })), { job: 'docs' });
    expect(run.status).toBe('incomplete');
    expect(run.reasons).toEqual(['multiple-errors', 'file-too-large', 'path-too-long']);
    const { files } = await index.listFiles(run.id, { status: 'skipped' });
    expect(files.map((f) => [f.path.slice(0, 12), f.reason])).toEqual([
      ['src/big.bin', 'file-too-large'],
      ['src/nnnnnnnn', 'path-too-long'],
    ]);
  });
});

describe('deletions and retries', () => {
  it('monthly deletions happen on the first run of the month only', async () => {
    const j = job({ deletions: 'monthly' });
    await tree({ 'a.txt': 'a', 'b.txt': 'b' });
    await runBackup(deps(j), { job: 'docs', now: new Date(2026, 9, 20, 12) });
    await rm(join(src, 'b.txt'));
    const sameMonth = await runBackup(deps(j), { job: 'docs', now: new Date(2026, 9, 25, 12) });
    expect(sameMonth.counts.deleted).toBe(0);
    const nextMonth = await runBackup(deps(j), { job: 'docs', now: new Date(2026, 10, 1, 9) });
    expect(nextMonth.counts.deleted).toBe(1);
  });

  it('a file that keeps failing on the network gets one more try at the end of the run', async () => {
    // 3 attempts with backoff fail; the retry pass at the end succeeds.
    targets.set('mem', new MemoryTarget({ faults: [{ op: 'put', key: /flaky\.txt$/, nth: 1, times: 3, kind: 'transient' }] }));
    await tree({ 'flaky.txt': 'f', 'ok.txt': 'o' });
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).toBe('completed');
    expect(run.counts.uploaded).toBe(2);
    expect(targets.get('mem')!.calls.put).toBeGreaterThanOrEqual(4 + 2);
  });

  it('network failures that outlast the retry pass end as network-error', async () => {
    targets.set('mem', new MemoryTarget({ faults: [{ op: 'put', key: /flaky\.txt$/, kind: 'transient' }] }));
    await tree({ 'flaky.txt': 'f', 'ok.txt': 'o' });
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run).toMatchObject({ status: 'incomplete', reasons: ['network-error'], counts: { uploaded: 1, failed: 1 } });
  });

  it('a disk unplugged mid-run: target-unavailable, the rest is skipped, nothing backed up is lost', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 20; i++) files[`f${String(i).padStart(2, '0')}.txt`] = `file ${i}`;
    await tree(files);
    const mem = targets.get('mem')!;
    const d = deps();
    let n = 0;
    d.hooks.afterUpload.tap('test-unplug', () => {
      if (++n === 5) mem.setAvailable(false);
    });
    const run = await runBackup(d, { job: 'docs' });
    expect(run.status).toBe('incomplete');
    expect(run.reasons).toContain('target-unavailable');
    expect(run.counts.uploaded).toBeGreaterThanOrEqual(5);
    expect(run.counts.uploaded + run.counts.skipped + run.counts.failed).toBe(20);
    mem.setAvailable(true);
    const next = await runBackup(deps(), { job: 'docs' });
    expect(next.status).toBe('completed');
    expect(next.counts.uploaded + next.counts.unchanged).toBe(20);
    const to = join(dir, 'r');
    await runRestore(deps(), { job: 'docs', to });
    expect(await snapshot(join(to, 'src'))).toEqual(await snapshot(src));
  });
});

describe('compaction', () => {
  it('a snapshot comes when the changes outgrow the tree or after 500 runs, not every few runs that changed little', async () => {
    const { snapshotDue, SNAPSHOT_MAX_RUNS } = await import('./manifests.js');
    const state = (runs: number, changes: number) => ({ fingerprint: 'f', runsSinceSnapshot: runs, changesSinceSnapshot: changes });
    expect(snapshotDue(state(20, 0), 100_000)).toBe(false);
    expect(snapshotDue(state(400, 5_000), 100_000)).toBe(false);
    expect(snapshotDue(state(3, 100_001), 100_000)).toBe(true);
    expect(snapshotDue(state(3, 1_001), 10)).toBe(true); // small trees: after 1,000 changes
    expect(snapshotDue(state(3, 999), 10)).toBe(false);
    expect(snapshotDue(state(SNAPSHOT_MAX_RUNS, 0), 100_000)).toBe(true);
  });

  it('a first run writes no snapshot (its journal is one), the runs after it count as before', async () => {
    const { closingState } = await import('./manifests.js');
    const fresh = { fingerprint: 'f', runsSinceSnapshot: 0, changesSinceSnapshot: 0 };
    expect(closingState(fresh, 100_000, 0)).toEqual({ state: { ...fresh, runsSinceSnapshot: 1, changesSinceSnapshot: 0 }, compact: false });
    const after = closingState(fresh, 100_000, 0).state;
    expect(closingState(after, 10, 100_000)).toEqual({ state: { ...after, runsSinceSnapshot: 2, changesSinceSnapshot: 10 }, compact: false });
    expect(closingState(after, 100_001, 100_000).compact).toBe(true);
    // A state rebuilt from a target that already has runs, or a snapshot, is not a first run.
    expect(closingState({ ...fresh, lastSnapshot: 'r0' }, 5_000, 10).compact).toBe(true);
    expect(closingState({ ...fresh, runsSinceSnapshot: 1 }, 5_000, 10).compact).toBe(true);
  });

  it('a first backup of more than 1,000 files leaves no snapshot on the target, and a new index is rebuilt from its journal', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 1_200; i++) files[`d${i % 7}/f${i}.txt`] = `content ${i}`;
    await tree(files);
    const r1 = await runBackup(deps(), { job: 'docs' });
    expect(r1.counts).toMatchObject({ uploaded: 1_200, failed: 0 });
    const mem = targets.get('mem')!;
    expect(mem.keys().filter((k) => k.includes('/.hokan/snapshots/'))).toEqual([]);
    expect(mem.keys().filter((k) => k.includes('/changes-')).length).toBeGreaterThan(1);
    await index.close();
    await rm(dataDir, { recursive: true });
    index = await IndexStore.open(dataDir);
    const next = await runBackup(deps(), { job: 'docs' });
    expect(next.counts).toMatchObject({ uploaded: 0, unchanged: 1_200 });
  });

  it('a snapshot alone rebuilds the index: older journals are not needed', async () => {
    const { writeSnapshot } = await import('./manifests.js');
    const { JobStore } = await import('./job-store.js');
    await tree({ 'a.txt': 'one', 'b.txt': 'bee' });
    const r1 = await runBackup(deps(), { job: 'docs' });
    await writeFile(join(src, 'a.txt'), 'two');
    await rm(join(src, 'b.txt'));
    const r2 = await runBackup(deps(), { job: 'docs' });
    const mem = targets.get('mem')!;
    await writeSnapshot(index, new JobStore(mem, 'docs'), 'docs', 'mem', r2.id);
    // Remove every change journal: only the snapshot and the run records remain.
    for (const k of mem.keys()) if (k.includes('/changes-')) await mem.remove(k);
    await index.close();
    await rm(dataDir, { recursive: true });
    index = await IndexStore.open(dataDir);
    const to = join(dir, 'at-r1');
    await runRestore(deps(), { job: 'docs', to, run: r1.id });
    expect(await snapshot(to)).toEqual({ 'src/a.txt': 'one', 'src/b.txt': 'bee' });
    const next = await runBackup(deps(), { job: 'docs' });
    expect(next.counts).toMatchObject({ uploaded: 0, unchanged: 1, deleted: 0 });
  });
});

/**
 * A memory target that defers durability as a local disk does (`flush`): the engine may record a
 * file only after a flush that covers it. Each flush notes how many files the target stored and
 * the index recorded at that moment.
 */
class FlushingTarget extends MemoryTarget {
  flushes: Array<{ stored: number; recorded: number }> = [];
  /** Flushes to fail (with a permanent error: the disk said EIO) before they work again; an object, as each run's handle derives from this target. */
  readonly failing = { flushes: 0 };
  /** Keys of the files put (the backed-up tree's, not the run's own records). */
  filePuts: string[] = [];
  override put(...args: Parameters<MemoryTarget['put']>): Promise<void> {
    if (args[0].startsWith('docs/src/')) this.filePuts.push(args[0]);
    return super.put(...args);
  }
  async flush(): Promise<void> {
    let stored = 0;
    for await (const _ of this.list('docs/src/')) stored++;
    let recorded = 0;
    for await (const b of index.heldBatches('docs', 'mem', 'src')) recorded += b.filter(([, h]) => h.cur && !h.cur.dir).length;
    if (this.failing.flushes > 0) {
      this.failing.flushes--;
      throw new TargetError('permanent', 'flush of the disk failed: EIO');
    }
    this.flushes.push({ stored, recorded });
  }
}

describe('deferred durability (a target with flush)', () => {
  it('records files only after a flush covers them, one flush per window of files', async () => {
    const n = 250;
    await tree(Object.fromEntries(Array.from({ length: n }, (_, i) => [`d${i % 25}/f${i}.txt`, `file ${i}`])));
    const t = new FlushingTarget();
    targets.set('mem', t);
    const run = await runBackup({ ...deps(), window: { files: 100, bytes: 1e9, ms: 60_000 } }, { job: 'docs' });
    expect(run.status).toBe('completed');
    expect(run.counts).toMatchObject({ uploaded: n, failed: 0 });
    expect(t.flushes.length).toBe(3); // windows of 100 files: 100, 100, 50
    for (let k = 0; k < t.flushes.length; k++) {
      const f = t.flushes[k]!;
      // What the index holds at a flush was stored before the previous flush, never after it.
      expect(f.recorded).toBeLessThan(f.stored);
      if (k > 0) expect(f.recorded).toBeLessThanOrEqual(t.flushes[k - 1]!.stored);
    }
    let recorded = 0;
    let folders = 0;
    for await (const b of index.heldBatches('docs', 'mem', 'src')) for (const [, h] of b) h.cur?.dir ? folders++ : recorded++;
    expect(recorded).toBe(n);
    expect(folders).toBe(25); // d0…d24, held as folders (issue 27)
    const again = await runBackup(deps(), { job: 'docs' });
    expect(again.counts).toMatchObject({ uploaded: 0, unchanged: n });
    const to = join(dir, 'r');
    await runRestore(deps(), { job: 'docs', to });
    expect(await snapshot(join(to, 'src'))).toEqual(await snapshot(src));
  });

  it('a failed flush fails the files of its window (io-error), and the next run sends exactly those', async () => {
    await tree(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}.txt`, `file ${i}`])));
    const t = new FlushingTarget();
    t.failing.flushes = 1;
    targets.set('mem', t);
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).toBe('incomplete');
    expect(run.reasons).toEqual(['io-error']);
    expect(run.counts).toMatchObject({ uploaded: 0, failed: 30 });
    const recs = await index.listFiles(run.id, { status: 'failed' });
    expect(recs.files[0]).toMatchObject({ status: 'failed', reason: 'io-error' });
    expect(recs.files[0]!.message).toContain('flush of the disk failed');
    const next = await runBackup(deps(), { job: 'docs' });
    expect(next.counts).toMatchObject({ uploaded: 30, failed: 0 });
    expect(next.reasons).toEqual([]);
    expect(next.status).toBe('completed');
  });

  it('a run after an interrupted one adopts what that run put but never recorded (same hash), and sends what differs', async () => {
    await tree({ 'a.txt': 'alpha', 'b.txt': 'bravo', 'c.txt': 'charlie' });
    const t = new FlushingTarget();
    targets.set('mem', t);
    // What an interrupted run leaves: objects in place, nothing in the index, a run marked interrupted.
    const { bufferSource } = await import('../../testing/sources.js');
    await t.put('docs/src/a.txt', bufferSource('alpha'), { size: 5 });
    await t.put('docs/src/b.txt', bufferSource('BRAVO'), { size: 5 }); // same size, other bytes
    await index.putRun({ id: '20200101T000000.000-dead', job: 'docs', kind: 'backup', status: 'interrupted', reasons: [], start: new Date(0).toISOString(), device: 'pc-1', sources: [src], targets: ['mem'], counts: { seen: 0, uploaded: 0, unchanged: 0, deleted: 0, skipped: 0, failed: 0, restored: 0 }, bytes: 0 });
    t.filePuts = [];
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).toBe('completed');
    expect(run.counts).toMatchObject({ uploaded: 2, unchanged: 1 }); // a.txt adopted; b.txt and c.txt sent
    expect(t.filePuts.sort()).toEqual(['docs/src/b.txt', 'docs/src/c.txt']);
    const to = join(dir, 'r');
    await runRestore(deps(), { job: 'docs', to });
    expect(await snapshot(join(to, 'src'))).toEqual({ 'a.txt': 'alpha', 'b.txt': 'bravo', 'c.txt': 'charlie' });
  });
});

describe('one writer at a time (issue 26)', () => {
  it('two data folders backing up one job to one target at the same moment: one writes, the other stops naming the holder; nothing is lost', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`d${i % 4}/f${i}.txt`] = `v1-${i}`;
    await tree(files);
    targets.set('mem', new MemoryTarget({ latencyMs: 2 }));
    const index2 = await IndexStore.open(join(dir, 'data-2'));
    try {
      const deps2 = (): EngineDeps => ({ ...deps(), index: index2 });
      const [a, b] = await Promise.all([runBackup(deps(), { job: 'docs' }), runBackup(deps2(), { job: 'docs' })]);
      const [winner, loser] = a.counts.uploaded ? [a, b] : [b, a];
      expect(winner.status).toBe('completed');
      expect(winner.counts).toMatchObject({ uploaded: 40 });
      expect(loser.status).toBe('incomplete');
      expect(loser.reasons).toEqual(['target-busy']);
      expect(loser.counts).toMatchObject({ seen: 40, uploaded: 0, deleted: 0 });
      expect(loser.targetResults![0]!.error).toMatch(/another run writes to this job's place on the target: device "pc-1" \(host .*, process \d+, data folder .*\), run \d{8}T/);
      // The leases are gone; the loser's next run catches up and sends nothing.
      expect([...(await listKeys(targets.get('mem')!, 'docs/.hokan/leases/'))]).toEqual([]);
      const loserDeps = loser === b ? deps2 : deps;
      const next = await runBackup(loserDeps(), { job: 'docs' });
      expect(next.status).toBe('completed');
      expect(next.counts).toMatchObject({ uploaded: 0, unchanged: 40 });
      expect(next.note).toBeUndefined(); // only the first run changed the place; the index had caught up at its start
      const to = join(dir, 'r');
      await runRestore(loserDeps(), { job: 'docs', to, run: winner.id });
      expect(await snapshot(join(to, 'src'))).toEqual(files_(files));
    } finally {
      await index2.close();
    }
  });

  it('--wait: the second run waits for the first to end, then catches up and writes', async () => {
    await tree({ 'a.txt': 'one' });
    targets.set('mem', new MemoryTarget({ latencyMs: 5 }));
    const index2 = await IndexStore.open(join(dir, 'data-2'));
    try {
      const first = runBackup(deps(), { job: 'docs' });
      await new Promise((r) => setTimeout(r, 30));
      const second = await runBackup({ ...deps(), index: index2 }, { job: 'docs', waitMs: 20_000 });
      expect((await first).status).toBe('completed');
      expect(second.status).toBe('completed');
      expect(second.counts).toMatchObject({ uploaded: 0, unchanged: 1 });
    } finally {
      await index2.close();
    }
  });

  it("a lease whose process is gone (same host) is taken over; an expired one is ignored; a live one of another host holds", async () => {
    await tree({ 'a.txt': 'one' });
    const t = targets.get('mem')!;
    const { bufferSource } = await import('../../testing/sources.js');
    const { hostname } = await import('node:os');
    const lease = (id: string, over: Record<string, unknown>) => {
      const text = JSON.stringify({ id, device: 'pc-1', host: hostname(), pid: 999_999, dataDir: '/elsewhere', run: 'R', since: new Date(Date.now() - 60_000).toISOString(), until: new Date(Date.now() + 600_000).toISOString(), ...over });
      return t.put(`docs/.hokan/leases/${id}.json`, bufferSource(text), { size: Buffer.byteLength(text) });
    };
    await lease('dead', {}); // pid 999999 on this host: not running
    await lease('expired', { host: 'other-host', until: new Date(Date.now() - 1000).toISOString() });
    const run = await runBackup(deps(), { job: 'docs' });
    expect(run.status).toBe('completed');
    expect([...(await listKeys(t, 'docs/.hokan/leases/'))]).toEqual(['docs/.hokan/leases/expired.json']);
    await lease('live', { host: 'other-host', device: 'nas-pc' });
    const blocked = await runBackup(deps(), { job: 'docs' });
    expect(blocked.reasons).toEqual(['target-busy']);
    expect(blocked.targetResults![0]!.error).toContain('device "nas-pc" (host other-host, process 999999, data folder /elsewhere)');
  });
});

async function listKeys(t: MemoryTarget, prefix: string): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const o of t.list(prefix)) out.add(o.key);
  return out;
}
