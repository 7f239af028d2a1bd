import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { helpersKept, keepHelpers, takeHelper } from '@hokan/core';
import { Copier, REPLY_EVERY, SMALL_PER_WORKER, releaseCopier, takeCopier, type CopyReply } from '../src/copier.js';

const dir = mkdtempSync(join(tmpdir(), 'hokan-copier-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A source file of `size` bytes and the job that copies it to a fresh name (renamed in the worker). */
function job(size: number) {
  const src = join(dir, `src-${n}`);
  const data = Buffer.alloc(size, n % 251);
  writeFileSync(src, data);
  const st = statSync(src);
  const dst = join(dir, `dst-${n}`);
  const tmp = join(dir, `.hokan-tmp-${n++}`);
  return { job: { src, size, mtimeMs: st.mtimeMs, tmp, root: dir, rename: dst }, dst, sha256: createHash('sha256').update(data).digest('hex') };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

function copied(r: CopyReply, j: ReturnType<typeof job>): void {
  expect(r).toEqual({ id: expect.any(Number), sha256: j.sha256 });
  expect(createHash('sha256').update(readFileSync(j.dst)).digest('hex')).toBe(j.sha256);
}

describe('the copy workers', () => {
  it('small files share one thread; a big file alone goes to it while it idles; big files beside small ones get their own', async () => {
    const copier = new Copier();
    try {
      const small = job(1000);
      copied(await copier.copy(small.job), small);
      expect(copier.threads).toBe(1);
      // The end of a run: one big file (the compaction snapshot), nothing else in flight.
      const bigAlone = job(1024 * 1024);
      copied(await copier.copy(bigAlone.job), bigAlone);
      expect(copier.threads).toBe(1);
      // Big files while small ones are copied: a second thread, so small files do not wait behind them.
      const mixed = [job(2000), job(600 * 1024), job(3000), job(700 * 1024), job(4000)];
      const replies = await Promise.all(mixed.map((m) => copier.copy(m.job)));
      replies.forEach((r, i) => copied(r, mixed[i]!));
      expect(copier.threads).toBe(2);
    } finally {
      await copier.close();
    }
  });

  it('copies asked for at once go in batches, and every reply reaches its own file — a failure in the middle of a batch too', async () => {
    const copier = new Copier();
    try {
      // More than the small-file worker holds (the rest wait for room), and not a multiple of a reply.
      const count = SMALL_PER_WORKER * 3 + REPLY_EVERY + 3;
      const jobs = Array.from({ length: count }, (_, i) => job(100 + i * 37));
      // Every 10th source vanishes before its copy: an `open-source` error for that file alone.
      const gone = new Set(jobs.map((_, i) => i).filter((i) => i % 10 === 5));
      for (const i of gone) rmSync(jobs[i]!.job.src);
      const replies = await Promise.all(jobs.map((j) => copier.copy(j.job)));
      expect(new Set(replies.map((r) => r.id)).size).toBe(count);
      replies.forEach((r, i) => {
        if (gone.has(i)) {
          expect(r).toMatchObject({ error: { stage: 'open-source', code: 'ENOENT' } });
          expect(() => statSync(jobs[i]!.dst)).toThrow(/ENOENT/);
        } else copied(r, jobs[i]!);
      });
      expect(copier.threads).toBe(1);
    } finally {
      await copier.close();
    }
  });

  it('a copy gets exactly the permission bits asked for, whether the umask would strip them or not', async () => {
    const copier = new Copier();
    try {
      // 0o664 and 0o777 have bits a usual umask (022) strips: those copies need their fchmod; the
      // others are created with their bits. 0o000: a restore of a file nobody may read.
      const modes = [0o644, 0o600, 0o640, 0o755, 0o664, 0o777, 0o000];
      const jobs = modes.map(() => job(500));
      const replies = await Promise.all(jobs.map((j, i) => copier.copy({ ...j.job, setMode: modes[i] })));
      replies.forEach((r, i) => {
        // Bytes are read back where the owner may read (a user who is not root may not read 0o000).
        if (modes[i]! & 0o400) copied(r, jobs[i]!);
        else expect(r).toEqual({ id: expect.any(Number), sha256: jobs[i]!.sha256 });
        expect((statSync(jobs[i]!.dst).mode & 0o7777).toString(8)).toBe(modes[i]!.toString(8));
      });
    } finally {
      await copier.close();
    }
  });

  it('two big files in one batch: the first one\'s reply comes before the second copy ends', async () => {
    const copier = new Copier();
    try {
      // Warm the small-file worker (a big file goes to it while it idles alone), then two big files
      // asked for in one turn: one batch to one worker.
      const warm = job(10);
      copied(await copier.copy(warm.job), warm);
      const [a, b] = [job(2 * 1024 * 1024), job(48 * 1024 * 1024)];
      const order: string[] = [];
      const pa = copier.copy(a.job).then((r) => (order.push('a'), r));
      // The second file's progress (every PROGRESS_EVERY bytes) is heard while it is copied.
      const pb = copier.copy(b.job, () => order.push('b-progress')).then((r) => (order.push('b'), r));
      const [ra, rb] = await Promise.all([pa, pb]);
      copied(ra, a);
      copied(rb, b);
      expect(order[0]).toBe('a');
      expect(order.indexOf('b-progress')).toBeGreaterThan(0);
      expect(order.at(-1)).toBe('b');
    } finally {
      await copier.close();
    }
  });

  it('small copies asked for while the worker starts are done on this thread, with the replies and bytes the worker gives; once it is up, it takes them', async () => {
    const starting = new Copier();
    const warm = new Copier();
    try {
      warm.warm();
      await until(() => warm.ready);
      // The same kinds of job for both: plain, renamed with a mode and mtime set, a restore's
      // expected hash (one right, one wrong), a source that is not there, one that changed size.
      const cases = () => {
        const a = job(3000);
        const b = job(70_000);
        const c = job(10);
        const d = job(500);
        const e = job(200);
        const gone = job(100);
        rmSync(gone.job.src);
        const grown = job(100);
        writeFileSync(grown.job.src, Buffer.alloc(150, 1));
        return [
          a.job,
          { ...b.job, setMode: 0o640, setMtimeMs: 1_600_000_000_123.5 },
          { ...c.job, expect: { sha256: c.sha256 } },
          { ...d.job, expect: { sha256: '0'.repeat(64) } },
          { ...e.job, rename: undefined },
          gone.job,
          grown.job,
        ];
      };
      const shape = async (c: Copier, jobs: ReturnType<typeof cases>) => {
        const replies = await Promise.all(jobs.map((j) => c.copy(j)));
        return replies.map((r, i) => {
          const out: Record<string, unknown> = { ...r, id: 0 };
          if ('fd' in r && typeof r.fd === 'number') {
            out.fd = 'handed over';
            closeSync(r.fd);
          }
          if ('error' in r) out.error = { stage: r.error.stage, code: r.error.code };
          const dst = jobs[i]!.rename;
          if (dst && existsSync(dst)) out.bytes = createHash('sha256').update(readFileSync(dst)).digest('hex');
          if (dst && existsSync(dst)) out.mode = (statSync(dst).mode & 0o777).toString(8);
          if (dst && existsSync(dst)) out.mtimeMs = statSync(dst).mtimeMs;
          out.tmpLeft = existsSync(jobs[i]!.tmp);
          return out;
        });
      };
      const here = await shape(starting, cases());
      expect(starting.inlined).toBe(7); // all before its thread was up
      expect(starting.ready).toBe(false);
      const there = await shape(warm, cases());
      expect(warm.inlined).toBe(0);
      // Equal but for the files' own names and bytes (the fixtures differ by fill): compare kinds.
      const kinds = (xs: Record<string, unknown>[]) => xs.map((x) => ({ ...x, sha256: typeof x.sha256, bytes: typeof x.bytes, mtimeMs: typeof x.mtimeMs }));
      expect(kinds(here)).toEqual(kinds(there));
      expect(here[1]).toMatchObject({ mode: '640', mtimeMs: 1_600_000_000_123.5 });
      expect(here[3]).toMatchObject({ mismatch: true, tmpLeft: false });
      expect(here[5]).toMatchObject({ error: { stage: 'open-source', code: 'ENOENT' } });
      expect(here[6]).toEqual({ id: 0, changed: true, tmpLeft: false });
      // Once it is up the worker takes small copies: nothing more done here.
      await until(() => starting.ready);
      const later = job(800);
      copied(await starting.copy(later.job), later);
      expect(starting.inlined).toBe(7);
    } finally {
      await starting.close();
      await warm.close();
    }
  });

  describe('moves on the target\'s disk', () => {
    const root = join(dir, 'move-root');
    mkdirSync(root, { recursive: true });
    const file = (rel: string, text: string) => {
      const p = join(root, rel);
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, text);
      return p;
    };

    it('into folders not there yet (made below the root), pruning the folders it empties; an existing `to` stays with ifAbsent', async () => {
      const copier = new Copier();
      try {
        const from = file('live/a/b/one.txt', 'one');
        const to = join(root, 'versions', 'v1', 'live', 'a', 'b', 'one.txt');
        expect(await copier.move({ from, to, root, ifAbsent: true, prune: true })).toEqual({ id: expect.any(Number), moved: true, left: root });
        expect(readFileSync(to, 'utf8')).toBe('one');
        expect(existsSync(join(root, 'live'))).toBe(false); // live/a/b, live/a and live emptied: gone
        // Another file where the first was, moved onto the version now there: both stay.
        const again = file('live/a/b/one.txt', 'two');
        expect(await copier.move({ from: again, to, root, ifAbsent: true, prune: true })).toEqual({ id: expect.any(Number), exists: true });
        expect(readFileSync(to, 'utf8')).toBe('one');
        expect(readFileSync(again, 'utf8')).toBe('two');
        // Without ifAbsent it replaces it; without prune the folder it left stays.
        file('live/a/b/keep.txt', 'k');
        expect(await copier.move({ from: again, to, root, ifAbsent: false, prune: false })).toEqual({ id: expect.any(Number), moved: true });
        expect(readFileSync(to, 'utf8')).toBe('two');
        expect(existsSync(join(root, 'live', 'a', 'b'))).toBe(true);
        // A folder that keeps other files is where pruning stops.
        const third = file('live/a/c/three.txt', '3');
        expect(await copier.move({ from: third, to: join(root, 'versions', 'v2', 'three.txt'), root, ifAbsent: true, prune: true })).toEqual({ id: expect.any(Number), moved: true, left: join(root, 'live', 'a') });
      } finally {
        await copier.close();
      }
    });

    it('a missing source is open-source ENOENT; a missing root is never made', async () => {
      const copier = new Copier();
      try {
        const r = await copier.move({ from: join(root, 'nothing-here.txt'), to: join(root, 'versions', 'v9', 'x.txt'), root, ifAbsent: true, prune: true });
        expect(r).toMatchObject({ error: { stage: 'open-source', code: 'ENOENT' } });
        expect(existsSync(join(root, 'versions', 'v9'))).toBe(false);
        // The root gone (an unplugged disk): nothing is created in its place.
        const gone = join(dir, 'unplugged');
        const src = file('lonely.txt', 'x');
        const r2 = await copier.move({ from: src, to: join(gone, 'versions', 'v1', 'lonely.txt'), root: gone, ifAbsent: true, prune: false });
        expect(r2).toMatchObject({ error: { stage: 'move', code: 'ENOENT' } });
        expect(existsSync(gone)).toBe(false);
        expect(readFileSync(src, 'utf8')).toBe('x');
      } finally {
        await copier.close();
      }
    });
  });

  describe('kept between runs (`agent run`: keepHelpers)', () => {
    afterEach(() => keepHelpers(false));

    it('a released pool is parked and taken again, threads running; without keepHelpers it is closed', async () => {
      expect(helpersKept()).toBe(false);
      const once = takeCopier();
      const a = job(100);
      copied(await once.copy(a.job), a);
      await releaseCopier(once);
      await expect(once.copy(job(10).job)).rejects.toThrow(/closed/);
      expect(takeCopier()).not.toBe(once);

      keepHelpers(true);
      const first = takeCopier();
      const b = job(100);
      copied(await first.copy(b.job), b);
      expect(first.threads).toBe(1);
      await releaseCopier(first);
      const second = takeCopier();
      expect(second).toBe(first);
      expect(second.threads).toBe(1); // no thread started for the next run
      const c = job(200);
      copied(await second.copy(c.job), c);
      await releaseCopier(second);
      // A pool warmed (as an hdd target opened in `agent run` does) has its threads up before any job.
      const warmed = new Copier();
      try {
        expect(warmed.ready).toBe(false);
        warmed.warm();
        expect(warmed.threads).toBe(warmed.size);
        await expect.poll(() => warmed.ready, { timeout: 5000 }).toBe(true);
        const d = job(300);
        copied(await warmed.copy(d.job), d);
        expect(warmed.threads).toBe(warmed.size); // none started for the copy
      } finally {
        await warmed.close();
      }
      // Off again: the parked pool is stopped.
      keepHelpers(false);
      expect(takeHelper('target-hdd copier')).toBeUndefined();
      await new Promise((r) => setTimeout(r, 50));
      await expect(second.copy(job(10).job)).rejects.toThrow(/closed/);
    });
  });
});

describe('the copy worker script', () => {
  // Every first copy of a run (and a `restore --path` of one folder) waits for the worker to start;
  // when copy-worker.ts reached @hokan/core through copier.ts, that start took ~160 ms instead of ~60.
  it('loads only Node, copy-calls.ts and copy-jobs.ts: no @hokan/core, no package, in its thread', () => {
    const imports = (file: string) => [...readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8').matchAll(/^import\s+(?!type\b)[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    expect(imports('copy-worker.ts').filter((s) => !s!.startsWith('node:'))).toEqual(['./copy-calls.js', './copy-jobs.js']);
    expect(imports('copy-calls.ts').filter((s) => !s!.startsWith('node:'))).toEqual(['./copy-jobs.js']);
    expect(imports('copy-jobs.ts')).toEqual([]);
  });
});
