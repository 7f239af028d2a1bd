import { HokanError, TargetError, UsageError, describeError } from '../../common/errors.js';
import type { JobConfig } from '../../common/config-types.js';
import type { Logger } from '../../common/logger.js';
import type { Target } from '../../common/target.js';
import type { IndexStore, TargetState } from '../index/index-store.js';
import { targetFingerprint, type EngineDeps } from './deps.js';
import { JobStore, closeTarget } from './job-store.js';
import { LAYOUT_FORMAT, MARKER_KEY, type OwnerMarker } from './layout.js';
import { rebuildFromTarget } from './manifests.js';

// Opening a job's place on a target, shared by every operation: who owns it (the marker), and an
// index that knows what it holds (rebuilt from the target when it does not).

/** A job's target opened, checked and indexed, for reading. */
export interface OpenedJobTarget {
  id: string;
  target: Target;
  store: JobStore;
}

/** Opens the target a restore (or `versions`, `verify`) reads from: the one asked for, else the first that answers. */
export async function openForReading(deps: EngineDeps, job: JobConfig, targetId: string | undefined): Promise<OpenedJobTarget> {
  const ids = targetId ? [targetId] : job.targets;
  if (targetId && !job.targets.includes(targetId)) throw new UsageError(`job "${job.id}" has no target "${targetId}"`, { hint: `its targets: ${job.targets.join(', ')}` });
  const errors: string[] = [];
  for (const id of ids) {
    let target: Target | undefined;
    try {
      target = await deps.openTarget(id);
      await target.check();
      const store = new JobStore(target, job.id);
      const marker = await ensureOwner(store, deps.config.device, job.id, false);
      if (!marker && !(await deps.index.getTargetState(job.id, id))) {
        throw new TargetError('not-found', `target "${id}" holds no backup of job "${job.id}" yet`, { hint: 'run `agent backup` first, or check the target settings' });
      }
      await ensureIndexed(deps.index, store, job.id, id, targetFingerprint(deps.config, id), deps.logger);
      return { id, target, store };
    } catch (e) {
      await closeTarget(target);
      errors.push(`${id}: ${describeError(e)}`);
      if (targetId) throw e;
    }
  }
  throw new HokanError('E_NO_TARGET', `no target of job "${job.id}" can be read:\n  ${errors.join('\n  ')}`, { hint: 'plug in the disk or check the network, or name another target with --target' });
}

/** Reads the owner marker; writes it on first use; refuses a place another device or job owns. */
export async function ensureOwner(store: JobStore, device: string, job: string, write: boolean): Promise<OwnerMarker | undefined> {
  let marker: OwnerMarker | undefined;
  try {
    marker = JSON.parse(await store.getText(MARKER_KEY)) as OwnerMarker;
  } catch (e) {
    if (!TargetError.isNotFound(e)) throw e;
  }
  if (!marker) {
    if (!write) return undefined;
    marker = { format: LAYOUT_FORMAT, device, job, created: new Date().toISOString() };
    await store.putText(MARKER_KEY, JSON.stringify(marker, null, 2));
    return marker;
  }
  if (write && (marker.device !== device || marker.job !== job)) {
    throw new HokanError(
      'E_TARGET_OWNED',
      `this place on the target already holds the backup of job "${marker.job}" from device "${marker.device}" (since ${marker.created}); hokan will not mix a second owner into it`,
      { hint: `give this job another target path or prefix; if this machine replaces "${marker.device}", set "device": "${marker.device}" in config.json` },
    );
  }
  return marker;
}

/** Makes sure the index knows what the target holds for the job, rebuilding it from the target if not. */
export async function ensureIndexed(index: IndexStore, store: JobStore, job: string, targetId: string, fingerprint: string, logger: Logger): Promise<TargetState> {
  const state = await index.getTargetState(job, targetId);
  if (state && state.fingerprint === fingerprint) return state;
  if (state) {
    logger.info({ job, target: targetId }, 'target settings changed: rebuilding the index from what the target holds');
    await index.clearHeld(job, targetId);
  }
  return rebuildFromTarget(index, store, job, targetId, fingerprint, logger);
}
