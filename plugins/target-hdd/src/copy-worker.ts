/**
 * The copy worker: copies one local source file into a temporary file on the target, hashing it as
 * it reads, with synchronous calls and one reused buffer — a file costs one message each way
 * instead of a thread-pool round trip (and promise) per open, read, write and close. It keeps the
 * source's promises (`RewindableSource.localFile`, as `LocalFileSource` in the core does): at most
 * `size + 1` bytes read, and at the end the size read and the file's size and mtime must be the
 * scan's, else the reply is `changed`.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { COPY_BUFFER, type CopyJob, type CopyReply, type CopyStage } from './copier.js';

const buf = Buffer.allocUnsafeSlow(COPY_BUFFER);
const CREATE = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY;

parentPort!.on('message', (job: CopyJob) => parentPort!.postMessage(copy(job)));

function copy(j: CopyJob): CopyReply {
  let fi = -1;
  let fo = -1;
  let stage: CopyStage = 'open-source';
  try {
    fi = fs.openSync(j.src, 'r');
    stage = 'open-target';
    fo = fs.openSync(j.tmp, CREATE, 0o644);
    const hash = createHash('sha256');
    let pos = 0;
    for (;;) {
      stage = 'read';
      const want = Math.min(buf.length, j.size - pos + 1);
      const n = fs.readSync(fi, buf, 0, want, pos);
      pos += n;
      if (pos > j.size) return { id: j.id, changed: true }; // grew while read
      hash.update(n === buf.length ? buf : buf.subarray(0, n));
      stage = 'write';
      for (let off = 0; off < n; ) off += fs.writeSync(fo, buf, off, n - off);
      if (n < want) break; // a short read is the end
    }
    stage = 'read';
    const st = fs.fstatSync(fi);
    if (pos !== j.size || st.size !== j.size || st.mtimeMs !== j.mtimeMs) return { id: j.id, changed: true };
    stage = 'write';
    if (j.setMtimeMs !== undefined) fs.futimesSync(fo, j.setMtimeMs / 1000, j.setMtimeMs / 1000);
    const sha256 = hash.digest('hex');
    if (j.close) {
      const c = fo;
      fo = -1;
      fs.closeSync(c);
      return { id: j.id, sha256 };
    }
    const fd = fo;
    fo = -1; // handed over: the target fsyncs and closes it
    return { id: j.id, sha256, fd };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { id: j.id, error: { stage, code: err.code, message: err.message, syscall: err.syscall, path: err.path } };
  } finally {
    if (fi >= 0) closeQuietly(fi);
    if (fo >= 0) closeQuietly(fo);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // nothing more to do with it
  }
}
