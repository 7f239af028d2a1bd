import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../common/errors.js';
import { configCandidates, resolveDataDir, userConfigPath } from './config-paths.js';
import { didYouMean, formatPath, loadConfig, maskSecrets } from './config-loader.js';

const dir = mkdtempSync(join(tmpdir(), 'hokan-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, value: unknown): string {
  const f = join(dir, name);
  writeFileSync(f, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return f;
}

describe('loadConfig', () => {
  it('resolves ${env:} and ${file:} (relative to the config file), and masks them', async () => {
    writeFileSync(join(dir, 'pw.txt'), 'pw-from-file\n');
    const f = write('refs.json', {
      plugins: ['@hokan/target-nas'],
      targets: { nas: { type: 'nas', url: 'https://nas.local/dav', username: 'backup', password: '${file:pw.txt}' } },
      jobs: [{ id: 'j', sources: [{ path: '~' }], targets: ['nas'] }],
      device: 'dev-${env:HOKAN_T_SUFFIX}',
    });
    const { config } = await loadConfig({ path: f, env: { HOKAN_T_SUFFIX: 'abc' }, home: '/home/u' });
    expect(config.targets.nas!.password).toBe('pw-from-file');
    expect(config.device).toBe('dev-abc');
    expect(config.jobs[0]!.sources[0]!.path).toBe('/home/u');
    const masked = maskSecrets(config);
    expect(masked.targets.nas).toEqual({ type: 'nas', url: 'https://nas.local/dav', username: 'backup', password: '***' });
    expect(masked.device).toBe('***');
    expect(config.targets.nas!.password).toBe('pw-from-file'); // the original is untouched
  });

  it('a missing ${file:} names the file, at its place', async () => {
    const f = write('missing-file.json', '{\n  "plugins": ["@hokan/target-nas"],\n  "targets": { "nas": { "type": "nas", "url": "https://x", "password": "${file:nope.txt}" } },\n  "jobs": []\n}\n');
    const err = (await loadConfig({ path: f }).catch((e) => e)) as ConfigError;
    expect(ConfigError.is(err)).toBe(true);
    expect(err.problems).toEqual([
      {
        path: 'targets.nas.password',
        line: 3,
        column: 72,
        message: `file ${join(dir, 'nope.txt')} (referenced as \${file:nope.txt}) cannot be read: ENOENT`,
        hint: "a ${file:PATH} reference is relative to the config file's folder",
      },
    ]);
  });

  it('a relative source or target path is refused with the full path it may mean; ~, absolute and Windows paths pass', async () => {
    const f = write('relative.json', '{\n  "plugins": ["@hokan/target-hdd"],\n  "targets": { "usb": { "type": "hdd", "path": "usb" }, "e": { "type": "hdd", "path": "E:\\\\hokan" } },\n  "jobs": [{ "id": "j", "sources": [{ "path": "docs/work" }, { "path": "~/Pictures" }, { "path": "/srv/data" }], "targets": ["usb", "e"] }]\n}\n');
    const err = (await loadConfig({ path: f }).catch((e) => e)) as ConfigError;
    expect(ConfigError.is(err)).toBe(true);
    expect(err.problems).toEqual([
      { path: 'targets.usb.path', line: 3, column: 48, message: "target path 'usb' is relative", hint: `write it in full ('${join(dir, 'usb')}'?) or from your home folder ('~/…')` },
      { path: 'jobs[0].sources[0].path', line: 4, column: 47, message: "source path 'docs/work' is relative", hint: `write it in full ('${join(dir, 'docs/work')}'?) or from your home folder ('~/…')` },
    ]);
  });

  it('no "plugins" key means the six built-in plugins', async () => {
    const f = write('defaults.json', { targets: {}, jobs: [] });
    const { config } = await loadConfig({ path: f, hostname: 'box' });
    expect(config.plugins).toEqual(['@hokan/target-hdd', '@hokan/target-s3', '@hokan/target-azure', '@hokan/target-nas', '@hokan/notify-smtp', '@hokan/category-presets']);
    expect(config.device).toBe('box');
  });
});

describe('the compiled-validator cache', () => {
  it('a cached validator finds exactly the problems a fresh compile finds, and a good file still passes', async () => {
    const cache = join(dir, 'validator-cache');
    const bad = write('bad-for-cache.json', {
      plugins: ['@hokan/target-hdd', '@hokan/target-s3'],
      targets: { usb: { type: 'hdd', path: '/media/x', maxConnections: 'four' }, cloud: { type: 's3', bucket: 7, colour: 'blue' } },
      jobs: [{ id: 'j', sources: [], targets: ['usb'], generations: -1 }],
      devcie: 'typo',
    });
    const problems = async () => ((await loadConfig({ path: bad, cacheDir: cache }).catch((e) => e)) as ConfigError).problems;
    const fresh = await problems();
    expect(readdirSync(cache).filter((n) => n.startsWith('validator-') && n.endsWith('.cjs'))).toHaveLength(1);
    const cached = await problems();
    expect(fresh.length).toBeGreaterThanOrEqual(5);
    expect(cached).toEqual(fresh);
    const good = write('good-for-cache.json', { plugins: ['@hokan/target-hdd', '@hokan/target-s3'], targets: { usb: { type: 'hdd', path: '/media/x' } }, jobs: [{ id: 'j', sources: [{ path: '/src' }], targets: ['usb'] }] });
    await expect(loadConfig({ path: good, cacheDir: cache })).resolves.toMatchObject({ config: { jobs: [{ id: 'j' }] } });
  });

  it('a damaged cache entry is compiled again, not trusted', async () => {
    const cache = join(dir, 'validator-cache-damaged');
    const bad = write('bad-for-damaged-cache.json', { targets: { usb: { type: 'hdd' } }, jobs: [] });
    const first = ((await loadConfig({ path: bad, cacheDir: cache }).catch((e) => e)) as ConfigError).problems;
    const [name] = readdirSync(cache).filter((n) => n.endsWith('.cjs'));
    writeFileSync(join(cache, name!), 'this is not javascript');
    const again = ((await loadConfig({ path: bad, cacheDir: cache }).catch((e) => e)) as ConfigError).problems;
    expect(again).toEqual(first);
    expect(first.map((p) => p.path)).toContain('targets.usb.path');
    // …and the entry was replaced by a working one.
    expect(readdirSync(cache).filter((n) => n.endsWith('.cjs'))).toEqual([name]);
    const third = ((await loadConfig({ path: bad, cacheDir: cache }).catch((e) => e)) as ConfigError).problems;
    expect(third).toEqual(first);
  });
});

describe('helpers', () => {
  it('didYouMean suggests close names only', () => {
    expect(didYouMean('azur', ['hdd', 's3', 'azure', 'nas'])).toBe('azure');
    expect(didYouMean('smpt', ['smtp'])).toBe('smtp');
    expect(didYouMean('ftp', ['hdd', 's3', 'azure'])).toBeUndefined();
  });

  it('formatPath', () => {
    expect(formatPath(['jobs', 0, 'targets', 1])).toBe('jobs[0].targets[1]');
    expect(formatPath(['targets', 'my usb', 'type'])).toBe('targets["my usb"].type');
  });

  it('config and data paths per platform', () => {
    expect(userConfigPath({ platform: 'linux', home: '/h', env: {} })).toBe('/h/.config/hokan/config.json');
    expect(userConfigPath({ platform: 'linux', home: '/h', env: { XDG_CONFIG_HOME: '/x' } })).toBe('/x/hokan/config.json');
    expect(userConfigPath({ platform: 'darwin', home: '/h', env: {} })).toBe('/h/Library/Application Support/hokan/config.json');
    expect(userConfigPath({ platform: 'win32', home: '/h', env: { APPDATA: '/appdata' } })).toBe(join('/appdata', 'hokan', 'config.json'));
    expect(configCandidates(undefined, { cwd: '/w', home: '/h', platform: 'linux', env: { HOKAN_CONFIG: 'c.json' } }).map((c) => c.path)).toEqual(['/w/c.json', '/w/config.json', '/h/.config/hokan/config.json']);
    expect(resolveDataDir(undefined, { platform: 'linux', home: '/h', env: {} })).toBe('/h/.local/share/hokan');
    expect(resolveDataDir(undefined, { platform: 'linux', home: '/h', env: { HOKAN_DATA_DIR: '/d' } })).toBe('/d');
    expect(resolveDataDir('rel', { cwd: '/w', env: { HOKAN_DATA_DIR: '/d' } })).toBe('/w/rel');
  });
});
