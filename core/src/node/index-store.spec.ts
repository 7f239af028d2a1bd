import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileRecord } from '../common/model.js';
import { IndexStore, relFromKey, type HeldFile } from './index-store.js';

const held = (v: string, size: number): HeldFile => ({ cur: { v, size, mtimeMs: 1, sha256: 'x'.repeat(64) }, old: [] });

describe('index store batches (group commit)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hokan-index-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

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
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hokan-index-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

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
