/**
 * Loading config.json: read, parse, check against the schema the plugins assemble, resolve
 * references and fill in defaults. Every problem is reported at once, and no plugin code runs.
 */
import { readFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { HokanConfig, JobConfig, NotifierConfig, TargetConfig } from '../../common/config-types.js';
import { ConfigError, type ConfigProblem } from '../../common/errors.js';
import { PluginHost, type PluginDescriptor } from '../plugins/plugin-host.js';
import { crossChecks, scheduleProblems, schemaProblems, type AjvError, type ValidationContext } from './config-checks.js';
import { diskProblems, overlapWarnings, resolvedPathProblems } from './config-overlaps.js';
import { configError, formatPath, parseConfigText, placeOf } from './config-parse.js';
import { expandHome } from './config-paths.js';
import { rememberReferences, resolveReferences } from './config-references.js';
import { assembleFromParts, readCoreSchemaParts } from './schema-assemble.js';
import { compileValidator } from './schema-validator.js';

// The parts of loading live in their own modules; their names stay importable here.
export { LineMap, formatPath, formatProblems, parseConfigText, type ParsedConfigText } from './config-parse.js';
export { didYouMean, editDistance } from './did-you-mean.js';
export { maskSecrets } from './config-references.js';

export const JOB_DEFAULTS = {
  generations: 10,
  deletions: 'every-run',
  deletionThreshold: { percent: 50, count: 1000 },
  followSymlinks: false,
  ignoreInode: false,
  ignoreCtime: false,
} as const;

function applyDefaults(v: any, home: string, host: string, pluginSpecs: string[]): HokanConfig {
  const targets: Record<string, TargetConfig> = {};
  for (const [id, t] of Object.entries<any>(v.targets ?? {})) targets[id] = typeof t.path === 'string' ? { ...t, path: expandHome(t.path, home) } : { ...t };
  const jobs: JobConfig[] = (v.jobs ?? []).map((j: any): JobConfig => ({
    ...j,
    sources: j.sources.map((s: any) => (typeof s.path === 'string' ? { ...s, path: expandHome(s.path, home) } : { ...s })),
    generations: j.generations ?? JOB_DEFAULTS.generations,
    filters: j.filters ?? {},
    deletions: j.deletions ?? JOB_DEFAULTS.deletions,
    deletionThreshold: { percent: j.deletionThreshold?.percent ?? 50, count: j.deletionThreshold?.count ?? 1000 },
    followSymlinks: j.followSymlinks ?? false,
    ignoreInode: j.ignoreInode ?? false,
    ignoreCtime: j.ignoreCtime ?? false,
  }));
  const presets: HokanConfig['presets'] = {};
  for (const [name, p] of Object.entries<any>(v.presets ?? {})) presets[name] = p.folders ? { ...p, folders: p.folders.map((f: string) => expandHome(f, home)) } : { ...p };
  return {
    device: v.device ?? host,
    plugins: pluginSpecs,
    targets,
    jobs,
    notify: (v.notify ?? []) as NotifierConfig[],
    presets,
    ...Object.fromEntries(['maxConcurrentJobs', 'watchSettle', 'watchMaxDelay', 'watchFallbackEvery'].filter((k) => v[k] !== undefined).map((k) => [k, v[k]])),
  };
}

export interface LoadConfigOptions {
  /** Absolute path of config.json (see `findConfigPath`). */
  path: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  hostname?: string;
  /**
   * A folder where the compiled schema validator is kept for the next run with the same plugins
   * (see `compileValidator`): loading and compiling ajv is the largest part of start-up. Validation still
   * runs in full every time.
   */
  cacheDir?: string;
  /** Also look at the disk (`config validate`): a source that is a file, a target folder not there now. */
  checkDisk?: boolean;
}

export interface LoadedConfig {
  config: HokanConfig;
  path: string;
  /** The plugins config.json names (and the built-ins), manifests read, no code run. */
  plugins: PluginHost;
  /** Things worth saying that are not errors (a plugin's schema file is missing). */
  warnings: string[];
  /** The assembled JSON Schema this file was checked against. */
  schema: Record<string, unknown>;
}

/**
 * Reads, validates and resolves config.json. Every problem found is reported at once in one
 * ConfigError (problems with path, line and column). No plugin code runs.
 */
export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const file = resolve(options.path);
  const env = options.env ?? process.env;
  const home = options.home ?? env.HOME ?? homedir();
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const hint =
      code === 'ENOENT' ? '`agent init` writes a starter config'
      : code === 'EACCES' || code === 'EPERM' ? `give the agent's user read access to ${file} (ls -l shows who may read it)`
      : code === 'EISDIR' ? `${file} is a folder: give the config file inside it, e.g. --config ${file.replace(/[\\/]+$/, '')}/config.json`
      : undefined;
    throw new ConfigError(`cannot read config file ${file}: ${code === 'ENOENT' ? 'it does not exist' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message}`, { file, hint });
  }
  const parsed = parseConfigText(text.replace(/^\uFEFF/, ''), file);
  const raw = parsed.value as Record<string, any>;
  const specs = Array.isArray(raw.plugins) && raw.plugins.every((p: unknown) => typeof p === 'string') ? (raw.plugins as string[]) : undefined;
  const host = PluginHost.discover(specs, dirname(file));
  const ctx: ValidationContext = { file, parsed, host, value: raw };
  const problems: ConfigProblem[] = [];
  for (const p of host.problems) {
    const i = specs?.indexOf(p.spec) ?? -1;
    const segs = i >= 0 ? ['plugins', i] : ['plugins'];
    problems.push({ path: formatPath(segs), ...placeOf(ctx, segs), message: p.error.message, hint: p.error.hint });
  }
  const warnings: string[] = [];
  const schema = assembleFromParts(readCoreSchemaParts(), host.schemaContributions({ warn: (m) => warnings.push(m) }));
  const validate = await compileValidator(schema, options.cacheDir);
  if (!validate(raw)) problems.push(...schemaProblems(ctx, ((validate as any).errors ?? []) as AjvError[]));
  problems.push(...crossChecks(ctx), ...(await scheduleProblems(ctx)));
  if (problems.length) throw configError(file, sortProblems(problems));

  const refs = new Set<string>();
  const refProblems: ConfigProblem[] = [];
  const resolved = resolveReferences(ctx, raw, [], env, home, refs, refProblems);
  if (refProblems.length) throw configError(file, sortProblems(refProblems));
  const config = applyDefaults(resolved, home, options.hostname ?? hostname(), specs ?? host.configured.map((d) => d.spec));
  const placed = [...resolvedPathProblems(ctx, config), ...(options.checkDisk ? diskProblems(ctx, config, warnings) : [])];
  if (placed.length) throw configError(file, sortProblems(placed));
  warnings.push(...overlapWarnings(config));
  rememberReferences(config, refs);
  return { config, path: file, plugins: host, warnings, schema };
}

function sortProblems(p: ConfigProblem[]): ConfigProblem[] {
  return [...p].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

export type { PluginDescriptor };
