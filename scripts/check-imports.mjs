#!/usr/bin/env node
// The import rules of core/src (docs/design.md, "Map"): which folder may import which, no import
// cycle between modules, nothing of node's in common/, no plugin imported by the core. Run by
// core/src/architecture.spec.ts in `npm test`, or alone: `node scripts/check-imports.mjs` (exit 1 on a problem).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'core', 'src');

/**
 * Folder → the folders of core/src it may import (besides itself). A module in a folder not listed
 * is a problem too: every new folder takes its place in the map.
 */
export const RULES = {
  common: [],
  'node/log': ['common'],
  'node/plugins': ['common', 'node/log'],
  'node/config': ['common', 'node/log', 'node/plugins', 'node/scan'], // scan: the filter checks a run would make
  'node/index': ['common'],
  'node/scan': ['common'],
  'node/disk': ['common'],
  'node/engine': ['common', 'node/index', 'node/scan', 'node/plugins', 'node/disk'],
  'node/notify': ['common', 'node/index'],
  'node/scheduler': ['common', 'node/engine'],
  'node/watch': ['common'], // engine: run ids of the runs it records not-executed
  'node/runtime': ['common', 'node/log', 'node/plugins', 'node/config', 'node/index', 'node/engine', 'node/notify'],
  testing: ['common', 'node/index', 'node/engine'],
  cli: ['common', 'node/log', 'node/config', 'node/index', 'node/scan', 'node/engine', 'node/plugins', 'node/runtime', 'node/notify', 'node/scheduler', 'node/watch', 'cli/commands', 'cli/daemon'],
  'cli/commands': ['cli', 'cli/daemon', 'common', 'node/log', 'node/config', 'node/index', 'node/scan', 'node/engine', 'node/plugins', 'node/runtime', 'node/notify', 'node/scheduler', 'node/watch'],
  'cli/daemon': ['cli', 'common', 'node/config', 'node/log', 'node/index', 'node/scheduler'],
  '.': ['common', 'node/disk'],
};

function walk(d, out = []) {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|cts|mts)$/.test(n) && !n.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const folderOf = (file) => {
  const rel = relative(ROOT, dirname(file)) || '.';
  // The deepest folder the map names.
  for (let f = rel; ; f = dirname(f)) {
    if (f in RULES) return f;
    if (f === '.' || f === '') return rel;
  }
};

/** The graph: module → modules of core/src it imports at run time (type-only imports included: they tie the code too). */
export function importGraph(root = ROOT) {
  const files = walk(root);
  const graph = new Map();
  const external = new Map();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    const deps = new Set();
    const ext = new Set();
    for (const m of text.matchAll(/(?:^|\n)\s*(import type|import|export)\s[^;]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)|require\(\s*'([^']+)'\s*\)/g)) {
      const spec = m[2] ?? m[3] ?? m[4];
      if (spec.startsWith('.')) deps.add(resolve(dirname(f), spec.replace(/\.js$/, '.ts').replace(/\.cjs$/, '.cts')));
      // A type-only import of node's types leaves nothing behind at run time.
      else if (m[1] !== 'import type') ext.add(spec);
    }
    graph.set(f, deps);
    external.set(f, ext);
  }
  return { graph, external };
}

/** Every problem: a folder importing what the map does not allow, node: in common/, a plugin, a cycle. */
export function checkImports(root = ROOT) {
  const { graph, external } = importGraph(root);
  const problems = [];
  const name = (f) => relative(root, f);
  for (const [f, deps] of graph) {
    if (f.endsWith('.spec.ts')) continue; // a test may reach anything it tests
    const from = folderOf(f);
    const allowed = RULES[from];
    if (!allowed) {
      problems.push(`${name(f)}: the folder "${from}" is not in the map (scripts/check-imports.mjs RULES, docs/design.md)`);
      continue;
    }
    for (const d of deps) {
      const to = folderOf(d);
      if (to !== from && !allowed.includes(to)) problems.push(`${name(f)} imports ${name(d)}: ${from}/ may not import ${to}/`);
    }
    for (const e of external.get(f)) {
      if (from === 'common' && (e.startsWith('node:') || ['fs', 'path', 'os', 'child_process'].includes(e))) problems.push(`${name(f)} imports ${e}: common/ holds no node: code`);
      if (/^@hokan\/(?!core)/.test(e) || e.includes('/plugins/')) problems.push(`${name(f)} imports ${e}: the core imports no plugin`);
    }
  }
  // Cycles between modules (Tarjan's strongly connected components), specs left out.
  const nodes = [...graph.keys()].filter((f) => !f.endsWith('.spec.ts'));
  let i = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const strong = (v) => {
    idx.set(v, i);
    low.set(v, i++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w) || w.endsWith('.spec.ts')) continue;
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) problems.push(`an import cycle: ${comp.map(name).sort().join(' ↔ ')}`);
    }
  };
  for (const v of nodes) if (!idx.has(v)) strong(v);
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const problems = checkImports();
  for (const p of problems) console.log(p);
  console.log(problems.length ? `${problems.length} import problems` : 'imports: the map holds, no cycle');
  process.exit(problems.length ? 1 : 0);
}
