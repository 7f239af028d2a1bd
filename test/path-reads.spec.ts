import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HokanConfig, JobConfig } from '../core/src/common/config-types.js';
import { EngineHooks } from '../core/src/common/hooks.js';
import { nullLogger } from '../core/src/common/logger.js';
import type { RunRecord } from '../core/src/common/model.js';
import type { Target } from '../core/src/common/target.js';
import { runBackup } from '../core/src/node/engine/backup.js';
import type { EngineDeps } from '../core/src/node/engine/deps.js';
import { recordPathsOf } from '../core/src/node/engine/path-scope.js';
import { fileHistory, runRestore } from '../core/src/node/engine/restore.js';
import { runVerify } from '../core/src/node/engine/verify.js';
import { FILE_CHUNK } from '../core/src/node/index/file-chunks.js';
import { IndexStore } from '../core/src/node/index/index-store.js';
import { HddTarget } from '../plugins/target-hdd/src/index.js';
import { agent } from './helpers/agent.js';

/**
 * Issue 22: commands that look at one part of a big job read only that part. A job of 4,000 files
 * (80 folders of 50) on an hdd target, real LevelDB: `restore --path`, `versions`, `verify --path`
 * and `show RUN --path` on one folder read a number of index entries bounded by that folder (and,
 * for `show`, by the chunks of the run's records that can hold it: file-chunks.ts), where the
 * same commands on the whole job read every entry — and give the right files and bytes.
 */
const FOLDERS = 80;
const PER = 50;
const FILES = FOLDERS * PER;

let dir: string;
let src: string;
let disk: string;
let index: IndexStore;
let first: RunRecord;
let second: RunRecord;

const folder = (d: number) => `d${String(d).padStart(3, '0')}`;
const body = (d: number, f: number, gen = 0) => `folder ${d} file ${f} generation ${gen}\n`.repeat(1 + ((d * PER + f) % 7));

function deps(): EngineDeps {
  const job: JobConfig = { id: 'docs', sources: [{ path: src }], targets: ['usb'], generations: 5, filters: {}, deletions: 'every-run', deletionThreshold: { percent: 50, count: 1000 }, followSymlinks: false, ignoreInode: false, ignoreCtime: false };
  const config: HokanConfig = { device: 'pc', plugins: [], targets: { usb: { type: 'hdd', path: disk } }, jobs: [job], notify: [], presets: {} };
  return { index, hooks: new EngineHooks(), logger: nullLogger, config, openTarget: async (): Promise<Target> => HddTarget.create({ type: 'hdd', path: disk }), retry: { retries: 1, minDelayMs: 5 } };
}

/** Each file under a folder: relative path → SHA-256 of its bytes. */
async function digest(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const abs = join(e.parentPath, e.name);
    out[abs.slice(root.length + 1)] = createHash('sha256').update(await readFile(abs)).digest('hex');
  }
  return out;
}

/** The index entries `fn` reads. */
async function cost<T>(fn: () => Promise<T>): Promise<{ result: T; read: number }> {
  const before = index.entriesRead;
  const result = await fn();
  return { result, read: index.entriesRead - before };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-path-reads-'));
  src = join(dir, 'src');
  disk = join(dir, 'disk');
  await mkdir(disk);
  for (let d = 0; d < FOLDERS; d++) {
    await mkdir(join(src, folder(d)), { recursive: true });
    await Promise.all(Array.from({ length: PER }, (_, f) => writeFile(join(src, folder(d), `f${String(f).padStart(2, '0')}.txt`), body(d, f))));
  }
  index = await IndexStore.open(join(dir, 'data'));
  first = await runBackup(deps(), { job: 'docs' });
  // A second generation of one file in every eighth folder, so `versions` has two to give.
  for (let d = 0; d < FOLDERS; d += 8) await writeFile(join(src, folder(d), 'f07.txt'), body(d, 7, 1));
  second = await runBackup(deps(), { job: 'docs' });
}, 120_000);

afterAll(async () => {
  await index?.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe('issue 22: a command on one folder of a big job reads that folder, not the job', () => {
  it('the two backups', () => {
    expect(first).toMatchObject({ status: 'completed', counts: { uploaded: FILES, failed: 0 } });
    expect(second).toMatchObject({ status: 'completed', counts: { uploaded: FOLDERS / 8, failed: 0 } });
  });

  it('restore --path of one folder: that folder\'s entries, its bytes right, nothing else written', async () => {
    const to = join(dir, 'one');
    const { result, read } = await cost(() => runRestore(deps(), { job: 'docs', paths: [folder(16)], to }));
    expect(result.run).toMatchObject({ status: 'completed', counts: { restored: PER, failed: 0 } });
    // The folder's own record, its 50 files, and a handful of reads for the run (its record, the
    // last run's id, the target's state) — not 4,080.
    expect(read).toBeGreaterThanOrEqual(PER + 1);
    expect(read).toBeLessThanOrEqual(PER + 1 + 10);
    expect(await readdir(join(to, 'src'))).toEqual([folder(16)]);
    expect(await digest(join(to, 'src'))).toEqual(await digest(join(src, folder(16))).then((d) => Object.fromEntries(Object.entries(d).map(([k, v]) => [join(folder(16), k), v]))));
    // A file alone, and a folder given as an absolute path: the same bound.
    const one = await cost(() => runRestore(deps(), { job: 'docs', paths: [join(src, folder(42), 'f07.txt'), join(src, folder(43))], to: join(dir, 'two') }));
    expect(one.result.run.counts).toMatchObject({ restored: 1 + PER, failed: 0 });
    expect(one.read).toBeLessThanOrEqual(1 + 1 + PER + 10);
    expect(await readFile(join(dir, 'two', 'src', folder(42), 'f07.txt'), 'utf8')).toBe(body(42, 7));
  });

  it('restore of everything reads every entry (what the bound above is measured against)', async () => {
    const { result, read } = await cost(() => runRestore(deps(), { job: 'docs', to: join(dir, 'all'), dryRun: true }));
    expect(result.run.counts.restored).toBe(FILES);
    expect(read).toBeGreaterThanOrEqual(FILES + FOLDERS);
  });

  it('a restore of everything holds only the records it is asked to keep; every one is in the index, and show --path finds a folder\'s', async () => {
    const { run, files } = await runRestore(deps(), { job: 'docs', to: join(dir, 'every'), keepRecord: (f) => f.status === 'failed' });
    expect(run).toMatchObject({ status: 'completed', counts: { restored: FILES, failed: 0 } });
    expect(files).toEqual([]);
    const all = await index.listFiles(run.id, { limit: 0 });
    expect(all.total).toBe(FILES);
    const [under] = await recordPathsOf(deps(), 'docs', [folder(77)]);
    const { result, read } = await cost(() => index.listFiles(run.id, { under: [under!], limit: 100 }));
    // In the order they finished (several in flight), so compared sorted.
    expect(result.files.map((f) => [f.path, f.status]).sort()).toEqual(Array.from({ length: PER }, (_, f) => [`src/${folder(77)}/f${String(f).padStart(2, '0')}.txt`, 'restored']));
    expect(read).toBeLessThanOrEqual(64 + 3 * (FILE_CHUNK + 1));
    expect(await digest(join(dir, 'every', 'src'))).toEqual(await digest(src));
  });

  it('versions of one file: its own entry alone', async () => {
    const { result, read } = await cost(() => fileHistory(deps(), 'docs', join(folder(8), 'f07.txt')));
    expect(result.versions.map((v) => [v.current, v.size])).toEqual([
      [true, Buffer.byteLength(body(8, 7, 1))],
      [false, Buffer.byteLength(body(8, 7))],
    ]);
    expect(read).toBeLessThanOrEqual(3);
  });

  it('verify --path of one folder: its stored versions checked, from its entries alone', async () => {
    const { result, read } = await cost(() => runVerify(deps(), { job: 'docs', paths: [folder(24)] }));
    // 50 files, one of them with an older generation too.
    expect(result).toMatchObject({ checked: PER + 1, ok: PER + 1, problems: [] });
    expect(read).toBeLessThanOrEqual(PER + 1 + 10);
    const all = await cost(() => runVerify(deps(), { job: 'docs', sample: 1 }));
    expect(all.read).toBeGreaterThanOrEqual(FILES + FOLDERS);
    await expect(runVerify(deps(), { job: 'docs', paths: ['no-such-folder'] })).rejects.toThrow(/nothing in the backup of job "docs" on usb matches "no-such-folder"/);
  });

  it('show RUN --path of one folder: its records, from the chunks of the run that can hold them', async () => {
    // (Folders have held records, counted above, but no per-file records.)
    const under = await recordPathsOf(deps(), 'docs', [folder(33)]);
    expect(under).toEqual([`src/${folder(33)}`]);
    const { result, read } = await cost(() => index.listFiles(first.id, { under, limit: 1000 }));
    expect(result.files.map((f) => f.path).sort()).toEqual(Array.from({ length: PER }, (_, f) => `src/${folder(33)}/f${String(f).padStart(2, '0')}.txt`));
    expect(result.files.every((f) => f.status === 'uploaded')).toBe(true);
    // The summaries (64 at a time), and the few chunks whose path range meets the folder.
    expect(read).toBeLessThanOrEqual(64 + 3 * (FILE_CHUNK + 1));
    const whole = await cost(() => index.listFiles(first.id, { limit: 1 }));
    expect(whole.result.total).toBe(FILES);
    expect(whole.read).toBeGreaterThanOrEqual(FILES);
  });
});

describe('the --path options through the CLI', () => {
  it('show RUN --path and verify --path', async () => {
    await index.close();
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ device: 'pc', plugins: ['@hokan/target-hdd'], targets: { usb: { type: 'hdd', path: disk } }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['usb'] }] }));
    const run = (...args: string[]) => agent([...args, '--config', config, '--data-dir', join(dir, 'data')]);
    try {
      const shown = await run('show', second.id, '--path', join(src, folder(8)), '--json');
      expect(shown.stderr).toBe('');
      expect(JSON.parse(shown.stdout)).toMatchObject({ total: 1, files: [{ path: `src/${folder(8)}/f07.txt`, status: 'uploaded' }] });
      const none = await run('show', second.id, '--path', folder(9));
      expect(none.stdout).toMatch(/no per-file records there/);
      const verified = await run('verify', '--job', 'docs', '--path', folder(8), '--json');
      expect(verified.code).toBe(0);
      expect(JSON.parse(verified.stdout)).toMatchObject({ checked: PER + 1, ok: PER + 1 });
      expect((await run('verify', '--job', 'docs', '--restore', '--path', folder(8))).code).not.toBe(0);
    } finally {
      index = await IndexStore.open(join(dir, 'data'));
    }
  });
});
