/**
 * The daemon's scheduler: runs each job when its schedule says, through the daemon's one queue
 * (run-queue.ts), and keeps a record of every scheduled time that could not be run.
 *
 * - At start, the scheduled times that passed since the job's last run (the agent was not
 *   running) are recorded as one `not-executed (agent-not-running)` run — or, with
 *   `catchUp: true`, run once now.
 * - While running, it wakes at least every `tickMs`; a wake much later than asked for means the
 *   machine slept (or the clock jumped): the times in between are `not-executed (machine-asleep)`,
 *   or one catch-up run.
 * - A scheduled time in the job's pause window, or while the job is paused (`agent pause`), is
 *   `not-executed (paused)` — with `catchUp`, it runs when the pause ends. A backup running when a
 *   pause begins waits at the next file boundary (the engine's `gate`) and goes on after it.
 * - A run whose every target is unavailable (a disk unplugged) is recorded `not-executed
 *   (target-unavailable)`, and the targets are probed every `retryEveryMs` (no run, no record,
 *   while they stay away); the run happens once they are back.
 * - A trigger for a job already running or waiting is refused and logged.
 * - Restore drills (the job's `drill`): on their own schedule, counted from the job's last drill; a
 *   job never drilled, or whose drill time passed while the agent was down, is drilled once at
 *   start (a drill missed is not worth a `not-executed` record, only doing). A drill takes a queue
 *   turn that reads the job: never at the same time as a backup of it, and it does not make a
 *   backup trigger of the job a duplicate. A drill due while the job is paused waits for the end.
 *
 * Time comes from an injected `Clock`: the tests drive it by hand.
 */
import type { JobConfig } from '../../common/config-types.js';
import type { Logger } from '../../common/logger.js';
import { emptyCounts, type RunRecord } from '../../common/model.js';
import type { Reason } from '../../common/statuses.js';
import { newRunId } from '../engine/layout.js';
import type { RunQueue, QueueEntry } from './run-queue.js';
import { PauseWindow, drillTrigger, triggerOf, type Trigger } from './schedule.js';

export interface Clock {
  now(): number;
  /** Calls `fn` after `ms`; returns the cancel. */
  setTimeout(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    return () => clearTimeout(t);
  },
};

export type Trigger_ = 'schedule' | 'catch-up' | 'retry' | 'watch' | 'fallback';

export interface RunRequest {
  full: boolean;
  why: Trigger_;
  /** The scheduled time this run is for. */
  scheduledAt: number;
  /** The engine awaits this between files: it holds while the job is paused. */
  gate: () => Promise<void> | undefined;
  /** Only these paths (a watched run); all the sources when absent. */
  paths?: string[];
}

export interface SchedulerOptions {
  clock?: Clock;
  queue: RunQueue;
  jobs: readonly JobConfig[];
  device: string;
  logger: Logger;
  /** The job's newest run (any status) and a place to record runs that did not happen. */
  runs: { last(job: string): Promise<RunRecord | undefined>; put(run: RunRecord): Promise<void> };
  /** Runs one backup (its queue turn taken); the run's record, or undefined when it could not start. */
  run(job: string, req: RunRequest): Promise<RunRecord | undefined>;
  /** Runs one restore drill of a job with a `drill` (its queue turn taken); its record, or undefined when there was nothing to drill. */
  drill?(job: string, req: { scheduledAt: number }): Promise<RunRecord | undefined>;
  /** The job's newest drill (for when the next is due); none: due at start. */
  lastDrill?(job: string): Promise<RunRecord | undefined>;
  /** Whether the job's targets can be reached: undefined when yes, else why not. */
  probe?(job: string): Promise<string | undefined>;
  /** How often targets that were unavailable are probed again (default 5 min). */
  retryEveryMs?: number;
  /** The longest sleep between two looks at the clock (default 60 s). */
  tickMs?: number;
}

/** Ticks later than asked by more than this: the machine slept or the clock jumped. */
const SLEEP_SLACK_MS = 90_000;
/** At most this many missed times are counted (a job every minute, a month away). */
const MAX_MISSED = 100_000;

export type JobStateName = 'idle' | 'waiting' | 'running' | 'paused';

/** What `agent status` shows of a job. */
export interface JobSchedule {
  job: string;
  state: JobStateName;
  schedule?: string;
  full?: string;
  pauseWindow?: string;
  /** `agent pause`: until when (ISO), or `resume` for until `agent resume`. */
  pausedUntil?: string;
  /** Also: in the pause window now. */
  inPauseWindow: boolean;
  next: string[];
  nextFull?: string;
  /** The targets were unavailable: probed again at. */
  retryAt?: string;
  running?: { since: string; why: Trigger_; progress?: unknown };
  catchUp: boolean;
  /** Changed paths the watcher reported, waiting for their run. */
  pendingChanges: number;
  /** The watcher fell back to full runs: the next one at. */
  nextFallbackScan?: string;
  /** Restore drills (`drill` in the job): their schedule, the next, and a drill waiting or running. */
  drill?: { schedule: string; next?: string; state?: 'waiting' | 'running' };
}

interface JobState {
  job: JobConfig;
  main?: Trigger;
  full?: Trigger;
  window?: PauseWindow;
  catchUp: boolean;
  anchor: number;
  nextAt?: number;
  nextFullAt?: number;
  pausedUntil?: number;
  retryAt?: number;
  retryFull?: boolean;
  /** A run held back by a pause, to start when it ends (catchUp). */
  afterPause?: { at: number; full: boolean };
  /** Changed paths the watcher reported, not yet backed up. */
  watchPaths: Set<string>;
  /** The schedule is the daily full scan a watched job without one gets. */
  implicit: boolean;
  /** The watcher fell back (the OS limit): a full run every `fallbackEvery`, next at. */
  fallback?: { every: number; at: number };
  running?: { since: number; why: Trigger_; progress?: unknown };
  /** The job's restore drills: their schedule, where `every` counts from, the next, and one in the queue. */
  drill?: Trigger;
  drillAnchor: number;
  nextDrillAt?: number;
  drilling?: 'waiting' | 'running';
}

export class Scheduler {
  private readonly clock: Clock;
  private readonly states = new Map<string, JobState>();
  private readonly waiters = new Set<() => void>();
  private cancelTimer?: () => void;
  private lastTick = 0;
  private stopped = false;
  private readonly inflight = new Set<Promise<void>>();
  private readonly writes = new Set<Promise<void>>();
  private readonly tickMs: number;
  private readonly retryEveryMs: number;
  private globalPauseUntil?: number;

  constructor(private readonly o: SchedulerOptions) {
    this.clock = o.clock ?? systemClock;
    this.tickMs = o.tickMs ?? 60_000;
    this.retryEveryMs = o.retryEveryMs ?? 5 * 60_000;
  }

  /** Reads each job's last run, records (or catches up) the times missed while the agent was down, and starts the clock. */
  async start(): Promise<void> {
    const now = this.clock.now();
    this.lastTick = now;
    await this.setJobs(this.o.jobs, true);
    this.arm();
  }

  /**
   * The jobs of a new config (a reload): schedules recomputed; a job's pause and running run are
   * kept. With `atStart`, the times missed since each job's last run are dealt with.
   */
  async setJobs(jobs: readonly JobConfig[], atStart = false): Promise<void> {
    const now = this.clock.now();
    const old = this.states;
    const fresh = new Map<string, JobState>();
    for (const job of jobs) {
      const tz = job.timezone;
      const prev = old.get(job.id);
      const own = triggerOf(job.schedule, tz);
      const st: JobState = {
        job,
        main: own ?? (job.watch ? { ...triggerOf({ every: '24h' })!, text: 'a full scan every 24h (watch: true, no schedule)' } : undefined),
        implicit: !own && !!job.watch,
        watchPaths: prev?.watchPaths ?? new Set(),
        fallback: prev?.fallback,
        full: triggerOf(job.schedule?.full, tz),
        window: job.schedule?.pause ? new PauseWindow(job.schedule.pause, tz) : undefined,
        catchUp: !!job.schedule?.catchUp,
        anchor: prev?.anchor ?? now,
        pausedUntil: prev?.pausedUntil,
        retryAt: prev?.retryAt,
        retryFull: prev?.retryFull,
        running: prev?.running,
        afterPause: prev?.afterPause,
        drill: this.o.drill ? drillTrigger(job.drill, tz) : undefined,
        drillAnchor: prev?.drillAnchor ?? now,
        drilling: prev?.drilling,
      };
      if (st.drill) {
        if (atStart || !prev?.drill) {
          // Due now when the job was never drilled or a drill time passed since the last (the agent was down).
          const last = await this.o.lastDrill?.(job.id);
          if (last) st.drillAnchor = Date.parse(last.start);
          const after = last ? st.drill.next(st.drillAnchor, st.drillAnchor) : now;
          st.nextDrillAt = after !== undefined && after <= now ? now : st.drill.next(now, st.drillAnchor);
        } else st.nextDrillAt = prev.drill.text === st.drill.text ? prev.nextDrillAt : st.drill.next(now, st.drillAnchor);
      }
      if (atStart && ((st.main && !st.implicit) || st.full)) {
        const last = await this.o.runs.last(job.id);
        if (last) {
          st.anchor = Date.parse(last.start);
          const missed = [...this.between(st, st.main, st.anchor, now), ...this.between(st, st.full, st.anchor, now).map((t) => -t)];
          if (missed.length) this.missed(st, missed, 'agent-not-running', now);
        }
      }
      st.nextAt = st.main?.next(now, st.anchor);
      st.nextFullAt = st.full?.next(now, st.anchor);
      fresh.set(job.id, st);
    }
    this.states.clear();
    for (const [k, v] of fresh) this.states.set(k, v);
    if (!atStart) this.arm();
  }

  /** Stops the clock (the runs in flight go on; `drain` waits for them). */
  stop(): void {
    this.stopped = true;
    this.cancelTimer?.();
    this.wake();
  }

  /** Waits for the records of runs not executed to be written. */
  async flushed(): Promise<void> {
    while (this.writes.size) await Promise.allSettled([...this.writes]);
  }

  /** Waits for the runs the scheduler started. */
  async drain(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  /** One look at the clock: what is due runs (or is recorded as not run). Called by the timer; tests call it after moving their clock. */
  async tick(): Promise<void> {
    const now = this.clock.now();
    const late = now - this.lastTick > this.tickMs + SLEEP_SLACK_MS;
    const slept = this.lastTick;
    this.lastTick = now;
    // Several jobs due at one look: they enter the queue in the order of their scheduled times.
    const fires: { st: JobState; at: number; full: boolean }[] = [];
    const drills: { st: JobState; at: number }[] = [];
    for (const st of this.states.values()) {
      const dueMain = st.main && st.nextAt !== undefined && st.nextAt <= now ? this.between(st, st.main, st.nextAt - 1, now) : [];
      const dueFull = st.full && st.nextFullAt !== undefined && st.nextFullAt <= now ? this.between(st, st.full, st.nextFullAt - 1, now) : [];
      if (st.main) st.nextAt = st.main.next(now, st.anchor);
      if (st.full) st.nextFullAt = st.full.next(now, st.anchor);
      // Times that fell while the machine slept (the tick came late): missed, not run now one by one.
      const asleep = late ? [...dueMain.filter((t) => t < now - SLEEP_SLACK_MS && t > slept), ...dueFull.filter((t) => t < now - SLEEP_SLACK_MS && t > slept).map((t) => -t)] : [];
      if (asleep.length) this.missed(st, asleep, 'machine-asleep', now);
      const onTime = [...dueMain.filter((t) => !asleep.includes(t)).map((t) => ({ at: t, full: false })), ...dueFull.filter((t) => !asleep.includes(-t)).map((t) => ({ at: t, full: true }))];
      if (onTime.length) {
        // Several at once (a main and a full time together): one run, full when either is.
        fires.push({ st, at: Math.max(...onTime.map((x) => x.at)), full: onTime.some((x) => x.full) });
      }
      if (st.afterPause && !this.isPaused(st, now)) {
        const a = st.afterPause;
        st.afterPause = undefined;
        this.submit(st, a.at, a.full, 'catch-up');
      }
      if (st.retryAt !== undefined && st.retryAt <= now && !this.isPaused(st, now)) void this.retry(st, now);
      if (st.fallback && st.fallback.at <= now) {
        st.fallback.at = now + st.fallback.every;
        if (!this.isPaused(st, now) && st.retryAt === undefined) this.submit(st, now, false, 'fallback');
      }
      this.kickWatch(st, now);
      if (st.drill && st.nextDrillAt !== undefined && st.nextDrillAt <= now && !this.isPaused(st, now)) {
        const at = st.nextDrillAt;
        st.drillAnchor = Math.max(st.drillAnchor, at);
        st.nextDrillAt = st.drill.next(now, st.drillAnchor);
        drills.push({ st, at });
      }
      if (st.pausedUntil !== undefined && st.pausedUntil <= now) st.pausedUntil = undefined;
    }
    for (const f of fires.sort((a, b) => a.at - b.at)) this.fire(f.st, f.at, f.full, 'schedule', now);
    // Drills after the backups due at the same look (a drill then checks what the backup sent).
    for (const d of drills) this.submitDrill(d.st, d.at);
    if (this.globalPauseUntil !== undefined && this.globalPauseUntil <= now) this.globalPauseUntil = undefined;
    this.wake();
    this.arm();
  }

  // ---- control (agent pause / resume) -----------------------------------------------------

  /** Pauses one job, or all; for `forMs`, or until `resume`. A running backup waits at the next file. */
  pause(job?: string, forMs?: number): void {
    const until = forMs === undefined ? Infinity : this.clock.now() + forMs;
    if (job === undefined) this.globalPauseUntil = until;
    else this.state(job).pausedUntil = until;
    this.o.logger.info({ job, until: Number.isFinite(until) ? new Date(until).toISOString() : 'resume' }, 'paused');
    this.arm();
  }

  /** Ends `agent pause` of one job, or of all (a pause window in the config still holds). */
  resume(job?: string): void {
    if (job === undefined) {
      this.globalPauseUntil = undefined;
      for (const st of this.states.values()) st.pausedUntil = undefined;
    } else this.state(job).pausedUntil = undefined;
    this.o.logger.info({ job }, 'resumed');
    void this.tick();
  }

  /** Whether the job may not start or go on now (pause window, `agent pause`). */
  paused(job: string): boolean {
    const st = this.states.get(job);
    return !!st && this.isPaused(st, this.clock.now());
  }

  /**
   * What the engine awaits between files for a run of this job: nothing while the job may go on,
   * else a promise that resolves when the pause ends (`resume`, the window's end).
   */
  gateFor(job: string): () => Promise<void> | undefined {
    return () => {
      if (!this.paused(job)) return undefined;
      return (async () => {
        while (this.paused(job) && !this.stopped) await new Promise<void>((r) => this.waiters.add(r));
      })();
    };
  }

  /** The jobs known (the current config), for `agent pause JOB` to check a name. */
  has(job: string): boolean {
    return this.states.has(job);
  }

  /**
   * Changed paths the watcher reported: backed up in a watched run as soon as the job is neither
   * running, waiting, nor paused (paths reported meanwhile join the next one: never lost, never a
   * second run of the job queued).
   */
  watched(job: string, paths: readonly string[]): void {
    const st = this.states.get(job);
    if (!st) return;
    for (const p of paths) st.watchPaths.add(p);
    this.kickWatch(st, this.clock.now());
  }

  /** The job's watcher could not cover its folders: a full run every `everyMs` instead (the first now). */
  fallBack(job: string, everyMs: number): void {
    const st = this.states.get(job);
    if (!st) return;
    st.fallback = { every: everyMs, at: this.clock.now() };
    void this.tick();
  }

  /** The watched paths not yet backed up, per job (for `agent status`). */
  pendingPaths(job: string): number {
    return this.states.get(job)?.watchPaths.size ?? 0;
  }

  private kickWatch(st: JobState, now: number): void {
    if (!st.watchPaths.size || this.stopped || this.isPaused(st, now) || st.retryAt !== undefined) return;
    if (this.o.queue.holding(st.job.id)) return; // its turn comes when that run ends
    const paths = [...st.watchPaths];
    st.watchPaths.clear();
    this.submit(st, now, false, 'watch', paths);
  }

  /** Runs a job now through the queue (a watched change, a manual trigger of the daemon's own). */
  trigger(job: string, o: { full?: boolean; why: Trigger_; paths?: string[] }): QueueEntry | undefined {
    const st = this.state(job);
    return this.submit(st, this.clock.now(), !!o.full, o.why, o.paths);
  }

  /** For `agent status`. */
  status(nextCount = 3): JobSchedule[] {
    const now = this.clock.now();
    return [...this.states.values()].map((st) => {
      const next: string[] = [];
      let t = st.nextAt;
      for (let i = 0; i < nextCount && t !== undefined; i++) {
        next.push(new Date(t).toISOString());
        t = st.main!.next(Math.max(t, st.anchor), st.anchor);
      }
      const held = this.o.queue.holding(st.job.id);
      const paused = this.isPaused(st, now);
      const until = this.pauseEnd(st, now);
      return {
        job: st.job.id,
        state: st.running && paused ? 'paused' : st.running || held?.state === 'running' ? 'running' : held ? 'waiting' : paused ? 'paused' : 'idle',
        schedule: st.main?.text,
        full: st.full?.text,
        pauseWindow: st.window?.text,
        pausedUntil: paused ? (until === Infinity ? 'resume' : new Date(until).toISOString()) : undefined,
        inPauseWindow: !!st.window?.contains(now),
        next,
        nextFull: st.nextFullAt !== undefined ? new Date(st.nextFullAt).toISOString() : undefined,
        retryAt: st.retryAt !== undefined ? new Date(st.retryAt).toISOString() : undefined,
        running: st.running ? { since: new Date(st.running.since).toISOString(), why: st.running.why, progress: st.running.progress } : undefined,
        catchUp: st.catchUp,
        pendingChanges: st.watchPaths.size,
        nextFallbackScan: st.fallback ? new Date(st.fallback.at).toISOString() : undefined,
        drill: st.drill ? { schedule: st.drill.text, next: st.nextDrillAt !== undefined ? new Date(st.nextDrillAt).toISOString() : undefined, ...(st.drilling ? { state: st.drilling } : {}) } : undefined,
      };
    });
  }

  /** The engine's progress of a running job (shown by `agent status`). */
  progress(job: string, p: unknown): void {
    const st = this.states.get(job);
    if (st?.running) st.running.progress = p;
  }

  // ---- inside -----------------------------------------------------------------------------

  private state(job: string): JobState {
    const st = this.states.get(job);
    if (!st) throw new Error(`no job "${job}"`);
    return st;
  }

  private isPaused(st: JobState, now: number): boolean {
    const manual = (st.pausedUntil !== undefined && st.pausedUntil > now) || (this.globalPauseUntil !== undefined && this.globalPauseUntil > now);
    return manual || !!st.window?.contains(now);
  }

  /** When the job's pause (window and `agent pause`) ends; Infinity for until `resume`. */
  private pauseEnd(st: JobState, now: number): number {
    let t = now;
    for (let i = 0; i < 4; i++) {
      const manual = Math.max(st.pausedUntil ?? 0, this.globalPauseUntil ?? 0);
      if (manual > t) t = manual;
      if (t === Infinity) return t;
      const w = st.window?.endsAfter(t) ?? t;
      if (w === t) return t;
      t = w;
    }
    return t;
  }

  /** Scheduled times in (after, until], at most MAX_MISSED. */
  private between(st: JobState, trig: Trigger | undefined, after: number, until: number): number[] {
    const out: number[] = [];
    if (!trig) return out;
    let t = trig.next(after, st.anchor);
    while (t !== undefined && t <= until && out.length < MAX_MISSED) {
      out.push(t);
      t = trig.next(t, st.anchor);
    }
    return out;
  }

  /** Scheduled times that could not run (negative: a full run's): one catch-up run, or one `not-executed` record. */
  private missed(st: JobState, times: number[], why: Reason, now: number): void {
    const abs = times.map(Math.abs).sort((a, b) => a - b);
    const full = times.some((t) => t < 0);
    const latest = abs.at(-1)!;
    if (st.catchUp) {
      this.o.logger.info({ job: st.job.id, missed: abs.length, why }, 'catching up a missed scheduled run');
      if (this.isPaused(st, now)) st.afterPause = { at: latest, full };
      else this.submit(st, latest, full, 'catch-up');
      return;
    }
    const words = why === 'agent-not-running' ? 'while the agent was not running' : 'while the machine was asleep (or its clock jumped)';
    const when = abs.length === 1 ? `at ${new Date(latest).toISOString()}` : `from ${new Date(abs[0]!).toISOString()} to ${new Date(latest).toISOString()}`;
    this.notExecuted(st, latest, [why], `${abs.length} scheduled run(s) ${when} missed ${words}; set "catchUp": true in the job's schedule to run a missed one at start`);
  }

  private notExecuted(st: JobState, at: number, reasons: Reason[], note: string, id?: string): void {
    const rec: RunRecord = {
      id: id ?? newRunId(new Date(at)),
      job: st.job.id,
      kind: 'backup',
      status: 'not-executed',
      reasons,
      start: new Date(at).toISOString(),
      end: new Date(this.clock.now()).toISOString(),
      device: this.o.device,
      sources: [],
      targets: st.job.targets,
      counts: emptyCounts(),
      bytes: 0,
      note,
    };
    this.o.logger.warn({ job: st.job.id, reasons, note }, 'a scheduled run was not executed');
    const w = this.o.runs.put(rec).catch((e: Error) => this.o.logger.error({ err: e?.message }, 'the scheduler could not record a run not executed'));
    this.writes.add(w);
    void w.finally(() => this.writes.delete(w));
  }

  /** A scheduled time has come: run, or record why not. */
  private fire(st: JobState, at: number, full: boolean, why: Trigger_, now: number): void {
    if (this.isPaused(st, now)) {
      if (st.catchUp) {
        st.afterPause = { at, full: full || !!st.afterPause?.full };
        return;
      }
      const end = this.pauseEnd(st, now);
      this.notExecuted(st, at, ['paused'], `the job was paused (${st.window?.contains(now) ? `pause window ${st.window.text}` : '`agent pause`'}${end === Infinity ? ', until `agent resume`' : `, until ${new Date(end).toISOString()}`}); set "catchUp": true to run it when the pause ends`);
      return;
    }
    if (st.retryAt !== undefined) {
      // The targets were unavailable at the last run: the probe runs the job once one is back.
      st.retryFull ||= full;
      this.o.logger.debug({ job: st.job.id }, 'a scheduled time while the targets are unavailable: left to the probe');
      return;
    }
    this.submit(st, at, full, why);
  }

  private submit(st: JobState, at: number, full: boolean, why: Trigger_, paths?: string[]): QueueEntry | undefined {
    if (this.stopped) return undefined;
    const job = st.job.id;
    const turn = this.o.queue.enter({ jobs: [job], at, label: `backup ${job}${full ? ' --full' : ''} (${why === 'schedule' ? `scheduled ${new Date(at).toISOString()}` : why})`, refuseDuplicate: true });
    if ('refused' in turn) {
      this.o.logger.warn({ job, why, holder: turn.refused.label, state: turn.refused.state }, `a ${why} trigger was refused: the job is already ${turn.refused.state}`);
      return undefined;
    }
    // `every` counts from the job's last scheduled run (not from watched or fallback runs).
    if (why === 'schedule' || why === 'catch-up') st.anchor = Math.max(st.anchor, at);
    const work = (async () => {
      try {
        if (!(await turn.started) || this.stopped) return;
        st.running = { since: this.clock.now(), why };
        const rec = await this.o.run(job, { full, why, scheduledAt: at, gate: this.gateFor(job), paths });
        if (rec && unavailable(rec)) {
          st.retryAt = this.clock.now() + this.retryEveryMs;
          st.retryFull = full;
          const note = `every target of the job is unavailable (${(rec.error ?? 'not reachable').replace(/\s*\n\s*(→\s*)?/g, '; ')}); tried again every ${Math.round(this.retryEveryMs / 60_000)} min until one is back`;
          this.notExecuted(st, Date.parse(rec.start), ['target-unavailable'], note, rec.id);
        } else if (rec) {
          st.retryAt = undefined;
        }
        // A watched run that did not complete (stopped, a guard held deletions back): its paths go again with the next.
        if (paths && rec?.status !== 'completed') for (const p of paths) st.watchPaths.add(p);
      } catch (e) {
        this.o.logger.error({ job, err: (e as Error).message }, 'a scheduled run failed to start');
      } finally {
        st.running = undefined;
        turn.release();
        this.kickWatch(st, this.clock.now());
        this.arm();
      }
    })();
    this.track(work);
    return turn.entry;
  }

  /** A restore drill of the job through the queue (a turn that reads the job); one at a time per job. */
  private submitDrill(st: JobState, at: number): void {
    if (this.stopped || !this.o.drill) return;
    const job = st.job.id;
    if (st.drilling) {
      this.o.logger.warn({ job, state: st.drilling }, 'a drill is due while the last one is still ' + st.drilling + ': skipped');
      return;
    }
    const turn = this.o.queue.enter({ reads: [job], at, label: `drill ${job} (scheduled ${new Date(at).toISOString()})` });
    if ('refused' in turn) return; // never: no jobs named
    st.drilling = 'waiting';
    const work = (async () => {
      try {
        if (!(await turn.started) || this.stopped) return;
        st.drilling = 'running';
        const rec = await this.o.drill!(job, { scheduledAt: at });
        this.o.logger.info({ job, run: rec?.id, status: rec?.status }, rec ? 'drill done' : 'nothing to drill yet (no backup of the job)');
      } catch (e) {
        this.o.logger.error({ job, err: (e as Error).message }, 'a drill failed to start');
      } finally {
        st.drilling = undefined;
        turn.release();
        this.arm();
      }
    })();
    this.track(work);
  }

  /** Probes the targets of a job whose run found them unavailable; runs it when one is back. */
  private async retry(st: JobState, now: number): Promise<void> {
    st.retryAt = now + this.retryEveryMs; // not again before this, whatever the probe says
    const why = this.o.probe ? await this.o.probe(st.job.id).catch((e: Error) => e.message) : undefined;
    if (why !== undefined) {
      this.o.logger.debug({ job: st.job.id, why }, 'the targets are still unavailable');
      this.arm();
      return;
    }
    this.o.logger.info({ job: st.job.id }, 'a target is back: running the job');
    this.submit(st, now, !!st.retryFull, 'retry');
  }

  private track(p: Promise<unknown>): void {
    const q = p.then(
      () => undefined,
      (e: Error) => this.o.logger.error({ err: e?.message }, 'the scheduler could not record a run'),
    );
    this.inflight.add(q);
    void q.finally(() => this.inflight.delete(q));
  }

  private wake(): void {
    const w = [...this.waiters];
    this.waiters.clear();
    for (const r of w) r();
  }

  /** Sleeps until the next thing to do, at most `tickMs`. */
  private arm(): void {
    if (this.stopped) return;
    this.cancelTimer?.();
    const now = this.clock.now();
    let at = now + this.tickMs;
    for (const st of this.states.values()) {
      for (const t of [st.nextAt, st.nextFullAt, st.retryAt, st.pausedUntil, st.fallback?.at, st.nextDrillAt]) if (t !== undefined && t > now && t < at) at = t;
      // A drill due now (at start: never drilled, or its time passed while the agent was down).
      if (st.drill && st.nextDrillAt !== undefined && st.nextDrillAt <= now && !st.drilling && !this.isPaused(st, now)) at = now;
      if (st.window) {
        const end = st.window.endsAfter(now);
        if (end > now && end < at) at = end;
      }
    }
    if (this.globalPauseUntil !== undefined && this.globalPauseUntil > now && this.globalPauseUntil < at) at = this.globalPauseUntil;
    this.cancelTimer = this.clock.setTimeout(() => void this.tick(), at - now);
  }
}

/** A run none of whose targets could be reached (a disk unplugged): `not-executed`, not a failure. */
function unavailable(rec: RunRecord): boolean {
  const t = rec.targetResults ?? [];
  return rec.status === 'incomplete' && t.length > 0 && t.every((r) => r.reasons.includes('target-unavailable')) && rec.counts.uploaded === 0;
}
