/** The words people see (product.md "Statuses"). Keep these exact: tests and notifiers use them. */
export const RUN_STATUSES = ['waiting', 'running', 'completed', 'incomplete', 'aborted', 'interrupted', 'not-executed'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const RUN_KINDS = ['backup', 'restore', 'delete'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

export const INCOMPLETE_REASONS = [
  'access-denied',
  'forbidden-name',
  'path-too-long',
  'file-too-large',
  'invalid-settings',
  'quota-exceeded',
  'network-error',
  'changed-during-backup',
  'target-unavailable',
  /** Another run (another data folder or machine) holds the job's lease on the target. */
  'target-busy',
  'not-found',
  'hash-mismatch',
  /** A restore as of a run whose version of a file retention has dropped (`generations`). */
  'version-pruned',
  'deletion-threshold',
  'io-error',
  'multiple-errors',
] as const;
export type Reason = (typeof INCOMPLETE_REASONS)[number];

export const FILE_STATUSES = ['uploaded', 'unchanged', 'deleted', 'skipped', 'failed', 'restored'] as const;
export type FileStatus = (typeof FILE_STATUSES)[number];

/** A run with several distinct reasons reports `multiple-errors` (seed 000). */
export function summarizeReasons(reasons: Iterable<Reason>): Reason[] {
  const set = [...new Set(reasons)];
  return set;
}
