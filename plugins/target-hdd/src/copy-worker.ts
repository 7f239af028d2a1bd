/**
 * The copy worker: runs copy and move jobs (copy-calls.ts) for copier.ts — a file costs one message
 * each way instead of a thread-pool round trip (and promise) per open, read, write, rename and close.
 */
import { parentPort } from 'node:worker_threads';
import { runJob } from './copy-calls.js';
import { REPLY_EVERY, SMALL_FILE, type CopyReply, type MoveReply, type WorkerJob } from './copy-jobs.js';

const progress = (id: number, bytes: number): void => parentPort!.postMessage({ id, progress: bytes });

// Jobs come in batches; replies go back a few at a time (REPLY_EVERY), so the other thread can
// send more while this one copies the rest, and every file does not cost a message each way. A big
// file's reply goes at once: a file behind it in the batch may take seconds.
parentPort!.on('message', (jobs: WorkerJob[]) => {
  let out: (CopyReply | MoveReply)[] = [];
  for (const job of jobs) {
    out.push(runJob(job, progress));
    if (out.length >= REPLY_EVERY || job.size >= SMALL_FILE) {
      parentPort!.postMessage(out);
      out = [];
    }
  }
  if (out.length) parentPort!.postMessage(out);
});

