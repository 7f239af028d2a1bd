/**
 * Whether one folder lies in another, as the platform's file system sees it. Windows and macOS
 * ignore case by default (NTFS, APFS; APFS ignores Unicode normalization too): there
 * `C:\Users\Taro\Documents` and `c:\users\taro\documents` are one folder, and two sources naming it
 * must be merged (sources.ts) or its files would be backed up twice. Linux keeps case: there they
 * are two folders. The platform is an input, so tests cover all three on any machine.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';

/** Path helpers for `platform`: Windows paths are handled with `path.win32` on any OS (tests). */
export const pathFor = (platform: NodeJS.Platform): path.PlatformPath => (platform === 'win32' ? path.win32 : path.posix);

/** Whether the platform's usual file systems ignore case (a case-sensitive volume there is rare, and not told apart). */
export const ignoresCase = (platform: NodeJS.Platform): boolean => platform === 'win32' || platform === 'darwin';

/**
 * Any code point from U+0300 on. NFC changes nothing below it (U+0300, the first combining mark, is
 * the first code point that may compose), so most names skip `normalize` (the filters fold every name).
 */
const MAY_COMPOSE = /[^\u0000-\u02ff]/;
const nfc = (s: string): string => (MAY_COMPOSE.test(s) ? s.normalize('NFC') : s);

/** A name with the platform's normalization applied, case kept: NFC on macOS (APFS ignores it), as is elsewhere. */
export function normName(platform: NodeJS.Platform): (s: string) => string {
  if (platform === 'darwin') return nfc;
  return (s) => s;
}

/** A name as the platform's file systems compare it (simple case folding; NFC on macOS). */
export function foldName(platform: NodeJS.Platform): (s: string) => string {
  if (platform === 'darwin') return (s) => nfc(s).toLowerCase();
  if (platform === 'win32') return (s) => s.toLowerCase();
  return (s) => s;
}

/**
 * `inner` relative to `outer` (`/`-separated, spelled as `inner` spells it), '' when they are the
 * same folder, null when `inner` is not inside `outer`. Both are absolute paths of `platform`.
 * Compared name by name, so a fold that changes a name's length cannot shift the remainder.
 */
export function folderInside(outer: string, inner: string, platform: NodeJS.Platform): string | null {
  const p = pathFor(platform);
  const fold = foldName(platform);
  const o = p.resolve(outer);
  const i = p.resolve(inner);
  const ro = p.parse(o).root;
  const ri = p.parse(i).root;
  if (fold(ro) !== fold(ri)) return null;
  const os = o.slice(ro.length).split(p.sep).filter(Boolean);
  const is = i.slice(ri.length).split(p.sep).filter(Boolean);
  if (is.length < os.length) return null;
  for (let k = 0; k < os.length; k++) if (fold(os[k]!) !== fold(is[k]!)) return null;
  return is.slice(os.length).join('/');
}

/**
 * `rel` (`/`-separated) under the folder `root`, spelled as the disk spells it where the platform
 * ignores case: the walk matches a merged source's folder against the names it reads, exactly,
 * so `documents/work` under a root must become `Documents/Work` or that source's files would not
 * be taken. A name the folder holds as written stays; one missing (or matched by several names,
 * on a case-sensitive volume) keeps its spelling. The folders are read with this machine's paths.
 */
export function diskSpelling(root: string, rel: string, platform: NodeJS.Platform): string {
  if (rel === '' || !ignoresCase(platform)) return rel;
  const fold = foldName(platform);
  const out: string[] = [];
  let dir = root;
  for (const seg of rel.split('/')) {
    let name = seg;
    try {
      const names = readdirSync(dir);
      if (!names.includes(seg)) {
        const hits = names.filter((n) => fold(n) === fold(seg));
        if (hits.length === 1) name = hits[0]!;
      }
    } catch {
      // not there (yet), or not readable: as written
    }
    out.push(name);
    dir = path.join(dir, name);
  }
  return out.join('/');
}
