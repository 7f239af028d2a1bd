/**
 * What a backup of some sources would take, without a target or the index: the same roots
 * (`resolveRoots`: presets resolved, overlaps merged), the same walk and built-in filters, and the
 * plugins' `filterEntry` hook when given — so `agent presets show` counts what a backup would send.
 */
import type { FilterConfig, HokanConfig, JobConfig, SourceConfig } from '../../common/config-types.js';
import type { FileEntry, FilterVerdict, SourceRoot } from '../../common/model.js';
import type { PresetResolution } from '../../common/plugin-api.js';
import { scanRootBatches } from '../scan/scanner.js';
import { resolveRoots, type PresetResolver } from './sources.js';

export interface WalkTotals {
  /** The roots walked (presets resolved on this machine, folders that exist). */
  roots: SourceRoot[];
  files: number;
  bytes: number;
  /** Places that could not be read (`path: message`). */
  errors: string[];
}

export interface WalkSourcesOptions {
  filters?: FilterConfig;
  followSymlinks?: boolean;
  /** The plugins' `filterEntry` hook, when one is tapped. */
  filter?: (e: FileEntry) => Promise<FilterVerdict | undefined>;
  /** Called with every file (and symlink) a backup would take. */
  onFile?: (e: FileEntry) => void;
  signal?: AbortSignal;
  /** Whose paths and file systems the sources are (default: this machine's; tests give others). */
  platform?: NodeJS.Platform;
}

/** Walks `sources` as one job's would be walked and counts what it would take. */
export async function walkSources(sources: SourceConfig[], config: Pick<HokanConfig, 'presets'>, resolvePreset: PresetResolver | undefined, opts: WalkSourcesOptions = {}): Promise<WalkTotals> {
  const job = { id: 'walk', sources, targets: [], filters: opts.filters ?? {} } as unknown as JobConfig;
  const roots = await resolveRoots(job, { presets: config.presets ?? {} } as HokanConfig, resolvePreset, { platform: opts.platform });
  const totals: WalkTotals = { roots, files: 0, bytes: 0, errors: [] };
  for (const root of roots) {
    for await (const batch of scanRootBatches(root, { filters: opts.filters ?? {}, followSymlinks: opts.followSymlinks === true, platform: opts.platform, filter: opts.filter, signal: opts.signal })) {
      for (const it of batch) {
        if (it.type === 'error') {
          totals.errors.push(`${it.abs}: ${it.message}`);
          continue;
        }
        totals.files++;
        if (it.type === 'file') totals.bytes += it.size;
        opts.onFile?.(it);
      }
    }
  }
  return totals;
}

/** The files one preset resolution selects on this machine (absolute paths, sorted): for tests of presets. */
export async function presetFiles(resolution: PresetResolution, opts: Omit<WalkSourcesOptions, 'onFile'> = {}): Promise<string[]> {
  const out: string[] = [];
  await walkSources([{ preset: 'p' }], { presets: {} }, async () => resolution, { ...opts, onFile: (e) => out.push(e.abs) });
  return out.sort();
}
