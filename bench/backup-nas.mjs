#!/usr/bin/env node
// Benchmark of target-nas against rclone (issue 16), in one run on the same server: `rclone serve
// webdav` over a local folder (a child process on 127.0.0.1), tree (a) ~10,000 files / ~1.5 GB.
//   initial   hokan's initial backup to a fresh folder vs `rclone sync SRC dav:FOLDER` (rclone's own
//             webdav client) to another fresh folder (target: hokan ≤ 1.0× rclone)
//   nochange  a run with nothing changed: hokan vs rclone's no-change sync (target ≤ 0.1×; hokan
//             needs no listing of the share, rclone lists every folder with PROPFIND) — one-shot
//             `agent backup`, the run itself (its record's start → end), and through `agent run`
// hokan writes each file to .hokan-tmp/ and MOVEs it into place (two requests a file, atomic);
// rclone PUTs it in place (one request; a reader may see a part). Both use 4 transfers at once.
// Options: --quick --keep --only initial,nochange --runs N --data DIR --profile (see lib/cli.mjs).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, sec, mib, table, verdict, machine } from './lib/cli.mjs';
import { backupCommand, checkBackup, writeConfig, noChangeThroughDaemon, AGENT } from './lib/hokan.mjs';
import { runOnce, median, rm, fresh } from './lib/run.mjs';
import { generateTree, treeSpec } from './lib/trees.mjs';
import { startRcloneDav } from './lib/rclone-dav.mjs';

const SECTIONS = ['initial', 'nochange'];
const o = parseArgs(process.argv, SECTIONS);
if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run \`npx tsc -b\` first`);
if (!fs.existsSync('/usr/bin/rclone')) throw new Error('rclone missing: apt-get install -y rclone time');
const log = (...a) => console.log(...a);
const work = path.join(o.data, 'work-nas');
let server;
const cleanup = async () => {
  if (server) await server.stop().catch(() => {});
  server = undefined;
  rm(work);
  if (o.temp) rm(o.data);
};
process.on('SIGINT', () => {
  cleanup().finally(() => process.exit(130));
});

const runs = o.runs;
const results = [];
const verdicts = [];
const row = (what, tool, t, rssKiB, note = '') => results.push([what, tool, t === undefined ? '—' : sec(t), mib(rssKiB), note]);


try {
  log(`hokan backup-nas benchmark — ${new Date().toISOString()} — ${machine()}${o.quick ? ' — QUICK' : ''}`);
  log(`load average at the start: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (${os.cpus().length} CPUs, shared)`);
  const dir = path.join(o.data, 'trees', o.quick ? 'a-quick' : 'a');
  log(`tree (a): ${dir}`);
  const stats = generateTree(dir, treeSpec('a', o.quick), log);
  log(`  ${stats.files} files, ${stats.folders} folders, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB`);
  fresh(work);
  server = await startRcloneDav({ dir: path.join(work, 'dav') });
  log(`rclone serve webdav at ${server.url} (files in ${server.root})`);
  const rclone = (folder, extra = []) => ['rclone', ['sync', '--transfers', '4', ...extra, dir, `dav:${folder}/bench`], { env: server.rcloneEnv }];
  const hokanJob = async (folder) => {
    const base = path.join(work, folder);
    fresh(base);
    await server.mkdir(folder);
    const config = writeConfig(path.join(base, 'config.json'), { source: dir, target: { ...server.targetConfig(folder), maxConnections: 4 } });
    return { config, dataDir: path.join(base, 'data') };
  };
  // Dropped on disk once the server is done with them (only to free space; never read again).
  const drop = (folder) => rm(path.join(server.root, folder));

  // Without the initial section, one untimed backup of each only makes the folders the no-change runs look at.
  const initialRuns = o.only.includes('initial') ? runs : 1;
  log(`\n== initial backup over WebDAV: hokan vs rclone sync (${initialRuns} runs each, fresh folders, interleaved${o.only.includes('initial') ? '' : '; set-up only, untimed'}) ==`);
  const hk = [];
  const rc = [];
  let hRss = 0;
  let rRss = 0;
  let job;
  for (let i = 0; i < initialRuns; i++) {
    const r = await runOnce(...rclone(`rclone-${i}`));
    rc.push(r.ms);
    rRss = Math.max(rRss, r.rssKiB ?? 0);
    log(`    rclone sync #${i + 1}: ${sec(r.ms)}, peak RSS ${mib(r.rssKiB)} (load ${os.loadavg()[0].toFixed(2)})`);
    if (i < initialRuns - 1) drop(`rclone-${i}`);
    job = await hokanJob(`hokan-${i}`);
    const h = await runOnce(...backupCommand(job));
    checkBackup(h, { uploaded: stats.files });
    hk.push(h.ms);
    hRss = Math.max(hRss, h.rssKiB ?? 0);
    log(`    hokan #${i + 1}: ${sec(h.ms)}, peak RSS ${mib(h.rssKiB)} (load ${os.loadavg()[0].toFixed(2)})`);
    if (i < initialRuns - 1) drop(`hokan-${i}`);
  }
  if (o.only.includes('initial')) {
    row('initial (a) → WebDAV', 'rclone sync', median(rc), rRss);
    row('initial (a) → WebDAV', 'hokan', median(hk), hRss, `${(median(hk) / median(rc)).toFixed(2)}× rclone`);
    verdicts.push(verdict('initial backup (a) over WebDAV vs rclone sync', median(hk) / median(rc), 1.0));
  }
  if (o.only.includes('nochange')) {
    log(`\n== no-change run over WebDAV: hokan vs rclone sync (${runs} runs each) ==`);
    const hn = [];
    const rn = [];
    const inRun = [];
    let hnRss = 0;
    for (let i = 0; i < runs; i++) {
      // rclone's webdav backend with vendor "other" keeps no mtimes: --size-only is its no-change run (one PROPFIND a folder).
      const r = await runOnce(...rclone(`rclone-${initialRuns - 1}`, ['--size-only']));
      rn.push(r.ms);
      log(`    rclone sync no-change #${i + 1}: ${sec(r.ms)}`);
      const h = await runOnce(...backupCommand(job));
      const rec = checkBackup(h, { uploaded: 0 });
      inRun.push(Date.parse(rec.end) - Date.parse(rec.start));
      hn.push(h.ms);
      hnRss = Math.max(hnRss, h.rssKiB ?? 0);
      log(`    hokan no-change #${i + 1}: ${sec(h.ms)}, peak RSS ${mib(h.rssKiB)}`);
    }
    row('no-change (a) WebDAV', 'rclone sync', median(rn));
    row('no-change (a) WebDAV', 'hokan', median(hn), hnRss, `${(median(hn) / median(rn)).toFixed(2)}× rclone`);
    row('no-change (a) WebDAV', 'hokan, the run itself', median(inRun), undefined, `${(median(inRun) / median(rn)).toFixed(2)}× rclone (info: the run record's start → end)`);
    verdicts.push(verdict('no-change (a) over WebDAV vs rclone sync', median(hn) / median(rn), 0.1));
    // Through the daemon: Node's start-up, the loading of the webdav client and the index's opening
    // are paid once by `agent run`, as for a person who keeps it running.
    const hd = await noChangeThroughDaemon(job, Math.max(runs, 5), log);
    row('no-change (a) WebDAV', 'hokan through `agent run`', median(hd), undefined, `${(median(hd) / median(rn)).toFixed(2)}× rclone (median of ${hd.length})`);
    verdicts.push(verdict('no-change (a) over WebDAV through `agent run` vs rclone sync', median(hd) / median(rn), 0.1));
  }
  log(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  log('');
  table([['measurement', 'tool', 'median', 'peak RSS', 'ratio'], ...results]);
  log('');
  for (const v of verdicts) log(v.text);
} finally {
  await cleanup();
}
