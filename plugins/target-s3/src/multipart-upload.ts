/**
 * Resumable multipart upload, on the raw CreateMultipartUpload / UploadPart / ListParts /
 * CompleteMultipartUpload calls.
 *
 * Why not `@aws-sdk/lib-storage`'s `Upload`: it keeps the upload id and the finished parts in memory
 * only, so after a crash or a reboot the next run cannot continue the upload — it starts again and
 * leaves the old parts behind. Here the upload id and each finished part go into the engine's
 * ResumeStore (its LevelDB index) as soon as the part is done, and the next run asks the server which
 * parts it really holds (ListParts) and sends only the missing ones.
 *
 * The body is read once, from offset 0, sequentially: bytes of parts the server already holds are
 * read and dropped (not sent), so whoever hashes the stream (the engine's SHA-256) still sees every
 * byte. Where a held part's ETag is a plain MD5 (no KMS), the skipped bytes are checked against it and
 * the part is sent again if they differ.
 */
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { PartReader, type Limiter, type ObjectMeta, type PutOptions, type ResumeStore, type RewindableSource } from '@hokan/core';
import { s3ErrorCode, httpStatus } from './s3-errors.js';
import { isNotImplemented, type ServerFeatures } from './server-features.js';

type S3Sdk = typeof import('@aws-sdk/client-s3');

/** One finished part, as kept in the resume state. */
export interface UploadedPart {
  PartNumber: number;
  ETag: string;
  size: number;
  ChecksumCRC32?: string;
}

/**
 * What `put` keeps in `PutOptions.resume` while a multipart upload is under way. It is saved after
 * `CreateMultipartUpload` and after every finished part, and cleared after the upload completes.
 */
export interface MultipartResumeState {
  v: 1;
  uploadId: string;
  /** The full S3 key (with the target's prefix). */
  key: string;
  size: number;
  mtimeMs?: number;
  partSize: number;
  parts: UploadedPart[];
}

export function isResumeState(x: unknown): x is MultipartResumeState {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as MultipartResumeState;
  return s.v === 1 && typeof s.uploadId === 'string' && typeof s.key === 'string' && typeof s.size === 'number' && typeof s.partSize === 'number' && Array.isArray(s.parts);
}

export interface MultipartContext {
  sdk: S3Sdk;
  client: S3Client;
  bucket: string;
  limiter: Limiter;
  /** CRC32 per part (the SDK's default checksums); off with `checksums: "when-required"`. */
  crc32: boolean;
  /** Whether part ETags are MD5s of the part (true unless SSE-KMS). */
  etagIsMd5: boolean;
  /** Headers for CreateMultipartUpload: metadata, storage class, encryption, content type. */
  createParams: Record<string, unknown>;
  /** The optional calls this server lacks (server-features.ts). */
  features: ServerFeatures;
  debug(msg: string, obj?: object): void;
  /** A line a person may want in the log (an upload started over). */
  info(msg: string, obj?: object): void;
}

export interface MultipartResult {
  /** Bytes sent in this call. */
  sent: number;
  /** Bytes of parts already on the server that were not sent again. */
  skipped: number;
  /** An earlier run's upload of this file was continued. */
  resumed: boolean;
  /** An earlier run's upload of this file could not be continued and was started over. */
  restarted: boolean;
}

export async function multipartUpload(
  ctx: MultipartContext,
  key: string,
  body: RewindableSource,
  meta: ObjectMeta,
  partSize: number,
  opts: PutOptions,
): Promise<MultipartResult> {
  const { sdk, client, bucket } = ctx;
  const size = body.size;
  const partCount = Math.max(1, Math.ceil(size / partSize));
  const expectedSize = (n: number) => Math.min(partSize, size - (n - 1) * partSize);
  const signal = opts.signal;
  const resume = opts.resume;

  let uploadId: string | undefined;
  const held = new Map<number, UploadedPart>();
  let resumed = false;
  let restarted = false;

  if (resume) {
    const saved = await resume.get<unknown>();
    if (saved !== undefined) {
      const matches = isResumeState(saved) && saved.key === key && saved.size === size && saved.partSize === partSize && saved.mtimeMs === meta.mtimeMs;
      // Why the saved upload cannot be continued, if it cannot (and whether the server may still hold it).
      let lost: string | undefined;
      let mayExist = true;
      if (!matches) {
        if (isResumeState(saved)) await abortQuietly(ctx, saved.key, saved.uploadId);
        ctx.debug('saved upload state does not match the file; starting afresh', { key });
      } else if (ctx.features.lacks('ListParts')) {
        lost = 'the S3 server cannot list the parts it holds (no ListParts)';
      } else {
        try {
          for (const p of await listParts(ctx, key, saved.uploadId)) {
            if (p.PartNumber <= partCount && p.size === expectedSize(p.PartNumber)) held.set(p.PartNumber, p);
          }
          uploadId = saved.uploadId;
          resumed = true;
          ctx.debug('resuming multipart upload', { key, uploadId, held: held.size, parts: partCount });
        } catch (e) {
          if (isNotImplemented(e)) {
            ctx.features.markMissing('ListParts', e);
            lost = 'the S3 server cannot list the parts it holds (no ListParts)';
          } else if (s3ErrorCode(e) === 'NoSuchUpload' || httpStatus(e) === 404) {
            // Ceph RGW says NoSuchKey, not NoSuchUpload, for an upload it no longer has.
            lost = 'the S3 server no longer has it (aborted or expired)';
            mayExist = false;
          } else {
            throw e;
          }
        }
      }
      if (lost !== undefined) {
        restarted = true;
        if (mayExist && isResumeState(saved)) await abortQuietly(ctx, saved.key, saved.uploadId);
        ctx.info(`the upload of ${key} that an earlier run left unfinished cannot be continued: ${lost}; it starts over`, { key });
      }
      if (matches) opts.onResume?.(resumed);
      if (!resumed) await resume.clear();
    }
  }

  if (uploadId === undefined) {
    const created = await client.send(
      new sdk.CreateMultipartUploadCommand({
        ...ctx.createParams,
        Bucket: bucket,
        Key: key,
        ...(ctx.crc32 ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
      } as ConstructorParameters<S3Sdk['CreateMultipartUploadCommand']>[0]),
      { abortSignal: signal },
    );
    if (!created.UploadId) throw new Error('the S3 server returned no UploadId');
    uploadId = created.UploadId;
  }

  const state: MultipartResumeState = { v: 1, uploadId, key, size, mtimeMs: meta.mtimeMs, partSize, parts: [...held.values()] };
  // State writes are chained so they land in order, whatever order the parts finish in.
  let saving: Promise<void> = resume ? resume.set(state) : Promise.resolve();
  const save = () => {
    if (!resume) return;
    const snapshot = { ...state, parts: [...state.parts] };
    saving = saving.then(() => resume.set(snapshot));
  };

  const reader = new PartReader(body.open(0), size);
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let sent = 0;
  let skipped = 0;
  const onAbort = () => reader.close();
  signal?.addEventListener('abort', onAbort, { once: true });

  try {
    for (let n = 1; n <= partCount && failure === undefined; n++) {
      const release = await ctx.limiter.acquire(signal);
      let buf: Buffer;
      try {
        buf = await reader.read(expectedSize(n));
      } catch (e) {
        release();
        throw e;
      }
      const have = held.get(n);
      if (have && (!ctx.etagIsMd5 || !/^"?[0-9a-f]{32}"?$/i.test(have.ETag) || `"${createHash('md5').update(buf).digest('hex')}"` === `"${have.ETag.replace(/"/g, '')}"`)) {
        skipped += buf.length;
        release();
        continue;
      }
      if (have) {
        ctx.debug('a part on the server differs from the file; sending it again', { key, part: n });
        held.delete(n);
        state.parts = state.parts.filter((p) => p.PartNumber !== n);
      }
      const partNumber = n;
      const task = (async () => {
        try {
          const r = await client.send(
            new sdk.UploadPartCommand({
              Bucket: bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: partNumber,
              Body: buf,
              ContentLength: buf.length,
              ...(ctx.crc32 ? { ChecksumAlgorithm: 'CRC32' as const } : {}),
            }),
            { abortSignal: signal },
          );
          if (!r.ETag) throw new Error(`the S3 server returned no ETag for part ${partNumber}`);
          const part: UploadedPart = { PartNumber: partNumber, ETag: r.ETag, size: buf.length, ...(r.ChecksumCRC32 ? { ChecksumCRC32: r.ChecksumCRC32 } : {}) };
          held.set(partNumber, part);
          state.parts.push(part);
          save();
          sent += buf.length;
          opts.onProgress?.(sent);
        } catch (e) {
          failure ??= e;
        } finally {
          release();
        }
      })();
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
    }
    if (failure === undefined) await reader.end();
  } catch (e) {
    failure ??= e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(inFlight);
    await saving.catch((e) => (failure ??= e));
    reader.close();
  }

  if (signal?.aborted) failure = signal.reason ?? failure;
  if (failure !== undefined) {
    // With a resume store the upload is kept for the next run (and `cleanup` aborts it if that run
    // never comes); without one nobody could continue it, so it is aborted now.
    if (!resume) await abortQuietly(ctx, key, uploadId);
    throw failure;
  }

  const parts = [...held.values()].sort((a, b) => a.PartNumber - b.PartNumber);
  if (parts.length !== partCount) throw new Error(`internal: ${parts.length} of ${partCount} parts uploaded`);
  try {
    await client.send(
      new sdk.CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: {
          Parts: parts.map((p) => ({ PartNumber: p.PartNumber, ETag: p.ETag, ...(ctx.crc32 && p.ChecksumCRC32 ? { ChecksumCRC32: p.ChecksumCRC32 } : {}) })),
        },
      }),
      { abortSignal: signal },
    );
  } catch (e) {
    // The answer to a completion that worked can be lost on the way (a reset, a cut answer); the
    // SDK's retry then meets NoSuchUpload. The object is there if it has the size and the ETag
    // this upload's parts make (the MD5 of their MD5s, "-N"): then it is done, not failed.
    if (s3ErrorCode(e) !== 'NoSuchUpload' || !(await completedAlready(ctx, key, size, parts))) throw e;
    ctx.debug('the completion was answered NoSuchUpload, but the object is there whole (an answer lost and retried)', { key, uploadId });
  }
  if (resume) await resume.clear();
  return { sent, skipped, resumed, restarted };
}

/**
 * Whether `key` holds what these parts make: its size, and — where the server gives multipart
 * ETags in S3's form ("MD5 of the parts' MD5s-N": AWS, Ceph RGW) — that ETag. Nothing else can be
 * there: the key was vacated before the upload (its previous version moved to the versions area)
 * and the job's lease keeps other writers out. (s3rver answers a plain MD5 of the whole object.)
 */
async function completedAlready(ctx: Pick<MultipartContext, 'sdk' | 'client' | 'bucket'>, key: string, size: number, parts: UploadedPart[]): Promise<boolean> {
  try {
    const r = await ctx.client.send(new ctx.sdk.HeadObjectCommand({ Bucket: ctx.bucket, Key: key }));
    if (r.ContentLength !== size) return false;
    if (!/-\d+"?$/.test(r.ETag ?? '')) return true;
    const md5s = Buffer.concat(parts.map((p) => Buffer.from(p.ETag.replace(/"/g, ''), 'hex')));
    return r.ETag === `"${createHash('md5').update(md5s).digest('hex')}-${parts.length}"`;
  } catch {
    return false;
  }
}

/** Every part the server holds for an upload (ListParts, paginated). */
export async function listParts(ctx: Pick<MultipartContext, 'sdk' | 'client' | 'bucket'>, key: string, uploadId: string): Promise<UploadedPart[]> {
  const out: UploadedPart[] = [];
  let marker: string | undefined;
  for (;;) {
    const r = await ctx.client.send(new ctx.sdk.ListPartsCommand({ Bucket: ctx.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }));
    for (const p of r.Parts ?? []) {
      if (p.PartNumber !== undefined && p.ETag !== undefined && p.Size !== undefined) {
        out.push({ PartNumber: p.PartNumber, ETag: p.ETag, size: p.Size, ...(p.ChecksumCRC32 ? { ChecksumCRC32: p.ChecksumCRC32 } : {}) });
      }
    }
    if (!r.IsTruncated || r.NextPartNumberMarker === undefined || r.NextPartNumberMarker === marker) return out;
    marker = r.NextPartNumberMarker;
  }
}

export async function abortQuietly(ctx: Pick<MultipartContext, 'sdk' | 'client' | 'bucket' | 'debug' | 'features'>, key: string, uploadId: string): Promise<void> {
  if (ctx.features.lacks('AbortMultipartUpload')) return;
  try {
    await ctx.client.send(new ctx.sdk.AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: key, UploadId: uploadId }));
  } catch (e) {
    if (isNotImplemented(e)) ctx.features.markMissing('AbortMultipartUpload', e);
    ctx.debug('could not abort a multipart upload (cleanup will retry)', { key, uploadId, code: s3ErrorCode(e) });
  }
}

export type { ResumeStore };
