import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { Agent as HttpAgent, type AgentOptions } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { WebDAVClient } from 'webdav';
import {
  SourceSizeError,
  TargetError,
  type ByteRange,
  type CleanupOptions,
  type Logger,
  type ObjectInfo,
  type ObjectMeta,
  type PutOptions,
  type RewindableSource,
  type Target,
  type TargetCapabilities,
} from '@hokan/core';
import { parseMultistatus, type DavEntry } from './multistatus.js';
import type { ResolvedWebDavConfig } from './nas-config.js';
import { HttpStatusError, describeCertificate, isAbort, isCertificateError, toTargetError } from './webdav-errors.js';

type WebDav = typeof import('webdav');

/** The folder under the target's URL that holds uploads until they are moved into place. */
export const TEMP_DIR = '.hokan-tmp';
/** Characters many NAS WebDAV servers refuse in names (Windows rules), probed by `check()`. */
const PROBED_CHARS = '\\:*?"<>|';
const PROBED_TRAILING = '.'; // a trailing space is probed on its own name
const PROPS_STAT = '<d:resourcetype/><d:getcontentlength/><d:getlastmodified/>';
const PROPS_QUOTA = '<d:quota-available-bytes/><d:quota-used-bytes/>';
const propfindBody = (props: string) => `<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop>${props}</d:prop></d:propfind>`;

/** How the server keeps a file's modification time, found by `check()`. */
export type MtimeMode = 'oc-header' | 'proppatch' | 'none';

/** The same request once more after a transient failure, with backoff (the engine retries per file above this). */
const RETRIES = 2;

/** What `check()` found out about the server, kept for the target's life (one run). */
export interface ServerFeatures {
  mtime: MtimeMode;
  /** Characters the server refused in a name. */
  forbiddenChars: string;
  /** Characters the server refused at the end of a name. */
  forbiddenTrailingChars: string;
}

/**
 * What the probes found, per folder URL and user, for this process: a daemon or a test opens the
 * same target many times, and the server does not change its mind by the minute. Kept 10 minutes.
 */
const PROBE_TTL_MS = 10 * 60_000;
const probeCache = new Map<string, { at: number; features: Promise<ServerFeatures> }>();
/** The same, kept a day in the data folder's cache/ (which may be deleted at any time) for the next command. */
const PROBE_DISK_TTL_MS = 24 * 3_600_000;

/** Adds an idle timeout to every socket of an agent: `ms` without a byte either way destroys it (ETIMEDOUT). */
function idleTimeout<A extends HttpAgent>(agent: A, ms: number): A {
  const create = (agent as unknown as { createConnection: (...a: unknown[]) => Socket }).createConnection.bind(agent);
  (agent as unknown as { createConnection: (...a: unknown[]) => Socket }).createConnection = (...args: unknown[]) => {
    const s = create(...args);
    s.on('timeout', () => s.destroy(Object.assign(new Error(`no data for ${Math.round(ms / 1000)} s`), { code: 'ETIMEDOUT' })));
    return s;
  };
  return agent;
}

/** Builds the webdav client with keep-alive agents sized to the target, TLS as configured. */
export function createWebDavClient(sdk: WebDav, cfg: ResolvedWebDavConfig): { client: WebDAVClient; close: () => void } {
  const base: AgentOptions = { keepAlive: true, maxSockets: cfg.maxConnections + 2, timeout: cfg.timeoutMs };
  const httpAgent = idleTimeout(new HttpAgent(base), cfg.timeoutMs);
  const httpsAgent = idleTimeout(new HttpsAgent({ ...base, ca: cfg.ca, rejectUnauthorized: !cfg.insecureSkipVerify }), cfg.timeoutMs);
  const client = sdk.createClient(cfg.url, {
    username: cfg.username,
    password: cfg.password,
    httpAgent,
    httpsAgent,
    ...(cfg.username !== undefined ? { authType: sdk.AuthType.Auto } : {}),
  });
  return {
    client,
    close: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/** Percent-encodes one name for a URL path: everything but unreserved characters. */
function encodeName(name: string): string {
  return encodeURIComponent(name).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A readable of `source` that counts bytes, checks the declared size and reports progress. */
class SizedBody extends Transform {
  sent = 0;
  constructor(
    private readonly size: number,
    private readonly onProgress?: (n: number) => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback): void {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.sent += b.length;
    if (this.sent > this.size) return cb(new SourceSizeError(this.size, this.sent));
    this.onProgress?.(this.sent);
    cb(null, b);
  }
  override _flush(cb: TransformCallback): void {
    cb(this.sent === this.size ? null : new SourceSizeError(this.size, this.sent));
  }
}

/**
 * A folder on a WebDAV server (a NAS's own WebDAV service, an online storage) as a hokan target.
 *
 * - Every request goes through the `webdav` client (its auth, Basic or Digest, and fetch), with
 *   URLs this class encodes itself, name by name, so every legal name round-trips (`?`, `#`, `%`,
 *   `+`, a backslash, NFC and NFD forms).
 * - A put streams the body (never the whole file in memory) to `.hokan-tmp/<random>` under the
 *   target's URL, then moves it into place with `MOVE` and `Overwrite: T`: a reader sees the old file
 *   or the new one, never a part. Folders are made with `MKCOL` once per run (remembered; a missing
 *   parent, 409, is made first).
 * - Older generations move with `MOVE` on the server (no download).
 * - `check()` finds out, with a few requests on small probe files under `.hokan-tmp/`, whether the
 *   server keeps a modification time given with `X-OC-Mtime` or `PROPPATCH` of `getlastmodified`, and
 *   which of `\ : * ? " < > |` and a trailing dot or space it refuses in names (declared as
 *   capabilities, so the engine records such files `forbidden-name` instead of failing them).
 */
export class WebDavTarget implements Target {
  private caps: TargetCapabilities;
  /** Folders known to exist this run (keys without a trailing `/`; `''` is the root). */
  private readonly dirs = new Map<string, Promise<void>>();
  private readonly tempStem = randomBytes(6).toString('hex');
  /** MOVEs (`from\nto`) whose answer never came: looked at before they are sent again (moveInto). */
  private readonly unsureMoves = new Set<string>();
  private tempSeq = 0;
  private features?: Promise<ServerFeatures>;
  private found?: ServerFeatures;
  private readonly rootPath: string;

  constructor(
    private readonly client: WebDAVClient,
    private readonly cfg: ResolvedWebDavConfig,
    private readonly log: Logger,
    private readonly closeAgents: () => void = () => undefined,
    /** The data folder: `check()` keeps what it found about the server in its cache/ for a day. */
    private readonly dataDir?: string,
  ) {
    this.rootPath = decodeURIComponent(new URL(cfg.url).pathname).replace(/\/+$/, '');
    this.caps = this.makeCapabilities();
  }

  get capabilities(): TargetCapabilities {
    return this.caps;
  }

  /** What `check()` found (undefined before it ran). */
  get serverFeatures(): ServerFeatures | undefined {
    return this.found;
  }

  private makeCapabilities(): TargetCapabilities {
    const f = this.found;
    const chars = [...new Set(this.cfg.forbiddenChars + (f?.forbiddenChars ?? ''))].join('');
    return {
      maxConnections: this.cfg.maxConnections,
      serverSideMove: true,
      maxNameBytes: 255,
      ...(chars ? { forbiddenChars: chars } : {}),
      ...(f?.forbiddenTrailingChars ? { forbiddenTrailingChars: f.forbiddenTrailingChars } : {}),
      preservesMtime: f !== undefined && f.mtime !== 'none',
    };
  }

  // ---- URLs and requests -------------------------------------------------------------------

  private urlOf(key: string, collection = false): string {
    if (key === '') return this.cfg.url;
    return this.cfg.url + key.split('/').map(encodeName).join('/') + (collection ? '/' : '');
  }

  /** Refuses keys that could leave the folder or that the server cannot tell apart. */
  private checkKey(key: string): void {
    if (typeof key !== 'string' || key === '' || key.startsWith('/') || key.endsWith('/') || key.includes('\0') || /(^|\/)\.{0,2}(\/|$)/.test(key)) {
      throw new TargetError('permanent', `the key ${JSON.stringify(key)} cannot be stored: it has an empty, "." or ".." name`);
    }
    if (key === TEMP_DIR || key.startsWith(`${TEMP_DIR}/`)) throw new TargetError('permanent', `the key ${JSON.stringify(key)} is in ${TEMP_DIR}/, which holds uploads in progress`);
    const c = this.caps;
    if (c.forbiddenChars) for (const ch of c.forbiddenChars) if (key.includes(ch)) throw new TargetError('permanent', `the key ${JSON.stringify(key)} contains ${JSON.stringify(ch)}, which the WebDAV server at ${this.cfg.url} refuses in names`);
    for (const seg of key.split('/')) {
      if (c.forbiddenTrailingChars && c.forbiddenTrailingChars.includes(seg.at(-1)!)) throw new TargetError('permanent', `the name ${JSON.stringify(seg)} ends with ${JSON.stringify(seg.at(-1))}, which the WebDAV server at ${this.cfg.url} refuses`);
      if (Buffer.byteLength(seg) > 255) throw new TargetError('permanent', `the name ${JSON.stringify(seg.slice(0, 40))}… is longer than 255 bytes`);
    }
  }

  /**
   * One request through the webdav client. A status of 400 or more becomes an HttpStatusError
   * (the answer's body read and dropped, so the connection goes back to the pool).
   */
  private async request(url: string, method: string, headers: Record<string, string> = {}, data?: string | Buffer | Readable, signal?: AbortSignal): Promise<Response> {
    try {
      return (await this.client.customRequest('', { url, method, headers, ...(data !== undefined ? { data } : {}), ...(signal ? { signal } : {}) })) as unknown as Response;
    } catch (e) {
      const r = (e as { response?: Response; status?: number }).response;
      if (r && typeof (e as { status?: number }).status === 'number') {
        let body = '';
        try {
          body = (await r.text()).slice(0, 2000);
        } catch {
          // the body could not be read: the status says enough
        }
        throw new HttpStatusError(r.status, r.statusText, body);
      }
      throw e;
    }
  }

  /** A request whose answer body is not needed (read to the end, so the connection is reused). */
  private async call(url: string, method: string, headers: Record<string, string> = {}, data?: string | Buffer, signal?: AbortSignal): Promise<number> {
    const r = await this.request(url, method, headers, data, signal);
    await r.arrayBuffer().catch(() => undefined);
    return r.status;
  }

  /** Runs an idempotent request again after a transient failure (a reset on a reused keep-alive socket, a 503), with backoff. */
  private async retrying<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        const te = await this.mapError(e, op, key);
        if (!TargetError.isTransient(te) || isAbort(e) || attempt >= RETRIES) throw te;
        this.log.debug({ op, key, attempt: attempt + 1, error: te.message }, 'webdav request retried');
        await new Promise((r) => setTimeout(r, 100 * 4 ** attempt * (0.5 + Math.random())));
      }
    }
  }

  private async mapError(e: unknown, op: string, key: string): Promise<TargetError> {
    if (TargetError.is(e)) return e;
    const certificate = isCertificateError(e) ? await describeCertificate(this.cfg.url) : undefined;
    return toTargetError(e, { op, key, url: this.cfg.url, username: this.cfg.username, certificate });
  }

  private async propfind(key: string, depth: '0' | '1', props: string, collection = false): Promise<DavEntry[]> {
    return this.retrying('read', key, async () => {
      const r = await this.request(this.urlOf(key, collection), 'PROPFIND', { Depth: depth, 'Content-Type': 'application/xml; charset=utf-8' }, propfindBody(props));
      const xml = await r.text();
      try {
        return parseMultistatus(xml);
      } catch (e) {
        throw new TargetError('transient', `the WebDAV server at ${this.cfg.url} answered PROPFIND of ${JSON.stringify(key)} with something that is not a multistatus (${(e as Error).message})`);
      }
    });
  }

  // ---- check and probes ----------------------------------------------------------------------

  async check(): Promise<void> {
    let root: DavEntry[];
    try {
      root = await this.propfind('', '0', PROPS_STAT, true);
    } catch (e) {
      throw await this.mapError(e, 'check', '');
    }
    if (root.length > 0 && !root[0]!.collection) {
      throw new TargetError('unavailable', `${this.cfg.url} is a file on the WebDAV server, not a folder`, { hint: 'point "url" at a folder' });
    }
    if (this.cfg.insecureSkipVerify && this.cfg.url.startsWith('https:')) {
      this.log.warn({ url: this.cfg.url }, `insecureSkipVerify: the TLS certificate of ${new URL(this.cfg.url).host} is not checked (anyone on the network path could pose as the NAS); give its CA as "ca" instead`);
    }
    const cacheKey = `${this.cfg.username ?? ''}@${this.cfg.url}`;
    const cached = probeCache.get(cacheKey);
    if (!this.features && cached && Date.now() - cached.at < PROBE_TTL_MS) {
      this.features = cached.features;
      this.dirs.set(TEMP_DIR, Promise.resolve());
    }
    if (!this.features) {
      const onDisk = await this.readProbeFile(cacheKey);
      if (onDisk) this.dirs.set(TEMP_DIR, Promise.resolve());
      this.features = onDisk ? Promise.resolve(onDisk) : this.probe().then(async (f) => (await this.writeProbeFile(cacheKey, f), f));
      probeCache.set(cacheKey, { at: Date.now(), features: this.features });
    }
    this.found = await this.features.catch((e) => {
      this.features = undefined;
      probeCache.delete(cacheKey);
      // A user who may read but not write (a restore on a fresh machine with a read-only account):
      // the folder is usable for reading; a backup's first write says access-denied with the fix.
      if (TargetError.isKind(e, 'auth') && !/refused the user/.test((e as Error).message)) {
        this.log.warn({ url: this.cfg.url }, `the WebDAV user may not write to ${this.cfg.url}: reading only (${(e as Error).message})`);
        return undefined;
      }
      throw e;
    });
    this.caps = this.makeCapabilities();
  }

  private probeFile(cacheKey: string): string | undefined {
    if (!this.dataDir) return undefined;
    return join(this.dataDir, 'cache', `nas-probe-${createHash('sha256').update(cacheKey).digest('hex').slice(0, 16)}.json`);
  }

  private async readProbeFile(cacheKey: string): Promise<ServerFeatures | undefined> {
    const file = this.probeFile(cacheKey);
    if (!file) return undefined;
    try {
      const x = JSON.parse(await readFile(file, 'utf8')) as { at: number; url: string; features: ServerFeatures };
      if (x.url !== cacheKey || Date.now() - x.at > PROBE_DISK_TTL_MS || x.at > Date.now()) return undefined;
      const f = x.features;
      if (!['oc-header', 'proppatch', 'none'].includes(f.mtime) || typeof f.forbiddenChars !== 'string' || typeof f.forbiddenTrailingChars !== 'string') return undefined;
      return f;
    } catch {
      return undefined;
    }
  }

  private async writeProbeFile(cacheKey: string, features: ServerFeatures): Promise<void> {
    const file = this.probeFile(cacheKey);
    if (!file) return;
    try {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, JSON.stringify({ at: Date.now(), url: cacheKey, features }));
    } catch {
      // only a cache: the next command probes again
    }
  }

  /** Makes `.hokan-tmp/` and finds out how the server keeps mtimes and which names it refuses. */
  private async probe(): Promise<ServerFeatures> {
    await this.ensureDir(TEMP_DIR);
    const stem = `${TEMP_DIR}/probe-${this.tempStem}`;
    const mtimeMs = Date.UTC(2020, 0, 2, 3, 4, 6);
    const plain = `${stem}-plain`;
    const probes: string[] = [];
    const tryPut = async (key: string, headers: Record<string, string> = {}): Promise<true | TargetError> => {
      probes.push(key);
      try {
        await this.retrying('write', key, () => this.call(this.urlOf(key), 'PUT', { 'Content-Type': 'application/octet-stream', ...headers }, Buffer.from('hokan probe\n')));
        return true;
      } catch (e) {
        return this.mapError(e, 'write', key);
      }
    };
    try {
      // The plain probe must be written: this is the check that the user may write here.
      const wrote = await tryPut(plain, { 'X-OC-Mtime': String(mtimeMs / 1000) });
      if (wrote !== true) throw wrote;
      // Names many NAS servers refuse: all at once, then one by one only when refused.
      const [all, space] = await Promise.all([tryPut(`${stem}-${PROBED_CHARS}${PROBED_TRAILING}`), tryPut(`${stem}-space `)]);
      let forbiddenChars = '';
      let forbiddenTrailingChars = '';
      const refused = (r: true | TargetError) => r !== true && (r.kind === 'permanent' || r.kind === 'auth' || r.kind === 'not-found' || r.kind === 'transient');
      if (all !== true && !refused(all)) throw all;
      if (refused(all)) {
        const each = await Promise.all([...PROBED_CHARS].map((ch, i) => tryPut(`${stem}-c${i}${ch}x`)));
        forbiddenChars = [...PROBED_CHARS].filter((_, i) => each[i] !== true).join('');
        if ((await tryPut(`${stem}-dot.`)) !== true) forbiddenTrailingChars += '.';
      }
      if (space !== true) forbiddenTrailingChars += ' ';
      const mtime = await this.probeMtime(plain, mtimeMs);
      const f: ServerFeatures = { mtime, forbiddenChars, forbiddenTrailingChars };
      this.log.debug({ url: this.cfg.url, ...f }, 'webdav server features');
      if (forbiddenChars || forbiddenTrailingChars) {
        this.log.info({ url: this.cfg.url, forbiddenChars, forbiddenTrailingChars }, `the WebDAV server refuses names with ${[...forbiddenChars].join(' ')}${forbiddenTrailingChars ? ` or ending with ${JSON.stringify(forbiddenTrailingChars)}` : ''}: such files are recorded forbidden-name`);
      }
      return f;
    } finally {
      await Promise.all(probes.map((k) => this.call(this.urlOf(k), 'DELETE').catch(() => undefined)));
    }
  }

  /** Whether the server kept the mtime sent with `X-OC-Mtime`, or takes one with PROPPATCH. */
  private async probeMtime(key: string, mtimeMs: number): Promise<MtimeMode> {
    const statTime = async () => (await this.propfind(key, '0', PROPS_STAT))[0]?.mtimeMs;
    if ((await statTime()) === mtimeMs) return 'oc-header';
    if (!(await this.setMtime(key, mtimeMs))) return 'none';
    return (await statTime()) === mtimeMs ? 'proppatch' : 'none';
  }

  /** PROPPATCH of `getlastmodified`; true when the server says it set it. */
  private async setMtime(key: string, mtimeMs: number): Promise<boolean> {
    const body = `<?xml version="1.0" encoding="utf-8"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:getlastmodified>${new Date(mtimeMs).toUTCString()}</d:getlastmodified></d:prop></d:set></d:propertyupdate>`;
    try {
      const r = await this.request(this.urlOf(key), 'PROPPATCH', { 'Content-Type': 'application/xml; charset=utf-8' }, body);
      const text = await r.text();
      if (r.status !== 207) return r.status >= 200 && r.status < 300;
      const e = parseMultistatus(text);
      return e.length > 0 && e.every((x) => Object.keys(x.failed).length === 0 && (x.status === undefined || x.status < 300));
    } catch {
      return false;
    }
  }

  // ---- folders -------------------------------------------------------------------------------

  /** Makes the folder `dir` (a key without a trailing `/`) and its missing parents; once per run. */
  private ensureDir(dir: string): Promise<void> {
    if (dir === '') return Promise.resolve();
    let p = this.dirs.get(dir);
    if (!p) {
      p = this.mkcol(dir);
      this.dirs.set(dir, p);
      p.catch(() => this.dirs.delete(dir));
    }
    return p;
  }

  private async mkcol(dir: string): Promise<void> {
    const slash = dir.lastIndexOf('/');
    const parent = slash < 0 ? '' : dir.slice(0, slash);
    // A parent known to exist, or made first (409 Conflict would say it is missing anyway).
    if (parent !== '' && !this.dirs.has(parent)) await this.ensureDir(parent);
    let status: number | undefined;
    try {
      status = await this.retrying('create folder', dir, () => this.call(this.urlOf(dir, true), 'MKCOL'));
    } catch (e) {
      const s = (e as TargetError).cause as { status?: number } | undefined;
      if (s?.status !== 401 && s?.status !== 409) {
        // 405 says something is there; Apache answers 403 to a MKCOL that lost a race with another
        // client making the same folder. A folder there is what was wanted; a file is not.
        let self: DavEntry | undefined;
        try {
          [self] = await this.propfind(dir, '0', PROPS_STAT, true);
        } catch (pe) {
          // Not known what is there (the PROPFIND itself failed for now — a network or a busy server):
          // that, not "a file has that name", is the answer; the next try finds out.
          const te = await this.mapError(pe, 'create folder', dir);
          if (TargetError.isTransient(te)) throw te;
        }
        if (self?.collection) return;
        if (s?.status === 405) throw new TargetError('permanent', `cannot make the folder "${dir}" on ${this.cfg.url}: a file has that name`, { cause: e, hint: 'remove or rename that file on the NAS' });
      }
      if (s?.status === 409 && parent !== '') {
        // The parent vanished since it was made this run (removed by someone else): make it again.
        this.dirs.delete(parent);
        await this.ensureDir(parent);
        await this.retrying('create folder', dir, () => this.call(this.urlOf(dir, true), 'MKCOL')).catch(async (e2) => {
          if (((e2 as TargetError).cause as { status?: number } | undefined)?.status !== 405) throw e2;
        });
        return;
      }
      throw e;
    }
    void status;
  }

  // ---- objects -------------------------------------------------------------------------------

  async put(key: string, body: RewindableSource, meta: ObjectMeta, opts: PutOptions = {}): Promise<void> {
    this.checkKey(key);
    opts.signal?.throwIfAborted();
    const slash = key.lastIndexOf('/');
    const dir = slash < 0 ? '' : key.slice(0, slash);
    await Promise.all([this.ensureDir(TEMP_DIR), this.ensureDir(dir)]);
    const tmp = `${TEMP_DIR}/${this.tempStem}-${(++this.tempSeq).toString(36)}`;
    const mtime = meta.mtimeMs !== undefined && Number.isFinite(meta.mtimeMs) ? Math.round(meta.mtimeMs) : undefined;
    const mode = this.found?.mtime ?? 'oc-header';
    let landed = false;
    try {
      for (let attempt = 0; ; attempt++) {
        const stream = body.open();
        const sized = new SizedBody(body.size, opts.onProgress);
        let sourceError: unknown;
        // A body that fails (the file, not the server) ends the request at once: the server would
        // otherwise wait for the bytes Content-Length promised, holding the file open.
        const ac = new AbortController();
        const signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal;
        stream.once('error', (e) => {
          sourceError ??= e;
          ac.abort(e);
        });
        sized.once('error', (e) => {
          sourceError ??= e;
          ac.abort(e);
        });
        stream.pipe(sized);
        try {
          const headers: Record<string, string> = { 'Content-Type': meta.contentType ?? 'application/octet-stream', 'Content-Length': String(body.size) };
          // ownCloud, Nextcloud and others keep this as the file's mtime (no extra request).
          // Whole seconds: what these servers parse (and keep).
          if (mtime !== undefined && mode === 'oc-header') headers['X-OC-Mtime'] = String(Math.floor(mtime / 1000));
          await this.call(this.urlOf(tmp), 'PUT', headers, sized as unknown as Buffer, signal);
          break;
        } catch (e) {
          if (sourceError !== undefined) throw sourceError; // the file, not the server: as it is
          if (opts.signal?.aborted) throw opts.signal.reason ?? e;
          const te = await this.mapError(e, 'upload', key);
          if ((te.cause as { status?: number } | undefined)?.status === 409 && attempt < RETRIES) {
            // .hokan-tmp/ was removed since this process made it (someone tidied the share): again.
            this.dirs.delete(TEMP_DIR);
            await this.ensureDir(TEMP_DIR);
            continue;
          }
          if (!TargetError.isTransient(te) || attempt >= RETRIES) throw te;
          this.log.debug({ key, attempt: attempt + 1, error: te.message }, 'webdav upload retried');
          await new Promise((r) => setTimeout(r, 200 * 4 ** attempt * (0.5 + Math.random())));
        } finally {
          stream.unpipe(sized);
          stream.destroy();
          sized.destroy();
        }
      }
      opts.signal?.throwIfAborted();
      if (mtime !== undefined && mode === 'proppatch') await this.setMtime(tmp, mtime);
      await this.moveInto(tmp, key, 'upload', body.size);
      landed = true;
    } finally {
      if (!landed) await this.call(this.urlOf(tmp), 'DELETE').catch(() => undefined);
    }
  }

  /**
   * MOVE with Overwrite: T into a folder made first (once per run: servers answer a MOVE into a
   * missing folder with 409, 403 or 500); a 409 all the same (the folder was removed meanwhile)
   * makes it again and tries again.
   *
   * A MOVE whose answer never came (a reset, a timeout, a 5xx) may have been done. It is never sent
   * again blind: rclone and Apache carry out a MOVE with Overwrite: T by deleting the destination
   * first, so a MOVE repeated over its own result deletes the file it had moved, then fails for want
   * of a source (seen in the fault campaign: a kept version lost). The source and destination are
   * looked at first (`unsureMoves` remembers the pair across the engine's retries of the same move).
   */
  private async moveInto(from: string, to: string, op: string, size?: number): Promise<void> {
    const slash = to.lastIndexOf('/');
    const dir = slash < 0 ? '' : to.slice(0, slash);
    await this.ensureDir(dir);
    const pair = `${from}\n${to}`;
    let transientTries = 0;
    let conflictTries = 0;
    let raceTries = 0;
    for (;;) {
      if (this.unsureMoves.has(pair)) {
        const state = await this.moveOutcome(from, to, size, op);
        this.unsureMoves.delete(pair);
        if (state === 'landed') {
          this.log.debug({ op, from, key: to }, 'webdav MOVE whose answer was lost had landed');
          return;
        }
        if (state === 'gone') throw new TargetError('not-found', `"${from}" does not exist on ${this.cfg.url}`);
        // The source is still there: the MOVE was not done; it goes again.
      }
      try {
        await this.call(this.urlOf(from), 'MOVE', { Destination: this.urlOf(to), Overwrite: 'T' });
        return;
      } catch (e) {
        if (isAbort(e)) throw await this.mapError(e, op, to);
        const status = e instanceof HttpStatusError ? e.status : undefined;
        if (status === undefined || status >= 500 || status === 408) this.unsureMoves.add(pair);
        const te = await this.mapError(e, op, to);
        if (TargetError.isTransient(te) && transientTries < RETRIES) {
          transientTries++;
          this.log.debug({ op, key: to, attempt: transientTries, error: te.message }, 'webdav request retried');
          await new Promise((r) => setTimeout(r, 100 * 4 ** (transientTries - 1) * (0.5 + Math.random())));
          continue;
        }
        if (status === 409 && conflictTries < 2 && dir !== '') {
          conflictTries++;
          this.dirs.delete(dir);
          await this.ensureDir(dir);
          continue;
        }
        if (this.unsureMoves.has(pair)) throw te; // not known whether it was done: the next try looks first
        // A missing source is not-found (rclone answers 403 to a MOVE of a missing file, others 404).
        // (statAny: `from` may be an upload's temporary name under .hokan-tmp/, which stat() refuses.)
        const sourceGone = await this.statAny(from).then(
          () => false,
          (x) => TargetError.isNotFound(x),
        );
        if (sourceGone) throw new TargetError('not-found', `"${from}" does not exist on ${this.cfg.url}`, { cause: te });
        // Apache's mod_dav overwrites by deleting the destination first; when another MOVE to the same
        // key deleted it in between, it answers 404 about the destination while the source is still
        // there. Again, after a short pause (the other MOVE has landed by then).
        if (status === 404 && raceTries < RETRIES + 2) {
          raceTries++;
          this.log.debug({ op, key: to, attempt: raceTries }, 'webdav MOVE raced another one to the same name: retried');
          await new Promise((r) => setTimeout(r, 20 * raceTries * (0.5 + Math.random())));
          continue;
        }
        throw te;
      }
    }
  }

  /**
   * After a MOVE whose answer was lost: `landed` (the source is gone and the destination is there, of
   * `size` when given), `source-there` (not done), or `gone` (neither). Throws a transient error when
   * the server cannot say now.
   */
  private async moveOutcome(from: string, to: string, size: number | undefined, op: string): Promise<'landed' | 'source-there' | 'gone'> {
    const exists = async (key: string): Promise<number | undefined> => {
      try {
        return (await this.statAny(key)).size;
      } catch (e) {
        if (TargetError.isNotFound(e)) return undefined;
        throw TargetError.is(e) && TargetError.isTransient(e) ? e : new TargetError('transient', `${op} of "${to}": not known whether the MOVE was done (${(e as Error).message})`, { cause: e });
      }
    };
    if ((await exists(from)) !== undefined) return 'source-there';
    const there = await exists(to);
    return there !== undefined && (size === undefined || there === size) ? 'landed' : 'gone';
  }


  async get<T>(key: string, range: ByteRange | undefined, consume: (body: Readable) => Promise<T>): Promise<T> {
    this.checkKey(key);
    const headers: Record<string, string> = { 'Accept-Encoding': 'identity' };
    const start = range?.start ?? 0;
    if (range) headers.Range = `bytes=${start}-${range.end ?? ''}`;
    let stream: Readable;
    const r = await this.retrying('download', key, async () => {
      try {
        return await this.request(this.urlOf(key), 'GET', headers);
      } catch (e) {
        if (e instanceof HttpStatusError && e.status === 416) return undefined; // a range from the end: nothing to read
        throw e;
      }
    });
    if (r === undefined) {
      await this.stat(key);
      stream = Readable.from([]);
    } else {
      const body = (r.body as unknown as Readable | null) ?? Readable.from([]);
      // A server that ignores Range answers 200 with the whole file: skip to the range here.
      stream = range && r.status === 200 ? body.pipe(sliceStream(start, range.end)) : body;
      if (stream !== body) body.once('error', (e) => stream.destroy(e));
    }
    try {
      return await consume(stream);
    } finally {
      if (!stream.destroyed) stream.destroy();
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    this.checkKey(key);
    return this.statAny(key);
  }

  /** stat without the key checks: also for this target's own uploads in progress (`.hokan-tmp/…`). */
  private async statAny(key: string): Promise<ObjectInfo> {
    const entries = await this.propfind(key, '0', PROPS_STAT);
    const e = entries[0];
    if (!e || e.collection) throw new TargetError('not-found', `"${key}" is not a file on ${this.cfg.url}`);
    return { key, size: e.size ?? 0, ...(e.mtimeMs !== undefined ? { mtimeMs: e.mtimeMs } : {}) };
  }

  /**
   * Walks only the folder `prefix` points into (`a/b/c` → the folder `a/b`, names starting with
   * `c`), one `PROPFIND Depth: 1` per folder, several folders at once.
   */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf('/');
    const startDir = slash >= 0 ? prefix.slice(0, slash) : '';
    const namePrefix = prefix.slice(slash + 1);
    if (startDir !== '' && /(^|\/)\.{0,2}(\/|$)/.test(startDir)) return;
    const width = Math.max(2, Math.min(8, this.cfg.maxConnections));
    const queue: { dir: string; filter: string }[] = [{ dir: startDir, filter: namePrefix }];
    const running = new Set<Promise<{ p: Promise<unknown>; items: ObjectInfo[] }>>();
    const readDir = async (dir: string, filter: string): Promise<ObjectInfo[]> => {
      let entries: DavEntry[];
      try {
        entries = await this.propfind(dir, '1', PROPS_STAT, true);
      } catch (e) {
        // Under a folder that is not there, or that is a file (Apache: 400, others 404/409): nothing.
        const status = ((e as TargetError).cause as { status?: number } | undefined)?.status;
        if (dir !== '' && (TargetError.isNotFound(e) || status === 400 || status === 409 || status === 405)) return [];
        if (dir === '') throw await this.mapError(e, 'list', '');
        throw e;
      }
      const self = this.rootPath + (dir === '' ? '' : `/${dir}`);
      const items: ObjectInfo[] = [];
      for (const en of entries) {
        if (en.path === self || en.path === `${self}/` || !en.path.startsWith(`${self}/`)) continue;
        const name = en.path.slice(self.length + 1);
        if (name === '' || name.includes('/')) continue;
        if (filter && !name.startsWith(filter)) continue;
        const key = dir === '' ? name : `${dir}/${name}`;
        if (dir === '' && name === TEMP_DIR) continue;
        if (en.collection) queue.push({ dir: key, filter: '' });
        else items.push({ key, size: en.size ?? 0, ...(en.mtimeMs !== undefined ? { mtimeMs: en.mtimeMs } : {}) });
      }
      return items;
    };
    const startNext = () => {
      while (running.size < width && queue.length) {
        const { dir, filter } = queue.shift()!;
        const p: Promise<{ p: Promise<unknown>; items: ObjectInfo[] }> = readDir(dir, filter).then((items) => ({ p, items }));
        running.add(p);
      }
    };
    startNext();
    while (running.size) {
      const { p, items } = await Promise.race(running);
      running.delete(p as Promise<{ p: Promise<unknown>; items: ObjectInfo[] }>);
      startNext();
      yield* items;
      startNext();
    }
  }

  async move(from: string, to: string): Promise<void> {
    this.checkKey(from);
    this.checkKey(to);
    if (from === to) {
      await this.stat(from);
      return;
    }
    await this.moveInto(from, to, 'move');
  }

  async remove(key: string): Promise<void> {
    this.checkKey(key);
    try {
      await this.retrying('remove', key, () => this.call(this.urlOf(key), 'DELETE'));
    } catch (e) {
      if (TargetError.isNotFound(e)) return;
      throw e;
    }
  }

  /** The server's `quota-used-bytes` and `quota-available-bytes` for the folder, where it answers them. */
  async usage(): Promise<{ used?: number; free?: number }> {
    const [e] = await this.propfind('', '0', PROPS_QUOTA, true);
    const num = (v: string | undefined) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) && Number(v) >= 0 ? Number(v) : undefined);
    const used = num(e?.props['quota-used-bytes']);
    const free = num(e?.props['quota-available-bytes']);
    return { ...(used !== undefined ? { used } : {}), ...(free !== undefined ? { free } : {}) };
  }

  /** Removes uploads a killed run left in `.hokan-tmp/`, older than `olderThanMs`. */
  async cleanup(opts: CleanupOptions): Promise<void> {
    const cutoff = Date.now() - opts.olderThanMs;
    let entries: DavEntry[];
    try {
      entries = await this.propfind(TEMP_DIR, '1', PROPS_STAT, true);
    } catch (e) {
      if (TargetError.isNotFound(e)) return;
      throw e;
    }
    const self = `${this.rootPath}/${TEMP_DIR}`;
    let removed = 0;
    for (const en of entries) {
      if (!en.path.startsWith(`${self}/`) || en.collection) continue;
      if (en.mtimeMs !== undefined && en.mtimeMs >= cutoff) continue;
      const name = en.path.slice(self.length + 1);
      await this.call(this.urlOf(`${TEMP_DIR}/${name}`), 'DELETE').catch(() => undefined);
      removed++;
    }
    if (removed) this.log.info({ removed }, `removed ${removed} unfinished upload(s) from ${TEMP_DIR}/`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.closeAgents();
  }
}

/** Passes bytes `start`…`end` (inclusive) of a stream through, for a server that ignored Range. */
function sliceStream(start: number, end: number | undefined): Transform {
  let pos = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const from = Math.max(0, start - pos);
      const to = end === undefined ? chunk.length : Math.min(chunk.length, end + 1 - pos);
      pos += chunk.length;
      cb(null, from < to ? chunk.subarray(from, to) : undefined);
    },
  });
}
