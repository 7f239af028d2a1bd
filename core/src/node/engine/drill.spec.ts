import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HokanConfig, JobConfig } from '../../common/config-types.js';
import { EngineHooks } from '../../common/hooks.js';
import { nullLogger } from '../../common/logger.js';
import type { RunRecord } from '../../common/model.js';
import { MemoryTarget } from '../../testing/memory-target.js';
import { bufferSource } from '../../testing/sources.js';
import { IndexStore } from '../index/index-store.js';
import { runBackup } from './backup.js';
import type { EngineDeps } from './deps.js';
import { DRILL_DIR, Reservoir, parseSample, runDrill, sampleHeld } from './drill.js';
import { seededRandom } from '../../testing/seeded-random.js';

// Restore drills (issue 19): the sampler, and drills against a real index (LevelDB) and the
// in-memory target (the hdd target's drill: test/daemon-drill.spec.ts).


describe('Reservoir', () => {
  it('keeps at most k items, all of them while fewer came', () => {
    const r = new Reservoir<number>(5, seededRandom(1));
    for (let i = 0; i < 3; i++) r.offer(i);
    expect([...r.items]).toEqual([0, 1, 2]);
    for (let i = 3; i < 100_000; i++) r.offer(i);
    expect(r.items.length).toBe(5);
    expect(new Set(r.items).size).toBe(5);
    expect(r.seen).toBe(100_000);
  });

  it('gives every item the same chance (chi-square over 20 buckets, 4,000 draws of 10 from 200)', () => {
    const random = seededRandom(42);
    const counts = new Array<number>(200).fill(0);
    for (let t = 0; t < 4000; t++) {
      const r = new Reservoir<number>(10, random);
      for (let i = 0; i < 200; i++) r.offer(i);
      for (const x of r.items) counts[x]!++;
    }
    // 20 buckets of 10 items: each expects 4000 × 10 × 10 / 200 = 2,000 picks.
    const buckets = Array.from({ length: 20 }, (_, b) => counts.slice(b * 10, b * 10 + 10).reduce((a, c) => a + c, 0));
    const chi = buckets.reduce((a, o) => a + (o - 2000) ** 2 / 2000, 0);
    expect(chi).toBeLessThan(43.8); // 19 degrees of freedom, p = 0.001
    // The first and the last items are not favoured.
    expect(Math.abs(buckets[0]! - buckets[19]!)).toBeLessThan(300);
  });
});

describe('parseSample', () => {
  it('reads counts and percentages, refuses the rest', () => {
    expect(parseSample(200)).toEqual({ count: 200 });
    expect(parseSample('200')).toEqual({ count: 200 });
    expect(parseSample(' 2.5 % ')).toEqual({ percent: 2.5 });
    expect(parseSample(undefined)).toEqual({ count: 100 });
    for (const bad of ['0', '0%', '101%', 'ten', '-3', '1.5']) expect(() => parseSample(bad, '--sample')).toThrow(/--sample must be/);
  });
});

let dir: string;
let src: string;
let index: IndexStore;
let mem: MemoryTarget;
let reports: RunRecord[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-drill-'));
  src = join(dir, 'src');
  await mkdir(src);
  index = await IndexStore.open(join(dir, 'data'));
  mem = new MemoryTarget();
  reports = [];
});
afterEach(async () => {
  await index.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

function deps(over: Partial<JobConfig> = {}): EngineDeps {
  const job: JobConfig = { id: 'docs', sources: [{ path: src }], targets: ['mem'], generations: 10, filters: {}, deletions: 'every-run', deletionThreshold: { percent: 90, count: 1000 }, followSymlinks: false, ignoreInode: false, ignoreCtime: false, ...over };
  const config: HokanConfig = { device: 'pc-1', plugins: [], targets: { mem: { type: 'memory', path: 'mem' } }, jobs: [job], notify: [], presets: {} };
  const hooks = new EngineHooks();
  hooks.report.tapPromise('test', async ({ run }) => void reports.push(run));
  return {
    index,
    hooks,
    logger: nullLogger,
    config,
    openTarget: async () => Object.create(mem, { [Symbol.asyncDispose]: { value: async () => {} } }) as MemoryTarget,
    retry: { retries: 1, minDelayMs: 5 },
  };
}

/** 40 files, a symlink, a folder, a deleted file; backed up. */
async function backedUp(): Promise<void> {
  for (let i = 0; i < 40; i++) await writeFile(join(src, `f${String(i).padStart(2, '0')}.txt`), `file ${i}\n`.repeat(i + 1));
  await mkdir(join(src, 'sub'));
  await writeFile(join(src, 'sub', 'gone.txt'), 'soon deleted\n');
  await symlink('f00.txt', join(src, 'link'));
  await runBackup(deps(), { job: 'docs' });
  await unlink(join(src, 'sub', 'gone.txt'));
  await runBackup(deps(), { job: 'docs' });
}

async function heldState(): Promise<string> {
  const out: unknown[] = [];
  for await (const e of index.heldAll('docs', 'mem')) out.push(e);
  return JSON.stringify(out);
}

describe('sampleHeld', () => {
  it('draws current files only (no link, folder or deleted file): a count, or a percentage of what is held', async () => {
    await backedUp();
    const a = await sampleHeld(deps(), 'docs', 'mem', { count: 10 }, seededRandom(7));
    expect(a.held).toBe(40);
    expect(a.picks).toHaveLength(10);
    expect(new Set(a.picks.map((p) => p.rel)).size).toBe(10);
    expect(a.picks.every((p) => /^f\d\d\.txt$/.test(p.rel))).toBe(true);
    expect((await sampleHeld(deps(), 'docs', 'mem', { percent: 10 })).picks).toHaveLength(4);
    expect((await sampleHeld(deps(), 'docs', 'mem', { percent: 0.1 })).picks).toHaveLength(1); // at least one
    expect((await sampleHeld(deps(), 'docs', 'mem', { count: 500 })).picks).toHaveLength(40);
  });
});

describe('runDrill', () => {
  it('restores a sample into a folder under the data folder, checks it against the index and the unchanged source, removes the folder, records and reports a restore run with drill set; neither the index nor the target changes', async () => {
    await backedUp();
    const before = await heldState();
    const keys = mem.keys();
    const puts = mem.calls.put;
    const { run, files } = await runDrill(deps(), { job: 'docs', sample: { count: 12 }, random: seededRandom(3) });
    expect(run).toMatchObject({ kind: 'restore', status: 'completed', reasons: [], counts: { seen: 12, restored: 12, failed: 0 }, drill: { sample: '12 files', files: 12, sourceChecked: 12, trigger: 'command' } });
    expect(run.targetResults).toMatchObject([{ id: 'mem', status: 'completed', counts: { seen: 12, restored: 12 } }]);
    expect(files.every((f) => f.status === 'restored' && f.target === 'mem')).toBe(true);
    expect(await index.getRun(run.id)).toMatchObject({ status: 'completed', drill: { files: 12 } });
    expect(reports.at(-1)).toMatchObject({ id: run.id, drill: { files: 12 } });
    expect(existsSync(join(dir, 'data', DRILL_DIR, 'docs', run.id))).toBe(false);
    expect(await heldState()).toBe(before);
    expect(mem.keys()).toEqual(keys);
    expect(mem.calls.put).toBe(puts);
  });

  it('a damaged stored copy fails hash-mismatch and a missing one not-found, naming file and target; a source changed under the same size and mtime fails too; the folder is removed and nothing is marked', async () => {
    await backedUp();
    const before = await heldState();
    const key = (rel: string) => mem.keys().find((k) => k.endsWith(`/${rel}`) && !k.includes('.hokan'))!;
    const damaged = Buffer.from(mem.peek(key('f05.txt'))!);
    damaged[2] ^= 0x20;
    await mem.put(key('f05.txt'), bufferSource(damaged), { size: damaged.length });
    await mem.remove(key('f07.txt'));
    // Same size and mtime, other bytes: the source no longer matches what was backed up.
    const f9 = join(src, 'f09.txt');
    const st = await stat(f9);
    await writeFile(f9, 'FILE 9\n'.repeat(10));
    await utimes(f9, st.atime, st.mtime);
    const { run, files } = await runDrill(deps(), { job: 'docs', sample: { percent: 100 } });
    expect(run.status).toBe('incomplete');
    expect(run.reasons).toEqual(['multiple-errors', 'hash-mismatch', 'not-found']);
    expect(run.counts).toMatchObject({ seen: 40, restored: 37, failed: 3 });
    const failed = files.filter((f) => f.status === 'failed').sort((a, b) => a.path.localeCompare(b.path));
    expect(failed.map((f) => [f.path.split('/').pop(), f.target, f.reason])).toEqual([
      ['f05.txt', 'mem', 'hash-mismatch'],
      ['f07.txt', 'mem', 'not-found'],
      ['f09.txt', 'mem', 'hash-mismatch'],
    ]);
    expect(failed[0]!.message).toMatch(/does not match its recorded SHA-256/);
    expect(failed[2]!.message).toMatch(/restored intact from mem, but the source .*f09\.txt has SHA-256/);
    expect(run.note).toMatch(/not intact: .*f05\.txt on mem \(hash-mismatch\)/);
    expect(existsSync(join(dir, 'data', DRILL_DIR, 'docs'))).toBe(true);
    expect(await readdir(join(dir, 'data', DRILL_DIR, 'docs'))).toEqual([]);
    expect(await heldState()).toBe(before); // a drill reports; `agent verify` marks for resending
  });

  it('no target reachable: the drill is not-executed (target-unavailable), with the error; a killed drill\'s folder goes at the next one', async () => {
    await backedUp();
    const left = join(dir, 'data', DRILL_DIR, 'docs', '20260101T000000.000-dead');
    await mkdir(left, { recursive: true });
    await writeFile(join(left, '1'), 'half');
    mem.injectFault({ op: 'check', kind: 'unavailable' });
    const { run } = await runDrill(deps(), { job: 'docs' });
    expect(run).toMatchObject({ status: 'not-executed', reasons: ['target-unavailable'], targetResults: [{ id: 'mem', reasons: ['target-unavailable'] }] });
    expect(run.error).toMatch(/^mem: /);
    expect(existsSync(left)).toBe(false);
  });
});
