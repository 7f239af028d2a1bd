/** A preset's data and the user's folders → the folders and rules a backup takes (core's PresetResolution). */
import type { PresetFolder, PresetResolution } from '@hokan/core';
import { extensionsOf, type PresetDefaults, type PresetSpec } from './preset-data.js';
import { pathFor, userFolders, type FolderInput, type UserFolders } from './user-folders.js';

/** `{localAppData}/Microsoft/Outlook` → an absolute path on `platform`, or null when the base has none there. */
export function expandTemplate(template: string, folders: UserFolders, platform: NodeJS.Platform): string | null {
  const m = /^\{([A-Za-z]+)\}(.*)$/.exec(template);
  if (!m) return null;
  const base = (folders as unknown as Record<string, string | null | undefined>)[m[1]!];
  if (base === null || base === undefined) return null;
  const rest = m[2]!.split('/').filter(Boolean);
  const p = pathFor(platform);
  // `C:` alone is drive-relative on Windows: the system drive's root is `C:\`.
  return rest.length ? p.join(/^[A-Za-z]:$/.test(base) ? `${base}\\` : base, ...rest) : base;
}

export async function resolvePreset(spec: PresetSpec, defaults: PresetDefaults, input: FolderInput): Promise<PresetResolution> {
  const folders = await userFolders(input);
  const platform = input.platform;
  const extensions = extensionsOf(spec);
  const exclude = [...defaults.exclude, ...(spec.exclude ?? [])];
  const out: (string | PresetFolder)[] = [];
  const seen = new Set<string>();
  for (const f of spec.folders) {
    if (f.os && !f.os.includes(platform as never)) continue;
    if ('known' in f) {
      const p = folders[f.known];
      if (p && !seen.has(p)) {
        seen.add(p);
        out.push(p);
      }
      continue;
    }
    const p = expandTemplate(f.path, folders, platform);
    if (p === null || seen.has(p)) continue;
    seen.add(p);
    if (!f.profile && !f.include && !f.exclude && !f.extensions) {
      out.push(p);
      continue;
    }
    // A folder with rules of its own: the defaults still apply, and an app profile's caches go too.
    const own: PresetFolder = { path: p, exclude: [...exclude, ...(f.profile ? defaults.profileExclude : []), ...(f.exclude ?? [])] };
    if (f.include) own.include = f.include;
    const ext = f.extensions ?? extensions;
    if (ext.length) own.extensions = ext;
    if (spec.excludeExtensions) own.excludeExtensions = spec.excludeExtensions;
    out.push(own);
  }
  const res: PresetResolution = { folders: out, exclude };
  if (extensions.length) res.extensions = extensions;
  if (spec.excludeExtensions?.length) res.excludeExtensions = spec.excludeExtensions;
  return res;
}
