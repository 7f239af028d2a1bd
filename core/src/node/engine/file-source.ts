import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { HokanError } from '../../common/errors.js';
import type { FileEntry } from '../../common/model.js';
import type { LocalFileBody, RewindableSource } from '../../common/target.js';

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

  private ref?: LocalFileRef;

  constructor(private readonly entry: Pick<FileEntry, 'abs' | 'size' | 'mtimeMs'>) {}

  /** The file itself, for a target that copies it without `open` (see RewindableSource.localFile). */
  get localFile(): LocalFileBody {
    return (this.ref ??= new LocalFileRef(this, this.entry));
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
}

/** `LocalFileSource.localFile`: methods on a prototype, not closures per file. */
class LocalFileRef implements LocalFileBody {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  constructor(
    private readonly src: LocalFileSource,
    entry: Pick<FileEntry, 'abs' | 'size' | 'mtimeMs'>,
  ) {
    this.path = entry.abs;
    this.size = entry.size;
    this.mtimeMs = entry.mtimeMs;
  }
  copied(sha256: string): void {
    this.src.sha256 = sha256;
    this.src.bytesRead += this.size;
  }
  changed(): Error {
    this.src.changed = true;
    return new ChangedDuringReadError(this.path);
  }
}

/** SHA-256 and length of a stream (an object read back from a target), without keeping it. */
export async function hashStream(body: Readable): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/** SHA-256 of a local file, streamed. */
export async function hashFile(abs: string): Promise<string> {
  return (await hashStream(createReadStream(abs, { highWaterMark: READ_CHUNK }))).sha256;
}
