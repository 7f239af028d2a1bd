/**
 * The HokanError family. Every error a person may see carries a stable `code` and, where there is
 * one, a `hint` that names the fix. Kinds are checked with predicates that look at `code`/`kind`
 * rather than `instanceof`, so two copies of @hokan/core (a plugin bundling its own) still agree.
 */
export interface HokanErrorOptions {
  cause?: unknown;
  /** What the person can do about it ("run `agent init`", "set AWS_ACCESS_KEY_ID"). */
  hint?: string;
}

export class HokanError extends Error {
  readonly code: string;
  readonly hint?: string;
  /** Exit code the CLI uses when this error ends a command (product.md: 2 bad usage/config, 3 run failed). */
  exitCode = 3;

  constructor(code: string, message: string, options: HokanErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'HokanError';
    this.code = code;
    this.hint = options.hint;
  }

  static is(e: unknown): e is HokanError {
    return typeof e === 'object' && e !== null && typeof (e as HokanError).code === 'string' && (e as Error).name?.endsWith?.('Error') === true && 'exitCode' in e;
  }
}

/** One problem found in the config, with where it is. */
export interface ConfigProblem {
  /** JSON pointer-ish path, e.g. `/targets/usb/type`. */
  path: string;
  line?: number;
  column?: number;
  message: string;
  hint?: string;
}

export class ConfigError extends HokanError {
  readonly file?: string;
  readonly problems: ConfigProblem[];
  constructor(message: string, options: HokanErrorOptions & { file?: string; problems?: ConfigProblem[] } = {}) {
    super('E_CONFIG', message, options);
    this.name = 'ConfigError';
    this.file = options.file;
    this.problems = options.problems ?? [];
    this.exitCode = 2;
  }
  static override is(e: unknown): e is ConfigError {
    return HokanError.is(e) && e.code === 'E_CONFIG';
  }
}

export class UsageError extends HokanError {
  constructor(message: string, options: HokanErrorOptions = {}) {
    super('E_USAGE', message, options);
    this.name = 'UsageError';
    this.exitCode = 2;
  }
  static override is(e: unknown): e is UsageError {
    return HokanError.is(e) && e.code === 'E_USAGE';
  }
}

export class PluginLoadError extends HokanError {
  readonly pluginId: string;
  constructor(pluginId: string, message: string, options: HokanErrorOptions = {}) {
    super('E_PLUGIN_LOAD', message, options);
    this.name = 'PluginLoadError';
    this.pluginId = pluginId;
    this.exitCode = 2;
  }
  static override is(e: unknown): e is PluginLoadError {
    return HokanError.is(e) && e.code === 'E_PLUGIN_LOAD';
  }
}

/** A plugin's code failed while the core called it (a hook tap, a contribution). */
export class PluginError extends HokanError {
  readonly pluginId: string;
  readonly hook?: string;
  constructor(pluginId: string, message: string, options: HokanErrorOptions & { hook?: string } = {}) {
    super('E_PLUGIN', message, options);
    this.name = 'PluginError';
    this.pluginId = pluginId;
    this.hook = options.hook;
  }
  static override is(e: unknown): e is PluginError {
    return HokanError.is(e) && e.code === 'E_PLUGIN';
  }
}

export type TargetErrorKind =
  | 'not-found' // the key does not exist
  | 'transient' // worth retrying: timeouts, resets, 5xx, throttling
  | 'permanent' // retrying will not help (bad request, name the target cannot hold)
  | 'auth' // wrong or missing credentials, forbidden
  | 'quota' // the target is full or over its quota
  | 'unavailable' // the target as a whole cannot be reached or is not there (disk unplugged, bucket missing)
  | 'unsupported'; // the target cannot do this at all

export class TargetError extends HokanError {
  readonly kind: TargetErrorKind;
  constructor(kind: TargetErrorKind, message: string, options: HokanErrorOptions = {}) {
    super(`E_TARGET_${kind.toUpperCase().replace('-', '_')}`, message, options);
    this.name = 'TargetError';
    this.kind = kind;
  }
  static override is(e: unknown): e is TargetError {
    return HokanError.is(e) && typeof (e as TargetError).kind === 'string' && e.code.startsWith('E_TARGET_');
  }
  static isNotFound(e: unknown): boolean {
    return TargetError.is(e) && e.kind === 'not-found';
  }
  static isTransient(e: unknown): boolean {
    return TargetError.is(e) && e.kind === 'transient';
  }
  static isKind(e: unknown, kind: TargetErrorKind): boolean {
    return TargetError.is(e) && e.kind === kind;
  }
}

/** The message a person sees for any thrown value, with the hint when there is one. */
export function describeError(e: unknown): string {
  if (HokanError.is(e)) return e.hint ? `${e.message}\n  → ${e.hint}` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
