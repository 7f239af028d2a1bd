import type { BuiltinCommand } from '../command.js';

async function load(ctx: Parameters<NonNullable<BuiltinCommand['handler']>>[1], checkDisk = false) {
  const [{ findConfigPath }, { loadConfig }, { join }] = await Promise.all([import('../../node/config/config-paths.js'), import('../../node/config/config-loader.js'), import('node:path')]);
  // Always validated in full; only the compiled validator is reused from the data folder's cache.
  return loadConfig({ path: findConfigPath(ctx.options.config, { cwd: ctx.options.cwd }), cacheDir: join(ctx.options.dataDir, 'cache'), checkDisk });
}

export const configCommand: BuiltinCommand = {
  command: 'config',
  describe: 'Check and show the config',
  subcommands: [
    {
      command: 'validate',
      describe: 'Check config.json and its plugins; print every problem with its place',
      handler: async (_args, ctx) => {
        const loaded = await load(ctx, true);
        for (const w of loaded.warnings) ctx.output.error(`warning: ${w}`);
        const c = loaded.config;
        if (ctx.output.json) {
          ctx.output.printJson({ ok: true, file: loaded.path, problems: [], warnings: loaded.warnings });
        } else {
          ctx.output.print(`${loaded.path}: valid — ${Object.keys(c.targets).length} target(s), ${c.jobs.length} job(s), ${c.notify.length} notifier(s); plugins: ${loaded.plugins.configured.map((d) => d.id).join(', ') || 'none'}`);
        }
        return 0;
      },
    },
    {
      command: 'show',
      describe: 'Print the resolved config (defaults applied, secrets masked)',
      handler: async (_args, ctx) => {
        const loaded = await load(ctx);
        const { maskSecrets } = await import('../../node/config/config-loader.js');
        for (const w of loaded.warnings) ctx.output.error(`warning: ${w}`);
        const masked = maskSecrets(loaded.config);
        if (ctx.output.json) ctx.output.printJson(masked);
        else ctx.output.print(`// ${loaded.path}\n${JSON.stringify(masked, null, 2)}`);
        return 0;
      },
    },
  ],
};
