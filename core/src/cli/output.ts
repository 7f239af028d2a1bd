import type { Output } from '../common/plugin-api.js';
import type { IndexStore } from '../node/index/index-store.js';
import type { ActiveCommand } from './daemon/server.js';
import { maskSecretValuesIn } from '../node/config/secrets.js';

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
}

/** The running daemon, as `agent status` shows it. */
export interface DaemonInfo {
  readonly pid: number;
  readonly since: Date;
  /** The commands it runs or has queued for clients, oldest first. */
  commands(): readonly Readonly<ActiveCommand>[];
}

/**
 * The process's own streams and signals. A first Ctrl-C (or SIGTERM) is passed to the command, which
 * stops after the files in flight; a second one quits at once.
 */
export function processIO(): CliIO {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
    env: process.env,
    onInterrupt(listener) {
      let asked = false;
      const onSig = () => {
        if (asked) process.exit(130);
        asked = true;
        listener();
      };
      process.on('SIGINT', onSig);
      process.on('SIGTERM', onSig);
      return () => {
        process.off('SIGINT', onSig);
        process.off('SIGTERM', onSig);
      };
    },
  };
}

/**
 * The CLI's Output: human lines on stdout (none with --json), the one JSON document on stdout with
 * --json, warnings and errors on stderr. Known secret values are masked in everything written.
 */
export class CliOutput implements Output {
  readonly isTTY: boolean;
  constructor(
    readonly json: boolean,
    private readonly stdout: Terminal = process.stdout,
    private readonly stderr: Terminal = process.stderr,
  ) {
    this.isTTY = Boolean(stdout.isTTY);
  }
  /** False once stdout's reader has gone (`| head`): what follows is dropped. */
  get open(): boolean {
    return !this.stdout.destroyed;
  }
  /** stderr when both streams are a terminal (a progress bar is drawn there), else undefined. */
  get progressStream(): Terminal | undefined {
    return this.isTTY && !this.json && this.stderr.isTTY ? this.stderr : undefined;
  }
  print(text: string): void {
    if (!this.json && this.open) this.stdout.write(maskSecretValuesIn(text) + '\n');
  }
  printJson(value: unknown): void {
    if (this.open) this.stdout.write(maskSecretValuesIn(JSON.stringify(value, null, 2)) + '\n');
  }
  error(text: string): void {
    if (!this.stderr.destroyed) this.stderr.write(maskSecretValuesIn(text) + '\n');
  }
  /**
   * Text as it is on stdout (CSV, exports; secrets masked all the same), waiting while the reader
   * is behind so a long export is not held in memory. Returns false once the reader has gone: stop
   * producing.
   */
  async write(text: string): Promise<boolean> {
    if (!this.open) return false;
    if (!this.stdout.write(maskSecretValuesIn(text))) {
      const out = this.stdout;
      await new Promise<void>((resolve) => {
        const go = () => {
          out.off('drain', go);
          out.off('close', go);
          resolve();
        };
        out.on('drain', go);
        out.on('close', go); // destroyed (its reader went away, an error): stop waiting
      });
    }
    return this.open;
  }
}
