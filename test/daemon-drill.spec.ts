/**
 * Restore drills (issue 19) through the built CLI, on a real hdd target: `agent verify --restore`
 * restores a sample into a folder under the data folder and checks it; a stored copy with flipped
 * bytes fails the drill `hash-mismatch` naming the file and the target, and `agent history` shows it;
 * and a real daemon process drills a job on its `drill` schedule and records it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agent, collect, startAgent } from './helpers/agent.js';

let dir: string;
const daemons = new Set<ChildProcess>();
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-drill-e2e-'));
});
afterEach(() => {
  for (const d of daemons) d.kill('SIGKILL');
  daemons.clear();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  id: string;
  kind: string;
  status: string;
  reasons: string[];
  note?: string;
  counts: { seen: number; restored: number; failed: number };
  drill?: { sample: string; files: number; sourceChecked: number; trigger: string };
  targetResults?: { id: string; status: string }[];
}

async function setup(name: string, job: Record<string, unknown> = {}) {
  const base = join(dir, name);
  const src = join(base, 'Documents');
  const usb = join(base, 'usb');
  const data = join(base, 'data');
  await mkdir(join(src, 'sub'), { recursive: true });
  await mkdir(usb, { recursive: true });
  for (let i = 0; i < 30; i++) await writeFile(join(src, i % 3 ? `f${String(i).padStart(2, '0')}.txt` : join('sub', `g${i}.txt`)), `file ${i}\n`.repeat(50 + i));
  const config = join(base, 'config.json');
  const write = (extra: Record<string, unknown>) => writeFile(config, JSON.stringify({ device: 'test-pc', plugins: ['@hokan/target-hdd'], targets: { usb: { type: 'hdd', path: usb } }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['usb'], ...extra }] }));
  await write(job);
  const globals = ['--config', config, '--data-dir', data];
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => agent([...args, ...globals], { cwd: base, env });
  const history = async () => JSON.parse((await run(['history', '--json'])).stdout).runs as Run[];
  return { base, src, usb, data, config, run, history, write, globals };
}

describe('agent verify --restore', () => {
  it('restores a sample and checks it; a stored copy with flipped bytes fails hash-mismatch naming the file and target; history shows the drill; the folder is removed and the target left as it was', { timeout: 20_000 }, async () => {
    const s = await setup('cli');
    expect((await s.run(['backup', '--json'])).code).toBe(0);

    const ok = await s.run(['verify', '--restore', '--job', 'docs', '--sample', '100%', '--json']);
    expect(ok.code).toBe(0);
    const good = JSON.parse(ok.stdout) as { run: Run; files: { path: string; status: string; target: string }[] };
    expect(good.run).toMatchObject({ kind: 'restore', status: 'completed', counts: { seen: 30, restored: 30, failed: 0 }, drill: { sample: '100%', files: 30, sourceChecked: 30, trigger: 'command' } });
    expect(good.files.filter((f) => f.status === 'restored')).toHaveLength(30);

    // Flip bytes in the stored copy of one file (same size): the hdd target's copy is damaged.
    const stored = join(s.usb, 'docs', 'Documents', 'f04.txt');
    const bytes = readFileSync(stored);
    bytes[3] ^= 0xff;
    await writeFile(stored, bytes);
    const bad = await s.run(['verify', '--restore', '--job', 'docs', '--sample', '100%']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^restore drill of docs: 30 files \(.*\) restored and checked, 29 intact, 29 also compared with the unchanged source — incomplete \(hash-mismatch\)$/m);
    expect(bad.stdout).toMatch(/^ {2}hash-mismatch: Documents\/f04\.txt on usb — the copy on usb \(.*f04\.txt, the version of .*\) does not match its recorded SHA-256/m);
    expect(readFileSync(stored).equals(bytes)).toBe(true); // the drill never writes to the target

    const runs = await s.history();
    expect(runs[0]).toMatchObject({ kind: 'restore', status: 'incomplete', reasons: ['hash-mismatch'], counts: { seen: 30, failed: 1 }, drill: { files: 30 } });
    expect(runs[0]!.note).toContain('not intact: Documents/f04.txt on usb (hash-mismatch)');
    const text = (await s.run(['history'])).stdout.split('\n');
    expect(text[0]).toMatch(/ docs {2}restore \(drill\) {2}incomplete \(hash-mismatch\) {2}drilled 30, intact 29, failed 1, compared with the source 29 /);

    // A bad --sample is bad usage (counts and percentages: drill.spec.ts).
    const wrong = await s.run(['verify', '--restore', '--job', 'docs', '--sample', '0%']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--sample must be a number of files \(200\) or a percentage/);
    // Nothing left in the data folder's drill folder.
    expect(readdirSync(join(s.data, 'drills', 'docs'))).toEqual([]);
    expect(existsSync(join(s.data, 'drills', 'docs', runs[0]!.id))).toBe(false);
  });
});

describe('agent run: restore drills', () => {
  it('a real daemon drills the job on its drill schedule (never drilled: at start, then each time), records each drill and says the next in status --json', { timeout: 20_000 }, async () => {
    const s = await setup('daemon');
    expect((await s.run(['backup', '--json'])).code).toBe(0);
    await s.write({ drill: { cron: '*/2 * * * * *', sample: 4 } });
    const child = startAgent(['run', '--json', ...s.globals], { cwd: s.base });
    daemons.add(child);
    const result = collect(child, 30_000);
    // Listening once it printed its JSON line.
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve();
      });
      child.on('close', () => reject(new Error(`agent run ended before it listened: ${out}`)));
    });
    const drills = async () => (await s.history()).filter((r) => r.drill);
    const end = Date.now() + 15_000;
    let got: Run[] = [];
    while (Date.now() < end) {
      got = await drills();
      if (got.length >= 2 && got.every((r) => r.status !== 'running')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(got.length).toBeGreaterThanOrEqual(2);
    for (const r of got) expect(r).toMatchObject({ kind: 'restore', status: 'completed', counts: { seen: 4, restored: 4, failed: 0 }, drill: { sample: '4 files', files: 4, trigger: 'schedule' }, targetResults: [{ id: 'usb', status: 'completed' }] });
    const st = JSON.parse((await s.run(['status', '--json'])).stdout);
    expect(st.jobs[0].drill).toMatchObject({ schedule: 'cron */2 * * * * *' });
    expect(Date.parse(st.jobs[0].drill.next)).toBeGreaterThan(Date.now() - 3000);
    expect(st.jobs[0].lastDrill).toMatchObject({ kind: 'restore', drill: { trigger: 'schedule' } });
    expect(st.notes).toEqual([]);
    // `agent verify --restore` sent to the daemon: one drill in its queue, recorded as asked by a command.
    const asked = await s.run(['verify', '--restore', '--job', 'docs', '--sample', '3', '--json']);
    expect(asked.code).toBe(0);
    expect(JSON.parse(asked.stdout).run).toMatchObject({ status: 'completed', counts: { seen: 3, restored: 3 }, drill: { trigger: 'command' } });
    child.kill('SIGTERM');
    const done = await result;
    expect(done.code).toBe(0);
    expect(done.stderr).toMatch(/^ {2}drills: docs cron \*\/2 \* \* \* \* \* \(next /m);
    expect(readdirSync(join(s.data, 'drills', 'docs'))).toEqual([]);
  });
});
