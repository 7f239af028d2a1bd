// The big tree of issue 22: N small files in folders of 50 (1,000,000 files = 20,000 folders),
// grouped 100 folders to a group folder (`g0000/f000000/n00.txt`) so no folder lists thousands of
// entries. Deterministic: file i's size (200–2,199 bytes) and bytes follow from i alone, so two
// machines (or two runs) make the same tree; made on the fly, never committed. A marker beside the
// tree (`DIR.tree.json`, written last) lets --keep reuse it.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const PER_FOLDER = 50;
export const FOLDERS_PER_GROUP = 100;
const VERSION = 1;

/** 64 KiB of deterministic text the files are cut from. */
const BASE = (() => {
  const words = 'the report quarterly invoice meeting notes plan budget draft final review client project summary data photo scan receipt letter contract'.split(' ');
  let s = '';
  let x = 12345;
  while (s.length < 65_536) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s += words[x % words.length] + ((x >>> 8) % 11 === 0 ? '\n' : ' ');
  }
  return Buffer.from(s.slice(0, 65_536));
})();

/** Folder `k` (0-based) relative to the tree, and file `i`'s path. */
export const folderRel = (k) => path.join(`g${String(Math.floor(k / FOLDERS_PER_GROUP)).padStart(4, '0')}`, `f${String(k).padStart(6, '0')}`);
export const fileRel = (i) => path.join(folderRel(Math.floor(i / PER_FOLDER)), `n${String(i % PER_FOLDER).padStart(2, '0')}.txt`);

/** File `i`'s bytes in generation `gen` (0: as made; each change set makes the next). */
export function fileBody(i, gen = 0) {
  const head = Buffer.from(`file ${i} generation ${gen}\n`);
  const size = 200 + ((Math.imul(i, 2654435761) >>> 0) % 2000) + gen;
  const at = (Math.imul(i + gen, 7919) >>> 0) % (BASE.length - size);
  return Buffer.concat([head, BASE.subarray(at, at + Math.max(0, size - head.length))]);
}

/** Makes the tree of `files` files in `dir` (or reuses it); returns { files, folders, bytes }. */
export function generateBigTree(dir, files, log = () => {}) {
  const marker = `${dir}.tree.json`;
  const spec = { kind: 'million', files, version: VERSION };
  try {
    const m = JSON.parse(fs.readFileSync(marker, 'utf8'));
    if (JSON.stringify(m.spec) === JSON.stringify(spec)) return m.stats;
  } catch {}
  fs.rmSync(marker, { force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  const t0 = Date.now();
  let bytes = 0;
  let folders = 0;
  for (let i = 0; i < files; i++) {
    if (i % PER_FOLDER === 0) {
      fs.mkdirSync(path.join(dir, folderRel(i / PER_FOLDER)), { recursive: true });
      folders++;
    }
    const b = fileBody(i);
    fs.writeFileSync(path.join(dir, fileRel(i)), b);
    bytes += b.length;
    if (i && i % 100_000 === 0) log(`  … ${i} files`);
  }
  const stats = { files, folders, bytes };
  fs.writeFileSync(marker, JSON.stringify({ spec, stats }));
  log(`  generated ${files} files in ${folders} folders, ${(bytes / 2 ** 20).toFixed(0)} MiB, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return stats;
}

/**
 * Change set `round` (0, 1, …): 1% of the files — every 100th, a different residue each round, so
 * spread over every folder of the tree — rewritten with the next generation's bytes (another size
 * and content). The marker forgets the tree (it is no longer as made). Returns the count.
 */
export function changeOnePercent(dir, files, round) {
  fs.rmSync(`${dir}.tree.json`, { force: true });
  const residue = (17 + round * 31) % 100;
  let n = 0;
  for (let i = residue; i < files; i += 100, n++) fs.writeFileSync(path.join(dir, fileRel(i)), fileBody(i, round + 1));
  return n;
}

/** SHA-256 over the names and bytes of the files of one folder (not recursive). */
export function folderDigest(folder) {
  const h = createHash('sha256');
  for (const name of fs.readdirSync(folder).sort()) {
    const p = path.join(folder, name);
    if (!fs.lstatSync(p).isFile()) continue;
    h.update(name).update('\0').update(fs.readFileSync(p)).update('\0');
  }
  return h.digest('hex');
}
