import type { BuiltinCommand } from '../command.js';
import type { CliContext } from '../context.js';
import type { DaemonControl } from '../io.js';

/**
 * `agent pause [JOB] [--for 2h]`, `agent resume [JOB]`, `agent stop`: the daemon's controls. They
 * run in the daemon (through its socket) and never wait behind a backup.
 */

/** The daemon's controls, or a clear refusal when no daemon runs for this data folder. */
async function daemonControl(ctx: CliContext, what: string): Promise<DaemonControl> {
  const control = ctx.io?.daemon?.control;
  if (control) return control;
  const { UsageError } = await import('../../common/errors.js');
  throw new UsageError(`\`agent ${what}\` needs the agent daemon, and none runs for the data folder ${ctx.options.dataDir}`, {
    hint: 'start it with `agent run` (with the same --data-dir), or install it as a service (docs/design.md "The daemon")',
  });
}

async function checkJob(control: DaemonControl, job: string | undefined): Promise<void> {
  if (job === undefined || control.jobIds().includes(job)) return;
  const { UsageError } = await import('../../common/errors.js');
  const { didYouMean } = await import('../../node/config/did-you-mean.js');
  const near = didYouMean(job, control.jobIds());
  throw new UsageError(`the daemon runs no job "${job}"`, { hint: `${near ? `did you mean "${near}"? ` : ''}its jobs: ${control.jobIds().join(', ') || 'none'}` });
}

/** "2h", "30m", "90s", "1d" → ms. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = m[2]!.startsWith('d') ? 86_400_000 : m[2]!.startsWith('h') ? 3_600_000 : m[2]!.startsWith('m') ? 60_000 : 1000;
  const ms = Number(m[1]) * unit;
  return ms > 0 ? ms : undefined;
}

export const pauseCommand: BuiltinCommand = {
  command: 'pause [job]',
  describe: 'Pause the daemon\'s runs (one job, or all): no run starts, a running backup waits at the next file',
  builder: (y) =>
    y.positional('job', { type: 'string', describe: 'A job id (default: every job)' }).option('for', { type: 'string', describe: 'For how long: "2h", "30m", "1d" (default: until `agent resume`)' }),
  handler: async (args, ctx) => {
    const control = await daemonControl(ctx as CliContext, 'pause');
    const job = args.job as string | undefined;
    await checkJob(control, job);
    let forMs: number | undefined;
    if (args.for !== undefined) {
      forMs = parseDuration(String(args.for));
      if (forMs === undefined) {
        const { UsageError } = await import('../../common/errors.js');
        throw new UsageError(`--for "${String(args.for)}" is not a duration`, { hint: 'a number and a unit: "90s", "30m", "2h", "1d"' });
      }
    }
    control.pause(job, forMs);
    const { formatDate } = await import('../../common/units.js');
    const until = forMs === undefined ? 'until `agent resume`' : `until ${formatDate(new Date(Date.now() + forMs))}`;
    if (ctx.output.json) ctx.output.printJson({ paused: job ?? 'all', until: forMs === undefined ? 'resume' : new Date(Date.now() + forMs).toISOString() });
    else ctx.output.print(`paused ${job ? `job ${job}` : 'every job'} ${until}: no run starts, a running backup waits at its next file`);
    return 0;
  },
};

export const resumeCommand: BuiltinCommand = {
  command: 'resume [job]',
  describe: 'End `agent pause` (one job, or all); a pause window in the config still holds',
  builder: (y) => y.positional('job', { type: 'string', describe: 'A job id (default: every job)' }),
  handler: async (args, ctx) => {
    const control = await daemonControl(ctx as CliContext, 'resume');
    const job = args.job as string | undefined;
    await checkJob(control, job);
    control.resume(job);
    if (ctx.output.json) ctx.output.printJson({ resumed: job ?? 'all' });
    else ctx.output.print(`resumed ${job ? `job ${job}` : 'every job'}`);
    return 0;
  },
};

export const stopCommand: BuiltinCommand = {
  command: 'stop',
  describe: 'Stop the agent daemon cleanly: running backups stop after the files in flight and are recorded',
  handler: async (_args, ctx) => {
    const control = await daemonControl(ctx as CliContext, 'stop');
    if (ctx.output.json) ctx.output.printJson({ stopping: true });
    else ctx.output.print('the agent daemon is stopping (running backups stop after the files in flight, and are recorded)');
    // After this command's answer has gone: the daemon closes its socket as it stops.
    setTimeout(() => control.stop(), 50);
    return 0;
  },
};
