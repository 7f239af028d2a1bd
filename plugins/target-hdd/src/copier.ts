import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { parkHelper, takeHelper } from '@hokan/core';
import { runJob } from './copy-calls.js';
import { SMALL_FILE, type CopyJob, type CopyReply, type MoveJob, type MoveReply, type WorkerJob } from './copy-jobs.js';

export * from './copy-jobs.js';

/** A copy of a small file: one that inlineWhileStarting may do on the asking thread. */
const smallCopy = (job: WorkerJob): job is CopyJob => !('kind' in job) && job.size < SMALL_FILE;

/** Settles a job's promise; `progress` hears its progress messages. */
type Job = ((r: CopyReply | MoveReply | Error) => void) & { progress?: (bytes: number) => void };

/** Jobs a big-file worker holds at once: the next one waits in its queue, so it never idles between files. */
const PER_WORKER = 2;
/**
 * Jobs the small-file worker holds at once, sent to it in batches and answered a few at a time
 * (REPLY_EVERY): a message that wakes a sleeping thread costs its sender ~20 µs on this kind of
 * machine and the thread 0.1–0.3 ms to wake, several times what a small file's copy costs. With
 * one message per file each way and two jobs held, the worker idled a third of a first backup
 * (1,000,000 files: 53 s of 155) and spent 20 s posting replies.
 */
export const SMALL_PER_WORKER = 32;
/**
 * Small copies done on the asking thread per turn of its event loop while the small-file worker is
 * still starting (~60–100 ms: a one-shot command's first copies, a small restore, which would
 * otherwise wait for it): the same calls as the worker's (copy-calls.ts), ~0.1–0.5 ms each, a few
 * at a time so the thread keeps answering. Once the worker is up everything goes to it.
 */
export const INLINE_PER_TURN = 16;
/**
 * A small pool of copy workers, started on first use: one for small files, and one more (up to
 * three on bigger machines) for big ones — a copy is mostly the kernel moving pages, and one disk
 * does not get faster with more threads. Workers are unref'd while idle, so a pool nobody closed
 * does not keep the agent alive.
 */
export class Copier {
  private readonly workers: { w: Worker; jobs: Map<number, Job>; online: boolean }[] = [];
  private readonly waiting: { job: WorkerJob; done: Job }[] = [];
  private seq = 0;
  private closed = false;
  private pumpQueued = false;
  /** Copies done on this thread while the small-file worker started (INLINE_PER_TURN). */
  inlined = 0;
  readonly size = Math.min(4, Math.max(2, availableParallelism()));

  /** Worker threads running now (each costs ~10 MiB). */
  get threads(): number {
    return this.workers.length;
  }

  /** The small-file worker is up: a job sent now is taken at once (a thread's start costs ~50–60 ms). */
  get ready(): boolean {
    return this.workers[0]?.online === true;
  }

  /** Starts the workers now (`agent run`: the next run finds them up), the small-file one first. */
  warm(): void {
    if (this.closed) return;
    while (this.workers.length < this.size) this.start();
  }

  /** Nothing asked for and nothing in progress: the pool may be parked for the next run. */
  get idle(): boolean {
    return !this.closed && !this.waiting.length && this.workers.every((s) => s.jobs.size === 0);
  }

  /** Copies a file; `onProgress` hears the bytes copied so far of a big file. */
  copy(job: Omit<CopyJob, 'id'>, onProgress?: (bytes: number) => void): Promise<CopyReply> {
    // A copy then its id, not `{ ...job, id }`: V8 (Node 20) takes a spread followed by a property
    // the source lacks through its slow path, ~2 µs a call — once per file of a backup.
    const msg = Object.assign({}, job) as CopyJob;
    msg.id = ++this.seq;
    return this.send(msg, onProgress) as Promise<CopyReply>;
  }

  /** Moves a file on the target's disk (MoveJob); the reply is `moved`, `exists` or an error (`open-source` ENOENT: no `from`). */
  move(job: Omit<MoveJob, 'id' | 'kind' | 'size'>): Promise<MoveReply> {
    const msg = Object.assign({}, job) as MoveJob;
    msg.id = ++this.seq;
    msg.kind = 'move';
    msg.size = 0;
    return this.send(msg) as Promise<MoveReply>;
  }

  private send(job: WorkerJob, onProgress?: (bytes: number) => void): Promise<CopyReply | MoveReply> {
    if (this.closed) return Promise.reject(new Error('the copy workers are closed'));
    return new Promise((resolve, reject) => {
      const done: Job = (r) => (r instanceof Error ? reject(r) : resolve(r));
      done.progress = onProgress;
      this.waiting.push({ job, done });
      // Copies asked for in the same turn of the event loop (the engine's continuations after one
      // batch of replies) go to the worker in one message.
      this.pumpSoon();
    });
  }

  private pumpSoon(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = this.workers.splice(0);
    for (const { jobs } of all) for (const done of jobs.values()) done(new Error('the copy workers were closed'));
    for (const { done } of this.waiting.splice(0)) done(new Error('the copy workers were closed'));
    await Promise.all(all.map(({ w }) => w.terminate()));
  }

  private pump(): void {
    if (this.closed) return;
    this.inlineWhileStarting();
    const batches = new Map<(typeof this.workers)[number], WorkerJob[]>();
    for (let i = 0; i < this.waiting.length; ) {
      const slot = this.slotFor(this.waiting[i]!.job);
      if (!slot) {
        i++;
        continue;
      }
      const [{ job, done }] = this.waiting.splice(i, 1) as [(typeof this.waiting)[number]];
      if (slot.jobs.size === 0) slot.w.ref();
      slot.jobs.set(job.id, done);
      const batch = batches.get(slot);
      if (batch) batch.push(job);
      else batches.set(slot, [job]);
    }
    for (const [slot, jobs] of batches) slot.w.postMessage(jobs);
  }

  /**
   * While the small-file worker starts, up to INLINE_PER_TURN small copies waiting are done here
   * (moves and big copies wait for their worker: target-hdd moves on the thread pool meanwhile);
   * more in the next turn, until the worker is up ('online' pumps the rest to it).
   */
  private inlineWhileStarting(): void {
    if (!this.waiting.length) return;
    const first = this.workers[0] ?? this.start();
    if (first.online) return;
    let done = 0;
    for (let i = 0; i < this.waiting.length && done < INLINE_PER_TURN; ) {
      const { job, done: settle } = this.waiting[i]!;
      if (!smallCopy(job)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      done++;
      this.inlined++;
      let reply: CopyReply | Error;
      try {
        reply = runJob(job) as CopyReply; // a CopyJob's reply
      } catch (e) {
        reply = e instanceof Error ? e : new Error(String(e));
      }
      settle(reply);
    }
    if (done === INLINE_PER_TURN) this.pumpSoon();
  }

  /**
   * Small files all go to the first worker, big ones to the others: two threads creating and
   * renaming files at once make the file system spin on its locks (100,000 small files: 10 s of
   * kernel time with one thread, 42 s with two), while big files gain from a second reader.
   */
  private slotFor(job: WorkerJob): (typeof this.workers)[number] | undefined {
    const room = (s: (typeof this.workers)[number] | undefined) => (s && s.jobs.size < SMALL_PER_WORKER ? s : undefined);
    if (job.size < SMALL_FILE || this.size === 1) {
      const first = this.workers[0] ?? this.start();
      // A small copy waits for the next turn's inlineWhileStarting rather than for the thread.
      if (!first.online && smallCopy(job)) return undefined;
      return room(first);
    }
    let best: (typeof this.workers)[number] | undefined;
    for (const s of this.workers.slice(1)) if (s.jobs.size < PER_WORKER && (!best || s.jobs.size < best.jobs.size)) best = s;
    if (!best && this.workers.length < this.size) {
      // A big file while the small-file worker idles and nothing else waits (the end of a run: the
      // compaction snapshot) does not start a thread of its own — ~10 MiB for one copy.
      const first = this.workers[0];
      if (first && this.workers.length === 1 && first.jobs.size === 0 && this.waiting.length <= 1) return first;
      if (!this.workers.length) this.start();
      best = this.start();
    }
    return best;
  }

  private start(): (typeof this.workers)[number] {
    // trackUnmanagedFds off: a descriptor the worker opens may be handed to this thread, which closes it.
    const w = new Worker(workerFile(), { trackUnmanagedFds: false, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    const slot = { w, jobs: new Map<number, Job>(), online: false };
    w.once('online', () => {
      slot.online = true;
      this.pump(); // what waited while it started (inlineWhileStarting)
    });
    w.unref(); // idle until it is sent a job (pump refs it)
    const fail = (e: Error) => {
      const i = this.workers.indexOf(slot);
      if (i >= 0) this.workers.splice(i, 1);
      for (const done of slot.jobs.values()) done(e);
      slot.jobs.clear();
      this.pump();
    };
    w.on('message', (m: (CopyReply | MoveReply)[] | { id: number; progress: number }) => {
      if (!Array.isArray(m)) return slot.jobs.get(m.id)?.progress?.(m.progress);
      for (const r of m) {
        const done = slot.jobs.get(r.id);
        slot.jobs.delete(r.id);
        done?.(r);
      }
      if (slot.jobs.size === 0) w.unref();
      this.pump();
    });
    w.on('error', (e) => fail(e instanceof Error ? e : new Error(String(e))));
    w.on('exit', (code) => {
      if (!this.closed) fail(new Error(`a copy worker stopped (exit code ${code})`));
    });
    this.workers.push(slot);
    return slot;
  }
}

const KEPT = 'target-hdd copier';

/** Copy workers for a target: those a finished run parked (`agent run`: no thread start per run), or a new pool. */
export function takeCopier(): Copier {
  return takeHelper<Copier>(KEPT) ?? new Copier();
}

/** A target is done with its copy workers: parked for the next run where the process keeps helpers, else stopped. */
export async function releaseCopier(c: Copier): Promise<void> {
  if (!c.idle) return c.close();
  await parkHelper(KEPT, c, (x) => x.close());
}

/** The worker's script; under vitest (sources, not the build) the built one. */
function workerFile(): URL {
  const here = new URL('./copy-worker.js', import.meta.url);
  if (existsSync(here)) return here;
  return new URL(here.href.replace(/\/src\/copy-worker\.js$/, '/dist/copy-worker.js'));
}
