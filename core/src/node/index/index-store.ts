import { writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HokanError } from '../../common/errors.js';
import type { FileRecord, RunRecord } from '../../common/model.js';
import type { FileStatus, RunKind, RunStatus } from '../../common/statuses.js';
import type { ResumeStore } from '../../common/target.js';
import { FILE_CHUNK, FileRecordLog, decodeSummary, encodeSummary, isSummary, pathUnder, rangeMeets } from './file-chunks.js';
import { decodeFile, decodeHeld, encodeFile, encodeHeld } from './index-codec.js';

/**
 * The local index: a cache of what each target holds, the run history, per-file records and upload
 * progress, in one LevelDB. Everything here can be rebuilt from the targets (engine/rebuild.ts).
 *
 * Only this module talks to `level`. The daemon will own the database and serve the commands over
 * its socket through this same interface, so keep callers on these methods.
 *
 * Key spaces (strings; `\x00` separates parts, so LevelDB's byte order equals the scanner's order):
 *   h\0JOB\0TARGET\0ROOT\0a\0b\0c  → HeldFile      what TARGET holds for ROOT/a/b/c
 *   t\0JOB\0TARGET                 → TargetState   fingerprint, snapshot bookkeeping
 *   r\0RUNID                       → RunRecord
 *   o\0RUNID                       → ''            the run is not finished (running, waiting)
 *   m\0NAME                        → index facts   `open-runs`: every unfinished run has its `o` key
 *   u\0TARGET\0KEY                 → resume state of an interrupted upload
 *   ~\0~RUNID\0~SEQ                → FileRecord    newest first: ~RUNID and ~SEQ order-reversed
 *   f\0RUNID\0SEQ(10 digits)       → FileRecord    as written before; still read
 *
 * Why the per-file records sit at the top of the key space, newest first: a run writes two streams
 * of keys at once, its held records in the scanner's order (rising) and its file records. LevelDB
 * compacts a table into the next level together with every table there its key range overlaps.
 * Were the file records below the held ones and rising (the old layout), each new table would
 * span from them up to the new held records, over all the held records written before: every
 * compaction re-read and rewrote the whole held index (quadratic in the tree's size, and through
 * mmap — at 300,000 files a 30 MB compaction was the first backup's peak memory). Above and
 * falling, older records of both streams lie outside each new table's range.
 *
 * Values are UTF-8 JSON; `h` and `f` values (one each per file) in the compact form of
 * index-codec.ts, the others as objects.
 */

export type { HeldFile, HeldVersion } from './held-types.js';
import type { HeldFile } from './held-types.js';

export interface TargetState {
  /** What the target is (type + location); a change means the held state belongs to another place. */
  fingerprint: string;
  /** Id of the last run whose full manifest was written to the target. */
  lastSnapshot?: string;
  runsSinceSnapshot: number;
  /** Changes written since the last snapshot (compaction when they outgrow the tree). */
  changesSinceSnapshot: number;
  /**
   * The sequence number of the job's head on the target (`.hokan/head.json`) as this index last
   * wrote or read it. Another number there means someone else wrote since: the index catches up
   * before acting. Absent in indexes from before heads.
   */
  headSeq?: number;
  /** The head's `changeSeq` as this index last saw it. */
  changeSeq?: number;
  /** The head's `run` and `changeRun` as this index last saw them: a wiped place numbers its heads from 1 again. Absent in indexes from before them. */
  headRun?: string;
  changeRun?: string;
  /** The place's instance (its marker's) this held state belongs to (issue 24). */
  instance?: string;
}

export interface RunQuery {
  job?: string;
  kind?: RunKind;
  status?: RunStatus;
  offset?: number;
  limit?: number;
  /**
   * Count every matching run (default). With false the reading stops at the page — what a run
   * needs to look at the last few — and `total` counts only what was read.
   */
  total?: boolean;
}

/** One write of a batch, made by this store's `…Op` methods (the value is already encoded). */
export type IndexOp =
  | { type: 'put'; key: string; value: string }
  | { type: 'del'; key: string };

const SEP = '\x00';
/** Upper bound for a prefix that ends with SEP: every key starting with the prefix sorts below it. */
const upper = (prefix: string) => prefix.slice(0, -1) + '\x01';

export const keys = {
  heldPrefix: (job: string, target: string, root?: string) =>
    root === undefined ? `h${SEP}${job}${SEP}${target}${SEP}` : `h${SEP}${job}${SEP}${target}${SEP}${root}${SEP}`,
  held: (job: string, target: string, root: string, rel: string) =>
    `h${SEP}${job}${SEP}${target}${SEP}${root}${SEP}${rel.replaceAll('/', SEP)}`,
  targetState: (job: string, target: string) => `t${SEP}${job}${SEP}${target}`,
  run: (id: string) => `r${SEP}${id}`,
  openRun: (id: string) => `o${SEP}${id}`,
  meta: (name: string) => `m${SEP}${name}`,
  journal: (job: string, target: string, runId: string, seq: number) => `j${SEP}${job}${SEP}${target}${SEP}${runId}${SEP}${String(seq).padStart(10, '0')}`,
  journalPrefix: (job: string, target: string) => `j${SEP}${job}${SEP}${target}${SEP}`,
  file: (runId: string, seq: number) => `${filePrefix(runId)}${String(MAX_SEQ - seq).padStart(10, '0')}`,
  /** Just below the chunk's last record: in the records' falling order, it is written after them. */
  fileChunk: (runId: string, chunk: number) => `${keys.file(runId, (chunk + 1) * FILE_CHUNK)}${SEP}#`,
  resume: (target: string, key: string) => `u${SEP}${target}${SEP}${key}`,
};

const MAX_SEQ = 9_999_999_999;

/** What to do with a damaged index: it is a cache of the targets. */
/** Beside the index: a command that found it damaged leaves this, and the next open repairs it. */
const DAMAGED_FLAG = 'index.damaged';

export interface IndexOpenOptions {
  /** Where the line saying the index was repaired goes. */
  logger?: { warn(obj: object, msg: string): void };
  /** Move a damaged index aside and make a new one (default), or throw E_INDEX_DAMAGED. */
  repair?: boolean;
}

function cannotWrite(dataDir: string, e: unknown): HokanError {
  return new HokanError('E_DATA_DIR_READONLY', `the data folder ${dataDir} cannot be written (${String((e as Error).message ?? e).split('\n')[0]})`, {
    cause: e,
    hint: 'hokan keeps its index and logs there: give a folder you can write with --data-dir (or $HOKAN_DATA_DIR), or fix its permissions',
  });
}

const REBUILD_HINT = (dir: string) => `move it away (\`mv "${dir}" "${dir}.damaged"\`) and run the command again: hokan rebuilds it from what the targets hold`;

/** LevelDB found damage (a bad block, a checksum): said as such, with the way out. Other errors pass. */
function damaged(e: unknown, dir: string): unknown {
  const code = (e as { code?: string })?.code ?? (e as { cause?: { code?: string } })?.cause?.code;
  if (code !== 'LEVEL_CORRUPTION') return e;
  return new HokanError('E_INDEX_DAMAGED', `the index at ${dir} is damaged (${(e as Error).message}); the next command moves it aside and rebuilds it from what the targets hold`, { cause: e, hint: 'run the command again' });
}
/** Reverses the byte order of printable ASCII (a run id): later runs sort first. */
const reversed = (s: string) => {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += String.fromCharCode(c >= 0x20 && c <= 0x7e ? 0x9e - c : c);
  }
  return out;
};
let lastRun = { id: '', prefix: '' };
/** The key prefix of a run's file records (one run at a time: remembered). */
function filePrefix(runId: string): string {
  if (lastRun.id !== runId) lastRun = { id: runId, prefix: `~${SEP}${reversed(runId)}${SEP}` };
  return lastRun.prefix;
}

/** An iterator's entries `size` at a time (one native call a batch, not one an entry); closes it. */
async function* inBatches<T>(it: { nextv(n: number): Promise<T[]>; close(): Promise<void> }, size: number, fail: (e: unknown) => unknown, count?: { entriesRead: number }): AsyncGenerator<T[]> {
  try {
    for (;;) {
      let batch: T[];
      try {
        batch = await it.nextv(size);
      } catch (e) {
        throw fail(e);
      }
      if (!batch.length) return;
      if (count) count.entriesRead += batch.length;
      yield batch;
    }
  } finally {
    await it.close();
  }
}

/** A batch of a run's record values without its chunk summaries (at most one or two a batch). */
function withoutSummaries(batch: string[]): string[] {
  return batch.some(isSummary) ? batch.filter((v) => !isSummary(v)) : batch;
}

/** `a\0b\0c` → `a/b/c`. */
export const relFromKey = (keyTail: string) => keyTail.replaceAll(SEP, '/');

type LevelDb = import('level').Level<string, string>;

/**
 * How LevelDB holds the index, chosen so memory does not grow with the job. LevelDB maps every
 * table file it has open (up to 1,000 of them) into memory, and a run that reads the whole index
 * touches every page: at 1,000,000 files (~170 MB of 2 MB tables) ~105 MiB of the process's
 * resident size. The fewest open tables LevelDB 1.20 allows (it clips `maxOpenFiles` to at least
 * 74, ten of them for its own files: 64 tables) of the smallest size it allows (`maxFileSize`, at
 * least 1 MiB) bound what is mapped at once to ~64 MiB at any size of index; a table read again is
 * opened again (one open and one mmap). Tables written before this keep their size until compacted.
 */
export const LEVEL_OPTIONS = { maxOpenFiles: 74, maxFileSize: 1024 * 1024 } as const;

export class IndexStore {
  private constructor(
    private readonly db: LevelDb,
    readonly dir: string,
    /** The data folder the index lives in. */
    readonly dataDir: string,
  ) {}

  /**
   * Entries read so far (keys got, and every entry an iterator gave): what a command costs in
   * index reads, for the tests that prove a command on one folder reads only that folder's range.
   */
  entriesRead = 0;

  /** Set when open found the index damaged and made a new one (what was wrong, where the old one went). */
  repaired?: { problem: string; movedTo: string };

  /** Marks the index damaged (a read or write found corruption): the next open repairs it. */
  private flagDamaged(e: unknown): unknown {
    const err = damaged(e, this.dir);
    if (err !== e) writeFileSync(join(this.dataDir, DAMAGED_FLAG), String((e as Error).message ?? e) + '\n');
    return err;
  }

  /**
   * Opens the index under `dataDir/index`, creating it only where there is none. LevelDB allows one
   * process: a second gets a clear error. An index that cannot prove it is whole — files without
   * their `CURRENT`, tables LevelDB reports missing or corrupt, or one a command found damaged
   * (`index.damaged` beside it) — is never opened as if it were new and partial: it is moved aside
   * and a new one made, which the engine rebuilds from what the targets hold (the index is a cache
   * of them). `repair: false` throws E_INDEX_DAMAGED instead.
   */
  static async open(dataDir: string, opts: IndexOpenOptions = {}): Promise<IndexStore> {
    const dir = join(dataDir, 'index');
    const flag = join(dataDir, DAMAGED_FLAG);
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw cannotWrite(dataDir, e);
    }
    const existing = await readdir(dir);
    const flagged = await readFile(flag, 'utf8').catch(() => undefined);
    let problem = flagged !== undefined ? `a command found it damaged: ${flagged.trim()}` : existing.length && !existing.includes('CURRENT') ? 'its CURRENT file is missing' : undefined;
    if (!problem) {
      const { Level } = await import('level');
      const db = new Level<string, string>(dir, { ...LEVEL_OPTIONS, valueEncoding: 'utf8', createIfMissing: existing.length === 0 });
      try {
        await db.open();
        return new IndexStore(db, dir, dataDir);
      } catch (e) {
        const why = String((e as Error & { cause?: Error }).cause?.message ?? (e as Error).message);
        if (/permission denied|read-only file system|EACCES|EROFS/i.test(why)) throw cannotWrite(dataDir, e);
        if (/lock/i.test(why)) {
          throw new HokanError('E_INDEX_LOCKED', `the index at ${dir} is in use by another hokan process`, {
            cause: e,
            hint: 'wait for the running backup to finish (or stop `agent run`), then try again',
          });
        }
        problem = why;
      }
    }
    if (opts.repair === false) throw new HokanError('E_INDEX_DAMAGED', `the index at ${dir} is damaged (${problem})`, { hint: REBUILD_HINT(dir) });
    // A name of its own, even for two repairs in one second (the engine suite makes them).
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
    let aside = `${dir}.damaged-${stamp}`;
    for (let n = 2; await stat(aside).then(() => true, () => false); n++) aside = `${dir}.damaged-${stamp}-${n}`;
    await rename(dir, aside);
    await rm(flag, { force: true });
    opts.logger?.warn({ index: dir, movedTo: aside, problem }, `the index at ${dir} was damaged (${problem}); it was moved to ${aside}, and a new one is rebuilt from what the targets hold`);
    const { Level } = await import('level');
    const db = new Level<string, string>(dir, { ...LEVEL_OPTIONS, valueEncoding: 'utf8' });
    await db.open();
    const store = new IndexStore(db, dir, dataDir);
    store.repaired = { problem, movedTo: aside };
    return store;
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Batches waiting for the one being written (group commit). */
  private queued?: { ops: IndexOp[]; waiters: { resolve: () => void; reject: (e: unknown) => void }[] };
  private writing = false;

  /**
   * Applies every op or none (LevelDB batch), resolved once written. Batches that arrive while one
   * is being written go out together as the next one (group commit): many uploads finishing at once
   * cost one write instead of one each, and each caller's ops still land all together or not at all.
   */
  batch(ops: IndexOp[]): Promise<void> {
    if (!ops.length) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const q = (this.queued ??= { ops: [], waiters: [] });
      for (const op of ops) q.ops.push(op);
      q.waiters.push({ resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    while (this.queued) {
      const q = this.queued;
      this.queued = undefined;
      try {
        // A chained batch, not `db.batch(array)`: the array form copies every operation in JS and
        // reads each one's properties through N-API (~4.5 µs an operation on the main thread, two
        // or three per file put); put/del calls cost about half. One atomic write all the same.
        const b = this.db.batch();
        try {
          for (const op of q.ops) {
            if (op.type === 'put') b.put(op.key, op.value);
            else b.del(op.key);
          }
        } catch (e) {
          await b.close();
          throw e;
        }
        await b.write();
        for (const w of q.waiters) w.resolve();
      } catch (e) {
        for (const w of q.waiters) w.reject(this.flagDamaged(e));
      }
    }
    this.writing = false;
  }

  private async get(key: string): Promise<string | undefined> {
    this.entriesRead++;
    try {
      return await this.db.get(key);
    } catch (e) {
      throw this.flagDamaged(e);
    }
  }

  private async getValue<T>(key: string): Promise<T | undefined> {
    const s = await this.get(key);
    return s === undefined ? undefined : (JSON.parse(s) as T);
  }

  // ---- held state -------------------------------------------------------------------------

  async getHeld(job: string, target: string, root: string, rel: string): Promise<HeldFile | undefined> {
    const s = await this.get(keys.held(job, target, root, rel));
    return s === undefined ? undefined : decodeHeld(s);
  }

  heldOp(job: string, target: string, root: string, rel: string, held: HeldFile | undefined): IndexOp {
    const key = keys.held(job, target, root, rel);
    return held ? { type: 'put', key, value: encodeHeld(held) } : { type: 'del', key };
  }

  /**
   * Every path held for one root, in the scanner's order, in arrays of up to `size`, with the key's
   * tail as stored (`a\0b\0c`: compare it with `compareRel`, decode it with `relFromKey` only when
   * needed). The no-change run reads the whole index this way, so it avoids a promise per entry.
   */
  async *heldBatches(job: string, target: string, root: string, size = 1000): AsyncGenerator<[tail: string, held: HeldFile][]> {
    const prefix = keys.heldPrefix(job, target, root);
    const it = this.db.iterator({ gt: prefix, lt: upper(prefix) });
    // One read ahead: LevelDB fetches the next batch on the thread pool while the caller (the scan)
    // works through this one.
    let ahead: Promise<[string, string][]> | undefined = it.nextv(size);
    try {
      for (;;) {
        const entries = await ahead.catch((e: unknown) => {
          throw this.flagDamaged(e);
        });
        ahead = undefined;
        if (!entries.length) return;
        this.entriesRead += entries.length;
        ahead = it.nextv(size);
        const out = entries as unknown as [string, HeldFile][]; // decoded in place
        for (const e of out) {
          e[0] = e[0].slice(prefix.length);
          e[1] = decodeHeld(e[1] as unknown as string);
        }
        yield out;
      }
    } finally {
      if (ahead) await ahead.catch(() => undefined);
      await it.close();
    }
  }

  /** Every path held by a target for a job, across roots: [root, rel, held]. */
  async *heldAll(job: string, target: string): AsyncGenerator<[root: string, rel: string, held: HeldFile]> {
    const prefix = keys.heldPrefix(job, target);
    for await (const batch of inBatches(this.db.iterator({ gt: prefix, lt: upper(prefix) }), 1000, (e) => this.flagDamaged(e), this)) {
      for (const [k, v] of batch) {
        const tail = k.slice(prefix.length);
        const i = tail.indexOf(SEP);
        yield [tail.slice(0, i), relFromKey(tail.slice(i + 1)), decodeHeld(v)];
      }
    }
  }

  /**
   * The paths held for one root under `rel` — the file `rel` itself and everything in the folder
   * `rel` (`''`: the whole root) — as [root, rel, held], read from that range of the index alone: a
   * restore of one folder does not walk the whole job's index.
   */
  async *heldUnder(job: string, target: string, root: string, rel: string): AsyncGenerator<[root: string, rel: string, held: HeldFile]> {
    const rootPrefix = keys.heldPrefix(job, target, root);
    if (rel !== '') {
      const own = await this.getHeld(job, target, root, rel);
      if (own) yield [root, rel, own];
    }
    const prefix = rel === '' ? rootPrefix : keys.held(job, target, root, rel) + SEP;
    for await (const batch of inBatches(this.db.iterator({ gt: prefix, lt: upper(prefix) }), 1000, (e) => this.flagDamaged(e), this)) {
      for (const [k, v] of batch) yield [root, relFromKey(k.slice(rootPrefix.length)), decodeHeld(v)];
    }
  }

  async clearHeld(job: string, target: string): Promise<void> {
    const prefix = keys.heldPrefix(job, target);
    await this.db.clear({ gt: prefix, lt: upper(prefix) });
    await this.db.del(keys.targetState(job, target));
  }

  /** Forgets a target place entirely (it was wiped or replaced): held state and journal lines not yet written there. */
  async forgetPlace(job: string, target: string): Promise<void> {
    await this.clearHeld(job, target);
    const pending: string[] = [];
    for await (const j of this.pendingJournal(job, target)) pending.push(j.key);
    if (pending.length) await this.batch(pending.map((key) => ({ type: 'del' as const, key })));
  }

  /**
   * Moves everything the index keeps for one place — held records, its state, journal lines not yet
   * on it — under another target id (what was there first is cleared). Rotated disks (issue 24):
   * each disk's state is parked under `TARGET@INSTANCE` while another disk of the rotation is in.
   */
  async movePlace(job: string, from: string, to: string): Promise<void> {
    await this.forgetPlace(job, to);
    const moves: [string, (k: string) => string][] = [
      [keys.heldPrefix(job, from), (k) => keys.heldPrefix(job, to) + k.slice(keys.heldPrefix(job, from).length)],
      [keys.journalPrefix(job, from), (k) => keys.journalPrefix(job, to) + k.slice(keys.journalPrefix(job, from).length)],
    ];
    for (const [prefix, rename] of moves) {
      for await (const batch of inBatches(this.db.iterator({ gt: prefix, lt: upper(prefix) }), 1000, (e) => this.flagDamaged(e), this)) {
        await this.batch((batch as [string, string][]).flatMap(([k, v]) => [{ type: 'put' as const, key: rename(k), value: v }, { type: 'del' as const, key: k }]));
      }
    }
    const state = await this.getTargetState(job, from);
    if (state) await this.batch([this.targetStateOp(job, to, state), { type: 'del', key: keys.targetState(job, from) }]);
  }

  /** The places parked for a target (rotated disks): instance → its state. */
  async parkedPlaces(job: string, target: string): Promise<Map<string, TargetState>> {
    const prefix = keys.targetState(job, `${target}@`);
    const out = new Map<string, TargetState>();
    for await (const batch of inBatches(this.db.iterator({ gt: prefix, lt: upper(prefix) }), 1000, (e) => this.flagDamaged(e), this)) {
      for (const [k, v] of batch as [string, string][]) out.set(k.slice(prefix.length), JSON.parse(v) as TargetState);
    }
    return out;
  }

  /**
   * This index's own id (made once, kept in the index): a target's head names the index that wrote
   * it, so a run can tell its own writes from another data folder's.
   */
  async indexId(): Promise<string> {
    const have = await this.get(keys.meta('index-id'));
    if (have) return have;
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    await this.batch([{ type: 'put', key: keys.meta('index-id'), value: id }]);
    return id;
  }

  /**
   * A small named JSON document of the core's own bookkeeping (`m\0NAME`), e.g. what the notifiers
   * last sent (node/notify). `undefined` removes it.
   */
  getMeta<T>(name: string): Promise<T | undefined> {
    return this.getValue<T>(keys.meta(name));
  }

  async putMeta(name: string, value: unknown): Promise<void> {
    await this.batch([value === undefined ? { type: 'del', key: keys.meta(name) } : { type: 'put', key: keys.meta(name), value: JSON.stringify(value) }]);
  }

  getTargetState(job: string, target: string): Promise<TargetState | undefined> {
    return this.getValue<TargetState>(keys.targetState(job, target));
  }

  targetStateOp(job: string, target: string, state: TargetState): IndexOp {
    return { type: 'put', key: keys.targetState(job, target), value: JSON.stringify(state) };
  }

  // ---- runs -------------------------------------------------------------------------------

  getRun(id: string): Promise<RunRecord | undefined> {
    return this.getValue<RunRecord>(keys.run(id));
  }

  /**
   * A run record, and its `o` key while it is unfinished: the next start finds the runs a dead
   * process left `running` from those keys instead of reading the whole history (10,000 runs — a
   * daemon's year — took ~200 ms to read at every command).
   */
  runOps(run: RunRecord): IndexOp[] {
    const open = run.status === 'running' || run.status === 'waiting';
    return [{ type: 'put', key: keys.run(run.id), value: JSON.stringify(run) }, open ? { type: 'put', key: keys.openRun(run.id), value: '' } : { type: 'del', key: keys.openRun(run.id) }];
  }

  async putRun(run: RunRecord): Promise<void> {
    await this.batch(this.runOps(run));
  }

  /** Takes back the record of a run that turned out to be bad usage before it did anything. */
  async dropRun(id: string): Promise<void> {
    await this.batch([{ type: 'del', key: keys.run(id) }, { type: 'del', key: keys.openRun(id) }]);
  }

  /** Runs newest first, filtered, paged. */
  async listRuns(q: RunQuery = {}): Promise<{ runs: RunRecord[]; total: number }> {
    const offset = q.offset ?? 0;
    const limit = q.limit ?? 100;
    const runs: RunRecord[] = [];
    let total = 0;
    const prefix = `r${SEP}`;
    scan: for await (const batch of inBatches(this.db.values({ gt: prefix, lt: upper(prefix), reverse: true }), 100, (e) => this.flagDamaged(e), this)) {
      for (const v of batch) {
        const r = JSON.parse(v) as RunRecord;
        if ((q.job && r.job !== q.job) || (q.kind && r.kind !== q.kind) || (q.status && r.status !== q.status)) continue;
        if (total >= offset && runs.length < limit) runs.push(r);
        total++;
        if (q.total === false && runs.length >= limit) break scan;
      }
    }
    return { runs, total };
  }

  /**
   * Runs left `running` by a process that died. Only one process can open the index, so any run
   * still `running` when we open it was interrupted.
   */
  async markInterrupted(now = new Date()): Promise<RunRecord[]> {
    const found: RunRecord[] = [];
    const interrupted = (r: RunRecord) => {
      if (r.status === 'running' || r.status === 'waiting') found.push({ ...r, status: 'interrupted', end: r.end ?? now.toISOString() });
    };
    const ops: IndexOp[] = [];
    if ((await this.get(keys.meta('open-runs'))) === undefined) {
      // An index from before the `o` keys (or a new one): read every run once.
      const prefix = `r${SEP}`;
      for await (const batch of inBatches(this.db.values({ gt: prefix, lt: upper(prefix) }), 1000, (e) => this.flagDamaged(e), this)) for (const v of batch) interrupted(JSON.parse(v) as RunRecord);
      ops.push({ type: 'put', key: keys.meta('open-runs'), value: '1' });
    } else {
      const prefix = `o${SEP}`;
      for await (const batch of inBatches(this.db.keys({ gt: prefix, lt: upper(prefix) }), 100, (e) => this.flagDamaged(e), this)) {
        for (const k of batch) {
          const r = await this.getRun(k.slice(prefix.length));
          if (r) interrupted(r);
          else ops.push({ type: 'del', key: k }); // a record that never landed
        }
      }
    }
    await this.batch([...ops, ...found.flatMap((r) => this.runOps(r))]);
    return found;
  }

  // ---- per-file records -------------------------------------------------------------------

  /**
   * Journal lines not yet on the target, written in the same batch as the held records they
   * describe: the index never knows a change its target's journal could lose in a crash. One entry
   * holds the lines of one batch (a whole durability window), joined by newlines as in the part
   * files — not one entry per line: a first backup wrote and later deleted two index entries per
   * file for them. Removed when the part holding them is on the target; a later run writes what a
   * killed one left. (Entries of one line each, written before, read the same.)
   */
  journalOp(job: string, target: string, runId: string, seq: number, lines: readonly string[]): IndexOp {
    return { type: 'put', key: keys.journal(job, target, runId, seq), value: lines.join('\n') };
  }

  /** Journal lines a run left in the index (killed before its part reached the target), in order: each entry's lines. */
  async *pendingJournal(job: string, target: string): AsyncGenerator<{ key: string; runId: string; lines: string[] }> {
    const prefix = keys.journalPrefix(job, target);
    for await (const batch of inBatches(this.db.iterator({ gt: prefix, lt: upper(prefix) }), 1000, (e) => this.flagDamaged(e), this)) {
      for (const [key, value] of batch as [string, string][]) yield { key, runId: key.slice(prefix.length).split(SEP)[0]!, lines: value.split('\n') };
    }
  }

  fileOp(runId: string, seq: number, rec: FileRecord): IndexOp {
    return { type: 'put', key: keys.file(runId, seq), value: encodeFile(rec) };
  }

  /**
   * Writes a run's per-file records: each record, and the path range of each chunk of them
   * (file-chunks.ts), so `show RUN --path` reads only the chunks that can hold the path.
   */
  fileLog(runId: string): FileRecordLog<IndexOp> {
    return new FileRecordLog<IndexOp>({
      recordOp: (seq, rec) => this.fileOp(runId, seq, rec),
      summaryOp: (chunk, lo, hi) => ({ type: 'put', key: keys.fileChunk(runId, chunk), value: encodeSummary(lo, hi) }),
    });
  }

  /** The ops that record a run's files (numbered from 1 in their order), with their chunk summaries. */
  fileOps(runId: string, files: readonly FileRecord[]): IndexOp[] {
    const log = this.fileLog(runId);
    const ops: IndexOp[] = [];
    for (let i = 0; i < files.length; i++) log.add(ops, i + 1, files[i]!);
    log.flush(ops);
    return ops;
  }

  /**
   * A page of a run's per-file records, in the order written. `under`: only the records of these
   * paths and what is under them (`ROOT/a/b`), read from the chunks that can hold them.
   */
  async listFiles(runId: string, q: { status?: FileStatus; offset?: number; limit?: number; under?: readonly string[] } = {}): Promise<{ files: FileRecord[]; total: number }> {
    const offset = q.offset ?? 0;
    const limit = q.limit ?? 100;
    const files: FileRecord[] = [];
    let total = 0;
    for await (const batch of this.fileValueBatches(runId, q.under)) {
      for (const v of batch) {
        // Without a status or path to match, only the page's records are decoded (the rest are counted).
        const f = q.status || q.under || (total >= offset && files.length < limit) ? decodeFile(v) : undefined;
        if (q.status && f!.status !== q.status) continue;
        if (q.under && !q.under.some((p) => pathUnder(f!.path, p))) continue;
        if (f && total >= offset && files.length < limit) files.push(f);
        total++;
      }
    }
    return { files, total };
  }

  /** Streams a run's per-file records in the order they were written (for CSV export); `under` as for listFiles. */
  async *files(runId: string, under?: readonly string[]): AsyncGenerator<FileRecord> {
    for await (const batch of this.fileValueBatches(runId, under)) {
      for (const v of batch) {
        const f = decodeFile(v);
        if (!under || under.some((p) => pathUnder(f.path, p))) yield f;
      }
    }
  }

  /**
   * A run's per-file records as stored, in the order written, a batch at a time (no promise per
   * record). With `under`, the chunks whose range cannot hold those paths are left unread (the
   * caller still matches each record's path).
   */
  private async *fileValueBatches(runId: string, under?: readonly string[]): AsyncGenerator<string[]> {
    const legacy = `f${SEP}${runId}${SEP}`; // a run recorded before the layout above
    const prefix = filePrefix(runId);
    const fail = (e: unknown) => this.flagDamaged(e);
    yield* inBatches(this.db.values({ gt: legacy, lt: upper(legacy) }), 1000, fail, this);
    if (!under) {
      for await (const batch of inBatches(this.db.values({ gt: prefix, lt: upper(prefix), reverse: true }), 1000, fail, this)) yield withoutSummaries(batch);
      return;
    }
    // The summaries, 64 chunks' at a time; a chunk without one (a run recorded before them) is
    // read whole; the first chunk with neither a summary nor a record is past the run's end.
    const AHEAD = 64;
    for (let first = 0; ; first += AHEAD) {
      const wanted = Array.from({ length: AHEAD }, (_, j) => keys.fileChunk(runId, first + j));
      this.entriesRead += AHEAD;
      const sums = await this.db.getMany(wanted).catch((e: unknown) => {
        throw fail(e);
      });
      for (let j = 0; j < AHEAD; j++) {
        const s = sums[j];
        if (s !== undefined) {
          const [lo, hi] = decodeSummary(s);
          if (!under.some((p) => rangeMeets(lo, hi, p))) continue;
        }
        const c = first + j;
        let any = false;
        const range = { gte: keys.file(runId, (c + 1) * FILE_CHUNK), lt: keys.file(runId, c * FILE_CHUNK), reverse: true };
        for await (const batch of inBatches(this.db.values(range), FILE_CHUNK + 1, fail, this)) {
          any = true;
          yield withoutSummaries(batch);
        }
        if (s === undefined && !any) return;
      }
    }
  }

  // ---- resumable uploads ------------------------------------------------------------------

  resumeStore(target: string, key: string): ResumeStore {
    const k = keys.resume(target, key);
    return {
      get: async <T>() => (await this.getValue<T>(k)) ?? undefined,
      set: async (state: unknown) => {
        await this.db.put(k, JSON.stringify(state));
      },
      clear: async () => {
        await this.db.del(k);
      },
    };
  }

  /** Target keys with an upload in progress (so cleanup does not abort one we mean to resume). */
  async resumingKeys(target: string): Promise<Set<string>> {
    const prefix = `u${SEP}${target}${SEP}`;
    const out = new Set<string>();
    for await (const batch of inBatches(this.db.keys({ gt: prefix, lt: upper(prefix) }), 1000, (e) => this.flagDamaged(e), this)) for (const k of batch) out.add(k.slice(prefix.length));
    return out;
  }
}
