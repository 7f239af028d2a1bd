import type { RunRecord } from '../../common/model.js';
import type { WalkSpec } from '../../node/scan/scanner.js';
import type { BuiltinCommand } from '../command.js';
import type { HokanRuntime } from '../../node/runtime/runtime.js';
import { saveHeadStart } from '../head-start.js';

export const backupCommand: BuiltinCommand = {
  command: 'backup [jobs..]',
  describe: 'Back up now: every job, or the jobs named (progress bar on a terminal)',
  builder: (y) =>
    y
      .positional('jobs', { type: 'string', array: true, describe: 'Job ids (default: all jobs)' })
      .option('target', { type: 'string', array: true, describe: 'Only these targets of the job' })
      .option('full', { type: 'boolean', default: false, describe: 'Re-hash every file instead of trusting size and times' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'Show what would be sent and deleted; change nothing' })
      .option('wait', { type: 'boolean', default: false, describe: 'If another run (another data folder or machine) writes to a target, wait for it instead of skipping that target' }),
  handler: async (args, ctx) => {
    const { withEngine, interruptSignal, statusText, countsText, exitCodeFor } = await import('../engine-cli.js');
    const { runBackup, SCAN_WORKER_MIN_FILES } = await import('../../node/engine/backup.js');
    const { firstWalk } = await import('../../node/scan/scanner.js');
    const { formatBytes } = await import('../../common/units.js');
    const stop = interruptSignal(ctx);
    // A run the daemon's scheduler started: its pauses and its progress.
    const io = (ctx as import('../context.js').CliContext).io as import('../io.js').CliIO | undefined;
    try {
      return await withEngine(ctx, async (deps) => {
        const ids = (args.jobs as string[] | undefined)?.length ? (args.jobs as string[]) : deps.config.jobs.map((j) => j.id);
        if (!ids.length) {
          const { UsageError } = await import('../../common/errors.js');
          throw new UsageError('the config has no jobs', { hint: 'add a job under "jobs" in config.json (see docs/config.md)' });
        }
        const runs = [];
        // `digest` notifiers send one message for the whole batch, at its end.
        const notifications = ((await ctx.runtime()) as HokanRuntime).notifications;
        notifications?.beginBatch();
        try {
          const { CliOutput } = await import('../output.js');
          const barStream = ctx.output instanceof CliOutput ? ctx.output.progressStream : undefined;
          const bar = barStream ? await progressBar(barStream) : undefined;
          for (const id of ids) {
            if (stop.signal.aborted) break;
            bar?.start(id);
            const run = await runBackup(deps, {
              job: id,
              targets: args.target as string[] | undefined,
              full: !!args.full,
              dryRun: !!args.dryRun,
              // As long as a lease of a holder that died can block (it expires), and a little more.
              waitMs: args.wait ? 16 * 60_000 : undefined,
              signal: stop.signal,
              onProgress: io?.onProgress ? (p) => (bar?.update(p), io.onProgress!(p)) : bar?.update,
              gate: io?.gate,
              paths: io?.paths,
            });
            bar?.stop();
            runs.push(run);
            if (ctx.output.json) continue;
            ctx.output.print(`${run.job}: ${statusText(run)} — ${countsText(run)}, ${formatBytes(run.bytes)} sent${args.dryRun ? ' (dry run: nothing was changed)' : ''}  [run ${run.id}]`);
            for (const t of run.targetResults ?? []) if (t.status !== 'completed' || (run.targetResults?.length ?? 0) > 1) ctx.output.print(`  ${t.id}: ${statusText(t)} — uploaded ${t.counts.uploaded}, unchanged ${t.counts.unchanged}, deleted ${t.counts.deleted}, skipped ${t.counts.skipped}, failed ${t.counts.failed}${t.error ? `\n    ${t.error.replace(/\n/g, '\n    ')}` : ''}`);
            if (run.note) ctx.output.print(`  note: ${run.note}`);
            if (run.error && !(run.targetResults ?? []).some((t) => t.error)) ctx.output.print(`  error: ${run.error}`);
            if (run.status === 'incomplete' && !args.dryRun) {
              const { files, total } = await deps.index.listFiles(run.id, { limit: 10_000 });
              const bad = files.filter((f) => f.status === 'failed' || f.status === 'skipped');
              for (const f of bad.slice(0, 10)) ctx.output.print(`  ${f.status} ${f.reason ?? ''}: ${f.path}${f.message ? ` — ${f.message}` : ''}`);
              if (bad.length > 10 || total > files.length) ctx.output.print(`  … see \`agent show ${run.id} --status failed\``);
            }
          }
        } finally {
          await notifications?.endBatch();
        }
        rememberFirstWalk(runs[0], firstWalk(), SCAN_WORKER_MIN_FILES);
        if (ctx.output.json) ctx.output.printJson(runs);
        return exitCodeFor(runs);
      });
    } finally {
      stop.dispose();
    }
  },
};

/**
 * The walk the next run of this command line may start before it loads (cli/head-start.ts): this
 * run's first, when it was the job's first root and the job's tree is big (its first backup
 * walked on this thread; the next ones walk in a worker).
 */
function rememberFirstWalk(first: RunRecord | undefined, walk: WalkSpec | undefined, minFiles: number): void {
  const big = first !== undefined && walk !== undefined && walk.root.path === first.sources[0] && first.counts.seen >= minFiles;
  saveHeadStart(big ? walk : undefined);
}

/** A progress bar on stderr: files, bytes, rate and — once the scan is done — ETA. */
async function progressBar(stream: NodeJS.WritableStream) {
  const { default: cliProgress } = await import('cli-progress');
  const { formatBytes } = await import('../../common/units.js');
  let bar: InstanceType<typeof cliProgress.SingleBar> | undefined;
  let started = 0;
  return {
    start(job: string) {
      started = Date.now();
      bar = new cliProgress.SingleBar(
        { format: `${job} [{bar}] {files} files | {bytes} | {rate}/s | {eta_text}`, stream, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(1, 0, { files: '0', bytes: '0 B', rate: '0 B', eta_text: 'scanning…' });
    },
    update(p: { filesSeen: number; filesDone: number; bytesDone: number; bytesQueued: number; scanDone: boolean }) {
      if (!bar) return;
      const secs = Math.max(0.001, (Date.now() - started) / 1000);
      const rate = p.bytesDone / secs;
      const left = Math.max(0, p.bytesQueued - p.bytesDone);
      const eta = p.scanDone && rate > 0 ? `ETA ${Math.ceil(left / rate)} s` : 'scanning…';
      bar.setTotal(Math.max(1, p.filesSeen));
      bar.update(p.filesDone, { files: `${p.filesDone}/${p.filesSeen}`, bytes: formatBytes(p.bytesDone), rate: formatBytes(rate), eta_text: eta });
    },
    stop() {
      bar?.stop();
    },
  };
}
