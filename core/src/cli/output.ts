import type { Output } from '../common/plugin-api.js';
export type { CliIO, DaemonInfo, Terminal } from './io.js';
import type { CliIO, Terminal } from './io.js';
import { maskSecretValuesIn } from '../node/log/secrets.js';

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
