/**
 * Continuous backup (`watch: true`): chokidar watches a job's source folders; changes are
 * gathered and handed on as one set of paths once they settle (`settleMs`, default 2 s), or after
 * `maxDelayMs` (default 30 s) under a stream of changes that never settles. A lone change after a
 * quiet spell goes after QUICK_MS (300 ms) instead: a saved document is on the target in about a
 * second, and a burst is still one run (its later changes settle). The daemon then backs
 * up only those paths (the engine's `paths`: no walk of the whole tree).
 *
 * Editors that save by writing a temporary file and renaming it over the old one (chokidar's
 * `atomic`), bursts of thousands of changes (one set of paths), and a folder moved away (an
 * `unlinkDir`: everything under it is looked at) all end as paths. Hidden names are not watched
 * unless the job backs them up (`filters.hidden`), nor the data folder: what the job's filters
 * leave out is left out by the run itself.
 *
 * When the system's limit on watches is reached (Linux: `fs.inotify.max_user_watches`), the
 * watcher says so (`state()`, the log) and the daemon falls back to full runs every
 * `fallbackEvery` for the job.
 */
import { sep } from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { Logger } from '../../common/logger.js';

export interface JobWatcherOptions {
  job: string;
  /** The source folders (absolute). */
  folders: readonly string[];
  /** Watch names starting with `.` too. */
  hidden: boolean;
  /** Never watched: the data folder, a target inside a source. */
  skip: readonly string[];
  settleMs: number;
  maxDelayMs: number;
  logger: Logger;
  /** The changed paths, once they settle. */
  onChanges(paths: string[]): void;
  /** The watcher cannot cover the folders (the OS limit): full runs take over. */
  onFallback(why: string): void;
  /** Treat more than this many watched folders as the OS limit (tests; default: the OS's own). */
  maxFolders?: number;
}

/** The pause before backing up a change that came after a quiet spell (see `add`). */
export const QUICK_MS = 300;
/** More changed paths than this at once are a burst: they settle (`settleMs`). */
export const QUICK_MAX_PATHS = 20;

export type WatchState = { state: 'starting' } | { state: 'watching'; folders: number } | { state: 'fallback'; why: string } | { state: 'off'; why: string };

/** What the daemon says when the OS limit on watches is reached (Linux's setting named, with the fix). */
export const LIMIT_TEXT =
  'the system\'s limit on watched folders is reached (Linux: fs.inotify.max_user_watches): changes are found by a full scan every few minutes instead; raise it with `sudo sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d/ to keep it), then restart the agent';

export class JobWatcher {
  private watcher?: FSWatcher;
  private pending = new Set<string>();
  private settleTimer?: NodeJS.Timeout;
  private maxTimer?: NodeJS.Timeout;
  private current: WatchState = { state: 'starting' };
  private closed = false;
  private lastEvent = 0;
  /** The pending changes began after a quiet spell and are still few. */
  private quick = false;

  constructor(private readonly o: JobWatcherOptions) {}

  state(): WatchState {
    return this.current;
  }

  /** Starts watching; resolves once the first scan of the folders is done (or fell back). */
  async start(): Promise<void> {
    const { watch } = await import('chokidar');
    const skip = this.o.skip.map((s) => s.replace(/[\\/]+$/, ''));
    const hidden = this.o.hidden;
    const roots = this.o.folders;
    const ignored = (p: string): boolean => {
      if (skip.some((s) => p === s || p.startsWith(s + sep))) return true;
      if (hidden) return false;
      const root = roots.find((r) => p === r || p.startsWith(r + sep));
      if (!root) return false;
      return p.slice(root.length).split(sep).some((part) => part.startsWith('.'));
    };
    const w = watch([...roots], { ignoreInitial: true, persistent: true, followSymlinks: false, ignored, atomic: true, ignorePermissionErrors: true });
    this.watcher = w;
    let failed: Error | undefined;
    w.on('all', (_event, path) => this.add(path));
    w.on('error', (e) => {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOSPC' || err.code === 'EMFILE') {
        failed = err;
        void this.fallback(LIMIT_TEXT);
      } else this.o.logger.warn({ job: this.o.job, err: err.message }, 'the watcher reported an error');
    });
    await new Promise<void>((resolve) => {
      w.once('ready', () => resolve());
      // A watcher that hit the limit may never say ready.
      w.once('error', () => setTimeout(resolve, 100));
    });
    if (failed || this.closed) return;
    // chokidar lists the roots' parent folders too: only the folders inside the sources count.
    const folders = Object.keys(w.getWatched()).filter((d) => roots.some((r) => d === r || d.startsWith(r + sep))).length;
    if (this.o.maxFolders !== undefined && folders > this.o.maxFolders) {
      await this.fallback(LIMIT_TEXT);
      return;
    }
    this.current = { state: 'watching', folders };
    this.o.logger.info({ job: this.o.job, folders }, 'watching the sources');
  }

  private add(path: string): void {
    if (this.closed || this.current.state === 'fallback') return;
    const now = Date.now();
    // A change after a quiet spell (nothing pending, none for `settleMs`) goes after a short pause
    // (QUICK_MS: the write and an editor's rename land together); a change that follows others
    // within the settle time waits for them to settle (`settleMs`), never longer than `maxDelayMs`.
    if (!this.pending.size) this.quick = now - this.lastEvent >= this.o.settleMs;
    this.lastEvent = now;
    this.pending.add(path);
    // A few paths together (a write and its close, an editor's temporary file and rename) stay
    // quick; more is a burst, which settles.
    if (this.pending.size > QUICK_MAX_PATHS) this.quick = false;
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => this.flush(), this.quick ? Math.min(QUICK_MS, this.o.settleMs) : this.o.settleMs);
    this.maxTimer ??= setTimeout(() => this.flush(), this.o.maxDelayMs);
  }

  private flush(): void {
    clearTimeout(this.settleTimer);
    clearTimeout(this.maxTimer);
    this.settleTimer = this.maxTimer = undefined;
    if (!this.pending.size) return;
    const paths = [...this.pending];
    this.pending.clear();
    this.o.onChanges(paths);
  }

  private async fallback(why: string): Promise<void> {
    if (this.current.state === 'fallback') return;
    this.current = { state: 'fallback', why };
    this.o.logger.warn({ job: this.o.job }, why);
    this.pending.clear();
    await this.watcher?.close().catch(() => undefined);
    this.o.onFallback(why);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.settleTimer);
    clearTimeout(this.maxTimer);
    await this.watcher?.close().catch(() => undefined);
    if (this.current.state !== 'fallback') this.current = { state: 'off', why: 'the agent stopped' };
  }
}

/** "2s", "500ms", "15m", "1h" → ms (undefined when it is not a duration). */
export function durationMs(text: string | number | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (typeof text === 'number') return text;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(text);
  if (!m) return fallback;
  const unit = m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 3_600_000;
  return Number(m[1]) * unit;
}
