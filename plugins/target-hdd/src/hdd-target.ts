import { randomBytes } from 'node:crypto';
import * as fsc from 'node:fs';
import type { Dir, Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import {
  TargetError,
  helpersKept,
  nullLogger,
  type ByteRange,
  type CleanupOptions,
  type GetToFileOptions,
  type GetToFileResult,
  type LocalFileSink,
  type LocalFileBody,
  type Logger,
  type MoveOptions,
  type ObjectInfo,
  type ObjectMeta,
  type PutOptions,
  type RewindableSource,
  type Target,
  type TargetCapabilities,
  fsTime,
} from '@hokan/core';
import { Copier, PROGRESS_EVERY, releaseCopier, takeCopier, type CopyReply, type MoveReply } from './copier.js';
import { assertRoot, classify, mapError, mapMissing, notFound } from './disk-errors.js';
import { Durability } from './durability.js';
import { fdChmod, fdClose, fdOpen, fdSync, fdTimes, fdWrite } from './fd-calls.js';
import { TEMP_PREFIX, capabilitiesFor, detectFilesystem, keyProblem } from './name-rules.js';
import { renamesInOrder } from './rename-order.js';

export { TEMP_PREFIX } from './name-rules.js';

/** The `hdd` target's config (schema.json is the JSON Schema of this). */
export interface HddTargetConfig {
  type: 'hdd' | string;
  /** The folder that holds the backup, e.g. `/media/BACKUP1/hokan` or `E:\\hokan`. */
  path: string;
  /**
   * A file that must exist for the disk to count as plugged in — absolute, or relative to `path`
   * (e.g. `../.hokan-volume` at the top of the disk). Without it, the existence of `path` is the test.
   */
  volumeMarker?: string;
  /** Create `path` (one level only: its parent must exist) when it is missing. Default false. */
  createIfMissing?: boolean;
  /** Which file-name rules apply. `auto` (default) detects FAT/exFAT/NTFS/SMB with statfs. */
  filesystem?: 'auto' | 'posix' | 'windows';
  /** Files the engine has in flight to this disk (default 16); the copies run on the copy workers. */
  maxConnections?: number;
}

/** How an HddTarget is built besides its config (what other plugins reuse it with). */
export interface HddTargetOptions {
  logger?: Logger;
  /**
   * A check of the place made first in every `check()`, before anything is read or written there:
   * it throws a TargetError (`unavailable`) when the place is not the one meant. target-nas passes
   * one for a mounted share (the share must be mounted, never the empty mount point on the system
   * disk).
   */
  guard?: (root: string) => Promise<void>;
  /**
   * Whether the disk keeps renames in order through a power cut (rename-order.ts): detected from
   * the mount when not given. Tests pass false to run the engine as on a disk that does not (FAT,
   * exFAT): each move durable before the put that follows it.
   */
  renamesInOrder?: boolean;
}

/**
 * A local folder or a mounted external disk as a Target.
 *
 * - Writes are atomic: a put writes `.hokan-tmp-<random>` in the destination folder, sets the mtime
 *   from `meta.mtimeMs` (so a person browsing the disk sees the real dates), fsyncs the file, renames
 *   it over the final name and fsyncs the folder (not on Windows, where folders cannot be fsynced).
 * - Keys map to paths under the root; a key with an empty, `.` or `..` segment, a leading `/`, a NUL
 *   or a segment starting with `.hokan-tmp-` is refused (`permanent`): nothing is written outside.
 * - A root that is not there is `unavailable`, never created on the system disk (only `check()`
 *   creates it, and only with `createIfMissing` and an existing parent). Parent folders below the
 *   root are created one level at a time, so an unplugged disk is never re-created.
 * - Error kinds: ENOSPC/EDQUOT → `quota`; EACCES/EPERM/EROFS → `auth` (the engine reports
 *   `access-denied`: a person must fix the permissions or the read-only mount, retrying will not help);
 *   ENOENT/EIO/ENODEV/… at the root → `unavailable`; ENAMETOOLONG, EINVAL, EILSEQ, ENOTDIR, EISDIR →
 *   `permanent`; EBUSY, EAGAIN, EMFILE/ENFILE, EIO below a present root → `transient`.
 * - Capabilities are detected from the file system of the root when the target is created and again
 *   in `check()` (a disk may be plugged in between): FAT/exFAT/NTFS/SMB, or `filesystem: "windows"`,
 *   forbid `\:*?"<>|`, trailing dots and spaces, reserved device names and names over 255 characters.
 */
export class HddTarget implements Target {
  readonly root: string;
  /** The root with a trailing separator: every path below it starts with this. */
  private readonly rootSlash: string;
  private caps: TargetCapabilities;
  private windowsRules: boolean;
  private detectedFs: string | undefined;
  /** Whether the disk keeps renames in order through a power cut (rename-order.ts): moves may then defer their fsyncs. */
  private inOrder = false;
  private readonly config: HddTargetConfig;
  private readonly logger: Logger;
  private readonly isWin = process.platform === 'win32';
  /** The fsyncs of folders, and the puts waiting for `flush`. */
  private readonly durable: Durability;
  /** Temporary names: a random stem per target object (two processes never collide) and a counter. */
  private readonly tempStem = randomBytes(6).toString('hex');
  private tempSeq = 0;
  /** Copy workers for local files, started by the first put of one. */
  private copier?: Copier;
  private readonly guard?: (root: string) => Promise<void>;
  private readonly inOrderGiven?: boolean;

  constructor(config: HddTargetConfig, opts: HddTargetOptions = {}) {
    if (typeof config.path !== 'string' || config.path.trim() === '') {
      throw new TargetError('permanent', 'the hdd target needs a `path`', { hint: 'set "path" to the folder on the disk, e.g. "/media/BACKUP1/hokan"' });
    }
    this.config = config;
    this.logger = opts.logger ?? nullLogger;
    this.guard = opts.guard;
    this.inOrderGiven = opts.renamesInOrder;
    this.root = path.resolve(config.path);
    this.rootSlash = this.root.endsWith(path.sep) ? this.root : this.root + path.sep;
    this.windowsRules = this.isWin || config.filesystem === 'windows';
    this.caps = this.makeCapabilities();
    this.durable = new Durability(this.root, { isWin: this.isWin, maxConnections: this.caps.maxConnections, logger: this.logger });
  }

  /** Creates the target and detects its file system (when the disk is there). */
  static async create(config: HddTargetConfig, opts: HddTargetOptions = {}): Promise<HddTarget> {
    const t = new HddTarget(config, opts);
    await t.detect();
    // In `agent run` the copy workers and the `sync -f` helper are started now (or taken as a run
    // left them), so the first copy, move or flush of the run does not wait for a thread or a
    // process to start (the helper's spawn costs the main thread ~20 ms) — not for a disk that is not there.
    if (helpersKept() && (await fs.stat(t.root).then((st) => st.isDirectory(), () => false))) {
      (t.copier = takeCopier()).warm();
      t.durable.warm();
    }
    return t;
  }

  get capabilities(): TargetCapabilities {
    return this.caps;
  }

  /** The file system detected under the root (`vfat`, `ntfs`, … or `posix`), once known. */
  get filesystem(): string | undefined {
    return this.detectedFs;
  }

  async check(): Promise<void> {
    const root = this.root;
    await this.guard?.(root);
    const fix = 'plug in the disk or create the folder';
    let st = await fs.stat(root).catch((e: NodeJS.ErrnoException) => e);
    if (st instanceof Error) {
      if (st.code !== 'ENOENT' && st.code !== 'ENOTDIR') throw mapError(this.root, st, 'check', root);
      if (!this.config.createIfMissing) {
        throw new TargetError('unavailable', `the backup folder ${root} is not there (is the disk plugged in?)`, {
          hint: `${fix} (${root}), or set "createIfMissing": true to create it when its parent exists`,
        });
      }
      const parent = path.dirname(root);
      const pst = await fs.stat(parent).catch(() => undefined);
      if (!pst?.isDirectory()) {
        throw new TargetError('unavailable', `neither the backup folder ${root} nor its parent ${parent} is there (is the disk plugged in?)`, {
          hint: `${fix} (${parent})`,
        });
      }
      await this.checkMarker(fix);
      try {
        await fs.mkdir(root); // one level only: never a whole path on the system disk
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw mapError(this.root, e, 'check', root);
      }
      this.logger.info({ path: root }, 'created the backup folder');
      st = await fs.stat(root);
    }
    if (!st.isDirectory()) {
      throw new TargetError('unavailable', `the backup path ${root} is not a folder`, { hint: 'point "path" at a folder' });
    }
    await this.checkMarker(fix);
    await this.detect();
    // Writable? A real write, cleaned up: catches read-only mounts and permissions before the run.
    const probe = path.join(root, `${TEMP_PREFIX}check-${randomBytes(6).toString('hex')}`);
    try {
      const fh = await fs.open(probe, 'wx');
      await fh.close();
    } catch (e) {
      throw mapError(this.root, e, 'check', root);
    } finally {
      await fs.rm(probe, { force: true }).catch(() => undefined);
    }
  }

  async put(key: string, body: RewindableSource, meta: ObjectMeta, opts: PutOptions = {}): Promise<void> {
    const file = this.pathOf(key);
    opts.signal?.throwIfAborted();
    const dir = path.dirname(file);
    const tmp = `${dir}${path.sep}${TEMP_PREFIX}${this.tempStem}${(++this.tempSeq).toString(36)}`;
    if (body.localFile && body.localFile.size === body.size) return this.putLocal(key, file, tmp, body.localFile, meta, opts);
    let fd: number | undefined = await this.openTemp(key, dir, tmp);
    let renamed = false;
    try {
      // Errors of the body (the source file) pass through as they are; errors of the disk are mapped.
      const written = await this.copyStream(fd, body, key, opts);
      opts.signal?.throwIfAborted();
      if (written !== body.size) {
        throw new TargetError('permanent', `put ${key}: the body yielded ${written} bytes, expected ${body.size}`);
      }
      try {
        if (meta.mtimeMs !== undefined) await fdTimes(fd, fsTime(meta.mtimeMs), fsTime(meta.mtimeMs));
        if (meta.mode !== undefined) await fdChmod(fd, storedMode(meta.mode));
      } catch (e) {
        throw await classify(this.root, e, 'put', key);
      }
      const landing = fd;
      fd = undefined;
      await this.landTemp(landing, tmp, file, key, !opts.deferSync);
      renamed = true;
      const durable = this.durable.landed(file, dir, opts.deferSync);
      if (durable) await durable;
    } finally {
      if (fd !== undefined) await fdClose(fd).catch(() => undefined);
      if (!renamed) await this.dropTemp(tmp, dir);
    }
  }

  /** Closes a written temporary file (after its fsync, unless deferred) and renames it into place. */
  private async landTemp(fd: number, tmp: string, file: string, key: string, sync: boolean): Promise<void> {
    try {
      if (sync) await fdSync(fd);
    } catch (e) {
      await fdClose(fd).catch(() => undefined);
      throw await classify(this.root, e, 'put', key);
    }
    try {
      await fdClose(fd);
      await fs.rename(tmp, file);
    } catch (e) {
      throw await classify(this.root, e, 'put', key);
    }
  }

  /** After a failed put: the temporary file goes, and folders it left empty. */
  private async dropTemp(tmp: string, dir: string): Promise<void> {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    await this.prune(dir);
  }

  flush(): Promise<void> {
    return this.durable.flush();
  }

  /** A change of permissions alone: the browsable copy follows the source's (storedMode). */
  async setMode(key: string, mode: number): Promise<void> {
    const file = this.pathOf(key);
    try {
      await fs.chmod(file, storedMode(mode));
    } catch (e) {
      throw await mapMissing(this.root, e, 'chmod', key);
    }
  }

  /**
   * A local file: copied and hashed by a copy worker (copier.ts). With `deferSync` the worker also
   * renames it into place (nothing left for this thread but the reply); otherwise this thread
   * fsyncs the copy, renames it and fsyncs the folder.
   */
  private async putLocal(key: string, file: string, tmp: string, lf: LocalFileBody, meta: ObjectMeta, opts: PutOptions): Promise<void> {
    const dir = path.dirname(file);
    this.copier ??= takeCopier();
    // Only a big file gets a cancel flag: a small one is copied before an abort could matter, and
    // a shared buffer per file costs the process a page of memory until the collector frees it.
    const cancel = opts.signal && lf.size >= PROGRESS_EVERY ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
    const onAbort = cancel && (() => Atomics.store(cancel, 0, 1));
    if (onAbort) opts.signal!.addEventListener('abort', onAbort, { once: true });
    const job = { src: lf.path, size: lf.size, mtimeMs: lf.mtimeMs, tmp, root: this.root, setMtimeMs: meta.mtimeMs, setMode: meta.mode === undefined ? undefined : storedMode(meta.mode), rename: opts.deferSync ? file : undefined, cancel };
    let reply: CopyReply;
    let fd: number | undefined;
    let renamed = false;
    try {
      for (let attempt = 0; ; attempt++) {
        reply = await this.copier.copy(job, opts.onProgress);
        // Folders more than one level deep are new: create them, then copy again.
        if ('error' in reply && reply.error.stage === 'open-target' && reply.error.code === 'ENOENT' && attempt < 3) await this.ensureDir(dir, key);
        else break;
      }
      if ('fd' in reply) fd = reply.fd;
      if ('changed' in reply) throw lf.changed();
      if ('cancelled' in reply) throw opts.signal?.reason ?? new Error('the put was aborted');
      if ('error' in reply) {
        const { stage, message, ...rest } = reply.error;
        const e = Object.assign(new Error(message), rest);
        // Errors of the source pass through as they are; errors of the disk are mapped.
        if (stage === 'open-source' || stage === 'read') throw e;
        throw await classify(this.root, e, 'put', key);
      }
      if (fd !== undefined) {
        const landing = fd;
        fd = undefined;
        await this.landTemp(landing, tmp, file, key, true);
      }
      renamed = true;
      lf.copied(reply.sha256);
      opts.onProgress?.(lf.size);
      const durable = this.durable.landed(file, dir, opts.deferSync);
      if (durable) await durable;
    } finally {
      if (onAbort) opts.signal!.removeEventListener('abort', onAbort);
      if (fd !== undefined) await fdClose(fd).catch(() => undefined);
      if (!renamed) await this.dropTemp(tmp, dir);
    }
  }

  /** Copies a streamed body (anything but a local file: buffers in memory, test sources). */
  private async copyStream(fd: number, body: RewindableSource, key: string, opts: PutOptions): Promise<number> {
    const stream = body.open();
    if (opts.signal) addAbortSignal(opts.signal, stream);
    let written = 0;
    try {
      for await (const chunk of stream) {
        const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        await this.writeAll(fd, b, key);
        written += b.length;
        opts.onProgress?.(written);
      }
    } finally {
      stream.destroy();
    }
    return written;
  }

  private async writeAll(fd: number, b: Buffer, key: string): Promise<void> {
    let off = 0;
    while (off < b.length) {
      try {
        off += (await fdWrite(fd, b, off, b.length - off)).bytesWritten;
      } catch (e) {
        throw await classify(this.root, e, 'put', key);
      }
    }
  }

  async get<T>(key: string, range: ByteRange | undefined, consume: (body: Readable) => Promise<T>): Promise<T> {
    const file = this.pathOf(key);
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(file, 'r');
    } catch (e) {
      throw await mapMissing(this.root, e, 'get', key);
    }
    let stream: Readable | undefined;
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notFound(key);
      stream = fh.createReadStream({ start: range?.start ?? 0, end: range?.end, autoClose: true });
      return await consume(stream);
    } finally {
      if (stream) {
        // Wait for the file to be closed, so the object can be replaced or removed right after (Windows).
        if (!stream.closed) {
          const closed = new Promise((r) => stream!.once('close', r));
          stream.destroy();
          await closed;
        }
      } else await fh.close().catch(() => undefined);
    }
  }

  /**
   * A restore's copy of a stored file into a local file (`Target.getToFile`): done by a copy
   * worker as a backup's copy is — synchronous calls, one reused 1 MiB buffer, hashed as it is
   * read — and renamed into place by the worker once its size and hash are the recorded ones.
   * Errors of the local disk written to pass through unmapped: they are not this target's.
   */
  async getToFile(key: string, sink: LocalFileSink, opts: GetToFileOptions = {}): Promise<GetToFileResult> {
    const file = this.pathOf(key);
    opts.signal?.throwIfAborted();
    this.copier ??= takeCopier();
    const cancel = opts.signal && sink.size >= PROGRESS_EVERY ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
    const onAbort = cancel && (() => Atomics.store(cancel, 0, 1));
    if (onAbort) opts.signal!.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = await this.copier.copy(
        { src: file, size: sink.size, mtimeMs: 0, tmp: sink.tmp, root: path.dirname(sink.tmp), setMtimeMs: sink.mtimeMs, setMode: sink.mode, setOwner: sink.owner, createMode: 0o666, rename: sink.rename, cancel, expect: { sha256: sink.sha256 } },
        opts.onProgress,
      );
      if ('cancelled' in reply) throw opts.signal?.reason ?? new Error('the restore was aborted');
      if ('mismatch' in reply) return { sha256: reply.sha256, size: reply.size, ok: false };
      if ('changed' in reply) return { sha256: '', size: -1, ok: false }; // not sent for a restore
      if ('error' in reply) {
        const { stage, message, ...rest } = reply.error;
        const e = Object.assign(new Error(message), rest);
        if (stage === 'open-source') throw await mapMissing(this.root, e, 'get', key);
        if (stage === 'read') throw await classify(this.root, e, 'get', key);
        throw e; // the local disk written to
      }
      opts.onProgress?.(sink.size);
      return { sha256: reply.sha256, size: sink.size, ok: true, owned: sink.owner !== undefined && !('unowned' in reply) };
    } finally {
      if (onAbort) opts.signal!.removeEventListener('abort', onAbort);
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    const file = this.pathOf(key);
    let st;
    try {
      st = await fs.stat(file);
    } catch (e) {
      throw await mapMissing(this.root, e, 'stat', key);
    }
    if (!st.isFile()) throw notFound(key);
    return { key, size: st.size, mtimeMs: st.mtimeMs };
  }

  /**
   * Walks only the folder `prefix` points into (`a/b/c` → the folder `a/b`, names starting with
   * `c`), depth-first with one open directory handle per level: never the whole tree in memory.
   */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : '';
    const namePrefix = prefix.slice(slash + 1);
    if (dirKey !== '' && !this.validKey(dirKey)) return; // no valid key lives under it
    const dirPath = dirKey === '' ? this.root : this.pathOf(dirKey);
    let dir: Dir;
    try {
      dir = await fs.opendir(dirPath, { bufferSize: 64 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        if (dirKey === '') throw await mapMissing(this.root, e, 'list', prefix);
        await assertRoot(this.root, 'list', prefix, e);
        return;
      }
      throw await classify(this.root, e, 'list', prefix);
    }
    yield* this.walk(dir, dirPath, dirKey === '' ? '' : `${dirKey}/`, namePrefix);
  }

  /**
   * A rename. With `ifAbsent` an object already at `to` stays (`'exists'`). With `deferSync` on a
   * disk that keeps renames in order, durable with the next flush; else now (both folders fsynced).
   * The folders `from` leaves empty are removed.
   */
  async move(from: string, to: string, opts: MoveOptions = {}): Promise<void | 'exists'> {
    const src = this.pathOf(from);
    const dst = this.pathOf(to);
    if (src === dst) {
      await this.stat(from);
      return;
    }
    const dstDir = path.dirname(dst);
    const srcDir = path.dirname(src);
    const deferred = opts.deferSync === true && this.inOrder;
    const ifAbsent = opts.ifAbsent === true;
    // In the copy worker once it is up (one message for the look, the rename and the folders);
    // before that (a one-shot run's first moves) here: a move does not wait for a thread to start.
    const moved = this.copier?.ready ? await this.renameInWorker(this.copier, from, to, src, dst, ifAbsent, deferred) : await this.renameHere(from, to, src, dst, ifAbsent);
    if (moved === 'exists') return 'exists';
    if (deferred) {
      // Durable with the window's flush, before the engine records it; a put over `from` in the
      // same window cannot outlive this rename on such a disk (rename-order.ts).
      const left = moved.left ?? (await this.prune(srcDir));
      this.durable.movedDeferred(left === dstDir ? [dstDir] : [dstDir, left]);
      return;
    }
    await this.durable.syncDir(dstDir);
    if (srcDir !== dstDir) await this.durable.syncDir(srcDir);
    await this.prune(srcDir);
  }

  /** The move as one job of the copy worker (copier.ts `MoveJob`); it prunes `from`'s folders when `prune`. */
  private async renameInWorker(copier: Copier, from: string, to: string, src: string, dst: string, ifAbsent: boolean, prune: boolean): Promise<'exists' | { left?: string }> {
    let reply: MoveReply;
    for (let attempt = 0; ; attempt++) {
      reply = await copier.move({ from: src, to: dst, root: this.root, ifAbsent, prune });
      // The root itself was missing where the worker would have made a folder: the disk is gone
      // (unavailable), or a folder was pruned meanwhile by a move beside this one (tried again).
      if ('error' in reply && reply.error.stage === 'move' && reply.error.code === 'ENOENT' && attempt < 2) await assertRoot(this.root, 'move', from);
      else break;
    }
    if ('exists' in reply) return 'exists';
    if ('error' in reply) {
      const { stage, message, ...rest } = reply.error;
      const e = Object.assign(new Error(message), rest);
      if (stage === 'open-source') {
        await assertRoot(this.root, 'move', from, e);
        throw notFound(from);
      }
      throw await classify(this.root, e, 'move', `${from} → ${to}`);
    }
    return { left: reply.left };
  }

  /** The move on the thread pool, a call at a time (before the copy worker is up). */
  private async renameHere(from: string, to: string, src: string, dst: string, ifAbsent: boolean): Promise<'exists' | { left?: string }> {
    if (ifAbsent) {
      try {
        await fs.lstat(dst);
        return 'exists';
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw await classify(this.root, e, 'move', `${from} → ${to}`);
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.rename(src, dst);
        return {};
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' || attempt >= 3) throw await classify(this.root, e, 'move', `${from} → ${to}`);
        // Either the source is missing, or the destination folder is (or was just pruned).
        const sst = await fs.lstat(src).catch(() => undefined);
        if (!sst?.isFile()) {
          await assertRoot(this.root, 'move', from, e);
          throw notFound(from);
        }
        await this.ensureDir(path.dirname(dst), to);
      }
    }
  }

  async remove(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      await fs.unlink(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        await assertRoot(this.root, 'remove', key, e);
        return;
      }
      if (code === 'EISDIR' || code === 'EPERM') {
        // Linux says EISDIR, macOS EPERM for unlink of a folder: a folder is not an object.
        const st = await fs.lstat(file).catch(() => undefined);
        if (st?.isDirectory()) return;
      }
      throw await classify(this.root, e, 'remove', key);
    }
    await this.prune(path.dirname(file));
  }

  async usage(): Promise<{ used?: number; free?: number }> {
    try {
      const s = await fs.statfs(this.root);
      return { free: Number(s.bavail) * Number(s.bsize) };
    } catch (e) {
      throw await mapMissing(this.root, e, 'usage', '');
    }
  }

  /** Removes temporary files older than `olderThanMs` left by puts that were killed mid-way. */
  async cleanup(opts: CleanupOptions): Promise<void> {
    const limit = Date.now() - opts.olderThanMs;
    const visit = async (dirPath: string): Promise<void> => {
      let dir: Dir;
      try {
        dir = await fs.opendir(dirPath, { bufferSize: 64 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw mapError(this.root, e, 'cleanup', dirPath);
      }
      for await (const d of dir) {
        const p = path.join(dirPath, d.name);
        if (d.isDirectory()) await visit(p);
        else if (d.name.startsWith(TEMP_PREFIX)) {
          const st = await fs.lstat(p).catch(() => undefined);
          if (st && st.mtimeMs < limit) {
            await fs.rm(p, { force: true });
            this.logger.debug({ file: p }, 'removed a stale temporary file');
          }
        }
      }
    };
    await assertRoot(this.root, 'cleanup', '');
    const prefix = opts.prefix?.replace(/\/+$/, '');
    if (prefix && !this.validKey(prefix)) throw new TargetError('permanent', `cleanup: unsafe prefix ${JSON.stringify(prefix)}`);
    await visit(prefix ? path.join(this.root, ...prefix.split('/')) : this.root);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // Nothing held open between calls but the copy workers and the sync helper (parked for the
    // next run where the process keeps helpers: `agent run`).
    const c = this.copier;
    this.copier = undefined;
    this.durable.close();
    if (c) await releaseCopier(c);
  }

  // -------------------------------------------------------------------------------------------

  private async *walk(dir: Dir, dirPath: string, keyPrefix: string, namePrefix: string): AsyncGenerator<ObjectInfo> {
    try {
      for await (const d of dir) {
        if (namePrefix && !d.name.startsWith(namePrefix)) continue;
        if (d.name.startsWith(TEMP_PREFIX)) continue;
        const p = path.join(dirPath, d.name);
        const key = keyPrefix + d.name;
        if (d.isDirectory()) {
          let sub: Dir;
          try {
            sub = await fs.opendir(p, { bufferSize: 64 });
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // pruned meanwhile
            throw await classify(this.root, e, 'list', key);
          }
          yield* this.walk(sub, p, `${key}/`, '');
        } else if (d.isFile() || d.isSymbolicLink() || isUnknown(d)) {
          const st = await fs.stat(p).catch((e: NodeJS.ErrnoException) => e);
          if (st instanceof Error) {
            if (st.code === 'ENOENT') continue; // removed meanwhile
            throw await classify(this.root, st, 'list', key);
          }
          if (st.isFile()) yield { key, size: st.size, mtimeMs: st.mtimeMs };
        }
      }
    } catch (e) {
      throw await classify(this.root, e, 'list', keyPrefix);
    }
  }

  private makeCapabilities(): TargetCapabilities {
    return capabilitiesFor(this.root, this.config.maxConnections ?? 16, this.windowsRules, this.isWin);
  }

  /** Reads the file system type under the root and sets the name rules (the disk may have been plugged in since). */
  private async detect(): Promise<void> {
    const mode = this.config.filesystem ?? 'auto';
    if (mode === 'auto' && !this.isWin) {
      const found = await detectFilesystem(this.root);
      if (!found) return; // not there now: keep what we had; check() will say why
      this.detectedFs = found.name;
      this.windowsRules = found.windows;
      this.inOrder = !found.windows && (this.inOrderGiven ?? (await renamesInOrder(this.root)));
    } else {
      this.detectedFs = this.windowsRules ? 'windows' : 'posix';
    }
    this.caps = this.makeCapabilities();
  }

  private async checkMarker(fix: string): Promise<void> {
    const marker = this.config.volumeMarker;
    if (!marker) return;
    const p = path.resolve(this.root, marker);
    const ok = await fs.stat(p).then(
      () => true,
      () => false,
    );
    if (!ok) {
      throw new TargetError('unavailable', `the disk's marker file ${p} is not there: the backup disk is not plugged in (or another disk is mounted at ${this.root})`, {
        hint: `${fix}; the marker ${p} must exist on the backup disk (create it once: touch "${p}")`,
      });
    }
  }

  private validKey(key: string): boolean {
    return keyProblem(key, this.caps, this.windowsRules, this.isWin) === undefined;
  }

  /** The absolute path of a key, or a `permanent` TargetError: never a path outside the root. */
  private pathOf(key: string): string {
    const why = keyProblem(key, this.caps, this.windowsRules, this.isWin);
    if (why) throw new TargetError('permanent', `the key ${JSON.stringify(key)} cannot be stored on ${this.root}: ${why}`);
    // keyProblem let through only names (no "", ".", ".." segment, no leading "/", no backslash on
    // Windows): the root, a separator and the key's names stay below the root as they are.
    return this.rootSlash + (path.sep === '/' ? key : key.replaceAll('/', path.sep));
  }

  /** Opens the temporary file, creating missing parent folders below the root (never the root). */
  private async openTemp(key: string, dir: string, tmp: string): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fdOpen(tmp, fsc.constants.O_CREAT | fsc.constants.O_EXCL | fsc.constants.O_WRONLY, 0o644);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' || attempt >= 3) throw await classify(this.root, e, 'put', key);
        await this.ensureDir(dir, key);
      }
    }
  }

  /**
   * Creates `dir` and whichever of its parents are missing, below the root and never the root
   * itself (a missing root is `unavailable`: an unplugged disk). Bottom-up, so the usual case — only
   * the last folder is new — costs one `mkdir`.
   */
  private async ensureDir(dir: string, key: string): Promise<void> {
    if (dir === this.root) {
      await assertRoot(this.root, 'put', key);
      return;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.mkdir(dir);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') {
          const st = await fs.stat(dir).catch(() => undefined);
          if (st?.isDirectory()) return;
          throw new TargetError('permanent', `cannot store ${JSON.stringify(key)}: ${dir} is a file, not a folder`);
        }
        if (code !== 'ENOENT') throw mapError(this.root, e, 'put', key);
        if (attempt > 0) {
          // The parent vanished again: the root (disk unplugged), or a folder pruned by a concurrent remove.
          await assertRoot(this.root, 'put', key, e);
          throw new TargetError('transient', `put ${key}: ${dir} vanished while it was created`, { cause: e });
        }
        await this.ensureDir(path.dirname(dir), key);
      }
    }
  }

  /** Removes empty folders from `dir` up to (not including) the root; returns the deepest folder left (whose entries changed). */
  private async prune(dir: string): Promise<string> {
    let cur = dir;
    while (cur !== this.root && cur.startsWith(this.root + path.sep)) {
      try {
        await fs.rmdir(cur);
      } catch {
        return cur; // not empty (ENOTEMPTY/EEXIST), already gone, or not ours to remove
      }
      cur = path.dirname(cur);
    }
    return cur;
  }
}

function isUnknown(d: Dirent): boolean {
  return !d.isFile() && !d.isDirectory() && !d.isSymbolicLink() && !d.isFIFO() && !d.isSocket() && !d.isBlockDevice() && !d.isCharacterDevice();
}


/**
 * The permission bits of a stored copy: the source's for group and others (a private file stays
 * private on the backup disk, a script stays executable), read and write always for the owner
 * (hokan must read, verify, move and replace its copy), never setuid, setgid or sticky.
 */
export function storedMode(mode: number): number {
  return (mode & 0o777) | 0o600;
}
