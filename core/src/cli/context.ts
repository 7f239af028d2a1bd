import type { CommandContext, GlobalOptions, Output, Runtime } from '../common/plugin-api.js';
import type { Logger } from '../common/logger.js';
import { lazyLogger } from '../node/logger.js';
import type { HokanRuntime } from '../node/runtime.js';

/** The CommandContext the CLI hands to every command: the runtime is built on first use. */
export class CliContext implements CommandContext {
  readonly logger: Logger & { ready(): Promise<void> };
  private rt?: Promise<HokanRuntime>;

  constructor(
    readonly options: GlobalOptions,
    readonly output: Output,
    /** The command's first word: plugins contributing it are activated. */
    private readonly command?: string,
  ) {
    this.logger = lazyLogger({ dataDir: options.dataDir, verbose: options.verbose });
  }

  runtime(): Promise<Runtime> {
    return this.hokanRuntime();
  }

  hokanRuntime(): Promise<HokanRuntime> {
    this.rt ??= import('../node/runtime.js').then(({ createRuntime }) =>
      createRuntime({ config: this.options.config, dataDir: this.options.dataDir, verbose: this.options.verbose, logger: this.logger, usage: { command: this.command, runtime: true } }),
    );
    return this.rt;
  }

  async close(): Promise<void> {
    if (this.rt) {
      const rt = await this.rt.catch(() => undefined);
      await rt?.[Symbol.asyncDispose]();
    }
    await this.logger.ready();
  }
}
