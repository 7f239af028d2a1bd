import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BuiltinCommand } from '../command.js';
import { configPlace, noConfigLine } from './no-config.js';

export interface PluginListEntry {
  id: string;
  version: string;
  name: string;
  source: 'builtin' | 'package' | 'path';
  path?: string;
  contributes: Record<string, unknown>;
  used: boolean;
  /** Why it is used: what in config.json needs it. */
  usedBy?: string[];
  error?: string;
}

export const pluginsCommand: BuiltinCommand = {
  command: 'plugins',
  describe: 'Plugins',
  subcommands: [
    {
      command: 'list',
      describe: 'The built-in plugins and those config.json names, what each contributes and whether it is used',
      handler: async (_args, ctx) => {
        const { parseConfigText } = await import('../../node/config/config-loader.js');
        const { PluginHost, usedBecause } = await import('../../node/plugins/plugin-host.js');
        // Before any config exists: the built-in plugins, and where a config would be read from.
        const place = await configPlace(ctx);
        const file = place.file;
        if (!place.exists) {
          if (ctx.output.json) ctx.output.error(noConfigLine(place.looked));
          else ctx.output.print(noConfigLine(place.looked));
        }
        const raw = place.exists ? (parseConfigText(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''), file).value as Record<string, any>) : {};
        const specs = Array.isArray(raw.plugins) && raw.plugins.every((p: unknown) => typeof p === 'string') ? (raw.plugins as string[]) : undefined;
        const host = PluginHost.discover(specs, dirname(file));
        const usage = {
          targets: raw.targets && typeof raw.targets === 'object' && !Array.isArray(raw.targets) ? raw.targets : {},
          jobs: Array.isArray(raw.jobs) ? raw.jobs.filter((j: unknown) => j && typeof j === 'object') : [],
          notify: Array.isArray(raw.notify) ? raw.notify.filter((n: unknown) => n && typeof n === 'object') : [],
        };
        const entries: PluginListEntry[] = [];
        for (const d of host.descriptors) {
          const why = usedBecause(d, usage, { runtime: true });
          const e: PluginListEntry = { id: d.id, version: d.version, name: d.name, source: d.source, path: d.root, contributes: { ...(d.manifest.contributes ?? {}) }, used: why.length > 0 };
          if (why.length) e.usedBy = why;
          if (why.length) {
            try {
              await host.load(d);
            } catch (err) {
              e.error = (err as Error).message;
            }
          }
          entries.push(e);
        }
        for (const p of host.problems) {
          entries.push({ id: p.error && 'pluginId' in p.error ? String((p.error as any).pluginId) : p.spec, version: '', name: p.spec, source: p.spec.startsWith('.') || p.spec.startsWith('/') ? 'path' : 'package', contributes: {}, used: false, error: p.error.message });
        }
        if (ctx.output.json) ctx.output.printJson(entries);
        else {
          for (const e of entries) {
            const what = Object.entries(e.contributes)
              .map(([k, v]) => `${k}: ${(v as any[]).map((x) => x.type ?? x.name ?? x.command ?? x).join(', ')}`)
              .join('; ');
            ctx.output.print(`${e.id}${e.version ? ` ${e.version}` : ''} (${e.source === 'builtin' ? 'built-in' : e.source}${e.name !== e.id ? `, ${e.name}` : ''})`);
            ctx.output.print(`    ${e.used ? `used: ${e.usedBy!.join(', ')}` : 'not used by this config'}`);
            if (what) ctx.output.print(`    contributes ${what}`);
            if (e.error) ctx.output.print(`    ERROR: ${e.error.replace(/\n/g, '\n    ')}`);
          }
        }
        return entries.some((e) => e.error) ? 2 : 0;
      },
    },
  ],
};
