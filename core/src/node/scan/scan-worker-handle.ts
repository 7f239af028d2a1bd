/**
 * The thread side of a scan worker: a walk of one root running in a worker thread (scan-worker.ts),
 * read batch by batch with back-pressure.
 */
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { PackedMessage, ScanWorkerData, ScanWorkerMessage, WalkSpec } from './scan-worker-protocol.js';

/** The worker's script: beside this module once built; from the sources (tests), its built copy in dist/. */
function workerFile(): URL {
  const here = new URL('./scan-worker.js', import.meta.url);
  if (fs.existsSync(here)) return here;
  return new URL(here.href.replace(/\/src\/node\/scan\/scan-worker\.js$/, '/dist/node/scan/scan-worker.js'));
}

/** Batches a worker may be ahead of its reader: bounded memory, whatever the tree's size. */
const WORKER_CREDITS = 8;
/**
 * Batches a head start (head-start.ts) may walk before its run reads them: ~49,000 files, ~4.5 MB packed.
 * It walks while the command loads (~0.3 s); with 8 it would stop after ~80 ms of walking.
 */
const HEAD_START_CREDITS = 48;

/**
 * A walk of one root running in a worker thread (scan-worker.ts); `scanRootBatches(root, { worker })`
 * reads it, and closes it when done. The `lstat` calls of the walk then run on another core while
 * this thread compares with the index (a no-change run of 100,000 files: 1.55 → 1.32 s on 2 cores).
 * It starts walking at once and stays at most WORKER_CREDITS batches ahead (a head start:
 * HEAD_START_CREDITS). Whoever starts one closes it too if the walk is never read: a running thread
 * keeps the process alive (a head start does not, until it is taken over).
 */
export class ScanWorker {
  private readonly worker: Worker;
  private readonly credits: Int32Array;
  private readonly queue: (ScanWorkerMessage | PackedMessage)[] = [];
  private waiter?: { resolve: () => void };
  private failure?: Error;
  private closed = false;

  /**
   * The walk as JSON: two specs are the same walk when these are equal (`walkSpec` writes the keys
   * in one order, and the root and filters come from the same config each run).
   */
  readonly spec: string;

  /** `headStart`: started before its run (`startHeadStart`), so allowed further ahead. */
  constructor(
    spec: WalkSpec,
    readonly headStart = false,
  ) {
    this.spec = JSON.stringify(spec);
    const credits = new SharedArrayBuffer(4);
    this.credits = new Int32Array(credits);
    this.credits[0] = headStart ? HEAD_START_CREDITS : WORKER_CREDITS;
    const data: ScanWorkerData = { ...spec, credits };
    // A young generation of 8 MB: the walk's garbage dies young, and V8's default let the worker's
    // heap grow with the length of the walk (100,000 → 300,000 files: 128 → 175 MiB RSS for the
    // process; with 8 MB, 116 → 150 MiB, as fast). Smaller made the walk slower.
    this.worker = new Worker(workerFile(), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    const wake = () => {
      const w = this.waiter;
      this.waiter = undefined;
      w?.resolve();
    };
    this.worker.on('message', (m: ScanWorkerMessage | PackedMessage) => {
      this.queue.push(m);
      wake();
    });
    this.worker.on('error', (e) => {
      this.failure ??= e instanceof Error ? e : new Error(String(e));
      wake();
    });
    this.worker.on('exit', (code) => {
      if (!this.closed && code !== 0) this.failure ??= new Error(`the scan worker stopped (exit code ${code})`);
      wake();
    });
  }

  /** Whether the walk is over and all of it is waiting to be read (tests of the head start). */
  get walked(): boolean {
    return this.queue.some((m) => m.done);
  }

  /** The next message, in order; frees one credit so the worker may go on. */
  async next(): Promise<ScanWorkerMessage | PackedMessage> {
    for (;;) {
      const m = this.queue.shift();
      if (m) {
        Atomics.add(this.credits, 0, 1);
        Atomics.notify(this.credits, 0);
        return m;
      }
      if (this.failure) throw this.failure;
      if (this.closed) throw new Error('the scan worker was closed');
      await new Promise<void>((resolve) => (this.waiter = { resolve }));
    }
  }

  /** Stops the worker (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.credits, 0, WORKER_CREDITS);
    Atomics.notify(this.credits, 0);
    await this.worker.terminate();
  }

  /** Whether the thread keeps the process alive: not while it is only a head start. */
  keepAlive(on: boolean): void {
    if (on) this.worker.ref();
    else this.worker.unref();
  }
}
