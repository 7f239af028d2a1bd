import { isAbsolute, relative, sep } from 'node:path';
import type { SourceRoot } from '../../common/model.js';
import type { HeldFile, IndexStore } from '../index/index-store.js';
import { pathUnder } from '../index/file-chunks.js';
import type { EngineDeps } from './deps.js';
import { resolveRoots } from './sources.js';

// What a command given PATHs looks at (`restore --path`, `verify --path`, `show --path`): each
// asked path's own range of the index, never a walk of the whole job filtered.

/** A path asked for: a root and a path under it (`''`: the whole root). */
export interface AskedPath {
  root: string;
  rel: string;
}

/** Turns the person's PATH arguments into (root, rel prefix) pairs. */
export function matchPaths(roots: readonly SourceRoot[], paths: readonly string[]): AskedPath[] {
  const out: AskedPath[] = [];
  // A backslash separates folders only on Windows; elsewhere it is part of a name (issue 27).
  const seps = sep === '\\' ? /[/\\]/ : /\//;
  const trailing = sep === '\\' ? /[/\\]+$/ : /\/+$/;
  for (const raw of paths) {
    const p = raw.replace(trailing, '');
    if (isAbsolute(p)) {
      for (const r of roots) {
        if (p === r.path) out.push({ root: r.name, rel: '' });
        else if (p.startsWith(r.path + sep)) out.push({ root: r.name, rel: relative(r.path, p).split(sep).join('/') });
      }
    } else {
      const norm = p.split(seps).filter((s) => s && s !== '.').join('/');
      for (const r of roots) out.push({ root: r.name, rel: norm });
      const [first, ...rest] = norm.split('/');
      if (roots.some((r) => r.name === first) || !roots.length) out.push({ root: first!, rel: rest.join('/') });
    }
  }
  return out;
}

/** `rel` is `prefix` or under it (`''`: everything). */
export const inside = (rel: string, prefix: string) => prefix === '' || pathUnder(rel, prefix);

/** The asked paths without those inside another (and without repeats): each range is read once. */
export function outermost(asked: readonly AskedPath[]): AskedPath[] {
  return asked.filter((w, i) => !asked.some((o, j) => o.root === w.root && (j < i ? inside(w.rel, o.rel) : inside(w.rel, o.rel) && o.rel !== w.rel)));
}

/** What a target holds for the asked paths (none: the whole job), each from its own range of the index. */
export async function* heldIn(index: IndexStore, job: string, target: string, asked: readonly AskedPath[] | undefined): AsyncGenerator<[root: string, rel: string, held: HeldFile]> {
  if (!asked) return yield* index.heldAll(job, target);
  for (const w of outermost(asked)) yield* index.heldUnder(job, target, w.root, w.rel);
}

/** The asked paths as the paths of per-file records (`ROOT/rel`; a whole root: `ROOT`). */
export const recordPrefixes = (asked: readonly AskedPath[]) => [...new Set(asked.map((w) => (w.rel ? `${w.root}/${w.rel}` : w.root)))];

/**
 * The record paths (`ROOT/rel`) a run's PATH arguments name: resolved against its job's source
 * folders while the job is in the config, else taken as `ROOT/rel`.
 */
export async function recordPathsOf(deps: Pick<EngineDeps, 'config' | 'resolvePreset'>, jobId: string, paths: readonly string[]): Promise<string[]> {
  const job = deps.config.jobs.find((j) => j.id === jobId);
  const roots = job ? await resolveRoots(job, deps.config, deps.resolvePreset).catch(() => [] as SourceRoot[]) : [];
  return recordPrefixes(matchPaths(roots, paths));
}
