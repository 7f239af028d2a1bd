/**
 * The per-folder watcher on the real file system: what it reports (paths, as a watched run takes
 * them) for a new folder, a folder renamed or moved, a folder removed, and how it follows them
 * with its watches; the OS limit on watches reached at start and later (said once, in words that
 * name the setting); and a real overflow of the kernel's event queue (the process's own event loop
 * held while more changes than the queue holds are made), which ends with every source walked.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../common/logger.js';
import { compileFilters } from '../scan/filters.js';
import { JobWatcher, LIMIT_TEXT, PER_FOLDER_MAX, remoteFsName, type JobWatcherOptions } from './watcher.js';

let base: string;
let n = 0;
const open = new Set<JobWatcher>();
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'hokan-watcher-'));
});
afterEach(async () => {
  await Promise.all([...open].map((w) => w.close()));
  open.clear();
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A logger that keeps the lines (what a person reads in the log). */
function linesLogger(lines: string[]): Logger {
  const fn = (level: string) => (a: object | string, msg?: string) => lines.push(`${level} ${typeof a === 'string' ? a : `${msg ?? ''} ${JSON.stringify(a)}`}`);
  const l: Logger = { debug: () => undefined, info: fn('info'), warn: fn('warn'), error: fn('error'), child: () => l };
  return l;
}

async function setup(o: Partial<JobWatcherOptions> = {}) {
  const src = join(base, `s${n++}`);
  await mkdir(join(src, 'a', 'b'), { recursive: true });
  const batches: string[][] = [];
  const fallbacks: string[] = [];
  const log: string[] = [];
  const w = new JobWatcher({
    job: 'docs',
    folders: [src],
    hidden: false,
    skip: [],
    settleMs: 150,
    maxDelayMs: 2000,
    logger: linesLogger(log),
    onChanges: (paths) => batches.push(paths),
    onFallback: (why) => fallbacks.push(why),
    ...o,
  });
  open.add(w);
  await w.start();
  /** The changed paths reported from now on, relative to the source, once they settle. */
  const next = async (ms = 3000): Promise<string[]> => {
    const from = batches.length;
    const t0 = Date.now();
    while (Date.now() - t0 < ms) {
      await new Promise((r) => setTimeout(r, 50));
      // Settled: something reported, then nothing for a while.
      if (batches.length > from) {
        await new Promise((r) => setTimeout(r, 400));
        return [...new Set(batches.slice(from).flat().map((p) => (p === src ? '' : p.slice(src.length + 1))))].sort();
      }
    }
    return [];
  };
  /** Waits until the watcher's own bookkeeping of folders is done. */
  const folders = async (count: number) => {
    const t0 = Date.now();
    while (w.folders() !== count && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
    return w.folders();
  };
  return { src, w, next, folders, fallbacks, log, batches };
}

describe('JobWatcher (one fs.watch per folder)', () => {
  it('watches every folder and reports a changed file by its path', async () => {
    const s = await setup();
    expect(s.w.state()).toEqual({ state: 'watching', folders: 3 });
    await writeFile(join(s.src, 'a', 'b', 'note.txt'), 'x');
    expect(await s.next()).toEqual(['a/b/note.txt']);
    await writeFile(join(s.src, '.hidden.swp'), 'x');
    expect(await s.next(800)).toEqual([]);
  });

  it('a source given as a link to a folder is watched through the link (links under it are not followed)', async () => {
    const real = join(base, `real${n}`);
    await mkdir(join(real, 'in'), { recursive: true });
    await symlink(join(real, 'in'), join(real, 'link-inside'));
    const link = join(base, `link${n}`);
    await symlink(real, link);
    const s = await setup({ folders: [link] });
    expect(s.w.state()).toEqual({ state: 'watching', folders: 2 });
    await writeFile(join(real, 'in', 'x.txt'), 'x');
    await s.next();
    expect([...new Set(s.batches.flat())]).toEqual([join(link, 'in', 'x.txt')]);
  });

  it("the run's filters: folders it prunes are not watched, names it leaves out wake nothing", async () => {
    const s = await setup({
      hidden: false,
      filters: (root) => compileFilters({ exclude: ['node_modules/', '*.tmp'] }, { name: 'src', path: root }),
    });
    expect(s.w.state()).toEqual({ state: 'watching', folders: 3 });
    await mkdir(join(s.src, 'a', 'node_modules', 'left-pad'), { recursive: true });
    await mkdir(join(s.src, 'a', '.git', 'objects'), { recursive: true });
    // Not watched. Its name is reported (`node_modules/` excludes folders only: a file of that name
    // would be backed up); .git is left out as a file and as a folder (hidden): not even reported.
    expect(await s.next(1000)).toEqual(['a/node_modules']);
    expect(s.w.folders()).toBe(3);
    await writeFile(join(s.src, 'a', 'node_modules', 'left-pad', 'index.js'), 'x');
    await writeFile(join(s.src, 'a', 'b', 'scratch.tmp'), 'x');
    expect(await s.next(1000)).toEqual([]);
    await writeFile(join(s.src, 'a', 'b', 'kept.txt'), 'x');
    expect(await s.next()).toEqual(['a/b/kept.txt']);
  });

  it('a new folder (and folders under it, and files that landed before its watch) is reported and watched', async () => {
    const s = await setup();
    await mkdir(join(s.src, 'new', 'deep', 'deeper'), { recursive: true });
    await writeFile(join(s.src, 'new', 'deep', 'early.txt'), 'before the watch');
    // The folder's name: the watched run walks all of it. (Names under it may come too, when its
    // watches were there before the writes: this test writes in the watcher's own process.)
    const got = await s.next();
    expect(got).toContain('new');
    expect(got.filter((p) => p !== 'new' && !p.startsWith('new/'))).toEqual([]);
    expect(await s.folders(6)).toBe(6);
    await writeFile(join(s.src, 'new', 'deep', 'deeper', 'late.txt'), 'after the watch');
    expect(await s.next()).toEqual(['new/deep/deeper/late.txt']);
  });

  it('a folder renamed or moved: both names reported, the watches follow it to its new name', async () => {
    const s = await setup();
    await mkdir(join(s.src, 'x'));
    await s.next();
    expect(await s.folders(4)).toBe(4);
    await rename(join(s.src, 'a'), join(s.src, 'x', 'moved'));
    // (a/a: the moved folder's own watch told its move under its own name, before it was closed — looked at, not there.)
    expect((await s.next()).filter((p) => p !== 'a/a')).toEqual(['a', 'x/moved']);
    expect(await s.folders(4)).toBe(4);
    await writeFile(join(s.src, 'x', 'moved', 'b', 'after.txt'), 'in the moved folder');
    expect(await s.next()).toEqual(['x/moved/b/after.txt']);
    // A folder moved out of the source: reported, its watches closed.
    await rename(join(s.src, 'x', 'moved'), join(base, `away-${n}`));
    expect((await s.next()).filter((p) => p !== 'x/moved/moved')).toEqual(['x/moved']);
    expect(await s.folders(2)).toBe(2);
  });

  it('a folder removed: reported, its watches closed; one made again under the same name is watched again', async () => {
    const s = await setup();
    await writeFile(join(s.src, 'a', 'b', 'f.txt'), 'x');
    await s.next();
    await rm(join(s.src, 'a'), { recursive: true });
    expect(await s.next()).toContain('a');
    expect(await s.folders(1)).toBe(1);
    await mkdir(join(s.src, 'a', 'b'), { recursive: true });
    await s.next();
    expect(await s.folders(3)).toBe(3);
    await writeFile(join(s.src, 'a', 'b', 'again.txt'), 'x');
    expect(await s.next()).toEqual(['a/b/again.txt']);
  });

  it('many names in one folder: the folder itself is the changed path (bounded while changes settle)', async () => {
    const s = await setup();
    for (let i = 0; i <= PER_FOLDER_MAX; i++) writeFileSync(join(s.src, 'a', `f${i}`), 'x');
    expect(await s.next()).toEqual(['a']);
  });

  it('the limit on watches reached at start: said once in words that name the setting; the watches are released', async () => {
    const s = await setup({ maxFolders: 2 });
    expect(s.w.state()).toEqual({ state: 'fallback', why: LIMIT_TEXT });
    expect(s.fallbacks).toEqual([LIMIT_TEXT]);
    expect(s.w.folders()).toBe(0);
    expect(s.log.filter((l) => l.includes('fs.inotify.max_user_watches'))).toHaveLength(1);
    expect(LIMIT_TEXT).toMatch(/limit on watched folders is reached \(Linux: fs\.inotify\.max_user_watches\).*full scan.*sudo sysctl fs\.inotify\.max_user_watches=524288/);
  });

  it('the limit reached later, by a new folder: the job falls back, said once', async () => {
    const s = await setup({ maxFolders: 4 });
    expect(s.w.state()).toEqual({ state: 'watching', folders: 3 });
    await mkdir(join(s.src, 'c'));
    await s.next();
    expect(s.w.state()).toEqual({ state: 'watching', folders: 4 });
    await mkdir(join(s.src, 'd'));
    await mkdir(join(s.src, 'e'));
    const t0 = Date.now();
    while (s.w.state().state !== 'fallback' && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
    expect(s.w.state()).toEqual({ state: 'fallback', why: LIMIT_TEXT });
    expect(s.fallbacks).toHaveLength(1);
    expect(s.w.folders()).toBe(0);
    expect(s.log.filter((l) => l.includes('fs.inotify.max_user_watches'))).toHaveLength(1);
  });

  it.runIf(process.platform === 'linux')('the kernel queue overflowing (IN_Q_OVERFLOW) ends with every source walked whole', async () => {
    const queue = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
    const s = await setup();
    const other = join(s.src, 'a', 'b');
    // The event loop is held by this synchronous loop: the kernel queues every event until it is
    // full (two events a file: made, written), then drops the rest — the last file among them.
    const files = Math.ceil(queue / 2) + 200;
    for (let i = 0; i < files; i++) writeFileSync(join(s.src, 'a', `f${i}`), 'x');
    writeFileSync(join(other, 'lost.txt'), 'its events did not fit in the queue');
    const got = await s.next(10_000);
    // Only a walk of the whole source finds lost.txt (its own event was dropped).
    expect(got).toContain('');
    expect(s.log.some((l) => l.includes('fs.inotify.max_queued_events'))).toBe(true);
    // The watches still work afterwards.
    await writeFile(join(other, 'after.txt'), 'x');
    expect(await s.next()).toEqual(['a/b/after.txt']);
  });

  it.runIf(process.platform === 'linux')('a source on a network file system falls back to full scans, said with its name', async () => {
    const { statfsSync } = await import('node:fs');
    const type = statfsSync(base).type;
    const s = await setup({ networkTypes: { [type]: 'nfs (a local file system standing for it)' } });
    expect(s.w.state()).toEqual({ state: 'fallback', why: expect.stringMatching(/^the source .* is on a network file system \(nfs \(a local file system standing for it\)\): this machine is not told of changes other machines make there, so changes are found by a full scan/) });
    expect(s.fallbacks).toHaveLength(1);
    expect(s.w.folders()).toBe(0);
  });

  it('network file systems are told apart from local ones (statfs types)', () => {
    expect(remoteFsName(0x6969)).toBe('nfs');
    expect(remoteFsName(0xff534d42)).toBe('cifs');
    expect(remoteFsName(BigInt(0x65735546))).toMatch(/^fuse/);
    expect(remoteFsName(0xef53)).toBeUndefined(); // ext4
    expect(remoteFsName(0x01021994)).toBeUndefined(); // tmpfs
  });
});
