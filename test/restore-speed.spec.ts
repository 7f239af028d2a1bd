import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HokanConfig, JobConfig } from '../core/src/common/config-types.js';
import { EngineHooks } from '../core/src/common/hooks.js';
import { nullLogger } from '../core/src/common/logger.js';
import type { Target } from '../core/src/common/target.js';
import { runBackup } from '../core/src/node/engine/backup.js';
import type { EngineDeps } from '../core/src/node/engine/deps.js';
import { runRestore, type RestoreProgress } from '../core/src/node/engine/restore.js';
import { RANGED_MIN, RestoreFolders } from '../core/src/node/engine/restore-writer.js';
import { IndexStore } from '../core/src/node/index/index-store.js';
import { HddTarget } from '../plugins/target-hdd/src/index.js';
import { agent } from './helpers/agent.js';

/**
 * Issue 20, restore at the speed of the disk. A speed change lands with a differential test
 * (docs/design.md, "Speed"): the same backups restored through the new local path (target-hdd's
 * `getToFile`, copy workers, no fsync per file, folders made once) and through the streamed path
 * every other target takes (`get`, 1 MiB writes, parallel ranged GETs for big objects — the path
 * the old restore took, minus its fsync per file) give the same tree, byte for byte with mtimes and
 * modes, and both equal the source. The engine model suite (hdd-engine.spec.ts, memory-engine.spec.ts)
 * runs the new code too. Then: verification in the same pass (a damaged stored copy is named, never
 * left at its final name, the run says so) and progress.
 */
let dir: string;
let index: IndexStore;
let src: string;
let disk: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-restore-speed-'));
  src = join(dir, 'src');
  disk = join(dir, 'disk');
  await mkdir(src);
  await mkdir(disk);
  index = await IndexStore.open(join(dir, 'data'));
});
afterAll(async () => {
  await index?.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

function deps(): EngineDeps {
  const job: JobConfig = { id: 'docs', sources: [{ path: src }], targets: ['usb'], generations: 5, filters: {}, deletions: 'every-run', deletionThreshold: { percent: 50, count: 1000 }, followSymlinks: false, ignoreInode: false, ignoreCtime: false };
  const config: HokanConfig = { device: 'pc', plugins: [], targets: { usb: { type: 'hdd', path: disk } }, jobs: [job], notify: [], presets: {} };
  return { index, hooks: new EngineHooks(), logger: nullLogger, config, openTarget: async (): Promise<Target> => HddTarget.create({ type: 'hdd', path: disk }), retry: { retries: 1, minDelayMs: 5 } };
}

/** Every entry under a folder: files with their bytes' hash, size, mtime (ms) and mode; links; folders. */
async function readTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const { createHash } = await import('node:crypto');
  const walk = async (d: string, rel: string) => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      const abs = join(d, e.name);
      if (e.isDirectory()) await walk(abs, p);
      else if (e.isSymbolicLink()) out.push(`${p} -> ${await readlink(abs)}`);
      else {
        const st = await lstat(abs);
        out.push(`${p} ${st.size}B ${createHash('sha256').update(await readFile(abs)).digest('hex').slice(0, 16)} @${st.mtimeMs.toFixed(3)} 0${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
      }
    }
  };
  await walk(root, '');
  return out;
}

const noTime = (l: string) => l.replace(/ @[\d.]+ /, ' ');
const timeOf = (l: string) => Number(/ @([\d.]+) /.exec(l)?.[1] ?? 0);

const MiB = 1024 * 1024;
const asRoot = process.getuid?.() === 0;
/** Sizes around the copy buffer (1 MiB), the streamed path's write batch and its ranged reads. */
const SIZES = [0, 1, 4095, 65_536, MiB - 1, MiB, MiB + 1, 3 * MiB + 17, RANGED_MIN + MiB + 3];

async function writeSource(seed: string): Promise<void> {
  let i = 0;
  for (const size of seed === 'one' ? SIZES : SIZES.slice(0, -1)) {
    const f = join(src, `sizes/${seed}-${size}.bin`);
    await mkdir(join(f, '..'), { recursive: true });
    await writeFile(f, randomBytes(size));
    // As root (CI): owners and groups of their own, set before the modes (a chown clears setuid and
    // setgid bits), which the restore must give back in the same order — in the copy worker too.
    if (asRoot) await chown(f, 1000 + i, 2000 + i);
    await chmod(f, [0o600, 0o644, 0o640, 0o755, ...(asRoot ? [0o4755, 0o2750] : [])][i++ % (asRoot ? 6 : 4)]!);
    await utimes(f, 1_704_067_200.734 + i, 1_704_067_200.734 + i);
  }
  for (let d = 0; d < 6; d++) {
    for (let k = 0; k < 12; k++) {
      const f = join(src, `deep/a${d % 3}/b${d}/c/f${k} ${seed}.txt`);
      await mkdir(join(f, '..'), { recursive: true });
      await writeFile(f, `${seed} ${d} ${k} `.repeat(k * 37));
    }
  }
  await symlink(`../sizes/${seed}-1.bin`, join(src, `deep/link-${seed}`));
}

describe('restore: the local fast path and the streamed path give the same tree (differential)', () => {
  it('two runs restored both ways: byte-identical, mtimes and modes, equal to the source as it was', { timeout: 60_000 }, async () => {
    await writeSource('one');
    const first = await runBackup(deps(), { job: 'docs' });
    expect(first.status).toBe('completed');
    const sourceThen = await readTree(src);
    // A second run: new files, one rewritten (the first run's version moves to the versions area).
    await writeSource('two');
    await writeFile(join(src, 'sizes/one-65536.bin'), randomBytes(70_000));
    const second = await runBackup(deps(), { job: 'docs' });
    expect(second.status).toBe('completed');
    const sourceNow = await readTree(src);

    for (const [run, want] of [[first.id, sourceThen], [second.id, sourceNow]] as const) {
      const fast = join(dir, `fast-${run}`);
      const streamed = join(dir, `streamed-${run}`);
      const a = await runRestore(deps(), { job: 'docs', run, to: fast });
      const b = await runRestore(deps(), { job: 'docs', run, to: streamed, streamOnly: true });
      for (const r of [a, b]) expect({ status: r.run.status, failed: r.run.counts.failed, restored: r.run.counts.restored }).toEqual({ status: 'completed', failed: 0, restored: want.length });
      const ta = await readTree(join(fast, 'src'));
      expect(ta).toEqual(await readTree(join(streamed, 'src'))); // the two paths: exactly the same
      // Against the source: mtimes to within a microsecond (utimes takes seconds as a double, so the
      // nanoseconds of the source's mtime do not all come back; restore.ts `sameTime`).
      expect(ta.map(noTime)).toEqual(want.map(noTime));
      ta.forEach((l, i) => expect(Math.abs(timeOf(l) - timeOf(want[i]!)), l).toBeLessThan(0.002));
      expect(a.run.bytes).toBe(b.run.bytes);
      // Nothing left beside the tree (the staging folder is gone).
      expect(await readdir(fast)).toEqual(['src']);
      expect(await readdir(streamed)).toEqual(['src']);
    }
  });

  it('a damaged stored copy is caught in the same pass, named, never left at its final name, and the run says so (both paths)', { timeout: 30_000 }, async () => {
    // The current copy of one file on the disk, damaged in place (same size, a flipped byte).
    const key = join(disk, 'docs', 'src', 'sizes', 'two-4095.bin');
    const bytes = await readFile(key);
    bytes[100] ^= 0xff;
    await writeFile(key, bytes);
    for (const streamOnly of [false, true]) {
      const to = join(dir, `damaged-${streamOnly}`);
      const { run, files } = await runRestore(deps(), { job: 'docs', to, streamOnly });
      expect(run.status).toBe('incomplete');
      expect(run.reasons).toEqual(['hash-mismatch']);
      const bad = files.filter((f) => f.status === 'failed');
      expect(bad.map((f) => [f.path, f.reason])).toEqual([['src/sizes/two-4095.bin', 'hash-mismatch']]);
      expect(bad[0]!.message).toMatch(/the copy on usb \(docs\/src\/sizes\/two-4095\.bin, the version of \d{4}-\d\d-\d\dT[\d:.]+Z\) does not match its recorded SHA-256/);
      await expect(lstat(join(to, 'src/sizes/two-4095.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect(run.counts.restored).toBe(files.length - 1);
      expect(await readdir(to)).toEqual(['src']);
    }
    bytes[100] ^= 0xff;
    await writeFile(key, bytes);
  });

  it('progress: totals first, then files and bytes up to them; a second run over the restored tree finds every file unchanged', { timeout: 30_000 }, async () => {
    const to = join(dir, 'progress');
    const seen: RestoreProgress[] = [];
    const { run } = await runRestore(deps(), { job: 'docs', to, onProgress: (p) => seen.push({ ...p }) });
    expect(run.status).toBe('completed');
    const last = seen.at(-1)!;
    expect(last.filesTotal).toBe(run.counts.restored);
    expect(last).toMatchObject({ filesDone: last.filesTotal, bytesDone: last.bytesTotal, bytesTotal: run.bytes, failed: 0 });
    expect(seen[0]!.filesDone).toBe(0);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.bytesDone).toBeGreaterThanOrEqual(seen[i - 1]!.bytesDone);
    // The big file reports along its copy, not only at its end.
    expect(seen.length).toBeGreaterThan(last.filesTotal! + 1);
    const again = await runRestore(deps(), { job: 'docs', to });
    expect(again.run.counts).toMatchObject({ restored: 0, unchanged: run.counts.restored, failed: 0 });
  });

  it('--path: only the asked folders (their range of the index), nested and repeated paths once', async () => {
    const to = join(dir, 'some');
    await writeFile(join(src, 'deep/a1x.txt'), 'beside a1, not in it');
    await runBackup(deps(), { job: 'docs' });
    const { run, files } = await runRestore(deps(), { job: 'docs', to, paths: ['deep/a1', join(src, 'deep/a1/b1'), 'deep/a1/', 'sizes/one-1.bin'] });
    expect(run.status).toBe('completed');
    const under = (await readTree(join(src, 'deep/a1'))).map((l) => `src/deep/a1/${l.replace(/ \d+B \S+ @\S+ 0\d+ \d+:\d+$/, '')}`);
    expect(under.length).toBeGreaterThan(20);
    expect(files.map((f) => f.path).sort()).toEqual([...under, 'src/sizes/one-1.bin'].sort());
  });

  it('folders are made once per run, and say whether the run made them', async () => {
    const f = new RestoreFolders();
    const base = join(dir, 'folders');
    const [a, b] = await Promise.all([f.ensure(join(base, 'x/y/z')), f.ensure(join(base, 'x/y/z'))]);
    expect([a, b]).toEqual([true, true]);
    expect(await f.ensure(join(base, 'x/y'))).toBe(true);
    await mkdir(join(base, 'old'));
    expect(await new RestoreFolders().ensure(join(base, 'old'))).toBe(false);
    await writeFile(join(base, 'file'), '');
    await expect(new RestoreFolders().ensure(join(base, 'file'))).rejects.toMatchObject({ code: 'EEXIST' });
  });
});

describe('restore: a damaged copy on one target comes from the next', () => {
  it('the file is restored from the second target, named on its record and in the run note; the run is completed', { timeout: 30_000 }, async () => {
    const base = join(dir, 'two');
    const s2 = join(base, 'src');
    await mkdir(join(s2, 'a'), { recursive: true });
    for (let i = 0; i < 5; i++) await writeFile(join(s2, 'a', `f${i}.txt`), `two targets ${i}`.repeat(50));
    const disks = { usb: join(base, 'usb'), usb2: join(base, 'usb2') };
    for (const d of Object.values(disks)) await mkdir(d);
    const idx = await IndexStore.open(join(base, 'data'));
    try {
      const job: JobConfig = { id: 'docs', sources: [{ path: s2 }], targets: ['usb', 'usb2'], generations: 5, filters: {}, deletions: 'every-run', deletionThreshold: { percent: 50, count: 1000 }, followSymlinks: false, ignoreInode: false, ignoreCtime: false };
      const d2: EngineDeps = {
        index: idx,
        hooks: new EngineHooks(),
        logger: nullLogger,
        config: { device: 'pc', plugins: [], targets: { usb: { type: 'hdd', path: disks.usb }, usb2: { type: 'hdd', path: disks.usb2 } }, jobs: [job], notify: [], presets: {} },
        openTarget: async (id): Promise<Target> => HddTarget.create({ type: 'hdd', path: disks[id as keyof typeof disks] }),
        retry: { retries: 1, minDelayMs: 5 },
      };
      expect((await runBackup(d2, { job: 'docs' })).status).toBe('completed');
      const stored = join(disks.usb, 'docs', 'src', 'a', 'f3.txt');
      await writeFile(stored, (await readFile(stored, 'utf8')).replace('two', 'TWO')); // same size, other bytes
      await rm(join(disks.usb, 'docs', 'src', 'a', 'f4.txt')); // and one gone
      for (const streamOnly of [false, true]) {
        const to = join(base, `out-${streamOnly}`);
        const { run, files } = await runRestore(d2, { job: 'docs', target: 'usb', to, streamOnly });
        expect({ status: run.status, reasons: run.reasons, counts: run.counts }).toMatchObject({ status: 'completed', reasons: [], counts: { restored: 5, failed: 0 } });
        const f3 = files.find((f) => f.path === 'src/a/f3.txt')!;
        expect(f3).toMatchObject({ status: 'restored', target: 'usb2' });
        expect(f3.message).toMatch(/^restored from usb2: the copy on usb \(version of .*\) was damaged \(hash-mismatch\)$/);
        expect(files.find((f) => f.path === 'src/a/f4.txt')!.message).toMatch(/was missing$/);
        expect(run.note).toMatch(/2 file\(s\) whose copy on usb was damaged or missing came from another target: .*src\/a\/f3\.txt \(hash-mismatch on usb\)/);
        expect((await readTree(join(to, 'src'))).map(noTime)).toEqual((await readTree(s2)).map(noTime));
      }
    } finally {
      await idx.close();
    }
  });
});

describe('agent restore killed with kill -9 and run again', () => {
  it('at a random file, and after a random delay: the second run restores only what is missing, and the tree is the source', { timeout: 60_000 }, async () => {
    const base = join(dir, 'killed');
    const csrc = join(base, 'Documents');
    for (let d = 0; d < 4; d++) {
      await mkdir(join(csrc, `d${d}`), { recursive: true });
      for (let i = 0; i < 15; i++) await writeFile(join(csrc, `d${d}`, `f${i}.bin`), randomBytes(i === 7 ? 3 * MiB : 1000 + i * 997));
    }
    const total = 60;
    const config = join(base, 'config.json');
    await mkdir(join(base, 'usb'));
    await writeFile(config, JSON.stringify({ device: 'pc', plugins: ['@hokan/target-hdd'], targets: { usb: { type: 'hdd', path: join(base, 'usb') } }, jobs: [{ id: 'docs', sources: [{ path: csrc }], targets: ['usb'] }] }));
    const run = (args: string[], env: NodeJS.ProcessEnv = {}) => agent([...args, '--config', config, '--data-dir', join(base, 'data')], { cwd: base, env });
    expect((await run(['backup'])).code).toBe(0);
    const want = (await readTree(csrc)).map(noTime);
    const k = 1 + Math.floor(Math.random() * (total - 2));
    // At the k-th file renamed into place (a crash point: the agent kills itself there with SIGKILL).
    const out1 = join(base, 'out1');
    const killed = await run(['restore', '--job', 'docs', '--to', out1], { HOKAN_CRASH_AT: `after-restore-file:${k}` });
    expect(killed.signal, `HOKAN_CRASH_AT=after-restore-file:${k}`).toBe('SIGKILL');
    const again = await run(['restore', '--job', 'docs', '--to', out1, '--json']);
    expect(again.code).toBe(0);
    const { run: r } = JSON.parse(again.stdout);
    expect(r.counts.unchanged, `killed at file ${k}`).toBeGreaterThanOrEqual(k);
    expect(r.counts.restored + r.counts.unchanged).toBe(total);
    expect((await readTree(join(out1, 'Documents'))).map(noTime)).toEqual(want);
    expect(await readdir(out1)).toEqual(['Documents']); // the staging folder the killed run left is gone
    // After a random delay, wherever it is then (a real kill -9 from outside).
    const out2 = join(base, 'out2');
    const { startAgent, collect } = await import('./helpers/agent.js');
    const child = startAgent(['restore', '--job', 'docs', '--to', out2, '--config', config, '--data-dir', join(base, 'data')], { cwd: base });
    const done = collect(child);
    await new Promise((res) => setTimeout(res, 400 + Math.random() * 800));
    child.kill('SIGKILL');
    await done;
    const second = await run(['restore', '--job', 'docs', '--to', out2, '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).run.counts.restored + JSON.parse(second.stdout).run.counts.unchanged).toBe(total);
    expect((await readTree(join(out2, 'Documents'))).map(noTime)).toEqual(want);
    expect(await readdir(out2)).toEqual(['Documents']);
  });
});

describe('agent restore: progress for people and scripts', () => {
  it('--json: restore-progress events on stderr (totals, rate, a last one marked done), one document on stdout; a summary line with time and rate without it', { timeout: 60_000 }, async () => {
    const base = join(dir, 'cli');
    const csrc = join(base, 'Documents');
    await mkdir(join(csrc, 'a'), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(join(csrc, 'a', `f${i}.txt`), `file ${i}`.repeat(100));
    const config = join(base, 'config.json');
    await mkdir(join(base, 'usb'));
    await writeFile(config, JSON.stringify({ device: 'pc', plugins: ['@hokan/target-hdd'], targets: { usb: { type: 'hdd', path: join(base, 'usb') } }, jobs: [{ id: 'docs', sources: [{ path: csrc }], targets: ['usb'] }] }));
    const run = (...args: string[]) => agent([...args, '--config', config, '--data-dir', join(base, 'data')], { cwd: base });
    expect((await run('backup')).code).toBe(0);
    const r = await run('restore', '--job', 'docs', '--to', join(base, 'out'), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).run.counts.restored).toBe(20);
    const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.at(-1)).toMatchObject({ event: 'restore-progress', filesDone: 20, filesTotal: 20, bytesDone: 20 * 700 - 10 * 100, bytesTotal: 20 * 700 - 10 * 100, failed: 0, eta: 0, done: true });
    expect(typeof events.at(-1).rate).toBe('number');
    const human = await run('restore', '--job', 'docs', '--to', join(base, 'out2'));
    expect(human.stdout).toMatch(/docs: restore completed — restored 20, .* from usb in \d+\.\d s \([\d.]+ \w+\/s\)/);
    expect(human.stderr).toBe(''); // not a terminal: no bar
  });
});
