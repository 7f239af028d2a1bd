import { TargetError, type TargetErrorKind } from '@hokan/core';

/** What the error mapping needs to know to write a message a person can act on. */
export interface S3ErrorContext {
  op: string;
  bucket: string;
  key?: string;
  region?: string;
  endpoint?: string;
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
  $retryable?: unknown;
  BucketRegion?: string;
  Region?: string;
}

const NETWORK_UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const NETWORK_TRANSIENT = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE']);
const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException', 'RequestThrottled']);
const SERVER_TRANSIENT = new Set(['InternalError', 'ServiceUnavailable', 'RequestTimeout', 'TimeoutError', 'RequestTimeoutException', 'OperationAborted']);
const AUTH_KEYS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired', 'CredentialsProviderError', 'InvalidClientTokenId']);

/** The error's S3 code (the XML `<Code>`, the SDK's `name`) or a socket error code. */
export function s3ErrorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const x = e as SdkErrorShape;
  if (x.code && (NETWORK_UNREACHABLE.has(x.code) || NETWORK_TRANSIENT.has(x.code))) return x.code; // "socket hang up" is a TimeoutError with code ECONNRESET
  const code = x.Code ?? (x.name && x.name !== 'Error' && x.name !== 'S3ServiceException' ? x.name : undefined) ?? x.code;
  // HEAD answers have no body: the SDK names their errors "Unknown"/"UnknownError".
  return code === 'Unknown' || code === 'UnknownError' ? (x.code ?? undefined) : code;
}

export function httpStatus(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const x = e as SdkErrorShape;
  return x.$metadata?.httpStatusCode ?? x.$response?.statusCode;
}

/** The region S3 says the bucket lives in (header `x-amz-bucket-region`, or `<Region>` in the error body). */
export function bucketRegionOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const x = e as SdkErrorShape;
  return x.$response?.headers?.['x-amz-bucket-region'] ?? x.BucketRegion ?? x.Region;
}

export function isNotFound(e: unknown): boolean {
  const code = s3ErrorCode(e);
  return code === 'NoSuchKey' || code === 'NotFound' || (httpStatus(e) === 404 && code !== 'NoSuchBucket' && code !== 'NoSuchUpload');
}

export function isAbort(e: unknown): boolean {
  return typeof e === 'object' && e !== null && ((e as Error).name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR');
}

function where(ctx: S3ErrorContext): string {
  return ctx.key !== undefined ? `s3://${ctx.bucket}/${ctx.key}` : `bucket "${ctx.bucket}"`;
}

/**
 * Turns whatever the AWS SDK (or a socket) threw into a TargetError with a kind and, where a person
 * can fix it, a hint naming the fix. The SDK has already retried transient failures (with backoff and
 * jitter) by the time an error gets here.
 */
export function toTargetError(e: unknown, ctx: S3ErrorContext): TargetError {
  if (TargetError.is(e)) return e;
  const code = s3ErrorCode(e);
  const status = httpStatus(e);
  const detail = (e as Error | undefined)?.message;
  const fail = (kind: TargetErrorKind, message: string, hint?: string) => new TargetError(kind, message, { cause: e, hint });
  const endpoint = ctx.endpoint ?? 'Amazon S3';

  if (isAbort(e)) return fail('transient', `${ctx.op} of ${where(ctx)} was aborted`);
  if (code === 'NoSuchKey' || (code === 'NotFound' && ctx.key !== undefined)) return fail('not-found', `${where(ctx)} does not exist`);
  if (code === 'NoSuchBucket' || (code === 'NotFound' && ctx.key === undefined)) {
    return fail('unavailable', `the bucket "${ctx.bucket}" does not exist at ${endpoint}`, 'create the bucket or set createBucket: true');
  }
  if (code === 'NoSuchUpload') return fail('not-found', `the multipart upload of ${where(ctx)} no longer exists`);
  if (code === 'RequestTimeTooSkewed') {
    return fail('auth', `this computer's clock differs too much from the S3 server's (more than 15 minutes), so S3 refuses its signed requests`, 'set the clock right: turn on automatic time (NTP) synchronisation, e.g. `timedatectl set-ntp true` on Linux');
  }
  const region = bucketRegionOf(e);
  if (code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || code === 'IllegalLocationConstraintException' || status === 301 || (region !== undefined && region !== ctx.region && (status === 400 || status === 403))) {
    const msg = region
      ? `the bucket "${ctx.bucket}" is in region ${region}, not ${ctx.region ?? '(no region set)'}`
      : `the bucket "${ctx.bucket}" is not in region ${ctx.region ?? '(no region set)'}`;
    return fail('unavailable', msg, region ? `set "region": "${region}" for this target` : 'set "region" to the region the bucket was created in');
  }
  if (code !== undefined && AUTH_KEYS.has(code)) {
    return fail('auth', `the S3 server refused the credentials for ${where(ctx)} (${code})`, 'check accessKeyId and secretAccessKey (or the profile / environment credentials): the key id must exist and the secret must belong to it');
  }
  if (code === 'CredentialsProviderError' || (e as Error | undefined)?.name === 'CredentialsProviderError') {
    return fail('auth', `no AWS credentials found for ${where(ctx)}`, 'set accessKeyId and secretAccessKey (e.g. "${env:AWS_ACCESS_KEY_ID}"), a "profile", or the AWS_* environment variables');
  }
  if (code === 'AccessDenied' || code === 'Forbidden' || code === 'AllAccessDisabled' || status === 403) {
    return fail('auth', `access denied to ${where(ctx)} during ${ctx.op}`, `give these credentials permission for ${ctx.op} on the bucket "${ctx.bucket}" (s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket, s3:AbortMultipartUpload)`);
  }
  if (code === 'QuotaExceeded' || code === 'ServiceQuotaExceeded' || code === 'StorageQuotaExceeded' || code === 'InsufficientStorage' || status === 507) {
    return fail('quota', `the S3 storage for ${where(ctx)} is full or over its quota`, 'free space in the bucket or raise the account quota');
  }
  if (code === 'EntityTooLarge') return fail('permanent', `${where(ctx)} is larger than the S3 server accepts`);
  if (code === 'KeyTooLongError') return fail('permanent', `the key ${where(ctx)} is longer than the S3 server accepts (1024 bytes)`);
  if (code === 'InvalidStorageClass') return fail('permanent', `the S3 server does not offer the configured storageClass`, 'remove storageClass or pick one the service offers');
  if (code === 'InvalidBucketName') return fail('permanent', `"${ctx.bucket}" is not a valid bucket name`, 'bucket names are 3-63 lower-case letters, digits, dots and hyphens');
  if (code === 'BucketAlreadyExists') return fail('permanent', `the bucket name "${ctx.bucket}" is taken by another account`, 'choose another bucket name');
  if (code !== undefined && NETWORK_UNREACHABLE.has(code)) {
    return fail('unavailable', `cannot reach the S3 server ${endpoint} (${code})`, 'check the endpoint and the network connection');
  }
  if (code !== undefined && (NETWORK_TRANSIENT.has(code) || THROTTLING.has(code) || SERVER_TRANSIENT.has(code))) {
    return fail('transient', `${ctx.op} of ${where(ctx)} failed for now (${code}): ${detail ?? ''}`.trimEnd());
  }
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) {
    return fail('transient', `${ctx.op} of ${where(ctx)} failed for now (HTTP ${status}${code ? ` ${code}` : ''})`);
  }
  if (status !== undefined && status >= 400) {
    return fail('permanent', `${ctx.op} of ${where(ctx)} was refused (HTTP ${status}${code ? ` ${code}` : ''}${detail && detail !== code ? `: ${detail}` : ''})`);
  }
  return fail('transient', `${ctx.op} of ${where(ctx)} failed: ${detail ?? String(e)}`);
}
