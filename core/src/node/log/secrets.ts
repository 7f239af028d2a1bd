/**
 * What counts as a secret, and the values known to be secret in this process (those that came
 * from `${env:…}`/`${file:…}` references and those under secret-named keys). The logger and every
 * output mask them as `***`.
 */
export const SECRET_KEYS = ['password', 'secretAccessKey', 'accountKey', 'sasToken', 'connectionString', 'token', 'accessKeyId'] as const;
const secretKeySet = new Set<string>(SECRET_KEYS.map((k) => k.toLowerCase()));

export const MASK = '***';

export function isSecretKey(key: string): boolean {
  return secretKeySet.has(key.toLowerCase());
}

const knownSecretValues = new Set<string>();

/** Remembers a value that must never be printed (ignores short values that would mask too much). */
export function registerSecretValue(value: unknown): void {
  if (typeof value === 'string' && value.length >= 4) knownSecretValues.add(value);
}

/** Replaces every known secret value inside a string by `***`. */
export function maskSecretValuesIn(text: string): string {
  if (knownSecretValues.size === 0) return text;
  let out = text;
  for (const s of knownSecretValues) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

/** A deep copy with secret-named keys and known secret values replaced by `***`. */
export function redactDeep(value: unknown, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return maskSecretValuesIn(value);
  if (typeof value !== 'object' || value === null) return value;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (value instanceof Error) {
    return { type: value.name, message: maskSecretValuesIn(value.message), ...(redactDeep({ ...value }, seen) as object), stack: value.stack && maskSecretValuesIn(value.stack) };
  }
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) && v !== undefined && v !== null && v !== '' ? MASK : redactDeep(v, seen);
  return out;
}
