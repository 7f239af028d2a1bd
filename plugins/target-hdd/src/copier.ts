import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Size of the reused buffer a copy goes through. */
export const COPY_BUFFER = 1024 * 1024;

/** One local file to copy into a temporary file on the target (see copy-worker.ts). */
export interface CopyJob {
  id: number;
  src: string;
  /** Size and mtime the scan saw: the copy must read exactly these. */
  size: number;
  mtimeMs: number;
  tmp: string;
  /** The mtime to give the copy. */
  setMtimeMs?: number;
  /** Close the copy in the worker (no fsync to come); otherwise its descriptor comes back open. */
  close: boolean;
}

/** Where a copy failed: the source's side (open-source, read) or the target's (open-target, write). */
export type CopyStage = 'open-source' | 'open-target' | 'read' | 'write';

export type CopyReply =
  | { id: number; sha256: string; fd?: number }
  | { id: number; changed: true }
  | { id: number; error: { stage: CopyStage; code?: string; message: string; syscall?: string; path?: string } };

/** Jobs a worker holds at once: the next one waits in its queue, so it never idles between files. */
const PER_WORKER = 2;

/**
 * A small pool of copy workers, started on first use. Two on a two-core machine, at most four: a
 * copy is mostly the kernel moving pages, and one disk does not get faster with more threads.
 * Workers are unref'd while idle, so a pool nobody closed does not keep the agent alive.
 */
export class Copier {
  private readonly workers: { w: Worker; jobs: Map<number, (r: CopyReply | Error) => void> }[] = [];
  private readonly waiting: { job: CopyJob; done: (r: CopyReply | Error) => void }[] = [];
  private seq = 0;
  private closed = false;
  readonly size = Math.min(4, Math.max(2, availableParallelism()));

  copy(job: Omit<CopyJob, 'id'>): Promise<CopyReply> {
    if (this.closed) return Promise.reject(new Error('the copy workers are closed'));
    return new Promise((resolve, reject) => {
      const done = (r: CopyReply | Error) => (r instanceof Error ? reject(r) : resolve(r));
      this.waiting.push({ job: { ...job, id: ++this.seq }, done });
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
    while (this.waiting.length) {
      let slot = this.workers.reduce<(typeof this.workers)[number] | undefined>((best, s) => (s.jobs.size < PER_WORKER && (!best || s.jobs.size < best.jobs.size) ? s : best), undefined);
      if (!slot && this.workers.length < this.size) slot = this.start();
      if (!slot) return;
      const { job, done } = this.waiting.shift()!;
      if (slot.jobs.size === 0) slot.w.ref();
      slot.jobs.set(job.id, done);
      slot.w.postMessage(job);
    }
  }

  private start(): (typeof this.workers)[number] {
    // trackUnmanagedFds off: a descriptor the worker opens may be handed to this thread, which closes it.
    const w = new Worker(workerFile(), { trackUnmanagedFds: false, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    const slot = { w, jobs: new Map<number, (r: CopyReply | Error) => void>() };
    const fail = (e: Error) => {
      const i = this.workers.indexOf(slot);
      if (i >= 0) this.workers.splice(i, 1);
      for (const done of slot.jobs.values()) done(e);
      slot.jobs.clear();
      this.pump();
    };
    w.on('message', (r: CopyReply) => {
      const done = slot.jobs.get(r.id);
      slot.jobs.delete(r.id);
      if (slot.jobs.size === 0) w.unref();
      done?.(r);
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

/** The worker's script; under vitest (sources, not the build) the built one. */
function workerFile(): URL {
  const here = new URL('./copy-worker.js', import.meta.url);
  if (existsSync(here)) return here;
  return new URL(here.href.replace(/\/src\/copy-worker\.js$/, '/dist/copy-worker.js'));
}
