import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { ConfigError } from '../../common/errors.js';
import type { HokanConfig, JobConfig, PresetDefinition } from '../../common/config-types.js';
import type { RootMember, SourceRoot } from '../../common/model.js';
import type { PresetFolder, PresetResolution } from '../../common/plugin-api.js';
import { diskSpelling, folderInside, pathFor } from '../scan/folder-inside.js';

/** Resolves a preset a plugin contributes (not one of config.json's `presets`). */
export type PresetResolver = (name: string) => Promise<PresetResolution>;

const expandHome = (p: string, platform: NodeJS.Platform = process.platform) => {
  const { resolve } = pathFor(platform);
  return p === '~' ? homedir() : p.startsWith('~/') ? resolve(homedir(), p.slice(2)) : resolve(p);
};

/**
 * A preset by name: one of config.json's `presets` (with its `extends` chain: the base's folders,
 * extensions and excludes first, then its own) or one a plugin contributes.
 */
export async function resolvePresetByName(name: string, config: Pick<HokanConfig, 'presets'>, resolvePreset: PresetResolver | undefined, seen: string[] = []): Promise<PresetResolution> {
  const user: PresetDefinition | undefined = config.presets?.[name];
  if (!user) {
    if (resolvePreset) return resolvePreset(name);
    throw new ConfigError(`preset "${name}" is not defined and no plugin provides it`, { hint: 'add "@hokan/category-presets" to "plugins", or define it under "presets"' });
  }
  if (seen.includes(name)) {
    throw new ConfigError(`presets extend each other in a circle: ${[...seen, name].join(' → ')}`, { hint: 'remove one of the "extends"' });
  }
  const own: PresetResolution = { folders: (user.folders ?? []).map((f) => expandHome(f)), extensions: user.extensions, exclude: user.exclude };
  if (!user.extends) return own;
  // A user preset may extend a plugin's preset of the same name (`"office": { "extends": "office" }`).
  const base =
    user.extends === name
      ? resolvePreset
        ? await resolvePreset(name)
        : await Promise.reject(new ConfigError(`preset "${name}" extends itself, and no plugin provides a preset "${name}"`, { hint: 'add "@hokan/category-presets" to "plugins"' }))
      : await resolvePresetByName(user.extends, config, resolvePreset, [...seen, name]);
  const extensions = [...(base.extensions ?? []), ...(own.extensions ?? [])];
  return {
    folders: [...base.folders, ...own.folders],
    extensions: extensions.length ? extensions : undefined,
    excludeExtensions: base.excludeExtensions,
    exclude: [...(base.exclude ?? []), ...(own.exclude ?? [])],
  };
}

/** A source root before names are given and overlaps merged. */
interface RawRoot extends Omit<SourceRoot, 'name' | 'members'> {
  wanted?: string;
}

export interface ResolveRootsOptions {
  /**
   * Whose paths and file systems (default: this machine's). On Windows and macOS folders whose
   * paths differ only in case are one folder, so their sources merge (scan/folder-inside.ts).
   */
  platform?: NodeJS.Platform;
}

/**
 * A job's sources as the folders to scan. Each root gets a name that is its top-level folder on
 * the target: the source's `name`, else the folder's own name, made unique in config order (so it
 * stays the same from run to run while the config does).
 *
 * Presets resolve to their folders on this machine; a preset folder that does not exist here is
 * left out (a music preset on a machine without a Music folder). Sources that overlap — a preset
 * and a path, or two presets, on the same folder or one inside the other — are merged into the
 * outermost root (the first in config order among equals) as its `members`, so a file both select
 * is backed up once; each keeps its own rules beneath its own folder, and a member's folder is
 * explicit: a path the person named is taken even where an enclosing preset excludes it. "Same"
 * and "inside" follow the platform: `C:\Users\Taro\Documents` and `c:\users\taro\documents` are
 * one folder on Windows (and their macOS kin on macOS), two on Linux.
 */
export async function resolveRoots(job: JobConfig, config: HokanConfig, resolvePreset?: PresetResolver, opts: ResolveRootsOptions = {}): Promise<SourceRoot[]> {
  const platform = opts.platform ?? process.platform;
  // `inner` under `outer` as the walk will read it ('' the same folder), or null when not inside.
  const inside = (outer: string, inner: string): string | null => {
    const rel = folderInside(outer, inner, platform);
    return rel === null ? null : diskSpelling(outer, rel, platform);
  };
  const raw: RawRoot[] = [];
  for (const [i, src] of job.sources.entries()) {
    if (src.path !== undefined) {
      const path = expandHome(src.path, platform);
      raw.push({ wanted: src.name, path, include: src.include, exclude: src.exclude });
    } else if (src.preset !== undefined) {
      const res = await resolvePresetByName(src.preset, config, resolvePreset).catch((e: unknown) => {
        throw config.presets?.[src.preset!] || resolvePreset
          ? e
          : new ConfigError(`job "${job.id}" uses preset "${src.preset}", which no plugin provides`, {
              problems: [{ path: `/jobs/${i}/sources/${i}/preset`, message: `unknown preset "${src.preset}"`, hint: 'add @hokan/category-presets to "plugins", or define it under "presets"' }],
            });
      });
      for (const f of res.folders) {
        const folder: PresetFolder = typeof f === 'string' ? { path: f } : f;
        const own = typeof f !== 'string';
        if (!existsSync(folder.path)) continue;
        raw.push({
          wanted: src.name,
          path: folder.path,
          include: [...(own ? (folder.include ?? []) : []), ...(src.include ?? [])],
          exclude: [...((own ? folder.exclude : res.exclude) ?? []), ...(src.exclude ?? [])],
          extensions: own ? folder.extensions : res.extensions,
          excludeExtensions: own ? folder.excludeExtensions : res.excludeExtensions,
          preset: src.preset,
        });
      }
    }
  }
  // Overlaps: each root goes into the first outermost root that holds its folder.
  const owners: { root: RawRoot; members: RootMember[] }[] = [];
  const order = raw.map((r, i) => ({ r, i })).sort((a, b) => a.r.path.length - b.r.path.length || a.i - b.i);
  const ownerOf = new Map<RawRoot, { root: RawRoot; members: RootMember[] }>();
  for (const { r } of order) {
    const o = owners.find((x) => folderInside(x.root.path, r.path, platform) !== null);
    if (o) {
      o.members.push(clean({ base: inside(o.root.path, r.path)!, include: r.include, exclude: r.exclude, extensions: r.extensions, excludeExtensions: r.excludeExtensions, preset: r.preset }));
      continue;
    }
    const entry = { root: r, members: [] };
    owners.push(entry);
    ownerOf.set(r, entry);
  }
  // `.hokan` is the job's own metadata folder on the target: a root never takes that name.
  const used = new Set<string>(['.hokan']);
  const unique = (name: string) => {
    let n = name || 'root';
    for (let i = 2; used.has(n); i++) n = `${name} (${i})`;
    used.add(n);
    return n;
  };
  const roots: SourceRoot[] = [];
  for (const r of raw) {
    const o = ownerOf.get(r);
    if (!o) continue;
    const { wanted, ...rest } = r;
    // Keys in this order: the head start (scan/head-start.ts) compares roots as JSON.
    roots.push(clean({ name: unique(wanted ?? pathFor(platform).basename(r.path)), ...rest, members: o.members.length ? o.members : undefined }) as SourceRoot);
  }
  const targets = targetPaths(config, platform);
  return targets.length ? roots.map((r) => withTargetsSkipped(r, targets, inside)) : roots;
}

/** The local folders of the configured targets (any type with a `path`). */
export function targetPaths(config: HokanConfig, platform: NodeJS.Platform = process.platform): { id: string; path: string }[] {
  const out: { id: string; path: string }[] = [];
  for (const [id, t] of Object.entries(config.targets ?? {})) {
    const path = (t as unknown as Record<string, unknown>).path;
    if (typeof path === 'string' && path !== '') out.push({ id, path: expandHome(path, platform) });
  }
  return out;
}

/** A root with the target folders that lie strictly inside it to skip (never a backup of the backup). */
function withTargetsSkipped(root: SourceRoot, targets: { path: string }[], inside: (outer: string, inner: string) => string | null): SourceRoot {
  const skip = targets.map((t) => inside(root.path, t.path)).filter((x): x is string => !!x);
  return skip.length ? { ...root, skip } : root;
}

/** Drops empty and undefined keys, so a root reads (and compares, for the head start) as before. */
function clean<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    if (Array.isArray(v) && v.length === 0 && k !== 'base') continue;
    out[k] = v;
  }
  return out as T;
}
