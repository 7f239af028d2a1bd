import type { JobConfig } from '../../common/config-types.js';
import type { RunRecord } from '../../common/model.js';
import type { EngineDeps } from './deps.js';

// Which backup runs a restore can still give back whole (issue 30). A run is `restorable` while
// every version it saw is kept; retention (`generations`, `keepDeletedDays`) makes an old run
// partial, by design — and this says so instead of leaving people to find out at restore time.

/** The rule that drops versions, in the words restore, versions and history use. */
export function retentionRule(job: JobConfig): string {
  const gens = `the job keeps "generations": ${job.generations} older versions of a file`;
  return job.keepDeletedDays !== undefined ? `${gens} and deleted files for "keepDeletedDays": ${job.keepDeletedDays}` : gens;
}

/** Runs whose restore this module can judge: backups that looked at the tree. */
export function judged(run: RunRecord): boolean {
  return run.kind === 'backup' && run.status !== 'not-executed' && run.status !== 'running';
}

/**
 * For each given backup run of `job`: how many files' versions as of that run retention dropped,
 * per target (only targets this index knows). One pass over what the job's targets hold; a file's
 * dropped ranges are `[from, until)` run-id intervals (held.ts), so a run counts a file when it
 * falls in one. Runs are matched with a binary search, so the cost is the walk of the index.
 */
export async function prunedPerRun(deps: EngineDeps, job: JobConfig, runIds: string[]): Promise<Map<string, Record<string, number>>> {
  const ids = [...new Set(runIds)].sort();
  const out = new Map<string, Record<string, number>>(ids.map((id) => [id, {}]));
  if (!ids.length) return out;
  const firstAtOrAfter = (x: string) => {
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ids[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  for (const target of job.targets) {
    if (!(await deps.index.getTargetState(job.id, target))) continue;
    const counts = new Array<number>(ids.length).fill(0);
    for await (const [, , held] of deps.index.heldAll(job.id, target)) {
      if (!held.pruned) continue;
      // Intervals of one file are disjoint (merged), so a run is counted once per file.
      for (const [from, until] of held.pruned) for (let i = firstAtOrAfter(from); i < ids.length && ids[i]! < until; i++) counts[i]!++;
    }
    ids.forEach((id, i) => (out.get(id)![target] = counts[i]!));
  }
  return out;
}

/** What a restore of the run can give back: the best target decides (a restore reads one). */
export function restorability(perTarget: Record<string, number> | undefined): { restorable: boolean; prunedVersions: number } | undefined {
  const values = Object.values(perTarget ?? {});
  if (!values.length) return undefined;
  const pruned = Math.min(...values);
  return { restorable: pruned === 0, prunedVersions: pruned };
}
