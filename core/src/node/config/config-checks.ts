/**
 * The problems of a parsed config: the schema's errors said in the person's terms (where, what was
 * expected, did you mean), and the checks that need the whole config (ids, references, full paths).
 */
import { basename, dirname, resolve } from 'node:path';
import type { ConfigProblem } from '../../common/errors.js';
import { isSecretKey } from '../log/secrets.js';
import type { PluginHost } from '../plugins/plugin-host.js';
import { formatPath, placeOf, pointerSegments, type ParsedConfigText } from './config-parse.js';
import { checkFilterSettings } from '../scan/filters.js';
import { isFullPath } from './config-paths.js';
import { didYouMean } from './did-you-mean.js';

/** What the checks read: the file, its parsed text, the plugins and the raw value. */
export interface ValidationContext {
  file: string;
  /** The parsed text: its tree and line map are built on first use (problems only). */
  parsed: ParsedConfigText;
  host: PluginHost;
  value: Record<string, any>;
}

export type AjvError = {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, any>;
  message?: string;
  parentSchema?: Record<string, any>;
  data?: unknown;
};

function describeValue(v: unknown, secret: boolean): string {
  const kind = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v === 'string' ? 'a string' : typeof v === 'number' ? (Number.isInteger(v) ? 'an integer' : 'a number') : `a ${typeof v}`;
  if (secret || typeof v === 'object') return kind;
  const shown = JSON.stringify(v);
  return shown.length <= 40 ? `${kind} (${shown})` : kind;
}

const TYPE_WORDS: Record<string, string> = { integer: 'a whole number', number: 'a number', string: 'a string', boolean: 'true or false', object: 'an object { … }', array: 'an array [ … ]', null: 'null' };

function typeProviders(ctx: ValidationContext, kind: 'targets' | 'notifiers'): string {
  const list = ctx.host.providers(kind);
  return list.length ? list.map((p) => `${p.type} (${p.plugin.name}${p.plugin.configured ? '' : ', not in "plugins"'})`).join(', ') : 'none';
}

/** Pointer segments with array indexes as numbers (for formatPath). */
function typedSegs(value: unknown, segs: readonly string[]): (string | number)[] {
  return segs.map((s, i) => (Array.isArray(getAt(value, segs.slice(0, i))) ? Number(s) : s));
}

function unknownTypeProblem(ctx: ValidationContext, segs: string[], value: unknown, kind: 'targets' | 'notifiers'): ConfigProblem {
  const word = kind === 'targets' ? 'target' : 'notifier';
  const providers = ctx.host.providers(kind);
  const path = formatPath(typedSegs(ctx.value, segs));
  const at = placeOf(ctx, segs);
  const v = String(value);
  const exact = providers.find((p) => p.type === v);
  if (exact && !exact.plugin.configured) {
    return {
      path,
      ...at,
      message: `${word} type '${v}' is provided by plugin ${exact.plugin.name}, which "plugins" does not name`,
      hint: `add "${exact.plugin.name}" to "plugins"`,
    };
  }
  const guess = didYouMean(v, providers.map((p) => p.type));
  return {
    path,
    ...at,
    message: `unknown ${word} type '${v}'; types provided by plugins: ${typeProviders(ctx, kind)}`,
    hint: guess ? `did you mean '${guess}'?` : `add the plugin that provides '${v}' to "plugins"`,
  };
}

function mapAjvError(ctx: ValidationContext, e: AjvError): ConfigProblem | undefined {
  const segs = pointerSegments(e.instancePath);
  const path = formatPath(typedSegs(ctx.value, segs));
  const last = segs[segs.length - 1];
  const secret = last !== undefined && isSecretKey(last);
  const expected = e.parentSchema?.['x-expected'] as string | undefined;
  switch (e.keyword) {
    case 'if':
    case 'const':
      return undefined;
    case 'additionalProperties': {
      const key = String(e.params.additionalProperty);
      const keyPath = formatPath([...typedSegs(ctx.value, segs), key]);
      if (segs.length === 1 && segs[0] === 'targets' && e.parentSchema?.patternProperties) {
        return { path: keyPath, ...placeOf(ctx, segs, key), message: `target id ${JSON.stringify(key)} is not valid: use letters, digits, ".", "_" and "-", starting with a letter or digit` };
      }
      const allowed = Object.keys(e.parentSchema?.properties ?? {}).filter((k) => k !== '$schema' || segs.length === 0);
      const guess = didYouMean(key, allowed);
      return {
        path: keyPath,
        ...placeOf(ctx, segs, key),
        message: `unknown key '${key}'; allowed keys${where(ctx, segs)}: ${allowed.join(', ')}`,
        hint: guess ? `did you mean '${guess}'?` : undefined,
      };
    }
    case 'required': {
      const key = String(e.params.missingProperty);
      return { path: path === '(top level)' ? key : `${path}.${key}`, ...placeOf(ctx, segs), message: `missing required key '${key}'${where(ctx, segs)}` };
    }
    case 'type': {
      const types = String(e.params.type).split(',');
      const want = expected ?? types.map((t) => TYPE_WORDS[t] ?? t).join(' or ');
      return { path, ...placeOf(ctx, segs), message: `must be ${want}, not ${describeValue(e.data, secret)}` };
    }
    case 'enum': {
      if (segs.length === 3 && segs[0] === 'targets' && last === 'type') return unknownTypeProblem(ctx, segs, e.data, 'targets');
      if (segs.length === 3 && segs[0] === 'notify' && last === 'type') return unknownTypeProblem(ctx, segs, e.data, 'notifiers');
      const allowed = (e.params.allowedValues as unknown[]).map(String);
      const guess = typeof e.data === 'string' ? didYouMean(e.data, allowed) : undefined;
      return { path, ...placeOf(ctx, segs), message: `${secret ? 'this value' : JSON.stringify(e.data)} is not allowed; allowed values: ${allowed.join(', ')}`, hint: guess ? `did you mean '${guess}'?` : undefined };
    }
    case 'anyOf':
    case 'oneOf':
      if (e.data && typeof e.data === 'object' && !Array.isArray(e.data)) return { path, ...placeOf(ctx, segs), message: `needs ${expected ?? 'one of the allowed sets of keys'}` };
      return { path, ...placeOf(ctx, segs), message: `must be ${expected ?? 'one of the allowed forms'}, not ${describeValue(e.data, secret)}` };
    case 'minItems':
      return { path, ...placeOf(ctx, segs), message: e.params.limit === 1 ? 'must not be empty' : `must have at least ${e.params.limit} entries` };
    case 'maxItems':
      return { path, ...placeOf(ctx, segs), message: `must have at most ${e.params.limit} entries` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, ...placeOf(ctx, segs), message: `must be ${e.params.comparison} ${e.params.limit}, not ${describeValue(e.data, secret)}` };
    case 'minLength':
      return { path, ...placeOf(ctx, segs), message: e.params.limit === 1 ? 'must not be empty' : `must be at least ${e.params.limit} characters long` };
    case 'pattern':
      return { path, ...placeOf(ctx, segs), message: `must be ${expected ?? `a string matching ${e.params.pattern}`}, not ${describeValue(e.data, secret)}` };
    case 'format':
      return { path, ...placeOf(ctx, segs), message: `must be ${e.params.format === 'date' ? 'a date such as "2024-01-31"' : `a ${e.params.format}`}, not ${describeValue(e.data, secret)}` };
    default:
      return { path, ...placeOf(ctx, segs), message: `${e.message ?? 'is not valid'}${expected ? ` (expected ${expected})` : ''}` };
  }
}

function where(ctx: ValidationContext, segs: string[]): string {
  if (segs.length === 0) return ' at the top level';
  if (segs.length === 2 && segs[0] === 'targets') {
    const t = getAt(ctx.value, segs) as { type?: unknown } | undefined;
    return typeof t?.type === 'string' ? ` for a target of type '${t.type}'` : '';
  }
  if (segs.length === 2 && segs[0] === 'notify') {
    const t = getAt(ctx.value, segs) as { type?: unknown } | undefined;
    return typeof t?.type === 'string' ? ` for a notifier of type '${t.type}'` : '';
  }
  if (segs.length === 2 && segs[0] === 'jobs') return ' in a job';
  return '';
}

function getAt(v: unknown, segs: readonly (string | number)[]): unknown {
  let cur = v;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as any)[s];
  }
  return cur;
}

/** Checks that need the whole config: job targets exist, ids are unique, presets and notifiers exist, paths are full. */
export function crossChecks(ctx: ValidationContext): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const v = ctx.value;
  const targetIds = v.targets && typeof v.targets === 'object' && !Array.isArray(v.targets) ? Object.keys(v.targets) : [];
  const presetNames = new Set<string>(v.presets && typeof v.presets === 'object' ? Object.keys(v.presets) : []);
  const configuredPresets = ctx.host.configured.flatMap((d) => (d.manifest.contributes?.presets ?? []).map((p) => ({ name: p.name, plugin: d })));
  for (const p of configuredPresets) presetNames.add(p.name);
  const allPresets = ctx.host.descriptors.flatMap((d) => (d.manifest.contributes?.presets ?? []).map((p) => ({ name: p.name, plugin: d })));
  const notifierIds = Array.isArray(v.notify) ? v.notify.map((n: any) => n?.id).filter((x: unknown): x is string => typeof x === 'string') : [];
  // Local paths are absolute or from the home folder: relative to what? The daemon's working folder
  // is not the person's, so say so instead of guessing.
  const relativeHint = (p: string) => `write it in full ('${resolve(dirname(ctx.file), p)}'?) or from your home folder ('~/…')`;
  for (const id of targetIds) {
    const p = (v.targets as Record<string, any>)[id]?.path;
    if (typeof p !== 'string' || p === '' || isFullPath(p) || isReference(p)) continue;
    const segs = ['targets', id, 'path'];
    out.push({ path: formatPath(segs), ...placeOf(ctx, segs), message: `target path '${p}' is relative`, hint: relativeHint(p) });
  }
  // A user preset's "extends" names a preset that exists (a plugin's, or another user preset; a
  // user preset may extend the plugin preset it shadows).
  if (v.presets && typeof v.presets === 'object' && !Array.isArray(v.presets)) {
    const pluginPresets = new Set(configuredPresets.map((p) => p.name));
    for (const [name, p] of Object.entries<any>(v.presets)) {
      const base = p?.extends;
      if (typeof base !== 'string') continue;
      if (base === name ? pluginPresets.has(base) : presetNames.has(base)) continue;
      const segs = ['presets', name, 'extends'];
      const provider = allPresets.find((x) => x.name === base);
      const known = [...presetNames].filter((n) => n !== name);
      const guess = didYouMean(base, known);
      out.push({
        path: formatPath(segs),
        ...placeOf(ctx, segs),
        message: provider ? `preset '${name}' extends '${base}', provided by plugin ${provider.plugin.name}, which "plugins" does not name` : `preset '${name}' extends unknown preset '${base}'; presets available: ${known.join(', ') || 'none'}`,
        hint: provider ? `add "${provider.plugin.name}" to "plugins"` : guess ? `did you mean '${guess}'?` : 'name a built-in preset or one defined under "presets"',
      });
    }
  }
  const jobIds = new Map<string, number>();
  if (!Array.isArray(v.jobs)) return out;
  v.jobs.forEach((job: any, j: number) => {
    if (!job || typeof job !== 'object') return;
    if (typeof job.id === 'string') {
      const first = jobIds.get(job.id);
      if (first !== undefined) out.push({ path: formatPath(['jobs', j, 'id']), ...placeOf(ctx, ['jobs', j, 'id']), message: `job id '${job.id}' is used twice (also by jobs[${first}])`, hint: 'give every job its own id' });
      else jobIds.set(job.id, j);
    }
    if (Array.isArray(job.targets)) {
      job.targets.forEach((t: unknown, i: number) => {
        if (typeof t !== 'string' || targetIds.includes(t)) return;
        const guess = didYouMean(t, targetIds);
        out.push({
          path: formatPath(['jobs', j, 'targets', i]),
          ...placeOf(ctx, ['jobs', j, 'targets', i]),
          message: `no target with id '${t}'; targets defined: ${targetIds.length ? targetIds.join(', ') : 'none'}`,
          hint: guess ? `did you mean '${guess}'?` : 'define it under "targets" or remove it from the job',
        });
      });
    }
    if (Array.isArray(job.sources)) {
      job.sources.forEach((s: any, i: number) => {
        const name = typeof s?.name === 'string' ? s.name : typeof s?.path === 'string' ? basename(s.path.replace(/[/\\]+$/, '')) : undefined;
        if (name === '.hokan') {
          const segs = ['jobs', j, 'sources', i, typeof s.name === 'string' ? 'name' : 'path'];
          out.push({ path: formatPath(segs), ...placeOf(ctx, segs), message: 'a source cannot be named ".hokan": that is the job\'s own folder for its records on the target', hint: 'give the source another "name"' });
        }
        if (typeof s?.path === 'string' && s.path !== '' && !isFullPath(s.path) && !isReference(s.path)) {
          const segs = ['jobs', j, 'sources', i, 'path'];
          out.push({ path: formatPath(segs), ...placeOf(ctx, segs), message: `source path '${s.path}' is relative`, hint: relativeHint(s.path) });
        }
        if (typeof s?.preset !== 'string' || presetNames.has(s.preset)) return;
        const segs = ['jobs', j, 'sources', i, 'preset'];
        const provider = allPresets.find((p) => p.name === s.preset);
        if (provider) {
          out.push({ path: formatPath(segs), ...placeOf(ctx, segs), message: `preset '${s.preset}' is provided by plugin ${provider.plugin.name}, which "plugins" does not name`, hint: `add "${provider.plugin.name}" to "plugins"` });
          return;
        }
        const known = [...presetNames];
        const guess = didYouMean(s.preset, known);
        out.push({
          path: formatPath(segs),
          ...placeOf(ctx, segs),
          message: `unknown preset '${s.preset}'; presets available: ${known.length ? known.join(', ') : 'none'}`,
          hint: guess ? `did you mean '${guess}'?` : 'define it under "presets", or add the plugin that provides it to "plugins"',
        });
      });
      job.sources.forEach((s: any, i: number) => {
        if (s && typeof s === 'object' && !Array.isArray(s) && s.path === undefined && s.preset === undefined) {
          out.push({ path: formatPath(['jobs', j, 'sources', i]), ...placeOf(ctx, ['jobs', j, 'sources', i]), message: 'a source needs "path" (a folder) or "preset" (a category)' });
        }
      });
    }
    // What a run would refuse in the filters (a regular expression, a date, a size), said now.
    if (job.filters && typeof job.filters === 'object') {
      for (const err of checkFilterSettings(job.filters, `jobs.${j}.filters`)) {
        const key = /^jobs\.\d+\.filters\.(\w+)/.exec(err.message)?.[1];
        const segs = err.problems?.[0]?.path.split('/').slice(1) ?? ['jobs', String(j), 'filters', ...(key ? [key] : [])];
        out.push({ path: formatPath(typedSegs(ctx.value, segs)), ...placeOf(ctx, segs), message: err.message.replace(/^jobs\.\d+\.filters\.\w+(\[\d+\])?: /, ''), hint: err.hint });
      }
    }
    if (Array.isArray(job.notify)) {
      job.notify.forEach((n: unknown, i: number) => {
        if (typeof n !== 'string' || notifierIds.includes(n)) return;
        const guess = didYouMean(n, notifierIds);
        out.push({ path: formatPath(['jobs', j, 'notify', i]), ...placeOf(ctx, ['jobs', j, 'notify', i]), message: `no notifier with id '${n}'; notifiers with an id: ${notifierIds.length ? notifierIds.join(', ') : 'none'}`, hint: guess ? `did you mean '${guess}'?` : undefined });
      });
    }
  });
  return out;
}

/** A value resolved when the config is loaded (`${env:NAME}`, `${file:PATH}`): checked after that. */
function isReference(p: string): boolean {
  return /^\$\{(env|file):/.test(p);
}

/**
 * Cron expressions of the jobs' schedules, parsed by croner (which the scheduler uses): a pattern
 * like `99 99 * * *` is refused here rather than by the daemon at its first tick.
 */
export async function scheduleProblems(ctx: ValidationContext): Promise<ConfigProblem[]> {
  const out: ConfigProblem[] = [];
  const jobs = Array.isArray(ctx.value.jobs) ? ctx.value.jobs : [];
  const crons: { segs: (string | number)[]; expr: string }[] = [];
  jobs.forEach((job: any, j: number) => {
    if (typeof job?.schedule?.cron === 'string') crons.push({ segs: ['jobs', j, 'schedule', 'cron'], expr: job.schedule.cron });
    if (typeof job?.schedule?.full?.cron === 'string') crons.push({ segs: ['jobs', j, 'schedule', 'full', 'cron'], expr: job.schedule.full.cron });
    if (typeof job?.drill?.cron === 'string') crons.push({ segs: ['jobs', j, 'drill', 'cron'], expr: job.drill.cron });
  });
  jobs.forEach((job: any, j: number) => {
    if (typeof job?.timezone !== 'string') return;
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: job.timezone });
    } catch {
      const segs = ['jobs', j, 'timezone'];
      out.push({ path: formatPath(segs), ...placeOf(ctx, segs.map(String)), message: `'${job.timezone}' is not a time zone this machine knows`, hint: 'an IANA zone name such as "Europe/Berlin" or "Asia/Tokyo", or leave "timezone" out for the machine\'s zone' });
    }
  });
  if (!crons.length) return out;
  const { Cron } = await import('croner');
  for (const c of crons) {
    try {
      new Cron(c.expr, { paused: true }).stop();
    } catch (e) {
      const segs = c.segs.map(String);
      out.push({ path: formatPath(c.segs), ...placeOf(ctx, segs), message: `'${c.expr}' is not a cron expression: ${(e as Error).message}`, hint: 'five fields: minute hour day-of-month month day-of-week, e.g. "0 23 * * 1-5" (23:00 on weekdays)' });
    }
  }
  return out;
}

/** The schema's errors as problems, one per place and message. */
export function schemaProblems(ctx: ValidationContext, errors: readonly AjvError[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const seen = new Set<string>();
  // Errors inside an anyOf branch are summed up by the anyOf error itself.
  const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.schemaPath + '/');
  for (const e of errors) {
    if (anyOfPaths.some((p) => e.schemaPath.startsWith(p))) continue;
    const p = mapAjvError(ctx, e);
    if (!p) continue;
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}
