/**
 * Starts a real s3rver (in-process, on 127.0.0.1, a free port, a fresh temporary directory) for tests.
 * Reusable by any test that needs S3: `const s3 = await startS3rver({ buckets: ['b'] }); … await s3.stop();`
 * Clients need `forcePathStyle: true`, any region (e.g. us-east-1), keys `S3RVER`/`S3RVER`
 * (S3RVER_CREDENTIALS). `targetConfig()` sets `checksums: "when-required"`: s3rver does not decode the
 * `aws-chunked` bodies the SDK sends for *streamed* bodies with its default checksums and would store
 * them as is (the s3 target sends Buffers, which work with either setting; a raw SDK client that streams
 * must use requestChecksumCalculation: 'WHEN_REQUIRED').
 *
 * s3rver 3.7 lacks the multipart calls a resumable uploader and its housekeeping need, and decodes
 * `x-amz-copy-source` with `decodeURI` (so `?`, `&`, `+`, `#`… stay encoded, unlike S3, which fully
 * URL-decodes it). A middleware placed in front of s3rver's router adds, on s3rver's own upload store
 * and with its own signature check:
 *   - ListParts              GET    /bucket/key?uploadId=ID
 *   - AbortMultipartUpload   DELETE /bucket/key?uploadId=ID
 *   - ListMultipartUploads   GET    /bucket?uploads
 *   - UploadPartCopy         PUT    /bucket/key?partNumber=N&uploadId=ID + x-amz-copy-source[-range]
 *   - NoSuchUpload for UploadPart / CompleteMultipartUpload of an unknown upload id (s3rver creates one)
 *   - CopyObject with the copy source fully URL-decoded, as S3 does;
 *   - a GET with `Range: bytes=0-0` returns one byte (s3rver returns the whole object).
 * And s3rver's store writes an object whole, as S3 does: s3rver 3.7 writes in place (answering a
 * buffered PUT before its bytes are on disk), so two PUTs of one key could interleave into an
 * object neither sent; here a PUT writes a temporary file, renames it when complete, and PUTs of
 * one key are applied one after the other (content and metadata together).
 * Everything else is s3rver's own behaviour.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const require = createRequire(import.meta.url);
// s3rver is CommonJS without types.
const S3rver = require('s3rver') as new (opts: Record<string, unknown>) => S3rverApp;
const S3Error = require('s3rver/lib/models/error') as new (code: string, message?: string, detail?: Record<string, unknown>) => Error;
const authentication = require('s3rver/lib/middleware/authentication') as () => Middleware;
const objectCtrl = require('s3rver/lib/controllers/object') as Record<string, (ctx: KoaCtx) => Promise<void>>;
const bucketCtrl = require('s3rver/lib/controllers/bucket') as { bucketExists(ctx: KoaCtx, next?: () => Promise<void>): Promise<void> };

type Middleware = (ctx: KoaCtx, next: () => Promise<void>) => Promise<void>;
interface KoaCtx {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  params: Record<string, string | undefined>;
  body: unknown;
  store: FilesystemStore;
  req: NodeJS.ReadableStream;
}
interface S3ObjectLike {
  bucket: string;
  key: string;
  content: Buffer | NodeJS.ReadableStream;
  metadata: Record<string, string>;
}
interface FilesystemStore {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putObject(object: S3ObjectLike): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  getBucket(bucket: string): Promise<unknown>;
  existsObject(bucket: string, key: string): Promise<boolean>;
}
interface S3rverApp {
  middleware: Middleware[];
  store: FilesystemStore;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3rverHandle {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  port: number;
  /** Where s3rver keeps the buckets (removed by stop()). */
  directory: string;
  /**
   * Fault injection: the next `count` requests fail with an S3 error code (its HTTP status from
   * s3rver's table, e.g. SlowDown → 503), or `'reset'` to drop the connection without an answer.
   */
  failNext(count: number, fault?: string): void;
  /** The settings of an `s3` target on this server, for a bucket (merge your own `prefix` etc.). */
  targetConfig(bucket: string): Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * `stock: true` starts s3rver exactly as a user would get it from npm — none of the additions above
 * (no ListParts, ListMultipartUploads, AbortMultipartUpload or UploadPartCopy; no fault injection) —
 * to test how hokan gets along with a server that lacks calls.
 */
export async function startS3rver(opts: { buckets?: string[]; stock?: boolean } = {}): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), 'hokan-s3rver-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: (opts.buckets ?? []).map((name) => ({ name })),
  });
  // In front of s3rver's router (the last middleware), after its logging and XML rendering.
  const faults = { count: 0, fault: 'SlowDown' };
  const injectFaults: Middleware = async (ctx, next) => {
    if (faults.count > 0) {
      faults.count--;
      if (faults.fault === 'reset') {
        (ctx.req as unknown as { socket: { destroy(): void } }).socket.destroy();
        return;
      }
      throw new S3Error(faults.fault, 'Please reduce your request rate.');
    }
    await next();
  };
  if (!opts.stock) {
    wholeObjectPuts(server.store);
    server.middleware.splice(server.middleware.length - 1, 0, injectFaults, multipartExtensions(server.store));
  }
  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (e) {
    await rm(directory, { recursive: true, force: true });
    throw e;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  let stopped = false;
  return {
    endpoint,
    port: address.port,
    directory,
    failNext(count, fault = 'SlowDown') {
      if (opts.stock) throw new Error('a stock s3rver has no fault injection');
      faults.count = count;
      faults.fault = fault;
    },
    targetConfig: (bucket) => ({ type: 's3', bucket, endpoint, region: 'us-east-1', forcePathStyle: true, checksums: 'when-required', ...S3RVER_CREDENTIALS }),
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close().catch(() => {});
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function uploadsDir(store: FilesystemStore, bucket: string): string {
  return store.getResourcePath(bucket, undefined, 'uploads');
}

async function uploadKey(store: FilesystemStore, bucket: string, uploadId: string): Promise<string | undefined> {
  if (!/^[0-9a-f]+$/i.test(uploadId)) return undefined;
  try {
    return await readFile(join(uploadsDir(store, bucket), uploadId, 'key'), 'utf8');
  } catch {
    return undefined;
  }
}

function noSuchUpload(uploadId: string): Error {
  return new S3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { UploadId: uploadId });
}

/** PUTs that replace an object whole (see the header): temporary file + rename, one PUT of a key at a time. */
function wholeObjectPuts(store: FilesystemStore): void {
  const chains = new Map<string, Promise<unknown>>();
  const put = async (object: S3ObjectLike): Promise<{ size: number; md5: string }> => {
    const file = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    const md5 = createHash('md5');
    let size = 0;
    const body = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        md5.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(body, count, createWriteStream(tmp));
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    const digest = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
  store.putObject = (object) => {
    const k = `${object.bucket}\0${object.key}`;
    const next = (chains.get(k) ?? Promise.resolve()).catch(() => undefined).then(() => put(object));
    chains.set(k, next);
    void next.finally(() => {
      if (chains.get(k) === next) chains.delete(k);
    }).catch(() => undefined);
    return next;
  };
}

function firstByteStore(store: FilesystemStore): FilesystemStore {
  const fixed = Object.create(store) as FilesystemStore & { getObject(b: string, k: string, o: unknown): Promise<unknown> };
  fixed.getObject = async (bucket: string, key: string) => {
    const object = (await (store as typeof fixed).getObject(bucket, key, { start: 0 })) as { content?: NodeJS.ReadableStream & { destroy(): void }; range?: unknown; size?: number } | null;
    if (object?.content) {
      object.content.destroy();
      object.content = createReadStream(store.getResourcePath(bucket, key, 'object'), { start: 0, end: 0 });
      object.range = { start: 0, end: 0 };
    }
    return object;
  };
  return fixed;
}

function multipartExtensions(store: FilesystemStore): Middleware {
  const auth = authentication();
  return async function multipartExtensions(ctx, next) {
    const m = /^\/([^/]+)(?:\/(.*))?$/.exec(ctx.path);
    if (!m) return next();
    const bucket = decodeURIComponent(m[1]!);
    const key = m[2] ? decodeURIComponent(m[2]) : undefined;
    const q = ctx.query;
    const uploadId = q.uploadId;
    const copySource = ctx.headers['x-amz-copy-source'];
    let handler: (() => Promise<void>) | undefined;

    if (key !== undefined && uploadId !== undefined && ctx.method === 'GET') handler = () => listParts(ctx, bucket, key, uploadId);
    else if (key !== undefined && uploadId !== undefined && ctx.method === 'DELETE') handler = () => abortUpload(ctx, bucket, key, uploadId);
    else if (key === undefined && 'uploads' in q && ctx.method === 'GET') handler = () => listUploads(ctx, bucket);
    else if (key !== undefined && uploadId !== undefined && ctx.method === 'PUT' && copySource !== undefined) handler = () => uploadPartCopy(ctx, bucket, key, uploadId, copySource);
    else if (key !== undefined && uploadId !== undefined && (ctx.method === 'PUT' || ctx.method === 'POST')) {
      handler = async () => {
        if ((await uploadKey(store, bucket, uploadId)) === undefined) throw noSuchUpload(uploadId);
        await (ctx.method === 'PUT' ? objectCtrl.uploadPart!(ctx) : objectCtrl.completeMultipartUpload!(ctx));
      };
    } else if (key !== undefined && uploadId === undefined && ctx.method === 'PUT' && copySource !== undefined && !('partNumber' in q)) {
      handler = async () => {
        // s3rver applies decodeURI; hand it a header that decodeURI turns into the fully decoded source.
        ctx.headers['x-amz-copy-source'] = encodeURI(decodeURIComponent(copySource));
        await objectCtrl.putObjectCopy!(ctx);
      };
    }
    if (!handler && key !== undefined && ctx.method === 'GET' && /^bytes=0-0$/.test(ctx.headers.range ?? '')) {
      // s3rver reads `bytes=0-0` as "to the end" (`end || Infinity`): serve exactly the first byte.
      ctx.store = firstByteStore(store);
    }
    if (!handler) return next();
    ctx.params = { bucket, key };
    await auth(ctx, () => bucketCtrl.bucketExists(ctx, handler));
  };

  async function listParts(ctx: KoaCtx, bucket: string, key: string, uploadId: string): Promise<void> {
    if ((await uploadKey(store, bucket, uploadId)) !== key) throw noSuchUpload(uploadId);
    const dir = join(uploadsDir(store, bucket), uploadId);
    const numbers = (await readdir(dir)).filter((f) => /^\d+$/.test(f)).map(Number).sort((a, b) => a - b);
    const marker = Number(ctx.query['part-number-marker'] ?? 0);
    const max = Math.min(1000, Number(ctx.query['max-parts'] ?? 1000));
    const after = numbers.filter((n) => n > marker);
    const page = after.slice(0, max);
    const parts = await Promise.all(
      page.map(async (n) => {
        const [st, md5] = await Promise.all([stat(join(dir, String(n))), readFile(join(dir, `${n}.md5`), 'utf8').catch(() => '')]);
        return { PartNumber: n, LastModified: st.mtime.toISOString(), ETag: `"${md5}"`, Size: st.size };
      }),
    );
    ctx.body = {
      ListPartsResult: {
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        StorageClass: 'STANDARD',
        PartNumberMarker: marker,
        NextPartNumberMarker: page.length ? page[page.length - 1] : marker,
        MaxParts: max,
        IsTruncated: after.length > page.length,
        ...(parts.length ? { Part: parts } : {}),
      },
    };
  }

  async function abortUpload(ctx: KoaCtx, bucket: string, key: string, uploadId: string): Promise<void> {
    if ((await uploadKey(store, bucket, uploadId)) !== key) throw noSuchUpload(uploadId);
    await rm(join(uploadsDir(store, bucket), uploadId), { recursive: true, force: true });
    (ctx as unknown as { status: number }).status = 204;
    ctx.body = null;
  }

  async function listUploads(ctx: KoaCtx, bucket: string): Promise<void> {
    const prefix = ctx.query.prefix ?? '';
    const root = uploadsDir(store, bucket);
    const ids = await readdir(root).catch(() => [] as string[]);
    const uploads: { Key: string; UploadId: string; Initiated: Date }[] = [];
    for (const id of ids) {
      const k = await uploadKey(store, bucket, id);
      if (k === undefined || !k.startsWith(prefix)) continue;
      const st = await stat(join(root, id, 'key'));
      uploads.push({ Key: k, UploadId: id, Initiated: st.mtime });
    }
    uploads.sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : a.UploadId < b.UploadId ? -1 : 1));
    const keyMarker = ctx.query['key-marker'] ?? '';
    const idMarker = ctx.query['upload-id-marker'] ?? '';
    const rest = uploads.filter((u) => u.Key > keyMarker || (u.Key === keyMarker && idMarker !== '' && u.UploadId > idMarker));
    const max = Math.min(1000, Number(ctx.query['max-uploads'] ?? 1000));
    const page = rest.slice(0, max);
    const last = page[page.length - 1];
    ctx.body = {
      ListMultipartUploadsResult: {
        Bucket: bucket,
        KeyMarker: keyMarker,
        UploadIdMarker: idMarker,
        ...(last ? { NextKeyMarker: last.Key, NextUploadIdMarker: last.UploadId } : {}),
        Prefix: prefix,
        MaxUploads: max,
        IsTruncated: rest.length > page.length,
        ...(page.length
          ? {
              Upload: page.map((u) => ({
                Key: u.Key,
                UploadId: u.UploadId,
                Initiator: { ID: 'S3RVER', DisplayName: 'S3rver' },
                Owner: { ID: 'S3RVER', DisplayName: 'S3rver' },
                StorageClass: 'STANDARD',
                Initiated: u.Initiated.toISOString(),
              })),
            }
          : {}),
      },
    };
  }

  async function uploadPartCopy(ctx: KoaCtx, bucket: string, key: string, uploadId: string, copySource: string): Promise<void> {
    if ((await uploadKey(store, bucket, uploadId)) !== key) throw noSuchUpload(uploadId);
    const src = decodeURIComponent(copySource).replace(/^\//, '');
    const slash = src.indexOf('/');
    const srcBucket = src.slice(0, slash);
    const srcKey = src.slice(slash + 1);
    if (!(await store.getBucket(srcBucket))) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: srcBucket });
    if (!(await store.existsObject(srcBucket, srcKey))) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: srcKey });
    const srcPath = store.getResourcePath(srcBucket, srcKey, 'object');
    const size = (await stat(srcPath)).size;
    let start = 0;
    let end = size - 1;
    const range = ctx.headers['x-amz-copy-source-range'];
    if (range !== undefined) {
      const r = /^bytes=(\d+)-(\d+)$/.exec(range);
      if (!r || Number(r[1]) > Number(r[2]) || Number(r[2]) >= size) throw new S3Error('InvalidArgument', 'Range specified is not valid for source object', { ArgumentName: 'x-amz-copy-source-range' });
      start = Number(r[1]);
      end = Number(r[2]);
    }
    const partNumber = Number(ctx.query.partNumber);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
    const dest = join(uploadsDir(store, bucket), uploadId, String(partNumber));
    const hash = createHash('md5');
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(srcPath, { start, end })) {
      hash.update(c as Buffer);
      chunks.push(c as Buffer);
    }
    const md5 = hash.digest('hex');
    await writeFile(dest, Buffer.concat(chunks));
    await writeFile(`${dest}.md5`, md5);
    ctx.body = { CopyPartResult: { LastModified: new Date().toISOString(), ETag: `"${md5}"` } };
  }
}
