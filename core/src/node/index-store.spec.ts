import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
