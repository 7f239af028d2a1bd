import { inject, injectable } from 'inversify';
import { ConfigError, HokanError } from '../../common/errors.js';
import type { HokanConfig } from '../../common/config-types.js';
import type { EngineHooks, RunContext } from '../../common/hooks.js';
import type { RunRecord } from '../../common/model.js';
import type { Logger } from '../../common/logger.js';
import type { Target } from '../../common/target.js';
import { TOKENS } from '../../common/tokens.js';
import { IndexStore } from '../index/index-store.js';
import type { PresetRegistry, TargetRegistry } from '../plugins/registries.js';
import type { EngineDeps } from './deps.js';

/** What the engine reads of the runtime's options (declared here, so the engine never imports the runtime). */
export interface EngineRuntimeOptions {
  /** An index already open — the daemon's, shared by the commands it runs: used, never closed. */
  index?: IndexStore;
}

/**
 * The engine as a service of the runtime: opens the index once (marking runs a dead process left
 * `running` as `interrupted`), creates targets through the plugins' contributions, and resolves
 * presets. Commands and the daemon reach backups, restores and history through it.
 */
@injectable()
export class EngineService implements AsyncDisposable {
  private index?: Promise<IndexStore>;
  /** Runs found `interrupted` when the index was opened, not yet reported (the `report` hook). */
  private untold: RunRecord[] = [];

  constructor(
    @inject(TOKENS.Config) private readonly config: HokanConfig,
    @inject(TOKENS.DataDir) private readonly dataDir: string,
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(TOKENS.EngineHooks) private readonly hooks: EngineHooks,
    @inject(TOKENS.TargetRegistry) private readonly targets: TargetRegistry,
    @inject(TOKENS.PresetRegistry) private readonly presets: PresetRegistry,
    @inject(TOKENS.RuntimeOptions) private readonly options: EngineRuntimeOptions,
  ) {}

  openIndex(): Promise<IndexStore> {
    // Under `agent run` the daemon holds the index open for every command (it marked the runs a
    // dead process left `running` when it opened it; doing it here would mark its own running ones).
    if (this.options.index) return Promise.resolve(this.options.index);
    this.index ??= IndexStore.open(this.dataDir, { logger: this.logger }).then(async (index) => {
      const interrupted = await index.markInterrupted();
      for (const r of interrupted) this.logger.warn({ run: r.id, job: r.job }, 'a run was interrupted (the agent stopped mid-run)');
      this.untold.push(...interrupted);
      return index;
    });
    return this.index;
  }

  /**
   * Tells the `report` hook (the notifiers) about the runs found `interrupted` — a failure nobody
   * would hear of otherwise. After the index is open, so a tap may use it.
   */
  private async reportInterrupted(): Promise<void> {
    for (const run of this.untold.splice(0)) {
      const job = this.config.jobs.find((j) => j.id === run.job);
      if (!job) continue;
      const context: RunContext = { runId: run.id, kind: run.kind, job, device: run.device, dryRun: false, full: false, signal: new AbortController().signal, logger: this.logger };
      await this.hooks.report.promise({ run, context }).catch((e) => this.logger.error({ err: e }, 'a report hook failed'));
    }
  }

  async deps(): Promise<EngineDeps> {
    const index = await this.openIndex();
    if (this.untold.length) await this.reportInterrupted();
    return {
      index,
      hooks: this.hooks,
      logger: this.logger,
      config: this.config,
      openTarget: (id) => this.openTarget(id),
      resolvePreset: async (name) => {
        const p = this.presets.get(name);
        if (!p) throw new ConfigError(`no plugin provides the preset "${name}"`, { hint: 'add "@hokan/category-presets" to "plugins", or define it under "presets"' });
        return p.resolve({ platform: process.platform, home: (await import('node:os')).homedir(), env: process.env });
      },
    };
  }

  /** A job's source folders (presets resolved), without opening the index (the daemon's watchers). */
  async sourceRoots(jobId: string): Promise<import('../../common/model.js').SourceRoot[]> {
    const { resolveRoots } = await import('./sources.js');
    const job = this.config.jobs.find((j) => j.id === jobId);
    if (!job) return [];
    return resolveRoots(job, this.config, async (name) => {
      const p = this.presets.get(name);
      if (!p) throw new ConfigError(`no plugin provides the preset "${name}"`, { hint: 'add "@hokan/category-presets" to "plugins", or define it under "presets"' });
      return p.resolve({ platform: process.platform, home: (await import('node:os')).homedir(), env: process.env });
    });
  }

  async openTarget(id: string): Promise<Target> {
    const cfg = this.config.targets[id];
    if (!cfg) throw new ConfigError(`there is no target "${id}" in the config`, { hint: `targets: ${Object.keys(this.config.targets).join(', ')}` });
    const contrib = this.targets.get(cfg.type);
    if (!contrib) throw new HokanError('E_NO_TARGET_TYPE', `no loaded plugin provides the target type "${cfg.type}"`, { hint: 'add the plugin that provides it to "plugins" in config.json' });
    return contrib.create(cfg as never, { id, logger: this.logger.child(`target:${id}`), dataDir: this.dataDir });
  }

  /** Closes the index this service opened (not the daemon's). */
  async [Symbol.asyncDispose](): Promise<void> {
    const index = await this.index?.catch(() => undefined);
    this.index = undefined;
    await index?.close();
  }
}

export const ENGINE_SERVICE = Symbol.for('hokan.EngineService');
