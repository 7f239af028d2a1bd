import { AsyncParallelHook, AsyncSeriesBailHook, AsyncSeriesHook, AsyncSeriesWaterfallHook } from 'tapable';
import type { JobConfig } from './config-types.js';
import type { Logger } from './logger.js';
import type { FileEntry, FilterVerdict, RunRecord, SourceRoot, FileRecord } from './model.js';
import type { RunKind } from './statuses.js';
import type { Target } from './target.js';

/** What every hook sees about the run it belongs to. */
export interface RunContext {
  readonly runId: string;
  readonly kind: RunKind;
  readonly job: JobConfig;
  readonly device: string;
  readonly dryRun: boolean;
  readonly full: boolean;
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/** One file on its way to one target. A `beforeUpload` tap may change `key` or skip it (`skip`). */
export interface UploadItem {
  readonly entry: FileEntry;
  readonly targetId: string;
  key: string;
  skip?: { reason: string };
}

export interface UploadResult {
  readonly item: UploadItem;
  readonly record: FileRecord;
}

export interface RestoreRequest {
  readonly job: JobConfig;
  readonly targetId?: string;
  readonly paths: readonly string[];
  readonly at?: Date;
  readonly runId?: string;
}

/** First answer wins: which target a restore reads from. */
export interface RestoreSource {
  readonly targetId: string;
  readonly target: Target;
}

export interface RunReport {
  readonly run: RunRecord;
  readonly context: RunContext;
}

/**
 * The engine's extension points, tapped by plugins with their plugin id as the tap name and
 * ordered by `stage` (never by array position). The core wraps every tap so a failure names the
 * plugin (`PluginError`). One frozen instance per container.
 */
export class EngineHooks {
  /** Change the list of roots before the scan (a preset plugin adds folders, a plugin drops one). */
  readonly scanRoots = new AsyncSeriesWaterfallHook<[SourceRoot[], RunContext]>(['roots', 'run']);
  /** Verdict on one entry: return `undefined` to abstain, the first verdict wins. */
  readonly filterEntry = new AsyncSeriesBailHook<[FileEntry, RunContext], FilterVerdict | undefined>(['entry', 'run']);
  readonly beforeUpload = new AsyncSeriesWaterfallHook<[UploadItem, RunContext]>(['item', 'run']);
  readonly afterUpload = new AsyncSeriesHook<[UploadResult, RunContext]>(['result', 'run']);
  readonly resolveRestoreSource = new AsyncSeriesBailHook<[RestoreRequest], RestoreSource | undefined>(['request']);
  readonly afterRestore = new AsyncSeriesHook<[FileRecord, RunContext]>(['record', 'run']);
  /** Reporting: notifiers and loggers see every finished run (a failing tap is logged, never fails the run). */
  readonly report = new AsyncParallelHook<[RunReport]>(['report']);

  // Run lifecycle.
  readonly beforeRun = new AsyncSeriesHook<[RunContext]>(['run']);
  readonly done = new AsyncSeriesHook<[RunReport]>(['report']);
  readonly failed = new AsyncSeriesHook<[unknown, RunContext]>(['error', 'run']);
  /** The agent is stopping: flush, close connections. */
  readonly shutdown = new AsyncSeriesHook<[]>([]);

  constructor() {
    Object.freeze(this);
  }
}

export type HookName = keyof EngineHooks;

/**
 * Whether any plugin tapped `hook`. Not tapable's `isUsed()`: that counts interceptors too, and the
 * plugin host intercepts every hook (errors name the plugin), so it is always true — the engine
 * would call per-file hooks nobody listens to, a promise per file for each.
 */
export function hasTaps(hook: { readonly taps: readonly unknown[] }): boolean {
  return hook.taps.length > 0;
}
