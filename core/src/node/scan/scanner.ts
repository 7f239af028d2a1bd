/**
 * The scanner: streams one source root as FileEntry / ScanError items (issue 3 "Scanner";
 * docs/design.md "Scanner order").
 *
 * Order (a contract — the engine merges this stream with a LevelDB iterator): depth-first, the
 * children of each folder sorted by the UTF-8 bytes of their names, so the yielded `rel` values are
 * sorted by `Buffer.compare(Buffer.from(rel.split('/').join('\0')))`. Folders are walked, not
 * yielded. Names are used exactly as the file system spells them (NFC and NFD are different files).
 *
 * Memory: only the stack of open folders is held (each one's sorted list of names), never the tree.
 *
 * Speed: a folder's `readdir` and its children's `lstat` run synchronously, a batch at a time (one
 * promise per batch, not per file); between batches the walk gives the event loop a turn whenever it
 * has worked for more than a few milliseconds. `statConcurrency > 1` switches to parallel async
 * `lstat` calls, for high-latency network mounts.
 */
import * as fs from 'node:fs';
import { compareRel } from '../../common/path-order.js';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import type { FilterConfig } from '../../common/config-types.js';
import type { FileEntry, FilterVerdict, ScanError, ScanItem, SourceRoot } from '../../common/model.js';
import type { Reason } from '../../common/statuses.js';
import { compileFilters, type CompiledFilters, type DirState } from './filters.js';

export interface ScanOptions {
  filters: FilterConfig;
  followSymlinks: boolean;
  /** The plugins' `filterEntry` hook; pass it only when a plugin tapped it. Called after the built-in rules say include. */
  filter?: (e: FileEntry) => Promise<FilterVerdict | undefined>;
  signal?: AbortSignal;
  /** Parallel async `lstat` calls per batch (network mounts). Default 1: synchronous, fastest on local disks. */
  statConcurrency?: number;
  /** Told about every file and folder a rule leaves out, with the reason (for `--verbose`). */
  onSkip?: (rel: string, reason: string, kind: 'file' | 'dir' | 'symlink' | 'other') => void;
  /** Filters already compiled for this root (else compiled from `filters`). */
  compiled?: CompiledFilters;
  /** Match globs case-insensitively (case-insensitive file systems). */
  nocase?: boolean;
  /** Items per yielded batch (`scanRootBatches`); default 512. */
  batchSize?: number;
  /**
   * Walk in this worker thread (`startScanWorker`, same root and options) instead of on the
   * calling thread: same items, same order; the `lstat` calls then run on another core.
   */
  worker?: ScanWorker;
}

/** Names (no `/`) in the one path order of hokan: by UTF-8 bytes (see common/path-order.ts). */
export const compareNames = compareRel;

const byName = (a: fs.Dirent, b: fs.Dirent): number => compareNames(a.name, b.name);

interface Frame {
  /** Absolute path of the folder followed by `/`. */
  readonly absP: string;
  /** Relative path followed by `/` ('' for the root). */
  readonly prefix: string;
  readonly names: fs.Dirent[];
  i: number;
  readonly state: DirState;
  /** `dev:ino` when following symlinks (loop protection), else null. */
  readonly key: string | null;
}

function reasonOf(e: unknown): Reason {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'EACCES' || code === 'EPERM' ? 'access-denied' : 'io-error';
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const LSTAT_OPTS = { throwIfNoEntry: false } as const;
const READDIR_OPTS = { withFileTypes: true } as const;

/** Stats known before `child()` runs (async mode): a Stats, `undefined` (vanished), an Error, or SKIP (excluded by path). */
type Pre = fs.Stats | undefined | Error | typeof SKIP | typeof NONE;
const SKIP = 1;
const NONE = 0;

/** The synchronous walk of one root (also run inside a scan worker: scan-worker.ts). */
export class Walker {
  readonly frames: Frame[] = [];
  private readonly onPath = new Set<string>();
  private readonly follow: boolean;
  private readonly filters: CompiledFilters;
  private readonly onSkip: ScanOptions['onSkip'];

  constructor(
    readonly root: SourceRoot,
    opts: ScanOptions,
  ) {
    this.follow = opts.followSymlinks === true;
    this.filters = opts.compiled ?? compileFilters(opts.filters ?? {}, root, { nocase: opts.nocase });
    this.onSkip = opts.onSkip;
  }

  private error(rel: string, abs: string, reason: Reason, message: string): ScanError {
    return { type: 'error', root: this.root, rel, abs, reason, message };
  }

  private entry(rel: string, abs: string, type: FileEntry['type'], st: fs.Stats, linkTarget: string | undefined): FileEntry {
    return {
      root: this.root,
      rel,
      abs,
      type,
      size: st.size,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
      ino: st.ino,
      dev: st.dev,
      mode: st.mode,
      linkTarget,
    };
  }

  /** Opens the root: pushes its frame, or returns the single item (a file root, or an error). */
  start(): ScanItem | null {
    const abs = this.root.path;
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(abs, LSTAT_OPTS);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'ELOOP') st = undefined;
      else return this.error('', abs, reasonOf(e), `cannot read the source ${abs}: ${messageOf(e)}`);
    }
    if (st === undefined) return this.error('', abs, 'invalid-settings', `the source ${abs} does not exist (moved, renamed or not mounted?)`);
    if (!st.isDirectory()) {
      // A source `path` that names one file: the person named it, so no built-in rule applies.
      if (!st.isFile()) return this.error('', abs, 'invalid-settings', `the source ${abs} is neither a folder nor a file`);
      return this.entry(path.basename(abs), abs, 'file', st, undefined);
    }
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(abs, READDIR_OPTS);
    } catch (e) {
      return this.error('', abs, reasonOf(e), `cannot read the source folder ${abs}: ${messageOf(e)}`);
    }
    names.sort(byName);
    const key = this.follow ? `${st.dev}:${st.ino}` : null;
    if (key !== null) this.onPath.add(key);
    this.frames.push({ absP: abs.endsWith(path.sep) ? abs : abs + '/', prefix: '', names, i: 0, state: this.filters.rootState, key });
    return null;
  }

  private pop(): void {
    const f = this.frames.pop()!;
    if (f.key !== null) this.onPath.delete(f.key);
  }

  /** Enters a folder (if the filters allow): reads and sorts its names and pushes its frame. */
  private enterDir(f: Frame, name: string, rel: string, abs: string, batch: ScanItem[], st: fs.Stats | undefined): void {
    const dec = this.filters.dir(rel, name, f.state);
    if (dec.prune !== undefined) {
      if (this.onSkip) this.onSkip(rel, dec.prune, 'dir');
      return;
    }
    let key: string | null = null;
    if (this.follow) {
      if (st === undefined) {
        try {
          st = fs.lstatSync(abs, LSTAT_OPTS);
        } catch (e) {
          batch.push(this.error(rel, abs, reasonOf(e), `cannot read the folder ${abs}: ${messageOf(e)}`));
          return;
        }
        if (st === undefined) return; // vanished
      }
      key = `${st.dev}:${st.ino}`;
    }
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(abs, READDIR_OPTS);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        if (name.includes('\uFFFD')) batch.push(this.error(rel, abs, 'forbidden-name', `the folder name is not valid UTF-8: ${abs}`));
        return; // gone since the parent was read
      }
      if (code === 'ENOTDIR') {
        // Replaced by a file since the parent was read: take it as what it is now.
        this.nonDir(f, name, rel, abs, batch, NONE, true);
        return;
      }
      batch.push(this.error(rel, abs, reasonOf(e), `cannot read the folder ${abs}: ${messageOf(e)}`));
      return;
    }
    names.sort(byName);
    if (key !== null) this.onPath.add(key);
    this.frames.push({ absP: abs + '/', prefix: rel + '/', names, i: 0, state: dec.state, key });
  }

  /**
   * One child that is not known to be a folder. `pre` carries a stat done in advance (async mode).
   * `checked`: the path filters already said include.
   */
  private nonDir(f: Frame, name: string, rel: string, abs: string, batch: ScanItem[], pre: Pre, checked: boolean): void {
    const filters = this.filters;
    let st: fs.Stats | undefined;
    if (pre === NONE) {
      try {
        st = fs.lstatSync(abs, LSTAT_OPTS);
      } catch (e) {
        batch.push(this.error(rel, abs, reasonOf(e), `cannot read ${abs}: ${messageOf(e)}`));
        return;
      }
    } else if (pre === SKIP) {
      return;
    } else if (pre instanceof Error) {
      if ((pre as NodeJS.ErrnoException).code === 'ENOENT') st = undefined;
      else {
        batch.push(this.error(rel, abs, reasonOf(pre), `cannot read ${abs}: ${pre.message}`));
        return;
      }
    } else st = pre;
    if (st === undefined) {
      // Gone between readdir and lstat — unless the name could not be decoded (not valid UTF-8).
      if (name.includes('\uFFFD')) batch.push(this.error(rel, abs, 'forbidden-name', `the file name is not valid UTF-8: ${abs}`));
      return;
    }
    if (st.isFile()) {
      let why = checked ? null : filters.fileByPath(rel, name, f.state);
      if (why === null) why = filters.fileByStat(rel, st.size, st.mtimeMs);
      if (why !== null) {
        if (this.onSkip) this.onSkip(rel, why, 'file');
        return;
      }
      batch.push(this.entry(rel, abs, 'file', st, undefined));
      return;
    }
    if (st.isDirectory()) {
      this.enterDir(f, name, rel, abs, batch, st);
      return;
    }
    if (st.isSymbolicLink()) {
      this.symlink(f, name, rel, abs, batch, st, checked);
      return;
    }
    if (this.onSkip) this.onSkip(rel, 'not a regular file (socket, pipe or device)', 'other');
  }

  private symlink(f: Frame, name: string, rel: string, abs: string, batch: ScanItem[], lst: fs.Stats, checked: boolean): void {
    const filters = this.filters;
    if (this.follow) {
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(abs, LSTAT_OPTS);
      } catch {
        st = undefined; // ELOOP, EACCES on the target's path…: recorded as the link it is
      }
      if (st !== undefined && st.isDirectory()) {
        if (!this.onPath.has(`${st.dev}:${st.ino}`)) {
          this.enterDir(f, name, rel, abs, batch, st);
          return;
        }
        // A loop: the link points at a folder on the current path; recorded as a link, not walked.
      } else if (st !== undefined && st.isFile()) {
        let why = checked ? null : filters.fileByPath(rel, name, f.state);
        if (why === null) why = filters.fileByStat(rel, st.size, st.mtimeMs);
        if (why !== null) {
          if (this.onSkip) this.onSkip(rel, why, 'file');
          return;
        }
        batch.push(this.entry(rel, abs, 'file', st, undefined));
        return;
      }
      // dangling, a loop, or a special file: recorded as the link itself
    }
    let why = checked ? null : filters.fileByPath(rel, name, f.state);
    if (why === null) why = filters.fileByStat(rel, lst.size, lst.mtimeMs);
    if (why !== null) {
      if (this.onSkip) this.onSkip(rel, why, 'symlink');
      return;
    }
    let target: string;
    try {
      target = fs.readlinkSync(abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // gone
      batch.push(this.error(rel, abs, reasonOf(e), `cannot read the link ${abs}: ${messageOf(e)}`));
      return;
    }
    batch.push(this.entry(rel, abs, 'symlink', lst, target));
  }

  /**
   * Synchronous walk: fills `batch` until it holds `max` items or `budget` file system calls were
   * made, or the walk is over. Returns false when the walk is over.
   */
  fill(batch: ScanItem[], max: number, budget: number, signal: AbortSignal | undefined): boolean {
    const frames = this.frames;
    const filters = this.filters;
    let ops = 0;
    while (frames.length > 0) {
      if (batch.length >= max || ops >= budget) return true;
      const f = frames[frames.length - 1]!;
      const names = f.names;
      if (f.i >= names.length) {
        this.pop();
        if (signal !== undefined && signal.aborted) return true;
        continue;
      }
      const d = names[f.i++]!;
      const name = d.name;
      const rel = f.prefix + name;
      ops++;
      if (d.isDirectory()) {
        this.enterDir(f, name, rel, f.absP + name, batch, undefined);
        continue;
      }
      if (d.isFile() || (d.isSymbolicLink() && !this.follow)) {
        const why = filters.fileByPath(rel, name, f.state);
        if (why !== null) {
          if (this.onSkip) this.onSkip(rel, why, d.isFile() ? 'file' : 'symlink');
          continue;
        }
        this.nonDir(f, name, rel, f.absP + name, batch, NONE, true);
        continue;
      }
      // Unknown type (some file systems do not report it) or a special file: lstat decides.
      this.nonDir(f, name, rel, f.absP + name, batch, NONE, false);
    }
    return false;
  }

  /** Async walk for high-latency mounts: runs of non-folder children are lstat'ed `conc` at a time. */
  async fillAsync(batch: ScanItem[], max: number, conc: number, signal: AbortSignal | undefined): Promise<boolean> {
    const frames = this.frames;
    const filters = this.filters;
    const runMax = Math.max(conc * 4, 32);
    while (frames.length > 0) {
      if (batch.length >= max) return true;
      if (signal !== undefined && signal.aborted) return true;
      const f = frames[frames.length - 1]!;
      const names = f.names;
      if (f.i >= names.length) {
        this.pop();
        continue;
      }
      const d0 = names[f.i]!;
      if (d0.isDirectory()) {
        f.i++;
        this.enterDir(f, d0.name, f.prefix + d0.name, f.absP + d0.name, batch, undefined);
        continue;
      }
      // A run of consecutive non-folder children, stat'ed in parallel, then handled in order.
      const start = f.i;
      let end = start;
      while (end < names.length && end - start < runMax && !names[end]!.isDirectory()) end++;
      const pre: Pre[] = new Array(end - start);
      const checked: boolean[] = new Array(end - start);
      const todo: number[] = [];
      for (let k = start; k < end; k++) {
        const d = names[k]!;
        const rel = f.prefix + d.name;
        if (d.isFile() || (d.isSymbolicLink() && !this.follow)) {
          const why = filters.fileByPath(rel, d.name, f.state);
          if (why !== null) {
            if (this.onSkip) this.onSkip(rel, why, d.isFile() ? 'file' : 'symlink');
            pre[k - start] = SKIP;
            continue;
          }
          checked[k - start] = true;
        } else checked[k - start] = false;
        todo.push(k);
      }
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < todo.length) {
          const k = todo[next++]!;
          try {
            pre[k - start] = await fs.promises.lstat(f.absP + names[k]!.name);
          } catch (e) {
            pre[k - start] = e as Error;
          }
        }
      };
      const workers: Promise<void>[] = [];
      for (let w = 0; w < Math.min(conc, todo.length); w++) workers.push(worker());
      await Promise.all(workers);
      for (let k = start; k < end; k++) {
        f.i = k + 1;
        const p = pre[k - start];
        if (p === SKIP) continue;
        const d = names[k]!;
        this.nonDir(f, d.name, f.prefix + d.name, f.absP + d.name, batch, p, checked[k - start] === true);
        // A child turned out to be a folder and was entered: the rest of the run waits its turn.
        if (frames[frames.length - 1] !== f) break;
      }
    }
    return false;
  }
}

const now = (): number => performance.now();
/** Give the event loop a turn after this long of uninterrupted walking. */
const BREATHE_MS = 8;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Streams one source root in batches (one promise per batch): the fast way for the engine to consume
 * the walk. Same items and order as `scanRoot`.
 */
export async function* scanRootBatches(root: SourceRoot, opts: ScanOptions): AsyncGenerator<ScanItem[], void, undefined> {
  const signal = opts.signal;
  signal?.throwIfAborted();
  const filter = opts.filter;
  const max = opts.batchSize && opts.batchSize > 0 ? opts.batchSize : 512;
  const conc = opts.statConcurrency && opts.statConcurrency > 1 ? Math.floor(opts.statConcurrency) : 1;
  const applyHook = async (batch: ScanItem[]): Promise<ScanItem[]> => {
    if (filter === undefined) return batch;
    const out: ScanItem[] = [];
    for (const it of batch) {
      if (it.type === 'error') {
        out.push(it);
        continue;
      }
      const v = await filter(it);
      if (v !== undefined && v.action === 'exclude') {
        if (opts.onSkip) opts.onSkip(it.rel, v.reason ?? 'excluded by a plugin filter', it.type);
        continue;
      }
      out.push(it);
    }
    signal?.throwIfAborted();
    return out;
  };
  if (opts.worker) {
    const w = opts.worker;
    const onAbort = () => void w.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const m = await w.next().catch((e: unknown) => {
          signal?.throwIfAborted(); // closed because the run stopped: say why
          throw e;
        });
        signal?.throwIfAborted();
        if (opts.onSkip) for (const [rel, reason, kind] of m.skips) opts.onSkip(rel, reason, kind);
        const items = unpack(root, m);
        if (items.length) {
          const out = await applyHook(items);
          if (out.length) yield out;
        }
        if (m.done) return;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await w.close();
    }
  }
  const walker = new Walker(root, opts);
  const first = walker.start();
  if (first !== null) {
    const out = await applyHook([first]);
    if (out.length) yield out;
    return;
  }
  let last = now();
  let more = true;
  while (more) {
    const batch: ScanItem[] = [];
    more = conc > 1 ? await walker.fillAsync(batch, max, conc, signal) : walker.fill(batch, max, 2048, signal);
    signal?.throwIfAborted();
    if (batch.length) {
      const out = await applyHook(batch);
      if (out.length) yield out;
    }
    if (now() - last > BREATHE_MS) {
      await yieldToLoop();
      signal?.throwIfAborted();
      last = now();
    }
  }
}

/** What a scan worker sends: a batch of items, what the rules left out meanwhile, and whether the walk is over. */
export interface ScanWorkerMessage {
  items: ScanItem[];
  skips: [rel: string, reason: string, kind: 'file' | 'dir' | 'symlink' | 'other'][];
  done: boolean;
}

/** Numbers per packed file: size, mtimeMs, ctimeMs, ino, dev, mode. */
export const PACKED_FIELDS = 6;

/** A packed batch (see scan-worker.ts `sendPacked`): files as numbers, links and errors as they are. */
export interface PackedMessage {
  packed: { rels: string; nums: Float64Array; odd: [index: number, item: ScanItem][] };
  skips: ScanWorkerMessage['skips'];
  done: boolean;
}

/** Unpacks a batch from a scan worker into the items the walk would have yielded here. */
function unpack(root: SourceRoot, m: ScanWorkerMessage | PackedMessage): ScanItem[] {
  if (!('packed' in m)) {
    // Items crossed a thread: give them back the caller's root object.
    for (const it of m.items) (it as { root: SourceRoot }).root = root;
    return m.items;
  }
  const { rels, nums, odd } = m.packed;
  if (rels === '' && odd.length === 0 && nums.length === 0) return [];
  const names = rels.split('\0');
  const base = root.path.endsWith(path.sep) ? root.path : root.path + '/';
  const out: ScanItem[] = new Array(names.length);
  let k = 0;
  for (let i = 0; i < names.length; i++) {
    if (k < odd.length && odd[k]![0] === i) {
      const it = odd[k++]![1];
      (it as { root: SourceRoot }).root = root;
      out[i] = it;
      continue;
    }
    const o = i * PACKED_FIELDS;
    const rel = names[i]!;
    out[i] = { root, rel, abs: base + rel, type: 'file', size: nums[o]!, mtimeMs: nums[o + 1]!, ctimeMs: nums[o + 2]!, ino: nums[o + 3]!, dev: nums[o + 4]!, mode: nums[o + 5]!, linkTarget: undefined };
  }
  return out;
}

/** What a scan worker walks, and how (plain data: it crosses to the worker thread, and to the head-start hint). */
export interface WalkSpec {
  root: SourceRoot;
  filters: FilterConfig;
  followSymlinks: boolean;
  nocase: boolean;
  batchSize: number;
  wantSkips: boolean;
}

/** What a scan worker is started with. */
export interface ScanWorkerData extends WalkSpec {
  /** One Int32: batches the worker may still send before the reader takes one (back-pressure). */
  credits: SharedArrayBuffer;
}

type WorkerOptions = Pick<ScanOptions, 'filters' | 'followSymlinks' | 'nocase' | 'batchSize' | 'onSkip'>;

/** The walk a worker started with these options does. */
export function walkSpec(root: SourceRoot, opts: WorkerOptions): WalkSpec {
  return {
    root: { ...root },
    filters: opts.filters ?? {},
    followSymlinks: opts.followSymlinks === true,
    nocase: opts.nocase === true,
    batchSize: opts.batchSize && opts.batchSize > 0 ? opts.batchSize : 1024,
    wantSkips: opts.onSkip !== undefined,
  };
}

/** The worker's script: beside this module once built; from the sources (tests), its built copy in dist/. */
function workerFile(): URL {
  const here = new URL('./scan-worker.js', import.meta.url);
  if (fs.existsSync(here)) return here;
  return new URL(here.href.replace(/\/src\/node\/scan\/scan-worker\.js$/, '/dist/node/scan/scan-worker.js'));
}

/** Batches a worker may be ahead of its reader: bounded memory, whatever the tree's size. */
const WORKER_CREDITS = 8;
/**
 * Batches a head start (below) may walk before its run reads them: ~49,000 files, ~4.5 MB packed.
 * It walks while the command loads (~0.3 s); with 8 it would stop after ~80 ms of walking.
 */
const HEAD_START_CREDITS = 48;

/**
 * A walk of one root running in a worker thread (scan-worker.ts); `scanRootBatches(root, { worker })`
 * reads it, and closes it when done. The `lstat` calls of the walk then run on another core while
 * this thread compares with the index (a no-change run of 100,000 files: 1.55 → 1.32 s on 2 cores).
 * It starts walking at once and stays at most WORKER_CREDITS batches ahead (a head start:
 * HEAD_START_CREDITS). Whoever starts one closes it too if the walk is never read: a running thread
 * keeps the process alive (a head start does not, until it is taken over).
 */
export class ScanWorker {
  private readonly worker: Worker;
  private readonly credits: Int32Array;
  private readonly queue: (ScanWorkerMessage | PackedMessage)[] = [];
  private waiter?: { resolve: () => void };
  private failure?: Error;
  private closed = false;

  /**
   * The walk as JSON: two specs are the same walk when these are equal (`walkSpec` writes the keys
   * in one order, and the root and filters come from the same config each run).
   */
  readonly spec: string;

  /** `headStart`: started before its run (`startHeadStart`), so allowed further ahead. */
  constructor(
    spec: WalkSpec,
    readonly headStart = false,
  ) {
    this.spec = JSON.stringify(spec);
    const credits = new SharedArrayBuffer(4);
    this.credits = new Int32Array(credits);
    this.credits[0] = headStart ? HEAD_START_CREDITS : WORKER_CREDITS;
    const data: ScanWorkerData = { ...spec, credits };
    // A young generation of 8 MB: the walk's garbage dies young, and V8's default let the worker's
    // heap grow with the length of the walk (100,000 → 300,000 files: 128 → 175 MiB RSS for the
    // process; with 8 MB, 116 → 150 MiB, as fast). Smaller made the walk slower.
    this.worker = new Worker(workerFile(), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    const wake = () => {
      const w = this.waiter;
      this.waiter = undefined;
      w?.resolve();
    };
    this.worker.on('message', (m: ScanWorkerMessage | PackedMessage) => {
      this.queue.push(m);
      wake();
    });
    this.worker.on('error', (e) => {
      this.failure ??= e instanceof Error ? e : new Error(String(e));
      wake();
    });
    this.worker.on('exit', (code) => {
      if (!this.closed && code !== 0) this.failure ??= new Error(`the scan worker stopped (exit code ${code})`);
      wake();
    });
  }

  /** The next message, in order; frees one credit so the worker may go on. */
  async next(): Promise<ScanWorkerMessage | PackedMessage> {
    for (;;) {
      const m = this.queue.shift();
      if (m) {
        Atomics.add(this.credits, 0, 1);
        Atomics.notify(this.credits, 0);
        return m;
      }
      if (this.failure) throw this.failure;
      if (this.closed) throw new Error('the scan worker was closed');
      await new Promise<void>((resolve) => (this.waiter = { resolve }));
    }
  }

  /** Stops the worker (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.credits, 0, WORKER_CREDITS);
    Atomics.notify(this.credits, 0);
    await this.worker.terminate();
  }

  /** Whether the thread keeps the process alive: not while it is only a head start. */
  keepAlive(on: boolean): void {
    if (on) this.worker.ref();
    else this.worker.unref();
  }
}

/** A walk started before its run (see `startHeadStart`), until a run takes it or another walk starts. */
let headStart: ScanWorker | undefined;
/** The first walk of this process (in a worker or not): what the next same command can start early. */
let firstSpec: WalkSpec | undefined;

/**
 * The worker to walk `root` with — hand it to `scanRootBatches` (or `close()` it): a head start of
 * this walk if one runs, else a new one when `start`, else none (the caller walks on its own
 * thread). Notes the walk as this process's first, if it is.
 */
export function scanWorkerFor(root: SourceRoot, opts: WorkerOptions, start: boolean): ScanWorker | undefined {
  const spec = walkSpec(root, opts);
  firstSpec ??= spec;
  return takeHeadStart(spec) ?? (start ? new ScanWorker(spec) : undefined);
}

/** Starts walking `root` in a worker thread (or takes over the head start of this walk). */
export function startScanWorker(root: SourceRoot, opts: WorkerOptions): ScanWorker {
  return scanWorkerFor(root, opts, true)!;
}

/**
 * The head start of this walk, if one runs (and then it is this caller's to read or close); a
 * head start of another walk is stopped.
 */
export function takeHeadStartOf(root: SourceRoot, opts: WorkerOptions): ScanWorker | undefined {
  return takeHeadStart(walkSpec(root, opts));
}

function takeHeadStart(spec: WalkSpec): ScanWorker | undefined {
  const w = headStart;
  headStart = undefined;
  if (!w) return undefined;
  if (w.spec !== JSON.stringify(spec)) {
    void w.close();
    return undefined;
  }
  w.keepAlive(true);
  return w;
}

/**
 * Starts a walk before the command that will want it has loaded (cli/head-start.ts). It does not
 * keep the process alive and is stopped by the first walk that is not the same.
 */
export function startHeadStart(spec: WalkSpec): ScanWorker {
  void headStart?.close();
  headStart = new ScanWorker(spec, true);
  headStart.keepAlive(false);
  return headStart;
}

/** Stops a head start that no walk took. */
export async function stopHeadStart(): Promise<void> {
  const w = headStart;
  headStart = undefined;
  await w?.close();
}

/** What this process walked first, if anything. */
export function firstWalk(): WalkSpec | undefined {
  return firstSpec;
}

/**
 * Streams one source root: files and symlinks as FileEntry, what cannot be read as ScanError, in the
 * order of docs/design.md "Scanner order". Throws the signal's reason when aborted.
 */
export function scanRoot(root: SourceRoot, opts: ScanOptions): AsyncIterable<ScanItem> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<ScanItem> {
      const batches = scanRootBatches(root, opts);
      let buf: ScanItem[] = [];
      let i = 0;
      const pull = (): Promise<IteratorResult<ScanItem>> =>
        batches.next().then((r) => {
          if (r.done) return { done: true, value: undefined };
          buf = r.value;
          i = 1;
          return { done: false, value: buf[0]! };
        });
      return {
        next(): Promise<IteratorResult<ScanItem>> {
          if (i < buf.length) return Promise.resolve({ done: false, value: buf[i++]! });
          return pull();
        },
        return(): Promise<IteratorResult<ScanItem>> {
          buf = [];
          i = 0;
          return batches.return(undefined).then(() => ({ done: true, value: undefined }));
        },
      };
    },
  };
}
