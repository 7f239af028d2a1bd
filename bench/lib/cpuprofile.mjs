#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by file, and
// total (inclusive) time of the functions that matter. Usage: node bench/lib/cpuprofile.mjs FILE [TOP]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export function summarise(file, top = 25) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = prof.timeDeltas;
  for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const total = (prof.endTime - prof.startTime) / 1000;
  const short = (url) => {
    if (!url) return '(native)';
    const u = url.replace(/^file:\/\//, '');
    const m = /\/(core|plugins\/[^/]+)\/dist\/(.*)$/.exec(u) ?? /node_modules\/(.*)$/.exec(u);
    return m ? (m[2] ? `${m[1]}/${m[2]}` : `nm:${m[1]}`) : u.startsWith('node:') ? u : path.basename(u);
  };
  const key = (n) => `${n.callFrame.functionName || '(anon)'}  ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const byFn = new Map();
  const byFile = new Map();
  const incl = new Map();
  for (const [id, us] of self) {
    const n = nodes.get(id);
    const k = key(n);
    byFn.set(k, (byFn.get(k) ?? 0) + us);
    const f = short(n.callFrame.url);
    byFile.set(f, (byFile.get(f) ?? 0) + us);
    // inclusive: every distinct function on the stack
    const seen = new Set();
    for (let p = id; p !== undefined; p = parent.get(p)) {
      const kk = key(nodes.get(p));
      if (seen.has(kk)) continue;
      seen.add(kk);
      incl.set(kk, (incl.get(kk) ?? 0) + us);
    }
  }
  const ms = (us) => (us / 1000).toFixed(0).padStart(6) + ' ms';
  const pct = (us) => ((us / 1000 / total) * 100).toFixed(1).padStart(5) + '%';
  const out = [];
  out.push(`profile ${path.basename(file)}: ${total.toFixed(0)} ms wall`);
  out.push(`-- self time by file`);
  for (const [k, v] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) out.push(`${ms(v)} ${pct(v)}  ${k}`);
  out.push(`-- self time by function`);
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`${ms(v)} ${pct(v)}  ${k}`);
  out.push(`-- inclusive time (hokan code only)`);
  for (const [k, v] of [...incl].filter(([k]) => /\s(core|plugins)\//.test(k)).sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`${ms(v)} ${pct(v)}  ${k}`);
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(summarise(process.argv[2], Number(process.argv[3] ?? 25)));
}
