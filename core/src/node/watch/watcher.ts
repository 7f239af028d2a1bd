/**
 * Continuous backup (`watch: true`): one `fs.watch` per folder of a job's sources (Linux: one
 * inotify watch per folder), and nothing kept per file. Each watch reports the names that changed
 * in its folder; they are gathered and handed on as one set of paths once they settle
 * (`settleMs`, default 2 s), or after `maxDelayMs` (default 30 s) under a stream of changes that
 * never settles. A lone change after a quiet spell goes after QUICK_MS (300 ms) instead: a saved
 * document is on the target in about a second, and a burst is still one run (its later changes
 * settle). The daemon then backs up only those paths (the engine's `paths`, scoped-scan.ts: no
 * walk of the whole tree).
 *
 * What one watched folder costs: a Node `FSWatcher` (an EventEmitter over a libuv fs-event handle,
 * with the folder's path), one entry here (path → watcher and inode), and in the kernel one inotify
 * watch (~1 KiB, counted against `fs.inotify.max_user_watches`) — about 1.5 KiB of the process's
 * memory, whatever the number of files (docs/design.md, docs/benchmarks.md). chokidar 4, used
 * before, also watched every file and kept its own model of every folder's names (630 MiB for
 * 100,000 files); Node 20's `recursive: true` on Linux is written in JavaScript and also keeps a
 * map and a watcher per file.
 *
 * - A new folder (made, or moved in): its name is a changed path (the run walks all of it: files
 *   may have landed before its watch), and it and its subfolders get watches.
 * - A folder removed or moved away: its name is a changed path (what was under it becomes
 *   deletions, under the run's guards); its watches and its subfolders' are closed. A folder
 *   replaced by another of the same name (a new inode) is watched again.
 * - Many names in one folder at once (an unzip, a `git checkout`): past PER_FOLDER_MAX the folder
 *   itself is the changed path, so what is kept while changes settle stays bounded per folder.
 * - The kernel's queue of events overflowing (IN_Q_OVERFLOW, `fs.inotify.max_queued_events`):
 *   libuv drops that event, so it is inferred — every queued event is read in one go, so a batch
 *   of at least the queue's size is the only way an overflow can happen — and then every source is
 *   walked whole and the folders' watches are checked again.
 * - The system's limit on watches (Linux: `fs.inotify.max_user_watches`), reached at start or
 *   later by a new folder: said once (`state()`, the log) in words that name the setting and its
 *   fix; the job's watches are released and the daemon falls back to full runs every
 *   `fallbackEvery`. Nothing is missed silently.
 * - A source on a network file system (NFS, SMB/CIFS, FUSE such as sshfs, 9p, Ceph, AFS): inotify
 *   there sees only the changes made by this machine, so the job falls back to full runs too.
 * - A source folder that is missing (unplugged, not made yet): looked for every ROOT_RETRY_MS,
 *   watched and walked whole when it is there.
 * - macOS and Windows: one native recursive `fs.watch` per source (FSEvents,
 *   ReadDirectoryChangesW), which keeps no state per file either.
 *
 * Editors that save by writing a temporary file and renaming it over the old one are two names in
 * one folder (both looked at). Hidden names are not watched unless the job backs them up
 * (`filters.hidden`), nor the data folder nor a target inside a source: what the job's filters
 * leave out is left out by the run itself.
 */
import { watch, type FSWatcher } from 'node:fs';
import { lstat, opendir, readFile, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import type { Logger } from '../../common/logger.js';

export interface JobWatcherOptions {
  job: string;
  /** The source folders (absolute). */
  folders: readonly string[];
  /** Watch names starting with `.` too (when `filters` is not given). */
  hidden: boolean;
  /**
   * The job's compiled filters for a source folder (the run's own, filters.ts): folders the run
   * prunes (excluded, hidden, a target inside the source) are not watched, and a changed name that
   * the run would leave out both as a file and as a folder is dropped.
   */
  filters?: (root: string) => WatchFilters | undefined;
  /** Never watched: the data folder, a target inside a source. */
  skip: readonly string[];
  settleMs: number;
  maxDelayMs: number;
  logger: Logger;
  /** The changed paths, once they settle. */
  onChanges(paths: string[]): void;
  /** The watcher cannot cover the folders (the OS limit, a network file system): full runs take over. */
  onFallback(why: string): void;
  /** Treat more than this many watched folders as the OS limit (tests; default: the OS's own). */
  maxFolders?: number;
  /** More `statfs` types to treat as network file systems (tests: a local one standing for NFS). */
  networkTypes?: Readonly<Record<number, string>>;
  /** A batch of this many events means the kernel's queue overflowed (tests; default: Linux's `fs.inotify.max_queued_events`). */
  maxQueuedEvents?: number;
}

/** A folder's state as the filters keep it (scan/filters.ts `DirState`; opaque here). */
type DirState = unknown;

/**
 * What the watcher needs of the run's compiled filters: scan/filters.ts `CompiledFilters`, which
 * the daemon passes (the watcher imports nothing from the scan).
 */
export interface WatchFilters {
  readonly rootState: DirState;
  dir(rel: string, name: string, parent: never): { readonly prune?: string; readonly state?: DirState };
  fileByPath(rel: string, name: string, parent: never): string | null;
}

/** The pause before backing up a change that came after a quiet spell (see `add`). */
export const QUICK_MS = 300;
/** More changed paths than this at once are a burst: they settle (`settleMs`). */
export const QUICK_MAX_PATHS = 20;
/** More changed names than this in one folder: the folder itself is the changed path. */
export const PER_FOLDER_MAX = 512;
/** How often a missing source folder is looked for. */
export const ROOT_RETRY_MS = 30_000;

export type WatchState = { state: 'starting' } | { state: 'watching'; folders: number } | { state: 'fallback'; why: string } | { state: 'off'; why: string };

/** What the daemon says when the OS limit on watches is reached (Linux's setting named, with the fix). */
export const LIMIT_TEXT =
  'the system\'s limit on watched folders is reached (Linux: fs.inotify.max_user_watches): changes are found by a full scan every few minutes instead; raise it with `sudo sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d/ to keep it), then restart the agent';

/** Linux `statfs` types of file systems whose changes can be made by other machines (inotify sees only this one's). */
const REMOTE_FS: Readonly<Record<number, string>> = {
  0x6969: 'nfs',
  0x517b: 'smb',
  0xff534d42: 'cifs',
  0xfe534d42: 'smb2',
  0x65735546: 'fuse (sshfs, rclone mount, …)',
  0x01021997: '9p',
  0x00c36400: 'ceph',
  0x5346414f: 'afs',
  0x73757245: 'coda',
  0x47504653: 'gpfs',
  0x0bd00bd0: 'lustre',
};

/** The name of a network file system from its `statfs` type (undefined: a local one). */
export function remoteFsName(type: number | bigint): string | undefined {
  return REMOTE_FS[Number(type) >>> 0];
}

const NATIVE_RECURSIVE = process.platform === 'darwin' || process.platform === 'win32';

/**
 * Events read in the current batch (since the event loop last got past its poll phase), across
 * every watcher of the process: they share libuv's one inotify descriptor and its queue.
 */
let batch = 0;
let batchEnd: NodeJS.Immediate | undefined;
const live = new Set<JobWatcher>();
let queuedMax: number | undefined;

function countEvent(limitFromTests: number | undefined): void {
  batch++;
  batchEnd ??= setImmediate(() => {
    batch = 0;
    batchEnd = undefined;
  });
  const limit = limitFromTests ?? queuedMax;
  if (limit !== undefined && batch === limit) for (const w of live) w.overflowed(batch);
}

interface Watched {
  w: FSWatcher;
  ino: number;
  /** What the filters know of the folder (undefined: no filters). */
  state: DirState | undefined;
}

/** A folder the filters prune. */
const PRUNE = Symbol('prune');

export class JobWatcher {
  /** The watched folders: path → its watcher and inode. */
  private readonly dirs = new Map<string, Watched>();
  /** Changed names per folder (null: the folder as a whole). */
  private pending = new Map<string, Set<string> | null>();
  private pendingCount = 0;
  /** Paths whose kind is to be looked at (a folder made, moved or removed). */
  private checks = new Set<string>();
  private checking?: Promise<void>;
  private settleTimer?: NodeJS.Timeout;
  private maxTimer?: NodeJS.Timeout;
  private rootTimer?: NodeJS.Timeout;
  private current: WatchState = { state: 'starting' };
  private closed = false;
  private lastEvent = 0;
  /** The pending changes began after a quiet spell and are still few. */
  private quick = false;
  private readonly roots: string[];
  private readonly skip: string[];
  private missingRoots = new Set<string>();
  /** The filters per source folder. */
  private readonly compiled = new Map<string, WatchFilters>();

  constructor(private readonly o: JobWatcherOptions) {
    this.roots = o.folders.map((f) => f.replace(/[\\/]+$/, '') || sep);
    this.skip = o.skip.map((s) => s.replace(/[\\/]+$/, ''));
    for (const r of this.roots) {
      const c = o.filters?.(r);
      if (c) this.compiled.set(r, c);
    }
  }

  state(): WatchState {
    return this.current;
  }

  /** The folders watched now (tests, status). */
  folders(): number {
    return this.dirs.size;
  }

  /** Starts watching; resolves once every folder has its watch (or the watcher fell back). */
  async start(): Promise<void> {
    live.add(this);
    if (process.platform === 'linux' && queuedMax === undefined) {
      queuedMax = Number((await readFile('/proc/sys/fs/inotify/max_queued_events', 'utf8').catch(() => '')).trim()) || undefined;
    }
    for (const root of this.roots) {
      if (this.closed || this.current.state === 'fallback') return;
      if (!(await this.watchRoot(root))) this.missingRoots.add(root);
    }
    if (this.closed || this.current.state === 'fallback') return;
    this.retryRoots();
    this.current = { state: 'watching', folders: this.dirs.size };
    this.o.logger.info({ job: this.o.job, folders: this.dirs.size, missing: [...this.missingRoots] }, 'watching the sources');
  }

  /** Watches a source folder and everything under it; false when it is not there. */
  private async watchRoot(root: string): Promise<boolean> {
    // A source folder given as a link to a folder is followed (as the run does); links under it are not.
    const st = await stat(root).catch(() => undefined);
    if (!st?.isDirectory()) return false;
    // A network file system (also one mounted later, where a missing source folder appears).
    if (await this.remote(root)) return true;
    if (NATIVE_RECURSIVE) {
      this.addWatch(root, Number(st.ino), true);
      return true;
    }
    await this.watchTree(root, Number(st.ino), this.compiled.get(root)?.rootState);
    return true;
  }

  /** While a source folder is missing, looks for it every ROOT_RETRY_MS; found, it is watched and walked whole. */
  private retryRoots(): void {
    clearTimeout(this.rootTimer);
    if (!this.missingRoots.size || this.closed) return;
    this.rootTimer = setTimeout(() => {
      void (async () => {
        for (const root of [...this.missingRoots]) {
          if (this.closed || this.current.state === 'fallback') return;
          if (await this.watchRoot(root)) {
            this.missingRoots.delete(root);
            this.o.logger.info({ job: this.o.job, root }, 'a missing source folder is there: watched, and walked whole');
            this.addWhole(root);
          }
        }
        this.refreshCount();
        this.retryRoots();
      })();
    }, ROOT_RETRY_MS);
    this.rootTimer.unref();
  }

  /** Whether `folder` is on a network file system; if so the job falls back (said once). */
  private async remote(folder: string): Promise<boolean> {
    if (process.platform !== 'linux') return false;
    const type = await statfs(folder).then((s) => s.type, () => undefined);
    const name = type !== undefined ? (this.o.networkTypes?.[Number(type)] ?? remoteFsName(type)) : undefined;
    if (!name) return false;
    await this.fallback(
      `${this.roots.includes(folder) ? 'the source' : 'the folder'} ${folder} is on a network file system (${name}): this machine is not told of changes other machines make there, so changes are found by a full scan every few minutes instead`,
    );
    return true;
  }

  private skipped(path: string): boolean {
    return this.skip.some((s) => path === s || path.startsWith(s + sep));
  }

  /** The source folder `path` is in (the deepest one). */
  private rootOf(path: string): string | undefined {
    let best: string | undefined;
    for (const r of this.roots) if ((path === r || path.startsWith(r.endsWith(sep) ? r : r + sep)) && (!best || r.length > best.length)) best = r;
    return best;
  }

  private filtersAt(path: string): { c: WatchFilters; rel: string } | undefined {
    const root = this.rootOf(path);
    const c = root !== undefined ? this.compiled.get(root) : undefined;
    if (!c || root === undefined) return undefined;
    const rel = relative(root, path);
    return { c, rel: sep === '/' ? rel : rel.split(sep).join('/') };
  }

  /** The filters' state of the folder `path` (named `name`) in a folder with `parent` state; PRUNE when the run prunes it. */
  private folderState(path: string, name: string, parent: DirState | undefined): DirState | undefined | typeof PRUNE {
    if (this.skipped(path)) return PRUNE;
    const f = this.filtersAt(path);
    if (!f || !parent) return !this.o.hidden && name.startsWith('.') ? PRUNE : undefined;
    const dec = f.c.dir(f.rel, name, parent as never);
    return dec.prune !== undefined ? PRUNE : dec.state;
  }

  /** Whether a changed `name` in a watched folder is one the run leaves out, as a file and as a folder. */
  private leftOut(path: string, name: string, parent: DirState | undefined): boolean {
    if (this.skipped(path)) return true;
    const f = this.filtersAt(path);
    if (!f || !parent) return !this.o.hidden && name.startsWith('.');
    return f.c.fileByPath(f.rel, name, parent as never) !== null && f.c.dir(f.rel, name, parent as never).prune !== undefined;
  }

  /**
   * Adds watches to `dir` and the folders under it. A folder already watched is left as it is, and
   * not read again — unless `resync` (after an overflow: every folder read, and the watches of
   * folders no longer there closed).
   */
  private async watchTree(dir: string, ino: number, state: DirState | undefined, resync = false): Promise<void> {
    const stack: Array<[string, number, DirState | undefined]> = [[dir, ino, state]];
    const seen = new Set<string>();
    while (stack.length) {
      if (this.closed || this.current.state === 'fallback') return;
      const [d, i, dState] = stack.pop()!;
      seen.add(d);
      const had = this.dirs.get(d);
      if (had && had.ino === i) {
        if (!resync) continue;
      } else {
        if (had) this.unwatch(d);
        if (!this.addWatch(d, i, false, dState)) return;
      }
      let handle;
      const parentDev = await lstat(d).then((x) => x.dev, () => undefined);
      try {
        handle = await opendir(d, { bufferSize: 256 });
      } catch {
        continue; // gone meanwhile, or not readable (the run reports it)
      }
      try {
        for await (const e of handle) {
          if (!e.isDirectory()) continue; // links are not followed
          const p = join(d, e.name);
          const childState = this.folderState(p, e.name, dState);
          if (childState === PRUNE) continue;
          const st = await lstat(p).catch(() => undefined);
          if (!st?.isDirectory()) continue;
          // Another file system mounted inside the source: one on the network cannot be watched.
          if (st.dev !== parentDev && (await this.remote(p))) return;
          stack.push([p, Number(st.ino), childState]);
        }
      } catch {
        // the folder went while it was read: its parent's watch reports that
      }
    }
    if (resync) for (const d of [...this.dirs.keys()]) if (!seen.has(d) && d.startsWith(dir + sep) && this.dirs.has(d)) this.unwatch(d);
  }

  /** One watch; false when the system's limit is reached (the watcher then falls back). */
  private addWatch(dir: string, ino: number, recursive: boolean, state?: DirState): boolean {
    if (this.o.maxFolders !== undefined && this.dirs.size >= this.o.maxFolders) {
      void this.fallback(LIMIT_TEXT);
      return false;
    }
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: true, recursive }, (event, name) => this.onEvent(dir, event, name === null ? null : String(name)));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EMFILE') {
        void this.fallback(LIMIT_TEXT);
        return false;
      }
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.o.logger.warn({ job: this.o.job, folder: dir, err: (e as Error).message }, 'a folder cannot be watched: the periodic full scan covers it');
      return true;
    }
    w.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOSPC' || e.code === 'EMFILE') void this.fallback(LIMIT_TEXT);
      else this.o.logger.warn({ job: this.o.job, folder: dir, err: e.message }, 'the watcher reported an error');
    });
    this.dirs.set(dir, { w, ino, state });
    return true;
  }

  /** Closes the watches of `dir` and of the folders under it. */
  private unwatch(dir: string): void {
    const prefix = dir.endsWith(sep) ? dir : dir + sep;
    for (const [d, { w }] of this.dirs) {
      if (d === dir || d.startsWith(prefix)) {
        w.close();
        this.dirs.delete(d);
      }
    }
  }

  private onEvent(dir: string, event: string, name: string | null): void {
    countEvent(this.o.maxQueuedEvents);
    if (this.closed || this.current.state === 'fallback') return;
    if (name === null) {
      this.addWhole(dir);
      return;
    }
    const path = join(dir, name);
    if (NATIVE_RECURSIVE ? this.skipped(path) || (!this.o.hidden && basename(path).startsWith('.')) : this.leftOut(path, name, this.dirs.get(dir)?.state)) return;
    // macOS / Windows: a recursive watch names paths under the root; there is no watch per folder to keep.
    if (!NATIVE_RECURSIVE && event === 'rename') {
      // A name made, removed or moved: if it is (or was) a folder, its watches follow. An event of
      // the folder itself (moved, removed, its mode) comes with its own name: looked at too.
      this.check(path);
      if (name === basename(dir)) this.check(dir);
    }
    this.add(dir, name);
  }

  private check(path: string): void {
    this.checks.add(path);
    this.checking ??= (async () => {
      while (this.checks.size && !this.closed) {
        const [p] = this.checks;
        this.checks.delete(p!);
        await this.checkOne(p!);
      }
      this.checking = undefined;
      this.refreshCount();
    })();
  }

  /** A name made, moved or removed: watch a folder that is new (or new under an old name), stop watching one that went. */
  private async checkOne(path: string): Promise<void> {
    const st = await (this.roots.includes(path) ? stat(path) : lstat(path)).catch(() => undefined);
    const had = this.dirs.get(path);
    if (st?.isDirectory()) {
      if (had?.ino === Number(st.ino)) return;
      if (this.current.state === 'fallback') return;
      if (this.roots.includes(path)) {
        await this.watchTree(path, Number(st.ino), this.compiled.get(path)?.rootState);
        return;
      }
      const parent = this.dirs.get(dirname(path));
      if (!parent) return; // its parent is not watched (pruned by the filters)
      const state = this.folderState(path, basename(path), parent.state);
      if (state !== PRUNE) await this.watchTree(path, Number(st.ino), state);
      return;
    }
    if (had || [...this.dirs.keys()].some((d) => d.startsWith(path + sep))) {
      this.unwatch(path);
      if (this.roots.includes(path)) {
        // A source folder went (unplugged, removed): its run's guards decide; it is looked for again.
        this.missingRoots.add(path);
        this.addWhole(path);
        this.retryRoots();
      }
    }
  }

  private refreshCount(): void {
    if (this.current.state === 'watching') this.current = { state: 'watching', folders: this.dirs.size };
  }

  /** The kernel's queue overflowed (some changes were not told): every source walked whole, every watch checked. */
  overflowed(events: number): void {
    if (this.closed || this.current.state === 'fallback') return;
    this.o.logger.warn(
      { job: this.o.job, events },
      'the system\'s queue of file change events overflowed (Linux: fs.inotify.max_queued_events): some changes were not reported, so the sources are walked whole',
    );
    for (const root of this.roots) {
      this.addWhole(root);
      if (!NATIVE_RECURSIVE) {
        void stat(root).then(
          async (st) => {
            if (st.isDirectory()) await this.watchTree(root, Number(st.ino), this.compiled.get(root)?.rootState, true);
            this.refreshCount();
          },
          () => undefined,
        );
      }
    }
  }

  /** A folder changed as a whole (its names were too many, or not told): the run walks all of it. */
  private addWhole(dir: string): void {
    const had = this.pending.get(dir);
    if (had !== null) {
      this.pendingCount -= had?.size ?? 0;
      this.pending.set(dir, null);
      this.pendingCount++;
    }
    this.touch();
  }

  private add(dir: string, name: string): void {
    let names = this.pending.get(dir);
    if (names === null) return this.touch();
    if (!names) this.pending.set(dir, (names = new Set()));
    if (!names.has(name)) {
      names.add(name);
      this.pendingCount++;
      if (names.size > PER_FOLDER_MAX) return this.addWhole(dir);
    }
    this.touch();
  }

  private touch(): void {
    const now = Date.now();
    // A change after a quiet spell (nothing pending, none for `settleMs`) goes after a short pause
    // (QUICK_MS: the write and an editor's rename land together); a change that follows others
    // within the settle time waits for them to settle (`settleMs`), never longer than `maxDelayMs`.
    if (!this.settleTimer) this.quick = now - this.lastEvent >= this.o.settleMs;
    this.lastEvent = now;
    // A few paths together (a write and its close, an editor's temporary file and rename) stay
    // quick; more is a burst, which settles.
    if (this.pendingCount > QUICK_MAX_PATHS) this.quick = false;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.flush(), this.quick ? Math.min(QUICK_MS, this.o.settleMs) : this.o.settleMs);
    this.maxTimer ??= setTimeout(() => this.flush(), this.o.maxDelayMs);
  }

  private flush(): void {
    clearTimeout(this.settleTimer);
    clearTimeout(this.maxTimer);
    this.settleTimer = this.maxTimer = undefined;
    if (!this.pending.size) return;
    const paths: string[] = [];
    for (const [dir, names] of this.pending) {
      if (names === null) paths.push(dir);
      else for (const n of names) paths.push(join(dir, n));
    }
    this.pending.clear();
    this.pendingCount = 0;
    this.o.onChanges(paths);
  }

  private async fallback(why: string): Promise<void> {
    if (this.current.state === 'fallback' || this.closed) return;
    this.current = { state: 'fallback', why };
    this.o.logger.warn({ job: this.o.job }, why);
    this.release();
    this.o.onFallback(why);
  }

  /** Closes every watch (the system's watches go back to the others who need them). */
  private release(): void {
    clearTimeout(this.settleTimer);
    clearTimeout(this.maxTimer);
    clearTimeout(this.rootTimer);
    this.settleTimer = this.maxTimer = undefined;
    this.pending.clear();
    this.pendingCount = 0;
    this.checks.clear();
    for (const { w } of this.dirs.values()) w.close();
    this.dirs.clear();
    live.delete(this);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.release();
    await this.checking;
    if (this.current.state !== 'fallback') this.current = { state: 'off', why: 'the agent stopped' };
  }
}

/** "2s", "500ms", "15m", "1h" → ms (undefined when it is not a duration). */
export function durationMs(text: string | number | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (typeof text === 'number') return text;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(text);
  if (!m) return fallback;
  const unit = m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 3_600_000;
  return Number(m[1]) * unit;
}
