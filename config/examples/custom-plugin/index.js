// An example hokan plugin, plain ESM, importing only from '@hokan/core'.
// - taps the `done` hook: after every run it appends one line to <dataDir>/hello-plugin.log
// - adds the command `agent hello [name]`
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandContribution, ContainerModule, definePlugin } from '@hokan/core';

const helloCommand = {
  command: 'hello [name]',
  describe: 'Say hello (from the example plugin)',
  builder: (y) => y.positional('name', { type: 'string', default: 'world' }).option('shout', { type: 'boolean', default: false, describe: 'Say it loudly' }),
  async handler(args, ctx) {
    const text = `Hello, ${args.name}! (from the example plugin)`;
    if (ctx.output.json) ctx.output.printJson({ greeting: text });
    else ctx.output.print(args.shout ? text.toUpperCase() : text);
    return 0;
  },
};

export default definePlugin({
  id: 'hello',
  apiVersion: 1,
  module: new ContainerModule(({ bind }) => {
    bind(CommandContribution).toConstantValue(helloCommand);
  }),
  activate(ctx) {
    // Tap by the plugin id; `stage` orders taps (lower runs first), never array position.
    ctx.hooks.done.tapPromise({ name: ctx.id, stage: 10 }, async (report) => {
      const line = `${new Date().toISOString()} run ${report.run.id} of job ${report.run.job}: ${report.run.status}\n`;
      await appendFile(join(ctx.dataDir, 'hello-plugin.log'), line);
      ctx.logger.info({ run: report.run.id }, 'hello plugin saw a finished run');
    });
  },
});
