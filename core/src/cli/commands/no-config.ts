import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import type { CommandContext } from '../../common/plugin-api.js';
import type { CliContext } from '../context.js';
import type { HokanRuntime } from '../../node/runtime/runtime.js';
import type { Usage } from '../../node/plugins/plugin-host.js';

/** Where the config is read from, and whether it exists — for commands that also work without one. */
export async function configPlace(ctx: CommandContext): Promise<{ file: string; exists: boolean; looked: { path: string; from: string }[] }> {
  const { configCandidates } = await import('../../node/config/config-paths.js');
  const env = (ctx as CliContext).io?.env ?? process.env;
  const looked = configCandidates(ctx.options.config, { env, cwd: ctx.options.cwd });
  const found = looked.find((c) => existsSync(c.path));
  return { file: found?.path ?? looked[looked.length - 1]!.path, exists: found !== undefined, looked };
}

/** The line a command prints when there is no config yet. */
export function noConfigLine(looked: { path: string; from: string }[]): string {
  return `no config yet: a config would be read from ${looked.map((c) => `${c.path} (${c.from})`).join(', then ')}; \`agent init\` writes one`;
}

/**
 * A runtime for a command that works before any config exists (`presets`, `plugins list`): the
 * config's when there is one, else one with the built-in plugins and no targets or jobs.
 */
export async function runtimeOrBuiltins(ctx: CommandContext, usage: Usage): Promise<{ rt: HokanRuntime; configFile: string; exists: boolean; looked: { path: string; from: string }[] }> {
  const place = await configPlace(ctx);
  const { createRuntime } = await import('../../node/runtime/runtime.js');
  const env = (ctx as CliContext).io?.env ?? process.env;
  const common = { dataDir: ctx.options.dataDir, verbose: ctx.options.verbose, env, cwd: ctx.options.cwd, logger: ctx.logger, usage };
  if (place.exists) return { rt: await createRuntime({ ...common, config: place.file }), configFile: place.file, exists: true, looked: place.looked };
  const { PluginHost } = await import('../../node/plugins/plugin-host.js');
  const plugins = PluginHost.discover(undefined, dirname(place.file));
  const loaded = {
    config: { device: hostname(), plugins: plugins.configured.map((d) => d.spec), targets: {}, jobs: [], notify: [], presets: {} },
    path: place.file,
    plugins,
    warnings: [],
    schema: {},
  };
  return { rt: await createRuntime({ ...common, loaded }), configFile: place.file, exists: false, looked: place.looked };
}
