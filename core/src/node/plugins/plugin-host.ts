import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, parse as parsePath, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { HookName } from '../../common/hooks.js';
import type { EngineHooks } from '../../common/hooks.js';
import { HokanError, PluginError, PluginLoadError } from '../../common/errors.js';
import type { HokanConfig } from '../../common/config-types.js';
import type { Logger } from '../../common/logger.js';
import { API_VERSION, type PluginDefinition, type PluginManifest } from '../../common/plugin-api.js';
import type { ContributedType, SchemaContributions } from './schema-contributions.js';

/** The plugins that ship with hokan; used when config.json has no "plugins" key, and always listed. */
export const BUILTIN_PLUGINS = ['@hokan/target-hdd', '@hokan/target-s3', '@hokan/target-azure', '@hokan/target-nas', '@hokan/notify-smtp', '@hokan/category-presets'] as const;

/** A plugin found on disk, with its manifest: everything known without running its code. */
export interface PluginDescriptor {
  /** Plugin id: the manifest's `id`, or the package name without its scope. */
  id: string;
  /** Package name from package.json. */
  name: string;
  version: string;
  /** How config.json (or the built-in list) names it. */
  spec: string;
  /** `builtin` (ships with hokan), `package` (an npm package), `path` (a local folder). */
  source: 'builtin' | 'package' | 'path';
  /** The plugin's folder. */
  root: string;
  manifest: PluginManifest;
  /** Whether config.json's "plugins" names it (built-ins not named are listed but not loadable). */
  configured: boolean;
}

/** Where this @hokan/core is installed (…/core). */
const CORE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function readJson(file: string): any {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function isPathSpec(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || spec === '.' || spec === '..' || spec.startsWith('~/') || isAbsolute(spec) || /^[A-Za-z]:[\\/]/.test(spec);
}

function nodeModulesChain(from: string): string[] {
  const out: string[] = [];
  let dir = resolve(from);
  const { root } = parsePath(dir);
  for (;;) {
    if (!dir.endsWith(`${'/'}node_modules`) && parsePath(dir).base !== 'node_modules') out.push(join(dir, 'node_modules'));
    if (dir === root) break;
    dir = dirname(dir);
  }
  return out;
}

/**
 * Finds the folder of a plugin named in config.json: a path (relative to the config file's folder)
 * or a package name (looked up from the config file's folder, then from hokan's own install).
 * Throws a PluginLoadError that lists every place tried.
 */
export function locatePlugin(spec: string, configDir: string, home = process.env.HOME ?? ''): { root: string; source: 'package' | 'path' } {
  const tried: string[] = [];
  if (isPathSpec(spec)) {
    const dir = spec.startsWith('~/') ? join(home, spec.slice(2)) : resolve(configDir, spec);
    const pkg = join(dir, 'package.json');
    tried.push(pkg);
    if (existsSync(pkg)) return { root: realpathSync(dir), source: 'path' };
  } else {
    const seen = new Set<string>();
    for (const nm of [...nodeModulesChain(configDir), ...nodeModulesChain(CORE_ROOT)]) {
      if (seen.has(nm)) continue;
      seen.add(nm);
      const pkg = join(nm, spec, 'package.json');
      tried.push(pkg);
      if (existsSync(pkg)) return { root: realpathSync(dirname(pkg)), source: 'package' };
    }
  }
  throw new PluginLoadError(spec, `plugin '${spec}' cannot be found; tried:\n${tried.map((t) => `    ${t}`).join('\n')}`, {
    hint: isPathSpec(spec)
      ? `a path in "plugins" is relative to the config file's folder (${configDir}) and must name a folder with a package.json`
      : `install it (npm install ${spec}) next to config.json or with hokan, or give a path such as "./my-plugin"`,
  });
}

/** Reads a plugin's package.json and checks its `hokan` manifest. No plugin code runs. */
export function readPluginDescriptor(root: string, spec: string, source: PluginDescriptor['source'], configured: boolean): PluginDescriptor {
  const pkgFile = join(root, 'package.json');
  let pkg: any;
  try {
    pkg = readJson(pkgFile);
  } catch (e) {
    throw new PluginLoadError(spec, `plugin '${spec}': cannot read ${pkgFile}: ${(e as Error).message}`, { cause: e });
  }
  const name = typeof pkg.name === 'string' ? pkg.name : spec;
  const manifest = pkg.hokan as PluginManifest | undefined;
  if (!manifest || typeof manifest !== 'object') {
    throw new PluginLoadError(spec, `'${name}' (${root}) is not a hokan plugin: its package.json has no "hokan" manifest`, {
      hint: 'a plugin declares itself with "hokan": { "apiVersion": 1, "contributes": { … } } in its package.json',
    });
  }
  const id = manifest.id ?? name.replace(/^@[^/]+\//, '');
  if (manifest.apiVersion !== API_VERSION) {
    throw new PluginLoadError(id, `plugin '${id}' (${name}) is written for plugin API version ${JSON.stringify(manifest.apiVersion)}, but this hokan speaks version ${API_VERSION}`, {
      hint: `use a version of '${name}' made for hokan's plugin API ${API_VERSION}`,
    });
  }
  return { id, name, version: String(pkg.version ?? '0.0.0'), spec, source, root, manifest, configured };
}

/** The file a plugin's code is imported from: `exports["."]`, else `main`, else index.js. */
export function pluginEntry(d: PluginDescriptor): string {
  const pkg = readJson(join(d.root, 'package.json'));
  let rel: string | undefined;
  const ex = pkg.exports;
  if (typeof ex === 'string') rel = ex;
  else if (ex && typeof ex === 'object') {
    const dot = ex['.'] ?? ex;
    rel = typeof dot === 'string' ? dot : (dot?.import ?? dot?.default ?? dot?.node);
    if (rel && typeof rel === 'object') rel = (rel as any).default;
  }
  rel ??= pkg.main ?? 'index.js';
  return resolve(d.root, rel!);
}

export interface PluginProblem {
  spec: string;
  error: HokanError;
}

/** What a run or command uses, to decide which plugins to import. */
export interface Usage {
  /** The command being run (its first word), if any. */
  command?: string;
  /** Whether this builds the runtime for a run or command (activates hook-tapping plugins). */
  runtime?: boolean;
  /** Activate every plugin that contributes presets (`agent presets`). */
  allPresets?: boolean;
}

/** Why (or whether) a plugin is needed by this config — empty when it is not used. */
export function usedBecause(d: PluginDescriptor, config: Pick<HokanConfig, 'targets' | 'jobs' | 'notify'> & { presets?: HokanConfig['presets'] }, usage: Usage = { runtime: true }): string[] {
  if (!d.configured) return [];
  const c = d.manifest.contributes ?? {};
  const why: string[] = [];
  const targetTypes = new Set(Object.values(config.targets ?? {}).map((t) => t?.type));
  for (const t of c.targets ?? []) if (targetTypes.has(t.type)) why.push(`target type '${t.type}'`);
  const notifierTypes = new Set((config.notify ?? []).map((n) => n?.type));
  for (const n of c.notifiers ?? []) if (notifierTypes.has(n.type)) why.push(`notifier type '${n.type}'`);
  const presets = new Set((config.jobs ?? []).flatMap((j) => (j?.sources ?? []).map((s) => s?.preset)));
  // A user preset that extends a plugin's needs that plugin too (through any chain of "extends").
  const user = config.presets && typeof config.presets === 'object' ? config.presets : {};
  for (const start of [...presets]) {
    let cur = start;
    for (let i = 0; i < 32 && typeof cur === 'string' && typeof user[cur]?.extends === 'string'; i++) {
      const base: string = user[cur]!.extends!;
      presets.add(base);
      if (base === cur) break;
      cur = base;
    }
  }
  for (const p of c.presets ?? []) {
    if (usage.allPresets) why.push(`preset '${p.name}'`);
    else if (presets.has(p.name)) why.push(`preset '${p.name}'`);
  }
  const filters = new Set((config.jobs ?? []).flatMap((j) => (j?.filters?.plugins ?? []).map((f) => f?.name)));
  for (const f of c.filters ?? []) if (filters.has(f.name)) why.push(`filter '${f.name}'`);
  if (usage.command) for (const cmd of c.commands ?? []) if (cmd.command.trim().split(/\s+/)[0] === usage.command) why.push(`command '${usage.command}'`);
  if (usage.runtime && (c.hooks?.length ?? 0) > 0) why.push(`hooks ${c.hooks!.join(', ')}`);
  return why;
}

/** A plugin whose code has been imported. */
export interface LoadedPlugin {
  descriptor: PluginDescriptor;
  definition: PluginDefinition;
}

/**
 * The plugin host: finds the plugins config.json names (plus the built-ins, for listing), reads
 * their manifests without running their code, and imports a plugin only when asked to activate it.
 */
export class PluginHost {
  readonly descriptors: PluginDescriptor[] = [];
  /** Plugins that could not be found or whose manifest is bad; the others still load. */
  readonly problems: PluginProblem[] = [];
  private readonly loaded = new Map<string, LoadedPlugin>();

  private constructor(readonly configDir: string) {}

  /**
   * @param specs config.json's "plugins" (undefined = the built-ins)
   * @param configDir the config file's folder (paths and package lookups start there)
   */
  static discover(specs: readonly string[] | undefined, configDir: string): PluginHost {
    const host = new PluginHost(configDir);
    const configured = specs ?? BUILTIN_PLUGINS;
    const all: { spec: string; configured: boolean; builtin: boolean }[] = configured.map((spec) => ({ spec, configured: true, builtin: (BUILTIN_PLUGINS as readonly string[]).includes(spec) }));
    for (const b of BUILTIN_PLUGINS) if (!configured.includes(b)) all.push({ spec: b, configured: false, builtin: true });
    const ids = new Map<string, PluginDescriptor>();
    for (const { spec, configured: isConfigured, builtin } of all) {
      try {
        const where = builtin && isConfigured === false ? locatePlugin(spec, CORE_ROOT) : locatePlugin(spec, configDir);
        const d = readPluginDescriptor(where.root, spec, builtin ? 'builtin' : where.source, isConfigured);
        const dup = ids.get(d.id);
        if (dup) {
          if (dup.root === d.root) continue;
          throw new PluginLoadError(d.id, `two plugins have the id '${d.id}': '${dup.spec}' (${dup.root}) and '${spec}' (${d.root})`, {
            hint: 'remove one of them from "plugins" in config.json',
          });
        }
        ids.set(d.id, d);
        host.descriptors.push(d);
      } catch (e) {
        if (!HokanError.is(e) || !isConfigured) {
          if (!isConfigured) continue; // a built-in missing from this install and not asked for: nothing to say
          throw e;
        }
        host.problems.push({ spec, error: e });
      }
    }
    return host;
  }

  /** The plugins config.json names (those that were found). */
  get configured(): PluginDescriptor[] {
    return this.descriptors.filter((d) => d.configured);
  }

  byId(id: string): PluginDescriptor | undefined {
    return this.descriptors.find((d) => d.id === id);
  }

  /** Target and notifier types with their schemas, from the configured plugins' manifests. */
  schemaContributions(options: { includeUnconfigured?: boolean; warn?: (msg: string) => void } = {}): SchemaContributions {
    const out: SchemaContributions = { targets: [], notifiers: [], presets: [] };
    for (const d of this.descriptors) {
      if (!d.configured && !options.includeUnconfigured) continue;
      for (const p of d.manifest.contributes?.presets ?? []) out.presets!.push({ name: p.name, title: p.title, plugin: d.name });
      for (const kind of ['targets', 'notifiers'] as const) {
        for (const t of d.manifest.contributes?.[kind] ?? []) {
          const entry: ContributedType = { type: t.type, title: t.title, plugin: d.name };
          if (t.configSchema) {
            const file = resolve(d.root, t.configSchema);
            try {
              entry.schema = readJson(file);
            } catch (e) {
              options.warn?.(
                (e as NodeJS.ErrnoException).code === 'ENOENT'
                  ? `plugin '${d.id}' (${d.name}) names ${t.configSchema} as the schema of ${kind === 'targets' ? 'target' : 'notifier'} type '${t.type}', but ${file} does not exist: keys of '${t.type}' entries are not checked`
                  : `plugin '${d.id}' (${d.name}): cannot read ${file}: ${(e as Error).message}: keys of '${t.type}' entries are not checked`,
              );
            }
          }
          out[kind].push(entry);
        }
      }
    }
    return out;
  }

  /** Every plugin (configured or built-in) that contributes what `pick` selects, for "did you mean" and "which plugin provides". */
  providers(kind: 'targets' | 'notifiers'): { type: string; plugin: PluginDescriptor }[] {
    return this.descriptors.flatMap((d) => (d.manifest.contributes?.[kind] ?? []).map((t) => ({ type: t.type, plugin: d })));
  }

  /** Imports a plugin's code (once). A throw while importing becomes a PluginLoadError naming it. */
  async load(d: PluginDescriptor): Promise<LoadedPlugin> {
    const have = this.loaded.get(d.id);
    if (have) return have;
    const entry = pluginEntry(d);
    let mod: any;
    try {
      if (!existsSync(entry) || !statSync(entry).isFile()) {
        throw new Error(`its entry ${entry} does not exist${d.source !== 'path' ? ' (is it built? run `npm run build`)' : ''}`);
      }
      mod = await import(pathToFileURL(entry).href);
    } catch (e) {
      throw new PluginLoadError(d.id, `plugin '${d.id}' (${d.name}) failed to load: ${(e as Error)?.message ?? String(e)}`, {
        cause: e,
        hint: `fix the plugin or remove '${d.spec}' from "plugins" in config.json`,
      });
    }
    const def = (mod?.default ?? mod?.plugin) as PluginDefinition | undefined;
    if (!def || typeof def !== 'object' || typeof def.id !== 'string') {
      throw new PluginLoadError(d.id, `plugin '${d.id}' (${d.name}): ${entry} does not default-export definePlugin({ id, apiVersion, … })`);
    }
    if (def.apiVersion !== API_VERSION) {
      throw new PluginLoadError(d.id, `plugin '${d.id}' (${d.name}) is written for plugin API version ${JSON.stringify(def.apiVersion)}, but this hokan speaks version ${API_VERSION}`);
    }
    if (def.id !== d.id) {
      throw new PluginLoadError(d.id, `plugin '${d.name}' calls itself '${def.id}' in its code but '${d.id}' in its manifest`, {
        hint: 'set the same id in package.json ("hokan": { "id": … }) and in definePlugin({ id })',
      });
    }
    const lp = { descriptor: d, definition: def };
    this.loaded.set(d.id, lp);
    return lp;
  }
}

// ---------------------------------------------------------------------------------------------
// Hook wrapping.
// ---------------------------------------------------------------------------------------------

function toPluginError(e: unknown, plugin: string, hook: string): PluginError {
  if (HokanError.is(e) && e.code === 'E_PLUGIN') return e as PluginError;
  const msg = e instanceof Error ? e.message : String(e);
  return new PluginError(plugin, `plugin '${plugin}' failed in hook '${hook}': ${msg}`, { hook, cause: e });
}

/**
 * Installs a tapable interceptor on every hook: each tap's function is wrapped so a thrown error
 * (or rejection) becomes a PluginError naming the plugin (the tap's name) and the hook. A failure
 * in `report` is logged and swallowed — a notifier never fails a backup.
 */
export function wrapHooks(hooks: EngineHooks, logger: Logger): void {
  for (const name of Object.keys(hooks) as HookName[]) {
    const hook = hooks[name] as unknown as { intercept(i: object): void };
    const swallow = name === 'report';
    hook.intercept({
      register(tap: { name: string; type: 'sync' | 'async' | 'promise'; fn: (...a: any[]) => any }) {
        const fn = tap.fn;
        const plugin = tap.name;
        const fail = (e: unknown) => {
          const err = toPluginError(e, plugin, name);
          if (swallow) {
            logger.error({ err, plugin, hook: name }, err.message);
            return undefined;
          }
          throw err;
        };
        if (tap.type === 'promise') {
          return { ...tap, fn: (...args: any[]) => Promise.resolve().then(() => fn(...args)).catch(fail) };
        }
        if (tap.type === 'async') {
          return {
            ...tap,
            fn: (...args: any[]) => {
              const cb = args.pop() as (e?: unknown, r?: unknown) => void;
              const done = (e?: unknown, r?: unknown) => {
                if (e) {
                  try {
                    fail(e);
                    cb();
                  } catch (pe) {
                    cb(pe);
                  }
                } else cb(null, r);
              };
              try {
                fn(...args, done);
              } catch (e) {
                done(e ?? new Error('unknown error'));
              }
            },
          };
        }
        return {
          ...tap,
          fn: (...args: any[]) => {
            try {
              return fn(...args);
            } catch (e) {
              return fail(e);
            }
          },
        };
      },
    });
  }
}

export { CORE_ROOT };
