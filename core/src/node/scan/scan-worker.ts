/**
 * The scan worker: walks source roots synchronously (walker.ts) in a worker thread and posts each
 * walk's items in batches, in order, at most a few batches ahead of the reader (a credit counter in
 * shared memory: the worker blocks on `Atomics.wait` when it is out of credit).
 *
 * One walk at a time: the one it was started with (`workerData`, if any), then each `{ walk }`
 * message. Between walks it waits, loaded and idle, so a long-lived agent (`agent run`) can hand
 * it the next walk without paying a thread's start again (scan-worker-handle.ts, the pool).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ScanItem } from '../../common/model.js';
import { PACKED_FIELDS, type PackedMessage, type ScanWorkerData, type ScanWorkerMessage } from './scan-worker-protocol.js';
import { Walker } from './walker.js';

function walk(d: ScanWorkerData): void {
  const credits = new Int32Array(d.credits);
  const skips: ScanWorkerMessage['skips'] = [];
  const walker = new Walker(d.root, {
    filters: d.filters,
    followSymlinks: d.followSymlinks,
    platform: d.platform,
    folders: d.folders,
    onSkip: d.wantSkips ? (rel, reason, kind) => void skips.push([rel, reason, kind]) : undefined,
  });

  const take = (): void => {
    while (Atomics.load(credits, 0) <= 0) Atomics.wait(credits, 0, 0);
    Atomics.sub(credits, 0, 1);
  };

  const send = (items: ScanItem[], done: boolean): void => {
    take();
    const m: ScanWorkerMessage = { items, skips: skips.splice(0), done };
    parentPort!.postMessage(m);
  };

  /**
   * A batch packed for the trip: paths in one string, numbers in one transferred array, only links
   * and errors as objects — cloning thousands of small objects costs the reader more than the
   * `lstat` calls the worker saves it.
   */
  const sendPacked = (items: ScanItem[], done: boolean): void => {
    take();
    const n = items.length;
    const nums = new Float64Array(n * PACKED_FIELDS);
    const rels: string[] = new Array(n);
    const odd: [number, ScanItem][] = [];
    for (let i = 0; i < n; i++) {
      const it = items[i]!;
      rels[i] = it.rel;
      if (it.type !== 'file') {
        odd.push([i, it]);
        continue;
      }
      const o = i * PACKED_FIELDS;
      nums[o] = it.size;
      nums[o + 1] = it.mtimeMs;
      nums[o + 2] = it.ctimeMs;
      nums[o + 3] = it.ino;
      nums[o + 4] = it.dev;
      nums[o + 5] = it.mode;
      nums[o + 6] = it.uid ?? 0;
      nums[o + 7] = it.gid ?? 0;
    }
    const m: PackedMessage = { packed: { rels: rels.join('\0'), nums, odd }, skips: skips.splice(0), done };
    parentPort!.postMessage(m, [nums.buffer]);
  };

  const first = walker.start();
  if (first !== null) return send([first], true);
  let more = true;
  while (more) {
    const batch: ScanItem[] = [];
    more = walker.fill(batch, d.batchSize, Number.MAX_SAFE_INTEGER, undefined);
    if (batch.length || skips.length || !more) sendPacked(batch, !more);
  }
}

const initial = workerData as ScanWorkerData | undefined;
if (initial) walk(initial);
parentPort!.on('message', (m: { walk: ScanWorkerData }) => walk(m.walk));
