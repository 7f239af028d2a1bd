import { HokanError, TargetError, describeError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { FileEntry, FileRecord, TargetRunResult } from '../../common/model.js';
import { emptyCounts } from '../../common/model.js';
import type { FileStatus, Reason } from '../../common/statuses.js';
import type { Target } from '../../common/target.js';
import type { HeldFile, HeldVersion, IndexOp, IndexStore, TargetState } from '../index-store.js';
import { LocalFileSource, hashFile } from './file-source.js';
import { isFatalForTarget, reasonOf, withRetry, type RetryOptions } from './failure.js';
import { JobStore } from './job-store.js';
import {
  LAYOUT_FORMAT,
  MARKER_KEY,
  changesKey,
  fileKey,
  runRecordKey,
  versionKey,
  type ChangeLine,
  type OwnerMarker,
} from './layout.js';
import { rebuildFromTarget } from './manifests.js';

export interface SessionOptions {
  index: IndexStore;
  job: string;
  targetId: string;
  target: Target;
  fingerprint: string;
  device: string;
  runId: string;
  generations: number;
  dryRun: boolean;
  logger: Logger;
  retry: RetryOptions;
  /** Extra characters the job forbids in names, and the longest `ROOT/REL` it allows. */
  forbiddenChars?: string;
  maxPathLength?: number;
  maxFileSize?: number;
  /** Shared sequence for per-file records of the run. */
  nextSeq: () => number;
  onBytes?: (n: number) => void;
}

/** Journal lines are flushed to the target in parts this big (or at the end of the run). */
const JOURNAL_PART_LINES = 500;

/**
 * One target's side of a run: checks the target, owns its marker, applies uploads, deletions and
 * retention in a crash-safe order, and keeps the run's change journal on the target.
 *
 * Order for a changed file, each step followed by its index batch: (1) move the current object to
 * `.hokan/versions` (server-side), (2) put the new content (atomic), (3) drop versions beyond
 * `generations`. A crash between steps leaves the index one step behind at most, and the next run
 * completes it (a move whose source is already gone is checked against its destination).
 */
export class TargetSession {
  readonly store: JobStore;
  readonly result: TargetRunResult;
  /** Set when the target cannot take more work this run (unplugged, full, credentials refused). */
  fatal?: { reason: Reason; message: string };
  state!: TargetState;
  private journal: string[] = [];
  private journalPart = 0;
  private changes = 0;
  private readonly reasons = new Set<Reason>();

  constructor(readonly o: SessionOptions) {
    this.store = new JobStore(o.target, o.job);
    this.result = { id: o.targetId, status: 'running', reasons: [], counts: emptyCounts(), bytes: 0 };
  }

  get id(): string {
    return this.o.targetId;
  }

  get caps() {
    return this.o.target.capabilities;
  }

  /** Check the target, claim or verify ownership, make sure the index knows what it holds. */
  async prepare(opts: { write: boolean }): Promise<void> {
    await this.o.target.check();
    await ensureOwner(this.store, this.o.device, this.o.job, opts.write);
    this.state = await ensureIndexed(this.o.index, this.store, this.o.job, this.o.targetId, this.o.fingerprint, this.o.logger);
  }

  /** Writes the run record to the target (`running` before the first change, final at the end). */
  async writeRunRecord(run: unknown): Promise<void> {
    if (this.o.dryRun) return;
    await withRetry(() => this.store.putText(runRecordKey(this.o.runId), JSON.stringify(run, null, 2)), this.o.retry);
  }

  /** The run as it starts; written to the target before its first change, so a run that changes nothing writes only its final record. */
  startRecord?: unknown;
  private begun?: Promise<void>;
  private begin(): Promise<void> {
    this.begun ??= this.startRecord ? this.writeRunRecord(this.startRecord) : Promise.resolve();
    return this.begun;
  }

  // ---- decisions ------------------------------------------------------------------------

  /** Why this target cannot hold the file at all, if it cannot. */
  limitReason(entry: FileEntry): { reason: Reason; message: string } | undefined {
    const caps = this.caps;
    const forbidden = (caps.forbiddenChars ?? '') + (this.o.forbiddenChars ?? '');
    const trailing = caps.forbiddenTrailingChars ?? '';
    for (const name of entry.rel.split('/')) {
      if (forbidden) {
        for (const ch of name) {
          if (forbidden.includes(ch)) return { reason: 'forbidden-name', message: `the name "${name}" contains "${ch}", which ${this.id} cannot hold` };
        }
      }
      if (trailing && trailing.includes(name.at(-1) ?? '')) return { reason: 'forbidden-name', message: `the name "${name}" ends with "${name.at(-1)}", which ${this.id} cannot hold` };
      if (name.length > (caps.maxNameLength ?? Infinity) || (caps.maxNameBytes !== undefined && Buffer.byteLength(name) > caps.maxNameBytes)) {
        return { reason: 'path-too-long', message: `the name "${name.slice(0, 40)}…" is longer than ${this.id} allows` };
      }
    }
    const key = fileKey(entry.root.name, entry.rel);
    const fullLen = this.store.fullKey(key).length;
    const maxLen = Math.min(caps.maxKeyLength ?? Infinity, this.o.maxPathLength ?? Infinity);
    if (fullLen > maxLen) return { reason: 'path-too-long', message: `the path is ${fullLen} characters; ${this.id} holds at most ${maxLen}` };
    const maxSize = Math.min(caps.maxObjectSize ?? Infinity, this.o.maxFileSize ?? Infinity);
    if (entry.size > maxSize) return { reason: 'file-too-large', message: `${entry.size} bytes is more than the ${maxSize} bytes allowed` };
    return undefined;
  }

  // ---- operations -----------------------------------------------------------------------

  /** Uploads a new or changed file. Returns the record; never throws for per-file failures. */
  async upload(entry: FileEntry, held: HeldFile | undefined, signal?: AbortSignal): Promise<FileRecord> {
    const { root, rel } = entry;
    const path = fileKey(root.name, rel);
    if (this.fatal) return this.record(path, 'skipped', this.fatal.reason, entry.size, undefined, this.fatal.message);
    const limit = this.limitReason(entry);
    if (limit) return this.record(path, 'skipped', limit.reason, entry.size, undefined, limit.message);
    if (this.o.dryRun) return this.record(path, 'uploaded', undefined, entry.size);
    try {
      await this.begin();
    } catch (e) {
      return this.failure(path, e, entry.size);
    }

    // Symlinks are recorded in the index and the journal; nothing is stored on the target.
    if (entry.type === 'symlink') {
      const link = entry.linkTarget ?? '';
      const ver: HeldVersion = { v: this.o.runId, size: 0, mtimeMs: entry.mtimeMs, sha256: '', link };
      const next: HeldFile = { cur: ver, old: held?.cur && this.o.generations > 0 && !held.cur.link ? [held.cur, ...held.old] : held?.old ?? [] };
      await this.commit(root.name, rel, next, entry, [{ op: 'put', p: path, v: ver.v, size: 0, mtimeMs: ver.mtimeMs, sha256: '', link }]);
      return this.record(path, 'uploaded', undefined, 0);
    }

    let h: HeldFile = held ? { ...held, old: [...held.old] } : { old: [] };
    let moved: HeldVersion | undefined;
    try {
      // (1) Keep the version being replaced as a generation (server-side move, no download).
      if (h.cur && !h.cur.link && this.o.generations > 0) {
        const prev = h.cur;
        await this.moveKeeping(path, versionKey(root.name, rel, prev.v));
        moved = prev;
        h = { old: [prev, ...h.old] };
        await this.o.index.batch([this.o.index.heldOp(this.o.job, this.id, root.name, rel, h)]);
      }
      // (2) The new content, hashed as it is read.
      const source = new LocalFileSource(entry);
      let sent = 0;
      await withRetry(
        () =>
          this.store.put(
            path,
            source,
            { size: entry.size, mtimeMs: entry.mtimeMs },
            {
              signal,
              resume: this.caps.resumableUploads ? this.o.index.resumeStore(this.id, this.store.fullKey(path)) : undefined,
              onProgress: (n) => {
                this.o.onBytes?.(n - sent);
                sent = n;
              },
            },
          ),
        { ...this.o.retry, signal },
      );
      const sha256 = source.sha256 ?? (await hashFile(entry.abs));
      const lines: ChangeLine[] = [];
      const ver: HeldVersion = { v: this.o.runId, size: entry.size, mtimeMs: entry.mtimeMs, sha256 };
      if (h.cur && this.o.generations === 0) lines.push({ op: 'drop', p: path, v: h.cur.v }); // mirror: overwritten
      lines.unshift({ op: 'put', p: path, v: ver.v, size: ver.size, mtimeMs: ver.mtimeMs, sha256 });
      const next: HeldFile = { cur: ver, old: h.old };
      moved = undefined;
      // (3) Retention.
      await this.retain(root.name, rel, next, lines);
      await this.commit(root.name, rel, next, entry, lines);
      this.result.bytes += entry.size;
      return this.record(path, 'uploaded', undefined, entry.size, sha256);
    } catch (e) {
      if (moved) await this.moveBack(root.name, rel, moved, h);
      return this.failure(path, e, entry.size);
    }
  }

  /** A file whose content is the same as held: refresh what change detection uses. */
  refreshOp(entry: FileEntry, held: HeldFile): IndexOp {
    return this.o.index.heldOp(this.o.job, this.id, entry.root.name, entry.rel, { ...held, ino: entry.ino, ctimeMs: entry.ctimeMs });
  }

  /** A file gone from the source: keep it as a generation (or drop it in mirror mode). */
  async remove(root: string, rel: string, held: HeldFile): Promise<FileRecord> {
    const path = fileKey(root, rel);
    if (this.fatal) return this.record(path, 'skipped', this.fatal.reason, held.cur?.size, undefined, this.fatal.message);
    if (!held.cur) return this.record(path, 'deleted');
    if (this.o.dryRun) return this.record(path, 'deleted', undefined, held.cur.size);
    const cur = held.cur;
    try {
      await this.begin();
      const lines: ChangeLine[] = [{ op: 'del', p: path, v: cur.v, at: this.o.runId }];
      let next: HeldFile;
      if (cur.link !== undefined) {
        next = { old: this.o.generations > 0 ? [{ ...cur, del: this.o.runId }, ...held.old] : held.old };
      } else if (this.o.generations > 0) {
        await this.moveKeeping(path, versionKey(root, rel, cur.v));
        next = { old: [{ ...cur, del: this.o.runId }, ...held.old] };
      } else {
        await withRetry(() => this.store.remove(path), this.o.retry);
        next = { old: held.old };
      }
      if (this.o.generations === 0) lines.push({ op: 'drop', p: path, v: cur.v });
      await this.retain(root, rel, next, lines);
      await this.o.index.batch([this.o.index.heldOp(this.o.job, this.id, root, rel, next.cur || next.old.length ? next : undefined)]);
      this.log(lines);
      return this.record(path, 'deleted', undefined, cur.size);
    } catch (e) {
      return this.failure(path, e, cur.size);
    }
  }

  /** Drops the oldest versions beyond `generations` (deleted files count their last version). */
  private async retain(root: string, rel: string, h: HeldFile, lines: ChangeLine[]): Promise<void> {
    const keep = this.o.generations;
    while (h.old.length > keep) {
      const drop = h.old[h.old.length - 1]!;
      if (drop.link === undefined) {
        try {
          await withRetry(() => this.store.remove(versionKey(root, rel, drop.v)), this.o.retry);
        } catch (e) {
          // Keeping one version too many is harmless; the next run drops it.
          this.o.logger.warn({ err: describeError(e), path: `${root}/${rel}`, v: drop.v }, 'could not drop an old version');
          return;
        }
      }
      h.old.pop();
      lines.push({ op: 'drop', p: fileKey(root, rel), v: drop.v });
    }
  }

  /** Server-side move that tolerates a crash between an earlier move and its index update. */
  private async moveKeeping(from: string, to: string): Promise<void> {
    try {
      await withRetry(() => this.store.move(from, to), this.o.retry);
    } catch (e) {
      if (!TargetError.isNotFound(e)) throw e;
      // The object was already moved by a run that died before recording it: fine if it is there.
      try {
        await this.store.stat(to);
      } catch {
        this.o.logger.warn({ from }, 'the version to keep was missing on the target');
      }
    }
  }

  private async moveBack(root: string, rel: string, prev: HeldVersion, h: HeldFile): Promise<void> {
    try {
      await this.store.move(versionKey(root, rel, prev.v), fileKey(root, rel));
      await this.o.index.batch([this.o.index.heldOp(this.o.job, this.id, root, rel, { ...h, cur: prev, old: h.old.filter((x) => x !== prev) })]);
    } catch (e) {
      // The previous version stays safe under .hokan/versions; the index says so already.
      this.o.logger.warn({ err: describeError(e), path: `${root}/${rel}` }, 'could not move the previous version back');
    }
  }

  private async commit(root: string, rel: string, next: HeldFile, entry: FileEntry, lines: ChangeLine[]): Promise<void> {
    await this.o.index.batch([this.o.index.heldOp(this.o.job, this.id, root, rel, { ...next, ino: entry.ino, ctimeMs: entry.ctimeMs })]);
    this.log(lines);
  }

  // ---- journal --------------------------------------------------------------------------

  private log(lines: ChangeLine[]): void {
    for (const l of lines) this.journal.push(JSON.stringify(l));
    this.changes += lines.length;
    if (this.journal.length >= JOURNAL_PART_LINES) void this.flushJournal().catch(() => {});
  }

  private flushing: Promise<void> = Promise.resolve();

  /** Writes the buffered change lines as the next part of the run's journal on the target. */
  flushJournal(): Promise<void> {
    const run = async () => {
      if (!this.journal.length || this.o.dryRun) return;
      const lines = this.journal;
      this.journal = [];
      const part = ++this.journalPart;
      try {
        await withRetry(() => this.store.putText(changesKey(this.o.runId, part), lines.join('\n') + '\n'), this.o.retry);
      } catch (e) {
        this.journal.unshift(...lines);
        this.journalPart--;
        throw e;
      }
    };
    this.flushing = this.flushing.then(run, run);
    return this.flushing;
  }

  /** Changes this run wrote (for snapshot bookkeeping). */
  get changeCount(): number {
    return this.changes;
  }

  // ---- records --------------------------------------------------------------------------

  record(path: string, status: FileStatus, reason?: Reason, size?: number, sha256?: string, message?: string): FileRecord {
    const rec: FileRecord = { path, target: this.id, status };
    if (reason) rec.reason = reason;
    if (size !== undefined) rec.size = size;
    if (sha256) rec.sha256 = sha256;
    if (message) rec.message = message;
    return rec;
  }

  /** Records a failure, and stops the session when the target as a whole is gone or full. */
  failure(path: string, e: unknown, size?: number): FileRecord {
    const reason = reasonOf(e);
    if (isFatalForTarget(e) && !this.fatal) {
      this.fatal = { reason, message: describeError(e) };
      this.o.logger.error({ target: this.id, err: describeError(e) }, 'target stopped for this run');
    }
    const status: FileStatus = reason === 'changed-during-backup' ? 'skipped' : 'failed';
    return this.record(path, status, reason, size, undefined, describeError(e).split('\n')[0]);
  }

  /** Counts a final per-file record into this target's result. */
  tally(rec: FileRecord): void {
    const counts = this.result.counts;
    if (rec.status === 'uploaded') counts.uploaded++;
    else if (rec.status === 'unchanged') counts.unchanged++;
    else if (rec.status === 'deleted') counts.deleted++;
    else if (rec.status === 'skipped') counts.skipped++;
    else if (rec.status === 'failed') counts.failed++;
    if (rec.reason) this.reasons.add(rec.reason);
  }

  addReason(r: Reason): void {
    this.reasons.add(r);
  }

  finishResult(): TargetRunResult {
    if (this.fatal) this.reasons.add(this.fatal.reason);
    this.result.reasons = [...this.reasons];
    this.result.status = this.result.reasons.length ? 'incomplete' : 'completed';
    if (this.fatal) this.result.error = this.fatal.message;
    return this.result;
  }
}

/** Reads the owner marker; writes it on first use; refuses a place another device or job owns. */
export async function ensureOwner(store: JobStore, device: string, job: string, write: boolean): Promise<OwnerMarker | undefined> {
  let marker: OwnerMarker | undefined;
  try {
    marker = JSON.parse(await store.getText(MARKER_KEY)) as OwnerMarker;
  } catch (e) {
    if (!TargetError.isNotFound(e)) throw e;
  }
  if (!marker) {
    if (!write) return undefined;
    marker = { format: LAYOUT_FORMAT, device, job, created: new Date().toISOString() };
    await store.putText(MARKER_KEY, JSON.stringify(marker, null, 2));
    return marker;
  }
  if (write && (marker.device !== device || marker.job !== job)) {
    throw new HokanError(
      'E_TARGET_OWNED',
      `this place on the target already holds the backup of job "${marker.job}" from device "${marker.device}" (since ${marker.created}); hokan will not mix a second owner into it`,
      { hint: `give this job another target path or prefix; if this machine replaces "${marker.device}", set "device": "${marker.device}" in config.json` },
    );
  }
  return marker;
}

/** Makes sure the index knows what the target holds for the job, rebuilding it from the target if not. */
export async function ensureIndexed(index: IndexStore, store: JobStore, job: string, targetId: string, fingerprint: string, logger: Logger): Promise<TargetState> {
  const state = await index.getTargetState(job, targetId);
  if (state && state.fingerprint === fingerprint) return state;
  if (state) {
    logger.info({ job, target: targetId }, 'target settings changed: rebuilding the index from what the target holds');
    await index.clearHeld(job, targetId);
  }
  return rebuildFromTarget(index, store, job, targetId, fingerprint, logger);
}
