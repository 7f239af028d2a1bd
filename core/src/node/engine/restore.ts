import { randomBytes } from 'node:crypto';
import { lchown, lstat, mkdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { HokanError, TargetError, UsageError, describeError } from '../../common/errors.js';
import type { JobConfig } from '../../common/config-types.js';
import type { Logger } from '../../common/logger.js';
import { hasTaps, type RunContext } from '../../common/hooks.js';
import { emptyCounts, type FileRecord, type RunRecord, type SourceRoot } from '../../common/model.js';
import type { Reason } from '../../common/statuses.js';
import { formatDate, fsTime } from '../../common/units.js';
import type { HeldFile, HeldVersion, IndexOp } from '../index/index-store.js';
import { crashPoint } from './crash-points.js';
import { findJob, targetFingerprint, type EngineDeps } from './deps.js';
import { reasonOf } from './failure.js';
import { prunedAt, versionAt } from './held.js';
import { retentionRule } from './restorable.js';
import { JobStore, closeTarget } from './job-store.js';
import { fileKey, newRunId, runIdCutoff, runIdTime, runIdsAfter } from './layout.js';
import { restoreFolders, restoresOwner, type HeldFolder } from './restore-folders.js';
import { HOST_NAME_RULES, safeName, unsafeName, type NameRules } from './restore-names.js';
import { resolveRoots } from './sources.js';
import { heldIn, inside, matchPaths } from './path-scope.js';
import { ensureIndexed, ensureOwner, openForReading, type OpenedJobTarget } from './open-target.js';
import { RestoreFolders, RestoreWriter } from './restore-writer.js';

/** The hidden folder a restore stages files in, under each destination root. */
export const STAGING = '.hokan-restore';

export type OverwriteMode = 'never' | 'if-newer' | 'always' | 'rename';

export interface RestoreOptions {
  job: string;
  target?: string;
  /** Source paths (absolute, or relative to a source folder, or `ROOT/rel`); none = everything. */
  paths?: string[];
  at?: Date;
  run?: string;
  /** Restore under this folder (`DIR/ROOT/rel`) instead of the original places. */
  to?: string;
  overwrite?: OverwriteMode;
  includeDeleted?: boolean;
  /**
   * A path whose version as of `--run`/`--at` retention dropped gets the oldest version still kept
   * after it (named in the record and the run's note) instead of being reported `version-pruned`.
   */
  fillPruned?: boolean;
  dryRun?: boolean;
  /** Names the destination cannot hold are written under one it can (restore-names.ts) instead of failing `forbidden-name`. */
  renameUnsafe?: boolean;
  /** Whose name rules the destination follows (default: this system's; tests give 'windows'). */
  nameRules?: NameRules;
  signal?: AbortSignal;
  /**
   * Hears the restore's progress: after every file, and along a big file's copy. With it the run
   * first counts what it will restore (a read of the index's entries, no file touched), for the
   * totals a progress bar and an ETA need.
   */
  onProgress?: (p: RestoreProgress) => void;
  /** Tests: read every target through `get`, as targets without `getToFile` are (the differential test). */
  streamOnly?: boolean;
  /**
   * Which per-file records the result's `files` holds (default: every one). They are written to the
   * index as the restore goes either way; the command keeps only what it prints, so a restore of a
   * million files does not hold a million records (issue 22).
   */
  keepRecord?: (rec: FileRecord) => boolean;
}

export interface RestoreProgress {
  /** Files dealt with (restored, unchanged, skipped or failed) and how many there are in all. */
  filesDone: number;
  filesTotal?: number;
  /** Bytes written, and the bytes of the files dealt with otherwise (unchanged, skipped, failed) counted as done. */
  bytesDone: number;
  bytesTotal?: number;
  failed: number;
}

export { matchPaths } from './path-scope.js';

/** utimes() goes through a double in seconds: a restored mtime may differ from the recorded one by a fraction of a millisecond. */
const sameTime = (a: number, b: number) => Math.abs(a - b) < 1;

/** `report.pdf` → `report (1).pdf`, the first name not taken. */
async function freeName(dest: string): Promise<string> {
  const ext = extname(dest);
  const stem = dest.slice(0, dest.length - ext.length);
  for (let i = 1; ; i++) {
    const candidate = `${stem} (${i})${ext}`;
    try {
      await lstat(candidate);
    } catch {
      return candidate;
    }
  }
}

/** The target a restore reads: the one a plugin's resolveRestoreSource answers with, else the job's (openForReading). */
async function openRestoreSource(deps: EngineDeps, job: JobConfig, opts: RestoreOptions, logger: Logger): Promise<OpenedJobTarget> {
  const { hooks, index, config } = deps;
  const resolved = hasTaps(hooks.resolveRestoreSource) ? await hooks.resolveRestoreSource.promise({ job, targetId: opts.target, paths: opts.paths ?? [], at: opts.at, runId: opts.run }) : undefined;
  if (!resolved) return openForReading(deps, job, opts.target);
  const store = new JobStore(resolved.target, job.id);
  const marker = await ensureOwner(store, config.device, job.id, false); // for the place's layout
  await ensureIndexed(index, store, job.id, resolved.targetId, targetFingerprint(config, resolved.targetId), logger);
  return { id: resolved.targetId, target: resolved.target, store, since: marker?.since };
}

/**
 * The run (or time) a restore asks for is older than what the place holds (it was new to the job,
 * wiped or replaced after that run, issue 24): another target of the job that holds it when none
 * was named, else a clear error — never an empty tree reported as restored.
 */
async function sourceHolding(deps: EngineDeps, job: JobConfig, opts: RestoreOptions, source: OpenedJobTarget, cutoff: string | undefined): Promise<OpenedJobTarget> {
  if (!cutoff || !source.since || cutoff >= source.since) return source;
  const asked = opts.run ? `run ${opts.run}` : `the state at ${formatDate(opts.at!.toISOString())}`;
  const why = `target "${source.id}" holds this job's backups from run ${source.since} on (it was new to the job, or wiped or replaced, then): ${asked} is not on it`;
  await closeTarget(source.target);
  const others: string[] = [];
  if (!opts.target) {
    for (const id of job.targets) {
      if (id === source.id) continue;
      let other: OpenedJobTarget;
      try {
        other = await openForReading(deps, job, id);
      } catch {
        continue;
      }
      if (!other.since || cutoff >= other.since) {
        deps.logger.warn({ target: source.id, instead: id }, why);
        return other;
      }
      others.push(id);
      await closeTarget(other.target);
    }
  }
  const holding = job.targets.filter((id) => id !== source.id && !others.includes(id));
  throw new HokanError('E_RUN_NOT_ON_TARGET', why, {
    hint: holding.length ? `restore it from another target of the job (--target ${holding.join(' or --target ')}), or pick a run from ${source.since} on (see \`agent history\`)` : `pick a run from ${source.since} on (see \`agent history\`)`,
  });
}

/** The last run id a restore may take versions from (`--run`, `--at`; none = the newest), with `--to` checked. */
async function restoreCutoff(deps: EngineDeps, jobId: string, opts: RestoreOptions): Promise<string | undefined> {
  const { index } = deps;
  let cutoff: string | undefined;
  if (opts.run) {
    const r = await index.getRun(opts.run);
    if (!r || r.job !== jobId || r.kind !== 'backup') {
      const { runs } = await index.listRuns({ job: jobId, kind: 'backup', limit: 5, total: false });
      throw new UsageError(`there is no backup run "${opts.run}" of job "${jobId}"`, { hint: runs.length ? `recent runs: ${runs.map((x) => x.id).join(', ')} (see \`agent history\`)` : 'see `agent history`' });
    }
    cutoff = opts.run;
  } else if (opts.at) {
    if (Number.isNaN(opts.at.getTime())) throw new UsageError('--at is not a date', { hint: 'use e.g. "2026-11-01 18:00" or an ISO time' });
    cutoff = runIdCutoff(opts.at);
    // Before the first backup there is nothing to give back: said, not "restored 0" with exit 0.
    const { total } = await index.listRuns({ job: jobId, kind: 'backup', limit: 0 });
    const first = total ? (await index.listRuns({ job: jobId, kind: 'backup', offset: total - 1, limit: 1 })).runs[0] : undefined;
    if (first && cutoff < first.id) {
      throw new UsageError(`--at ${formatDate(opts.at.toISOString())} is before the first backup of job "${jobId}" (${formatDate(first.start)})`, { hint: 'give a time after it (see `agent history`), or leave --at out for the newest' });
    }
  }
  if (opts.to) {
    const st = await stat(resolve(opts.to)).catch(() => undefined);
    if (st && !st.isDirectory()) throw new UsageError(`--to ${opts.to} is not a folder`, { hint: 'give a folder to restore into (it is created if it does not exist)' });
  }
  return cutoff;
}

/**
 * Restores files, folders or the whole tree of a job as of any run, from any of its targets —
 * on a new machine too (the index is rebuilt from the target first). Every file is written to a
 * temporary name, checked against its recorded SHA-256, then renamed into place; nothing is ever
 * written outside the chosen folder, whatever the target's manifests say.
 */
export async function runRestore(deps: EngineDeps, opts: RestoreOptions): Promise<{ run: RunRecord; files: FileRecord[] }> {
  const { index, config, hooks } = deps;
  const logger = deps.logger.child('restore');
  const job = findJob(config, opts.job);
  const roots = await resolveRoots(job, config, deps.resolvePreset).catch(() => [] as SourceRoot[]);
  const overwrite: OverwriteMode = opts.overwrite ?? 'rename';
  const now = new Date();
  runIdsAfter((await index.listRuns({ limit: 1, total: false })).runs[0]?.id);
  const runId = newRunId(now);
  const run: RunRecord = {
    id: runId,
    job: job.id,
    kind: 'restore',
    status: 'running',
    reasons: [],
    start: now.toISOString(),
    device: config.device,
    sources: roots.map((r) => r.path),
    targets: [],
    counts: emptyCounts(),
    bytes: 0,
  };
  const ctx: RunContext = { runId, kind: 'restore', job, device: config.device, dryRun: !!opts.dryRun, full: false, signal: opts.signal ?? new AbortController().signal, logger };

  let source = await openRestoreSource(deps, job, opts, logger);
  // What to restore is checked before the run is recorded: a mistyped run id is bad usage, not a
  // restore run left behind.
  let cutoff: string | undefined;
  try {
    cutoff = await restoreCutoff(deps, job.id, opts);
  } catch (e) {
    await closeTarget(source.target);
    throw e;
  }
  source = await sourceHolding(deps, job, opts, source, cutoff);
  run.targets = [source.id];
  if (!opts.dryRun) await index.putRun(run);
  // Logged now, not only at the end: the lazy logger loads pino while the restore waits for its first copies, not after them (~20 ms of a folder's restore).
  logger.info({ run: runId, job: job.id, target: source.id, paths: opts.paths, at: cutoff }, 'restore started');

  // Files are written in one hidden staging folder per destination root, then renamed into place:
  // a restore killed mid-file leaves nothing half-written among the person's files, and the next
  // restore clears what it left.
  const stagingDirs = new Map<string, Promise<string>>();
  const staging = (rootDir: string) => {
    let p = stagingDirs.get(rootDir);
    if (!p) {
      const d = join(rootDir, STAGING);
      p = rm(d, { recursive: true, force: true }).then(() => mkdir(d, { recursive: true })).then(() => d);
      stagingDirs.set(rootDir, p);
    }
    return p;
  };
  // Temporary names in the staging folder: a random stem per run and a counter (a random draw per file cost ~1 s of 10,000 files' profile).
  const tmpStem = randomBytes(6).toString('hex');
  let tmpSeq = 0;
  const tmpName = () => `${tmpStem}-${(++tmpSeq).toString(36)}`;
  const wanted = opts.paths?.length ? matchPaths(roots, opts.paths) : undefined;
  const rootPaths = new Map(roots.map((r) => [r.name, r.path]));
  const base = opts.to ? resolve(opts.to) : undefined;
  /** The records the caller keeps (keepRecord); every final record goes to the index as the restore goes. */
  const files: FileRecord[] = [];
  const keep = opts.keepRecord ?? (() => true);
  const fileLog = index.fileLog(runId);
  let fileSeq = 0;
  let fileOps: IndexOp[] = [];
  /** The batches in flight, one after another; the first failure is thrown at the end. */
  let written: Promise<void> = Promise.resolve();
  let writeError: unknown;
  const writeRecords = () => {
    fileLog.flush(fileOps);
    const ops = fileOps;
    fileOps = [];
    if (ops.length) written = written.then(() => (writeError === undefined ? index.batch(ops) : undefined)).catch((e: unknown) => void (writeError ??= e));
  };
  const reasons = new Set<Reason>();
  /** Paths given a later version than the run's own (`fillPruned`), for the run's note. */
  const filled: string[] = [];
  let durabilityError: string | undefined;
  /** Files whose copy on the source target was damaged or missing: tried on the job's other targets. */
  const secondChance: { rec: FileRecord; root: string; rel: string; ver: HeldVersion; dest: string; rootDir: string }[] = [];
  /** What the second chance found, for the run's note. */
  const rescued: string[] = [];
  const maxConn = Math.max(1, source.target.capabilities.maxConnections);
  const inflight = new Set<Promise<void>>();
  let matched = 0;
  let done = 0;
  // The per-file work (folders made once, write + hash + rename, durability per window): restore-writer.ts.
  const folders = new RestoreFolders();
  const writer = new RestoreWriter(source);
  if (opts.streamOnly) writer.useGetToFile = false;
  /** Progress: bytes of files dealt with, bytes of big files in flight so far, the totals. */
  const progress: RestoreProgress = { filesDone: 0, bytesDone: 0, failed: 0 };
  let bytesSettled = 0;
  const partial = new Map<string, number>();
  const report = () => {
    if (!opts.onProgress) return;
    let p = bytesSettled;
    for (const b of partial.values()) p += b;
    progress.bytesDone = p;
    progress.filesDone = done;
    progress.failed = run.counts.failed;
    opts.onProgress(progress);
  };

  /** A record that will not change: its reason counted, written to the index (a batch at a time), kept if asked. */
  const settle = (rec: FileRecord) => {
    if (rec.reason && (rec.status === 'failed' || rec.reason === 'version-pruned')) reasons.add(rec.reason);
    if (keep(rec)) files.push(rec);
    if (opts.dryRun || rec.status === 'unchanged') return;
    fileLog.add(fileOps, ++fileSeq, rec);
    if (fileOps.length >= 500) writeRecords();
  };
  /** `final: false`: a file the second chance may still restore (settled after it). */
  const record = (rec: FileRecord, final = true) => {
    if (final) settle(rec);
    if (rec.status === 'restored') run.counts.restored++;
    else if (rec.status === 'skipped') run.counts.skipped++;
    else if (rec.status === 'failed') run.counts.failed++;
    else if (rec.status === 'unchanged') run.counts.unchanged++;
    done++;
    if (opts.onProgress) {
      partial.delete(rec.path);
      bytesSettled += rec.size ?? 0;
      report();
    }
  };

  /** Where `root/rel` is written, and the folder nothing may be written outside of; throws for a path that cannot be. */
  const nameRules = opts.nameRules ?? HOST_NAME_RULES;
  const destinationOf = (root: string, rel: string): { dest: string; rootDir: string; renamed?: string } => {
    const folder = base ? join(base, root) : rootPaths.get(root);
    if (!folder) throw new HokanError('E_NO_SOURCE', `no source folder named "${root}" in the job any more`, { hint: 'restore it elsewhere with --to DIR' });
    let segs = rel.split('/');
    if (segs.some((s) => s === '' || s === '.' || s === '..' || s.includes('\0'))) throw new HokanError('E_UNSAFE_PATH', `refusing the unsafe path "${rel}" from the target`);
    // A backslash, a colon… are legal in names on Linux and macOS (files unpacked from Windows
    // archives); where the destination cannot hold a name it is said, never dropped (restore-names.ts).
    let renamed: string | undefined;
    const why = nameRules === 'posix' ? undefined : segs.map((s) => unsafeName(s, nameRules)).find((w) => w !== undefined);
    if (why !== undefined) {
      if (!opts.renameUnsafe) {
        throw new HokanError('E_FORBIDDEN_NAME', `"${rel}" cannot be written on this system: ${why} (--rename-unsafe restores it as "${segs.map(safeName).join('/')}")`, {
          hint: 'give --rename-unsafe to restore it under a name this system can hold (a:b.txt → a：b.txt), or restore it on Linux or macOS',
        });
      }
      segs = segs.map(safeName);
      renamed = segs.join('/');
    }
    const dest = resolve(folder, ...segs);
    const rootDir = base ?? folder;
    const r = relative(rootDir, dest);
    if (r.startsWith('..') || isAbsolute(r)) throw new HokanError('E_UNSAFE_PATH', `refusing to write outside ${rootDir}: "${rel}"`);
    return { dest, rootDir, renamed };
  };
  const failedRecord = (rec: FileRecord, e: unknown): FileRecord => {
    const code = HokanError.is(e) ? e.code : undefined;
    const reason: Reason = code === 'E_HASH_MISMATCH' ? 'hash-mismatch' : code === 'E_FORBIDDEN_NAME' ? 'forbidden-name' : code === 'E_UNSAFE_PATH' || code === 'E_NO_SOURCE' ? 'invalid-settings' : reasonOf(e);
    return { ...rec, status: 'failed', reason, message: describeError(e).split('\n')[0] };
  };
  /** Folders as of the run, in path order: made and given their modes and mtimes after the files (restore-folders.ts). */
  const heldFolders: HeldFolder[] = [];

  const restoreOne = async (root: string, rel: string, held: HeldFile, ver: HeldVersion) => {
    const path = fileKey(root, rel);
    const rec: FileRecord = { path, target: source.id, status: 'restored', size: ver.size, sha256: ver.sha256 || undefined };
    try {
      const where = destinationOf(root, rel);
      let dest = where.dest;
      const rootDir = where.rootDir;
      if (where.renamed !== undefined) rec.message = `restored as "${where.renamed}" (--rename-unsafe: this system cannot hold the name)`;

      // Folders are made once per run; in a folder this run made, no file can be there already.
      const fresh = opts.dryRun ? false : await folders.ensure(dirname(dest));
      writer.durability.roots.add(rootDir);
      const existing = fresh ? undefined : await lstat(dest).catch(() => undefined);
      if (existing) {
        const same = ver.link !== undefined ? existing.isSymbolicLink() && (await readlink(dest)) === ver.link : existing.isFile() && existing.size === ver.size && sameTime(existing.mtimeMs, ver.mtimeMs);
        if (same) return record({ ...rec, status: 'unchanged' });
        if (overwrite === 'never') return record({ ...rec, status: 'skipped', message: 'a file is already there (--overwrite never)' });
        if (overwrite === 'if-newer' && (existing.mtimeMs > ver.mtimeMs || sameTime(existing.mtimeMs, ver.mtimeMs))) return record({ ...rec, status: 'skipped', message: 'the file there is as new or newer (--overwrite if-newer)' });
        if (overwrite === 'rename') dest = await freeName(dest);
      }
      if (opts.dryRun) return record(rec);
      if (ver.link !== undefined) {
        if (existing && overwrite !== 'rename') await rm(dest, { force: true });
        await symlink(ver.link, dest);
        if (restoresOwner(ver)) await lchown(dest, ver.uid!, ver.gid!);
        return record(rec);
      }
      // Where a version lives is derived from the journal (design.md): the current one at its path,
      // older ones under .hokan/versions. An index rebuilt without a damaged journal line may place a
      // version wrongly; its hash tells, and the other place is tried before the file is given up.
      const keys = held.cur === ver ? [path, source.store.versionKey(root, rel, ver.v)] : [source.store.versionKey(root, rel, ver.v), path];
      const tmp = () => staging(rootDir).then((d) => join(d, tmpName()));
      try {
        await writer.write({ keys, ver, tmp, dest }, { signal: opts.signal, onBytes: opts.onProgress ? (b) => (partial.set(path, b), report()) : undefined });
      } catch (e) {
        // A damaged or missing copy: recorded failed now; another target of the job that holds the
        // same version is tried after this pass (secondChance).
        if (!(HokanError.is(e) && e.code === 'E_HASH_MISMATCH') && !TargetError.isNotFound(e)) throw e;
        const failed: FileRecord = { ...rec, status: 'failed', reason: HokanError.is(e) && e.code === 'E_HASH_MISMATCH' ? 'hash-mismatch' : 'not-found', message: describeError(e).split('\n')[0] };
        record(failed, false);
        secondChance.push({ rec: failed, root, rel, ver, dest, rootDir });
        return;
      }
      crashPoint('after-restore-file');
      run.bytes += ver.size;
      record(rec);
      await hooks.afterRestore.promise(rec, ctx);
    } catch (e) {
      record(failedRecord(rec, e));
    }
  };

  /**
   * The second chance of a file whose copy on the source target did not match its recorded SHA-256
   * (or was missing): the job's other targets, in their order, each opened once, give the same
   * version (same size and hash) if they hold it. The record then names the target it came from and
   * says what was wrong with the first.
   */
  const restoreFromOthers = async () => {
    for (const id of job.targets) {
      if (id === source.id) continue;
      const left = secondChance.filter((c) => c.rec.status === 'failed');
      if (!left.length) return;
      let other: OpenedJobTarget;
      try {
        other = await openForReading(deps, job, id);
      } catch (e) {
        logger.warn({ target: id, err: describeError(e) }, 'second target not readable for the files the first could not give');
        continue;
      }
      try {
        const w = new RestoreWriter(other, writer.durability);
        if (opts.streamOnly) w.useGetToFile = false;
        for (const c of left) {
          const held = await index.getHeld(job.id, id, c.root, c.rel);
          const same = held && [held.cur, ...held.old].find((x) => x && x.sha256 === c.ver.sha256 && x.size === c.ver.size && x.link === undefined);
          if (!held || !same || !c.ver.sha256) continue;
          const path = fileKey(c.root, c.rel);
          const keys = held.cur === same ? [path, other.store.versionKey(c.root, c.rel, same.v)] : [other.store.versionKey(c.root, c.rel, same.v), path];
          try {
            // The version as the run chose it (mtime, mode), with the bytes from the other target.
            await w.write({ keys, ver: { ...c.ver, v: same.v }, tmp: () => staging(c.rootDir).then((d) => join(d, tmpName())), dest: c.dest }, { signal: opts.signal });
          } catch (e) {
            logger.warn({ target: id, path, err: describeError(e) }, 'the second target could not give the file either');
            continue;
          }
          const bad = c.rec;
          const rec: FileRecord = { path, target: id, status: 'restored', size: c.ver.size, sha256: c.ver.sha256, message: `restored from ${id}: the copy on ${source.id} (version of ${runIdTime(c.ver.v).toISOString()}) was ${bad.reason === 'hash-mismatch' ? 'damaged (hash-mismatch)' : 'missing'}` };
          c.rec = rec;
          run.counts.failed--;
          run.counts.restored++;
          run.bytes += c.ver.size;
          rescued.push(`${path} (${bad.reason} on ${source.id})`);
          await hooks.afterRestore.promise(rec, ctx);
        }
      } finally {
        await closeTarget(other.target);
      }
    }
  };

  try {
    /** Which version of a held path this restore gives back (`pruned`: none, said so), or undefined: not asked for. */
    const choose = (root: string, rel: string, held: HeldFile): { ver: HeldVersion; fill?: HeldVersion } | { pruned: true } | undefined => {
      if (wanted && !wanted.some((w) => w.root === root && inside(rel, w.rel))) return undefined;
      const ver = versionAt(held, cutoff, !!opts.includeDeleted);
      if (!ver && cutoff !== undefined && prunedAt(held, cutoff)) {
        // The run held this file, but its version was dropped by retention: said, never left out in silence.
        const fill = opts.fillPruned ? [...held.old].reverse().find((x) => x.v > cutoff! && !x.del) ?? (held.cur && held.cur.v > cutoff ? held.cur : undefined) : undefined;
        return fill ? { ver: fill, fill } : { pruned: true };
      }
      return ver ? { ver } : undefined;
    };
    // With --path, only the asked folders' range of the index is read (a folder of a 1M-file job starts at once).
    const entries = () => heldIn(index, job.id, source.id, wanted);
    if (opts.onProgress) {
      // The totals, for the progress bar's ETA: a read of the index, no file touched.
      let filesTotal = 0;
      let bytesTotal = 0;
      for await (const [root, rel, held] of entries()) {
        const c = choose(root, rel, held);
        if (!c) continue;
        if ('ver' in c && c.ver.dir) continue; // folders are not counted among the files
        filesTotal++;
        if ('ver' in c) bytesTotal += c.ver.size;
      }
      progress.filesTotal = filesTotal;
      progress.bytesTotal = bytesTotal;
      report();
    }
    for await (const [root, rel, held] of entries()) {
      if (opts.signal?.aborted) break;
      const c = choose(root, rel, held);
      if (!c) continue;
      matched++;
      if ('pruned' in c) {
        record({ path: fileKey(root, rel), target: source.id, status: 'skipped', reason: 'version-pruned', message: `its version as of this run is no longer kept (${retentionRule(job)})${opts.fillPruned ? '; no later version is kept either' : '; --fill-pruned restores the oldest version kept after it'}` });
        continue;
      }
      if (c.fill) filled.push(`${fileKey(root, rel)} (version of ${runIdTime(c.fill.v).toISOString()})`);
      if (c.ver.dir) {
        heldFolders.push({ root, rel, ver: c.ver });
        continue;
      }
      while (inflight.size >= maxConn) await Promise.race(inflight);
      const p: Promise<void> = restoreOne(root, rel, held, c.ver).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
    if (secondChance.length && !opts.signal?.aborted) await restoreFromOthers();
    for (const c of secondChance) settle(c.rec);
    // Folders after every file (restore-folders.ts), before the last durability window covers them.
    if (!opts.dryRun && !opts.signal?.aborted) {
      await restoreFolders(heldFolders, (f) => destinationOf(f.root, f.rel).dest, overwrite, (f, e) => record(failedRecord({ path: fileKey(f.root, f.rel), target: source.id, status: 'restored' }, e)));
    }
    // Durability, a window at a time: the last window now. A restore that could not make its files
    // durable says so (they are in place, but a power cut now could lose them).
    try {
      await writer.durability.finish();
    } catch (e) {
      reasons.add('io-error');
      durabilityError = describeError(e).split('\n')[0];
    }
  } finally {
    writer.durability.close();
    await closeTarget(source.target);
    for (const d of stagingDirs.values()) await rm(await d.catch(() => ''), { recursive: true, force: true }).catch(() => {});
    // A staging folder a killed restore left where this one had nothing to write goes too.
    if (!opts.dryRun) {
      const dests = base ? [base] : [...rootPaths.values()];
      for (const d of dests) await rm(join(d, STAGING), { recursive: true, force: true }).catch(() => {});
    }
  }
  if (wanted && matched === 0) {
    if (!opts.dryRun) await index.dropRun(runId); // nothing was done: no run to show
    throw new UsageError(`nothing in the backup of job "${job.id}" on ${source.id} matches ${opts.paths!.map((p) => `"${p}"`).join(', ')}${cutoff ? ' at that time' : ''}`, {
      hint: 'give a path under one of the job\'s source folders (absolute, or relative to the folder); `agent versions` lists what a file has',
    });
  }
  const rs = [...reasons];
  run.reasons = rs.length > 1 ? ['multiple-errors', ...rs] : rs;
  run.status = opts.signal?.aborted ? 'aborted' : rs.length ? 'incomplete' : 'completed';
  run.end = new Date().toISOString();
  if (filled.length) run.note = `${filled.length} file(s) whose version as of this run is no longer kept got the oldest version kept after it: ${filled.join(', ')}`;
  if (rescued.length) run.note = `${run.note ? `${run.note}; ` : ''}${rescued.length} file(s) whose copy on ${source.id} was damaged or missing came from another target: ${rescued.slice(0, 20).join(', ')}${rescued.length > 20 ? ', …' : ''}`;
  if (durabilityError) run.note = `${run.note ? `${run.note}; ` : ''}the restored files could not be made durable (synced to disk): ${durabilityError}`;
  if (!opts.dryRun) {
    await index.putRun(run);
    writeRecords();
    await written;
    if (writeError !== undefined) throw writeError;
  }
  logger.info({ run: runId, counts: run.counts }, 'restore finished');
  return { run, files };
}

export interface VersionInfo {
  target: string;
  path: string;
  v: string;
  /** When the run that stored this version started. */
  time: string;
  size: number;
  mtime: string;
  sha256: string;
  current: boolean;
  /** The run that saw the file deleted at the source, if it was. */
  deleted?: string;
  link?: string;
  /** A folder (its mode and mtime, and that it existed). */
  folder?: true;
}

/** Runs that no longer restore a file: retention dropped the version they saw (issue 30). */
export interface PrunedRange {
  target: string;
  path: string;
  /** The first run (id) whose version was dropped, and the run from which a kept version (or the deletion) answers. */
  from: string;
  until: string;
  fromTime: string;
  untilTime: string;
  rule: string;
}

/** The generations of one file on each target of the job, newest first. */
export async function listVersions(deps: EngineDeps, jobId: string, path: string, targetId?: string): Promise<VersionInfo[]> {
  return (await fileHistory(deps, jobId, path, targetId)).versions;
}

/** The kept generations of one file on each target, and the ranges of runs whose version was pruned. */
export async function fileHistory(deps: EngineDeps, jobId: string, path: string, targetId?: string): Promise<{ versions: VersionInfo[]; pruned: PrunedRange[] }> {
  const job = findJob(deps.config, jobId);
  const roots = await resolveRoots(job, deps.config, deps.resolvePreset).catch(() => [] as SourceRoot[]);
  const matches = matchPaths(roots, [path]).filter((m) => m.rel !== '');
  const versions: VersionInfo[] = [];
  const pruned: PrunedRange[] = [];
  for (const id of targetId ? [targetId] : job.targets) {
    if (!(await deps.index.getTargetState(job.id, id))) {
      try {
        const opened = await openForReading(deps, job, id);
        await closeTarget(opened.target);
      } catch (e) {
        deps.logger.warn({ target: id, err: describeError(e) }, 'target not readable for versions');
        continue;
      }
    }
    for (const m of matches) {
      const held = await deps.index.getHeld(job.id, id, m.root, m.rel);
      if (!held) continue;
      for (const ver of held.cur ? [held.cur, ...held.old] : held.old) {
        versions.push({
          target: id,
          path: fileKey(m.root, m.rel),
          v: ver.v,
          time: runIdTime(ver.v).toISOString(),
          size: ver.size,
          mtime: new Date(ver.mtimeMs).toISOString(),
          sha256: ver.sha256,
          current: ver === held.cur,
          ...(ver.del ? { deleted: ver.del } : {}),
          ...(ver.link !== undefined ? { link: ver.link } : {}),
          ...(ver.dir ? { folder: true as const } : {}),
        });
      }
      for (const [from, until] of held.pruned ?? []) {
        pruned.push({ target: id, path: fileKey(m.root, m.rel), from, until, fromTime: runIdTime(from).toISOString(), untilTime: runIdTime(until).toISOString(), rule: retentionRule(job) });
      }
    }
  }
  return { versions, pruned };
}
