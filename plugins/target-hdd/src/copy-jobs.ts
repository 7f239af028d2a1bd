// What the copy workers are sent and answer, and the sizes both sides agree on. Kept free of
// imports on purpose: copy-worker.ts loads only this module and Node's own, so a fresh pool answers
// its first copy in ~60 ms; when the worker loaded copier.ts (and through it all of @hokan/core) that
// took ~160 ms, on the path of every first copy (a `restore --path` of one folder waited for it).

/** Size of the reused buffer a copy goes through. */
export const COPY_BUFFER = 1024 * 1024;
/** A big file reports its progress this often (bytes), for the progress bar. */
export const PROGRESS_EVERY = 16 * 1024 * 1024;

/** One local file to copy into a temporary file on the target (see copy-worker.ts). */
export interface CopyJob {
  id: number;
  src: string;
  /** Size and mtime the scan saw: the copy must read exactly these. */
  size: number;
  mtimeMs: number;
  tmp: string;
  /** The target's root: the worker creates a missing folder for the copy, but never this one. */
  root: string;
  /** The mtime to give the copy. */
  setMtimeMs?: number;
  /** The permission bits to give the copy (storedMode of the source's). */
  setMode?: number;
  /** Owner and group to give the copy (a restore as root); set before the mode, which a chown's cleared setuid bits need again. */
  setOwner?: { uid: number; gid: number };
  /**
   * Rename the copy to this path in the worker (no fsync to come: durability is deferred);
   * without it the copy's descriptor comes back open, for the target to fsync, close and rename.
   */
  rename?: string;
  /** Set to non-zero to stop the copy (an aborted put): checked between chunks and before the rename. */
  cancel?: Int32Array;
  /**
   * A restore (`getToFile`): the source is a stored copy, not a file the scan saw. Its size must
   * be `size` and, when given, its hash `sha256` — else the reply is `mismatch` and nothing is
   * renamed; its mtime is not compared.
   */
  expect?: { sha256?: string };
  /** The permission bits the temporary file is created with (default 0o644). */
  createMode?: number;
}

/**
 * One move on the target's disk (a version kept aside, a deleted file's copy moved into the versions
 * area), done by the small-file worker with synchronous calls: the look for `to`, the rename, the
 * folders it needs and those it empties cost one message each way, not a thread-pool round trip
 * (and an error object) per call.
 */
export interface MoveJob {
  id: number;
  kind: 'move';
  from: string;
  to: string;
  /** The target's root: missing folders of `to` are created below it, never it (a missing root is an unplugged disk). */
  root: string;
  /** An existing `to` stays as it is, `from` too: the reply is `exists`. */
  ifAbsent: boolean;
  /** Remove the folders the move empties, up to (not including) the root; the reply names the deepest folder left. */
  prune: boolean;
  size: 0;
}

/** What the workers are sent. */
export type WorkerJob = CopyJob | MoveJob;

/** Where a copy failed: the source's side (open-source, read) or the target's (open-target, write); a move's own calls (move). */
export type CopyStage = 'open-source' | 'open-target' | 'read' | 'write' | 'rename' | 'move';

/** Where a job failed, and the system's error. */
export interface JobError {
  stage: CopyStage;
  code?: string;
  message: string;
  syscall?: string;
  path?: string;
}

export type MoveReply = { id: number; moved: true; left?: string } | { id: number; exists: true } | { id: number; error: JobError };

export type CopyReply =
  /** `unowned`: `setOwner` could not be applied (EPERM on a root-squashed share…): the copy landed without it. */
  | { id: number; sha256: string; fd?: number; unowned?: true }
  | { id: number; changed: true }
  | { id: number; mismatch: true; sha256: string; size: number }
  | { id: number; cancelled: true }
  | { id: number; error: JobError };

/** Below this size a file is small: its copy is mostly the file system's metadata work. */
export const SMALL_FILE = 256 * 1024;

/** A worker answers after this many small copies, after a big one, and at the end of what it was sent. */
export const REPLY_EVERY = 8;
