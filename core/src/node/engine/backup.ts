import { setMaxListeners } from 'node:events';
import { HokanError, UsageError, describeError } from '../../common/errors.js';
import type { HokanConfig, JobConfig } from '../../common/config-types.js';
import { hasTaps, type EngineHooks, type RunContext } from '../../common/hooks.js';
import type { Logger } from '../../common/logger.js';
import { emptyCounts, type FileEntry, type FileRecord, type RunRecord, type SourceRoot } from '../../common/model.js';
import type { Reason } from '../../common/statuses.js';
import type { Target } from '../../common/target.js';
import { parseSize } from '../../common/units.js';
import { relFromKey, type HeldFile, type IndexOp, type IndexStore } from '../index/index-store.js';
import { scanRootBatches, scanWorkerFor, stopHeadStart } from '../scan/scanner.js';
import { hashFile } from './file-source.js';
import { reasonOf, type RetryOptions } from './failure.js';
import { compareRel } from './held.js';
import { closeTarget } from './job-store.js';
import { fileKey, newRunId } from './layout.js';
import { closingState, writeSnapshot } from './manifests.js';
import { resolveRoots, type PresetResolver } from './sources.js';
import { TargetSession, type DurabilityWindow } from './target-session.js';

/** What the engine needs from the rest of the core (bound by the runtime, or built by a test). */
export interface EngineDeps {
  index: IndexStore;
  hooks: EngineHooks;
  logger: Logger;
  config: HokanConfig;
  /** Creates the configured target `id` (the engine disposes it). */
  openTarget(id: string): Promise<Target>;
  resolvePreset?: PresetResolver;
  retry?: Partial<RetryOptions>;
  /** Windows of deferred durability (DURABILITY_WINDOW unless a test makes them small). */
  window?: DurabilityWindow;
}

export interface BackupProgress {
  filesSeen: number;
  filesDone: number;
  bytesDone: number;
  /** Bytes of the files queued for upload so far (grows while the scan runs). */
  bytesQueued: number;
  scanDone: boolean;
}

export interface BackupOptions {
  job: string;
  /** Only these of the job's targets. */
  targets?: string[];
  /** Re-hash every file instead of trusting size and times. */
  full?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: BackupProgress) => void;
  now?: Date;
  /** Walk the sources in a worker thread: by the size of the last run (default), always, or never. */
  scanWorker?: 'auto' | 'always' | 'never';
}

/** Deleting fewer files than this never trips the percentage guard (one of three files is 33%). */
const PERCENT_GUARD_MIN_FILES = 10;
/**
 * From this many files (seen by the job's last run) the walk runs in a worker thread: its `lstat`
 * calls then overlap the comparison with the index (100,000 files: 1.55 → 1.32 s here). Below, the
 * worker's start (~110–170 ms to its first batch) costs more than it saves.
 */
export const SCAN_WORKER_MIN_FILES = 20_000;
/** The stat-refresh writes of unchanged files are batched. */
const REFRESH_BATCH = 500;

export function findJob(config: HokanConfig, id: string): JobConfig {
  const job = config.jobs.find((j) => j.id === id);
  if (!job) {
    const ids = config.jobs.map((j) => j.id);
    throw new UsageError(`there is no job "${id}" in the config`, { hint: ids.length ? `jobs: ${ids.join(', ')}` : 'add a job under "jobs" in config.json' });
  }
  return job;
}

export function targetFingerprint(config: HokanConfig, id: string): string {
  const t = config.targets[id] ?? { type: 'unknown' };
  const { type, path, url, bucket, prefix, endpoint, account, container } = t as Record<string, unknown>;
  return JSON.stringify({ type, path, url, bucket, prefix, endpoint, account, container });
}

/** Returned by `HeldCursor.advance` when its buffer ran dry: `await fill()` and ask again. */
const NEED_MORE = Symbol('need-more');

/**
 * Walks the held entries of one root in step with the scan (both in the same order). Entries come
 * from LevelDB in batches and `advance` is synchronous while the batch lasts, so the no-change run
 * costs no promise per file. Keys are compared as stored; only passed (deleted) ones are decoded.
 */
class HeldCursor {
  private buf: [string, HeldFile][] = [];
  private i = 0;
  private done = false;
  constructor(private readonly batches: AsyncGenerator<[string, HeldFile][]>) {}

  async fill(): Promise<void> {
    while (this.i >= this.buf.length && !this.done) {
      const n = await this.batches.next();
      if (n.done) this.done = true;
      else {
        this.buf = n.value;
        this.i = 0;
      }
    }
  }

  /** Passes every held path before `rel` to `passed`, and returns what is held at `rel`. */
  advance(rel: string, passed: (rel: string, held: HeldFile) => void): HeldFile | undefined | typeof NEED_MORE {
    for (;;) {
      if (this.i >= this.buf.length) return this.done ? undefined : NEED_MORE;
      const e = this.buf[this.i]!;
      const c = compareRel(e[0], rel);
      if (c > 0) return undefined;
      this.i++;
      if (c === 0) return e[1];
      passed(relFromKey(e[0]), e[1]);
    }
  }

  /**
   * Takes the held entries under `rel/` — right after `rel` in the order, so the cursor stands on
   * them once `advance(rel)` returned. They are in the way of a file at `rel` (a folder the source
   * now has as a file). Costs one character check per file when there are none.
   */
  async takeUnder(rel: string): Promise<[string, HeldFile][]> {
    const out: [string, HeldFile][] = [];
    for (;;) {
      if (this.i >= this.buf.length) {
        if (this.done) return out;
        await this.fill();
        continue;
      }
      const k = this.buf[this.i]![0];
      const c = k.length > rel.length ? k.charCodeAt(rel.length) : -1;
      if ((c !== 0 && c !== 47) || compareRel(k.slice(0, rel.length), rel) !== 0) return out;
      out.push([relFromKey(k), this.buf[this.i++]![1]]);
    }
  }

  /** Whether the next held entry may lie under `rel/` (then `takeUnder` decides); synchronous. */
  mayHoldUnder(rel: string): boolean {
    if (this.i >= this.buf.length) return !this.done;
    const k = this.buf[this.i]![0];
    const c = k.length > rel.length ? k.charCodeAt(rel.length) : -1;
    return c === 0 || c === 47;
  }

  async drain(passed: (rel: string, held: HeldFile) => void): Promise<void> {
    for (;;) {
      await this.fill();
      if (this.i >= this.buf.length) return;
      const e = this.buf[this.i++]!;
      passed(relFromKey(e[0]), e[1]);
    }
  }

  async close(): Promise<void> {
    await this.batches.return(undefined);
  }
}

interface Candidate {
  root: string;
  rel: string;
  held: HeldFile;
}

/** Per target bookkeeping of one backup run. */
class Lane {
  readonly inflight = new Set<Promise<void>>();
  /** Who waits for a free slot (not Promise.race: it would subscribe to every transfer, per file). */
  private readonly slotWaiters: (() => void)[] = [];
  async slot(cap: number): Promise<void> {
    while (this.inflight.size >= cap) await new Promise<void>((r) => this.slotWaiters.push(r));
  }
  done(p: Promise<void>): void {
    this.inflight.delete(p);
    this.slotWaiters.shift()?.();
  }
  /** Files put and waiting for their window to be flushed and recorded (deferred durability). */
  unsettled = 0;
  private settleWaiters: (() => void)[] = [];
  settledOne(): void {
    if (--this.unsettled === 0) for (const wake of this.settleWaiters.splice(0)) wake();
  }
  /** Resolves when every file put so far is recorded. */
  async allSettled(): Promise<void> {
    while (this.unsettled > 0) await new Promise<void>((r) => this.settleWaiters.push(r));
  }
  readonly candidates: Candidate[] = [];
  candidateCount = 0;
  heldFiles = 0;
  readonly retryLater: { entry: FileEntry }[] = [];
  refresh: IndexOp[] = [];
  constructor(readonly s: TargetSession) {}
}

/**
 * One backup run of one job: one scan feeds every target of the job. Each target has its own
 * queue and concurrency; a target that fails as a whole (unplugged, full) stops alone.
 */
export async function runBackup(deps: EngineDeps, opts: BackupOptions): Promise<RunRecord> {
  const { index, hooks, logger: rootLogger, config } = deps;
  const job = findJob(config, opts.job);
  const targetIds = opts.targets?.length ? opts.targets : job.targets;
  for (const t of targetIds) {
    if (!job.targets.includes(t)) throw new UsageError(`job "${job.id}" has no target "${t}"`, { hint: `its targets: ${job.targets.join(', ')}` });
  }
  const now = opts.now ?? new Date();
  const runId = newRunId(now);
  const logger = rootLogger.child('engine');
  const dryRun = !!opts.dryRun;
  const ctrl = new AbortController();
  // Every transfer in flight listens on the run's one signal (the SDK and the retries): that is not a leak.
  setMaxListeners(0, ctrl.signal);
  const onAbort = () => ctrl.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const retry: RetryOptions = { retries: deps.retry?.retries ?? 3, minDelayMs: deps.retry?.minDelayMs ?? 500 };

  const run: RunRecord = {
    id: runId,
    job: job.id,
    kind: 'backup',
    status: 'running',
    reasons: [],
    start: now.toISOString(),
    device: config.device,
    sources: [],
    targets: targetIds,
    counts: emptyCounts(),
    bytes: 0,
  };
  const ctx: RunContext = { runId, kind: 'backup', job, device: config.device, dryRun, full: !!opts.full, signal: ctrl.signal, logger };
  const lanes: Lane[] = [];
  const opened: Target[] = [];
  let seq = 0;
  let fileOps: IndexOp[] = [];
  const runReasons = new Set<Reason>();
  let afterCrash = false;
  let drainLanes = (): Promise<void> => Promise.resolve();
  const progress: BackupProgress = { filesSeen: 0, filesDone: 0, bytesDone: 0, bytesQueued: 0, scanDone: false };
  const tick = () => opts.onProgress?.(progress);

  const writeRecord = (rec: FileRecord) => {
    if (dryRun) return;
    fileOps.push(index.fileOp(runId, ++seq, rec));
  };
  const flushFileOps = async () => {
    const ops = fileOps;
    fileOps = [];
    await index.batch(ops);
  };

  try {
    if (!dryRun) await index.putRun(run);
    const recent = (await index.listRuns({ job: job.id, kind: 'backup', limit: 3, total: false })).runs.filter((r) => r.id !== runId);
    afterCrash = recent[0]?.status === 'interrupted';
    // A big tree seen in the last two runs (one that stopped early saw less): walk it in a worker
    // thread (see `SCAN_WORKER_MIN_FILES`).
    const scanInWorker = opts.scanWorker === 'always' || (opts.scanWorker !== 'never' && Math.max(0, ...recent.slice(0, 2).map((r) => r.counts.seen)) >= SCAN_WORKER_MIN_FILES);
    // A walk the command started before it loaded (cli/head-start.ts) saw the tree before the
    // plugins' `beforeRun` (one may mount or snapshot the source there): not trusted then.
    if (hasTaps(hooks.beforeRun)) await stopHeadStart();
    await hooks.beforeRun.promise(ctx);
    const roots = await hooks.scanRoots.promise(await resolveRoots(job, config, deps.resolvePreset), ctx);
    run.sources = roots.map((r) => r.path);
    const maxFileSize = job.maxFileSize !== undefined ? parseSize(job.maxFileSize) : undefined;

    // Open and check every target; one that cannot be used is reported and the others go on.
    for (const id of targetIds) {
      let target: Target;
      try {
        target = await deps.openTarget(id);
        opened.push(target);
      } catch (e) {
        const s = new TargetSession({ ...sessionBase(id), target: undefined as unknown as Target });
        s.fatal = { reason: HokanError.is(e) && e.exitCode === 2 ? 'invalid-settings' : reasonOf(e), message: describeError(e) };
        lanes.push(new Lane(s));
        continue;
      }
      const s = new TargetSession({ ...sessionBase(id), target });
      try {
        await s.prepare({ write: !dryRun });
      } catch (e) {
        const owned = HokanError.is(e) && e.code === 'E_TARGET_OWNED';
        s.fatal = { reason: owned ? 'invalid-settings' : reasonOf(e) === 'io-error' ? 'target-unavailable' : reasonOf(e), message: describeError(e) };
        logger.error({ target: id, err: s.fatal.message }, 'target cannot be used');
      }
      lanes.push(new Lane(s));
    }
    function sessionBase(id: string) {
      return {
        index,
        job: job.id,
        targetId: id,
        fingerprint: targetFingerprint(config, id),
        device: config.device,
        runId,
        generations: job.generations,
        dryRun,
        logger,
        retry,
        forbiddenChars: job.forbiddenChars,
        maxPathLength: job.maxPathLength,
        maxFileSize,
        nextSeq: () => ++seq,
        adoptOrphans: afterCrash,
        window: deps.window,
        onBytes: (n: number) => {
          progress.bytesDone += n;
        },
      };
    }
    const live = lanes.filter((l) => !l.s.fatal);
    for (const l of live) l.s.startRecord = { ...run };

    const filterHook = hasTaps(hooks.filterEntry) ? (e: FileEntry) => hooks.filterEntry.promise(e, ctx) : undefined;
    const beforeUploadUsed = hasTaps(hooks.beforeUpload);
    const afterUploadUsed = hasTaps(hooks.afterUpload);

    const finish = async (lane: Lane, entry: FileEntry, rec: FileRecord, deferOnNetwork: boolean) => {
      if (deferOnNetwork && rec.reason === 'network-error' && !lane.s.fatal && lane.retryLater.length < 10_000) {
        lane.retryLater.push({ entry });
        return;
      }
      lane.s.tally(rec);
      if (rec.status !== 'unchanged') writeRecord(rec);
      if (afterUploadUsed) await hooks.afterUpload.promise({ item: { entry, targetId: lane.s.id, key: rec.path }, record: rec }, ctx);
      progress.filesDone++;
      if (fileOps.length >= 200) await flushFileOps();
    };

    const uploadOne = async (lane: Lane, entry: FileEntry, held: HeldFile | undefined, defer: boolean) => {
      let rec: FileRecord;
      try {
        if (beforeUploadUsed) {
          const item = await hooks.beforeUpload.promise({ entry, targetId: lane.s.id, key: fileKey(entry.root.name, entry.rel) }, ctx);
          if (item.skip) {
            await finish(lane, entry, lane.s.record(item.key, 'skipped', undefined, entry.size, undefined, item.skip.reason), false);
            return;
          }
        }
        const out = await lane.s.upload(entry, held, ctrl.signal);
        if ('pending' in out) {
          // The slot is free for the next file; the record comes when the window is flushed.
          lane.unsettled++;
          out.pending
            .then((r) => finish(lane, entry, r, defer))
            .then(
              () => lane.settledOne(),
              (e) => {
                logger.error({ err: describeError(e) }, 'unexpected failure in the upload queue');
                lane.settledOne();
              },
            );
          return;
        }
        rec = out;
      } catch (e) {
        rec = lane.s.failure(fileKey(entry.root.name, entry.rel), e, entry.size);
      }
      await finish(lane, entry, rec, defer);
    };

    /** Same content as held? Size and mtime first; inode and ctime when the index has them. Sync when unchanged. */
    const decide = (lane: Lane, entry: FileEntry, held: HeldFile | undefined): void | Promise<void> => {
      const cur = held?.cur;
      if (cur && entry.type === 'symlink' && cur.link === entry.linkTarget) return unchanged(lane, entry, held!, false);
      // A copy `agent verify` found damaged or missing is sent again whatever the file's stat says.
      if (cur && cur.link === undefined && cur.damaged === undefined && entry.type === 'file' && cur.size === entry.size && cur.mtimeMs === entry.mtimeMs) {
        // An index rebuilt from the target knows no inode or ctime: size and mtime alone would miss
        // content rewritten in place with its mtime put back, so such a file is hashed once (and its
        // inode and ctime recorded) — the first run after a rebuild reads the tree.
        const inoOk = job.ignoreInode || held!.ino === entry.ino;
        const ctimeOk = job.ignoreCtime || held!.ctimeMs === entry.ctimeMs;
        if (inoOk && ctimeOk && !opts.full) return unchanged(lane, entry, held!, false);
        // Same size and time but another (or unknown) inode/ctime, or --full: hash locally before sending anything.
        return enqueue(lane, async () => {
          let same = false;
          try {
            same = (await hashFile(entry.abs)) === cur.sha256;
          } catch {
            same = false;
          }
          if (same) unchanged(lane, entry, held!, true);
          else await uploadOne(lane, entry, held, true);
        });
      }
      progress.bytesQueued += entry.size;
      return enqueue(lane, () => uploadOne(lane, entry, held, true));
    };

    const unchanged = (lane: Lane, entry: FileEntry, held: HeldFile, refresh: boolean): void => {
      lane.s.result.counts.unchanged++;
      progress.filesDone++;
      if (refresh && !dryRun) lane.refresh.push(lane.s.refreshOp(entry, held));
    };
    const flushRefresh = async (lane: Lane) => {
      if (dryRun || !lane.refresh.length) return;
      const ops = lane.refresh;
      lane.refresh = [];
      await index.batch(ops);
    };

    /** Waits for everything of a lane: transfers in flight, then their window (flushed and recorded). */
    const drain = async (lane: Lane) => {
      while (lane.inflight.size) await Promise.all(lane.inflight);
      await lane.s.settle();
      await lane.allSettled();
    };
    drainLanes = () => Promise.all(live.map((l) => drain(l).catch(() => undefined))).then(() => undefined);

    const enqueue = async (lane: Lane, work: () => Promise<void>) => {
      const cap = Math.max(1, lane.s.caps.maxConnections);
      if (lane.inflight.size >= cap) await lane.slot(cap);
      const p: Promise<void> = work()
        .catch((e) => logger.error({ err: describeError(e) }, 'unexpected failure in the upload queue'))
        .finally(() => lane.done(p));
      lane.inflight.add(p);
    };

    for (const root of roots) {
      if (ctrl.signal.aborted) break;
      const rootLanes = live.filter((l) => !l.s.fatal);
      const cursors = rootLanes.map((l) => new HeldCursor(index.heldBatches(job.id, l.s.id, root.name)));
      const errorPrefixes: string[] = [];
      let rootError: string | undefined;
      let seen = 0;
      const underError = (rel: string) => errorPrefixes.some((p) => rel === p || rel.startsWith(p + '/'));
      const passed = rootLanes.map((lane) => (rel: string, held: HeldFile) => {
        if (held.cur) lane.heldFiles++;
        if (!held.cur || underError(rel)) return;
        lane.candidateCount++;
        if (lane.candidates.length <= job.deletionThreshold.count) lane.candidates.push({ root: root.name, rel, held });
      });

      const scanOpts = { filters: job.filters, followSymlinks: job.followSymlinks, filter: filterHook, signal: ctrl.signal };
      // A walk the command started before it loaded (cli/head-start.ts) is taken over if it is this one.
      const worker = opts.scanWorker === 'never' ? undefined : scanWorkerFor(root, scanOpts, scanInWorker);
      if (worker?.headStart) logger.debug({ root: root.path }, 'the walk had a head start (started before the command loaded)');
      try {
        scan: for await (const batch of scanRootBatches(root, { ...scanOpts, worker })) {
          for (const item of batch) {
            if (ctrl.signal.aborted) break scan;
            if (item.type === 'error') {
              if (item.rel === '') {
                rootError = item.message;
                break scan;
              }
              errorPrefixes.push(item.rel);
              for (const lane of rootLanes) await finish(lane, item as unknown as FileEntry, lane.s.record(fileKey(root.name, item.rel), 'failed', item.reason, undefined, undefined, item.message), false);
              continue;
            }
            seen++;
            run.counts.seen++;
            progress.filesSeen++;
            for (let i = 0; i < rootLanes.length; i++) {
              const lane = rootLanes[i]!;
              if (lane.s.fatal) {
                // The target stopped (unplugged, full): the rest is counted as skipped, the reason is on the run.
                lane.s.result.counts.skipped++;
                continue;
              }
              const cursor = cursors[i]!;
              let held = cursor.advance(item.rel, passed[i]!);
              while (held === NEED_MORE) {
                await cursor.fill();
                held = cursor.advance(item.rel, passed[i]!);
              }
              if (held?.cur) lane.heldFiles++;
              // A folder that became a file: what the target holds under it leaves first, whatever
              // the deletion policy (a disk cannot hold a file and a folder of one name).
              if (cursor.mayHoldUnder(item.rel)) {
                for (const [rel, h] of await cursor.takeUnder(item.rel)) {
                  if (!h.cur) continue;
                  lane.heldFiles++;
                  await Promise.all(lane.inflight);
                  await finish(lane, item, await lane.s.remove(root.name, rel, h), false);
                }
              }
              // A file that became a folder: its old file must leave before anything goes beneath it.
              const last = lane.candidates.at(-1);
              if (last && last.root === root.name && item.rel.startsWith(last.rel + '/')) {
                lane.candidates.pop();
                lane.candidateCount--;
                await Promise.all(lane.inflight);
                await finish(lane, item, await lane.s.remove(last.root, last.rel, last.held), false);
              }
              const pending = decide(lane, item, held);
              if (pending) await pending;
              if (lane.refresh.length >= REFRESH_BATCH) await flushRefresh(lane);
            }
          }
          tick();
        }
        for (let i = 0; i < rootLanes.length; i++) await cursors[i]!.drain(passed[i]!);
      } finally {
        await worker?.close(); // also when the walk never started (a thread left running would keep the agent alive)
        for (const c of cursors) await c.close();
      }
      // Never let a missing or empty source folder delete what the target holds.
      if (rootError !== undefined || seen === 0) {
        const msg = rootError ?? `the source folder ${root.path} is empty`;
        for (const lane of rootLanes) {
          const dropped = lane.candidates.filter((c) => c.root === root.name).length;
          if (rootError !== undefined || dropped > 0) {
            lane.s.addReason('invalid-settings');
            runReasons.add('invalid-settings');
            run.note = [run.note, `${msg}; nothing was deleted from the targets`].filter(Boolean).join('; ');
          }
          lane.candidateCount -= dropped;
          for (let j = lane.candidates.length - 1; j >= 0; j--) if (lane.candidates[j]!.root === root.name) lane.candidates.splice(j, 1);
        }
      }
    }
    progress.scanDone = true;
    tick();
    await Promise.all(live.map(drain));

    // One more pass for files that failed on the network, after the per-request backoff retries.
    for (const lane of live) {
      const again = lane.retryLater.splice(0);
      for (const { entry } of again) {
        if (ctrl.signal.aborted) break;
        const held = await index.getHeld(job.id, lane.s.id, entry.root.name, entry.rel);
        await enqueue(lane, () => uploadOne(lane, entry, held, false));
      }
      await drain(lane);
    }

    // Deletions: by policy, guarded by the threshold.
    if (!ctrl.signal.aborted) {
      const propagate = job.deletions === 'every-run' || (job.deletions === 'monthly' && (await firstRunOfMonth(index, job.id, runId, now)));
      for (const lane of live) {
        if (lane.s.fatal || !propagate || lane.candidateCount === 0) continue;
        const n = lane.candidateCount;
        const pct = lane.heldFiles ? (n * 100) / lane.heldFiles : 0;
        const { count, percent } = job.deletionThreshold;
        if (n > count || (n >= PERCENT_GUARD_MIN_FILES && pct > percent)) {
          lane.s.addReason('deletion-threshold');
          runReasons.add('deletion-threshold');
          run.note = [run.note, `${n} files (${pct.toFixed(0)}%) would be deleted from ${lane.s.id}, more than the threshold (${count} files or ${percent}%); nothing was deleted — check the sources, or raise deletionThreshold`].filter(Boolean).join('; ');
          continue;
        }
        for (const c of lane.candidates) {
          await enqueue(lane, async () => finish(lane, { root: { name: c.root }, rel: c.rel } as unknown as FileEntry, await lane.s.remove(c.root, c.rel, c.held), false));
        }
        await drain(lane);
      }
    }
    await flushFileOps();
    for (const lane of live) await flushRefresh(lane);
  } catch (e) {
    run.error = describeError(e);
    logger.error({ err: run.error }, 'backup run failed');
    await hooks.failed.promise(e, ctx).catch(() => {});
    if (!lanes.length) throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  // A run that stopped early (aborted, or an error) still records what it put: nothing in flight
  // is abandoned, and the files of the last window are flushed and recorded, not sent again.
  await drainLanes();
  await flushFileOps().catch((e) => logger.error({ err: describeError(e) }, 'could not record the last file records'));

  // Results.
  run.targetResults = lanes.map((l) => l.s.finishResult());
  for (const r of run.targetResults) {
    for (const k of ['uploaded', 'unchanged', 'deleted', 'skipped', 'failed'] as const) run.counts[k] += r.counts[k];
    run.bytes += r.bytes;
    for (const reason of r.reasons) runReasons.add(reason);
  }
  const reasons = [...runReasons];
  run.reasons = reasons.length > 1 ? ['multiple-errors', ...reasons] : reasons;
  run.status = ctrl.signal.aborted ? 'aborted' : run.error || reasons.length ? 'incomplete' : 'completed';
  if (!run.error && lanes.length && lanes.every((l) => l.s.fatal)) run.error = lanes.map((l) => `${l.s.id}: ${l.s.fatal!.message}`).join('; ');
  run.end = new Date().toISOString();

  // Close the run on every target that took part: journal, record, compaction, housekeeping.
  for (const lane of lanes) {
    const s = lane.s;
    if (dryRun || !s.state || s.fatal?.reason === 'target-unavailable') continue;
    try {
      await s.flushJournal();
      await s.writeRunRecord(run);
      const { state, compact } = closingState(s.state, s.changeCount, lane.heldFiles);
      if (compact) {
        await writeSnapshot(index, s.store, job.id, s.id, runId);
        state.lastSnapshot = runId;
        state.runsSinceSnapshot = 0;
        state.changesSinceSnapshot = 0;
      }
      await index.batch([index.targetStateOp(job.id, s.id, state)]);
      // After a crash (and with compaction), clear what interrupted writes left in this job's place
      // (one owner per place, so anything older than this run is stale), except uploads the index
      // means to resume.
      if (s.o.target.cleanup && (compact || afterCrash)) {
        const resuming = await index.resumingKeys(s.id);
        const prefix = s.store.fullKey('');
        await s.o.target.cleanup({ prefix, olderThanMs: afterCrash ? Date.now() - now.getTime() : 24 * 3600_000, keep: (k) => !k.startsWith(prefix) || resuming.has(k) });
      }
    } catch (e) {
      logger.warn({ target: s.id, err: describeError(e) }, 'could not close the run on the target');
    }
  }
  if (!dryRun) await index.putRun(run);
  for (const t of opened) await closeTarget(t);
  const report = { run, context: ctx };
  await hooks.done.promise(report).catch((e) => logger.error({ err: describeError(e) }, 'a done hook failed'));
  await hooks.report.promise(report).catch((e) => logger.error({ err: describeError(e) }, 'a report hook failed'));
  return run;
}

/** `monthly` deletions happen on the first backup of the month (local time). */
async function firstRunOfMonth(index: IndexStore, job: string, runId: string, now: Date): Promise<boolean> {
  const { runs } = await index.listRuns({ job, kind: 'backup', limit: 50, total: false });
  return !runs.some((r) => {
    if (r.id === runId || (r.status !== 'completed' && r.status !== 'incomplete')) return false;
    const d = new Date(r.start);
    return d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth();
  });
}

export type { SourceRoot };
