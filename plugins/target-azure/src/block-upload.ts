/**
 * Resumable block-blob upload: Put Block for each block (in parallel, up to maxConnections), then
 * one Put Block List. Nothing is visible under the name until the list is committed.
 *
 * Why not the SDK's `uploadStream`/`uploadData`: they name blocks with random ids and keep them in
 * memory, so after a crash or a reboot the next run starts again. Here:
 *  - a block's id is `NONCE-INDEX-HASH`: the nonce is made once per upload and kept in the engine's
 *    ResumeStore (its LevelDB index) before the first block is sent, so the ids are stable across
 *    runs; HASH (the first 128 bits of the block's SHA-256) makes an id name one content only, so a
 *    block staged from another version of the file is never committed (its id does not match);
 *  - the next run asks the service for the blob's uncommitted block list and sends only the blocks
 *    whose id is not there. The service's list is the truth: nothing per block is kept locally.
 * SHA-256, not MD5: with the CPU's SHA instructions it is ~4× faster here (1.2 GB/s against 0.3),
 * and an upload is CPU-bound on a small machine. (In transit, TLS checks the bytes.)
 *
 * The body is read once, from offset 0, sequentially: blocks the service already holds are read and
 * hashed but not sent, so whoever hashes the stream (the engine's SHA-256) still sees every byte.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { BlockBlobClient, BlockBlobCommitBlockListOptions } from '@azure/storage-blob';
import { PartReader, type Limiter, type ObjectMeta, type PutOptions, type RewindableSource } from '@hokan/core';
import { azureErrorCode } from './azure-errors.js';

/** What `put` keeps in `PutOptions.resume` while a block upload is under way; cleared when it is committed. */
export interface BlockResumeState {
  v: 1;
  /** The full blob name (with the target's prefix). */
  blob: string;
  size: number;
  mtimeMs?: number;
  blockSize: number;
  /** 12 hex characters, fixed for this upload: the first part of every block id. */
  nonce: string;
}

export function isBlockResumeState(x: unknown): x is BlockResumeState {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as BlockResumeState;
  return s.v === 1 && typeof s.blob === 'string' && typeof s.size === 'number' && typeof s.blockSize === 'number' && typeof s.nonce === 'string' && /^[0-9a-f]{12}$/.test(s.nonce);
}

/** The block id (base64, as the REST API wants it) for block `index` of an upload, from its bytes' hash. */
export function blockId(nonce: string, index: number, hash: Buffer): string {
  // 12 + 1 + 6 + 1 + 32 = 52 bytes before encoding (Azure allows 64); every id of a blob has one length.
  return Buffer.from(`${nonce}-${String(index).padStart(6, '0')}-${hash.subarray(0, 16).toString('hex')}`).toString('base64');
}

export interface BlockUploadContext {
  limiter: Limiter;
  /** Metadata, tier and content type for the committed blob, given the SHA-256 of all its bytes. */
  commitOptions(sha256: string): BlockBlobCommitBlockListOptions;
  debug(msg: string, obj?: object): void;
}

export interface BlockUploadResult {
  /** Bytes sent in this call. */
  sent: number;
  /** Bytes of blocks the service already held, not sent again. */
  skipped: number;
  resumed: boolean;
}

export async function blockUpload(ctx: BlockUploadContext, client: BlockBlobClient, blob: string, body: RewindableSource, meta: ObjectMeta, blockSize: number, opts: PutOptions): Promise<BlockUploadResult> {
  const size = body.size;
  const count = Math.max(1, Math.ceil(size / blockSize));
  const signal = opts.signal;
  const resume = opts.resume;

  let nonce: string | undefined;
  let held = new Set<string>();
  if (resume) {
    const saved = await resume.get<unknown>();
    if (isBlockResumeState(saved) && saved.blob === blob && saved.size === size && saved.blockSize === blockSize && saved.mtimeMs === meta.mtimeMs) {
      nonce = saved.nonce;
      held = await uncommittedBlocks(client, signal);
      ctx.debug('resuming block upload', { blob, held: held.size, blocks: count });
    } else if (saved !== undefined) {
      // Another version of the file: its blocks stay uncommitted (the commit below discards them).
      ctx.debug('saved upload state does not match the file; starting afresh', { blob });
    }
  }
  const resumed = nonce !== undefined;
  if (nonce === undefined) {
    nonce = randomBytes(6).toString('hex');
    const state: BlockResumeState = { v: 1, blob, size, mtimeMs: meta.mtimeMs, blockSize, nonce };
    if (resume) await resume.set(state);
  }

  const ids: string[] = [];
  const reader = new PartReader(body.open(0), size);
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let sent = 0;
  let skipped = 0;
  const onAbort = () => reader.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (let i = 0; i < count && failure === undefined; i++) {
      const release = await ctx.limiter.acquire(signal);
      let buf: Buffer;
      try {
        buf = await reader.read(Math.min(blockSize, size - i * blockSize));
      } catch (e) {
        release();
        throw e;
      }
      const id = blockId(nonce, i, createHash('sha256').update(buf).digest());
      ids.push(id);
      if (held.has(id)) {
        skipped += buf.length;
        release();
        continue;
      }
      const task = (async () => {
        try {
          await client.stageBlock(id, buf, buf.length, { abortSignal: signal });
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
    reader.close();
  }
  if (signal?.aborted) failure = signal.reason ?? failure;
  // Staged blocks stay uncommitted: invisible, resumed by the next run, and dropped by Azure at the
  // next commit to this name or after 7 days (`cleanup` removes blobs that have nothing else).
  if (failure !== undefined) throw failure;

  // The file's SHA-256 for the blob's metadata: the engine's source hashed what it read; another source is read once more.
  const sha256 = body.sha256 ?? (await hashSource(body));
  await client.commitBlockList(ids, { ...ctx.commitOptions(sha256), abortSignal: signal });
  if (resume) await resume.clear();
  return { sent, skipped, resumed };
}

async function hashSource(body: RewindableSource): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of body.open(0)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The ids of the blob's uncommitted blocks (none when the blob does not exist). */
export async function uncommittedBlocks(client: BlockBlobClient, signal?: AbortSignal): Promise<Set<string>> {
  try {
    const r = await client.getBlockList('uncommitted', { abortSignal: signal });
    return new Set((r.uncommittedBlocks ?? []).map((b) => b.name));
  } catch (e) {
    if (azureErrorCode(e) === 'BlobNotFound') return new Set();
    throw e;
  }
}
