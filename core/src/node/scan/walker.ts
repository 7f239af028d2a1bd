/**
 * The walk of one source root, on the calling thread or in a scan worker (scan-worker.ts).
 *
 * Order (a contract — the engine merges this stream with a LevelDB iterator): depth-first, the
 * children of each folder sorted by the UTF-8 bytes of their names, so the yielded `rel` values are
 * sorted by `Buffer.compare(Buffer.from(rel.split('/').join('\0')))`. Folders are walked, and
 * yielded only with `folders` (each before what is under it). Names are used exactly as the file
 * system spells them (NFC and NFD are different files).
 *
 * Memory: only the stack of open folders is held (each one's sorted list of names), never the tree.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FilterConfig } from '../../common/config-types.js';
import type { FileEntry, ScanError, ScanItem, SourceRoot } from '../../common/model.js';
import { compareRel } from '../../common/path-order.js';
import type { Reason } from '../../common/statuses.js';
import { compileFilters, type CompiledFilters, type DirState } from './filters.js';

/** What the walk leaves out and how it treats links (the part of `ScanOptions` a worker can carry too). */
export interface WalkOptions {
  filters: FilterConfig;
  followSymlinks: boolean;
  /** Told about every file and folder a rule leaves out, with the reason (for `--verbose`). */
  onSkip?: (rel: string, reason: string, kind: 'file' | 'dir' | 'symlink' | 'other') => void;
  /** Filters already compiled for this root (else compiled from `filters`). */
  compiled?: CompiledFilters;
  /** Whose file systems the root is on, for the filters' case rules (default this machine's; see filters.ts). */
  platform?: NodeJS.Platform;
  /**
   * Yield every folder the walk enters (`type: 'dir'`, before what is under it, so the order
   * holds): its permission bits and mtime are kept, and empty folders come back (issue 27).
   */
  folders?: boolean;
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
  private readonly onSkip: WalkOptions['onSkip'];
  private readonly folders: boolean;

  constructor(
    readonly root: SourceRoot,
    opts: WalkOptions,
  ) {
    this.follow = opts.followSymlinks === true;
    this.filters = opts.compiled ?? compileFilters(opts.filters ?? {}, root, { platform: opts.platform });
    this.onSkip = opts.onSkip;
    this.folders = opts.folders === true;
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
      uid: st.uid,
      gid: st.gid,
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
    // One lstat of the folder when it is needed (the dirent gave its type only): its dev:ino for
    // loop protection when following links, its mode and mtime when folders are yielded.
    if (st === undefined && (this.follow || this.folders)) {
      try {
        st = fs.lstatSync(abs, LSTAT_OPTS);
      } catch (e) {
        batch.push(this.error(rel, abs, reasonOf(e), `cannot read the folder ${abs}: ${messageOf(e)}`));
        return;
      }
      if (st === undefined) return; // vanished
    }
    const key = this.follow ? `${st!.dev}:${st!.ino}` : null;
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
    if (this.folders) batch.push({ ...this.entry(rel, abs, 'dir', st!, undefined), size: 0 });
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
