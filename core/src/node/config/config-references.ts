/**
 * `${env:NAME}` and `${file:PATH}` references in config values: resolved when the config loads, their
 * values registered as secrets, and masked (with secret-named keys) when a config is printed.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ConfigProblem } from '../../common/errors.js';
import { MASK, isSecretKey, registerSecretValue } from '../log/secrets.js';
import type { ValidationContext } from './config-checks.js';
import { formatPath, placeOf } from './config-parse.js';
import { expandHome } from './config-paths.js';

/** Paths (JSON pointers) of the values that came from `${env:…}`/`${file:…}` references, per loaded config. */
const referencePaths = new WeakMap<object, Set<string>>();

/** Notes which values of `config` came from references, for `maskSecrets`. */
export function rememberReferences(config: object, refs: Set<string>): void {
  referencePaths.set(config, refs);
}

const REF = /\$\{(env|file):([^}]*)\}/g;

/** `value` with its references replaced; `refs` gets the pointer of each value that had one, `problems` each reference that cannot be read. */
export function resolveReferences(ctx: ValidationContext, value: unknown, segs: (string | number)[], env: NodeJS.ProcessEnv, home: string, refs: Set<string>, problems: ConfigProblem[]): unknown {
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
