import { crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';

/**
 * Where things live on a target (docs/design.md "Target layout"). The engine owns this layout;
 * targets only store keys. Where a version lives is derived from the held state, never stored:
 * the newest version of a path is at the path itself, every other one under `.hokan/versions`.
 */
export const META = '.hokan';
export const MARKER_KEY = `${META}/marker.json`;
export const HEAD_KEY = `${META}/head.json`;
export const LEASES_PREFIX = `${META}/leases/`;
export const RUNS_PREFIX = `${META}/runs/`;
export const SNAPSHOTS_PREFIX = `${META}/snapshots/`;
export const VERSIONS_PREFIX = `${META}/versions/`;
/**
 * The layout of a job's place, written into its marker. 2: older versions at
 * `.hokan/versions/VID/ROOT/REL` — the file's own name, so a legal name of 255 bytes keeps a
 * version. 1 (places made before): `.hokan/versions/ROOT/REL~VID`, 25 bytes longer than the name.
 */
export const LAYOUT_FORMAT = 2;

/** `ROOT/REL` — the browsable key of a file. */
export const fileKey = (root: string, rel: string) => `${root}/${rel}`;
/** Where an older version (or a deleted file) of `ROOT/REL` is kept, in a place of layout `format`. */
export const versionKey = (root: string, rel: string, v: string, format = LAYOUT_FORMAT) =>
  format === 1 ? `${VERSIONS_PREFIX}${root}/${rel}~${v}` : `${VERSIONS_PREFIX}${v}/${root}/${rel}`;
export const runRecordKey = (runId: string) => `${RUNS_PREFIX}${runId}/record.json`;
export const changesKey = (runId: string, part: number) => `${RUNS_PREFIX}${runId}/changes-${String(part).padStart(4, '0')}.jsonl`;
export const snapshotKey = (runId: string) => `${SNAPSHOTS_PREFIX}${runId}.jsonl`;

/**
 * Run ids sort by time: `YYYYMMDDTHHMMSS.mmm-xxxx` (UTC, milliseconds, 4 random hex) — readable in
 * a file manager, and strictly increasing within a process (point-in-time restore compares them).
 */
let lastTime = 0;
export function newRunId(now = new Date()): string {
  // Two runs in the same millisecond (or a clock that stepped back) still get increasing ids.
  const t = Math.max(now.getTime(), lastTime + 1);
  lastTime = t;
  return `${runIdStamp(new Date(t))}-${randomBytes(2).toString('hex')}`;
}

/**
 * Run ids made from now on sort after `lastId` (the newest run the index knows): a clock that
 * stepped back since (a dead CMOS battery, a wrong NTP server) must not give a run an id that sorts
 * before its predecessor — point-in-time restore and generations go by the order of run ids.
 */
export function runIdsAfter(lastId: string | undefined): void {
  const t = lastId === undefined ? NaN : runIdTime(lastId).getTime();
  if (!Number.isNaN(t)) lastTime = Math.max(lastTime, t);
}

/** `YYYYMMDDTHHMMSS.mmm` of a time (UTC): the part of a run id that orders runs. */
export function runIdStamp(d: Date): string {
  const iso = d.toISOString(); // 2026-11-22T07:18:00.123Z
  return `${iso.slice(0, 19).replace(/[-:]/g, '')}.${iso.slice(20, 23)}`;
}

/** The largest run id a run started at or before `d` can have (for `--at`). */
export function runIdCutoff(d: Date): string {
  return `${runIdStamp(d)}-~`;
}

/** The time a run id was made (for `versions` and `--at`). */
export function runIdTime(runId: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{3}))?/.exec(runId);
  if (!m) return new Date(NaN);
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +(m[7] ?? 0)));
}

/** The marker that says which device and job own a place on a target (seed 003). */
export interface OwnerMarker {
  format: number;
  device: string;
  job: string;
  created: string;
  /**
   * Which place this is, made when hokan first writes there (issue 24). The index keeps it per
   * target: a marker that is gone or names another instance means the place was wiped or the disk
   * replaced, and what the index believes it holds is no longer true. Absent in markers from before.
   */
  instance?: string;
  /**
   * The run that made this marker (issue 24): the place holds this job's runs from this one on.
   * Older runs are not on it — it was new to the job, wiped or replaced then — and a restore of one
   * from it says so instead of giving back an empty tree. Absent in markers from before.
   */
  since?: string;
}

/**
 * The head of a job's place: written atomically when a run starts to change the place and when it
 * closes, with a sequence number that only grows. A run reads it before it writes anything: a
 * number other than the one its index last saw means another data folder or machine wrote since.
 */
export interface JobHead {
  format: number;
  seq: number;
  /** Grows only when a run changes the place (its first change); a reader whose index saw this number lacks at most run records. */
  changeSeq: number;
  /**
   * The run that made the change `changeSeq` counts (absent in heads from before it). A wiped place
   * starts its numbers again, so a number alone can match one an index saw of the place before:
   * the runs tell them apart.
   */
  changeRun?: string;
  /** The run that wrote it last. */
  run: string;
  /** `running` from a run's first change to its close; `closed` after. */
  state: 'running' | 'closed';
  /** The index (IndexStore.indexId) and device that wrote it. */
  writer: string;
  device: string;
  at: string;
}

/** One line of a run's change journal (and of a snapshot, with op `put`). */
export type ChangeLine =
  | { op: 'put'; p: string; v: string; size: number; mtimeMs: number; sha256: string; link?: string; mode?: number; dir?: true; uid?: number; gid?: number }
  /** The current version's permission bits (and, for a folder, its mtime) changed at the source (content unchanged, nothing sent). */
  | { op: 'meta'; p: string; v: string; mode: number; mtimeMs?: number; uid?: number; gid?: number }
  | { op: 'del'; p: string; v: string; at: string }
  | { op: 'drop'; p: string; v: string };

/**
 * A journal or snapshot line as stored: the JSON, a tab and its CRC-32 (8 hex digits). JSON never
 * holds a raw tab, so the last tab ends the JSON. A damaged or truncated line fails its check and is
 * skipped alone; lines written before checksums (no tab) are read as they are.
 */
export function sealLine(json: string): string {
  return `${json}\t${crc32(json).toString(16).padStart(8, '0')}`;
}

/** The value of a stored line, or why it cannot be used. */
export function openLine<T>(line: string): { value: T } | { damaged: string } {
  const tab = line.lastIndexOf('\t');
  let json = line;
  if (tab >= 0) {
    json = line.slice(0, tab);
    const want = line.slice(tab + 1);
    if (crc32(json).toString(16).padStart(8, '0') !== want) return { damaged: 'its checksum does not match (a damaged or truncated line)' };
  }
  try {
    return { value: JSON.parse(json) as T };
  } catch (e) {
    return { damaged: `it is not JSON (${(e as Error).message})` };
  }
}

/** The path a damaged line names, if it can still be read: to say what the damage affects. */
export function pathOfDamagedLine(line: string): string | undefined {
  const m = /"p":"((?:[^"\\]|\\.)*)"/.exec(line);
  if (!m) return undefined;
  try {
    return JSON.parse(`"${m[1]}"`) as string;
  } catch {
    return undefined;
  }
}

/** Splits `ROOT/REL` back into its parts. */
export function splitPath(p: string): { root: string; rel: string } {
  const i = p.indexOf('/');
  return { root: p.slice(0, i), rel: p.slice(i + 1) };
}
