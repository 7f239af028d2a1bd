#!/usr/bin/env node
// `agent presets show documents` on a home whose Documents folder is tree (b) (100,000 files)
// against a no-change `agent backup` of a job with the same preset source: the same walk and
// filters, so it should answer in about the time of the no-change run (issue 18).
//   node bench/presets-show.mjs [--quick] [--keep] [--runs N]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AGENT, REPO, backupCommand, checkBackup } from './lib/hokan.mjs';
import { fresh, rm, runOnce, timeMedian } from './lib/run.mjs';
import { generateTree, treeSpec } from './lib/trees.mjs';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const keep = argv.includes('--keep');
const runsAt = argv.indexOf('--runs');
const runs = runsAt >= 0 ? Number(argv[runsAt + 1]) : quick ? 1 : 3;
const data = keep ? path.join(REPO, 'bench', '.data') : fs.mkdtempSync(path.join(os.tmpdir(), 'hokan-bench-presets-'));

const spec = treeSpec('b', quick);
const home = path.join(data, 'trees', `presets-home-${spec.name}${quick ? '-quick' : ''}`);
const work = path.join(data, 'work-presets');
try {
  console.log(`tree (${spec.name}) in ${home}/Documents`);
  generateTree(path.join(home, 'Documents'), spec, (m) => console.log(`  ${m}`));
  fresh(work);
  fs.mkdirSync(path.join(work, 'usb'));
  const config = path.join(work, 'config.json');
  fs.writeFileSync(
    config,
    JSON.stringify({ device: 'bench-pc', plugins: ['@hokan/target-hdd', '@hokan/category-presets'], targets: { usb: { type: 'hdd', path: path.join(work, 'usb') } }, jobs: [{ id: 'bench', sources: [{ preset: 'documents' }], targets: ['usb'] }] }, null, 2),
  );
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: '', NO_COLOR: '1' };
  const dataDir = path.join(work, 'data');
  const [bc, ba, bo] = backupCommand({ config, dataDir });
  const backup = () => [bc, ba, { ...bo, env: { ...bo.env, HOME: home, XDG_CONFIG_HOME: '' } }];
  const show = () => [AGENT, ['presets', 'show', 'documents', '--json', '--config', config, '--data-dir', dataDir], { cwd: REPO, env }];
  console.log('initial backup (untimed)');
  const first = await runOnce(...backup());
  const seen = checkBackup(first).counts.seen;
  await runOnce(...backup()); // warm-up no-change run (replays the initial run's log)
  let files;
  const nochange = { all: [] };
  const shows = { all: [] };
  // Interleaved, so both see the same page cache and load.
  for (let i = 0; i < runs; i++) {
    const b = await timeMedian('no-change backup', 1, backup, { check: (r) => checkBackup(r, { seen, uploaded: 0 }) });
    nochange.all.push(b.ms);
    const s = await timeMedian('presets show', 1, show, {
      check: (r) => {
        files = JSON.parse(r.stdout).files;
        if (files !== seen) throw new Error(`presets show counted ${files} files, the backup saw ${seen}`);
      },
    });
    shows.all.push(s.ms);
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const b = med(nochange.all);
  const s = med(shows.all);
  console.log(`\nfiles: presets show ${files}, backup seen ${seen}`);
  console.log(`no-change backup  ${(b / 1000).toFixed(2)} s (median of ${runs})`);
  console.log(`presets show      ${(s / 1000).toFixed(2)} s (median of ${runs})  ratio ${(s / b).toFixed(2)}x`);
} finally {
  rm(work);
  if (!keep) rm(data);
}
