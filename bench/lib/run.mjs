// Running peers and hokan: wall time (hrtime around an async spawn, so an in-process server keeps
// serving), peak RSS of the child from GNU time (`/usr/bin/time -v`, "Maximum resident set size";
// Debian package `time`), medians over N runs.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const GNU_TIME = '/usr/bin/time';

/**
 * Runs `cmd args` once under /usr/bin/time -v. Resolves { ms, rssKiB, stdout, stderr, code }.
 * Throws when the command fails (unless opts.allowFail).
 */
export function runOnce(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const useTime = fs.existsSync(GNU_TIME);
    const argv = useTime ? ['-v', cmd, ...args] : args;
    const t0 = process.hrtime.bigint();
    const child = spawn(useTime ? GNU_TIME : cmd, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      let rssKiB, userS, sysS; // GNU time's peak RSS and CPU seconds
      if (useTime) {
        const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
        rssKiB = m ? Number(m[1]) : undefined;
        userS = Number(/User time \(seconds\): ([\d.]+)/.exec(stderr)?.[1] ?? NaN);
        sysS = Number(/System time \(seconds\): ([\d.]+)/.exec(stderr)?.[1] ?? NaN);
        const cut = stderr.lastIndexOf('\tCommand being timed:');
        if (cut >= 0) stderr = stderr.slice(0, cut);
        stderr = stderr.replace(/Command exited with non-zero status \d+\n$/, '');
      }
      const r = { ms, rssKiB, userS, sysS, stdout, stderr, code };
      if (code !== 0 && !opts.allowFail) {
        const e = new Error(`${cmd} ${args.join(' ')} exited ${code}\n${stderr.slice(-2000)}\n${stdout.slice(-2000)}`);
        e.result = r;
        reject(e);
      } else resolve(r);
    });
  });
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * Runs a command `runs` times and takes the median time. `prepare()` (not timed) runs before each
 * run, e.g. to give a fresh destination; `check(result)` may validate the output. Returns
 * { ms (median), all: [ms…], rssKiB (max over runs), last (last result) }.
 */
export async function timeMedian(label, runs, make, { prepare, check, log = console.log } = {}) {
  const all = [];
  let rss = 0;
  let last;
  for (let i = 0; i < runs; i++) {
    if (prepare) await prepare(i);
    const [cmd, args, opts] = make(i);
    last = await runOnce(cmd, args, opts);
    if (check) check(last);
    all.push(last.ms);
    rss = Math.max(rss, last.rssKiB ?? 0);
    log(`    ${label} #${i + 1}: ${(last.ms / 1000).toFixed(2)} s, peak RSS ${(last.rssKiB / 1024).toFixed(0)} MiB`);
  }
  return { ms: median(all), all, rssKiB: rss, last };
}

export const rm = (p) => fs.rmSync(p, { recursive: true, force: true });
export const fresh = (p) => {
  rm(p);
  fs.mkdirSync(p, { recursive: true });
};

/**
 * A benchmark's scratch folder under `--data` (`o` from cli.mjs parseArgs): `cleanup` removes it,
 * and `--data` itself when that was a temporary one; Ctrl-C cleans up too.
 */
export function workDir(o, name) {
  const work = path.join(o.data, name);
  const cleanup = () => {
    rm(work);
    if (o.temp) rm(o.data);
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  return { work, cleanup };
}
