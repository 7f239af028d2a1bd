import { storesObject } from '../index/held-types.js';
import { TargetError, UsageError, describeError } from '../../common/errors.js';
import type { FileRecord, SourceRoot } from '../../common/model.js';
import { findJob, type EngineDeps } from './deps.js';
import { withRetry } from './failure.js';
import { hashStream } from './file-source.js';
import { closeTarget } from './job-store.js';
import { fileKey } from './layout.js';
import { openForReading } from './open-target.js';
import { heldIn, matchPaths } from './path-scope.js';
import { resolveRoots } from './sources.js';

export interface VerifyOptions {
  job: string;
  target?: string;
  /** Check this percentage of the stored versions, picked at random (default 100). */
  sample?: number;
  /**
   * Only these files and folders (absolute, relative to a source folder, or `ROOT/rel`), each read
   * from its own range of the index; none = the whole job.
   */
  paths?: string[];
  signal?: AbortSignal;
}

export interface VerifyResult {
  target: string;
  checked: number;
  ok: number;
  bytes: number;
  problems: FileRecord[];
  /** Current versions whose stored copy is damaged or missing: marked, the next backup sends them again. */
  resend: number;
}

/**
 * Re-reads what the target holds and checks every stored version against its recorded SHA-256.
 * A current version found damaged or missing is marked in the index (`damaged`), so the next
 * backup sends the file again while the source still has it; an older generation cannot be
 * healed from the source and is only reported.
 */
export async function runVerify(deps: EngineDeps, opts: VerifyOptions): Promise<VerifyResult> {
  const job = findJob(deps.config, opts.job);
  const roots = opts.paths?.length ? await resolveRoots(job, deps.config, deps.resolvePreset).catch(() => [] as SourceRoot[]) : [];
  const asked = opts.paths?.length ? matchPaths(roots, opts.paths) : undefined;
  const src = await openForReading(deps, job, opts.target);
  const pct = opts.sample ?? 100;
  const result: VerifyResult = { target: src.id, checked: 0, ok: 0, bytes: 0, problems: [], resend: 0 };
  const damaged: { root: string; rel: string; v: string; reason: 'hash-mismatch' | 'not-found' }[] = [];
  const inflight = new Set<Promise<void>>();
  const maxConn = Math.max(1, src.target.capabilities.maxConnections);
  const check = async (key: string, path: string, size: number, sha256: string, current?: { root: string; rel: string; v: string }) => {
    try {
      const got = await withRetry(
        () =>
          src.store.get(key, undefined, hashStream),
        { retries: 3, minDelayMs: 500, signal: opts.signal },
      );
      result.bytes += got.size;
      if (got.sha256 === sha256 && got.size === size) result.ok++;
      else {
        if (current) damaged.push({ ...current, reason: 'hash-mismatch' });
        result.problems.push({ path, target: src.id, status: 'failed', reason: 'hash-mismatch', size, sha256, message: `stored copy ${key} has SHA-256 ${got.sha256.slice(0, 12)}… and ${got.size} bytes; recorded ${sha256.slice(0, 12)}… and ${size} bytes` });
      }
    } catch (e) {
      const missing = TargetError.isNotFound(e);
      if (missing && current) damaged.push({ ...current, reason: 'not-found' });
      result.problems.push({ path, target: src.id, status: 'failed', reason: missing ? 'not-found' : 'io-error', size, sha256, message: missing ? `stored copy ${key} is missing` : describeError(e) });
    }
  };
  let matched = 0;
  try {
    for await (const [root, rel, held] of heldIn(deps.index, job.id, src.id, asked)) {
      if (opts.signal?.aborted) break;
      matched++;
      for (const ver of held.cur ? [held.cur, ...held.old] : held.old) {
        if (!storesObject(ver)) continue; // symlinks and folders: nothing stored to check
        if (pct < 100 && Math.random() * 100 >= pct) continue;
        result.checked++;
        const key = ver === held.cur ? fileKey(root, rel) : src.store.versionKey(root, rel, ver.v);
        while (inflight.size >= maxConn) await Promise.race(inflight);
        const p: Promise<void> = check(key, fileKey(root, rel), ver.size, ver.sha256, ver === held.cur ? { root, rel, v: ver.v } : undefined).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    }
    await Promise.all(inflight);
    // Mark what the next backup should send again, if the version checked is still the current one.
    const ops = [];
    for (const d of damaged) {
      const held = await deps.index.getHeld(job.id, src.id, d.root, d.rel);
      if (!held?.cur || held.cur.v !== d.v) continue;
      ops.push(deps.index.heldOp(job.id, src.id, d.root, d.rel, { ...held, cur: { ...held.cur, damaged: d.reason } }));
    }
    await deps.index.batch(ops);
    result.resend = ops.length;
  } finally {
    await closeTarget(src.target);
  }
  if (asked && !matched) {
    throw new UsageError(`nothing in the backup of job "${job.id}" on ${src.id} matches ${opts.paths!.map((p) => `"${p}"`).join(', ')}`, {
      hint: 'give a path under one of the job\'s source folders (absolute, or relative to the folder); `agent versions` lists what a file has',
    });
  }
  return result;
}
