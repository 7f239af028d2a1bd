import type { IndexStore } from '../node/index/index-store.js';

// The types of where a command runs, shared by the output (cli/output.ts) and the daemon that runs
// commands for its clients (cli/daemon/server.ts): here, so neither imports the other for them.

/**
 * A stream a command writes to: the process's stdout or stderr, or — under `agent run` — the
 * client's, carried over the daemon's socket (cli/daemon/server.ts).
 */
export interface Terminal extends NodeJS.WritableStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly destroyed: boolean;
  destroy(): unknown;
}

/**
 * Where a command runs: its output streams, the folder and environment it was typed in, and how
 * the person asks it to stop. The one-shot `agent` process uses its own (`processIO`); the daemon
 * gives each command it runs for a client the client's.
 */
export interface CliIO {
  readonly stdout: Terminal;
  readonly stderr: Terminal;
  /** Relative paths on the command line (`--config`, `--data-dir`, `restore --to`) are from here. */
  readonly cwd: string;
  /** Read for $HOKAN_CONFIG, $HOKAN_DATA_DIR and the config's `${env:…}` references. */
  readonly env: NodeJS.ProcessEnv;
  /** Calls `listener` each time the person asks to stop (Ctrl-C); returns the undo. */
  onInterrupt(listener: () => void): () => void;
  /** The daemon's index, open for all the commands it runs (they never close it). */
  readonly index?: IndexStore;
  /** Set when the command runs in the daemon: what `agent status` tells about it. */
  readonly daemon?: DaemonInfo;
  /** A run the scheduler started: what the engine awaits between files (its pauses). */
  readonly gate?: () => Promise<void> | undefined;
  /** A run the scheduler started: its progress, for `agent status`. */
  readonly onProgress?: (p: unknown) => void;
  /** A watched run: only these paths (the engine's `paths`). */
  readonly paths?: readonly string[];
  /** A run the scheduler started: the daemon's config (the last good one), not the file as it is now. */
  readonly loaded?: import('../node/config/config-loader.js').LoadedConfig;
}

/** The running daemon, as `agent status` shows it. */
export interface DaemonInfo {
  readonly pid: number;
  readonly since: Date;
  /** The commands it runs or has queued for clients, oldest first. */
  commands(): readonly Readonly<ActiveCommand>[];
  /** Its scheduler and watchers (`agent status`, `pause`, `resume`, `stop`, and the backups it runs). */
  readonly control?: DaemonControl;
}

/** What the commands see of the daemon's scheduler (cli/commands/run.ts builds it). */
export interface DaemonControl {
  /** The jobs of the config the daemon runs. */
  jobIds(): string[];
  /** Each job's state, schedule, next times, pause and watch state. */
  jobs(): readonly import('../node/scheduler/scheduler.js').JobSchedule[];
  /** What the daemon says about itself: config reloads refused, watch limits, what is not built. */
  notes(): string[];
  pause(job: string | undefined, forMs: number | undefined): void;
  resume(job: string | undefined): void;
  /** Stops the daemon cleanly (as SIGTERM). */
  stop(): void;
  /** What a backup of this job awaits between files (held while the job is paused). */
  gate(job: string): (() => Promise<void> | undefined) | undefined;
  /** A backup's progress, for `agent status`. */
  progress(job: string, p: unknown): void;
}

/** A command the daemon is running for a client. */
export interface ActiveCommand {
  readonly argv: readonly string[];
  readonly since: Date;
  /** Waiting for another command to finish (`waiting`), or running. */
  state: 'waiting' | 'running';
}
