/**
 * Continuous backup (`watch: true`) with a real daemon process, a real file system and an hdd
 * target: a file written is on the target within seconds (default settle, 2 s), a burst of 5,000
 * files lands in a few runs, an editor's save-by-rename and a deleted file (kept as a generation)
 * are backed up, `agent status --json` says what is watched; and when the watches run out
 * (`HOKAN_WATCH_MAX_FOLDERS` stands for the OS limit) the daemon says so, names
 * fs.inotify.max_user_watches, and full scans take over.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agent, collect, startAgent } from './helpers/agent.js';

let dir: string;
const daemons = new Set<ChildProcess>();
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-watch-e2e-'));
});
afterEach(() => {
  for (const d of daemons) d.kill('SIGKILL');
  daemons.clear();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(name: string, extra: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) {
  const base = join(dir, name);
  const src = join(base, 'Documents');
  const usb = join(base, 'usb');
  const data = join(base, 'data');
  await mkdir(src, { recursive: true });
  await mkdir(usb, { recursive: true });
  const config = join(base, 'config.json');
  await writeFile(config, JSON.stringify({ device: 'test-pc', plugins: ['@hokan/target-hdd'], targets: { usb: { type: 'hdd', path: usb } }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['usb'], watch: true }], ...extra }));
  const globals = ['--config', config, '--data-dir', data];
  const run = (args: string[]) => agent([...args, ...globals], { cwd: base });
  const daemon = async () => {
    const child = startAgent(['run', '--json', ...globals], { cwd: base, env });
    daemons.add(child);
    const result = collect(child, 180_000);
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
  type Run = { status: string; counts: { seen: number; uploaded: number; deleted: number } };
  const history = async () => JSON.parse((await run(['history', '--json'])).stdout).runs as Run[];
  const onTarget = (rel: string) => join(usb, 'docs', 'Documents', rel);
  return { base, src, usb, data, config, run, daemon, history, onTarget };
}

/** Polls `ok` every 50 ms; the time it took, or throws after `ms`. */
async function within(ms: number, ok: () => boolean | Promise<boolean>, what: string): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    // A file being replaced on the target may be absent for a moment: not yet.
    if (await Promise.resolve().then(ok).catch(() => false)) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('agent run: watch', () => {
  it('a file written is on the target within 5 s; 5,000 new files in a few runs; save-by-rename; a deleted file kept as a generation; status says what is watched', async () => {
    const s = await setup('watch');
    await mkdir(join(s.src, 'sub'));
    await writeFile(join(s.src, 'sub', 'old.txt'), 'already there');
    const d = await s.daemon();
    // The full scan at start takes what was there before.
    await within(30_000, () => existsSync(s.onTarget('sub/old.txt')), 'the scan at start');
    await within(10_000, async () => (await s.history())[0]?.status === 'completed', 'the first run recorded');

    const st = JSON.parse((await s.run(['status', '--json'])).stdout);
    expect(st.jobs[0]).toMatchObject({ id: 'docs', watch: 'watching 2 folders', schedule: 'a full scan every 24h (watch: true, no schedule)' });

    await writeFile(join(s.src, 'note.txt'), 'written while watched');
    const ms = await within(5000, () => existsSync(s.onTarget('note.txt')) && readFileSync(s.onTarget('note.txt'), 'utf8') === 'written while watched', 'a written file on the target');
    expect(ms).toBeLessThan(5000);
    const afterNote = await within(10_000, async () => (await s.history()).length >= 2, 'the watched run recorded').then(() => s.history());
    // The watched run looked at the changed path only: no walk of the tree.
    expect(afterNote[0]).toMatchObject({ status: 'completed', counts: { seen: 1, uploaded: 1 } });

    // An editor's save: a temporary file written, then renamed over the old one.
    await writeFile(join(s.src, '.note.txt.swp'), 'x');
    await writeFile(join(s.src, 'note.txt~tmp'), 'edited');
    await rename(join(s.src, 'note.txt~tmp'), join(s.src, 'note.txt'));
    await unlink(join(s.src, '.note.txt.swp'));
    await within(8000, () => readFileSync(s.onTarget('note.txt'), 'utf8') === 'edited', 'the edited file on the target');
    expect(existsSync(s.onTarget('note.txt~tmp'))).toBe(false);

    // A burst: 5,000 new files (an unzip).
    const before = (await s.history()).length;
    await mkdir(join(s.src, 'unzipped', 'a'), { recursive: true });
    await mkdir(join(s.src, 'unzipped', 'b'), { recursive: true });
    for (let i = 0; i < 5000; i++) await writeFile(join(s.src, 'unzipped', i % 2 ? 'a' : 'b', `f${i}.txt`), `file ${i}`);
    await within(90_000, () => existsSync(join(s.onTarget('unzipped/a'))) && readdirSync(s.onTarget('unzipped/a')).length + readdirSync(s.onTarget('unzipped/b')).length === 5000, 'all 5,000 files on the target');
    expect(readFileSync(s.onTarget('unzipped/a/f4999.txt'), 'utf8')).toBe('file 4999');
    await within(20_000, async () => (await s.history()).filter((r) => r.status === 'running').length === 0, 'the runs ended');
    const burst = (await s.history()).slice(0, (await s.history()).length - before);
    expect(burst.length).toBeLessThanOrEqual(4);
    expect(burst.reduce((n, r) => n + r.counts.uploaded, 0)).toBe(5000);

    // A deleted file: gone from the browsable tree, kept as a generation.
    await unlink(join(s.src, 'sub', 'old.txt'));
    await within(8000, () => !existsSync(s.onTarget('sub/old.txt')), 'the deleted file gone from the target');
    const v = JSON.parse((await s.run(['versions', join(s.src, 'sub', 'old.txt'), '--job', 'docs', '--json'])).stdout);
    expect(JSON.stringify(v)).toContain('"size":13');

    d.child.kill('SIGTERM');
    expect((await d.result).code).toBe(0);
  });

  it('when the watches run out, status and the log name fs.inotify.max_user_watches, and full scans find the changes', async () => {
    const s = await setup('limit', { watchFallbackEvery: '2s' }, { HOKAN_WATCH_MAX_FOLDERS: '1' });
    await mkdir(join(s.src, 'a', 'b'), { recursive: true });
    const d = await s.daemon();
    const st = JSON.parse((await s.run(['status', '--json'])).stdout);
    expect(st.jobs[0].watch).toMatch(/^fallback: the system's limit on watched folders is reached \(Linux: fs\.inotify\.max_user_watches\): .* raise it with `sudo sysctl fs\.inotify\.max_user_watches=524288`/);
    const text = (await s.run(['status'])).stdout;
    expect(text).toMatch(/\n {2}watch: fallback: the system's limit .*fs\.inotify\.max_user_watches.* — next full scan \d{4}\/\d{2}\/\d{2} /);
    await writeFile(join(s.src, 'a', 'b', 'deep.txt'), 'found by a scan');
    await within(20_000, () => existsSync(s.onTarget('a/b/deep.txt')), 'the file found by a fallback scan');
    d.child.kill('SIGTERM');
    const end = await d.result;
    expect(end.code).toBe(0);
    expect(end.stderr).toMatch(/watch: docs — fallback: the system's limit on watched folders is reached \(Linux: fs\.inotify\.max_user_watches\)/);
  });

  it('npm start runs agent run with the shipped config: Documents backed up to a folder under the data directory, daily and as files change', async () => {
    const home = join(dir, 'home');
    await mkdir(join(home, 'Documents'), { recursive: true });
    await writeFile(join(home, 'Documents', 'letter.txt'), 'Dear hokan');
    const root = new URL('..', import.meta.url).pathname;
    const child = spawn('npm', ['start', '--silent'], { cwd: root, env: { ...process.env, HOME: home, XDG_DATA_HOME: '', XDG_CONFIG_HOME: '', HOKAN_DATA_DIR: '', HOKAN_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const backup = join(home, '.local', 'share', 'hokan', 'backup', 'documents', 'Documents');
    try {
      await within(30_000, () => existsSync(join(backup, 'letter.txt')), 'the shipped job backs up Documents');
      expect(readFileSync(join(backup, 'letter.txt'), 'utf8')).toBe('Dear hokan');
      expect(out).toContain('schedules: documents daily at 23:00');
      expect(out).toContain('watch: documents — watching 1 folder');
      await writeFile(join(home, 'Documents', 'p.s.txt'), 'and a postscript');
      await within(8000, () => existsSync(join(backup, 'p.s.txt')), 'a change backed up while npm start runs');
    } finally {
      process.kill(-child.pid!, 'SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
  });
});
