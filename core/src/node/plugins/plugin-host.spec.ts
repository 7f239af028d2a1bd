import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PluginError } from '../../common/errors.js';
import { EngineHooks, hasTaps } from '../../common/hooks.js';
import type { Logger } from '../../common/logger.js';
import { BUILTIN_PLUGINS, PluginHost, locatePlugin, usedBecause, wrapHooks } from './plugin-host.js';

const dir = mkdtempSync(join(tmpdir(), 'hokan-host-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function plugin(name: string, pkg: object, index?: string): string {
  const root = join(dir, name);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify(pkg));
  if (index !== undefined) writeFileSync(join(root, 'index.js'), index);
  return root;
}

function recordingLogger(lines: { level: string; obj: unknown; msg?: string }[]): Logger {
  const log = (level: string) => (obj: unknown, msg?: string) => lines.push({ level, obj, msg });
  const l: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => l };
  return l;
}

describe('locatePlugin', () => {
  it('a relative path is taken from the config file\'s folder', () => {
    const root = plugin('p1', { name: 'p1', hokan: { apiVersion: 1 } });
    expect(locatePlugin('./p1', dir)).toEqual({ root, source: 'path' });
  });

  it('finds the built-in packages from hokan\'s own install', () => {
    const found = locatePlugin('@hokan/target-s3', dir);
    expect(found.source).toBe('package');
    expect(found.root).toMatch(/plugins[/\\]target-s3$/);
  });

  it('a package that is nowhere → every node_modules tried, in order', () => {
    let err: any;
    try {
      locatePlugin('nope-plugin', join(dir, 'a'));
    } catch (e) {
      err = e;
    }
    expect(err.code).toBe('E_PLUGIN_LOAD');
    expect(err.message.split('\n').slice(0, 3)).toEqual([
      "plugin 'nope-plugin' cannot be found; tried:",
      `    ${join(dir, 'a', 'node_modules', 'nope-plugin', 'package.json')}`,
      `    ${join(dir, 'node_modules', 'nope-plugin', 'package.json')}`,
    ]);
  });
});

describe('PluginHost', () => {
  it('reads manifests without running plugin code, and lists the built-ins', () => {
    plugin('quiet', { name: 'quiet-plugin', version: '3.1.0', hokan: { apiVersion: 1, contributes: { targets: [{ type: 'ftp' }] } } }, "throw new Error('must not run');");
    const host = PluginHost.discover(['./quiet'], dir);
    expect(host.problems).toEqual([]);
    const q = host.byId('quiet-plugin')!;
    expect(q).toMatchObject({ id: 'quiet-plugin', version: '3.1.0', source: 'path', configured: true });
    expect(host.descriptors.filter((d) => !d.configured).map((d) => d.spec)).toEqual([...BUILTIN_PLUGINS]);
    expect(host.providers('targets').map((p) => p.type)).toContain('ftp');
  });

  it('imports a plugin only when asked, and a throw while importing names the plugin', async () => {
    const host = PluginHost.discover(['./quiet'], dir);
    await expect(host.load(host.byId('quiet-plugin')!)).rejects.toMatchObject({
      code: 'E_PLUGIN_LOAD',
      pluginId: 'quiet-plugin',
      message: "plugin 'quiet-plugin' (quiet-plugin) failed to load: must not run",
    });
  });

  it('refuses a package without a hokan manifest', () => {
    plugin('plain', { name: 'plain-package' });
    const host = PluginHost.discover(['./plain'], dir);
    expect(host.problems[0]!.error.message).toBe(`'plain-package' (${join(dir, 'plain')}) is not a hokan plugin: its package.json has no "hokan" manifest`);
  });

  it('a plugin is used when the config uses what it contributes', () => {
    plugin('multi', {
      name: 'multi',
      hokan: { apiVersion: 1, contributes: { targets: [{ type: 'ftp' }], notifiers: [{ type: 'slack' }], presets: [{ name: 'games' }], filters: [{ name: 'big' }], commands: [{ command: 'ftp-check', describe: 'x' }] } },
    });
    const d = PluginHost.discover(['./multi'], dir).byId('multi')!;
    const none = { targets: {}, jobs: [], notify: [] };
    expect(usedBecause(d, none)).toEqual([]);
    expect(usedBecause(d, { ...none, targets: { a: { type: 'ftp' } } })).toEqual(["target type 'ftp'"]);
    expect(usedBecause(d, { ...none, notify: [{ type: 'slack' }] })).toEqual(["notifier type 'slack'"]);
    expect(usedBecause(d, { ...none, jobs: [{ sources: [{ preset: 'games' }], filters: { plugins: [{ name: 'big' }] } } as any] })).toEqual(["preset 'games'", "filter 'big'"]);
    expect(usedBecause(d, none, { command: 'ftp-check' })).toEqual(["command 'ftp-check'"]);
  });
});

describe('wrapHooks', () => {
  it('a wrapped hook nobody tapped has no taps (the engine skips its per-file calls); a tap shows, and still runs', async () => {
    const hooks = new EngineHooks();
    wrapHooks(hooks, recordingLogger([]));
    expect(hooks.filterEntry.isUsed()).toBe(true); // tapable counts the interceptor: why hasTaps exists
    expect(hasTaps(hooks.filterEntry)).toBe(false);
    expect(hasTaps(hooks.beforeUpload)).toBe(false);
    hooks.filterEntry.tap('skip-tmp', (e) => (e.rel.endsWith('.tmp') ? { action: 'exclude', reason: 'temporary' } : undefined));
    expect(hasTaps(hooks.filterEntry)).toBe(true);
    expect(await hooks.filterEntry.promise({ rel: 'a.tmp' } as any, {} as any)).toEqual({ action: 'exclude', reason: 'temporary' });
  });

  it('a throwing tap becomes a PluginError naming the plugin and the hook', async () => {
    const hooks = new EngineHooks();
    wrapHooks(hooks, recordingLogger([]));
    hooks.beforeRun.tapPromise('bad-plugin', async () => {
      throw new Error('oops');
    });
    const err = await hooks.beforeRun.promise({} as any).catch((e) => e);
    expect(PluginError.is(err)).toBe(true);
    expect(err).toMatchObject({ pluginId: 'bad-plugin', hook: 'beforeRun', message: "plugin 'bad-plugin' failed in hook 'beforeRun': oops" });
  });

  it('wraps sync and callback taps too, and taps registered before wrapping', async () => {
    const hooks = new EngineHooks();
    hooks.filterEntry.tap('early', () => {
      throw new Error('sync boom');
    });
    wrapHooks(hooks, recordingLogger([]));
    await expect(hooks.filterEntry.promise({} as any, {} as any)).rejects.toMatchObject({ pluginId: 'early', hook: 'filterEntry' });
    const h2 = new EngineHooks();
    wrapHooks(h2, recordingLogger([]));
    h2.afterRestore.tapAsync('cb-plugin', (_r, _c, cb) => cb(new Error('cb boom')));
    await expect(h2.afterRestore.promise({} as any, {} as any)).rejects.toMatchObject({ pluginId: 'cb-plugin', message: "plugin 'cb-plugin' failed in hook 'afterRestore': cb boom" });
  });

  it('a failing `report` tap is logged, never rethrown, and the other taps still run', async () => {
    const lines: { level: string; obj: unknown; msg?: string }[] = [];
    const hooks = new EngineHooks();
    wrapHooks(hooks, recordingLogger(lines));
    let ran = false;
    hooks.report.tapPromise('mailer', async () => {
      throw new Error('smtp down');
    });
    hooks.report.tapPromise('other', async () => {
      ran = true;
    });
    await hooks.report.promise({} as any);
    expect(ran).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', msg: "plugin 'mailer' failed in hook 'report': smtp down" });
  });

  it('taps run in stage order, not registration order', async () => {
    const hooks = new EngineHooks();
    wrapHooks(hooks, recordingLogger([]));
    const order: string[] = [];
    hooks.beforeRun.tapPromise({ name: 'late', stage: 10 }, async () => void order.push('late'));
    hooks.beforeRun.tapPromise({ name: 'early', stage: -10 }, async () => void order.push('early'));
    await hooks.beforeRun.promise({} as any);
    expect(order).toEqual(['early', 'late']);
  });
});
