import { setMaxListeners } from 'node:events';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { HokanError, UsageError, describeError } from '../../common/errors.js';
import type { JobConfig } from '../../common/config-types.js';
import { hasTaps, type RunContext } from '../../common/hooks.js';
import type { Logger } from '../../common/logger.js';
import { emptyCounts, type FileEntry, type FileRecord, type FilterVerdict, type RunRecord, type SourceRoot } from '../../common/model.js';
import { filterKindOf, type Reason } from '../../common/statuses.js';
import type { Target } from '../../common/target.js';
import { parseSize } from '../../common/units.js';
import type { HeldFile, IndexOp, IndexStore } from '../index/index-store.js';
import type { FileRecordLog } from '../index/file-chunks.js';
import { storesObject } from '../index/held-types.js';
import { scanRootBatches, scanWorkerFor, stopHeadStart, walkThreadReady, type ScanWorker } from '../scan/scanner.js';
// Whether runs walk in a thread kept between them (`agent run`; the engine model suite draws it).
export { keepWalkThreads } from '../scan/scanner.js';
export { keepHelpers } from '../disk/kept-helpers.js';
import { findJob, targetFingerprint, type EngineDeps } from './deps.js';
import { hashFile } from './file-source.js';
import { reasonOf, type RetryOptions } from './failure.js';
import { HeldCursor, NEED_MORE } from './held-cursor.js';
import { closeTarget } from './job-store.js';
import { Lane } from './lane.js';
import { fileKey, newRunId, runIdTime, runIdsAfter } from './layout.js';
import { closingState, writeSnapshot } from './manifests.js';
import { resolveRoots } from './sources.js';
import { rootHasFile, scopedScanOptions, scopesOf, type Scope } from './scoped-scan.js';
import { TargetSession, ownerChanged, permissionBits } from './target-session.js';

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
  /** Wait this long for another run's lease on a target (`--wait`); default: stop that target at once, naming the holder. */
  waitMs?: number;
  /** Walk the sources in a worker thread: by the size of the last run (default), always, or never. */
  scanWorker?: 'auto' | 'always' | 'never';
  /**
   * Called before each file is compared and before deletions: a promise holds the run there (the
   * daemon's pause window, `agent pause`) — transfers in flight finish, no new one starts;
   * undefined lets it go on at once.
   */
  gate?: () => Promise<void> | undefined;
  /**
   * Only these paths (absolute; files or folders, there or not any more): a watched run. The same
   * change detection, generations, deletions (a path gone is a deletion, under the same guards)
   * and journal as a full run, for what is at or under these paths (scoped-scan.ts). Files that
   * failed in an earlier run, and deletions a `monthly` policy held back, wait for a full run —
   * except on the first run of the month, which scans everything.
   */
  paths?: readonly string[];
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
const DAY_MS = 86_400_000;
/** Filtered paths listed per run (all are counted): a tree of hidden caches must not fill the index. */
const FILTERED_LISTED = 10_000;

/**
 * One backup run of one job: one scan feeds every target of the job. Each target has its own
 * queue and concurrency; a target that fails as a whole (unplugged, full) stops alone.
 */
export async function runBackup(deps: EngineDeps, opts: BackupOptions): Promise<RunRecord> {
  runIdsAfter((await deps.index.listRuns({ limit: 1, total: false })).runs[0]?.id);
  return new BackupRun(deps, opts).run();
}

/**
 * A backup run in its stages, in the order of the engine's hooks: start (beforeRun, scanRoots) →
 * open the targets → per root, scan and filter (filterEntry) and compare with the index → transfer
 * (beforeUpload, afterUpload) → the retry pass → deletions → results → close the run on each target
 * (journal, record, compaction) → report (done, report). What the stages share is the run's state
 * below; each stage is a method.
 */
class BackupRun {
  private readonly job: JobConfig;
  private readonly targetIds: string[];
  private readonly now: Date;
  private readonly runId: string;
  private readonly logger: Logger;
  private readonly dryRun: boolean;
  private readonly ctrl = new AbortController();
  private readonly retry: RetryOptions;
  private readonly record: RunRecord;
  private readonly ctx: RunContext;
  private readonly lanes: Lane[] = [];
  private readonly opened: Target[] = [];
  private seq = 0;
  private fileOps: IndexOp[] = [];
  /** Writes the per-file records with the path range of each chunk of them (`show RUN --path`). */
  private readonly fileLog: FileRecordLog<IndexOp>;
  private filteredListed = 0;
  private readonly runReasons = new Set<Reason>();
  private afterCrash = false;
  private scanInWorker = false;
  /** The first root's walk, started before the targets are opened (see `run`). */
  private early?: { root: SourceRoot; worker: ScanWorker };
  /** The spot check's chance of picking an unchanged file, and at most how many it looks up per target. */
  private spot?: { chance: number; cap: number };
  private maxFileSize?: number;
  private readonly progress: BackupProgress = { filesSeen: 0, filesDone: 0, bytesDone: 0, bytesQueued: 0, scanDone: false };
  private filterHook?: (e: FileEntry) => Promise<FilterVerdict | undefined>;
  private beforeUploadUsed = false;
  private afterUploadUsed = false;
  /** A watched run (`paths`): the relative paths it looks at, per root. */
  private scopes?: Map<string, Scope>;

  constructor(
    private readonly deps: EngineDeps,
    private readonly opts: BackupOptions,
  ) {
    const { config } = deps;
    this.job = findJob(config, opts.job);
    this.targetIds = opts.targets?.length ? opts.targets : this.job.targets;
    for (const t of this.targetIds) {
      if (!this.job.targets.includes(t)) throw new UsageError(`job "${this.job.id}" has no target "${t}"`, { hint: `its targets: ${this.job.targets.join(', ')}` });
    }
    this.now = opts.now ?? new Date();
    this.runId = newRunId(this.now);
    this.fileLog = deps.index.fileLog(this.runId);
    this.logger = deps.logger.child('engine');
    this.dryRun = !!opts.dryRun;
    // Every transfer in flight listens on the run's one signal (the SDK and the retries): that is not a leak.
    setMaxListeners(0, this.ctrl.signal);
    this.retry = { retries: deps.retry?.retries ?? 3, minDelayMs: deps.retry?.minDelayMs ?? 500 };
    this.record = {
      id: this.runId,
      job: this.job.id,
      kind: 'backup',
      status: 'running',
      reasons: [],
      start: this.now.toISOString(),
      device: config.device,
      sources: [],
      targets: this.targetIds,
      counts: emptyCounts(),
      bytes: 0,
    };
    this.ctx = { runId: this.runId, kind: 'backup', job: this.job, device: config.device, dryRun: this.dryRun, full: !!opts.full, signal: this.ctrl.signal, logger: this.logger };
  }

  async run(): Promise<RunRecord> {
    const onAbort = () => this.ctrl.abort(this.opts.signal?.reason);
    this.opts.signal?.addEventListener('abort', onAbort, { once: true });
    let live: Lane[] = [];
    try {
      const roots = await this.start();
      // The first root's walk starts now, in a worker, beside the opening of the targets (their
      // checks, markers and leases are round trips on a network target). Not for a watched run: it
      // may turn out to need every file (below), and looks at its paths on this thread anyway.
      if (!this.scopes && roots.length && this.opts.scanWorker !== 'never') {
        const worker = scanWorkerFor(roots[0]!, this.fullScanOptions(roots[0]!), this.scanInWorker);
        if (worker) this.early = { root: roots[0]!, worker };
      }
      live = await this.openTargets();
      // A watched run looks only at the paths changed since this data folder's last run. A target
      // it never backed up to before (a new data folder, a target added to the job), one that was
      // wiped, or a disk of a rotation that came in needs what changed since its own state: every
      // file is looked at.
      if (this.scopes && live.some((l) => l.s.wasReset || l.s.rotated || l.s.firstLook)) {
        this.scopes = undefined;
        this.note('a target this data folder had not backed up to, or one wiped, or another disk of a rotation: this run looks at every file, not only the changed paths');
      }
      for (const root of roots) {
        if (this.ctrl.signal.aborted) break;
        await this.scanRoot(root, live);
      }
      this.progress.scanDone = true;
      this.tick();
      await Promise.all(live.map((l) => this.drain(l)));
      await this.retryPass(live);
      this.noteSpotCheck(live);
      const held = this.opts.gate?.();
      if (held) await held;
      if (!this.ctrl.signal.aborted) await this.applyDeletions(live);
      if (!this.ctrl.signal.aborted) await this.applyExpiry(live);
      if (this.afterCrash && !this.dryRun && !this.ctrl.signal.aborted) {
        for (const lane of live) if (!lane.s.fatal) await lane.s.sweepUnrecorded(roots.map((r) => r.name));
      }
      await this.flushFileOps();
      for (const lane of live) await this.flushRefresh(lane);
      for (const lane of live) {
        const lost = lane.s.lost;
        if (lost.length) this.note(`${lane.s.id}: ${lost.length} earlier version(s) to keep were missing there (removed or damaged behind hokan's back: ${lost.slice(0, 5).join(', ')}${lost.length > 5 ? ', …' : ''}): not kept, the new content was sent — run \`agent verify\` to check everything`);
      }
    } catch (e) {
      this.record.error = describeError(e);
      this.logger.error({ err: this.record.error }, 'backup run failed');
      await this.deps.hooks.failed.promise(e, this.ctx).catch(() => {});
      if (!this.lanes.length) throw e;
    } finally {
      this.opts.signal?.removeEventListener('abort', onAbort);
      await this.early?.worker.close(); // a run that stopped before it read the walk
      this.early = undefined;
    }
    // A run that stopped early (aborted, or an error) still records what it put: nothing in flight
    // is abandoned, and the files of the last window are flushed and recorded, not sent again.
    await Promise.all(live.map((l) => this.drain(l).catch(() => undefined)));
    await this.flushFileOps().catch((e) => this.logger.error({ err: describeError(e) }, 'could not record the last file records'));
    try {
      this.results();
      await this.closeOnTargets();
    } finally {
      await Promise.all(this.lanes.map((lane) => lane.s.releaseLease()));
    }
    if (!this.dryRun) await this.deps.index.putRun(this.record);
    for (const t of this.opened) await closeTarget(t);
    await this.report();
    return this.record;
  }

  // ---- start: the run recorded, the plugins' beforeRun, the roots to scan --------------------

  private async start(): Promise<SourceRoot[]> {
    const { index, hooks, config } = this.deps;
    if (!this.dryRun) await index.putRun(this.record);
    const recent = (await index.listRuns({ job: this.job.id, kind: 'backup', limit: 3, total: false })).runs.filter((r) => r.id !== this.runId);
    this.afterCrash = recent[0]?.status === 'interrupted';
    // A big tree seen in the last two runs (one that stopped early saw less): walk it in a worker
    // thread (see `SCAN_WORKER_MIN_FILES`).
    const lastSeen = Math.max(0, ...recent.slice(0, 2).map((r) => r.counts.seen));
    // In `agent run`, an idle walk thread is kept: no start to pay, so every tree is walked in one.
    this.scanInWorker = this.opts.scanWorker === 'always' || (this.opts.scanWorker !== 'never' && (lastSeen >= SCAN_WORKER_MIN_FILES || walkThreadReady()));
    // The spot check picks each unchanged file with the same chance, sized by the tree the last runs saw.
    const n = this.job.spotCheck ?? SPOT_CHECK_FILES;
    this.spot = n > 0 && !this.dryRun ? { chance: Math.min(1, n / Math.max(1, lastSeen)), cap: 2 * n } : undefined;
    // A walk the command started before it loaded (cli/head-start.ts) saw the tree before the
    // plugins' `beforeRun` (one may mount or snapshot the source there): not trusted then.
    if (hasTaps(hooks.beforeRun)) await stopHeadStart();
    await hooks.beforeRun.promise(this.ctx);
    const roots = await hooks.scanRoots.promise(await resolveRoots(this.job, config, this.deps.resolvePreset), this.ctx);
    this.record.sources = roots.map((r) => r.path);
    if (this.opts.paths) {
      // The first run of the month propagates the deletions a `monthly` policy held back: all of them.
      if (this.job.deletions === 'monthly' && (await firstRunOfMonth(index, this.job.id, this.runId, this.now))) this.note('the first run of the month looks at every file (deletions held back until now are propagated)');
      else this.scopes = scopesOf(roots, this.opts.paths);
    }
    this.maxFileSize = this.job.maxFileSize !== undefined ? parseSize(this.job.maxFileSize) : undefined;
    this.filterHook = hasTaps(hooks.filterEntry) ? (e: FileEntry) => hooks.filterEntry.promise(e, this.ctx) : undefined;
    this.beforeUploadUsed = hasTaps(hooks.beforeUpload);
    this.afterUploadUsed = hasTaps(hooks.afterUpload);
    return roots;
  }

  // ---- open the targets: each checked, owned and indexed; one that cannot be used stops alone ---

  private async openTargets(): Promise<Lane[]> {
    // Each target is opened and prepared on its own (a USB disk and a bucket answer at their own
    // pace: side by side, the run starts when the slower is ready), its lane kept in config order.
    for (const { lane, notes } of await Promise.all(this.targetIds.map((id) => this.openLane(id)))) {
      this.lanes.push(lane);
      for (const n of notes) this.note(n);
    }
    const live = this.lanes.filter((l) => !l.s.fatal);
    for (const l of live) l.s.startRecord = { ...this.record };
    return live;
  }

  /** One target of the run: opened, checked, owned and indexed; one that cannot be used stops alone (its lane says why). Its notes are said in config order by openTargets. */
  private async openLane(id: string): Promise<{ lane: Lane; notes: string[] }> {
    const notes: string[] = [];
    let target: Target;
    try {
      target = await this.deps.openTarget(id);
      this.opened.push(target);
    } catch (e) {
      const s = new TargetSession({ ...this.sessionBase(id), target: undefined as unknown as Target });
      s.fatal = { reason: HokanError.is(e) && e.exitCode === 2 ? 'invalid-settings' : reasonOf(e), message: describeError(e) };
      return { lane: new Lane(s), notes };
    }
    const s = new TargetSession({ ...this.sessionBase(id), target });
    try {
      await s.prepare({ write: !this.dryRun, waitMs: this.opts.waitMs });
      if (s.caughtUp) notes.push(`${id}: the target moved on since this index last saw it (run ${s.caughtUp.run} by device ${s.caughtUp.device}, another data folder or machine): the index was brought up to date from the target first`);
      if (s.rotated) {
        const { to, known } = s.rotated;
        const disk = s.result.disk ?? to;
        notes.push(
          !to
            ? `${id}: a new disk in the rotation${disk ? ` (${disk.slice(0, 8)})` : ''}: everything is sent to it`
            : `${id}: disk ${to.slice(0, 8)} of the rotation is in: ${known ? 'what changed since its own last backup is sent' : 'this index had not seen it, so what it holds was read from its journal first'}`,
        );
      }
      if (s.wasReset) {
        s.addReason('target-reset');
        notes.push(`${id}: the target was wiped or replaced since this index last saw it (this job's marker is gone or another): everything is sent to it again`);
      }
    } catch (e) {
      const owned = HokanError.is(e) && (e.code === 'E_TARGET_OWNED' || e.code === 'E_MARKER_DAMAGED');
      const busy = HokanError.is(e) && e.code === 'E_TARGET_BUSY';
      const reset = HokanError.is(e) && e.code === 'E_TARGET_RESET';
      s.fatal = { reason: owned ? 'invalid-settings' : busy ? 'target-busy' : reset ? 'target-reset' : reasonOf(e) === 'io-error' ? 'target-unavailable' : reasonOf(e), message: describeError(e) };
      await s.releaseLease();
      // The run's summary says it to the person; the log keeps the detail (`-v` shows it too).
      this.logger.debug({ target: id, err: s.fatal.message }, 'target cannot be used');
    }
    return { lane: new Lane(s), notes };
  }

  private sessionBase(id: string) {
    const { index, config } = this.deps;
    return {
      index,
      job: this.job.id,
      targetId: id,
      fingerprint: targetFingerprint(config, id),
      device: config.device,
      runId: this.runId,
      generations: this.job.generations,
      dryRun: this.dryRun,
      logger: this.logger,
      retry: this.retry,
      forbiddenChars: this.job.forbiddenChars,
      maxPathLength: this.job.maxPathLength,
      onTargetReset: this.job.onTargetReset ?? 'resend',
      rotate: config.targets[id]?.rotate === true,
      maxFileSize: this.maxFileSize,
      nextSeq: () => ++this.seq,
      adoptOrphans: this.afterCrash,
      window: this.deps.window,
      onBytes: (n: number) => {
        this.progress.bytesDone += n;
      },
    };
  }

  // ---- scan and filter one root, and compare it with what each target holds -----------------

  /** How a whole root is walked (a watched run narrows it: scoped-scan.ts). */
  private fullScanOptions(root: SourceRoot) {
    const job = this.job;
    const onSkip = (rel: string, reason: string, kind: string) => this.noteFiltered(root, rel, reason, kind);
    return { filters: job.filters, followSymlinks: job.followSymlinks, folders: true, filter: this.filterHook, signal: this.ctrl.signal, onSkip };
  }

  private async scanRoot(root: SourceRoot, live: Lane[]): Promise<void> {
    const { index } = this.deps;
    const job = this.job;
    const rootLanes = live.filter((l) => !l.s.fatal);
    const cursors = rootLanes.map((l) => new HeldCursor(index.heldBatches(job.id, l.s.id, root.name)));
    const errorPrefixes: string[] = [];
    let rootError: string | undefined;
    let seen = 0;
    const underError = (rel: string) => errorPrefixes.some((p) => rel === p || rel.startsWith(p + '/'));
    // Held paths the walk passed: deletion candidates (unless under a folder that could not be read).
    // A watched run: only what is under its paths (none: every held entry is only counted).
    const scope = this.scopes?.get(root.name);
    const scoped = scope && !scope.whole ? scope : undefined;
    const passed = rootLanes.map((lane) => (rel: string, held: HeldFile) => {
      if (!held.cur) {
        if (this.expires(held)) lane.expired.push({ root: root.name, rel, held });
        return;
      }
      const outOfScope = underError(rel) || (scoped !== undefined && !scoped.covers(rel));
      if (held.cur.dir) {
        if (!outOfScope && lane.folderCandidates.length <= job.deletionThreshold.count) lane.folderCandidates.push({ root: root.name, rel, held });
        return;
      }
      lane.heldFiles++;
      if (outOfScope) return;
      lane.candidateCount++;
      if (lane.candidates.length <= job.deletionThreshold.count) lane.candidates.push({ root: root.name, rel, held });
    });

    // A source is a folder: a single file would be stored as `file.txt/file.txt` and could not be
    // restored in place. Said, with the way to take one file; nothing is deleted for it.
    // The walk started before the targets were opened, if it is this root's (see `run`).
    const early = this.early?.root === root ? this.early.worker : undefined;
    if (early) this.early = undefined;
    const st = await stat(root.path).catch(() => undefined);
    if (st && !st.isDirectory()) {
      rootError = `the source ${root.path} is a file, not a folder: give its folder as "path", with "include": ["${basename(root.path)}"] to take only this file`;
      await early?.close();
      for (const c of cursors) await c.close();
      this.guardRoot(root, rootLanes, rootError, 0);
      return;
    }
    const fullOpts = this.fullScanOptions(root);
    const scanOpts = scoped ? scopedScanOptions(root, fullOpts, scoped) : fullOpts;
    if (scoped) await early?.close();
    // A walk the command started before it loaded (cli/head-start.ts) is taken over if it is this one.
    const worker = this.opts.scanWorker === 'never' || scoped ? undefined : (early ?? scanWorkerFor(root, scanOpts, this.scanInWorker));
    if (worker?.headStart) this.logger.debug({ root: root.path }, 'the walk had a head start (started before the command loaded)');
    try {
      scan: for await (const batch of scanRootBatches(root, { ...scanOpts, worker })) {
        for (const item of batch) {
          if (this.ctrl.signal.aborted) break scan;
          if (item.type === 'error') {
            if (item.rel === '') {
              rootError = item.message;
              break scan;
            }
            errorPrefixes.push(item.rel);
            for (const lane of rootLanes) await this.finish(lane, item as unknown as FileEntry, lane.s.record(fileKey(root.name, item.rel), 'failed', item.reason, undefined, undefined, item.message), false);
            continue;
          }
          const held = this.opts.gate?.();
          if (held) await held;
          if (this.ctrl.signal.aborted) break scan;
          seen++;
          if (item.type !== 'dir') {
            this.record.counts.seen++;
            this.progress.filesSeen++;
          }
          for (let i = 0; i < rootLanes.length; i++) await this.compareOne(rootLanes[i]!, cursors[i]!, passed[i]!, root, item);
        }
        this.tick();
      }
      for (let i = 0; i < rootLanes.length; i++) await cursors[i]!.drain(passed[i]!);
    } finally {
      await worker?.close(); // also when the walk never started (a thread left running would keep the agent alive)
      for (const c of cursors) await c.close();
    }
    // A watched run that saw nothing under its paths (a file deleted): the full run's guard asks
    // whether the source has any file at all (it holds back deletions and retention).
    if (scoped && seen === 0 && rootError === undefined && rootLanes.some((l) => l.candidates.some((c) => c.root === root.name) || l.expired.some((c) => c.root === root.name))) {
      if (await rootHasFile(root, fullOpts)) seen = 1;
    }
    this.guardRoot(root, rootLanes, rootError, seen);
  }

  /** One scanned entry against what one target holds: clear what is in its way, then decide. */
  private async compareOne(lane: Lane, cursor: HeldCursor, passed: (rel: string, held: HeldFile) => void, root: SourceRoot, item: FileEntry): Promise<void> {
    if (lane.s.fatal) {
      // The target stopped (unplugged, full): the rest is counted as skipped, the reason is on the run.
      if (item.type !== 'dir') lane.s.result.counts.skipped++;
      return;
    }
    let held = cursor.advance(item.rel, passed);
    while (held === NEED_MORE) {
      await cursor.fill();
      held = cursor.advance(item.rel, passed);
    }
    if (held?.cur && !held.cur.dir) lane.heldFiles++;
    // A folder that became a file: what the target holds under it leaves first, whatever the
    // deletion policy (a disk cannot hold a file and a folder of one name).
    if (item.type !== 'dir' && cursor.mayHoldUnder(item.rel)) {
      for (const [rel, h] of await cursor.takeUnder(item.rel)) {
        if (!h.cur) {
          if (this.expires(h)) lane.expired.push({ root: root.name, rel, held: h });
          continue;
        }
        await Promise.all(lane.inflight);
        if (h.cur.dir) {
          await this.removeFolder(lane, root.name, rel, h);
          continue;
        }
        lane.heldFiles++;
        await this.finish(lane, item, await lane.s.remove(root.name, rel, h), false);
      }
    }
    if (item.type === 'dir') return this.folder(lane, item, held);
    // A file that became a folder: its old file must leave before anything goes beneath it.
    const last = lane.candidates.at(-1);
    if (last && last.root === root.name && item.rel.startsWith(last.rel + '/')) {
      lane.candidates.pop();
      lane.candidateCount--;
      await Promise.all(lane.inflight);
      await this.finish(lane, item, await lane.s.remove(last.root, last.rel, last.held), false);
    }
    const pending = this.decide(lane, item, held);
    if (pending) await pending;
    if (lane.refresh.length >= REFRESH_BATCH) await this.flushRefresh(lane);
  }

  /**
   * A folder: new (or in place of a file or link) → a version of its own; the same folder with other
   * permission bits or mtime → recorded on its version in place; else nothing. Folders are not
   * counted among the files (`seen`, `uploaded`…); only a failure is recorded.
   */
  private async folder(lane: Lane, item: FileEntry, held: HeldFile | undefined): Promise<void> {
    const cur = held?.cur;
    let failed: FileRecord | undefined;
    if (cur?.dir) {
      if (cur.mode === permissionBits(item) && cur.mtimeMs === item.mtimeMs && !ownerChanged(item, cur)) return;
      const out = await lane.s.recordFolder(item, held!);
      if (out && 'pending' in out) {
        // Recorded with its window: only a failure of it (the window's flush) is counted.
        lane.unsettled++;
        out.pending
          .then((r) => (r.status === 'failed' ? this.finish(lane, item, r, false) : undefined))
          .catch((e) => this.logger.error({ err: describeError(e) }, 'unexpected failure in the upload queue'))
          .finally(() => lane.settledOne());
        return;
      }
      failed = out;
    } else {
      // What it replaces (a file's object) must leave before anything goes beneath it.
      if (cur) await Promise.all(lane.inflight);
      const rec = await lane.s.upload(item, held);
      failed = 'pending' in rec || rec.status !== 'failed' ? undefined : rec;
      // A file or link where a folder now is: gone from the source, counted and listed as deleted.
      if (!failed && cur && !lane.s.fatal) await this.finish(lane, item, lane.s.record(fileKey(item.root.name, item.rel), 'deleted', undefined, cur.size), false);
    }
    if (failed) await this.finish(lane, item, failed, false);
  }

  /** A held folder gone from the source (or in the way of a file): recorded; only a failure counts. */
  private async removeFolder(lane: Lane, root: string, rel: string, held: HeldFile): Promise<void> {
    const rec = await lane.s.remove(root, rel, held);
    if (rec.status === 'failed') await this.finish(lane, { root: { name: root }, rel } as unknown as FileEntry, rec, false);
  }

  /** Never let a missing or empty source folder delete what the target holds. */
  private guardRoot(root: SourceRoot, rootLanes: Lane[], rootError: string | undefined, seen: number): void {
    if (rootError === undefined && seen > 0) return;
    const msg = rootError ?? `the source folder ${root.path} is empty`;
    for (const lane of rootLanes) {
      const dropped = lane.candidates.filter((c) => c.root === root.name).length;
      if (rootError !== undefined || dropped > 0 || lane.folderCandidates.some((c) => c.root === root.name)) {
        lane.s.addReason('invalid-settings');
        this.runReasons.add('invalid-settings');
        this.note(`${msg}; nothing was deleted from the targets`);
      }
      lane.candidateCount -= dropped;
      for (let j = lane.candidates.length - 1; j >= 0; j--) if (lane.candidates[j]!.root === root.name) lane.candidates.splice(j, 1);
      for (let j = lane.folderCandidates.length - 1; j >= 0; j--) if (lane.folderCandidates[j]!.root === root.name) lane.folderCandidates.splice(j, 1);
      // Nor let retention act on a root that could not be read: its clock is not the question then.
      for (let j = lane.expired.length - 1; j >= 0; j--) if (lane.expired[j]!.root === root.name) lane.expired.splice(j, 1);
    }
  }

  /** Same content as held? Size and mtime first; inode and ctime when the index has them. Sync when unchanged. */
  private decide(lane: Lane, entry: FileEntry, held: HeldFile | undefined): void | Promise<void> {
    const cur = held?.cur;
    if (cur && entry.type === 'symlink' && cur.link === entry.linkTarget) return this.unchanged(lane, entry, held!, false) ? this.enqueue(lane, () => this.spotCheckOne(lane, entry, held!)) : undefined;
    // A copy `agent verify` found damaged or missing is sent again whatever the file's stat says.
    if (cur && cur.link === undefined && cur.damaged === undefined && entry.type === 'file' && cur.size === entry.size && cur.mtimeMs === entry.mtimeMs) {
      // An index rebuilt from the target knows no inode or ctime: size and mtime alone would miss
      // content rewritten in place with its mtime put back, so such a file is hashed once (and its
      // inode and ctime recorded) — the first run after a rebuild reads the tree.
      const inoOk = this.job.ignoreInode || held!.ino === entry.ino;
      const ctimeOk = this.job.ignoreCtime || held!.ctimeMs === entry.ctimeMs;
      if (inoOk && ctimeOk && !this.opts.full) {
        if (modeChanged(entry, held!)) return this.enqueue(lane, () => this.modeOnly(lane, entry, held!));
        return this.unchanged(lane, entry, held!, false) ? this.enqueue(lane, () => this.spotCheckOne(lane, entry, held!)) : undefined;
      }
      // Same size and time but another (or unknown) inode/ctime, or --full: hash locally before sending anything.
      return this.enqueue(lane, async () => {
        let same = false;
        try {
          same = (await hashFile(entry.abs)) === cur.sha256;
        } catch {
          same = false;
        }
        if (!same) await this.transfer(lane, entry, held, true);
        else if (modeChanged(entry, held!)) await this.modeOnly(lane, entry, held!);
        else if (this.unchanged(lane, entry, held!, true)) await this.spotCheckOne(lane, entry, held!); // in this slot already
      });
    }
    this.progress.bytesQueued += entry.size;
    return this.enqueue(lane, () => this.transfer(lane, entry, held, true));
  }

  /** Same content, other permission bits: recorded, nothing sent. */
  private async modeOnly(lane: Lane, entry: FileEntry, held: HeldFile): Promise<void> {
    await this.finish(lane, entry, await lane.s.recordMode(entry, held), false);
  }

  /** Counts an unchanged file; true when the spot check picked it (the caller looks it up: spotCheckOne). */
  private unchanged(lane: Lane, entry: FileEntry, held: HeldFile, refresh: boolean): boolean {
    lane.s.result.counts.unchanged++;
    this.progress.filesDone++;
    if (refresh && !this.dryRun) lane.refresh.push(lane.s.refreshOp(entry, held));
    const spot = this.spot;
    if (!spot || !held.cur || !storesObject(held.cur) || lane.spotChecked >= spot.cap || Math.random() >= spot.chance) return false;
    lane.spotChecked++;
    return true;
  }

  /**
   * The per-run spot check (issue 24) of one unchanged file, picked during the walk (each with the
   * same chance, `spot`) so that the looks overlap the walk instead of following it: its stored copy
   * is there and of the recorded size. One that is not is sent again now (over whatever is there, as
   * after `agent verify`) and said, long before a full verify would have found it. A target that
   * cannot answer is left for the next run.
   */
  private async spotCheckOne(lane: Lane, entry: FileEntry, held: HeldFile): Promise<void> {
    if (lane.s.fatal || this.ctrl.signal.aborted) return;
    const why = await lane.s.spotCheck(entry.root.name, entry.rel, held);
    if (!why) return;
    lane.spotBad.push(fileKey(entry.root.name, entry.rel));
    lane.s.result.counts.unchanged--;
    await this.transfer(lane, entry, { ...held, cur: { ...held.cur!, damaged: why } }, false);
  }

  // ---- transfer: one file to one target, through the plugins' beforeUpload and afterUpload ----

  private async transfer(lane: Lane, entry: FileEntry, held: HeldFile | undefined, defer: boolean): Promise<void> {
    let rec: FileRecord;
    try {
      if (this.beforeUploadUsed) {
        const item = await this.deps.hooks.beforeUpload.promise({ entry, targetId: lane.s.id, key: fileKey(entry.root.name, entry.rel) }, this.ctx);
        if (item.skip) {
          await this.finish(lane, entry, lane.s.record(item.key, 'skipped', undefined, entry.size, undefined, item.skip.reason), false);
          return;
        }
      }
      const out = await lane.s.upload(entry, held, this.ctrl.signal);
      if ('pending' in out) return this.finishLater(lane, entry, out.pending, defer);
      rec = out;
    } catch (e) {
      rec = lane.s.failure(fileKey(entry.root.name, entry.rel), e, entry.size);
    }
    await this.finish(lane, entry, rec, defer);
  }

  /** A record the window will give (deferred durability): the slot is free for the next file meanwhile. */
  private finishLater(lane: Lane, entry: FileEntry, pending: Promise<FileRecord>, defer: boolean): void {
    lane.unsettled++;
    pending
      .then((r) => this.finish(lane, entry, r, defer))
      .then(
        () => lane.settledOne(),
        (e) => {
          this.logger.error({ err: describeError(e) }, 'unexpected failure in the upload queue');
          lane.settledOne();
        },
      );
  }

  /**
   * Something the walk left out (a filter, a hidden name, a special file): counted per kind on the
   * run and listed as a `filtered` record (`show RUN --filtered`), the first FILTERED_LISTED of them.
   */
  private noteFiltered(root: SourceRoot, rel: string, reason: string, kind: string): void {
    const k = filterKindOf(reason, kind);
    const f = (this.record.filtered ??= {});
    f[k] = (f[k] ?? 0) + 1;
    if (this.dryRun || ++this.filteredListed > FILTERED_LISTED) return;
    const folder = kind === 'dir';
    this.fileLog.add(this.fileOps, ++this.seq, { path: fileKey(root.name, rel) + (folder ? '/' : ''), target: '', status: 'filtered', message: folder ? `${reason} (a folder: nothing under it was looked at)` : reason });
  }

  /** A file's final record: counted, written to the index in batches, given to afterUpload. */
  private async finish(lane: Lane, entry: FileEntry, rec: FileRecord, deferOnNetwork: boolean): Promise<void> {
    if (deferOnNetwork && rec.reason === 'network-error' && !lane.s.fatal && lane.retryLater.length < 10_000) {
      lane.retryLater.push({ entry });
      return;
    }
    lane.s.tally(rec);
    if (rec.status !== 'unchanged' && !this.dryRun) this.fileLog.add(this.fileOps, ++this.seq, rec);
    if (this.afterUploadUsed) await this.deps.hooks.afterUpload.promise({ item: { entry, targetId: lane.s.id, key: rec.path }, record: rec }, this.ctx);
    this.progress.filesDone++;
    if (this.fileOps.length >= 200) await this.flushFileOps();
  }

  /**
   * Starts `work` in a slot of the lane; a promise only when it has to wait for a free slot (most
   * files find one: no promise and no await of it per file).
   */
  private enqueue(lane: Lane, work: () => Promise<void>): Promise<void> | undefined {
    const cap = Math.max(1, lane.s.caps.maxConnections);
    if (lane.inflight.size >= cap) return lane.slot(cap).then(() => this.startWork(lane, work));
    this.startWork(lane, work);
    return undefined;
  }

  /** One `then` for both outcomes (a `.catch().finally()` allocated four more promises and closures a file). */
  private startWork(lane: Lane, work: () => Promise<void>): void {
    const p: Promise<void> = work().then(
      () => lane.done(p),
      (e: unknown) => {
        this.logger.error({ err: describeError(e) }, 'unexpected failure in the upload queue');
        lane.done(p);
      },
    );
    lane.inflight.add(p);
  }

  /** Waits for everything of a lane: transfers in flight, then their window (flushed and recorded). */
  private async drain(lane: Lane): Promise<void> {
    while (lane.inflight.size) await Promise.all(lane.inflight);
    await lane.s.settle();
    await lane.allSettled();
  }

  /** Says what the spot check found (spotCheckOne), per target. */
  private noteSpotCheck(live: Lane[]): void {
    for (const lane of live) {
      const bad = lane.spotBad;
      if (bad.length) this.note(`${lane.s.id}: the spot check found ${bad.length} of ${lane.spotChecked} files checked missing or damaged there (${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}): sent again — run \`agent verify\` to check everything`);
    }
  }

  /** One more pass for files that failed on the network, after the per-request backoff retries. */
  private async retryPass(live: Lane[]): Promise<void> {
    for (const lane of live) {
      const again = lane.retryLater.splice(0);
      for (const { entry } of again) {
        if (this.ctrl.signal.aborted) break;
        const held = await this.deps.index.getHeld(this.job.id, lane.s.id, entry.root.name, entry.rel);
        await this.enqueue(lane, () => this.transfer(lane, entry, held, false));
      }
      await this.drain(lane);
    }
  }

  // ---- deletions: by policy, guarded by the threshold --------------------------------------

  private async applyDeletions(live: Lane[]): Promise<void> {
    const job = this.job;
    const propagate = job.deletions === 'every-run' || (job.deletions === 'monthly' && (await firstRunOfMonth(this.deps.index, job.id, this.runId, this.now)));
    for (const lane of live) {
      if (lane.s.fatal || !propagate || (lane.candidateCount === 0 && lane.folderCandidates.length === 0)) continue;
      const n = lane.candidateCount;
      const pct = lane.heldFiles ? (n * 100) / lane.heldFiles : 0;
      const { count, percent } = job.deletionThreshold;
      if (n > count || (n >= PERCENT_GUARD_MIN_FILES && pct > percent)) {
        lane.s.addReason('deletion-threshold');
        this.runReasons.add('deletion-threshold');
        this.note(`${n} files (${pct.toFixed(0)}%) would be deleted from ${lane.s.id}, more than the threshold (${count} files or ${percent}%); nothing was deleted — check the sources, or raise deletionThreshold`);
        continue;
      }
      for (const c of lane.candidates) {
        await this.enqueue(lane, async () => {
          const entry = { root: { name: c.root }, rel: c.rel } as unknown as FileEntry;
          const out = await lane.s.removeInWindow(c.root, c.rel, c.held);
          if ('pending' in out) this.finishLater(lane, entry, out.pending, false);
          else await this.finish(lane, entry, out, false);
        });
      }
      // Every deletion recorded (its window flushed) before the folders that held them go.
      await this.drain(lane);
      // More folders gone than the threshold's count: kept this run (they hold nothing on the target).
      if (lane.folderCandidates.length <= job.deletionThreshold.count) for (const c of lane.folderCandidates) await this.removeFolder(lane, c.root, c.rel, c.held);
    }
  }

  /**
   * `keepDeletedDays`: a file deleted at the source (no current version) whose deletion is at least
   * that many days before this run loses every kept version. On purpose, by the job's own rule, and
   * recorded in the journal (`drop` lines) so restores as of earlier runs say `version-pruned`.
   */
  private expires(held: HeldFile): boolean {
    const days = this.job.keepDeletedDays;
    const del = held.old[0]?.del;
    return days !== undefined && del !== undefined && this.now.getTime() - runIdTime(del).getTime() >= days * DAY_MS;
  }

  private async applyExpiry(live: Lane[]): Promise<void> {
    for (const lane of live) {
      if (lane.s.fatal || !lane.expired.length) continue;
      let n = 0;
      for (const c of lane.expired) {
        await this.enqueue(lane, async () => {
          if (await lane.s.expire(c.root, c.rel, c.held)) n++;
        });
      }
      await this.drain(lane);
      if (n) this.note(`${n} file(s) deleted at the source more than "keepDeletedDays": ${this.job.keepDeletedDays} days ago are no longer kept on ${lane.s.id}`);
    }
  }

  // ---- results, closing the run on each target, and the report -------------------------------

  private results(): void {
    const run = this.record;
    if (this.filteredListed > FILTERED_LISTED) this.note(`${this.filteredListed} paths were left out by the filters: all are counted, the first ${FILTERED_LISTED} listed (agent show RUN --filtered)`);
    run.targetResults = this.lanes.map((l) => l.s.finishResult());
    for (const r of run.targetResults) {
      for (const k of ['uploaded', 'unchanged', 'deleted', 'skipped', 'failed'] as const) run.counts[k] += r.counts[k];
      run.bytes += r.bytes;
      for (const reason of r.reasons) this.runReasons.add(reason);
    }
    const reasons = [...this.runReasons];
    run.reasons = reasons.length > 1 ? ['multiple-errors', ...reasons] : reasons;
    run.status = this.ctrl.signal.aborted ? 'aborted' : run.error || reasons.length ? 'incomplete' : 'completed';
    if (!run.error && this.lanes.length && this.lanes.every((l) => l.s.fatal)) run.error = this.lanes.map((l) => `${l.s.id}: ${l.s.fatal!.message}`).join('; ');
    run.end = new Date().toISOString();
  }

  /** Journal, record, compaction and housekeeping on every target that took part. */
  /** The run's close on each target, side by side (each target's own records: none waits for another). */
  private async closeOnTargets(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => this.closeOnTarget(lane)));
  }

  private async closeOnTarget(lane: Lane): Promise<void> {
    const { index } = this.deps;
    const s = lane.s;
    if (this.dryRun || !s.state || s.fatal?.reason === 'target-unavailable') return;
    try {
      await s.flushJournal();
      await s.writeRunRecord(this.record);
      // Every run moves the head on (a run that changed nothing only its `seq`: a reader then takes its record alone).
      await s.writeHead('closed');
      const { state, compact } = closingState(s.state, s.changeCount, lane.heldFiles);
      if (compact) {
        await writeSnapshot(index, s.store, this.job.id, s.id, this.runId);
        state.lastSnapshot = this.runId;
        state.runsSinceSnapshot = 0;
        state.changesSinceSnapshot = 0;
      }
      await index.batch([index.targetStateOp(this.job.id, s.id, state)]);
      // After a crash (and with compaction), clear what interrupted writes left in this job's place
      // (one owner per place, so anything older than this run is stale), except uploads the index
      // means to resume.
      if (s.o.target.cleanup && (compact || this.afterCrash)) {
        const resuming = await index.resumingKeys(s.id);
        const prefix = s.store.fullKey('');
        await s.o.target.cleanup({ prefix, olderThanMs: this.afterCrash ? Date.now() - this.now.getTime() : 24 * 3600_000, keep: (k) => !k.startsWith(prefix) || resuming.has(k) });
      }
    } catch (e) {
      this.logger.warn({ target: s.id, err: describeError(e) }, 'could not close the run on the target');
    }
  }

  private async report(): Promise<void> {
    const report = { run: this.record, context: this.ctx };
    await this.deps.hooks.done.promise(report).catch((e) => this.logger.error({ err: describeError(e) }, 'a done hook failed'));
    await this.deps.hooks.report.promise(report).catch((e) => this.logger.error({ err: describeError(e) }, 'a report hook failed'));
  }

  // ---- small shared helpers ---------------------------------------------------------------

  private tick(): void {
    this.opts.onProgress?.(this.progress);
  }

  private note(text: string): void {
    this.record.note = [this.record.note, text].filter(Boolean).join('; ');
  }

  private async flushFileOps(): Promise<void> {
    this.fileLog.flush(this.fileOps);
    const ops = this.fileOps;
    this.fileOps = [];
    await this.deps.index.batch(ops);
  }

  private async flushRefresh(lane: Lane): Promise<void> {
    if (this.dryRun || !lane.refresh.length) return;
    const ops = lane.refresh;
    lane.refresh = [];
    await this.deps.index.batch(ops);
  }
}

/** Whether a file's permission bits differ from those its held version recorded (versions from before modes were kept: no). */
/** Same content, other permission bits or owner: a change recorded without sending the content. */
function modeChanged(entry: FileEntry, held: HeldFile): boolean {
  const cur = held.cur;
  return entry.type === 'file' && cur !== undefined && ((cur.mode !== undefined && permissionBits(entry) !== cur.mode) || ownerChanged(entry, cur));
}

/** Files the spot check looks up on each target per run, unless the job says otherwise (`spotCheck`). */
const SPOT_CHECK_FILES = 20;

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
