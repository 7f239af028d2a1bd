import { stat } from 'node:fs/promises';
import { TargetError, type Logger, type Target } from '@hokan/core';
import type { ResolvedMountConfig } from './nas-config.js';

/**
 * The "share is mounted" guard: the folder must lie on another file system than the system disk's
 * (the one `/` is on). A network share that is not mounted leaves its mount point, an empty folder
 * on the system disk: writing there would fill the system disk with a backup nobody sees on the NAS.
 * Not applied on Windows, where a share is a UNC path or a drive letter that is there or not.
 */
export async function assertMounted(root: string): Promise<void> {
  if (process.platform === 'win32') return;
  const [here, sys] = await Promise.all([stat(root).catch(() => undefined), stat('/')]);
  if (!here) {
    throw new TargetError('unavailable', `the NAS share's folder ${root} is not there (is the share mounted?)`, {
      hint: `mount the share, or check "path" — hokan never creates it (that would write to the system disk)`,
    });
  }
  if (here.dev === sys.dev) {
    throw new TargetError('unavailable', `the NAS share is not mounted: ${root} is on the system disk (the same file system as /)`, {
      hint: `mount the share (e.g. \`mount ${root.replace(/\/[^/]*$/, '') || root}\`, or check /etc/fstab) — hokan never writes a backup to the system disk in its place; if this folder really is the place meant, set "requireMount": false`,
    });
  }
}

/**
 * A NAS share mounted on this machine (SMB/CIFS, NFS, …): target-hdd's code, with the mount guard.
 * The same atomic writes, name rules (a share detected as SMB gets Windows rules), `volumeMarker` and
 * "never create the folder" behaviour as an external disk.
 */
export async function createMountedShare(cfg: ResolvedMountConfig, logger: Logger): Promise<Target> {
  const { HddTarget } = await import('@hokan/target-hdd');
  return HddTarget.create(
    { type: 'hdd', path: cfg.path, ...(cfg.volumeMarker ? { volumeMarker: cfg.volumeMarker } : {}), ...(cfg.maxConnections ? { maxConnections: cfg.maxConnections } : {}), ...(cfg.filesystem ? { filesystem: cfg.filesystem } : {}) },
    { logger, guard: cfg.requireMount ? assertMounted : undefined },
  );
}
