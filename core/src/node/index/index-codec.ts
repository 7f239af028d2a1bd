import type { FileRecord } from '../../common/model.js';
import type { HeldFile, HeldVersion } from './held-types.js';

/**
 * How the index stores its two big record kinds, one of each per file: what a target holds
 * (`h` keys) and what a run did to a file (its per-file records), as positional JSON arrays.
 * A 100,000-file index is 16.7 instead of 20 MB on disk, and a no-change run, which reads every
 * held record, parses arrays instead of objects (~35 instead of ~65 ms per 100,000). The rest of
 * hokan sees plain objects with hex hashes: only index-store.ts calls this module.
 *
 * Values written before this format are JSON objects (`{…}`) and are still read as they are; a
 * record is rewritten in the compact form the next time it changes.
 *
 *   version  [v, size, mtimeMs, sha256, del?, link?, damaged?, mode?]   absent middle fields are null
 *   held     [cur | null, [version…], ino?, ctimeMs?, [[from, until]…]? (pruned runs)]
 *   file     [path, target, status, size?, sha?, reason?, message?]
 *
 * Held versions keep the hex hash: converting it on every read cost a no-change run more than the
 * parse saved. A file record, written once and read by `agent show`, stores it in base64url (43
 * characters instead of 64, which did not compress) when it is 64 lowercase hex digits (what
 * hokan computes); any other string as it is, in a one-element array when it is 43 characters
 * long (so it cannot be taken for an encoded hash).
 */

const HEX64 = /^[0-9a-f]{64}$/;

function packSha(sha: string): string | [string] {
  if (sha.length === 64 && HEX64.test(sha)) return Buffer.from(sha, 'hex').toString('base64url');
  return sha.length === 43 ? [sha] : sha;
}

function unpackSha(s: string | [string]): string {
  if (typeof s !== 'string') return s[0];
  return s.length === 43 ? Buffer.from(s, 'base64url').toString('hex') : s;
}

/** Drops trailing nulls (absent optional fields at the end cost nothing). */
function trim(a: unknown[]): unknown[] {
  let n = a.length;
  while (n > 0 && (a[n - 1] === null || a[n - 1] === undefined)) n--;
  a.length = n;
  return a;
}

type PackedVersion = [v: string, size: number, mtimeMs: number, sha256: string, del?: string | null, link?: string | null, damaged?: HeldVersion['damaged'] | null, mode?: number | null, dir?: 1 | null, uid?: number | null, gid?: number | null];

function packVersion(x: HeldVersion): PackedVersion {
  return trim([x.v, x.size, x.mtimeMs, x.sha256, x.del ?? null, x.link ?? null, x.damaged ?? null, x.mode ?? null, x.dir ? 1 : null, x.uid ?? null, x.gid ?? null]) as PackedVersion;
}

function unpackVersion(a: PackedVersion): HeldVersion {
  const out: HeldVersion = { v: a[0], size: a[1], mtimeMs: a[2], sha256: a[3] };
  if (a[4] != null) out.del = a[4];
  if (a[5] != null) out.link = a[5];
  if (a[6] != null) out.damaged = a[6];
  if (a[7] != null) out.mode = a[7];
  if (a[8] === 1) out.dir = true;
  if (a[9] != null) out.uid = a[9];
  if (a[10] != null) out.gid = a[10];
  return out;
}

export function encodeHeld(h: HeldFile): string {
  return JSON.stringify(trim([h.cur ? packVersion(h.cur) : null, h.old.map(packVersion), h.ino ?? null, h.ctimeMs ?? null, h.pruned?.length ? h.pruned : null]));
}

export function decodeHeld(s: string): HeldFile {
  if (s.charCodeAt(0) !== 0x5b /* [ */) return JSON.parse(s) as HeldFile; // written before the compact form
  const a = JSON.parse(s) as [PackedVersion | null, PackedVersion[], number?, number?, [string, string][]?];
  const out: HeldFile = { old: a[1].map(unpackVersion) };
  if (a[0]) out.cur = unpackVersion(a[0]);
  if (a[2] != null) out.ino = a[2];
  if (a[3] != null) out.ctimeMs = a[3];
  if (a[4] != null) out.pruned = a[4];
  return out;
}

export function encodeFile(r: FileRecord): string {
  return JSON.stringify(trim([r.path, r.target, r.status, r.size ?? null, r.sha256 === undefined ? null : packSha(r.sha256), r.reason ?? null, r.message ?? null, r.resumed ?? null]));
}

export function decodeFile(s: string): FileRecord {
  if (s.charCodeAt(0) !== 0x5b /* [ */) return JSON.parse(s) as FileRecord;
  const a = JSON.parse(s) as [string, string, FileRecord['status'], number?, (string | [string])?, FileRecord['reason']?, string?, boolean?];
  const out: FileRecord = { path: a[0], target: a[1], status: a[2] };
  if (a[3] != null) out.size = a[3];
  if (a[4] != null) out.sha256 = unpackSha(a[4]);
  if (a[5] != null) out.reason = a[5];
  if (a[6] != null) out.message = a[6];
  if (a[7] != null) out.resumed = a[7];
  return out;
}
