import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Copier, REPLY_EVERY, SMALL_PER_WORKER, type CopyReply } from '../src/copier.js';

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
});
