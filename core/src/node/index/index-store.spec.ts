import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptyCounts, type FileRecord, type RunRecord } from '../../common/model.js';
import { seededRandom } from '../../testing/seeded-random.js';
import { FILE_CHUNK } from './file-chunks.js';
import { IndexStore, keys, relFromKey, type HeldFile, type IndexOp } from './index-store.js';

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

  it('differential: batches written as chained batches leave what the array form of db.batch leaves (generated batches, some at once)', async () => {
    // The speed change of 6c72507: IndexStore.batch writes put/del calls on a chained batch where it
    // gave the array to `db.batch`. The same generated batches go through both; the contents match.
    const key = fc.constantFrom('x\x00a', 'x\x00a\x00b', 'x\x00a/b', 'x\x00é', 'x\x00e\u0301', 'x\x00😀', 'x\x00', 'x\x00z'.repeat(40));
    const value = fc.oneof(fc.constantFrom('', 'line 1\nline 2', '[null]'), fc.string({ unit: 'grapheme', maxLength: 40 }));
    const op: fc.Arbitrary<IndexOp> = fc.oneof(fc.record({ type: fc.constant('put' as const), key, value }), fc.record({ type: fc.constant('del' as const), key }));
    // Each round: batches given at once (they meet in one group commit) or one after another.
    const rounds = fc.array(fc.record({ together: fc.boolean(), batches: fc.array(fc.array(op, { maxLength: 6 }), { minLength: 1, maxLength: 4 }) }), { minLength: 1, maxLength: 5 });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(rounds, async (rs) => {
        const here = join(dir, `case-${++n}`);
        const index = await IndexStore.open(join(here, 'chained'));
        const plain = new Level<string, string>(join(here, 'array'), { valueEncoding: 'utf8' });
        try {
          for (const r of rs) {
            if (r.together) await Promise.all(r.batches.map((b) => index.batch(b)));
            else for (const b of r.batches) await index.batch(b);
            for (const b of r.batches) if (b.length) await plain.batch(b as never);
          }
          await index.close();
          const chained = new Level<string, string>(join(here, 'chained', 'index'), { valueEncoding: 'utf8' });
          const read = async (db: Level<string, string>) => (await db.iterator({ gte: 'x\x00', lt: 'x\x01' }).all()).map(([k, v]) => [k, v]);
          try {
            expect(await read(chained)).toEqual(await read(plain));
          } finally {
            await chained.close();
          }
        } finally {
          await plain.close();
        }
      }),
      { numRuns: 40 },
    );
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

describe('per-file records under a path (chunk summaries)', () => {
  // What a backup writes: records nearly in the scanner's order (a copy in flight finishes a little
  // late), two roots, left-out folders (`r/d07/`), and at the end of the run records anywhere in
  // the tree (deletions, retries). Batches of 200, the open chunk's summary flushed with each.
  function runRecords(seed: number, n: number): FileRecord[] {
    const rnd = seededRandom(seed);
    const paths: string[] = [];
    for (let i = 0; paths.length < n - 30; i++) {
      const root = i < n * 0.8 ? 'r' : 'q';
      const d = `d${String(Math.floor(i / 50) % 60).padStart(2, '0')}`;
      paths.push(i % 97 === 5 ? `${root}/${d}/` : `${root}/${d}/f${String(i % 50).padStart(3, '0')}`);
    }
    for (let i = 0; i < paths.length; i++) {
      if (rnd() < 0.05) {
        const j = Math.min(paths.length - 1, i + Math.floor(rnd() * 20));
        [paths[i], paths[j]] = [paths[j]!, paths[i]!];
      }
    }
    for (let i = 0; i < 30; i++) paths.push(`r/d${String(Math.floor(rnd() * 60)).padStart(2, '0')}/gone${i}`);
    return paths.map((path, i) => ({ path, target: 'usb', status: i % 7 ? 'uploaded' : 'deleted', size: i }));
  }

  async function write(index: IndexStore, run: string, recs: FileRecord[]): Promise<void> {
    const log = index.fileLog(run);
    for (let at = 0; at < recs.length; at += 200) {
      const ops: IndexOp[] = [];
      recs.slice(at, at + 200).forEach((r, k) => log.add(ops, at + k + 1, r));
      log.flush(ops);
      await index.batch(ops);
    }
  }

  const read = async (index: IndexStore, run: string, under?: string[]) => {
    const out: FileRecord[] = [];
    for await (const f of index.files(run, under)) out.push(f);
    return out;
  };

  it('gives exactly the records of the path and what is under it, in the order written, reading only the chunks that can hold them', async () => {
    const index = await IndexStore.open(dir);
    const runs = ['20261130T190223.478-0171', '20261130T190224.001-a9f0', '20261201T000000.000-0000'];
    const recs = runs.map((_, i) => runRecords(i + 1, 3000));
    // Two runs through the chunked log, interleaved; the third as runs were written before summaries.
    await Promise.all([write(index, runs[0]!, recs[0]!), write(index, runs[1]!, recs[1]!)]);
    await index.batch(recs[2]!.map((r, i) => index.fileOp(runs[2]!, i + 1, r)));

    const asked = ['r', 'q', 'r/d07', 'r/d07/', 'q/d59', 'r/d1', 'r/d10', 'r/d07/f003', 'r/d33/gone4', 'r/d99', 'x', 'r/d0'];
    for (const [i, run] of runs.entries()) {
      // Whole run: every record, summaries never among them.
      expect(await read(index, run)).toStrictEqual(recs[i]);
      expect((await index.listFiles(run)).total).toBe(3000);
      for (const p of asked) {
        const want = recs[i]!.filter((r) => r.path === p.replace(/\/$/, '') || r.path.startsWith(p.replace(/\/$/, '') + '/'));
        expect(await read(index, run, [p.replace(/\/$/, '')]), `${run} ${p}`).toStrictEqual(want);
      }
      const two = recs[i]!.filter((r) => r.path.startsWith('r/d07/') || r.path.startsWith('q/d59/') || r.path === 'r/d07');
      const page = await index.listFiles(run, { under: ['r/d07', 'q/d59'], offset: 10, limit: 20 });
      expect(page.total).toBe(two.length);
      expect(page.files).toStrictEqual(two.slice(10, 30));
      expect((await index.listFiles(run, { under: ['r/d07'], status: 'deleted' })).files).toStrictEqual(recs[i]!.filter((r) => r.path.startsWith('r/d07/') && r.status === 'deleted'));
    }

    // One folder of a chunked run: the summaries (64 at a time) and a few chunks, not the run.
    for (const run of runs.slice(0, 2)) {
      const before = index.entriesRead;
      const got = await read(index, run, ['r/d21']);
      const cost = index.entriesRead - before;
      expect(got.length).toBeGreaterThan(40);
      expect(cost).toBeLessThanOrEqual(64 + 4 * (FILE_CHUNK + 1));
      expect(cost).toBeLessThan(3000 / 2);
    }
    // Without summaries it is read whole (and still right, above).
    const before = index.entriesRead;
    await read(index, runs[2]!, ['r/d21']);
    expect(index.entriesRead - before).toBeGreaterThanOrEqual(3000);
    await index.close();
  });

  it('a restore or drill run (all its records in one batch) and an empty run', async () => {
    const index = await IndexStore.open(dir);
    const recs = runRecords(9, 700);
    await index.batch(index.fileOps('20261202T000000.000-0000', recs));
    expect(await read(index, '20261202T000000.000-0000', ['q'])).toStrictEqual(recs.filter((r) => r.path.startsWith('q/')));
    expect(await read(index, '20261202T000000.000-0001', ['q'])).toStrictEqual([]);
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
