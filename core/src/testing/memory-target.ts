import { createHash } from 'node:crypto';
import { Readable, addAbortSignal } from 'node:stream';
import { Disposable } from '../common/disposable.js';
import { TargetError, type TargetErrorKind } from '../common/errors.js';
import type {
  ByteRange,
  MoveOptions,
  ObjectInfo,
  ObjectMeta,
  PutOptions,
  RewindableSource,
  Target,
  TargetCapabilities,
} from '../common/target.js';
import { keyRefusalReason } from './hostile-keys.js';

export type MemoryTargetOp = 'check' | 'put' | 'get' | 'stat' | 'list' | 'move' | 'remove' | 'usage' | 'cleanup';

/**
 * A fault the MemoryTarget injects. It matches calls of `op` (or every op with `'*'`) whose key
 * matches `key`; of those, the `nth` (1-based, counted from when the fault was added) and the
 * `times - 1` after it fail. Without `nth`, every matching call fails `times` times (default: forever).
 */
export interface MemoryTargetFault {
  op: MemoryTargetOp | '*';
  /** Only calls on this key (exact string, RegExp, or predicate). For `move`, matched against `from` and `to`. */
  key?: string | RegExp | ((key: string) => boolean);
  /** The first matching call that fails (1-based). Default 1. */
  nth?: number;
  /** How many consecutive matching calls fail from `nth` on. Default 1 when `nth` is set, else Infinity. */
  times?: number;
  /** The TargetError kind thrown. Default `transient`. */
  kind?: TargetErrorKind;
  /** Throw this instead of a TargetError (e.g. a plain Error, to test how the engine handles a target bug). */
  error?: () => unknown;
  /** For `put`: read this many bytes of the body before failing (a half-sent upload). Default 0. */
  afterBytes?: number;
}

export interface MemoryTargetOptions {
  /** Overrides of the default capabilities (maxConnections 4, serverSideMove true, preservesMtime true, moveIfAbsent true). */
  capabilities?: Partial<TargetCapabilities>;
  /** Total bytes the target may hold; a put that would exceed it fails with `quota`. */
  quotaBytes?: number;
  /** Starts unavailable (an unplugged disk): every call fails with `unavailable` until `setAvailable(true)`. */
  unavailable?: boolean;
  /** Delay every call by this many milliseconds (to let tests observe concurrency and abort mid-run). */
  latencyMs?: number;
  /** Faults to inject from the start. */
  faults?: MemoryTargetFault[];
  /** Clock for mtimes when `meta.mtimeMs` is absent. Default `Date.now`. */
  now?: () => number;
}

interface StoredObject {
  key: string;
  data: Buffer;
  mtimeMs: number;
  sha256: string;
}

interface ActiveFault {
  fault: MemoryTargetFault;
  seen: number;
  failed: number;
}

/**
 * A real in-memory Target: a key → bytes map with the full contract (atomic puts, ranged reads,
 * prefix listing, server-side move), for engine unit tests. It passes `describeTargetConformance`.
 *
 * Faults: `injectFault()` makes chosen calls fail with a TargetError of a chosen kind (the Nth put
 * is transient, the disk fills up, the target goes away), `setAvailable(false)` unplugs it, and
 * `quotaBytes` makes it fill up for real. `calls` counts every call by operation, and `inFlight` /
 * `maxInFlight` show how many puts ran at once.
 */
export class MemoryTarget implements Target {
  readonly capabilities: TargetCapabilities;
  /** Number of calls per operation (including failed ones). */
  readonly calls: Record<MemoryTargetOp, number> = { check: 0, put: 0, get: 0, stat: 0, list: 0, move: 0, remove: 0, usage: 0, cleanup: 0 };
  /** Puts running now, and the most that ever ran at once. */
  inFlight = 0;
  maxInFlight = 0;
  disposed = false;

  private readonly objects = new Map<string, StoredObject>();
  private readonly faults: ActiveFault[] = [];
  private available: boolean;
  private readonly opts: MemoryTargetOptions;

  constructor(opts: MemoryTargetOptions = {}) {
    this.opts = opts;
    this.available = !opts.unavailable;
    this.capabilities = { maxConnections: 4, serverSideMove: true, preservesMtime: true, moveIfAbsent: true, ...opts.capabilities };
    for (const f of opts.faults ?? []) this.injectFault(f);
  }

  /** Adds a fault; dispose the result to remove it. */
  injectFault(fault: MemoryTargetFault): Disposable {
    const active: ActiveFault = { fault, seen: 0, failed: 0 };
    this.faults.push(active);
    return Disposable.create(() => {
      const i = this.faults.indexOf(active);
      if (i >= 0) this.faults.splice(i, 1);
    });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Plugs the target in or out: while unavailable every call fails with an `unavailable` TargetError. */
  setAvailable(available: boolean): void {
    this.available = available;
  }

  /** Total bytes held. */
  get usedBytes(): number {
    let n = 0;
    for (const o of this.objects.values()) n += o.data.length;
    return n;
  }

  /** The keys held, sorted (a test helper; the Target API is `list`). */
  keys(): string[] {
    return [...this.objects.values()].map((o) => o.key).sort();
  }

  /** The bytes held under `key`, or undefined (a test helper that bypasses faults). */
  peek(key: string): Buffer | undefined {
    return this.objects.get(this.canon(key))?.data;
  }

  async check(): Promise<void> {
    await this.enter('check');
  }

  async put(key: string, body: RewindableSource, meta: ObjectMeta, opts: PutOptions = {}): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const fault = await this.enter('put', key, true);
      this.validateKey(key);
      opts.signal?.throwIfAborted();
      const chunks: Buffer[] = [];
      let n = 0;
      const stream = body.open();
      if (opts.signal) addAbortSignal(opts.signal, stream);
      try {
        for await (const c of stream) {
          opts.signal?.throwIfAborted();
          const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
          chunks.push(b);
          n += b.length;
          opts.onProgress?.(n);
          if (fault && n >= (fault.afterBytes ?? 0)) throw this.faultError(fault, 'put', key);
        }
      } finally {
        stream.destroy();
      }
      if (fault) throw this.faultError(fault, 'put', key);
      opts.signal?.throwIfAborted();
      if (!this.available) throw this.unavailableError();
      const data = Buffer.concat(chunks, n);
      if (data.length !== body.size) {
        throw new TargetError('permanent', `put ${key}: the body yielded ${data.length} bytes, expected ${body.size}`);
      }
      const k = this.canon(key);
      if (this.opts.quotaBytes !== undefined) {
        const after = this.usedBytes - (this.objects.get(k)?.data.length ?? 0) + data.length;
        if (after > this.opts.quotaBytes) {
          throw new TargetError('quota', `put ${key}: the target is full (${this.opts.quotaBytes} bytes)`, { hint: 'free some space or raise the quota' });
        }
      }
      this.objects.set(k, {
        key,
        data,
        mtimeMs: meta.mtimeMs ?? (this.opts.now ?? Date.now)(),
        sha256: createHash('sha256').update(data).digest('hex'),
      });
    } finally {
      this.inFlight--;
    }
  }

  async get<T>(key: string, range: ByteRange | undefined, consume: (body: Readable) => Promise<T>): Promise<T> {
    await this.enter('get', key);
    const o = this.objects.get(this.canon(key));
    if (!o) throw notFound(key);
    let data = o.data;
    if (range) data = data.subarray(range.start, range.end === undefined ? undefined : range.end + 1);
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += 64 * 1024) chunks.push(data.subarray(i, i + 64 * 1024));
    const stream = Readable.from(chunks, { objectMode: false });
    try {
      return await consume(stream);
    } finally {
      stream.destroy();
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    await this.enter('stat', key);
    const o = this.objects.get(this.canon(key));
    if (!o) throw notFound(key);
    return info(o);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    await this.enter('list', prefix);
    // A snapshot, as a real store's listing is: changes during the walk are not seen twice.
    const snapshot = [...this.objects.values()].filter((o) => o.key.startsWith(prefix)).map(info);
    for (const i of snapshot) yield i;
  }

  async move(from: string, to: string, opts: MoveOptions = {}): Promise<void | 'exists'> {
    await this.enter('move', [from, to]);
    this.validateKey(to);
    const f = this.canon(from);
    if (opts.ifAbsent && this.capabilities.moveIfAbsent && this.objects.has(this.canon(to))) return 'exists';
    const o = this.objects.get(f);
    if (!o) throw notFound(from);
    this.objects.delete(f);
    this.objects.set(this.canon(to), { ...o, key: to });
  }

  async remove(key: string): Promise<void> {
    await this.enter('remove', key);
    this.objects.delete(this.canon(key));
  }

  async usage(): Promise<{ used?: number; free?: number }> {
    await this.enter('usage');
    const used = this.usedBytes;
    return this.opts.quotaBytes === undefined ? { used } : { used, free: Math.max(0, this.opts.quotaBytes - used) };
  }

  async cleanup(_opts: { olderThanMs: number; keep: (key: string) => boolean }): Promise<void> {
    await this.enter('cleanup');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.disposed = true;
  }

  // -------------------------------------------------------------------------------------------

  private canon(key: string): string {
    let k = key;
    if (this.capabilities.normalizationInsensitive) k = k.normalize('NFC');
    if (this.capabilities.caseInsensitive) k = k.toLowerCase();
    return k;
  }

  private validateKey(key: string): void {
    if (key === '' || key.startsWith('/') || key.includes('\0') || key.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw new TargetError('permanent', `invalid key ${JSON.stringify(key)}`);
    }
    const why = keyRefusalReason(key, this.capabilities);
    if (why) throw new TargetError('permanent', `the target cannot hold ${JSON.stringify(key)}: ${why}`);
  }

  private unavailableError(): TargetError {
    return new TargetError('unavailable', 'the in-memory target is unavailable', { hint: 'setAvailable(true)' });
  }

  /**
   * Counts the call, waits the latency, throws when unavailable, and fires a matching fault.
   * For `put` with `deferPut`, the fault is returned so it can fire after `afterBytes` of the body.
   */
  private async enter(op: MemoryTargetOp, key?: string | string[], deferPut = false): Promise<MemoryTargetFault | undefined> {
    this.calls[op]++;
    if (this.disposed) throw new TargetError('permanent', `${op} on a disposed target`);
    if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
    if (!this.available) throw this.unavailableError();
    const keys = key === undefined ? [] : Array.isArray(key) ? key : [key];
    for (const a of this.faults) {
      const f = a.fault;
      if (f.op !== '*' && f.op !== op) continue;
      if (f.key !== undefined && !keys.some((k) => matchKey(f.key!, k))) continue;
      a.seen++;
      const first = f.nth ?? 1;
      const times = f.times ?? (f.nth !== undefined ? 1 : Infinity);
      if (a.seen < first || a.failed >= times) continue;
      a.failed++;
      if (deferPut && op === 'put') return f;
      throw this.faultError(f, op, keys.join(' → '));
    }
    return undefined;
  }

  private faultError(f: MemoryTargetFault, op: string, key: string): unknown {
    if (f.error) return f.error();
    const kind = f.kind ?? 'transient';
    return new TargetError(kind, `injected ${kind} fault: ${op} ${key}`);
  }
}

function matchKey(m: NonNullable<MemoryTargetFault['key']>, key: string): boolean {
  if (typeof m === 'string') return m === key;
  if (m instanceof RegExp) return m.test(key);
  return m(key);
}

function info(o: StoredObject): ObjectInfo {
  return { key: o.key, size: o.data.length, mtimeMs: o.mtimeMs, sha256: o.sha256 };
}

function notFound(key: string): TargetError {
  return new TargetError('not-found', `no object ${JSON.stringify(key)}`);
}
