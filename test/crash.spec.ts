import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, collect, startAgent } from './helpers/agent.js';
import { bytes, digestTree } from './helpers/trees.js';

/**
 * kill -9 at several moments of a backup and of a restore: at the next start the run shows
 * `interrupted`, the next backup completes without re-sending finished files, and a restore is
 * byte-identical.
 */
const FILES = 120;
const SIZE = 384 * 1024;
/** Files the target works on at once (its `maxConnections`, set below): at most these may be sent again. */
const IN_FLIGHT = 4;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-crash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function setup(name: string) {
  const base = join(dir, name);
  const src = join(base, 'src');
  const disk = join(base, 'disk');
  for (let i = 0; i < FILES; i++) {
    const sub = join(src, `folder-${String(i % 6)}`);
    await mkdir(sub, { recursive: true });
    await writeFile(join(sub, `file-${String(i).padStart(3, '0')}.bin`), bytes(SIZE, i + 1));
  }
  await mkdir(disk, { recursive: true });
  const config = join(base, 'config.json');
  await writeFile(config, JSON.stringify({ device: 'crash-pc', plugins: ['@hokan/target-hdd'], targets: { disk: { type: 'hdd', path: disk, maxConnections: IN_FLIGHT } }, jobs: [{ id: 'job', sources: [{ path: src }], targets: ['disk'] }] }));
  const args = (...a: string[]) => [...a, '--config', config, '--data-dir', join(base, 'data')];
  return { base, src, disk, args };
}

/** Files whose final name exists under a folder (atomic writes: a visible file is a whole file). */
function countFiles(root: string): number {
  try {
    return readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !e.name.startsWith('.')).length;
  } catch {
    return 0;
  }
}

/** Starts the agent and kills it with SIGKILL once `count()` reaches `at`. */
async function killWhen(args: string[], count: () => number, at: number): Promise<number> {
  const child = startAgent(args);
  const done = collect(child, 120_000);
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      seen = count();
      if (seen >= at) {
        child.kill('SIGKILL');
        clearInterval(timer);
        resolve();
      }
    }, 2);
    child.on('exit', () => {
      clearInterval(timer);
      reject(new Error(`the agent finished before ${at} files were written (saw ${seen}); make the tree bigger`));
    });
  });
  const r = await done;
  expect(r.signal).toBe('SIGKILL');
  return seen;
}

describe('kill -9 during a backup', () => {
  for (const at of [1, Math.floor(FILES / 2), FILES - 5]) {
    it(`after ${at} of ${FILES} files: interrupted, then completed without re-sending, restore byte-identical`, async () => {
      const { base, src, disk, args } = await setup(`backup-${at}`);
      const sent = await killWhen(args('backup'), () => countFiles(join(disk, 'job', 'src')), at);

      const history = JSON.parse((await agent(args('history', '--json'))).stdout);
      expect(history.runs.map((r: { status: string }) => r.status)).toEqual(['interrupted']);

      const next = await agent(args('backup', '--json'));
      expect(next.code).toBe(0);
      const [run] = JSON.parse(next.stdout);
      expect(run.status).toBe('completed');
      expect(run.counts.uploaded + run.counts.unchanged).toBe(FILES);
      // Finished files are not sent again; at most the ones in flight when the kill came.
      expect(run.counts.uploaded).toBeLessThanOrEqual(FILES - sent + IN_FLIGHT);

      const to = join(base, 'restored');
      expect((await agent(args('restore', '--job', 'job', '--to', to))).code).toBe(0);
      expect(await digestTree(join(to, 'src'))).toEqual(await digestTree(src));
      // No temporary file is left on the disk.
      expect(readdirSync(disk, { recursive: true }).filter((n) => String(n).includes('.hokan-tmp'))).toEqual([]);
    });
  }
});

describe('kill -9 before the journal reaches the target', () => {
  it('the lines of every window the index recorded are written by the next run, and an index rebuilt from the target restores the tree', async () => {
    const { base, src, disk, args } = await setup('journal');
    // The whole run's windows are recorded in the index, each with its journal lines in one entry;
    // the kill comes as the first part of the journal is about to be written (the run's close).
    const killed = await agent(args('backup'), { env: { HOKAN_CRASH_AT: 'before-journal:1' } });
    expect(killed.signal).toBe('SIGKILL');
    const runsDir = join(disk, 'job', '.hokan', 'runs');
    const [killedRun] = readdirSync(runsDir);
    expect(readdirSync(join(runsDir, killedRun!)).filter((n) => n.startsWith('changes-'))).toEqual([]);

    const next = await agent(args('backup', '--json'));
    expect(next.code, next.stderr).toBe(0);
    const [run] = JSON.parse(next.stdout);
    expect(run.counts).toMatchObject({ uploaded: 0, unchanged: FILES });
    // Every line the killed run's windows recorded, written as its recovered part.
    const recovered = readFileSync(join(runsDir, killedRun!, 'changes-r0001.jsonl'), 'utf8').trimEnd().split('\n');
    expect(recovered.filter((l) => l.startsWith('{"op":"put"')).length).toBe(FILES + 6); // the files and their six folders

    // The target is the truth: without the index, the journal alone gives the whole tree back.
    await rm(join(base, 'data'), { recursive: true, force: true });
    const to = join(base, 'restored');
    const restored = await agent(args('restore', '--job', 'job', '--to', to));
    expect(restored.code, restored.stderr).toBe(0);
    expect(await digestTree(join(to, 'src'))).toEqual(await digestTree(src));
  });
});

describe('kill -9 during a restore', () => {
  for (const at of [1, FILES / 2]) {
    it(`after ${at} of ${FILES} files: the next restore completes byte-identical`, async () => {
      const { base, src, args } = await setup(`restore-${at}`);
      expect((await agent(args('backup'))).code).toBe(0);
      const to = join(base, 'restored');
      await killWhen(args('restore', '--job', 'job', '--to', to), () => countFiles(join(to, 'src')), at);
      const again = await agent(args('restore', '--job', 'job', '--to', to, '--json'));
      expect(again.code).toBe(0);
      const { run } = JSON.parse(again.stdout);
      expect(run.counts.restored + run.counts.unchanged).toBe(FILES);
      expect(await digestTree(to)).toEqual(Object.fromEntries(Object.entries(await digestTree(src)).map(([k, v]) => [`src/${k}`, v])));
      const history = JSON.parse((await agent(args('history', '--json', '--kind', 'restore'))).stdout);
      expect(history.runs.map((r: { status: string }) => r.status)).toEqual(['completed', 'interrupted']);
    });
  }
});
