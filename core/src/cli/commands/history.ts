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
    const { judged, prunedPerRun, restorability } = await import('../../node/engine/restorable.js');
    return withEngine(ctx, async (deps) => {
      await ensureHistory(deps, args.job as string | undefined);
      const page = args.page as number;
      const { runs, total } = await deps.index.listRuns({ job: args.job as string | undefined, kind: args.kind as never, status: args.status as never, offset: (page - 1) * PAGE, limit: PAGE });
      // Whether each backup run can still be restored whole (retention drops old versions by design).
      const whole = new Map<string, { restorable: boolean; prunedVersions: number }>();
      for (const job of deps.config.jobs) {
        const ids = runs.filter((r) => r.job === job.id && judged(r)).map((r) => r.id);
        if (!ids.length) continue;
        for (const [id, perTarget] of await prunedPerRun(deps, job, ids)) {
          const r = restorability(perTarget);
          if (r) whole.set(id, r);
        }
      }
      const annotated = runs.map((r) => ({ ...r, ...whole.get(r.id) }));
      if (ctx.output.json) {
        ctx.output.printJson({ page, pages: Math.max(1, Math.ceil(total / PAGE)), total, runs: annotated });
        return 0;
      }
      if (!total) ctx.output.print('no runs yet');
      for (const r of annotated) {
        const mark = r.restorable === undefined ? '' : r.restorable ? '  restorable' : `  partial: ${r.prunedVersions} version${r.prunedVersions === 1 ? '' : 's'} pruned`;
        ctx.output.print(runLine(r) + mark);
      }
      if (total > PAGE) ctx.output.print(`page ${page} of ${Math.ceil(total / PAGE)} (${total} runs) — --page N for more`);
      return 0;
    });
  },
};
