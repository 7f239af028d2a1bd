import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FileRecord, RunRecord } from '../../common/model.js';
import { emptyCounts } from '../../common/model.js';
import { decodeFile, decodeHeld, encodeFile, encodeHeld } from './index-codec.js';
import { IndexStore, keys, relFromKey, type HeldFile } from './index-store.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const helds: [string, HeldFile][] = [
  ['a file with two older versions', { cur: { v: '20261130T190223.478-0171', size: 2990, mtimeMs: 1796042009909.24, sha256: sha('a') }, old: [{ v: 'r2', size: 1, mtimeMs: 2, sha256: sha('b') }, { v: 'r1', size: 0, mtimeMs: 1, sha256: sha('') }], ino: 5374759, ctimeMs: 1796042009909.5 }],
  ['deleted at the source (no current version)', { old: [{ v: 'r1', size: 5, mtimeMs: 3, sha256: sha('c'), del: 'r9' }] }],
  ['a symlink (empty hash, a link target)', { cur: { v: 'r1', size: 0, mtimeMs: 4, sha256: '', link: '../x y/z' }, old: [], ino: 0, ctimeMs: 0 }],
  ['a link that was deleted', { old: [{ v: 'r1', size: 0, mtimeMs: 4, sha256: '', del: 'r2', link: 't' }] }],
  ['a current copy verify found damaged', { cur: { v: 'r3', size: 9, mtimeMs: 6, sha256: sha('g'), damaged: 'hash-mismatch' }, old: [{ v: 'r1', size: 1, mtimeMs: 1, sha256: sha('h') }], ino: 7, ctimeMs: 8 }],
  ['rebuilt from a target: no inode, no ctime', { cur: { v: 'r1', size: 7, mtimeMs: 5, sha256: sha('d') }, old: [] }],
  ['hashes that are not lowercase hex are kept as they are', { cur: { v: 'r1', size: 1, mtimeMs: 1, sha256: 'x'.repeat(64) }, old: [{ v: 'r0', size: 1, mtimeMs: 1, sha256: sha('e').toUpperCase() }, { v: 'r', size: 1, mtimeMs: 1, sha256: 'A'.repeat(43) }] }],
];

const files: [string, FileRecord][] = [
  ['uploaded', { path: 'root/写真/a b.jpg', target: 'hdd', status: 'uploaded', size: 12, sha256: sha('f') }],
  ['skipped with a reason and a message', { path: 'root/x', target: 'hdd', status: 'skipped', reason: 'changed-during-backup', message: 'it grew while read' }],
  ['failed, a reason, no size', { path: 'r/y', target: 's3', status: 'failed', reason: 'network-error' }],
  ['deleted', { path: 'r/z', target: 'hdd', status: 'deleted' }],
  ['restored with a size of 0 and an empty hash', { path: 'r/e', target: 'hdd', status: 'restored', size: 0, sha256: '' }],
  ['hashes that are not lowercase hex, one of 43 characters', { path: 'r/n', target: 'hdd', status: 'uploaded', size: 1, sha256: 'B'.repeat(43) }],
  ['an upper-case hex hash', { path: 'r/u', target: 'hdd', status: 'uploaded', size: 1, sha256: sha('u').toUpperCase() }],
  ['an unfinished upload started over', { path: 'r/big', target: 's3', status: 'uploaded', size: 9, sha256: sha('b'), resumed: false }],
  ['an unfinished upload continued', { path: 'r/big', target: 's3', status: 'uploaded', size: 9, resumed: true }],
];

describe('index codec (compact h and f values)', () => {
  it.each(helds)('a held record round-trips: %s', (_, h) => {
    const s = encodeHeld(h);
    expect(s.startsWith('[')).toBe(true);
    expect(decodeHeld(s)).toStrictEqual(h);
  });

  it.each(files)('a file record round-trips: %s', (_, r) => {
    expect(decodeFile(encodeFile(r))).toStrictEqual(r);
  });

  it('a file record stores its SHA-256 in 43 characters and takes under 65% of its JSON object; a held record under 75%', () => {
    const r = files[0]![1];
    const s = encodeFile(r);
    expect(s).toContain(Buffer.from(r.sha256!, 'hex').toString('base64url'));
    expect(s).not.toContain(r.sha256);
    expect(s.length).toBeLessThan(0.65 * JSON.stringify(r).length);
    const h = { ...helds[0]![1], old: [] };
    expect(encodeHeld(h).length).toBeLessThan(0.75 * JSON.stringify(h).length);
  });
});

describe('an index written before the compact form', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hokan-codec-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is read as it is, and a record rewritten after is read back in the new form', async () => {
    // The old format: every value a JSON object (level's json encoding), written by LevelDB itself.
    const { Level } = await import('level');
    const old = new Level<string, unknown>(join(dir, 'index'), { valueEncoding: 'json' });
    const run: RunRecord = { id: 'r1', job: 'job', kind: 'backup', status: 'completed', reasons: [], start: '2026-01-01T00:00:00.000Z', device: 'pc', sources: ['/src'], targets: ['hdd'], counts: emptyCounts(), bytes: 3 };
    await old.batch([
      ...helds.map(([, h], i) => ({ type: 'put' as const, key: keys.held('job', 'hdd', '/src', `dir/f${i}`), value: h })),
      // The old layout of per-file records: f, the run id, the sequence number rising.
      ...files.map(([, r], i) => ({ type: 'put' as const, key: `f\0r1\0${String(i + 1).padStart(10, '0')}`, value: r })),
      { type: 'put', key: keys.run('r1'), value: run },
    ]);
    await old.close();

    const index = await IndexStore.open(dir);
    const seen: [string, HeldFile][] = [];
    for await (const batch of index.heldBatches('job', 'hdd', '/src', 4)) for (const [tail, h] of batch) seen.push([relFromKey(tail), h]);
    expect(seen).toStrictEqual(helds.map(([, h], i) => [`dir/f${i}`, h]));
    expect(await index.getHeld('job', 'hdd', '/src', 'dir/f1')).toStrictEqual(helds[1]![1]);
    expect((await index.listFiles('r1')).files).toStrictEqual(files.map(([, r]) => r));
    expect((await index.listRuns()).runs).toStrictEqual([run]);

    // Rewrite one record: the same object comes back, now stored compact.
    const changed: HeldFile = { ...helds[0]![1], ino: 42 };
    await index.batch([index.heldOp('job', 'hdd', '/src', 'dir/f0', changed)]);
    expect(await index.getHeld('job', 'hdd', '/src', 'dir/f0')).toStrictEqual(changed);
    await index.close();
    const raw = new Level<string, string>(join(dir, 'index'), { valueEncoding: 'utf8' });
    expect((await raw.get(keys.held('job', 'hdd', '/src', 'dir/f0')))?.startsWith('[')).toBe(true);
    expect((await raw.get(keys.held('job', 'hdd', '/src', 'dir/f1')))?.startsWith('{')).toBe(true);
    await raw.close();
  });
});
