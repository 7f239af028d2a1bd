/**
 * The filters' case rules per platform: Windows and macOS ignore case (their file systems do),
 * Linux keeps it; extension lists ignore case everywhere. The platform is an input, so all three
 * are tested here on any machine.
 */
import { describe, expect, it } from 'vitest';
import type { FilterConfig } from '../../common/config-types.js';
import type { SourceRoot } from '../../common/model.js';
import { compileFilters, type CompiledFilters, type DirState } from './filters.js';

const root: SourceRoot = { name: 'home', path: '/src/home' };

/** The walk's verdict for a file at `rel` (its folders through `dir()` first): null = kept, else the reason. */
function verdict(f: CompiledFilters, rel: string): string | null {
  const parts = rel.split('/');
  let st: DirState = f.rootState;
  for (let i = 0; i < parts.length - 1; i++) {
    const d = f.dir(parts.slice(0, i + 1).join('/'), parts[i]!, st);
    if (d.prune !== undefined) return `pruned ${parts.slice(0, i + 1).join('/')}: ${d.prune}`;
    st = d.state;
  }
  return f.file(rel, parts[parts.length - 1]!, st, 10, Date.now());
}

const on = (platform: NodeJS.Platform, cfg: FilterConfig, r: SourceRoot = root) => {
  const f = compileFilters(cfg, r, { platform });
  return (rel: string) => verdict(f, rel);
};

// What the presets leave out (plugins/category-presets/presets/defaults.json), as a source's excludes.
const presetLike: SourceRoot = { ...root, exclude: ['Thumbs.db', 'desktop.ini', '*.tmp', '$RECYCLE.BIN/', 'Cache/', '~$*', '*/bookmarks'] };

describe.each(['win32', 'darwin'] as const)('on %s (case ignored)', (platform) => {
  it('exclude globs match whatever the case: `*.tmp` takes A.TMP, `Thumbs.db` takes THUMBS.DB', () => {
    const v = on(platform, { exclude: ['*.tmp', 'Thumbs.db'] });
    expect(v('A.TMP')).toBe('excluded by *.tmp');
    expect(v('deep/er/Report.Tmp')).toBe('excluded by *.tmp');
    expect(v('THUMBS.DB')).toBe('excluded by Thumbs.db');
    expect(v('photos/thumbs.db')).toBe('excluded by Thumbs.db');
    expect(v('a.tmp.txt')).toBeNull();
    expect(v('Thumbs.db.bak')).toBeNull();
  });

  it('a source\'s excludes (as a preset\'s): names, `*.ext`, folders only, picomatch names and paths', () => {
    const f = compileFilters({}, presetLike, { platform });
    const v = (rel: string) => verdict(f, rel);
    expect(v('Desktop.ini')).toBe('excluded by desktop.ini');
    expect(v('x/DESKTOP.INI')).toBe('excluded by desktop.ini');
    expect(v('notes.TMP')).toBe('excluded by *.tmp');
    expect(f.dir('$Recycle.Bin', '$Recycle.Bin', f.rootState)).toEqual({ prune: 'excluded by $RECYCLE.BIN/' });
    expect(f.dir('profile', 'profile', f.rootState).state).toBeDefined();
    expect(v('profile/cache/x')).toBe('pruned profile/cache: excluded by Cache/');
    expect(v('Cache')).toBeNull(); // `Cache/` is for folders only, whatever the case
    expect(v('Default/Bookmarks')).toBe('excluded by */bookmarks');
    expect(v('~$Report.docx')).toBe('excluded by ~$*');
    expect(v('Report.docx')).toBeNull();
  });

  it('include globs and literal paths match whatever the case: `docs/**` takes Docs/x', () => {
    const v = on(platform, { include: ['docs/**', 'Notes.txt'] });
    expect(v('Docs/x')).toBeNull();
    expect(v('DOCS/deep/y.md')).toBeNull();
    expect(v('notes.TXT')).toBeNull();
    expect(v('other/z')).toBe('pruned other: not in include list');
    const w = on(platform, { include: ['Src/*/index.ts'] });
    expect(w('src/app/INDEX.TS')).toBeNull();
    expect(w('src/app/deep/index.ts')).toBe('pruned src/app/deep: not in include list');
  });

  it('an explicit folder lifts the excludes that match it, whatever the case', () => {
    const v = on(platform, { hidden: true, exclude: ['.config/**'], include: ['.Config/App', 'docs/**'] });
    expect(v('.config/app/settings.json')).toBeNull();
    expect(v('.config/other/x')).toBe('pruned .config/other: excluded by .config/**');
  });

  it('sources merged into one root: each member\'s rules ignore case too', () => {
    const merged: SourceRoot = { ...root, members: [{ base: '' }, { base: 'Work', exclude: ['*.tmp'] }] };
    const v = on(platform, {}, merged);
    expect(v('Work/a.TMP')).toBeNull(); // the root's own source takes it
    const only: SourceRoot = { ...root, include: ['none'], members: [{ base: 'Work', exclude: ['*.tmp'] }] };
    const w = on(platform, {}, only);
    expect(w('Work/a.TMP')).toBe('excluded by *.tmp');
    expect(w('Work/a.txt')).toBeNull();
  });
});

describe('on linux (case kept)', () => {
  it('the same globs take only names spelled as written', () => {
    const v = on('linux', { exclude: ['*.tmp', 'Thumbs.db'] });
    expect(v('A.TMP')).toBeNull();
    expect(v('a.tmp')).toBe('excluded by *.tmp');
    expect(v('THUMBS.DB')).toBeNull();
    expect(v('x/Thumbs.db')).toBe('excluded by Thumbs.db');
    const f = compileFilters({}, presetLike, { platform: 'linux' });
    expect(verdict(f, 'Desktop.ini')).toBeNull();
    expect(verdict(f, 'Default/Bookmarks')).toBeNull();
    expect(f.dir('$Recycle.Bin', '$Recycle.Bin', f.rootState).state).toBeDefined();
    const i = on('linux', { include: ['docs/**', 'Notes.txt'] });
    expect(i('Docs/x')).toBe('pruned Docs: not in include list');
    expect(i('docs/x')).toBeNull();
    expect(i('notes.txt')).toBe('not in include list');
  });
});

describe('the platform', () => {
  it('is this machine\'s when not given', () => {
    const mine = compileFilters({ exclude: ['*.tmp'] }, root, { platform: process.platform });
    const unsaid = compileFilters({ exclude: ['*.tmp'] }, root);
    for (const rel of ['A.TMP', 'a.tmp', 'a.Tmp', 'b.txt']) expect(verdict(unsaid, rel)).toBe(verdict(mine, rel));
  });

  it('macOS also ignores Unicode normalization (APFS); Windows and Linux do not', () => {
    const nfc = 'caf\u00e9.txt';
    const nfd = 'CAFE\u0301.TXT';
    expect(on('darwin', { exclude: [nfc] })(nfd)).toBe(`excluded by ${nfc}`);
    expect(on('darwin', { exclude: ['Caf\u00e9*'] })(`x/${nfd}`)).toBe('excluded by Caf\u00e9*');
    expect(on('darwin', { include: ['caf\u00e9/**'] })('CAFE\u0301/a')).toBeNull();
    expect(on('win32', { exclude: [nfc] })(nfd)).toBeNull();
    expect(on('win32', { exclude: [nfc] })('CAF\u00c9.TXT')).toBe(`excluded by ${nfc}`);
    expect(on('linux', { exclude: [nfc] })(nfd)).toBeNull();
  });
});

describe.each(['linux', 'win32', 'darwin'] as const)('extension lists on %s', (platform) => {
  it('ignore case, as product.md says, on every OS', () => {
    expect(on(platform, { extensions: ['pdf', 'tar.gz'] })('A.PDF')).toBeNull();
    expect(on(platform, { extensions: ['pdf', 'tar.gz'] })('x/B.Tar.Gz')).toBeNull();
    expect(on(platform, { extensions: ['pdf'] })('a.txt')).toBe('extension not in pdf');
    expect(on(platform, { excludeExtensions: ['TMP'] })('a.tmp')).toBe('extension tmp excluded');
    expect(on(platform, { excludeExtensions: ['.tmp'] })('B.TMP')).toBe('extension tmp excluded');
    expect(on(platform, {}, { ...root, extensions: ['JPG'] })('p/IMG_1.jpg')).toBeNull();
  });
});
