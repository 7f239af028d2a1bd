import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FilterConfig, HokanConfig, JobConfig, SourceConfig } from '../../common/config-types.js';
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
const walk = async (sources: SourceConfig[], platform?: NodeJS.Platform) => {
  const files: string[] = [];
  const t = await walkSources(sources, { presets }, undefined, { platform, onFile: (e) => files.push(`${e.root.name}/${e.rel}`) });
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

describe('sources whose paths differ only in case: one folder on Windows and macOS, two on Linux', () => {
  // The same folder spelled otherwise: only the case of the home's own name and below differs.
  const respell = (p: string) => join(dirname(home), basename(home).toUpperCase(), p.slice(home.length + 1).toLowerCase());
  const allDocs = ['Documents/a.docx', 'Documents/b.jpg', 'Documents/deep/c.DOCX', 'Documents/logs/today.log', 'Documents/logs/x.docx', 'Documents/run.log'];

  it('macOS: a preset and a path on one folder spelled in two cases are one root; each file once, the path explicit', async () => {
    const other = respell(docs);
    expect(other).not.toBe(docs);
    const r = await walk([{ preset: 'docs' }, { path: other }], 'darwin');
    expect(r.roots.map((x) => [x.path, x.members])).toEqual([[docs, [{ base: '' }]]]);
    expect(r.files).toEqual(allDocs); // the path takes the logs the preset leaves out
    expect(r.count).toBe(6);
  });

  it('macOS: a path inside, spelled in another case, is a member under the name the disk has', async () => {
    const r = await walk([{ preset: 'docs' }, { path: respell(join(docs, 'logs')).replace(/logs$/, 'LOGS') }], 'darwin');
    expect(r.roots.map((x) => [x.path, x.members])).toEqual([[docs, [{ base: 'logs' }]]]);
    expect(r.files).toEqual(allDocs.filter((f) => f !== 'Documents/run.log'));
  });

  it('Windows: C:\\Users\\Taro\\Documents and c:\\users\\taro\\documents\\Work are one root (Windows paths, resolved on any machine)', async () => {
    const job = { id: 'j', sources: [{ path: 'C:\\Users\\Taro\\Documents' }, { path: 'c:\\users\\taro\\documents\\Work', exclude: ['*.tmp'] }, { path: 'c:\\users\\taro\\Pictures' }, { path: 'C:\\USERS\\TARO\\documents' }], targets: [], filters: {} } as unknown as JobConfig;
    const roots = await resolveRoots(job, { presets: {}, targets: { usb: { type: 'hdd', path: 'c:\\users\\taro\\documents\\Backup' } } } as unknown as HokanConfig, undefined, { platform: 'win32' });
    expect(roots).toEqual([
      { name: 'Documents', path: 'C:\\Users\\Taro\\Documents', members: [{ base: '' }, { base: 'Work', exclude: ['*.tmp'] }], skip: ['Backup'] },
      { name: 'Pictures', path: 'c:\\users\\taro\\Pictures' },
    ]);
  });

  it('Linux: Documents and documents are two folders, both taken, each with its own rules', async () => {
    const two = mkdtempSync(join(tmpdir(), 'hokan-sources-case-'));
    try {
      for (const rel of ['Documents/a.log', 'Documents/a.txt', 'documents/b.log']) {
        mkdirSync(dirname(join(two, rel)), { recursive: true });
        writeFileSync(join(two, rel), rel);
      }
      const files: string[] = [];
      const t = await walkSources([{ path: join(two, 'Documents'), exclude: ['*.log'] }, { path: join(two, 'documents') }], { presets: {} }, undefined, { platform: 'linux', onFile: (e) => files.push(`${e.root.name}/${e.rel}`) });
      expect(t.roots.map((r) => [r.name, r.members])).toEqual([['Documents', undefined], ['documents', undefined]]);
      expect(files.sort()).toEqual(['Documents/a.txt', 'documents/b.log']);
      // The same two spellings on macOS: one folder (its first spelling), the rules of both.
      const mac = await resolveRoots({ id: 'j', sources: [{ path: join(two, 'Documents'), exclude: ['*.log'] }, { path: join(two, 'documents') }], targets: [], filters: {} } as unknown as JobConfig, { presets: {} } as unknown as HokanConfig, undefined, { platform: 'darwin' });
      expect(mac.map((r) => [r.name, r.members])).toEqual([['Documents', [{ base: '' }]]]);
    } finally {
      rmSync(two, { recursive: true, force: true });
    }
  });

  it('a target folder inside a source spelled in another case is skipped on macOS (as the disk spells it), not on Linux', async () => {
    mkdirSync(join(docs, 'backup-disk'), { recursive: true });
    try {
      const job = { id: 'j', sources: [{ path: docs }], targets: [], filters: {} } as unknown as JobConfig;
      const config = { presets: {}, targets: { usb: { type: 'hdd', path: join(respell(docs), 'BACKUP-DISK') } } } as unknown as HokanConfig;
      expect((await resolveRoots(job, config, undefined, { platform: 'darwin' }))[0]!.skip).toEqual(['backup-disk']);
      expect((await resolveRoots(job, config, undefined, { platform: 'linux' }))[0]!.skip).toBeUndefined();
    } finally {
      rmSync(join(docs, 'backup-disk'), { recursive: true, force: true });
    }
  });
});

describe('the filters follow the platform\'s case rules through the walk', () => {
  it('Windows and macOS leave out REPORT.TMP, THUMBS.DB and Desktop.ini by `*.tmp`, `Thumbs.db`, `desktop.ini` and take Docs by `docs/**`; Linux keeps case', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hokan-sources-nocase-'));
    try {
      for (const rel of ['Docs/REPORT.TMP', 'Docs/report.docx', 'Docs/THUMBS.DB', 'Desktop.ini', 'keep.txt', 'Other/a.txt']) {
        mkdirSync(dirname(join(dir, rel)), { recursive: true });
        writeFileSync(join(dir, rel), rel);
      }
      const cfg = { presets: { p: { folders: [dir], exclude: ['Thumbs.db', 'desktop.ini'] } } };
      const walkOn = async (platform: NodeJS.Platform, filters: FilterConfig) => {
        const files: string[] = [];
        await walkSources([{ preset: 'p' }], cfg, undefined, { platform, filters, onFile: (e) => files.push(e.rel) });
        return files.sort();
      };
      for (const platform of ['win32', 'darwin'] as const) {
        expect(await walkOn(platform, { exclude: ['*.tmp'] })).toEqual(['Docs/report.docx', 'Other/a.txt', 'keep.txt']);
        expect(await walkOn(platform, { include: ['docs/**'] })).toEqual(['Docs/REPORT.TMP', 'Docs/report.docx']);
      }
      expect(await walkOn('linux', { exclude: ['*.tmp'] })).toEqual(['Desktop.ini', 'Docs/REPORT.TMP', 'Docs/THUMBS.DB', 'Docs/report.docx', 'Other/a.txt', 'keep.txt']);
      expect(await walkOn('linux', { include: ['docs/**'] })).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
