import { setTimeout as delay } from 'node:timers/promises';
import { HokanError, TargetError } from '../../common/errors.js';
import type { Reason } from '../../common/statuses.js';

/** Node error codes that mean "the network hiccuped, try again". */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);

export function isTransient(e: unknown): boolean {
  if (TargetError.is(e)) return e.kind === 'transient';
  const code = (e as { code?: string })?.code;
  return typeof code === 'string' && TRANSIENT_CODES.has(code);
}

/** A failure that stops every further operation on the target for this run. */
export function isFatalForTarget(e: unknown): boolean {
  return TargetError.is(e) && (e.kind === 'unavailable' || e.kind === 'quota' || e.kind === 'auth');
}

/** The reason a person sees for a failure (product.md statuses). */
export function reasonOf(e: unknown): Reason {
  if (HokanError.is(e) && e.code === 'E_CHANGED_DURING_READ') return 'changed-during-backup';
  if (TargetError.is(e)) {
    switch (e.kind) {
      case 'unavailable':
        return 'target-unavailable';
      case 'quota':
        return 'quota-exceeded';
      case 'auth':
        return 'access-denied';
      case 'transient':
        return 'network-error';
      case 'not-found':
        return 'not-found';
      default:
        return 'io-error';
    }
  }
  const code = (e as { code?: string })?.code;
  if (code === 'EACCES' || code === 'EPERM') return 'access-denied';
  if (code === 'ENOENT') return 'changed-during-backup';
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'quota-exceeded';
  if (code === 'ENAMETOOLONG') return 'path-too-long';
  if (isTransient(e)) return 'network-error';
  return 'io-error';
}

export interface RetryOptions {
  retries: number;
  minDelayMs: number;
  signal?: AbortSignal;
}

/**
 * Retries transient failures with exponential backoff and jitter; anything else fails at once.
 * The first attempt runs bare (p-retry's bookkeeping costs more than a small file's copy); the
 * retries, after a first backoff, go through p-retry.
 */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!isTransient(e) || opts.retries <= 0 || opts.signal?.aborted) throw e;
  }
  await delay(opts.minDelayMs * (1 + Math.random()), undefined, { signal: opts.signal });
  // Loaded on the first retry: most runs never need it, and every module costs start-up time.
  const { default: pRetry, AbortError } = await import('p-retry');
  return pRetry(
    async () => {
      try {
        return await fn();
      } catch (e) {
        if (!isTransient(e)) throw new AbortError(e as Error);
        throw e;
      }
    },
    { retries: opts.retries - 1, minTimeout: opts.minDelayMs * 2, factor: 2, randomize: true, signal: opts.signal },
  );
}
