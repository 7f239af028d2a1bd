import { describeError } from '../../common/errors.js';
import type { EngineDeps } from './deps.js';
import { closeTarget } from './job-store.js';
import { openForReading } from './open-target.js';

/**
 * On a machine whose index does not know a job's targets yet (a new machine, a deleted index),
 * reads the history from the targets first. Targets that cannot be reached are skipped quietly.
 */
export async function ensureHistory(deps: EngineDeps, jobId?: string): Promise<void> {
  for (const job of deps.config.jobs) {
    if (jobId && job.id !== jobId) continue;
    for (const id of job.targets) {
      if (await deps.index.getTargetState(job.id, id)) continue;
      try {
        const opened = await openForReading(deps, job, id);
        await closeTarget(opened.target);
      } catch (e) {
        deps.logger.debug({ job: job.id, target: id, err: describeError(e) }, 'no history from this target');
      }
    }
  }
}
