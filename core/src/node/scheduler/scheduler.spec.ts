/**
 * The scheduler with an injected clock: each schedule kind (croner, in a zone with daylight saving),
 * month ends, missed runs recorded `not-executed` with their reasons in a real index, catchUp, the
 * pause window across midnight (a real backup waits at a file boundary and goes on, no file sent
 * twice), the queue's order and limit, the refused duplicate trigger, an unplugged target.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HokanConfig, JobConfig, ScheduleConfig } from '../../common/config-types.js';
import { EngineHooks } from '../../common/hooks.js';
import { nullLogger, type Logger } from '../../common/logger.js';
import { emptyCounts, type RunRecord } from '../../common/model.js';
import { MemoryTarget } from '../../testing/memory-target.js';
import { runBackup } from '../engine/backup.js';
import type { EngineDeps } from '../engine/deps.js';
import { IndexStore } from '../index/index-store.js';
import { RunQueue } from './run-queue.js';
import { PauseWindow, drillTrigger, triggerOf } from './schedule.js';
import { Scheduler, type Clock, type RunRequest } from './scheduler.js';

const BERLIN = 'Europe/Berlin';
const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
/** Successive times of a trigger after `from`. */
function times(s: ScheduleConfig, from: string, n: number, tz = BERLIN): string[] {
  const t = triggerOf(s, tz)!;
  const out: string[] = [];
  let at = Date.parse(from);
  for (let i = 0; i < n; i++) {
    at = t.next(at, Date.parse(from))!;
    out.push(iso(at)!);
  }
  return out;
}

describe('schedule kinds (croner, in the job\'s zone)', () => {
  it('daily ("23:00" or true with at), weekly, every, cron', () => {
    expect(times({ daily: '23:00' }, '2026-06-01T00:00:00Z', 2)).toEqual(['2026-06-01T21:00:00.000Z', '2026-06-02T21:00:00.000Z']); // CEST = UTC+2
    expect(times({ daily: true, at: '07:15' }, '2026-01-10T12:00:00Z', 1, 'Asia/Tokyo')).toEqual(['2026-01-10T22:15:00.000Z']);
    // 2026-06-01 is a Monday.
    expect(times({ weekly: ['mon', 'wed'], at: '23:00' }, '2026-06-01T00:00:00Z', 3)).toEqual(['2026-06-01T21:00:00.000Z', '2026-06-03T21:00:00.000Z', '2026-06-08T21:00:00.000Z']);
    expect(times({ every: '30m' }, '2026-06-01T10:10:00Z', 3)).toEqual(['2026-06-01T10:40:00.000Z', '2026-06-01T11:10:00.000Z', '2026-06-01T11:40:00.000Z']);
    expect(times({ every: '6h' }, '2026-06-01T10:00:00Z', 2)).toEqual(['2026-06-01T16:00:00.000Z', '2026-06-01T22:00:00.000Z']);
    // Friday 22:00 CEST; Saturday and Sunday are not weekdays; then Monday 00:00 CEST.
    expect(times({ cron: '0 */2 * * 1-5' }, '2026-06-05T19:30:00Z', 2)).toEqual(['2026-06-05T20:00:00.000Z', '2026-06-07T22:00:00.000Z']);
    expect(triggerOf({ weekly: ['mon'], at: '08:00' }, BERLIN)!.text).toBe('weekly mon at 08:00 (Europe/Berlin)');
    expect(triggerOf({}, BERLIN)).toBeUndefined();
    // Restore drills: `every` in days too; a drill with only a sample: every 7 days.
    expect(times({ every: '7d' }, '2026-06-01T10:00:00Z', 2)).toEqual(['2026-06-08T10:00:00.000Z', '2026-06-15T10:00:00.000Z']);
    expect(drillTrigger({ sample: 5 } as ScheduleConfig, BERLIN)!.text).toBe('every 7d');
    expect(drillTrigger({ weekly: ['sun'], at: '03:00' }, BERLIN)!.text).toBe('weekly sun at 03:00 (Europe/Berlin)');
    expect(drillTrigger(undefined)).toBeUndefined();
  });

  it('monthly on day 31 is the last day of a shorter month; day 30 never fires on the 31st', () => {
    expect(times({ monthly: 31, at: '02:00' }, '2026-01-01T00:00:00Z', 4)).toEqual(['2026-01-31T01:00:00.000Z', '2026-02-28T01:00:00.000Z', '2026-03-31T00:00:00.000Z', '2026-04-30T00:00:00.000Z']);
    expect(times({ monthly: 30, at: '02:00' }, '2026-01-01T00:00:00Z', 3)).toEqual(['2026-01-30T01:00:00.000Z', '2026-02-28T01:00:00.000Z', '2026-03-30T00:00:00.000Z']);
    expect(times({ monthly: 29, at: '12:00' }, '2028-02-01T00:00:00Z', 1)).toEqual(['2028-02-29T11:00:00.000Z']); // a leap year
    expect(times({ monthly: 1, at: '02:00' }, '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-01T01:00:00.000Z', '2026-02-01T01:00:00.000Z']);
  });

  it('a daylight-saving change neither runs a job twice nor skips it', () => {
    // 2026-03-29 02:00 → 03:00 in Berlin: 02:30 does not exist that night; it runs once, at 03:00 CEST.
    expect(times({ daily: '02:30' }, '2026-03-28T00:00:00Z', 3)).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    // 2026-10-25 03:00 → 02:00: 02:30 happens twice; it runs once.
    expect(times({ daily: '02:30' }, '2026-10-24T00:00:00Z', 3)).toEqual(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    // `every` counts real time: 6 h stays 6 h across the change.
    expect(times({ every: '6h' }, '2026-03-28T22:00:00Z', 2)).toEqual(['2026-03-29T04:00:00.000Z', '2026-03-29T10:00:00.000Z']);
  });

  it('a pause window may cross midnight', () => {
    const w = new PauseWindow({ from: '22:00', to: '06:00' }, BERLIN);
    expect(w.contains(Date.parse('2026-06-01T19:59:00Z'))).toBe(false); // 21:59
    expect(w.contains(Date.parse('2026-06-01T20:00:00Z'))).toBe(true); // 22:00
    expect(w.contains(Date.parse('2026-06-02T03:59:00Z'))).toBe(true); // 05:59
    expect(w.contains(Date.parse('2026-06-02T04:00:00Z'))).toBe(false); // 06:00
    expect(iso(w.endsAfter(Date.parse('2026-06-01T21:00:00Z')))).toBe('2026-06-02T04:00:00.000Z');
    const day = new PauseWindow({ from: '09:00', to: '18:00' }, BERLIN);
    expect(day.contains(Date.parse('2026-06-01T08:00:00Z'))).toBe(true);
    expect(day.contains(Date.parse('2026-06-01T16:00:00Z'))).toBe(false);
  });
});

// ---- the scheduler, with a clock moved by hand -----------------------------------------------

class TestClock implements Clock {
  timers = new Set<{ at: number; fn: () => void }>();
  constructor(public t: number) {}
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    const x = { at: this.t + ms, fn };
    this.timers.add(x);
    return () => this.timers.delete(x);
  }
}

/** Lets the promises the scheduler started settle. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

let dir: string;
let index: IndexStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-sched-'));
  index = await IndexStore.open(join(dir, 'data'));
});
afterEach(async () => {
  await index.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

function job(id: string, schedule: ScheduleConfig | undefined, over: Partial<JobConfig> = {}): JobConfig {
  return {
    id,
    sources: [{ path: join(dir, 'src') }],
    targets: ['mem'],
    schedule,
    timezone: BERLIN,
    generations: 10,
    filters: {},
    deletions: 'every-run',
    deletionThreshold: { percent: 50, count: 1000 },
    followSymlinks: false,
    ignoreInode: false,
    ignoreCtime: false,
    ...over,
  };
}

function pastRun(jobId: string, start: string): RunRecord {
  return { id: `${start.replace(/[-:]/g, '').replace('Z', '')}-${jobId}`, job: jobId, kind: 'backup', status: 'completed', reasons: [], start, end: start, device: 'pc', sources: [], targets: ['mem'], counts: emptyCounts(), bytes: 0 };
}

interface Harness {
  clock: TestClock;
  sched: Scheduler;
  queue: RunQueue;
  calls: { job: string; req: RunRequest; at: number }[];
  logs: string[];
  /** Runs of a job in the index, oldest first. */
  runs(job: string): Promise<RunRecord[]>;
  /** Moves the clock to `time` as time passes: the scheduler wakes at each timer it set on the way. */
  at(time: string): Promise<void>;
  /** Moves the clock at once (the machine slept), then the scheduler looks at it. */
  jump(time: string): Promise<void>;
}

async function harness(
  jobs: JobConfig[],
  now: string,
  o: { limit?: number; run?: (job: string, req: RunRequest) => Promise<RunRecord | undefined>; probe?: (job: string) => Promise<string | undefined>; drill?: (job: string, req: { scheduledAt: number }) => Promise<RunRecord | undefined>; lastDrill?: (job: string) => Promise<RunRecord | undefined> } = {},
): Promise<Harness> {
  const clock = new TestClock(Date.parse(now));
  const queue = new RunQueue(o.limit ?? 1);
  const calls: Harness['calls'] = [];
  const logs: string[] = [];
  const logger: Logger = { ...nullLogger, warn: (a: unknown, b?: unknown) => logs.push(String(typeof a === 'string' ? a : b)), info: (a: unknown, b?: unknown) => logs.push(String(typeof a === 'string' ? a : b)), child: () => logger } as Logger;
  const sched = new Scheduler({
    clock,
    queue,
    jobs,
    device: 'pc',
    logger,
    runs: { last: async (j) => (await index.listRuns({ job: j, kind: 'backup', limit: 1, total: false })).runs[0], put: (r) => index.putRun(r) },
    run: async (j, req) => {
      calls.push({ job: j, req, at: clock.t });
      return o.run ? o.run(j, req) : pastRun(j, new Date(clock.t).toISOString());
    },
    probe: o.probe,
    drill: o.drill,
    lastDrill: o.lastDrill,
  });
  await sched.start();
  await settle();
  return {
    clock,
    sched,
    queue,
    calls,
    logs,
    runs: async (j) => (await index.listRuns({ job: j, kind: 'backup', limit: 100, total: false })).runs.reverse(),
    at: async (time) => {
      const end = Date.parse(time);
      for (;;) {
        const next = [...clock.timers].sort((a, b) => a.at - b.at)[0];
        if (!next || next.at > end) break;
        clock.timers.delete(next);
        clock.t = Math.max(clock.t, next.at);
        await sched.tick();
        await settle();
      }
      clock.t = end;
      await sched.tick();
      await settle();
      await sched.flushed();
    },
    jump: async (time) => {
      clock.t = Date.parse(time);
      await sched.tick();
      await settle();
      await sched.flushed();
    },
  };
}

describe('the scheduler', () => {
  it('runs a job at its time, once, and says its next times', async () => {
    const h = await harness([job('docs', { daily: '23:00' })], '2026-06-01T20:00:00Z');
    expect(h.sched.status()[0]).toMatchObject({ job: 'docs', state: 'idle', schedule: 'daily at 23:00 (Europe/Berlin)', next: ['2026-06-01T21:00:00.000Z', '2026-06-02T21:00:00.000Z', '2026-06-03T21:00:00.000Z'] });
    await h.at('2026-06-01T20:59:59Z');
    expect(h.calls).toEqual([]);
    await h.at('2026-06-01T21:00:00Z');
    expect(h.calls.map((c) => [c.job, c.req.why, iso(c.req.scheduledAt), c.req.full])).toEqual([['docs', 'schedule', '2026-06-01T21:00:00.000Z', false]]);
    await h.at('2026-06-01T21:00:30Z');
    expect(h.calls).toHaveLength(1);
    expect(h.sched.status()[0]!.next[0]).toBe('2026-06-02T21:00:00.000Z');
    // The timer it set is for the next thing to do, at most a minute away.
    expect(Math.min(...[...h.clock.timers].map((t) => t.at)) - h.clock.t).toBeLessThanOrEqual(60_000);
  });

  it('a full schedule runs --full; at the same time as the main one, one full run', async () => {
    const h = await harness([job('docs', { daily: '23:00', full: { weekly: ['mon'], at: '23:00' } })], '2026-05-31T20:00:00Z'); // Sunday
    await h.at('2026-05-31T21:00:00Z');
    await h.at('2026-06-01T21:00:00Z'); // Monday
    expect(h.calls.map((c) => c.req.full)).toEqual([false, true]);
  });

  it('times missed while the agent was not running: one not-executed run (agent-not-running) naming them, or with catchUp one run at start', async () => {
    await index.putRun(pastRun('docs', '2026-06-01T21:00:00.000Z'));
    await index.putRun(pastRun('eager', '2026-06-01T21:00:00.000Z'));
    const h = await harness([job('docs', { daily: '23:00' }), job('eager', { daily: '23:00', catchUp: true })], '2026-06-04T10:00:00Z');
    const docs = await h.runs('docs');
    expect(docs.map((r) => [r.status, r.reasons, r.start])).toEqual([
      ['completed', [], '2026-06-01T21:00:00.000Z'],
      ['not-executed', ['agent-not-running'], '2026-06-03T21:00:00.000Z'],
    ]);
    expect(docs[1]!.note).toBe('2 scheduled run(s) from 2026-06-02T21:00:00.000Z to 2026-06-03T21:00:00.000Z missed while the agent was not running; set "catchUp": true in the job\'s schedule to run a missed one at start');
    expect(h.calls.map((c) => [c.job, c.req.why, iso(c.req.scheduledAt)])).toEqual([['eager', 'catch-up', '2026-06-03T21:00:00.000Z']]);
    expect((await h.runs('eager')).filter((r) => r.status === 'not-executed')).toEqual([]);
    // A new job (no run yet) has missed nothing.
    const fresh = await harness([job('new', { daily: '23:00' })], '2026-06-04T10:00:00Z');
    expect(await fresh.runs('new')).toEqual([]);
  });

  it('times that passed while the machine slept (the clock jumped): not-executed (machine-asleep), or one catch-up run', async () => {
    const h = await harness([job('docs', { every: '1h' }), job('eager', { every: '1h', catchUp: true })], '2026-06-01T10:00:00Z');
    await h.at('2026-06-01T11:00:00Z');
    expect(h.calls.map((c) => c.job)).toEqual(['docs', 'eager']);
    await h.jump('2026-06-01T15:30:00Z'); // asleep from 11:00 to 15:30
    const docs = (await h.runs('docs')).filter((r) => r.status === 'not-executed');
    expect(docs.map((r) => [r.reasons, r.start])).toEqual([[['machine-asleep'], '2026-06-01T15:00:00.000Z']]);
    expect(docs[0]!.note).toMatch(/^4 scheduled run\(s\) from 2026-06-01T12:00:00.000Z to 2026-06-01T15:00:00.000Z missed while the machine was asleep/);
    expect(h.calls.slice(2).map((c) => [c.job, c.req.why])).toEqual([['eager', 'catch-up']]);
    expect(h.sched.status()[0]!.next[0]).toBe('2026-06-01T16:00:00.000Z');
  });

  it('a time in the pause window (across midnight) is not-executed (paused); with catchUp it runs when the window ends', async () => {
    const pause = { from: '22:00', to: '06:00' };
    const h = await harness([job('docs', { daily: '23:00', pause }), job('eager', { daily: '23:00', pause, catchUp: true })], '2026-06-01T19:00:00Z');
    expect(h.sched.status().map((s) => s.state)).toEqual(['idle', 'idle']);
    await h.at('2026-06-01T21:00:00Z'); // 23:00 CEST
    expect(h.calls).toEqual([]);
    expect(h.sched.status().map((s) => [s.state, s.pausedUntil, s.inPauseWindow])).toEqual([
      ['paused', '2026-06-02T04:00:00.000Z', true],
      ['paused', '2026-06-02T04:00:00.000Z', true],
    ]);
    const docs = await h.runs('docs');
    expect(docs.map((r) => [r.status, r.reasons])).toEqual([['not-executed', ['paused']]]);
    expect(docs[0]!.note).toBe('the job was paused (pause window 22:00–06:00, until 2026-06-02T04:00:00.000Z); set "catchUp": true to run it when the pause ends');
    await h.at('2026-06-02T03:59:00Z');
    expect(h.calls).toEqual([]);
    await h.at('2026-06-02T04:00:00Z');
    expect(h.calls.map((c) => [c.job, c.req.why, iso(c.req.scheduledAt)])).toEqual([['eager', 'catch-up', '2026-06-01T21:00:00.000Z']]);
  });

  it('agent pause (for a while, or until resume) holds runs; resume lets them go', async () => {
    const h = await harness([job('docs', { every: '1h' })], '2026-06-01T10:00:00Z');
    h.sched.pause('docs', 90 * 60_000);
    expect(h.sched.status()[0]).toMatchObject({ state: 'paused', pausedUntil: '2026-06-01T11:30:00.000Z' });
    await h.at('2026-06-01T11:00:00Z');
    expect((await h.runs('docs')).map((r) => [r.status, r.reasons])).toEqual([['not-executed', ['paused']]]);
    await h.at('2026-06-01T11:30:00Z');
    expect(h.sched.status()[0]!.state).toBe('idle');
    await h.at('2026-06-01T12:00:00Z');
    expect(h.calls).toHaveLength(1);
    h.sched.pause(undefined, undefined); // every job, until resume
    expect(h.sched.status()[0]!.pausedUntil).toBe('resume');
    h.sched.resume();
    await settle();
    expect(h.sched.status()[0]!.state).toBe('idle');
  });

  it('the queue: runs start in the order of their scheduled time, one at a time by default; a trigger for a job running or waiting is refused and logged', async () => {
    const gates = new Map<string, () => void>();
    const running: string[] = [];
    let most = 0;
    const run = async (j: string) => {
      running.push(j);
      most = Math.max(most, running.length);
      await new Promise<void>((r) => gates.set(j, r));
      running.splice(running.indexOf(j), 1);
      return undefined;
    };
    const h = await harness([job('a', { daily: '23:00' }), job('b', { daily: '22:00' }), job('c', { daily: '22:30' })], '2026-06-01T19:00:00Z', { run });
    await h.at('2026-06-01T21:00:00Z'); // b at 22:00 runs (until released); c (22:30) and a (23:00) wait
    expect(h.calls.map((c) => c.job)).toEqual(['b']);
    expect(h.queue.entries().map((e) => [e.jobs[0], e.state])).toEqual([['b', 'running'], ['c', 'waiting'], ['a', 'waiting']]);
    expect(h.sched.status().map((s) => [s.job, s.state])).toEqual([['a', 'waiting'], ['b', 'running'], ['c', 'waiting']]);
    // An entry of an earlier time that comes later goes before them (a command typed at 22:15 CEST).
    const typed = h.queue.enter({ jobs: [], label: 'agent verify', at: Date.parse('2026-06-01T20:15:00Z') });
    expect(h.queue.entries().map((e) => e.label.split(' (')[0])).toEqual(['backup b', 'agent verify', 'backup c', 'backup a']);
    if (!('refused' in typed)) typed.release(); // it gave up waiting
    // b is running, a is waiting: both triggers are refused, and said in the log.
    expect(h.sched.trigger('b', { why: 'watch' })).toBeUndefined();
    expect(h.sched.trigger('a', { why: 'watch' })).toBeUndefined();
    expect(h.logs.filter((l) => l.includes('refused'))).toEqual(['a watch trigger was refused: the job is already running', 'a watch trigger was refused: the job is already waiting']);
    gates.get('b')!();
    await settle();
    expect(h.calls.map((c) => c.job)).toEqual(['b', 'c']);
    gates.get('c')!();
    await settle();
    gates.get('a')!();
    await settle();
    expect(h.calls.map((c) => c.job)).toEqual(['b', 'c', 'a']);
    expect(most).toBe(1);
    expect(h.queue.entries()).toEqual([]);
  });

  it('maxConcurrentJobs 2: two run at once, the third waits; a command a person typed takes its turn in the same queue', async () => {
    const gates: (() => void)[] = [];
    const run = () => new Promise<undefined>((r) => gates.push(() => r(undefined)));
    const h = await harness([job('a', { daily: '22:00' }), job('b', { daily: '22:00' }), job('c', { daily: '22:00' })], '2026-06-01T19:00:00Z', { limit: 2, run });
    const manual = h.queue.enter({ jobs: ['a'], label: 'agent backup a', at: Date.parse('2026-06-01T19:30:00Z') });
    expect('refused' in manual).toBe(false);
    await h.at('2026-06-01T20:00:00Z');
    // The person's backup of a came first and runs; a's scheduled trigger is refused; b runs; c waits.
    expect(h.queue.entries().map((e) => [e.label.split(' (')[0], e.state])).toEqual([['agent backup a', 'running'], ['backup b', 'running'], ['backup c', 'waiting']]);
    expect(h.logs).toContain('a schedule trigger was refused: the job is already running');
    if (!('refused' in manual)) manual.release();
    await settle();
    expect(h.calls.map((c) => c.job)).toEqual(['b', 'c']);
    for (const g of gates) g();
  });

  it('a run whose targets are all unavailable is not-executed (target-unavailable), probed every few minutes without a run, and run once a target is back', async () => {
    let plugged = false;
    const run = async (j: string, req: RunRequest): Promise<RunRecord> => {
      const r = pastRun(j, new Date(req.scheduledAt).toISOString());
      if (plugged) return r;
      return { ...r, status: 'incomplete', reasons: ['target-unavailable'], error: 'usb: the backup folder /media/usb is gone (was the disk unplugged?)', targetResults: [{ id: 'mem', status: 'incomplete', reasons: ['target-unavailable'], counts: emptyCounts(), bytes: 0 } as never] };
    };
    const probes: string[] = [];
    const probe = async (j: string) => {
      probes.push(j);
      return plugged ? undefined : 'usb: gone';
    };
    const h = await harness([job('docs', { daily: '23:00' })], '2026-06-01T20:00:00Z', { run, probe });
    await h.at('2026-06-01T21:00:00Z');
    const [first] = await h.runs('docs');
    expect([first!.status, first!.reasons]).toEqual(['not-executed', ['target-unavailable']]);
    expect(first!.note).toBe('every target of the job is unavailable (usb: the backup folder /media/usb is gone (was the disk unplugged?)); tried again every 5 min until one is back');
    expect(h.sched.status()[0]!.retryAt).toBe('2026-06-01T21:05:00.000Z');
    await h.at('2026-06-01T21:05:00Z');
    await h.at('2026-06-01T21:10:00Z');
    expect(probes).toEqual(['docs', 'docs']);
    expect(h.calls).toHaveLength(1);
    expect(await h.runs('docs')).toHaveLength(1); // no failure storm
    plugged = true;
    await h.at('2026-06-01T21:15:00Z');
    expect(h.calls.map((c) => c.req.why)).toEqual(['schedule', 'retry']);
    expect(h.sched.status()[0]!.retryAt).toBeUndefined();
  });
});

describe('restore drills on their schedule', () => {
  it('a job never drilled is drilled at start, then every 7d from it; a drill time passed while the agent was down is one drill at start; a drill due in the pause window waits for its end', async () => {
    const drills: { job: string; at: string; scheduledAt: string }[] = [];
    let clock!: TestClock;
    const drill = async (j: string, req: { scheduledAt: number }) => {
      drills.push({ job: j, at: iso(clock.t)!, scheduledAt: iso(req.scheduledAt)! });
      return undefined;
    };
    const last = new Map<string, RunRecord>([['old', { ...pastRun('old', '2026-05-20T10:00:00Z'), kind: 'restore' }], ['recent', { ...pastRun('recent', '2026-05-30T10:00:00Z'), kind: 'restore' }]]);
    const jobs = [job('never', { daily: '23:00' }, { drill: { every: '7d' } }), job('old', undefined, { drill: { every: '7d', sample: '2%' } }), job('recent', undefined, { drill: { every: '7d' } }), job('none', { daily: '23:00' })];
    const h = await harness(jobs, '2026-06-01T12:00:00Z', { drill, lastDrill: async (j) => last.get(j) });
    clock = h.clock;
    await h.at('2026-06-01T12:00:00Z');
    expect(drills.map((d) => d.job)).toEqual(['never', 'old']);
    expect(h.calls).toEqual([]); // no backup was asked for
    const st = Object.fromEntries(h.sched.status().map((s) => [s.job, s.drill]));
    expect(st).toEqual({
      never: { schedule: 'every 7d', next: '2026-06-08T12:00:00.000Z' },
      old: { schedule: 'every 7d', next: '2026-06-08T12:00:00.000Z' },
      recent: { schedule: 'every 7d', next: '2026-06-06T10:00:00.000Z' }, // 7 days after its last drill
      none: undefined,
    });
    await h.at('2026-06-06T10:00:00Z');
    expect(drills.map((d) => [d.job, d.at])).toEqual([['never', '2026-06-01T12:00:00.000Z'], ['old', '2026-06-01T12:00:00.000Z'], ['recent', '2026-06-06T10:00:00.000Z']]);
    // A pause window over the next drill time of "never": it waits for the window's end, once.
    h.sched.pause('never', Date.parse('2026-06-08T15:00:00Z') - h.clock.t);
    await h.at('2026-06-08T16:00:00Z');
    expect(drills.filter((d) => d.job === 'never').map((d) => [d.at, d.scheduledAt])).toEqual([['2026-06-01T12:00:00.000Z', '2026-06-01T12:00:00.000Z'], ['2026-06-08T15:00:00.000Z', '2026-06-08T12:00:00.000Z']]);
  });

  it('never at the same time as a backup of the job (maxConcurrentJobs 2 too), and a drill does not make a backup trigger a duplicate', async () => {
    const gates: (() => void)[] = [];
    const order: string[] = [];
    const run = (j: string) => {
      order.push(`backup ${j} start`);
      return new Promise<undefined>((r) => gates.push(() => (order.push(`backup ${j} end`), r(undefined))));
    };
    const drill = (j: string) => {
      order.push(`drill ${j} start`);
      return new Promise<undefined>((r) => gates.push(() => (order.push(`drill ${j} end`), r(undefined))));
    };
    const h = await harness([job('docs', { daily: '22:00' }, { drill: { cron: '0 0 22 * * *' } }), job('pics', undefined, { drill: { every: '1d' } })], '2026-06-01T19:00:00Z', { limit: 2, run, drill, lastDrill: async (j) => pastRun(j, '2026-06-01T18:00:00Z') });
    await h.at('2026-06-01T20:00:00Z'); // 22:00 CEST: docs' backup and docs' drill are due together
    expect(order).toEqual(['backup docs start']);
    expect(h.queue.entries().map((e) => [e.label.split(' (')[0], e.state])).toEqual([['backup docs', 'running'], ['drill docs', 'waiting']]);
    expect(h.sched.status()[0]!.drill).toMatchObject({ state: 'waiting' });
    gates.shift()!();
    await settle();
    expect(order).toEqual(['backup docs start', 'backup docs end', 'drill docs start']);
    // While docs' drill runs, a watched change of docs is not refused: its backup waits for the drill.
    expect(h.sched.trigger('docs', { why: 'watch' })).toBeDefined();
    await settle();
    expect(order.at(-1)).toBe('drill docs start');
    gates.shift()!();
    await settle();
    expect(order.slice(-2)).toEqual(['drill docs end', 'backup docs start']);
    gates.shift()!();
    await settle();
  });
});

describe('a running backup and the pause window', () => {
  it('pauses at a file boundary when the window begins and goes on when it ends: every file on the target once, byte for byte', async () => {
    const src = join(dir, 'src');
    await mkdir(src, { recursive: true });
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`f${String(i).padStart(2, '0')}.txt`] = `file ${i} `.repeat(100 + i);
    for (const [n, b] of Object.entries(files)) await writeFile(join(src, n), b);
    const mem = new MemoryTarget({ maxConnections: 1 } as never);
    const puts = new Map<string, number>();
    const hooks = new EngineHooks();
    let sent = 0;
    let clock!: TestClock;
    hooks.afterUpload.tap('test', (r) => {
      puts.set(r.record.path, (puts.get(r.record.path) ?? 0) + 1);
      // After the 10th file, the clock passes 22:00: the pause window begins.
      if (++sent === 10) clock.t = Date.parse('2026-06-01T20:00:00Z');
    });
    const j = job('docs', { daily: '21:00', pause: { from: '22:00', to: '06:00' } });
    const config: HokanConfig = { device: 'pc', plugins: [], targets: { mem: { type: 'memory' } }, jobs: [j], notify: [], presets: {} };
    const deps: EngineDeps = { index, hooks, logger: nullLogger, config, openTarget: async () => Object.create(mem, { [Symbol.asyncDispose]: { value: async () => {} } }) as MemoryTarget };
    let progress = 0;
    let done: RunRecord | undefined;
    const h = await harness([j], '2026-06-01T18:59:00Z', {
      run: async (jobId, req) => (done = await runBackup(deps, { job: jobId, gate: req.gate, now: new Date(req.scheduledAt), scanWorker: 'never', onProgress: (p) => (progress = p.filesDone) })),
    });
    clock = h.clock;
    await h.at('2026-06-01T19:00:00Z'); // 21:00 CEST: the run starts
    for (let i = 0; i < 2000 && sent < 10; i++) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100));
    await settle();
    // Held: the files in flight when the window began finished, no new one started, the run still going.
    const heldAt = sent;
    expect(heldAt).toBeGreaterThanOrEqual(10);
    expect(heldAt).toBeLessThan(40);
    expect(done).toBeUndefined();
    expect(h.sched.status()[0]).toMatchObject({ state: 'paused', running: { why: 'schedule' } });
    await new Promise((r) => setTimeout(r, 100));
    expect(sent).toBe(heldAt);
    await h.at('2026-06-02T04:00:00Z'); // 06:00: the window ends
    for (let i = 0; i < 2000 && !done; i++) await new Promise((r) => setTimeout(r, 5));
    expect(done).toMatchObject({ status: 'completed', counts: { seen: 40, uploaded: 40 } });
    expect(progress).toBeGreaterThan(heldAt - 5);
    expect([...puts.values()].every((n) => n === 1)).toBe(true);
    expect(puts.size).toBe(40);
    for (const [n, b] of Object.entries(files)) {
      const key = mem.keys().find((k) => k.endsWith(`/src/${n}`))!;
      expect(mem.peek(key)!.equals(await readFile(join(src, n)))).toBe(true);
      expect(mem.peek(key)!.toString()).toBe(b);
    }
  });
});
