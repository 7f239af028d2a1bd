#!/usr/bin/env node
// Startup benchmark: median wall time of `agent --help` and `agent config validate` on the
// shipped config (target: under 400 ms each). Not a timed test; run `npm run bench:startup`.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const main = join(root, 'core', 'bin', 'agent.cjs'); // the `agent` bin, as a person runs it
const runs = Number(process.env.RUNS ?? 9);
const cases = [
  ['node -e 0 (bare Node.js, for reference)', ['-e', '0'], true],
  ['agent --help', ['--help']],
  ['agent config validate --config config/config.json', ['config', 'validate', '--config', join(root, 'config', 'config.json')]],
];

for (const [name, args, bare] of cases) {
  const times = [];
  for (let i = 0; i < runs + 1; i++) {
    const t0 = process.hrtime.bigint();
    const r = bare ? spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' }) : spawnSync(main, args, { cwd: root, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) {
      console.error(`${name} exited ${r.status}: ${r.stderr}`);
      process.exit(1);
    }
    if (i > 0) times.push(ms); // the first run warms the file cache
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(`${name}: median ${median.toFixed(0)} ms over ${runs} runs (min ${times[0].toFixed(0)}, max ${times[times.length - 1].toFixed(0)})${bare || median < 400 ? '' : '  — over the 400 ms budget'}`);
}
