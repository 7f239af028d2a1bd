/**
 * DI tokens for the core's services. Global symbols (`Symbol.for`) so that two copies of
 * @hokan/core agree. Inject them explicitly — `@inject(TOKENS.Config)` — on every constructor
 * parameter: esbuild (tsx, vitest) emits no decorator metadata, so implicit injection breaks there.
 */
export const TOKENS = {
  /** The resolved `HokanConfig` (references resolved, `~` expanded, defaults applied). */
  Config: Symbol.for('hokan.Config'),
  /** Absolute path of the config file in use. */
  ConfigPath: Symbol.for('hokan.ConfigPath'),
  /** The root `Logger`. */
  Logger: Symbol.for('hokan.Logger'),
  /** Absolute path of the data directory (index, logs). */
  DataDir: Symbol.for('hokan.DataDir'),
  /** The `RuntimeOptions` the runtime was created with. */
  RuntimeOptions: Symbol.for('hokan.RuntimeOptions'),
  /** The one frozen `EngineHooks` instance. */
  EngineHooks: Symbol.for('hokan.EngineHooks'),
  /** The `PluginHost` (manifests, activation). */
  PluginHost: Symbol.for('hokan.PluginHost'),
  TargetRegistry: Symbol.for('hokan.TargetRegistry'),
  NotifierRegistry: Symbol.for('hokan.NotifierRegistry'),
  PresetRegistry: Symbol.for('hokan.PresetRegistry'),
  FilterRegistry: Symbol.for('hokan.FilterRegistry'),
  CommandRegistry: Symbol.for('hokan.CommandRegistry'),
} as const;

/** The token under which the `ContributionProvider` of one contribution symbol is bound. */
export function contributionProviderToken(contribution: symbol): symbol {
  return Symbol.for(`hokan.ContributionProvider(${contribution.description ?? String(contribution)})`);
}
