import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TargetError, nullLogger, type Target } from '@hokan/core';
import { bufferSource, describeEngineConformance, describeTargetConformance } from '@hokan/core/testing';
import { nasTargetContribution } from '../src/index.js';

// The mounted-share variant (`path`): target-hdd's code behind the "share is mounted" guard. The
// "share" is a real tmpfs mounted for this file (another file system than the system disk's, as a
// mounted SMB/NFS share is); without root to mount one, a local folder with "requireMount": false.
const isRoot = process.getuid?.() === 0;
const base = mkdtempSync(join(tmpdir(), 'hokan-nas-mount-'));
const share = join(base, 'share');
let mounted = false;
function mountShare(): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', share]);
  mounted = true;
}
function unmountShare(): void {
  if (mounted) execFileSync('umount', ['-l', share]);
  mounted = false;
}
beforeAll(async () => {
  await mkdir(share);
  if (isRoot) mountShare();
  else console.warn('target-nas mounted-share tests: not root, so no tmpfs: a local folder with "requireMount": false stands in for the share');
});
afterAll(async () => {
  unmountShare();
  await rm(base, { recursive: true, force: true });
});

const ctx = { id: 'nas', logger: nullLogger, dataDir: '' };
let n = 0;
async function place(): Promise<string> {
  const p = join(share, `p${n++}`);
  await mkdir(p);
  return p;
}
const open = (path: string, extra: Record<string, unknown> = {}) => nasTargetContribution.create({ type: 'nas', path, ...(isRoot ? {} : { requireMount: false }), ...extra }, ctx);

describeTargetConformance<Target>({
  name: 'nas (mounted share: target-hdd code on a mounted folder)',
  create: async () => open(await place()),
});

describeEngineConformance({
  name: 'nas (mounted share, ignoreInode)',
  // target-hdd's own suite runs the model (and its fixed regression cases) on real folders at
  // length with the same code; here generated cases on the share, with ignoreInode.
  regressions: false,
  runs: 2,
  seeds: [1],
  maxOps: 12,
  job: { ignoreInode: true },
  createPlace: async () => {
    const p = await place();
    return { open: () => open(p), dispose: () => rm(p, { recursive: true, force: true }) };
  },
});

describe('nas target, mounted share', () => {
  it('is target-hdd\'s code (one implementation for disks and shares)', async () => {
    const t = await open(await place());
    expect(t.constructor.name).toBe('HddTarget');
    await t[Symbol.asyncDispose]();
  });

  it('a share that is not mounted (its folder on the system disk) is target-unavailable, and nothing is written there', async () => {
    const onSystemDisk = mkdtempSync(join(base, 'not-mounted-'));
    const t = await nasTargetContribution.create({ type: 'nas', path: onSystemDisk }, ctx);
    const e = await t.check().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(TargetError.isKind(e, 'unavailable'), String(e)).toBe(true);
    expect((e as TargetError).message).toContain(`the NAS share is not mounted: ${onSystemDisk} is on the system disk`);
    expect((e as TargetError).hint).toMatch(/mount the share .* "requireMount": false/);
    expect(readdirSync(onSystemDisk)).toEqual([]);
    await t[Symbol.asyncDispose]();
    // Said explicitly, a folder on the system disk is fine.
    const ok = await nasTargetContribution.create({ type: 'nas', path: onSystemDisk, requireMount: false }, ctx);
    await ok.check();
    await ok.put('a.txt', bufferSource('a'), { size: 1 });
    expect(readdirSync(onSystemDisk)).toEqual(['a.txt']);
    await ok[Symbol.asyncDispose]();
  });

  it.runIf(isRoot)('the share unmounted between runs: the next check says so, and the empty mount point gets nothing', async () => {
    const t = await open(share);
    await t.check();
    await t.put('docs/kept.txt', bufferSource('on the share'), { size: 12 });
    await t[Symbol.asyncDispose]();
    unmountShare();
    try {
      const again = await open(share);
      await expect(again.check()).rejects.toThrow(/the NAS share is not mounted/);
      await again[Symbol.asyncDispose]();
      expect(readdirSync(share)).toEqual([]);
    } finally {
      mountShare();
    }
  });

  it('settings: url and path are exclusive; WebDAV-only settings are refused with path', async () => {
    await expect(nasTargetContribution.create({ type: 'nas', path: share, url: 'http://x/' }, ctx)).rejects.toThrow(/either "url" \(WebDAV\) or "path"/);
    await expect(nasTargetContribution.create({ type: 'nas', path: share, insecureSkipVerify: true }, ctx)).rejects.toThrow(/"insecureSkipVerify" is a setting of a WebDAV \(url\) nas target/);
    await expect(nasTargetContribution.create({ type: 'nas', path: 'relative/dir' }, ctx)).rejects.toThrow(/must be absolute/);
  });
});
