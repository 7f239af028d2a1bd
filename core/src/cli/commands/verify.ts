import type { BuiltinCommand } from '../command.js';
import type { CommandContext } from '../../common/plugin-api.js';

export const verifyCommand: BuiltinCommand = {
  command: 'verify',
  describe: 'Re-read what a target holds and check it against the recorded SHA-256 hashes; --restore: a restore drill',
  builder: (y) =>
    y
      .option('job', { type: 'string', demandOption: true, describe: 'The job' })
      .option('target', { type: 'string', describe: 'This target (default: the first that answers; --restore: every target of the job)' })
      .option('restore', { type: 'boolean', default: false, describe: 'A restore drill: restore a random sample of files from each target into a temporary folder, check every SHA-256 against the index and the unchanged source, remove the folder, and record the run' })
      .option('path', { type: 'string', array: true, describe: 'Only these files or folders (absolute, or relative to the source folder): read from their part of the index alone' })
      .option('scheduled', { type: 'boolean', hidden: true, describe: 'Set by the daemon for the drills of a job\'s `drill` schedule' })
      .option('sample', { type: 'string', describe: 'Check this percentage of the stored versions, at random (default 100); with --restore: files per target, a count (200) or a percentage ("2%"; default: the job\'s drill.sample, else 100 files)' }),
  handler: async (args, ctx) => {
    const { withEngine, interruptSignal } = await import('../engine-cli.js');
    const { formatBytes } = await import('../../common/units.js');
    const { UsageError } = await import('../../common/errors.js');
    if (args.restore && args.path !== undefined) throw new UsageError('--path is not for --restore (a drill samples the whole job)', { hint: 'leave out --path, or --restore to check the stored copies of those paths' });
    if (args.restore) return drill(args, ctx);
    const raw = args.sample === undefined ? '100' : String(args.sample).trim().replace(/%$/, '');
    const sample = Number(raw);
    if (!(raw !== '' && sample > 0 && sample <= 100)) throw new UsageError(`--sample must be a percentage above 0 and at most 100, not ${args.sample}`);
    const { runVerify } = await import('../../node/engine/verify.js');
    const stop = interruptSignal(ctx);
    try {
      return await withEngine(ctx, async (deps) => {
        const r = await runVerify(deps, { job: String(args.job), target: args.target as string | undefined, sample, paths: args.path as string[] | undefined, signal: stop.signal });
        if (ctx.output.json) ctx.output.printJson(r);
        else {
          ctx.output.print(`${args.job} on ${r.target}: checked ${r.checked} stored versions (${formatBytes(r.bytes)}), ${r.ok} good, ${r.problems.length} bad`);
          for (const p of r.problems.slice(0, 50)) ctx.output.print(`  ${p.reason}: ${p.path} — ${p.message}`);
          if (r.problems.length > 50) ctx.output.print(`  … and ${r.problems.length - 50} more (--json lists them all)`);
          if (r.resend) ctx.output.print(`the next backup sends ${r.resend} file${r.resend === 1 ? '' : 's'} again whose current copy is damaged or missing (older generations cannot be healed from the source)`);
        }
        return r.problems.length ? 1 : 0;
      });
    } finally {
      stop.dispose();
    }
  },
};

/** `agent verify --restore`: one restore drill (engine/drill.ts), recorded and reported like the daemon's. */
async function drill(args: Record<string, unknown>, ctx: CommandContext): Promise<number> {
  const [{ withEngine, interruptSignal, statusText, exitCodeFor }, { runDrill, parseSample }, { formatBytes }] = await Promise.all([
    import('../engine-cli.js'),
    import('../../node/engine/drill.js'),
    import('../../common/units.js'),
  ]);
  const sample = args.sample === undefined ? undefined : parseSample(String(args.sample), '--sample');
  const stop = interruptSignal(ctx);
  try {
    return await withEngine(ctx, async (deps) => {
      const trigger = args.scheduled ? 'schedule' : 'command';
      const { run, files } = await runDrill(deps, { job: String(args.job), target: args.target as string | undefined, sample, signal: stop.signal, trigger });
      if (ctx.output.json) {
        ctx.output.printJson({ run, files });
        return exitCodeFor([run]);
      }
      const d = run.drill!;
      ctx.output.print(`restore drill of ${run.job}: ${d.files} file${d.files === 1 ? '' : 's'} (${formatBytes(run.bytes)}) restored and checked, ${d.files - run.counts.failed} intact${d.sourceChecked ? `, ${d.sourceChecked} also compared with the unchanged source` : ''} — ${statusText(run)}`);
      for (const t of run.targetResults ?? []) ctx.output.print(`  ${t.id}: ${t.error ? `${statusText(t)} — ${t.error}` : `${t.counts.seen} sampled, ${t.counts.restored} intact, ${t.counts.failed} not`}`);
      const bad = files.filter((f) => f.status === 'failed');
      for (const f of bad.slice(0, 50)) ctx.output.print(`  ${f.reason}: ${f.path} on ${f.target} — ${f.message}`);
      if (bad.length > 50) ctx.output.print(`  … and ${bad.length - 50} more (agent show ${run.id} --status failed)`);
      if (bad.some((f) => f.reason === 'hash-mismatch' || f.reason === 'not-found')) ctx.output.print(`  \`agent verify --job ${run.job}\` checks every stored copy and has the next backup send damaged current ones again`);
      ctx.output.print(`run ${run.id} (agent show ${run.id}); the drill's folder was removed`);
      return exitCodeFor([run]);
    });
  } finally {
    stop.dispose();
  }
}
