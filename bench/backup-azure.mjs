#!/usr/bin/env node
// Benchmark of target-azure against rclone (issue 15), in one run on the same kind of server: Azurite
// 3.35 (the project's test helper: a child process on 127.0.0.1, in memory), one for each tool (its
// time per request grows with every blob it holds), tree (a) ~10,000 files / ~1.5 GB.
//   initial   hokan's initial backup to a fresh container vs `rclone sync SRC az:CONTAINER` to another
//             fresh container (target: hokan ≤ 1.0× rclone)
//   nochange  a run with nothing changed: hokan (one-shot, and through `agent run`) vs rclone's no-change sync (target ≤ 0.1×; hokan
//             needs no listing of the container, rclone lists it with each blob's mtime metadata)
// rclone: an azureblob remote from environment variables (a container SAS URL on Azurite).
// Options: --quick --keep --only initial,nochange --runs N --data DIR --profile (see lib/cli.mjs).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, sec, mib, table, verdict, machine } from './lib/cli.mjs';
import { backupCommand, checkBackup, writeConfig, noChangeThroughDaemon, AGENT, REPO } from './lib/hokan.mjs';
import { runOnce, median, rm, fresh } from './lib/run.mjs';
import { generateTree, treeSpec } from './lib/trees.mjs';
import { startAzurite } from './lib/azurite.mjs';
import { summarise } from './lib/cpuprofile.mjs';

const SECTIONS = ['initial', 'nochange'];
const o = parseArgs(process.argv, SECTIONS);
if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} missing: run \`npx tsc -b\` first`);
if (!fs.existsSync('/usr/bin/rclone')) throw new Error('rclone missing: apt-get install -y rclone time');
const log = (...a) => console.log(...a);
const work = path.join(o.data, 'work-azure');
// One Azurite for each tool: Azurite's time per request grows with every blob it holds (all
// containers of the account), so a shared one would make each tool pay for the other's blobs.
let server;
let rcloneServer;
const cleanup = async () => {
  for (const s of [server, rcloneServer]) if (s) await s.stop().catch(() => {});
  server = rcloneServer = undefined;
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
  log(`hokan backup-azure benchmark — ${new Date().toISOString()} — ${machine()}${o.quick ? ' — QUICK' : ''}`);
  const dir = path.join(o.data, 'trees', o.quick ? 'a-quick' : 'a');
  log(`tree (a): ${dir}`);
  const stats = generateTree(dir, treeSpec('a', o.quick), log);
  log(`  ${stats.files} files, ${stats.folders} folders, ${(stats.bytes / 2 ** 20).toFixed(0)} MiB`);
  fresh(work);
  server = await startAzurite({ dataDir: path.join(work, 'hokan-azurite') });
  rcloneServer = await startAzurite({ dataDir: path.join(work, 'rclone-azurite') });
  log(`Azurite for hokan at ${server.endpoint}, for rclone at ${rcloneServer.endpoint}`);
  const { BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } = await import(path.join(REPO, 'node_modules', '@azure', 'storage-blob', 'dist', 'esm', 'index.js'));
  const services = [server, rcloneServer].map((x) => new BlobServiceClient(x.endpoint, new StorageSharedKeyCredential(x.ACCOUNT, x.KEY)));
  const serviceFor = (container) => services[container.startsWith('rclone-') ? 1 : 0];
  // rclone 1.60's azureblob `endpoint` is a host suffix (https://ACCOUNT.SUFFIX) and `use_emulator`
  // is fixed to port 10000: a container SAS URL reaches Azurite on any port.
  const rclone = (container, extra = []) => {
    const sas = generateBlobSASQueryParameters({ containerName: container, permissions: ContainerSASPermissions.parse('racwdl'), expiresOn: new Date(Date.now() + 24 * 3600_000) }, new StorageSharedKeyCredential(rcloneServer.ACCOUNT, rcloneServer.KEY)).toString();
    const env = { ...process.env, RCLONE_CONFIG: '/dev/null', RCLONE_CONFIG_AZ_TYPE: 'azureblob', RCLONE_CONFIG_AZ_SAS_URL: `${rcloneServer.endpoint}/${container}?${sas}` };
    return ['rclone', ['sync', ...extra, dir, `az:${container}/bench`], { env }];
  };
  const hokanJob = (container) => {
    const base = path.join(work, container);
    fresh(base);
    const config = writeConfig(path.join(base, 'config.json'), { source: dir, target: server.targetConfig(container) });
    return { config, dataDir: path.join(base, 'data') };
  };
  const make = (container) => serviceFor(container).getContainerClient(container).createIfNotExists();
  const drop = (container) => serviceFor(container).getContainerClient(container).deleteIfExists();

  // Without the initial section, one untimed backup of each only makes the containers the no-change runs look at.
  const initialRuns = o.only.includes('initial') ? runs : 1;
  log(`\n== initial backup to Azurite: hokan vs rclone sync (${initialRuns} runs each, fresh containers, interleaved${o.only.includes('initial') ? '' : '; set-up only, untimed'}) ==`);
  const hk = [];
  const rc = [];
  let hRss = 0;
  let rRss = 0;
  let job;
  for (let i = 0; i < initialRuns; i++) {
    await make(`rclone-${i}`);
    const r = await runOnce(...rclone(`rclone-${i}`));
    if (r.code !== 0) throw new Error(`rclone failed (${r.code}): ${r.stderr?.slice(-2000)}`);
    rc.push(r.ms);
    rRss = Math.max(rRss, r.rssKiB ?? 0);
    log(`    rclone sync #${i + 1}: ${sec(r.ms)}, peak RSS ${mib(r.rssKiB)}`);
    if (i < initialRuns - 1) await drop(`rclone-${i}`);
    await make(`hokan-${i}`);
    job = hokanJob(`hokan-${i}`);
    const h = await runOnce(...backupCommand(job));
    checkBackup(h, { uploaded: stats.files });
    hk.push(h.ms);
    hRss = Math.max(hRss, h.rssKiB ?? 0);
    log(`    hokan #${i + 1}: ${sec(h.ms)}, peak RSS ${mib(h.rssKiB)}`);
    if (i < initialRuns - 1) await drop(`hokan-${i}`);
  }
  if (o.only.includes('initial')) {
    row('initial (a) → Azurite', 'rclone sync', median(rc), rRss);
    row('initial (a) → Azurite', 'hokan', median(hk), hRss, `${(median(hk) / median(rc)).toFixed(2)}× rclone`);
    verdicts.push(verdict('initial backup (a) to Azure vs rclone sync', median(hk) / median(rc), 1.0));
  }

  if (o.only.includes('nochange')) {
    log(`\n== no-change run on Azurite: hokan vs rclone sync (${runs} runs each) ==`);
    const hn = [];
    const rn = [];
    let hnRss = 0;
    for (let i = 0; i < runs; i++) {
      const r = await runOnce(...rclone(`rclone-${initialRuns - 1}`));
      if (r.code !== 0) throw new Error(`rclone failed (${r.code}): ${r.stderr?.slice(-2000)}`);
      rn.push(r.ms);
      log(`    rclone sync no-change #${i + 1}: ${sec(r.ms)}`);
      const h = await runOnce(...backupCommand(job));
      checkBackup(h, { uploaded: 0 });
      hn.push(h.ms);
      hnRss = Math.max(hnRss, h.rssKiB ?? 0);
      log(`    hokan no-change #${i + 1}: ${sec(h.ms)}, peak RSS ${mib(h.rssKiB)}`);
    }
    row('no-change (a) Azurite', 'rclone sync', median(rn));
    row('no-change (a) Azurite', 'hokan', median(hn), hnRss, `${(median(hn) / median(rn)).toFixed(2)}× rclone`);
    verdicts.push(verdict('no-change (a) on Azure vs rclone sync', median(hn) / median(rn), 0.1));
    // Through the daemon: Node's start-up is the client's; loading the Azure SDK and opening the
    // index are paid once by `agent run`, as for a person who keeps it running.
    const hd = await noChangeThroughDaemon(job, Math.max(runs, 5), log);
    row('no-change (a) Azurite', 'hokan through `agent run`', median(hd), undefined, `${(median(hd) / median(rn)).toFixed(2)}× rclone (median of ${hd.length})`);
    verdicts.push(verdict('no-change (a) on Azure through `agent run` vs rclone sync', median(hd) / median(rn), 0.1));
    if (o.profile) {
      const d = path.join(o.data, 'profiles', 'azure-nochange-a');
      fresh(d);
      const h = await runOnce(...backupCommand({ ...job, cpuProfDir: d }));
      checkBackup(h, { uploaded: 0 });
      log(`\nno-change (a) on Azure under the profiler: ${sec(h.ms)}`);
      log(summarise(path.join(d, fs.readdirSync(d)[0])));
    }
  }
  if (o.profile && o.only.includes('initial')) {
    const d = path.join(o.data, 'profiles', 'azure-initial-a');
    fresh(d);
    await make('hokan-prof');
    const h = await runOnce(...backupCommand({ ...hokanJob('hokan-prof'), cpuProfDir: d }));
    checkBackup(h, { uploaded: stats.files });
    await drop('hokan-prof');
    log(`\ninitial (a) to Azure under the profiler: ${sec(h.ms)}`);
    log(summarise(path.join(d, fs.readdirSync(d)[0])));
  }
  log('');
  table([['measurement', 'tool', 'median', 'peak RSS', 'ratio'], ...results]);
  log('');
  for (const v of verdicts) log(v.text);
} finally {
  await cleanup();
}
