/**
 * The scanner: streams one source root as FileEntry / ScanError items (issue 3 "Scanner";
 * docs/design.md "Scanner order"), walked here (walker.ts) or in a scan worker
 * (scan-worker-handle.ts), with the plugins' `filterEntry` hook applied to each batch.
 *
 * Speed: a folder's `readdir` and its children's `lstat` run synchronously, a batch at a time (one
 * promise per batch, not per file); between batches the walk gives the event loop a turn whenever it
 * has worked for more than a few milliseconds. `statConcurrency > 1` switches to parallel async
 * `lstat` calls, for high-latency network mounts.
 */
import { performance } from 'node:perf_hooks';
import type { FileEntry, FilterVerdict, ScanItem, SourceRoot } from '../../common/model.js';
import type { ScanWorker } from './scan-worker-handle.js';
import { unpack } from './scan-worker-protocol.js';
import { Walker, type WalkOptions } from './walker.js';

// The walk, the worker and the head start live in their own modules; their names stay importable here.
export { compareNames, Walker, type WalkOptions } from './walker.js';
export { PACKED_FIELDS, walkSpec, type PackedMessage, type ScanWorkerData, type ScanWorkerMessage, type WalkSpec } from './scan-worker-protocol.js';
export { keepWalkThreads, ScanWorker, walkThreadReady } from './scan-worker-handle.js';
export { firstWalk, scanWorkerFor, startHeadStart, startScanWorker, stopHeadStart, takeHeadStartOf } from './head-start.js';

export interface ScanOptions extends WalkOptions {
  /** The plugins' `filterEntry` hook; pass it only when a plugin tapped it. Called after the built-in rules say include. */
  filter?: (e: FileEntry) => Promise<FilterVerdict | undefined>;
  signal?: AbortSignal;
  /** Parallel async `lstat` calls per batch (network mounts). Default 1: synchronous, fastest on local disks. */
  statConcurrency?: number;
  /** Items per yielded batch (`scanRootBatches`); default 512. */
  batchSize?: number;
  /**
   * Walk in this worker thread (`startScanWorker`, same root and options) instead of on the
   * calling thread: same items, same order; the `lstat` calls then run on another core.
   */
  worker?: ScanWorker;
}

const now = (): number => performance.now();
/** Give the event loop a turn after this long of uninterrupted walking. */
const BREATHE_MS = 8;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Streams one source root in batches (one promise per batch): the fast way for the engine to consume
 * the walk. Same items and order as `scanRoot`.
 */
export async function* scanRootBatches(root: SourceRoot, opts: ScanOptions): AsyncGenerator<ScanItem[], void, undefined> {
  const signal = opts.signal;
  signal?.throwIfAborted();
  const filter = opts.filter;
  const max = opts.batchSize && opts.batchSize > 0 ? opts.batchSize : 512;
  const conc = opts.statConcurrency && opts.statConcurrency > 1 ? Math.floor(opts.statConcurrency) : 1;
  const applyHook = async (batch: ScanItem[]): Promise<ScanItem[]> => {
    if (filter === undefined) return batch;
    const out: ScanItem[] = [];
    for (const it of batch) {
      if (it.type === 'error') {
        out.push(it);
        continue;
      }
      const v = await filter(it);
      if (v !== undefined && v.action === 'exclude') {
        if (opts.onSkip) opts.onSkip(it.rel, v.reason ?? 'excluded by a plugin filter', it.type);
        continue;
      }
      out.push(it);
    }
    signal?.throwIfAborted();
    return out;
  };
  if (opts.worker) {
    const w = opts.worker;
    const onAbort = () => void w.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const m = await w.next().catch((e: unknown) => {
          signal?.throwIfAborted(); // closed because the run stopped: say why
          throw e;
        });
        signal?.throwIfAborted();
        if (opts.onSkip) for (const [rel, reason, kind] of m.skips) opts.onSkip(rel, reason, kind);
        const items = unpack(root, m);
        if (items.length) {
          const out = await applyHook(items);
          if (out.length) yield out;
        }
        if (m.done) return;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      await w.close();
    }
  }
  const walker = new Walker(root, opts);
  const first = walker.start();
  if (first !== null) {
    const out = await applyHook([first]);
    if (out.length) yield out;
    return;
  }
  let last = now();
  let more = true;
  while (more) {
    const batch: ScanItem[] = [];
    more = conc > 1 ? await walker.fillAsync(batch, max, conc, signal) : walker.fill(batch, max, 2048, signal);
    signal?.throwIfAborted();
    if (batch.length) {
      const out = await applyHook(batch);
      if (out.length) yield out;
    }
    if (now() - last > BREATHE_MS) {
      await yieldToLoop();
      signal?.throwIfAborted();
      last = now();
    }
  }
}

/**
 * Streams one source root: files and symlinks as FileEntry, what cannot be read as ScanError, in the
 * order of docs/design.md "Scanner order". Throws the signal's reason when aborted.
 */
export function scanRoot(root: SourceRoot, opts: ScanOptions): AsyncIterable<ScanItem> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<ScanItem> {
      const batches = scanRootBatches(root, opts);
      let buf: ScanItem[] = [];
      let i = 0;
      const pull = (): Promise<IteratorResult<ScanItem>> =>
        batches.next().then((r) => {
          if (r.done) return { done: true, value: undefined };
          buf = r.value;
          i = 1;
          return { done: false, value: buf[0]! };
        });
      return {
        next(): Promise<IteratorResult<ScanItem>> {
          if (i < buf.length) return Promise.resolve({ done: false, value: buf[i++]! });
          return pull();
        },
        return(): Promise<IteratorResult<ScanItem>> {
          buf = [];
          i = 0;
          return batches.return(undefined).then(() => ({ done: true, value: undefined }));
        },
      };
    },
  };
}
