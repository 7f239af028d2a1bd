import { homedir } from 'node:os';
import { existsSync } from 'node:fs';
import { UsageError } from '../../common/errors.js';
import type { CommandContext, PresetContribution, PresetResolution } from '../../common/plugin-api.js';
import type { BuiltinCommand } from '../command.js';
import type { CliContext } from '../context.js';
import { noConfigLine, runtimeOrBuiltins } from './no-config.js';

/** One preset as `presets list` / `presets show` describe it. */
interface PresetInfo {
  name: string;
  title: string;
  titles?: Record<string, string>;
  description?: string;
  /** Who defines it: a plugin's package name, or "config.json". */
  from: string;
  extends?: string;
  /** Absolute folders that exist on this machine. */
  folders: string[];
  /** Folders the preset names that do not exist here (left out by a backup). */
  missing: string[];
  /** Extensions taken (lower case, no dot); empty when whole folders are taken. */
  extensions: string[];
  excludeExtensions: string[];
  excludes: string[];
  /** Folders with rules of their own (a browser profile's bookmark files). */
  folderRules?: { path: string; include?: string[]; exclude?: string[]; extensions?: string[] }[];
}

async function presetsOf(ctx: CommandContext) {
  const got = await runtimeOrBuiltins(ctx, { command: 'presets', runtime: true, allPresets: true });
  const { rt } = got;
  const { resolvePresetByName } = await import('../../node/engine/sources.js');
  const env = (ctx as CliContext).io?.env ?? process.env;
  const fromPlugin = new Map<string, string>();
  for (const d of rt.active.map((a) => a.descriptor)) for (const p of d.manifest.contributes?.presets ?? []) fromPlugin.set(p.name, d.name);
  const contributions = new Map<string, PresetContribution>(rt.presets.all().map((c) => [c.name, c]));
  const resolver = async (name: string): Promise<PresetResolution> => {
    const c = contributions.get(name);
    if (!c) throw new UsageError(`no plugin provides the preset "${name}"`);
    return c.resolve({ platform: process.platform, home: homedir(), env });
  };
  const names = [...new Set([...contributions.keys(), ...Object.keys(rt.config.presets)])];
  const info = async (name: string): Promise<PresetInfo> => {
    const user = rt.config.presets[name];
    const c = contributions.get(name);
    const res = await resolvePresetByName(name, rt.config, resolver);
    const all = res.folders.map((f) => (typeof f === 'string' ? f : f.path));
    const rules = res.folders.filter((f) => typeof f !== 'string');
    const out: PresetInfo = {
      name,
      title: user?.title ?? c?.title ?? name,
      titles: user ? undefined : c?.titles ? { ...c.titles } : undefined,
      description: user ? undefined : c?.description,
      from: user ? 'config.json' : (fromPlugin.get(name) ?? 'a plugin'),
      extends: user?.extends,
      folders: all.filter((f) => existsSync(f)),
      missing: all.filter((f) => !existsSync(f)),
      extensions: res.extensions ?? [],
      excludeExtensions: res.excludeExtensions ?? [],
      excludes: res.exclude ?? [],
    };
    if (rules.length) out.folderRules = rules.map((r) => ({ path: r.path, include: r.include, exclude: r.exclude, extensions: r.extensions }));
    if (!out.titles) delete out.titles;
    if (!out.description) delete out.description;
    if (!out.extends) delete out.extends;
    return out;
  };
  return { ...got, names, info, resolver };
}

const short = (list: string[], n = 8) => (list.length > n ? `${list.slice(0, n).join(', ')}, … (${list.length} in all)` : list.join(', '));

export const presetsCommand: BuiltinCommand = {
  command: 'presets',
  describe: 'Category presets ("leave it to us" backup): what each one takes on this machine',
  subcommands: [
    {
      command: 'list',
      describe: 'Every preset: its name, what it takes, and its folders that exist here (works before any config exists)',
      handler: async (_args, ctx) => {
        const p = await presetsOf(ctx);
        try {
          const list = [];
          for (const n of p.names) list.push(await p.info(n));
          if (ctx.output.json) {
            ctx.output.printJson({ config: p.exists ? p.configFile : null, configCandidates: p.exists ? undefined : p.looked.map((c) => c.path), presets: list });
            return 0;
          }
          if (!p.exists) ctx.output.print(noConfigLine(p.looked));
          for (const i of list) {
            const ja = i.titles?.ja && i.titles.ja !== i.title ? ` (${i.titles.ja})` : '';
            ctx.output.print(`${i.name} — ${i.title}${ja}${i.from === 'config.json' ? ' [config.json]' : ''}`);
            const what = i.extensions.length ? `${i.extensions.length} extensions (${short(i.extensions, 6)})` : i.folderRules?.length ? 'chosen files in each folder (see `agent presets show`)' : 'every file';
            ctx.output.print(`    takes: ${what}${i.excludeExtensions.length ? `, not ${i.excludeExtensions.join(', ')}` : ''}${i.extends ? `; extends ${i.extends}` : ''}`);
            ctx.output.print(`    folders here: ${i.folders.length ? i.folders.join(', ') : 'none on this machine'}`);
          }
          return 0;
        } finally {
          await p.rt[Symbol.asyncDispose]();
        }
      },
    },
    {
      command: 'show <name>',
      describe: 'One preset: folders (absolute), extensions, excludes, and the files and bytes a backup would take (the same walk and filters)',
      builder: (y) =>
        y
          .positional('name', { type: 'string', describe: 'The preset (see `agent presets list`)' })
          .option('job', { type: 'string', describe: 'Count with this job\'s filters (default: a job with no filters)' })
          .option('files', { type: 'boolean', default: false, describe: 'List every file it takes' }),
      handler: async (args, ctx) => {
        const p = await presetsOf(ctx);
        try {
          const name = String(args.name);
          if (!p.names.includes(name)) {
            const { didYouMean } = await import('../../node/config/did-you-mean.js');
            const guess = didYouMean(name, p.names);
            throw new UsageError(`unknown preset '${name}'; presets: ${p.names.join(', ')}`, { hint: guess ? `did you mean '${guess}'?` : 'see `agent presets list`, or define it under "presets" in config.json' });
          }
          let filters = {};
          let followSymlinks = false;
          if (args.job !== undefined) {
            const job = p.rt.config.jobs.find((j) => j.id === args.job);
            if (!job) throw new UsageError(`no job '${String(args.job)}' in ${p.configFile}`, { hint: `jobs: ${p.rt.config.jobs.map((j) => j.id).join(', ') || 'none'}` });
            filters = job.filters;
            followSymlinks = job.followSymlinks;
          }
          const info = await p.info(name);
          const { walkSources } = await import('../../node/engine/source-walk.js');
          const files: string[] = [];
          const t = await walkSources([{ preset: name }], p.rt.config, p.resolver, { filters, followSymlinks, onFile: args.files ? (e) => files.push(e.abs) : undefined });
          const result = { ...info, files: t.files, bytes: t.bytes, errors: t.errors, ...(args.files ? { list: files } : {}) };
          if (ctx.output.json) {
            ctx.output.printJson(result);
            return 0;
          }
          const { formatBytes } = await import('../../common/units.js');
          if (!p.exists) ctx.output.print(noConfigLine(p.looked));
          const ja = info.titles?.ja && info.titles.ja !== info.title ? ` (${info.titles.ja})` : '';
          ctx.output.print(`${name} — ${info.title}${ja}${info.description ? `: ${info.description}` : ''}`);
          ctx.output.print(`from: ${info.from}${info.extends ? `, extends ${info.extends}` : ''}`);
          ctx.output.print(`folders:${info.folders.length ? '' : ' none on this machine'}`);
          for (const f of info.folders) ctx.output.print(`    ${f}`);
          if (info.missing.length) ctx.output.print(`not on this machine: ${info.missing.join(', ')}`);
          ctx.output.print(`extensions: ${info.extensions.length ? `${info.extensions.length}: ${info.extensions.join(' ')}` : 'every file'}`);
          if (info.excludeExtensions.length) ctx.output.print(`never: ${info.excludeExtensions.join(' ')}`);
          ctx.output.print(`excludes: ${info.excludes.join('  ')}`);
          for (const r of info.folderRules ?? []) {
            if (!existsSync(r.path)) continue;
            const parts = [r.include ? `only ${r.include.join(', ')}` : '', r.extensions ? `extensions ${short(r.extensions)}` : '', r.exclude ? `${r.exclude.length} excludes (with the profile's caches)` : ''].filter(Boolean);
            ctx.output.print(`rules in ${r.path}: ${parts.join('; ')}`);
          }
          ctx.output.print(`a backup would take ${t.files} files, ${formatBytes(t.bytes)}${args.job ? ` (job ${String(args.job)}'s filters)` : ''}`);
          for (const f of files) ctx.output.print(`    ${f}`);
          for (const e of t.errors) ctx.output.error(`cannot read ${e}`);
          return t.errors.length ? 1 : 0;
        } finally {
          await p.rt[Symbol.asyncDispose]();
        }
      },
    },
  ],
};
