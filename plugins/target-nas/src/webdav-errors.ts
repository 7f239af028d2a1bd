import { connect } from 'node:tls';
import { TargetError, type TargetErrorKind } from '@hokan/core';

/** What the error mapping needs to write a message a person can act on. */
export interface WebDavErrorContext {
  op: string;
  /** The key the request was about (`''` for the target's folder itself). */
  key?: string;
  /** The target's folder URL (no credentials in it). */
  url: string;
  username?: string;
  /** Details of a certificate that did not verify, when they could be read (see describeCertificate). */
  certificate?: string;
}

/** An HTTP answer the server gave (status and the start of its body), as the webdav client reports it. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly statusText: string,
    readonly body: string,
  ) {
    super(`HTTP ${status} ${statusText}`.trim());
    this.name = 'HttpStatusError';
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);
const TRANSIENT = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_HTTP_CONTENT_LENGTH_MISMATCH']);
/** Node's codes for a certificate that does not verify. */
const CERT = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
]);

/** The socket or TLS error code under whatever node-fetch wrapped it in. */
export function errorCode(e: unknown): string | undefined {
  let x = e as { code?: unknown; errno?: unknown; cause?: unknown; erroredSysCall?: unknown } | undefined;
  for (let i = 0; i < 4 && x; i++) {
    if (typeof x.code === 'string' && x.code !== 'system' && x.code !== 'FETCH_ERROR') return x.code;
    if (typeof x.errno === 'string') return x.errno;
    x = x.cause as typeof x;
  }
  const m = String((e as Error)?.message ?? '').match(/\b(E[A-Z]{3,}|[A-Z_]*CERT[A-Z_]*|EAI_AGAIN)\b/);
  return m?.[1];
}

export function isCertificateError(e: unknown): boolean {
  const c = errorCode(e);
  return c !== undefined && CERT.has(c);
}

export function isAbort(e: unknown): boolean {
  return typeof e === 'object' && e !== null && ((e as Error).name === 'AbortError' || (e as { code?: string }).code === 'ABORT_ERR');
}

function where(ctx: WebDavErrorContext): string {
  return ctx.key ? `"${ctx.key}"` : 'the target folder';
}

/** The error's own words without anything secret (URLs here never carry credentials; headers are not kept). */
function safeCause(e: unknown): Error {
  const c = new Error(String((e as Error)?.message ?? e).split('\n')[0]!);
  c.name = (e as Error)?.name ?? 'Error';
  Object.assign(c, { code: errorCode(e), status: (e as HttpStatusError)?.status });
  return c;
}

/**
 * Turns what a WebDAV request threw (an HTTP status, a socket or TLS error, a timeout) into a
 * TargetError with a kind and, where a person can fix it, a hint naming the fix.
 */
export function toTargetError(e: unknown, ctx: WebDavErrorContext): TargetError {
  if (TargetError.is(e)) return e;
  const fail = (kind: TargetErrorKind, message: string, hint?: string) => new TargetError(kind, message, { cause: safeCause(e), hint });
  const host = hostOf(ctx.url);
  if (isAbort(e)) return fail('transient', `${ctx.op} of ${where(ctx)} was aborted`);
  if (e instanceof HttpStatusError) {
    const s = e.status;
    const what = `${ctx.op} of ${where(ctx)} on ${ctx.url}`;
    const said = `HTTP ${s}${e.statusText ? ` ${e.statusText}` : ''}`;
    switch (s) {
      case 401:
        return fail('auth', `the WebDAV server at ${ctx.url} refused ${ctx.username ? `the user "${ctx.username}"` : 'access without a user name'} (${said}): wrong username or password`, ctx.username ? 'check "username" and the password "password" reads (e.g. "${env:NAS_PASSWORD}"), and that the user may use WebDAV on the NAS' : 'set "username" and "password" for this target');
      case 403:
        return fail('auth', `${what} is not allowed for ${ctx.username ? `the user "${ctx.username}"` : 'this client'} (${said})`, 'give the user read and write rights to this folder on the NAS (and WebDAV access)');
      case 404:
        if (!ctx.key) return fail('unavailable', `there is no WebDAV folder at ${ctx.url} (${said})`, 'check "url": the folder must exist on the NAS (create it, or fix the share name and path in the URL)');
        return fail('not-found', `${where(ctx)} does not exist on ${ctx.url}`);
      case 405:
        return fail('permanent', `${what} was refused: the server does not allow ${ctx.op} there (${said})`, 'check that WebDAV (with write access) is enabled for this folder on the NAS, and that no file has the name of a folder hokan needs');
      case 409:
        return fail('permanent', `${what} failed: a folder on the way is missing or is a file (${said})`, 'remove the file that has the name of a folder hokan needs, or check the URL');
      case 412:
        return fail('transient', `${what} failed a precondition (${said})`);
      case 413:
        return fail('permanent', `${what} was refused as too large by the server (${said})`, 'raise the upload size limit on the NAS or web server, or exclude such large files (maxFileSize)');
      case 414:
        return fail('permanent', `${what} was refused: the path is too long for the server (${said})`);
      case 423:
        return fail('transient', `${what} failed: the resource is locked by another client (${said})`, 'close the file where it is open (on the NAS or another computer), or wait until the lock expires');
      case 507:
        return fail('quota', `the WebDAV server at ${ctx.url} is full or over its quota (${said})`, 'free space on the NAS or online storage, raise the quota, or keep fewer generations');
      default:
        if (s === 408 || s === 429 || s >= 500) return fail('transient', `${what} failed for now (${said})`);
        return fail('permanent', `${what} was refused (${said})`);
    }
  }
  const code = errorCode(e);
  if (code !== undefined && CERT.has(code)) {
    return fail(
      'unavailable',
      `the TLS certificate of ${host} does not verify (${code})${ctx.certificate ? `: ${ctx.certificate}` : ''}`,
      `if this is the NAS's own certificate, save its CA certificate (or the certificate itself) as a PEM file and set "ca": "/path/to/nas-ca.pem" for this target; only on a network you trust, "insecureSkipVerify": true turns the check off (logged at every run)`,
    );
  }
  if (code !== undefined && UNREACHABLE.has(code)) {
    const dns = code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME';
    return fail('unavailable', dns ? `the NAS's host name ${host} has no address (${code})` : `the WebDAV server at ${ctx.url} does not answer (${code})`, dns ? 'check the host name in "url" and that this computer is on the right network' : 'check that the NAS is on and reachable from this computer, and the host and port in "url"');
  }
  if (code === 'ETIMEDOUT') return fail('transient', `${ctx.op} of ${where(ctx)} on ${ctx.url} timed out (no answer within the target's "timeout")`);
  if (code !== undefined && TRANSIENT.has(code)) return fail('transient', `${ctx.op} of ${where(ctx)} on ${ctx.url} failed for now (${code})`);
  if (/socket hang up|premature close|other side closed|network/i.test(String((e as Error)?.message))) return fail('transient', `${ctx.op} of ${where(ctx)} on ${ctx.url} failed for now: ${safeCause(e).message}`);
  return fail('transient', `${ctx.op} of ${where(ctx)} on ${ctx.url} failed: ${safeCause(e).message}`);
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/**
 * Who the server says it is, for a certificate error: subject, issuer, validity and SHA-256
 * fingerprint, read over a second TLS connection that does not verify (nothing is sent on it).
 */
export async function describeCertificate(url: string, timeoutMs = 5000): Promise<string | undefined> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:') return undefined;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const s = connect({ host, port: Number(u.port || 443), servername: /^[\d.:]+$/.test(host) ? undefined : host, rejectUnauthorized: false });
    const done = (v: string | undefined) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.once('error', () => done(undefined));
    s.once('secureConnect', () => {
      const c = s.getPeerCertificate();
      if (!c || !c.subject) return done(undefined);
      const cn = (x: Record<string, unknown> | undefined) => (x ? String(x.CN ?? x.O ?? JSON.stringify(x)) : '?');
      const self = cn(c.subject as unknown as Record<string, unknown>) === cn(c.issuer as unknown as Record<string, unknown>);
      done(`the server shows "${cn(c.subject as unknown as Record<string, unknown>)}"${self ? ' (self-signed)' : `, issued by "${cn(c.issuer as unknown as Record<string, unknown>)}"`}, valid ${c.valid_from} to ${c.valid_to}, SHA-256 fingerprint ${c.fingerprint256}`);
    });
  });
}
