import { TargetError, type TargetErrorKind } from '@hokan/core';
import type { AzureAuth } from './azure-config.js';

/** What the error mapping needs to know to write a message a person can act on. */
export interface AzureErrorContext {
  op: string;
  account?: string;
  container: string;
  /** The full blob name (with the prefix), when the error is about one blob. */
  blob?: string;
  endpoint: string;
  auth: AzureAuth;
  /** When the configured SAS token expires. */
  sasExpiresOn?: Date;
}

interface RestErrorShape {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  details?: { errorCode?: string };
  cause?: { code?: string };
}

const NETWORK_UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH']);
const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN']);
const NETWORK_TRANSIENT = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE', 'REQUEST_SEND_ERROR', 'TIMEOUT']);
const SERVER_TRANSIENT = new Set(['ServerBusy', 'InternalError', 'OperationTimedOut', 'IngressOverAccountLimit', 'EgressOverAccountLimit', 'TpsOverAccountLimit']);
const BAD_KEY = new Set(['AuthenticationFailed', 'AuthorizationFailure', 'InvalidAuthenticationInfo', 'NoAuthenticationInformation']);
const NO_PERMISSION = new Set(['AuthorizationPermissionMismatch', 'AuthorizationResourceTypeMismatch', 'AuthorizationServiceMismatch', 'AuthorizationProtocolMismatch', 'AuthorizationSourceIPMismatch', 'InsufficientAccountPermissions', 'KeyBasedAuthenticationNotPermitted']);
const QUOTA = new Set(['AccountLimitExceeded', 'QuotaExceeded', 'ContainerQuotaExceeded', 'InsufficientStorage', 'AccountStorageQuotaExceeded']);

/** The service's error code (`x-ms-error-code`), or the socket's. */
export function azureErrorCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const x = e as RestErrorShape;
  const socket = x.cause?.code ?? (x.message?.match(/\b(E[A-Z]{3,}|EAI_AGAIN)\b/)?.[1] as string | undefined);
  if (x.code === 'REQUEST_SEND_ERROR' && socket) return socket;
  return x.details?.errorCode ?? x.code ?? socket;
}

export function httpStatus(e: unknown): number | undefined {
  return typeof e === 'object' && e !== null ? (e as RestErrorShape).statusCode : undefined;
}

export function isBlobNotFound(e: unknown): boolean {
  const code = azureErrorCode(e);
  return code === 'BlobNotFound' || (httpStatus(e) === 404 && code !== 'ContainerNotFound' && code !== 'ResourceNotFound');
}

export function isAbort(e: unknown): boolean {
  return typeof e === 'object' && e !== null && ((e as Error).name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR');
}

function where(ctx: AzureErrorContext): string {
  return ctx.blob !== undefined ? `blob "${ctx.blob}" in container "${ctx.container}"` : `container "${ctx.container}"`;
}

/**
 * The SDK's errors carry the request (its URL with a SAS signature, its headers): never pass them
 * on as a cause. This keeps what helps and nothing secret.
 */
function safeCause(e: unknown): Error {
  const x = (e ?? {}) as RestErrorShape;
  const c = new Error(String(x.message ?? e).split('\n')[0]!.replace(/sig=[^&\s"']+/g, 'sig=***'));
  c.name = x.name ?? 'Error';
  Object.assign(c, { code: azureErrorCode(e), statusCode: x.statusCode });
  return c;
}

/**
 * Turns whatever `@azure/storage-blob` (or a socket) threw into a TargetError with a kind and, where a
 * person can fix it, a hint naming the fix. The SDK's retry policy has already retried throttling
 * (503 ServerBusy), 500s and resets by the time an error gets here.
 */
export function toTargetError(e: unknown, ctx: AzureErrorContext): TargetError {
  if (TargetError.is(e)) return e;
  const code = azureErrorCode(e);
  const status = httpStatus(e);
  const fail = (kind: TargetErrorKind, message: string, hint?: string) => new TargetError(kind, message, { cause: safeCause(e), hint });
  const account = ctx.account ? `"${ctx.account}"` : `at ${ctx.endpoint}`;

  if (isAbort(e)) return fail('transient', `${ctx.op} of ${where(ctx)} was aborted`);
  const name = (e as Error | undefined)?.name;
  if (name === 'CredentialUnavailableError' || name === 'AggregateAuthenticationError' || name === 'AuthenticationError') {
    return fail('auth', `no Azure sign-in is available for ${where(ctx)} (DefaultAzureCredential: ${name})`, 'sign in with `az login`, set AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_CLIENT_SECRET, or use a managed identity — or set accountKey, sasToken or connectionString');
  }
  if (code === 'BlobNotFound') return fail('not-found', `${where(ctx)} does not exist`);
  if (code === 'ContainerNotFound') {
    return fail('unavailable', `the container "${ctx.container}" does not exist in the storage account ${account}`, 'set "createContainer": true for this target, or create the container (portal, Storage Explorer or `az storage container create`)');
  }
  if (code === 'ResourceNotFound' && ctx.blob === undefined) {
    return fail('unavailable', `the storage account ${account} was not found at ${ctx.endpoint}`, 'check "account" and "endpoint"');
  }
  if (code === 'ContainerBeingDeleted') return fail('unavailable', `the container "${ctx.container}" is being deleted`, 'wait a minute and create it again, or use another container name');
  if (code === 'AccountIsDisabled') return fail('unavailable', `the storage account ${account} is disabled`, 'enable the account (or its subscription) in the Azure portal');
  if (code !== undefined && BAD_KEY.has(code)) {
    if (ctx.auth === 'sasToken') {
      if (ctx.sasExpiresOn && ctx.sasExpiresOn.getTime() <= Date.now()) {
        return fail('auth', `the SAS token expired on ${ctx.sasExpiresOn.toISOString()}`, 'make a new SAS token (permissions racwdl: read, add, create, write, delete, list) and put it where "sasToken" reads it from');
      }
      return fail('auth', `Azure refused the SAS token for ${where(ctx)} (${code}): it is not valid for this account, not yet valid or expired`, 'make a new SAS token for this account and container (permissions racwdl) and put it where "sasToken" reads it from');
    }
    if (ctx.auth === 'defaultCredential') {
      return fail('auth', `Azure refused the signed-in identity for ${where(ctx)} (${code})`, 'sign in again (`az login`) or check the managed identity, or set accountKey / sasToken');
    }
    return fail('auth', `Azure refused the account key for storage account ${account} (${code}): the key is wrong or was rotated`, 'copy key1 or key2 from the account\'s "Access keys" page into what "accountKey" (or the connection string) reads');
  }
  if (code !== undefined && NO_PERMISSION.has(code)) {
    const hint =
      ctx.auth === 'sasToken'
        ? 'the SAS token lacks a permission: make one with read, add, create, write, delete and list (racwdl) for this container'
        : ctx.auth === 'defaultCredential'
          ? 'give the identity the "Storage Blob Data Contributor" role on the container or account'
          : 'give these credentials read, write, delete and list rights on the container';
    return fail('auth', `${ctx.op} of ${where(ctx)} is not allowed with these credentials (${code})`, hint);
  }
  if ((code !== undefined && QUOTA.has(code)) || status === 507) {
    return fail('quota', `the storage account ${account} is full or over its quota (${code ?? `HTTP ${status}`})`, 'free space in the container, or raise the account\'s limit');
  }
  if (code === 'BlobArchived') return fail('permanent', `${where(ctx)} is in the Archive tier and cannot be read before it is rehydrated`, 'rehydrate it to Hot or Cool (portal or `az storage blob set-tier`), then try again');
  if (code === 'RequestBodyTooLarge' || code === 'BlockCountExceedsLimit') return fail('permanent', `${where(ctx)} is larger than Azure accepts (${code})`);
  if (code === 'InvalidResourceName' || code === 'OutOfRangeInput') return fail('permanent', `Azure cannot hold ${where(ctx)} under this name (${code})`);
  if (code === 'InvalidBlobTier' || code === 'FeatureNotSupportedForAccount') return fail('permanent', `the storage account does not offer the configured accessTier (${code})`, 'remove accessTier or pick a tier the account supports (Cold needs a general-purpose v2 account)');
  if (code === 'BlobImmutableDueToPolicy' || code === 'BlobImmutableDueToLegalHold') return fail('permanent', `${where(ctx)} is protected by an immutability policy or legal hold (${code})`, 'hokan moves and replaces blobs: use a container without immutability for it');
  if (code !== undefined && DNS.has(code)) {
    const host = safeHost(ctx.endpoint);
    return fail('unavailable', `cannot find the storage account: ${host} has no address (${code})`, ctx.account ? `check the account name "${ctx.account}" (and "endpoint"), and that this computer is online` : 'check "endpoint" and that this computer is online');
  }
  if (code !== undefined && NETWORK_UNREACHABLE.has(code)) {
    return fail('unavailable', `cannot reach the blob service at ${ctx.endpoint} (${code})`, 'check the endpoint and the network connection');
  }
  if (code !== undefined && (NETWORK_TRANSIENT.has(code) || SERVER_TRANSIENT.has(code))) {
    return fail('transient', `${ctx.op} of ${where(ctx)} failed for now (${code})`);
  }
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) {
    return fail('transient', `${ctx.op} of ${where(ctx)} failed for now (HTTP ${status}${code ? ` ${code}` : ''})`);
  }
  if (status === 403) return fail('auth', `access denied to ${where(ctx)} during ${ctx.op}${code ? ` (${code})` : ''}`, 'check the credentials and their permissions');
  if (status !== undefined && status >= 400) {
    return fail('permanent', `${ctx.op} of ${where(ctx)} was refused (HTTP ${status}${code ? ` ${code}` : ''})`);
  }
  return fail('transient', `${ctx.op} of ${where(ctx)} failed: ${safeCause(e).message}`);
}

function safeHost(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}
