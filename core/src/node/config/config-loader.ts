import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Node, ParseError } from 'jsonc-parser';
import type { HokanConfig, JobConfig, NotifierConfig, TargetConfig } from '../../common/config-types.js';
import { ConfigError, type ConfigProblem } from '../../common/errors.js';
import { expandHome, isFullPath } from './config-paths.js';
import { assembleFromParts, readCoreSchemaParts } from './schema-assemble.js';
import { PluginHost, type PluginDescriptor } from '../plugins/plugin-host.js';
import { MASK, isSecretKey, registerSecretValue } from '../log/secrets.js';

// ---------------------------------------------------------------------------------------------
// Places in the file.
// ---------------------------------------------------------------------------------------------

/** Turns offsets into 1-based line:column. */
export class LineMap {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }
  at(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo]! + 1 };
  }
}

/** `jobs[0].targets[1]`, `targets.usb.type`, `targets["my usb"]`. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out || '(top level)';
}

function pointerSegments(pointer: string): string[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Finds the node at a path of (string) segments, reading array indexes as numbers. */
function nodeAt(root: Node | undefined, segments: readonly (string | number)[]): Node | undefined {
  let node = root;
  for (const seg of segments) {
    if (!node) return undefined;
    if (node.type === 'object') {
      const prop = node.children?.find((p) => p.children?.[0]?.value === String(seg));
      node = prop?.children?.[1];
    } else if (node.type === 'array') {
      node = node.children?.[Number(seg)];
    } else return undefined;
  }
  return node;
}

/** The key node of property `key` inside the object at `segments` (for unknown keys). */
function keyNodeAt(root: Node | undefined, segments: readonly (string | number)[], key: string): Node | undefined {
  const obj = nodeAt(root, segments);
  return obj?.children?.find((p) => p.children?.[0]?.value === key)?.children?.[0];
}

// ---------------------------------------------------------------------------------------------
// "Did you mean".
// ---------------------------------------------------------------------------------------------

/** Edit distance counting insertions, deletions, substitutions and swaps of neighbours (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate when it is close enough to be a likely typo. */
export function didYouMean(value: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(value, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.max(1, Math.min(3, Math.floor(Math.max(value.length, best.length) / 3)));
  return bestD <= limit || best.toLowerCase().startsWith(value.toLowerCase()) || value.toLowerCase().startsWith(best.toLowerCase()) ? best : undefined;
}

// ---------------------------------------------------------------------------------------------
// Parsing.
// ---------------------------------------------------------------------------------------------

const PARSE_EXPECTED: Record<string, string> = {
  InvalidSymbol: 'a value (an object, array, string, number, true, false or null)',
  InvalidNumberFormat: 'a valid number',
  PropertyNameExpected: 'a property name in double quotes',
  ValueExpected: 'a value',
  ColonExpected: 'a colon ":" after the property name',
  CommaExpected: 'a comma "," between entries',
  CloseBraceExpected: 'a closing brace "}"',
  CloseBracketExpected: 'a closing bracket "]"',
  EndOfFileExpected: 'the end of the file after the top-level object',
  InvalidCommentToken: 'a complete comment',
  UnexpectedEndOfComment: 'the end of the comment "*/"',
  UnexpectedEndOfString: 'a closing double quote',
  UnexpectedEndOfNumber: 'more digits',
  InvalidUnicode: 'a valid \\u escape',
  InvalidEscapeCharacter: 'a valid escape such as \\n or \\"',
  InvalidCharacter: 'no control characters inside a string',
};

export interface ParsedConfigText {
  value: unknown;
  tree: Node | undefined;
  lines: LineMap;
}

// jsonc-parser is required only for a config with comments or trailing commas, for a syntax error,
// and for the line:column of a problem: a plain JSON config starts without loading it.
const requireCjs = createRequire(import.meta.url);
let jsoncMod: typeof import('jsonc-parser') | undefined;
const jsonc = (): typeof import('jsonc-parser') => (jsoncMod ??= requireCjs('jsonc-parser') as typeof import('jsonc-parser'));

/** Parses config.json (comments and trailing commas allowed); invalid JSON → ConfigError with line:column and what was expected. */
export function parseConfigText(text: string, file: string): ParsedConfigText {
  const parseTree = (errors: ParseError[]) => jsonc().parseTree(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  let value: unknown;
  let tree: Node | undefined;
  let treeBuilt = false;
  try {
    value = JSON.parse(text);
  } catch {
    const errors: ParseError[] = [];
    tree = parseTree(errors);
    treeBuilt = true;
    if (errors.length) {
      const lines = new LineMap(text);
      const problems = errors.slice(0, 5).map((e): ConfigProblem => {
        const code = jsonc().printParseErrorCode(e.error);
        const at = lines.at(e.offset);
        const found = text.slice(e.offset, e.offset + Math.max(1, Math.min(e.length, 20)));
        return {
          path: '',
          ...at,
          message: `invalid JSON: expected ${PARSE_EXPECTED[code] ?? code}${found.trim() ? `, found ${JSON.stringify(found)}` : ' (the file ends here)'}`,
        };
      });
      throw configError(file, problems);
    }
    value = tree ? jsonc().getNodeValue(tree) : undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw configError(file, [{ path: '', line: 1, column: 1, message: 'the config must be a JSON object: { "targets": { … }, "jobs": [ … ] }' }]);
  }
  let lines: LineMap | undefined;
  return {
    value,
    // Where problems are: built when the first one is reported.
    get tree() {
      if (!treeBuilt) {
        tree = parseTree([]);
        treeBuilt = true;
      }
      return tree;
    },
    get lines() {
      return (lines ??= new LineMap(text));
    },
  };
}

function problemLine(file: string, p: ConfigProblem): string {
  const where = p.line !== undefined ? `${file}:${p.line}:${p.column}` : file;
  const text = `${where}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
  return p.hint ? `${text}\n    → ${p.hint}` : text;
}

/** Formats problems the way the CLI prints them: `FILE:LINE:COL: PATH: MESSAGE` and `→ hint`. */
export function formatProblems(file: string, problems: readonly ConfigProblem[]): string {
  return problems.map((p) => problemLine(file, p)).join('\n');
}

function configError(file: string, problems: ConfigProblem[]): ConfigError {
  const n = problems.length;
  return new ConfigError(`${file}: ${n === 1 ? '1 problem' : `${n} problems`}:\n${problems.map((p) => '  ' + problemLine(file, p).replace(/\n/g, '\n  ')).join('\n')}`, {
    file,
    problems,
  });
}

// ---------------------------------------------------------------------------------------------
// Schema validation.
// ---------------------------------------------------------------------------------------------

type AjvError = {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, any>;
  message?: string;
  parentSchema?: Record<string, any>;
  data?: unknown;
};

const AJV_OPTIONS = { allErrors: true, strict: false, verbose: true, validateSchema: false, logger: false, code: { optimize: false } } as const;
/** Bump when AJV_OPTIONS or the formats change: compiled validators in caches then no longer apply. */
const VALIDATOR_FORMAT = 1;
const requireHere = createRequire(import.meta.url);

let ajvCtor: any;
function newAjv(source: boolean): any {
  // logger: false — an unknown `format` in a plugin's schema is not checked, and not worth a console line.
  const ajv = new ajvCtor({ ...AJV_OPTIONS, code: { ...AJV_OPTIONS.code, source } });
  ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i);
  ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:\/\/[^\s]+$/i);
  ajv.addFormat('email', /^[^\s@]+@[^\s@]+$/);
  ajv.addFormat('hostname', /^[a-z0-9.-]+$/i);
  return ajv;
}

/**
 * The schema's validator. With `cacheDir`, the validator ajv generates is kept there as a CommonJS
 * module (ajv's standalone code) named by a hash of the schema, the ajv install and the options:
 * the next run with the same plugins loads it instead of loading ajv and compiling (~100 ms of
 * start-up). Validation itself always runs in full.
 */
async function compile(schema: Record<string, unknown>, cacheDir?: string): Promise<(v: unknown) => boolean> {
  let file: string | undefined;
  let ajvRuntime: string | undefined;
  if (cacheDir) {
    ajvRuntime = dirname(requireHere.resolve('ajv/dist/runtime/ucs2length'));
    const key = createHash('sha256').update(`${VALIDATOR_FORMAT}\0${ajvRuntime}\0`).update(JSON.stringify(schema)).digest('hex').slice(0, 32);
    file = join(cacheDir, `validator-${key}.cjs`);
    if (existsSync(file)) {
      try {
        const cached = requireHere(file) as unknown;
        if (typeof cached === 'function') return cached as (v: unknown) => boolean;
      } catch {
        // A damaged entry: compiled again below, and replaced.
      }
    }
  }
  if (!ajvCtor) {
    const mod: any = await import('ajv');
    ajvCtor = mod.default?.default ?? mod.default ?? mod;
  }
  const ajv = newAjv(file !== undefined);
  const validate = ajv.compile(schema);
  if (file && ajvRuntime) {
    try {
      const { default: standaloneCode } = (await import('ajv/dist/standalone/index.js')) as any;
      // Its `require("ajv/dist/runtime/…")` calls, made absolute: the cache folder has no node_modules.
      const code = (standaloneCode.default ?? standaloneCode)(ajv, validate).replace(/require\("ajv\/dist\/runtime\/([\w-]+)"\)/g, (_: string, m: string) => `require(${JSON.stringify(join(ajvRuntime!, m))})`);
      mkdirSync(cacheDir!, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, code);
      renameSync(tmp, file);
    } catch {
      // Only a cache: the next run compiles again.
    }
  }
  return validate;
}

function describeValue(v: unknown, secret: boolean): string {
  const kind = v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v === 'string' ? 'a string' : typeof v === 'number' ? (Number.isInteger(v) ? 'an integer' : 'a number') : `a ${typeof v}`;
  if (secret || typeof v === 'object') return kind;
  const shown = JSON.stringify(v);
  return shown.length <= 40 ? `${kind} (${shown})` : kind;
}

const TYPE_WORDS: Record<string, string> = { integer: 'a whole number', number: 'a number', string: 'a string', boolean: 'true or false', object: 'an object { … }', array: 'an array [ … ]', null: 'null' };

interface ValidationContext {
  file: string;
  /** The parsed text: its tree and line map are built on first use (problems only). */
  parsed: ParsedConfigText;
  host: PluginHost;
  value: Record<string, any>;
}

function placeOf(ctx: ValidationContext, segments: readonly (string | number)[], key?: string): { line?: number; column?: number } {
  const { tree, lines } = ctx.parsed;
  const node = key !== undefined ? keyNodeAt(tree, segments, key) : nodeAt(tree, segments);
  if (node) return lines.at(node.offset);
  // Fall back to the nearest ancestor that exists.
  for (let i = segments.length - 1; i >= 0; i--) {
    const n = nodeAt(tree, segments.slice(0, i));
    if (n) return lines.at(n.offset);
  }
  return {};
}

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
function crossChecks(ctx: ValidationContext): ConfigProblem[] {
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
    if (typeof p !== 'string' || p === '' || isFullPath(p)) continue;
    const segs = ['targets', id, 'path'];
    out.push({ path: formatPath(segs), ...placeOf(ctx, segs), message: `target path '${p}' is relative`, hint: relativeHint(p) });
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
        if (typeof s?.path === 'string' && s.path !== '' && !isFullPath(s.path)) {
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

// ---------------------------------------------------------------------------------------------
// References, `~`, defaults.
// ---------------------------------------------------------------------------------------------

/** Paths (JSON pointers) of the values that came from `${env:…}`/`${file:…}` references, per loaded config. */
const referencePaths = new WeakMap<object, Set<string>>();

const REF = /\$\{(env|file):([^}]*)\}/g;

function resolveReferences(ctx: ValidationContext, value: unknown, segs: (string | number)[], env: NodeJS.ProcessEnv, home: string, refs: Set<string>, problems: ConfigProblem[]): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    let hit = false;
    const out = value.replace(REF, (whole, kind: string, name: string) => {
      hit = true;
      if (kind === 'env') {
        const v = env[name];
        if (v === undefined) {
          problems.push({ path: formatPath(segs), ...placeOf(ctx, segs), message: `environment variable ${name} is not set (referenced as ${whole})`, hint: `set ${name} in the agent's environment` });
          return '';
        }
        return v;
      }
      const file = resolve(dirname(ctx.file), expandHome(name, home));
      try {
        return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      } catch (e) {
        problems.push({ path: formatPath(segs), ...placeOf(ctx, segs), message: `file ${file} (referenced as ${whole}) cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, hint: 'a ${file:PATH} reference is relative to the config file\'s folder' });
        return '';
      }
    });
    if (hit) {
      refs.add('/' + segs.join('/'));
      registerSecretValue(out);
    }
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveReferences(ctx, v, [...segs, i], env, home, refs, problems));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = resolveReferences(ctx, v, [...segs, k], env, home, refs, problems);
      if (isSecretKey(k)) registerSecretValue(r);
      out[k] = r;
    }
    return out;
  }
  return value;
}

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
  };
}

// ---------------------------------------------------------------------------------------------
// Loading.
// ---------------------------------------------------------------------------------------------

export interface LoadConfigOptions {
  /** Absolute path of config.json (see `findConfigPath`). */
  path: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  hostname?: string;
  /**
   * A folder where the compiled schema validator is kept for the next run with the same plugins
   * (see `compile`): loading and compiling ajv is the largest part of start-up. Validation still
   * runs in full every time.
   */
  cacheDir?: string;
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
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (e as Error).message}`, {
      file,
      hint: '`agent init` writes a starter config',
    });
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
  const validate = await compile(schema, options.cacheDir);
  if (!validate(raw)) {
    const seen = new Set<string>();
    const errors = ((validate as any).errors ?? []) as AjvError[];
    // Errors inside an anyOf branch are summed up by the anyOf error itself.
    const anyOfPaths = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.schemaPath + '/');
    for (const e of errors) {
      if (anyOfPaths.some((p) => e.schemaPath.startsWith(p))) continue;
      const p = mapAjvError(ctx, e);
      if (!p) continue;
      const key = `${p.path}\u0000${p.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      problems.push(p);
    }
  }
  problems.push(...crossChecks(ctx));
  if (problems.length) throw configError(file, sortProblems(problems));

  const refs = new Set<string>();
  const refProblems: ConfigProblem[] = [];
  const resolved = resolveReferences(ctx, raw, [], env, home, refs, refProblems);
  if (refProblems.length) throw configError(file, sortProblems(refProblems));
  const config = applyDefaults(resolved, home, options.hostname ?? hostname(), specs ?? host.configured.map((d) => d.spec));
  referencePaths.set(config, refs);
  return { config, path: file, plugins: host, warnings, schema };
}

function sortProblems(p: ConfigProblem[]): ConfigProblem[] {
  return [...p].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/**
 * A copy of a config value fit to print: every value that came from a `${env:…}`/`${file:…}`
 * reference and every secret-named key (password, secretAccessKey, accountKey, sasToken,
 * connectionString, token, accessKeyId) is `***`.
 */
export function maskSecrets<T>(value: T): T {
  const refs = (typeof value === 'object' && value !== null && referencePaths.get(value as object)) || new Set<string>();
  const walk = (v: unknown, ptr: string): unknown => {
    if (refs.has(ptr)) return MASK;
    if (Array.isArray(v)) return v.map((x, i) => walk(x, `${ptr}/${i}`));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = isSecretKey(k) && x !== undefined && x !== null && x !== '' ? MASK : walk(x, `${ptr}/${k}`);
      return out;
    }
    return v;
  };
  return walk(value, '') as T;
}

export type { PluginDescriptor };
