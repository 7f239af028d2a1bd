/**
 * Whether the file system under a folder keeps its renames in order through a power cut: a journal
 * that commits metadata changes in sequence (ext3/ext4, XFS, Btrfs, ZFS), so a later rename — a put
 * landing over a file — can never survive a crash that an earlier one — the move of that file's old
 * version into the versions area — did not. Only there may a move's folder fsyncs wait for the
 * window's flush (`MoveOptions.deferSync`). FAT, exFAT, NTFS through FUSE, network file systems and
 * whatever is not known: no — each move is made durable before the put that follows it.
 */
import { readFile, realpath } from 'node:fs/promises';
import * as path from 'node:path';

/** File system types (as /proc/self/mountinfo names them) whose journal keeps renames in order; tmpfs keeps nothing through a power cut, so order does not matter there. */
const IN_ORDER = new Set(['ext3', 'ext4', 'xfs', 'btrfs', 'zfs', 'tmpfs']);

/** The type of the file system mounted at `dir` (Linux), from /proc/self/mountinfo; undefined elsewhere or when unknown. */
export async function mountedType(dir: string, mountinfo = '/proc/self/mountinfo'): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  let text: string;
  let real: string;
  try {
    [text, real] = await Promise.all([readFile(mountinfo, 'utf8'), realpath(dir)]);
  } catch {
    return undefined;
  }
  return typeUnder(text, real);
}

/** The type of the innermost mount holding the absolute path `real`, from mountinfo's text. */
export function typeUnder(mountinfo: string, real: string): string | undefined {
  let best: { point: string; type: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL…] - TYPE SOURCE SUPER-OPTIONS
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 7 || dash < 0 || dash + 1 >= f.length) continue;
    const point = unescape(f[4]!);
    const inside = point === '/' || real === point || real.startsWith(point.endsWith(path.sep) ? point : point + path.sep);
    // The later of two mounts at one point hides the earlier: `>=` keeps the last.
    if (inside && (!best || point.length >= best.point.length)) best = { point, type: f[dash + 1]! };
  }
  return best?.type;
}

/** mountinfo writes space, tab, newline and backslash in paths as octal escapes. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export async function renamesInOrder(dir: string): Promise<boolean> {
  const type = await mountedType(dir);
  return type !== undefined && IN_ORDER.has(type);
}
