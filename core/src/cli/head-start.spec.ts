import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stopHeadStart, takeHeadStartOf, walkSpec } from '../node/scan/scanner.js';
import { endHeadStart, headStart, saveHeadStart } from './head-start.js';

let dir: string;
let hintFile: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hokan-head-start-'));
  mkdirSync(join(dir, 'data', 'cache'), { recursive: true });
  writeFileSync(join(dir, 'config.json'), '{}');
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'a.txt'), 'a');
  hintFile = join(dir, 'data', 'cache', 'head-start.json');
});
afterEach(async () => {
  await stopHeadStart();
  rmSync(dir, { recursive: true, force: true });
});

const argv = (...extra: string[]) => ['backup', '--config', join(dir, 'config.json'), '--data-dir', join(dir, 'data'), ...extra];
const env = { HOKAN_CONFIG: '', HOKAN_DATA_DIR: '' };
const root = () => ({ name: 'src', path: join(dir, 'src') });
const opts = { filters: { exclude: ['*.tmp'] }, followSymlinks: false };
const hints = () => (JSON.parse(readFileSync(hintFile, 'utf8')) as { walks: [string, { root: { path: string } }][] }).walks;

describe('head start hints (<data>/cache/head-start.json)', () => {
  it('a saved walk is started by the next same command line, and by no other', async () => {
    await headStart(argv(), env, dir);
    saveHeadStart(walkSpec(root(), opts));
    expect(hints()).toHaveLength(1);

    await headStart(argv('--dry-run'), env, dir); // another command line
    expect(takeHeadStartOf(root(), opts)).toBeUndefined();
    await headStart(argv(), env, dir);
    const w = takeHeadStartOf(root(), opts);
    expect(w?.headStart).toBe(true);
    await w!.close();
  });

  it('the cache folder is made if it is missing', async () => {
    rmSync(join(dir, 'data', 'cache'), { recursive: true });
    await headStart(argv(), env, dir);
    saveHeadStart(walkSpec(root(), opts));
    expect(hints()).toHaveLength(1);
  });

  it('a damaged hint file starts nothing and is replaced by the next save', async () => {
    writeFileSync(hintFile, '{"v":1,"walks":[["x"');
    await expect(headStart(argv(), env, dir)).resolves.toBeUndefined();
    expect(takeHeadStartOf(root(), opts)).toBeUndefined();
    saveHeadStart(walkSpec(root(), opts));
    expect(hints().map(([, w]) => w.root.path)).toEqual([root().path]);
  });

  it('keeps the last 8 command lines; a small tree (no walk) forgets its own', async () => {
    for (let i = 0; i < 10; i++) {
      await headStart(argv(`job${i}`), env, dir);
      saveHeadStart(walkSpec(root(), opts));
    }
    expect(hints().map(([k]) => /job(\d)/.exec(k)![1])).toEqual(['2', '3', '4', '5', '6', '7', '8', '9']);
    await headStart(argv('job5'), env, dir);
    saveHeadStart(undefined);
    expect(hints().map(([k]) => /job(\d)/.exec(k)![1])).toEqual(['2', '3', '4', '6', '7', '8', '9']);
    await endHeadStart(); // the head start of job5 that no walk took is stopped
    expect(takeHeadStartOf(root(), opts)).toBeUndefined();
  });

  it('not a backup: nothing is started or saved', async () => {
    await headStart(argv(), env, dir);
    saveHeadStart(walkSpec(root(), opts));
    rmSync(hintFile);
    await headStart(['history', '--config', join(dir, 'config.json'), '--data-dir', join(dir, 'data')], env, dir);
    saveHeadStart(walkSpec(root(), opts));
    expect(() => readFileSync(hintFile)).toThrow(/ENOENT/);
  });
});
