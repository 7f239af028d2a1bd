/**
 * Which keys a disk can hold: the rules of its file system (POSIX, or Windows names on FAT, exFAT,
 * NTFS and SMB), detected with statfs, as capabilities and as a check of each key.
 */
import * as fs from 'node:fs/promises';
import type { TargetCapabilities } from '@hokan/core';

/** Prefix of the temporary files a put writes before renaming; `list` never returns them, keys may not use it. */
export const TEMP_PREFIX = '.hokan-tmp-';
const TEMP_SEGMENT = /(?:^|\/)\.hokan-tmp-/;
/** A key segment that is empty, "." or "..". */
const DOT_OR_EMPTY_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

const WINDOWS_FORBIDDEN = '\\:*?"<>|';
/** Windows silently drops these at the end of a name, so `a.` and `a` would collide. */
const WINDOWS_TRAILING = ' .';
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

/** statfs `f_type` magic numbers of file systems with Windows name rules (linux/magic.h). */
const WINDOWS_FS_TYPES = new Map<number, string>([
  [0x4d44, 'vfat'], // MSDOS_SUPER_MAGIC
  [0x2011bab0, 'exfat'], // EXFAT_SUPER_MAGIC
  [0x5346544e, 'ntfs'], // NTFS_SB_MAGIC (ntfs, ntfs3)
  [0x65735546, 'fuseblk'], // FUSE_SUPER_MAGIC: on block devices this is ntfs-3g or exfat-fuse
  [0xff534d42, 'cifs'], // CIFS_SUPER_MAGIC
  [0xfe534d42, 'smb2'], // SMB2_SUPER_MAGIC
]);

/** The file system under `root` (`vfat`, `ntfs`, … or `posix`) and whether Windows name rules apply; undefined when the root is not there. */
export async function detectFilesystem(root: string): Promise<{ name: string; windows: boolean } | undefined> {
  const s = await fs.statfs(root).catch(() => undefined);
  if (!s) return undefined;
  const win = WINDOWS_FS_TYPES.get(Number(s.type));
  return { name: win ?? 'posix', windows: win !== undefined };
}

export function capabilitiesFor(root: string, maxConnections: number, windowsRules: boolean, isWin: boolean): TargetCapabilities {
  const base: TargetCapabilities = { maxConnections, serverSideMove: true, preservesMtime: true, moveIfAbsent: true };
  // Room for the root, a separator and the longest temp name in one PATH_MAX (4096 bytes on Linux).
  const pathMax = isWin ? 32_000 : 4095;
  base.maxKeyLength = Math.max(1, pathMax - root.length - 1);
  if (process.platform === 'darwin') base.normalizationInsensitive = true;
  if (windowsRules) {
    return { ...base, forbiddenChars: WINDOWS_FORBIDDEN, forbiddenTrailingChars: WINDOWS_TRAILING, maxNameLength: 255, caseInsensitive: true };
  }
  return { ...base, maxNameBytes: 255, caseInsensitive: process.platform === 'darwin' ? true : undefined };
}

/** Why `key` cannot be stored under these rules, or undefined when it can. */
export function keyProblem(key: string, c: TargetCapabilities, windowsRules: boolean, isWin: boolean): string | undefined {
  if (typeof key !== 'string' || key === '') return 'the key is empty';
  if (key.startsWith('/')) return 'it starts with "/"';
  if (key.includes('\0')) return 'it contains NUL';
  if (DOT_OR_EMPTY_SEGMENT.test(key)) return `it has an empty, "." or ".." segment`;
  if (TEMP_SEGMENT.test(key)) return `a segment starts with ${TEMP_PREFIX} (reserved for temporary files)`;
  if (isWin && key.includes('\\')) return 'it contains a backslash';
  if (c.forbiddenChars) for (const ch of c.forbiddenChars) if (key.includes(ch)) return `it contains ${JSON.stringify(ch)}, which this file system cannot hold`;
  // Rules on each name: only split the key when one of them could apply (this runs per file).
  const nameRules =
    c.forbiddenTrailingChars || windowsRules || (c.maxNameLength !== undefined && key.length > c.maxNameLength) || (c.maxNameBytes !== undefined && key.length * 3 > c.maxNameBytes);
  if (nameRules) {
    for (const s of key.split('/')) {
      if (c.forbiddenTrailingChars && c.forbiddenTrailingChars.includes(s[s.length - 1]!)) return `the name ${JSON.stringify(s)} ends with a dot or a space`;
      if (c.maxNameLength !== undefined && s.length > c.maxNameLength) return `the name ${JSON.stringify(s.slice(0, 40))}… is longer than ${c.maxNameLength} characters`;
      if (c.maxNameBytes !== undefined && Buffer.byteLength(s) > c.maxNameBytes) return `the name ${JSON.stringify(s.slice(0, 40))}… is longer than ${c.maxNameBytes} bytes`;
      if (windowsRules && WINDOWS_RESERVED.test(s)) return `${JSON.stringify(s)} is a reserved device name on Windows`;
      if (windowsRules && /[\x01-\x1f]/.test(s)) return 'it contains a control character';
    }
  }
  if (c.maxKeyLength !== undefined && key.length > c.maxKeyLength) return `it is longer than ${c.maxKeyLength} characters`;
  return undefined;
}
