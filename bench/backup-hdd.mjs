#!/usr/bin/env node
// Benchmark of the backup engine on target-hdd against rsync, rclone and restic (issue 3), all in
// one run on the same trees. Sections (--only):
//   initial   tree (a) ~10,000 files / ~1.5 GB: hokan's initial backup vs `rsync -a SRC/ DST/`
//             (fresh destination each run; `rsync -a --fsync` shown for information: durable per file, where hokan makes a window of files durable with one syncfs)
//   nochange  a run with nothing changed: hokan vs `rclone sync` on (b) 100,000 files, and hokan vs
//             `restic backup` (repository initialised, one backup done) on (a) and (b); each tool
//             first does one untimed no-change run (warm-up), then the timed ones; hokan once as a
//             one-shot process and once through `agent run` (the daemon started, the same command sent to it)
//   incremental  tree (a): each tool backs up a copy of the tree once (untimed), then one change set
//             is applied to the copy — 1% of the files modified (half at the same size), 1% added, 1%
//             deleted, every Nth file, never the first or last of a folder (lib/trees.mjs planChanges)
//             — and each tool runs once on it, timed: hokan (one-shot and through `agent run`) vs
//             `rsync -a --delete` (information), `rclone sync` (target ≤ 1.0×) and `restic backup`
//             (≤ 0.3×); --runs rounds, each from a fresh copy. hokan's counts must equal the change
//             exactly, and its browsable tree the changed copy
//   memory    peak RSS of hokan's initial backup and no-change run on (b) 100,000 and (c) 300,000 files
//   targets   (only with --only targets) a job with 1, 2 and 3 hdd targets: initial backup of (b),
//             time and peak memory (information: the issue's memory target is for one target)
// Options: --quick --keep --only initial,nochange,incremental,memory[,targets] --runs N --data DIR --profile (see lib/cli.mjs).
// Needs the build (`npx tsc -b`) and the Debian packages rsync rclone restic time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, sec, mib, table, verdict, machine } from './lib/cli.mjs';
import { backupCommand, checkBackup, writeConfig, peakAnonKiB, startDaemon, AGENT, REPO } from './lib/hokan.mjs';
import { runOnce, median, rm, fresh, workDir } from './lib/run.mjs';
import { generateTree, treeSpec, planChanges, applyChanges } from './lib/trees.mjs';
import { summarise } from './lib/cpuprofile.mjs';

const SECTIONS = ['initial', 'nochange', 'incremental', 'memory'];
const o = parseArgs(process.argv, SECTIONS, ['targets']);
if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run \`npx tsc -b\` first`);
for (const tool of ['rsync', 'rclone', 'restic']) if (!fs.existsSync(`/usr/bin/${tool}`)) throw new Error(`${tool} missing: apt-get install -y rsync rclone restic time`);

const log = (...a) => console.log(...a);
const { work, cleanup } = workDir(o, 'work-hdd');

const trees = {};
function tree(name) {
  if (!trees[name]) {
    const dir = path.join(o.data, 'trees', o.quick ? `${name}-quick` : name);
    log(`tree (${name}): ${dir}`);
    const stats = generateTree(dir, treeSpec(name, o.quick), log);
    trees[name] = { name, dir, stats };
    log(`  ${stats.files} files, ${stats.folders} folders, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB`);
  }
  return trees[name];
}

const sync = () => runOnce('sync', []);
const env = { ...process.env, NO_COLOR: '1', RESTIC_PASSWORD: 'bench', RCLONE_CONFIG: '/dev/null' };

/** A hokan job for a tree: fresh target and data dir. */
function hokanSetup(t, tag) {
  const base = path.join(work, `${tag}-${t.name}`);
  fresh(base);
  const target = path.join(base, 'target');
  fs.mkdirSync(target);
  const config = writeConfig(path.join(base, 'config.json'), { source: t.dir, target: { type: 'hdd', path: target } });
  return { base, target, config, dataDir: path.join(base, 'data') };
}
/**
 * One hokan run. `sample`: also sample its private memory (bench/lib/peak-mem.cjs, preloaded, reads
 * /proc every 10 ms on hokan's main thread) — only where memory is what is measured; a timed run
 * goes without it (GNU time still gives its peak RSS), as the peers do.
 */
const hokanRun = async (h, { sample = false, ...extra } = {}) => {
  const peakFile = sample ? path.join(h.base, 'peak.json') : undefined;
  if (peakFile) fs.rmSync(peakFile, { force: true });
  const r = await runOnce(...backupCommand({ config: h.config, dataDir: h.dataDir, peakFile, ...extra }));
  if (peakFile) r.anonKiB = peakAnonKiB(peakFile);
  return r;
};

const results = [];
const verdicts = [];
const row = (what, tool, t, rssKiB, note = '') => results.push([what, tool, t === undefined ? '—' : sec(t), mib(rssKiB), note]);

/** Memory results, by tree: { initial: rssKiB, nochange: rssKiB } */
const memory = {};
/** hokan jobs already backed up once (reused by nochange and memory). */
const backedUp = {};

async function hokanInitialOnce(t) {
  if (backedUp[t.name]) return backedUp[t.name];
  const h = hokanSetup(t, 'hokan');
  await sync();
  const r = await hokanRun(h, { sample: true });
  checkBackup(r, { uploaded: t.stats.files });
  log(`    hokan initial (${t.name}): ${sec(r.ms)}, peak RSS ${mib(r.rssKiB)}`);
  memory[t.name] = { ...(memory[t.name] ?? {}), initial: r.rssKiB, initialAnon: r.anonKiB, initialMs: r.ms };
  backedUp[t.name] = h;
  return h;
}

async function hokanNoChange(t, runs, { sample = false, warmUp = false } = {}) {
  const h = await hokanInitialOnce(t);
  if (warmUp) {
    // Untimed, like each peer's: the first run after the initial one replays the index's log of
    // the initial run (~0.2 s on (b)); every later run starts from compacted tables.
    const r = await hokanRun(h);
    checkBackup(r, { uploaded: 0 });
    log(`    hokan no-change (${t.name}) warm-up: ${sec(r.ms)}`);
  }
  const times = [];
  const inProcess = [];
  let rss = 0;
  let anon = 0;
  for (let i = 0; i < runs; i++) {
    const r = await hokanRun(h, { sample });
    anon = Math.max(anon, r.anonKiB ?? 0);
    const rec = checkBackup(r, { uploaded: 0 });
    times.push(r.ms);
    // The run itself, from its record (start → end): what a no-change run costs the `agent run`
    // daemon, which pays Node's start-up and module loading once, not every run.
    inProcess.push(Date.parse(rec.end) - Date.parse(rec.start));
    rss = Math.max(rss, r.rssKiB);
    log(`    hokan no-change (${t.name}) #${i + 1}: ${sec(r.ms)} (the run itself ${sec(inProcess.at(-1))}), peak RSS ${mib(r.rssKiB)}`);
  }
  const m = (memory[t.name] ??= {});
  m.nochange = Math.max(m.nochange ?? 0, rss);
  if (anon) m.nochangeAnon = Math.max(m.nochangeAnon ?? 0, anon);
  return { ms: median(times), inProcessMs: median(inProcess), rssKiB: rss };
}

async function initialSection() {
  const t = tree('a');
  log(`\n== initial backup, tree (a): hokan vs rsync -a (${o.runs} runs each, interleaved; sync before each) ==`);
  const dst = path.join(work, 'rsync-a');
  const hk = [];
  const rs = [];
  const rsf = [];
  let hRss = 0;
  let rRss = 0;
  for (let i = 0; i < o.runs; i++) {
    fresh(dst);
    await sync();
    const r = await runOnce('rsync', ['-a', `${t.dir}/`, `${dst}/`], { env });
    rs.push(r.ms);
    rRss = Math.max(rRss, r.rssKiB ?? 0);
    log(`    rsync -a #${i + 1}: ${sec(r.ms)}`);
    fresh(dst);
    await sync();
    const rf = await runOnce('rsync', ['-a', '--fsync', `${t.dir}/`, `${dst}/`], { env });
    rsf.push(rf.ms);
    log(`    rsync -a --fsync #${i + 1}: ${sec(rf.ms)}`);
    rm(dst);
    const h = hokanSetup(t, 'hokan');
    await sync();
    const hr = await hokanRun(h);
    checkBackup(hr, { uploaded: t.stats.files });
    hk.push(hr.ms);
    hRss = Math.max(hRss, hr.rssKiB);
    log(`    hokan #${i + 1}: ${sec(hr.ms)}, peak RSS ${mib(hr.rssKiB)}`);
    if (i === o.runs - 1) backedUp.a = h; // reused by the no-change section
    else rm(h.base);
  }
  const ratio = median(hk) / median(rs);
  row('initial (a)', 'rsync -a', median(rs), rRss);
  row('initial (a)', 'rsync -a --fsync', median(rsf), undefined, 'info: durable per file');
  row('initial (a)', 'hokan', median(hk), hRss, `${ratio.toFixed(2)}× rsync, ${(median(hk) / median(rsf)).toFixed(2)}× rsync --fsync`);
  verdicts.push(verdict('initial backup (a) vs rsync -a', ratio, 1.5));
}


/**
 * No-change runs through the daemon: `agent run` started for the job's data folder, then the same
 * `agent backup --json` command, which the bin now sends to the daemon's socket (cli/daemon/client.ts):
 * Node's start-up is paid by the client, the loading and the index's opening once by the daemon.
 * Returns the median time, the client's peak RSS, the daemon's peak RSS (VmHWM) after the runs, its
 * RSS after a minute idle and the time of one more command then.
 */
async function hokanNoChangeDaemon(t, runs) {
  const h = await hokanInitialOnce(t);
  const d = await startDaemon(h, env);
  try {
    const warm = await hokanRun(h);
    checkBackup(warm, { uploaded: 0 });
    log(`    hokan no-change through \`agent run\` (${t.name}) warm-up: ${sec(warm.ms)}`);
    const times = [];
    let rss = 0;
    for (let i = 0; i < runs; i++) {
      const r = await hokanRun(h);
      checkBackup(r, { uploaded: 0 });
      times.push(r.ms);
      rss = Math.max(rss, r.rssKiB ?? 0);
      log(`    hokan no-change through \`agent run\` (${t.name}) #${i + 1}: ${sec(r.ms)}, the command's peak RSS ${mib(r.rssKiB)}`);
    }
    const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${d.pid}/status`, 'utf8'));
    // What it holds after a minute without a command, and what the next command then costs (a
    // daemon idle for a while answers slower: its pages and caches have cooled).
    await new Promise((r) => setTimeout(r, 62_000));
    const idle = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${d.pid}/status`, 'utf8'));
    const after = await hokanRun(h);
    checkBackup(after, { uploaded: 0 });
    log(`    hokan no-change through \`agent run\` (${t.name}) after a minute idle: ${sec(after.ms)}`);
    return { ms: median(times), rssKiB: rss, daemonKiB: hwm ? Number(hwm[1]) : undefined, idleKiB: idle ? Number(idle[1]) : undefined, afterIdleMs: after.ms };
  } finally {
    await d.stop();
  }
}

async function noChangeSection() {
  const runs = o.runs;
  for (const name of ['b', 'a']) {
    const t = tree(name);
    log(`\n== no-change run, tree (${name}): hokan vs ${name === 'b' ? 'rclone sync and ' : ''}restic backup (${runs} runs each) ==`);
    let rc;
    if (name === 'b') {
      const dst = path.join(work, `rclone-${name}`);
      fresh(dst);
      await runOnce('rclone', ['sync', t.dir, dst], { env });
      log(`    rclone sync no-change warm-up: ${sec((await runOnce('rclone', ['sync', t.dir, dst], { env })).ms)}`);
      const times = [];
      for (let i = 0; i < runs; i++) {
        const r = await runOnce('rclone', ['sync', t.dir, dst], { env });
        times.push(r.ms);
        log(`    rclone sync no-change #${i + 1}: ${sec(r.ms)}`);
      }
      rc = median(times);
      rm(dst);
    }
    const repo = path.join(work, `restic-${name}`);
    rm(repo);
    const renv = { ...env, RESTIC_REPOSITORY: repo, RESTIC_CACHE_DIR: path.join(work, 'restic-cache') };
    await runOnce('restic', ['init'], { env: renv });
    await runOnce('restic', ['backup', '--host', 'bench', t.dir], { env: renv });
    log(`    restic backup no-change warm-up: ${sec((await runOnce('restic', ['backup', '--host', 'bench', t.dir], { env: renv })).ms)}`);
    const rt = [];
    for (let i = 0; i < runs; i++) {
      const r = await runOnce('restic', ['backup', '--host', 'bench', t.dir], { env: renv });
      rt.push(r.ms);
      log(`    restic backup no-change #${i + 1}: ${sec(r.ms)}`);
    }
    rm(repo);
    const h = await hokanNoChange(t, runs, { warmUp: true });
    const hd = await hokanNoChangeDaemon(t, runs);
    const what = `no-change (${name})`;
    if (rc !== undefined) row(what, 'rclone sync', rc);
    row(what, 'restic backup', median(rt));
    row(what, 'hokan', h.ms, h.rssKiB, `${rc !== undefined ? `${(h.ms / rc).toFixed(2)}× rclone, ` : ''}${(h.ms / median(rt)).toFixed(2)}× restic`);
    row(what, 'hokan, the run itself', h.inProcessMs, undefined, `${rc !== undefined ? `${(h.inProcessMs / rc).toFixed(2)}× rclone, ` : ''}${(h.inProcessMs / median(rt)).toFixed(2)}× restic (info: in the daemon, start-up paid once)`);
    row(what, 'hokan through `agent run`', hd.ms, hd.rssKiB, `${rc !== undefined ? `${(hd.ms / rc).toFixed(2)}× rclone, ` : ''}${(hd.ms / median(rt)).toFixed(2)}× restic; the daemon's peak RSS ${mib(hd.daemonKiB)}, ${mib(hd.idleKiB)} after a minute idle`);
    row(what, '… after a minute idle', hd.afterIdleMs, undefined, `${rc !== undefined ? `${(hd.afterIdleMs / rc).toFixed(2)}× rclone, ` : ''}${(hd.afterIdleMs / median(rt)).toFixed(2)}× restic (info: one run, after the daemon sat idle a minute)`);
    if (rc !== undefined) verdicts.push(verdict(`no-change (${name}) vs rclone sync`, h.ms / rc, 1.0));
    verdicts.push(verdict(`no-change (${name}) vs restic backup`, h.ms / median(rt), 0.3));
    if (rc !== undefined) verdicts.push(verdict(`no-change (${name}) through \`agent run\` vs rclone sync`, hd.ms / rc, 1.0));
    verdicts.push(verdict(`no-change (${name}) through \`agent run\` vs restic backup`, hd.ms / median(rt), 0.3));
  }
}

/**
 * An incremental run on (a). Each round: a copy of the tree (the tools back up the copy, the tree
 * stays as generated), one untimed full backup and one untimed no-change run per tool (as in
 * `nochange`: hokan's first run after an initial one replays its index's log; the daemon's first
 * two commands compile their code), then ONE change set applied to the copy (trees.mjs planChanges:
 * 1% modified, 1% added, 1% deleted, spread over the tree, mid-folder), then one timed run of each
 * tool on it, in an order rotated every round. --runs N rounds, medians. hokan's counts must equal
 * the change exactly, and its browsable tree the changed copy.
 */
async function incrementalSection() {
  const t = tree('a');
  const plan = planChanges(t.dir);
  const nm = plan.modify.length;
  const nd = plan.remove.length;
  const na = plan.add.length;
  const sameSize = plan.modify.filter((f) => f.size === f.was).length;
  const expect = { seen: t.stats.files - nd + na, uploaded: nm + na, unchanged: t.stats.files - nd - nm, deleted: nd, failed: 0, skipped: 0 };
  log(`\n== incremental run, tree (a): ${nm} files modified (${sameSize} at the same size), ${na} added, ${nd} deleted; hokan vs rsync -a --delete, rclone sync, restic backup (${o.runs} rounds: copy, full backups, change, one timed run each) ==`);
  const base = path.join(work, 'incr');
  const src = path.join(base, t.name); // its name is the source's ROOT on hokan's target
  const renv = { ...env, RESTIC_REPOSITORY: path.join(base, 'restic'), RESTIC_CACHE_DIR: path.join(base, 'restic-cache') };
  const tools = [
    { id: 'rsync', label: 'rsync -a --delete', run: () => runOnce('rsync', ['-a', '--delete', `${src}/`, `${path.join(base, 'rsync')}/`], { env }) },
    { id: 'rclone', label: 'rclone sync', run: () => runOnce('rclone', ['sync', src, path.join(base, 'rclone')], { env }) },
    { id: 'restic', label: 'restic backup', run: () => runOnce('restic', ['backup', '--host', 'bench', src], { env: renv }) },
    { id: 'hokan', label: 'hokan', job: 'hokan' },
    { id: 'daemon', label: 'hokan through `agent run`', job: 'daemon' },
  ];
  for (const tool of tools) Object.assign(tool, { times: [], rssKiB: 0 });
  const inProcess = [];
  const wrong = [];
  for (let i = 0; i < o.runs; i++) {
    fresh(base);
    await runOnce('cp', ['-a', t.dir, src]);
    await runOnce('restic', ['init'], { env: renv });
    let daemon;
    try {
      for (const tool of tools.filter((x) => x.job)) {
        const h = hokanSetup({ ...t, dir: src }, `incr/${tool.job}`);
        tool.run = () => hokanRun(h);
        tool.target = path.join(h.target, 'bench', t.name); // TARGET/JOB/ROOT/REL
        checkBackup(await tool.run(), { uploaded: t.stats.files });
        if (tool.id === 'daemon') {
          daemon = await startDaemon(h, env);
          checkBackup(await tool.run(), { uploaded: 0 });
        }
      }
      for (const tool of tools.filter((x) => !x.job)) await tool.run();
      for (const tool of tools) {
        const r = await tool.run();
        if (tool.job) checkBackup(r, { uploaded: 0 });
        log(`    ${tool.label} full backup done; no-change warm-up: ${sec(r.ms)}`);
      }
      const { bytes } = applyChanges(src, plan);
      if (i === 0) log(`    change applied: ${(bytes / 2 ** 20).toFixed(1)} MiB written`);
      for (let k = 0; k < tools.length; k++) {
        const tool = tools[(i + k) % tools.length];
        await sync(); // no tool pays for the write-back of the change or of the one before
        const r = await tool.run();
        tool.times.push(r.ms);
        tool.rssKiB = Math.max(tool.rssKiB, r.rssKiB ?? 0);
        let note = '';
        if (tool.job) {
          const rec = checkBackup(r);
          const diff = Object.keys(expect).filter((c) => rec.counts?.[c] !== expect[c]);
          if (diff.length) wrong.push(`${tool.label} #${i + 1}: ${diff.map((c) => `${c} ${rec.counts?.[c]} (expected ${expect[c]})`).join(', ')}`);
          if (tool.id === 'hokan') inProcess.push(Date.parse(rec.end) - Date.parse(rec.start));
          note = ` (${Object.keys(expect).map((c) => `${c} ${rec.counts?.[c]}`).join(', ')})`;
        }
        log(`    ${tool.label} #${i + 1}: ${sec(r.ms)}${note}`);
      }
      // The counts can be right while files went to the wrong paths (issue 14's "deleted" file
      // still existed): the browsable tree on the target must equal the source as the run saw it.
      // hokan records files, not folders: the tree's empty folders (its generator stops in the
      // middle of a project) are not on the target.
      const noFiles = (p) => fs.statSync(p).isDirectory() && fs.readdirSync(p).every((e) => noFiles(path.join(p, e)));
      for (const tool of tools.filter((x) => x.job)) {
        const d = await runOnce('diff', ['-rq', '--no-dereference', src, tool.target], { allowFail: true });
        const only = (l) => /^Only in (.*): (.*)$/.exec(l);
        const lines = (d.stdout + d.stderr).split('\n').filter((l) => l && !(only(l) && `${only(l)[1]}/`.startsWith(`${src}/`) && noFiles(path.join(only(l)[1], only(l)[2]))));
        if (d.code > 1 || lines.length) wrong.push(`${tool.label} #${i + 1}: the target's tree differs from the source:\n    ${lines.slice(0, 10).join('\n    ')}`);
      }
    } finally {
      await daemon?.stop();
    }
  }
  rm(base);
  const [rs, rc, rt, hk, hd] = tools.map((x) => median(x.times));
  const vs = (x) => `${(x / rc).toFixed(2)}× rclone, ${(x / rt).toFixed(2)}× restic`;
  for (const tool of tools.slice(0, 3)) row('incremental (a)', tool.label, median(tool.times), tool.rssKiB);
  row('incremental (a)', 'hokan', hk, tools[3].rssKiB, `${vs(hk)} (${(hk / rs).toFixed(2)}× rsync)`);
  row('incremental (a)', 'hokan, the run itself', median(inProcess), undefined, `${vs(median(inProcess))} (info: in the daemon, start-up paid once)`);
  row('incremental (a)', 'hokan through `agent run`', hd, tools[4].rssKiB, vs(hd));
  verdicts.push(verdict('incremental (a) vs rclone sync', hk / rc, 1.0));
  verdicts.push(verdict('incremental (a) vs restic backup', hk / rt, 0.3));
  verdicts.push(verdict('incremental (a) through `agent run` vs rclone sync', hd / rc, 1.0));
  verdicts.push(verdict('incremental (a) through `agent run` vs restic backup', hd / rt, 0.3));
  const exact = `seen ${expect.seen}, uploaded ${expect.uploaded} (${nm} modified + ${na} added), unchanged ${expect.unchanged}, deleted ${nd}, failed 0, skipped 0`;
  const rounds = `${o.runs} round${o.runs === 1 ? '' : 's'}, one-shot and through \`agent run\``;
  const text = wrong.length
    ? `FAIL  incremental (a) hokan's counts or tree differ from the change (${exact}):\n  ${wrong.join('\n  ')}`
    : `PASS  incremental (a) hokan's counts exact (${exact}; ${rounds}), its browsable tree equals the source`;
  verdicts.push({ label: 'incremental (a) counts', ok: !wrong.length, text });
}

async function memorySection() {
  log(`\n== memory: hokan peak RSS at ${tree('b').stats.files} and ${tree('c').stats.files} files ==`);
  for (const name of ['b', 'c']) {
    const t = tree(name);
    // One no-change run with the private-memory sampler (the timed runs of `nochange` go without).
    if (!memory[name]?.nochangeAnon) await hokanNoChange(t, 1, { sample: true });
    const anonNote = (kib) => (kib ? `private (RssAnon) ${mib(kib)}` : '');
    row(`memory (${name}) initial`, 'hokan', memory[name].initialMs, memory[name].initial, anonNote(memory[name].initialAnon));
    row(`memory (${name}) no-change`, 'hokan', undefined, memory[name].nochange, anonNote(memory[name].nochangeAnon));
  }
  const b = memory.b;
  const c = memory.c;
  const limit = 150 * 1024;
  const f = (x) => `${(x / 1024).toFixed(0)} MiB`;
  verdicts.push(verdict(`peak RSS initial (b)`, b.initial, limit, f, '<'));
  verdicts.push(verdict(`peak RSS no-change (b)`, b.nochange, limit, f, '<'));
  const pf = (x) => `${x.toFixed(2)}×`;
  verdicts.push(verdict(`peak RSS initial flat (c)/(b)`, c.initial / b.initial, 1.2, pf));
  verdicts.push(verdict(`peak RSS no-change flat (c)/(b)`, c.nochange / b.nochange, 1.2, pf));
  // Information: the private part alone (RSS less the file-backed pages of the binary and of the
  // index's mmap'd table files, which grow with the index on disk, not with what hokan holds).
  if (b.initialAnon && c.initialAnon) log(`info  private memory initial (b) ${mib(b.initialAnon)}, (c) ${mib(c.initialAnon)}: (c)/(b) ${pf(c.initialAnon / b.initialAnon)}`);
  if (b.nochangeAnon && c.nochangeAnon) log(`info  private memory no-change (b) ${mib(b.nochangeAnon)}, (c) ${mib(c.nochangeAnon)}: (c)/(b) ${pf(c.nochangeAnon / b.nochangeAnon)}`);
}

/** A job over tree (b) with 1, 2 and 3 hdd targets (a folder each, same disk): one initial backup each. */
async function targetsSection() {
  const t = tree('b');
  log(`\n== several targets: initial backup of (b), one job, N hdd targets ==`);
  for (const n of [1, 2, 3]) {
    const base = path.join(work, `targets-${n}`);
    fresh(base);
    const targets = {};
    for (let i = 0; i < n; i++) {
      fs.mkdirSync(path.join(base, `t${i}`));
      targets[`t${i}`] = { type: 'hdd', path: path.join(base, `t${i}`) };
    }
    const config = writeConfig(path.join(base, 'config.json'), { source: t.dir, targets });
    await sync();
    const r = await hokanRun({ base, config, dataDir: path.join(base, 'data') }, { sample: true });
    checkBackup(r, { seen: t.stats.files, uploaded: n * t.stats.files }); // a file sent to each target counts once for each
    log(`    ${n} target(s): ${sec(r.ms)}, peak RSS ${mib(r.rssKiB)}, private ${mib(r.anonKiB)}`);
    row(`targets (b) initial`, `hokan, ${n} target(s)`, r.ms, r.rssKiB, r.anonKiB ? `private (RssAnon) ${mib(r.anonKiB)}` : '');
    rm(base);
  }
}

async function profileRuns() {
  const dir = path.join(o.data, 'profiles');
  fresh(dir);
  log(`\n== profiles (node --cpu-prof) in ${dir} ==`);
  if (backedUp.b) {
    const d = path.join(dir, 'nochange-b');
    const r = await runOnce(...backupCommand({ config: backedUp.b.config, dataDir: backedUp.b.dataDir, cpuProfDir: d }));
    checkBackup(r, { uploaded: 0 });
    log(`no-change (b) under the profiler: ${sec(r.ms)}`);
    log(summarise(path.join(d, fs.readdirSync(d)[0])));
  }
  if (o.only.includes('initial')) {
    const t = tree('a');
    const h = hokanSetup(t, 'profile');
    await sync();
    const d = path.join(dir, 'initial-a');
    const r = await runOnce(...backupCommand({ config: h.config, dataDir: h.dataDir, cpuProfDir: d }));
    checkBackup(r, { uploaded: t.stats.files });
    log(`initial (a) under the profiler: ${sec(r.ms)}`);
    log(summarise(path.join(d, fs.readdirSync(d)[0])));
    rm(h.base);
  }
}

function report() {
  if (!results.length) return;
  log('');
  table([['measurement', 'tool', 'median', 'peak RSS', 'ratio'], ...results]);
  log('');
  for (const v of verdicts) log(v.text);
}

try {
  log(`hokan backup-hdd benchmark — ${new Date().toISOString()} — ${machine()}${o.quick ? ' — QUICK' : ''}`);
  log(`data: ${o.data}; runs per measurement: ${o.runs}`);
  fs.mkdirSync(work, { recursive: true });
  if (o.only.includes('initial')) await initialSection();
  if (o.only.includes('nochange')) await noChangeSection();
  if (o.only.includes('incremental')) await incrementalSection();
  report();
  if (o.profile) await profileRuns();
  if (o.only.includes('memory')) {
    await memorySection();
    report();
  }
  if (o.only.includes('targets')) {
    await targetsSection();
    report();
  }
} finally {
  cleanup();
}
