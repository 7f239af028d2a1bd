import { basename, relative, resolve, sep } from 'node:path';
import { homedir } from 'node:os';
import { ConfigError } from '../../common/errors.js';
import type { HokanConfig, JobConfig } from '../../common/config-types.js';
import type { SourceRoot } from '../../common/model.js';
import type { PresetResolution } from '../../common/plugin-api.js';

export type PresetResolver = (name: string) => Promise<PresetResolution>;

const expandHome = (p: string) => (p === '~' ? homedir() : p.startsWith('~/') ? resolve(homedir(), p.slice(2)) : resolve(p));

/**
 * A job's sources as the folders to scan. Each root gets a name that is its top-level folder on
 * the target: the source's `name`, else the folder's own name, made unique in config order (so it
 * stays the same from run to run while the config does).
 */
export async function resolveRoots(job: JobConfig, config: HokanConfig, resolvePreset?: PresetResolver): Promise<SourceRoot[]> {
  const roots: SourceRoot[] = [];
  // `.hokan` is the job's own metadata folder on the target: a root never takes that name.
  const used = new Set<string>(['.hokan']);
  const unique = (name: string) => {
    let n = name || 'root';
    for (let i = 2; used.has(n); i++) n = `${name} (${i})`;
    used.add(n);
    return n;
  };
  for (const [i, src] of job.sources.entries()) {
    if (src.path !== undefined) {
      const path = expandHome(src.path);
      roots.push({ name: unique(src.name ?? basename(path)), path, include: src.include, exclude: src.exclude });
    } else if (src.preset !== undefined) {
      const user = config.presets[src.preset];
      let res: PresetResolution;
      if (user) res = { folders: (user.folders ?? []).map(expandHome), extensions: user.extensions, exclude: user.exclude };
      else if (resolvePreset) res = await resolvePreset(src.preset);
      else throw new ConfigError(`job "${job.id}" uses preset "${src.preset}", which no plugin provides`, { problems: [{ path: `/jobs/${i}/sources/${i}/preset`, message: `unknown preset "${src.preset}"`, hint: 'add @hokan/category-presets to "plugins", or define it under "presets"' }] });
      for (const folder of res.folders) {
        roots.push({
          name: unique(src.name ?? basename(folder)),
          path: folder,
          include: src.include,
          exclude: [...(res.exclude ?? []), ...(src.exclude ?? [])],
          extensions: res.extensions,
          preset: src.preset,
        });
      }
    }
  }
  const targets = targetPaths(config);
  return targets.length ? roots.map((r) => withTargetsSkipped(r, targets)) : roots;
}

/** The local folders of the configured targets (any type with a `path`). */
export function targetPaths(config: HokanConfig): { id: string; path: string }[] {
  const out: { id: string; path: string }[] = [];
  for (const [id, t] of Object.entries(config.targets)) {
    const path = (t as unknown as Record<string, unknown>).path;
    if (typeof path === 'string' && path !== '') out.push({ id, path: expandHome(path) });
  }
  return out;
}

/** Where a target folder lies inside a root: its path relative to the root, or undefined. */
export function insideRoot(rootPath: string, targetPath: string): string | undefined {
  const rel = relative(rootPath, targetPath);
  if (!rel || rel.startsWith('..') || resolve(rootPath, rel) !== targetPath || rel === '.' || /^[a-zA-Z]:/.test(rel)) return undefined;
  return rel.split(sep).join('/');
}

function withTargetsSkipped(root: SourceRoot, targets: { path: string }[]): SourceRoot {
  const skip = targets.map((t) => insideRoot(root.path, t.path)).filter((x): x is string => x !== undefined);
  return skip.length ? { ...root, skip } : root;
}
