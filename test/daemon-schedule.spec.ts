/**
 * `agent run` backs up by itself: a real daemon process runs a job on its schedule (a cron with
 * seconds, so the test takes seconds), records the times it missed while it was not running,
 * records an unplugged target as `not-executed (target-unavailable)` once (no failure storm), obeys
 * `agent pause` / `resume`, and stops cleanly on `agent stop` and SIGTERM.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agent, collect, startAgent } from './helpers/agent.js';

let dir: string;
const daemons = new Set<ChildProcess>();
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-sched-e2e-'));
});
afterEach(() => {
  for (const d of daemons) d.kill('SIGKILL');
  daemons.clear();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(name: string, job: Record<string, unknown>, disk?: string) {
  const base = join(dir, name);
  const src = join(base, 'Documents');
  const usb = disk ?? join(base, 'usb');
  const data = join(base, 'data');
  await mkdir(src, { recursive: true });
  if (!disk) await mkdir(usb, { recursive: true });
  const config = join(base, 'config.json');
  await writeFile(config, JSON.stringify({ device: 'test-pc', plugins: ['@hokan/target-hdd'], targets: { usb: { type: 'hdd', path: usb } }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['usb'], ...job }] }));
  const globals = ['--config', config, '--data-dir', data];
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => agent([...args, ...globals], { cwd: base, env });
  const daemon = async () => {
    const child = startAgent(['run', '--json', ...globals], { cwd: base });
    daemons.add(child);
    const result = collect(child, 120_000);
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        try {
          JSON.parse(out);
          resolve();
        } catch {
          // not whole yet
        }
      });
      child.on('close', () => reject(new Error(`agent run ended before it listened: ${out}`)));
    });
    return { child, result };
  };
  const history = async () => JSON.parse((await run(['history', '--json'])).stdout).runs as { status: string; reasons: string[]; note?: string; counts: { uploaded: number } }[];
  /** Polls until `ok` holds, at most `ms`. */
  const until = async <T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await what();
      if (ok(v) || Date.now() > end) return v;
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  return { base, src, usb, data, config, run, daemon, history, until, globals };
}

describe('agent run: schedules', () => {
  it('runs a job on its schedule; status --json shows state, last run, next runs, watch; pause holds it, resume lets it go; agent stop ends the daemon (exit 0)', async () => {
    const s = await setup('cron', { schedule: { cron: '*/2 * * * * *' } });
    await writeFile(join(s.src, 'report.txt'), 'quarterly numbers\n');
    const d = await s.daemon();
    const runs = await s.until(s.history, (r) => r.some((x) => x.status === 'completed'));
    expect(runs.find((x) => x.status === 'completed')).toMatchObject({ counts: { uploaded: 1 } });
    expect(readFileSync(join(s.usb, 'docs', 'Documents', 'report.txt'), 'utf8')).toBe('quarterly numbers\n');

    const st = JSON.parse((await s.run(['status', '--json'])).stdout);
    const job = st.jobs[0];
    expect(job).toMatchObject({ id: 'docs', schedule: 'cron */2 * * * * *', watch: 'off', lastBackup: { job: 'docs', kind: 'backup' } });
    expect(['idle', 'running', 'waiting']).toContain(job.state);
    expect(job.next).toHaveLength(3);
    expect(Date.parse(job.next[0])).toBeGreaterThan(Date.now() - 2000);
    expect(st.notes).toEqual([]);

    // Paused: no run starts (its times are recorded not-executed, paused); the status says so.
    const p = await s.run(['pause', 'docs']);
    expect(p.stdout).toBe('paused job docs until `agent resume`: no run starts, a running backup waits at its next file\n');
    const paused = await s.until(s.history, (r) => r[0]!.status === 'not-executed');
    expect(paused[0]).toMatchObject({ status: 'not-executed', reasons: ['paused'] });
    const text = (await s.run(['status'])).stdout;
    expect(text).toMatch(/\njob docs \(paused until `agent resume`\): last backup .* {2}not-executed \(paused\) — the job was paused \(`agent pause`, until `agent resume`\)/);
    expect(text).toContain('\n  schedule: cron */2 * * * * * — next ');
    await s.run(['resume']);
    await writeFile(join(s.src, 'second.txt'), 'more');
    await s.until(s.history, (r) => r[0]!.status === 'completed' && r[0]!.counts.uploaded === 1);
    expect(readFileSync(join(s.usb, 'docs', 'Documents', 'second.txt'), 'utf8')).toBe('more');

    // Bad input: a job it does not run, a duration it cannot read.
    const bad = await s.run(['pause', 'doc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: the daemon runs no job "doc"\n {2}→ did you mean "docs"\? its jobs: docs\n/);
    const badFor = await s.run(['pause', '--for', 'soon']);
    expect(badFor.code).toBe(2);
    expect(badFor.stderr).toMatch(/--for "soon" is not a duration\n {2}→ a number and a unit: "90s", "30m", "2h", "1d"/);

    const stop = await s.run(['stop']);
    expect(stop.code).toBe(0);
    const end = await d.result;
    expect(end.code).toBe(0);
    // Without a daemon, the controls say what they need.
    const none = await s.run(['pause']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^error: `agent pause` needs the agent daemon, and none runs for the data folder .*\n {2}→ start it with `agent run`/);
  });

  it('times missed while the agent was not running are recorded not-executed (agent-not-running); an unplugged target is not-executed (target-unavailable) once, not a failure storm', async () => {
    const s = await setup('missed', { schedule: { cron: '* * * * * *' } }, join(dir, 'missed', 'unplugged-disk'));
    await writeFile(join(s.src, 'a.txt'), 'a');
    const first = await s.run(['backup', '--json']);
    expect(JSON.parse(first.stdout)[0]).toMatchObject({ status: 'incomplete', reasons: ['target-unavailable'] });
    await new Promise((r) => setTimeout(r, 2500));
    const d = await s.daemon();
    const runs = await s.until(s.history, (r) => r.filter((x) => x.reasons.includes('target-unavailable')).length >= 2);
    const missed = runs.find((x) => x.reasons.includes('agent-not-running'));
    expect(missed).toMatchObject({ status: 'not-executed' });
    expect(missed!.note).toMatch(/^\d+ scheduled run\(s\) from .* missed while the agent was not running; set "catchUp": true/);
    // Its first scheduled run found the disk gone: one record, then probes (every 5 minutes), no more runs.
    await new Promise((r) => setTimeout(r, 3000));
    const later = await s.history();
    const unavailable = later.filter((x) => x.status === 'not-executed' && x.reasons.includes('target-unavailable'));
    expect(unavailable).toHaveLength(1);
    expect(unavailable[0]!.note).toMatch(/^every target of the job is unavailable \(usb: the backup folder .*unplugged-disk is not there \(is the disk plugged in\?\); plug in the disk or create the folder .*\); tried again every 5 min until one is back$/);
    const st = JSON.parse((await s.run(['status', '--json'])).stdout);
    expect(Date.parse(st.jobs[0].retryAt)).toBeGreaterThan(Date.now() + 60_000);
    d.child.kill('SIGTERM');
    const end = await d.result;
    expect(end.code).toBe(0);
  });

  it('a config edit reloads; a broken one is refused and the old config keeps running; SIGTERM mid-run exits 0 within the deadline, the run recorded aborted; kill -9 mid-run: interrupted, and the next run completes', async () => {
    const s = await setup('reload', { schedule: { cron: '*/2 * * * * *' } });
    await writeFile(join(s.src, 'a.txt'), 'a');
    const pics = join(s.base, 'Pictures');
    await mkdir(pics);
    await writeFile(join(pics, 'cat.jpg'), 'meow');
    const d = await s.daemon();
    await s.until(s.history, (r) => r.some((x) => x.status === 'completed'));
    const cfg = JSON.parse(readFileSync(s.config, 'utf8'));
    cfg.jobs.push({ id: 'pics', sources: [{ path: pics }], targets: ['usb'], schedule: { cron: '*/2 * * * * *' } });
    await writeFile(s.config, JSON.stringify(cfg));
    const status = async () => JSON.parse((await s.run(['status', '--json'])).stdout) as { jobs: { id: string; schedule?: string }[]; notes: string[] };
    const two = await s.until(status, (st) => st.jobs.length === 2 && st.jobs[1]!.schedule === 'cron */2 * * * * *', 15_000);
    expect(two.jobs.map((j) => j.id)).toEqual(['docs', 'pics']);
    await s.until(async () => existsSync(join(s.usb, 'pics', 'Pictures', 'cat.jpg')), (x) => x, 15_000);
    expect(readFileSync(join(s.usb, 'pics', 'Pictures', 'cat.jpg'), 'utf8')).toBe('meow');

    // A broken edit: refused, said by status; the jobs go on with the config the agent had.
    await writeFile(s.config, '{ "jobs": [ { "id": "docs", ');
    const refused = await s.until(status, (st) => st.notes.some((n) => n.startsWith('config refused')), 15_000);
    expect(refused.notes.find((n) => n.startsWith('config refused'))).toMatch(/^config refused \(config\.json changed, .*\): .* — the agent keeps the config it had; fix config\.json and save it again$/);
    expect(refused.jobs.map((j) => j.id)).toEqual(['docs', 'pics']);
    await writeFile(join(s.src, 'b.txt'), 'still backed up');
    await s.until(async () => existsSync(join(s.usb, 'docs', 'Documents', 'b.txt')), (x) => x, 15_000);
    await writeFile(s.config, JSON.stringify(cfg));
    await s.until(status, (st) => !st.notes.some((n) => n.startsWith('config refused')), 15_000);

    // SIGTERM while a scheduled run sends big files: it stops at a file boundary, is recorded, exit 0 in time.
    for (let i = 0; i < 6; i++) {
      const f = join(s.src, `big-${i}.bin`);
      await writeFile(f, '');
      await truncate(f, 128 * 1024 * 1024);
    }
    await s.until(s.history, (r) => r[0]!.status === 'running', 30_000);
    const t0 = Date.now();
    d.child.kill('SIGTERM');
    const end = await d.result;
    expect(end.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const after = JSON.parse((await agent(['history', '--json', ...s.globals], { env: { HOKAN_NO_DAEMON: '1' } })).stdout).runs as { status: string }[];
    expect(after.filter((r) => r.status === 'running')).toEqual([]);
    expect(['aborted', 'completed']).toContain(after[0]!.status);

    // kill -9 mid-run; the next start finds the run interrupted, and the next run completes.
    for (let i = 0; i < 6; i++) await writeFile(join(s.src, `big-${i}.bin`), 'changed'); // smaller now: the next run is quick…
    for (let i = 6; i < 12; i++) {
      const f = join(s.src, `big-${i}.bin`);
      await writeFile(f, '');
      await truncate(f, 128 * 1024 * 1024); // …but these are new and big
    }
    const again = await s.daemon();
    await s.until(s.history, (r) => r[0]!.status === 'running', 30_000);
    again.child.kill('SIGKILL');
    await again.result;
    const third = await s.daemon();
    // 768 MB of new files to copy: on 2 loaded cores (CI beside another suite) it took over 60 s once.
    const runs = await s.until(s.history, (r) => r.some((x) => x.status === 'interrupted') && r[0]!.status === 'completed', 120_000);
    expect(runs.some((x) => x.status === 'interrupted')).toBe(true);
    expect(runs[0]!.status).toBe('completed');
    third.child.kill('SIGTERM');
    expect((await third.result).code).toBe(0);
    // ~15 s alone; its waits allow more, and beside the 200,000-file memory test on 2 cores it took over 60 s.
  }, 180_000);
});
