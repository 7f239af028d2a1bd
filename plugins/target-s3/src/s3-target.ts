import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import {
  BodyReadError,
  Limiter,
  readWhole,
  TargetError,
  type ByteRange,
  type Logger,
  type ObjectInfo,
  type ObjectMeta,
  type PutOptions,
  type RewindableSource,
  type Target,
  type TargetCapabilities,
} from '@hokan/core';
import { abortQuietly, multipartUpload, type MultipartContext } from './multipart-upload.js';
import { partSizeFor, type ResolvedS3Config } from './s3-config.js';
import { bucketRegionOf, httpStatus, isNotFound, s3ErrorCode, toTargetError, type S3ErrorContext } from './s3-errors.js';
import { isNotImplemented, ServerFeatures, type OptionalCall } from './server-features.js';

type S3Sdk = typeof import('@aws-sdk/client-s3');

const GIB = 1024 * 1024 * 1024;
const TIB = 1024 * GIB;
/** Largest object CopyObject copies in one request; above it, UploadPartCopy. */
const COPY_OBJECT_LIMIT = 5 * GIB;
const MAX_KEY_BYTES = 1024;

/** Knobs tests use to reach paths that need huge objects or a broken clock; not part of config.json. */
export interface S3TargetInternals {
  /** Objects larger than this move with UploadPartCopy (default 5 GiB, S3's CopyObject limit). */
  multipartCopyThreshold?: number;
  /** Part size of UploadPartCopy (default: grown from 512 MiB so a copy needs at most 10,000 parts). */
  copyPartSize?: number;
  /** The SDK's attempts per request (default 5). */
  maxAttempts?: number;
  /** Passed to the SDK as systemClockOffset (ms): simulates a wrong clock. */
  systemClockOffset?: number;
  /** Calls to treat as missing from the start (as a provider's documentation would say). */
  missingCalls?: OptionalCall[];
}

/** What hokan does instead when a server lacks a call (server-features.ts), for the log line. */
const FALLBACK: Record<OptionalCall, string> = {
  ListParts: 'an interrupted upload of a large file starts over instead of continuing',
  ListMultipartUploads: 'abandoned multipart uploads cannot be found and cleaned up',
  AbortMultipartUpload: 'the parts of an upload given up stay on the server',
  UploadPartCopy: 'large objects are copied with one CopyObject',
};

/**
 * Builds the SDK client. Static keys, when given, go straight to the client so the SDK never looks
 * anywhere else (no environment, no ~/.aws, no instance metadata service); otherwise the SDK's default
 * chain or the named profile is used.
 *
 * The JS SDK v3 does not read AWS_CA_BUNDLE (unlike the AWS CLI and rclone), so that variable cannot
 * break a plain-http endpoint; our own agents are passed so the socket count follows maxConnections
 * and keep-alive `keepAlive` (off for Ceph RGW by default: providers.ts).
 *
 * Per request the SDK costs ~3 ms of CPU on these machines (a plain signed GET ~0.6): three of its
 * options cut a quarter of that without leaving it — see `leanerRequests`. `warn` takes the SDK's
 * own warnings (to hokan's log).
 */
export function createS3Client(sdk: S3Sdk, cfg: ResolvedS3Config, internals: S3TargetInternals = {}, warn: (msg: unknown) => void = () => undefined): S3Client {
  const sockets = cfg.maxConnections + 2;
  const clientConfig: S3ClientConfig = {
    region: cfg.region ?? (cfg.endpoint ? 'us-east-1' : undefined),
    endpoint: cfg.endpoint,
    forcePathStyle: cfg.forcePathStyle,
    maxAttempts: internals.maxAttempts ?? 5,
    retryMode: 'standard', // exponential backoff with full jitter; retries throttling (503 SlowDown), 5xx, resets
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: cfg.keepAlive, maxSockets: sockets }),
      httpsAgent: new HttpsAgent({ keepAlive: cfg.keepAlive, maxSockets: sockets }),
      connectionTimeout: 30_000,
      requestTimeout: 300_000,
    },
    requestChecksumCalculation: cfg.checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    responseChecksumValidation: cfg.checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
  };
  if (cfg.accessKeyId && cfg.secretAccessKey) {
    clientConfig.credentials = { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey, ...(cfg.sessionToken ? { sessionToken: cfg.sessionToken } : {}) };
  } else if (cfg.profile) {
    clientConfig.profile = cfg.profile;
  }
  if (internals.systemClockOffset !== undefined) clientConfig.systemClockOffset = internals.systemClockOffset;
  return leanerRequests(new sdk.S3Client({ ...clientConfig, ...sdkLean(warn) }));
}

/**
 * Client options that spare work the SDK does for every request (measured: 1,500 small GETs from
 * s3rver, 3.3 → 2.1–2.5 ms of CPU a GET; a restore of 1,000 files ~15% less user time):
 * - `cacheMiddleware`: the middleware stack is resolved once per command type, not per request
 *   (hokan adds no middleware to a command; a `send` with options, e.g. an abort signal, is not cached);
 * - a logger without `info`: the default one has an `info` that logs nowhere, and the SDK runs its
 *   sensitive-data filter over every request's input and output to call it.
 */
function sdkLean(warn: (msg: unknown) => void): Pick<S3ClientConfig, 'cacheMiddleware' | 'logger'> {
  // `debug` and `error` must be there: the credential providers and the region redirect call
  // `logger?.debug(…)` without asking whether it is a function (test: keys from the environment).
  const logger = { debug: () => undefined, warn, error: () => undefined } as unknown as NonNullable<S3ClientConfig['logger']>;
  return { cacheMiddleware: true, logger };
}

/**
 * The SDK builds a new signer (from a copy of the whole resolved config) for every request; its
 * default signer fixes the region and service at the first call anyway, so one signer per auth
 * scheme signs the same. Credentials are still read per request (a refreshing provider keeps
 * working), and the clock offset is read from the config at each signing.
 */
function leanerRequests(client: S3Client): S3Client {
  const config = client.config as { signer?: (scheme?: { name?: string; signingRegion?: string; signingName?: string }) => Promise<unknown> };
  const make = config.signer;
  if (typeof make !== 'function') return client;
  const made = new Map<string, Promise<unknown>>();
  config.signer = (scheme) => {
    const k = `${scheme?.name}\0${scheme?.signingRegion}\0${scheme?.signingName}`;
    let signer = made.get(k);
    if (!signer) {
      signer = make(scheme);
      made.set(k, signer);
      signer.catch(() => made.delete(k));
    }
    return signer;
  };
  return client;
}

/** Percent-encodes a key for `x-amz-copy-source`, segment by segment (S3 URL-decodes the header). */
export function encodeCopySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * An S3 bucket (Amazon or S3-compatible) as a hokan target: a flat key → object store under an
 * optional prefix. Files above `partSize` go up as resumable multipart uploads (multipart-upload.ts).
 */
export class S3Target implements Target {
  readonly capabilities: TargetCapabilities;
  private readonly prefix: string;
  private readonly limiter: Limiter;
  private readonly log: Logger;
  /** The optional calls this server lacks, learned during this run (one target instance per run). */
  readonly features: ServerFeatures;

  constructor(
    private readonly sdk: S3Sdk,
    private readonly client: S3Client,
    private readonly cfg: ResolvedS3Config,
    logger: Logger,
    private readonly internals: S3TargetInternals = {},
  ) {
    this.prefix = cfg.prefix;
    this.limiter = new Limiter(cfg.maxConnections);
    this.log = logger;
    this.features = new ServerFeatures([...(cfg.missingCalls ?? []), ...(internals.missingCalls ?? [])], (call, detail) =>
      this.log.info({ bucket: cfg.bucket, call, answer: detail }, `the S3 server does not implement ${call} (${detail}): ${FALLBACK[call]}`),
    );
    this.capabilities = {
      maxConnections: cfg.maxConnections,
      serverSideMove: true,
      maxObjectSize: 5 * TIB,
      maxKeyLength: MAX_KEY_BYTES - Buffer.byteLength(cfg.prefix),
      resumableUploads: true,
      // Not `preservesMtime`: stat returns the put's mtime (x-amz-meta-mtime), but ListObjectsV2 carries
      // no user metadata and a HEAD per listed object would make listings cost one request per object.
    };
  }

  private full(key: string): string {
    const full = this.prefix + key;
    if (Buffer.byteLength(full) > MAX_KEY_BYTES) {
      throw new TargetError('permanent', `the key "${key}" is too long for S3: ${Buffer.byteLength(full)} bytes with the prefix, S3 allows ${MAX_KEY_BYTES}`, {
        hint: 'shorten the path or the target prefix',
      });
    }
    return full;
  }

  private ctx(op: string, key?: string): S3ErrorContext {
    return { op, bucket: this.cfg.bucket, key: key === undefined ? undefined : this.prefix + key, region: this.cfg.region, endpoint: this.cfg.endpoint };
  }

  private fail(e: unknown, op: string, key?: string): never {
    if (e instanceof BodyReadError) throw e.original;
    if (e instanceof Error && (e as { code?: string }).code === 'E_SOURCE_SIZE') throw e;
    throw toTargetError(e, this.ctx(op, key));
  }

  private putParams(meta: ObjectMeta): Record<string, unknown> {
    const Metadata: Record<string, string> = {};
    if (meta.mtimeMs !== undefined && Number.isFinite(meta.mtimeMs)) Metadata.mtime = String(Math.round(meta.mtimeMs));
    if (meta.sha256) Metadata.sha256 = meta.sha256;
    return {
      Metadata,
      ...(meta.contentType ? { ContentType: meta.contentType } : {}),
      ...this.storageParams(),
    };
  }

  private storageParams(): Record<string, unknown> {
    return {
      ...(this.cfg.storageClass ? { StorageClass: this.cfg.storageClass } : {}),
      ...(this.cfg.serverSideEncryption ? { ServerSideEncryption: this.cfg.serverSideEncryption } : {}),
      ...(this.cfg.kmsKeyId ? { SSEKMSKeyId: this.cfg.kmsKeyId } : {}),
    };
  }

  async check(): Promise<void> {
    const { sdk, client } = this;
    const Bucket = this.cfg.bucket;
    try {
      await client.send(new sdk.HeadBucketCommand({ Bucket }));
      return;
    } catch (e) {
      const code = s3ErrorCode(e);
      if ((code === 'NotFound' || code === 'NoSuchBucket') && this.cfg.createBucket) {
        await this.createBucket();
        return;
      }
      // HEAD answers carry no error body, so a 400/403 says little: ask again with a GET to learn
      // whether the key id is unknown, the signature wrong, the clock off or access denied.
      const status = httpStatus(e);
      if (status === 400 || status === 403) {
        try {
          await client.send(new sdk.ListObjectsV2Command({ Bucket, MaxKeys: 1, Prefix: this.prefix || undefined }));
        } catch (e2) {
          if (bucketRegionOf(e2) === undefined && bucketRegionOf(e) !== undefined) this.fail(e, 'check');
          this.fail(e2, 'check');
        }
        // The GET went through: the SDK fixed what failed the HEAD (it corrects its clock from the
        // server's Date header after a skew). Ask once more.
        try {
          await client.send(new sdk.HeadBucketCommand({ Bucket }));
          return;
        } catch (e3) {
          this.fail(e3, 'check');
        }
      }
      this.fail(e, 'check');
    }
  }

  private async createBucket(): Promise<void> {
    const region = this.cfg.region;
    try {
      await this.client.send(
        new this.sdk.CreateBucketCommand({
          Bucket: this.cfg.bucket,
          ...(region && region !== 'us-east-1' && !this.cfg.endpoint ? { CreateBucketConfiguration: { LocationConstraint: region as never } } : {}),
        }),
      );
      this.log.info({ bucket: this.cfg.bucket }, `created the bucket "${this.cfg.bucket}"`);
    } catch (e) {
      if (s3ErrorCode(e) === 'BucketAlreadyOwnedByYou') return;
      this.fail(e, 'create bucket');
    }
  }

  async put(key: string, body: RewindableSource, meta: ObjectMeta, opts: PutOptions = {}): Promise<void> {
    const Key = this.full(key);
    const size = body.size;
    const partSize = partSizeFor(size, this.cfg.partSize);
    if (size > (this.capabilities.maxObjectSize ?? Infinity)) {
      throw new TargetError('permanent', `${key} is ${size} bytes; S3 objects are at most 5 TiB`);
    }
    try {
      if (size <= partSize) {
        await this.putSmall(Key, body, meta, opts);
        // A state left by an earlier, larger version of this file belongs to an upload nobody will finish.
        if (opts.resume) {
          const saved = await opts.resume.get<{ key?: string; uploadId?: string }>();
          if (saved?.uploadId && saved.key) await abortQuietly(this.mpuContext(), saved.key, saved.uploadId);
          if (saved !== undefined) await opts.resume.clear();
        }
        return;
      }
      const r = await multipartUpload(this.mpuContext(meta), Key, body, meta, partSize, opts);
      this.log.debug({ key, size, sent: r.sent, skipped: r.skipped, resumed: r.resumed, restarted: r.restarted }, 'multipart upload complete');
    } catch (e) {
      this.fail(e, 'upload', key);
    }
  }

  private mpuContext(meta: ObjectMeta = { size: 0 }): MultipartContext {
    return {
      sdk: this.sdk,
      client: this.client,
      bucket: this.cfg.bucket,
      limiter: this.limiter,
      crc32: this.cfg.checksums === 'when-supported',
      etagIsMd5: this.cfg.serverSideEncryption !== 'aws:kms',
      createParams: this.putParams(meta),
      features: this.features,
      debug: (msg, obj) => this.log.debug(obj ?? {}, msg),
      info: (msg, obj) => this.log.info(obj ?? {}, msg),
    };
  }

  /** One PutObject; the body (at most one part) is read into memory first so the SDK can retry it. */
  private async putSmall(Key: string, body: RewindableSource, meta: ObjectMeta, opts: PutOptions): Promise<void> {
    const release = await this.limiter.acquire(opts.signal);
    try {
      const buf = await readWhole(body, opts.signal);
      opts.signal?.throwIfAborted();
      await this.client.send(
        new this.sdk.PutObjectCommand({ Bucket: this.cfg.bucket, Key, Body: buf, ContentLength: buf.length, ...this.putParams(meta) }),
        { abortSignal: opts.signal },
      );
      opts.onProgress?.(buf.length);
    } finally {
      release();
    }
  }

  async get<T>(key: string, range: ByteRange | undefined, consume: (body: Readable) => Promise<T>): Promise<T> {
    const Key = this.full(key);
    let stream: Readable;
    try {
      const r = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.cfg.bucket, Key, ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}) }),
      );
      stream = (r.Body as Readable | undefined) ?? Readable.from([]);
    } catch (e) {
      // A range that starts at the end of the object (or of an empty one) reads as nothing.
      if (range && httpStatus(e) === 416) {
        await this.stat(key);
        stream = Readable.from([]);
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
    const Key = this.full(key);
    try {
      const r = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.cfg.bucket, Key }));
      return {
        key,
        size: r.ContentLength ?? 0,
        ...mtimeOf(r.Metadata, r.LastModified),
        ...(r.Metadata?.sha256 ? { sha256: r.Metadata.sha256 } : {}),
      };
    } catch (e) {
      if (isNotFound(e)) throw new TargetError('not-found', `s3://${this.cfg.bucket}/${Key} does not exist`, { cause: e });
      this.fail(e, 'stat', key);
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const Prefix = this.prefix + prefix;
    let token: string | undefined;
    const seenTokens = new Set<string>();
    do {
      let r;
      try {
        r = await this.client.send(new this.sdk.ListObjectsV2Command({ Bucket: this.cfg.bucket, Prefix: Prefix || undefined, ContinuationToken: token }));
      } catch (e) {
        this.fail(e, 'list');
      }
      for (const o of r.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(Prefix)) continue;
        yield { key: o.Key.slice(this.prefix.length), size: o.Size ?? 0 };
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
      if (token !== undefined) {
        if (seenTokens.has(token)) throw new TargetError('transient', `the S3 server repeated a listing page for "${Prefix}"`);
        seenTokens.add(token);
      }
    } while (token !== undefined);
  }

  async move(from: string, to: string): Promise<void> {
    if (from === to) {
      await this.stat(from);
      return;
    }
    const src = this.full(from);
    const dst = this.full(to);
    const Bucket = this.cfg.bucket;
    let size: number;
    let head;
    try {
      head = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket, Key: src }));
      size = head.ContentLength ?? 0;
    } catch (e) {
      if (isNotFound(e)) throw new TargetError('not-found', `s3://${Bucket}/${src} does not exist`, { cause: e });
      this.fail(e, 'move', from);
    }
    const CopySource = encodeCopySource(Bucket, src);
    try {
      const copyObject = () => this.client.send(new this.sdk.CopyObjectCommand({ Bucket, Key: dst, CopySource, MetadataDirective: 'COPY', ...this.storageParams() }));
      if (size <= (this.internals.multipartCopyThreshold ?? COPY_OBJECT_LIMIT) || this.features.lacks('UploadPartCopy')) {
        await copyObject();
      } else {
        try {
          await this.copyInParts(CopySource, dst, size, head.Metadata ?? {}, head.ContentType);
        } catch (e) {
          if (!isNotImplemented(e)) throw e;
          // A server without UploadPartCopy has no 5 GiB CopyObject limit of its own to speak of:
          // it copies what it holds in one request.
          this.features.markMissing('UploadPartCopy', e);
          await copyObject();
        }
      }
    } catch (e) {
      if (isNotFound(e)) throw new TargetError('not-found', `s3://${Bucket}/${src} does not exist`, { cause: e });
      this.fail(e, 'move', from);
    }
    await this.remove(from);
  }

  /** UploadPartCopy: server-side copy of an object above CopyObject's 5 GiB limit, parts in parallel. */
  private async copyInParts(CopySource: string, Key: string, size: number, Metadata: Record<string, string>, ContentType?: string): Promise<void> {
    const Bucket = this.cfg.bucket;
    const partSize = this.internals.copyPartSize ?? partSizeFor(size, 512 * 1024 * 1024);
    const count = Math.ceil(size / partSize);
    const created = await this.client.send(
      new this.sdk.CreateMultipartUploadCommand({ Bucket, Key, Metadata, ...(ContentType ? { ContentType } : {}), ...this.storageParams() }),
    );
    const UploadId = created.UploadId!;
    try {
      const parts = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const release = await this.limiter.acquire();
          try {
            const start = i * partSize;
            const end = Math.min(size, start + partSize) - 1;
            const r = await this.client.send(
              new this.sdk.UploadPartCopyCommand({ Bucket, Key, UploadId, PartNumber: i + 1, CopySource, CopySourceRange: `bytes=${start}-${end}` }),
            );
            return { PartNumber: i + 1, ETag: r.CopyPartResult?.ETag };
          } finally {
            release();
          }
        }),
      );
      await this.client.send(new this.sdk.CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (e) {
      await abortQuietly(this.mpuContext(), Key, UploadId);
      throw e;
    }
  }

  async remove(key: string): Promise<void> {
    const Key = this.full(key);
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.cfg.bucket, Key }));
    } catch (e) {
      if (isNotFound(e)) return;
      this.fail(e, 'remove', key);
    }
  }

  /**
   * Aborts the multipart uploads under the prefix that were started more than `olderThanMs`
   * milliseconds ago and that `keep(key)` does not protect (the engine keeps the keys whose upload it
   * means to resume), so abandoned parts stop costing money.
   */
  async cleanup(opts: { olderThanMs: number; keep: (key: string) => boolean }): Promise<void> {
    const cutoff = Date.now() - opts.olderThanMs;
    const Bucket = this.cfg.bucket;
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    let aborted = 0;
    for (;;) {
      let r;
      if (this.features.lacks('ListMultipartUploads')) return;
      try {
        r = await this.client.send(new this.sdk.ListMultipartUploadsCommand({ Bucket, Prefix: this.prefix || undefined, KeyMarker, UploadIdMarker }));
      } catch (e) {
        if (!isNotImplemented(e)) this.fail(e, 'cleanup');
        this.features.markMissing('ListMultipartUploads', e);
        this.log.warn(
          { bucket: Bucket, answer: `HTTP ${httpStatus(e) ?? '?'} ${s3ErrorCode(e) ?? ''}`.trim() },
          `cleanup skipped: the S3 server cannot list unfinished multipart uploads (no ListMultipartUploads), so parts of interrupted uploads may stay on it until removed with the service's own tools`,
        );
        return;
      }
      for (const u of r.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Key.startsWith(this.prefix)) continue;
        const rel = u.Key.slice(this.prefix.length);
        if (u.Initiated && u.Initiated.getTime() >= cutoff) continue;
        if (opts.keep(rel)) continue;
        if (this.features.lacks('AbortMultipartUpload')) break;
        try {
          await this.client.send(new this.sdk.AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId }));
          aborted++;
        } catch (e) {
          if (isNotImplemented(e)) this.features.markMissing('AbortMultipartUpload', e);
          else if (s3ErrorCode(e) !== 'NoSuchUpload' && httpStatus(e) !== 404) this.fail(e, 'cleanup', rel);
        }
      }
      if (!r.IsTruncated || (r.NextKeyMarker === KeyMarker && r.NextUploadIdMarker === UploadIdMarker)) break;
      KeyMarker = r.NextKeyMarker;
      UploadIdMarker = r.NextUploadIdMarker;
    }
    if (aborted > 0) this.log.info({ aborted }, `aborted ${aborted} abandoned multipart upload(s)`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.client.destroy();
  }
}

function mtimeOf(meta: Record<string, string> | undefined, lastModified: Date | undefined): { mtimeMs?: number } {
  const m = meta?.mtime !== undefined ? Number(meta.mtime) : NaN;
  if (Number.isFinite(m)) return { mtimeMs: m };
  return lastModified ? { mtimeMs: lastModified.getTime() } : {};
}
