#!/usr/bin/env node
// Micro benchmark of the scanner's walk (issue 3): generates a tree of small files (tens a folder)
// in a temp dir and times, in one run:
//   - baseline: a plain synchronous walk (readdirSync + lstatSync per entry, no sorting, no objects)
//   - scanRoot: the scanner as the engine consumes it item by item (for await)
//   - scanRootBatches: the scanner consumed a batch at a time
// Each is run RUNS times (warm cache) and the best and median are reported.
// Usage: node bench/scan-walk.mjs [FILES=100000] [--keep] [--dir DIR] [--runs N] [--concurrency N]
// Needs the build (`npx tsc -b`): it imports core/dist.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { scanRoot, scanRootBatches } = await import(path.join(here, '../core/dist/node/scan/scanner.js'));

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const FILES = Number(args.find((a) => /^\d+$/.test(a)) ?? 100_000);
const RUNS = Number(opt('--runs', 5));
const CONC = Number(opt('--concurrency', 0));
const keep = args.includes('--keep');
let dir = opt('--dir', undefined);

function generate(root, files) {
  // 25 files a folder, 40 folders per top folder: 100 top folders for 100,000 files.
  const perDir = 25;
  const perTop = 40;
  let n = 0;
  for (let t = 0; n < files; t++) {
    const top = path.join(root, `top ${String(t).padStart(3, '0')}`);
    fs.mkdirSync(top);
    for (let s = 0; s < perTop && n < files; s++) {
      const sub = path.join(top, `sub-${s}`);
      fs.mkdirSync(sub);
      for (let f = 0; f < perDir && n < files; f++, n++) fs.writeFileSync(path.join(sub, `file ${f}.txt`), 'x'.repeat(n % 64));
    }
  }
}

function baseline(root) {
  let count = 0;
  const stack = [root];
  while (stack.length) {
    const d = stack.pop();
    for (const name of fs.readdirSync(d)) {
      const p = d + '/' + name;
      const st = fs.lstatSync(p);
      if (st.isDirectory()) stack.push(p);
      else count++;
    }
  }
  return count;
}

let peakHeap = 0;
async function scanner(root) {
  let count = 0;
  for await (const it of scanRoot({ name: 'bench', path: root }, { filters: { hidden: true }, followSymlinks: false, statConcurrency: CONC || undefined })) {
    if (it.type !== 'error') count++;
    if ((count & 4095) === 0) {
      const h = process.memoryUsage().heapUsed;
      if (h > peakHeap) peakHeap = h;
    }
  }
  return count;
}

async function scannerBatches(root) {
  let count = 0;
  for await (const b of scanRootBatches({ name: 'bench', path: root }, { filters: { hidden: true }, followSymlinks: false, statConcurrency: CONC || undefined })) {
    count += b.length;
  }
  return count;
}

async function time(label, fn) {
  const ms = [];
  let count = 0;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    count = await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const best = ms[0];
  const med = ms[Math.floor(ms.length / 2)];
  console.log(
    `${label.padEnd(24)} ${String(count).padStart(7)} files  best ${best.toFixed(0).padStart(5)} ms  median ${med.toFixed(0).padStart(5)} ms  ${Math.round((count / best) * 1000).toLocaleString('en-US').padStart(9)} files/s`,
  );
  return best;
}

let made = false;
if (!dir) {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hokan-scan-bench-'));
  made = true;
  const t0 = performance.now();
  generate(dir, FILES);
  console.log(`generated ${FILES} files in ${dir} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
try {
  console.log(`node ${process.version}, ${os.cpus().length} cpus, ${RUNS} runs each (warm cache)${CONC ? `, statConcurrency ${CONC}` : ''}`);
  baseline(dir); // warm the cache
  const base = await time('baseline sync walk', async () => baseline(dir));
  const s = await time('scanRoot (for await)', () => scanner(dir));
  const b = await time('scanRootBatches', () => scannerBatches(dir));
  console.log(`ratio scanRoot/baseline ${(s / base).toFixed(2)}x, scanRootBatches/baseline ${(b / base).toFixed(2)}x`);
  const rss = process.memoryUsage().rss;
  console.log(`peak heap during scanRoot ${(peakHeap / 1024 / 1024).toFixed(1)} MB (sampled every 4096 files), rss at the end ${(rss / 1024 / 1024).toFixed(0)} MB`);
} finally {
  if (made && !keep) fs.rmSync(dir, { recursive: true, force: true });
}
