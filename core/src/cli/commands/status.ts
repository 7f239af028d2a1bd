import type { RunRecord } from '../../common/model.js';
import type { EngineDeps } from '../../node/engine/deps.js';
import type { BuiltinCommand } from '../command.js';
import type { CliContext } from '../context.js';
import type { HokanRuntime } from '../../node/runtime/runtime.js';
import type { JobStaleState } from '../../node/notify/notification-service.js';

/** How long a target may take to say its free space before it is shown as not answering. */
const USAGE_TIMEOUT_MS = 10_000;

/** Bytes of every version (current and older) the index says hokan keeps on a target, over the jobs that use it. */
async function storedBytes(deps: Pick<EngineDeps, 'config' | 'index'>, target: string): Promise<number> {
  let sum = 0;
  for (const job of deps.config.jobs) {
    if (!job.targets.includes(target)) continue;
    for await (const [, , h] of deps.index.heldAll(job.id, target)) {
      for (const v of h.cur ? [h.cur, ...h.old] : h.old) if (v.link === undefined) sum += v.size;
    }
  }
  return sum;
}

/** Rotated disks (`"rotate": true`): each disk's last backup run to this target, newest disk first (from the last 500 runs). */
async function rotationDisks(deps: Pick<EngineDeps, 'index'>, target: string): Promise<{ disk: string; run: string; start: string; status: string }[]> {
  const seen = new Map<string, { disk: string; run: string; start: string; status: string }>();
  const { runs } = await deps.index.listRuns({ kind: 'backup', limit: 500, total: false });
  for (const r of runs) {
    const t = r.targetResults?.find((x) => x.id === target);
    if (t?.disk && !seen.has(t.disk)) seen.set(t.disk, { disk: t.disk, run: r.id, start: r.start, status: t.status });
  }
  return [...seen.values()];
}

export const statusCommand: BuiltinCommand = {
  command: 'status',
  describe: 'Whether the daemon runs and what it is doing, each job\'s last backup, free space on each target',
  handler: async (_args, ctx) => {
    const [{ withEngine, statusText, countsText }, { formatBytes, formatDate }, { describeError }, { closeTarget }, { commandWord }, { staleLine }] = await Promise.all([
      import('../engine-cli.js'),
      import('../../common/units.js'),
      import('../../common/errors.js'),
      import('../../node/engine/job-store.js'),
      import('../daemon/client.cjs'),
      import('./notify.js'),
    ]);
    const d = (ctx as CliContext).io?.daemon;
    // This command itself is not news.
    const commands = (d?.commands() ?? []).filter((c) => commandWord(c.argv) !== 'status');
    const notifications = ((await ctx.runtime()) as HokanRuntime).notifications;
    return withEngine(ctx, async (deps) => {
      const stale = new Map((await notifications?.staleStates())?.map((s) => [s.job, s]) ?? []);
      const jobs: { id: string; lastBackup?: RunRecord; stale?: JobStaleState }[] = [];
      for (const job of deps.config.jobs) {
        const { runs } = await deps.index.listRuns({ job: job.id, kind: 'backup', limit: 1, total: false });
        jobs.push({ id: job.id, lastBackup: runs[0], stale: stale.get(job.id) });
      }
      const targets = await Promise.all(
        Object.entries(deps.config.targets).map(async ([id, cfg]) => {
          let target: Awaited<ReturnType<typeof deps.openTarget>> | undefined;
          let timer: NodeJS.Timeout | undefined;
          const disks = cfg.rotate === true ? { disks: await rotationDisks(deps, id) } : {};
          try {
            target = await deps.openTarget(id);
            // A target that cannot tell (Azure: only a listing would): what hokan itself stored there, from the index.
            if (!target.usage) return { id, type: cfg.type, used: await storedBytes(deps, id), usedFrom: 'index' as const, ...disks };
            const timeout = new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`no answer in ${USAGE_TIMEOUT_MS / 1000} s`)), USAGE_TIMEOUT_MS);
            });
            const u = await Promise.race([target.usage(), timeout]);
            // A server that did not say (a WebDAV server without quota properties): as for one that cannot.
            if (u.used === undefined && u.free === undefined) return { id, type: cfg.type, used: await storedBytes(deps, id), usedFrom: 'index' as const, ...disks };
            return { id, type: cfg.type, ...u, ...disks };
          } catch (e) {
            return { id, type: cfg.type, error: describeError(e), ...disks };
          } finally {
            clearTimeout(timer);
            await closeTarget(target);
          }
        }),
      );
      const daemon = d
        ? { running: true, pid: d.pid, since: d.since.toISOString(), commands: commands.map((c) => ({ command: c.argv.join(' '), since: c.since.toISOString(), state: c.state })) }
        : { running: false };
      if (ctx.output.json) {
        ctx.output.printJson({ daemon, schedules: 'not built yet', jobs, targets });
        return 0;
      }
      if (d) {
        ctx.output.print(`daemon: running (pid ${d.pid}) since ${formatDate(d.since)} — ${commands.length ? `${commands.length} command(s)` : 'idle'}`);
        for (const c of commands) ctx.output.print(`  ${c.state.padEnd(7)}  agent ${c.argv.join(' ')}  (since ${formatDate(c.since)})`);
      } else ctx.output.print('daemon: not running — start it with `agent run`');
      ctx.output.print('next runs: none (schedules are not built yet: jobs run when `agent backup` asks)');
      for (const j of jobs) {
        const r = j.lastBackup;
        ctx.output.print(r ? `job ${j.id}: last backup ${formatDate(r.start)}  ${statusText(r)} — ${countsText(r)}, ${formatBytes(r.bytes)} sent  [run ${r.id}]` : `job ${j.id}: no backup yet`);
        if (j.stale) ctx.output.print(`  stale: ${staleLine(j.stale, formatDate)}`);
      }
      for (const t of targets) {
        const free = 'free' in t && t.free !== undefined ? `${formatBytes(t.free)} free` : undefined;
        const used = 'used' in t && t.used !== undefined ? `${formatBytes(t.used)} used${'usedFrom' in t ? ' (stored by hokan)' : ''}` : undefined;
        ctx.output.print(`target ${t.id} (${t.type}): ${'error' in t ? `not answering — ${t.error}` : [free, used].filter(Boolean).join(', ') || 'space not known'}`);
        // Rotated disks: each one's own last backup (the one plugged in now is named by the next run).
        for (const k of 'disks' in t ? (t.disks ?? []) : []) ctx.output.print(`  disk ${k.disk.slice(0, 8)}: last backup ${formatDate(k.start)} ${k.status}  [run ${k.run}]`);
      }
      return 0;
    });
  },
};
