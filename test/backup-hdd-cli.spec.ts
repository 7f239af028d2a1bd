import { chmod, mkdir, mkdtemp, open, rename, rm, writeFile, stat, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { AGENT, agent, whileFirstHoldsLease } from './helpers/agent.js';
import { foldersScenario, legalNamesScenario, prunedRestoreScenario, wipedTargetScenario } from './helpers/scenarios.js';
import { awkwardTree, digestTree, writeTree } from './helpers/trees.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh place: source tree, an "external disk" folder, a config, a data dir. */
async function setup(name: string, extraJob: Record<string, unknown> = {}) {
  const base = join(dir, name);
  const src = join(base, 'Documents');
  const disk = join(base, 'usb');
  await mkdir(src, { recursive: true });
  await mkdir(disk, { recursive: true });
  const config = join(base, 'config.json');
  await writeFile(
    config,
    `{
  // written by the test
  "device": "test-pc",
  "plugins": ["@hokan/target-hdd"],
  "targets": { "usb": { "type": "hdd", "path": ${JSON.stringify(disk)} } },
  "jobs": [${JSON.stringify({ id: 'docs', sources: [{ path: src }], targets: ['usb'], ...extraJob })}]
}
`,
  );
  const run = (...args: string[]) => agent([...args, '--config', config, '--data-dir', join(base, 'data')], { cwd: base, obeyPermissions: true });
  return { base, src, disk, config, run };
}

describe('issue 14: the repro, as a new user runs it', () => {
  it('deleting the first of six files: uploaded 0, unchanged 5, deleted 1, and the restore equals the source', async () => {
    const { base, src, run } = await setup('issue-14', { generations: 3 });
    await mkdir(join(src, 'many'));
    for (let i = 0; i < 6; i++) await writeFile(join(src, 'many', `f00${i}.txt`), `content ${i}\n`);
    const first = await run('backup', '--json');
    expect(JSON.parse(first.stdout)[0].counts).toMatchObject({ uploaded: 6 });
    await rm(join(src, 'many', 'f000.txt'));
    const second = await run('backup', '--json');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)[0]).toMatchObject({ status: 'completed', counts: { uploaded: 0, unchanged: 5, deleted: 1, failed: 0 } });
    const to = join(base, 'out');
    expect((await run('restore', '--job', 'docs', '--to', to)).code).toBe(0);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
  });
});

describe('agent backup / restore / versions / history / show / verify on an HDD target', () => {
  it('backs up an awkward tree, then restores it byte-identical', async () => {
    const { base, src, disk, run } = await setup('roundtrip');
    await awkwardTree(src);
    const b = await run('backup', '--json');
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const [record] = JSON.parse(b.stdout);
    expect(record).toMatchObject({ job: 'docs', kind: 'backup', status: 'completed', reasons: [], counts: { seen: 8, uploaded: 8, failed: 0 } });
    expect(typeof record.id).toBe('string');
    // Browsable on the disk with a file manager.
    expect(await readFile(join(disk, 'docs', 'Documents', 'report.txt'), 'utf8')).toBe('quarterly report\n');

    const to = join(base, 'restored');
    const r = await run('restore', '--job', 'docs', '--to', to);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/restore completed — restored 8/);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
  });

  it('keeps generations: versions, restore of an older run and of a point in time, history, show --csv, verify', async () => {
    const { base, src, run } = await setup('generations');
    await writeTree(src, { 'plan.txt': 'first plan', 'notes/a.txt': 'A', 'old.txt': 'will be deleted' });
    const first = JSON.parse((await run('backup', '--json')).stdout)[0];
    const firstDigest = await digestTree(src);
    await new Promise((r) => setTimeout(r, 1100));
    const between = new Date();
    await new Promise((r) => setTimeout(r, 1100));
    await writeFile(join(src, 'plan.txt'), 'second plan, longer');
    await rm(join(src, 'old.txt'));
    await writeTree(src, { 'new.txt': 'new' });
    const second = await run('backup', '--json');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)[0].counts).toMatchObject({ uploaded: 2, unchanged: 1, deleted: 1 });

    const v = await run('versions', '--job', 'docs', join(src, 'plan.txt'), '--json');
    const { versions, pruned } = JSON.parse(v.stdout);
    expect(pruned).toEqual([]);
    expect(versions.map((x: { current: boolean; size: number }) => [x.current, x.size])).toEqual([
      [true, 19],
      [false, 10],
    ]);
    const human = await run('versions', '--job', 'docs', 'plan.txt');
    expect(human.stdout).toMatch(/^usb {2}\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2} {2}\d{8}T\d{6}\.\d{3}-[0-9a-f]{4} {2}19 B .* current$/m);

    const atRun = join(base, 'at-run');
    expect((await run('restore', '--job', 'docs', '--run', first.id, '--to', atRun)).code).toBe(0);
    expect(await digestTree(join(atRun, 'Documents'))).toEqual(firstDigest);
    const atTime = join(base, 'at-time');
    expect((await run('restore', '--job', 'docs', '--at', between.toISOString(), '--to', atTime)).code).toBe(0);
    expect(await digestTree(join(atTime, 'Documents'))).toEqual(firstDigest);
    // One folder only.
    const one = join(base, 'one');
    expect((await run('restore', '--job', 'docs', '--path', 'notes', '--to', one)).code).toBe(0);
    expect(await digestTree(one)).toEqual({ 'Documents/notes/a.txt': firstDigest['notes/a.txt'] });

    const h = JSON.parse((await run('history', '--json')).stdout);
    expect(h.runs.filter((x: { kind: string }) => x.kind === 'backup').map((x: { id: string }) => x.id)).toEqual([JSON.parse(second.stdout)[0].id, first.id]);
    const csv = await run('show', first.id, '--csv');
    expect(csv.stdout.split('\n')[0]).toBe('path,target,status,reason,size,sha256,message');
    expect(csv.stdout).toMatch(/^Documents\/plan\.txt,usb,uploaded,,10,[0-9a-f]{64},$/m);
    const ver = await run('verify', '--job', 'docs');
    expect(ver.code).toBe(0);
    expect(ver.stdout).toMatch(/checked 5 stored versions .* 5 good, 0 bad/);
  });

  it('works from the target alone after the index is deleted, without re-sending unchanged files', async () => {
    const { base, src, run } = await setup('rebuild');
    await awkwardTree(src);
    const first = JSON.parse((await run('backup', '--json')).stdout)[0];
    await rm(join(base, 'data'), { recursive: true });
    const h = JSON.parse((await run('history', '--json')).stdout);
    expect(h.runs.map((x: { id: string; status: string }) => [x.id, x.status])).toEqual([[first.id, 'completed']]);
    const to = join(base, 'r');
    expect((await run('restore', '--job', 'docs', '--to', to)).code).toBe(0);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
    const again = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(again.counts).toMatchObject({ uploaded: 0, unchanged: 8 });
  });

  it('restore --json of more files than it holds prints them as it goes: one document, every restored file once, the run with its counts', async () => {
    const { base, src, run } = await setup('json-restore');
    for (let i = 0; i < 1300; i++) {
      if (i % 100 === 0) await mkdir(join(src, `d${i / 100}`));
      await writeFile(join(src, `d${Math.floor(i / 100)}`, `f${i}.txt`), `file ${i}\n`);
    }
    expect((await run('backup')).code).toBe(0);
    const r = await run('restore', '--job', 'docs', '--to', join(base, 'out'), '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(['files', 'run']); // streamed: the list first
    expect(doc.run).toMatchObject({ kind: 'restore', status: 'completed', counts: { restored: 1300, failed: 0 } });
    const paths = doc.files.map((f: { path: string; status: string }) => `${f.status} ${f.path}`);
    expect(new Set(paths).size).toBe(1300);
    expect(paths.every((p: string) => p.startsWith('restored '))).toBe(true);
    expect(await digestTree(join(base, 'out', 'Documents'))).toEqual(await digestTree(src));
  });

  it('a disk that is not plugged in is target-unavailable (exit 3) and nothing is created on the system disk', async () => {
    const { src, disk, run } = await setup('unplugged');
    await writeTree(src, { 'a.txt': 'a' });
    await rm(disk, { recursive: true });
    const r = await run('backup');
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/docs: incomplete \(target-unavailable\)/);
    expect(r.stdout).toMatch(new RegExp(`${disk.replace(/[/.]/g, '\\$&')}`));
    // One message per problem: the summary, not an internal log line beside it (issue 28).
    expect(r.stderr).not.toMatch(/\[engine\]|target cannot be used/);
    await expect(stat(disk)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('an unreadable file is recorded access-denied, the rest is backed up (exit 1)', async () => {
    const { base, src, run } = await setup('unreadable');
    await writeTree(src, { 'open.txt': 'readable', 'secret.txt': 'no access' });
    // Root reads everything: the agent runs without the capabilities that let it (see helpers/agent.ts).
    await chmod(join(src, 'secret.txt'), 0o000);
    const r = await run('backup', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const [rec] = JSON.parse(r.stdout);
    expect(rec).toMatchObject({ status: 'incomplete', reasons: ['access-denied'], counts: { uploaded: 1, failed: 1 } });
    expect(await readdir(join(base, 'usb', 'docs', 'Documents'))).toEqual(['open.txt']);
  });

  it('verify finds a copy damaged on the disk; the next backup sends it again and verify is clean', async () => {
    const { src, disk, run } = await setup('heal');
    await writeTree(src, { 'plan.txt': 'the plan', 'notes/a.txt': 'A' });
    expect((await run('backup')).code).toBe(0);
    await writeFile(join(disk, 'docs', 'Documents', 'plan.txt'), 'bit rot!'); // same size, other bytes
    const v = await run('verify', '--job', 'docs');
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/checked 2 stored versions .* 1 good, 1 bad/);
    expect(v.stdout).toMatch(/hash-mismatch: Documents\/plan\.txt/);
    expect(v.stdout).toMatch(/the next backup sends 1 file again whose current copy is damaged or missing/);
    const b = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(b.counts).toMatchObject({ uploaded: 1, unchanged: 1 });
    expect(await readFile(join(disk, 'docs', 'Documents', 'plan.txt'), 'utf8')).toBe('the plan');
    const again = await run('verify', '--job', 'docs');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/2 good, 0 bad/);
  });

  it('a damaged index is said as such and repaired: moved aside, rebuilt from the target, nothing sent again, every run still restores (issue 26)', async () => {
    const { base, src, run } = await setup('damaged-index');
    await writeTree(src, { 'plan.txt': 'the plan', 'notes/a.txt': 'A' });
    const first = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect((await run('history')).code).toBe(0); // LevelDB turns its log into tables when it opens
    const dir = join(base, 'data', 'index');
    const tables = (await readdir(dir)).filter((f) => f.endsWith('.ldb'));
    expect(tables.length).toBeGreaterThan(0);
    for (const f of tables) {
      const fh = await open(join(dir, f), 'r+');
      await fh.write(Buffer.alloc(200, 0xff), 0, 200, 100); // a bad block
      await fh.close();
    }
    // The command that meets the damage says so and stops; the next one repairs it.
    const h = await run('history');
    expect(h.code).toBe(3);
    expect(h.stderr).toContain(`error: the index at ${dir} is damaged (Corruption:`);
    expect(h.stderr).toContain('the next command moves it aside and rebuilds it from what the targets hold');
    const h2 = await run('history', '--json');
    expect(h2.code).toBe(0);
    expect(h2.stderr).toMatch(new RegExp(`the index at ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} was damaged \\(a command found it damaged: .*\\); it was moved to .*index\\.damaged-\\d+T\\d+, and a new one is rebuilt from what the targets hold`));
    expect(JSON.parse(h2.stdout).runs).toHaveLength(1);
    const b = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(b.counts).toMatchObject({ uploaded: 0, unchanged: 2 });
    expect((await readdir(join(base, 'data'))).filter((n) => n.startsWith('index.damaged-'))).toHaveLength(1);

    // A missing CURRENT (a partial copy of the home folder, a sync tool): never a fresh, partial
    // index that lets a run overwrite what older runs need — the same repair.
    await rm(join(dir, 'CURRENT'));
    await writeFile(join(src, 'plan.txt'), 'the plan, v2');
    const c = await run('backup', '--json');
    expect(c.code).toBe(0);
    expect(c.stderr).toContain('was damaged (its CURRENT file is missing)');
    expect(JSON.parse(c.stdout)[0].counts).toMatchObject({ uploaded: 1, unchanged: 1 });
    const to = join(base, 'first');
    const r = await run('restore', '--job', 'docs', '--run', first.id, '--to', to);
    expect(r.code).toBe(0);
    expect(await readFile(join(to, 'Documents', 'plan.txt'), 'utf8')).toBe('the plan');

    // An index LevelDB cannot open at all (a garbled CURRENT): repaired the same way.
    await writeFile(join(dir, 'CURRENT'), 'garbage\n');
    const o = await run('history', '--json');
    expect(o.code).toBe(0);
    expect(o.stderr).toContain(`the index at ${dir} was damaged (`);
    expect(JSON.parse(o.stdout).runs.length).toBeGreaterThanOrEqual(2);
  });

  it('one damaged journal line on the target costs at most the file it named, with a warning naming the file and line; a damaged marker is named (issue 26)', async () => {
    const { base, src, disk, config, run } = await setup('damaged-journal');
    await writeTree(src, { 'a.txt': 'A1', 'b.txt': 'B1', 'c.txt': 'C1' });
    const first = JSON.parse((await run('backup', '--json')).stdout)[0];
    await writeTree(src, { 'a.txt': 'A2', 'b.txt': 'B2' });
    expect((await run('backup')).code).toBe(0);
    const runsDir = join(disk, 'docs', '.hokan', 'runs');
    const last = (await readdir(runsDir)).sort().at(-1)!;
    const journal = join(runsDir, last, (await readdir(join(runsDir, last))).find((f) => f.startsWith('changes-'))!);
    const text = await readFile(journal, 'utf8');
    await writeFile(journal, text.slice(0, text.length - 5)); // truncate -s -5: the last line is cut
    // A new machine: a fresh data folder rebuilds from the target.
    const fresh = (...a: string[]) => agent([...a, '--config', config, '--data-dir', join(base, 'data-new')], { cwd: base });
    const r = await fresh('restore', '--job', 'docs', '--to', join(base, 'out'));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/line 2 of .*changes-0001\.jsonl on the target cannot be used: its checksum does not match/);
    expect(r.stderr).toMatch(/the index was rebuilt without 1 damaged line\(s\)/);
    // Everything else comes back; the file the cut line named comes back as its older version.
    expect(await readFile(join(base, 'out', 'Documents', 'c.txt'), 'utf8')).toBe('C1');
    const named = (await readFile(join(base, 'out', 'Documents', 'a.txt'), 'utf8')) + (await readFile(join(base, 'out', 'Documents', 'b.txt'), 'utf8'));
    expect(['A2B1', 'A1B2']).toContain(named);
    // The new data folder backs up on: the version its journal names is never overwritten, so the
    // first run still restores whole.
    await writeTree(src, { 'a.txt': 'A3', 'b.txt': 'B3' });
    expect((await fresh('backup')).code).toBe(0);
    const r1 = await fresh('restore', '--job', 'docs', '--run', first.id, '--to', join(base, 'out-1'));
    expect(r1.code).toBe(0);
    for (const [f, want] of [['a.txt', 'A1'], ['b.txt', 'B1'], ['c.txt', 'C1']]) expect(await readFile(join(base, 'out-1', 'Documents', f!), 'utf8')).toBe(want);

    // A garbled marker: named, with what to do; nothing is written.
    await writeFile(join(disk, 'docs', '.hokan', 'marker.json'), 'garbage');
    const b = await run('backup');
    expect(b.code).toBe(3);
    expect(b.stdout + b.stderr).toContain(`the owner marker docs/.hokan/marker.json on the target is damaged`);
    expect(b.stdout + b.stderr).toMatch(/delete docs\/\.hokan\/marker\.json and run again/);
  });

  it('two data folders back up one job to one disk at the same moment: one writes, the other stops naming the holder; a killed holder\'s lease is taken over (issue 26)', async () => {
    const { base, src, config } = await setup('two-writers');
    const files: Record<string, string> = {};
    for (let i = 0; i < 1500; i++) files[`d${i % 5}/f${i}.txt`] = `content ${i} `.repeat(200);
    await writeTree(src, files);
    const as = (data: string, ...a: string[]) => agent([...a, '--json', '--config', config, '--data-dir', join(base, data)], { cwd: base });
    // The first is frozen once it holds the lease, so the second meets a live holder whatever the machine's speed.
    const leasesDir = join(base, 'usb', 'docs', '.hokan', 'leases');
    // The lease itself (ID.json), not the temporary file it is written through before its rename.
    const leaseFiles = async () => (await readdir(leasesDir).catch(() => [] as string[])).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    const [x, y] = await whileFirstHoldsLease({ args: ['backup', '--json', '--config', config, '--data-dir', join(base, 'd1')], opts: { cwd: base } }, leaseFiles, () => as('d2', 'backup'));
    const runs = [JSON.parse(x.stdout)[0], JSON.parse(y.stdout)[0]];
    const winner = runs.find((r) => r.status === 'completed');
    const loser = runs.find((r) => r !== winner);
    expect(winner?.counts).toMatchObject({ uploaded: 1500 });
    expect(loser).toMatchObject({ status: 'incomplete', reasons: ['target-busy'], counts: { uploaded: 0 } });
    expect(loser.targetResults[0].error).toMatch(/another run writes to this job's place on the target: device "test-pc" \(host .*, process \d+, data folder .*d[12]\)/);
    expect([x.code, y.code].sort()).toEqual([0, 3]); // the run that could not write failed: its only target was busy

    // A holder killed mid-run leaves its lease: the next run (from the other data folder) takes it over,
    // and brings its index up to date first (the killed run had changed the place).
    await writeFile(join(src, 'd0', 'f0.txt'), 'changed');
    await writeFile(join(src, 'd1', 'f1.txt'), 'changed');
    // The one that could not write does (it first builds its index from the disk) and is killed.
    const [winDir, loseDir] = runs[0] === winner ? ['d1', 'd2'] : ['d2', 'd1'];
    const killed = await agent(['backup', '--config', config, '--data-dir', join(base, loseDir)], { cwd: base, env: { HOKAN_CRASH_AT: 'after-put:1' } });
    expect(killed.signal).toBe('SIGKILL');
    const leases = join(base, 'usb', 'docs', '.hokan', 'leases');
    expect((await readdir(leases)).length).toBe(1);
    const next = await as(winDir, 'backup');
    expect(next.stderr).toMatch(/taking over the lease of a process that is gone/);
    const rec = JSON.parse(next.stdout)[0];
    expect(rec.status).toBe('completed');
    expect(rec.note).toMatch(/the target moved on since this index last saw it/);
    expect(await readdir(leases).catch(() => [])).toEqual([]); // the disk keeps no empty folder behind
    const to = join(base, 'out');
    expect((await as(winDir, 'restore', '--job', 'docs', '--to', to)).code).toBe(0);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
  });

  it('a restore as of a run whose version of a file was pruned says so: incomplete (version-pruned), naming the file and the rule; --fill-pruned gives the oldest kept; history marks partial runs (issue 30)', async () => {
    const { base, src, run } = await setup('pruned', { generations: 2 });
    await prunedRestoreScenario({ base, src, run, target: 'usb' });
  }, 180_000);

  it('every legal name — 255 bytes, 85 Japanese characters, a backslash — is backed up, versioned and restored (issue 27)', async () => {
    const { base, src, run } = await setup('legal-names');
    await legalNamesScenario({ base, src, run, target: 'usb' });
  }, 180_000);

  it('folders come back as they were: empty ones, their permission bits (700, a read-only 555 one), owners (as root) and mtimes, as of any run; a folder removed or chmod-ed is kept without counting as a file; an owner change alone sends nothing (issue 27)', async () => {
    const { base, src, config } = await setup('folders');
    // As root with all its powers (owners are given away and must be read back), as a backup service runs.
    const run = (...args: string[]) => agent([...args, '--config', config, '--data-dir', join(base, 'data')], { cwd: base });
    await foldersScenario({ base, src, run, target: 'usb' });
  }, 180_000);

  it('permission bits come back: a private file stays private, a script keeps its x bit; a change of permissions alone is recorded without sending the content (issue 27)', async () => {
    const { base, src, disk, run } = await setup('modes');
    await writeTree(src, { 'tax-return.pdf': 'private', 'run.sh': '#!/bin/sh\necho hi\n', 'readme.txt': 'hello', 'big/key.pem': 'k'.repeat(300_000) });
    await chmod(join(src, 'tax-return.pdf'), 0o600);
    await chmod(join(src, 'run.sh'), 0o755);
    await chmod(join(src, 'readme.txt'), 0o644);
    await chmod(join(src, 'big/key.pem'), 0o600);
    const first = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(first.counts).toMatchObject({ uploaded: 4 });
    // The browsable copy on the backup disk keeps the source's bits: a private file stays private
    // there too (the owner may always read and write hokan's copy; no setuid/setgid/sticky).
    const onDisk = async (f: string) => ((await stat(join(disk, 'docs', 'Documents', f))).mode & 0o7777).toString(8);
    expect([await onDisk('tax-return.pdf'), await onDisk('run.sh'), await onDisk('readme.txt'), await onDisk('big/key.pem')]).toEqual(['600', '755', '644', '600']);
    await chmod(join(src, 'readme.txt'), 0o444);
    await chmod(join(src, 'run.sh'), 0o700);
    const second = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(second).toMatchObject({ status: 'completed', counts: { uploaded: 2, unchanged: 2 }, bytes: 0 });
    expect([await onDisk('run.sh'), await onDisk('readme.txt')]).toEqual(['700', '644']);
    const to = join(base, 'out');
    expect((await run('restore', '--job', 'docs', '--to', to)).code).toBe(0);
    const mode = async (f: string) => ((await stat(join(to, 'Documents', f))).mode & 0o7777).toString(8);
    expect([await mode('tax-return.pdf'), await mode('run.sh'), await mode('readme.txt'), await mode('big/key.pem')]).toEqual(['600', '700', '444', '600']);
  });

  it('a data folder that cannot be written is said as such, not as "in use"', async () => {
    const { base, src, config } = await setup('readonly-data');
    await writeTree(src, { 'a.txt': 'A' });
    const data = join(base, 'data');
    expect((await agent(['backup', '--config', config, '--data-dir', data])).code).toBe(0);
    await chmod(join(data, 'index'), 0o555);
    try {
      const h = await agent(['history', '--config', config, '--data-dir', data], { obeyPermissions: true, env: { HOKAN_NO_DAEMON: '1' } });
      expect(h.code).toBe(3);
      expect(h.stderr).toContain(`the data folder ${data} cannot be written`);
      expect(h.stderr).not.toContain('in use by another hokan process');
    } finally {
      await chmod(join(data, 'index'), 0o755);
    }
  });

  it('an export into a reader that stops early (`| head`) ends quietly; into a full disk, exit 3 with one line', async () => {
    const { base, src, config } = await setup('pipes');
    // Enough records that the CSV outgrows a pipe's buffer (64 KiB): ~1,500 lines of ~110 bytes.
    const files: Record<string, string> = {};
    for (let i = 0; i < 1500; i++) files[`folder ${i % 30}/a file with a fairly long name ${i}.txt`] = `${i}`;
    await writeTree(src, files);
    const data = join(base, 'data');
    const b = await agent(['backup', '--json', '--config', config, '--data-dir', data]);
    expect(b.code).toBe(0);
    const id = JSON.parse(b.stdout)[0].id as string;

    // A reader that takes the first chunk and goes away.
    const child = spawn(process.execPath, [AGENT, 'show', id, '--csv', '--config', config, '--data-dir', data], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const first: string = await new Promise((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString('utf8'))));
    child.stdout.destroy();
    const [code] = (await once(child, 'close')) as [number | null];
    expect(first.startsWith('path,target,status,reason,size,sha256,message\n')).toBe(true);
    expect(stderr).toBe(''); // no EPIPE stack trace
    expect(code).toBe(0);

    // stdout on a full disk: said once, exit 3.
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [AGENT, 'show', id, '--csv', '--config', config, '--data-dir', data], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8' });
      expect(r.status).toBe(3);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^agent: cannot write the output: ENOSPC/)]);
    } finally {
      closeSync(full);
    }
  });

  it('a restore that is bad usage (no such run, a path in no source, --to a file) leaves no run behind', async () => {
    const { base, src, config, run } = await setup('restore-usage');
    await writeTree(src, { 'plan.txt': 'the plan' });
    const b = JSON.parse((await run('backup', '--json')).stdout)[0];
    const noRun = await run('restore', '--job', 'docs', '--to', join(base, 'out'), '--run', 'NOPE');
    expect(noRun.code).toBe(2);
    expect(noRun.stderr).toContain('error: there is no backup run "NOPE" of job "docs"');
    expect(noRun.stderr).toContain(`→ recent runs: ${b.id} (see \`agent history\`)`);
    const noPath = await run('restore', '--job', 'docs', '--to', join(base, 'out'), '--path', '/not/in/any/source');
    expect(noPath.code).toBe(2);
    expect(noPath.stderr).toContain('error: nothing in the backup of job "docs" on usb matches "/not/in/any/source"');
    const toFile = await run('restore', '--job', 'docs', '--to', config);
    expect(toFile.code).toBe(2);
    expect(toFile.stderr).toContain(`error: --to ${config} is not a folder`);
    const h = await run('history', '--json');
    expect(h.stderr).toBe(''); // no "a run was interrupted" warning
    expect(JSON.parse(h.stdout).runs.map((r: { id: string; status: string }) => [r.id, r.status])).toEqual([[b.id, 'completed']]);
  });

  it('a big tree: the next same command starts its walk before it loads (a head start), taken over only when it is the same walk', { timeout: 120_000 }, async () => {
    const { base, src, config, run } = await setup('head-start');
    // 20,050 files (the worker walks from 20,000), 50 to a folder.
    for (let d = 0; d < 401; d++) {
      await mkdir(join(src, `d${d}`));
      await Promise.all(Array.from({ length: 50 }, (_, i) => writeFile(join(src, `d${d}`, `f${i}.txt`), `${d}/${i}`)));
    }
    const hintFile = join(base, 'data', 'cache', 'head-start.json');
    /** The walks remembered, by whether their command line was this test's `backup --json --verbose`. */
    const hints = async () => {
      const walks: [string, { root: { path: string }; filters: object }][] = JSON.parse(await readFile(hintFile, 'utf8').catch(() => '{"walks":[]}')).walks;
      return { verbose: walks.filter(([k]) => k.includes('--verbose')).map(([, w]) => w), other: walks.filter(([k]) => !k.includes('--verbose')).map(([, w]) => w) };
    };
    const backup = async (want: { seen: number; uploaded: number }) => {
      const r = await run('backup', '--json', '--verbose');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)[0]).toMatchObject({ status: 'completed', counts: { seen: want.seen, uploaded: want.uploaded, unchanged: want.seen - want.uploaded } });
      return r.stderr.includes('the walk had a head start');
    };
    // The first backup: nothing known about the tree before it; after it, its walk is remembered.
    expect(await backup({ seen: 20_050, uploaded: 20_050 })).toBe(false);
    expect((await hints()).verbose).toMatchObject([{ root: { path: src }, filters: {} }]);
    // The next runs of the same command line start the same walk early, and the run takes it over.
    expect(await backup({ seen: 20_050, uploaded: 0 })).toBe(true);
    await writeFile(join(src, 'd7', 'f7.txt'), 'changed');
    expect(await backup({ seen: 20_050, uploaded: 1 })).toBe(true);
    // The job's filters change: the early walk is not this run's walk — stopped, and the run walks afresh.
    await writeFile(config, (await readFile(config, 'utf8')).replace('"targets":["usb"]', '"targets":["usb"],"filters":{"exclude":["d0/**"]}'));
    expect(await backup({ seen: 20_000, uploaded: 0 })).toBe(false);
    expect((await hints()).verbose).toMatchObject([{ root: { path: src }, filters: { exclude: ['d0/**'] } }]);
    expect(await backup({ seen: 20_000, uploaded: 0 })).toBe(true);
    // Another command line is remembered beside it; a tree that became small is forgotten.
    const other = await run('backup', '--json');
    expect(other.code).toBe(0);
    expect(JSON.parse(other.stdout)[0].counts.seen).toBe(20_000);
    expect(await hints()).toMatchObject({ verbose: [{ root: { path: src } }], other: [{ root: { path: src } }] });
    await rm(join(src, 'd1'), { recursive: true });
    expect(await backup({ seen: 19_950, uploaded: 0 })).toBe(true); // still walked early (last run was big)
    expect(await hints()).toMatchObject({ verbose: [], other: [{ root: { path: src } }] });
    expect(await backup({ seen: 19_950, uploaded: 0 })).toBe(false);
  });

  it('restore --at before the first backup says so, naming the first backup\'s time (exit 2), and restores nothing (issue 27)', async () => {
    const { base, src, run } = await setup('at-before');
    await writeTree(src, { 'a.txt': 'a' });
    expect((await run('backup')).code).toBe(0);
    const to = join(base, 'out');
    const r = await run('restore', '--job', 'docs', '--at', '2020-01-01 12:00', '--to', to);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: --at 2020\/01\/01 12:00:59 is before the first backup of job "docs" \(\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\)/);
    expect(r.stderr).toContain('→ give a time after it (see `agent history`), or leave --at out for the newest');
    expect(await readdir(to).catch(() => 'none')).toBe('none');
  });

  it('a target inside its source is left out of it (never a backup of the backup); config validate says so; a source that is a file is refused, deleting nothing (issue 27)', async () => {
    const { base, src, config, run } = await setup('overlap');
    await writeTree(src, { 'a.txt': 'a', 'sub/b.txt': 'b' });
    const inside = join(src, 'backup-disk');
    await mkdir(inside);
    const cfg = (await readFile(config, 'utf8')).replace(JSON.stringify(join(base, 'usb')), JSON.stringify(inside));
    await writeFile(config, cfg);
    const v = await run('config', 'validate');
    expect(v.code).toBe(0);
    expect(v.stderr).toContain(`warning: target "usb" (${inside}) is inside source ${src} of job "docs": it is left out of that source, so a backup never stores itself`);
    for (let i = 0; i < 2; i++) {
      const r = JSON.parse((await run('backup', '--json')).stdout)[0];
      expect(r).toMatchObject({ status: 'completed', counts: { seen: 2, uploaded: i === 0 ? 2 : 0, unchanged: i === 0 ? 0 : 2 } });
    }
    expect((await readdir(join(inside, 'docs', 'Documents'))).sort()).toEqual(['a.txt', 'sub']);
    // A source that is a file: the run says so and deletes nothing of what the target holds.
    await writeFile(config, cfg.replace(JSON.stringify(src), JSON.stringify(join(src, 'a.txt'))).replace(JSON.stringify(inside), JSON.stringify(join(base, 'usb'))));
    const bad = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(bad).toMatchObject({ status: 'incomplete', reasons: ['invalid-settings'], counts: { deleted: 0 } });
    expect(bad.note).toContain(`the source ${join(src, 'a.txt')} is a file, not a folder: give its folder as "path", with "include": ["a.txt"] to take only this file; nothing was deleted from the targets`);
    expect((await run('config', 'validate')).code).toBe(2);
  });

  it('nothing is left out without a word: the run counts what filters left out per kind, show --filtered lists it, a FIFO is a special file (issue 27)', async () => {
    const { src, run } = await setup('filtered', { filters: { excludeExtensions: ['tmp'], largerThan: '1KB', exclude: ['cache/**'] } });
    await writeTree(src, { 'keep.txt': 'k', '.env': 'SECRET=1', '.git/config': 'x', 'a.tmp': 't', 'big.bin': 'b'.repeat(2000), 'cache/x': 'c', 'cache/y': 'c' });
    expect(spawnSync('mkfifo', [join(src, 'pipe')]).status).toBe(0);
    const r = await run('backup');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/seen 1, uploaded 1, unchanged 0, deleted 0, skipped 0, failed 0, left out by filters 6 \((hidden 2|[a-z]+ \d+)(, [a-z]+ \d+)*\)/);
    const rec = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(rec.filtered).toEqual({ hidden: 2, extension: 1, size: 1, pattern: 1, special: 1 });
    const shown = JSON.parse((await run('show', rec.id, '--filtered', '--json')).stdout);
    expect(shown.files.map((f: { path: string; message: string }) => [f.path, f.message]).sort()).toEqual([
      ['Documents/.env', 'hidden'],
      ['Documents/.git/', 'hidden (a folder: nothing under it was looked at)'],
      ['Documents/a.tmp', 'extension tmp excluded'],
      ['Documents/big.bin', 'larger than 1 KB'],
      ['Documents/cache/', 'excluded by cache/** (a folder: nothing under it was looked at)'],
      ['Documents/pipe', 'not a regular file (socket, pipe or device)'],
    ]);
  });

  it('a target wiped behind hokan\'s back is noticed: target-reset, everything sent again, restore from it byte-identical; "refuse" writes nothing (issue 24)', async () => {
    const { base, src, disk, config, run } = await setup('wiped');
    const second = join(base, 'usb2');
    await mkdir(second);
    const cfg = JSON.parse((await readFile(config, 'utf8')).replace(/^\s*\/\/.*$/m, ''));
    cfg.targets.usb2 = { type: 'hdd', path: second };
    cfg.jobs[0].targets = ['usb', 'usb2'];
    await writeFile(config, JSON.stringify(cfg));
    const wipe = async () => {
      for (const n of await readdir(second)) await rm(join(second, n), { recursive: true, force: true });
    };
    await wipedTargetScenario({ base, src, run, target: 'usb' }, 'usb2', wipe);
    // With "refuse": the run stops on that target with target-reset and writes nothing there.
    cfg.jobs[0].onTargetReset = 'refuse';
    await writeFile(config, JSON.stringify(cfg));
    await wipe();
    const refused = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(refused).toMatchObject({ status: 'incomplete', reasons: ['target-reset'] });
    expect(refused.targetResults.find((t: { id: string }) => t.id === 'usb2').error).toMatch(/target "usb2" was wiped or replaced since the last backup \(.*\): this job's marker on it is gone or another/);
    expect(await readdir(second)).toEqual([]);
    void disk;
  }, 180_000);

  it('rotated disks ("rotate": true): two disks swapped in at the same path on alternate runs each get only what changed since their own last run; restore from either gives its own last run (issue 24)', async () => {
    const { base, src, disk, config, run } = await setup('rotate');
    const cfg = JSON.parse((await readFile(config, 'utf8')).replace(/^\s*\/\/.*$/m, ''));
    cfg.targets.usb.rotate = true;
    await writeFile(config, JSON.stringify(cfg));
    // Disk A is at the mount point; disk B waits on the shelf (off-site).
    const shelf = { A: join(base, 'disk-A'), B: join(base, 'disk-B') };
    await mkdir(shelf.B);
    const swap = async (out: 'A' | 'B', inn: 'A' | 'B') => {
      await rename(disk, shelf[out]);
      await rename(shelf[inn], disk);
    };
    const files: Record<string, string> = {};
    for (let i = 0; i < 20; i++) files[`d${i % 4}/f${i}.txt`] = `v1 ${i}`;
    await writeTree(src, files);
    const backup = async () => JSON.parse((await run('backup', '--json')).stdout)[0];
    const onA1 = await backup();
    expect(onA1).toMatchObject({ status: 'completed', counts: { uploaded: 20 } });
    const diskA = onA1.targetResults[0].disk;
    expect(diskA).toMatch(/^[0-9a-f]{16}$/);

    await writeFile(join(src, 'd0/f0.txt'), 'v2 0');
    await swap('A', 'B');
    const onB1 = await backup();
    // A new disk of the rotation: everything, and said so — not a reset.
    expect(onB1, JSON.stringify(onB1)).toMatchObject({ status: 'completed', reasons: [], counts: { uploaded: 20, unchanged: 0 } });
    expect(onB1.note).toMatch(/usb: a new disk in the rotation/);
    const diskB = onB1.targetResults[0].disk;
    expect(diskB).not.toBe(diskA);

    await writeFile(join(src, 'd1/f1.txt'), 'v2 1');
    await swap('B', 'A');
    const onA2 = await backup();
    // Disk A missed two changes since its own last run (f0 before B's run, f1 after it): exactly those.
    expect(onA2, JSON.stringify(onA2)).toMatchObject({ status: 'completed', reasons: [], counts: { uploaded: 2, unchanged: 18 } });
    expect(onA2.note).toMatch(new RegExp(`usb: disk ${diskA.slice(0, 8)} of the rotation is in: what changed since its own last backup is sent`));
    expect(onA2.targetResults[0].disk).toBe(diskA);

    await writeFile(join(src, 'd2/f2.txt'), 'v2 2');
    const onA3 = await backup();
    expect(onA3).toMatchObject({ counts: { uploaded: 1, unchanged: 19 } });
    expect(onA3.note ?? '').not.toMatch(/rotation/);

    // Restore from A (in): its own last run. Then B in: B's own last run (f1 and f2 still v1 there).
    const fromA = join(base, 'from-A');
    expect((await run('restore', '--job', 'docs', '--to', fromA)).code).toBe(0);
    expect(await readFile(join(fromA, 'Documents/d2/f2.txt'), 'utf8')).toBe('v2 2');
    await swap('A', 'B');
    const fromB = join(base, 'from-B');
    const rb = await run('restore', '--job', 'docs', '--to', fromB);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    expect(await readFile(join(fromB, 'Documents/d0/f0.txt'), 'utf8')).toBe('v2 0');
    expect(await readFile(join(fromB, 'Documents/d1/f1.txt'), 'utf8')).toBe('v1 1');
    expect(await readFile(join(fromB, 'Documents/d2/f2.txt'), 'utf8')).toBe('v1 2');
    // And B, back in, gets the two it missed.
    const onB2 = await backup();
    expect(onB2).toMatchObject({ status: 'completed', counts: { uploaded: 2, unchanged: 18 } });
    // status shows each disk's own last backup.
    const st = await run('status');
    expect(st.stdout).toContain(`  disk ${diskB.slice(0, 8)}: last backup `);
    expect(st.stdout).toContain(`completed  [run ${onB2.id}]`);
    expect(st.stdout).toContain(`  disk ${diskA.slice(0, 8)}: last backup `);
    expect(st.stdout).toContain(`completed  [run ${onA3.id}]`);
  }, 180_000);

  it('the per-run spot check finds copies deleted or cut short on the disk behind hokan\'s back and sends them again in the same run; "spotCheck": 0 turns it off (issue 24)', async () => {
    const { base, src, disk, config, run } = await setup('spot', { spotCheck: 0 });
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`d${i % 3}/f${i}.txt`] = `content of ${i} `.repeat(20);
    await writeTree(src, files);
    const backup = async () => JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(await backup()).toMatchObject({ status: 'completed', counts: { uploaded: 30 } });
    const stored = (rel: string) => join(disk, 'docs', 'Documents', rel);
    await rm(stored('d0/f0.txt'));
    await rm(stored('d1/f4.txt'));
    await writeFile(stored('d2/f5.txt'), 'cut');
    // Off: a run trusts its index (nothing is looked up), as before.
    expect(await backup()).toMatchObject({ status: 'completed', counts: { uploaded: 0, unchanged: 30 } });
    // On, large enough to take every file: the three are found and sent again now.
    const cfg = JSON.parse((await readFile(config, 'utf8')).replace(/^\s*\/\/.*$/m, ''));
    cfg.jobs[0].spotCheck = 1000;
    await writeFile(config, JSON.stringify(cfg));
    const checked = await backup();
    expect(checked, JSON.stringify(checked)).toMatchObject({ status: 'completed', counts: { seen: 30, uploaded: 3, unchanged: 27, failed: 0 } });
    expect(checked.note).toMatch(/usb: the spot check found 3 of 30 files checked missing or damaged there \(.*Documents\/d0\/f0\.txt.*\): sent again — run `agent verify` to check everything/);
    for (const rel of ['d0/f0.txt', 'd1/f4.txt', 'd2/f5.txt']) expect(await readFile(stored(rel), 'utf8')).toBe(files[rel]);
    const to = join(base, 'restored');
    expect((await run('restore', '--job', 'docs', '--to', to)).code).toBe(0);
    expect(await digestTree(join(to, 'Documents'))).toEqual(await digestTree(src));
    expect(await backup()).toMatchObject({ status: 'completed', counts: { uploaded: 0, unchanged: 30 } });
  }, 180_000);

  it('bad usage names the problem and the fix (exit 2)', async () => {
    const { run, config } = await setup('usage');
    const r = await run('backup', 'nope');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/there is no job "nope" in the config/);
    expect(r.stderr).toMatch(/jobs: docs/);
    const r2 = await run('restore', '--job', 'docs', '--run', 'x', '--at', '2026-01-01');
    expect(r2.code).toBe(2);
    // A date that does not exist is refused, never rolled over into another one (issue 27).
    for (const [at, why] of [['2026-13-45', 'there is no month 13'], ['2026/02/30', '2026/02 has no day 30'], ['2026-01-01 25:00', 'there is no time 25:00'], ['yesterday-ish', 'not a date this agent can read']]) {
      const bad = await run('restore', '--job', 'docs', '--at', at, '--to', join(dirname(config), 'never'));
      expect(bad.code, at).toBe(2);
      expect(bad.stderr).toContain(`error: --at "${at}" is not a time: ${why}`);
    }
    // A data folder that is a file: named, with the fix.
    const r3 = await agent(['backup', '--config', config, '--data-dir', config]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain(`error: cannot use ${config} as the data folder (the index and the logs): EEXIST`);
    expect(r3.stderr).toContain('→ give a folder hokan can create and write: --data-dir DIR, or $HOKAN_DATA_DIR');
    const page = await run('history', '--page', '0');
    expect(page.code).toBe(2);
    expect(page.stderr).toContain('error: --page must be a whole number from 1, not 0');
    // A path option given twice: the last one counts (it was an internal error about an array).
    const twice = await run('history', '--data-dir', config, '--config', join(config, 'nope.json'));
    expect(twice.stderr).toBe('');
    expect(twice.code).toBe(0);
  });
});
