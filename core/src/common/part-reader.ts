import type { Readable } from 'node:stream';
import type { RewindableSource } from './target.js';

// Reading a file's body in parts for targets that send large files in parts, several at once
// (target-s3's multipart uploads, target-azure's staged blocks): shared through @hokan/core.

/** Thrown when the source yields more or fewer bytes than its declared size (the file changed while read). */
export class SourceSizeError extends Error {
  readonly code = 'E_SOURCE_SIZE';
  constructor(expected: number, got: number) {
    super(`the file changed while it was read: expected ${expected} bytes, ${got < expected ? 'got only ' + got : 'got more'}`);
    this.name = 'SourceSizeError';
  }
}

/** Marks an error that came from reading the body (the file), not from the storage service. */
export class BodyReadError extends Error {
  constructor(readonly original: unknown) {
    super((original as Error)?.message ?? String(original));
    this.name = 'BodyReadError';
  }
}

/**
 * Reads a stream sequentially in exact-size pieces. Only the piece being read is buffered; the
 * stream is pulled, never left flowing, so a slow upload back-pressures the file read.
 */
export class PartReader {
  private readonly it: AsyncIterator<Buffer>;
  private leftover: Buffer | undefined;
  private total = 0;

  constructor(
    private readonly stream: Readable,
    private readonly size: number,
  ) {
    this.it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** The next `length` bytes (fewer only if the stream ends early, which throws SourceSizeError). */
  async read(length: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let have = 0;
    while (have < length) {
      let chunk: Buffer;
      if (this.leftover) {
        chunk = this.leftover;
        this.leftover = undefined;
      } else {
        let r: IteratorResult<Buffer>;
        try {
          r = await this.it.next();
        } catch (e) {
          throw new BodyReadError(e);
        }
        if (r.done) throw new SourceSizeError(this.size, this.total + have);
        chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      }
      const want = length - have;
      if (chunk.length > want) {
        this.leftover = chunk.subarray(want);
        chunk = chunk.subarray(0, want);
      }
      chunks.push(chunk);
      have += chunk.length;
    }
    this.total += have;
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
  }

  /** Checks the stream has nothing left past `size`. */
  async end(): Promise<void> {
    if (this.leftover && this.leftover.length > 0) throw new SourceSizeError(this.size, this.total + this.leftover.length);
    let r: IteratorResult<Buffer>;
    try {
      r = await this.it.next();
    } catch (e) {
      throw new BodyReadError(e);
    }
    if (!r.done && r.value.length > 0) {
      this.close();
      throw new SourceSizeError(this.size, this.total + r.value.length);
    }
  }

  close(): void {
    if (!this.stream.destroyed) this.stream.destroy();
  }
}

/** Reads a whole small body into memory (so an SDK can send it again on a retry); an abort closes it. */
export async function readWhole(body: RewindableSource, signal?: AbortSignal): Promise<Buffer> {
  const reader = new PartReader(body.open(0), body.size);
  const onAbort = () => reader.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const buf = await reader.read(body.size);
    await reader.end();
    return buf;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.close();
  }
}
