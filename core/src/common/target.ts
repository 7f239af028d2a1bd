import type { Readable } from 'node:stream';
import type { Disposable } from './disposable.js';
import type { Logger } from './logger.js';

/**
 * The one small interface every destination implements (restic/rclone style). A target is a flat
 * key → object store with server-side move; the engine owns the layout on top of it (browsable
 * newest versions, generations, manifests, the ownership marker). Keys are `/`-separated, never
 * start with `/`, and are passed through byte-for-byte (NFC and NFD forms are different keys).
 *
 * Every target passes `describeTargetConformance` from `@hokan/core/testing` against a real server.
 */
export interface Target extends AsyncDisposable {
  readonly capabilities: TargetCapabilities;
  /** Checks the target can be used now (disk mounted, bucket exists, credentials good). Throws a TargetError with a hint. */
  check(): Promise<void>;
  /**
   * Writes an object atomically: readers see the old object or the whole new one, never a part.
   * `body.open()` may be called more than once (retries); each call must yield the same bytes.
   */
  put(key: string, body: RewindableSource, meta: ObjectMeta, opts?: PutOptions): Promise<void>;
  /** Reads an object (or a byte range of it) and hands the stream to `consume`; the stream is closed when it returns. */
  get<T>(key: string, range: ByteRange | undefined, consume: (body: Readable) => Promise<T>): Promise<T>;
  /** Throws a `not-found` TargetError when the key does not exist. */
  stat(key: string): Promise<ObjectInfo>;
  /** Every object whose key starts with `prefix`, exactly once, in no particular order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * Server-side move (rename, CopyObject+delete, WebDAV MOVE): never a download and re-upload.
   * Overwrites `to` — except with `opts.ifAbsent` on a target that has `capabilities.moveIfAbsent`:
   * an object at `to` then stays as it is, `from` too, and the move resolves `'exists'`.
   */
  move(from: string, to: string, opts?: MoveOptions): Promise<void | 'exists'>;
  /** Removes an object; removing a missing key is not an error. */
  remove(key: string): Promise<void>;
  /** Space used and free, where the target can tell. */
  usage?(): Promise<{ used?: number; free?: number }>;
  /**
   * Makes every put made with `deferSync` that has resolved so far durable (survives a power cut).
   * Targets whose puts are durable when they resolve (object stores) do not implement it; the
   * engine then records each file at once. A local disk does: flushing a window of files with one
   * call costs far less than waiting for the disk after every file.
   */
  flush?(): Promise<void>;
  /**
   * Housekeeping after a crash: remove what interrupted writes left (temporary files, abandoned
   * multipart uploads) under `prefix` (default: everywhere) that is older than `olderThanMs` and
   * that `keep(key)` does not protect (an upload the engine means to resume).
   */
  cleanup?(opts: CleanupOptions): Promise<void>;
  /**
   * Sets the permission bits of a stored copy (`ObjectMeta.mode`) after a change of permissions
   * alone. Targets that keep them on the copy itself (a local disk) implement it; for the others the
   * journal holds them.
   */
  setMode?(key: string, mode: number): Promise<void>;
  /**
   * Optional, for restores: copies an object into a new local file itself — a local disk does, in
   * its copy workers, with no hop back to the engine per chunk — instead of the engine streaming it
   * through `get`. It keeps the sink's promises (`LocalFileSink`): the bytes are hashed as they are
   * written, a file whose size or hash is not the expected one is never renamed into place (the
   * result says `ok: false`), and the temporary file is gone after any failure. Errors of the
   * target (a missing object: `not-found`) are TargetErrors; errors of the local disk written to
   * pass through as they are (errno codes). Nothing is made durable: the engine does that, a
   * window of files at a time.
   */
  getToFile?(key: string, sink: LocalFileSink, opts?: GetToFileOptions): Promise<GetToFileResult>;
}

/** Where `Target.getToFile` writes an object, and what it must find. */
export interface LocalFileSink {
  /** The temporary file to create (exclusively) and write; its folder exists. */
  readonly tmp: string;
  /** Renamed to this path once written and checked. */
  readonly rename: string;
  /** The object's size as recorded: any other count of bytes is a mismatch. */
  readonly size: number;
  /** The hex SHA-256 as recorded; none: any content is accepted (its hash is still returned). */
  readonly sha256?: string;
  /** The mtime to give the file. */
  readonly mtimeMs?: number;
  /** The permission bits to give the file, exactly (default: 0o666 less the umask). */
  readonly mode?: number;
  /**
   * Owner and group to give the file (a restore run as root), before its mode (a chown clears
   * setuid bits). A target that sets them says so (`GetToFileResult.owned`); else the engine does.
   */
  readonly owner?: { readonly uid: number; readonly gid: number };
}

export interface GetToFileOptions {
  signal?: AbortSignal;
  /** Bytes written so far of a big object (for progress bars). */
  onProgress?: (bytes: number) => void;
}

export interface GetToFileResult {
  /** Hex SHA-256 and byte count of what was read. */
  sha256: string;
  size: number;
  /** False: the size or hash was not the expected one — nothing was renamed, the temporary file is gone. */
  ok: boolean;
  /** The sink's `owner` was given to the file (with its mode after it). */
  owned?: boolean;
}

export interface TargetCapabilities {
  /** How many transfers the engine runs against this target at once. */
  maxConnections: number;
  serverSideMove: boolean;
  /** Largest object the target can hold, in bytes. */
  maxObjectSize?: number;
  /** Longest key the target can hold, in characters. */
  maxKeyLength?: number;
  /** Characters a key may not contain on this target (e.g. `\\:*?"<>|` on FAT/NTFS-bound targets). */
  forbiddenChars?: string;
  /** Whether `put` can resume a partly sent object through `PutOptions.resume`. */
  resumableUploads?: boolean;
  /** Longest single `/`-separated segment of a key, in characters (UTF-16 code units; 255 on FAT/exFAT/NTFS). */
  maxNameLength?: number;
  /** Longest single segment of a key, in UTF-8 bytes (255 on most POSIX file systems). */
  maxNameBytes?: number;
  /** Characters a key segment may not end with (Windows drops trailing dots and spaces: `" ."`). */
  forbiddenTrailingChars?: string;
  /**
   * Keys that differ only in Unicode normalization (NFC/NFD) name the same object (macOS APFS/HFS+).
   * Absent or false: they are two distinct objects, as the contract says.
   */
  normalizationInsensitive?: boolean;
  /** Keys that differ only in letter case name the same object (FAT/exFAT/NTFS as Windows and macOS see them). */
  caseInsensitive?: boolean;
  /** `stat` returns the `mtimeMs` given to `put` (to the millisecond, or to the second where the file system is coarser). */
  preservesMtime?: boolean;
  /**
   * `move` honours `MoveOptions.ifAbsent`: it looks for an object at `to` in the same step as the
   * move (a local disk: one round trip to its copy worker), so the engine, keeping a version, does
   * not ask with a `stat` first.
   */
  moveIfAbsent?: boolean;
}

export interface CleanupOptions {
  olderThanMs: number;
  keep: (key: string) => boolean;
  /** Only under this key prefix (a job's own place). */
  prefix?: string;
}

/** A body that can be read again from the start (or from an offset) as often as needed. */
export interface RewindableSource {
  readonly size: number;
  open(start?: number): Readable;
  /**
   * Optional: the body is this local file, as the scan saw it. A target on the same machine may
   * copy it itself (target-hdd does, in a worker thread, with no hop back per chunk) instead of
   * calling `open` — if it keeps the source's promises: it reads at most `size + 1` bytes, hashes
   * what it reads (SHA-256), and at the end compares the size read and the file's size and mtime
   * with these. Then it calls `copied(sha256)`, or throws `changed()` when they moved.
   */
  readonly localFile?: LocalFileBody;
  /**
   * Optional: the hex SHA-256 of the last complete read from offset 0, set once that read ended
   * (the engine's file source hashes what it reads). A target that reads the whole body before it
   * commits an object can put the hash in the object's metadata without hashing the bytes again.
   */
  readonly sha256?: string;
}

/** See `RewindableSource.localFile`. */
export interface LocalFileBody {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Reports a complete read from offset 0 and its hash. */
  copied(sha256: string): void;
  /** The error to throw when the file changed while it was read (the engine skips it as changed-during-backup). */
  changed(): Error;
}

export interface ObjectMeta {
  size: number;
  mtimeMs?: number;
  /** Hex SHA-256 of the content, when known before the upload (the engine records it after). */
  sha256?: string;
  contentType?: string;
  /**
   * The source file's permission bits (`mode & 0o7777`). A target that keeps them on the stored copy
   * (a local disk) does, so a private file stays private on the backup disk; the journal has them
   * for every target.
   */
  mode?: number;
}

export interface ObjectInfo {
  key: string;
  size: number;
  mtimeMs?: number;
  sha256?: string;
}

export interface ByteRange {
  start: number;
  /** Inclusive end offset; omitted means to the end of the object. */
  end?: number;
}

export interface PutOptions {
  signal?: AbortSignal;
  /** Where a resumable target keeps its progress for this key between runs (kept in the index). */
  resume?: ResumeStore;
  /** Called with the number of bytes sent, as they are sent (for progress bars and byte counts). */
  onProgress?: (sentBytes: number) => void;
  /**
   * Called by a resumable target when it found saved progress for this key (`resume`): `true` when it
   * continued that upload, `false` when it had to start over (the server lost the upload, or cannot
   * list what it holds). The engine notes it on the file's record and counts it in the run record.
   */
  onResume?: (resumed: boolean) => void;
  /**
   * The put may resolve once the object is in place and whole (still atomic), before it is durable;
   * a later `flush()` makes it durable. Ignored by targets without `flush`.
   */
  deferSync?: boolean;
}

export interface MoveOptions {
  /**
   * The move may resolve before it is durable; a later `flush()` makes it durable (as
   * `PutOptions.deferSync`). The engine's next step is often a put over `from` in the same window,
   * so a target honours it only where a crash can never keep that later write while losing this
   * move (a file system that journals its renames in order); elsewhere the move is durable when it
   * resolves. Ignored by targets without `flush`.
   */
  deferSync?: boolean;
  /**
   * Leave an object already at `to` (and `from`) as it is and resolve `'exists'`. Honoured by
   * targets with `capabilities.moveIfAbsent`; others overwrite `to` (the engine asks first).
   */
  ifAbsent?: boolean;
}

/** A small persistent slot a target uses to resume an interrupted upload after a crash or reboot. */
export interface ResumeStore {
  get<T = unknown>(): Promise<T | undefined>;
  set(state: unknown): Promise<void>;
  clear(): Promise<void>;
}

/** What a target plugin contributes: a factory for one target `type`. Bind it to this symbol. */
export const TargetContribution = Symbol.for('hokan.TargetContribution');
export interface TargetContribution {
  readonly type: string;
  create(config: TargetConfigBase & Record<string, unknown>, ctx: TargetContext): Target | Promise<Target>;
}

export interface TargetConfigBase {
  type: string;
}

export interface TargetContext {
  /** The target's id in config.json (`"usb"`, `"cloud"`). */
  readonly id: string;
  readonly logger: Logger;
  readonly dataDir: string;
}

export type TargetFactory = TargetContribution['create'];
export type { Disposable };
