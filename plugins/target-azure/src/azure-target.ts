import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import type { BlobServiceClient, BlockBlobClient, ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import {
  BodyReadError,
  Limiter,
  readWhole,
  ConfigError,
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
import { MAX_BLOCK_SIZE, MAX_BLOCKS, blockSizeFor, sasExpiry, serviceUrl, type ResolvedAzureConfig } from './azure-config.js';
import { azureErrorCode, httpStatus, isBlobNotFound, toTargetError, type AzureErrorContext } from './azure-errors.js';
import { blockUpload, isBlockResumeState } from './block-upload.js';

type AzureSdk = typeof import('@azure/storage-blob');

/** Azure's longest blob name, in characters. */
const MAX_NAME_CHARS = 1024;

/** Knobs tests use to reach slow paths quickly; not part of config.json. */
export interface AzureTargetInternals {
  /** The SDK's tries per request (default 5). */
  maxTries?: number;
  /** The SDK's first retry delay (default 1 s; exponential after that). */
  retryDelayInMs?: number;
  /** How often a pending server-side copy is polled (default 1 s). */
  copyPollMs?: number;
}

/**
 * Builds the SDK client for the container. Throttling (503 ServerBusy), 500s and resets are retried
 * by the SDK's own storage retry policy (exponential backoff); the engine's per-file retries, with
 * jitter, sit above it. DefaultAzureCredential comes from `@azure/identity`, loaded only when no key,
 * SAS or connection string is given.
 */
export async function createContainerClient(sdk: AzureSdk, cfg: ResolvedAzureConfig, internals: AzureTargetInternals = {}): Promise<ContainerClient> {
  const options: StoragePipelineOptions = {
    retryOptions: {
      retryPolicyType: sdk.StorageRetryPolicyType.EXPONENTIAL,
      maxTries: internals.maxTries ?? 5,
      retryDelayInMs: internals.retryDelayInMs ?? 1000,
      maxRetryDelayInMs: 60_000,
    },
    keepAliveOptions: { enable: true },
    userAgentOptions: { userAgentPrefix: 'hokan' },
  };
  let service: BlobServiceClient;
  const url = serviceUrl(cfg);
  switch (cfg.auth) {
    case 'connectionString':
      try {
        service = sdk.BlobServiceClient.fromConnectionString(cfg.connectionString!, options);
      } catch {
        throw new ConfigError('the azure connectionString could not be read', { hint: 'copy the whole connection string (DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…;EndpointSuffix=…) from the account\'s "Access keys" page' });
      }
      break;
    case 'accountKey':
      service = new sdk.BlobServiceClient(url, new sdk.StorageSharedKeyCredential(cfg.account!, cfg.accountKey!), options);
      break;
    case 'sasToken':
      service = new sdk.BlobServiceClient(`${url}?${cfg.sasToken}`, new sdk.AnonymousCredential(), options);
      break;
    case 'defaultCredential': {
      const identity = await loadIdentity();
      service = new sdk.BlobServiceClient(url, new identity.DefaultAzureCredential() as never, options);
      break;
    }
  }
  return service.getContainerClient(cfg.container);
}

/** `@azure/identity` is an optional peer: imported only for DefaultAzureCredential. */
async function loadIdentity(): Promise<{ DefaultAzureCredential: new () => object }> {
  const name = '@azure/identity'; // a variable: TypeScript must not require the package to build
  try {
    return (await import(name)) as { DefaultAzureCredential: new () => object };
  } catch (e) {
    const missing = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (package|module)|Could not resolve/.test(String((e as Error).message));
    if (!missing) throw e;
    throw new ConfigError('the azure target has no accountKey, sasToken or connectionString, and DefaultAzureCredential (Entra ID sign-in) needs the package @azure/identity, which is not installed', {
      hint: 'set one of accountKey, sasToken, connectionString (e.g. "accountKey": "${env:AZURE_STORAGE_KEY}"), or run `npm install @azure/identity` where hokan is installed',
    });
  }
}

/**
 * An Azure Blob Storage container as a hokan target: block blobs under an optional prefix. Files up
 * to `blockSize` go up in one Put Blob; larger ones as resumable staged blocks (block-upload.ts).
 * Every blob carries `mtime` and `sha256` metadata (from the engine's file source, which hashes what
 * it reads), so another tool can check a file it copies out of the container.
 */
/** Whether the client signs with the account's key (StorageSharedKeyCredential): every operation is allowed. */
function sharedKey(c: ContainerClient): boolean {
  return typeof (c.credential as { computeHMACSHA256?: unknown } | undefined)?.computeHMACSHA256 === 'function';
}

export class AzureTarget implements Target {
  readonly capabilities: TargetCapabilities;
  private readonly prefix: string;
  private readonly limiter: Limiter;
  private readonly sasExpiresOn?: Date;
  private readonly endpoint: string;

  constructor(
    private readonly container: ContainerClient,
    private readonly cfg: ResolvedAzureConfig,
    private readonly log: Logger,
    private readonly internals: AzureTargetInternals = {},
  ) {
    this.prefix = cfg.prefix;
    this.limiter = new Limiter(cfg.maxConnections);
    this.sasExpiresOn = sasExpiry(cfg.sasToken);
    this.endpoint = cfg.endpoint ?? container.url.replace(/\?.*$/, '').replace(/\/[^/]*$/, '');
    this.capabilities = {
      maxConnections: cfg.maxConnections,
      serverSideMove: true,
      maxObjectSize: MAX_BLOCKS * MAX_BLOCK_SIZE,
      maxKeyLength: MAX_NAME_CHARS - cfg.prefix.length,
      resumableUploads: true,
      // Azure (and its SDK) turn a backslash in a blob name into a slash: such a name would come back
      // as another path, so it is refused (recorded `forbidden-name`) rather than renamed in silence.
      forbiddenChars: '\\',
      // Listings carry the blob metadata (include=metadata), so list and stat both give the put's mtime.
      preservesMtime: true,
    };
  }

  private full(key: string): string {
    if (key.includes('\\')) {
      throw new TargetError('permanent', `the key "${key}" has a backslash, which Azure turns into a slash (another path)`, { hint: 'rename the file, or exclude it' });
    }
    const full = this.prefix + key;
    if (full.length > MAX_NAME_CHARS) {
      throw new TargetError('permanent', `the key "${key}" is too long for Azure: ${full.length} characters with the prefix, Azure allows ${MAX_NAME_CHARS}`, { hint: 'shorten the path or the target prefix' });
    }
    return full;
  }

  private blob(key: string): BlockBlobClient {
    return this.container.getBlockBlobClient(this.full(key));
  }

  private ctx(op: string, key?: string): AzureErrorContext {
    return {
      op,
      account: this.cfg.account ?? this.container.accountName,
      container: this.cfg.container,
      blob: key === undefined ? undefined : this.prefix + key,
      endpoint: this.endpoint,
      auth: this.cfg.auth,
      sasExpiresOn: this.sasExpiresOn,
    };
  }

  private fail(e: unknown, op: string, key?: string): never {
    if (e instanceof BodyReadError) throw e.original;
    if (e instanceof Error && (e as { code?: string }).code === 'E_SOURCE_SIZE') throw e;
    throw toTargetError(e, this.ctx(op, key));
  }

  private notFound(key: string, e?: unknown): TargetError {
    return new TargetError('not-found', `blob "${this.prefix + key}" in container "${this.cfg.container}" does not exist`, { cause: e === undefined ? undefined : toTargetError(e, this.ctx('stat', key)) });
  }

  private metadata(meta: ObjectMeta): Record<string, string> {
    const m: Record<string, string> = {};
    if (meta.mtimeMs !== undefined && Number.isFinite(meta.mtimeMs)) m.mtime = String(Math.round(meta.mtimeMs));
    if (meta.sha256) m.sha256 = meta.sha256;
    return m;
  }

  private writeOptions(meta: ObjectMeta, sha256?: string) {
    return {
      metadata: this.metadata(sha256 && !meta.sha256 ? { ...meta, sha256 } : meta),
      ...(this.cfg.accessTier ? { tier: this.cfg.accessTier } : {}),
      ...(meta.contentType ? { blobHTTPHeaders: { blobContentType: meta.contentType } } : {}),
    };
  }

  async check(): Promise<void> {
    if (this.sasExpiresOn && this.sasExpiresOn.getTime() <= Date.now()) {
      throw toTargetError({ statusCode: 403, code: 'AuthenticationFailed' }, this.ctx('check'));
    }
    // A wrong account name is a DNS failure, which the SDK would retry for seconds: ask the resolver once first.
    const host = new URL(this.endpoint).hostname;
    if (isIP(host) === 0 && host !== 'localhost') {
      try {
        await lookup(host);
      } catch (e) {
        this.fail(e, 'check');
      }
    }
    try {
      // With the account's key: Get Container Properties, one cheap request. Otherwise a listing of
      // one blob: it needs only the list permission, which a container SAS has (Get Container
      // Properties needs more). Both answer ContainerNotFound when it is missing. (Azurite scans the
      // whole container for a listing: ~50 ms at 10,000 blobs, against ~2 ms for the properties.)
      if (sharedKey(this.container)) await this.container.getProperties();
      else await this.container.listBlobsFlat({ prefix: this.prefix || undefined }).byPage({ maxPageSize: 1 }).next();
    } catch (e) {
      if (azureErrorCode(e) === 'ContainerNotFound' && this.cfg.createContainer) {
        try {
          await this.container.createIfNotExists();
          this.log.info({ container: this.cfg.container }, `created the container "${this.cfg.container}"`);
          return;
        } catch (e2) {
          this.fail(e2, 'create container');
        }
      }
      this.fail(e, 'check');
    }
  }

  async put(key: string, body: RewindableSource, meta: ObjectMeta, opts: PutOptions = {}): Promise<void> {
    const client = this.blob(key);
    const size = body.size;
    if (size > (this.capabilities.maxObjectSize ?? Infinity)) throw new TargetError('permanent', `${key} is ${size} bytes; Azure block blobs are at most ${this.capabilities.maxObjectSize} bytes`);
    const blockSize = blockSizeFor(size, this.cfg.blockSize);
    try {
      if (size <= blockSize) {
        await this.putSmall(client, body, meta, opts);
        // A Put Blob drops the blob's uncommitted blocks: a saved state of an earlier, larger version is moot.
        if (opts.resume && (await opts.resume.get()) !== undefined) await opts.resume.clear();
        return;
      }
      const r = await blockUpload({ limiter: this.limiter, commitOptions: (sha256) => this.writeOptions(meta, sha256), debug: (msg, obj) => this.log.debug(obj ?? {}, msg) }, client, client.name, body, meta, blockSize, opts);
      this.log.debug({ key, size, sent: r.sent, skipped: r.skipped, resumed: r.resumed }, 'block upload committed');
    } catch (e) {
      this.fail(e, 'upload', key);
    }
  }

  /** One Put Blob; the body (at most one block) is read into memory first so the SDK can retry it. */
  private async putSmall(client: BlockBlobClient, body: RewindableSource, meta: ObjectMeta, opts: PutOptions): Promise<void> {
    const release = await this.limiter.acquire(opts.signal);
    try {
      const buf = await readWhole(body, opts.signal);
      opts.signal?.throwIfAborted();
      // The engine's source hashed what it read; another source's bytes are hashed here.
      const sha256 = meta.sha256 ? undefined : (body.sha256 ?? createHash('sha256').update(buf).digest('hex'));
      await client.upload(buf, buf.length, { ...this.writeOptions(meta, sha256), abortSignal: opts.signal });
      opts.onProgress?.(buf.length);
    } finally {
      release();
    }
  }

  async get<T>(key: string, range: ByteRange | undefined, consume: (body: Readable) => Promise<T>): Promise<T> {
    const client = this.blob(key);
    let stream: Readable;
    try {
      const offset = range?.start ?? 0;
      const count = range?.end !== undefined ? range.end - range.start + 1 : undefined;
      const r = await client.download(offset, count, { maxRetryRequests: 5 });
      stream = (r.readableStreamBody as Readable | undefined) ?? Readable.from([]);
    } catch (e) {
      // A range that starts at the end of the blob (or of an empty one) reads as nothing.
      if (range && httpStatus(e) === 416) {
        await this.stat(key);
        stream = Readable.from([]);
      } else if (isBlobNotFound(e)) {
        throw this.notFound(key, e);
      } else {
        this.fail(e, 'download', key);
      }
    }
    try {
      return await consume(stream);
    } finally {
      if (!stream.destroyed) stream.destroy();
    }
  }

  async stat(key: string): Promise<ObjectInfo> {
    const client = this.blob(key);
    try {
      const r = await client.getProperties();
      return { key, size: r.contentLength ?? 0, ...mtimeOf(r.metadata, r.lastModified), ...(r.metadata?.sha256 ? { sha256: r.metadata.sha256 } : {}) };
    } catch (e) {
      if (isBlobNotFound(e)) throw this.notFound(key, e);
      this.fail(e, 'stat', key);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const full = this.prefix + prefix;
    const pages = this.container.listBlobsFlat({ prefix: full || undefined, includeMetadata: true }).byPage({ maxPageSize: 5000 });
    for (;;) {
      let page;
      try {
        page = await pages.next();
      } catch (e) {
        this.fail(e, 'list');
      }
      if (page.done) return;
      for (const b of page.value.segment.blobItems) {
        if (!b.name.startsWith(full)) continue;
        yield { key: b.name.slice(this.prefix.length), size: b.properties.contentLength ?? 0, ...mtimeOf(b.metadata, b.properties.lastModified), ...(b.metadata?.sha256 ? { sha256: b.metadata.sha256 } : {}) };
      }
    }
  }

  /** Copy Blob within the account (no download; polled while the service says pending), then Delete Blob. */
  async move(from: string, to: string): Promise<void> {
    if (from === to) {
      await this.stat(from);
      return;
    }
    const src = this.blob(from);
    const dst = this.blob(to);
    try {
      const poller = await dst.beginCopyFromURL(src.url, { intervalInMs: this.internals.copyPollMs ?? 1000, ...(this.cfg.accessTier ? { tier: this.cfg.accessTier } : {}) });
      const r = await poller.pollUntilDone();
      if (r.copyStatus !== undefined && r.copyStatus !== 'success') {
        throw new TargetError('transient', `the server-side copy of ${from} to ${to} ended ${r.copyStatus}`);
      }
    } catch (e) {
      const code = azureErrorCode(e);
      if (code === 'CannotVerifyCopySource' || (code === 'BlobNotFound' && httpStatus(e) === 404)) throw this.notFound(from, e);
      this.fail(e, 'move', from);
    }
    await this.remove(from);
  }

  async remove(key: string): Promise<void> {
    try {
      await this.blob(key).delete({ deleteSnapshots: 'include' });
    } catch (e) {
      if (isBlobNotFound(e)) return;
      this.fail(e, 'remove', key);
    }
  }

  /**
   * Removes blobs that hold only uncommitted blocks — uploads a crash or a kill abandoned — under the
   * prefix, older than `olderThanMs`, that `keep(key)` does not protect (the engine keeps the keys
   * whose upload it means to resume). Uncommitted blocks on a blob that also has committed content
   * are dropped by Azure at the next commit to that name, or after 7 days.
   */
  async cleanup(opts: CleanupOptions): Promise<void> {
    const cutoff = Date.now() - opts.olderThanMs;
    const full = this.prefix + (opts.prefix ?? '');
    const candidates: { name: string; rel: string }[] = [];
    try {
      // Committed blobs hokan wrote carry its metadata; a blob without any is looked at more closely.
      for await (const b of this.container.listBlobsFlat({ prefix: full || undefined, includeUncommitedBlobs: true, includeMetadata: true })) {
        if (!b.name.startsWith(this.prefix) || (b.metadata && Object.keys(b.metadata).length > 0)) continue;
        const made = b.properties.createdOn ?? b.properties.lastModified;
        if (made && made.getTime() >= cutoff) continue;
        const rel = b.name.slice(this.prefix.length);
        if (opts.keep(rel)) continue;
        candidates.push({ name: b.name, rel });
      }
    } catch (e) {
      this.fail(e, 'cleanup');
    }
    let removed = 0;
    for (const c of candidates) {
      const client = this.container.getBlockBlobClient(c.name);
      try {
        await client.getProperties();
        continue; // committed content: not an abandoned upload
      } catch (e) {
        if (!isBlobNotFound(e)) this.fail(e, 'cleanup', c.rel);
      }
      try {
        await client.delete();
        removed++;
      } catch (e) {
        if (!isBlobNotFound(e)) this.fail(e, 'cleanup', c.rel);
        // Azure answers 404 to a delete of a blob with only uncommitted blocks: an empty Put Blob,
        // made only if nothing is committed there, drops them; then that empty blob goes.
        try {
          const r = await client.upload(Buffer.alloc(0), 0, { conditions: { ifNoneMatch: '*' } });
          await client.delete({ conditions: { ifMatch: r.etag } });
          removed++;
        } catch (e2) {
          const code = azureErrorCode(e2);
          if (code !== 'BlobAlreadyExists' && code !== 'ConditionNotMet' && !isBlobNotFound(e2)) this.fail(e2, 'cleanup', c.rel);
        }
      }
    }
    if (removed > 0) this.log.info({ removed }, `removed ${removed} abandoned upload(s) (uncommitted blocks)`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // The SDK's HTTP client keeps idle keep-alive sockets only; nothing to close.
  }
}

function mtimeOf(meta: Record<string, string> | undefined, lastModified: Date | undefined): { mtimeMs?: number } {
  const m = meta?.mtime !== undefined ? Number(meta.mtime) : NaN;
  if (Number.isFinite(m)) return { mtimeMs: m };
  return lastModified ? { mtimeMs: lastModified.getTime() } : {};
}

export { isBlockResumeState };
