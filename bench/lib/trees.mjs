// Deterministic tree generators shaped like real trees: tens of files a folder, nested a few levels.
// Content comes from AES-128-CTR keyed by the tree's seed and the file's index, so every file is
// unique (no accidental dedup for restic), incompressible where it should be, and byte-identical
// from run to run. A tree is generated once and reused: `DIR.tree.json` (beside the tree, written
// last) records its spec and stats; a tree whose marker matches is not regenerated.
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The trees of the benchmarks. `quick` trees are a tenth of the size, for a fast sanity run. */
export function treeSpec(name, quick = false) {
  const q = quick ? 10 : 1;
  switch (name) {
    case 'a': // ~10,000 files, ~1.5 GB of mixed sizes
      return { name, kind: 'mixed', files: 10_000 / q, seed: 'tree-a', version: 1 };
    case 'b': // 100,000 small files
      return { name, kind: 'small', files: 100_000 / q, seed: 'tree-b', version: 1 };
    case 'c': // 300,000 small files (memory check)
      return { name, kind: 'small', files: 300_000 / q, seed: 'tree-c', version: 1 };
    default:
      throw new Error(`unknown tree ${name}`);
  }
}

/** A small deterministic PRNG (mulberry32). */
export function rng(seedText) {
  let a = createHash('sha256').update(seedText).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ZERO = Buffer.alloc(1 << 20);
function writeRandomFile(file, size, key, index) {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index >>> 0, 0);
  const c = createCipheriv('aes-128-ctr', key, iv);
  const fd = fs.openSync(file, 'w');
  try {
    let left = size;
    while (left > 0) {
      const n = Math.min(left, ZERO.length);
      fs.writeSync(fd, c.update(n === ZERO.length ? ZERO : ZERO.subarray(0, n)));
      left -= n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

const WORDS = 'the report quarterly invoice meeting notes plan budget draft final review client project summary data photo scan receipt letter contract'.split(' ');
function textContent(size, r) {
  const parts = [];
  let n = 0;
  while (n < size) {
    const w = WORDS[Math.floor(r() * WORDS.length)] + (r() < 0.1 ? '\n' : ' ');
    parts.push(w);
    n += w.length;
  }
  return parts.join('').slice(0, size);
}

/** Mixed sizes: many small, some hundreds of KB, some MB, a few tens of MB (~1.5 GB for 10,000 files). */
function mixedSize(r, i) {
  if (i % 1000 === 7) return Math.floor((20 + r() * 30) * 2 ** 20); // 10 files of 20–50 MiB
  const x = r();
  if (x < 0.85) return Math.floor(512 + r() * 48 * 1024); // 85%: 0.5–48 KiB
  if (x < 0.98) return Math.floor(100 * 1024 + r() * 500 * 1024); // 13%: 100–600 KiB
  return Math.floor((1 + r() * 6) * 2 ** 20); // 2%: 1–7 MiB
}

const EXT_MIXED = ['.txt', '.docx', '.xlsx', '.pdf', '.jpg', '.png', '.csv', '.md'];

/**
 * Writes the tree into `dir` (created). Layout: top folders "Area NN" → "Project NN" → optional
 * "Sub N" → files, 20–40 files a folder.
 */
export function generateTree(dir, spec, log = () => {}) {
  const marker = `${dir}.tree.json`;
  const want = JSON.stringify(spec);
  try {
    const m = JSON.parse(fs.readFileSync(marker, 'utf8'));
    if (JSON.stringify(m.spec) === want) return m.stats;
  } catch {}
  fs.rmSync(marker, { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const r = rng(spec.seed);
  const key = createHash('sha256').update(spec.seed).digest().subarray(0, 16);
  let n = 0;
  let bytes = 0;
  let folders = 0;
  const t0 = Date.now();
  for (let a = 0; n < spec.files; a++) {
    const area = path.join(dir, `Area ${String(a).padStart(2, '0')}`);
    fs.mkdirSync(area);
    for (let p = 0; p < 12 && n < spec.files; p++) {
      const proj = path.join(area, `Project ${String(p).padStart(2, '0')}`);
      fs.mkdirSync(proj);
      // Files directly in the project folder, then 0–3 sub folders of files.
      const subs = Math.floor(r() * 4);
      const folderList = [proj];
      for (let s = 0; s < subs; s++) {
        const sub = path.join(proj, `Sub ${s}`);
        fs.mkdirSync(sub);
        folderList.push(sub);
        if (r() < 0.3) {
          const deep = path.join(sub, 'older');
          fs.mkdirSync(deep);
          folderList.push(deep);
        }
      }
      for (const folder of folderList) {
        folders++;
        const count = 20 + Math.floor(r() * 21);
        for (let f = 0; f < count && n < spec.files; f++, n++) {
          if (spec.kind === 'mixed') {
            const size = mixedSize(r, n);
            const ext = EXT_MIXED[Math.floor(r() * EXT_MIXED.length)];
            const file = path.join(folder, `file ${String(f).padStart(3, '0')}${ext}`);
            if (ext === '.txt' || ext === '.md' || ext === '.csv') fs.writeFileSync(file, textContent(size, r));
            else writeRandomFile(file, size, key, n);
            bytes += size;
          } else {
            const size = Math.floor(1024 + r() * 5 * 1024); // 1–6 KiB
            const file = path.join(folder, `note ${String(f).padStart(3, '0')}.txt`);
            fs.writeFileSync(file, textContent(size, r));
            bytes += size;
          }
          if (n % 20000 === 0 && n) log(`  … ${n} files`);
        }
      }
    }
  }
  const stats = { files: n, folders, bytes };
  fs.writeFileSync(marker, JSON.stringify({ spec, stats }));
  log(`  generated ${n} files, ${folders} folders, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return stats;
}

/**
 * One deterministic change set for an incremental run: `fraction` of the tree's files modified,
 * as many deleted and as many added. The files are picked every Nth in walk order (each folder's
 * entries sorted by name) among those that are neither the first nor the last of their folder, so
 * the change is spread over the whole tree and falls in the middle of folders (issue 14: a merge
 * that mis-paired the two sides still got a folder's last file right, the only case tested). Half the
 * modified files keep their size (only the content and the mtime tell them apart), the others grow
 * or shrink; the new files get names that sort next to a picked file. Returns { modify: [{ rel,
 * was, size }], remove: [rel], add: [{ rel, size }] } (rel: '/'-separated; was, size: the size
 * before and after).
 */
export function planChanges(dir, fraction = 0.01, seed = 'changes') {
  const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const walk = [];
  const folder = (rel) => {
    const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort(byName);
    const files = entries.filter((e) => !e.isDirectory()).length;
    let i = 0;
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) folder(r);
      else {
        walk.push({ rel: r, inner: i > 0 && i < files - 1 });
        i++;
      }
    }
  };
  folder('');
  const inner = walk.filter((f) => f.inner).map((f) => f.rel);
  const n = Math.max(1, Math.round(walk.length * fraction));
  const step = Math.floor(inner.length / (3 * n));
  if (step < 1) throw new Error(`${dir}: too few files for ${n} changes of each kind`);
  const r = rng(seed);
  const plan = { modify: [], remove: [], add: [] };
  for (let k = 0; k < 3 * n; k++) {
    const rel = inner[k * step + (step >> 1)];
    const j = Math.floor(k / 3);
    if (k % 3 === 1) plan.remove.push(rel);
    else if (k % 3 === 2) {
      // "file 012 new.csv" sorts between "file 011.*" and "file 012.*": a new file mid-folder.
      const ext = EXT_MIXED[Math.floor(r() * EXT_MIXED.length)];
      plan.add.push({ rel: `${rel.replace(/\.[^./]*$/, '')} new${ext}`, size: mixedSize(r, -1) });
    } else {
      const was = fs.statSync(path.join(dir, rel)).size;
      plan.modify.push({ rel, was, size: j % 2 === 0 ? was : j % 4 === 1 ? was + 1024 + (was >> 2) : Math.max(1, was - (was >> 2)) });
    }
  }
  return plan;
}

/** Applies a plan of `planChanges` to `dir` (a copy of the tree): new content from the plan's seed. */
export function applyChanges(dir, plan, seed = 'changes') {
  const r = rng(`${seed} content`);
  const key = createHash('sha256').update(`${seed} content`).digest().subarray(0, 16);
  let k = 0;
  const write = ({ rel, size }) => {
    const file = path.join(dir, rel);
    if (/\.(txt|md|csv)$/.test(rel)) fs.writeFileSync(file, textContent(size, r));
    else writeRandomFile(file, size, key, k);
    k++;
    return size;
  };
  let bytes = 0;
  for (const f of plan.modify) bytes += write(f);
  for (const rel of plan.remove) fs.unlinkSync(path.join(dir, rel));
  for (const f of plan.add) bytes += write(f);
  return { bytes };
}

/** Files and bytes under a folder (recursive, the hidden `.hokan*` folders left out). */
export function countTree(root) {
  let files = 0;
  let bytes = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.hokan')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files++;
        bytes += fs.statSync(p).size;
      }
    }
  };
  walk(root);
  return { files, bytes };
}
