/**
 * Checks that need the resolved config (references replaced, `~` expanded): paths that came from
 * `${env:…}`/`${file:…}` must be full too, and a target folder inside a source is said (the run
 * leaves it out of that source by itself: sources.ts).
 */
import { statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { HokanConfig } from '../../common/config-types.js';
import type { ConfigProblem } from '../../common/errors.js';
import { formatPath, placeOf } from './config-parse.js';
import type { ValidationContext } from './config-checks.js';
import { isFullPath } from './config-paths.js';
import { folderInside } from '../scan/folder-inside.js';

/** Local paths written as references that resolved to something relative. */
export function resolvedPathProblems(ctx: ValidationContext, config: HokanConfig): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const check = (segs: (string | number)[], raw: unknown, value: unknown) => {
    if (typeof raw !== 'string' || !raw.startsWith('${') || typeof value !== 'string' || isFullPath(value)) return;
    out.push({ path: formatPath(segs), ...placeOf(ctx, segs.map(String)), message: `${raw} gives a relative path (a value from a reference is not printed)`, hint: 'a path must be written in full or from the home folder (~/…)' });
  };
  for (const [id, t] of Object.entries(config.targets)) check(['targets', id, 'path'], ctx.value.targets?.[id]?.path, (t as unknown as Record<string, unknown>).path);
  config.jobs.forEach((job, j) => job.sources.forEach((s, i) => check(['jobs', j, 'sources', i, 'path'], ctx.value.jobs?.[j]?.sources?.[i]?.path, s.path)));
  return out;
}

/** A target folder inside a source folder of a job: left out of that source, and said so. */
export function overlapWarnings(config: HokanConfig): string[] {
  const out: string[] = [];
  for (const [id, t] of Object.entries(config.targets)) {
    const tp = (t as unknown as Record<string, unknown>).path;
    if (typeof tp !== 'string' || !isFullPath(tp)) continue;
    const target = resolve(tp);
    for (const job of config.jobs) {
      for (const s of job.sources) {
        if (typeof s.path !== 'string' || !isFullPath(s.path)) continue;
        // As the run skips it (sources.ts): by the platform's rules, case-insensitive on Windows and macOS.
        if (folderInside(resolve(s.path), target, process.platform)) {
          out.push(`target "${id}" (${target}) is inside source ${s.path} of job "${job.id}": it is left out of that source, so a backup never stores itself`);
        }
      }
    }
  }
  return out;
}

/**
 * What only the disk can tell (`config validate`): a source that is a file is refused (a source is
 * a folder); a target folder that is not there now is a warning — a disk may be unplugged.
 */
export function diskProblems(ctx: ValidationContext, config: HokanConfig, warnings: string[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  config.jobs.forEach((job, j) =>
    job.sources.forEach((s, i) => {
      if (typeof s.path !== 'string') return;
      const st = statSync(s.path, { throwIfNoEntry: false });
      if (!st) warnings.push(`source ${s.path} of job "${job.id}" is not there now: a run backs up nothing from it and deletes nothing for it`);
      else if (!st.isDirectory()) {
        const segs = ['jobs', j, 'sources', i, 'path'];
        out.push({ path: formatPath(segs), ...placeOf(ctx, segs.map(String)), message: `source ${s.path} is a file, not a folder`, hint: `give its folder as "path", with "include": ["${basename(s.path)}"] to take only this file` });
      }
    }),
  );
  for (const [id, t] of Object.entries(config.targets)) {
    const tp = (t as unknown as Record<string, unknown>).path;
    if (typeof tp !== 'string' || !isFullPath(tp)) continue;
    if (!statSync(tp, { throwIfNoEntry: false })) warnings.push(`target "${id}": ${tp} is not there now (a disk may be unplugged); runs say target-unavailable until it is`);
  }
  return out;
}
