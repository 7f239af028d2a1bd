import { setTimeout as delay } from 'node:timers/promises';
import type { HokanConfig, NotifierConfig } from '../../common/config-types.js';
import { describeError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { FileRecord, NotificationEntry, RunRecord } from '../../common/model.js';
import {
  alarmKey,
  daysWithout,
  isPermanentNotifyError,
  parseOn,
  runRule,
  staleDue,
  type Notifier,
  type NotifyMessage,
  type NotifyReceipt,
  type NotifyRules,
  type RunMessage,
  type UsageMessage,
} from '../../common/notify.js';
import type { NotifierContribution } from '../../common/plugin-api.js';
import type { IndexStore } from '../index/index-store.js';

/** Failed files a run message lists in its body (the whole list goes as an attachment). */
export const FIRST_FAILED_FILES = 20;
/** Identical failure alarms within this time are held back and counted in the next one. */
export const COALESCE_MS = 6 * 3600_000;

export interface NotificationDeps {
  config: HokanConfig;
  /** The plugin contribution for a notifier type. */
  contribution(type: string): NotifierContribution | undefined;
  logger: Logger;
  dataDir: string;
  /** The index (opened on first use; the daemon's when it runs). */
  index(): Promise<IndexStore>;
  /** The clock (tests inject one). */
  now?: () => Date;
  /** Retries of a failed send: attempts after the first, first backoff (doubling, with jitter). */
  retry?: { retries: number; minDelayMs: number };
  coalesceMs?: number;
  /** Space used per target, for `monthly` (the runtime opens the targets). */
  usage?(): Promise<UsageMessage['targets']>;
}

/** One `notify` entry of config.json with its id and rules. */
export interface ConfiguredNotifier {
  id: string;
  config: NotifierConfig;
  rules: NotifyRules;
}

/** What the core keeps per notifier between runs (index meta `notify:ID`). */
interface NotifierState {
  /** Failure alarms by `alarmKey`: when last sent, and how many identical ones were held back since. */
  alarms: Record<string, { at: string; held: number }>;
  /** Stale alarms by job: when first and last sent, how many. */
  stale: Record<string, { first: string; last: string; count: number; days: number }>;
  /** `monthly`: the last month (`YYYY-MM`) reported. */
  month?: string;
}

/** A job's stale state, for `agent status` and `notify check`. */
export interface JobStaleState {
  job: string;
  /** The smallest N of the `stale:Nd` rules that watch this job (undefined: none does). */
  staleDays?: number;
  lastCompleted?: string;
  daysSince: number;
  stale: boolean;
  /** When the alarm first went off (still on). */
  alarmSince?: string;
  /** Rotated disks (`"rotate": true` targets of the job): each disk's own stale state. */
  disks?: DiskStaleState[];
}

/**
 * One disk of a rotation (issue 24): stale when it has had no completed backup for N days. The disk
 * in use (the one the job's newest run to the target wrote to) never is — the job's own alarm speaks
 * for it — so a disk left on the shelf alarms by its name while the one plugged in does not.
 */
export interface DiskStaleState {
  target: string;
  /** The disk's instance id (status and mails show its first 8 characters). */
  disk: string;
  /** The last completed backup to this disk (ISO), if there was one. */
  lastCompleted?: string;
  /** Its newest backup run, whatever its status. */
  lastRun?: { id: string; start: string; status: string };
  /** The run of its last completed backup. */
  lastCompletedRun?: string;
  daysSince: number;
  /** The disk the job's newest run to this target wrote to. */
  inUse: boolean;
  stale: boolean;
  alarmSince?: string;
}

/** The key of a disk's stale alarm in a notifier's state (`stale`), beside the job's own. */
const diskAlarmKey = (job: string, target: string, disk: string) => `${job}|disk:${target}@${disk}`;

/** The ids notifiers answer to: `id`, else the type (numbered when several share one). */
export function configuredNotifiers(config: HokanConfig): ConfiguredNotifier[] {
  const list = config.notify ?? [];
  return list.map((n, i) => {
    const sameType = list.filter((m) => !m.id && m.type === n.type).length;
    const id = n.id ?? (sameType > 1 ? `${n.type}-${i + 1}` : n.type);
    return { id, config: n, rules: parseOn(n.on) };
  });
}

/**
 * The rules of *when* and the bookkeeping around every notifier: which finished runs are worth a
 * message (`on`), identical alarms coalesced, the stale alarm (`stale:Nd`) repeated daily and its
 * "back to normal", retries with backoff, and each notifier's outcome recorded on the run. A
 * notifier's failure is logged and recorded, never thrown: a run's status and exit code stay what
 * the backup made them.
 */
export class NotificationService implements AsyncDisposable {
  readonly notifiers: ConfiguredNotifier[];
  private readonly instances = new Map<string, Promise<Notifier>>();
  private readonly log: Logger;
  /** While a batch runs (`beginBatch`): the run messages of `digest` notifiers, sent as one at its end. */
  private batch?: Map<string, { run: RunRecord; message: RunMessage }[]>;

  constructor(private readonly deps: NotificationDeps) {
    this.notifiers = configuredNotifiers(deps.config);
    this.log = deps.logger.child('notify');
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  /** The notifiers that speak for a job (`job.notify`, default all). */
  forJob(jobId: string): ConfiguredNotifier[] {
    const job = this.deps.config.jobs.find((j) => j.id === jobId);
    const ids = job?.notify;
    return ids ? this.notifiers.filter((n) => ids.includes(n.id)) : this.notifiers;
  }

  find(id: string): ConfiguredNotifier | undefined {
    return this.notifiers.find((n) => n.id === id);
  }

  private instance(n: ConfiguredNotifier): Promise<Notifier> {
    let p = this.instances.get(n.id);
    if (!p) {
      const contrib = this.deps.contribution(n.config.type);
      p = contrib
        ? Promise.resolve(contrib.create(n.config as Record<string, unknown>, { id: n.id, logger: this.deps.logger.child(`notify:${n.id}`), dataDir: this.deps.dataDir }))
        : Promise.reject(new Error(`no loaded plugin provides the notifier type "${n.config.type}"`));
      this.instances.set(n.id, p);
      p.catch(() => this.instances.delete(n.id));
    }
    return p;
  }

  // ---- runs -----------------------------------------------------------------------------------

  /**
   * A finished backup run or restore drill (from the `report` hook, and runs found `interrupted` at start): sends what
   * the rules ask for and records each notifier's outcome on the run (`notifications`).
   */
  async onRun(run: RunRecord): Promise<NotificationEntry[]> {
    // Backups, and restore drills (a restore a person runs is watched by that person).
    if ((run.kind !== 'backup' && !run.drill) || run.status === 'running' || run.status === 'waiting') return [];
    const index = await this.deps.index();
    const backup = !run.drill; // a drill says nothing of the stale alarm nor of the monthly usage
    if (backup) await this.markSeen(index, run.job, run.start);
    const entries: NotificationEntry[] = [];
    for (const n of this.forJob(run.job)) {
      if (run.notifications?.some((e) => e.notifier === n.id && e.kind !== 'usage')) continue; // already told
      const state = await this.state(index, n.id);
      const rule = runRule(n.rules, run);
      const alarm = state.stale[run.job];
      const recovered = backup && run.status === 'completed' && alarm ? { days: alarm.days } : undefined;
      if (recovered) delete state.stale[run.job];
      // A completed run ends the job's failure alarms: the same failure after it is news again.
      if (run.status === 'completed') for (const k of Object.keys(state.alarms)) if (k.startsWith(`${run.kind}|${run.job}|`)) delete state.alarms[k];
      if (n.rules.monthly && backup) {
        const e = await this.monthly(n, state, run);
        if (e) entries.push(e);
      }
      if (rule) {
        let coalesced: number | undefined;
        if (rule === 'failure') {
          const key = alarmKey(run);
          const last = state.alarms[key];
          if (last && this.now().getTime() - new Date(last.at).getTime() < (this.deps.coalesceMs ?? COALESCE_MS)) {
            last.held++;
            await this.saveState(index, n.id, state);
            entries.push({ notifier: n.id, kind: 'run', rule, state: 'coalesced', at: this.now().toISOString(), attempts: 0 });
            this.log.info({ notifier: n.id, run: run.id, key, held: last.held }, 'the same alarm was sent a short while ago: held back');
            continue;
          }
          coalesced = last?.held || undefined;
          state.alarms[key] = { at: this.now().toISOString(), held: 0 };
        }
        const message = await this.runMessage(index, run, rule, recovered);
        if (coalesced) message.coalesced = coalesced;
        const queue = n.config.digest === true ? this.batch : undefined;
        if (queue) {
          // Sent with the others at the end of the batch, and recorded on the run then.
          queue.set(n.id, [...(queue.get(n.id) ?? []), { run, message }]);
          await this.saveState(index, n.id, state);
          continue;
        }
        entries.push(await this.deliver(n, message, rule));
      } else if (recovered) {
        entries.push(await this.deliver(n, { kind: 'recovered', device: run.device, at: this.now().toISOString(), job: run.job, run, days: recovered.days }, 'stale'));
      }
      await this.saveState(index, n.id, state);
    }
    if (entries.length) {
      run.notifications = [...(run.notifications ?? []), ...entries];
      await index.putRun(run).catch((e) => this.log.warn({ run: run.id, err: describeError(e) }, 'could not record the notifications on the run'));
    }
    return entries;
  }

  private async runMessage(index: IndexStore, run: RunRecord, rule: 'failure' | 'success', recovered?: RunMessage['recovered']): Promise<RunMessage> {
    const failedFiles: FileRecord[] = [];
    let failedTotal = 0;
    const bad = (f: FileRecord) => f.status === 'failed' || f.status === 'skipped';
    if (run.counts.failed + run.counts.skipped > 0) {
      for await (const f of index.files(run.id)) {
        if (!bad(f)) continue;
        if (failedFiles.length < FIRST_FAILED_FILES) failedFiles.push(f);
        failedTotal++;
      }
    }
    return {
      kind: 'run',
      rule,
      device: run.device,
      at: this.now().toISOString(),
      run,
      failedFiles,
      failedTotal,
      async *allFailedFiles() {
        if (!failedTotal) return;
        for await (const f of index.files(run.id)) if (bad(f)) yield f;
      },
      recovered,
    };
  }

  /** `monthly`: space used per target, once a month, with the first run of the month. */
  private async monthly(n: ConfiguredNotifier, state: NotifierState, run: RunRecord): Promise<NotificationEntry | undefined> {
    const now = this.now();
    const month = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`;
    if (state.month === month) return undefined;
    state.month = month;
    const targets = (await this.deps.usage?.().catch((e) => [{ id: '*', type: '', error: describeError(e) }])) ?? [];
    return this.deliver(n, { kind: 'usage', device: run.device, at: now.toISOString(), month: month.replace('-', '/'), targets }, 'monthly');
  }

  // ---- digests ---------------------------------------------------------------------------------

  /** The runs of a batch (one `agent backup` of several jobs) start: `digest` notifiers wait for its end. */
  beginBatch(): void {
    this.batch ??= new Map();
  }

  /** The batch ended: each `digest` notifier sends one message for its runs (one run: the run's own). */
  async endBatch(): Promise<void> {
    const batch = this.batch;
    this.batch = undefined;
    if (!batch?.size) return;
    const index = await this.deps.index();
    for (const [id, items] of batch) {
      const n = this.find(id);
      if (!n || !items.length) continue;
      const message: NotifyMessage = items.length === 1 ? items[0]!.message : { kind: 'digest', device: this.deps.config.device, at: this.now().toISOString(), runs: items.map((i) => i.message) };
      const entry = await this.deliver(n, message, items.length === 1 ? items[0]!.message.rule : 'digest');
      for (const { run } of items) {
        run.notifications = [...(run.notifications ?? []), entry];
        await index.putRun(run).catch((e) => this.log.warn({ run: run.id, err: describeError(e) }, 'could not record the notifications on the run'));
      }
    }
  }

  // ---- the stale alarm --------------------------------------------------------------------------

  /** Each job's stale state as of `now` (the smallest N among the notifiers watching it). */
  async staleStates(now = this.now()): Promise<JobStaleState[]> {
    const index = await this.deps.index();
    const out: JobStaleState[] = [];
    for (const job of this.deps.config.jobs) {
      const days = this.forJob(job.id)
        .map((n) => n.rules.staleDays)
        .filter((d): d is number => d !== undefined);
      const staleDays = days.length ? Math.min(...days) : undefined;
      const { lastCompleted, since } = await this.lastCompleted(index, job.id, now);
      const daysSince = daysWithout(since, now);
      let alarmSince: string | undefined;
      for (const n of this.forJob(job.id)) {
        const a = (await this.state(index, n.id)).stale[job.id];
        if (a && (!alarmSince || a.first < alarmSince)) alarmSince = a.first;
      }
      const disks = await this.diskStates(index, job.id, staleDays, now);
      for (const d of disks) {
        for (const n of this.forJob(job.id)) {
          const a = (await this.state(index, n.id)).stale[diskAlarmKey(job.id, d.target, d.disk)];
          if (a && (!d.alarmSince || a.first < d.alarmSince)) d.alarmSince = a.first;
        }
      }
      out.push({ job: job.id, staleDays, lastCompleted, daysSince, stale: staleDays !== undefined && daysSince >= staleDays, alarmSince, ...(disks.length ? { disks } : {}) });
    }
    return out;
  }

  /**
   * The disks of each rotated target of a job (`"rotate": true`), from the runs that recorded one
   * (`targetResults[].disk`, the newest 500 backup runs of the job): each one's last completed backup
   * and newest run, and whether it is the one in use. Stale: N days (`staleDays`) or more without a
   * completed backup (counted from its first run when it never completed), and not in use.
   */
  private async diskStates(index: IndexStore, job: string, staleDays: number | undefined, now: Date): Promise<DiskStaleState[]> {
    const cfg = this.deps.config;
    const rotated = (cfg.jobs.find((j) => j.id === job)?.targets ?? []).filter((t) => (cfg.targets[t] as { rotate?: boolean } | undefined)?.rotate === true);
    if (!rotated.length) return [];
    const { runs } = await index.listRuns({ job, kind: 'backup', limit: 500, total: false });
    const out: DiskStaleState[] = [];
    for (const target of rotated) {
      const disks = new Map<string, { lastCompleted?: string; lastCompletedRun?: string; lastRun?: DiskStaleState['lastRun']; first: string }>();
      let inUse: string | undefined;
      // Newest first.
      for (const r of runs) {
        const t = r.targetResults?.find((x) => x.id === target);
        if (!t?.disk) continue;
        inUse ??= t.disk;
        const d = disks.get(t.disk) ?? { first: r.start };
        d.lastRun ??= { id: r.id, start: r.start, status: t.status };
        if (!d.lastCompleted && t.status === 'completed') {
          d.lastCompleted = r.end ?? r.start;
          d.lastCompletedRun = r.id;
        }
        d.first = r.start;
        disks.set(t.disk, d);
      }
      for (const [disk, d] of disks) {
        const daysSince = daysWithout(d.lastCompleted ?? d.first, now);
        const isInUse = disk === inUse;
        out.push({ target, disk, lastCompleted: d.lastCompleted, lastCompletedRun: d.lastCompletedRun, lastRun: d.lastRun, daysSince, inUse: isInUse, stale: !isInUse && staleDays !== undefined && daysSince >= staleDays });
      }
    }
    return out;
  }

  /**
   * Checks every `stale:Nd` rule (at the end of every run and hourly by `agent run`): a job without
   * a completed backup for N days gets an alarm, repeated once a day until fixed; a job whose alarm
   * is on and that completed since gets "back to normal" once. Returns what was sent.
   */
  async checkStale(now = this.now()): Promise<NotificationEntry[]> {
    const index = await this.deps.index();
    const entries: NotificationEntry[] = [];
    for (const n of this.notifiers) {
      if (n.rules.staleDays === undefined) continue;
      const state = await this.state(index, n.id);
      let changed = false;
      for (const job of this.deps.config.jobs) {
        if (!this.forJob(job.id).includes(n)) continue;
        const { lastCompleted, since } = await this.lastCompleted(index, job.id, now);
        const daysSince = daysWithout(since, now);
        const stale = daysSince >= n.rules.staleDays;
        const alarm = state.stale[job.id];
        if (staleDue(alarm && { lastAlarm: alarm.last }, stale, now)) {
          const { runs } = await index.listRuns({ job: job.id, kind: 'backup', limit: 1, total: false });
          const repeat = (alarm?.count ?? 0) + 1;
          const entry = await this.deliver(n, { kind: 'stale', device: this.deps.config.device, at: now.toISOString(), job: job.id, days: n.rules.staleDays, lastCompleted, daysSince, lastRun: runs[0], repeat }, `stale:${n.rules.staleDays}d`);
          entries.push(entry);
          // A failed send is tried again at the next check, not a day later.
          if (entry.state === 'sent') state.stale[job.id] = { first: alarm?.first ?? now.toISOString(), last: now.toISOString(), count: repeat, days: daysSince };
          changed = true;
        } else if (!stale && alarm) {
          const { runs } = await index.listRuns({ job: job.id, kind: 'backup', status: 'completed', limit: 1, total: false });
          if (runs[0]) entries.push(await this.deliver(n, { kind: 'recovered', device: this.deps.config.device, at: now.toISOString(), job: job.id, run: runs[0], days: alarm.days }, 'stale'));
          delete state.stale[job.id];
          changed = true;
        }
        // Rotated disks: each disk its own alarm, by its name.
        for (const d of await this.diskStates(index, job.id, n.rules.staleDays, now)) {
          const key = diskAlarmKey(job.id, d.target, d.disk);
          const dalarm = state.stale[key];
          const disk = { target: d.target, id: d.disk, inUse: d.inUse, lastRun: d.lastRun };
          if (staleDue(dalarm && { lastAlarm: dalarm.last }, d.stale, now)) {
            const repeat = (dalarm?.count ?? 0) + 1;
            const entry = await this.deliver(n, { kind: 'stale', device: this.deps.config.device, at: now.toISOString(), job: job.id, days: n.rules.staleDays, lastCompleted: d.lastCompleted, daysSince: d.daysSince, repeat, disk }, `stale:${n.rules.staleDays}d`);
            entries.push(entry);
            if (entry.state === 'sent') state.stale[key] = { first: dalarm?.first ?? now.toISOString(), last: now.toISOString(), count: repeat, days: d.daysSince };
            changed = true;
          } else if (dalarm && d.daysSince < n.rules.staleDays) {
            // The disk got a completed backup again (plugged in and backed up): back to normal, once.
            // (A disk merely plugged in whose runs do not complete stays on; the job's alarm speaks.)
            const run = d.lastCompletedRun ? await index.getRun(d.lastCompletedRun).catch(() => undefined) : undefined;
            if (run) entries.push(await this.deliver(n, { kind: 'recovered', device: this.deps.config.device, at: now.toISOString(), job: job.id, run, days: dalarm.days, disk }, 'stale'));
            delete state.stale[key];
            changed = true;
          }
        }
      }
      if (changed) await this.saveState(index, n.id, state);
    }
    return entries;
  }

  /** Backup runs found `interrupted` that no notifier was told about yet (a daemon's start). */
  async notifyUntold(limit = 100): Promise<NotificationEntry[]> {
    const index = await this.deps.index();
    const { runs } = await index.listRuns({ kind: 'backup', status: 'interrupted', limit, total: false });
    const out: NotificationEntry[] = [];
    for (const r of runs.reverse()) if (!r.notifications?.length) out.push(...(await this.onRun(r)));
    return out;
  }

  private async lastCompleted(index: IndexStore, job: string, now: Date): Promise<{ lastCompleted?: string; since: string }> {
    const { runs } = await index.listRuns({ job, kind: 'backup', status: 'completed', limit: 1, total: false });
    const r = runs[0];
    if (r) return { lastCompleted: r.end ?? r.start, since: r.end ?? r.start };
    return { since: await this.markSeen(index, job, now.toISOString()) };
  }

  /** When hokan first saw a job (a job that never completed counts its days from then). */
  private async markSeen(index: IndexStore, job: string, at: string): Promise<string> {
    const seen = (await index.getMeta<Record<string, string>>('notify-seen')) ?? {};
    if (seen[job] && seen[job] <= at) return seen[job];
    seen[job] = at;
    await index.putMeta('notify-seen', seen);
    return at;
  }

  // ---- sending --------------------------------------------------------------------------------

  /** `agent notify test [ID]`: a test message through each notifier (or the one named). */
  async test(id?: string): Promise<{ id: string; type: string; receipt?: NotifyReceipt; error?: unknown }[]> {
    const list = id ? this.notifiers.filter((n) => n.id === id) : this.notifiers;
    const out = [];
    for (const n of list) {
      try {
        const notifier = await this.instance(n);
        const receipt = (await notifier.test({ kind: 'test', device: this.deps.config.device, at: this.now().toISOString() })) ?? undefined;
        this.log.info({ notifier: n.id, response: receipt?.response }, 'test message sent');
        out.push({ id: n.id, type: n.config.type, receipt });
      } catch (e) {
        this.log.info({ notifier: n.id, err: describeError(e) }, 'test message not sent');
        out.push({ id: n.id, type: n.config.type, error: e });
      }
    }
    return out;
  }

  /**
   * Sends with retries: exponential backoff with jitter for errors a retry may fix; a `permanent`
   * one (wrong password, refused recipient) stops at once. Never throws: the outcome is the entry.
   */
  private async deliver(n: ConfiguredNotifier, message: NotifyMessage, rule: string): Promise<NotificationEntry> {
    const { retries, minDelayMs } = this.deps.retry ?? { retries: 2, minDelayMs: 500 };
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        const notifier = await this.instance(n);
        const receipt = (await notifier.send(message)) ?? undefined;
        this.log.info({ notifier: n.id, kind: message.kind, rule, attempts, response: receipt?.response }, 'notification sent');
        return { notifier: n.id, kind: message.kind, rule, state: 'sent', at: this.now().toISOString(), attempts, response: receipt?.response };
      } catch (e) {
        const error = describeError(e);
        if (attempts > retries || isPermanentNotifyError(e)) {
          this.log.warn({ notifier: n.id, kind: message.kind, rule, attempts, err: error }, `notifier "${n.id}" could not send: ${error}`);
          return { notifier: n.id, kind: message.kind, rule, state: 'failed', at: this.now().toISOString(), attempts, error };
        }
        this.log.info({ notifier: n.id, attempts, err: error }, 'notification failed; retrying');
        await delay(minDelayMs * 2 ** (attempts - 1) * (1 + Math.random() / 2));
      }
    }
  }

  private async state(index: IndexStore, id: string): Promise<NotifierState> {
    const s = await index.getMeta<NotifierState>(`notify:${id}`);
    return { alarms: s?.alarms ?? {}, stale: s?.stale ?? {}, month: s?.month };
  }

  private async saveState(index: IndexStore, id: string, state: NotifierState): Promise<void> {
    // Alarms older than the coalescing window are no longer needed.
    const cutoff = this.now().getTime() - 2 * (this.deps.coalesceMs ?? COALESCE_MS);
    for (const [k, v] of Object.entries(state.alarms)) if (new Date(v.at).getTime() < cutoff && !v.held) delete state.alarms[k];
    await index.putMeta(`notify:${id}`, state);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const p of this.instances.values()) {
      const n = await p.catch(() => undefined);
      await Promise.resolve(n?.[Symbol.asyncDispose]?.()).catch(() => undefined);
    }
    this.instances.clear();
  }
}
