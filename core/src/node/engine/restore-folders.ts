import { chmod, chown, lstat, mkdir, utimes } from 'node:fs/promises';
import { fsTime } from '../../common/units.js';
import type { HeldVersion } from '../index/held-types.js';

/**
 * Owner and group come back when the restore runs as root (as with restic and `rsync -a`); anyone
 * else can only give files to themselves, so their files are theirs.
 */
export function restoresOwner(ver: HeldVersion): boolean {
  return ver.uid !== undefined && ver.gid !== undefined && (asRoot ??= process.getuid?.() === 0);
}
/** Whether this process runs as root (asked once: a system call per restored file added up). */
let asRoot: boolean | undefined;

/** A folder a restore gives back: where it was held, and its version as of the run. */
export interface HeldFolder {
  root: string;
  rel: string;
  ver: HeldVersion;
}

/**
 * Gives back the folders of a restore once its files are written: each is made (so empty folders
 * come back), then their permission bits and mtimes are set deepest first — writing into a folder
 * moves its mtime, and a read-only folder could not be filled after its mode was set. `list` is in
 * path order (parents first). A folder where a file now stands is left alone with `never` and
 * `if-newer`, and with `rename` too (the files under it were named apart already); `never` leaves
 * the mode and mtime of a folder that is there as they are.
 */
export async function restoreFolders(
  list: readonly HeldFolder[],
  destOf: (f: HeldFolder) => string,
  overwrite: 'never' | 'if-newer' | 'always' | 'rename',
  failed: (f: HeldFolder, e: unknown) => void,
): Promise<void> {
  const made: [HeldFolder, string][] = [];
  for (const f of list) {
    try {
      const dest = destOf(f);
      const st = await lstat(dest).catch(() => undefined);
      if (st && !st.isDirectory()) continue;
      if (st && overwrite === 'never') continue;
      if (!st) await mkdir(dest, { recursive: true });
      made.push([f, dest]);
    } catch (e) {
      failed(f, e);
    }
  }
  for (let i = made.length - 1; i >= 0; i--) {
    const [f, dest] = made[i]!;
    try {
      if (restoresOwner(f.ver)) await chown(dest, f.ver.uid!, f.ver.gid!);
      if (f.ver.mode !== undefined) await chmod(dest, f.ver.mode);
      await utimes(dest, fsTime(f.ver.mtimeMs), fsTime(f.ver.mtimeMs));
    } catch (e) {
      failed(f, e);
    }
  }
}
