import { resolve } from 'node:path';
import type { FileRecord } from '../../common/model.js';
import type { BuiltinCommand } from '../command.js';

export const restoreCommand: BuiltinCommand = {
  command: 'restore',
  describe: 'Restore files, folders or the whole tree as of any point in time, from any target',
  builder: (y) =>
    y
      .option('job', { type: 'string', demandOption: true, describe: 'The job whose backup to restore' })
      .option('target', { type: 'string', describe: 'Read from this target (default: the first that answers)' })
      .option('path', { type: 'string', array: true, describe: 'Files or folders to restore (absolute, or relative to the source folder); default: everything' })
      .option('at', { type: 'string', describe: 'As it was at this time ("2026/11/01 18:00", ISO, or a date = end of that day)' })
      .option('run', { type: 'string', describe: 'As it was right after this backup run (id from `agent history`)' })
      .option('to', { type: 'string', describe: 'Restore under this folder instead of the original places' })
      .option('overwrite', { choices: ['never', 'if-newer', 'always', 'rename'] as const, default: 'rename', describe: 'When a file is already there' })
      .option('include-deleted', { type: 'boolean', default: false, describe: 'Also files deleted at the source' })
      .option('fill-pruned', { type: 'boolean', default: false, describe: 'A file whose version as of --run/--at is no longer kept (generations) gets the oldest version kept after it, named in the summary' })
      .option('rename-unsafe', { type: 'boolean', default: false, describe: 'A name this system cannot hold (a:b.txt on Windows) is restored under one it can (a：b.txt) instead of failing forbidden-name' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Show what would be restored; write nothing' })
      .conflicts('at', 'run'),
  handler: async (args, ctx) => {
    const { withEngine, interruptSignal, statusText, countsText, parseAt } = await import('../engine-cli.js');
    const { runRestore } = await import('../../node/engine/restore.js');
    const { formatBytes } = await import('../../common/units.js');
    const { restoreProgress } = await import('../restore-progress.js');
    const { CliOutput } = await import('../output.js');
    const { JsonListDocument } = await import('../json-stream.js');
    const stop = interruptSignal(ctx);
    try {
      return await withEngine(ctx, async (deps) => {
        // A bar on a terminal; with --json, progress events as JSON lines on stderr (stdout keeps its one document).
        const progress = args.dryRun
          ? undefined
          : await restoreProgress({ job: String(args.job), bar: ctx.output instanceof CliOutput ? ctx.output.progressStream : undefined, json: ctx.output.json ? (line) => ctx.output.error(line) : undefined });
        // Only the records printed are kept (every one is in the index: `agent show RUN`): a restore
        // of a million files holds no million records.
        // With --json the records of a long restore are printed as it goes (json-stream.ts).
        let listed = 0;
        const doc = ctx.output.json && ctx.output instanceof CliOutput ? new JsonListDocument<FileRecord>(ctx.output, 'files') : undefined;
        const keepRecord = doc
          ? (f: FileRecord) => (f.status !== 'unchanged' && doc.add(f), false)
          : ctx.output.json
            ? (f: FileRecord) => f.status !== 'unchanged'
            : (f: FileRecord) => f.status === 'failed' || f.status === 'skipped' || (!!args.dryRun && f.status === 'restored' && listed++ < 50);
        let result;
        try {
          result = await runRestore(deps, {
            job: String(args.job),
            target: args.target as string | undefined,
            paths: args.path as string[] | undefined,
            at: args.at !== undefined ? parseAt(String(args.at)) : undefined,
            run: args.run as string | undefined,
            to: args.to !== undefined ? resolve(ctx.options.cwd, String(args.to)) : undefined,
            overwrite: args.overwrite as 'never' | 'if-newer' | 'always' | 'rename',
            includeDeleted: !!args.includeDeleted,
            fillPruned: !!args.fillPruned,
            dryRun: !!args.dryRun,
            renameUnsafe: !!args.renameUnsafe,
            signal: stop.signal,
            onProgress: progress?.update,
            keepRecord,
          });
        } finally {
          progress?.stop();
        }
        const { run, files } = result;
        const secs = run.end ? (Date.parse(run.end) - Date.parse(run.start)) / 1000 : 0;
        if (doc) doc.finish({ run });
        else if (ctx.output.json) ctx.output.printJson({ run, files: files.filter((f) => f.status !== 'unchanged') });
        else {
          ctx.output.print(`${run.job}: restore ${statusText(run)} — ${countsText(run)}, ${formatBytes(run.bytes)} from ${run.targets.join(', ')}${!args.dryRun && secs > 0 ? ` in ${secs.toFixed(1)} s (${formatBytes(run.bytes / secs)}/s)` : ''}${args.dryRun ? ' (dry run: nothing was written)' : ''}  [run ${run.id}]`);
          if (run.note) ctx.output.print(`  note: ${run.note}`);
          for (const f of files.filter((x) => x.status === 'failed' || (x.status === 'skipped' && (args.verbose || x.reason === 'version-pruned'))).slice(0, 20)) ctx.output.print(`  ${f.status} ${f.reason ?? ''}: ${f.path}${f.message ? ` — ${f.message}` : ''}`);
          if (args.dryRun) for (const f of files.filter((x) => x.status === 'restored').slice(0, 50)) ctx.output.print(`  would restore ${f.path}`);
        }
        return run.status === 'completed' ? 0 : run.status === 'aborted' ? 3 : 1;
      });
    } finally {
      stop.dispose();
    }
  },
};
