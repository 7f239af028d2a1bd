import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffManifests, treeManifest } from '../core/src/testing/tree-manifest.js';
import { agent } from './helpers/agent.js';

// Issue 27: a round trip of a tree nobody here made. /usr/share/icons (icon themes from Debian
// packages: thousands of files, symlinks and hundreds of empty folders) is copied with `cp -a`,
// backed up to an hdd target with hidden files included (as `rsync -a` would take them), restored
// into an empty folder, and the two trees compared entry by entry: type, permission bits, mtime,
// size, SHA-256, link target. `bench/roundtrip.mjs` does the same on all of /usr/share against rsync.
const REAL = '/usr/share/icons';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-real-tree-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a real tree round trip (issue 27)', () => {
  it(`${REAL}, copied with cp -a: the restore equals it in content, symlinks, empty folders, permission bits and mtimes`, async () => {
    expect(existsSync(REAL), `${REAL} is there (Debian's icon themes; .ci/run installs adwaita-icon-theme when missing)`).toBe(true);
    const src = join(dir, 'icons');
    execFileSync('cp', ['-a', REAL, src]);
    const before = await treeManifest(src);
    const empties = before.filter((l, i) => l.includes(' dir ') && !(before[i + 1] ?? '').startsWith(l.slice(0, l.indexOf(' dir ') - 1) + '/'));
    expect(before.filter((l) => l.includes(' link -> ')).length, 'the tree has symlinks').toBeGreaterThan(10);
    expect(empties.length, 'the tree has empty folders').toBeGreaterThan(10);

    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ device: 'pc', targets: { usb: { type: 'hdd', path: join(dir, 'usb'), createIfMissing: true } }, jobs: [{ id: 'real', sources: [{ path: src }], targets: ['usb'], filters: { hidden: true } }] }));
    const run = (...a: string[]) => agent([...a, '--config', config, '--data-dir', join(dir, 'data')], { cwd: dir });
    const b = await run('backup', '--json');
    expect(b.code, b.stdout + b.stderr).toBe(0);
    const rec = JSON.parse(b.stdout)[0];
    const files = before.filter((l) => l.includes(' file ') || l.includes(' link -> ')).length;
    expect(rec, JSON.stringify(rec)).toMatchObject({ status: 'completed', counts: { seen: files, uploaded: files, failed: 0, skipped: 0 } });

    const out = join(dir, 'out');
    const r = await run('restore', '--job', 'real', '--to', out);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const diff = diffManifests(before, await treeManifest(join(out, 'icons')));
    expect(diff, 'differences between the source and the restore').toEqual({ count: 0, onlyA: [], onlyB: [] });
  }, 240_000);
});
