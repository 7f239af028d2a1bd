/**
 * `agent run`: the daemon holds the index, and the commands that use it go through its socket.
 * Everything runs through the real `agent` bin, as a person would: the daemon in one process, each
 * command in another.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agent, collect, startAgent } from './helpers/agent.js';
import { awkwardTree, digestTree, writeTree } from './helpers/trees.js';

let dir: string;
const daemons = new Set<ChildProcess>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-daemon-'));
});
afterEach(() => {
  for (const d of daemons) d.kill('SIGKILL');
  daemons.clear();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(name: string, extraTargets: Record<string, unknown> = {}) {
  const base = join(dir, name);
  const src = join(base, 'Documents');
  const disk = join(base, 'usb');
  const data = join(base, 'data');
  await mkdir(src, { recursive: true });
  await mkdir(disk, { recursive: true });
  const config = join(base, 'config.json');
  await writeFile(
    config,
    JSON.stringify({ device: 'test-pc', plugins: ['@hokan/target-hdd'], targets: { usb: { type: 'hdd', path: disk }, ...extraTargets }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['usb'] }] }),
  );
  const globals = ['--config', config, '--data-dir', data];
  const run = (args: string[], env: NodeJS.ProcessEnv = {}, cwd = base) => agent([...args, ...globals], { cwd, env });
  const start = (args: string[]) => startAgent([...args, ...globals], { cwd: base });
  /** Starts `agent run` and waits until it says it listens (its one JSON document). */
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
    return { child, result, info: JSON.parse(out) as { daemon: { pid: number; socket: string; dataDir: string } } };
  };
  return { base, src, disk, data, config, run, start, daemon };
}

/** A source slow enough to back up (~770 MB of sparse files: read and hashed, written to the disk) to stop it midway. */
async function slowTree(src: string) {
  for (let i = 0; i < 6; i++) {
    const f = join(src, `big-${i}.bin`);
    await writeFile(f, '');
    await truncate(f, 128 * 1024 * 1024);
  }
}

/** Polls `agent history` (through the daemon) until a run of the job is `running`. */
async function untilRunning(run: (args: string[]) => Promise<{ stdout: string }>) {
  for (let i = 0; i < 200; i++) {
    const runs = JSON.parse((await run(['history', '--json'])).stdout).runs as { status: string }[];
    if (runs.some((r) => r.status === 'running')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no run started');
}

describe('agent run: the daemon, and the commands that go through it', () => {
  it('holds the index; backup, history, show and restore go through it, relative paths from where they were typed', async () => {
    const { base, src, data, run, daemon } = await setup('through');
    await awkwardTree(src);
    const d = await daemon();
    expect(d.info.daemon).toMatchObject({ pid: d.child.pid, socket: join(data, 'agent.sock'), dataDir: data });

    const b = await run(['backup', '--json']);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const [record] = JSON.parse(b.stdout);
    expect(record).toMatchObject({ job: 'docs', kind: 'backup', status: 'completed', counts: { seen: 8, uploaded: 8, failed: 0 } });

    // The index is the daemon's: a command that does not go through it cannot open it, and says why.
    const local = await run(['history'], { HOKAN_NO_DAEMON: '1' });
    expect(local.code).toBe(3);
    expect(local.stderr).toMatch(/^error: the index at .* is in use by another hokan process\n {2}→ .*stop `agent run`/);

    const h = await run(['history', '--json']);
    expect(h.code).toBe(0);
    expect(JSON.parse(h.stdout).runs.map((r: { id: string }) => r.id)).toEqual([record.id]);
    const s = await run(['show', 'no-such-run']);
    expect(s).toMatchObject({ code: 2, stdout: '' });
    expect(s.stderr).toMatch(/^error: there is no run "no-such-run"/);

    // `--to` relative to the folder the command was typed in, not the daemon's.
    const elsewhere = join(base, 'elsewhere');
    await mkdir(elsewhere);
    const r = await run(['restore', '--job', 'docs', '--to', 'restored'], {}, elsewhere);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^docs: restore completed — restored 8/);
    expect(await digestTree(join(elsewhere, 'restored', 'Documents'))).toEqual(await digestTree(src));

    // Help and version do not need the index: answered here, also while the daemon runs.
    const help = await run(['backup', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Back up now/);

    // Ctrl-C stops the daemon: socket gone, index closed (a command works without it).
    d.child.kill('SIGINT');
    const end = await d.result;
    expect(end.code).toBe(0);
    expect(end.stderr).toBe('  schedules: no job has one — jobs run when `agent backup` asks\nstopping: nothing running… (Ctrl-C again to quit at once)\n');
    expect(existsSync(join(data, 'agent.sock'))).toBe(false);
    const after = await run(['history', '--json'], { HOKAN_NO_DAEMON: '1' });
    expect(after.code).toBe(0);
    expect(JSON.parse(after.stdout).runs.map((x: { status: string }) => x.status)).toEqual(['completed', 'completed']);
  });

  it('refuses a second daemon for the same data folder', async () => {
    const { run, daemon, data } = await setup('second');
    await daemon();
    const r = await run(['run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`error: an agent daemon already runs for the data folder ${data} (it answers on ${join(data, 'agent.sock')})\n  → the commands reach it already; to run a second one, give it another --data-dir\n`);
  });

  it('does not start with a config it cannot use, and says what is wrong', async () => {
    const { config, data, run } = await setup('bad-config');
    await writeFile(config, JSON.stringify({ device: 'test-pc', plugins: ['@hokan/target-hdd'], targets: {}, jobs: [{ id: 'docs', sources: [{ path: '/tmp' }], targets: ['usb'] }] }));
    const r = await run(['run']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: .*config\.json: 1 problem:\n.*jobs\[0\]\.targets\[0\]: no target with id 'usb'/);
    expect(existsSync(join(data, 'agent.sock'))).toBe(false);
  });

  it('Ctrl-C on a command stops its run (aborted, what was sent is kept); a command that hangs up is stopped too; the daemon goes on', async () => {
    const { src, run, start, daemon } = await setup('interrupt');
    await slowTree(src);
    const d = await daemon();

    const client = start(['backup', '--json']);
    const done = collect(client, 120_000);
    await untilRunning(run);
    client.kill('SIGINT');
    const b = await done;
    expect(b.code).toBe(3);
    expect(b.stderr).toMatch(/stopping after the files in flight/);
    expect(JSON.parse(b.stdout)[0]).toMatchObject({ status: 'aborted' });

    // A client killed outright: its socket closes, and the daemon stops its run the same way.
    const killed = start(['backup']);
    const gone = collect(killed, 120_000);
    await untilRunning(run);
    killed.kill('SIGKILL');
    await gone;
    let runs: { status: string; counts: { uploaded: number } }[] = [];
    for (let i = 0; i < 200 && !(runs.length === 2 && runs.every((x) => x.status === 'aborted')); i++) {
      await new Promise((r) => setTimeout(r, 50));
      runs = JSON.parse((await run(['history', '--json'])).stdout).runs;
    }
    expect(runs.map((x) => x.status)).toEqual(['aborted', 'aborted']);

    // And the next backup finishes the job without sending again what was sent.
    const next = await run(['backup', '--json']);
    expect(next.code).toBe(0);
    const last = JSON.parse(next.stdout)[0];
    expect(last).toMatchObject({ status: 'completed', counts: { seen: 6, failed: 0 } });
    expect(last.counts.uploaded + runs[0]!.counts.uploaded + runs[1]!.counts.uploaded).toBe(6); // none sent twice
    expect(d.child.exitCode).toBe(null);
  });

  it('queues backups behind the running one and says so; one that gives up waiting never runs', async () => {
    const { src, run, start, daemon } = await setup('queue');
    await slowTree(src);
    await daemon();
    const first = collect(start(['backup', '--json']), 120_000);
    await untilRunning(run);
    // One that gives up waiting (Ctrl-C) does not start, nor lets the next start before the first ends.
    const quitter = start(['backup', '--json']);
    const quit = collect(quitter, 120_000);
    await new Promise((r) => quitter.stderr!.once('data', r)); // its "waiting: …" line
    const secondChild = start(['backup', '--json']);
    const secondP = collect(secondChild, 120_000);
    await new Promise((r) => secondChild.stderr!.once('data', r));
    quitter.kill('SIGINT');
    const q = await quit;
    expect(q.code).toBe(130);
    expect(q.stderr).toMatch(/^waiting: [^\n]*\nagent: stopped before it started\n$/);
    const second = await secondP;
    const one = await first;
    expect(one.code).toBe(0);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/^waiting: `agent backup --json --config .*` is running \(since .*\); this command starts when the 2 before it end\n$/);
    const [a] = JSON.parse(one.stdout);
    const [b] = JSON.parse(second.stdout);
    expect(a.counts).toMatchObject({ uploaded: 6 });
    expect(b.counts).toMatchObject({ uploaded: 0, unchanged: 6 });
    expect(Date.parse(b.start)).toBeGreaterThanOrEqual(Date.parse(a.end));
  });

  it('a daemon killed mid-run: the command says so, the socket it left is ignored, the run shows interrupted', async () => {
    const { src, data, run, start, daemon } = await setup('killed');
    await slowTree(src);
    await writeTree(src, { 'small.txt': 'small' });
    const d = await daemon();
    const client = collect(start(['backup']), 120_000);
    await untilRunning(run);
    d.child.kill('SIGKILL');
    const c = await client;
    expect(c.code).toBe(3);
    expect(c.stderr).toMatch(/^agent: the agent daemon \(`agent run`\) went away before the command finished\n/);
    expect(existsSync(join(data, 'agent.sock'))).toBe(true); // left behind by the killed daemon

    const b = await run(['backup', '--json']);
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout)[0]).toMatchObject({ status: 'completed', counts: { seen: 7, failed: 0 } });
    const h = JSON.parse((await run(['history', '--json'])).stdout).runs.map((x: { status: string }) => x.status);
    expect(h).toEqual(['completed', 'interrupted']);
    // A new daemon replaces the socket file.
    const again = await daemon();
    expect((await run(['history', '--json'])).code).toBe(0);
    again.child.kill('SIGTERM');
    expect((await again.result).code).toBe(0);
  });

  it('agent status: the daemon and what it runs, each job\'s last backup, free space or why a target does not answer', async () => {
    const { src, run, start, daemon } = await setup('status', { gone: { type: 'hdd', path: '/media/hokan-test-not-plugged/backup' } });
    await slowTree(src);
    const none = await run(['status']);
    expect(none.code).toBe(0);
    const lines = none.stdout.split('\n');
    expect(lines[0]).toBe('daemon: not running — start it with `agent run`');
    expect(lines[1]).toBe('job docs: no backup yet');
    expect(lines[2]).toBe('  schedule: none (runs when `agent backup` asks)');
    expect(lines[3]).toBe('  watch: off');
    expect(lines[4]).toMatch(/^target usb \(hdd\): \d+(\.\d+)? [KMGT]?i?B free$/);
    expect(lines[5]).toMatch(/^target gone \(hdd\): not answering — .*\/media\/hokan-test-not-plugged/);

    const d = await daemon();
    const backup = collect(start(['backup']), 120_000);
    await untilRunning(run);
    const busy = await run(['status', '--json']);
    expect(busy.code).toBe(0);
    const s = JSON.parse(busy.stdout);
    expect(s.daemon).toMatchObject({ running: true, pid: d.child.pid, commands: [{ command: expect.stringMatching(/^backup --config /), state: 'running' }] });
    expect(s.jobs).toEqual([expect.objectContaining({ id: 'docs', lastBackup: expect.objectContaining({ status: 'running' }), state: 'running', next: [], watch: 'off' })]);
    expect((await backup).code).toBe(0);
    const idle = await run(['status']);
    expect(idle.stdout).toMatch(new RegExp(`^daemon: running \\(pid ${d.child.pid}\\) since .* — idle\n`));
    expect(idle.stdout).toMatch(/\njob docs \(idle\): last backup .* {2}completed — seen 6, uploaded 6, .* sent {2}\[run \S+\]\n/);
  });

  it('a command that names no config, from a folder without one, is for the daemon of its data folder: its config (the README\'s npm start, then agent status)', async () => {
    const { base, data, daemon } = await setup('own-config');
    const d = await daemon();
    const elsewhere = join(base, 'elsewhere');
    await mkdir(elsewhere);
    const env = { HOME: elsewhere, XDG_CONFIG_HOME: join(elsewhere, '.config'), HOKAN_CONFIG: undefined };
    const st = await agent(['status', '--data-dir', data], { cwd: elsewhere, env });
    expect(st.stderr).toBe('');
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(new RegExp(`^daemon: running \\(pid ${d.child.pid}\\) since .* — idle\n`));
    expect(st.stdout).toMatch(/\njob docs \(idle\): no backup yet\n/);
    // A config named and not there is still an error, not silently the daemon's.
    const named = await agent(['status', '--data-dir', data, '--config', 'missing.json'], { cwd: elsewhere, env });
    expect(named.code).toBe(2);
    expect(named.stderr).toContain(`config file not found: ${join(elsewhere, 'missing.json')} (given with --config)`);
  });

  it('draws the progress bar for a client on a terminal', async () => {
    const { src, config, data, daemon } = await setup('progress');
    await slowTree(src);
    const d = await daemon();
    const version = JSON.parse(readFileSync(new URL('../core/package.json', import.meta.url), 'utf8')).version;
    const replies = await new Promise<{ err?: string; out?: string; exit?: number }[]>((resolve, reject) => {
      const s = connect(d.info.daemon.socket);
      let got = '';
      s.on('data', (b) => (got += b.toString()));
      s.on('error', reject);
      s.on('close', () => resolve(got.trim().split('\n').map((l) => JSON.parse(l))));
      const term = { tty: true, columns: 100 };
      s.write(JSON.stringify({ hokan: 1, version, argv: ['backup', '--config', config, '--data-dir', data], cwd: src, env: {}, stdout: term, stderr: term }) + '\n');
    });
    expect(replies.at(-1)).toEqual({ exit: 0 });
    const bar = replies.map((r) => r.err ?? '').join('');
    expect(bar).toMatch(/docs \[[█░]+\] \d\/6 files \| \d+(\.\d+)? [KMG]?i?B \| .*\/s \| (ETA \d+ s|scanning…)/);
    expect(replies.map((r) => r.out ?? '').join('')).toMatch(/^docs: completed — seen 6, uploaded 6/);
  });

  it('answers a client of another version, or a request it cannot read, with a clear refusal', async () => {
    const { base, daemon } = await setup('protocol');
    const d = await daemon();
    const ask = (line: string) =>
      new Promise<string>((resolve, reject) => {
        const s = connect(d.info.daemon.socket);
        let got = '';
        s.on('data', (b) => (got += b.toString()));
        s.on('error', reject);
        s.on('close', () => resolve(got));
        s.write(line + '\n');
      });
    const old = await ask(JSON.stringify({ hokan: 1, version: '0.0.1', argv: ['history'], cwd: base, env: {}, stdout: { tty: false }, stderr: { tty: false } }));
    expect(old.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { err: expect.stringMatching(/^agent: the running agent daemon is hokan \d+\.\d+\.\d+, this command is 0\.0\.1\n {2}restart the daemon/) },
      { exit: 2 },
    ]);
    const junk = await ask('hello?');
    expect(junk.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ err: expect.stringMatching(/cannot read this request/) }, { exit: 2 }]);
  });
});
