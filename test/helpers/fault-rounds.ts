import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { FaultProxy } from '../../core/src/testing/fault-proxy.js';
import { agent } from './agent.js';
import { bytes, digestTree, writeTree } from './trees.js';

// The rounds of a fault campaign (issue 24), for any remote target behind the fault proxy
// (test/faults-*-cli.spec.ts, scripts/fault-campaign.mjs): each round changes the source, backs up
// through injected faults, then on a clean network checks that `agent verify` finds every copy the
// index believes stored there and whole, the next run completes, and the restore equals the source.
// To look into a failure: HOKAN_FAULT_DEBUG=1 prints each faulty run's record and warnings,
// HOKAN_FAULT_DUMP=/tmp/x writes each faulty run's whole log to /tmp/x-TARGET-ROUND.log,
// HOKAN_FAULT_TIMES=1 prints how long each command took.

/** What a run may end with when only the network and the service failed. */
export const NETWORK_REASONS = ['network-error', 'target-unavailable', 'io-error', 'multiple-errors'];

export interface FaultRoundsOptions {
  /** A name for messages and the figures line (`s3`, `azure`, `nas/rclone`). */
  name: string;
  dir: string;
  proxy: FaultProxy;
  /** The target's settings, pointed at the proxy. */
  target: Record<string, unknown>;
  plugin: string;
  env?: Record<string, string>;
  rounds: number;
  seed: number;
  /** The share of requests that meet a fault in the faulty runs (default HOKAN_FAULT_RATE, else 0.15). */
  rate?: number;
  /** Small files in the source (default 40). */
  smallFiles?: number;
  /** The size of the one large file (default 11 MiB: several parts or blocks). */
  bigBytes?: number;
  /** Reasons allowed besides NETWORK_REASONS (WebDAV's 507: `quota-exceeded`). */
  moreReasons?: string[];
  timeoutMs?: number;
}

export interface FaultFigures {
  target: string;
  seed: number;
  rate: number;
  runs: number;
  completed: number;
  incomplete: number;
  /** Faults injected, in all and by kind. */
  faults: number;
  injected: Record<string, number>;
  requests: number;
  bytesSent: number;
  /** The faulty runs' reasons, counted. */
  reasons: Record<string, number>;
  /** Files the clean run after each faulty one uploaded (what the faulty one left). */
  resent: number;
  /** Files whose restore differed from the source, or that verify found missing or bad: must be 0 (the rounds fail first). */
  filesLost: number;
}

export async function faultRounds(o: FaultRoundsOptions): Promise<FaultFigures> {
  const { dir, proxy } = o;
  const src = join(dir, 'Documents');
  await mkdir(src, { recursive: true });
  const config = join(dir, 'config.json');
  await writeFile(config, JSON.stringify({ device: 'pc', plugins: [o.plugin], targets: { remote: o.target }, jobs: [{ id: 'docs', sources: [{ path: src }], targets: ['remote'], generations: 3 }] }));
  const times: string[] = [];
  const run = async (...a: string[]) => {
    const t0 = Date.now();
    try {
      return await runOnce(...a);
    } finally {
      times.push(`${a[0]} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }
  };
  const runOnce = (...a: string[]) =>
    agent([...a, '-v', '--config', config, '--data-dir', join(dir, 'data')], { cwd: dir, env: o.env, timeoutMs: o.timeoutMs ?? 150_000 }).catch((e: Error) => {
      throw new Error(`${o.name}: agent ${a.join(' ')} (faults so far ${JSON.stringify(proxy.injected)}, requests ${proxy.requests}): ${e.message}`);
    });
  const small = o.smallFiles ?? 40;
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < small; i++) files[`d${i % 4}/f${i}.txt`] = bytes(200 + i * 37, i);
  files['big/video.bin'] = bytes(o.bigBytes ?? 11 * 2 ** 20, 7);
  await writeTree(src, files);
  const allowed = [...NETWORK_REASONS, ...(o.moreReasons ?? [])];
  const f: FaultFigures = { target: o.name, seed: o.seed, rate: o.rate ?? (Number(process.env.HOKAN_FAULT_RATE) || 0.15), runs: 0, completed: 0, incomplete: 0, faults: 0, injected: proxy.injected, reasons: {}, requests: 0, bytesSent: 0, resent: 0, filesLost: 0 };
  const requestsBefore = proxy.requests;
  /** Runs that stored something (a clean run always does). */
  let stored = 0;
  for (let round = 0; round < o.rounds; round++) {
    // Changes: a few files rewritten, one added, one deleted; every other round the large one too.
    for (let k = 0; k < 3; k++) await writeFile(join(src, `d${k}/f${(round * 7 + k * 5) % small}.txt`), bytes(300 + round, round * 100 + k));
    await writeFile(join(src, `d${round % 4}/new-${round}.txt`), bytes(500, 1000 + round));
    await rm(join(src, `d${(round + 1) % 4}/f${(round * 11 + 3) % small}.txt`), { force: true });
    if (round % 2 === 1) await writeFile(join(src, 'big/video.bin'), bytes(o.bigBytes ?? 11 * 2 ** 20, 7 + round));
    proxy.setRate(o.rate ?? (Number(process.env.HOKAN_FAULT_RATE) || 0.15));
    const faulty = await run('backup', '--json');
    const rec = (() => {
      try {
        const j = JSON.parse(faulty.stdout);
        return Array.isArray(j) ? j[0] : j;
      } catch {
        return undefined;
      }
    })();
    if (!rec?.status) throw new Error(`${o.name} round ${round}: no run record\n${faulty.stdout}\n${faulty.stderr}`);
    f.runs++;
    if (process.env.HOKAN_FAULT_DUMP) await writeFile(`${process.env.HOKAN_FAULT_DUMP}-${o.name.replace('/', '-')}-${round}.log`, faulty.stderr);
    if (process.env.HOKAN_FAULT_DEBUG) console.log(`${o.name} round ${round}: ${JSON.stringify({ status: rec.status, reasons: rec.reasons, counts: rec.counts, note: rec.note, targets: rec.targetResults })}\n${faulty.stderr.split('\n').filter((l) => /warn|error|fail|retr/i.test(l)).slice(-30).join('\n')}`);
    expect(['completed', 'incomplete'], `${o.name} round ${round}: ${JSON.stringify(rec)}`).toContain(rec.status);
    for (const reason of rec.reasons) expect(allowed, `${o.name} round ${round}: reasons ${rec.reasons}\n${faulty.stderr.slice(-4000)}`).toContain(reason);
    for (const reason of rec.reasons) f.reasons[reason] = (f.reasons[reason] ?? 0) + 1;
    if (rec.status === 'completed') f.completed++;
    else f.incomplete++;
    f.bytesSent += rec.bytes;
    // On a clean network: every copy the index believes stored is there and whole.
    proxy.setRate(0);
    const v = await run('verify', '--job', 'docs');
    // A first run the faults stopped before it stored anything: nothing is recorded, nothing to verify.
    const nothingYet = v.code !== 0 && stored === 0 && rec.counts.uploaded === 0 && /holds no backup of job "docs" yet/.test(v.stderr);
    if (!nothingYet) {
      if (v.code !== 0) f.filesLost += Number(/(\d+) (?:bad|missing)/.exec(v.stdout)?.[1] ?? 1);
      expect(v.code, `${o.name} round ${round}: verify after a faulty run\n${v.stdout}\n${v.stderr}`).toBe(0);
      expect(v.stdout).toMatch(/ 0 bad/);
    }
    const cleanOut = await run('backup', '--json');
    const clean = JSON.parse(cleanOut.stdout)[0];
    expect(clean, `${o.name} round ${round}: the clean run after it\n${cleanOut.stderr.slice(-4000)}`).toMatchObject({ status: 'completed', counts: { failed: 0 } });
    f.resent += clean.counts.uploaded;
    stored++;
    const to = join(dir, `restored-${round}`);
    const r = await run('restore', '--job', 'docs', '--to', to);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const want = await digestTree(src);
    const got = await digestTree(join(to, 'Documents'));
    f.filesLost += Object.keys(want).filter((k) => got[k] !== want[k]).length;
    expect(got).toEqual(want);
    await rm(to, { recursive: true, force: true });
  }
  f.requests = proxy.requests - requestsBefore;
  f.faults = Object.values(proxy.injected).reduce((a, b) => a + b, 0);
  if (process.env.HOKAN_FAULT_TIMES) console.log(`${o.name}: ${times.join(', ')}`);
  console.log(`fault campaign figures: ${JSON.stringify(f)}`);
  return f;
}

/** The seed for a campaign: HOKAN_FAULT_SEED (a replay), else a new one. */
export function faultSeed(): number {
  return Number(process.env.HOKAN_FAULT_SEED) || (Date.now() ^ (process.pid << 8)) >>> 0;
}
