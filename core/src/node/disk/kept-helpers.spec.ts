import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { helpersKept, keepHelpers, parkHelper, takeHelper } from './kept-helpers.js';
import { Syncer } from './syncer.js';

const dir = mkdtempSync(join(tmpdir(), 'hokan-kept-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('helpers kept between runs (`agent run`)', () => {
  afterEach(() => keepHelpers(false));

  it('a one-shot process keeps nothing: park stops the helper at once', async () => {
    expect(helpersKept()).toBe(false);
    const stopped: string[] = [];
    await parkHelper('k', 'a', async (h) => void stopped.push(h));
    expect(stopped).toEqual(['a']);
    expect(takeHelper('k')).toBeUndefined();
  });

  it('kept: taken again by key (the last parked first), at most two per key, all stopped when turned off', async () => {
    keepHelpers(true);
    const stopped: string[] = [];
    const stop = (h: string) => void stopped.push(h);
    parkHelper('k', 'a', stop);
    parkHelper('k', 'b', stop);
    parkHelper('k', 'c', stop); // a third of one key: stopped
    parkHelper('other', 'x', stop);
    expect(stopped).toEqual(['c']);
    expect(takeHelper('k')).toBe('b');
    expect(takeHelper('nothing')).toBeUndefined();
    keepHelpers(false);
    await new Promise((r) => setTimeout(r, 10));
    expect(stopped.sort()).toEqual(['a', 'c', 'x']); // 'b' is its taker's
    expect(takeHelper('k')).toBeUndefined();
    expect(takeHelper('other')).toBeUndefined();
  });

  it.runIf(process.platform === 'linux')('the sync helper of a disk: parked by release and taken by the next run, still working; closed when not kept', async () => {
    const once = Syncer.take(dir);
    await once.sync();
    once.release(); // not kept: its shell ends
    expect(Syncer.take(dir)).not.toBe(once);

    keepHelpers(true);
    const first = Syncer.take(dir);
    await first.sync();
    first.release();
    const second = Syncer.take(dir);
    expect(second).toBe(first);
    await second.sync(); // the same shell answers
    // A helper never started is not parked (nothing to keep).
    const unused = Syncer.take(join(dir, 'elsewhere'));
    unused.release();
    expect(takeHelper(`syncer ${join(dir, 'elsewhere')}`)).toBeUndefined();
    second.release();
  });
});
