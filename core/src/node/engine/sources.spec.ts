import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { HokanConfig, JobConfig, SourceConfig } from '../../common/config-types.js';
import { resolvePresetByName, resolveRoots } from './sources.js';
import { walkSources } from './source-walk.js';

const home = mkdtempSync(join(tmpdir(), 'hokan-sources-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
for (const rel of ['.app/profile/data.db', '.app/profile/Cache/x', '.other/secret', 'Documents/a.docx', 'Documents/b.jpg', 'Documents/run.log', 'Documents/logs/today.log', 'Documents/logs/x.docx', 'Documents/deep/c.DOCX', 'Pictures/p.jpg', 'notes.txt']) {
  mkdirSync(dirname(join(home, rel)), { recursive: true });
  writeFileSync(join(home, rel), rel);
}
const docs = join(home, 'Documents');
const presets: HokanConfig['presets'] = {
  docs: { folders: [docs], exclude: ['*.log'] },
  officeish: { folders: [docs, join(home, 'Desktop')], extensions: ['docx'] },
  pics: { folders: [join(home, 'Pictures')] },
  more: { extends: 'officeish', extensions: ['jpg'], folders: [join(home, 'Pictures')] },
  loopA: { extends: 'loopB' },
  loopB: { extends: 'loopA' },
};
const walk = async (sources: SourceConfig[]) => {
  const files: string[] = [];
  const t = await walkSources(sources, { presets }, undefined, { onFile: (e) => files.push(`${e.root.name}/${e.rel}`) });
  return { roots: t.roots, files: files.sort(), count: t.files };
};

describe('sources of one job that overlap are walked once (resolveRoots + the union of filters)', () => {
  it('two presets on one folder: one root, each file once, selected by either', async () => {
    const r = await walk([{ preset: 'officeish' }, { preset: 'docs' }]);
    expect(r.roots.map((x) => x.path)).toEqual([docs]); // Desktop does not exist here: left out
    expect(r.files).toEqual(['Documents/a.docx', 'Documents/b.jpg', 'Documents/deep/c.DOCX', 'Documents/logs/x.docx'].sort());
    expect(r.count).toBe(4);
  });

  it('an explicit path wins over an enclosing preset\'s excludes; the preset\'s rules still hold elsewhere', async () => {
    const r = await walk([{ preset: 'docs' }, { path: join(docs, 'logs') }]);
    expect(r.roots).toHaveLength(1);
    expect(r.roots[0]!.members).toEqual([{ base: 'logs' }]);
    expect(r.files).toEqual(['Documents/a.docx', 'Documents/b.jpg', 'Documents/deep/c.DOCX', 'Documents/logs/today.log', 'Documents/logs/x.docx'].sort());
  });

  it('a path around an extension preset: the path\'s files and the preset\'s, each once, under the outer root', async () => {
    const r = await walk([{ preset: 'officeish' }, { path: home, exclude: ['Documents/'] }]);
    expect(r.roots.map((x) => x.path)).toEqual([home]);
    const name = r.roots[0]!.name;
    expect(r.files).toEqual([`${name}/Documents/a.docx`, `${name}/Documents/deep/c.DOCX`, `${name}/Documents/logs/x.docx`, `${name}/Pictures/p.jpg`, `${name}/notes.txt`].sort());
  });

  it('a hidden folder named by a member is taken inside a root that leaves hidden files out; other hidden folders stay out', async () => {
    const cfg = { ...presets, app: { folders: [join(home, '.app', 'profile')], exclude: ['Cache/'] } };
    const files: string[] = [];
    const t = await walkSources([{ path: home, include: ['notes.txt'] }, { preset: 'app' }], { presets: cfg }, undefined, { onFile: (e) => files.push(e.rel) });
    expect(t.roots.map((r) => r.path)).toEqual([home]);
    expect(files.sort()).toEqual(['.app/profile/data.db', 'notes.txt']);
  });

  it('a member that names one file takes that file', async () => {
    const files: string[] = [];
    await walkSources([{ preset: 'docs' }, { path: join(docs, 'run.log') }], { presets }, undefined, { onFile: (e) => files.push(e.rel) });
    expect(files.sort()).toEqual(['a.docx', 'b.jpg', 'deep/c.DOCX', 'logs/x.docx', 'run.log']);
  });

  it('separate folders stay separate roots, named as before', async () => {
    const r = await walk([{ preset: 'pics' }, { preset: 'docs' }]);
    expect(r.roots.map((x) => x.name)).toEqual(['Pictures', 'Documents']);
    expect(r.roots.every((x) => x.members === undefined)).toBe(true);
  });
});

describe('user presets', () => {
  it('"extends" adds folders, extensions and excludes to the base', async () => {
    const res = await resolvePresetByName('more', { presets }, undefined);
    expect(res.extensions).toEqual(['docx', 'jpg']);
    expect(res.folders).toEqual([docs, join(home, 'Desktop'), join(home, 'Pictures')]);
    const r = await walk([{ preset: 'more' }]);
    expect(r.files).toEqual(['Documents/a.docx', 'Documents/b.jpg', 'Documents/deep/c.DOCX', 'Documents/logs/x.docx', 'Pictures/p.jpg'].sort());
  });

  it('"extends" a plugin\'s preset of the same name, and circles are refused', async () => {
    const cfg = { presets: { office: { extends: 'office', folders: [join(home, 'Pictures')] } } };
    const res = await resolvePresetByName('office', cfg, async (n) => ({ folders: [docs], extensions: [`${n}-ext`] }));
    expect(res).toMatchObject({ folders: [docs, join(home, 'Pictures')], extensions: ['office-ext'] });
    await expect(resolvePresetByName('loopA', { presets }, undefined)).rejects.toThrow(/circle: loopA → loopB → loopA/);
  });

  it('a preset no one provides is a config error naming the job', async () => {
    const job = { id: 'j', sources: [{ preset: 'nope' }], targets: [], filters: {} } as unknown as JobConfig;
    await expect(resolveRoots(job, { presets: {} } as unknown as HokanConfig)).rejects.toThrow(/job "j" uses preset "nope", which no plugin provides/);
  });
});
