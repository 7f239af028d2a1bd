import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyCounts, type FileRecord, type RunRecord } from '../../common/model.js';
import { IndexStore, keys, relFromKey, type HeldFile } from './index-store.js';

const held = (v: string, size: number): HeldFile => ({ cur: { v, size, mtimeMs: 1, sha256: 'x'.repeat(64) }, old: [] });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-index-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('index store batches (group commit)', () => {

  it('many batches at once all land, in call order, and survive a reopen', async () => {
    const index = await IndexStore.open(dir);
    const calls: Promise<void>[] = [];
    for (let i = 0; i < 300; i++) {
      // Two ops per call, and every call also rewrites one shared key: the last call must win.
      calls.push(index.batch([index.heldOp('job', 't', 'root', `f${String(i).padStart(3, '0')}`, held(`v${i}`, i)), index.heldOp('job', 't', 'root', 'shared', held(`v${i}`, i))]));
    }
    await Promise.all(calls);
    await index.close();

    const again = await IndexStore.open(dir);
    const seen: [string, HeldFile][] = [];
    for await (const batch of again.heldBatches('job', 't', 'root', 64)) for (const [tail, h] of batch) seen.push([relFromKey(tail), h]);
    await again.close();
    expect(seen).toHaveLength(301);
    expect(seen.filter(([rel]) => rel.startsWith('f')).map(([rel, h]) => [rel, h.cur?.size])).toEqual(Array.from({ length: 300 }, (_, i) => [`f${String(i).padStart(3, '0')}`, i]));
    expect(seen.find(([rel]) => rel === 'shared')?.[1].cur?.v).toBe('v299');
  });

  it('an empty batch resolves at once; a batch after close is refused', async () => {
    const index = await IndexStore.open(dir);
    await expect(index.batch([])).resolves.toBeUndefined();
    await index.close();
    await expect(index.batch([index.heldOp('job', 't', 'root', 'a', held('v', 1))])).rejects.toThrow();
  });
});

describe('per-file records', () => {

  it('come back in the order they were written, paged and filtered, each run its own (keys stored newest first)', async () => {
    const index = await IndexStore.open(dir);
    const runs = ['20261130T190223.478-0171', '20261130T190224.001-a9f0', '20261201T000000.000-0000'];
    const rec = (run: string, i: number): FileRecord => ({ path: `root/${run}/f${i}`, target: 'hdd', status: i % 3 ? 'uploaded' : 'skipped', size: i, ...(i % 3 ? {} : { reason: 'changed-during-backup' as const }) });
    // Three runs written interleaved, 1,200 records each, in batches of 50 as a run does.
    for (let b = 0; b < 24; b++) {
      for (const run of runs) await index.batch(Array.from({ length: 50 }, (_, k) => index.fileOp(run, b * 50 + k + 1, rec(run, b * 50 + k + 1))));
    }
    for (const run of runs) {
      const all: FileRecord[] = [];
      for await (const f of index.files(run)) all.push(f);
      expect(all).toStrictEqual(Array.from({ length: 1200 }, (_, i) => rec(run, i + 1)));
    }
    const page = await index.listFiles(runs[1]!, { offset: 250, limit: 100 });
    expect(page.total).toBe(1200);
    expect(page.files.map((f) => f.size)).toStrictEqual(Array.from({ length: 100 }, (_, i) => 251 + i));
    const skipped = await index.listFiles(runs[2]!, { status: 'skipped', offset: 10, limit: 3 });
    expect(skipped.total).toBe(400);
    expect(skipped.files.map((f) => f.size)).toStrictEqual([33, 36, 39]);
    expect((await index.listFiles('20261130T190223.478-0172')).total).toBe(0);
    await index.close();
  });
});

describe('run records', () => {
  const run = (id: string, status: RunRecord['status'], job = 'docs'): RunRecord => ({ id, job, kind: 'backup', status, reasons: [], start: '2026-11-30T00:00:00.000Z', device: 'pc', sources: [], targets: ['usb'], counts: emptyCounts(), bytes: 0 });

  it('a run left unfinished is found at the next open (from its open key), once; finished runs leave no trace', async () => {
    let index = await IndexStore.open(dir);
    expect(await index.markInterrupted()).toEqual([]); // a new index
    await index.putRun(run('r1', 'completed'));
    await index.putRun(run('r2', 'running'));
    await index.putRun(run('r3', 'running'));
    await index.putRun(run('r3', 'incomplete'));
    await index.close();

    index = await IndexStore.open(dir);
    const found = await index.markInterrupted(new Date('2026-12-01T00:00:00.000Z'));
    expect(found.map((r) => [r.id, r.status, r.end])).toEqual([['r2', 'interrupted', '2026-12-01T00:00:00.000Z']]);
    expect((await index.getRun('r2'))?.status).toBe('interrupted');
    expect(await index.markInterrupted()).toEqual([]);
    expect((await index.listRuns()).runs.map((r) => [r.id, r.status])).toEqual([['r3', 'incomplete'], ['r2', 'interrupted'], ['r1', 'completed']]);
    await index.close();
  });

  it('in an index written before the open keys, a running run is still found (every run read once)', async () => {
    const { Level } = await import('level');
    const old = new Level<string, unknown>(join(dir, 'index'), { valueEncoding: 'json' });
    await old.batch([
      { type: 'put', key: keys.run('r1'), value: run('r1', 'completed') },
      { type: 'put', key: keys.run('r2'), value: run('r2', 'waiting') },
    ]);
    await old.close();
    const index = await IndexStore.open(dir);
    expect((await index.markInterrupted()).map((r) => r.id)).toEqual(['r2']);
    expect(await index.markInterrupted()).toEqual([]);
    await index.close();
  });

  it('listRuns: newest first, filtered, paged with the total; with total: false it stops at the page', async () => {
    const index = await IndexStore.open(dir);
    for (let i = 0; i < 30; i++) await index.putRun(run(`r${String(i).padStart(2, '0')}`, i % 3 ? 'completed' : 'incomplete', i % 2 ? 'docs' : 'photos'));
    const all = await index.listRuns({ job: 'docs', offset: 2, limit: 3 });
    expect(all.total).toBe(15);
    expect(all.runs.map((r) => r.id)).toEqual(['r25', 'r23', 'r21']);
    const few = await index.listRuns({ job: 'docs', status: 'completed', limit: 2, total: false });
    expect(few.runs.map((r) => r.id)).toEqual(['r29', 'r25']);
    expect(few.total).toBe(2);
    await index.close();
  });
});
