import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { RewindableSource } from '../common/target.js';

/** A RewindableSource over bytes in memory, yielding chunks of `chunkSize` (varied sizes exercise a target's buffering). */
export function bufferSource(data: Uint8Array | string, opts: { chunkSize?: number } = {}): RewindableSource & { opens: number } {
  const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const chunkSize = Math.max(1, opts.chunkSize ?? 64 * 1024);
  const src: RewindableSource & { opens: number } = {
    size: buf.length,
    opens: 0,
    open(start = 0): Readable {
      src.opens++;
      let pos = start;
      return new Readable({
        read() {
          if (pos >= buf.length) {
            this.push(null);
            return;
          }
          const end = Math.min(buf.length, pos + chunkSize);
          this.push(buf.subarray(pos, end));
          pos = end;
        },
      });
    },
  };
  return src;
}

/** Deterministic pseudo-random bytes (xorshift), so a failure can be reproduced and large buffers are not compressible. */
export function patternBytes(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  for (; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** Reads a stream to the end into one Buffer. */
export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hashes a stream without keeping it: `{ size, sha256 }`. */
export async function hashStream(body: Readable): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of body) {
    const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
    size += b.length;
    h.update(b);
  }
  return { size, sha256: h.digest('hex') };
}
