/**
 * The built-in filter rules, compiled once per source root into a predicate object the scanner calls
 * for every folder and file (product.md "Filters"; issue 3 "Scanner").
 *
 * Rules, in the order they are checked:
 * - **Explicit paths win.** The root itself and every literal (glob-free) path in `include` (job- or
 *   source-level) are exempt from every exclusion: the hidden rule, exclude globs, extension lists,
 *   regular expressions, `largerThan` and `modifiedBefore`. The folders leading to a literal path are
 *   descended whatever the rules say about them (only to reach it). Beneath an explicit folder the
 *   rules apply again to what is there — except exclude globs that match the explicit folder itself
 *   (`.config/**` with `include: [".config/app"]`): those are lifted inside it, since the person asked
 *   for that folder as a whole. A hidden file inside an explicit folder stays hidden (seed 002: an
 *   inherited selection does not override an exclusion).
 * - **Hidden** (name starts with `.`): excluded by default, folders pruned; `hidden: true` keeps them.
 * - **Exclude globs** (job `exclude` + source `exclude`): picomatch, relative to the root, `dot: true`.
 *   A glob without a `/` matches the name at any depth (`*.tmp`, `node_modules`), like gitignore.
 *   Globs match folders too: a folder that matches is pruned without being read (`**\/node_modules/**`).
 *   A trailing `/` (`build/`) matches folders only.
 * - **Include globs** (job `include`, source `include`): when a level has any, a file must match one of
 *   that level's globs (or lie inside a folder that matches one, or be/lie under one of its literal
 *   paths). Both levels must agree when both have includes. Folders are descended only when they could
 *   contain a match.
 * - **Extensions** (`extensions`, and the root's preset `extensions`; both must agree when both are
 *   set): include-only; `excludeExtensions`: never. Case-insensitive, without the dot; `tar.gz` works.
 * - **Regular expressions** over the file's relative path: `includeRegex` (one must match),
 *   `excludeRegex` (none may match). Files only: folders are never pruned by a regex.
 * - **`largerThan`** (bytes or `"30GB"`): skip bigger files. **`modifiedBefore`** (a date): skip files
 *   last modified before it.
 * - **Case** follows the file systems of the platform (`platform`, default this machine's): Windows
 *   and macOS ignore case (macOS Unicode normalization too), so there globs and literal paths do —
 *   `*.tmp` takes `REPORT.TMP`, `Thumbs.db` takes `THUMBS.DB`; Linux keeps case. Extension lists
 *   ignore case everywhere; regular expressions match as written.
 *
 * Every exclusion returns a short reason string (shown by `--verbose`); `null` means "keep".
 */
import { createRequire } from 'node:module';
import type picomatchType from 'picomatch';
import { ConfigError } from '../../common/errors.js';
import type { FilterConfig } from '../../common/config-types.js';
import type { SourceRoot } from '../../common/model.js';
import { formatBytes, formatDate, parseDate, parseSize } from '../../common/units.js';
import { foldName, ignoresCase, normName } from './folder-inside.js';

// Required on first use: most configs have no globs, and a no-change run should not pay its load.
const requireCjs = createRequire(import.meta.url);
let picomatchMod: typeof picomatchType | undefined;
const picomatch = (): typeof picomatchType => (picomatchMod ??= requireCjs('picomatch') as typeof picomatchType);

export interface CompileFiltersOptions {
  /**
   * Whose file systems the root is on (default this machine's; tests give others): on Windows and
   * macOS globs and literal paths match whatever the case, as there the files do (folder-inside.ts).
   */
  platform?: NodeJS.Platform;
  /** Where the filters come from, for error messages (`jobs[0].filters`). */
  where?: string;
}

/** What the filters know about a folder being walked; the scanner keeps one per open folder. */
export interface DirState {
  /** The folder's path relative to the root ('' for the root). */
  readonly rel: string;
  /** Per include level: everything beneath already satisfies that level (a folder matched it). */
  readonly inInclude: readonly boolean[];
  /** Exclude globs lifted beneath this folder (they match an explicit folder above), by index. */
  readonly lifted: ReadonlySet<number> | null;
}

/** A verdict for a folder: prune it (with a reason) or descend with this state. */
export type DirDecision = { readonly prune: string; readonly state?: undefined } | { readonly prune?: undefined; readonly state: DirState };

export interface CompiledFilters {
  /** The state for the root folder. */
  readonly rootState: DirState;
  /** True when any rule needs size or mtime (else `fileByStat` always returns null). */
  readonly usesStat: boolean;
  /** Folder decision: prune (without reading it) or descend. `rel` is the folder's path, `name` its last part. */
  dir(rel: string, name: string, parent: DirState): DirDecision;
  /** File decision from the path alone (cheap, before any stat): a reason to exclude, or null. */
  fileByPath(rel: string, name: string, parent: DirState): string | null;
  /** File decision from size/mtime (after lstat): a reason to exclude, or null. Call after `fileByPath` said null. */
  fileByStat(rel: string, size: number, mtimeMs: number): string | null;
  /** Both decisions for a file. */
  file(rel: string, name: string, parent: DirState, size: number, mtimeMs: number): string | null;
  /** Is `rel` a literal path named in `include` (exempt from every exclusion)? */
  isExplicit(rel: string): boolean;
}

type Matcher = (s: string) => boolean;
type Fold = (s: string) => string;

/** The platform's rules for comparing names (see `CompileFiltersOptions.platform`). */
interface CaseRules {
  /** Case ignored: picomatch globs are compiled `nocase`. */
  readonly nocase: boolean;
  /** Unicode normalization, case kept (NFC on macOS): what picomatch globs are compiled from and tested on. */
  readonly norm: Fold;
  /** Normalization and case folding: how literal names and paths are compared. */
  readonly fold: Fold;
}

function caseRules(platform: NodeJS.Platform): CaseRules {
  return { nocase: ignoresCase(platform), norm: normName(platform), fold: foldName(platform) };
}

/**
 * A glob's test of one path: `rel`, its last part `name` (both normalized), and `folded`, that name
 * folded by the platform's case rules — made once per file, not per glob (two dozen preset
 * excludes run for every file). picomatch globs test `rel` or `name`; plain names and `*.ext`
 * compare `folded` with their own folded text.
 */
type GlobTest = (rel: string, name: string, folded: string) => boolean;

interface Glob {
  readonly source: string;
  readonly test: GlobTest;
  readonly dirOnly: boolean;
  /** Tests the path (picomatch globs with a `/`), not only the name. */
  readonly byPath: boolean;
}

interface IncludeLevel {
  readonly globs: Glob[];
  /** Per glob: its `/`-separated segments as matchers, for "could this folder contain a match". */
  readonly partial: (Matcher | 'globstar')[][] | null[];
  readonly literals: string[];
}

function stripSlash(s: string): string {
  let t = s.trim();
  if (t.startsWith('./')) t = t.slice(2);
  while (t.startsWith('/')) t = t.slice(1);
  return t;
}

function compileGlob(g: string, rules: CaseRules): Glob {
  let src = stripSlash(g);
  let dirOnly = false;
  if (src.length > 1 && src.endsWith('/')) {
    dirOnly = true;
    src = src.replace(/\/+$/, '');
  }
  if (!src.includes('/')) {
    // A name at any depth: match the last part. Cut here (picomatch's own basename mode costs a
    // split per glob and path — the presets' two dozen default excludes made it a quarter of a walk).
    return { source: g, test: nameTest(src, rules), dirOnly, byPath: false };
  }
  const m = globMatcher(src, rules);
  return { source: g, test: (rel) => m(rel), dirOnly, byPath: true };
}

function globMatcher(src: string, rules: CaseRules): Matcher {
  return picomatch()(rules.norm(src), { dot: true, nocase: rules.nocase }) as Matcher;
}

/** The test of a glob for one name: plain names and `*.ext` without picomatch, the rest with it. */
function nameTest(src: string, rules: CaseRules): GlobTest {
  if (!src.includes('\\') && !picomatch().scan(src).isGlob) {
    const l = rules.fold(src);
    return (_rel, _name, folded) => folded === l;
  }
  const ext = /^\*(\.[^*?[\]{}()!+@\\/]+)$/.exec(src);
  if (ext) {
    const suffix = rules.fold(ext[1]!);
    return (_rel, _name, folded) => folded.endsWith(suffix);
  }
  const m = globMatcher(src, rules);
  return (_rel, name) => m(name);
}

function isLiteral(g: string): boolean {
  return !picomatch().scan(stripSlash(g)).isGlob;
}

function normExt(e: string): string {
  let x = e.trim().toLowerCase();
  while (x.startsWith('.')) x = x.slice(1);
  return x;
}

/** Lower-case extension sets with a fast path for single-part extensions. */
class ExtSet {
  private readonly set: Set<string>;
  private readonly multi: string[];
  readonly list: string[];
  constructor(exts: readonly string[]) {
    this.list = [...new Set(exts.map(normExt).filter((x) => x.length > 0))];
    this.set = new Set(this.list);
    this.multi = this.list.filter((x) => x.includes('.'));
  }
  /** The matching extension of `name`, or null. */
  match(name: string): string | null {
    const dot = name.lastIndexOf('.');
    if (dot <= 0 || dot === name.length - 1) return null; // `.bashrc`, `file.`: no extension
    const ext = name.slice(dot + 1).toLowerCase();
    if (this.set.has(ext)) return ext;
    if (this.multi.length) {
      const lower = name.toLowerCase();
      for (const m of this.multi) if (lower.length > m.length + 1 && lower.endsWith('.' + m)) return m;
    }
    return null;
  }
}

function compileRegexes(list: readonly string[] | undefined, key: string, where: string, first = 0): RegExp[] {
  const out: RegExp[] = [];
  for (const [j, s] of (list ?? []).entries()) {
    const i = first + j;
    try {
      out.push(new RegExp(s));
    } catch (e) {
      throw new ConfigError(`${where}.${key}[${i}]: invalid regular expression ${JSON.stringify(s)}: ${(e as Error).message}`, {
        hint: 'write a JavaScript regular expression (no surrounding slashes); escape special characters with a backslash',
        problems: [{ path: `/${where.replace(/\./g, '/')}/${key}/${i}`, message: `invalid regular expression: ${(e as Error).message}` }],
      });
    }
  }
  return out;
}

/**
 * The settings of a filter block that a run would refuse (regular expressions, `largerThan`,
 * `modifiedBefore`), checked without walking anything: `config validate` and every command that
 * loads the config say so up front, with the place, instead of every run failing later.
 */
export function checkFilterSettings(filters: FilterConfig, where: string): ConfigError[] {
  const out: ConfigError[] = [];
  const attempt = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e instanceof ConfigError) out.push(e);
      else throw e;
    }
  };
  for (const key of ['includeRegex', 'excludeRegex'] as const) {
    (filters[key] ?? []).forEach((re, i) => attempt(() => compileRegexes([re], key, where, i)));
  }
  attempt(() => compileStatRules({ largerThan: filters.largerThan }, where));
  attempt(() => compileStatRules({ modifiedBefore: filters.modifiedBefore }, where));
  return out;
}

function isUnder(rel: string, base: string): boolean {
  return rel.length > base.length && rel.charCodeAt(base.length) === 47 && rel.startsWith(base);
}

/** Include levels (job-level, then source-level; each must be satisfied when it has entries) and the explicit paths among them. */
function compileIncludes(filters: FilterConfig, root: SourceRoot, rules: CaseRules, where: string): { levels: IncludeLevel[]; explicit: string[] } {
  const fold = rules.fold;
  const levels: IncludeLevel[] = [];
  const explicit: string[] = [];
  for (const list of [filters.include, root.include]) {
    if (!list || list.length === 0) continue;
    const globs: Glob[] = [];
    const partial: (Matcher | 'globstar')[][] = [];
    const literals: string[] = [];
    for (const g of list) {
      if (typeof g !== 'string' || g.trim() === '') throw new ConfigError(`${where}.include: empty pattern`, { hint: 'remove the empty entry' });
      if (isLiteral(g)) {
        const lit = stripSlash(g).replace(/\/+$/, '');
        if (lit === '' || lit === '.') {
          // "the whole root": everything satisfies this level.
          globs.push({ source: g, test: () => true, dirOnly: false, byPath: false });
          partial.push(['globstar']);
          continue;
        }
        literals.push(fold(lit));
        explicit.push(fold(lit));
        continue;
      }
      const glob = compileGlob(g, rules);
      globs.push(glob);
      const src = stripSlash(g).replace(/\/+$/, '');
      if (!src.includes('/') || /\{[^}]*\//.test(src)) partial.push(['globstar']); // any depth, or braces across `/`: always possible
      else partial.push(src.split('/').map((seg) => (seg.includes('**') ? 'globstar' : globMatcher(seg, rules))));
    }
    levels.push({ globs, partial, literals });
  }
  return { levels, explicit };
}

/** The size and date rules: the limits (-1 and -Infinity when unset) and the reasons they give. */
function compileStatRules(filters: FilterConfig, where: string): { largerThan: number; before: number; largerReason: string; beforeReason: string } {
  let largerThan = -1;
  if (filters.largerThan !== undefined && filters.largerThan !== null) {
    try {
      largerThan = parseSize(filters.largerThan);
    } catch (e) {
      throw new ConfigError(`${where}.largerThan: ${(e as Error).message}`, { hint: 'write a size like "30GB" or "500 MB", or a number of bytes' });
    }
  }
  let before = -Infinity;
  if (filters.modifiedBefore !== undefined && filters.modifiedBefore !== null && filters.modifiedBefore !== '') {
    try {
      before = parseDate(filters.modifiedBefore);
    } catch (e) {
      throw new ConfigError(`${where}.modifiedBefore: ${(e as Error).message}`, { hint: 'write a date like "2020-01-31"' });
    }
  }
  return {
    largerThan,
    before,
    largerReason: largerThan >= 0 ? `larger than ${formatBytes(largerThan)}` : '',
    beforeReason: before > -Infinity ? `modified before ${formatDate(before)}` : '',
  };
}

/** Excludes lifted beneath each explicit folder: the globs that match that folder itself. */
function liftedExcludes(explicit: readonly string[], excludes: readonly Glob[]): Map<string, Set<number>> {
  const liftedFor = new Map<string, Set<number>>();
  for (const e of explicit) {
    const s = new Set<number>();
    const name = e.slice(e.lastIndexOf('/') + 1);
    excludes.forEach((g, i) => {
      if (g.test(e, name, name)) s.add(i); // `e` is folded already
    });
    if (s.size) liftedFor.set(e, s);
  }
  return liftedFor;
}

/** The first exclude glob that matches (`rel`, `name`, `folded`: see `GlobTest`). */
function matchExclude(excludes: readonly Glob[], rel: string, name: string, folded: string, isDir: boolean, lifted: ReadonlySet<number> | null): Glob | null {
  for (let i = 0; i < excludes.length; i++) {
    const g = excludes[i]!;
    if (g.dirOnly && !isDir) continue;
    if (lifted !== null && lifted.has(i)) continue;
    if (g.test(rel, name, folded)) return g;
  }
  return null;
}

/** Could the folder `rel` (not yet inside an include) contain a match for this level? */
function couldContain(level: IncludeLevel, rel: string, fold: Fold): boolean {
  const r = fold(rel);
  for (const l of level.literals) if (isUnder(l, r)) return true;
  const segs = rel.split('/');
  outer: for (const p of level.partial) {
    if (p === null) return true;
    for (let i = 0; i < segs.length; i++) {
      const m = p[i];
      if (m === undefined) continue outer; // the glob is shallower than this folder
      if (m === 'globstar') return true;
      if (!m(segs[i]!)) continue outer;
    }
    if (p.length > segs.length) return true;
  }
  return false;
}

function levelMatches(level: IncludeLevel, rel: string, name: string, folded: string, isDir: boolean, fold: Fold): boolean {
  const r = fold(rel);
  for (const l of level.literals) if (r === l || isUnder(r, l)) return true;
  for (const g of level.globs) {
    if (g.dirOnly && !isDir) continue;
    if (g.test(rel, name, folded)) return true;
  }
  return false;
}

/**
 * The filters of one root. A root with `members` (other sources of the job inside it, merged so a
 * file two sources select is backed up once) gets the union: a file is kept when the root's own
 * rules or the rules of a member whose folder holds it keep it.
 */
export function compileFilters(filters: FilterConfig, root: SourceRoot, opts: CompileFiltersOptions = {}): CompiledFilters {
  if (!root.members?.length) return compileOne(filters, root, opts);
  return compileUnion(filters, root, opts);
}

/** Per part of a union: the part's state, PENDING (its folder lies further down this path), or null (it has nothing here). */
const PENDING = 'pending' as const;
type PartState = DirState | typeof PENDING | null;
interface UnionState extends DirState {
  readonly parts: readonly PartState[];
}

function compileUnion(filters: FilterConfig, root: SourceRoot, opts: CompileFiltersOptions): CompiledFilters {
  const fold = foldName(opts.platform ?? process.platform);
  const own = { ...root, members: undefined };
  const parts: { base: string; c: CompiledFilters }[] = [{ base: '', c: compileOne(filters, own, opts) }];
  for (const m of root.members ?? []) {
    const base = stripSlash(m.base).replace(/\/+$/, '');
    parts.push({ base, c: compileOne(filters, { name: root.name, path: root.path, include: m.include, exclude: m.exclude, extensions: m.extensions, excludeExtensions: m.excludeExtensions, preset: m.preset }, opts) });
  }
  const relTo = (rel: string, base: string): string | null => {
    if (base === '') return rel;
    const r = fold(rel);
    const b = fold(base);
    if (r === b) return '';
    return isUnder(r, b) ? rel.slice(base.length + 1) : null;
  };
  const rootState: UnionState = { rel: '', inInclude: [], lifted: null, parts: parts.map((p) => (p.base === '' ? p.c.rootState : PENDING)) };
  const dir = (rel: string, name: string, parent: DirState): DirDecision => {
    const prev = (parent as UnionState).parts;
    let any = false;
    let why: string | undefined;
    const next: PartState[] = new Array(parts.length);
    for (let k = 0; k < parts.length; k++) {
      const p = prev[k] ?? null;
      const { base, c } = parts[k]!;
      let st: PartState = null;
      if (p === PENDING) {
        const r = fold(rel);
        const b = fold(base);
        if (r === b) st = c.rootState; // the member's own folder: explicit, never pruned
        else if (isUnder(b, r)) st = PENDING;
      } else if (p !== null) {
        const d = c.dir(relTo(rel, base)!, name, p);
        if (d.prune === undefined) st = d.state;
        else why ??= d.prune;
      }
      next[k] = st;
      if (st !== null) any = true;
    }
    if (!any) return { prune: why ?? 'not in any source' };
    const state: UnionState = { rel, inInclude: [], lifted: null, parts: next };
    return { state };
  };
  const fileByPath = (rel: string, name: string, parent: DirState): string | null => {
    const st = (parent as UnionState).parts;
    let why: string | null = null;
    for (let k = 0; k < parts.length; k++) {
      const p = st[k] ?? null;
      if (p === null) continue;
      const { base, c } = parts[k]!;
      if (p === PENDING) {
        if (fold(rel) === fold(base)) return null; // a member that names this one file
        continue;
      }
      const w = c.fileByPath(relTo(rel, base)!, name, p);
      if (w === null) return null;
      why ??= w;
    }
    return why ?? 'not in any source';
  };
  const fileByStat = (rel: string, size: number, mtimeMs: number): string | null => {
    // Only job-level rules look at size and date, so every part agrees except where a part names the file explicitly.
    let why: string | null = null;
    for (const { base, c } of parts) {
      const r = relTo(rel, base);
      if (r === null) continue;
      const w = r === '' ? null : c.fileByStat(r, size, mtimeMs);
      if (w === null) return null;
      why ??= w;
    }
    return why;
  };
  return {
    rootState,
    usesStat: parts.some((p) => p.c.usesStat),
    dir,
    fileByPath,
    fileByStat,
    file: (rel, name, parent, size, mtimeMs) => fileByPath(rel, name, parent) ?? fileByStat(rel, size, mtimeMs),
    isExplicit: (rel) => parts.some(({ base, c }) => {
      const r = relTo(rel, base);
      return r !== null && (r === '' ? base !== '' : c.isExplicit(r));
    }),
  };
}

function compileOne(filters: FilterConfig, root: SourceRoot, opts: CompileFiltersOptions = {}): CompiledFilters {
  const rules = caseRules(opts.platform ?? process.platform);
  const { nocase, norm, fold } = rules;
  const where = opts.where ?? 'filters';

  const { levels, explicit } = compileIncludes(filters, root, rules, where);
  const excludes: Glob[] = [...(filters.exclude ?? []), ...(root.exclude ?? [])].map((g) => compileGlob(g, rules));
  const globs = excludes.length > 0 || levels.length > 0;
  // The path is normalized (macOS) only for globs that look at it: literals are folded on their own.
  const byPath = excludes.some((g) => g.byPath) || levels.some((l) => l.globs.some((g) => g.byPath));
  /** `fold` of a name `norm` has already normalized: only the case is left (as `foldName` does it). */
  const foldNormed: Fold = nocase ? (n) => n.toLowerCase() : (n) => n;
  const hidden = filters.hidden === true;
  const onlyExt = [filters.extensions, root.extensions].filter((l): l is readonly string[] => !!l && l.length > 0).map((l) => new ExtSet(l));
  const notExtList = [...(filters.excludeExtensions ?? []), ...(root.excludeExtensions ?? [])];
  const notExt = notExtList.length ? new ExtSet(notExtList) : null;
  const inRe = compileRegexes(filters.includeRegex, 'includeRegex', where);
  const exRe = compileRegexes(filters.excludeRegex, 'excludeRegex', where);
  const exRegexSrc = filters.excludeRegex ?? [];
  const { largerThan, before, largerReason, beforeReason } = compileStatRules(filters, where);
  const usesStat = largerThan >= 0 || before > -Infinity;

  const explicitSet = new Set(explicit);
  const hasExplicit = explicit.length > 0;
  const isExplicit = (rel: string): boolean => hasExplicit && explicitSet.has(fold(rel));
  /** Is the folder `rel` on the way to an explicit path (an ancestor of one)? */
  const leadsToExplicit = (rel: string): boolean => {
    if (!hasExplicit) return false;
    const r = fold(rel);
    for (const e of explicit) if (isUnder(e, r)) return true;
    return false;
  };
  const liftedFor = liftedExcludes(explicit, excludes);

  const rootState: DirState = { rel: '', inInclude: levels.map(() => false), lifted: null };

  const skip = root.skip?.length ? new Set(root.skip) : null;
  const dir = (rel: string, name: string, parent: DirState): DirDecision => {
    // A backup target inside the source: never backed up into itself, whatever the filters say.
    if (skip?.has(rel)) return { prune: 'a backup target (excluded automatically)' };
    const explicitDir = isExplicit(rel);
    let lifted = parent.lifted;
    if (explicitDir) {
      const add = liftedFor.get(fold(rel));
      if (add) lifted = lifted ? new Set([...lifted, ...add]) : add;
    }
    const onTheWay = !explicitDir && leadsToExplicit(rel);
    const r = byPath ? norm(rel) : rel;
    const n = norm(name);
    const f = foldNormed(n);
    if (!explicitDir && !onTheWay) {
      if (!hidden && name.charCodeAt(0) === 46) return { prune: 'hidden' };
      const ex = matchExclude(excludes, r, n, f, true, lifted);
      if (ex) return { prune: `excluded by ${ex.source}` };
    }
    // Include levels: is the folder inside a match, or could it contain one?
    let inInclude = parent.inInclude;
    if (levels.length) {
      let changed = false;
      const next = parent.inInclude.slice();
      for (let i = 0; i < levels.length; i++) {
        if (next[i]) continue;
        if (levelMatches(levels[i]!, r, n, f, true, fold)) {
          next[i] = true;
          changed = true;
        } else if (!explicitDir && !onTheWay && !couldContain(levels[i]!, r, fold)) {
          return { prune: 'not in include list' };
        }
      }
      if (changed) inInclude = next;
    }
    return { state: { rel, inInclude, lifted } };
  };

  const fileByPath = (rel: string, name: string, parent: DirState): string | null => {
    if (hasExplicit && isExplicit(rel)) return null;
    if (!hidden && name.charCodeAt(0) === 46) return 'hidden';
    if (globs) {
      const r = byPath ? norm(rel) : rel;
      const n = norm(name);
      const f = foldNormed(n);
      if (excludes.length) {
        const ex = matchExclude(excludes, r, n, f, false, parent.lifted);
        if (ex) return `excluded by ${ex.source}`;
      }
      for (let i = 0; i < levels.length; i++) {
        if (!parent.inInclude[i] && !levelMatches(levels[i]!, r, n, f, false, fold)) return 'not in include list';
      }
    }
    for (const set of onlyExt) {
      if (set.match(name) === null) return `extension not in ${set.list.length > 6 ? `the ${set.list.length} listed` : set.list.join(', ')}`;
    }
    if (notExt) {
      const e = notExt.match(name);
      if (e !== null) return `extension ${e} excluded`;
    }
    if (inRe.length) {
      let ok = false;
      for (const re of inRe) if (re.test(rel)) { ok = true; break; }
      if (!ok) return 'not matched by includeRegex';
    }
    for (let i = 0; i < exRe.length; i++) if (exRe[i]!.test(rel)) return `matches ${exRegexSrc[i]}`;
    return null;
  };

  const fileByStat = (rel: string, size: number, mtimeMs: number): string | null => {
    if (!usesStat) return null;
    if (hasExplicit && isExplicit(rel)) return null;
    if (largerThan >= 0 && size > largerThan) return largerReason;
    if (mtimeMs < before) return beforeReason;
    return null;
  };

  return {
    rootState,
    usesStat,
    dir,
    fileByPath,
    fileByStat,
    file: (rel, name, parent, size, mtimeMs) => fileByPath(rel, name, parent) ?? fileByStat(rel, size, mtimeMs),
    isExplicit,
  };
}
