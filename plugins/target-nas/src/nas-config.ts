import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { ConfigError } from '@hokan/core';

/** Files the engine has in flight to a WebDAV server at once, unless `maxConnections` says otherwise. */
export const DEFAULT_WEBDAV_CONNECTIONS = 4;
/** Seconds without a byte either way before a request counts as timed out. */
export const DEFAULT_TIMEOUT_S = 60;

/** The `nas` target's settings as written in config.json (see ../schema.json). */
export interface NasTargetConfig {
  type: 'nas';
  url?: string;
  username?: string;
  password?: string;
  maxConnections?: number;
  ca?: string;
  insecureSkipVerify?: boolean;
  timeout?: number;
  forbiddenChars?: string;
  path?: string;
  volumeMarker?: string;
  requireMount?: boolean;
  filesystem?: 'auto' | 'posix' | 'windows';
}

/** A WebDAV target's settings after validation. */
export interface ResolvedWebDavConfig {
  kind: 'webdav';
  /** The folder's URL, always ending with `/`. */
  url: string;
  username?: string;
  password?: string;
  maxConnections: number;
  /** PEM text of the CA (or certificate) to trust, read from `ca` (PEM or a file path). */
  ca?: string;
  /** Where `ca` came from, for messages (never the PEM itself). */
  caSource?: string;
  insecureSkipVerify: boolean;
  timeoutMs: number;
  /** Characters the person declares the server refuses (added to what `check()` detects). */
  forbiddenChars: string;
}

/** A mounted share's settings after validation (handed to target-hdd's code). */
export interface ResolvedMountConfig {
  kind: 'mount';
  path: string;
  volumeMarker?: string;
  maxConnections?: number;
  requireMount: boolean;
  filesystem?: 'auto' | 'posix' | 'windows';
}

const WEBDAV_KEYS = new Set(['type', 'url', 'username', 'password', 'maxConnections', 'ca', 'insecureSkipVerify', 'timeout', 'forbiddenChars']);
const MOUNT_KEYS = new Set(['type', 'path', 'volumeMarker', 'maxConnections', 'requireMount', 'filesystem']);

/**
 * Checks the settings again at `create` time (the core validates against schema.json first; this
 * guards library use). A secret is never put into a message.
 */
export function resolveNasConfig(raw: Record<string, unknown>, targetId = 'nas'): ResolvedWebDavConfig | ResolvedMountConfig {
  const problems: { path: string; message: string; hint?: string }[] = [];
  const at = (k: string) => `/targets/${targetId}/${k}`;
  const fail = () => {
    const first = problems[0]!;
    return new ConfigError(`target "${targetId}": ${problems.map((p) => p.message).join('; ')}`, { problems, hint: first.hint });
  };
  const str = (k: string): string | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') {
      problems.push({ path: at(k), message: `"${k}" must be a non-empty string` });
      return undefined;
    }
    return v;
  };
  const bool = (k: string): boolean | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') problems.push({ path: at(k), message: `"${k}" must be true or false` });
    return v === true;
  };
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push({ path: at(k), message: `"${k}" must be a whole number from ${min} to ${max}` });
      return undefined;
    }
    return v;
  };

  const hasUrl = raw.url !== undefined;
  const hasPath = raw.path !== undefined;
  if (hasUrl === hasPath) {
    problems.push({ path: at(hasUrl ? 'path' : 'url'), message: hasUrl ? 'give either "url" (WebDAV) or "path" (a mounted share), not both' : 'a nas target needs "url" (WebDAV) or "path" (a mounted share)', hint: 'e.g. "url": "https://nas.local/webdav/backup" or "path": "/mnt/nas/backup"' });
    throw fail();
  }
  const allowed = hasUrl ? WEBDAV_KEYS : MOUNT_KEYS;
  for (const k of Object.keys(raw)) {
    if (allowed.has(k)) continue;
    const other = hasUrl ? MOUNT_KEYS.has(k) : WEBDAV_KEYS.has(k);
    problems.push({ path: at(k), message: other ? `"${k}" is a setting of a ${hasUrl ? 'mounted share (path)' : 'WebDAV (url)'} nas target, not of one with "${hasUrl ? 'url' : 'path'}"` : `unknown setting "${k}" for a nas target` });
  }
  const maxConnections = int('maxConnections', 1, 64);

  if (hasPath) {
    const p = str('path');
    const volumeMarker = str('volumeMarker');
    const requireMount = bool('requireMount');
    const filesystem = raw.filesystem;
    if (filesystem !== undefined && filesystem !== 'auto' && filesystem !== 'posix' && filesystem !== 'windows') problems.push({ path: at('filesystem'), message: '"filesystem" must be "auto", "posix" or "windows"' });
    let path = p;
    if (path?.startsWith('~')) path = join(homedir(), path.slice(1));
    if (path !== undefined && !isAbsolute(path)) problems.push({ path: at('path'), message: `"path" must be absolute (or start with ~): ${path}` });
    if (problems.length) throw fail();
    return { kind: 'mount', path: path!, volumeMarker, maxConnections, requireMount: requireMount ?? true, filesystem: filesystem as ResolvedMountConfig['filesystem'] };
  }

  const url = str('url');
  let parsed: URL | undefined;
  if (url !== undefined) {
    try {
      parsed = new URL(url);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
      if (parsed.username || parsed.password) {
        problems.push({ path: at('url'), message: 'the url must not carry a user name or password', hint: 'put them in "username" and "password" (the password as "${env:NAS_PASSWORD}" or "${file:…}")' });
      }
      if (parsed.search || parsed.hash) problems.push({ path: at('url'), message: 'the url must not carry a query string or a #fragment' });
    } catch {
      problems.push({ path: at('url'), message: `url "${url}" is not an http:// or https:// URL` });
    }
  }
  const username = str('username');
  const password = typeof raw.password === 'string' ? raw.password : undefined;
  if (raw.password !== undefined && typeof raw.password !== 'string') problems.push({ path: at('password'), message: '"password" must be a string' });
  if (password !== undefined && username === undefined) problems.push({ path: at('username'), message: 'a "password" needs the "username" it belongs to' });
  const insecureSkipVerify = bool('insecureSkipVerify') ?? false;
  const caRaw = str('ca');
  let ca: string | undefined;
  let caSource: string | undefined;
  if (caRaw !== undefined) {
    if (/-----BEGIN [A-Z ]+-----/.test(caRaw)) {
      ca = caRaw;
      caSource = 'the PEM given in "ca"';
    } else {
      const file = caRaw.startsWith('~') ? join(homedir(), caRaw.slice(1)) : caRaw;
      try {
        ca = readFileSync(file, 'utf8');
        caSource = file;
        if (!/-----BEGIN [A-Z ]+-----/.test(ca)) problems.push({ path: at('ca'), message: `the file ${file} given as "ca" holds no PEM certificate` , hint: 'give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)' });
      } catch (e) {
        problems.push({ path: at('ca'), message: `"ca" is neither a PEM certificate nor a readable file: ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, hint: 'give the path of the NAS\'s CA certificate (PEM), or "${file:/path/ca.pem}"' });
      }
    }
    if (parsed?.protocol === 'http:') problems.push({ path: at('ca'), message: '"ca" only applies to an https:// url' });
  }
  if (insecureSkipVerify && parsed?.protocol === 'http:') problems.push({ path: at('insecureSkipVerify'), message: '"insecureSkipVerify" only applies to an https:// url' });
  const timeout = raw.timeout === undefined ? undefined : typeof raw.timeout === 'number' && raw.timeout > 0 && raw.timeout <= 3600 ? raw.timeout : (problems.push({ path: at('timeout'), message: '"timeout" must be a number of seconds from 1 to 3600' }), undefined);
  const forbiddenChars = str('forbiddenChars') ?? '';
  if (forbiddenChars.includes('/')) problems.push({ path: at('forbiddenChars'), message: '"forbiddenChars" cannot contain "/" (it separates folders)' });
  if (problems.length) throw fail();
  let base = parsed!.toString();
  if (!base.endsWith('/')) base += '/';
  return {
    kind: 'webdav',
    url: base,
    username,
    password,
    maxConnections: maxConnections ?? DEFAULT_WEBDAV_CONNECTIONS,
    ca,
    caSource,
    insecureSkipVerify,
    timeoutMs: Math.round((timeout ?? DEFAULT_TIMEOUT_S) * 1000),
    forbiddenChars,
  };
}
