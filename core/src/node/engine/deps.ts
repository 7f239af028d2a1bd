import { UsageError } from '../../common/errors.js';
import type { HokanConfig, JobConfig } from '../../common/config-types.js';
import type { EngineHooks } from '../../common/hooks.js';
import type { Logger } from '../../common/logger.js';
import type { Target } from '../../common/target.js';
import type { IndexStore } from '../index/index-store.js';
import type { RetryOptions } from './failure.js';
import type { PresetResolver } from './sources.js';

// What every engine operation (backup, restore, verify, versions, history) is given, and the two
// look-ups they all make: here, so none of them imports another to get them.

/** What the engine needs from the rest of the core (bound by the runtime, or built by a test). */
export interface EngineDeps {
  index: IndexStore;
  hooks: EngineHooks;
  logger: Logger;
  config: HokanConfig;
  /** Creates the configured target `id` (the engine disposes it). */
  openTarget(id: string): Promise<Target>;
  resolvePreset?: PresetResolver;
  retry?: Partial<RetryOptions>;
  /** Windows of deferred durability (DURABILITY_WINDOW unless a test makes them small). */
  window?: DurabilityWindow;
}

/** How many files, bytes and milliseconds a window of deferred durability holds at most (target-session.ts). */
export interface DurabilityWindow {
  files: number;
  bytes: number;
  ms: number;
}

export function findJob(config: HokanConfig, id: string): JobConfig {
  const job = config.jobs.find((j) => j.id === id);
  if (!job) {
    const ids = config.jobs.map((j) => j.id);
    throw new UsageError(`there is no job "${id}" in the config`, { hint: ids.length ? `jobs: ${ids.join(', ')}` : 'add a job under "jobs" in config.json' });
  }
  return job;
}

export function targetFingerprint(config: HokanConfig, id: string): string {
  const t = config.targets[id] ?? { type: 'unknown' };
  const { type, path, url, bucket, prefix, endpoint, account, container } = t as Record<string, unknown>;
  return JSON.stringify({ type, path, url, bucket, prefix, endpoint, account, container });
}
