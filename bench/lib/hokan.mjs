// hokan in the benchmarks: a config writer (hdd, s3 or azure target), and running the built CLI exactly
// as a person does: the `agent` bin executed as a program (`core/bin/agent.cjs backup --json
// --config … --data-dir …`, what `npx agent` runs), so its first line's Node flags apply.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOnce } from './run.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const AGENT = path.join(REPO, 'core', 'bin', 'agent.cjs');

/**
 * Writes a config for one job `bench` backing up `source` to one target (or to `targets`: { id: target });
 * returns its path. target: { type: 'hdd', path }, { type: 's3', bucket, endpoint, region?, accessKeyId, secretAccessKey, … }, { type: 'azure', … } or { type: 'nas', url, … }.
 */
export function writeConfig(file, { source, target, targets = { bench: target }, job = {} }) {
  const plugins = new Set(Object.values(targets).map((t) => (t.type === 's3' || t.type === 'azure' || t.type === 'nas' ? `@hokan/target-${t.type}` : '@hokan/target-hdd')));
  const ts = Object.fromEntries(Object.entries(targets).map(([id, t]) => [id, t.type === 's3' ? { region: 'us-east-1', forcePathStyle: true, ...t } : t]));
  const config = {
    device: 'bench-pc',
    plugins: [...plugins],
    targets: ts,
    jobs: [{ id: 'bench', sources: [{ path: source }], targets: Object.keys(ts), ...job }],
  };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(config, null, 2) + '\n');
  return file;
}

/**
 * The [cmd, args, opts] of one `agent backup --json`. `cpuProfDir` runs node with --cpu-prof.
 */
export function backupCommand({ config, dataDir, cpuProfDir, peakFile, extra = [] }) {
  const args = ['backup', '--json', '--config', config, '--data-dir', dataDir, ...extra];
  const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...(peakFile ? { HOKAN_BENCH_PEAK: peakFile } : {}) };
  // peakFile: sample hokan's private memory too (bench/lib/peak-mem.cjs), written there as JSON;
  // preloaded through NODE_OPTIONS, so the bin itself runs as it is.
  if (peakFile) env.NODE_OPTIONS = [process.env.NODE_OPTIONS, '--require', path.join(REPO, 'bench', 'lib', 'peak-mem.cjs')].filter(Boolean).join(' ');
  // --cpu-prof is not allowed in NODE_OPTIONS: start node with the bin's own flags and it.
  if (cpuProfDir) return [process.execPath, [...binNodeFlags(), '--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, '--cpu-prof-interval=500', AGENT, ...args], { cwd: REPO, env }];
  return [AGENT, args, { cwd: REPO, env }];
}

/** The Node flags on the bin's first line (`#!/usr/bin/env -S [NAME=VALUE…] node FLAGS`). */
export function binNodeFlags() {
  const first = fs.readFileSync(AGENT, 'utf8').split('\n', 1)[0];
  const m = /^#!\S*env -S (?:\w+=\S*\s+)*node(.*)$/.exec(first);
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

/** The peak private memory (RssAnon, KiB) a run wrote to `peakFile`, if any. */
export function peakAnonKiB(peakFile) {
  try {
    return JSON.parse(fs.readFileSync(peakFile, 'utf8')).anonKiB;
  } catch {
    return undefined;
  }
}

/** Checks a `backup --json` result: one completed run; returns its record. */
export function checkBackup(r, expect = {}) {
  let records;
  try {
    records = JSON.parse(r.stdout);
  } catch {
    throw new Error(`backup printed no JSON:\n${r.stdout.slice(-1000)}\n${r.stderr.slice(-1000)}`);
  }
  const rec = records[0];
  if (rec.status !== 'completed') throw new Error(`backup ${rec.status}: ${JSON.stringify(rec).slice(0, 1000)}`);
  for (const [k, v] of Object.entries(expect)) {
    if (rec.counts?.[k] !== v) throw new Error(`backup counts.${k} = ${rec.counts?.[k]}, expected ${v}: ${JSON.stringify(rec.counts)}`);
  }
  return rec;
}

export async function backupOnce(opts, expect) {
  const [cmd, args, o] = backupCommand(opts);
  const r = await runOnce(cmd, args, o);
  checkBackup(r, expect);
  return r;
}

/**
 * Starts `agent run` for a hokan job's data folder ({ config, dataDir }); resolves once it listens.
 * `repo`: another checkout's build (an A/B of builds), this one by default.
 * Returns { pid, stop() }. Commands for that data folder then go to the daemon's socket.
 */
export async function startDaemon(h, env = { ...process.env, NO_COLOR: '1' }, repo = REPO) {
  const { spawn } = await import('node:child_process');
  const d = spawn(path.join(repo, 'core', 'bin', 'agent.cjs'), ['run', '--json', '--config', h.config, '--data-dir', h.dataDir], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  d.stderr.setEncoding('utf8').on('data', (x) => (err += x));
  await new Promise((resolve, reject) => {
    d.stdout.setEncoding('utf8').on('data', (x) => {
      out += x;
      try {
        JSON.parse(out);
        resolve();
      } catch {
        // not whole yet
      }
    });
    d.on('close', (code) => reject(new Error(`agent run ended (${code}) before it listened:\n${err}`)));
  });
  const stop = async () => {
    const closed = new Promise((resolve) => d.once('close', resolve));
    d.kill('SIGINT');
    await closed;
  };
  return { pid: d.pid, stop };
}

/**
 * No-change runs through a running `agent run` (what a person who keeps the daemon running gets):
 * the daemon started, two warm-up runs (its JIT and caches), then `count` runs, each checked to have
 * sent nothing. Returns their times (ms); the daemon is stopped whatever happens.
 */
export async function noChangeThroughDaemon(job, count, log) {
  const d = await startDaemon(job);
  try {
    for (let i = 0; i < 2; i++) checkBackup(await runOnce(...backupCommand(job)), { uploaded: 0 });
    const times = [];
    for (let i = 0; i < count; i++) {
      const h = await runOnce(...backupCommand(job));
      checkBackup(h, { uploaded: 0 });
      times.push(h.ms);
      log(`    hokan no-change through \`agent run\` #${i + 1}: ${(h.ms / 1000).toFixed(2)} s`);
    }
    return times;
  } finally {
    await d.stop();
  }
}
