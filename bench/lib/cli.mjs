// Shared command-line handling and report formatting of the benchmarks.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO } from './hokan.mjs';

/**
 * --quick        trees a tenth of the size, 1 run each (fast sanity run)
 * --keep         keep the generated trees and work dirs in bench/.data/ (reused next time)
 * --only A,B     run only these sections (some run only when named here)
 * --runs N       timed runs per measurement (median); default 3 (1 with --quick)
 * --data DIR     where to put trees and work dirs (default bench/.data with --keep, else a temp dir)
 * --profile      also run hokan once under `node --cpu-prof` (profiles kept in DATA/profiles)
 */
export function parseArgs(argv, sections, onlyWhenAsked = []) {
  const args = argv.slice(2);
  const opt = (name) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const quick = args.includes('--quick');
  const keep = args.includes('--keep');
  const only = opt('--only')?.split(',').map((s) => s.trim()).filter(Boolean);
  const all = [...sections, ...onlyWhenAsked];
  for (const s of only ?? []) if (!all.includes(s)) throw new Error(`unknown section ${s}; sections: ${all.join(', ')}`);
  if (args.includes('--help')) {
    console.log(`options: --quick --keep --only ${all.join(',')} (${onlyWhenAsked.length ? `${onlyWhenAsked.join(',')} only when named; ` : ''}default: ${sections.join(',')}) --runs N --data DIR --profile`);
    process.exit(0);
  }
  const runs = Number(opt('--runs') ?? (quick ? 1 : 3));
  let data = opt('--data');
  let temp = false;
  if (!data) {
    if (keep) data = path.join(REPO, 'bench', '.data');
    else {
      data = fs.mkdtempSync(path.join(os.tmpdir(), 'hokan-bench-'));
      temp = true;
    }
  }
  fs.mkdirSync(data, { recursive: true });
  return { quick, keep, only: only ?? sections, runs, data: path.resolve(data), temp, profile: args.includes('--profile') };
}

export const sec = (ms) => `${(ms / 1000).toFixed(2)} s`;
export const mib = (kib) => (kib === undefined ? '—' : `${(kib / 1024).toFixed(0)} MiB`);

/** Prints a table of rows (arrays of strings), first row the header. */
export function table(rows) {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((x, c) => String(x).padEnd(w[c])).join('  ').trimEnd();
  console.log(line(rows[0]));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
}

/** A target line: PASS/MISS of `value op limit`. */
export function verdict(label, value, limit, fmt = (x) => `${x.toFixed(2)}×`, op = '≤') {
  const ok = op === '≤' ? value <= limit : value < limit;
  return { label, ok, text: `${ok ? 'PASS' : 'MISS'}  ${label}: ${fmt(value)} (target ${op} ${fmt(limit)})` };
}

export function machine() {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, ${os.type()} ${os.release()}`;
}
