/**
 * A backup of some paths only (the daemon's watched runs): the same walk, filters, merge with the
 * index, generations, deletions and journal as a full run, limited to the changed paths.
 *
 * The walk is the full run's `Walker`, with its compiled filters wrapped: a folder that is neither
 * one of the paths nor on the way to one is pruned unread, a file outside them is left out before
 * any `lstat`. So a path under a hidden or excluded folder is treated exactly as the full walk
 * treats it, and the order of the items is the full walk's, which the merge with the index needs.
 * On the index side every held entry is still read (counts for the deletion guard and compaction,
 * and retention, stay those of a full run); only those under the paths can become deletions.
 */
import { isAbsolute, relative, sep } from 'node:path';
import type { SourceRoot } from '../../common/model.js';
import { compileFilters, type CompiledFilters } from '../scan/filters.js';
import { scanRootBatches, type ScanOptions } from '../scan/scanner.js';

/** The reason a scoped walk gives for what is outside the paths (never reported: see `quietOutside`). */
export const OUTSIDE = '\u0000outside-the-changed-paths';

/**
 * The paths a watched run looks at in one root: the changed paths (`rels`; '' is the root itself)
 * and the folders on the way to them (`ways`). A path at a way is looked at too: the way may have
 * been a file the index holds (a file that became a folder must leave first, as in a full run).
 */
export class Scope {
  readonly ways = new Set<string>();
  constructor(readonly rels: ReadonlySet<string>) {
    for (const s of rels) for (let i = s.indexOf('/'); i >= 0; i = s.indexOf('/', i + 1)) this.ways.add(s.slice(0, i));
  }

  /** The whole root (a change of the root itself). */
  get whole(): boolean {
    return this.rels.has('');
  }

  /** Whether `rel` is one of the changed paths or under one. */
  under(rel: string): boolean {
    return inScope(this.rels, rel);
  }

  /** Whether the run looks at `rel`: under a changed path, or on the way to one. */
  covers(rel: string): boolean {
    return this.ways.has(rel) || inScope(this.rels, rel);
  }
}

/** The changed paths (absolute) as a scope per root. Paths under no root are left out. */
export function scopesOf(roots: readonly SourceRoot[], paths: readonly string[]): Map<string, Scope> {
  const rels = new Map<string, Set<string>>(roots.map((r) => [r.name, new Set<string>()]));
  for (const p of paths) {
    for (const r of roots) {
      const rel = relative(r.path, p);
      if (rel.startsWith('..') || isAbsolute(rel)) continue;
      rels.get(r.name)!.add(sep === '/' ? rel : rel.split(sep).join('/'));
    }
  }
  return new Map([...rels].map(([k, v]) => [k, new Scope(v)]));
}

/** Whether `rel` is one of the scopes or under one. */
export function inScope(scopes: ReadonlySet<string>, rel: string): boolean {
  if (scopes.has(rel)) return true;
  for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) if (scopes.has(rel.slice(0, i))) return true;
  return false;
}

/** The root's filters, limited to the scope (see the file's comment). */
export function scopedFilters(base: CompiledFilters, scope: Scope): CompiledFilters {
  return {
    rootState: base.rootState,
    usesStat: base.usesStat,
    dir: (rel, name, parent) => (scope.covers(rel) ? base.dir(rel, name, parent) : { prune: OUTSIDE }),
    fileByPath: (rel, name, parent) => (scope.covers(rel) ? base.fileByPath(rel, name, parent) : OUTSIDE),
    fileByStat: (rel, size, mtimeMs) => base.fileByStat(rel, size, mtimeMs),
    file: (rel, name, parent, size, mtimeMs) => (scope.covers(rel) ? base.file(rel, name, parent, size, mtimeMs) : OUTSIDE),
    isExplicit: (rel) => base.isExplicit(rel),
  };
}

/** The scan options of a scoped walk: the wrapped filters, and nothing said about what is outside. */
export function scopedScanOptions(root: SourceRoot, opts: ScanOptions, scope: Scope): ScanOptions {
  const onSkip = opts.onSkip;
  return {
    ...opts,
    compiled: scopedFilters(compileFilters(opts.filters ?? {}, root, { platform: opts.platform }), scope),
    onSkip: onSkip ? (rel, reason, kind) => (reason === OUTSIDE ? undefined : onSkip(rel, reason, kind)) : undefined,
    worker: undefined,
  };
}

/**
 * Whether the full walk of the root would see at least one file: what the full run's guard
 * ("never let an empty source delete what the target holds") asks, answered by walking until the
 * first file (usually the first few names).
 */
export async function rootHasFile(root: SourceRoot, opts: ScanOptions): Promise<boolean> {
  const walk = scanRootBatches(root, { ...opts, onSkip: undefined, worker: undefined, batchSize: 1 });
  try {
    for await (const batch of walk) if (batch.some((i) => i.type !== 'error')) return true;
    return false;
  } finally {
    await walk.return(undefined);
  }
}
