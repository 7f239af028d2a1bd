import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HokanConfig, JobConfig, NotifierConfig } from '../../common/config-types.js';
import { nullLogger } from '../../common/logger.js';
import { emptyCounts, type RunRecord } from '../../common/model.js';
import { parseOn, permanentNotifyError, type Notifier, type NotifyMessage, type RunMessage } from '../../common/notify.js';
import { IndexStore } from '../index/index-store.js';
import { NotificationService } from './notification-service.js';

// The rules of when, against a real index, with a notifier that keeps what it is asked to say (a
// notifier plugin of its own: the core under test is everything around it). Mail itself is tested
// against real SMTP servers in plugins/notify-smtp/test.

let dir: string;
let index: IndexStore;
let sent: NotifyMessage[];
/** Errors the next sends throw, in order. */
let failNext: Error[];
let clock: Date;

const recording: Notifier = {
  async send(m) {
    const e = failNext.shift();
    if (e) throw e;
    sent.push(m);
    return { response: '250 ok' };
  },
  async test(m) {
    sent.push(m);
    return { response: '250 test ok' };
  },
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-notify-'));
  index = await IndexStore.open(join(dir, 'data'));
  sent = [];
  failNext = [];
  clock = new Date('2026-03-10T09:00:00Z');
});
afterEach(async () => {
  await index.close();
  await rm(dir, { recursive: true, force: true });
});

function job(id: string, notify?: string[]): JobConfig {
  return { id, sources: [{ path: '/src' }], targets: ['usb'], generations: 10, filters: {}, deletions: 'every-run', deletionThreshold: { percent: 50, count: 1000 }, followSymlinks: false, ignoreInode: false, ignoreCtime: false, notify };
}

function service(notify: NotifierConfig[], jobs: JobConfig[] = [job('docs')], usage?: () => Promise<{ id: string; type: string; used?: number }[]>): NotificationService {
  const config: HokanConfig = { device: 'office-pc', plugins: [], targets: { usb: { type: 'memory' } }, jobs, notify, presets: {} };
  return new NotificationService({
    config,
    contribution: (type) => (type === 'rec' ? { type, create: () => recording } : undefined),
    logger: nullLogger,
    dataDir: dir,
    index: async () => index,
    now: () => clock,
    retry: { retries: 2, minDelayMs: 1 },
    usage,
  });
}

let seq = 0;
async function run(jobId: string, status: RunRecord['status'], over: Partial<RunRecord> = {}, failed = 0): Promise<RunRecord> {
  const start = new Date(clock.getTime() - 60_000).toISOString();
  const r: RunRecord = { id: `2026${String(++seq).padStart(4, '0')}-run`, job: jobId, kind: 'backup', status, reasons: status === 'incomplete' ? ['target-unavailable'] : [], start, end: clock.toISOString(), device: 'office-pc', sources: ['/src'], targets: ['usb'], counts: { ...emptyCounts(), seen: 3 + failed, failed }, bytes: 10, ...over };
  await index.batch([...index.runOps(r), ...Array.from({ length: failed }, (_, i) => index.fileOp(r.id, i, { path: `Docs/f${i}.txt`, target: 'usb', status: 'failed', reason: 'access-denied', message: 'EACCES' }))]);
  return r;
}

const later = (ms: number) => (clock = new Date(clock.getTime() + ms));
const H = 3600_000;
const D = 24 * H;

describe('notification rules (on)', () => {
  it('parses "on": failure by default, success, monthly (alias usage), stale:Nd; names a bad value', () => {
    expect(parseOn(undefined)).toEqual({ failure: true, success: false, monthly: false });
    expect(parseOn(['success', 'stale:3d', 'usage'])).toEqual({ failure: false, success: true, monthly: true, staleDays: 3 });
    expect(() => parseOn(['stale:3'])).toThrow(/unknown "on" value "stale:3".*stale:Nd/);
  });

  it('a failed run gets one message with its first failed files; a completed run none unless "success"; each outcome is recorded on the run', async () => {
    const svc = service([{ type: 'rec', id: 'mail' }]);
    const bad = await run('docs', 'incomplete', {}, 25);
    const entries = await svc.onRun(bad);
    expect(entries).toMatchObject([{ notifier: 'mail', kind: 'run', rule: 'failure', state: 'sent', attempts: 1, response: '250 ok' }]);
    const m = sent[0] as RunMessage;
    expect(m).toMatchObject({ kind: 'run', rule: 'failure', failedTotal: 25, device: 'office-pc' });
    expect(m.failedFiles).toHaveLength(20);
    const all = [];
    for await (const f of m.allFailedFiles()) all.push(f.path);
    expect(all).toHaveLength(25);
    expect((await index.getRun(bad.id))?.notifications).toMatchObject([{ notifier: 'mail', state: 'sent' }]);

    await svc.onRun(await run('docs', 'completed'));
    expect(sent).toHaveLength(1);
    const withSuccess = service([{ type: 'rec', id: 'mail', on: ['failure', 'success'] }]);
    await withSuccess.onRun(await run('docs', 'completed'));
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ kind: 'run', rule: 'success' });
  });

  it('a restore drill that failed is told like a backup (its files listed); a restore a person ran is not; a completed drill ends no stale alarm', async () => {
    const svc = service([{ type: 'rec', id: 'mail', on: ['failure', 'stale:2d'] }]);
    await svc.onRun(await run('docs', 'completed')); // a backup: quiet
    const drill = { kind: 'restore' as const, reasons: ['hash-mismatch' as const], drill: { sample: '100 files', files: 100, sourceChecked: 40, trigger: 'schedule' as const } };
    const bad = await run('docs', 'incomplete', drill, 2);
    expect(await svc.onRun(bad)).toMatchObject([{ notifier: 'mail', kind: 'run', rule: 'failure', state: 'sent' }]);
    expect(sent[0]).toMatchObject({ kind: 'run', rule: 'failure', failedTotal: 2, run: { kind: 'restore', drill: { files: 100 } } });
    expect(await svc.onRun(await run('docs', 'incomplete', { kind: 'restore' }, 1))).toEqual([]);
    // No completed backup for 3 days: the stale alarm goes; a completed drill is not "back to normal".
    later(3 * D);
    expect(await svc.checkStale()).toMatchObject([{ kind: 'stale', state: 'sent' }]);
    const n = sent.length;
    await svc.onRun(await run('docs', 'completed', { ...drill, reasons: [] }));
    expect(sent.slice(n).map((m) => m.kind)).toEqual([]);
  });

  it('only the notifiers a job names speak for it', async () => {
    const svc = service([{ type: 'rec', id: 'a' }, { type: 'rec', id: 'b' }], [job('docs', ['b'])]);
    const entries = await svc.onRun(await run('docs', 'interrupted'));
    expect(entries.map((e) => e.notifier)).toEqual(['b']);
  });

  it('identical failures within 6 hours are coalesced: held back, recorded, and counted in the next message', async () => {
    const svc = service([{ type: 'rec', id: 'mail' }]);
    await svc.onRun(await run('docs', 'incomplete'));
    later(H);
    const second = await svc.onRun(await run('docs', 'incomplete'));
    expect(second).toMatchObject([{ state: 'coalesced', attempts: 0 }]);
    // Another reason is another alarm.
    await svc.onRun(await run('docs', 'incomplete', { reasons: ['quota-exceeded'] }));
    expect(sent).toHaveLength(2);
    later(6 * H);
    await svc.onRun(await run('docs', 'incomplete'));
    expect(sent).toHaveLength(3);
    expect(sent[2]).toMatchObject({ coalesced: 1 });
    // A completed run in between: the same failure after it is news again.
    later(H);
    await svc.onRun(await run('docs', 'completed'));
    later(H);
    await svc.onRun(await run('docs', 'incomplete'));
    expect(sent).toHaveLength(4);
  });

  it('a send that fails is retried with backoff; a permanent error is not; neither throws, both are recorded', async () => {
    const svc = service([{ type: 'rec', id: 'mail' }]);
    failNext = [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })];
    expect(await svc.onRun(await run('docs', 'incomplete'))).toMatchObject([{ state: 'sent', attempts: 2 }]);
    later(7 * H);
    failNext = [new Error('down'), new Error('down'), new Error('down')];
    const r = await run('docs', 'incomplete');
    expect(await svc.onRun(r)).toMatchObject([{ state: 'failed', attempts: 3, error: 'down' }]);
    expect((await index.getRun(r.id))?.status).toBe('incomplete');
    later(7 * H);
    failNext = [permanentNotifyError(new Error('535 authentication failed'))];
    expect(await svc.onRun(await run('docs', 'aborted'))).toMatchObject([{ state: 'failed', attempts: 1, error: '535 authentication failed' }]);
  });
});

describe('the stale alarm (stale:Nd)', () => {
  it('fires for a job with no completed backup in N days and not for a healthy one, repeats daily, says "back to normal" once', async () => {
    const svc = service([{ type: 'rec', id: 'mail', on: ['stale:3d'] }], [job('docs'), job('mail')]);
    await run('docs', 'completed');
    await run('mail', 'completed');
    expect(await svc.checkStale()).toEqual([]);
    later(2 * D);
    await run('mail', 'completed'); // healthy: completes every two days
    await run('docs', 'incomplete');
    later(D + H);
    const first = await svc.checkStale();
    expect(first).toMatchObject([{ kind: 'stale', rule: 'stale:3d', state: 'sent' }]);
    expect(sent[0]).toMatchObject({ kind: 'stale', job: 'docs', days: 3, daysSince: 3, repeat: 1, lastRun: { status: 'incomplete' } });
    expect((await svc.staleStates()).map((s) => [s.job, s.stale])).toEqual([['docs', true], ['mail', false]]);
    // Hourly checks the same day send nothing more.
    for (let i = 0; i < 5; i++) {
      later(H);
      expect(await svc.checkStale()).toEqual([]);
    }
    later(D - 5 * H);
    expect(await svc.checkStale()).toHaveLength(1);
    expect(sent[1]).toMatchObject({ kind: 'stale', job: 'docs', daysSince: 4, repeat: 2 });
    // It completes: the run itself says "back to normal", once.
    later(H);
    const ok = await svc.onRun(await run('docs', 'completed'));
    expect(ok).toMatchObject([{ kind: 'recovered', state: 'sent' }]);
    expect(sent[2]).toMatchObject({ kind: 'recovered', job: 'docs', days: 4 });
    later(H);
    expect(await svc.checkStale()).toEqual([]);
    expect(sent).toHaveLength(3);
  });

  it('a job that never completed counts from when it was first seen; a failed alarm is tried again at the next check', async () => {
    const svc = service([{ type: 'rec', id: 'mail', on: ['failure', 'stale:2d'] }]);
    await svc.onRun(await run('docs', 'interrupted'));
    expect(sent).toHaveLength(1);
    later(2 * D);
    failNext = [new Error('down'), new Error('down'), new Error('down')];
    expect(await svc.checkStale()).toMatchObject([{ kind: 'stale', state: 'failed' }]);
    later(H);
    expect(await svc.checkStale()).toMatchObject([{ kind: 'stale', state: 'sent' }]);
    expect(sent[1]).toMatchObject({ kind: 'stale', lastCompleted: undefined, daysSince: 2 });
  });
});

describe('digest and monthly', () => {
  it('digest: the runs of a batch go out as one message at its end, recorded on each run', async () => {
    const svc = service([{ type: 'rec', id: 'mail', digest: true, on: ['failure', 'success'] }], [job('docs'), job('photos')]);
    svc.beginBatch();
    const a = await run('docs', 'incomplete', {}, 2);
    const b = await run('photos', 'completed');
    expect(await svc.onRun(a)).toEqual([]);
    expect(await svc.onRun(b)).toEqual([]);
    expect(sent).toHaveLength(0);
    await svc.endBatch();
    expect(sent).toHaveLength(1);
    const d = sent[0]!;
    expect(d.kind).toBe('digest');
    expect(d.kind === 'digest' && d.runs.map((r) => [r.run.job, r.rule, r.failedTotal])).toEqual([['docs', 'failure', 2], ['photos', 'success', 0]]);
    for (const r of [a, b]) expect((await index.getRun(r.id))?.notifications).toMatchObject([{ notifier: 'mail', kind: 'digest', rule: 'digest', state: 'sent' }]);
    // Outside a batch, a digest notifier sends each run as it ends.
    await svc.onRun(await run('photos', 'completed'));
    expect(sent[1]).toMatchObject({ kind: 'run', rule: 'success' });
  });

  it('monthly: space used per target with the first run of each month', async () => {
    const svc = service([{ type: 'rec', id: 'mail', on: ['monthly'] }], [job('docs')], async () => [{ id: 'usb', type: 'hdd', used: 5 * 1024 ** 3 }]);
    clock = new Date(2026, 2, 1, 9);
    await svc.onRun(await run('docs', 'completed'));
    later(D);
    await svc.onRun(await run('docs', 'completed'));
    expect(sent).toEqual([expect.objectContaining({ kind: 'usage', month: '2026/03', targets: [{ id: 'usb', type: 'hdd', used: 5 * 1024 ** 3 }] })]);
    clock = new Date(2026, 3, 1, 0, 30);
    await svc.onRun(await run('docs', 'incomplete'));
    expect(sent.map((m) => m.kind === 'usage' && m.month)).toEqual(['2026/03', '2026/04']);
  });
});

describe('notify test', () => {
  it('sends a test message through each notifier, or the one named', async () => {
    const svc = service([{ type: 'rec', id: 'a' }, { type: 'rec', id: 'b' }, { type: 'nope', id: 'c' }]);
    const all = await svc.test();
    expect(all.map((r) => [r.id, r.receipt?.response, r.error ? String(r.error) : undefined])).toEqual([
      ['a', '250 test ok', undefined],
      ['b', '250 test ok', undefined],
      ['c', undefined, 'Error: no loaded plugin provides the notifier type "nope"'],
    ]);
    expect(await svc.test('b')).toHaveLength(1);
    expect(sent.at(-1)).toMatchObject({ kind: 'test', device: 'office-pc' });
  });
});
