/**
 * The kernel's queue of file change events overflowing under a real daemon (Linux: more than
 * fs.inotify.max_queued_events changes waiting): the daemon is stopped (SIGSTOP) so it reads
 * nothing, more changes are made than the queue holds, and the last one — a file in another folder,
 * whose events the kernel dropped — must still reach the target: the daemon infers the overflow and
 * walks the source whole, and says so in its log.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { agent, collect, startAgent } from './helpers/agent.js';

let dir: string | undefined;
let child: ChildProcess | undefined;
afterAll(async () => {
  child?.kill('SIGKILL');
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function within(ms: number, ok: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (await Promise.resolve().then(ok).catch(() => false)) return;
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const queue = process.platform === 'linux' ? Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8')) : 0;

describe('agent run: watch', () => {
  it.runIf(queue > 0 && queue <= 65_536)('an overflow of the kernel event queue: the source is walked whole, a change whose events were dropped is backed up', async () => {
    dir = await mkdtemp(join(tmpdir(), 'hokan-watch-overflow-'));
    const src = join(dir, 'Documents');
    const usb = join(dir, 'usb');
    const data = join(dir, 'data');
    await mkdir(join(src, 'burst'), { recursive: true });
    await mkdir(join(src, 'quiet'), { recursive: true });
    await writeFile(join(src, 'quiet', 'old.txt'), 'there before');
    await mkdir(usb);
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ device: 'test-pc', plugins: ['@hokan/target-hdd'], targets: { usb: { type: 'hdd', path: usb } }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['usb'], watch: true }] }));
    const globals = ['--config', config, '--data-dir', data];
    const d = startAgent(['run', '--json', ...globals], { cwd: dir });
    child = d;
    const result = collect(d, 120_000);
    const onTarget = (rel: string) => join(usb, 'docs', 'Documents', rel);
    await within(20_000, () => existsSync(onTarget('quiet/old.txt')), 'the scan at start');
    await within(10_000, async () => JSON.parse((await agent(['history', '--json', ...globals])).stdout).runs[0]?.status === 'completed', 'the first run recorded');

    // Two events a file (made, written): more than the queue holds, then the change that is lost.
    const files = Math.ceil(queue / 2) + 500;
    d.kill('SIGSTOP');
    try {
      for (let i = 0; i < files; i++) writeFileSync(join(src, 'burst', `f${i}.txt`), `${i}`);
      writeFileSync(join(src, 'quiet', 'lost.txt'), 'its events did not fit in the queue');
    } finally {
      d.kill('SIGCONT');
    }
    await within(60_000, () => existsSync(onTarget('quiet/lost.txt')) && readFileSync(onTarget('quiet/lost.txt'), 'utf8') === 'its events did not fit in the queue', 'the change whose events were dropped');
    await within(30_000, () => existsSync(onTarget('burst')) && readdirSync(onTarget('burst')).length === files, 'every file of the burst');

    d.kill('SIGTERM');
    expect((await result).code).toBe(0);
    const logs = readdirSync(join(data, 'logs')).map((f) => readFileSync(join(data, 'logs', f), 'utf8')).join('');
    expect(logs).toMatch(/queue of file change events overflowed \(Linux: fs\.inotify\.max_queued_events\)/);
  });
});
