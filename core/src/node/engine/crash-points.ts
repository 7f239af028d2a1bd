/**
 * Named points of the engine where a crash test can kill the agent (`kill -9` from inside, so the
 * crash lands exactly at a step rather than somewhere in time). Off unless `HOKAN_CRASH_AT` is set,
 * e.g. `HOKAN_CRASH_AT=after-move:3` kills the process at the third time it passes `after-move`.
 * Read once; a disabled point costs one comparison. Used by test/crash-model.spec.ts and
 * scripts/crash-campaign.mjs.
 */
export type CrashPoint =
  /** A changed file's previous version was moved to `.hokan/versions`; the new content is not put yet. */
  | 'after-move'
  /** A file's new content is put (atomic, perhaps not yet durable); not recorded in the index yet. */
  | 'after-put'
  /** A window of deferred puts was flushed to disk; its index batch is not written yet. */
  | 'after-flush'
  /** A part of the run's journal is about to be written to the target. */
  | 'before-journal'
  /** A file was deleted at the source and moved to `.hokan/versions`; not recorded yet. */
  | 'after-delete'
  /** A restored file was renamed into place. */
  | 'after-restore-file';

const spec = process.env.HOKAN_CRASH_AT;
const [name, nth] = spec ? spec.split(':') : [];
let left = Number(nth ?? 1) || 1;

export function crashPoint(point: CrashPoint): void {
  if (point !== name) return;
  if (--left === 0) process.kill(process.pid, 'SIGKILL');
}
