/**
 * The restore's per-file writer, apart from the run's logic in restore.ts (which decides what to
 * restore where): folders made once per run, one stored version written to a temporary file,
 * hashed while it is written, checked and renamed into place, and durability a window of files at
 * a time (docs/design.md, "Restore").
 *
 * - A target with `getToFile` (a local disk) copies the file itself, in its copy workers.
 * - Any other target is read through `get`: small objects in one request, written in 1 MiB
 *   positional writes; big ones in parallel ranged GETs (a failed range is retried alone), hashed in
 *   order as the ranges arrive, with the ranges held in memory bounded for the whole run.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fsc from 'node:fs';
import { chmod, chown, lstat, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { HokanError, TargetError } from '../../common/errors.js';
import { FSYNC_EACH_MAX, fsyncEach } from '../disk/fsync.js';
import { Syncer } from '../disk/syncer.js';
import { fsTime } from '../../common/units.js';
import type { HeldVersion } from '../index/index-store.js';
import { withRetry } from './failure.js';
import { runIdTime } from './layout.js';
import { restoresOwner } from './restore-folders.js';
import type { OpenedJobTarget } from './open-target.js';

const fdOpen = promisify(fsc.open);
const fdWrite = promisify(fsc.write) as (fd: number, b: Buffer, off: number, len: number, pos: number) => Promise<{ bytesWritten: number }>;
const fdTimes = promisify(fsc.futimes);
const fdChmod = promisify(fsc.fchmod);
const fdChown = promisify(fsc.fchown);
const fdClose = promisify(fsc.close);
const fdTruncate = promisify(fsc.ftruncate);
const fdWritev = promisify(fsc.writev) as unknown as (fd: number, bs: Buffer[], pos: number) => Promise<{ bytesWritten: number }>;

/** Bytes gathered before one write to the restored file (streamed path). */
const WRITE_CHUNK = 1024 * 1024;
/** Objects at least this big, on a target without `getToFile`, are read in parallel ranges. */
export const RANGED_MIN = 32 * 1024 * 1024;
/** The size of one range. */
export const RANGE_SIZE = 8 * 1024 * 1024;
/** Ranges read or waiting to be hashed at once, over the whole run (memory: this × RANGE_SIZE). */
const RANGE_SLOTS = 8;

/** Folders of the restored tree, each made (or found) once per run. */
export class RestoreFolders {
  private readonly made = new Map<string, Promise<boolean>>();

  /**
   * Makes `dir` and its missing parents; true when this run made `dir` (so nothing was in it
   * before the run: no file there to compare or overwrite). `stopAt` is made if missing, never
   * looked above.
   */
  ensure(dir: string): Promise<boolean> {
    let p = this.made.get(dir);
    if (!p) {
      p = this.make(dir);
      this.made.set(dir, p);
      p.catch(() => this.made.delete(dir)); // a failure is tried again by the next file
    }
    return p;
  }

  private async make(dir: string): Promise<boolean> {
    try {
      await mkdir(dir);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        if ((await stat(dir)).isDirectory()) return false;
        throw e;
      }
      if (code !== 'ENOENT' || dirname(dir) === dir) throw e;
    }
    await this.ensure(dirname(dir));
    try {
      await mkdir(dir);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && (await lstat(dir)).isDirectory()) return false;
      throw e;
    }
  }
}

/**
 * Makes restored files durable a window at a time, as backup does on a local disk: one `syncfs`
 * (`sync -f`) of each destination's disk when a window is full (1,000 files, 128 MiB, or 250 ms
 * once it holds more than FSYNC_EACH_MAX files),
 * in the background while the copies go on, and once at the end; where `sync -f` is not there, or
 * for a window of a few files and folders (FSYNC_EACH_MAX fsyncs), an fsync of each.
 * Never an fsync per file on the way.
 */
export class RestoreDurability {
  private files: string[] = [];
  private bytes = 0;
  private since = Date.now();
  private running?: Promise<void>;
  private failed?: unknown;
  private syncfs?: boolean;
  private readonly syncers = new Map<string, Syncer>();
  /** Destination disks to sync (a folder on each). */
  readonly roots = new Set<string>();
  /** Flushes done (for tests and the benchmark's figures). */
  flushes = 0;

  constructor(private readonly window = { files: 1000, bytes: 128 * 1024 * 1024, ms: 250 }) {}

  landed(file: string, size: number): void {
    this.files.push(file);
    this.bytes += size;
    if (this.running) return;
    // The clock closes a window only once it holds more than a few files: a restore paced by the
    // network lands a few files every 250 ms, and a window that small is an fsync of each file
    // (three thread-pool round trips and a journal commit per file) — the end's flush covers them.
    const n = this.files.length;
    if (n >= this.window.files || this.bytes >= this.window.bytes || (n > FSYNC_EACH_MAX && Date.now() - this.since >= this.window.ms)) this.kick();
  }

  private kick(): void {
    const files = this.files;
    this.files = [];
    this.bytes = 0;
    this.since = Date.now();
    this.running = this.flush(files)
      .catch((e) => {
        this.failed ??= e;
      })
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Waits for the window in progress and flushes what is left; throws when any flush failed. Stops the sync helpers. */
  async finish(): Promise<void> {
    try {
      await this.running;
      if (this.files.length) {
        this.kick();
        await this.running;
      }
      if (this.failed) throw this.failed;
    } finally {
      this.close();
    }
  }

  /** Done with the sync helpers (also when a run ends early): parked for the next run in `agent run`, else stopped. */
  close(): void {
    for (const s of this.syncers.values()) s.release();
    this.syncers.clear();
  }

  private async flush(files: string[]): Promise<void> {
    if (!files.length) return;
    this.flushes++;
    const dirs = new Set(files.map((f) => dirname(f)));
    // A few fsyncs (a restore of one folder): their own, not the whole disk's (fsync.ts). What counts
    // is the fsyncs it would take, files and folders: a few files in many folders are many fsyncs.
    if (files.length + dirs.size <= FSYNC_EACH_MAX) return fsyncEach(files, dirs, 8, () => undefined);
    if (process.platform === 'linux' && this.syncfs !== false) {
      try {
        for (const r of this.roots) await (this.syncers.get(r) ?? this.syncers.set(r, Syncer.take(r)).get(r)!).sync();
        this.syncfs = true;
        return;
      } catch (e) {
        if (this.syncfs) throw e;
        this.syncfs = false;
      }
    }
    await fsyncEach(files, dirs, 8, () => undefined); // some file systems refuse a folder's fsync
  }
}

/** A run-wide count of range buffers (see RANGE_SLOTS). */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

export interface WriteOptions {
  signal?: AbortSignal;
  /** Bytes of this file written so far (a big file reports along the way). */
  onBytes?: (bytes: number) => void;
}

/** One stored version to write, and where. */
export interface RestoreItem {
  /** The keys that may hold it, the likeliest first: the next is tried when one is missing or damaged. */
  keys: string[];
  ver: HeldVersion;
  /** A fresh name in the staging folder (same disk as `dest`). */
  tmp: () => Promise<string>;
  dest: string;
}

/**
 * Writes stored versions to local files: temporary name, hashed while written, checked against the
 * recorded SHA-256, mtime and mode set, renamed into place; durability per window (`durability`).
 * A copy that does not match is never renamed into place: the next key is tried, and when none
 * matches the error is `E_HASH_MISMATCH` naming the target.
 */
export class RestoreWriter {
  private readonly slots = new Slots(RANGE_SLOTS);
  /** Set false to take the streamed path on every target (the differential test's old path). */
  useGetToFile = true;

  /** `durability`: shared when a run writes through several writers (a second target). */
  constructor(
    private readonly source: OpenedJobTarget,
    readonly durability = new RestoreDurability(),
  ) {}

  async write(item: RestoreItem, opts: WriteOptions = {}): Promise<void> {
    let first: unknown;
    for (const key of item.keys) {
      try {
        await this.writeFrom(key, item, opts);
        this.durability.landed(item.dest, item.ver.size);
        return;
      } catch (e) {
        first ??= e;
        if (!(HokanError.is(e) && e.code === 'E_HASH_MISMATCH') && !TargetError.isNotFound(e)) throw e;
      }
    }
    throw first;
  }

  private async writeFrom(key: string, item: RestoreItem, opts: WriteOptions): Promise<void> {
    const { ver } = item;
    const target = this.source.target;
    const tmp = await item.tmp();
    if (this.useGetToFile && target.getToFile) {
      // Owner and group as root: given to the target's copy (target-hdd sets them in its copy worker, no round trip of its own).
      const owner = restoresOwner(ver) ? { uid: ver.uid!, gid: ver.gid! } : undefined;
      const r = await withRetry(
        () => target.getToFile!(this.source.store.fullKey(key), { tmp, rename: item.dest, size: ver.size, sha256: ver.sha256 || undefined, mtimeMs: ver.mtimeMs, mode: ver.mode, owner }, { signal: opts.signal, onProgress: opts.onBytes }),
        { retries: 3, minDelayMs: 500, signal: opts.signal },
      );
      if (!r.ok) throw this.mismatch(key, ver, r.sha256, r.size);
      // A target that did not set the owner (mode and mtime are set): a chown clears setuid bits, so the mode again.
      if (owner && !r.owned) {
        await chown(item.dest, ver.uid!, ver.gid!);
        if (ver.mode !== undefined && ver.mode & 0o6000) await chmod(item.dest, ver.mode);
      }
      return;
    }
    let fd: number | undefined = await fdOpen(tmp, fsc.constants.O_CREAT | fsc.constants.O_EXCL | fsc.constants.O_WRONLY, 0o666);
    try {
      const ranged = ver.size >= RANGED_MIN && this.source.target.capabilities.maxConnections > 1;
      const { sha256, size } = ranged ? await this.readRanges(key, ver.size, fd, opts) : await this.readWhole(key, fd, opts);
      if (size !== ver.size || (ver.sha256 && sha256 !== ver.sha256)) throw this.mismatch(key, ver, sha256, size);
      // Seconds as a double, not a Date: a Date drops what is below the millisecond (fsTime: before 1970 too).
      await fdTimes(fd, fsTime(ver.mtimeMs), fsTime(ver.mtimeMs));
      // Owner and group first when running as root (a chown clears setuid bits); then the file's
      // permission bits as backed up; versions from before they were kept get the default.
      if (restoresOwner(ver)) await fdChown(fd, ver.uid!, ver.gid!);
      if (ver.mode !== undefined) await fdChmod(fd, ver.mode);
      const c = fd;
      fd = undefined;
      await fdClose(c);
      await rename(tmp, item.dest);
    } catch (e) {
      if (fd !== undefined) await fdClose(fd).catch(() => undefined);
      await rm(tmp, { force: true });
      throw e;
    }
  }

  private mismatch(key: string, ver: HeldVersion, sha: string, size: number): HokanError {
    const got = size !== ver.size ? `${size} bytes instead of ${ver.size}` : `got ${sha.slice(0, 12)}…`;
    const t = runIdTime(ver.v);
    const which = Number.isNaN(t.getTime()) ? '' : `, the version of ${t.toISOString()}`;
    return new HokanError('E_HASH_MISMATCH', `the copy on ${this.source.id} (${this.source.store.fullKey(key)}${which}) does not match its recorded SHA-256 (expected ${ver.sha256.slice(0, 12)}…, ${got})`, {
      hint: 'run `agent verify`; restore this file from another target or an older version',
    });
  }

  /** The whole object in one request, hashed as it comes, written 1 MiB at a time. A retry starts over. */
  private readWhole(key: string, fd: number, opts: WriteOptions): Promise<{ sha256: string; size: number }> {
    let tries = 0;
    return withRetry(
      () =>
        this.source.store.get(key, undefined, async (body) => {
          const h = createHash('sha256');
          let pos = 0;
          let batch: Buffer[] = [];
          let batched = 0;
          const out = async () => {
            // The chunks as they came, in one writev (no copy into one buffer).
            const bs = batch;
            const n = batched;
            batch = [];
            batched = 0;
            const w = bs.length === 1 ? (await fdWrite(fd, bs[0]!, 0, n, pos)).bytesWritten : (await fdWritev(fd, bs, pos)).bytesWritten;
            if (w < n) await writeAll(fd, Buffer.concat(bs, n).subarray(w), pos + w);
            pos += n;
            opts.onBytes?.(pos);
          };
          for await (const chunk of body) {
            const b = chunk as Buffer;
            h.update(b);
            batch.push(b);
            batched += b.length;
            if (batched >= WRITE_CHUNK) await out();
          }
          if (batched) await out();
          if (tries++ > 0) await fdTruncate(fd, pos); // a retry after a longer first try
          return { sha256: h.digest('hex'), size: pos };
        }),
      { retries: 3, minDelayMs: 500, signal: opts.signal },
    );
  }

  /**
   * Parallel ranged GETs (up to the target's `maxConnections`, at most 4 per file, and RANGE_SLOTS
   * in the run), each written at its offset as soon as it arrives and hashed in order; a range that
   * fails is retried alone. Ranges are started in order and a range only waits for earlier ranges
   * of its own file, which already hold their slots: no deadlock.
   */
  private async readRanges(key: string, size: number, fd: number, opts: WriteOptions): Promise<{ sha256: string; size: number }> {
    const h: Hash = createHash('sha256');
    const n = Math.ceil(size / RANGE_SIZE);
    const parallel = Math.min(4, this.source.target.capabilities.maxConnections);
    const ready = new Map<number, Buffer>();
    let hashed = 0;
    let got = 0;
    let next = 0;
    const running = new Set<Promise<void>>();
    let failure: unknown;
    const one = async (i: number) => {
      const start = i * RANGE_SIZE;
      const end = Math.min(size, start + RANGE_SIZE) - 1;
      try {
        const buf = await withRetry(
          () =>
            this.source.store.get(key, { start, end }, async (body) => {
              // Into one buffer of the range's size as the chunks come: no Buffer.concat copy beside
              // them (8 MiB more per range at the peak). A server sending more than asked: kept
              // whole, as before (the size check then fails the file).
              const want = end - start + 1;
              const buf = Buffer.allocUnsafe(want);
              let n = 0;
              let more: Buffer[] | undefined;
              for await (const c of body) {
                const b = c as Buffer;
                if (more) more.push(b);
                else if (n + b.length <= want) n += b.copy(buf, n);
                else more = [buf.subarray(0, n), b];
              }
              return more ? Buffer.concat(more) : buf.subarray(0, n);
            }),
          { retries: 3, minDelayMs: 500, signal: opts.signal },
        );
        await writeAll(fd, buf, start);
        got += buf.length;
        opts.onBytes?.(got);
        ready.set(i, buf);
        while (ready.has(hashed)) {
          h.update(ready.get(hashed)!);
          ready.delete(hashed);
          hashed++;
          this.slots.give();
        }
      } catch (e) {
        failure ??= e;
        this.slots.give();
      }
    };
    while (next < n && failure === undefined) {
      while (running.size >= parallel) await Promise.race(running);
      if (failure !== undefined) break;
      await this.slots.take();
      const p: Promise<void> = one(next++).finally(() => running.delete(p));
      running.add(p);
    }
    await Promise.all(running);
    // Slots of ranges read but never hashed (an earlier one failed) go back.
    for (let k = 0; k < ready.size; k++) this.slots.give();
    ready.clear();
    if (failure !== undefined) throw failure;
    return { sha256: h.digest('hex'), size: got };
  }
}

async function writeAll(fd: number, b: Buffer, pos: number): Promise<void> {
  for (let off = 0; off < b.length; ) off += (await fdWrite(fd, b, off, b.length - off, pos + off)).bytesWritten;
}
