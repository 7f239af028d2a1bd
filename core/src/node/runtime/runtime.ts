import 'reflect-metadata';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { Container } from 'inversify';
import { DisposableCollection, type Disposable } from '../../common/disposable.js';
import { EngineHooks } from '../../common/hooks.js';
import type { Logger } from '../../common/logger.js';
import type { HokanConfig } from '../../common/config-types.js';
import type { PluginContext, Runtime } from '../../common/plugin-api.js';
import { TOKENS } from '../../common/tokens.js';
import { findConfigPath, resolveDataDir } from '../config/config-paths.js';
import { loadConfig, type LoadedConfig } from '../config/config-loader.js';
import { createCoreModule, loadEngineModules } from './core-module.js';
import { createLogger } from '../log/logger.js';
import { PluginHost, usedBecause, wrapHooks, type LoadedPlugin, type PluginDescriptor, type Usage } from '../plugins/plugin-host.js';
import type { CommandRegistry, FilterRegistry, NotifierRegistry, PresetRegistry, TargetRegistry } from '../plugins/registries.js';
import type { NotificationService } from '../notify/notification-service.js';

export interface RuntimeOptions {
  /** --config (else $HOKAN_CONFIG, ./config.json, the user's config dir). */
  config?: string;
  /** --data-dir (else $HOKAN_DATA_DIR, the user's data dir). */
  dataDir?: string;
  verbose?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A ready logger (else one is created for the data dir). */
  logger?: Logger;
  /** What this runtime is for: the command being run decides which plugins are activated. */
  usage?: Usage;
  /** An already loaded config (the CLI loads it once). */
  loaded?: LoadedConfig;
  /** An index already open — the daemon's, shared by the commands it runs: used, never closed. */
  index?: import('../index/index-store.js').IndexStore;
}

/** The Runtime plus handy accessors for the core's services. */
export interface HokanRuntime extends Runtime {
  readonly plugins: PluginHost;
  /** The plugins activated for this runtime, with why. */
  readonly active: readonly { descriptor: PluginDescriptor; why: string[] }[];
  readonly targets: TargetRegistry;
  readonly notifiers: NotifierRegistry;
  readonly presets: PresetRegistry;
  readonly filters: FilterRegistry;
  readonly commands: CommandRegistry;
  readonly warnings: readonly string[];
  /** The notifications (rules of when, stale alarms, `notify test`); absent when the config has no `notify`. */
  readonly notifications?: NotificationService;
}

/**
 * Builds what a run or command needs: loads and validates the config, resolves the plugins,
 * imports and activates those the config uses (their ContainerModule, then `activate(ctx)`),
 * and binds the core services. Dispose it (`await using rt = await createRuntime(…)`) to undo.
 */
export async function createRuntime(options: RuntimeOptions = {}): Promise<HokanRuntime> {
  const env = options.env ?? process.env;
  const dataDir = resolveDataDir(options.dataDir, { env, cwd: options.cwd });
  const loaded = options.loaded ?? (await loadConfig({ path: findConfigPath(options.config, { env, cwd: options.cwd }), env, cacheDir: join(dataDir, 'cache') }));
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (e) {
    const { UsageError } = await import('../../common/errors.js');
    throw new UsageError(`cannot use ${dataDir} as the data folder (the index and the logs): ${(e as Error).message}`, {
      cause: e,
      hint: 'give a folder hokan can create and write: --data-dir DIR, or $HOKAN_DATA_DIR',
    });
  }
  const logger = options.logger ?? (await createLogger({ dataDir, verbose: options.verbose }));
  for (const w of loaded.warnings) logger.warn(w);

  const hooks = new EngineHooks();
  wrapHooks(hooks, logger.child('hooks'));

  const container = new Container({ defaultScope: 'Singleton' });
  container.loadSync(
    createCoreModule({ config: loaded.config, configPath: loaded.path, dataDir, logger, hooks, plugins: loaded.plugins, options }),
  );
  const engine = await loadEngineModules();
  if (engine.length) await container.load(...engine);

  const usage = options.usage ?? { runtime: true };
  const active: { descriptor: PluginDescriptor; why: string[] }[] = [];
  for (const d of loaded.plugins.configured) {
    const why = usedBecause(d, loaded.config, usage);
    if (why.length) active.push({ descriptor: d, why });
  }
  const plugins: LoadedPlugin[] = [];
  for (const a of active) plugins.push(await loaded.plugins.load(a.descriptor));
  for (const p of plugins) if (p.definition.module) await container.load(p.definition.module);

  const disposables = new DisposableCollection();
  for (const p of plugins) {
    if (!p.definition.activate) continue;
    const ctx: PluginContext = { id: p.descriptor.id, logger: logger.child(p.descriptor.id), hooks, dataDir, root: p.descriptor.root };
    let d: void | Disposable;
    try {
      d = await p.definition.activate(ctx);
    } catch (e) {
      await disposables.dispose().catch(() => undefined);
      const { PluginError } = await import('../../common/errors.js');
      throw new PluginError(p.descriptor.id, `plugin '${p.descriptor.id}' failed to activate: ${(e as Error)?.message ?? String(e)}`, { cause: e, hook: 'activate' });
    }
    if (d) disposables.push(d);
  }

  const notifications = loaded.config.notify.length ? await notificationService(container, loaded.config, dataDir, logger, hooks) : undefined;
  if (notifications) disposables.push({ dispose: () => notifications[Symbol.asyncDispose]() });

  let disposed = false;
  const rt: HokanRuntime = {
    config: loaded.config,
    configPath: loaded.path,
    dataDir,
    hooks,
    logger,
    container,
    plugins: loaded.plugins,
    active,
    warnings: loaded.warnings,
    notifications,
    get targets() {
      return container.get<TargetRegistry>(TOKENS.TargetRegistry);
    },
    get notifiers() {
      return container.get<NotifierRegistry>(TOKENS.NotifierRegistry);
    },
    get presets() {
      return container.get<PresetRegistry>(TOKENS.PresetRegistry);
    },
    get filters() {
      return container.get<FilterRegistry>(TOKENS.FilterRegistry);
    },
    get commands() {
      return container.get<CommandRegistry>(TOKENS.CommandRegistry);
    },
    async [Symbol.asyncDispose]() {
      if (disposed) return;
      disposed = true;
      await disposables.dispose();
      await container.unbindAll();
    },
  };
  return rt;
}

/**
 * The notification service of a runtime whose config has notifiers: it taps the `report` hook (every
 * finished backup run; not dry runs) and checks the stale alarms after each run. Its failures are
 * logged and recorded on the run, never thrown into the engine.
 */
async function notificationService(container: Container, config: HokanConfig, dataDir: string, logger: Logger, hooks: EngineHooks): Promise<NotificationService> {
  const [{ NotificationService }, { ENGINE_SERVICE }, { closeTarget }, { describeError }] = await Promise.all([
    import('../notify/notification-service.js'),
    import('../engine/engine-service.js'),
    import('../engine/job-store.js'),
    import('../../common/errors.js'),
  ]);
  const engine = () => container.get<import('../engine/engine-service.js').EngineService>(ENGINE_SERVICE);
  const service = new NotificationService({
    config,
    contribution: (type) => container.get<NotifierRegistry>(TOKENS.NotifierRegistry).get(type),
    logger,
    dataDir,
    index: () => engine().openIndex(),
    usage: () =>
      Promise.all(
        Object.entries(config.targets).map(async ([id, cfg]) => {
          let t: Awaited<ReturnType<ReturnType<typeof engine>['openTarget']>> | undefined;
          // What hokan keeps there, from the index (every version of every job writing there) …
          const index = await engine().openIndex();
          let held = 0;
          let files = 0;
          for (const job of config.jobs.filter((j) => j.targets.includes(id))) {
            for await (const [, , h] of index.heldAll(job.id, id)) {
              for (const v of [h.cur, ...h.old]) if (v && !v.link) held += v.size;
              if (h.cur) files++;
            }
          }
          // … and what the target says of its space.
          try {
            t = await engine().openTarget(id);
            return { id, type: cfg.type, held, files, ...(t.usage ? await t.usage() : {}) };
          } catch (e) {
            return { id, type: cfg.type, held, files, error: describeError(e) };
          } finally {
            await closeTarget(t);
          }
        }),
      ),
  });
  hooks.report.tapPromise({ name: 'notify', stage: 1000 }, async ({ run, context }) => {
    if (context.dryRun) return;
    try {
      await service.onRun(run);
      await service.checkStale();
    } catch (e) {
      logger.child('notify').warn({ run: run.id, err: describeError(e) }, 'the notifications of a run failed');
    }
  });
  return service;
}
