import { randomBytes } from 'node:crypto';
import * as fsc from 'node:fs';
import type { Dir, Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { promisify } from 'node:util';
import {
  TargetError,
  nullLogger,
  type ByteRange,
  type CleanupOptions,
  type LocalFileBody,
  type Logger,
  type ObjectInfo,
  type ObjectMeta,
  type PutOptions,
  type RewindableSource,
  type Target,
  type TargetCapabilities,
  type TargetErrorKind,
} from '@hokan/core';
import pLimit from 'p-limit';
import { Copier, PROGRESS_EVERY, type CopyReply } from './copier.js';
import { Syncer } from './syncer.js';

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

// The callback forms, promisified: one thread-pool round trip each, no FileHandle to create and track.
const fdOpen = promisify(fsc.open);
const fdWrite = promisify(fsc.write) as (fd: number, b: Buffer, off: number, len: number) => Promise<{ bytesWritten: number }>;
const fdTimes = promisify(fsc.futimes);
const fdSync = promisify(fsc.fsync);
const fdClose = promisify(fsc.close);

/** fsync by name: a file written earlier and closed (its data is written back now), or a folder. */
async function fsyncPath(file: string): Promise<void> {
  const fd = await fdOpen(file, 'r');
  try {
    await fdSync(fd);
  } finally {
    await fdClose(fd);
  }
}

/** A folder's fsync in progress, and the one queued after it. */
interface DirSync {
  running?: Promise<void>;
  next?: Promise<void>;
}

/** Prefix of the temporary files a put writes before renaming; `list` never returns them, keys may not use it. */
export const TEMP_PREFIX = '.hokan-tmp-';
const TEMP_SEGMENT = /(?:^|\/)\.hokan-tmp-/;
/** A key segment that is empty, "." or "..". */
const DOT_OR_EMPTY_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

const WINDOWS_FORBIDDEN = '\\:*?"<>|';
/** Windows silently drops these at the end of a name, so `a.` and `a` would collide. */
const WINDOWS_TRAILING = ' .';
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

/** statfs `f_type` magic numbers of file systems with Windows name rules (linux/magic.h). */
const WINDOWS_FS_TYPES = new Map<number, string>([
  [0x4d44, 'vfat'], // MSDOS_SUPER_MAGIC
  [0x2011bab0, 'exfat'], // EXFAT_SUPER_MAGIC
  [0x5346544e, 'ntfs'], // NTFS_SB_MAGIC (ntfs, ntfs3)
  [0x65735546, 'fuseblk'], // FUSE_SUPER_MAGIC: on block devices this is ntfs-3g or exfat-fuse
  [0xff534d42, 'cifs'], // CIFS_SUPER_MAGIC
  [0xfe534d42, 'smb2'], // SMB2_SUPER_MAGIC
]);

/** Errors that mean the disk (or the share under it) has gone away. */
const GONE_CODES = new Set(['ENOENT', 'EIO', 'ENODEV', 'ENXIO', 'ENOTCONN', 'ESTALE', 'EHOSTDOWN']);

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
  private readonly config: HddTargetConfig;
  private readonly logger: Logger;
  private readonly isWin = process.platform === 'win32';
  /** Folder fsyncs in progress, by folder (see `syncDir`). */
  private readonly dirSyncs = new Map<string, DirSync>();
  /** Temporary names: a random stem per target object (two processes never collide) and a counter. */
  private readonly tempStem = randomBytes(6).toString('hex');
  private tempSeq = 0;
  /** Copy workers for local files, started by the first put of one. */
  private copier?: Copier;
  /** Puts made with `deferSync` since the last `flush`. */
  private unsynced = { files: [] as string[], dirs: new Set<string>() };
  /** Whether `sync -f` works here (undefined: not tried yet), and the helper that runs it. */
  private syncfs?: boolean;
  private syncer?: Syncer;

  constructor(config: HddTargetConfig, opts: { logger?: Logger } = {}) {
    if (typeof config.path !== 'string' || config.path.trim() === '') {
      throw new TargetError('permanent', 'the hdd target needs a `path`', { hint: 'set "path" to the folder on the disk, e.g. "/media/BACKUP1/hokan"' });
    }
    this.config = config;
    this.logger = opts.logger ?? nullLogger;
    this.root = path.resolve(config.path);
    this.rootSlash = this.root.endsWith(path.sep) ? this.root : this.root + path.sep;
    this.windowsRules = this.isWin || config.filesystem === 'windows';
    this.caps = this.makeCapabilities();
  }

  /** Creates the target and detects its file system (when the disk is there). */
  static async create(config: HddTargetConfig, opts: { logger?: Logger } = {}): Promise<HddTarget> {
    const t = new HddTarget(config, opts);
    await t.detect();
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
    const fix = 'plug in the disk or create the folder';
    let st = await fs.stat(root).catch((e: NodeJS.ErrnoException) => e);
    if (st instanceof Error) {
      if (st.code !== 'ENOENT' && st.code !== 'ENOTDIR') throw this.mapError(st, 'check', root);
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
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw this.mapError(e, 'check', root);
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
      throw this.mapError(e, 'check', root);
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
        if (meta.mtimeMs !== undefined) await fdTimes(fd, meta.mtimeMs / 1000, meta.mtimeMs / 1000);
      } catch (e) {
        throw await this.classify(e, 'put', key);
      }
      const landing = fd;
      fd = undefined;
      await this.landTemp(landing, tmp, file, key, !opts.deferSync);
      renamed = true;
      await this.landed(file, dir, opts.deferSync);
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
      throw await this.classify(e, 'put', key);
    }
    try {
      await fdClose(fd);
      await fs.rename(tmp, file);
    } catch (e) {
      throw await this.classify(e, 'put', key);
    }
  }

  /** After a failed put: the temporary file goes, and folders it left empty. */
  private async dropTemp(tmp: string, dir: string): Promise<void> {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    await this.prune(dir);
  }

  /** After a put's rename: make it durable now (fsync of the folder), or note it for `flush`. */
  private async landed(file: string, dir: string, deferSync: boolean | undefined): Promise<void> {
    if (!deferSync) return this.syncDir(dir);
    this.unsynced.files.push(file);
    this.unsynced.dirs.add(dir);
  }

  async flush(): Promise<void> {
    const { files, dirs } = this.unsynced;
    if (!files.length) return;
    this.unsynced = { files: [], dirs: new Set() };
    try {
      await this.assertRoot('flush', ''); // an unplugged disk: unavailable, whatever `sync` says
      await this.syncAll(files, dirs);
    } catch (e) {
      // Not durable: the next flush tries these again (the engine has not recorded them either).
      this.unsynced.files.push(...files);
      for (const d of dirs) this.unsynced.dirs.add(d);
      throw await this.classify(e, 'flush', '');
    }
  }

  /**
   * Linux: one `syncfs` of the disk (`sync -f`, coreutils) writes back every file and rename at
   * once. Elsewhere, or without it: an fsync of each file, then of each folder.
   */
  private async syncAll(files: string[], dirs: Set<string>): Promise<void> {
    if (process.platform === 'linux' && this.syncfs !== false) {
      try {
        await (this.syncer ??= new Syncer(this.root)).sync();
        this.syncfs = true;
        return;
      } catch (e) {
        if (this.syncfs) throw e; // it worked before: the disk is the problem
        this.syncfs = false;
        this.syncer?.close();
        this.logger.debug({ err: (e as Error).message }, '`sync -f` is not usable here: flushing file by file');
      }
    }
    const limit = pLimit(this.caps.maxConnections);
    await Promise.all(files.map((f) => limit(() => fsyncPath(f))));
    await Promise.all([...dirs].map((d) => limit(() => this.fsyncDir(d))));
  }

  /**
   * A local file: copied and hashed by a copy worker (copier.ts). With `deferSync` the worker also
   * renames it into place (nothing left for this thread but the reply); otherwise this thread
   * fsyncs the copy, renames it and fsyncs the folder.
   */
  private async putLocal(key: string, file: string, tmp: string, lf: LocalFileBody, meta: ObjectMeta, opts: PutOptions): Promise<void> {
    const dir = path.dirname(file);
    this.copier ??= new Copier();
    // Only a big file gets a cancel flag: a small one is copied before an abort could matter, and
    // a shared buffer per file costs the process a page of memory until the collector frees it.
    const cancel = opts.signal && lf.size >= PROGRESS_EVERY ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
    const onAbort = () => cancel && Atomics.store(cancel, 0, 1);
    if (cancel) opts.signal!.addEventListener('abort', onAbort, { once: true });
    const job = { src: lf.path, size: lf.size, mtimeMs: lf.mtimeMs, tmp, root: this.root, setMtimeMs: meta.mtimeMs, rename: opts.deferSync ? file : undefined, cancel };
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
        throw await this.classify(e, 'put', key);
      }
      if (fd !== undefined) {
        const landing = fd;
        fd = undefined;
        await this.landTemp(landing, tmp, file, key, true);
      }
      renamed = true;
      lf.copied(reply.sha256);
      opts.onProgress?.(lf.size);
      await this.landed(file, dir, opts.deferSync);
    } finally {
      if (cancel) opts.signal!.removeEventListener('abort', onAbort);
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
        throw await this.classify(e, 'put', key);
      }
    }
  }

  async get<T>(key: string, range: ByteRange | undefined, consume: (body: Readable) => Promise<T>): Promise<T> {
    const file = this.pathOf(key);
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(file, 'r');
    } catch (e) {
      throw await this.mapMissing(e, 'get', key);
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

  async stat(key: string): Promise<ObjectInfo> {
    const file = this.pathOf(key);
    let st;
    try {
      st = await fs.stat(file);
    } catch (e) {
      throw await this.mapMissing(e, 'stat', key);
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
        if (dirKey === '') throw await this.mapMissing(e, 'list', prefix);
        await this.assertRoot('list', prefix, e);
        return;
      }
      throw await this.classify(e, 'list', prefix);
    }
    yield* this.walk(dir, dirPath, dirKey === '' ? '' : `${dirKey}/`, namePrefix);
  }

  async move(from: string, to: string): Promise<void> {
    const src = this.pathOf(from);
    const dst = this.pathOf(to);
    if (src === dst) {
      await this.stat(from);
      return;
    }
    const dstDir = path.dirname(dst);
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.rename(src, dst);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' || attempt >= 3) throw await this.classify(e, 'move', `${from} → ${to}`);
        // Either the source is missing, or the destination folder is (or was just pruned).
        const sst = await fs.lstat(src).catch(() => undefined);
        if (!sst?.isFile()) {
          await this.assertRoot('move', from, e);
          throw notFound(from);
        }
        await this.ensureDir(dstDir, to);
      }
    }
    await this.syncDir(dstDir);
    if (path.dirname(src) !== dstDir) await this.syncDir(path.dirname(src));
    await this.prune(path.dirname(src));
  }

  async remove(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      await fs.unlink(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        await this.assertRoot('remove', key, e);
        return;
      }
      if (code === 'EISDIR' || code === 'EPERM') {
        // Linux says EISDIR, macOS EPERM for unlink of a folder: a folder is not an object.
        const st = await fs.lstat(file).catch(() => undefined);
        if (st?.isDirectory()) return;
      }
      throw await this.classify(e, 'remove', key);
    }
    await this.prune(path.dirname(file));
  }

  async usage(): Promise<{ used?: number; free?: number }> {
    try {
      const s = await fs.statfs(this.root);
      return { free: Number(s.bavail) * Number(s.bsize) };
    } catch (e) {
      throw await this.mapMissing(e, 'usage', '');
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
        throw this.mapError(e, 'cleanup', dirPath);
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
    await this.assertRoot('cleanup', '');
    const prefix = opts.prefix?.replace(/\/+$/, '');
    if (prefix && !this.validKey(prefix)) throw new TargetError('permanent', `cleanup: unsafe prefix ${JSON.stringify(prefix)}`);
    await visit(prefix ? path.join(this.root, ...prefix.split('/')) : this.root);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // Nothing held open between calls but the copy workers and the sync helper.
    const c = this.copier;
    this.copier = undefined;
    this.syncer?.close();
    this.syncer = undefined;
    await c?.close();
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
            throw await this.classify(e, 'list', key);
          }
          yield* this.walk(sub, p, `${key}/`, '');
        } else if (d.isFile() || d.isSymbolicLink() || isUnknown(d)) {
          const st = await fs.stat(p).catch((e: NodeJS.ErrnoException) => e);
          if (st instanceof Error) {
            if (st.code === 'ENOENT') continue; // removed meanwhile
            throw await this.classify(st, 'list', key);
          }
          if (st.isFile()) yield { key, size: st.size, mtimeMs: st.mtimeMs };
        }
      }
    } catch (e) {
      throw await this.classify(e, 'list', keyPrefix);
    }
  }

  private makeCapabilities(): TargetCapabilities {
    const maxConnections = this.config.maxConnections ?? 16;
    const base: TargetCapabilities = { maxConnections, serverSideMove: true, preservesMtime: true };
    // Room for the root, a separator and the longest temp name in one PATH_MAX (4096 bytes on Linux).
    const pathMax = this.isWin ? 32_000 : 4095;
    base.maxKeyLength = Math.max(1, pathMax - this.root.length - 1);
    if (process.platform === 'darwin') base.normalizationInsensitive = true;
    if (this.windowsRules) {
      return { ...base, forbiddenChars: WINDOWS_FORBIDDEN, forbiddenTrailingChars: WINDOWS_TRAILING, maxNameLength: 255, caseInsensitive: true };
    }
    return { ...base, maxNameBytes: 255, caseInsensitive: process.platform === 'darwin' ? true : undefined };
  }

  /** Reads the file system type under the root and sets the name rules (the disk may have been plugged in since). */
  private async detect(): Promise<void> {
    const mode = this.config.filesystem ?? 'auto';
    if (mode === 'auto' && !this.isWin) {
      const s = await fs.statfs(this.root).catch(() => undefined);
      if (!s) return; // not there now: keep what we had; check() will say why
      const win = WINDOWS_FS_TYPES.get(Number(s.type));
      this.detectedFs = win ?? 'posix';
      this.windowsRules = win !== undefined;
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
    return this.keyProblem(key) === undefined;
  }

  private keyProblem(key: string): string | undefined {
    if (typeof key !== 'string' || key === '') return 'the key is empty';
    if (key.startsWith('/')) return 'it starts with "/"';
    if (key.includes('\0')) return 'it contains NUL';
    if (DOT_OR_EMPTY_SEGMENT.test(key)) return `it has an empty, "." or ".." segment`;
    if (TEMP_SEGMENT.test(key)) return `a segment starts with ${TEMP_PREFIX} (reserved for temporary files)`;
    if (this.isWin && key.includes('\\')) return 'it contains a backslash';
    const c = this.caps;
    if (c.forbiddenChars) for (const ch of c.forbiddenChars) if (key.includes(ch)) return `it contains ${JSON.stringify(ch)}, which this file system cannot hold`;
    // Rules on each name: only split the key when one of them could apply (this runs per file).
    const nameRules =
      c.forbiddenTrailingChars || this.windowsRules || (c.maxNameLength !== undefined && key.length > c.maxNameLength) || (c.maxNameBytes !== undefined && key.length * 3 > c.maxNameBytes);
    if (nameRules) {
      for (const s of key.split('/')) {
        if (c.forbiddenTrailingChars && c.forbiddenTrailingChars.includes(s[s.length - 1]!)) return `the name ${JSON.stringify(s)} ends with a dot or a space`;
        if (c.maxNameLength !== undefined && s.length > c.maxNameLength) return `the name ${JSON.stringify(s.slice(0, 40))}… is longer than ${c.maxNameLength} characters`;
        if (c.maxNameBytes !== undefined && Buffer.byteLength(s) > c.maxNameBytes) return `the name ${JSON.stringify(s.slice(0, 40))}… is longer than ${c.maxNameBytes} bytes`;
        if (this.windowsRules && WINDOWS_RESERVED.test(s)) return `${JSON.stringify(s)} is a reserved device name on Windows`;
        if (this.windowsRules && /[\x01-\x1f]/.test(s)) return 'it contains a control character';
      }
    }
    if (c.maxKeyLength !== undefined && key.length > c.maxKeyLength) return `it is longer than ${c.maxKeyLength} characters`;
    return undefined;
  }

  /** The absolute path of a key, or a `permanent` TargetError: never a path outside the root. */
  private pathOf(key: string): string {
    const why = this.keyProblem(key);
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
        if (code !== 'ENOENT' || attempt >= 3) throw await this.classify(e, 'put', key);
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
      await this.assertRoot('put', key);
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
        if (code !== 'ENOENT') throw this.mapError(e, 'put', key);
        if (attempt > 0) {
          // The parent vanished again: the root (disk unplugged), or a folder pruned by a concurrent remove.
          await this.assertRoot('put', key, e);
          throw new TargetError('transient', `put ${key}: ${dir} vanished while it was created`, { cause: e });
        }
        await this.ensureDir(path.dirname(dir), key);
      }
    }
  }

  /** Removes empty folders from `dir` up to (not including) the root. */
  private async prune(dir: string): Promise<void> {
    let cur = dir;
    while (cur !== this.root && cur.startsWith(this.root + path.sep)) {
      try {
        await fs.rmdir(cur);
      } catch {
        return; // not empty (ENOTEMPTY/EEXIST), already gone, or not ours to remove
      }
      cur = path.dirname(cur);
    }
  }

  /**
   * Makes the renames done in `dir` so far durable (fsync of the folder). Calls for one folder
   * share fsyncs: a call made while one runs waits for the next, which starts when it ends and
   * serves every call made meanwhile — sixteen files landing in one folder cost two fsyncs, not sixteen.
   */
  private syncDir(dir: string): Promise<void> {
    if (this.isWin) return Promise.resolve();
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
      const code = (e as NodeJS.ErrnoException).code;
      // Some file systems (FAT via some drivers, SMB) refuse fsync on folders: the rename is still atomic.
      if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EPERM' && code !== 'EISDIR' && code !== 'EBADF') throw this.mapError(e, 'sync', dir);
    }
  }

  /** Throws `unavailable` when the root is gone (disk unplugged); otherwise returns. */
  private async assertRoot(op: string, key: string, cause?: unknown): Promise<void> {
    const st = await fs.stat(this.root).catch((e: NodeJS.ErrnoException) => e);
    if (st instanceof Error || !st.isDirectory()) {
      throw new TargetError('unavailable', `${op} ${key}: the backup folder ${this.root} is gone (was the disk unplugged?)`, {
        cause: cause ?? st,
        hint: `plug in the disk or create the folder (${this.root})`,
      });
    }
  }

  /** ENOENT/ENOTDIR → not-found (or unavailable when the root is gone); the rest → mapError. */
  private async mapMissing(e: unknown, op: string, key: string): Promise<TargetError> {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      await this.assertRoot(op, key, e);
      return notFound(key, e);
    }
    if (code === 'EISDIR') return notFound(key, e);
    return this.classify(e, op, key);
  }

  /** Like mapError, but an I/O error with the root gone (disk unplugged mid-run) is `unavailable`. */
  private async classify(e: unknown, op: string, key: string): Promise<TargetError> {
    if (TargetError.is(e)) return e;
    if (GONE_CODES.has((e as NodeJS.ErrnoException)?.code ?? '')) await this.assertRoot(op, key, e);
    return this.mapError(e, op, key);
  }

  private mapError(e: unknown, op: string, key: string): TargetError {
    if (TargetError.is(e)) return e;
    const err = e as NodeJS.ErrnoException;
    const code = err?.code ?? '';
    const where = key ? `${op} ${key}` : op;
    const msg = `${where} on ${this.root}: ${err?.message ?? String(e)}`;
    let kind: TargetErrorKind;
    let hint: string | undefined;
    switch (code) {
      case 'ENOSPC':
      case 'EDQUOT':
      case 'EFBIG':
        kind = 'quota';
        hint = `free some space on the disk of ${this.root}, or lower the number of generations kept`;
        break;
      case 'EACCES':
      case 'EPERM':
      case 'EROFS':
        kind = 'auth';
        hint = code === 'EROFS' ? `the disk of ${this.root} is mounted read-only: remount it writable` : `give the agent's user write access to ${this.root}`;
        break;
      case 'ENAMETOOLONG':
      case 'EINVAL':
      case 'EILSEQ':
      case 'ENOTDIR':
      case 'EISDIR':
      case 'EEXIST':
      case 'ENOTEMPTY':
      case 'ELOOP':
        kind = 'permanent';
        break;
      case 'ENODEV':
      case 'ENXIO':
      case 'ENOTCONN':
      case 'ESTALE':
      case 'EHOSTDOWN':
        kind = 'unavailable';
        hint = `plug in the disk or create the folder (${this.root})`;
        break;
      default:
        // EIO, ENOENT (with the root present: a folder pruned or a file removed concurrently),
        // EBUSY, EAGAIN, EMFILE, ENFILE, ETIMEDOUT, …
        kind = 'transient';
    }
    return new TargetError(kind, msg, { cause: e, hint });
  }
}

function notFound(key: string, cause?: unknown): TargetError {
  return new TargetError('not-found', `no object ${JSON.stringify(key)}`, cause === undefined ? {} : { cause });
}

function isUnknown(d: Dirent): boolean {
  return !d.isFile() && !d.isDirectory() && !d.isSymbolicLink() && !d.isFIFO() && !d.isSocket() && !d.isBlockDevice() && !d.isCharacterDevice();
}

