#!/usr/bin/env node
// Benchmark of target-s3 against rclone (issue 4), in one run on the same server: s3rver started
// in-process on 127.0.0.1 (the project's test helper), tree (a) ~10,000 files / ~1.5 GB.
//   initial   hokan's initial backup to a fresh bucket vs `rclone sync SRC s3:BUCKET` to another
//             fresh bucket (target: hokan ≤ 1.0× rclone)
//   nochange  a run with nothing changed: hokan vs rclone's no-change sync (target ≤ 0.1×; hokan
//             needs no listing of the bucket, rclone lists it and reads each object's mtime)
// rclone: S3 remote from environment variables (provider Other, endpoint, keys S3RVER/S3RVER,
// force_path_style), with AWS_CA_BUNDLE unset (rclone 1.60 refuses S3 with it set).
//   rgw       (only when named) the same tree to Ceph RGW 16 (bluestore on disk, started with the
//             ../shared/servers/ceph-rgw/start.sh): hokan (provider "ceph", nothing
//             else set) vs rclone (provider Ceph): initial vs `rclone sync` (≤ 1.0×), no-change vs
//             `rclone sync` (≤ 0.05×), restore of the whole tree vs `rclone copy` (≤ 1.0×).
// Options: --quick --keep --only initial,nochange,rgw --runs N --data DIR --profile (see lib/cli.mjs).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, sec, mib, table, verdict, machine } from './lib/cli.mjs';
import { backupCommand, checkBackup, writeConfig, noChangeThroughDaemon, AGENT } from './lib/hokan.mjs';
import { runOnce, median, rm, fresh } from './lib/run.mjs';
import { generateTree, treeSpec } from './lib/trees.mjs';
import { startS3rver } from './lib/s3rver.mjs';
import { startRgw } from './lib/rgw.mjs';
import { summarise } from './lib/cpuprofile.mjs';

const SECTIONS = ['initial', 'nochange'];
const o = parseArgs(process.argv, SECTIONS, ['rgw']);
if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run \`npx tsc -b\` first`);
if (!fs.existsSync('/usr/bin/rclone')) throw new Error('rclone missing: apt-get install -y rclone time');
const log = (...a) => console.log(...a);
const work = path.join(o.data, 'work-s3');
let server;
let rgw;
const cleanup = async () => {
  if (server) await server.stop().catch(() => {});
  server = undefined;
  if (rgw) await rgw.stop().catch(() => {});
  rgw = undefined;
  rm(work);
  if (o.temp) rm(o.data);
};
process.on('SIGINT', () => {
  cleanup().finally(() => process.exit(130));
});

const runs = o.runs;
const buckets = [];
for (let i = 0; i < runs; i++) buckets.push(`hokan-${i}`, `rclone-${i}`);
if (o.profile) buckets.push('hokan-prof');

const results = [];
const verdicts = [];
const row = (what, tool, t, rssKiB, note = '') => results.push([what, tool, t === undefined ? '—' : sec(t), mib(rssKiB), note]);

try {
  log(`hokan backup-s3 benchmark — ${new Date().toISOString()} — ${machine()}${o.quick ? ' — QUICK' : ''}`);
  const dir = path.join(o.data, 'trees', o.quick ? 'a-quick' : 'a');
  log(`tree (a): ${dir}`);
  const stats = generateTree(dir, treeSpec('a', o.quick), log);
  log(`  ${stats.files} files, ${stats.folders} folders, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB`);
  fresh(work);
  if (o.only.includes('initial') || o.only.includes('nochange')) {
    server = await startS3rver({ buckets, dataDir: work });
    log(`s3rver at ${server.endpoint} (data in ${server.directory})`);
    const rcloneEnv = {
      ...process.env,
      RCLONE_CONFIG: '/dev/null',
      RCLONE_CONFIG_S3R_TYPE: 's3',
      RCLONE_CONFIG_S3R_PROVIDER: 'Other',
      RCLONE_CONFIG_S3R_ENDPOINT: server.endpoint,
      RCLONE_CONFIG_S3R_REGION: 'us-east-1',
      RCLONE_CONFIG_S3R_ACCESS_KEY_ID: 'S3RVER',
      RCLONE_CONFIG_S3R_SECRET_ACCESS_KEY: 'S3RVER',
      RCLONE_CONFIG_S3R_FORCE_PATH_STYLE: 'true',
    };
    delete rcloneEnv.AWS_CA_BUNDLE;
    // The no-change sync uses --size-only: with rclone's default (size + mtime read by a HEAD per
    // object) rclone 1.60 against s3rver 3.7 finds the mtimes differ and "fixes" them with a
    // CopyObject onto the object itself, which s3rver truncates to 0 bytes ("corrupted on transfer:
    // sizes differ N vs 0"). --size-only is rclone's cheapest no-change run (one listing, no HEADs).
    const rclone = (bucket, extra = []) => ['rclone', ['sync', ...extra, dir, `s3r:${bucket}/bench`], { env: rcloneEnv }];
    const hokanJob = (bucket) => {
      const base = path.join(work, bucket);
      fresh(base);
      const config = writeConfig(path.join(base, 'config.json'), { source: dir, target: server.targetConfig(bucket) });
      return { config, dataDir: path.join(base, 'data') };
    };
    const dropBucket = (bucket) => rm(path.join(server.directory, bucket));

    log(`\n== initial backup to s3rver: hokan vs rclone sync (${runs} runs each, fresh buckets, interleaved) ==`);
    const hk = [];
    const rc = [];
    let hRss = 0;
    let rRss = 0;
    let job;
    for (let i = 0; i < runs; i++) {
      const r = await runOnce(...rclone(`rclone-${i}`));
      rc.push(r.ms);
      rRss = Math.max(rRss, r.rssKiB ?? 0);
      log(`    rclone sync #${i + 1}: ${sec(r.ms)}, peak RSS ${mib(r.rssKiB)}`);
      if (i < runs - 1) dropBucket(`rclone-${i}`);
      job = hokanJob(`hokan-${i}`);
      const h = await runOnce(...backupCommand(job));
      checkBackup(h, { uploaded: stats.files });
      hk.push(h.ms);
      hRss = Math.max(hRss, h.rssKiB ?? 0);
      log(`    hokan #${i + 1}: ${sec(h.ms)}, peak RSS ${mib(h.rssKiB)}`);
      if (i < runs - 1) dropBucket(`hokan-${i}`);
    }
    if (o.only.includes('initial')) {
      row('initial (a) → s3rver', 'rclone sync', median(rc), rRss);
      row('initial (a) → s3rver', 'hokan', median(hk), hRss, `${(median(hk) / median(rc)).toFixed(2)}× rclone`);
      verdicts.push(verdict('initial backup (a) to S3 vs rclone sync', median(hk) / median(rc), 1.0));
    }

    if (o.only.includes('nochange')) {
      log(`\n== no-change run on s3rver: hokan vs rclone sync (${runs} runs each) ==`);
      const hn = [];
      const rn = [];
      let hnRss = 0;
      for (let i = 0; i < runs; i++) {
        const r = await runOnce(...rclone(`rclone-${runs - 1}`, ['--size-only']));
        rn.push(r.ms);
        log(`    rclone sync no-change #${i + 1}: ${sec(r.ms)}`);
        const h = await runOnce(...backupCommand(job));
        checkBackup(h, { uploaded: 0 });
        hn.push(h.ms);
        hnRss = Math.max(hnRss, h.rssKiB ?? 0);
        log(`    hokan no-change #${i + 1}: ${sec(h.ms)}, peak RSS ${mib(h.rssKiB)}`);
      }
      row('no-change (a) s3rver', 'rclone sync', median(rn));
      row('no-change (a) s3rver', 'hokan', median(hn), hnRss, `${(median(hn) / median(rn)).toFixed(2)}× rclone`);
      verdicts.push(verdict('no-change (a) on S3 vs rclone sync', median(hn) / median(rn), 0.1));
      if (o.profile) {
        const d = path.join(o.data, 'profiles', 's3-nochange-a');
        fresh(d);
        const h = await runOnce(...backupCommand({ ...job, cpuProfDir: d }));
        checkBackup(h, { uploaded: 0 });
        log(`\nno-change (a) on S3 under the profiler: ${sec(h.ms)}`);
        log(summarise(path.join(d, fs.readdirSync(d)[0])));
      }
    }
    if (o.profile && o.only.includes('initial')) {
      const d = path.join(o.data, 'profiles', 's3-initial-a');
      fresh(d);
      const h = await runOnce(...backupCommand({ ...hokanJob('hokan-prof'), cpuProfDir: d }));
      checkBackup(h, { uploaded: stats.files });
      dropBucket('hokan-prof');
      log(`\ninitial (a) to S3 under the profiler: ${sec(h.ms)}`);
      log(summarise(path.join(d, fs.readdirSync(d)[0])));
    }
    await server.stop();
    server = undefined;
  }
  if (o.only.includes('rgw')) await rgwSection(dir, stats);
  log('');
  table([['measurement', 'tool', 'median', 'peak RSS', 'ratio'], ...results]);
  log('');
  for (const v of verdicts) log(v.text);
} finally {
  await cleanup();
}

/** Tree (a) to Ceph RGW: hokan vs rclone's Ceph provider — initial, no-change, restore of the whole tree. */
async function rgwSection(dir, stats) {
  const names = [];
  for (let i = 0; i < runs; i++) names.push(`hokan-${i}`, `rclone-${i}`);
  // Bluestore in a sparse file: room for every run's two copies of the tree and then some.
  rgw = await startRgw({ dir: path.join(work, 'rgw'), buckets: names, storeBytes: Math.max(8 * 2 ** 30, Math.ceil(stats.bytes * 2 * runs * 1.5)) });
  log(`\nCeph RGW at ${rgw.endpoint} (bluestore in ${path.join(work, 'rgw')})`);
  const env = {
    ...process.env,
    RCLONE_CONFIG: '/dev/null',
    RCLONE_CONFIG_RGW_TYPE: 's3',
    RCLONE_CONFIG_RGW_PROVIDER: 'Ceph',
    RCLONE_CONFIG_RGW_ENDPOINT: rgw.endpoint,
    RCLONE_CONFIG_RGW_ACCESS_KEY_ID: rgw.accessKeyId,
    RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY: rgw.secretAccessKey,
  };
  delete env.AWS_CA_BUNDLE;
  const rclone = (verb, from, to, extra = []) => ['rclone', [verb, ...extra, from, to], { env }];
  const job = (bucket) => {
    const base = path.join(work, `rgw-${bucket}`);
    fresh(base);
    const config = writeConfig(path.join(base, 'config.json'), { source: dir, target: rgw.targetConfig(bucket) });
    return { config, dataDir: path.join(base, 'data') };
  };
  /** Files and bytes under a folder (a restore must hold the whole tree). */
  const measure = (root) => {
    let files = 0;
    let bytes = 0;
    for (const e of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      files++;
      bytes += fs.statSync(path.join(e.parentPath ?? e.path, e.name)).size;
    }
    return { files, bytes };
  };
  const checkTree = (root, who) => {
    const m = measure(root);
    if (m.files !== stats.files || m.bytes !== stats.bytes) throw new Error(`${who} restored ${m.files} files / ${m.bytes} bytes, the tree has ${stats.files} / ${stats.bytes}`);
  };

  log(`\n== initial backup to RGW: hokan vs rclone sync (${runs} runs each, fresh buckets, interleaved) ==`);
  const hk = [], rc = [];
  let hRss = 0, rRss = 0, last;
  for (let i = 0; i < runs; i++) {
    const r = await runOnce(...rclone('sync', dir, `rgw:rclone-${i}/bench`));
    rc.push(r.ms);
    rRss = Math.max(rRss, r.rssKiB ?? 0);
    log(`    rclone sync #${i + 1}: ${sec(r.ms)}, peak RSS ${mib(r.rssKiB)}`);
    last = job(`hokan-${i}`);
    const h = await runOnce(...backupCommand(last));
    checkBackup(h, { uploaded: stats.files });
    hk.push(h.ms);
    hRss = Math.max(hRss, h.rssKiB ?? 0);
    log(`    hokan #${i + 1}: ${sec(h.ms)}, peak RSS ${mib(h.rssKiB)}`);
  }
  row('initial (a) → RGW', 'rclone sync', median(rc), rRss);
  row('initial (a) → RGW', 'hokan', median(hk), hRss, `${(median(hk) / median(rc)).toFixed(2)}× rclone`);
  verdicts.push(verdict('initial backup (a) to RGW vs rclone sync', median(hk) / median(rc), 1.0));

  log(`\n== no-change run on RGW: hokan vs rclone sync (${runs} runs each) ==`);
  const hn = [], rn = [];
  for (let i = 0; i < runs; i++) {
    // rclone's default check (size, and the mtime it stored in the object's metadata): a HEAD per object.
    const r = await runOnce(...rclone('sync', dir, `rgw:rclone-${runs - 1}/bench`));
    rn.push(r.ms);
    log(`    rclone sync no-change #${i + 1}: ${sec(r.ms)}`);
    const h = await runOnce(...backupCommand(last));
    checkBackup(h, { uploaded: 0 });
    hn.push(h.ms);
    log(`    hokan no-change #${i + 1}: ${sec(h.ms)}`);
  }
  row('no-change (a) RGW', 'rclone sync', median(rn));
  row('no-change (a) RGW', 'hokan', median(hn), undefined, `${(median(hn) / median(rn)).toFixed(3)}× rclone`);
  verdicts.push(verdict('no-change (a) on RGW vs rclone sync', median(hn) / median(rn), 0.05, (x) => `${x.toFixed(3)}×`));
  // Through the daemon: Node's start-up, loading the AWS SDK and opening the index are paid once.
  const hd = await noChangeThroughDaemon(last, Math.max(runs, 5), log);
  row('no-change (a) RGW', 'hokan through `agent run`', median(hd), undefined, `${(median(hd) / median(rn)).toFixed(3)}× rclone (median of ${hd.length})`);
  verdicts.push(verdict('no-change (a) on RGW through `agent run` vs rclone sync', median(hd) / median(rn), 0.05, (x) => `${x.toFixed(3)}×`));

  log(`\n== restore of the whole tree from RGW: hokan vs rclone copy (${runs} runs each, fresh folders) ==`);
  const hr = [], rr = [];
  let hrRss = 0, rrRss = 0;
  for (let i = 0; i < runs; i++) {
    const to = path.join(work, 'restore-rclone');
    fresh(to);
    const r = await runOnce(...rclone('copy', `rgw:rclone-${runs - 1}/bench`, to));
    checkTree(to, 'rclone copy');
    rr.push(r.ms);
    rrRss = Math.max(rrRss, r.rssKiB ?? 0);
    log(`    rclone copy #${i + 1}: ${sec(r.ms)}, peak RSS ${mib(r.rssKiB)}`);
    rm(to);
    const hto = path.join(work, 'restore-hokan');
    fresh(hto);
    const [cmd, args, opts] = backupCommand(last);
    const h = await runOnce(cmd, ['restore', '--job', 'bench', '--to', hto, ...args.slice(args.indexOf('--json'))], opts);
    const rec = JSON.parse(h.stdout);
    if (rec.status !== 'completed' && rec.run?.status !== 'completed' && rec[0]?.status !== 'completed') throw new Error(`restore: ${h.stdout.slice(0, 500)}`);
    checkTree(path.join(hto, path.basename(dir)), 'hokan restore');
    hr.push(h.ms);
    hrRss = Math.max(hrRss, h.rssKiB ?? 0);
    log(`    hokan restore #${i + 1}: ${sec(h.ms)}, peak RSS ${mib(h.rssKiB)}`);
    rm(hto);
  }
  row('restore (a) ← RGW', 'rclone copy', median(rr), rrRss);
  row('restore (a) ← RGW', 'hokan restore', median(hr), hrRss, `${(median(hr) / median(rr)).toFixed(2)}× rclone`);
  verdicts.push(verdict('restore of the whole tree (a) from RGW vs rclone copy', median(hr) / median(rr), 1.0));
  await rgw.stop();
  rgw = undefined;
}
