import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HokanConfig, JobConfig } from '../core/src/common/config-types.js';
import { EngineHooks } from '../core/src/common/hooks.js';
import { nullLogger } from '../core/src/common/logger.js';
import type { Target } from '../core/src/common/target.js';
import { runBackup } from '../core/src/node/engine/backup.js';
import type { EngineDeps } from '../core/src/node/engine/deps.js';
import { runRestore } from '../core/src/node/engine/restore.js';
import { IndexStore } from '../core/src/node/index/index-store.js';
import { seededRandom } from '../core/src/testing/seeded-random.js';
import { loadPresetData } from '../plugins/category-presets/src/preset-data.js';
import { resolvePreset } from '../plugins/category-presets/src/preset-resolver.js';
import { fakeWindows, WINDOWS_FILES, WINDOWS_SELECTS, windowsInput, type FakeWindows } from '../plugins/category-presets/test/fake-windows.js';
import { HddTarget } from '../plugins/target-hdd/src/index.js';

/**
 * Issue 18, the Windows layout backed up: a job of all ten presets on the fake Windows machine
 * (plugins/category-presets/test/fake-windows.ts: the presets resolved from its registry and
 * environment, their folders put onto real files here) backed up by the engine to an hdd target
 * and restored: exactly the files the presets select, each once, byte for byte.
 */
let dir: string;
let disk: string;
let index: IndexStore;
let win: FakeWindows;

/** Mail stores and a few others get bytes of their own (sizes around the copy buffer); the rest hold their path. */
function contents(): Record<string, Uint8Array | string> {
  const rnd = seededRandom(18);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
  const big: Record<string, number> = { '.pst': 1024 * 1024 + 17, '.ost': 3 * 65_536, '.PST': 4095, '.vol': 65_536, '.KD18': 1 };
  return Object.fromEntries(WINDOWS_FILES.map((f) => {
    const ext = Object.keys(big).find((e) => f.endsWith(e));
    return [f, ext ? bytes(big[ext]!) : `${f}\n`];
  }));
}

const { presets, defaults } = loadPresetData();
const NAMES = Object.keys(WINDOWS_SELECTS);

function deps(): EngineDeps {
  const job: JobConfig = { id: 'win', sources: NAMES.map((preset) => ({ preset })), targets: ['usb'], generations: 5, filters: {}, deletions: 'every-run', deletionThreshold: { percent: 50, count: 1000 }, followSymlinks: false, ignoreInode: false, ignoreCtime: false };
  const config: HokanConfig = { device: 'taro-pc', plugins: [], targets: { usb: { type: 'hdd', path: disk } }, jobs: [job], notify: [], presets: {} };
  return {
    index,
    hooks: new EngineHooks(),
    logger: nullLogger,
    config,
    openTarget: async (): Promise<Target> => HddTarget.create({ type: 'hdd', path: disk }),
    // As the engine service resolves a plugin's preset, for taro's Windows instead of this machine.
    resolvePreset: async (name) => win.onto(await resolvePreset(presets.find((p) => p.name === name)!, defaults, windowsInput())),
    retry: { retries: 1, minDelayMs: 5 },
  };
}

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.push(relative(root, join(e.parentPath, e.name)).split(sep).join('/'));
  }
  return out.sort();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-presets-windows-backup-'));
  disk = join(dir, 'usb');
  await mkdir(disk);
  index = await IndexStore.open(join(dir, 'data'));
  win = fakeWindows(contents());
});
afterAll(async () => {
  await index?.close().catch(() => undefined);
  win?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** The job's top-level folders on the target: one per folder walked, named in config order (sources.ts). */
const ROOTS: [string, string][] = [
  ['ドキュメント', 'C:/Users/taro/OneDrive/ドキュメント'],
  ['デスクトップ', 'C:/Users/taro/OneDrive/デスクトップ'],
  ['画像', 'C:/Users/taro/OneDrive/画像'],
  ['Music', 'C:/Users/taro/Music'],
  ['Videos', 'D:/Videos'],
  ['ProgramData', 'C:/ProgramData'],
  ['OBCWIN', 'C:/OBCWIN'],
  ['JUST', 'C:/JUST'],
  ['Profiles', 'C:/Users/taro/AppData/Roaming/Thunderbird/Profiles'],
  ['Outlook', 'C:/Users/taro/AppData/Local/Microsoft/Outlook'],
  ['LocalState', 'C:/Users/taro/AppData/Local/Packages/microsoft.windowscommunicationsapps_8wekyb3d8bbwe/LocalState'],
  ['Profiles (2)', 'C:/Users/taro/AppData/Roaming/Mozilla/Firefox/Profiles'],
  ['User Data', 'C:/Users/taro/AppData/Local/Google/Chrome/User Data'],
  ['User Data (2)', 'C:/Users/taro/AppData/Local/Chromium/User Data'],
  ['User Data (3)', 'C:/Users/taro/AppData/Local/Microsoft/Edge/User Data'],
  ['Opera Stable', 'C:/Users/taro/AppData/Roaming/Opera Software/Opera Stable'],
  ['User Data (4)', 'C:/Users/taro/AppData/Local/BraveSoftware/Brave-Browser/User Data'],
  ['Favorites', 'C:/Users/taro/Favorites'],
];

/** Where a selected file lands under the restore folder: its root's name, then its path inside that root. */
function restoredAs(winPath: string): string {
  const hits = ROOTS.filter(([, folder]) => winPath.startsWith(`${folder}/`));
  expect(hits, winPath).toHaveLength(1);
  const [name, folder] = hits[0]!;
  return `${name}/${winPath.slice(folder.length + 1)}`;
}

describe('a job of the ten presets on a Windows machine, backed up to an hdd and restored', () => {
  it('backs up exactly the selected files, each once, and restores them byte for byte', { timeout: 60_000 }, async () => {
    const selected = [...new Set(Object.values(WINDOWS_SELECTS).flat())].sort();
    const run = await runBackup(deps(), { job: 'win' });
    expect(run.status).toBe('completed');
    expect(run.counts).toMatchObject({ seen: selected.length, uploaded: selected.length, failed: 0 });
    // One top-level folder per walked folder: the overlaps (Desktop and Documents for office,
    // finance, ebooks; Outlook Files in Documents; ProgramData for finance and ebooks) are not there twice.
    expect((await readdir(join(disk, 'win'))).filter((n) => !n.startsWith('.')).sort()).toEqual(ROOTS.map(([n]) => n).sort());

    const to = join(dir, 'restored');
    const { run: r } = await runRestore(deps(), { job: 'win', to });
    expect(r.status).toBe('completed');
    expect(r.counts.restored).toBe(selected.length);
    const expected = new Map(selected.map((f) => [restoredAs(f), f]));
    expect(await filesUnder(to)).toEqual([...expected.keys()].sort());
    for (const [rel, winPath] of expected) {
      expect(Buffer.compare(await readFile(join(to, rel)), await readFile(win.local(winPath))), rel).toBe(0);
    }
  });
});
