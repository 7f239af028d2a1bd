import { pageOption, type BuiltinCommand } from '../command.js';
import { RUN_KINDS, RUN_STATUSES } from '../../common/statuses.js';

const PAGE = 100;

export const historyCommand: BuiltinCommand = {
  command: 'history',
  describe: 'Backup, restore and deletion runs, newest first, 100 a page',
  builder: (y) =>
    y
      .option('job', { type: 'string', describe: 'Only this job' })
      .option('kind', { choices: RUN_KINDS, describe: 'Only this kind of run' })
      .option('status', { choices: RUN_STATUSES, describe: 'Only runs with this status' })
      .option('page', pageOption('runs')),
  handler: async (args, ctx) => {
    const { withEngine, runLine } = await import('../engine-cli.js');
    const { ensureHistory } = await import('../../node/engine/history.js');
    return withEngine(ctx, async (deps) => {
      await ensureHistory(deps, args.job as string | undefined);
      const page = args.page as number;
      const { runs, total } = await deps.index.listRuns({ job: args.job as string | undefined, kind: args.kind as never, status: args.status as never, offset: (page - 1) * PAGE, limit: PAGE });
      if (ctx.output.json) {
        ctx.output.printJson({ page, pages: Math.max(1, Math.ceil(total / PAGE)), total, runs });
        return 0;
      }
      if (!total) ctx.output.print('no runs yet');
      for (const r of runs) ctx.output.print(runLine(r));
      if (total > PAGE) ctx.output.print(`page ${page} of ${Math.ceil(total / PAGE)} (${total} runs) — --page N for more`);
      return 0;
    });
  },
};
