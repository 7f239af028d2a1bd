import type { BuiltinCommand } from '../command.js';

export const verifyCommand: BuiltinCommand = {
  command: 'verify',
  describe: 'Re-read what a target holds and check it against the recorded SHA-256 hashes',
  builder: (y) =>
    y
      .option('job', { type: 'string', demandOption: true, describe: 'The job' })
      .option('target', { type: 'string', describe: 'This target (default: the first that answers)' })
      .option('sample', { type: 'number', default: 100, describe: 'Check this percentage of the stored versions, at random' }),
  handler: async (args, ctx) => {
    const { withEngine, interruptSignal } = await import('../engine-cli.js');
    const { runVerify } = await import('../../node/engine/verify.js');
    const { formatBytes } = await import('../../common/units.js');
    const { UsageError } = await import('../../common/errors.js');
    const sample = Number(args.sample);
    if (!(sample > 0 && sample <= 100)) throw new UsageError(`--sample must be a percentage above 0 and at most 100, not ${args.sample}`);
    const stop = interruptSignal(ctx);
    try {
      return await withEngine(ctx, async (deps) => {
        const r = await runVerify(deps, { job: String(args.job), target: args.target as string | undefined, sample, signal: stop.signal });
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
