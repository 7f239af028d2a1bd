#!/usr/bin/env node
// Issue 22: a million files in one job. One deterministic tree made on the fly (lib/big-tree.mjs:
// --files N small files, 200–2,199 bytes, in folders of 50; default 1,000,000 = 20,000 folders),
// an hdd target on the same disk, one-shot processes, GNU time for each command's peak RSS, hokan
// against `rsync -a` and `rclone sync` (local to local) on the same tree in the same run, the
// tools interleaved (the order rotated every round), `sync` before each timed run. Sections (--only):
//   first         first backup: each tool from nothing (fresh destination, fresh hokan data folder
//                 and target) — target hokan ≤ 1.0× rsync -a
//   nochange      nothing changed: one untimed run of each tool, then --runs rounds — target
//                 hokan ≤ 0.7× rsync -a
//   changed       1% of the files modified, spread over the tree (a different 1% each round), then
//                 each tool once — hokan's counts must equal the change
//   restore-path  `agent restore --path FOLDER --to OUT` of one 50-file folder (the middle one),
//                 checked byte for byte against the source — target < 0.5 s and ≤ 80 MiB; then the
//                 same command through a running `agent run` (forwarded to its socket) — < 0.5 s
//                 (`rsync -a` of the same folder from rsync's copy, for information)
//   restore-all   `agent restore --to OUT` of everything, counted (files and bytes); `rsync -a` and
//                 `rclone copy` of their copies for information
// Every hokan command: peak RSS ≤ 150 MiB (one verdict over all of them, and each in the table).
// Options: --files N (default 1000000) --runs N (default 3) --only … --keep --data DIR (lib/cli.mjs).
// Validated at --files 100000 --runs 1; the 1,000,000-file figures need ~25 GB free and an hour.
// Needs the build (`npx tsc -b`) and the Debian packages rsync rclone time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, sec, mib, table, verdict, machine } from './lib/cli.mjs';
import { backupCommand, checkBackup, writeConfig, peakAnonKiB, startDaemon, AGENT, REPO } from './lib/hokan.mjs';
import { runOnce, median, rm, fresh, workDir } from './lib/run.mjs';
import { PER_FOLDER, changeOnePercent, folderDigest, folderRel, generateBigTree } from './lib/big-tree.mjs';
import { countTree } from './lib/trees.mjs';

const SECTIONS = ['first', 'nochange', 'changed', 'restore-path', 'restore-all'];
const o = parseArgs(process.argv, SECTIONS);
const filesArg = process.argv.indexOf('--files');
const FILES = filesArg > 0 ? Number(process.argv[filesArg + 1]) : 1_000_000;
if (!(FILES >= PER_FOLDER && Number.isInteger(FILES))) throw new Error(`--files must be a whole number ≥ ${PER_FOLDER}`);
if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run \`npx tsc -b\` first`);
for (const tool of ['rsync', 'rclone']) if (!fs.existsSync(`/usr/bin/${tool}`)) throw new Error(`${tool} missing: apt-get install -y rsync rclone time`);

const log = (...a) => console.log(...a);
const { work, cleanup } = workDir(o, 'work-million');
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const env = { ...process.env, NO_COLOR: '1', RCLONE_CONFIG: '/dev/null' };
const sync = () => runOnce('sync', []);

const src = path.join(o.data, 'trees', `million-${FILES}`);
const MIB = 1024;
const RSS_LIMIT = 150 * MIB;
const PATH_RSS_LIMIT = 80 * MIB;

// The three copies every section after the first works on (made by `first`, or untimed by ensure()).
const hokan = { base: path.join(work, 'hokan') };
hokan.target = path.join(hokan.base, 'target');
hokan.config = path.join(hokan.base, 'config.json');
hokan.dataDir = path.join(hokan.base, 'data');
const rsyncDst = path.join(work, 'rsync');
const rcloneDst = path.join(work, 'rclone');
let ready = false;

const results = [];
const verdicts = [];
/** Every hokan command's peak RSS: [what, KiB]. */
const hokanRss = [];
const row = (what, tool, ms, rssKiB, note = '') => results.push([what, tool, ms === undefined ? '—' : sec(ms), mib(rssKiB), note]);

function freshHokan() {
  fresh(hokan.base);
  fs.mkdirSync(hokan.target);
  writeConfig(hokan.config, { source: src, target: { type: 'hdd', path: hokan.target } });
}
const hokanBackup = async ({ sample = false } = {}) => {
  const peakFile = sample ? path.join(work, 'peak.json') : undefined;
  if (peakFile) rm(peakFile);
  const r = await runOnce(...backupCommand({ config: hokan.config, dataDir: hokan.dataDir, peakFile }));
  if (peakFile) r.anonKiB = peakAnonKiB(peakFile);
  return r;
};
const hokanRestore = (out, paths = []) =>
  runOnce(AGENT, ['restore', '--job', 'bench', '--to', out, ...paths.flatMap((p) => ['--path', p]), '--config', hokan.config, '--data-dir', hokan.dataDir], { cwd: REPO, env });
const restoredCount = (r) => Number(/restore completed — restored (\d+)/.exec(r.stdout)?.[1] ?? NaN);

/** The tools of a backup section, each a timed run; `order` rotates every round. */
async function rounds(runs, tools) {
  const times = Object.fromEntries(tools.map((t) => [t.name, []]));
  const rss = Object.fromEntries(tools.map((t) => [t.name, 0]));
  for (let i = 0; i < runs; i++) {
    await tools[0].before?.(i);
    for (let k = 0; k < tools.length; k++) {
      const t = tools[(i + k) % tools.length];
      await t.prepare?.(i);
      await sync();
      const r = await t.run(i);
      await t.check?.(r, i);
      times[t.name].push(r.ms);
      rss[t.name] = Math.max(rss[t.name], r.rssKiB ?? 0);
      log(`    ${t.name} #${i + 1}: ${sec(r.ms)}, peak RSS ${mib(r.rssKiB)}`);
    }
  }
  return Object.fromEntries(tools.map((t) => [t.name, { ms: median(times[t.name]), rssKiB: rss[t.name] }]));
}

async function firstSection() {
  log(`\n== first backup: hokan vs rsync -a vs rclone sync, each from nothing (${o.runs} rounds, interleaved) ==`);
  // The tree read once, untimed: a tree not read for a while is partly out of the page cache (the
  // kernel reclaims what sits unused), and the first tool of the first round paid for reading it
  // from the disk (2026-12-07: hokan 207 s first, 130–175 s after another tool had read it).
  const warm = await runOnce('sh', ['-c', 'tar -cf - -C "$1" . | wc -c', 'warm', src], { env });
  log(`  (untimed) the tree read once: ${sec(warm.ms)}`);
  // A copy deleted just before a run slows that run's file creation: ext4 skips inodes freed in
  // the last minute or more when it allocates (2026-12-07: rsync 58.6 s, then 77.0 s right after its
  // first copy was deleted). So a round's copies are moved aside (a rename) and all are deleted
  // after the section — when the file system has the inodes for them; else each at once, as before.
  const spare = fs.statfsSync(o.data).ffree;
  const keepAside = spare > 3 * o.runs * (FILES + FILES / PER_FOLDER) + 1_000_000;
  if (!keepAside) log(`  (the disk has ${spare} free inodes: each copy is deleted before the next, which slows the runs after it)`);
  const aside = [];
  const clear = (dir) => {
    if (keepAside && fs.existsSync(dir)) {
      const to = `${dir}.old-${aside.length}`;
      fs.renameSync(dir, to);
      aside.push(to);
    }
    fresh(dir);
  };
  const m = await rounds(o.runs, [
    {
      name: 'hokan',
      prepare: () => {
        clear(hokan.base);
        freshHokan();
      },
      run: () => hokanBackup(),
      check: (r) => checkBackup(r, { uploaded: FILES }),
    },
    { name: 'rsync -a', prepare: () => clear(rsyncDst), run: () => runOnce('rsync', ['-a', `${src}/`, `${rsyncDst}/`], { env }) },
    { name: 'rclone sync', prepare: () => clear(rcloneDst), run: () => runOnce('rclone', ['sync', src, rcloneDst], { env }) },
  ]);
  for (const dir of aside) rm(dir);
  ready = true;
  const ratio = m.hokan.ms / m['rsync -a'].ms;
  row('first backup', 'rsync -a', m['rsync -a'].ms, m['rsync -a'].rssKiB);
  row('first backup', 'rclone sync', m['rclone sync'].ms, m['rclone sync'].rssKiB);
  row('first backup', 'hokan', m.hokan.ms, m.hokan.rssKiB, `${ratio.toFixed(2)}× rsync, ${(m.hokan.ms / m['rclone sync'].ms).toFixed(2)}× rclone`);
  hokanRss.push(['first backup', m.hokan.rssKiB]);
  verdicts.push(verdict('first backup vs rsync -a', ratio, 1.0));
  const idx = du(path.join(hokan.dataDir, 'index'));
  const meta = du(path.join(hokan.target, 'bench', '.hokan'));
  log(`info  after the first backup: index ${mib(idx / 1024)} on disk (${(idx / FILES).toFixed(0)} bytes a file), the target's .hokan ${mib(meta / 1024)}`);
}

/** The three copies, made untimed when `first` was not run. */
async function ensure() {
  if (ready) return;
  log('  (untimed) a first backup of each tool, for the sections that follow');
  freshHokan();
  checkBackup(await hokanBackup(), { uploaded: FILES });
  fresh(rsyncDst);
  await runOnce('rsync', ['-a', `${src}/`, `${rsyncDst}/`], { env });
  fresh(rcloneDst);
  await runOnce('rclone', ['sync', src, rcloneDst], { env });
  ready = true;
}

async function noChangeSection() {
  await ensure();
  log(`\n== no change: hokan vs rsync -a vs rclone sync (one untimed run each, then ${o.runs} rounds) ==`);
  const warm = await hokanBackup({ sample: true });
  checkBackup(warm, { uploaded: 0 });
  log(`    hokan warm-up: ${sec(warm.ms)}, peak RSS ${mib(warm.rssKiB)} (private ${mib(warm.anonKiB)})`);
  await runOnce('rsync', ['-a', `${src}/`, `${rsyncDst}/`], { env });
  await runOnce('rclone', ['sync', src, rcloneDst], { env });
  const m = await rounds(o.runs, [
    { name: 'hokan', run: () => hokanBackup(), check: (r) => checkBackup(r, { uploaded: 0 }) },
    { name: 'rsync -a', run: () => runOnce('rsync', ['-a', `${src}/`, `${rsyncDst}/`], { env }) },
    { name: 'rclone sync', run: () => runOnce('rclone', ['sync', src, rcloneDst], { env }) },
  ]);
  const ratio = m.hokan.ms / m['rsync -a'].ms;
  row('no change', 'rsync -a', m['rsync -a'].ms, m['rsync -a'].rssKiB);
  row('no change', 'rclone sync', m['rclone sync'].ms, m['rclone sync'].rssKiB);
  row('no change', 'hokan', m.hokan.ms, m.hokan.rssKiB, `${ratio.toFixed(2)}× rsync, ${(m.hokan.ms / m['rclone sync'].ms).toFixed(2)}× rclone; private ${mib(warm.anonKiB)}`);
  hokanRss.push(['no change', Math.max(m.hokan.rssKiB, warm.rssKiB)]);
  verdicts.push(verdict('no change vs rsync -a', ratio, 0.7));
}

async function changedSection() {
  await ensure();
  log(`\n== 1% changed, spread over the tree (a different 1% each round): hokan vs rsync -a vs rclone sync (${o.runs} rounds) ==`);
  let changed = 0;
  const m = await rounds(o.runs, [
    {
      name: 'hokan',
      before: (i) => {
        changed = changeOnePercent(src, FILES, i);
        log(`  round ${i + 1}: ${changed} files modified`);
      },
      run: () => hokanBackup(),
      check: (r) => checkBackup(r, { uploaded: changed, deleted: 0 }),
    },
    { name: 'rsync -a', run: () => runOnce('rsync', ['-a', `${src}/`, `${rsyncDst}/`], { env }) },
    { name: 'rclone sync', run: () => runOnce('rclone', ['sync', src, rcloneDst], { env }) },
  ]);
  const ratio = m.hokan.ms / m['rsync -a'].ms;
  row('1% changed', 'rsync -a', m['rsync -a'].ms, m['rsync -a'].rssKiB);
  row('1% changed', 'rclone sync', m['rclone sync'].ms, m['rclone sync'].rssKiB);
  row('1% changed', 'hokan', m.hokan.ms, m.hokan.rssKiB, `${ratio.toFixed(2)}× rsync, ${(m.hokan.ms / m['rclone sync'].ms).toFixed(2)}× rclone`);
  hokanRss.push(['1% changed', m.hokan.rssKiB]);
}

async function restorePathSection() {
  await ensure();
  const k = Math.floor(FILES / PER_FOLDER / 2);
  const folder = path.join(src, folderRel(k));
  const want = folderDigest(folder);
  log(`\n== restore of one ${PER_FOLDER}-file folder (--path ${folderRel(k)}): hokan (${o.runs} runs), rsync -a of rsync's copy (information) ==`);
  const out = path.join(work, 'restore-path');
  const m = await rounds(o.runs, [
    {
      name: 'hokan',
      prepare: () => rm(out),
      run: () => hokanRestore(out, [folder]),
      check: (r) => {
        const got = path.join(out, path.basename(src), folderRel(k));
        if (restoredCount(r) !== PER_FOLDER || folderDigest(got) !== want) throw new Error(`restore --path gave ${restoredCount(r)} files, or other bytes than the source:\n${r.stdout}${r.stderr}`);
        const all = countTree(out);
        if (all.files !== PER_FOLDER) throw new Error(`restore --path wrote ${all.files} files, not ${PER_FOLDER}`);
      },
    },
    { name: 'rsync -a', prepare: () => fresh(out), run: () => runOnce('rsync', ['-a', `${path.join(rsyncDst, folderRel(k))}/`, `${out}/`], { env }) },
  ]);
  // The same command through a running `agent run` (the bin forwards it to the daemon's socket:
  // the code loaded and the index open already): one untimed, then --runs timed, each checked.
  const check = (r) => {
    const got = path.join(out, path.basename(src), folderRel(k));
    if (restoredCount(r) !== PER_FOLDER || folderDigest(got) !== want) throw new Error(`restore --path through agent run gave ${restoredCount(r)} files, or other bytes than the source:\n${r.stdout}${r.stderr}`);
  };
  const daemon = await startDaemon({ config: hokan.config, dataDir: hokan.dataDir }, env);
  const viaDaemon = [];
  let clientRss = 0;
  let daemonHwm;
  try {
    for (let i = 0; i <= o.runs; i++) {
      rm(out);
      await sync();
      const r = await hokanRestore(out, [folder]);
      check(r);
      if (i === 0) continue;
      viaDaemon.push(r.ms);
      clientRss = Math.max(clientRss, r.rssKiB ?? 0);
      log(`    hokan through \`agent run\` #${i}: ${sec(r.ms)}, the client's peak RSS ${mib(r.rssKiB)}`);
    }
    daemonHwm = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${daemon.pid}/status`, 'utf8'))?.[1]);
  } finally {
    await daemon.stop();
  }
  rm(out);
  const dm = median(viaDaemon);
  row('restore one folder', 'rsync -a', m['rsync -a'].ms, m['rsync -a'].rssKiB, 'information');
  row('restore one folder', 'hokan', m.hokan.ms, m.hokan.rssKiB);
  row('restore one folder', 'hokan through `agent run`', dm, clientRss, `the daemon's peak RSS ${mib(daemonHwm)} (its index open, the job's runs before)`);
  hokanRss.push(['restore one folder', m.hokan.rssKiB]);
  verdicts.push(verdict('restore --path of one folder, time', m.hokan.ms / 1000, 0.5, (x) => `${x.toFixed(2)} s`, '<'));
  verdicts.push(verdict('restore --path of one folder through `agent run`, time', dm / 1000, 0.5, (x) => `${x.toFixed(2)} s`, '<'));
  verdicts.push(verdict('restore --path of one folder, peak RSS', m.hokan.rssKiB, PATH_RSS_LIMIT, (x) => mib(x)));
}

async function restoreAllSection() {
  await ensure();
  log(`\n== restore of everything: hokan, rsync -a and rclone copy of their copies (information), ${o.runs} rounds ==`);
  const out = path.join(work, 'restore-all');
  const want = countTree(src);
  const same = (what, dir) => {
    const got = countTree(dir);
    if (got.files !== want.files || got.bytes !== want.bytes) throw new Error(`${what} gave ${got.files} files / ${got.bytes} bytes, the source has ${want.files} / ${want.bytes}`);
  };
  const m = await rounds(o.runs, [
    {
      name: 'hokan',
      prepare: () => rm(out),
      run: () => hokanRestore(out),
      check: (r) => {
        if (restoredCount(r) !== FILES) throw new Error(`restore gave ${restoredCount(r)} files, not ${FILES}:\n${r.stdout}${r.stderr}`);
        same('hokan restore', path.join(out, path.basename(src)));
        // A few folders byte for byte (every 997th).
        for (let k = 0; k < FILES / PER_FOLDER; k += 997) {
          if (folderDigest(path.join(out, path.basename(src), folderRel(k))) !== folderDigest(path.join(src, folderRel(k)))) throw new Error(`restored folder ${folderRel(k)} differs from the source`);
        }
      },
    },
    { name: 'rsync -a', prepare: () => fresh(out), run: () => runOnce('rsync', ['-a', `${rsyncDst}/`, `${out}/`], { env }), check: () => same('rsync -a', out) },
    { name: 'rclone copy', prepare: () => fresh(out), run: () => runOnce('rclone', ['copy', rcloneDst, out], { env }), check: () => same('rclone copy', out) },
  ]);
  rm(out);
  row('restore everything', 'rsync -a', m['rsync -a'].ms, m['rsync -a'].rssKiB, 'information');
  row('restore everything', 'rclone copy', m['rclone copy'].ms, m['rclone copy'].rssKiB, 'information');
  row('restore everything', 'hokan', m.hokan.ms, m.hokan.rssKiB, `${(m.hokan.ms / m['rsync -a'].ms).toFixed(2)}× rsync, ${(m.hokan.ms / m['rclone copy'].ms).toFixed(2)}× rclone`);
  hokanRss.push(['restore everything', m.hokan.rssKiB]);
}

/** Bytes a folder takes (du -sb), 0 when missing. */
function du(dir) {
  let n = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else n += fs.lstatSync(p).size;
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return n;
}

function report() {
  if (!results.length) return;
  log('');
  table([['measurement', 'tool', 'median', 'peak RSS', 'ratio'], ...results]);
  if (hokanRss.length) {
    const [what, worst] = hokanRss.reduce((a, b) => (b[1] > a[1] ? b : a));
    verdicts.push(verdict(`peak RSS of every hokan command (highest: ${what})`, worst, RSS_LIMIT, (x) => mib(x)));
  }
  log('');
  for (const v of verdicts) log(v.text);
}

try {
  log(`hokan million-file benchmark — ${new Date().toISOString()} — ${machine()} — load average ${loadavg()}`);
  log(`data: ${o.data}; ${FILES} files; runs per measurement: ${o.runs}`);
  fs.mkdirSync(work, { recursive: true });
  log(`tree: ${src}`);
  const stats = generateBigTree(src, FILES, log);
  log(`  ${stats.files} files in ${stats.folders} folders, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB`);
  if (o.only.includes('first')) await firstSection();
  if (o.only.includes('nochange')) await noChangeSection();
  if (o.only.includes('changed')) await changedSection();
  if (o.only.includes('restore-path')) await restorePathSection();
  if (o.only.includes('restore-all')) await restoreAllSection();
  report();
  log(`\nload average at the end: ${loadavg()}`);
} finally {
  cleanup(); // work dirs always; the tree too unless --keep (or --data)
}
