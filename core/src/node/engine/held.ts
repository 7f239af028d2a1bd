import type { HeldFile, HeldVersion } from '../index/index-store.js';
import type { ChangeLine } from './layout.js';

export { compareRel } from '../../common/path-order.js';

/** Applies one journal line to what a target holds for that path (rebuild from the target). */
export function applyChange(held: HeldFile | undefined, line: ChangeLine): HeldFile | undefined {
  const h: HeldFile = held ? { cur: held.cur, old: [...held.old], ...(held.pruned ? { pruned: held.pruned } : {}) } : { old: [] };
  switch (line.op) {
    case 'put': {
      if (h.cur) h.old.unshift(h.cur);
      h.cur = { v: line.v, size: line.size, mtimeMs: line.mtimeMs, sha256: line.sha256, ...(line.link !== undefined ? { link: line.link } : {}), ...(line.mode !== undefined ? { mode: line.mode } : {}), ...(line.dir ? { dir: true as const } : {}), ...owner(line) };
      break;
    }
    case 'meta': {
      if (h.cur?.v === line.v) h.cur = { ...h.cur, mode: line.mode, ...(line.mtimeMs !== undefined ? { mtimeMs: line.mtimeMs } : {}), ...owner(line) };
      break;
    }
    case 'del': {
      if (h.cur) h.old.unshift({ ...h.cur, del: line.at });
      h.cur = undefined;
      break;
    }
    case 'drop': {
      const all = h.cur ? [h.cur, ...h.old] : h.old;
      const i = all.findIndex((x) => x.v === line.v);
      if (i >= 0) notePruned(h, all[i]!, i > 0 ? all[i - 1]!.v : undefined);
      if (h.cur?.v === line.v) h.cur = undefined;
      h.old = h.old.filter((x) => x.v !== line.v);
      break;
    }
  }
  return h.cur || h.old.length || h.pruned?.length ? h : undefined;
}

/** The owner and group a journal line carries (absent in lines from before they were kept). */
function owner(line: { uid?: number; gid?: number }): { uid?: number; gid?: number } {
  return line.uid === undefined ? {} : { uid: line.uid, gid: line.gid };
}

/**
 * Notes that version `x` was dropped: runs from its own up to the run of the version after it
 * (`next`) or the one that saw the file deleted no longer restore it. A version dropped with no
 * version after it and not deleted (a damaged copy healed under the same id) notes nothing.
 * Touching intervals merge, so a file keeps one or a few, whatever its history.
 */
export function notePruned(h: HeldFile, x: HeldVersion, next: string | undefined): void {
  const until = x.del ?? next;
  if (until === undefined || until <= x.v) return;
  const list = [...(h.pruned ?? []), [x.v, until] as [string, string]].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: [string, string][] = [];
  for (const r of list) {
    const last = merged.at(-1);
    if (last && r[0] <= last[1]) last[1] = r[1] > last[1] ? r[1] : last[1];
    else merged.push([r[0], r[1]]);
  }
  h.pruned = merged;
}

/** Whether a restore as of run `cutoff` needed a version of this file that retention dropped. */
export function prunedAt(held: HeldFile, cutoff: string): boolean {
  return !!held.pruned?.some(([from, until]) => from <= cutoff && cutoff < until);
}

/**
 * The version of a file as it was right after run `cutoff` (run ids sort by time), or the newest
 * one without a cutoff. Deleted files count only with `includeDeleted`.
 */
export function versionAt(held: HeldFile, cutoff: string | undefined, includeDeleted: boolean): HeldVersion | undefined {
  if (cutoff === undefined) return held.cur ?? (includeDeleted ? held.old[0] : undefined);
  for (const ver of held.cur ? [held.cur, ...held.old] : held.old) {
    if (ver.v > cutoff) continue;
    if (ver.del !== undefined && ver.del <= cutoff && !includeDeleted) return undefined;
    return ver;
  }
  return undefined;
}
