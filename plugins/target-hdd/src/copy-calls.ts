/**
 * What a copy job does (copier.ts), in synchronous calls with one reused buffer: a local source
 * file copied into a temporary file on the target, hashed as it is read; a move on the target's
 * disk. Run by the copy worker (copy-worker.ts) — and, for a small file asked for before that
 * thread is up (a one-shot command's first copies, a small restore), by the thread that asked
 * (copier.ts `inlineWhileStarting`): the same calls, so the same result. It keeps the source's promises
 * (`RewindableSource.localFile`, as `LocalFileSource` in the core does): at most `size + 1` bytes
 * read, and at the end the size read and the file's size and mtime must be the scan's, else the
 * reply is `changed`.
 *
 * Imports only Node and copy-jobs.ts: the worker's thread loads it (a test holds it to that).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COPY_BUFFER, PROGRESS_EVERY, type CopyJob, type CopyReply, type CopyStage, type MoveJob, type MoveReply, type WorkerJob } from './copy-jobs.js';

/** One buffer per thread that runs jobs (made at its first copy). */
let buf: Buffer | undefined;
const CREATE = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY;

/**
 * The process's umask, read where Linux shows it (not `process.umask()`, which sets it to 0 for a
 * moment — a file another thread creates then gets no mask). Known, a copy whose permission bits
 * the umask leaves alone is created with them, and needs no `fchmod` (one system call of ~ten a
 * small file costs); unknown, every copy gets its `fchmod`.
 */
const UMASK = ((): number | undefined => {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? parseInt(m[1]!, 8) : undefined;
  } catch {
    return undefined;
  }
})();

/** Whether creating the file with `mode` gives it exactly `mode` (no fchmod needed after). */
const createdExactly = (mode: number, umask: number | undefined): boolean => umask !== undefined && mode <= 0o777 && (mode & umask) === 0;
/** The permission bits openTemp gives `j`'s file when it creates it with them exactly; else undefined (an fchmod follows). */
const createdWith = (j: CopyJob): number | undefined => (j.setMode !== undefined && createdExactly(j.setMode, UMASK) ? j.setMode : undefined);

/** Runs one job; `progress` hears a big copy's bytes so far (every PROGRESS_EVERY). */
export function runJob(job: WorkerJob, progress?: (id: number, bytes: number) => void): CopyReply | MoveReply {
  return 'kind' in job ? move(job) : copy(job, progress);
}

function copy(j: CopyJob, progress?: (id: number, bytes: number) => void): CopyReply {
  const b = (buf ??= Buffer.allocUnsafeSlow(COPY_BUFFER));
  let fi = -1;
  let fo = -1;
  let stage: CopyStage = 'open-source';
  let done = false;
  const cancelled = () => j.cancel !== undefined && Atomics.load(j.cancel, 0) !== 0;
  try {
    fi = fs.openSync(j.src, 'r');
    stage = 'open-target';
    fo = openTemp(j);
    const hash = createHash('sha256');
    let pos = 0;
    let reported = 0;
    for (;;) {
      stage = 'read';
      const want = Math.min(b.length, j.size - pos + 1);
      const n = fs.readSync(fi, b, 0, want, pos);
      pos += n;
      if (pos > j.size) return j.expect ? { id: j.id, mismatch: true, sha256: '', size: pos } : { id: j.id, changed: true }; // grew while read
      hash.update(n === b.length ? b : b.subarray(0, n));
      stage = 'write';
      for (let off = 0; off < n; ) off += fs.writeSync(fo, b, off, n - off);
      if (n < want) break; // a short read is the end
      if (cancelled()) return { id: j.id, cancelled: true };
      if (progress && pos - reported >= PROGRESS_EVERY) {
        reported = pos;
        progress(j.id, pos);
      }
    }
    let sha256: string;
    if (j.expect) {
      // A restore: the stored copy must be what the index recorded; a damaged one never lands.
      sha256 = hash.digest('hex');
      if (pos !== j.size || (j.expect.sha256 && sha256 !== j.expect.sha256)) return { id: j.id, mismatch: true, sha256, size: pos };
    } else {
      stage = 'read';
      const st = fs.fstatSync(fi);
      if (pos !== j.size || st.size !== j.size || st.mtimeMs !== j.mtimeMs) return { id: j.id, changed: true };
      sha256 = hash.digest('hex');
    }
    stage = 'write';
    if (j.setMtimeMs !== undefined) {
      // Seconds in a double keep what is below the millisecond; before 1970 as a string (Node takes
      // a negative number for "now"), as fsTime in @hokan/core (not imported into this thread).
      const t = j.setMtimeMs >= 0 ? j.setMtimeMs / 1000 : String(j.setMtimeMs / 1000);
      fs.futimesSync(fo, t, t);
    }
    // An owner the disk refuses (a root-squashed share) does not cost the file: it lands, and the
    // reply says so; the engine's own chown then fails and records why, with the bytes in place.
    let unowned = false;
    if (j.setOwner) {
      try {
        fs.fchownSync(fo, j.setOwner.uid, j.setOwner.gid);
      } catch {
        unowned = true;
      }
    }
    // A mode with setuid/setgid bits (> 0o777) is never created exactly: set after the chown that
    // clears them — and never on a file whose owner could not be given (a setuid file of the wrong user).
    const mode = j.setMode !== undefined && unowned ? j.setMode & 0o777 : j.setMode;
    if (mode !== undefined && mode !== createdWith(j)) fs.fchmodSync(fo, mode);
    if (!j.rename) {
      const fd = fo;
      fo = -1; // handed over: the target fsyncs, closes and renames it
      done = true;
      return { id: j.id, sha256, fd };
    }
    const c = fo;
    fo = -1;
    fs.closeSync(c);
    if (cancelled()) return { id: j.id, cancelled: true };
    stage = 'rename';
    fs.renameSync(j.tmp, j.rename);
    done = true;
    return unowned ? { id: j.id, sha256, unowned: true } : { id: j.id, sha256 };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { id: j.id, error: { stage, code: err.code, message: err.message, syscall: err.syscall, path: err.path } };
  } finally {
    if (fi >= 0) quietly(() => fs.closeSync(fi));
    if (fo >= 0) quietly(() => fs.closeSync(fo));
    if (!done && stage !== 'open-source' && stage !== 'open-target') quietly(() => fs.unlinkSync(j.tmp));
  }
}

/**
 * A move on the target's disk: an existing `to` left alone (ifAbsent), the rename, the folders of
 * `to` created where missing (below the root, never it), the folders `from` leaves empty removed
 * (prune). A missing `from` is `open-source` ENOENT; a missing root is left to the target to judge.
 */
function move(j: MoveJob): MoveReply {
  try {
    if (j.ifAbsent) {
      try {
        fs.lstatSync(j.to);
        return { id: j.id, exists: true };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        fs.renameSync(j.from, j.to);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw e;
        // Either the source is missing, or the destination's folder is (or was just pruned).
        try {
          fs.lstatSync(j.from);
        } catch (s) {
          const err = s as NodeJS.ErrnoException;
          return { id: j.id, error: { stage: 'open-source', code: err.code, message: err.message, syscall: err.syscall, path: err.path } };
        }
        if (!makeDirs(path.dirname(j.to), j.root)) throw e;
      }
    }
    return j.prune ? { id: j.id, moved: true, left: prune(path.dirname(j.from), j.root) } : { id: j.id, moved: true };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { id: j.id, error: { stage: 'move', code: err.code, message: err.message, syscall: err.syscall, path: err.path } };
  }
}

/** Creates `dir` and its missing parents below `root`; false when that would mean creating the root. */
function makeDirs(dir: string, root: string): boolean {
  if (dir === root || !dir.startsWith(root + path.sep)) return false;
  try {
    fs.mkdirSync(dir);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return true; // a file in the way: the rename says so (ENOTDIR)
    if (code !== 'ENOENT') throw e;
  }
  if (!makeDirs(path.dirname(dir), root)) return false;
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return true;
}

/** Removes empty folders from `dir` up to (not including) `root`; returns the deepest folder left. */
function prune(dir: string, root: string): string {
  let cur = dir;
  while (cur !== root && cur.startsWith(root + path.sep)) {
    try {
      fs.rmdirSync(cur);
    } catch {
      return cur; // not empty, already gone, or not ours to remove
    }
    cur = path.dirname(cur);
  }
  return cur;
}

/**
 * Opens the temporary file. A missing folder is created here when its parent exists — one level,
 * and never the root (`j.root`): a missing root is an unplugged disk, which only the target judges.
 * Anything deeper is left to the target (error `open-target` ENOENT).
 */
function openTemp(j: CopyJob): number {
  const mode = createdWith(j) ?? j.createMode ?? 0o644;
  try {
    return fs.openSync(j.tmp, CREATE, mode);
  } catch (e) {
    const dir = path.dirname(j.tmp);
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || dir === j.root) throw e;
    try {
      fs.mkdirSync(dir);
    } catch (m) {
      if ((m as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    return fs.openSync(j.tmp, CREATE, mode);
  }
}

function quietly(f: () => void): void {
  try {
    f();
  } catch {
    // nothing more to do
  }
}
