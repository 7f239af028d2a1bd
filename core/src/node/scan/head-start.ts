/**
 * The head start: a walk started in a worker before the command that wants it has loaded, taken
 * over by the run whose walk it is; and the choice of worker for a walk.
 */
import type { SourceRoot } from '../../common/model.js';
import { keepWalkThreads, ScanWorker, walkThreadKept } from './scan-worker-handle.js';
import { walkSpec, type WalkSpec, type WorkerOptions } from './scan-worker-protocol.js';

/** A walk started before its run (see `startHeadStart`), until a run takes it or another walk starts. */
let headStart: ScanWorker | undefined;
/** The first walk of this process (in a worker or not): what the next same command can start early. */
let firstSpec: WalkSpec | undefined;

/**
 * The worker to walk `root` with — hand it to `scanRootBatches` (or `close()` it): a head start of
 * this walk if one runs, else a new one when `start`, else none (the caller walks on its own
 * thread). Notes the walk as this process's first, if it is.
 */
export function scanWorkerFor(root: SourceRoot, opts: WorkerOptions, start: boolean): ScanWorker | undefined {
  const spec = walkSpec(root, opts);
  firstSpec ??= spec;
  const w = takeHeadStart(spec) ?? (start ? new ScanWorker(spec) : undefined);
  // Walked here because no idle thread was kept (they stop after a while unused): one for next time.
  if (!w && walkThreadKept()) keepWalkThreads(true);
  return w;
}

/** Starts walking `root` in a worker thread (or takes over the head start of this walk). */
export function startScanWorker(root: SourceRoot, opts: WorkerOptions): ScanWorker {
  return scanWorkerFor(root, opts, true)!;
}

/**
 * The head start of this walk, if one runs (and then it is this caller's to read or close); a
 * head start of another walk is stopped.
 */
export function takeHeadStartOf(root: SourceRoot, opts: WorkerOptions): ScanWorker | undefined {
  return takeHeadStart(walkSpec(root, opts));
}

function takeHeadStart(spec: WalkSpec): ScanWorker | undefined {
  const w = headStart;
  headStart = undefined;
  if (!w) return undefined;
  if (w.spec !== JSON.stringify(spec)) {
    void w.close();
    return undefined;
  }
  w.keepAlive(true);
  return w;
}

/**
 * Starts a walk before the command that will want it has loaded (cli/head-start.ts). It does not
 * keep the process alive and is stopped by the first walk that is not the same.
 */
export function startHeadStart(spec: WalkSpec): ScanWorker {
  void headStart?.close();
  headStart = new ScanWorker(spec, true);
  headStart.keepAlive(false);
  return headStart;
}

/** Stops a head start that no walk took. */
export async function stopHeadStart(): Promise<void> {
  const w = headStart;
  headStart = undefined;
  await w?.close();
}

/** What this process walked first, if anything. */
export function firstWalk(): WalkSpec | undefined {
  return firstSpec;
}
