import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, serverAvailable, startServer, type DavServer } from '../plugins/target-nas/test/servers.js';
import { agent } from './helpers/agent.js';
import { foldersScenario, prunedRestoreScenario } from './helpers/scenarios.js';
import { awkwardTree, bytes, digestTree, writeTree } from './helpers/trees.js';

/**
 * Backups to a real `rclone serve webdav` (a folder on disk served over WebDAV, as a NAS serves its
 * share) through the CLI, with the password given as an `${env:…}` reference.
 */
const avail = serverAvailable('rclone');
let dav: DavServer;
let dir: string;
const MiB = 1024 * 1024;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-nas-cli-'));
  if (avail === true) dav = await startServer('rclone');
}, 60_000);
afterAll(async () => {
  await dav?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function setup(name: string, job: Record<string, unknown> = {}, server: () => DavServer = () => dav) {
  const base = join(dir, name);
  const src = join(base, 'Documents');
  await mkdir(src, { recursive: true });
  await server().mkdir(name);
  const config = join(base, 'config.json');
  const target = { ...server().targetConfig(name), password: '${env:TEST_NAS_PASSWORD}' };
  await writeFile(config, JSON.stringify({ device: 'office-pc', plugins: ['@hokan/target-nas'], targets: { nas: target }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['nas'], ...job }] }, null, 2));
  const env = { TEST_NAS_PASSWORD: PASSWORD };
  const run = (...a: string[]) => agent([...a, '--config', config, '--data-dir', join(base, 'data')], { cwd: base, env });
  return { base, src, run, served: server().dir ? join(server().dir!, name) : undefined };
}

describe.skipIf(avail !== true)(`target-nas through the CLI (rclone serve webdav)${avail === true ? '' : ` — skipped: ${avail}`}`, () => {
  it('backup, change, backup; restore an older generation and the whole tree at the first run, byte-identical; the share holds the newest files under their own names', async () => {
    const { base, src, run, served } = await setup('e2e');
    await awkwardTree(src);
    await writeTree(src, { 'big/video.bin': bytes(8 * MiB, 7) });
    const firstDigest = await digestTree(src);
    const b1 = await run('backup', '--json');
    expect(b1.stderr).toBe('');
    expect(b1.code).toBe(0);
    const first = JSON.parse(b1.stdout)[0];
    expect(first).toMatchObject({ status: 'completed', counts: { uploaded: 9, failed: 0 } });
    expect(b1.stdout + b1.stderr).not.toContain(PASSWORD);

    await new Promise((r) => setTimeout(r, 1100));
    await writeFile(join(src, 'report.txt'), 'quarterly report, revised\n');
    await writeTree(src, { 'big/video.bin': bytes(8 * MiB, 8) });
    const b2 = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(b2).toMatchObject({ status: 'completed', counts: { uploaded: 2, unchanged: 7 } });

    const older = join(base, 'older');
    expect((await run('restore', '--job', 'docs', '--path', 'report.txt', '--run', first.id, '--to', older)).code).toBe(0);
    expect(await digestTree(older)).toEqual({ 'Documents/report.txt': firstDigest['report.txt'] });
    const whole = join(base, 'whole');
    expect((await run('restore', '--job', 'docs', '--run', first.id, '--to', whole)).code).toBe(0);
    expect(await digestTree(join(whole, 'Documents'))).toEqual(firstDigest);
    const latest = join(base, 'latest');
    expect((await run('restore', '--job', 'docs', '--to', latest)).code).toBe(0);
    const now = await digestTree(src);
    expect(await digestTree(join(latest, 'Documents'))).toEqual(now);
    expect((await run('verify', '--job', 'docs')).stdout).toMatch(/checked 10 stored versions .* 10 good, 0 bad/);
    // What the NAS serves: the newest files under their own names (the link is in the journal only).
    const onShare = await digestTree(join(served!, 'docs', 'Documents'));
    expect(onShare).toEqual(Object.fromEntries(Object.entries(now).filter(([k]) => k !== 'report-link')));
    // Nothing left in the upload folder.
    expect(await readdir(join(served!, '.hokan-tmp'))).toEqual([]);
    // rclone serve webdav answers no quota properties: status shows what hokan stored there, from the index.
    const st = JSON.parse((await run('status', '--json')).stdout);
    expect(st.targets).toMatchObject([{ id: 'nas', type: 'nas', usedFrom: 'index' }]);
    expect(st.targets[0].used).toBeGreaterThan(16 * MiB);
  });

  it('mirror mode ("generations": 0): the served folder holds exactly the source tree, and hokan\'s records only under .hokan/ — a slave NAS people can use as it is', async () => {
    const { src, run, served } = await setup('mirror', { generations: 0 });
    await writeTree(src, { 'a.txt': 'a', 'sub/b.txt': 'b', 'sub/deeper/c.bin': bytes(100_000, 3), 'gone.txt': 'will go' });
    expect((await run('backup')).code).toBe(0);
    await writeFile(join(src, 'a.txt'), 'a, changed');
    await rm(join(src, 'gone.txt'));
    const r = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(r).toMatchObject({ status: 'completed', counts: { uploaded: 1, deleted: 1 } });
    expect(await digestTree(join(served!, 'docs', 'Documents'))).toEqual(await digestTree(src));
    expect((await readdir(join(served!, 'docs'))).sort()).toEqual(['.hokan', 'Documents']);
  });

  it('a restore as of a run whose version was pruned says so; history marks partial runs (issue 30)', async () => {
    const { base, src, run } = await setup('pruned', { generations: 2 });
    await prunedRestoreScenario({ base, src, run, target: 'nas' });
  }, 180_000);

  it('folders come back as they were: empty ones, modes, owners (as root), mtimes, as of any run (issue 27)', async () => {
    const { base, src, run } = await setup('folders');
    await foldersScenario({ base, src, run, target: 'nas' });
  }, 120_000);

  it('a wrong password gets its own message and exit 3; it is never printed', async () => {
    const { base, src } = await setup('badpass');
    await writeTree(src, { 'a.txt': 'a' });
    const wrong = 'wrong-password-9876';
    const r = await agent(['backup', '--config', join(base, 'config.json'), '--data-dir', join(base, 'data')], { cwd: base, env: { TEST_NAS_PASSWORD: wrong } });
    expect(r.code).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/refused the user "hokan" \(HTTP 401.*wrong username or password/);
    expect(r.stdout + r.stderr).not.toContain(wrong);
  });
});

describe('target-nas through the CLI: a NAS that refuses some names (webdav-server)', () => {
  let refusing: DavServer;
  beforeAll(async () => {
    refusing = await startServer('webdav-server', { refuse: (method, path) => (method === 'PUT' && /[:*?"<>|]/.test(path.split('/').at(-1)!) ? 400 : undefined) });
  });
  afterAll(async () => refusing?.stop());

  it('files with names the server refuses are recorded forbidden-name; the rest is backed up', async () => {
    const { src, run } = await setup('refusing', {}, () => refusing);
    await writeTree(src, { 'ok.txt': 'ok', 'what?.txt': 'q', 'a:b.txt': 'colon' });
    const r = await run('backup', '--json');
    const rec = JSON.parse(r.stdout)[0];
    expect(rec).toMatchObject({ status: 'incomplete', reasons: ['forbidden-name'], counts: { uploaded: 1 } });
    const show = await run('show', rec.id, '--csv');
    expect(show.stdout).toMatch(/^Documents\/what\?\.txt,nas,skipped,forbidden-name,/m);
    expect(show.stdout).toMatch(/^Documents\/a:b\.txt,nas,skipped,forbidden-name,/m);
    expect(await readFile(join(src, 'ok.txt'), 'utf8')).toBe('ok');
  });
});
