import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from '../../common/logger.js';
import type { RunRecord } from '../../common/model.js';
import type { HeldFile, IndexOp, IndexStore, TargetState } from '../index/index-store.js';
import { LocalFileSource } from './file-source.js';
import { applyChange } from './held.js';
import type { JobStore } from './job-store.js';
import { RUNS_PREFIX, SNAPSHOTS_PREFIX, fileKey, runRecordKey, openLine, pathOfDamagedLine, sealLine, snapshotKey, splitPath, type ChangeLine } from './layout.js';

/** A line of a snapshot: everything held for one path. */
interface SnapshotLine extends HeldFile {
  p: string;
}

const BATCH = 1000;

/**
 * Rebuilds the index's view of a target from what the target holds: the newest snapshot, then
 * the change journals of the runs after it, and every run record for the history. Used on a new
 * machine, after the index was deleted, or when a target's settings changed.
 */
export async function rebuildFromTarget(index: IndexStore, store: JobStore, job: string, targetId: string, fingerprint: string, logger: Logger): Promise<TargetState> {
  const runs = new Map<string, { record: boolean; parts: string[] }>();
  const snapshots: string[] = [];
  for await (const o of store.list('.hokan/')) {
    if (o.key.startsWith(RUNS_PREFIX)) {
      const [id, name] = o.key.slice(RUNS_PREFIX.length).split('/');
      if (!id || !name) continue;
      const r = runs.get(id) ?? { record: false, parts: [] };
      if (name === 'record.json') r.record = true;
      else if (name.startsWith('changes-')) r.parts.push(o.key);
      runs.set(id, r);
    } else if (o.key.startsWith(SNAPSHOTS_PREFIX) && o.key.endsWith('.jsonl')) {
      snapshots.push(o.key.slice(SNAPSHOTS_PREFIX.length, -'.jsonl'.length));
    }
  }
  const ids = [...runs.keys()].sort();
  const snap = snapshots.sort().at(-1);
  let changes = 0;
  // A damaged line costs at most the path it named: it is skipped with a warning naming the file,
  // the line and the path, and the rest is used (a bad byte never makes a job unrestorable).
  const damaged: { file: string; line: number; path?: string }[] = [];
  const unreadable = (key: string, line: number, why: string, text: string) => {
    const path = pathOfDamagedLine(text);
    damaged.push({ file: store.fullKey(key), line, path });
    logger.warn({ file: store.fullKey(key), line, path: path ?? null }, `line ${line} of ${store.fullKey(key)} on the target cannot be used: ${why}; it is skipped${path ? ` — what it recorded for ${path} is not known to the index` : ''}`);
  };
  if (snap) {
    let lineNo = 0;
    await store.get(snapshotKey(snap), undefined, async (body) => {
      let ops: IndexOp[] = [];
      for await (const line of createInterface({ input: body, crlfDelay: Infinity })) {
        if (!line) continue;
        lineNo++;
        const opened = openLine<SnapshotLine>(line);
        if ('damaged' in opened) {
          unreadable(snapshotKey(snap), lineNo, opened.damaged, line);
          continue;
        }
        const { p, ...held } = opened.value;
        const { root, rel } = splitPath(p);
        ops.push(index.heldOp(job, targetId, root, rel, held));
        if (ops.length >= BATCH) {
          await index.batch(ops);
          ops = [];
        }
      }
      await index.batch(ops);
    });
  }
  let after = 0;
  for (const id of ids) {
    const r = runs.get(id)!;
    if (r.record) await importRunRecord(index, store, id, logger);
    if (snap && id <= snap) continue;
    after++;
    for (const part of r.parts.sort()) {
      const text = await store.getText(part);
      const cache = new Map<string, HeldFile | undefined>();
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (!line) continue;
        const opened = openLine<ChangeLine>(line);
        if ('damaged' in opened) {
          unreadable(part, i + 1, opened.damaged, line);
          continue;
        }
        const change = opened.value;
        const { root, rel } = splitPath(change.p);
        const prev = cache.has(change.p) ? cache.get(change.p) : await index.getHeld(job, targetId, root, rel);
        cache.set(change.p, applyChange(prev, change));
        changes++;
      }
      await index.batch(
        [...cache].map(([p, held]) => {
          const { root, rel } = splitPath(p);
          return index.heldOp(job, targetId, root, rel, held);
        }),
      );
    }
  }
  const state: TargetState = { fingerprint, lastSnapshot: snap, runsSinceSnapshot: after, changesSinceSnapshot: changes };
  await index.batch([index.targetStateOp(job, targetId, state)]);
  logger.info({ job, target: targetId, runs: ids.length, snapshot: snap ?? null, damagedLines: damaged.length }, 'index rebuilt from the target');
  if (damaged.length) logger.warn({ job, target: targetId, paths: [...new Set(damaged.map((d) => d.path ?? '(unknown)'))] }, `the index was rebuilt without ${damaged.length} damaged line(s) of the target's journals; the paths they named may restore an older version or none`);
  return state;
}

/** Adds a run's record from the target to the index's history, if the index lacks it (a run left `running` there was interrupted). */
/**
 * Every run record on the target that the index lacks (one listing of the runs folder): after
 * another data folder's runs that changed nothing, so the history — and `restore --run` of any of
 * them — is whole here too, not only their newest.
 */
export async function importRunRecords(index: IndexStore, store: JobStore, logger: Logger): Promise<void> {
  for await (const o of store.list(RUNS_PREFIX)) {
    const [id, name] = o.key.slice(RUNS_PREFIX.length).split('/');
    if (id && name === 'record.json') await importRunRecord(index, store, id, logger);
  }
}

export async function importRunRecord(index: IndexStore, store: JobStore, runId: string, logger: Logger): Promise<void> {
  if (await index.getRun(runId)) return;
  const file = store.fullKey(runRecordKey(runId));
  try {
    const rec = JSON.parse(await store.getText(runRecordKey(runId))) as RunRecord;
    if (rec.status === 'running' || rec.status === 'waiting') rec.status = 'interrupted';
    await index.putRun(rec);
  } catch (e) {
    logger.warn({ run: runId, file, err: String(e) }, `the run record ${file} on the target cannot be read; the run is left out of the history`);
  }
}

/**
 * At most this many runs between snapshots, so a rebuild reads a bounded number of run records.
 * A snapshot holds the whole tree (100,000 files: ~20 MB, ~2 s to write), so it is written when the
 * changes since the last one outgrow the tree, not on a count of runs that changed little: a
 * daemon running every few minutes would otherwise upload the tree every hour or two.
 */
export const SNAPSHOT_MAX_RUNS = 500;

/** Whether this run should end by writing a full snapshot (compaction). */
export function snapshotDue(state: TargetState, heldCount: number): boolean {
  return state.runsSinceSnapshot >= SNAPSHOT_MAX_RUNS || state.changesSinceSnapshot > Math.max(1000, heldCount);
}

/**
 * The target's bookkeeping after a run that wrote `changes` journal lines, and whether the run
 * ends with a snapshot. A first run's journal names each path once — as compact as a snapshot of
 * it — so it counts as none: no second copy of the tree on the target, and no read of the whole
 * index at the end of the longest run (on 300,000 files that read mapped 30 MiB of index pages).
 */
export function closingState(prev: TargetState, changes: number, heldCount: number): { state: TargetState; compact: boolean } {
  const first = prev.lastSnapshot === undefined && prev.runsSinceSnapshot === 0 && prev.changesSinceSnapshot === 0;
  const state: TargetState = { ...prev, runsSinceSnapshot: prev.runsSinceSnapshot + 1, changesSinceSnapshot: first ? 0 : prev.changesSinceSnapshot + changes };
  return { state, compact: !first && snapshotDue(state, heldCount) };
}

/**
 * Writes everything the index holds for a job on a target as `.hokan/snapshots/RUN.jsonl`: with
 * it, the state at any run up to RUN needs no older journal. Streamed through a temporary file.
 */
export async function writeSnapshot(index: IndexStore, store: JobStore, job: string, targetId: string, runId: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hokan-snap-'));
  const file = join(dir, 'snapshot.jsonl');
  try {
    await writeLines(file, snapshotLines(index, job, targetId));
    const { size, mtimeMs } = await stat(file);
    // As a local file: a local disk copies it in its copy worker, not through this thread's buffers.
    await store.put(snapshotKey(runId), new LocalFileSource({ abs: file, size, mtimeMs }), { size, contentType: 'application/x-ndjson' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function* snapshotLines(index: IndexStore, job: string, targetId: string): AsyncGenerator<string> {
  for await (const [root, rel, held] of index.heldAll(job, targetId)) {
    const line: SnapshotLine = { p: fileKey(root, rel), old: held.old };
    if (held.cur) line.cur = held.cur;
    yield sealLine(JSON.stringify(line)) + '\n';
  }
}

/** Bytes the snapshot file is written in. */
const WRITE_BUFFER = 1024 * 1024;

/**
 * Writes `lines` to `file` through one reused buffer. A write stream would make a Buffer of every
 * line: at the end of a 100,000-file run that was ~20 MiB of dead Buffers, which V8 frees only at
 * its next collection — the run's peak memory.
 */
export async function writeLines(file: string, lines: AsyncIterable<string>): Promise<void> {
  const fh = await open(file, 'w');
  try {
    const buf = Buffer.allocUnsafe(WRITE_BUFFER);
    let used = 0;
    const writeAll = async (b: Buffer, length: number) => {
      for (let off = 0; off < length; ) off += (await fh.write(b, off, length - off)).bytesWritten;
    };
    for await (const line of lines) {
      const most = line.length * 3; // UTF-8 bytes of a UTF-16 string, at most
      if (used + most > buf.length) {
        await writeAll(buf, used);
        used = 0;
      }
      if (most > buf.length) {
        const big = Buffer.from(line);
        await writeAll(big, big.length);
      } else used += buf.write(line, used);
    }
    await writeAll(buf, used);
  } finally {
    await fh.close();
  }
}
