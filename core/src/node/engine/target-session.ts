import { HokanError, TargetError, describeError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { FileEntry, FileRecord, TargetRunResult } from '../../common/model.js';
import { emptyCounts } from '../../common/model.js';
import type { FileStatus, Reason } from '../../common/statuses.js';
import type { Target } from '../../common/target.js';
import type { HeldFile, HeldVersion, IndexOp, IndexStore, TargetState } from '../index/index-store.js';
import { storesObject } from '../index/held-types.js';
import { crashPoint } from './crash-points.js';
import { notePruned } from './held.js';
import type { DurabilityWindow } from './deps.js';
import { LocalFileSource, hashFile, hashStream } from './file-source.js';
import { isFatalForTarget, reasonOf, withRetry, type RetryOptions } from './failure.js';
import { JobStore } from './job-store.js';
import { LAYOUT_FORMAT, RUNS_PREFIX, sealLine, changesKey, fileKey, runRecordKey, type ChangeLine, type JobHead } from './layout.js';
import { Lease } from './lease.js';
import { checkAndReadMarker, detectReset, ensureCurrent, ensureOwner, noteInstance, writeHead, type RotatedIn } from './open-target.js';

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
  /** What to do when the place was wiped or replaced (issue 24): send everything again, or refuse. */
  onTargetReset?: 'resend' | 'refuse';
  /** Disks used in turn at this place (`"rotate": true`): another one is not a reset. */
  rotate?: boolean;
  maxFileSize?: number;
  /** Shared sequence for per-file records of the run. */
  nextSeq: () => number;
  /**
   * The last run was interrupted: on a target that defers durability, a new file whose key already
   * holds an object of the same size may be one that run put but never recorded (its window was not
   * flushed); when the hashes match it is recorded, not sent again. (Elsewhere a put is recorded as
   * soon as it lands: at most the puts in flight are sent again, not worth a stat per new file.)
   */
  adoptOrphans?: boolean;
  /** Size of a window of deferred durability (tests make it small). */
  window?: DurabilityWindow;
  onBytes?: (n: number) => void;
}

/** Journal lines are flushed to the target in parts this big (or at the end of the run). */
const JOURNAL_PART_LINES = 500;

/**
 * A window of puts made durable by one `flush` on targets that defer durability (a local disk):
 * closed at this many files, bytes or milliseconds, whichever comes first. A kill -9 inside a
 * window leaves its files unrecorded; the next run adopts them (hash compared, not re-sent); a
 * power cut loses at most this window, which the next run sends again. Short windows keep little
 * in memory and keep the disk writing steadily (tree b, single runs: 100 ms → 23 s, 250 ms → 34 s,
 * 1 s → 42 s, 2 s → 45 s).
 */
export const DURABILITY_WINDOW: DurabilityWindow = { files: 1000, bytes: 256 * 1024 * 1024, ms: 100 };

export type { DurabilityWindow } from './deps.js';

/** A put whose index batch waits for the target's next flush. */
interface PendingCommit {
  path: string;
  ops: IndexOp[];
  lines: ChangeLine[];
  size: number;
  bytes: number;
  record: FileRecord;
  resolve: (r: FileRecord) => void;
}

/** What `upload` gives back: the file's record, or (deferred durability) a promise of it. */
export type UploadOutcome = FileRecord | { pending: Promise<FileRecord> };

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
  /** Puts waiting for the target's flush (see DURABILITY_WINDOW). */
  private window: PendingCommit[] = [];
  private windowBytes = 0;
  private windowStart = 0;
  private windowChain: Promise<void> = Promise.resolve();
  /** A flush of the window is queued and has not taken its files yet. */
  private flushQueued = false;
  /** Whether puts defer durability to a flush per window (the target has `flush`). */
  readonly deferring: boolean;

  constructor(readonly o: SessionOptions) {
    this.store = new JobStore(o.target, o.job);
    this.result = { id: o.targetId, status: 'running', reasons: [], counts: emptyCounts(), bytes: 0 };
    this.deferring = typeof o.target?.flush === 'function' && !o.dryRun;
  }

  get id(): string {
    return this.o.targetId;
  }

  get caps() {
    return this.o.target.capabilities;
  }

  /** Check the target, claim or verify ownership, make sure the index knows what it holds. */
  async prepare(opts: { write: boolean; waitMs?: number }): Promise<void> {
    // One read of the marker per run: ensureOwner is given this text instead of reading again.
    const markerText = await checkAndReadMarker(this.o.target, this.store);
    const { reset, text, rotated } = await detectReset(this.o.index, markerText, this.o.job, this.o.targetId, this.o.fingerprint, this.o.rotate === true);
    this.rotated = rotated;
    if (reset) {
      const last = (await this.o.index.listRuns({ job: this.o.job, kind: 'backup', limit: 1, total: false })).runs[0];
      if (this.o.onTargetReset === 'refuse') {
        throw new HokanError('E_TARGET_RESET', `target "${this.o.targetId}" was wiped or replaced since the last backup${last ? ` (${last.id})` : ''}: this job's marker on it is gone or another`, {
          hint: 'if this disk or bucket is meant to start afresh, set "onTargetReset": "resend" (the default) and run again; otherwise plug in the disk that holds the backup',
        });
      }
      // What the index believes the place holds is false: forgotten, so everything goes again.
      await this.o.index.forgetPlace(this.o.job, this.o.targetId);
      this.wasReset = true;
    }
    let marker = await ensureOwner(this.store, this.o.device, this.o.job, opts.write, { text }, this.o.runId, false);
    // The lease comes before the head is read: under it, what the head says stays true until we write.
    if (opts.write) this.lease = await Lease.take(this.store, { device: this.o.device, dataDir: this.o.index.dataDir, run: this.o.runId, logger: this.o.logger, waitMs: opts.waitMs });
    // A new marker (or an old one's instance) is written only under the lease: read again, as
    // another run may have written one meanwhile.
    if (opts.write && !marker?.instance) marker = await ensureOwner(this.store, this.o.device, this.o.job, true, undefined, this.o.runId);
    // Journal lines a killed run left in the index go to the target first: they are facts about it.
    const recovered = opts.write && !this.o.dryRun && (await this.recoverJournal());
    const { state, caughtUp, firstLook } = await ensureCurrent(this.o.index, this.store, this.o.job, this.o.targetId, this.o.fingerprint, this.o.logger);
    this.state = opts.write ? await noteInstance(this.o.index, this.o.job, this.o.targetId, state, marker?.instance) : state;
    if (this.o.rotate && marker?.instance) this.result.disk = marker.instance;
    this.caughtUp = caughtUp;
    this.firstLook = firstLook;
    // Other data folders must learn of the recovered lines: the place changed.
    if (recovered) await this.writeHead('running');
  }

  /** The place was wiped or replaced since the index last saw it: its held state was forgotten. */
  wasReset = false;

  /** Stored copies this run meant to keep as older versions but found gone (moveKeeping): dropped, and said in the run's note. */
  readonly lost: string[] = [];

  /** Another disk of a rotation came in (`"rotate": true`): the index now holds that disk's state. */
  rotated?: RotatedIn;

  /** This run's lease on the job's place (a writing run holds one from prepare to release). */
  lease?: Lease;

  async releaseLease(): Promise<void> {
    const l = this.lease;
    this.lease = undefined;
    await l?.release();
  }

  /**
   * This data folder had never backed up to the place as it is set now (a new data folder, a target
   * added to the job, other settings): its index holds only what it read there.
   */
  firstLook = false;

  /** The head another writer left, when this run had to bring its index up to date first. */
  caughtUp?: JobHead;

  /**
   * Writes the job's head: `running` before the run's first change, `closed` when it closes. The
   * target's head is written before the index records its number: a crash between the two makes
   * the next run catch up from the target (slower), never trust a stale view.
   */
  async writeHead(state: JobHead['state']): Promise<void> {
    if (this.o.dryRun) return;
    const seq = (this.state.headSeq ?? 0) + 1;
    const changeSeq = (this.state.changeSeq ?? 0) + (state === 'running' ? 1 : 0);
    const changeRun = state === 'running' ? this.o.runId : this.state.changeRun;
    const head: JobHead = { format: LAYOUT_FORMAT, seq, changeSeq, ...(changeRun ? { changeRun } : {}), run: this.o.runId, state, writer: await this.o.index.indexId(), device: this.o.device, at: new Date().toISOString() };
    await withRetry(() => writeHead(this.store, head), this.o.retry);
    this.state = { ...this.state, headSeq: seq, changeSeq, headRun: this.o.runId, ...(changeRun ? { changeRun } : {}) };
    await this.o.index.batch([this.o.index.targetStateOp(this.o.job, this.id, this.state)]);
  }

  /** Writes the run record to the target (`running` before the first change, final at the end). */
  async writeRunRecord(run: unknown): Promise<void> {
    if (this.o.dryRun) return;
    await withRetry(() => this.store.putText(runRecordKey(this.o.runId), JSON.stringify(run, null, 2)), this.o.retry);
  }

  /** The run as it starts; written to the target before its first change, so a run that changes nothing writes only its final record. */
  startRecord?: unknown;
  private begun?: Promise<void>;
  /** `begun` has resolved: a put no longer awaits it (an await per file allocates). */
  private begunOk = false;
  /** The retry options with the run's signal, made once (a `{ ...retry, signal }` per file is V8's slow path). */
  private retryWithSignal?: { signal: AbortSignal | undefined; opts: RetryOptions };
  private begin(): Promise<void> {
    this.begun ??= this.writeHead('running').then(() => (this.startRecord ? this.writeRunRecord(this.startRecord) : undefined));
    return this.begun;
  }

  private retryFor(signal: AbortSignal | undefined): RetryOptions {
    if (this.retryWithSignal?.signal !== signal) {
      const opts = Object.assign({}, this.o.retry);
      opts.signal = signal;
      this.retryWithSignal = { signal, opts };
    }
    return this.retryWithSignal!.opts;
  }

  // ---- decisions ------------------------------------------------------------------------

  /** Why this target cannot hold the file at all, if it cannot. */
  limitReason(entry: FileEntry): { reason: Reason; message: string } | undefined {
    const caps = this.caps;
    const forbidden = (caps.forbiddenChars ?? '') + (this.o.forbiddenChars ?? '');
    const trailing = caps.forbiddenTrailingChars ?? '';
    // Names are checked one by one only when a rule could apply: most paths are short (a UTF-16
    // unit is at most 3 UTF-8 bytes), and this runs for every file.
    const rel = entry.rel;
    const short = rel.length <= (caps.maxNameLength ?? Infinity) && rel.length * 3 <= (caps.maxNameBytes ?? Infinity);
    for (const name of forbidden || trailing || !short ? rel.split('/') : []) {
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
    const fullLen = this.store.fullKey('').length + fileKey(entry.root.name, rel).length;
    const maxLen = Math.min(caps.maxKeyLength ?? Infinity, this.o.maxPathLength ?? Infinity);
    if (fullLen > maxLen) return { reason: 'path-too-long', message: `the path is ${fullLen} characters; ${this.id} holds at most ${maxLen}` };
    const maxSize = Math.min(caps.maxObjectSize ?? Infinity, this.o.maxFileSize ?? Infinity);
    if (entry.size > maxSize) return { reason: 'file-too-large', message: `${entry.size} bytes is more than the ${maxSize} bytes allowed` };
    return undefined;
  }

  // ---- operations -----------------------------------------------------------------------

  /**
   * Uploads a new or changed file. Returns its record — or, when the target defers durability, a
   * promise of it, kept once the window holding the file is flushed and recorded. Never throws for
   * per-file failures.
   */
  async upload(entry: FileEntry, held: HeldFile | undefined, signal?: AbortSignal): Promise<UploadOutcome> {
    const { root, rel } = entry;
    const path = fileKey(root.name, rel);
    if (this.fatal) return this.record(path, 'skipped', this.fatal.reason, entry.size, undefined, this.fatal.message);
    const limit = this.limitReason(entry);
    if (limit) return this.record(path, 'skipped', limit.reason, entry.size, undefined, limit.message);
    if (this.o.dryRun) return this.record(path, 'uploaded', undefined, entry.size);
    if (!this.begunOk) {
      try {
        await this.begin();
        this.begunOk = true;
      } catch (e) {
        return this.failure(path, e, entry.size);
      }
    }

    // Symlinks and folders are recorded in the index and the journal; nothing is stored on the target.
    if (entry.type === 'symlink' || entry.type === 'dir') {
      const ver: HeldVersion =
        entry.type === 'dir'
          ? withOwner({ v: this.o.runId, size: 0, mtimeMs: entry.mtimeMs, sha256: '', mode: permissionBits(entry), dir: true }, entry)
          : withOwner({ v: this.o.runId, size: 0, mtimeMs: entry.mtimeMs, sha256: '', link: entry.linkTarget ?? '' }, entry);
      try {
        // The version it replaces is kept or dropped as for a file — and a file's object leaves
        // the browsable tree (a symlink or a folder is stored in the journal only).
        const h: HeldFile = held ? { ...held, old: [...held.old] } : { old: [] };
        // The put comes first in the journal, then what it drops (as for a file): a drop names a
        // version with one after it, so the runs it no longer restores are known (notePruned).
        const lines: ChangeLine[] = [
          ver.dir ? withOwner({ op: 'put', p: path, v: ver.v, size: 0, mtimeMs: ver.mtimeMs, sha256: '', mode: ver.mode, dir: true }, entry) : withOwner({ op: 'put', p: path, v: ver.v, size: 0, mtimeMs: ver.mtimeMs, sha256: '', link: ver.link }, entry),
        ];
        if (h.cur) {
          const prev = h.cur;
          const kept = this.o.generations > 0 && !prev.damaged ? (storesObject(prev) ? await this.moveKeeping(path, this.store.versionKey(root.name, rel, prev.v)) : 'moved') : undefined;
          if (kept === 'kept') await this.clearPath(path);
          if (kept === 'moved' || kept === 'kept') h.old.unshift(prev);
          else if (kept === 'lost') {
            lines.push({ op: 'drop', p: path, v: prev.v });
            notePruned(h, prev, ver.v);
          } else {
            if (storesObject(prev)) await withRetry(() => this.store.remove(path), this.o.retry);
            lines.push({ op: 'drop', p: path, v: prev.v });
            notePruned(h, prev, ver.v);
          }
          h.cur = ver;
          await this.retain(root.name, rel, h, lines);
        }
        await this.commit(entry, { cur: ver, old: h.old, pruned: h.pruned }, lines);
      } catch (e) {
        return this.failure(path, e, 0);
      }
      return this.record(path, 'uploaded', undefined, 0);
    }

    let h: HeldFile = held ? { ...held, old: [...held.old] } : { old: [] };
    let moved: HeldVersion | undefined;
    try {
      if (!h.cur && this.o.adoptOrphans && this.deferring) {
        const adopted = await this.adopt(entry, path, h);
        if (adopted) return adopted;
      }
      // (1) Keep the version being replaced as a generation (server-side move, no download) —
      // unless its stored copy is damaged (verify): the new content goes over it. The index keeps
      // it as current until the put is recorded, as the journal does: an index that recorded the
      // move alone would, after a crash, no longer see the file as held — and never journal its
      // deletion. A run after a crash finds the move done (moveKeeping) and goes on.
      let replaced = h.cur && !h.cur.damaged && this.o.generations > 0 ? h.cur : undefined;
      // In a window, the move is made durable by the window's flush, with the put that follows it.
      if (replaced && storesObject(replaced) && (await this.moveKeeping(path, this.store.versionKey(root.name, rel, replaced.v), this.deferring)) === 'lost') {
        // Its copy was gone: dropped after the put, as a damaged copy is (below).
        h = { ...h, cur: { ...replaced, damaged: 'not-found' } };
        replaced = undefined;
      }
      if (replaced) {
        if (storesObject(replaced)) {
          crashPoint('after-move');
          moved = replaced;
        }
        h = { old: [replaced, ...h.old], pruned: h.pruned };
      }
      // (2) Retention, before the new content: what it drops leaves the index at once, with its
      // journal lines (the file's current version there is still the replaced one).
      const dropped: ChangeLine[] = [];
      if (h.old.length > this.o.generations) await this.retain(root.name, rel, h, dropped);
      if (dropped.length) {
        const asJournal: HeldFile = replaced ? { ...h, cur: replaced, old: h.old.slice(1) } : h;
        await this.commitOps([this.o.index.heldOp(this.o.job, this.id, root.name, rel, asJournal)], dropped);
      }
      // (3) The new content, hashed as it is read.
      const source = new LocalFileSource(entry);
      let sent = 0;
      let resumed: boolean | undefined;
      await withRetry(
        () =>
          this.store.put(
            path,
            source,
            { size: entry.size, mtimeMs: entry.mtimeMs, mode: permissionBits(entry) },
            {
              signal,
              deferSync: this.deferring,
              resume: this.caps.resumableUploads ? this.o.index.resumeStore(this.id, this.store.fullKey(path)) : undefined,
              onProgress: (n) => {
                this.o.onBytes?.(n - sent);
                sent = n;
              },
              // The first answer counts: a retry of the same put finds the state its first attempt left.
              onResume: (r) => (resumed ??= r),
            },
          ),
        this.retryFor(signal),
      );
      crashPoint('after-put');
      const sha256 = source.sha256 ?? (await hashFile(entry.abs));
      const lines: ChangeLine[] = [];
      // A damaged copy sent again with the content it was recorded with is the same version healed:
      // it keeps its run id, so restores as of the runs since still find it (journal: drop, then put).
      const healed = h.cur?.damaged !== undefined && h.cur.sha256 === sha256 && h.cur.size === entry.size;
      const ver = withOwner<HeldVersion>({ v: healed ? h.cur!.v : this.o.runId, size: entry.size, mtimeMs: entry.mtimeMs, sha256, mode: permissionBits(entry) }, entry);
      if (healed) lines.push({ op: 'drop', p: path, v: ver.v });
      lines.push(withOwner<ChangeLine>({ op: 'put', p: path, v: ver.v, size: ver.size, mtimeMs: ver.mtimeMs, sha256, mode: ver.mode }, entry));
      const next: HeldFile = { cur: ver, old: h.old, pruned: h.pruned };
      if (!healed && h.cur && (this.o.generations === 0 || h.cur.damaged)) {
        // Overwritten: mirror, or a damaged copy of other content.
        lines.push({ op: 'drop', p: path, v: h.cur.v });
        notePruned(next, h.cur, ver.v);
      }
      moved = undefined;
      const record = this.record(path, 'uploaded', undefined, entry.size, sha256);
      if (resumed !== undefined) record.resumed = resumed;
      const ops = [this.heldOpFor(entry, next)];
      if (this.deferring) return await this.deferred({ path, ops, lines, size: entry.size, bytes: entry.size, record });
      await this.commitOps(ops, lines);
      this.result.bytes += entry.size;
      return record;
    } catch (e) {
      if (moved) await this.moveBack(root.name, rel, moved, h);
      return this.failure(path, e, entry.size);
    }
  }

  /**
   * After an interrupted run: the object at the file's key may be its content, put by that run
   * and never recorded (a window not yet flushed). Same size and same SHA-256 as the source: record
   * it (through the window, so it is flushed first) instead of sending it again.
   */
  private async adopt(entry: FileEntry, path: string, h: HeldFile): Promise<UploadOutcome | undefined> {
    let info;
    try {
      info = await this.store.stat(path);
    } catch (e) {
      if (TargetError.isNotFound(e)) return undefined;
      throw e;
    }
    if (info.size !== entry.size) return undefined;
    const [theirs, ours] = await Promise.all([this.store.get(path, undefined, hashStream), hashFile(entry.abs)]);
    if (theirs.sha256 !== ours) return undefined;
    const ver: HeldVersion = withOwner({ v: this.o.runId, size: entry.size, mtimeMs: entry.mtimeMs, sha256: ours, mode: permissionBits(entry) }, entry);
    const lines: ChangeLine[] = [withOwner({ op: 'put', p: path, v: ver.v, size: ver.size, mtimeMs: ver.mtimeMs, sha256: ours, mode: ver.mode }, entry)];
    const ops = [this.heldOpFor(entry, { cur: ver, old: h.old, pruned: h.pruned })];
    // Already there: `unchanged` (nothing was sent), recorded like an upload.
    const record = this.record(path, 'unchanged', undefined, entry.size, ours);
    if (this.deferring) return this.deferred({ path, ops, lines, size: entry.size, bytes: 0, record });
    await this.commitOps(ops, lines);
    return record;
  }

  /** A put in the window: its record to come, once there is room for more. */
  private async deferred(c: Omit<PendingCommit, 'resolve'>): Promise<UploadOutcome> {
    const { pending, room } = this.defer(c);
    if (room) await room;
    return { pending };
  }

  private heldOpFor(entry: FileEntry, next: HeldFile): IndexOp {
    // Spelled out, not `{ ...next, ino, ctimeMs }`: V8 (Node 20) takes a spread followed by
    // properties the source lacks through its slow path, ~2-3 µs a call — once per file put.
    return this.o.index.heldOp(this.o.job, this.id, entry.root.name, entry.rel, { cur: next.cur, old: next.old, pruned: next.pruned, ino: entry.ino, ctimeMs: entry.ctimeMs });
  }

  // ---- windows of deferred durability ---------------------------------------------------

  /**
   * Adds a put to the current window and returns the promise of its record. A window that is full
   * (files, bytes or age) is flushed at once; when the disk falls behind and the next window
   * grows to twice the size, the put waits (through `room`) — memory stays bounded.
   */
  private defer(c: Omit<PendingCommit, 'resolve'>): { pending: Promise<FileRecord>; room?: Promise<void> } {
    const entry = c as PendingCommit;
    const pending = new Promise<FileRecord>((r) => (entry.resolve = r));
    if (!this.window.length) this.windowStart = Date.now();
    this.window.push(entry);
    this.windowBytes += c.size;
    const w = this.o.window ?? DURABILITY_WINDOW;
    if (this.window.length >= w.files || this.windowBytes >= w.bytes || Date.now() - this.windowStart >= w.ms) {
      if (!this.flushQueued) {
        this.flushQueued = true;
        void this.settle();
      }
      if (this.window.length >= 2 * w.files || this.windowBytes >= 2 * w.bytes) return { pending, room: this.windowChain };
    }
    return { pending };
  }

  /**
   * Closes the current window: one flush of the target, then one index batch for its files and
   * their journal lines. A failed flush fails its files (they are sent again next run). Resolves
   * when every window so far is settled; never rejects.
   */
  settle(): Promise<void> {
    const run = async () => {
      this.flushQueued = false;
      const batch = this.window;
      this.window = [];
      this.windowBytes = 0;
      if (!batch.length) return;
      try {
        await withRetry(() => this.o.target.flush!(), this.o.retry);
        crashPoint('after-flush');
        await this.commitOps(batch.flatMap((c) => c.ops), batch.flatMap((c) => c.lines));
      } catch (e) {
        for (const c of batch) c.resolve(this.failure(c.path, e, c.size));
        return;
      }
      for (const c of batch) {
        this.result.bytes += c.bytes;
        c.resolve(c.record);
      }
    };
    this.windowChain = this.windowChain.then(run, run);
    return this.windowChain;
  }

  /**
   * A file whose content is the same as held but whose permission bits or owner changed: recorded
   * (journal `meta`), nothing sent. Counted as uploaded with 0 bytes — a change of the file, kept.
   */
  async recordMode(entry: FileEntry, held: HeldFile): Promise<FileRecord> {
    const path = fileKey(entry.root.name, entry.rel);
    if (this.fatal) return this.record(path, 'skipped', this.fatal.reason, entry.size, undefined, this.fatal.message);
    if (this.o.dryRun) return this.record(path, 'uploaded', undefined, 0);
    try {
      await this.begin();
      const mode = permissionBits(entry);
      if (mode !== undefined && this.store.target.setMode) await withRetry(() => this.store.target.setMode!(this.store.fullKey(path), mode), this.o.retry);
      await this.commitOps([this.heldOpFor(entry, { ...held, cur: withOwner({ ...held.cur!, mode }, entry) })], [withOwner({ op: 'meta', p: path, v: held.cur!.v, mode }, entry)]);
      return this.record(path, 'uploaded', undefined, 0, held.cur!.sha256, 'permissions or owner changed; content unchanged, not sent again');
    } catch (e) {
      return this.failure(path, e, 0);
    }
  }

  /**
   * A folder held as the same version whose permission bits or mtime changed (a file added or
   * removed in it moves its mtime): recorded on that version in place (journal `meta`), as
   * permissions of files are. Returns a record only when it failed — or, where the target has
   * windows, the promise of one: the record goes with the window's index batch (a run that adds
   * files to 200 folders made 200 batches of one folder each), and a crash before it leaves the
   * folder as the index had it (the next run records it again).
   */
  async recordFolder(entry: FileEntry, held: HeldFile): Promise<FileRecord | { pending: Promise<FileRecord> } | undefined> {
    if (this.fatal || this.o.dryRun) return undefined;
    const path = fileKey(entry.root.name, entry.rel);
    try {
      await this.begin();
      const mode = permissionBits(entry);
      const ops = [this.heldOpFor(entry, { ...held, cur: withOwner({ ...held.cur!, mode, mtimeMs: entry.mtimeMs }, entry) })];
      const lines: ChangeLine[] = [withOwner({ op: 'meta', p: path, v: held.cur!.v, mode, mtimeMs: entry.mtimeMs }, entry)];
      if (this.deferring) return await this.deferred({ path, ops, lines, size: 0, bytes: 0, record: this.record(path, 'uploaded', undefined, 0) });
      await this.commitOps(ops, lines);
      return undefined;
    } catch (e) {
      return this.failure(path, e, 0);
    }
  }

  /**
   * The spot check of one held file: its stored copy is there and of the recorded size (undefined),
   * or why not (`not-found`; `hash-mismatch` for another size). A target that does not answer: undefined (next run).
   */
  async spotCheck(root: string, rel: string, held: HeldFile): Promise<Reason | undefined> {
    const cur = held.cur!;
    try {
      const info = await withRetry(() => this.store.stat(fileKey(root, rel)), this.o.retry);
      return info.size === cur.size ? undefined : 'hash-mismatch'; // another size: not the recorded content
    } catch (e) {
      if (TargetError.isNotFound(e)) return 'not-found';
      this.o.logger.debug({ err: describeError(e), path: fileKey(root, rel) }, 'spot check: no answer');
      return undefined;
    }
  }

  /** A file whose content is the same as held: refresh what change detection uses. */
  refreshOp(entry: FileEntry, held: HeldFile): IndexOp {
    return this.heldOpFor(entry, held);
  }

  /** A file gone from the source: keep it as a generation (or drop it in mirror mode). */
  remove(root: string, rel: string, held: HeldFile): Promise<FileRecord> {
    return this.removing(root, rel, held, false) as Promise<FileRecord>;
  }

  /**
   * As `remove`, through the window where the target has one: the move into the versions area is
   * made durable by the window's flush, and the deletion recorded after it (`{ pending }`), as a
   * put is — no folder fsyncs and no index batch per file. For the deletions a run applies after
   * its walk; a file in the way of another (a folder became a file) goes at once (`remove`).
   */
  removeInWindow(root: string, rel: string, held: HeldFile): Promise<UploadOutcome> {
    return this.removing(root, rel, held, this.deferring);
  }

  private async removing(root: string, rel: string, held: HeldFile, inWindow: boolean): Promise<UploadOutcome> {
    const path = fileKey(root, rel);
    if (this.fatal) return this.record(path, 'skipped', this.fatal.reason, held.cur?.size, undefined, this.fatal.message);
    if (!held.cur) return this.record(path, 'deleted');
    if (this.o.dryRun) return this.record(path, 'deleted', undefined, held.cur.size);
    const cur = held.cur;
    try {
      await this.begin();
      const lines: ChangeLine[] = [{ op: 'del', p: path, v: cur.v, at: this.o.runId }];
      let next: HeldFile;
      if (!storesObject(cur)) {
        next = { old: this.o.generations > 0 ? [{ ...cur, del: this.o.runId }, ...held.old] : held.old, pruned: held.pruned };
      } else if (this.o.generations > 0) {
        const kept = await this.moveKeeping(path, this.store.versionKey(root, rel, cur.v), inWindow);
        if (kept === 'kept') await this.clearPath(path);
        crashPoint('after-delete');
        next = kept === 'lost' ? { old: held.old, pruned: held.pruned } : { old: [{ ...cur, del: this.o.runId }, ...held.old], pruned: held.pruned };
        if (kept === 'lost') {
          lines.push({ op: 'drop', p: path, v: cur.v });
          notePruned(next, { ...cur, del: this.o.runId }, undefined);
        }
      } else {
        await withRetry(() => this.store.remove(path), this.o.retry);
        next = { old: held.old, pruned: held.pruned };
      }
      if (this.o.generations === 0) {
        lines.push({ op: 'drop', p: path, v: cur.v });
        notePruned(next, { ...cur, del: this.o.runId }, undefined);
      }
      // What retention drops is gone from the target at once: in a window it leaves the index at
      // once too, with its lines (as for a put) — the file is still current there until its
      // deletion is recorded with the window.
      const dropped: ChangeLine[] = [];
      await this.retain(root, rel, next, inWindow ? dropped : lines);
      if (dropped.length) {
        const old = next.old[0]?.del === this.o.runId && next.old[0].v === cur.v ? next.old.slice(1) : next.old;
        await this.commitOps([this.o.index.heldOp(this.o.job, this.id, root, rel, { cur, old, ...(next.pruned ? { pruned: next.pruned } : {}) })], dropped);
      }
      const ops = [this.o.index.heldOp(this.o.job, this.id, root, rel, next.cur || next.old.length || next.pruned?.length ? next : undefined)];
      const record = this.record(path, 'deleted', undefined, cur.size);
      if (inWindow) return await this.deferred({ path, ops, lines, size: 0, bytes: 0, record });
      await this.commitOps(ops, lines);
      return record;
    } catch (e) {
      return this.failure(path, e, cur.size);
    }
  }

  /**
   * A file deleted at the source past `keepDeletedDays` (backup.ts decides): every kept version
   * goes, each with its `drop` line, and the held record keeps only which runs it no longer restores.
   * False when nothing was dropped (a dry run, or the first drop failed and waits for the next run).
   */
  async expire(root: string, rel: string, held: HeldFile): Promise<boolean> {
    if (this.fatal || this.o.dryRun || held.cur || !held.old.length) return false;
    const path = fileKey(root, rel);
    try {
      await this.begin();
      const next: HeldFile = { old: [...held.old], ...(held.pruned ? { pruned: held.pruned } : {}) };
      const lines: ChangeLine[] = [];
      await this.retain(root, rel, next, lines, 0);
      if (!lines.length) return false;
      await this.commitOps([this.o.index.heldOp(this.o.job, this.id, root, rel, next.old.length || next.pruned?.length ? next : undefined)], lines);
      return true;
    } catch (e) {
      this.o.logger.warn({ err: describeError(e), path }, 'could not drop the versions of a file deleted long ago; the next run tries again');
      return false;
    }
  }

  /** Drops the oldest versions beyond `keep` (`generations`; deleted files count their last version). */
  private async retain(root: string, rel: string, h: HeldFile, lines: ChangeLine[], keep = this.o.generations): Promise<void> {
    while (h.old.length > keep) {
      const drop = h.old[h.old.length - 1]!;
      if (storesObject(drop)) {
        try {
          await withRetry(() => this.store.remove(this.store.versionKey(root, rel, drop.v)), this.o.retry);
        } catch (e) {
          // Keeping one version too many is harmless; the next run drops it.
          this.o.logger.warn({ err: describeError(e), path: `${root}/${rel}`, v: drop.v }, 'could not drop an old version');
          return;
        }
      }
      notePruned(h, drop, (h.old.length > 1 ? h.old[h.old.length - 2] : h.cur)?.v);
      h.old.pop();
      lines.push({ op: 'drop', p: fileKey(root, rel), v: drop.v });
    }
  }

  /**
   * Server-side move of a version into the versions area that tolerates a crash between an earlier
   * move and its index update — and never overwrites a version already there: that one is what the
   * journal names (an earlier run moved it and died before recording, or the index was rebuilt
   * without a damaged line), while the object at `from` is content nobody recorded, which the new
   * put replaces. One stat per changed file.
   */
  private async moveKeeping(from: string, to: string, deferSync = false): Promise<'moved' | 'kept' | 'lost'> {
    const kept = () => {
      // Also what a move that copies then deletes (S3) leaves when killed between the two.
      this.o.logger.warn({ from, to }, 'a version is already kept under this name: it stays, and the object at the file\'s path is replaced or removed');
      return 'kept' as const;
    };
    // A target that looks for `to` in the move itself is not asked first (moveIfAbsent).
    const ifAbsent = this.caps.moveIfAbsent === true;
    if (!ifAbsent && (await this.exists(to))) return kept();
    try {
      if ((await withRetry(() => this.store.move(from, to, { deferSync, ifAbsent }), this.o.retry)) === 'exists') return kept();
    } catch (e) {
      if (!TargetError.isNotFound(e)) throw e;
      // The object was already moved by a run that died before recording it: fine if it is there.
      if (!(await this.exists(to))) {
        // Gone behind hokan's back (removed on the disk, a damaged sector, a lifecycle rule): it is
        // not kept — the caller drops it, so no restore counts on a version that is not there.
        this.lost.push(from);
        return 'lost';
      }
    }
    return 'moved';
  }

  /**
   * After an interrupted run: objects in the browsable tree that no run recorded (put in a window
   * that was flushed but never recorded, of a file deleted at the source since, so never adopted)
   * are removed — they are no version of anything. Lists the job's roots once; only after a crash.
   */
  async sweepUnrecorded(roots: readonly string[]): Promise<number> {
    let removed = 0;
    for (const root of roots) {
      for await (const o of this.store.list(`${root}/`)) {
        const rel = o.key.slice(root.length + 1);
        if (!rel || (await this.o.index.getHeld(this.o.job, this.id, root, rel))?.cur) continue;
        await withRetry(() => this.store.remove(o.key), this.o.retry);
        this.o.logger.warn({ key: o.key }, 'removed an object no run recorded (left by the interrupted run)');
        removed++;
      }
    }
    return removed;
  }

  /** Whether an object is on the target (not-found: false; any other error is thrown). */
  private async exists(key: string): Promise<boolean> {
    return this.store.stat(key).then(
      () => true,
      (e) => {
        if (TargetError.isNotFound(e)) return false;
        throw e;
      },
    );
  }

  /** After moveKeeping found the version already kept: the object left at the file's path goes (no new content replaces it). */
  private async clearPath(path: string): Promise<void> {
    await withRetry(() => this.store.remove(path), this.o.retry);
  }

  private async moveBack(root: string, rel: string, prev: HeldVersion, h: HeldFile): Promise<void> {
    try {
      await this.store.move(this.store.versionKey(root, rel, prev.v), fileKey(root, rel));
      await this.o.index.batch([this.o.index.heldOp(this.o.job, this.id, root, rel, { ...h, cur: prev, old: h.old.filter((x) => x !== prev) })]);
    } catch (e) {
      // The previous version stays safe under .hokan/versions; the index (and the journal) still name it
      // current, and a restore or the next run finds it there (moveKeeping, the restore's other place).
      this.o.logger.warn({ err: describeError(e), path: `${root}/${rel}` }, 'could not move the previous version back');
    }
  }

  private async commit(entry: FileEntry, next: HeldFile, lines: ChangeLine[]): Promise<void> {
    await this.commitOps([this.heldOpFor(entry, next)], lines);
  }

  // ---- journal --------------------------------------------------------------------------

  /**
   * Records held records and the journal lines that describe them in one index batch, then queues
   * the lines for the target. Until their part is on the target the lines stay in the index too, so
   * a run killed in between loses none: the next run writes them (recoverJournal).
   */
  private async commitOps(ops: IndexOp[], lines: ChangeLine[]): Promise<void> {
    if (!lines.length) return this.o.index.batch(ops);
    const sealed = lines.map((l) => sealLine(JSON.stringify(l)));
    // The lines of this batch (a whole window on a local disk) in one index entry with it.
    const op = this.o.index.journalOp(this.o.job, this.id, this.o.runId, ++this.journalSeq, sealed);
    await this.o.index.batch([...ops, op]);
    for (const line of sealed) this.journal.push(line);
    this.journalKeys.push(op.key);
    this.changes += lines.length;
    if (this.journal.length >= JOURNAL_PART_LINES) void this.flushJournal().catch(() => {});
  }

  private journalSeq = 0;
  private journalKeys: string[] = [];

  /**
   * Writes to the target the journal lines a killed run of this index left in it (its part never
   * reached the target), as a part of that run named `changes-r0001.jsonl` (after its numbered
   * parts; rewritten whole if this is interrupted too), then forgets them. Under the lease, before
   * the head is read. Returns whether there were any.
   */
  async recoverJournal(): Promise<boolean> {
    const byRun = new Map<string, { keys: string[]; lines: string[] }>();
    for await (const p of this.o.index.pendingJournal(this.o.job, this.id)) {
      if (p.runId === this.o.runId) continue;
      const r = byRun.get(p.runId) ?? { keys: [], lines: [] };
      r.keys.push(p.key);
      for (const line of p.lines) r.lines.push(line);
      byRun.set(p.runId, r);
    }
    for (const [runId, r] of byRun) {
      await withRetry(() => this.store.putText(`${RUNS_PREFIX}${runId}/changes-r0001.jsonl`, r.lines.join('\n') + '\n'), this.o.retry);
      await this.o.index.batch(r.keys.map((key) => ({ type: 'del' as const, key })));
      this.o.logger.warn({ run: runId, lines: r.lines.length }, `run ${runId} was killed before ${r.lines.length} line(s) of its journal reached the target: written now`);
    }
    return byRun.size > 0;
  }

  private flushing: Promise<void> = Promise.resolve();

  /** Writes the buffered change lines as the next part of the run's journal on the target. */
  flushJournal(): Promise<void> {
    const run = async () => {
      if (!this.journal.length || this.o.dryRun) return;
      const lines = this.journal;
      const keys = this.journalKeys;
      this.journal = [];
      this.journalKeys = [];
      const part = ++this.journalPart;
      crashPoint('before-journal');
      try {
        await withRetry(() => this.store.putText(changesKey(this.o.runId, part), lines.join('\n') + '\n'), this.o.retry);
      } catch (e) {
        this.journal.unshift(...lines);
        this.journalKeys.unshift(...keys);
        this.journalPart--;
        throw e;
      }
      await this.o.index.batch(keys.map((key) => ({ type: 'del' as const, key })));
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
    if (rec.resumed === true) this.result.resumedUploads = (this.result.resumedUploads ?? 0) + 1;
    if (rec.resumed === false) this.result.restartedUploads = (this.result.restartedUploads ?? 0) + 1;
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

/** The permission bits hokan keeps of a file (setuid, setgid, sticky and rwx for all three). */
export function permissionBits(entry: FileEntry): number {
  return entry.mode & 0o7777;
}

/**
 * `o` given the entry's owner and group, for a version or a journal line (nothing when the walk gave
 * none; they override `o`'s): set on the object, not spread into a literal — V8 builds such a
 * literal through a slower path, and this is on the per-file path.
 */
function withOwner<T extends object>(o: T, entry: FileEntry): T {
  if (entry.uid !== undefined) {
    const owned = o as { uid?: number; gid?: number };
    owned.uid = entry.uid;
    owned.gid = entry.gid;
  }
  return o;
}

/** Whether an entry's owner differs from a held version's (a version from before owners were kept: no). */
export function ownerChanged(entry: FileEntry, v: HeldVersion): boolean {
  return v.uid !== undefined && entry.uid !== undefined && (v.uid !== entry.uid || v.gid !== entry.gid);
}
