import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent } from './helpers/agent.js';

let base: string;
let home: string;
let config: string;
const GAMES_PLUGIN = join(dirname(new URL(import.meta.url).pathname), 'fixtures', 'games-preset-plugin');

const HOME_FILES = [
  'Pictures/a.jpg',
  'Pictures/trip/b.PNG',
  'Pictures/trip/Thumbs.db',
  'Pictures/.thumbnails/normal/t.png',
  'Pictures/edit.tmp',
  'Documents/report.docx',
  'Documents/scan.jpg',
  'Documents/ledger.KD18',
  'Documents/~$report.docx',
  'Documents/draft.tmp',
  'Documents/scratch/a.tmp',
  'Documents/scratch/b.txt',
  'Desktop/plan.xlsx',
  'Desktop/photo.jpg',
  'Desktop/app.lnk',
  'Work/budget.xlsb',
  'Work/drafts/old.docx',
  'Work/readme.md',
  'Saves/slot1.sav',
  'Saves/slot1.png',
  'Saves/autosave/auto.sav',
];

/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

const run = (...args: string[]) => agent([...args, '--config', config, '--data-dir', join(base, 'data')], { cwd: base, env: { HOME: home, XDG_CONFIG_HOME: '', HOKAN_CONFIG: '', HOKAN_DATA_DIR: '' } });

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'hokan-presets-cli-'));
  home = join(base, 'home');
  for (const rel of HOME_FILES) {
    await mkdir(dirname(join(home, rel)), { recursive: true });
    await writeFile(join(home, rel), `${rel}\n`);
  }
  await mkdir(join(base, 'usb'));
  config = join(base, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      device: 'test-pc',
      plugins: ['@hokan/target-hdd', '@hokan/category-presets', GAMES_PLUGIN],
      targets: { usb: { type: 'hdd', path: join(base, 'usb') } },
      presets: { 'work-office': { title: 'Office files at work', extends: 'office', folders: ['~/Work'], exclude: ['drafts/'] } },
      jobs: [
        { id: 'pics', sources: [{ preset: 'pictures' }], targets: ['usb'] },
        { id: 'mix', sources: [{ preset: 'documents' }, { preset: 'office' }, { path: '~/Documents/scratch' }], targets: ['usb'] },
        { id: 'own', sources: [{ preset: 'work-office' }, { preset: 'saves' }], targets: ['usb'] },
      ],
    }),
  );
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('a preset source backed up on an hdd target and restored', () => {
  it('{ "preset": "pictures" } backs up exactly the Pictures files (no thumbnails, no temporary files) and restores exactly them', async () => {
    const b = await run('backup', 'pics', '--json');
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)[0]).toMatchObject({ status: 'completed', counts: { uploaded: 2, failed: 0 } });
    const to = join(base, 'out-pics');
    const r = await run('restore', '--job', 'pics', '--to', to);
    expect(r.code, r.stderr).toBe(0);
    expect(await filesUnder(to)).toEqual(['Pictures/a.jpg', 'Pictures/trip/b.PNG']);
    expect(await readFile(join(to, 'Pictures/trip/b.PNG'), 'utf8')).toBe('Pictures/trip/b.PNG\n');
  });

  it('two presets and a path on one folder: each file once; the explicit path wins over the presets\' excludes', async () => {
    const b = await run('backup', 'mix', '--json');
    expect(b.code, b.stderr).toBe(0);
    const rec = JSON.parse(b.stdout)[0];
    // Documents (documents ∪ office ∪ scratch): report.docx, scan.jpg, ledger.KD18, scratch/a.tmp, scratch/b.txt; Desktop (office): plan.xlsx.
    expect(rec).toMatchObject({ status: 'completed', counts: { seen: 6, uploaded: 6, failed: 0 } });
    const to = join(base, 'out-mix');
    expect((await run('restore', '--job', 'mix', '--to', to)).code).toBe(0);
    expect(await filesUnder(to)).toEqual(['Desktop/plan.xlsx', 'Documents/ledger.KD18', 'Documents/report.docx', 'Documents/scan.jpg', 'Documents/scratch/a.tmp', 'Documents/scratch/b.txt']);
    // One top-level folder per folder on the target: nothing twice.
    expect((await readdir(join(base, 'usb', 'mix'))).filter((n) => !n.startsWith('.')).sort()).toEqual(['Desktop', 'Documents']);
  });

  it('a user-defined preset extending a built-in one, and a preset contributed by another plugin', async () => {
    const b = await run('backup', 'own', '--json');
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)[0]).toMatchObject({ status: 'completed', counts: { uploaded: 5, failed: 0 } });
    const to = join(base, 'out-own');
    expect((await run('restore', '--job', 'own', '--to', to)).code).toBe(0);
    expect(await filesUnder(to)).toEqual(['Desktop/plan.xlsx', 'Documents/report.docx', 'Documents/scratch/b.txt', 'Saves/slot1.sav', 'Work/budget.xlsb']);
  });
});

describe('agent presets list / show', () => {
  it('list names the built-in presets, the user\'s and the other plugin\'s, with the folders that exist here', async () => {
    const r = await run('presets', 'list', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.config).toBe(config);
    const by = Object.fromEntries(out.presets.map((p: { name: string }) => [p.name, p]));
    expect(Object.keys(by).sort()).toEqual(['bookmarks', 'desktop', 'documents', 'ebooks', 'finance', 'mail', 'music', 'office', 'pictures', 'saves', 'videos', 'work-office']);
    expect(by.pictures).toMatchObject({ title: 'Pictures', titles: { ja: '画像ファイル' }, folders: [join(home, 'Pictures')], from: '@hokan/category-presets' });
    expect(by.music).toMatchObject({ folders: [], missing: [join(home, 'Music')] });
    expect(by['work-office']).toMatchObject({ from: 'config.json', extends: 'office', folders: [join(home, 'Desktop'), join(home, 'Documents'), join(home, 'Work')] });
    expect(by['work-office'].extensions).toHaveLength(96);
    expect(by.saves).toMatchObject({ from: 'hokan-plugin-games', title: 'Saved games', extensions: ['sav'] });
    const human = await run('presets', 'list');
    expect(human.stdout).toContain('pictures — Pictures (画像ファイル)');
    expect(human.stdout).toContain(`folders here: ${join(home, 'Pictures')}`);
  });

  it('show pictures --json: folders, extensions, excludes, files and bytes — what the backup took', async () => {
    const r = await run('presets', 'show', 'pictures', '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ name: 'pictures', folders: [join(home, 'Pictures')], extensions: [], files: 2, bytes: 'Pictures/a.jpg\n'.length + 'Pictures/trip/b.PNG\n'.length });
    expect(s.excludes).toEqual(expect.arrayContaining(['Thumbs.db', '*.tmp', '.thumbnails/']));
    const f = JSON.parse((await run('presets', 'show', 'office', '--files', '--json')).stdout);
    expect(f.extensions).toHaveLength(96);
    expect(f.list.sort()).toEqual([join(home, 'Desktop/plan.xlsx'), join(home, 'Documents/report.docx'), join(home, 'Documents/scratch/b.txt')]);
    expect(f.files).toBe(3);
  });

  it('a name that is no preset is bad usage, with a suggestion', async () => {
    const r = await run('presets', 'show', 'picture');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown preset 'picture'");
    expect(r.stderr).toContain("did you mean 'pictures'?");
  });

  it('a user preset extending an unknown preset is a config error with its place', async () => {
    const bad = join(base, 'bad.json');
    await writeFile(bad, JSON.stringify({ targets: {}, jobs: [], presets: { mine: { extends: 'ofice' } } }, null, 2));
    const r = await agent(['config', 'validate', '--config', bad], { cwd: base, env: { HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/presets\.mine\.extends.*extends unknown preset 'ofice'/);
    expect(r.stderr).toContain("did you mean 'office'?");
  });
});

describe('before any config exists', () => {
  const bare = (...args: string[]) => agent(args, { cwd: join(base, 'empty'), env: { HOME: join(base, 'empty-home'), XDG_CONFIG_HOME: '', HOKAN_CONFIG: '', HOKAN_DATA_DIR: join(base, 'empty-data') } });
  beforeAll(async () => {
    await mkdir(join(base, 'empty'));
    await mkdir(join(base, 'empty-home', 'Pictures'), { recursive: true });
    await writeFile(join(base, 'empty-home', 'Pictures', 'x.jpg'), 'x');
  });

  it('presets list and show work and say where a config would be read from', async () => {
    const l = await bare('presets', 'list');
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain(`no config yet: a config would be read from ${join(base, 'empty', 'config.json')} (current folder), then ${join(base, 'empty-home', '.config', 'hokan', 'config.json')}`);
    expect(l.stdout).toContain('office — Office files');
    const s = await bare('presets', 'show', 'pictures', '--json');
    expect(s.code, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ folders: [join(base, 'empty-home', 'Pictures')], files: 1, bytes: 1 });
  });

  it('plugins list (and --json) lists the built-in plugins, exit 0', async () => {
    const j = await bare('plugins', 'list', '--json');
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout).map((p: { id: string }) => p.id)).toEqual(['target-hdd', 'target-s3', 'target-azure', 'target-nas', 'notify-smtp', 'category-presets']);
    expect(j.stderr).toContain('no config yet');
    const h = await bare('plugins', 'list');
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('no config yet: a config would be read from');
    expect(h.stdout).toContain('contributes presets: documents, desktop');
  });
});

describe('agent init offers presets', () => {
  it('--preset (repeated or comma-separated) writes preset sources into a starter config that validates', async () => {
    const f = join(base, 'init', 'config.json');
    const r = await agent(['init', '--config', f, '--target-path', join(base, 'usb-init'), '--preset', 'documents,pictures', '--preset', 'office', '--source', join(home, 'Work'), '--device', 'pc'], { cwd: base, env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(f, 'utf8');
    expect(text).toContain('{ "preset": "documents" },\n        { "preset": "pictures" },\n        { "preset": "office" },\n        { "path": ');
    const v = await agent(['config', 'show', '--config', f, '--json'], { cwd: base, env: { HOME: home } });
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).jobs[0].sources).toEqual([{ preset: 'documents' }, { preset: 'pictures' }, { preset: 'office' }, { path: join(home, 'Work') }]);
  });

  it('an unknown preset is refused with a suggestion, and nothing is written', async () => {
    const f = join(base, 'init2', 'config.json');
    const r = await agent(['init', '--config', f, '--target-path', join(base, 'usb-init'), '--preset', 'picture'], { cwd: base, env: { HOME: home } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown preset 'picture'");
    expect(r.stderr).toContain("did you mean 'pictures'?");
    await expect(readFile(f, 'utf8')).rejects.toThrow(/ENOENT/);
  });
});
