import type { FileStatus, FilterKind, Reason, RunKind, RunStatus } from './statuses.js';

/** One folder a job backs up, after presets are resolved. */
export interface SourceRoot {
  /** Unique within the job; the top-level folder this root gets on the target (`Documents`, `work`). */
  readonly name: string;
  /** Absolute path on this machine. */
  readonly path: string;
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  /** Lower-case extensions without the dot; when set only these are backed up (presets). */
  readonly extensions?: readonly string[];
  /** Extensions never backed up from this root (a preset's: the desktop's shortcuts). */
  readonly excludeExtensions?: readonly string[];
  /** Which preset this root came from, if any. */
  readonly preset?: string;
  /** Folders under the root never walked (`/`-separated, relative): backup targets inside the source. */
  readonly skip?: readonly string[];
  /**
   * Other sources of the same job whose folder is this one or lies inside it. A file is backed up
   * (once, under this root) when this root's rules or any member's rules select it; a member's
   * rules apply beneath its own folder only, and that folder is explicit (see filters.ts).
   */
  readonly members?: readonly RootMember[];
}

/** A source merged into an enclosing root of the same job (`SourceRoot.members`). */
export interface RootMember {
  /** The member's folder relative to the root, `/`-separated; '' for the root's own folder. */
  readonly base: string;
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly extensions?: readonly string[];
  readonly excludeExtensions?: readonly string[];
  readonly preset?: string;
}

export type EntryType = 'file' | 'dir' | 'symlink';

/** What the scanner yields for every file, folder and link it visits. */
export interface FileEntry {
  readonly root: SourceRoot;
  /** Path relative to the root, `/`-separated, exactly as the file system spells it (no normalisation). */
  readonly rel: string;
  /** Absolute path on this machine. */
  readonly abs: string;
  readonly type: EntryType;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly dev: number;
  readonly mode: number;
  /** Owner and group (numeric ids): kept, and restored when the restore runs as root. */
  readonly uid?: number;
  readonly gid?: number;
  /** For symlinks: where the link points (recorded, not followed). */
  readonly linkTarget?: string;
}

export interface FilterVerdict {
  readonly action: 'include' | 'exclude';
  /** Why, in a few words (shown by `--verbose` and in per-file records of skipped files). */
  readonly reason?: string;
}

export interface RunCounts {
  seen: number;
  uploaded: number;
  unchanged: number;
  deleted: number;
  skipped: number;
  failed: number;
  /** Restore runs: files written back. */
  restored: number;
}

/** Per target part of a backup run. */
export interface TargetRunResult {
  id: string;
  /** A target with `"rotate": true`: the instance id of the disk this run wrote to. */
  disk?: string;
  status: RunStatus;
  reasons: Reason[];
  counts: RunCounts;
  bytes: number;
  error?: string;
  /** Interrupted uploads this run continued where they stopped (absent when none). */
  resumedUploads?: number;
  /** Interrupted uploads this run could not continue and sent again from the start (absent when none). */
  restartedUploads?: number;
}

/** One execution of a job (product.md "A run record holds"). */
export interface RunRecord {
  id: string;
  job: string;
  kind: RunKind;
  status: RunStatus;
  reasons: Reason[];
  start: string;
  end?: string;
  device: string;
  sources: string[];
  targets: string[];
  counts: RunCounts;
  bytes: number;
  /** Per target breakdown: one scan feeds every target, each at its own pace. */
  targetResults?: TargetRunResult[];
  /** A one-line message for a run that failed as a whole (`invalid-settings`, `target-unavailable`). */
  error?: string;
  /** Why a run that did not happen did not happen (`not-executed`). */
  note?: string;
  /** Backup runs: what the walk left out, per kind (files, and pruned folders once each). */
  filtered?: Partial<Record<FilterKind, number>>;
  /** A restore drill (kind `restore`): what it sampled and checked (`agent verify --restore`, the job's `drill`). */
  drill?: DrillInfo;
  /** What the notifiers were asked to say about this run, and how it went (never changes `status`). */
  notifications?: NotificationEntry[];
}

/** What a restore drill did (`RunRecord.drill`); per target counts are in `targetResults`. */
export interface DrillInfo {
  /** The sample asked for per target: "100 files", "2%". */
  sample: string;
  /** Files restored into the drill's folder and checked against their recorded SHA-256 (all targets). */
  files: number;
  /** Of those, files whose source was unchanged (same size and mtime) and was hashed and compared too. */
  sourceChecked: number;
  /** The daemon's schedule (`drill` in the job), or a command (`agent verify --restore`). */
  trigger: 'schedule' | 'command';
}

/** One notifier's part in a run's notifications (recorded on the run: `RunRecord.notifications`). */
export interface NotificationEntry {
  notifier: string;
  kind: 'run' | 'stale' | 'recovered' | 'usage' | 'test' | 'digest';
  rule?: string;
  /** `sent`; `failed` after the retries; `coalesced` (held back: the same alarm was sent a short while ago). */
  state: 'sent' | 'failed' | 'coalesced';
  at: string;
  attempts: number;
  response?: string;
  error?: string;
}

/** One line of a run's per-file record (`agent show RUN`). */
export interface FileRecord {
  /** `root/rel` as on the target. */
  path: string;
  target: string;
  status: FileStatus;
  reason?: Reason;
  size?: number;
  sha256?: string;
  message?: string;
  /** For an upload that an earlier run left unfinished: whether it was continued (true) or started over (false). */
  resumed?: boolean;
}

export function emptyCounts(): RunCounts {
  return { seen: 0, uploaded: 0, unchanged: 0, deleted: 0, skipped: 0, failed: 0, restored: 0 };
}

/** A place the scanner could not read. Nothing under it counts as deleted. */
export interface ScanError {
  readonly type: 'error';
  readonly root: SourceRoot;
  /** '' for the root itself. */
  readonly rel: string;
  readonly abs: string;
  readonly reason: import('./statuses.js').Reason;
  readonly message: string;
}

/** What the scanner yields: files and symlinks (folders are walked, not yielded), and errors. */
export type ScanItem = FileEntry | ScanError;
