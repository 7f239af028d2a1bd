/**
 * Restore drills (issue 19): a random sample of a job's files restored from each of its targets into
 * a temporary folder under the data folder, every file checked against its recorded SHA-256 (by the
 * restore's own writer, which hashes while it writes) and, where the source file is unchanged (same
 * size and mtime as the version held), against the source's SHA-256 too; then the folder is removed.
 *
 * A drill only reads: it never writes to a target and never changes what the index says a target
 * holds (a damaged copy is reported, not marked for the next backup — `agent verify` does that).
 * Like any restore it brings the index up to date from a target another writer moved on
 * (openForReading). It is recorded as a run of kind `restore` with `drill` set, its status its own
 * (`completed`, or `incomplete` with `hash-mismatch` / `not-found` / … and the files named), and
 * told to the `report` hook (the notifiers), like a backup.
 */
import { createReadStream } from 'node:fs';
import { lstat, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HokanError, TargetError, UsageError, describeError } from '../../common/errors.js';
import type { JobConfig } from '../../common/config-types.js';
import type { RunContext } from '../../common/hooks.js';
import { emptyCounts, type DrillInfo, type FileRecord, type RunRecord, type SourceRoot, type TargetRunResult } from '../../common/model.js';
import type { Reason } from '../../common/statuses.js';
import { storesObject, type HeldVersion } from '../index/held-types.js';
import { findJob, type EngineDeps } from './deps.js';
import { reasonOf } from './failure.js';
import { hashStream } from './file-source.js';
import { closeTarget } from './job-store.js';
import { fileKey, newRunId, runIdsAfter } from './layout.js';
import { openForReading, type OpenedJobTarget } from './open-target.js';
import { RestoreDurability, RestoreWriter } from './restore-writer.js';
import { Reservoir } from './reservoir.js';
import { resolveRoots } from './sources.js';

export { Reservoir };

/** The folder under the data folder that drills restore into (`drills/JOB/RUN`, always removed). */
export const DRILL_DIR = 'drills';
/** Files per target when neither the job's `drill.sample` nor `--sample` says. */
export const DEFAULT_DRILL_SAMPLE = 100;

/** How many files a drill takes from each target: a count, or a percentage of what the target holds. */
export type DrillSample = { count: number } | { percent: number };

/** `200`, `"200"`, `"2%"` → a sample; throws a UsageError naming `what` for anything else. */
export function parseSample(value: number | string | undefined, what = 'sample'): DrillSample {
  if (value === undefined) return { count: DEFAULT_DRILL_SAMPLE };
  const s = String(value).trim();
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(s);
  if (pct) {
    const p = Number(pct[1]);
    if (p > 0 && p <= 100) return { percent: p };
  } else if (/^\d+$/.test(s) && Number(s) >= 1) return { count: Number(s) };
  throw new UsageError(`${what} must be a number of files (200) or a percentage above 0 and at most 100 ("2%"), not ${JSON.stringify(value)}`);
}

export function sampleText(s: DrillSample): string {
  return 'count' in s ? `${s.count} file${s.count === 1 ? '' : 's'}` : `${s.percent}%`;
}

/** One file a drill restores: where it is held, and the version the index says is current. */
export interface DrillPick {
  root: string;
  rel: string;
  ver: HeldVersion;
}

/**
 * The sample of one target: current versions of files (not links, folders or deleted files), drawn
 * by reservoir sampling over the index's entries. A percentage needs the count first: one more read
 * of the index's entries, nothing held in memory but the reservoir.
 */
export async function sampleHeld(deps: EngineDeps, job: string, target: string, sample: DrillSample, random: () => number = Math.random): Promise<{ picks: DrillPick[]; held: number }> {
  const candidates = async function* () {
    for await (const [root, rel, held] of deps.index.heldAll(job, target)) if (held.cur && storesObject(held.cur)) yield { root, rel, ver: held.cur };
  };
  let k: number;
  if ('count' in sample) k = sample.count;
  else {
    let n = 0;
    for await (const _ of candidates()) n++;
    k = n ? Math.max(1, Math.ceil((n * sample.percent) / 100)) : 0;
  }
  const r = new Reservoir<DrillPick>(k, random);
  if (k > 0) for await (const p of candidates()) r.offer(p);
  return { picks: [...r.items], held: r.seen };
}

export interface DrillOptions {
  job: string;
  /** Only this target (default: every target of the job). */
  target?: string;
  /** Default: the job's `drill.sample`, else DEFAULT_DRILL_SAMPLE files. */
  sample?: DrillSample;
  /** What started it (recorded on the run). */
  trigger?: DrillInfo['trigger'];
  signal?: AbortSignal;
  /** Tests: a seeded random source. */
  random?: () => number;
}

export interface DrillResult {
  run: RunRecord;
  files: FileRecord[];
}

const sameTime = (a: number, b: number) => Math.abs(a - b) < 1;

/** Runs one drill of a job: every target (or the one asked for), recorded as a `restore` run with `drill` set. */
export async function runDrill(deps: EngineDeps, opts: DrillOptions): Promise<DrillResult> {
  const { index, config, hooks } = deps;
  const logger = deps.logger.child('drill');
  const job = findJob(config, opts.job);
  if (opts.target && !job.targets.includes(opts.target)) throw new UsageError(`job "${job.id}" has no target "${opts.target}"`, { hint: `its targets: ${job.targets.join(', ')}` });
  const sample = opts.sample ?? parseSample(job.drill?.sample, `jobs.${job.id}.drill.sample`);
  const roots = await resolveRoots(job, config, deps.resolvePreset).catch(() => [] as SourceRoot[]);
  const rootPaths = new Map(roots.map((r) => [r.name, r.path]));
  const now = new Date();
  runIdsAfter((await index.listRuns({ limit: 1, total: false })).runs[0]?.id);
  const runId = newRunId(now);
  const drill: DrillInfo = { sample: sampleText(sample), files: 0, sourceChecked: 0, trigger: opts.trigger ?? 'command' };
  const targetIds = opts.target ? [opts.target] : job.targets;
  const run: RunRecord = {
    id: runId,
    job: job.id,
    kind: 'restore',
    status: 'running',
    reasons: [],
    start: now.toISOString(),
    device: config.device,
    sources: roots.map((r) => r.path),
    targets: targetIds,
    counts: emptyCounts(),
    bytes: 0,
    targetResults: [],
    drill,
  };
  const signal = opts.signal ?? new AbortController().signal;
  const ctx: RunContext = { runId, kind: 'restore', job, device: config.device, dryRun: false, full: false, signal, logger };
  await index.putRun(run);

  // The drill's own folder under the data folder (never in a source or a target); a folder a killed
  // drill left behind goes first. Removed at the end whatever happens.
  const base = join(index.dataDir, DRILL_DIR, job.id);
  const folder = join(base, runId);
  const files: FileRecord[] = [];
  const reasons = new Set<Reason>();
  const bad: string[] = [];
  try {
    await rm(base, { recursive: true, force: true });
    await mkdir(folder, { recursive: true });
    for (const id of targetIds) {
      if (signal.aborted) break;
      const tr = await drillTarget(deps, job, id, sample, { folder: join(folder, String(targetIds.indexOf(id))), rootPaths, signal, random: opts.random, files, drill, logger });
      run.targetResults!.push(tr);
      for (const r of tr.reasons) reasons.add(r);
      run.counts.seen += tr.counts.seen;
      run.counts.restored += tr.counts.restored;
      run.counts.failed += tr.counts.failed;
      run.bytes += tr.bytes;
      if (tr.error) bad.push(`${id}: ${tr.error}`);
    }
  } finally {
    await rm(folder, { recursive: true, force: true }).catch((e) => logger.warn({ folder, err: describeError(e) }, 'could not remove the drill folder'));
  }
  for (const f of files) if (f.status === 'failed') bad.push(`${f.path} on ${f.target} (${f.reason})`);
  const rs = [...reasons].sort();
  run.reasons = rs.length > 1 ? ['multiple-errors', ...rs] : rs;
  run.status = signal.aborted ? 'aborted' : rs.length ? 'incomplete' : 'completed';
  run.end = new Date().toISOString();
  run.note = `restore drill of ${drill.files} file(s) (sample ${drill.sample} per target${drill.trigger === 'schedule' ? ', scheduled' : ''}): ${drill.files - run.counts.failed} intact${drill.sourceChecked ? `, ${drill.sourceChecked} also compared with the unchanged source` : ''}`;
  if (bad.length) run.note += `; not intact: ${bad.slice(0, 20).join(', ')}${bad.length > 20 ? `, … (${bad.length} in all: agent show ${runId})` : ''}`;
  // No target could be reached (a disk unplugged): the drill did not happen, as a backup's run would say.
  if (!signal.aborted && run.targetResults!.length && run.targetResults!.every((t) => t.reasons.includes('target-unavailable'))) {
    run.status = 'not-executed';
    run.error = bad.join('; ');
  }
  await index.putRun(run);
  await index.batch(index.fileOps(runId, files));
  logger.info({ run: runId, job: job.id, counts: run.counts, status: run.status }, 'drill finished');
  const report = { run, context: ctx };
  await hooks.report.promise(report).catch((e) => logger.error({ err: describeError(e) }, 'a report hook failed'));
  return { run, files };
}

/** One target's part of a drill: its sample restored into `folder` (files named by number) and checked. */
async function drillTarget(
  deps: EngineDeps,
  job: JobConfig,
  id: string,
  sample: DrillSample,
  o: { folder: string; rootPaths: Map<string, string>; signal: AbortSignal; random?: () => number; files: FileRecord[]; drill: DrillInfo; logger: import('../../common/logger.js').Logger },
): Promise<TargetRunResult> {
  const tr: TargetRunResult = { id, status: 'running', reasons: [], counts: emptyCounts(), bytes: 0 };
  const reasons = new Set<Reason>();
  let source: OpenedJobTarget;
  try {
    source = await openForReading(deps, job, id);
  } catch (e) {
    tr.status = 'incomplete';
    tr.reasons = [reasonOf(e)];
    tr.error = describeError(e).split('\n')[0];
    return tr;
  }
  try {
    const { picks } = await sampleHeld(deps, job.id, id, sample, o.random);
    tr.counts.seen = picks.length;
    o.drill.files += picks.length;
    await mkdir(o.folder, { recursive: true });
    // Durability is the restore's business, not a drill's: its window never fills, nothing is synced.
    const writer = new RestoreWriter(source, new RestoreDurability({ files: Infinity, bytes: Infinity, ms: Infinity }));
    const maxConn = Math.max(1, source.target.capabilities.maxConnections);
    const inflight = new Set<Promise<void>>();
    const one = async (p: DrillPick, n: number) => {
      const path = fileKey(p.root, p.rel);
      const rec: FileRecord = { path, target: id, status: 'restored', size: p.ver.size, sha256: p.ver.sha256 || undefined };
      const dest = join(o.folder, String(n));
      try {
        // The restore's writer: temporary name, hashed while written, checked against the recorded SHA-256.
        await writer.write({ keys: [path, source.store.versionKey(p.root, p.rel, p.ver.v)], ver: p.ver, tmp: async () => `${dest}.tmp`, dest }, { signal: o.signal });
        tr.bytes += p.ver.size;
        // The source, where it still is the version held (same size and mtime): its bytes must hash the same.
        const rootPath = o.rootPaths.get(p.root);
        if (rootPath && p.ver.sha256) {
          const abs = join(rootPath, ...p.rel.split('/'));
          const st = await lstat(abs).catch(() => undefined);
          if (st?.isFile() && st.size === p.ver.size && sameTime(st.mtimeMs, p.ver.mtimeMs)) {
            const got = await hashStream(createReadStream(abs)).catch(() => undefined);
            if (got && (await lstat(abs).then((s) => s.size === p.ver.size && sameTime(s.mtimeMs, p.ver.mtimeMs)).catch(() => false))) {
              o.drill.sourceChecked++;
              if (got.sha256 !== p.ver.sha256) {
                rec.status = 'failed';
                rec.reason = 'hash-mismatch';
                rec.message = `restored intact from ${id}, but the source ${abs} has SHA-256 ${got.sha256.slice(0, 12)}… with the size and mtime of the version backed up (${p.ver.sha256.slice(0, 12)}…): it changed without a new mtime, or was damaged on this disk`;
              } else rec.message = 'restored intact; the unchanged source has the same SHA-256';
            }
          }
        }
      } catch (e) {
        const code = HokanError.is(e) ? e.code : undefined;
        rec.status = 'failed';
        rec.reason = code === 'E_HASH_MISMATCH' ? 'hash-mismatch' : TargetError.isNotFound(e) ? 'not-found' : reasonOf(e);
        rec.message = describeError(e).split('\n')[0];
      }
      if (rec.status === 'failed') {
        tr.counts.failed++;
        reasons.add(rec.reason!);
        o.logger.warn({ job: job.id, target: id, path, reason: rec.reason, message: rec.message }, 'a drilled file is not intact');
      } else tr.counts.restored++;
      o.files.push(rec);
    };
    let n = 0;
    for (const p of picks) {
      if (o.signal.aborted) break;
      while (inflight.size >= maxConn) await Promise.race(inflight);
      const q: Promise<void> = one(p, ++n).finally(() => inflight.delete(q));
      inflight.add(q);
    }
    await Promise.all(inflight);
    writer.durability.close();
  } catch (e) {
    reasons.add(reasonOf(e));
    tr.error = describeError(e).split('\n')[0];
  } finally {
    await closeTarget(source.target);
  }
  tr.reasons = [...reasons].sort();
  tr.status = o.signal.aborted ? 'aborted' : tr.reasons.length ? 'incomplete' : 'completed';
  return tr;
}
