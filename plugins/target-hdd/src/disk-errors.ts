/**
 * File-system errors as TargetErrors: which `errno` means a full disk, a permission to fix, a bad
 * name, a disk that has gone away (the root is checked), or a try-again.
 */
import * as fs from 'node:fs/promises';
import { TargetError, type TargetErrorKind } from '@hokan/core';

/** Errors that mean the disk (or the share under it) has gone away. */
const GONE_CODES = new Set(['ENOENT', 'EIO', 'ENODEV', 'ENXIO', 'ENOTCONN', 'ESTALE', 'EHOSTDOWN']);

export function notFound(key: string, cause?: unknown): TargetError {
  return new TargetError('not-found', `no object ${JSON.stringify(key)}`, cause === undefined ? {} : { cause });
}

/** Throws `unavailable` when the root is gone (disk unplugged); otherwise returns. */
export async function assertRoot(root: string, op: string, key: string, cause?: unknown): Promise<void> {
  const st = await fs.stat(root).catch((e: NodeJS.ErrnoException) => e);
  if (st instanceof Error || !st.isDirectory()) {
    throw new TargetError('unavailable', `${op} ${key}: the backup folder ${root} is gone (was the disk unplugged?)`, {
      cause: cause ?? st,
      hint: `plug in the disk or create the folder (${root})`,
    });
  }
}

/** ENOENT/ENOTDIR → not-found (or unavailable when the root is gone); the rest → mapError. */
export async function mapMissing(root: string, e: unknown, op: string, key: string): Promise<TargetError> {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    await assertRoot(root, op, key, e);
    return notFound(key, e);
  }
  if (code === 'EISDIR') return notFound(key, e);
  return classify(root, e, op, key);
}

/** Like mapError, but an I/O error with the root gone (disk unplugged mid-run) is `unavailable`. */
export async function classify(root: string, e: unknown, op: string, key: string): Promise<TargetError> {
  if (TargetError.is(e)) return e;
  if (GONE_CODES.has((e as NodeJS.ErrnoException)?.code ?? '')) await assertRoot(root, op, key, e);
  return mapError(root, e, op, key);
}

export function mapError(root: string, e: unknown, op: string, key: string): TargetError {
  if (TargetError.is(e)) return e;
  const err = e as NodeJS.ErrnoException;
  const code = err?.code ?? '';
  const where = key ? `${op} ${key}` : op;
  const msg = `${where} on ${root}: ${err?.message ?? String(e)}`;
  let kind: TargetErrorKind;
  let hint: string | undefined;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      kind = 'quota';
      hint = `free some space on the disk of ${root}, or lower the number of generations kept`;
      break;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      kind = 'auth';
      hint = code === 'EROFS' ? `the disk of ${root} is mounted read-only: remount it writable` : `give the agent's user write access to ${root}`;
      break;
    case 'ENAMETOOLONG':
    case 'EINVAL':
    case 'EILSEQ':
    case 'ENOTDIR':
    case 'EISDIR':
    case 'EEXIST':
    case 'ENOTEMPTY':
    case 'ELOOP':
      kind = 'permanent';
      break;
    case 'ENODEV':
    case 'ENXIO':
    case 'ENOTCONN':
    case 'ESTALE':
    case 'EHOSTDOWN':
      kind = 'unavailable';
      hint = `plug in the disk or create the folder (${root})`;
      break;
    default:
      // EIO, ENOENT (with the root present: a folder pruned or a file removed concurrently),
      // EBUSY, EAGAIN, EMFILE, ENFILE, ETIMEDOUT, …
      kind = 'transient';
  }
  return new TargetError(kind, msg, { cause: e, hint });
}
