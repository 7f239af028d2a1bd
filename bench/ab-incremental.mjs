#!/usr/bin/env node
// A/B of hokan builds on the incremental run of bench/backup-hdd.mjs, interleaved in one run: for a
// speed change, the old build (a git worktree with its own `npm ci`) against the new, beside
// `rclone sync`, on this machine whose timing drifts ±30% from one run to the next.
//   node bench/ab-incremental.mjs [--rounds N] [--steady] [--no-daemon] REPO_A[+VAR=1…] REPO_B…
// Per round, as backup-hdd.mjs: a fresh copy of tree (a), a full backup and a no-change warm-up
// per build (one-shot, and through `agent run` unless --no-daemon), one change (1% modified,
// added, deleted), then one timed run of each, in an order rotated every round; medians, the run
// itself (record start → end) and the ratio to rclone. --steady: one copy and one daemon per build
// for the whole run, the change applied and reverted in turn (a daemon running change after
// change, its helpers warm). `+VAR=1` after a repo sets that variable for its runs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { generateTree, treeSpec, planChanges, applyChanges } from './lib/trees.mjs';
import { runOnce, median } from './lib/run.mjs';
import { writeConfig, checkBackup, startDaemon, REPO } from './lib/hokan.mjs';

const argv = process.argv.slice(2);
const flag = (f) => (argv.includes(f) ? (argv.splice(argv.indexOf(f), 1), true) : false);
const steady = flag('--steady');
const noDaemon = flag('--no-daemon');
const ri = argv.indexOf('--rounds');
const rounds = ri >= 0 ? Number(argv.splice(ri, 2)[1]) : 4;
if (!argv.length || !Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: node bench/ab-incremental.mjs [--rounds N] [--steady] [--no-daemon] REPO_A[+VAR=1…] [REPO_B…]\n  (each REPO a checkout with `npm ci` done, e.g. a `git worktree add ../base OLD` of this repo)');
  process.exit(2);
}
const data = path.join(REPO, 'bench', '.data');
const tree = path.join(data, 'trees', 'a');
generateTree(tree, treeSpec('a', false), () => {});
const plan = planChanges(tree);
const env = { ...process.env, NO_COLOR: '1', RCLONE_CONFIG: '/dev/null' };
const work = path.join(data, 'work-ab');
const expect = { uploaded: plan.modify.length + plan.add.length, deleted: plan.remove.length };

const tools = [];
for (const spec of argv) {
  const [repo, ...vars] = spec.split('+');
  if (!fs.existsSync(path.join(repo, 'core', 'bin', 'agent.cjs'))) throw new Error(`${repo}: no core/bin/agent.cjs (a hokan checkout with npm ci done?)`);
  for (const daemon of noDaemon ? [false] : steady ? [true] : [false, true]) {
    tools.push({ name: `${path.basename(path.resolve(repo))}${vars.length ? `+${vars.join('+')}` : ''}${daemon ? ' (agent run)' : ''}`, repo: path.resolve(repo), env: { ...env, ...Object.fromEntries(vars.map((v) => v.split('='))) }, daemon, times: [], runs: [] });
  }
}
tools.push({ name: 'rclone sync', times: [] });

/** Each build's job on `src` (full backup, daemon when asked, no-change warm-up); rclone's copy. */
async function setUp(src) {
  const daemons = [];
  for (const [k, t] of tools.entries()) {
    if (!t.repo) {
      const dst = path.join(work, 'rclone');
      t.run = () => runOnce('rclone', ['sync', src, dst], { env });
      await t.run();
      await t.run();
      continue;
    }
    const b = path.join(work, `h${k}`);
    fs.mkdirSync(path.join(b, 'target'), { recursive: true });
    const config = writeConfig(path.join(b, 'config.json'), { source: src, target: { type: 'hdd', path: path.join(b, 'target') } });
    const args = ['--json', '--config', config, '--data-dir', path.join(b, 'data')];
    const agent = path.join(t.repo, 'core', 'bin', 'agent.cjs');
    t.run = () => runOnce(agent, ['backup', ...args], { cwd: t.repo, env: t.env });
    checkBackup(await t.run());
    if (t.daemon) daemons.push(await startDaemon({ config, dataDir: path.join(b, 'data') }, t.env, t.repo));
    checkBackup(await t.run(), { uploaded: 0 });
  }
  return daemons;
}

async function timeRound(i) {
  for (let k = 0; k < tools.length; k++) {
    const t = tools[(i + k) % tools.length];
    await runOnce('sync', []);
    const r = await t.run();
    t.times.push(r.ms);
    if (t.repo) {
      const rec = checkBackup(r, expect);
      t.runs.push(Date.parse(rec.end) - Date.parse(rec.start));
    }
  }
  console.log(`round ${i + 1}: ${tools.map((t) => `${t.name} ${t.times.at(-1).toFixed(0)} ms${t.runs ? ` (run ${t.runs.at(-1)})` : ''}`).join(', ')}`);
}

const stop = async (daemons) => {
  for (const d of daemons) await d.stop();
};
const fresh = async () => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  const src = path.join(work, 'a');
  await runOnce('cp', ['-a', tree, src]);
  return src;
};

if (steady) {
  const src = await fresh();
  const daemons = await setUp(src);
  try {
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) applyChanges(src, plan);
      else await runOnce('rsync', ['-a', '--delete', `${tree}/`, `${src}/`]); // the change undone: as many changes again
      await timeRound(i);
    }
  } finally {
    await stop(daemons);
  }
} else {
  for (let i = 0; i < rounds; i++) {
    const src = await fresh();
    const daemons = await setUp(src);
    try {
      applyChanges(src, plan);
      await timeRound(i);
    } finally {
      await stop(daemons);
    }
  }
}
fs.rmSync(work, { recursive: true, force: true });
const rc = median(tools.at(-1).times);
for (const t of tools) console.log(`${t.name.padEnd(32)} median ${median(t.times).toFixed(0)} ms${t.runs ? `, the run itself ${median(t.runs)} ms` : ''} = ${(median(t.times) / rc).toFixed(2)}× rclone sync`);
