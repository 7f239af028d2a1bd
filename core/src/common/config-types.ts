/**
 * The shape of config.json as the engine uses it, after loading (references resolved, `~` expanded,
 * defaults applied). The JSON Schema in `config/schema.json` is generated from the same TypeBox
 * source in `core/src/node/config/config-schema.ts`, whose `Static<>` type must stay assignable to these.
 */
export interface HokanConfig {
  device: string;
  plugins: string[];
  targets: Record<string, TargetConfig>;
  jobs: JobConfig[];
  notify: NotifierConfig[];
  presets: Record<string, PresetDefinition>;
  /** Runs the daemon lets run at once (default 1). */
  maxConcurrentJobs?: number;
  /** Watched jobs: settle time, longest wait, and the full-scan period when the OS cannot watch ("2s", "30s", "15m"). */
  watchSettle?: string;
  watchMaxDelay?: string;
  watchFallbackEvery?: string;
}

export interface TargetConfig {
  type: string;
  /** Transfers at once against this target (overrides the target's own default). */
  maxConnections?: number;
  /**
   * Disks used in turn at this target's place (issue 24: one kept off-site): any disk carrying this
   * job's marker is accepted, each keeps its own state, and a backup sends what changed since that
   * disk's own last run. Without it another disk there is a reset (`onTargetReset`).
   */
  rotate?: boolean;
  [key: string]: unknown;
}

export interface SourceConfig {
  path?: string;
  preset?: string;
  /** Top-level folder name for this source on the target (default: the folder's own name). */
  name?: string;
  include?: string[];
  exclude?: string[];
}

export interface FilterConfig {
  /** Globs relative to each source root; when present only matching files are backed up. */
  include?: string[];
  exclude?: string[];
  /** Extensions without the dot: only these (`extensions`) or never these (`excludeExtensions`). */
  extensions?: string[];
  excludeExtensions?: string[];
  /** Regular expressions over the relative path. */
  includeRegex?: string[];
  excludeRegex?: string[];
  /** Skip files larger than this (bytes, or "30GB", "500MB"). */
  largerThan?: number | string;
  /** Skip files last modified before this date (ISO date). */
  modifiedBefore?: string;
  /** Back up hidden files (names starting with `.`); off by default. */
  hidden?: boolean;
  /** Filters contributed by plugins, by name, with their options. */
  plugins?: { name: string; options?: unknown }[];
}

export interface ScheduleConfig {
  /** `true` (with `at`) or the time of day itself. */
  daily?: boolean | string;
  weekly?: string[];
  monthly?: number;
  at?: string;
  every?: string;
  cron?: string;
  pause?: { from: string; to: string };
  full?: Omit<ScheduleConfig, 'full' | 'pause' | 'catchUp'>;
  catchUp?: boolean;
}

/**
 * Restore drills (`drill`): when (`every` "7d", or any of a schedule's times) and how many of the
 * job's files each drill restores from each target into a temporary folder and checks.
 */
export interface DrillConfig extends Omit<ScheduleConfig, 'full' | 'pause' | 'catchUp'> {
  /** Files per target: a count (200) or a percentage ("2%"). Default 100 files. */
  sample?: number | string;
}

export interface JobConfig {
  id: string;
  sources: SourceConfig[];
  targets: string[];
  schedule?: ScheduleConfig;
  /** The IANA zone of the schedule (default: the machine's). */
  timezone?: string;
  watch?: boolean;
  /** Older versions kept per file; 0 = mirror (newest only). Default 10. */
  generations: number;
  filters: FilterConfig;
  /** Propagate source deletions: every run, on the first run of the month, or never. */
  deletions: 'every-run' | 'monthly' | 'never';
  /** A run that would delete more than this stops and reports instead. */
  deletionThreshold: { percent: number; count: number };
  /** Keep deleted files this many days before retention drops them (default: kept while generations allow). */
  keepDeletedDays?: number;
  /** Files each run checks on every target (random, among those not sent): missing or damaged → sent again. Default 20; 0 = off. */
  spotCheck?: number;
  /** Restore drills: a sample of files restored from each target into a temporary folder and checked, on this schedule. */
  drill?: DrillConfig;
  /** A target wiped or replaced since the last backup (its marker gone or another): send everything again (default) or refuse. */
  onTargetReset?: 'resend' | 'refuse';
  followSymlinks: boolean;
  /** Change detection: which stat fields count (inode is unstable on network mounts). */
  ignoreInode: boolean;
  ignoreCtime: boolean;
  /** Largest file backed up; larger ones are recorded `file-too-large`. */
  maxFileSize?: number | string;
  /** Longest path (root/rel) a target may hold; default 1024, 260 for Windows-bound targets. */
  maxPathLength?: number;
  /** Characters a name may not contain on the targets of this job, beyond the target's own. */
  forbiddenChars?: string;
  /** Re-upload files the index says are held but the target lacks (costs a listing). */
  verifyTargetListing?: boolean;
  notify?: string[];
}

export interface NotifierConfig {
  id?: string;
  type: string;
  on?: string[];
  /** One message for the runs of a batch (an `agent backup` of several jobs) instead of one per run. */
  digest?: boolean;
  [key: string]: unknown;
}

export interface PresetDefinition {
  title?: string;
  /** Another preset (a built-in one, or one of yours) this one adds to: its folders, extensions and excludes come first. */
  extends?: string;
  folders?: string[];
  extensions?: string[];
  exclude?: string[];
}
