import { Readable } from 'node:stream';
import type { ByteRange, MoveOptions, ObjectInfo, ObjectMeta, PutOptions, RewindableSource, Target } from '../../common/target.js';
import { LAYOUT_FORMAT, versionKey } from './layout.js';

/**
 * A job's own place inside a target: every key is under `JOB/`, so several jobs can share one
 * configured target and each keeps its own marker, files, generations and manifests.
 */
export class JobStore {
  private readonly base: string;
  /** The place's layout, from its marker (ensureOwner); a new place gets the current one. */
  format = LAYOUT_FORMAT;
  constructor(readonly target: Target, readonly job: string) {
    this.base = `${job}/`;
  }
  /** Where this place keeps an older version of `ROOT/REL`. */
  versionKey(root: string, rel: string, v: string): string {
    return versionKey(root, rel, v, this.format);
  }
  put(key: string, body: RewindableSource, meta: ObjectMeta, opts?: PutOptions): Promise<void> {
    return this.target.put(this.base + key, body, meta, opts);
  }
  get<T>(key: string, range: ByteRange | undefined, consume: (body: Readable) => Promise<T>): Promise<T> {
    return this.target.get(this.base + key, range, consume);
  }
  async stat(key: string): Promise<ObjectInfo> {
    const info = await this.target.stat(this.base + key);
    return { ...info, key };
  }
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for await (const o of this.target.list(this.base + prefix)) yield { ...o, key: o.key.slice(this.base.length) };
  }
  move(from: string, to: string, opts?: MoveOptions): Promise<void | 'exists'> {
    return this.target.move(this.base + from, this.base + to, opts);
  }
  remove(key: string): Promise<void> {
    return this.target.remove(this.base + key);
  }
  /** The full key on the target (for resume slots and messages). */
  fullKey(key: string): string {
    return this.base + key;
  }
  /** Reads a whole small object (manifests, records) as text. */
  getText(key: string): Promise<string> {
    return this.get(key, undefined, async (body) => {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    });
  }
  /** Writes a small object (manifests, records) from memory. */
  putText(key: string, text: string): Promise<void> {
    const buf = Buffer.from(text, 'utf8');
    return this.put(key, bufferSource(buf), { size: buf.length, contentType: key.endsWith('.json') ? 'application/json' : 'application/x-ndjson' });
  }
}

export function bufferSource(buf: Buffer): RewindableSource {
  return {
    size: buf.length,
    open(start = 0) {
      return Readable.from([buf.subarray(start)], { objectMode: false });
    },
  };
}

/** Disposes a target, never throwing (closing is best effort: the work is already recorded). */
export async function closeTarget(t: { [Symbol.asyncDispose]?: () => PromiseLike<void> } | undefined): Promise<void> {
  try {
    await t?.[Symbol.asyncDispose]?.();
  } catch {
    /* already reported where it matters */
  }
}
