/**
 * The thread side of a scan worker: a walk of one root running in a worker thread (scan-worker.ts),
 * read batch by batch with back-pressure; and, in a long-lived agent, the pool of idle walk threads
 * that the next walk takes instead of starting one.
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
/** Idle walk threads kept (`agent run`: a job's walk, and one of a second job running beside it). */
const POOL_MAX = 2;
/** An idle walk thread is stopped after this long unused (~10 MiB each); the next walk starts one again. */
const POOL_IDLE_MS = 10 * 60_000;

type Message = ScanWorkerMessage | PackedMessage;

/** A worker thread that walks (scan-worker.ts): one walk at a time, told to the walk that owns it now. */
class WalkThread {
  readonly worker: Worker;
  /** The walk reading this thread's messages now. */
  owner?: { onMessage(m: Message): void; onFailure(e: Error): void };
  failed = false;
  idleTimer?: NodeJS.Timeout;

  constructor(first?: ScanWorkerData) {
    // A young generation of 8 MB: the walk's garbage dies young, and V8's default let the worker's
    // heap grow with the length of the walk (100,000 → 300,000 files: 128 → 175 MiB RSS for the
    // process; with 8 MB, 116 → 150 MiB, as fast). Smaller made the walk slower.
    this.worker = new Worker(workerFile(), { workerData: first, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    this.worker.on('message', (m: Message) => this.owner?.onMessage(m));
    this.worker.on('error', (e) => {
      this.failed = true;
      this.owner?.onFailure(e instanceof Error ? e : new Error(String(e)));
    });
    this.worker.on('exit', (code) => {
      this.failed = true;
      this.owner?.onFailure(new Error(`the scan worker stopped (exit code ${code})`));
      dropIdle(this);
    });
  }
}

/** Idle walk threads, when this process keeps them (`keepWalkThreads`). */
let pool: WalkThread[] | undefined;

/**
 * Keep walk threads between walks (a long-lived process: `agent run`): a walk takes an idle thread
 * instead of starting one (~110–170 ms to its first batch), so even a small tree is walked on
 * another core, and one idle thread is started now. Off again (`false`): the idle ones are stopped.
 */
export function keepWalkThreads(on: boolean): void {
  if (on) {
    pool ??= [];
    if (pool.length === 0) park(new WalkThread());
    return;
  }
  const idle = pool ?? [];
  pool = undefined;
  for (const t of idle) {
    clearTimeout(t.idleTimer);
    void t.worker.terminate();
  }
}

/** Whether this process keeps walk threads (`keepWalkThreads`). */
export function walkThreadKept(): boolean {
  return pool !== undefined;
}

/** Whether a walk started now would take an idle thread (none to start: the walk is as cheap in a worker as here). */
export function walkThreadReady(): boolean {
  return pool !== undefined && pool.length > 0;
}

/** Puts a thread whose walk is over into the pool, or stops it. */
function park(t: WalkThread): void {
  t.owner = undefined;
  if (!pool || t.failed || pool.length >= POOL_MAX) {
    void t.worker.terminate();
    return;
  }
  t.worker.unref(); // an idle thread never keeps the process alive
  t.idleTimer = setTimeout(() => {
    dropIdle(t);
    void t.worker.terminate();
  }, POOL_IDLE_MS);
  t.idleTimer.unref();
  pool.push(t);
}

function dropIdle(t: WalkThread): void {
  if (!pool) return;
  const i = pool.indexOf(t);
  if (i >= 0) pool.splice(i, 1);
  clearTimeout(t.idleTimer);
}

/**
 * A walk of one root running in a worker thread (scan-worker.ts); `scanRootBatches(root, { worker })`
 * reads it, and closes it when done. The `lstat` calls of the walk then run on another core while
 * this thread compares with the index (a no-change run of 100,000 files: 1.55 → 1.32 s on 2 cores).
 * It starts walking at once and stays at most WORKER_CREDITS batches ahead (a head start:
 * HEAD_START_CREDITS). Whoever starts one closes it too if the walk is never read: a running thread
 * keeps the process alive (a head start does not, until it is taken over).
 */
export class ScanWorker {
  private readonly thread: WalkThread;
  private readonly credits: Int32Array;
  private readonly queue: Message[] = [];
  private waiter?: { resolve: () => void };
  private failure?: Error;
  private closed = false;
  /** The worker sent the walk's last batch: its thread is idle again. */
  private ended = false;

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
    const idle = pool?.pop();
    const wake = () => {
      const w = this.waiter;
      this.waiter = undefined;
      w?.resolve();
    };
    const owner = {
      onMessage: (m: Message) => {
        if (m.done) this.ended = true;
        if (this.closed) return;
        this.queue.push(m);
        wake();
      },
      onFailure: (e: Error) => {
        if (!this.closed) this.failure ??= e;
        wake();
      },
    };
    if (idle) {
      clearTimeout(idle.idleTimer);
      idle.owner = owner;
      idle.worker.ref();
      idle.worker.postMessage({ walk: data });
      this.thread = idle;
    } else {
      this.thread = new WalkThread(data);
      this.thread.owner = owner;
    }
  }

  /** The walk thread's id (tests: a kept thread walks again). */
  get threadId(): number {
    return this.thread.worker.threadId;
  }

  /** Whether the walk is over and all of it is waiting to be read (tests of the head start). */
  get walked(): boolean {
    return this.queue.some((m) => m.done);
  }

  /** The next message, in order; frees one credit so the worker may go on. */
  async next(): Promise<Message> {
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

  /**
   * Done with the walk (idempotent). A thread whose walk is over goes back to the pool when this
   * process keeps one; a walk left half-way is stopped with its thread.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    if (this.ended && !this.thread.failed && pool) {
      park(this.thread);
      return;
    }
    this.thread.owner = undefined;
    Atomics.store(this.credits, 0, WORKER_CREDITS);
    Atomics.notify(this.credits, 0);
    await this.thread.worker.terminate();
  }

  /** Whether the thread keeps the process alive: not while it is only a head start. */
  keepAlive(on: boolean): void {
    if (on) this.thread.worker.ref();
    else this.thread.worker.unref();
  }
}
