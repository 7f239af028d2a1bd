import type { CommandContext, GlobalOptions, Output, Runtime } from '../common/plugin-api.js';
import type { Logger } from '../common/logger.js';
import { lazyLogger } from '../node/log/logger.js';
import type { HokanRuntime } from '../node/runtime/runtime.js';
import type { CliIO } from './output.js';

/** The CommandContext the CLI hands to every command: the runtime is built on first use. */
export class CliContext implements CommandContext {
  readonly logger: Logger & { ready(): Promise<void>; close(): Promise<void> };
  private rt?: Promise<HokanRuntime>;

  constructor(
    readonly options: GlobalOptions,
    readonly output: Output,
    /** The command's first word: plugins contributing it are activated. */
    private readonly command: string | undefined,
    readonly io: CliIO,
    /** Runs a whole command line (`main`): the daemon runs its clients' commands with it. Passed in, so no command imports main.ts. */
    readonly runCommandLine: (argv: string[], io: CliIO) => Promise<number>,
  ) {
    this.logger = lazyLogger({ dataDir: options.dataDir, verbose: options.verbose, terminal: io.stderr });
  }

  runtime(): Promise<Runtime> {
    return this.hokanRuntime();
  }

  hokanRuntime(): Promise<HokanRuntime> {
    this.rt ??= import('../node/runtime/runtime.js').then(({ createRuntime }) =>
      createRuntime({
        config: this.options.config,
        dataDir: this.options.dataDir,
        verbose: this.options.verbose,
        env: this.io.env,
        cwd: this.options.cwd,
        logger: this.logger,
        index: this.io.index,
        loaded: this.io.loaded,
        usage: { command: this.command, runtime: true },
      }),
    );
    return this.rt;
  }

  /** Calls `listener` when the person asks the command to stop (Ctrl-C); returns the undo. */
  onInterrupt(listener: () => void): () => void {
    return this.io.onInterrupt(listener);
  }

  async close(): Promise<void> {
    if (this.rt) {
      const rt = await this.rt.catch(() => undefined);
      await rt?.[Symbol.asyncDispose]();
    }
    await this.logger.close();
  }
}
