/**
 * Differential test of the filters' case rules (docs/design.md "The rule for speed work": the
 * filters run for every file, and their glob tests were reshaped to fold each name once). On Linux
 * the compiled filters must decide exactly as before the change (test/fixtures/filters-before-nocase.ts)
 * over generated paths: every folder's prune reason, every file's verdict, the explicit paths.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FilterConfig } from '../core/src/common/config-types.js';
import type { SourceRoot } from '../core/src/common/model.js';
import { compileFilters, type CompiledFilters, type DirState } from '../core/src/node/scan/filters.js';
import { seededRandom } from '../core/src/testing/seeded-random.js';
import { ROOT } from './helpers.js';
import { compileFilters as compileBefore } from './fixtures/filters-before-nocase.js';

const defaults = JSON.parse(readFileSync(join(ROOT, 'plugins/category-presets/presets/defaults.json'), 'utf8')) as { exclude: string[]; profileExclude: string[] };
const base: SourceRoot = { name: 'home', path: '/home/u' };

/** Filter settings that reach every kind of glob test: names, `*.ext`, picomatch names and paths, folders only, includes, literals, lifted excludes, extensions, unions. */
const CASES: [string, FilterConfig, SourceRoot][] = [
  ['the presets\' default excludes', {}, { ...base, exclude: [...defaults.exclude, ...defaults.profileExclude] }],
  ['the same with hidden files', { hidden: true }, { ...base, exclude: [...defaults.exclude, ...defaults.profileExclude] }],
  ['includes (globs, literals, an explicit folder lifting an exclude)', { hidden: true, include: ['docs/**', 'Src/*/index.ts', 'notes.txt', '.config/app', 'Docs/Work'], exclude: ['.config/**', '*.TMP', 'node_modules/', '**/cache/**', 'Work/'] }, base],
  ['two include levels', { include: ['**/*.{md,txt}', 'Photos/*'] }, { ...base, include: ['*.md', 'Docs', 'docs/**/*.txt'] }],
  ['extension lists', { extensions: ['docx', 'tar.gz', 'md'], excludeExtensions: ['TMP', '.swp'] }, { ...base, extensions: ['md', 'DOCX', 'gz'] }],
  ['regular expressions and stat rules', { includeRegex: ['^[Dd]ocs/', '\\.md$'], excludeRegex: ['\\.lock$'], largerThan: '1KB', modifiedBefore: '2020-01-01' }, base],
  ['braces, extglobs, classes, deep paths', { exclude: ['*.{tmp,TMP}', '@(a|b)*.txt', '[A-Z]*.md', '**/Default/**/Bookmarks', 'docs/*/x*', '?.db', '*.+(part|PART)', 'x*/'] }, base],
  ['a union of overlapping sources', { exclude: ['*.part'] }, { ...base, include: ['notes.txt'], members: [{ base: 'Docs', exclude: ['*.tmp', 'Thumbs.db'], include: ['**/*.md', 'Work'] }, { base: 'profile/Default', exclude: ['Cache/'], extensions: ['db'] }, { base: 'docs', exclude: ['*.TMP'] }] }],
];

const FOLDERS = ['Docs', 'docs', 'DOCS', 'Work', 'work', 'src', 'Src', 'app', 'App', 'node_modules', 'Cache', 'cache', '.config', '.cache', '$RECYCLE.BIN', '$Recycle.Bin', '.Trash-1000', 'profile', 'Default', 'Photos', 'x1', '日本語', 'caf\u00e9', 'cafe\u0301', 'a b'];
const NAMES = ['Thumbs.db', 'THUMBS.DB', 'thumbs.db', 'desktop.ini', 'Desktop.ini', '~$doc.docx', '.~lock.a.odt#', 'lock', 'LOCK', 'parent.lock', '.DS_Store', 'index.ts', 'INDEX.TS', 'Bookmarks', 'bookmarks', '.tmp', 'x.', '.bashrc', 'notes.txt', 'NOTES.TXT', 'a.db', 'b.txt', 'xa.md', 'Work', 'SingletonLock'];
const EXTS = ['tmp', 'TMP', 'Tmp', 'txt', 'md', 'MD', 'db', 'lock', 'docx', 'DOCX', 'tar.gz', 'TAR.GZ', 'swp', 'part', 'ini', 'temp', 'crdownload', ''];
const CHARS = 'abcxyzABCXYZ019._-~$# é日';

/** `n` relative paths drawn from names that the globs above take, nearly take, or take in another case. */
function generate(n: number, seed: number): string[] {
  const rnd = seededRandom(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const word = () => Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => pick(CHARS)).join('');
  const out = new Set<string>();
  while (out.size < n) {
    const depth = Math.floor(rnd() * 5);
    const parts = Array.from({ length: depth }, () => (rnd() < 0.7 ? pick(FOLDERS) : word()));
    const r = rnd();
    const ext = pick(EXTS);
    parts.push(r < 0.35 ? pick(NAMES) : r < 0.85 ? `${word()}${ext ? `.${ext}` : ''}` : word());
    const rel = parts.join('/');
    if (!rel.startsWith('/') && !rel.endsWith('/') && !parts.includes('')) out.add(rel);
  }
  return [...out];
}

/** Everything the walk would ask about `rel`: each folder's decision (with its state's contents), then the file's verdict. */
function decisions(f: CompiledFilters, rel: string, size: number, mtimeMs: number): unknown[] {
  const parts = rel.split('/');
  const out: unknown[] = [f.isExplicit(rel)];
  let st: DirState = f.rootState;
  for (let i = 0; i < parts.length - 1; i++) {
    const dirRel = parts.slice(0, i + 1).join('/');
    const d = f.dir(dirRel, parts[i]!, st);
    if (d.prune !== undefined) return [...out, `pruned ${dirRel}: ${d.prune}`];
    st = d.state;
    out.push(stateOf(st), f.isExplicit(dirRel));
  }
  out.push(f.fileByPath(rel, parts[parts.length - 1]!, st), f.file(rel, parts[parts.length - 1]!, st, size, mtimeMs));
  return out;
}

function stateOf(s: DirState): unknown {
  const parts = (s as DirState & { parts?: readonly (DirState | string | null)[] }).parts;
  return { rel: s.rel, inInclude: [...s.inInclude], lifted: s.lifted ? [...s.lifted].sort() : null, parts: parts?.map((p) => (p !== null && typeof p === 'object' ? stateOf(p) : p)) };
}

describe('on Linux the filters decide exactly as before they followed the platform\'s case rules', () => {
  // Drawn paths, and a few that reach the explicit folders of the cases above (rarely drawn).
  const paths = [...generate(12_000, 20261207), 'Docs/Work/Work/a.txt', 'Docs/Work/b.TMP', '.config/app/cache/x', '.config/app/a.TMP', '.config/app/node_modules/m.js', 'notes.txt', 'Docs/Work/Thumbs.db'];

  it.each(CASES)('%s', (_what, filters, root) => {
    const now = compileFilters(filters, root, { platform: 'linux' });
    const before = compileBefore(filters, root);
    expect(now.usesStat).toBe(before.usesStat);
    const rnd = seededRandom(7);
    let differ = 0;
    const first: unknown[] = [];
    let kept = 0;
    for (const rel of paths) {
      const size = Math.floor(rnd() * 3000);
      const mtimeMs = Date.UTC(2015 + Math.floor(rnd() * 10), 0, 1);
      const a = decisions(now, rel, size, mtimeMs);
      const b = decisions(before, rel, size, mtimeMs);
      if (a.at(-1) === null) kept++;
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        differ++;
        if (first.length < 5) first.push({ rel, now: a, before: b });
      }
    }
    expect(first).toEqual([]);
    expect(differ).toBe(0);
    // The paths reach both sides of the rules: some kept, some left out.
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(paths.length);
  });

  it('the generated paths include names the case rules would treat otherwise on Windows', () => {
    const win = compileFilters({}, CASES[0]![2], { platform: 'win32' });
    const lin = compileFilters({}, CASES[0]![2], { platform: 'linux' });
    const other = paths.filter((rel) => JSON.stringify(decisions(win, rel, 1, 0)) !== JSON.stringify(decisions(lin, rel, 1, 0)));
    expect(other.length).toBeGreaterThan(100);
  });
});
