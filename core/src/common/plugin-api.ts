import type { Argv } from 'yargs';
import type { ContainerModule } from 'inversify';
import type { Disposable } from './disposable.js';
import type { HokanConfig, PresetDefinition } from './config-types.js';
import type { EngineHooks } from './hooks.js';
import type { Logger } from './logger.js';
import type { FileEntry, FilterVerdict } from './model.js';
import type { Notifier, NotifierContext } from './notify.js';

/** The plugin API version this core speaks. A manifest with another `apiVersion` is refused. */
export const API_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Static manifest: the `hokan` key of a plugin's package.json, read without running plugin code.
// ---------------------------------------------------------------------------------------------

export interface PluginManifest {
  apiVersion: number;
  /** Plugin id; defaults to the package name without its scope (`@hokan/target-s3` → `target-s3`). */
  id?: string;
  contributes?: ManifestContributions;
}

export interface ManifestContributions {
  /** Target types, with the JSON Schema of their config (path relative to the package). */
  targets?: { type: string; title?: string; configSchema?: string }[];
  notifiers?: { type: string; title?: string; configSchema?: string }[];
  presets?: { name: string; title?: string }[];
  filters?: { name: string; title?: string; optionsSchema?: string }[];
  /** CLI commands: shown in `agent --help` without importing the plugin. */
  commands?: { command: string; describe: string }[];
  /** Hooks the plugin taps; such a plugin is activated for every run. */
  hooks?: string[];
}

// ---------------------------------------------------------------------------------------------
// Runtime: what a plugin's entry default-exports.
// ---------------------------------------------------------------------------------------------

export interface PluginContext {
  readonly id: string;
  readonly logger: Logger;
  readonly hooks: EngineHooks;
  readonly dataDir: string;
  /** Directory of the plugin's package (for its own files). */
  readonly root: string;
}

export interface PluginDefinition {
  id: string;
  apiVersion: number;
  /** Binds the plugin's contributions (to the symbols below) and services. */
  module?: ContainerModule;
  /** Runs once after the container is built: tap hooks here. Return a Disposable to undo it on stop. */
  activate?(ctx: PluginContext): void | Disposable | Promise<void | Disposable>;
}

export function definePlugin(def: PluginDefinition): PluginDefinition {
  return def;
}

// ---------------------------------------------------------------------------------------------
// Contribution points. Bind an implementation to the symbol in your ContainerModule:
//   bind(TargetContribution).toConstantValue({ type: 's3', create: ... })
// The core collects them with a ContributionProvider (empty is fine) into its registries.
// Symbols are global (`Symbol.for`) so two copies of @hokan/core agree.
// ---------------------------------------------------------------------------------------------

export { TargetContribution } from './target.js';
export const NotifierContribution = Symbol.for('hokan.NotifierContribution');
export const PresetContribution = Symbol.for('hokan.PresetContribution');
export const FilterContribution = Symbol.for('hokan.FilterContribution');
export const CommandContribution = Symbol.for('hokan.CommandContribution');


/** A notifier type (`smtp`, `slack`, …): builds a Notifier from one `notify` entry of config.json. */
export interface NotifierContribution {
  readonly type: string;
  create(config: Record<string, unknown>, ctx: NotifierContext): Notifier | Promise<Notifier>;
}

export interface PresetResolution {
  /**
   * Absolute folders (or files), each a string (the preset's own rules apply) or an object with
   * rules of its own (a browser profile folder whose bookmark files are taken). Folders that do not
   * exist on this machine may be listed: a backup leaves them out.
   */
  folders: (string | PresetFolder)[];
  /** Lower-case extensions without the dot; empty or absent = every file in the folders. */
  extensions?: string[];
  /** Extensions never taken (the desktop's shortcuts). */
  excludeExtensions?: string[];
  exclude?: string[];
}

/** One folder of a preset with its own rules (they replace the preset's for this folder). */
export interface PresetFolder {
  path: string;
  include?: string[];
  exclude?: string[];
  extensions?: string[];
  excludeExtensions?: string[];
}

/** Where a preset is resolved: the OS, the home folder and the environment (tests pass a fake home). */
export interface PresetEnvironment {
  platform: NodeJS.Platform;
  home: string;
  env: NodeJS.ProcessEnv;
}

export interface PresetContribution {
  readonly name: string;
  /** Display name (English). */
  readonly title: string;
  /** Display names by language (`{ en, ja }`), when the plugin has them. */
  readonly titles?: Readonly<Record<string, string>>;
  /** One line: what the preset takes. */
  readonly description?: string;
  resolve(env: PresetEnvironment): PresetResolution | Promise<PresetResolution>;
}

export interface FilterContribution {
  readonly name: string;
  create(options: unknown): (entry: FileEntry) => FilterVerdict | undefined | Promise<FilterVerdict | undefined>;
}

/** Global options every command gets (product.md "The command line"). */
export interface GlobalOptions {
  config?: string;
  dataDir: string;
  json: boolean;
  verbose: boolean;
  /**
   * The folder the command was typed in: resolve relative paths the person gave against it, never
   * against `process.cwd()` (under `agent run` the daemon runs the command for a client elsewhere).
   */
  cwd: string;
}

/** Where a command writes what a person (or a script with --json) reads. */
export interface Output {
  readonly json: boolean;
  readonly isTTY: boolean;
  /** A human line on stdout (suppressed with --json). */
  print(text: string): void;
  /** The one JSON document of a --json run. */
  printJson(value: unknown): void;
  /** A warning or error line on stderr. */
  error(text: string): void;
}

/** What the core has built after loading the config and activating the plugins it uses. */
export interface Runtime extends AsyncDisposable {
  readonly config: HokanConfig;
  readonly configPath: string;
  readonly dataDir: string;
  readonly hooks: EngineHooks;
  readonly logger: Logger;
  /** The DI container (resolve core services by their tokens). */
  readonly container: import('inversify').Container;
}

export interface CommandContext {
  readonly options: GlobalOptions;
  readonly output: Output;
  readonly logger: Logger;
  /** Load and validate the config, activate the plugins it uses; cached for the command's life. */
  runtime(): Promise<Runtime>;
}

export interface CommandContribution {
  /** yargs command string, e.g. `presets [name]`. */
  readonly command: string;
  readonly describe: string;
  builder?(y: Argv): Argv;
  /** Returns the exit code (default 0). */
  handler(args: Record<string, unknown>, ctx: CommandContext): Promise<number | void>;
}

export type { PresetDefinition };
