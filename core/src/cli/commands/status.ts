import type { RunRecord } from '../../common/model.js';
import type { EngineDeps } from '../../node/engine/deps.js';
import type { BuiltinCommand } from '../command.js';
import type { CliContext } from '../context.js';
import type { HokanRuntime } from '../../node/runtime/runtime.js';
import type { JobStaleState } from '../../node/notify/notification-service.js';
import type { JobSchedule } from '../../node/scheduler/scheduler.js';

/** `, 120/300 files` of a running backup's progress. */
function progressText(p: unknown): string {
  const q = p as { filesDone?: number; filesSeen?: number } | undefined;
  return q?.filesSeen ? `, ${q.filesDone ?? 0}/${q.filesSeen} files` : '';
}

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
  builder: (y) => y.option('now', { type: 'string', describe: 'Show the stale alarm states as of this time instead of now (ISO or YYYY/MM/DD HH:mm; for trying the rules, as `agent notify check --now`)' }),
  handler: async (args, ctx) => {
    const [{ withEngine, statusText, countsText }, { formatBytes, formatDate }, { describeError }, { closeTarget }, { commandWord }, { staleLine, diskStaleLine }] = await Promise.all([
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
    let now: Date | undefined;
    if (args.now !== undefined) {
      const [{ parseAt }, { UsageError }] = await Promise.all([import('../engine-cli.js'), import('../../common/errors.js')]);
      now = parseAt(String(args.now));
      if (Number.isNaN(now.getTime())) throw new UsageError(`--now ${JSON.stringify(args.now)} is not a time`, { hint: 'write it as 2026-12-31T09:00:00Z or "2026/12/31 09:00"' });
    }
    return withEngine(ctx, async (deps) => {
      const stale = new Map((await notifications?.staleStates(now))?.map((s) => [s.job, s]) ?? []);
      const { triggerOf, drillTrigger } = await import('../../node/scheduler/schedule.js');
      const sched = new Map((d?.control?.jobs() ?? []).map((j) => [j.job, j]));
      const jobs: ({ id: string; lastBackup?: RunRecord; lastDrill?: RunRecord; stale?: JobStaleState; watch: string } & Partial<Omit<JobSchedule, 'job'>>)[] = [];
      for (const job of deps.config.jobs) {
        const { runs } = await deps.index.listRuns({ job: job.id, kind: 'backup', limit: 1, total: false });
        const s = sched.get(job.id);
        // Without the daemon: the schedule as the config says it, and when it would next run.
        const t = s ? undefined : triggerOf(job.schedule, job.timezone);
        const next = t?.next(Date.now());
        const schedule = s ? { ...s, job: undefined } : { schedule: t?.text, next: next !== undefined ? [new Date(next).toISOString()] : [] };
        const watch = (s as { watch?: string } | undefined)?.watch ?? (job.watch ? 'when the daemon runs (`agent run`)' : 'off');
        // Restore drills: the schedule (its next time as the daemon counts it), and the last drill.
        const lastDrill = (await deps.index.listRuns({ job: job.id, kind: 'restore', limit: 200, total: false })).runs.find((r) => r.drill);
        const drill = s?.drill ?? (job.drill ? { schedule: drillTrigger(job.drill, job.timezone)!.text } : undefined);
        jobs.push({ id: job.id, lastBackup: runs[0], stale: stale.get(job.id), ...schedule, watch, ...(drill ? { drill } : {}), ...(lastDrill ? { lastDrill } : {}) });
      }
      const notes = d?.control?.notes() ?? [];
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
        ctx.output.printJson({ daemon, jobs, targets, notes });
        return 0;
      }
      if (d) {
        ctx.output.print(`daemon: running (pid ${d.pid}) since ${formatDate(d.since)} — ${commands.length ? `${commands.length} command(s)` : 'idle'}`);
        for (const c of commands) ctx.output.print(`  ${c.state.padEnd(7)}  agent ${c.argv.join(' ')}  (since ${formatDate(c.since)})`);
      } else ctx.output.print('daemon: not running — start it with `agent run`');
      for (const j of jobs) {
        const r = j.lastBackup;
        const state = !d ? '' : j.state === 'paused' ? `paused${j.pausedUntil === 'resume' ? ' until `agent resume`' : j.pausedUntil ? ` until ${formatDate(j.pausedUntil)}` : ''}` : j.state === 'running' ? `running${progressText(j.running?.progress)}` : (j.state ?? 'idle');
        ctx.output.print(`job ${j.id}${state ? ` (${state})` : ''}: ${r ? `last backup ${formatDate(r.start)}  ${statusText(r)} — ${r.status === 'not-executed' ? r.note ?? '' : `${countsText(r)}, ${formatBytes(r.bytes)} sent`}  [run ${r.id}]` : 'no backup yet'}`);
        const when = j.schedule ? `${j.schedule}${j.full ? `, full ${j.full}` : ''}${j.pauseWindow ? `, paused ${j.pauseWindow}` : ''}` : undefined;
        ctx.output.print(`  schedule: ${when ?? 'none (runs when `agent backup` asks)'}${j.next?.length ? ` — next ${j.next.map((t) => formatDate(t)).join(', ')}` : ''}${when && !d ? ' (when the daemon runs: `agent run`)' : ''}`);
        if (j.retryAt) ctx.output.print(`  targets unavailable: probed again at ${formatDate(j.retryAt)}`);
        ctx.output.print(`  watch: ${j.watch}${j.pendingChanges ? ` (${j.pendingChanges} changed path(s) waiting for their run)` : ''}${j.nextFallbackScan ? ` — next full scan ${formatDate(j.nextFallbackScan)}` : ''}`);
        if (j.stale) ctx.output.print(`  stale: ${staleLine(j.stale, formatDate)}`);
        // Rotated disks: each its own stale state (a disk on the shelf too long alarms by its name).
        for (const k of j.stale?.disks ?? []) ctx.output.print(`  ${diskStaleLine(k, j.stale!.staleDays, formatDate)}`);
        if (j.drill || j.lastDrill) {
          const dr = j.drill ? `${j.drill.schedule}${j.drill.state ? ` (${j.drill.state})` : ''}${j.drill.next ? ` — next ${formatDate(j.drill.next)}` : !d ? ' (when the daemon runs: `agent run`)' : ''}` : 'none scheduled';
          const ld = j.lastDrill;
          ctx.output.print(`  restore drills: ${dr}${ld ? `; last ${formatDate(ld.start)} ${statusText(ld)} — ${countsText(ld)}  [run ${ld.id}]` : ''}`);
        }
      }
      for (const n of notes) ctx.output.print(`note: ${n}`);
      for (const t of targets) {
        const free = 'free' in t && t.free !== undefined ? `${formatBytes(t.free)} free` : undefined;
        const used = 'used' in t && t.used !== undefined ? `${formatBytes(t.used)} used${'usedFrom' in t ? ' (stored by hokan)' : ''}` : undefined;
        ctx.output.print(`target ${t.id} (${t.type}): ${'error' in t ? `not answering — ${t.error}` : [free, used].filter(Boolean).join(', ') || 'space not known'}`);
        // Rotated disks: each one's own last backup (the one plugged in now is named by the next run).
        for (const k of 'disks' in t ? (t.disks ?? []) : []) {
          const stale = jobs.flatMap((j) => j.stale?.disks ?? []).filter((x) => x.target === t.id && x.disk === k.disk && x.stale);
          const note = stale.length ? ` — STALE: no completed backup for ${Math.min(...stale.map((x) => x.daysSince))} day(s)` : '';
          ctx.output.print(`  disk ${k.disk.slice(0, 8)}: last backup ${formatDate(k.start)} ${k.status}  [run ${k.run}]${note}`);
        }
      }
      return 0;
    });
  },
};
