import type { BuiltinCommand } from '../command.js';
import type { CommandContext } from '../../common/plugin-api.js';
import type { HokanRuntime } from '../../node/runtime/runtime.js';
import type { NotificationService } from '../../node/notify/notification-service.js';

/** The runtime's notification service, or a clear "no notifiers" (exit 2). */
async function service(ctx: CommandContext): Promise<NotificationService> {
  const rt = (await ctx.runtime()) as HokanRuntime;
  if (!rt.notifications) {
    const { UsageError } = await import('../../common/errors.js');
    throw new UsageError(`the config (${rt.configPath}) has no notifiers`, {
      hint: 'add one under "notify", e.g. { "type": "smtp", "host": "smtp.example.jp", "port": 587, "user": "…", "password": "${env:SMTP_PASSWORD}", "from": "…", "to": ["…"] } (docs/config.md)',
    });
  }
  return rt.notifications;
}

export const notifyCommand: BuiltinCommand = {
  command: 'notify',
  describe: 'Notifiers: send a test message, check the "no backup for N days" alarms',
  subcommands: [
    {
      command: 'test [id]',
      describe: 'Send a test message through a notifier (default: every notifier) and print the server\'s answer',
      builder: (y) => y.positional('id', { type: 'string', describe: 'The notifier\'s id (its "id", else its type)' }),
      handler: async (args, ctx) => {
        const { describeError, HokanError, UsageError } = await import('../../common/errors.js');
        const svc = await service(ctx);
        const id = args.id as string | undefined;
        if (id && !svc.find(id)) {
          throw new UsageError(`there is no notifier "${id}" in the config`, { hint: `notifiers: ${svc.notifiers.map((n) => n.id).join(', ')}` });
        }
        const results = await svc.test(id);
        if (ctx.output.json) {
          ctx.output.printJson(results.map((r) => ({ id: r.id, type: r.type, ok: !r.error, ...r.receipt, ...(r.error ? { error: r.error instanceof Error ? r.error.message : String(r.error), code: HokanError.is(r.error) ? r.error.code : undefined, hint: HokanError.is(r.error) ? r.error.hint : undefined } : {}) })));
        } else {
          for (const r of results) {
            if (!r.error) {
              ctx.output.print(`${r.id} (${r.type}): test message sent — the server answered: ${r.receipt?.response ?? '(nothing)'}`);
              if (r.receipt?.rejected?.length) ctx.output.print(`  refused recipients: ${r.receipt.rejected.join(', ')}`);
            } else {
              ctx.output.error(`${r.id} (${r.type}): the test message could not be sent: ${describeError(r.error)}`);
            }
          }
        }
        return results.some((r) => r.error) ? 3 : 0;
      },
    },
    {
      command: 'check',
      describe: 'Send the alarms that are due now: "no completed backup for N days" (stale:Nd) and runs found interrupted (`agent run` does this every hour)',
      builder: (y) => y.option('now', { type: 'string', describe: 'Check as of this time instead of now (ISO or YYYY/MM/DD HH:mm; for trying the rules)' }),
      handler: async (args, ctx) => {
        const [{ withEngine }, { formatDate }, { UsageError }] = await Promise.all([import('../engine-cli.js'), import('../../common/units.js'), import('../../common/errors.js')]);
        const svc = await service(ctx);
        let now: Date | undefined;
        if (args.now !== undefined) {
          const { parseAt } = await import('../engine-cli.js');
          now = parseAt(String(args.now));
          if (Number.isNaN(now.getTime())) throw new UsageError(`--now ${JSON.stringify(args.now)} is not a time`, { hint: 'write it as 2026-12-31T09:00:00Z or "2026/12/31 09:00"' });
        }
        return withEngine(ctx, async () => {
          const sent = [...(await svc.notifyUntold()), ...(await svc.checkStale(now))];
          const states = await svc.staleStates(now);
          if (ctx.output.json) {
            ctx.output.printJson({ sent, jobs: states });
            return sent.some((e) => e.state === 'failed') ? 3 : 0;
          }
          for (const e of sent) ctx.output.print(`${e.notifier}: ${e.kind}${e.rule ? ` (${e.rule})` : ''} — ${e.state}${e.response ? `: ${e.response}` : ''}${e.error ? `: ${e.error}` : ''}`);
          if (!sent.length) ctx.output.print('nothing to send now');
          for (const s of states) {
            ctx.output.print(`job ${s.job}: ${staleLine(s, formatDate)}`);
            for (const d of s.disks ?? []) ctx.output.print(`  ${diskStaleLine(d, s.staleDays, formatDate)}`);
          }
          return sent.some((e) => e.state === 'failed') ? 3 : 0;
        });
      },
    },
  ],
};

/** One job's stale state in words (`agent status`, `agent notify check`). */
export function staleLine(
  s: { staleDays?: number; lastCompleted?: string; daysSince: number; stale: boolean; alarmSince?: string },
  formatDate: (d: string) => string,
): string {
  const last = s.lastCompleted ? `last completed backup ${formatDate(s.lastCompleted)} (${s.daysSince} day(s) ago)` : `no completed backup yet (${s.daysSince} day(s) since hokan first saw the job)`;
  if (s.staleDays === undefined) return `${last}; no "stale:Nd" alarm watches it`;
  if (s.stale) return `STALE — ${last}; the alarm goes off after ${s.staleDays} day(s)${s.alarmSince ? `, sent daily since ${formatDate(s.alarmSince)}` : ''}`;
  return `ok — ${last}; the alarm goes off after ${s.staleDays} day(s)`;
}

/** One rotated disk's stale state in words (`agent status`, `agent notify check`). */
export function diskStaleLine(
  d: { target: string; disk: string; lastCompleted?: string; daysSince: number; inUse: boolean; stale: boolean; alarmSince?: string },
  staleDays: number | undefined,
  formatDate: (d: string) => string,
): string {
  const name = `disk ${d.disk.slice(0, 8)} (${d.target})`;
  const last = d.lastCompleted ? `last completed backup ${formatDate(d.lastCompleted)} (${d.daysSince} day(s) ago)` : `no completed backup yet (${d.daysSince} day(s) since its first run)`;
  const inUse = d.inUse ? ', the disk in use' : '';
  if (staleDays === undefined) return `${name}${inUse}: ${last}`;
  if (d.stale) return `${name}: STALE — ${last}; bring it back and back it up (the alarm goes off after ${staleDays} day(s)${d.alarmSince ? `, sent daily since ${formatDate(d.alarmSince)}` : ''})`;
  return `${name}${inUse}: ok — ${last}`;
}
