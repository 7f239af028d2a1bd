/**
 * Making what a put wrote survive a power cut: the fsync of a folder after a rename (shared by the
 * puts landing in it meanwhile), and the deferred puts made durable together by `flush`.
 */
import type { Logger } from '@hokan/core';
import { assertRoot, classify, mapError } from './disk-errors.js';
import { FSYNC_EACH_MAX, Syncer, fsyncEach, fsyncPath } from '@hokan/core';

/** A folder's fsync that the file system does not do (not a failure of the disk). */
function refusesDirSync(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EINVAL' || code === 'ENOTSUP' || code === 'EPERM' || code === 'EISDIR' || code === 'EBADF';
}

/** A folder's fsync in progress, and the one queued after it. */
interface DirSync {
  running?: Promise<void>;
  next?: Promise<void>;
}

export class Durability {
  /** Folder fsyncs in progress, by folder (see `syncDir`). */
  private readonly dirSyncs = new Map<string, DirSync>();
  /**
   * What waits for the next `flush`: puts made with `deferSync` (their files and folders), and the
   * folders of moves made with it (`movedDeferred`). A move's folder may be gone by then (pruned
   * when a later move emptied it, which noted the parent instead): that is not a failure.
   */
  private unsynced = { files: [] as string[], dirs: new Set<string>(), moveDirs: new Set<string>() };
  /** Whether `sync -f` works here (undefined: not tried yet), and the helper that runs it. */
  private syncfs?: boolean;
  private syncer?: Syncer;

  constructor(
    private readonly root: string,
    private readonly opts: { isWin: boolean; maxConnections: number; logger: Logger },
  ) {}

  /** After a put's rename: make it durable now (fsync of the folder), or note it for `flush`. */
  landed(file: string, dir: string, deferSync: boolean | undefined): Promise<void> | undefined {
    if (!deferSync) return this.syncDir(dir);
    this.unsynced.files.push(file);
    this.unsynced.dirs.add(dir);
    return undefined; // nothing to wait for: no promise per deferred put
  }

  /** After a move made with `deferSync` (on a file system that keeps renames in order): its folders wait for `flush`. */
  movedDeferred(dirs: readonly string[]): void {
    if (this.opts.isWin) return; // folders are not fsynced there (see syncDir)
    for (const d of dirs) this.unsynced.moveDirs.add(d);
  }

  async flush(): Promise<void> {
    const { files, dirs, moveDirs } = this.unsynced;
    if (!files.length && !moveDirs.size) return;
    this.unsynced = { files: [], dirs: new Set(), moveDirs: new Set() };
    try {
      await assertRoot(this.root, 'flush', ''); // an unplugged disk: unavailable, whatever `sync` says
      await this.syncAll(files, dirs, moveDirs);
    } catch (e) {
      // Not durable: the next flush tries these again (the engine has not recorded them either).
      this.unsynced.files.push(...files);
      for (const d of dirs) this.unsynced.dirs.add(d);
      for (const d of moveDirs) this.unsynced.moveDirs.add(d);
      throw await classify(this.root, e, 'flush', '');
    }
  }

  /**
   * Linux: one `syncfs` of the disk (`sync -f`, coreutils) writes back every file and rename at
   * once. Elsewhere, or without it: an fsync of each file, then of each folder.
   */
  private async syncAll(files: string[], dirs: Set<string>, moveDirs: Set<string>): Promise<void> {
    // A few fsyncs (a watched run, a run that changed little): their own, not the whole disk's. What
    // counts is the fsyncs the window would take — each file and each folder — not its files: a
    // window of 50 changes spread over the tree was ~150 fsyncs (files, their folders, the folders
    // moves went from and to), each an open, fsync and close on the main thread's thread pool.
    if (files.length + dirs.size + moveDirs.size <= FSYNC_EACH_MAX) return this.fsyncEach(files, dirs, moveDirs);
    if (this.syncfsMayWork) {
      try {
        await (this.syncer ??= Syncer.take(this.root)).sync();
        this.syncfs = true;
        return;
      } catch (e) {
        if (this.syncfs) throw e; // it worked before: the disk is the problem
        this.syncfs = false;
        this.syncer?.close();
        this.opts.logger.debug({ err: (e as Error).message }, '`sync -f` is not usable here: flushing file by file');
      }
    }
    await this.fsyncEach(files, dirs, moveDirs);
  }

  private fsyncEach(files: string[], dirs: Set<string>, moveDirs: Set<string>): Promise<void> {
    const all = moveDirs.size ? new Set([...dirs, ...moveDirs]) : dirs;
    return fsyncEach(files, all, this.opts.maxConnections, (dir, e) => {
      // Some file systems (FAT via some drivers, SMB) refuse fsync on folders: the rename is still atomic.
      if (refusesDirSync(e)) return;
      // A moved-from folder pruned since (its parent was noted then); a put's folder must be there.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !dirs.has(dir)) return;
      throw mapError(this.root, e, 'sync', dir);
    });
  }

  /**
   * Makes the renames done in `dir` so far durable (fsync of the folder). Calls for one folder
   * share fsyncs: a call made while one runs waits for the next, which starts when it ends and
   * serves every call made meanwhile — sixteen files landing in one folder cost two fsyncs, not sixteen.
   */
  syncDir(dir: string): Promise<void> {
    if (this.opts.isWin) return Promise.resolve();
    let s = this.dirSyncs.get(dir);
    if (!s) {
      s = {};
      this.dirSyncs.set(dir, s);
    }
    const state = s;
    const start = (): Promise<void> => {
      const p = this.fsyncDir(dir).finally(() => {
        if (state.running === p) state.running = undefined;
        if (!state.running && !state.next && this.dirSyncs.get(dir) === state) this.dirSyncs.delete(dir);
      });
      state.running = p;
      return p;
    };
    if (!state.running) return start();
    // The running fsync may have started before this call's rename: wait for the next one.
    state.next ??= state.running
      .catch(() => undefined)
      .then(() => {
        state.next = undefined;
        return start();
      });
    return state.next;
  }

  private async fsyncDir(dir: string): Promise<void> {
    try {
      await fsyncPath(dir);
    } catch (e) {
      // Some file systems (FAT via some drivers, SMB) refuse fsync on folders: the rename is still atomic.
      if (!refusesDirSync(e)) throw mapError(this.root, e, 'sync', dir);
    }
  }

  /** Takes the `sync -f` helper now (`agent run`: a parked one, or a new one started), unless it is known not to work here. */
  warm(): void {
    if (this.syncfsMayWork) (this.syncer ??= Syncer.take(this.root)).warm();
  }

  /** `sync -f` is Linux's, and not known to fail here yet. */
  private get syncfsMayWork(): boolean {
    return process.platform === 'linux' && this.syncfs !== false;
  }

  /** Done with the `sync -f` helper (the target is disposed): parked for the next run in `agent run`, else stopped. */
  close(): void {
    this.syncer?.release();
    this.syncer = undefined;
  }
}
