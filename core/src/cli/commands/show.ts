import { pageOption, type BuiltinCommand } from '../command.js';
import { FILE_STATUSES } from '../../common/statuses.js';
import type { FileRecord, TargetRunResult } from '../../common/model.js';

const PAGE = 100;

export const showCommand: BuiltinCommand = {
  command: 'show <run>',
  describe: 'One run with its per-file records (--csv to export)',
  builder: (y) =>
    y
      .positional('run', { type: 'string', demandOption: true, describe: 'The run id (from `agent history`)' })
      .option('status', { choices: FILE_STATUSES, describe: 'Only files with this status' })
      .option('filtered', { type: 'boolean', default: false, describe: 'Only what the filters left out (same as --status filtered)' })
      .option('path', { type: 'string', array: true, describe: 'Only the records of these files or folders (absolute, or relative to the source folder)' })
      .option('csv', { type: 'boolean', default: false, describe: 'All matching records as CSV on stdout' })
      .option('page', pageOption('files')),
  handler: async (args, ctx) => {
    const { withEngine, runLine } = await import('../engine-cli.js');
    const { UsageError } = await import('../../common/errors.js');
    return withEngine(ctx, async (deps) => {
      const run = await deps.index.getRun(String(args.run));
      if (!run) throw new UsageError(`there is no run "${args.run}"`, { hint: 'run ids are listed by `agent history`' });
      const status = args.filtered ? 'filtered' : (args.status as (typeof FILE_STATUSES)[number] | undefined);
      // --path: the records under those paths, read from the chunks of the run that can hold them.
      let under: string[] | undefined;
      if (args.path !== undefined) {
        const { recordPathsOf } = await import('../../node/engine/path-scope.js');
        under = await recordPathsOf(deps, run.job, args.path as string[]);
        if (!under.length) throw new UsageError(`${(args.path as string[]).map((p) => `"${p}"`).join(', ')} is under none of the source folders of job "${run.job}"`, { hint: 'give a path under one of the job\'s source folders (absolute, or relative to the folder)' });
      }
      if (args.csv) {
        const esc = (v: unknown) => (v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
        const { CliOutput } = await import('../output.js');
        const out = ctx.output instanceof CliOutput ? ctx.output : new CliOutput(false);
        let chunk = 'path,target,status,reason,size,sha256,message\n';
        for await (const f of deps.index.files(run.id, under)) {
          if (status && f.status !== status) continue;
          chunk += [f.path, f.target, f.status, f.reason, f.size, f.sha256, f.message].map(esc).join(',') + '\n';
          if (chunk.length < 65_536) continue;
          // The reader went away (`| head`): stop reading the index.
          if (!(await out.write(chunk))) return 0;
          chunk = '';
        }
        await out.write(chunk);
        return 0;
      }
      const page = args.page as number;
      const { files, total } = await deps.index.listFiles(run.id, { status, under, offset: (page - 1) * PAGE, limit: PAGE });
      if (ctx.output.json) {
        ctx.output.printJson({ run, page, pages: Math.max(1, Math.ceil(total / PAGE)), total, files });
        return 0;
      }
      ctx.output.print(runLine(run));
      if (run.note) ctx.output.print(`note: ${run.note}`);
      if (run.error) ctx.output.print(`error: ${run.error}`);
      const uploads = (t: TargetRunResult) =>
        [t.resumedUploads ? `${t.resumedUploads} unfinished upload(s) continued` : '', t.restartedUploads ? `${t.restartedUploads} unfinished upload(s) started over` : ''].filter(Boolean).join(', ');
      for (const t of run.targetResults ?? []) ctx.output.print(`  ${t.id}: ${t.status}${t.reasons.length ? ` (${t.reasons.join(', ')})` : ''}${t.error ? ` — ${t.error}` : ''}${uploads(t) ? ` — ${uploads(t)}` : ''}`);
      for (const n of run.notifications ?? []) ctx.output.print(`  notified ${n.notifier} (${n.kind}${n.rule ? `, ${n.rule}` : ''}): ${n.state}${n.attempts > 1 ? ` after ${n.attempts} attempts` : ''}${n.response ? ` — ${n.response}` : ''}${n.error ? ` — ${n.error.split('\n')[0]}` : ''}`);
      const resumeNote = (f: FileRecord) => (f.resumed === true ? ' (unfinished upload continued)' : f.resumed === false ? ' (unfinished upload started over)' : '');
      for (const f of files) ctx.output.print(`${f.status.padEnd(9)} ${(f.reason ?? '').padEnd(22)} ${f.target}  ${f.path}${resumeNote(f)}${f.message ? ` — ${f.message}` : ''}`);
      if (!total) ctx.output.print(status ? `no files with status ${status}${under ? ' there' : ''}` : `no per-file records${under ? ' there' : ''} (unchanged files are counted, not listed)`);
      if (total > PAGE) ctx.output.print(`page ${page} of ${Math.ceil(total / PAGE)} (${total} files)`);
      return 0;
    });
  },
};
