import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, collect, startAgent } from './helpers/agent.js';
import { digestTree, writeTree } from './helpers/trees.js';

// Issue 24: a disk that fills up, and one unplugged mid-run — on real small filesystems (tmpfs,
// mounted by the test: CI runs as root), never a mocked error.

let dir: string;
const mounts: string[] = [];
const mountTmpfs = async (at: string, size: string) => {
  await mkdir(at, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at]);
  mounts.push(at);
};
const umount = (at: string, lazy = false) => {
  execFileSync('umount', lazy ? ['-l', at] : [at]);
  mounts.splice(mounts.indexOf(at), 1);
};
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-disk-faults-'));
});
afterAll(async () => {
  for (const m of [...mounts].reverse()) {
    try {
      umount(m, true);
    } catch {
      // already gone
    }
  }
  await rm(dir, { recursive: true, force: true });
});

async function setup(name: string, diskPath: string) {
  const base = join(dir, name);
  const src = join(base, 'Documents');
  await mkdir(src, { recursive: true });
  const config = join(base, 'config.json');
  await writeFile(config, JSON.stringify({ device: 'pc', targets: { usb: { type: 'hdd', path: diskPath } }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['usb'] }] }));
  const args = (...a: string[]) => [...a, '--config', config, '--data-dir', join(base, 'data')];
  const run = (...a: string[]) => agent(args(...a), { cwd: base });
  return { base, src, args, run };
}

describe('a disk that fills up or goes away (issue 24)', () => {
  it('a full disk: the run ends incomplete (quota-exceeded) with nothing half-written at a final name; after space is freed the next run completes; restore byte-identical', async () => {
    const mnt = join(dir, 'small-disk');
    await mountTmpfs(mnt, '4m');
    const target = join(mnt, 'hokan');
    await mkdir(target);
    // Another program's file takes most of the disk.
    await writeFile(join(mnt, 'filler.bin'), Buffer.alloc(2_600_000, 1));
    const { base, src, run } = await setup('full', target);
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 8; i++) files[`f${i}.bin`] = Buffer.alloc(300_000, 65 + i);
    await writeTree(src, files);
    const first = await run('backup', '--json');
    const rec = JSON.parse(first.stdout)[0];
    expect(rec, JSON.stringify(rec)).toMatchObject({ status: 'incomplete' });
    expect(rec.reasons).toContain('quota-exceeded');
    expect(rec.counts.uploaded).toBeLessThan(8);
    // Whatever is at a final name on the disk is whole (a full disk never leaves half a file there).
    const stored = join(target, 'docs', 'Documents');
    for (const n of await readdir(stored).catch(() => [] as string[])) expect((await readFile(join(stored, n))).equals(files[n]!), `${n} on the disk is whole`).toBe(true);
    await rm(join(mnt, 'filler.bin'));
    const second = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(second, JSON.stringify(second)).toMatchObject({ status: 'completed', counts: { uploaded: 8 - rec.counts.uploaded, unchanged: rec.counts.uploaded, failed: 0 } });
    const to = join(base, 'restored');
    expect((await run('restore', '--job', 'docs', '--to', to)).code).toBe(0);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
    umount(mnt);
  }, 120_000);

  it('a disk unplugged mid-run: the run stops quickly with target-unavailable, and nothing is written to the folder underneath the mount point', async () => {
    const mnt = join(dir, 'usb-disk');
    await mountTmpfs(mnt, '64m');
    const target = join(mnt, 'hokan');
    await mkdir(target);
    const { src, args } = await setup('unplugged', target);
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 400; i++) files[`d${i % 8}/f${i}.bin`] = Buffer.alloc(100_000, i % 251);
    await writeTree(src, files);
    const child = startAgent(args('backup', '--json'), { cwd: dir });
    const done = collect(child, 90_000);
    // Unplugged once the copy is under way (some files are on the disk).
    const t0 = Date.now();
    for (;;) {
      const n = (await readdir(join(target, 'docs', 'Documents'), { recursive: true }).catch(() => [] as string[])).length;
      if (n >= 20 || Date.now() - t0 > 30_000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    umount(mnt, true);
    const unplugged = Date.now();
    const r = await done;
    const rec = JSON.parse(r.stdout)[0];
    expect(rec, JSON.stringify(rec)).toMatchObject({ status: 'incomplete' });
    expect(rec.reasons).toContain('target-unavailable');
    expect(rec.counts.uploaded).toBeLessThan(400);
    expect(Date.now() - unplugged, 'the run stopped within seconds of the unplug').toBeLessThan(20_000);
    // The mount point is now a plain folder on the system disk: hokan wrote nothing into it.
    expect(await readdir(mnt)).toEqual([]);
    expect((await stat(mnt)).isDirectory()).toBe(true);
  }, 120_000);
});
