/**
 * A head start for the walk of a big tree. A no-change backup of 100,000 files is its walk (~1 s of
 * `lstat` calls in the scan worker), and before it can start the command loads: yargs, the config,
 * the plugins, the index, the targets (~0.3 s). The `agent` bin calls `headStart` before it loads
 * the CLI: when the last run of the same command line walked a big tree first (a hint in
 * `<data>/cache/head-start.json`), the same walk starts at once in a worker thread. The engine takes
 * it over only if its root, filters and options turn out the same (scanner.ts `scanWorkerFor`);
 * otherwise it is stopped. The hint is a cache: missing, stale or damaged, only the head start is lost.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { WalkSpec } from '../node/scan/scanner.js';
import { configCandidates, resolveDataDir } from '../node/config/config-paths.js';
import { preparse } from './preparse.cjs';

/** The walks of the last few command lines (key: `note`), oldest first. */
interface Hints {
  v: 1;
  walks: [key: string, walk: WalkSpec][];
}
/** Command lines remembered (a daemon's, a scheduled task's, one typed by hand…). */
const MAX_HINTS = 8;

function readHints(file: string): Hints['walks'] {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Hints;
    return h.v === 1 && Array.isArray(h.walks) ? h.walks.filter((w) => Array.isArray(w) && typeof w[0] === 'string' && typeof w[1]?.root?.path === 'string') : [];
  } catch {
    return []; // none yet, or unreadable: nothing to start
  }
}

/** This process's command line, as the hint knows it: the config it reads and its arguments. */
let invocation: { key: string; file: string } | undefined;
/** Whether a head start was started (scanner.ts holds it). */
let started = false;

function note(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): { key: string; file: string } {
  const pre = preparse(argv);
  const config = configCandidates(pre.config, { env, cwd }).find((c) => existsSync(c.path))?.path ?? null;
  invocation = { key: JSON.stringify([config, argv]), file: join(resolveDataDir(pre.dataDir, { env, cwd }), 'cache', 'head-start.json') };
  return invocation;
}

/** Starts the walk the last run of this command line began with, if it was a big one. Never throws. */
export async function headStart(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<void> {
  try {
    invocation = undefined;
    if (!argv.includes('backup')) return;
    const { key, file } = note(argv, env, cwd);
    const walk = readHints(file).find(([k]) => k === key)?.[1];
    if (!walk) return;
    const { startHeadStart } = await import('../node/scan/scanner.js');
    startHeadStart(walk);
    started = true;
  } catch {
    // A head start is an optimisation: the command goes on without it.
  }
}

/**
 * After a backup: remembers the walk to start early next time — the first walk of this process,
 * when it was a big tree — or forgets it. No-op when `headStart` did not run
 * (the command was not started by the bin). Never throws.
 */
export function saveHeadStart(walk: WalkSpec | undefined): void {
  const inv = invocation;
  if (!inv) return;
  try {
    const before = readHints(inv.file);
    const after = before.filter(([k]) => k !== inv.key);
    if (walk) after.push([inv.key, walk]);
    const text = JSON.stringify({ v: 1, walks: after.slice(-MAX_HINTS) } satisfies Hints);
    if (text === JSON.stringify({ v: 1, walks: before })) return;
    const tmp = `${inv.file}.${process.pid}.tmp`;
    mkdirSync(dirname(inv.file), { recursive: true });
    writeFileSync(tmp, text);
    renameSync(tmp, inv.file); // whole or not at all; no fsync: it is a cache
  } catch {
    // The cache folder cannot be written: the next run simply gets no head start.
  }
}

/** Stops a head start no run took (the command failed before its walk, or walked something else). */
export async function endHeadStart(): Promise<void> {
  if (!started) return;
  started = false;
  const { stopHeadStart } = await import('../node/scan/scanner.js');
  await stopHeadStart();
}
