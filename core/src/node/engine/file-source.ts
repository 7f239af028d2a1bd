import { createHash } from 'node:crypto';
import * as fsc from 'node:fs';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { HokanError } from '../../common/errors.js';
import type { FileEntry } from '../../common/model.js';
import type { ChunkReader, LocalFileBody, RewindableSource } from '../../common/target.js';

/** Thrown through the body stream when a file changes while it is read: the put must not land. */
export class ChangedDuringReadError extends HokanError {
  constructor(path: string) {
    super('E_CHANGED_DURING_READ', `${path} changed while it was read; it will be backed up next run`);
  }
}

const READ_CHUNK = 1024 * 1024;

/**
 * A local file as an upload body. A read from offset 0 hashes what it reads (SHA-256), so a
 * changed file is read once, for the upload and its hash together. At the end of every read the
 * file is stat'ed again: if its size or mtime moved, the stream errors instead of ending, so the
 * target's atomic put leaves nothing behind and the file is retried next run.
 */
export class LocalFileSource implements RewindableSource {
  /** Hex SHA-256 of the last complete read from offset 0. */
  sha256?: string;
  changed = false;
  bytesRead = 0;

  readonly localFile: LocalFileBody;

  constructor(private readonly entry: Pick<FileEntry, 'abs' | 'size' | 'mtimeMs'>) {
    const self = this;
    this.localFile = {
      path: entry.abs,
      size: entry.size,
      mtimeMs: entry.mtimeMs,
      copied(sha256: string) {
        self.sha256 = sha256;
        self.bytesRead += entry.size;
      },
      changed() {
        self.changed = true;
        return new ChangedDuringReadError(entry.abs);
      },
    };
  }

  get size(): number {
    return this.entry.size;
  }

  open(start = 0): Readable {
    const { abs, size, mtimeMs } = this.entry;
    const hash = start === 0 ? createHash('sha256') : undefined;
    let seen = start;
    const self = this;
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        seen += chunk.length;
        hash?.update(chunk);
        self.bytesRead += chunk.length;
        cb(null, chunk);
      },
      flush(cb: TransformCallback) {
        stat(abs).then(
          (st) => {
            if (seen !== size || st.size !== size || st.mtimeMs !== mtimeMs) {
              self.changed = true;
              cb(new ChangedDuringReadError(abs));
            } else {
              if (hash) self.sha256 = hash.digest('hex');
              cb();
            }
          },
          (e) => cb(e),
        );
      },
    });
    // Read at most one byte past the scanned size (enough to see a file that grew) in buffers sized
    // to the file: most files are small, and a fresh 1 MiB buffer per read is mostly garbage.
    const file = createReadStream(abs, { start, end: size, highWaterMark: Math.min(READ_CHUNK, Math.max(16 * 1024, size - start + 1)) });
    file.on('error', (e) => check.destroy(e));
    return file.pipe(check);
  }

  /**
   * The same bytes and checks as `open`, pulled into the caller's buffer through a raw descriptor
   * (no stream, no buffer per chunk). Each read asks for at most one byte past the scanned size, so
   * a short read is the end: a small file is one `read` and one `fstat`.
   */
  async reader(start = 0): Promise<ChunkReader> {
    const { abs, size, mtimeMs } = this.entry;
    const fd = await fdOpen(abs, 'r');
    const hash = start === 0 ? createHash('sha256') : undefined;
    let pos = start;
    let done = false;
    let closed = false;
    const self = this;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      await fdClose(fd);
    };
    const changed = (): never => {
      self.changed = true;
      throw new ChangedDuringReadError(abs);
    };
    return {
      async read(into: Buffer): Promise<number> {
        if (done) return 0;
        if (closed) throw new Error(`reader of ${abs} used after close`);
        if (into.length === 0) throw new RangeError('read into an empty buffer');
        const want = Math.min(into.length, size - pos + 1);
        const { bytesRead: n } = await fdRead(fd, into, 0, want, pos);
        pos += n;
        if (pos > size) changed(); // grew while read
        self.bytesRead += n;
        hash?.update(n === into.length ? into : into.subarray(0, n));
        if (n < want) {
          // The end: it must be where the scan saw it, with the mtime the scan saw.
          done = true;
          const st = await fdStat(fd);
          if (pos !== size || st.size !== size || st.mtimeMs !== mtimeMs) changed();
          if (hash) self.sha256 = hash.digest('hex');
        }
        return n;
      },
      close,
    };
  }
}

// The callback forms, promisified: one thread-pool round trip each, no FileHandle to create and track.
const fdOpen = promisify(fsc.open);
const fdRead = promisify(fsc.read);
const fdStat = promisify(fsc.fstat);
const fdClose = promisify(fsc.close);

/** SHA-256 of a local file, streamed. */
export async function hashFile(abs: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(abs, { highWaterMark: READ_CHUNK })) h.update(chunk as Buffer);
  return h.digest('hex');
}
