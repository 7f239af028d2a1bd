/**
 * The engine conformance suite: model-based tests of hokan's first promise — after any sequence of
 * changes and runs, every run restores exactly the tree it saw — against a real target type. Every
 * target plugin runs it beside the target conformance suite, the same way a plugin author does:
 *
 * ```ts
 * describeEngineConformance({ name: 'hdd', createPlace: async () => { const dir = mkdtempSync(…);
 *   return { open: () => HddTarget.create({ type: 'hdd', path: dir }), dispose: () => rm(dir, …) }; } });
 * ```
 *
 * fast-check generates cases (settings, then operations on a real source folder interleaved with
 * backups and index rebuilds; see engine-model.ts); each is run through the real engine, a real
 * LevelDB index and the target, and after every backup it checks against the plain model: exact
 * counts per target, the browsable tree and the versions area of every target, a restore of every
 * earlier run (by run id, and one by time), `versions` of one file; after an index rebuild the same
 * restores, and the next backup sends nothing it did not have to.
 *
 * Runs: fixed seeds (the same cases every time) plus fresh ones; `HOKAN_MODEL_RUNS` and
 * `HOKAN_MODEL_SEED` override (`npm run test:model -- --runs N [--seed S]`). A failure prints the
 * seed, the path to replay it and the shrunk case.
 */
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HokanConfig, JobConfig } from '../common/config-types.js';
import { EngineHooks } from '../common/hooks.js';
import { nullLogger } from '../common/logger.js';
import type { Target } from '../common/target.js';
import { IndexStore } from '../node/index/index-store.js';
import { keepWalkThreads, runBackup } from '../node/engine/backup.js';
import { keepHelpers } from '../node/engine/backup.js';
import type { EngineDeps } from '../node/engine/deps.js';
import { JobStore } from '../node/engine/job-store.js';
import { VERSIONS_PREFIX, META, versionKey } from '../node/engine/layout.js';
import { listVersions, runRestore } from '../node/engine/restore.js';
import { prunedPerRun } from '../node/engine/restorable.js';
import { REGRESSIONS, SourceModel, TargetModel, bytesOf, caseArb, visible, visibleFolder, type CaseSettings, type Node, type Op, type Version } from './engine-model.js';
import { readAll } from './sources.js';

/** A fresh, empty place on the target type under test. */
export interface EnginePlace {
  /** A new handle on the place (the engine disposes each one it opens). */
  open(): Promise<Target>;
  /** Removes the place (after the case). */
  dispose?(): Promise<void>;
}

export interface EngineConformanceOptions {
  /** Shown in the test names: `engine conformance: <name>`. */
  name: string;
  /** Makes a fresh, empty place; called for every target of every generated case. */
  createPlace(): Promise<EnginePlace>;
  /** Generated cases per seed (default 12; `HOKAN_MODEL_RUNS` overrides). */
  runs?: number;
  /** Fixed seeds run every time (default [1, 2, 3]), plus one fresh seed unless `HOKAN_MODEL_SEED` is set. */
  seeds?: number[];
  /**
   * Whether the fixed regression cases run (default true). A plugin that runs the suite against
   * several servers of one protocol may run them on some and only generated cases on a slow one;
   * say why where you set it.
   */
  regressions?: boolean;
  /**
   * Change-detection settings of the generated job (default: both false). A target meant for
   * network shares runs the suite with `ignoreInode: true`, as such jobs are set up.
   */
  job?: Partial<Pick<JobConfig, 'ignoreInode' | 'ignoreCtime'>>;
  /** Operations per case at most (default 24). */
  maxOps?: number;
  /** Per-test timeout in milliseconds (default 240 s). */
  timeoutMs?: number;
  /**
   * The longest name component the test server itself can store, when shorter than the 255 bytes
   * every target must take (s3rver keeps objects as files with a suffix): longer generated names
   * are cut to it. Say why where you set it; a real server of the kind must not need it.
   */
  maxNameBytes?: number;
  /**
   * Characters the target refuses in names (its `capabilities.forbiddenChars`): the model expects
   * every file to be held, so generated names get `_` in their place. The refusal itself (recorded
   * `forbidden-name`) is the target conformance suite's hostile-keys case.
   */
  forbiddenChars?: string;
  /**
   * Also run every generated case with its backups as watched runs (`paths`: the paths the
   * operations since the last backup changed, as a watcher reports them), checked against the same
   * model: a watched run and a full run of the same changes give the same state (default false:
   * the engine's own suite runs it; a target adds nothing to it).
   */
  watchedRuns?: boolean;
}

const JOB = 'docs';
const HOUR = 3_600_000;
/** Backups of every case are dated on a clock that only moves forward (run ids sort by time, process-wide). */
let clock = Date.UTC(2027, 0, 1);
const MTIME_BASE = Date.UTC(2024, 0, 1);
/** Who the suite's files belong to when written (owners change only as root: the `chown` operation). */
const UID = process.getuid?.() ?? 0;
const GID = process.getgid?.() ?? 0;

export function describeEngineConformance(opts: EngineConformanceOptions): void {
  const envRuns = Number(process.env.HOKAN_MODEL_RUNS) || undefined;
  const envSeed = process.env.HOKAN_MODEL_SEED ? Number(process.env.HOKAN_MODEL_SEED) : undefined;
  const runs = envRuns ?? opts.runs ?? 12;
  const seeds = envSeed !== undefined ? [envSeed] : [...(opts.seeds ?? [1, 2, 3]), (Date.now() ^ (process.pid << 8)) >>> 0];
  // A long run (`HOKAN_MODEL_RUNS`) gets time in proportion.
  const timeout = Math.max(opts.timeoutMs ?? 240_000, (envRuns ?? 0) * 10_000);

  describe(`engine conformance: ${opts.name}`, () => {
    // Walks in a thread (the `walk` setting) take one kept between runs, as in `agent run`.
    beforeAll(() => keepWalkThreads(true));
    afterAll(() => keepWalkThreads(false));
    for (const r of opts.regressions === false ? [] : REGRESSIONS) {
      if (r.watched && !opts.watchedRuns) continue;
      it(`regression: ${r.name}`, () => runCase(opts, r.settings, [...r.ops, { op: 'rebuild-index' }], r.watched), timeout);
    }
    for (const seed of seeds) {
      it(`every run restores exactly the tree it saw (seed ${seed}, ${runs} cases)`, async () => {
        if (!opts.seeds?.includes(seed) && ![1, 2, 3].includes(seed)) console.log(`engine conformance (${opts.name}): fresh seed ${seed} — replay with HOKAN_MODEL_SEED=${seed}`);
        await fc.assert(
          fc.asyncProperty(caseArb(opts.maxOps ?? 24), async ({ settings, ops }) => {
            await runCase(opts, settings, [...ops, { op: 'backup', gapHours: 1, full: false }, { op: 'rebuild-index' }]);
          }),
          { seed, numRuns: runs, endOnFailure: false, verbose: 1, reporter: reportFailure(opts.name, seed) },
        );
      }, timeout);
    }
    if (opts.watchedRuns) {
      // One seed (the first fixed one, or HOKAN_MODEL_SEED), fewer cases: the checks are the full suite's.
      const watchedCases = envRuns ?? Math.min(runs, 10);
      for (const seed of seeds.slice(0, 1)) {
        it(`a watched run of the changed paths leaves the state a full run leaves (seed ${seed}, ${watchedCases} cases)`, async () => {
          await fc.assert(
            fc.asyncProperty(caseArb(opts.maxOps ?? 24), async ({ settings, ops }) => {
              await runCase(opts, settings, [...ops, { op: 'backup', gapHours: 1, full: false }, { op: 'rebuild-index' }], true);
            }),
            { seed, numRuns: watchedCases, endOnFailure: false, verbose: 1, reporter: reportFailure(`${opts.name}, watched`, seed) },
          );
        }, timeout);
      }
    }
  });
}

/** The operations with every character in `chars` replaced by `_` in the names they create. */
function reportFailure(name: string, seed: number) {
  return (out: fc.RunDetails<[{ settings: CaseSettings; ops: Op[] }]>) => {
    if (!out.failed) return;
    const c = out.counterexample?.[0];
    const msg = [
      `engine conformance (${name}) failed — seed ${seed}, path ${out.counterexamplePath} (replay: HOKAN_MODEL_SEED=${seed})`,
      `shrunk case: ${JSON.stringify(c?.settings)}`,
      ...(c?.ops ?? []).map((o, i) => `  ${i + 1}. ${JSON.stringify(o)}`),
      `error: ${out.errorInstance instanceof Error ? (out.errorInstance.stack ?? out.errorInstance.message) : String(out.errorInstance)}`,
    ].join('\n');
    throw new Error(msg);
  };
}

interface RunSeen {
  id: string;
  start: number;
  /** Per target: the versions it held after this run. */
  views: Map<string, Version>[];
}

/** Runs one generated case end to end. */
/**
 * Names the place can hold: every component cut to `maxNameBytes` (whole characters) and each of
 * `forbiddenChars` replaced by `_` — in every path an operation names.
 */
function fitNames(op: Op, opts: EngineConformanceOptions): Op {
  const { maxNameBytes: max, forbiddenChars: chars } = opts;
  if (max === undefined && !chars) return op;
  const cut = (name: string) => {
    if (max === undefined) return name;
    let out = '';
    for (const ch of name) {
      if (Buffer.byteLength(out + ch) > max) break;
      out += ch;
    }
    return out;
  };
  const fit = (p: string) => {
    const fixed = chars ? [...chars].reduce((t, c) => t.split(c).join('_'), p) : p;
    return fixed.split('/').map(cut).join('/');
  };
  const o = { ...op } as Record<string, unknown>;
  for (const k of ['path', 'to', 'dir'] as const) if (typeof o[k] === 'string') o[k] = fit(o[k] as string);
  return o as Op;
}

async function runCase(opts: EngineConformanceOptions, s: CaseSettings, allOps: Op[], watched = false): Promise<void> {
  const ops = allOps.map((op) => fitNames(op, opts));
  const dir = await mkdtemp(join(tmpdir(), 'hokan-model-'));
  const src = join(dir, 'src');
  const dataDirs = [join(dir, 'data'), join(dir, 'data-2')];
  await mkdir(src);
  const places: EnginePlace[] = [];
  // Two data folders may take turns (`switch-index`); `index` is the one in use.
  const indexes: (IndexStore | undefined)[] = [undefined, undefined];
  let current = 0;
  let index: IndexStore | undefined;
  /** Per data folder, what its index knows of each place (see TargetModel.backup's `knew`). */
  const knows: Map<number, number | 'read'>[] = [new Map(), new Map()];
  // Helpers parked between runs (`keep`): what `agent run` does, against what a one-shot run does.
  keepHelpers(s.keep === true);
  try {
    for (let i = 0; i < s.targets; i++) places.push(await opts.createPlace());
    const targetIds = places.map((_, i) => `t${i}`);
    const job: JobConfig = {
      id: JOB,
      sources: [{ path: src }],
      targets: targetIds,
      generations: s.generations,
      filters: s.excludeTmp ? { excludeExtensions: ['tmp'] } : {},
      deletions: s.deletions,
      deletionThreshold: { percent: 100, count: 1_000_000 },
      followSymlinks: false,
      ignoreInode: opts.job?.ignoreInode ?? false,
      ignoreCtime: opts.job?.ignoreCtime ?? false,
      ...(s.keepDeletedDays !== undefined ? { keepDeletedDays: s.keepDeletedDays } : {}),
    };
    const scanWorker = s.walk === 'thread' ? 'always' : s.walk === 'here' ? 'never' : undefined;
    const place = `p${Math.random().toString(36).slice(2)}`;
    const config: HokanConfig = { device: 'model-pc', plugins: [], targets: Object.fromEntries(targetIds.map((id) => [id, { type: 'conformance', path: `${place}-${id}` }])), jobs: [job], notify: [], presets: {} };
    index = indexes[0] = await IndexStore.open(dataDirs[0]!);
    const deps = (): EngineDeps => ({
      index: index!,
      hooks: new EngineHooks(),
      logger: nullLogger,
      config,
      openTarget: async (id) => places[targetIds.indexOf(id)]!.open(),
      retry: { retries: 2, minDelayMs: 5 },
    });

    const source = new SourceModel();
    const models = places.map(() => new TargetModel(s));
    const runsSeen: RunSeen[] = [];
    const months = new Set<string>();
    /** Paths the operations changed since the last backup (for watched runs). */
    const changed = new Set<string>();
    let step = 0;
    const where = () => `step ${step} (${JSON.stringify(ops[step - 1])})`;

    for (const op of ops) {
      step++;
      if (op.op === 'switch-index') {
        current = 1 - current;
        index = indexes[current] ??= await IndexStore.open(dataDirs[current]!);
        continue;
      }
      if (op.op === 'rebuild-index' || op.op === 'lose-current') {
        if (!runsSeen.length) continue;
        await index.close();
        if (op.op === 'lose-current') await rm(join(dataDirs[current]!, 'index', 'CURRENT'));
        else await rm(dataDirs[current]!, { recursive: true, force: true });
        // A new index either way (a damaged one is moved aside): the restores below read every place
        // that still has a marker into it (no instance known).
        knows[current] = new Map(models.flatMap((m, i) => (m.wipedPending ? [] : [[i, 'read'] as const])));
        index = indexes[current] = await IndexStore.open(dataDirs[current]!);
        await checkRestores(deps(), targetIds, models, runsSeen, src, dir, `after the index was rebuilt, ${where()}`);
        continue;
      }
      if (op.op === 'wipe') {
        // Only a place some backup wrote to can be wiped (an empty one has nothing to lose).
        const i = op.target % places.length;
        if (!runsSeen.length) continue;
        await wipePlace(places[i]!);
        models[i]!.wipe();
        continue;
      }
      let spotAll = false;
      if (op.op === 'damage') {
        const i = op.target % places.length;
        const m = models[i]!;
        // A file the target holds as it is at the source now: the next run finds it unchanged, and
        // only the spot check can tell its copy is gone.
        const candidates = [...m.held].filter(([p, h]) => {
          const n = source.nodes.get(p);
          const c = h.cur?.node;
          return n?.kind === 'file' && c?.kind === 'file' && visible(p, s) && c.data.equals(n.data) && c.mtimeMs === n.mtimeMs && c.mode === n.mode && c.uid === n.uid && c.gid === n.gid;
        });
        const pick = pickOf(candidates.map(([p]) => p).sort(), op.pick);
        if (pick === undefined || m.wipedPending) continue;
        await damageCopy(places[i]!, `src/${pick}`, op.how, (m.held.get(pick)!.cur!.node as { data: Buffer }).data);
        m.damaged.add(pick);
        spotAll = true;
      }
      if (op.op !== 'backup' && op.op !== 'damage') {
        const before = new Map(source.nodes);
        const dirsBefore = watched ? await folderAttrs(src) : undefined;
        await applyOp(source, src, op);
        // What a watcher reports: every path added, removed or changed — folders made, removed,
        // given other permissions or owners too (a folder's mtime moves with what is in it).
        for (const [p, n] of source.nodes) if (before.get(p) !== n) changed.add(p);
        for (const p of before.keys()) if (!source.nodes.has(p)) changed.add(p);
        if (dirsBefore) {
          const dirsAfter = await folderAttrs(src);
          for (const [p, a] of dirsAfter) if (dirsBefore.get(p) !== a) changed.add(p);
          for (const p of dirsBefore.keys()) if (!dirsAfter.has(p)) changed.add(p);
        }
        continue;
      }
      const full = op.op === 'backup' && op.full;
      clock += (op.op === 'backup' ? op.gapHours : 1) * HOUR;
      const now = new Date(clock);
      const month = `${now.getFullYear()}-${now.getMonth()}`;
      const propagate = s.deletions === 'every-run' || (s.deletions === 'monthly' && !months.has(month));
      const seen = await seenTree(source, src, s);
      const files = [...seen.values()].filter((n) => n.kind !== 'dir').length;
      // A spot check of everything unchanged looks at every file: a full run, never a watched one.
      const paths = watched && !full && !spotAll ? [...changed].map((p) => join(src, ...p.split('/'))) : undefined;
      if (spotAll) job.spotCheck = 1_000_000;
      const run = await runBackup(deps(), { job: JOB, now, full, paths, scanWorker }).finally(() => delete job.spotCheck);
      // A run that did not complete (a guard held deletions back) leaves its paths to the next, as the daemon does.
      if (run.status === 'completed') changed.clear();
      const expected = models.map((m, i) => m.backup(run.id, seen, propagate, clock, knows[current]!.get(i)));
      models.forEach((m, i) => knows[current]!.set(i, m.instance));
      if (run.status === 'completed' || run.status === 'incomplete') months.add(month);
      const what = `backup at ${where()}`;
      expect(run.error, what).toBeUndefined();
      const status = expected.some((e) => e.status === 'incomplete') ? 'incomplete' : 'completed';
      expect(run.status, `${what}: status (reasons ${run.reasons.join(', ')}; note ${run.note ?? ''})`).toBe(status);
      expect(run.reasons.includes('target-reset'), `${what}: target-reset among the reasons (${run.reasons.join(', ')}) exactly when a target was wiped or replaced`).toBe(expected.some((e) => e.reset));
      // A watched run looks at the changed paths only: what it sends and deletes is the full run's; it counts fewer unchanged.
      if (!paths) expect(run.counts.seen, `${what}: seen`).toBe(files);
      for (let i = 0; i < targetIds.length; i++) {
        const got = run.targetResults!.find((r) => r.id === targetIds[i])!.counts;
        const want = expected[i]!;
        const counts = { uploaded: got.uploaded, unchanged: paths ? want.unchanged : got.unchanged, deleted: got.deleted, failed: got.failed, skipped: got.skipped };
        expect(counts, `${what}: counts on ${targetIds[i]} ${JSON.stringify(counts)} (files: ${JSON.stringify(await runFiles(deps(), run.id))})`).toEqual({
          uploaded: want.uploaded,
          unchanged: want.unchanged,
          deleted: want.deleted,
          failed: 0,
          skipped: 0,
        });
      }
      runsSeen.push({ id: run.id, start: clock, views: models.map((m) => m.view()) });
      for (let i = 0; i < places.length; i++) await checkPlace(places[i]!, models[i]!, `${what}: target ${targetIds[i]}`);
      await checkRestores(deps(), targetIds, models, runsSeen, src, dir, what);
      await checkVersions(deps(), targetIds, models, source, src, what);
    }
    // After the last rebuild: the next backup sends nothing (the tree did not change).
    clock += HOUR;
    const now = new Date(clock);
    const seen = await seenTree(source, src, s);
    const again = await runBackup(deps(), { job: JOB, now, scanWorker });
    // Deletions a monthly policy held back go now if this run is the first of a new month.
    const propagate = s.deletions === 'every-run' || (s.deletions === 'monthly' && !months.has(`${now.getFullYear()}-${now.getMonth()}`));
    const expected = models.map((m, i) => m.backup(again.id, seen, propagate, clock, knows[current]!.get(i)));
    expect(again.status, 'the backup after the index was rebuilt').toBe(expected.some((e) => e.status === 'incomplete') ? 'incomplete' : 'completed');
    for (let i = 0; i < targetIds.length; i++) {
      const r = again.targetResults!.find((x) => x.id === targetIds[i])!;
      expect({ uploaded: r.counts.uploaded, unchanged: r.counts.unchanged, deleted: r.counts.deleted }, `the backup after the index was rebuilt (${r.id})`).toEqual({ uploaded: expected[i]!.uploaded, unchanged: expected[i]!.unchanged, deleted: expected[i]!.deleted });
    }
  } finally {
    keepHelpers(false);
    for (const i of indexes) await i?.close().catch(() => {});
    for (const p of places) await p.dispose?.().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- operations on the real folder, mirrored in the model -------------------------------

/**
 * What a backup sees now: the model's visible files and links, and the folders on disk (the model
 * does not predict their mtimes: a file written or removed moves them). Folder mtimes are cut to
 * the millisecond first (rounded: stable when done again), so a restored mtime compares exactly.
 */
async function seenTree(m: SourceModel, src: string, s: CaseSettings): Promise<Map<string, Node>> {
  const seen = new Map<string, Node>([...m.nodes].filter(([p]) => visible(p, s)));
  for (const p of await foldersOnDisk(src)) {
    if (!visibleFolder(p)) continue;
    const abs = join(src, ...p.split('/'));
    const st = await lstat(abs);
    // Rounded, not floored: a time set as seconds in a double reads back a microsecond short
    // (x.999), and flooring that again would move the folder's mtime back at every backup.
    const ms = Math.round(st.mtimeMs);
    if (Math.abs(ms - st.mtimeMs) >= 0.01) await utimes(abs, st.atimeMs / 1000, ms / 1000);
    seen.set(p, { kind: 'dir', mode: st.mode & 0o7777, mtimeMs: ms, uid: st.uid, gid: st.gid });
  }
  return seen;
}

/** Each folder under `src` with its mode, owner and group (what a watcher reports a change of). */
async function folderAttrs(src: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const p of await foldersOnDisk(src)) {
    const st = await lstat(join(src, ...p.split('/')));
    out.set(p, `${st.mode}:${st.uid}:${st.gid}`);
  }
  return out;
}

/** Every folder under `src` (not following links), in a stable order. */
async function foldersOnDisk(src: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = rel ? `${rel}/${e.name}` : e.name;
      out.push(p);
      await walk(join(d, e.name), p);
    }
  };
  await walk(src, '');
  return out.sort();
}

/** The n-th of a list, wrapping around (a generated pick shrinks to 0); undefined when it is empty. */
const pickOf = <T>(xs: readonly T[], n: number): T | undefined => (xs.length ? xs[n % xs.length] : undefined);

async function applyOp(m: SourceModel, src: string, op: Op): Promise<void> {
  const abs = (p: string) => join(src, ...p.split('/'));
  /** Clears the way for a new entry at `p` (files above it, a folder or file at it), on disk and in the model. */
  const clear = async (p: string) => {
    for (const q of m.conflicts(p)) m.nodes.delete(q);
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) {
      const up = abs(parts.slice(0, i).join('/'));
      const st = await lstat(up).catch(() => undefined);
      if (st && !st.isDirectory()) await rm(up);
    }
    await rm(abs(p), { recursive: true, force: true });
    await mkdir(dirname(abs(p)), { recursive: true });
  };
  const writeNode = async (p: string, data: Buffer, mtimeMs: number, mode = 0o644) => {
    await writeFile(abs(p), data);
    await chmod(abs(p), mode); // whatever the umask, and a read-only file stays read-only
    await utimes(abs(p), new Date(mtimeMs), new Date(mtimeMs));
    const prev = m.nodes.get(p);
    const owner = prev?.kind === 'file' ? { uid: prev.uid, gid: prev.gid } : { uid: UID, gid: GID };
    m.nodes.set(p, { kind: 'file', data, mtimeMs, mode, ...owner });
  };
  switch (op.op) {
    case 'write':
      await clear(op.path);
      await writeNode(op.path, bytesOf(op.seed, op.size), MTIME_BASE + op.mtime * 1000 + (op.seed % 1000));
      return;
    case 'many':
      for (let i = 0; i < op.count; i++) {
        const p = `${op.dir}/n${String(i).padStart(3, '0')}.txt`;
        await clear(p);
        await writeNode(p, bytesOf(op.seed + i, (op.seed + i) % 300), MTIME_BASE + (op.seed + i) * 1000);
      }
      return;
    case 'modify': {
      const p = pickOf(m.files(), op.pick);
      if (p === undefined) return;
      const cur = m.nodes.get(p) as Extract<Node, { kind: 'file' }>;
      const size = cur.data.length;
      if (op.how === 'touch') {
        const mtimeMs = cur.mtimeMs + 1000 + (op.seed % 1000);
        await utimes(abs(p), new Date(mtimeMs), new Date(mtimeMs));
        m.nodes.set(p, { ...cur, mtimeMs });
        return;
      }
      const newSize = op.how === 'same-size-same-mtime' ? size : op.how === 'smaller' ? Math.floor(size / 2) : op.how === 'larger' ? size + 1 + (op.seed % 3000) : 0;
      const data = bytesOf(op.seed + 7919, newSize);
      const mtimeMs = op.how === 'same-size-same-mtime' ? cur.mtimeMs : cur.mtimeMs + 2000;
      await writeNode(p, data, mtimeMs, cur.mode);
      return;
    }
    case 'chmod': {
      const p = pickOf(m.files(), op.pick);
      if (p === undefined) return;
      await chmod(abs(p), op.mode);
      m.nodes.set(p, { ...(m.nodes.get(p) as Extract<Node, { kind: 'file' }>), mode: op.mode });
      return;
    }
    case 'delete': {
      const p = pickOf(m.paths(), op.pick);
      if (p === undefined) return;
      await rm(abs(p));
      m.nodes.delete(p);
      return;
    }
    case 'rename': {
      const p = pickOf(m.paths(), op.pick);
      if (p === undefined) return;
      if (p === op.to || op.to.startsWith(p + '/') || m.conflicts(op.to).length) return;
      const node = m.nodes.get(p)!;
      await clear(op.to);
      await rename(abs(p), abs(op.to));
      m.nodes.delete(p);
      m.nodes.set(op.to, node);
      return;
    }
    case 'move-folder': {
      const d = pickOf(m.folders(), op.pick);
      if (d === undefined) return;
      if (d === op.to || op.to.startsWith(d + '/') || m.conflicts(op.to).length) return;
      const moved = m.under(d);
      await clear(op.to);
      await rename(abs(d), abs(op.to));
      for (const q of moved) {
        m.nodes.set(op.to + q.slice(d.length), m.nodes.get(q)!);
        m.nodes.delete(q);
      }
      return;
    }
    case 'remove-folder': {
      const d = pickOf(m.folders(), op.pick);
      if (d === undefined) return;
      await rm(abs(d), { recursive: true, force: true });
      for (const q of m.under(d)) m.nodes.delete(q);
      return;
    }
    case 'symlink':
      await clear(op.path);
      await symlink(op.target, abs(op.path));
      m.nodes.set(op.path, { kind: 'link', target: op.target });
      return;
    case 'mkdir': {
      const st = await lstat(abs(op.path)).catch(() => undefined);
      if (st?.isDirectory()) return;
      await clear(op.path);
      await mkdir(abs(op.path), { recursive: true });
      return;
    }
    case 'chown': {
      if (UID !== 0) return; // only root can give a file away
      const files = m.files();
      const all = [...files, ...(await foldersOnDisk(src))];
      const p = pickOf(all, op.pick);
      if (p === undefined) return;
      await chown(abs(p), op.id, op.id);
      const node = m.nodes.get(p);
      // The kernel clears setuid (and setgid with group execute) on a chown: the mode is read back, not re-derived.
      if (node?.kind === 'file') m.nodes.set(p, { ...node, uid: op.id, gid: op.id, mode: (await lstat(abs(p))).mode & 0o7777 });
      return;
    }
    case 'chmod-folder': {
      const d = pickOf(await foldersOnDisk(src), op.pick);
      if (d === undefined) return;
      await chmod(abs(d), op.mode);
      return;
    }
  }
}

// ---- what happens to a target behind hokan's back -----------------------------------------

/** Deletes everything on the place (a reformatted disk, an emptied bucket). */
async function wipePlace(place: EnginePlace): Promise<void> {
  const t = await place.open();
  try {
    const keys: string[] = [];
    for await (const o of t.list('')) keys.push(o.key);
    for (const k of keys) await t.remove(k);
  } finally {
    await t[Symbol.asyncDispose]();
  }
}

/** Removes the stored copy of `key` (in the job's place), or puts a shorter (or, for an empty file, longer) one in its place. */
async function damageCopy(place: EnginePlace, key: string, how: 'remove' | 'cut', data: Buffer): Promise<void> {
  const t = await place.open();
  try {
    const store = new JobStore(t, JOB);
    if (how === 'remove') await store.remove(key);
    else {
      const cut = data.length ? data.subarray(0, data.length >> 1) : Buffer.from('x');
      await store.put(key, { size: cut.length, open: () => Readable.from([cut]) }, { size: cut.length });
    }
  } finally {
    await t[Symbol.asyncDispose]();
  }
}

// ---- checks ---------------------------------------------------------------------------

/** A run's per-file records, for a failure's message. */
async function runFiles(deps: EngineDeps, run: string): Promise<unknown[]> {
  return (await deps.index.listFiles(run, { limit: 20 })).files.map((f) => [f.path, f.status, f.reason, f.message]);
}

/** Every file, symlink and folder under a folder, as path → node (mtimes to the millisecond). */
async function readTree(root: string): Promise<Map<string, Node>> {
  const out = new Map<string, Node>();
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const abs = join(d, e.name);
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        const st = await lstat(abs);
        out.set(p, { kind: 'dir', mode: st.mode & 0o7777, mtimeMs: Math.round(st.mtimeMs), uid: st.uid, gid: st.gid });
        await walk(abs, p);
      } else if (e.isSymbolicLink()) out.set(p, { kind: 'link', target: await readlink(abs) });
      else {
        const st = await lstat(abs);
        out.set(p, { kind: 'file', data: await readFile(abs), mtimeMs: Math.round(st.mtimeMs), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
      }
    }
  };
  await walk(root, '').catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  return out;
}

/** A tree as comparable lines (sorted), so a difference shows as a readable diff. */
function lines(t: Map<string, Node>): string[] {
  return [...t]
    .map(([p, n]) => (n.kind === 'link' ? `${JSON.stringify(p)} -> ${n.target}` : n.kind === 'dir' ? `${JSON.stringify(p)}/ @${Math.round(n.mtimeMs)} 0${n.mode.toString(8)} ${n.uid}:${n.gid}` : `${JSON.stringify(p)} ${n.data.length}B ${n.data.toString('latin1').slice(0, 24)} @${n.mtimeMs} 0${n.mode.toString(8)} ${n.uid}:${n.gid}`))
    .sort();
}

/** The browsable tree and the versions area of a target hold exactly what the model says. */
async function checkPlace(place: EnginePlace, model: TargetModel, what: string): Promise<void> {
  const t = await place.open();
  try {
    const store = new JobStore(t, JOB);
    const browsable: string[] = [];
    const versions: string[] = [];
    for await (const o of store.list('')) {
      if (o.key.startsWith(VERSIONS_PREFIX)) versions.push(o.key);
      else if (!o.key.startsWith(`${META}/`)) browsable.push(o.key);
    }
    const wantBrowsable = new Map<string, Buffer>();
    const wantVersions: string[] = [];
    for (const [p, h] of model.held) {
      if (h.cur?.node.kind === 'file') wantBrowsable.set(`src/${p}`, h.cur.node.data);
      for (const v of h.old) if (v.node.kind === 'file') wantVersions.push(versionKey('src', p, v.run));
    }
    expect(browsable.sort(), `${what}: the browsable tree`).toEqual([...wantBrowsable.keys()].sort());
    expect(versions.sort(), `${what}: the versions area`).toEqual(wantVersions.sort());
    for (const [k, data] of wantBrowsable) {
      const got = await store.get(k, undefined, readAll);
      expect(got.equals(data), `${what}: the bytes of ${k}`).toBe(true);
    }
  } finally {
    await t[Symbol.asyncDispose]();
  }
}

/** Every earlier run restores, from every target, exactly what the model says it held then (one also by time). */
async function checkRestores(deps: EngineDeps, targetIds: string[], models: TargetModel[], runs: RunSeen[], src: string, dir: string, what: string): Promise<void> {
  const byTime = runs[Math.floor(Math.random() * runs.length)]!;
  for (let i = 0; i < targetIds.length; i++) {
    for (const r of runs) {
      for (const how of r === byTime ? (['run', 'at'] as const) : (['run'] as const)) {
        const to = await mkdtemp(join(dir, 'restore-'));
        try {
          if (!models[i]!.holdsRun(r.id)) {
            // Wiped since that run: the target says it holds nothing of it (never an empty "completed").
            // After the index was rebuilt from wiped targets alone the run is unknown: "no such run" (or, by
            // time, "before the first backup") is the truth too.
            const label = `${what}: restore of run ${runs.indexOf(r) + 1} (${r.id}) by ${how} from ${targetIds[i]}, wiped since`;
            const restore = runRestore(deps, { job: JOB, target: targetIds[i], to, ...(how === 'run' ? { run: r.id } : { at: new Date(r.start + HOUR / 2) }) });
            await expect(restore, label).rejects.toThrow(/wiped|replaced|holds no backup|there is no backup run|before the first backup/);
            continue;
          }
          const { run, files } = await runRestore(deps, { job: JOB, target: targetIds[i], to, ...(how === 'run' ? { run: r.id } : { at: new Date(r.start + HOUR / 2) }) });
          const label = `${what}: restore of run ${runs.indexOf(r) + 1} (${r.id}) by ${how} from ${targetIds[i]}`;
          const pruned = models[i]!.prunedOf(r.views[i]!);
          expect({ status: run.status, failed: run.counts.failed, reasons: run.reasons }, label).toEqual({ status: pruned.length ? 'incomplete' : 'completed', failed: 0, reasons: pruned.length ? ['version-pruned'] : [] });
          expect(files.filter((f) => f.reason === 'version-pruned').map((f) => f.path.slice('src/'.length)).sort(), `${label}: the paths reported version-pruned`).toEqual(pruned);
          const want = models[i]!.restoreOf(r.views[i]!);
          const got = await readTree(join(to, 'src'));
          // A folder whose own version was pruned is still there when files under it came back (its
          // mode and mtime are then not the held ones): anything else is a difference.
          for (const [p, n] of got) {
            if (n.kind !== 'dir' || want.has(p)) continue;
            expect([...want.keys()].some((q) => q.startsWith(p + '/')), `${label}: the folder ${p} holds something restored`).toBe(true);
            got.delete(p);
          }
          expect(lines(got), label).toEqual(lines(want));
          expect((await readdir(to)).filter((n) => n !== 'src'), `${label}: nothing else left in the destination`).toEqual([]);
        } finally {
          await rm(to, { recursive: true, force: true });
        }
      }
    }
  }
  // `agent history` marks a run partial by the same count the model predicts (issue 30).
  const perRun = await prunedPerRun(deps, deps.config.jobs.find((j) => j.id === JOB)!, runs.map((r) => r.id));
  for (let i = 0; i < targetIds.length; i++) {
    for (const r of runs) {
      if (!models[i]!.holdsRun(r.id)) continue;
      expect(perRun.get(r.id)![targetIds[i]!], `${what}: history's count of pruned versions of run ${runs.indexOf(r) + 1} on ${targetIds[i]}`).toBe(models[i]!.prunedOf(r.views[i]!).length);
    }
  }
  void src;
}

/** `versions` of one held path lists the generations the model keeps, newest first, on every target. */
async function checkVersions(deps: EngineDeps, targetIds: string[], models: TargetModel[], source: SourceModel, src: string, what: string): Promise<void> {
  const paths = [...models[0]!.held.keys()];
  if (!paths.length) return;
  const p = paths[Math.floor(Math.random() * paths.length)]!;
  const list = await listVersions(deps, JOB, p);
  for (let i = 0; i < targetIds.length; i++) {
    const h = models[i]!.held.get(p) ?? { old: [] };
    const want = [...(h.cur ? [h.cur] : []), ...h.old].map((v) => ({ v: v.run, current: v === h.cur, deleted: v.del }));
    const got = list.filter((x) => x.target === targetIds[i]).map((x) => ({ v: x.v, current: x.current, deleted: x.deleted }));
    expect(got, `${what}: versions of ${p} on ${targetIds[i]}`).toEqual(want);
  }
  void source;
  void src;
}
