#!/usr/bin/env node
// Issue 27: a round trip of a real tree nobody here made, against `rsync -a` on the same tree in
// the same run. The tree (default /usr/share: ~47,000 files, ~4,000 symlinks, ~345 empty folders)
// is copied once with `cp -a`; then, `--runs` times each, interleaved:
//   backup:  hokan `agent backup` to an hdd target (first backup, empty target)  vs  rsync -a SRC/ DST/
//   restore: hokan `agent restore --to OUT` (whole tree)                          vs  rsync -a DST/ OUT/
// and the restored tree is compared with the source entry by entry (type, permission bits, mtime
// to the millisecond, size, SHA-256, link target: core/src/testing/tree-manifest.ts).
//
//   node bench/roundtrip.mjs [--tree /usr/share] [--runs 3]
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { AGENT, REPO, writeConfig, checkBackup } from './lib/hokan.mjs';
import { runOnce, median, rm, fresh } from './lib/run.mjs';
import { machine } from './lib/cli.mjs';

const { values } = parseArgs({ options: { tree: { type: 'string', default: '/usr/share' }, runs: { type: 'string', default: '3' }, dir: { type: 'string' } } });
const runs = Number(values.runs);
const { treeManifest, diffManifests } = await import(path.join(REPO, 'core', 'dist', 'testing', 'tree-manifest.js'));
const work = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'hokan-roundtrip-'));
const src = path.join(work, 'src', path.basename(values.tree));
console.log(`round trip of ${values.tree} — ${machine()}; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
fresh(path.dirname(src));
await runOnce('cp', ['-a', values.tree, src]);
const before = await treeManifest(src);
const count = (re) => before.filter((l) => re.test(l)).length;
const empties = before.filter((l, i) => / dir /.test(l) && !(before[i + 1] ?? '').startsWith(l.slice(0, l.indexOf(' dir ') - 1) + '/')).length;
console.log(`tree: ${count(/ file /)} files, ${count(/ link -> /)} symlinks, ${count(/ dir /)} folders (${empties} empty), ${count(/ special$/)} special`);

const env = { ...process.env, NO_COLOR: '1' };
const t = { hb: [], rb: [], hr: [], rr: [] };
let diffs = [];
for (let i = 0; i < runs; i++) {
  const disk = path.join(work, 'usb');
  const data = path.join(work, 'data');
  const config = writeConfig(path.join(work, 'config.json'), { source: src, target: { type: 'hdd', path: disk, createIfMissing: true }, job: { filters: { hidden: true } } });
  rm(disk); rm(data);
  const hb = await runOnce(AGENT, ['backup', '--json', '--config', config, '--data-dir', data], { env });
  checkBackup(hb, { failed: 0 });
  t.hb.push(hb.ms);
  const dst = path.join(work, 'rsync-dst');
  rm(dst);
  t.rb.push((await runOnce('rsync', ['-a', src + '/', dst + '/'])).ms);
  const out = path.join(work, 'out');
  rm(out);
  const hr = await runOnce(AGENT, ['restore', '--job', 'bench', '--to', out, '--config', config, '--data-dir', data], { env });
  t.hr.push(hr.ms);
  const rout = path.join(work, 'rsync-out');
  rm(rout);
  t.rr.push((await runOnce('rsync', ['-a', dst + '/', rout + '/'])).ms);
  if (i === 0) diffs = diffManifests(before, await treeManifest(path.join(out, path.basename(src))));
  console.log(`  run ${i + 1}: backup hokan ${(hb.ms / 1000).toFixed(2)} s, rsync ${(t.rb.at(-1) / 1000).toFixed(2)} s; restore hokan ${(hr.ms / 1000).toFixed(2)} s, rsync ${(t.rr.at(-1) / 1000).toFixed(2)} s`);
}
const m = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, median(v)]));
console.log(`differences between the source and hokan's restore: ${diffs.count}`);
for (const l of diffs.onlyA) console.log(`  source only: ${l}`);
for (const l of diffs.onlyB) console.log(`  restore only: ${l}`);
console.log(`medians of ${runs}: backup hokan ${(m.hb / 1000).toFixed(2)} s vs rsync -a ${(m.rb / 1000).toFixed(2)} s = ${(m.hb / m.rb).toFixed(2)}×; restore hokan ${(m.hr / 1000).toFixed(2)} s vs rsync -a ${(m.rr / 1000).toFixed(2)} s = ${(m.hr / m.rr).toFixed(2)}×`);
if (!values.dir) rm(work);
process.exitCode = diffs.count ? 1 : 0;
