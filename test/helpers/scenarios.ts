import { chmod, chown, lstat, mkdir, readFile, readdir, rmdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { AgentResult } from './agent.js';
import { writeTree } from './trees.js';

// Scenarios through the CLI that every target type must pass the same way: each spec sets up its
// target (a disk folder, a bucket, a container…) and a job "docs" whose source is `src`
// (`Documents`), then runs the scenario with its own `run`.

export interface ScenarioPlace {
  base: string;
  src: string;
  run: (...args: string[]) => Promise<AgentResult>;
  /** The id of the job's one target. */
  target: string;
}

/**
 * Issue 30 with "generations": 2: plan.txt changes v1…v5 with a backup after each; a restore as
 * of the first run says the file's version is pruned (exit 1), --fill-pruned gives the oldest kept,
 * history marks the runs whose versions were dropped, and versions says they were.
 */
export async function prunedRestoreScenario({ base, src, run, target }: ScenarioPlace): Promise<void> {
  await writeTree(src, { 'docs/plan.txt': 'v1', 'docs/other.txt': 'other' });
  const r1 = JSON.parse((await run('backup', '--json')).stdout)[0];
  for (const v of ['v2', 'v3', 'v4', 'v5']) {
    await writeFile(join(src, 'docs', 'plan.txt'), v);
    expect((await run('backup')).code).toBe(0);
  }
  const out = join(base, 'out');
  const r = await run('restore', '--job', 'docs', '--run', r1.id, '--to', out);
  expect(r.code).toBe(1);
  expect(r.stdout).toMatch(/restore incomplete \(version-pruned\)/);
  expect(r.stdout).toContain('skipped version-pruned: Documents/docs/plan.txt — its version as of this run is no longer kept (the job keeps "generations": 2 older versions of a file); --fill-pruned restores the oldest version kept after it');
  expect(await readFile(join(out, 'Documents', 'docs', 'other.txt'), 'utf8')).toBe('other');
  const dry = await run('restore', '--job', 'docs', '--run', r1.id, '--to', join(base, 'dry'), '--dry-run');
  expect(dry.code).toBe(1);
  expect(dry.stdout).toContain('skipped version-pruned: Documents/docs/plan.txt');
  const filled = await run('restore', '--job', 'docs', '--run', r1.id, '--to', join(base, 'filled'), '--fill-pruned');
  expect(filled.code).toBe(0);
  expect(filled.stdout).toMatch(/note: 1 file\(s\) whose version as of this run is no longer kept got the oldest version kept after it: Documents\/docs\/plan\.txt \(version of \d{4}-/);
  expect(await readFile(join(base, 'filled', 'Documents', 'docs', 'plan.txt'), 'utf8')).toBe('v3');

  // History says which runs are whole: v1 and v2 were dropped, so R1 and R2 each lost one version.
  const hist = JSON.parse((await run('history', '--kind', 'backup', '--json')).stdout).runs.reverse();
  expect(hist.map((x: { restorable: boolean; prunedVersions: number }) => [x.restorable, x.prunedVersions])).toEqual([[false, 1], [false, 1], [true, 0], [true, 0], [true, 0]]);
  expect(hist[0].id).toBe(r1.id);
  const human = (await run('history', '--kind', 'backup')).stdout.trim().split('\n');
  expect(human.at(-1)).toMatch(new RegExp(`${r1.id} .* partial: 1 version pruned$`));
  expect(human[0]).toMatch(/ restorable$/);
  // versions lists what is kept and says that older ones were pruned, and by which rule.
  const v = JSON.parse((await run('versions', '--job', 'docs', 'docs/plan.txt', '--json')).stdout);
  expect(v.versions.map((x: { size: number }) => x.size)).toEqual([2, 2, 2]);
  expect(v.pruned).toMatchObject([{ target, path: 'Documents/docs/plan.txt', from: r1.id, until: hist[2].id, rule: 'the job keeps "generations": 2 older versions of a file' }]);
  const date = String.raw`\d{4}/\d\d/\d\d [\d:]+`;
  expect((await run('versions', '--job', 'docs', 'docs/plan.txt')).stdout).toMatch(new RegExp(String.raw`^${target} {2}pruned: the versions of runs from ${date} until ${date} are no longer kept \(the job keeps "generations": 2 older versions of a file\)$`, 'm'));
}

/**
 * Issue 27: every legal name — 255 bytes (85 Japanese characters; 255 ASCII), a backslash — is
 * backed up, versioned after a change, and restored as of either run.
 */
export async function legalNamesScenario({ base, src, run }: ScenarioPlace): Promise<void> {
  const names = ['あ'.repeat(85), 'n'.repeat(251) + '.txt', 'from windows\\back\\slash.txt'];
  await writeTree(src, Object.fromEntries(names.map((n, i) => [`deep/${n}`, `v1 of ${i}`])));
  const first = JSON.parse((await run('backup', '--json')).stdout)[0];
  expect(first, JSON.stringify((await run('show', first.id, '--json')).stdout)).toMatchObject({ status: 'completed', counts: { uploaded: 3, failed: 0 } });
  for (const [i, n] of names.entries()) await writeFile(join(src, 'deep', n), `version two of ${i}`);
  const second = JSON.parse((await run('backup', '--json')).stdout)[0];
  expect(second, JSON.stringify(second)).toMatchObject({ status: 'completed', counts: { uploaded: 3, failed: 0 } });
  for (const [to, args, want] of [[join(base, 'now'), [], 'version two of'], [join(base, 'then'), ['--run', first.id], 'v1 of']] as const) {
    const r = await run('restore', '--job', 'docs', '--to', to, ...args);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const [i, n] of names.entries()) expect(await readFile(join(to, 'Documents', 'deep', n), 'utf8')).toBe(`${want} ${i}`);
  }
}

/**
 * Issue 24: a job with two targets; one is wiped behind hokan's back (a disk reformatted or
 * replaced at the same mount point, a bucket emptied). The next run says so (`target-reset`) and
 * sends everything to it again, never `unchanged` for files it does not hold; a restore from it
 * then gives the tree back. `wipe` empties the second target's place; `second` is its id.
 */
export async function wipedTargetScenario({ base, src, run }: ScenarioPlace, second: string, wipe: () => Promise<void>): Promise<void> {
  const files: Record<string, string> = {};
  for (let i = 0; i < 57; i++) files[`d${i % 5}/f${i}.txt`] = `content ${i}`;
  await writeTree(src, files);
  const first = JSON.parse((await run('backup', '--json')).stdout)[0];
  expect(first).toMatchObject({ status: 'completed', counts: { uploaded: 114 } });
  await wipe();
  // Before the next backup, a restore from the wiped target says what happened instead of failing per file.
  const early = await run('restore', '--job', 'docs', '--target', second, '--to', join(base, 'early'));
  expect(early.code).toBe(3);
  expect(early.stderr).toContain(`target "${second}" holds no backup of job "docs" any more: it was wiped or replaced since the last backup`);
  const next = JSON.parse((await run('backup', '--json')).stdout)[0];
  expect(next).toMatchObject({ status: 'incomplete', reasons: ['target-reset'] });
  const byTarget = Object.fromEntries(next.targetResults.map((t: { id: string; counts: unknown }) => [t.id, t.counts]));
  expect(byTarget[second]).toMatchObject({ uploaded: 57, unchanged: 0, failed: 0 });
  expect(Object.values(byTarget).find((c) => c !== byTarget[second])).toMatchObject({ uploaded: 0, unchanged: 57 });
  expect(next.note).toContain(`${second}: the target was wiped or replaced since this index last saw it (this job's marker is gone or another): everything is sent to it again`);
  const to = join(base, 'from-wiped');
  const r = await run('restore', '--job', 'docs', '--target', second, '--to', to);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  for (const [rel, text] of Object.entries(files)) expect(await readFile(join(to, 'Documents', rel), 'utf8')).toBe(text);
  // The first run is not on the wiped target any more: asked of it, it says so (never an empty
  // "completed"); asked of the job, the restore takes the other target, which holds it.
  const old = await run('restore', '--job', 'docs', '--target', second, '--run', first.id, '--to', join(base, 'old-from-wiped'));
  expect(old.code, old.stdout + old.stderr).toBe(3);
  expect(old.stderr).toContain(`target "${second}" holds this job's backups from run ${next.id} on (it was new to the job, or wiped or replaced, then): run ${first.id} is not on it`);
  expect(old.stderr).toMatch(/restore it from another target of the job \(--target \w+\)/);
  const oldTo = join(base, 'old-from-job');
  const viaJob = await run('restore', '--job', 'docs', '--run', first.id, '--to', oldTo);
  expect(viaJob.code, viaJob.stdout + viaJob.stderr).toBe(0);
  for (const [rel, text] of Object.entries(files)) expect(await readFile(join(oldTo, 'Documents', rel), 'utf8')).toBe(text);
  expect(JSON.parse((await run('backup', '--json')).stdout)[0]).toMatchObject({ status: 'completed', counts: { uploaded: 0, unchanged: 114 } });
}

/** Every folder under `dir` with its permission bits and mtime (whole seconds), as sorted lines. */
async function folderLines(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const st = await lstat(join(d, e.name));
      const p = rel ? `${rel}/${e.name}` : e.name;
      out.push(`${p} 0${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${new Date(Math.round(st.mtimeMs)).toISOString()}`);
      await walk(join(d, e.name), p);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/**
 * Issue 27: folders come back as they were — empty ones too, with their permission bits (a private
 * 700 folder, a read-only 555 one filled before its mode is set), owners (as root) and mtimes — as
 * of any run. A folder's change of mode or removal is kept without counting as a file or sending
 * anything; a file's change of owner alone is recorded without sending it again.
 */
export async function foldersScenario({ base, src, run }: ScenarioPlace): Promise<void> {
  await writeTree(src, { 'private/tax.pdf': 'secret', 'shared/read-only/notes.txt': 'fixed', 'work/a.txt': 'a' });
  for (const d of ['empty', 'work/nested/empty/deeper']) await mkdir(join(src, d), { recursive: true });
  await chmod(join(src, 'private'), 0o700);
  await chmod(join(src, 'private/tax.pdf'), 0o600);
  await chmod(join(src, 'shared/read-only'), 0o555);
  // Owners come back when the restore runs as root (CI does): a file and a folder given away.
  const root = process.getuid?.() === 0;
  if (root) {
    await chown(join(src, 'private/tax.pdf'), 1000, 1000);
    await chown(join(src, 'shared'), 65534, 65534);
  }
  const when = new Date('2021-03-04T05:06:07Z');
  for (const d of ['empty', 'private', 'shared', 'shared/read-only', 'work/nested/empty/deeper', 'work/nested/empty', 'work/nested', 'work']) await utimes(join(src, d), when, when);
  const before = await folderLines(src);
  expect(before).toContain(`empty 0755 ${process.getuid?.()}:${process.getgid?.()} 2021-03-04T05:06:07.000Z`);
  try {
    const first = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(first, JSON.stringify(first)).toMatchObject({ status: 'completed', counts: { seen: 3, uploaded: 3, failed: 0 } });
    const to = join(base, 'restored-1');
    const r1 = await run('restore', '--job', 'docs', '--to', to);
    expect(r1.code, r1.stdout + r1.stderr).toBe(0);
    expect(await folderLines(join(to, 'Documents'))).toEqual(before);
    const tax = await lstat(join(to, 'Documents', 'private', 'tax.pdf'));
    expect((tax.mode & 0o777).toString(8)).toBe('600');
    if (root) expect(`${tax.uid}:${tax.gid}`).toBe('1000:1000');
    expect(await readFile(join(to, 'Documents', 'shared', 'read-only', 'notes.txt'), 'utf8')).toBe('fixed');

    // An empty folder removed, a folder's mode changed: nothing sent, no file counted. A file given
    // to another owner (as root): recorded, its content not sent again.
    await rmdir(join(src, 'empty'));
    await chmod(join(src, 'private'), 0o750);
    if (root) await chown(join(src, 'work/a.txt'), 1000, 1000);
    const second = JSON.parse((await run('backup', '--json')).stdout)[0];
    expect(second, JSON.stringify(second)).toMatchObject({ status: 'completed', counts: { seen: 3, uploaded: root ? 1 : 0, unchanged: root ? 2 : 3, deleted: 0, failed: 0 }, bytes: 0 });
    const now = join(base, 'restored-2');
    expect((await run('restore', '--job', 'docs', '--to', now)).code).toBe(0);
    expect(await folderLines(join(now, 'Documents'))).toEqual(await folderLines(src));
    if (root) expect((await lstat(join(now, 'Documents', 'work', 'a.txt'))).uid).toBe(1000);
    expect((await readdir(join(now, 'Documents'))).sort()).toEqual(['private', 'shared', 'work']);
    // As of the first run the empty folder is there again.
    const then = join(base, 'restored-3');
    expect((await run('restore', '--job', 'docs', '--run', first.id, '--to', then)).code).toBe(0);
    expect((await readdir(join(then, 'Documents'))).sort()).toEqual(['empty', 'private', 'shared', 'work']);
    // One empty folder alone, by path.
    const one = join(base, 'restored-4');
    expect((await run('restore', '--job', 'docs', '--path', 'work/nested/empty/deeper', '--to', one)).code).toBe(0);
    expect((await lstat(join(one, 'Documents', 'work', 'nested', 'empty', 'deeper'))).isDirectory()).toBe(true);
    const versions = await run('versions', '--job', 'docs', 'empty');
    expect(versions.stdout).toMatch(/folder\s+deleted at the source/);
  } finally {
    await chmod(join(src, 'shared/read-only'), 0o755).catch(() => {});
  }
}
