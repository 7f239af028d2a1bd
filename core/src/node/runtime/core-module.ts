import 'reflect-metadata';
import { ContainerModule } from 'inversify';
import type { HokanConfig } from '../../common/config-types.js';
import type { EngineHooks } from '../../common/hooks.js';
import type { Logger } from '../../common/logger.js';
import { CommandContribution, FilterContribution, NotifierContribution, PresetContribution, TargetContribution } from '../../common/plugin-api.js';
import { TOKENS } from '../../common/tokens.js';
import { bindContributionProvider } from '../plugins/contribution-provider.js';
import type { PluginHost } from '../plugins/plugin-host.js';
import { CommandRegistry, FilterRegistry, NotifierRegistry, PresetRegistry, TargetRegistry } from '../plugins/registries.js';

export interface CoreValues {
  config: HokanConfig;
  configPath: string;
  dataDir: string;
  logger: Logger;
  hooks: EngineHooks;
  plugins: PluginHost;
  options: unknown;
}

/** The contribution symbols the core collects (each gets a ContributionProvider). */
export const CONTRIBUTION_POINTS = [TargetContribution, NotifierContribution, PresetContribution, FilterContribution, CommandContribution] as const;

/** Binds the core's values and services: config, logger, data dir, hooks, plugin host, registries. */
export function createCoreModule(v: CoreValues): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind(TOKENS.Config).toConstantValue(v.config);
    bind(TOKENS.ConfigPath).toConstantValue(v.configPath);
    bind(TOKENS.DataDir).toConstantValue(v.dataDir);
    bind(TOKENS.Logger).toConstantValue(v.logger);
    bind(TOKENS.EngineHooks).toConstantValue(v.hooks);
    bind(TOKENS.PluginHost).toConstantValue(v.plugins);
    bind(TOKENS.RuntimeOptions).toConstantValue(v.options);
    for (const point of CONTRIBUTION_POINTS) bindContributionProvider(bind, point);
    bind(TOKENS.TargetRegistry).to(TargetRegistry).inSingletonScope();
    bind(TOKENS.NotifierRegistry).to(NotifierRegistry).inSingletonScope();
    bind(TOKENS.PresetRegistry).to(PresetRegistry).inSingletonScope();
    bind(TOKENS.FilterRegistry).to(FilterRegistry).inSingletonScope();
    bind(TOKENS.CommandRegistry).to(CommandRegistry).inSingletonScope();
  });
}

/**
 * ENGINE SERVICES GO HERE. The container modules of the engine (IndexStore, Engine, scheduler, …),
 * loaded by `createRuntime` after the core module and before the plugins' modules. Import them
 * lazily (`await import('../engine/engine-module.js')`) so commands that do not need the engine —
 * `--help`, `config validate` — stay fast.
 */
export async function loadEngineModules(): Promise<ContainerModule[]> {
  const { engineModule } = await import('../engine/engine-module.js');
  return [engineModule];
}
