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
  /** A target was wiped or replaced since the index last saw it (its marker is gone or another): everything goes again. */
  'target-reset',
  'io-error',
  /** `not-executed`: a scheduled time passed while the agent was not running. */
  'agent-not-running',
  /** `not-executed`: a scheduled time passed while the machine slept (or its clock jumped). */
  'machine-asleep',
  /** `not-executed`: a scheduled time fell in a pause (the job's pause window, `agent pause`). */
  'paused',
  'multiple-errors',
] as const;
export type Reason = (typeof INCOMPLETE_REASONS)[number];

/** `filtered`: left out by the job's filters (or not a regular file): listed by `show RUN --filtered`, never an error. */
export const FILE_STATUSES = ['uploaded', 'unchanged', 'deleted', 'skipped', 'failed', 'restored', 'filtered'] as const;
export type FileStatus = (typeof FILE_STATUSES)[number];

/**
 * Why the walk left something out, counted per backup run (`RunRecord.filtered`) so that nothing
 * is left out without a word: hidden names, globs / include lists / regular expressions
 * (`pattern`), extension lists, size and date limits, special files (FIFOs, sockets, devices), a
 * backup target inside the source, and plugin filters. A folder pruned counts once.
 */
export const FILTER_KINDS = ['hidden', 'pattern', 'extension', 'size', 'date', 'special', 'target', 'plugin'] as const;
export type FilterKind = (typeof FILTER_KINDS)[number];

/** The kind of a walk's reason for leaving something out (filters.ts and walker.ts word them). */
export function filterKindOf(reason: string, kind: string): FilterKind {
  if (kind === 'other' || reason.startsWith('not a regular file')) return 'special';
  if (reason === 'hidden') return 'hidden';
  if (reason.startsWith('a backup target')) return 'target';
  if (reason.startsWith('extension ')) return 'extension';
  if (reason.startsWith('larger than')) return 'size';
  if (reason.startsWith('modified before')) return 'date';
  if (reason.startsWith('excluded by ') || reason === 'not in include list' || reason === 'not matched by includeRegex' || reason.startsWith('matches ')) return 'pattern';
  return 'plugin';
}

/** A run with several distinct reasons reports `multiple-errors` (seed 000). */
export function summarizeReasons(reasons: Iterable<Reason>): Reason[] {
  const set = [...new Set(reasons)];
  return set;
}
