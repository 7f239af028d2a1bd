/**
 * The validator of the assembled schema (ajv, loaded only when needed), and its cache: the compiled
 * code kept for the next run with the same plugins.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

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
export async function compileValidator(schema: Record<string, unknown>, cacheDir?: string): Promise<(v: unknown) => boolean> {
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
