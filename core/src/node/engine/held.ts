import type { HeldFile, HeldVersion } from '../index/index-store.js';
import type { ChangeLine } from './layout.js';

export { compareRel } from '../../common/path-order.js';

/** Applies one journal line to what a target holds for that path (rebuild from the target). */
export function applyChange(held: HeldFile | undefined, line: ChangeLine): HeldFile | undefined {
  const h: HeldFile = held ? { cur: held.cur, old: [...held.old] } : { old: [] };
  switch (line.op) {
    case 'put': {
      if (h.cur) h.old.unshift(h.cur);
      h.cur = { v: line.v, size: line.size, mtimeMs: line.mtimeMs, sha256: line.sha256, ...(line.link !== undefined ? { link: line.link } : {}) };
      break;
    }
    case 'del': {
      if (h.cur) h.old.unshift({ ...h.cur, del: line.at });
      h.cur = undefined;
      break;
    }
    case 'drop': {
      if (h.cur?.v === line.v) h.cur = undefined;
      h.old = h.old.filter((x) => x.v !== line.v);
      break;
    }
  }
  return h.cur || h.old.length ? h : undefined;
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
