import { httpStatus, s3ErrorCode } from './s3-errors.js';

/**
 * The S3 calls that some S3-compatible servers do not implement, and that hokan can do without:
 * - ListParts: needed to continue an interrupted multipart upload (without it, the upload starts over);
 * - ListMultipartUploads: needed by `cleanup` to find abandoned uploads (without it, cleanup is skipped);
 * - AbortMultipartUpload: frees the parts of an upload given up (without it, the server keeps them);
 * - UploadPartCopy: a server-side copy in parts, for objects above CopyObject's limit (without it,
 *   one CopyObject, which servers without UploadPartCopy accept for any size they hold).
 */
export type OptionalCall = 'ListParts' | 'ListMultipartUploads' | 'AbortMultipartUpload' | 'UploadPartCopy';

/** Whether an error says the server does not implement the call (501 NotImplemented, 405 MethodNotAllowed). */
export function isNotImplemented(e: unknown): boolean {
  const code = s3ErrorCode(e);
  const status = httpStatus(e);
  return code === 'NotImplemented' || code === 'MethodNotAllowed' || status === 501 || status === 405;
}

/**
 * What this server lacks, learned from its answers (or known from the provider's documentation) and
 * remembered for the life of the target — one run — so a missing call is tried once, not per file.
 */
export class ServerFeatures {
  private readonly missing: Set<OptionalCall>;

  constructor(
    known: Iterable<OptionalCall> = [],
    private readonly onMissing: (call: OptionalCall, detail: string) => void = () => {},
  ) {
    this.missing = new Set(known);
  }

  lacks(call: OptionalCall): boolean {
    return this.missing.has(call);
  }

  /** Remembers that the server answered `call` with "not implemented"; tells `onMissing` the first time. */
  markMissing(call: OptionalCall, e: unknown): void {
    if (this.missing.has(call)) return;
    this.missing.add(call);
    const status = httpStatus(e);
    const code = s3ErrorCode(e);
    this.onMissing(call, `HTTP ${status ?? '?'}${code ? ` ${code}` : ''}`);
  }
}
