#!/usr/bin/env node
// Crash campaign (issue 14): kills the agent (`kill -9`) in the middle of backups and restores and
// checks, after the next run, that nothing recorded was lost and that finished files are not sent
// again beyond the last flush window.
//
//   node scripts/crash-campaign.mjs [--trials N] [--seed S] [--target hdd|s3] [--jobs J]
//                                   [--trial T] [--no-rebuild] [--keep] [--quiet]
//   npm run crash:campaign -- --trials 200 --target hdd
//
// Each trial, in its own temporary folder, from a random generator seeded by (seed, trial number):
//   1. a source tree of a few dozen small files in several folders (Japanese names, some in NFD, an
//      NFC/NFD pair now and then, empty files, explicit mtimes); a config with one job
//      (`generations` 3) and one target (hdd: a folder; s3: a fresh prefix in one bucket of an
//      s3rver started by this script for the whole campaign);
//   2. a first backup (must complete);
//   3. a change spread over the tree: files modified (rewritten, same size, same size and same
//      mtime, emptied, grown, shrunk), added (also in new folders), deleted (emptied folders go);
//   4. a backup killed (65 %) by a crash point (`HOKAN_CRASH_AT=point:k`: one of after-move, after-put,
//      after-flush (hdd only: s3 has no flush), before-journal, after-delete, with k within the times
//      the run passes it) or (35 %) by time (SIGKILL after the agent's start-up — the median of the
//      campaign's later commands — plus −20…120 % of the first run's span);
//   5. sometimes (40 %) a restore of the last completed run, killed the same way
//      (`after-restore-file:k` or time), then — still before the next backup — run again into the
//      same folder: it must complete and give exactly that run's tree, with nothing left beside it;
//   6. sometimes (25 %) a second, smaller change;
//   7. the recovery backup (must complete, nothing failed or skipped); after it the browsable tree on
//      the target holds exactly the source (mirror), and (hdd) no `.hokan-tmp-` file is left;
//   8. a no-change backup: uploads 0, deletes 0;
//   9. a restore of every completed run (`--run`) equals the tree that run saw (bytes and mtimes, no
//      file missing or extra), and a restore of the latest equals the source;
//  10. unless --no-rebuild: the index is moved away, and the same restores from the index rebuilt
//      from the target give the same trees, and a backup after them uploads 0.
// Invariant failures = trials in which at least one of these checks failed; each failure is printed
// with the check's name, what differed, the seed, the trial number and the crash spec, the summary
// counts the trials per check, and the exit code is 1. `--jobs` trials run at once (default: the
// CPUs, at most 4); `--keep` keeps the folders of failed trials.
//
// Files sent again, per trial: just before the recovery backup the script reads the target and
// counts the files of the source whose current content is NOT at their key (`need`: changed files
// the killed run did not put, or moved away without putting). Sent again = the recovery's
// `uploaded` − need: the files the killed run had already put (and that are unchanged since) but
// the recovery sent once more. Negative would mean the recovery skipped a file it had to send: an
// invariant failure.
//
// Replay: `--seed S --trial T` runs trial T alone with the same tree, change and crash spec (a kill
// by time lands wherever the clock puts it, so only crash-point trials replay exactly).
import { spawn } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, rmdir, stat, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const AGENT = join(REPO, 'core', 'bin', 'agent.cjs');
const JOB = 'job';
const ROOT = 'src';
const BUCKET = 'crash-campaign';

const { values: opt } = parseArgs({
  options: {
    trials: { type: 'string', default: '20' },
    seed: { type: 'string' },
    target: { type: 'string', default: 'hdd' },
    jobs: { type: 'string' },
    trial: { type: 'string' },
    'no-rebuild': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log('usage: node scripts/crash-campaign.mjs [--trials N] [--seed S] [--target hdd|s3] [--jobs J] [--trial T] [--no-rebuild] [--keep] [--quiet]');
  process.exit(0);
}
const TARGET = opt.target;
if (TARGET !== 'hdd' && TARGET !== 's3') usage(`--target must be hdd or s3, not ${TARGET}`);
const SEED = opt.seed !== undefined ? Number(opt.seed) : randomInt(2 ** 31);
if (!Number.isInteger(SEED) || SEED < 0) usage(`--seed must be a whole number, not ${opt.seed}`);
const TRIALS = Number(opt.trials);
if (!Number.isInteger(TRIALS) || TRIALS < 1) usage(`--trials must be a positive whole number, not ${opt.trials}`);
const ONLY = opt.trial !== undefined ? Number(opt.trial) : undefined;
const JOBS = Math.max(1, Number(opt.jobs ?? Math.min(4, availableParallelism())));
const REBUILD = !opt['no-rebuild'];

function usage(message) {
  console.error(`crash-campaign: ${message}`);
  console.error('usage: node scripts/crash-campaign.mjs [--trials N] [--seed S] [--target hdd|s3] [--jobs J] [--trial T] [--no-rebuild] [--keep] [--quiet]');
  process.exit(2);
}

// ---- random ------------------------------------------------------------------------------

/** mulberry32, seeded by (campaign seed, trial number): a trial replays alone with `--trial`. */
function trialRandom(seed, trial) {
  let h = (seed ^ Math.imul(trial + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  let a = (h ^ (h >>> 16)) >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (a) => a[Math.floor(next() * a.length)],
    shuffle: (a) => {
      const b = [...a];
      for (let i = b.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [b[i], b[j]] = [b[j], b[i]];
      }
      return b;
    },
    bytes: (n) => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
  };
  return r;
}

// ---- trees -------------------------------------------------------------------------------

const FOLDERS = ['docs', 'docs/2025', 'docs/2025/四半期', '写真', '写真/旅行 2026', 'music', 'projects/hokan/src', 'パンフレット', 'café', 'ガイド/プラン', 'inbox'];
const STEMS = ['report', 'memo', 'invoice', '見積書', 'パスポート', 'プレゼン資料', 'café', 'résumé', 'データ', 'ガイド', 'notes', 'todo', '議事録', 'ブログ下書き', 'photo'];
const EXTS = ['.txt', '.pdf', '.jpg', '.md', '.bin', ''];
/** Names in NFD now and then (only names with a decomposable character change). */
const maybeNfd = (rng, name) => (rng.chance(0.3) ? name.normalize('NFD') : name);

/** Folder names a file may not take (a file `café` where the folder `café/` goes). */
const FOLDER_NAMES = new Set(FOLDERS.flatMap((f) => f.split('/')));

function newName(rng, taken) {
  for (;;) {
    const name = maybeNfd(rng, `${rng.pick(STEMS)}${rng.chance(0.6) ? ` ${rng.int(1, 99)}` : ''}${rng.pick(EXTS)}`);
    if (!taken.has(name) && !FOLDER_NAMES.has(name)) return name;
  }
}

function contentFor(rng) {
  return rng.chance(0.1) ? Buffer.alloc(0) : rng.bytes(rng.int(1, 4000));
}

/** Explicit past mtimes (whole milliseconds), as files copied from elsewhere have. */
const pastMtime = (rng) => Date.UTC(2025, 0, 1) + rng.int(0, 300 * 86_400) * 1000 + rng.int(0, 999);

async function writeFileAt(abs, body, mtimeMs) {
  await mkdir(dirname(abs), { recursive: true });
  await writeFile(abs, body);
  if (mtimeMs !== undefined) await utimes(abs, mtimeMs / 1000, mtimeMs / 1000);
}

async function makeTree(rng, src) {
  const folders = ['', ...rng.shuffle(FOLDERS).slice(0, rng.int(4, 7))];
  const count = rng.int(30, 50);
  const names = new Map(folders.map((f) => [f, new Set()]));
  for (let i = 0; i < count; i++) {
    const folder = rng.pick(folders);
    const name = newName(rng, names.get(folder));
    names.get(folder).add(name);
    await writeFileAt(join(src, folder, name), contentFor(rng), pastMtime(rng));
  }
  if (rng.chance(0.3)) {
    // Both forms of one name side by side: two files for the file system and for hokan.
    const folder = rng.pick(folders);
    for (const name of ['パスポート.pdf', 'パスポート.pdf'.normalize('NFD')]) {
      if (names.get(folder).has(name)) continue;
      names.get(folder).add(name);
      await writeFileAt(join(src, folder, name), contentFor(rng), pastMtime(rng));
    }
  }
  if (!(await listFiles(src)).length) await writeFileAt(join(src, 'report.txt'), Buffer.from('x'), pastMtime(rng));
}

/** Files under root, as `/`-separated relative paths, sorted. */
async function listFiles(root) {
  const out = [];
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name).slice(root.length + 1).split('\\').join('/'));
  }
  return out.sort();
}

/** rel → { sha256, size, mtimeMs } of every file under root. */
async function snapshot(root) {
  const out = new Map();
  if (!existsSync(root)) return out;
  for (const rel of await listFiles(root)) {
    const abs = join(root, rel);
    const [body, st] = await Promise.all([readFile(abs), stat(abs)]);
    out.set(rel, { sha256: createHash('sha256').update(body).digest('hex'), size: body.length, mtimeMs: st.mtimeMs });
  }
  return out;
}

/** What differs between the tree a run saw and a restored one: [] when equal (mtimes within 1 ms: utimes goes through a double). */
function treeDiff(expected, actual) {
  const out = [];
  for (const [rel, e] of expected) {
    const a = actual.get(rel);
    if (!a) out.push(`missing ${JSON.stringify(rel)}`);
    else if (a.sha256 !== e.sha256) out.push(`content of ${JSON.stringify(rel)}: ${a.size} bytes sha256 ${a.sha256.slice(0, 12)}… instead of ${e.size} bytes ${e.sha256.slice(0, 12)}…`);
    else if (Math.abs(a.mtimeMs - e.mtimeMs) >= 1) out.push(`mtime of ${JSON.stringify(rel)}: ${new Date(a.mtimeMs).toISOString()} instead of ${new Date(e.mtimeMs).toISOString()}`);
  }
  for (const rel of actual.keys()) if (!expected.has(rel)) out.push(`extra ${JSON.stringify(rel)}`);
  return out;
}

/** Removes the empty folders from `abs`'s folder up to (not including) src. */
async function pruneEmpty(src, abs) {
  for (let d = dirname(abs); d.length > src.length; d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
  }
}

const MODES = ['rewrite', 'same-size', 'same-size-same-mtime', 'empty', 'larger', 'smaller'];

/** A random change spread over the tree; returns what it did. */
async function change(rng, src, scale) {
  const files = await listFiles(src);
  const n = files.length;
  const shuffled = rng.shuffle(files);
  const nMod = Math.min(n, rng.int(Math.max(1, Math.round(0.1 * n * scale)), Math.max(1, Math.round(0.3 * n * scale))));
  const nDel = Math.min(n - nMod, rng.int(scale < 1 ? 0 : 1, Math.max(1, Math.round(0.15 * n * scale))));
  const nAdd = rng.int(scale < 1 ? 0 : 1, Math.max(1, Math.round(6 * scale)));
  const modified = shuffled.slice(0, nMod);
  const deleted = shuffled.slice(nMod, nMod + nDel);
  const modes = {};
  for (const rel of modified) {
    const abs = join(src, rel);
    const [old, st] = await Promise.all([readFile(abs), stat(abs)]);
    let mode = rng.pick(MODES);
    if (old.length === 0 && mode !== 'larger') mode = 'rewrite';
    if (mode === 'smaller' && old.length < 2) mode = 'larger';
    let body;
    if (mode === 'rewrite') body = rng.bytes(rng.int(1, 4000));
    else if (mode === 'same-size' || mode === 'same-size-same-mtime') body = rng.bytes(old.length);
    else if (mode === 'empty') body = Buffer.alloc(0);
    else if (mode === 'larger') body = Buffer.concat([old, rng.bytes(rng.int(1, 2000))]);
    else body = old.subarray(0, rng.int(1, old.length - 1));
    if (body.equals(old)) body[0] ^= 0xff;
    await writeFile(abs, body);
    if (mode === 'same-size-same-mtime') await utimes(abs, st.atime, st.mtime);
    modes[mode] = (modes[mode] ?? 0) + 1;
  }
  for (const rel of deleted) {
    await rm(join(src, rel));
    await pruneEmpty(src, join(src, rel));
  }
  const present = new Set(await listFiles(src));
  const folders = [...new Set([...present].map((p) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '')))];
  const added = [];
  for (let i = 0; i < nAdd; i++) {
    const folder = rng.chance(0.25) ? rng.pick(FOLDERS) : rng.pick(folders);
    const taken = new Set([...present].filter((p) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '') === folder).map((p) => p.slice(folder ? folder.length + 1 : 0)));
    const rel = (folder ? `${folder}/` : '') + newName(rng, taken);
    // A file where a folder of that name is, or the other way round, is left out.
    if ([...present].some((p) => p.startsWith(`${rel}/`)) || [...present].some((p) => rel.startsWith(`${p}/`))) continue;
    present.add(rel);
    added.push(rel);
    await writeFileAt(join(src, rel), contentFor(rng), rng.chance(0.5) ? pastMtime(rng) : undefined);
  }
  return { modified: modified.length, deleted: deleted.length, added: added.length, modes };
}

// ---- the agent ---------------------------------------------------------------------------

const children = new Set();
/** Set on SIGINT/SIGTERM: no new agent is started, and what is still running reports nothing. */
let stopping = false;

/**
 * Runs `agent ARGS` in a child process. `crashAt` sets HOKAN_CRASH_AT; `killAfterMs` sends SIGKILL
 * after that long. Resolves with the exit code, the signal and the output.
 */
function agent(trial, args, { crashAt, killAfterMs, timeoutMs = 120_000 } = {}) {
  if (stopping) return new Promise(() => {});
  const env = { ...process.env, HOKAN_NO_DAEMON: '1', NO_COLOR: '1', FORCE_COLOR: '0', ...(TARGET === 's3' ? { CRASH_S3_KEY: 'S3RVER', CRASH_S3_SECRET: 'S3RVER' } : {}) };
  delete env.HOKAN_CRASH_AT;
  if (crashAt) env.HOKAN_CRASH_AT = crashAt;
  const started = Date.now();
  const child = spawn(process.execPath, [AGENT, ...args, '--config', trial.config, '--data-dir', trial.data], { cwd: trial.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  let timedKill = false;
  let timedOut = false;
  const killer = killAfterMs !== undefined ? setTimeout(() => ((timedKill = true), child.kill('SIGKILL')), killAfterMs) : undefined;
  const guard = setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      clearTimeout(guard);
      children.delete(child);
      if (process.env.CRASH_CAMPAIGN_TIMES) console.log(`  [${Date.now() - started} ms] ${args.join(" ")}`);
      resolve({ code, signal, stdout, stderr, timedKill, timedOut, started, ms: Date.now() - started, args: args.join(' ') });
    });
  });
}

function parseJson(r) {
  try {
    return JSON.parse(r.stdout);
  } catch {
    return undefined;
  }
}

/** `agent backup --json`: the run record, or a description of what went wrong. */
async function backup(trial, label) {
  const r = await agent(trial, ['backup', '--json']);
  const run = parseJson(r)?.[0];
  const problems = [];
  if (r.timedOut) problems.push(`${label}: timed out`);
  if (r.code !== 0 || !run) problems.push(`${label}: exit ${r.code ?? r.signal}, ${run ? `status ${run.status}` : 'no run record'}${r.stderr ? ` — ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  else {
    if (run.status !== 'completed') problems.push(`${label}: status ${run.status} (${(run.reasons ?? []).join(', ')})`);
    if (run.counts.failed || run.counts.skipped) problems.push(`${label}: ${run.counts.failed} failed, ${run.counts.skipped} skipped`);
  }
  return { r, run, problems };
}

/** Restores (a run, or the latest) into `to` and compares with `expected`: the list of what differed. */
async function restoreAndCompare(trial, label, runId, expected, to) {
  const args = ['restore', '--job', JOB, '--to', to, '--json'];
  if (runId) args.push('--run', runId);
  const r = await agent(trial, args);
  const out = parseJson(r);
  const problems = [];
  if (r.code !== 0 || out?.run?.status !== 'completed') {
    const failed = (out?.files ?? []).filter((f) => f.status === 'failed').slice(0, 5).map((f) => `${f.path}: ${f.reason ?? ''}${f.message ? ` ${f.message}` : ''}`);
    problems.push(`${label}: exit ${r.code ?? r.signal}, status ${out?.run?.status ?? '?'}${failed.length ? ` — failed: ${failed.join('; ')}` : ''}${!out && r.stderr ? ` — ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  }
  const diff = treeDiff(expected, await snapshot(join(to, ROOT)));
  if (diff.length) problems.push(`${label}: ${diff.length} difference(s): ${diff.slice(0, 8).join('; ')}${diff.length > 8 ? '; …' : ''}`);
  const extra = existsSync(to) ? (await readdir(to)).filter((n) => n !== ROOT) : [];
  const leftovers = extra.length ? [`${label}: left beside the restored tree: ${extra.join(', ')}${extra.includes('.hokan-restore') ? ` (${(await readdir(join(to, '.hokan-restore'))).length} entries in it)` : ''}`] : [];
  return { problems, leftovers };
}

// ---- the target --------------------------------------------------------------------------

let s3; // { handle, client, sdk }

async function startS3() {
  // The tests' s3rver helper (whole-object PUTs, copy sources decoded as S3 does, …), compiled here
  // with the repository's TypeScript: it is the same server the s3 tests run against.
  const ts = (await import('typescript')).default;
  const helperPath = join(REPO, 'plugins', 'target-s3', 'test', 's3rver-helper.ts');
  const js = ts
    .transpileModule(await readFile(helperPath, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } })
    .outputText.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(helperPath).href));
  const tmp = await mkdtemp(join(tmpdir(), 'hokan-crash-s3rver-helper-'));
  const file = join(tmp, 's3rver-helper.mjs');
  await writeFile(file, js);
  let helper;
  try {
    helper = await import(pathToFileURL(file).href);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const handle = await helper.startS3rver({ buckets: [BUCKET] });
  // The SDK warns once that its releases after January 2027 need Node 22: not this script's concern.
  const warnings = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (!String(w?.message).includes('NodeVersionSupportWarning')) for (const l of warnings) l(w);
  });
  const require = createRequire(join(REPO, 'plugins', 'target-s3', 'package.json'));
  const sdk = await import(pathToFileURL(require.resolve('@aws-sdk/client-s3')).href);
  const client = new sdk.S3Client({ endpoint: handle.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  return { handle, client, sdk };
}

function targetConfig(trial) {
  if (TARGET === 'hdd') return { plugins: ['@hokan/target-hdd'], target: { type: 'hdd', path: trial.disk } };
  const base = s3.handle.targetConfig(BUCKET);
  return { plugins: ['@hokan/target-s3'], target: { ...base, prefix: trial.prefix, accessKeyId: '${env:CRASH_S3_KEY}', secretAccessKey: '${env:CRASH_S3_SECRET}' } };
}

/** The object at a key of the job's place, or undefined. */
async function readTarget(trial, key) {
  if (TARGET === 'hdd') {
    try {
      return await readFile(join(trial.disk, JOB, key));
    } catch (e) {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
      throw e;
    }
  }
  try {
    const o = await s3.client.send(new s3.sdk.GetObjectCommand({ Bucket: BUCKET, Key: `${trial.prefix}${JOB}/${key}` }));
    return Buffer.from(await o.Body.transformToByteArray());
  } catch (e) {
    if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
    throw e;
  }
}

/** How many runs have a record on the target (written when a run starts). */
async function runsOnTarget(trial) {
  if (TARGET === 'hdd') {
    try {
      return (await readdir(join(trial.disk, JOB, '.hokan', 'runs'))).length;
    } catch {
      return 0;
    }
  }
  const out = await s3.client.send(new s3.sdk.ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${trial.prefix}${JOB}/.hokan/runs/`, Delimiter: '/' }));
  return (out.CommonPrefixes ?? []).length;
}

/** Files of the source whose current content is not at their key on the target. */
async function filesToSend(trial) {
  let n = 0;
  for (const rel of await listFiles(trial.src)) {
    const there = await readTarget(trial, `${ROOT}/${rel}`);
    if (!there || !there.equals(await readFile(join(trial.src, rel)))) n++;
  }
  return n;
}

/** The browsable tree on the target (`ROOT/…`), as rel → sha256. */
async function browsable(trial) {
  const out = new Map();
  const sha = (b) => createHash('sha256').update(b).digest('hex');
  if (TARGET === 'hdd') {
    const root = join(trial.disk, JOB, ROOT);
    if (!existsSync(root)) return out;
    for (const rel of await listFiles(root)) out.set(rel, sha(await readFile(join(root, rel))));
    return out;
  }
  const prefix = `${trial.prefix}${JOB}/${ROOT}/`;
  let token;
  do {
    const page = await s3.client.send(new s3.sdk.ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.set(o.Key.slice(prefix.length), sha(await readTarget(trial, o.Key.slice(`${trial.prefix}${JOB}/`.length))));
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

/** The browsable tree against the source: what differs (content only: mtimes are the restores' business). */
async function mirrorDiff(trial, tree) {
  const there = await browsable(trial);
  const out = [];
  for (const [rel, e] of tree) {
    if (!there.has(rel)) out.push(`missing ${JSON.stringify(rel)}`);
    else if (there.get(rel) !== e.sha256) out.push(`content of ${JSON.stringify(rel)} differs (${there.get(rel).slice(0, 12)}… instead of ${e.sha256.slice(0, 12)}…)`);
  }
  for (const rel of there.keys()) if (!tree.has(rel)) out.push(`extra ${JSON.stringify(rel)}`);
  return out;
}

async function tempFilesOnDisk(trial) {
  if (TARGET !== 'hdd') return [];
  return (await readdir(trial.disk, { recursive: true })).filter((n) => String(n).split('/').pop().startsWith('.hokan-tmp-'));
}

// ---- a trial -----------------------------------------------------------------------------

const BACKUP_POINTS = ['after-move', 'after-put', 'after-flush', 'before-journal', 'after-delete'];

/** A crash point the run will pass, and which passage (1..k, k = the times the run passes it). */
function pickBackupCrash(rng, ch) {
  const passes = {
    'after-move': ch.modified,
    'after-put': ch.modified + ch.added,
    // Windows of deferred puts: only targets with `flush` (a local disk); a small run has one or two.
    'after-flush': TARGET === 'hdd' && ch.modified + ch.added > 0 ? 1 : 0,
    // One journal part (≤ 500 lines) at the end of a small run.
    'before-journal': 1,
    'after-delete': ch.deleted,
  };
  const points = BACKUP_POINTS.filter((p) => passes[p] > 0);
  const point = rng.pick(points);
  return `${point}:${rng.int(1, passes[point])}`;
}

/**
 * Start-up of the agent (spawn → run start) as measured on the runs after each trial's first
 * (the first command in a data folder compiles the config validator, and is slower).
 */
const startups = [];
const startupEstimate = (fallback) => (startups.length ? [...startups].sort((a, b) => a - b)[Math.floor(startups.length / 2)] : fallback);
const noteStartup = (b) => {
  if (b.run?.start) startups.push(Date.parse(b.run.start) - b.r.started);
  if (startups.length > 50) startups.shift();
};

/** A delay for a kill by time: the agent's start-up plus a random part (−20 %…120 %) of the first run's span. */
const killDelay = (rng, t) => Math.max(1, Math.round(startupEstimate(t.startup / 2) + (rng.next() * 1.4 - 0.2) * t.span));

/**
 * The checks, by name (a trial fails when any of them does):
 *   first-backup           the first backup completes
 *   killed-run             a run meant to be killed that ends by itself completes
 *   restore-after-crash    a killed restore (before the recovery backup), run again into the same folder,
 *                          completes with exactly the run's tree
 *   restore-leftover       … and leaves nothing beside it (the hidden staging folder)
 *   recovery               the backup after the crash completes, nothing failed or skipped
 *   recovery-sent-too-few  the recovery uploaded fewer files than were missing on the target
 *   mirror                 after the recovery, the browsable tree on the target (`ROOT/…`) holds exactly the source
 *   temp-files             hdd: no `.hokan-tmp-` file left on the disk after the recovery
 *   no-change              the next backup uploads and deletes nothing
 *   restore                every completed run (--run) and the latest restore the trees they saw
 *   rebuild-restore        the same restores through the index rebuilt from the target
 *   rebuild-no-change      the backup after the rebuild uploads and deletes nothing
 */
async function runTrial(n) {
  const rng = trialRandom(SEED, n);
  const dir = join(campaignDir, `trial-${n}`);
  const trial = { n, dir, src: join(dir, ROOT), disk: join(dir, 'disk'), data: join(dir, 'data'), config: join(dir, 'config.json'), prefix: `t${SEED}-${n}/` };
  const result = { n, problems: [], failed: new Set(), sentAgain: 0, spec: '', restoreSpec: '' };
  const fail = (check, ...p) => {
    const list = p.flat();
    if (!list.length) return;
    result.failed.add(check);
    result.problems.push(...list.map((x) => `[${check}] ${x}`));
  };
  try {
    await mkdir(dir);
    await mkdir(trial.src, { recursive: true });
    await makeTree(rng, trial.src);
    if (TARGET === 'hdd') await mkdir(trial.disk, { recursive: true });
    const { plugins, target } = targetConfig(trial);
    await writeFile(trial.config, JSON.stringify({ device: 'crash-pc', plugins, targets: { t: target }, jobs: [{ id: JOB, sources: [{ path: trial.src }], targets: ['t'], generations: 3 }] }, null, 2));

    /** The completed runs and the trees they saw. */
    const completed = [];
    const first = await backup(trial, 'first backup');
    fail('first-backup', first.problems);
    if (first.problems.length) return result;
    completed.push({ id: first.run.id, label: 'first run', tree: await snapshot(trial.src) });
    const timing = { startup: Date.parse(first.run.start) - first.r.started, span: Math.max(30, Date.parse(first.run.end) - Date.parse(first.run.start)) };

    // The change, and the backup that is killed.
    const ch = await change(rng, trial.src, 1);
    result.change = ch;
    const seen = await snapshot(trial.src);
    const byPoint = rng.chance(0.65);
    const crashAt = byPoint ? pickBackupCrash(rng, ch) : undefined;
    const killAfterMs = byPoint ? undefined : killDelay(rng, timing);
    result.spec = byPoint ? `HOKAN_CRASH_AT=${crashAt}` : `SIGKILL after ${killAfterMs} ms`;
    const runsBefore = await runsOnTarget(trial);
    const killed = await agent(trial, ['backup', '--json'], { crashAt, killAfterMs });
    const started = (await runsOnTarget(trial)) > runsBefore;
    if (killed.signal === 'SIGKILL' && !killed.timedOut) {
      result.backupOutcome = byPoint ? 'killed at the point' : started ? 'killed mid-run' : 'killed before the run started';
    } else {
      const run = parseJson(killed)?.[0];
      result.backupOutcome = byPoint ? 'point not reached' : 'finished before the kill';
      if (killed.code === 0 && run?.status === 'completed') completed.push({ id: run.id, label: 'run meant to be killed', tree: seen });
      else fail('killed-run', `backup under ${result.spec}: ended by itself with exit ${killed.code ?? killed.signal}, status ${run?.status ?? '?'}${killed.stderr ? ` — ${killed.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
    }

    // A restore killed the same way, then run again into the same folder.
    if (rng.chance(0.4)) {
      const last = completed[completed.length - 1];
      const to = join(dir, 'restore-killed');
      const point = rng.chance(0.65);
      const rCrash = point ? `after-restore-file:${rng.int(1, Math.max(1, last.tree.size))}` : undefined;
      const rDelay = point ? undefined : killDelay(rng, timing);
      result.restoreSpec = point ? `HOKAN_CRASH_AT=${rCrash}` : `SIGKILL after ${rDelay} ms`;
      const r = await agent(trial, ['restore', '--job', JOB, '--run', last.id, '--to', to, '--json'], { crashAt: rCrash, killAfterMs: rDelay });
      result.restoreOutcome = r.signal === 'SIGKILL' && !r.timedOut ? (point ? 'killed at the point' : 'killed by time') : point ? 'point not reached' : 'finished before the kill';
      if (r.signal !== 'SIGKILL' && r.code !== 0) {
        const failed = (parseJson(r)?.files ?? []).filter((f) => f.status === 'failed').slice(0, 3).map((f) => `${f.path}: ${f.reason ?? ''} ${f.message ?? ''}`);
        fail('restore-after-crash', `restore of the ${last.label} under ${result.restoreSpec}: ended by itself with exit ${r.code}${failed.length ? ` — ${failed.join('; ')}` : ''}`);
      }
      const again = await restoreAndCompare(trial, `restore of the ${last.label} run again after the killed restore`, last.id, last.tree, to);
      fail('restore-after-crash', again.problems);
      fail('restore-leftover', again.leftovers);
    }

    if (rng.chance(0.25)) result.change2 = await change(rng, trial.src, 0.4);

    // The recovery backup.
    const need = await filesToSend(trial);
    const rec = await backup(trial, 'recovery backup');
    noteStartup(rec);
    fail('recovery', rec.problems);
    if (!rec.run) return result;
    const source = await snapshot(trial.src);
    completed.push({ id: rec.run.id, label: 'recovery', tree: source });
    result.sentAgain = rec.run.counts.uploaded - need;
    if (result.sentAgain < 0) fail('recovery-sent-too-few', `recovery backup: uploaded ${rec.run.counts.uploaded}, but ${need} files of the source were not at their key on the target`);
    const mirror = await mirrorDiff(trial, source);
    if (mirror.length) fail('mirror', `after the recovery backup, the browsable tree on the target differs from the source: ${mirror.slice(0, 8).join('; ')}${mirror.length > 8 ? '; …' : ''}`);
    const temps = await tempFilesOnDisk(trial);
    fail('temp-files', temps.length ? [`after the recovery backup, temporary files on the disk: ${temps.slice(0, 5).join(', ')}`] : []);

    // Nothing changed: nothing sent.
    const still = await backup(trial, 'no-change backup');
    noteStartup(still);
    fail('no-change', still.problems);
    if (still.run && (still.run.counts.uploaded || still.run.counts.deleted)) fail('no-change', `no-change backup: uploaded ${still.run.counts.uploaded}, deleted ${still.run.counts.deleted} (expected 0, 0)`);

    // Every completed run restores the tree it saw (the recovery's tree is the latest: the no-change
    // run after it changed nothing, so the restore of the latest stands for it).
    const checkRestores = async (check, when) => {
      for (const [i, c] of completed.entries()) {
        if (c.label === 'recovery') continue;
        const r = await restoreAndCompare(trial, `restore --run of the ${c.label} (${c.id})${when}`, c.id, c.tree, join(dir, `restore-${check}-${i}`));
        fail(check, r.problems, r.leftovers);
      }
      const r = await restoreAndCompare(trial, `restore of the latest${when}`, undefined, source, join(dir, `restore-${check}-latest`));
      fail(check, r.problems, r.leftovers);
    };
    await checkRestores('restore', '');

    if (REBUILD) {
      // The index is a cache of the target: rebuilt from it, the same restores, and nothing to send.
      await rename(join(trial.data, 'index'), join(trial.data, 'index.moved-away'));
      await checkRestores('rebuild-restore', ' (index rebuilt from the target)');
      const after = await backup(trial, 'backup after the index rebuild');
      fail('rebuild-no-change', after.problems);
      if (after.run && (after.run.counts.uploaded || after.run.counts.deleted)) fail('rebuild-no-change', `backup after the index rebuild: uploaded ${after.run.counts.uploaded}, deleted ${after.run.counts.deleted} (expected 0, 0)`);
    }
    return result;
  } catch (e) {
    fail('campaign', `the campaign itself failed: ${e?.stack ?? e}`);
    return result;
  } finally {
    result.dir = dir;
    if (!(opt.keep && result.problems.length)) await rm(dir, { recursive: true, force: true });
  }
}

// ---- the campaign ------------------------------------------------------------------------

/** Every trial's folder is in here; removed at the end (but for failed trials kept with --keep). */
let campaignDir;

const tally = (values) => Object.entries(values.reduce((m, v) => ((m[v] = (m[v] ?? 0) + 1), m), {})).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';

async function main() {
  const t0 = Date.now();
  campaignDir = await mkdtemp(join(tmpdir(), `hokan-crash-campaign-${TARGET}-`));
  console.log(`crash campaign: target ${TARGET}, seed ${SEED}, ${ONLY !== undefined ? `trial ${ONLY} only` : `${TRIALS} trials`}, ${JOBS} at a time${REBUILD ? '' : ', no index rebuild'}`);
  if (TARGET === 's3') s3 = await startS3();
  const queue = ONLY !== undefined ? [ONLY] : Array.from({ length: TRIALS }, (_, i) => i + 1);
  const results = [];
  const worker = async () => {
    for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
      const r = await runTrial(n);
      if (stopping) return;
      results.push(r);
      if (!opt.quiet || r.problems.length) {
        const c = (x) => `~${x.modified} +${x.added} -${x.deleted}`;
        const ch = r.change ? `change ${c(r.change)}${r.change2 ? ` then ${c(r.change2)}` : ''}` : '';
        console.log(`trial ${n}: ${ch}; backup ${r.spec || '-'} (${r.backupOutcome ?? '-'})${r.restoreSpec ? `; restore ${r.restoreSpec} (${r.restoreOutcome})` : ''}; sent again ${r.sentAgain}${r.problems.length ? ` — INVARIANT FAILED: ${[...r.failed].join(', ')}` : ' — ok'}`);
      }
      if (r.problems.length) {
        console.log(`  seed ${SEED}, trial ${n}, target ${TARGET}, backup crash ${r.spec || '-'}${r.restoreSpec ? `, restore crash ${r.restoreSpec}` : ''}`);
        console.log(`  replay: node scripts/crash-campaign.mjs --target ${TARGET} --seed ${SEED} --trial ${n} --keep${r.spec.startsWith('SIGKILL') ? '   # a kill by time lands where the clock puts it' : ''}`);
        for (const p of r.problems) console.log(`  - ${p}`);
        if (opt.keep) console.log(`  kept: ${r.dir}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(JOBS, queue.length) }, worker));
  } finally {
    await s3?.handle.stop();
    if (!(opt.keep && results.some((r) => r.problems.length))) await rm(campaignDir, { recursive: true, force: true });
  }
  results.sort((a, b) => a.n - b.n);
  const failures = results.filter((r) => r.problems.length);
  const sent = results.reduce((s, r) => s + Math.max(0, r.sentAgain), 0);
  const maxSent = results.reduce((m, r) => Math.max(m, r.sentAgain), 0);
  console.log(`backups: ${tally(results.map((r) => r.backupOutcome).filter(Boolean))}`);
  console.log(`crash points: ${tally(results.filter((r) => r.spec.startsWith('HOKAN')).map((r) => r.spec.slice('HOKAN_CRASH_AT='.length).split(':')[0]))}`);
  console.log(`restores: ${tally(results.map((r) => r.restoreOutcome).filter(Boolean))}`);
  console.log(`failed checks (trials): ${tally(results.flatMap((r) => [...r.failed]))}`);
  if (REBUILD) console.log(`trials failing a check other than the index rebuild's: ${results.filter((r) => [...r.failed].some((c) => !c.startsWith('rebuild-'))).length}`);
  console.log(`time ${((Date.now() - t0) / 1000).toFixed(1)} s, seed ${SEED}, target ${TARGET}`);
  console.log(`trials ${results.length}, invariant failures ${failures.length}, files sent again ${sent} (max per trial ${maxSent})`);
  if (failures.length) {
    console.log(`FAILED trials (seed ${SEED}, target ${TARGET}): ${failures.map((r) => `${r.n} [${r.spec}${r.restoreSpec ? `; restore ${r.restoreSpec}` : ''}]`).join(', ')}`);
    process.exitCode = 1;
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    stopping = true;
    // The agents first (they must not write into the folder being removed), then the server and the folder.
    const gone = [...children].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('close', r))));
    for (const c of children) c.kill('SIGKILL');
    void Promise.race([Promise.all(gone), new Promise((r) => setTimeout(r, 5000))])
      .then(() => s3?.handle.stop())
      .then(() => campaignDir && rm(campaignDir, { recursive: true, force: true, maxRetries: 3 }))
      .finally(() => process.exit(130));
  });
}

await main();
