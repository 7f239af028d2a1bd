import { describe, expect, it } from 'vitest';
import type { FilterConfig } from '../../common/config-types.js';
import type { SourceRoot } from '../../common/model.js';
import { compileFilters, type CompiledFilters, type DirState } from './filters.js';

const root: SourceRoot = { name: 'work', path: '/src/work' };

/** Walks the folders of `rel` through `dir()` like the scanner does; the reason if one prunes. */
function stateFor(f: CompiledFilters, relDir: string): DirState | string {
  let st = f.rootState;
  if (relDir === '') return st;
  const parts = relDir.split('/');
  for (let i = 0; i < parts.length; i++) {
    const d = f.dir(parts.slice(0, i + 1).join('/'), parts[i]!, st);
    if (d.prune !== undefined) return `pruned ${parts.slice(0, i + 1).join('/')}: ${d.prune}`;
    st = d.state;
  }
  return st;
}

/** The scanner's verdict for a file at `rel`: null = backed up, else the reason. */
function verdict(f: CompiledFilters, rel: string, size = 10, mtimeMs = Date.now()): string | null {
  const i = rel.lastIndexOf('/');
  const st = stateFor(f, i < 0 ? '' : rel.slice(0, i));
  if (typeof st === 'string') return st;
  return f.file(rel, rel.slice(i + 1), st, size, mtimeMs);
}

const kept = (cfg: FilterConfig, rels: string[], r: SourceRoot = root) => {
  const f = compileFilters(cfg, r);
  return rels.filter((rel) => verdict(f, rel) === null);
};

describe('compileFilters', () => {
  it('excludes hidden files and prunes hidden folders by default; hidden: true keeps them', () => {
    const f = compileFilters({}, root);
    expect(verdict(f, '.bashrc')).toBe('hidden');
    expect(verdict(f, 'a/.DS_Store')).toBe('hidden');
    expect(f.dir('.git', '.git', f.rootState)).toEqual({ prune: 'hidden' });
    expect(verdict(f, 'a/b.txt')).toBeNull();
    expect(verdict(f, 'a.b/c')).toBeNull();
    const g = compileFilters({ hidden: true }, root);
    expect(verdict(g, '.bashrc')).toBeNull();
    expect(verdict(g, '.git/config')).toBeNull();
  });

  it('exclude globs prune folders (node_modules) and match files; slash-less globs match at any depth', () => {
    const f = compileFilters({ exclude: ['**/node_modules/**', '*.tmp', 'build/'] }, { ...root, exclude: ['cache'] });
    expect(f.dir('node_modules', 'node_modules', f.rootState).prune).toBe('excluded by **/node_modules/**');
    expect(verdict(f, 'app/node_modules/x/index.js')).toBe('pruned app/node_modules: excluded by **/node_modules/**');
    expect(verdict(f, 'a/b/c.tmp')).toBe('excluded by *.tmp');
    expect(verdict(f, 'c.tmp')).toBe('excluded by *.tmp');
    expect(verdict(f, 'x/cache/y')).toMatch(/^pruned x\/cache: excluded by cache/);
    // `build/` matches folders only
    expect(verdict(f, 'build/out.js')).toMatch(/^pruned build/);
    expect(verdict(f, 'build')).toBeNull();
    expect(verdict(f, 'src/main.ts')).toBeNull();
  });

  it('include globs: only matching files; folders descended only when they could hold a match', () => {
    const f = compileFilters({ include: ['docs/**/*.md', 'src/*/index.ts'] }, root);
    expect(verdict(f, 'docs/a.md')).toBeNull();
    expect(verdict(f, 'docs/x/y/z.md')).toBeNull();
    expect(verdict(f, 'docs/a.txt')).toBe('not in include list');
    expect(verdict(f, 'src/app/index.ts')).toBeNull();
    expect(f.dir('other', 'other', f.rootState)).toEqual({ prune: 'not in include list' });
    const src = f.dir('src', 'src', f.rootState);
    expect(src.state).toBeDefined();
    const app = f.dir('src/app', 'app', src.state!);
    expect(app.state).toBeDefined();
    // src/app/deep cannot hold `src/*/index.ts`
    expect(f.dir('src/app/deep', 'deep', app.state!)).toEqual({ prune: 'not in include list' });
    expect(verdict(f, 'readme.md')).toBe('not in include list');
  });

  it('a folder matching an include glob includes everything beneath it', () => {
    const f = compileFilters({ include: ['photos/*'] }, root);
    expect(verdict(f, 'photos/2024/a/b.jpg')).toBeNull();
    expect(verdict(f, 'music/a.mp3')).toMatch(/^pruned music/);
  });

  it('job-level and source-level includes must both agree; excludes add up', () => {
    const r = { ...root, include: ['docs/**'], exclude: ['**/draft*'] };
    expect(kept({ include: ['**/*.pdf'], exclude: ['**/old/**'] }, ['docs/a.pdf', 'docs/a.txt', 'a.pdf', 'docs/old/b.pdf', 'docs/draft1.pdf'], r)).toEqual(['docs/a.pdf']);
  });

  it('extension lists: include-only (job and preset), exclude; case-insensitive, dot optional, multi-part', () => {
    expect(kept({ extensions: ['pdf', '.DOCX', 'tar.gz'] }, ['a.PDF', 'b.docx', 'c.txt', 'd.tar.gz', 'e.gz', 'pdf', '.pdf'])).toEqual(['a.PDF', 'b.docx', 'd.tar.gz']);
    expect(kept({ hidden: true, excludeExtensions: ['exe', 'TMP'] }, ['a.exe', 'b.Tmp', 'c.txt', 'exe'])).toEqual(['c.txt', 'exe']);
    const preset: SourceRoot = { ...root, extensions: ['jpg', 'png'], preset: 'pictures' };
    expect(kept({}, ['a.jpg', 'b.PNG', 'c.pdf', 'x/d.jpg'], preset)).toEqual(['a.jpg', 'b.PNG', 'x/d.jpg']);
    expect(kept({ extensions: ['jpg', 'pdf'] }, ['a.jpg', 'b.png', 'c.pdf'], preset)).toEqual(['a.jpg']);
    expect(verdict(compileFilters({ extensions: ['pdf'] }, root), 'a.txt')).toBe('extension not in pdf');
    expect(verdict(compileFilters({ excludeExtensions: ['exe'] }, root), 'a.EXE')).toBe('extension exe excluded');
  });

  it('regular expressions over the relative path; an invalid one is a clear config error', () => {
    const f = compileFilters({ includeRegex: ['^src/', '\\.md$'], excludeRegex: ['(^|/)test_[^/]*$'] }, root);
    expect(verdict(f, 'src/a.ts')).toBeNull();
    expect(verdict(f, 'notes/b.md')).toBeNull();
    expect(verdict(f, 'lib/c.ts')).toBe('not matched by includeRegex');
    expect(verdict(f, 'src/test_a.ts')).toBe('matches (^|/)test_[^/]*$');
    // folders are never pruned by a regex
    expect(f.dir('lib', 'lib', f.rootState).state).toBeDefined();
    expect(() => compileFilters({ excludeRegex: ['ok', '(unclosed'] }, root, { where: 'jobs[0].filters' })).toThrow(
      /jobs\[0\]\.filters\.excludeRegex\[1\]: invalid regular expression "\(unclosed"/,
    );
    try {
      compileFilters({ includeRegex: ['['] }, root);
      expect.unreachable();
    } catch (e) {
      expect((e as { code?: string }).code).toBe('E_CONFIG');
    }
  });

  it('largerThan and modifiedBefore use the stat', () => {
    const f = compileFilters({ largerThan: '1MB', modifiedBefore: '2020-01-01' }, root);
    expect(f.usesStat).toBe(true);
    const jan1 = new Date(2020, 0, 1).getTime();
    expect(verdict(f, 'a', 1024 * 1024, jan1)).toBeNull();
    expect(verdict(f, 'a', 1024 * 1024 + 1, jan1)).toBe('larger than 1 MB');
    expect(verdict(f, 'a', 10, jan1 - 1)).toBe('modified before 2020/01/01 00:00:00');
    expect(compileFilters({ largerThan: 100 }, root).fileByStat('a', 101, 0)).toBe('larger than 100 B');
    expect(compileFilters({}, root).usesStat).toBe(false);
    expect(() => compileFilters({ largerThan: 'huge' }, root)).toThrow(/largerThan: invalid size "huge"/);
    expect(() => compileFilters({ modifiedBefore: 'last year' }, root)).toThrow(/modifiedBefore: invalid date/);
  });

  it('an exclusion does not apply to a path named explicitly in include', () => {
    const cfg: FilterConfig = {
      include: ['.config/app', 'notes/.todo', 'big.iso', '**/*.md'],
      exclude: ['.config/**', '**/*.iso', '**/secret/**'],
      excludeExtensions: ['iso'],
      largerThan: '1KB',
    };
    const f = compileFilters(cfg, root);
    expect(f.isExplicit('.config/app')).toBe(true);
    // the way to the explicit folder is walked, but nothing else there
    expect(verdict(f, '.config/app/settings.json')).toBeNull();
    expect(verdict(f, '.config/app/sub/x.json')).toBeNull();
    expect(verdict(f, '.config/other/x.json')).toMatch(/^pruned \.config\/other: excluded by \.config\/\*\*/);
    // beneath an explicit folder, a hidden file is still hidden, other excludes still apply
    expect(verdict(f, '.config/app/.cache')).toBe('hidden');
    expect(verdict(f, '.config/app/secret/k')).toMatch(/^pruned .*excluded by \*\*\/secret\/\*\*/);
    // explicit files escape hidden, exclude globs, extension lists and size
    expect(verdict(f, 'notes/.todo')).toBeNull();
    expect(verdict(f, 'big.iso', 10 * 1024 ** 3)).toBeNull();
    expect(verdict(f, 'other.iso')).toBe('excluded by **/*.iso');
    expect(verdict(f, 'other.txt')).toBe('not in include list');
    expect(verdict(f, 'a/b.md')).toBeNull();
    expect(verdict(f, 'a/b.md', 4096)).toBe('larger than 1 KB');
    expect(verdict(f, 'notes/.other.md')).toBe('hidden');
  });

  it('the root itself is exempt: a root that is a hidden folder is walked', () => {
    const f = compileFilters({}, { name: 'app', path: '/home/u/.config/app' });
    expect(verdict(f, 'settings.json')).toBeNull();
  });

  it('on Windows globs and literal paths match regardless of case; on Linux they keep it (more: filters-case.spec.ts)', () => {
    const f = compileFilters({ exclude: ['**/Thumbs.db'], include: ['Docs'] }, root, { platform: 'win32' });
    expect(verdict(f, 'docs/THUMBS.DB')).toBe('excluded by **/Thumbs.db');
    expect(verdict(f, 'DOCS/a.txt')).toBeNull();
    const g = compileFilters({ exclude: ['**/Thumbs.db'] }, root, { platform: 'linux' });
    expect(verdict(g, 'docs/THUMBS.DB')).toBeNull();
  });
});
