/**
 * Continuous backup of folders with a real daemon process, a real file system and an hdd target
 * (the watcher keeps one watch per folder, core/src/node/watch/watcher.ts): a new subfolder (files
 * written into it at once, before its watch can exist), a folder renamed and one moved to another
 * folder, a folder removed — each ends on the target as it is in the source — and the OS limit on
 * watches reached while running (a new folder past `HOKAN_WATCH_MAX_FOLDERS`, which stands for
 * fs.inotify.max_user_watches): said once, by `agent status` and the log, and full scans take over.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { agent, collect, startAgent } from './helpers/agent.js';

let dir: string;
const daemons = new Set<ChildProcess>();
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-watch-folders-'));
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
  await mkdir(join(src, 'projects', 'alpha'), { recursive: true });
  await writeFile(join(src, 'projects', 'alpha', 'plan.txt'), 'alpha plan');
  await mkdir(usb, { recursive: true });
  const config = join(base, 'config.json');
  await writeFile(config, JSON.stringify({ device: 'test-pc', plugins: ['@hokan/target-hdd'], targets: { usb: { type: 'hdd', path: usb } }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['usb'], watch: true }], ...extra }));
  const globals = ['--config', config, '--data-dir', data];
  const run = (args: string[]) => agent([...args, ...globals], { cwd: base });
  const child = startAgent(['run', '--json', ...globals], { cwd: base, env });
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
  const onTarget = (rel: string) => join(usb, 'docs', 'Documents', rel);
  const status = async () => JSON.parse((await run(['status', '--json'])).stdout).jobs[0] as { watch: string };
  return { src, run, child, result, onTarget, status };
}

/** Polls `ok` every 50 ms; throws after `ms`. */
async function within(ms: number, ok: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (await Promise.resolve().then(ok).catch(() => false)) return;
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const has = (p: string, body: string) => existsSync(p) && readFileSync(p, 'utf8') === body;

describe('agent run: watched folders', () => {
  it('a new subfolder, a folder renamed, a folder moved, a folder removed: the target follows each within seconds', async () => {
    const s = await setup('folders');
    await within(20_000, () => has(s.onTarget('projects/alpha/plan.txt'), 'alpha plan'), 'the scan at start');
    await within(5000, async () => (await s.status()).watch === 'watching 3 folders', 'three folders watched');

    // A new subfolder with folders and files in it at once (before its watch can exist).
    await mkdir(join(s.src, 'projects', 'beta', 'drafts', 'old'), { recursive: true });
    await writeFile(join(s.src, 'projects', 'beta', 'drafts', 'old', 'v1.txt'), 'beta v1');
    await writeFile(join(s.src, 'projects', 'beta', 'readme.txt'), 'beta');
    await within(8000, () => has(s.onTarget('projects/beta/drafts/old/v1.txt'), 'beta v1') && has(s.onTarget('projects/beta/readme.txt'), 'beta'), 'the new subfolder on the target');
    await within(5000, async () => (await s.status()).watch === 'watching 6 folders', 'its folders watched');
    // Its deepest folder is watched: a file written there later is backed up too.
    await writeFile(join(s.src, 'projects', 'beta', 'drafts', 'old', 'v2.txt'), 'beta v2');
    await within(8000, () => has(s.onTarget('projects/beta/drafts/old/v2.txt'), 'beta v2'), 'a file in the new deep folder');

    // A folder renamed: the new name on the target, the old one gone from the browsable tree.
    await rename(join(s.src, 'projects', 'alpha'), join(s.src, 'projects', 'alpha-2026'));
    await within(8000, () => has(s.onTarget('projects/alpha-2026/plan.txt'), 'alpha plan') && !existsSync(s.onTarget('projects/alpha/plan.txt')), 'the renamed folder');
    await writeFile(join(s.src, 'projects', 'alpha-2026', 'after.txt'), 'written after the rename');
    await within(8000, () => has(s.onTarget('projects/alpha-2026/after.txt'), 'written after the rename'), 'a file in the renamed folder');

    // A folder moved into another folder.
    await mkdir(join(s.src, 'archive'));
    await rename(join(s.src, 'projects', 'beta'), join(s.src, 'archive', 'beta'));
    await within(8000, () => has(s.onTarget('archive/beta/drafts/old/v2.txt'), 'beta v2') && !existsSync(s.onTarget('projects/beta/readme.txt')), 'the moved folder');
    await writeFile(join(s.src, 'archive', 'beta', 'drafts', 'moved.txt'), 'written after the move');
    await within(8000, () => has(s.onTarget('archive/beta/drafts/moved.txt'), 'written after the move'), 'a file in the moved folder');

    // A folder removed: gone from the target's browsable tree (kept as generations).
    await rm(join(s.src, 'archive'), { recursive: true });
    await within(8000, () => !existsSync(s.onTarget('archive/beta/drafts/old/v1.txt')), 'the removed folder gone from the target');
    await within(5000, async () => (await s.status()).watch === 'watching 3 folders', 'the removed folders no longer watched');
    const v = JSON.parse((await s.run(['versions', join(s.src, 'archive', 'beta', 'readme.txt'), '--job', 'docs', '--json'])).stdout);
    expect(JSON.stringify(v)).toContain('"size":4');

    s.child.kill('SIGTERM');
    expect((await s.result).code).toBe(0);
  });

  it('the watch limit reached while running (a new folder): said once, by status and the log, and full scans find the changes', async () => {
    const s = await setup('limit-later', { watchFallbackEvery: '2s' }, { HOKAN_WATCH_MAX_FOLDERS: '4' });
    await within(20_000, () => has(s.onTarget('projects/alpha/plan.txt'), 'alpha plan'), 'the scan at start');
    expect((await s.status()).watch).toBe('watching 3 folders');
    // Two new folders: the fourth watch fits, the fifth does not.
    await mkdir(join(s.src, 'new', 'deeper'), { recursive: true });
    await within(8000, async () => (await s.status()).watch.startsWith('fallback:'), 'the fallback');
    expect((await s.status()).watch).toMatch(/^fallback: the system's limit on watched folders is reached \(Linux: fs\.inotify\.max_user_watches\): changes are found by a full scan every few minutes instead; raise it with `sudo sysctl fs\.inotify\.max_user_watches=524288`/);
    expect((await s.run(['status'])).stdout).toMatch(/\n {2}watch: fallback: the system's limit .*fs\.inotify\.max_user_watches.* — next full scan \d{4}\/\d{2}\/\d{2} /);
    // Nothing is missed: a full scan finds what is written now.
    await writeFile(join(s.src, 'new', 'deeper', 'found.txt'), 'found by a full scan');
    await within(15_000, () => has(s.onTarget('new/deeper/found.txt'), 'found by a full scan'), 'the file found by a fallback scan');
    s.child.kill('SIGTERM');
    const end = await s.result;
    expect(end.code).toBe(0);
    // Said once in the log (JSON lines under the data folder).
    const logs = await import('node:fs').then((fs) => {
      const d = join(dir, 'limit-later', 'data', 'logs');
      return fs.existsSync(d) ? fs.readdirSync(d).map((f) => fs.readFileSync(join(d, f), 'utf8')).join('') : '';
    });
    expect(logs.split('\n').filter((l) => l.includes('fs.inotify.max_user_watches') && l.includes('"component":"watch"')).length).toBe(1);
  });
});
