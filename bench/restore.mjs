#!/usr/bin/env node
// Benchmark of a whole-tree restore (issue 20), hokan against its peers on the same tree, all in
// one run, interleaved (the order rotated every round), `sync` before each run, fresh empty
// destination each time. Sections (--only):
//   hdd   tree (a) backed up once (untimed) by each tool, then restored: hokan `agent restore --job
//         bench --to OUT` from an hdd target vs `rclone copy` of a plain copy of the tree, `cp -a` of
//         it, and `restic restore latest` (repository on the same disk). Targets: ≤ 1.0× rclone
//         copy, ≤ 0.5× restic restore; peak RSS ≤ 200 MiB
//   s3    (only when named) the same tree on the project's s3rver: hokan's restore vs `rclone copy
//         --fast-list` from a bucket rclone synced the tree to. Target ≤ 1.0× rclone copy. (Without
//         --fast-list rclone 1.60 lists s3rver 3.7 folder by folder and finds nothing under
//         `Area 00/`: "There was nothing to transfer"; --fast-list lists the bucket in one go.)
// Every restore is checked: the file count and bytes of the tree (and, on the first round, `diff -r`
// against the tree for hokan). hokan's user and system CPU seconds are printed beside the peers'.
// Options: --quick --keep --only hdd[,s3] --runs N --data DIR --strace (one more hokan restore under
// `strace -c -f`, its syscall summary printed) --profile (s3: one more hokan restore under
// `node --cpu-prof`, summarised). Needs the build and rsync rclone restic time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, sec, mib, table, verdict, machine } from './lib/cli.mjs';
import { writeConfig, backupOnce, binNodeFlags, AGENT, REPO } from './lib/hokan.mjs';
import { summarise } from './lib/cpuprofile.mjs';
import { runOnce, median, rm, fresh, workDir } from './lib/run.mjs';
import { countTree, generateTree, treeSpec } from './lib/trees.mjs';
import { startS3rver } from './lib/s3rver.mjs';

const o = parseArgs(process.argv, ['hdd'], ['s3']);
const straceToo = process.argv.includes('--strace');
if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run \`npx tsc -b\` first`);
for (const tool of ['rclone', 'restic']) if (!fs.existsSync(`/usr/bin/${tool}`)) throw new Error(`${tool} missing: apt-get install -y rsync rclone restic time`);

const log = (...a) => console.log(...a);
const { work, cleanup } = workDir(o, 'work-restore');

const dir = path.join(o.data, 'trees', o.quick ? 'a-quick' : 'a');
log(`tree (a): ${dir}`);
const stats = generateTree(dir, treeSpec('a', o.quick), log);
log(`  ${stats.files} files, ${stats.folders} folders, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB`);
log(machine());
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
log(`load average at the start: ${loadavg()}`);

const env = { ...process.env, NO_COLOR: '1', RESTIC_PASSWORD: 'bench', RCLONE_CONFIG: '/dev/null' };
const sync = () => runOnce('sync', []);
const results = [];
const verdicts = [];
const cpu = (r) => (Number.isFinite(r.userS) ? `${r.userS.toFixed(1)} user + ${r.sysS.toFixed(1)} sys` : '');

function checkTree(label, d) {
  const c = countTree(d);
  if (c.files !== stats.files || c.bytes !== stats.bytes) throw new Error(`${label}: restored ${c.files} files / ${c.bytes} bytes, the tree has ${stats.files} / ${stats.bytes}`);
}

/** Runs each tool `o.runs` times, interleaved, the order rotated every round; returns medians. */
async function interleaved(tools) {
  const times = Object.fromEntries(tools.map((t) => [t.name, []]));
  const last = {};
  const rss = {};
  for (let i = 0; i < o.runs; i++) {
    const order = tools.map((_, k) => tools[(k + i) % tools.length]);
    for (const t of order) {
      const out = path.join(work, 'out');
      rm(out);
      if (t.mkOut !== false) fs.mkdirSync(out, { recursive: true });
      await sync();
      const r = await runOnce(...t.cmd(out));
      await t.check(out, r, i);
      times[t.name].push(r.ms);
      last[t.name] = r;
      rss[t.name] = Math.max(rss[t.name] ?? 0, r.rssKiB ?? 0);
      log(`    ${t.name} #${i + 1}: ${sec(r.ms)}, peak RSS ${mib(r.rssKiB)}, ${cpu(r)}, load ${loadavg()}`);
    }
  }
  return Object.fromEntries(tools.map((t) => [t.name, { ms: median(times[t.name]), all: times[t.name], rssKiB: rss[t.name], last: last[t.name] }]));
}

function hokanRestoreCmd(config, dataDir) {
  return (out) => [AGENT, ['restore', '--job', 'bench', '--to', out, '--json', '--config', config, '--data-dir', dataDir], { cwd: REPO, env }];
}
function checkHokan(out, r, i) {
  const res = JSON.parse(r.stdout);
  if (res.run.status !== 'completed' || res.run.counts.restored !== stats.files) throw new Error(`hokan restore ${res.run.status}: ${JSON.stringify(res.run.counts)}`);
  const root = path.join(out, fs.readdirSync(out)[0]);
  checkTree('hokan', root);
  if (i === 0) return diffTree(root); // byte for byte, once
}
/** `diff -r` against the tree; folders without files are left out (hokan records files, not folders, yet). */
async function diffTree(root) {
  const r = await runOnce('diff', ['-r', '-q', dir, root], { allowFail: true });
  const bad = r.stdout.split('\n').filter(Boolean).filter((line) => {
    const m = /^Only in (.*): (.*)$/.exec(line);
    return !(m && m[1].startsWith(dir) && countTree(path.join(m[1], m[2])).files === 0);
  });
  if (bad.length || r.code > 1) throw new Error(`hokan's restore differs from the tree:\n${bad.slice(0, 20).join('\n')}${r.stderr}`);
}

async function hddSection() {
  log(`\n== whole-tree restore from a local disk: hokan vs rclone copy, cp -a, restic restore (${o.runs} runs each, interleaved; sync before each) ==`);
  const base = path.join(work, 'hdd');
  fresh(base);
  // hokan: one backup to an hdd target.
  const target = path.join(base, 'target');
  fs.mkdirSync(target);
  const config = writeConfig(path.join(base, 'config.json'), { source: dir, target: { type: 'hdd', path: target } });
  const dataDir = path.join(base, 'data');
  await backupOnce({ config, dataDir }, { uploaded: stats.files });
  // The peers' copies: a plain copy (what rclone and cp read), a restic repository.
  const plain = path.join(base, 'plain');
  await runOnce('rclone', ['sync', dir, plain], { env });
  const repo = path.join(base, 'restic');
  await runOnce('restic', ['init', '--repo', repo], { env });
  await runOnce('restic', ['backup', '--repo', repo, '--host', 'bench', dir], { env });
  log('  backed up by each tool (untimed)');

  const tools = [
    { name: 'hokan restore', cmd: hokanRestoreCmd(config, dataDir), check: checkHokan, mkOut: false },
    { name: 'rclone copy', cmd: (out) => ['rclone', ['copy', plain, out], { env }], check: (out) => checkTree('rclone', out) },
    { name: 'cp -a', cmd: (out) => ['cp', ['-a', `${plain}/.`, out], { env }], check: (out) => checkTree('cp', out) },
    { name: 'restic restore', cmd: (out) => ['restic', ['restore', 'latest', '--repo', repo, '--target', out], { env }], check: (out) => checkTree('restic', path.join(out, dir)) },
  ];
  const m = await interleaved(tools);
  const h = m['hokan restore'];
  for (const t of tools) results.push(['restore (a) ← local disk', t.name, `${sec(m[t.name].ms)} (${m[t.name].all.map((x) => (x / 1000).toFixed(2)).join(' / ')})`, mib(m[t.name].rssKiB), cpu(m[t.name].last), t.name === 'hokan restore' ? '' : `hokan ${(h.ms / m[t.name].ms).toFixed(2)}×`]);
  verdicts.push(verdict('restore (a) hdd: hokan ÷ rclone copy', h.ms / m['rclone copy'].ms, 1.0));
  verdicts.push(verdict('restore (a) hdd: hokan ÷ restic restore', h.ms / m['restic restore'].ms, 0.5));
  verdicts.push(verdict('restore (a) hdd: hokan peak RSS (MiB)', h.rssKiB / 1024, 200, (x) => `${x.toFixed(0)} MiB`));
  if (straceToo) {
    const out = path.join(work, 'out');
    rm(out);
    await sync();
    const [cmd, args, opts] = hokanRestoreCmd(config, dataDir)(out);
    const r = await runOnce('strace', ['-c', '-f', '-o', path.join(base, 'strace.txt'), cmd, ...args], opts);
    await checkHokan(out, r, 1);
    log(`\n  hokan restore under strace -c -f (${sec(r.ms)}):`);
    log(fs.readFileSync(path.join(base, 'strace.txt'), 'utf8').split('\n').slice(0, 22).join('\n'));
  }
  rm(base);
}

async function s3Section() {
  log(`\n== whole-tree restore from S3 (s3rver): hokan vs rclone copy (${o.runs} runs each, interleaved) ==`);
  const base = path.join(work, 's3');
  fresh(base);
  const server = await startS3rver({ buckets: ['hokan', 'rclone'], dataDir: base });
  try {
    const s3env = {
      ...env,
      AWS_CA_BUNDLE: '',
      RCLONE_CONFIG_S3R_TYPE: 's3',
      RCLONE_CONFIG_S3R_PROVIDER: 'Other',
      RCLONE_CONFIG_S3R_ENDPOINT: server.endpoint,
      RCLONE_CONFIG_S3R_REGION: 'us-east-1',
      RCLONE_CONFIG_S3R_ACCESS_KEY_ID: 'S3RVER',
      RCLONE_CONFIG_S3R_SECRET_ACCESS_KEY: 'S3RVER',
      RCLONE_CONFIG_S3R_FORCE_PATH_STYLE: 'true',
    };
    delete s3env.AWS_CA_BUNDLE;
    const config = writeConfig(path.join(base, 'config.json'), { source: dir, target: server.targetConfig('hokan') });
    const dataDir = path.join(base, 'data');
    await backupOnce({ config, dataDir }, { uploaded: stats.files });
    await runOnce('rclone', ['sync', dir, 's3r:rclone/bench'], { env: s3env });
    log('  backed up by each tool (untimed)');
    const tools = [
      { name: 'hokan restore', cmd: hokanRestoreCmd(config, dataDir), check: checkHokan, mkOut: false },
      { name: 'rclone copy', cmd: (out) => ['rclone', ['copy', '--fast-list', 's3r:rclone/bench', out], { env: s3env }], check: (out, r) => checkTree(`rclone (${r.stderr.slice(-300)})`, out) },
    ];
    const m = await interleaved(tools);
    const h = m['hokan restore'];
    for (const t of tools) results.push(['restore (a) ← s3rver', t.name, `${sec(m[t.name].ms)} (${m[t.name].all.map((x) => (x / 1000).toFixed(2)).join(' / ')})`, mib(m[t.name].rssKiB), cpu(m[t.name].last), t.name === 'hokan restore' ? '' : `hokan ${(h.ms / m[t.name].ms).toFixed(2)}×`]);
    verdicts.push(verdict('restore (a) s3rver: hokan ÷ rclone copy', h.ms / m['rclone copy'].ms, 1.0));
    if (o.profile) {
      const d = path.join(o.data, 'profiles', 's3-restore-a');
      fresh(d);
      const out = path.join(work, 'out');
      rm(out);
      const [, args, opts] = hokanRestoreCmd(config, dataDir)(out);
      const r = await runOnce(process.execPath, [...binNodeFlags(), '--cpu-prof', `--cpu-prof-dir=${d}`, '--cpu-prof-interval=500', AGENT, ...args], opts);
      await checkHokan(out, r, 1);
      log(`\n  hokan restore from s3rver under the profiler: ${sec(r.ms)}, ${cpu(r)}`);
      log(summarise(path.join(d, fs.readdirSync(d)[0])));
    }
  } finally {
    await server.stop?.();
    rm(base);
  }
}

try {
  if (o.only.includes('hdd')) await hddSection();
  if (o.only.includes('s3')) await s3Section();
  log(`\nload average at the end: ${loadavg()}`);
  log('');
  table([['measurement', 'tool', 'median', 'peak RSS', 'CPU (last run)', 'ratio'], ...results]);
  log('');
  for (const v of verdicts) log(v.text);
} finally {
  cleanup();
}
