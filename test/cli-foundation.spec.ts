import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, ROOT, agent, tempDir } from './helpers.js';
import { agent as agentAs } from './helpers/agent.js';

const SHIPPED = join(ROOT, 'config', 'config.json');
const CUSTOM = join(ROOT, 'config', 'examples', 'custom-plugin.config.json');
const BUILTIN_IDS = ['target-hdd', 'target-s3', 'target-azure', 'target-nas', 'notify-smtp', 'category-presets'];

let t: ReturnType<typeof tempDir>;
beforeAll(() => {
  t = tempDir();
});
afterAll(() => t.cleanup());

describe('agent --help and --version', () => {
  it('lists the built-in commands and exits 0', () => {
    const r = agent(['--help', '--config', SHIPPED]);
    expect(r.code).toBe(0);
    for (const c of ['init', 'config', 'plugins', 'run', 'status', 'notify']) expect(r.stdout).toMatch(new RegExp(`^  agent ${c}\\b`, 'm'));
    expect(r.stdout).toContain('--config');
    expect(r.stdout).toContain('--data-dir');
    expect(r.stdout).toContain('--json');
  });

  it('lists a command a plugin contributes, from its manifest', () => {
    const r = agent(['--help', '--config', CUSTOM]);
    expect(r.stdout).toMatch(/agent hello \[name\]\s+Say hello \(from the example plugin\) \[plugin hello\]/);
  });

  it('prints the version', () => {
    const r = agent(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'core', 'package.json'), 'utf8')).version);
  });

  it('run as a program (what `npx agent` runs), the bin starts Node with its smaller heap', () => {
    const probe = t.file('probe.cjs', "process.stderr.write('PROBE ' + JSON.stringify({ argv: process.execArgv, limit: require('v8').getHeapStatistics().heap_size_limit }) + '\\n');\n");
    const r = spawnSync(MAIN, ['--version'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--require ${probe}` } });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const seen = JSON.parse(/PROBE (.*)/.exec(r.stderr)![1]!) as { argv: string[]; limit: number };
    expect(seen.argv).toEqual(['--max-old-space-size=1024', '--max-semi-space-size=8']);
    expect(seen.limit).toBeLessThan(1.5 * 1024 ** 3); // Node's default here is ~4 GB
  });

  it('an unknown command is bad usage (exit 2)', () => {
    const r = agent(['frobnicate', '--config', SHIPPED]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: Unknown argument: frobnicate');
  });

  it('an unknown option is bad usage (exit 2), and with --json the error is the one JSON document on stdout', () => {
    const r = agent(['config', 'validate', '--config', SHIPPED, '--nope', '--json']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.error.code).toBe('E_USAGE');
    expect(doc.error.message).toBe('Unknown argument: nope');
  });
});

describe('no config file', () => {
  it('says every place it looked and that `agent init` writes one (exit 2)', () => {
    const home = join(t.dir, 'home-empty');
    const r = agent(['config', 'validate'], { cwd: t.dir, env: { HOME: home, XDG_CONFIG_HOME: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `error: no config file found; looked in:\n    ${join(t.dir, 'config.json')} (current folder)\n    ${join(home, '.config', 'hokan', 'config.json')} (user config folder)\n  → \`agent init\` writes a starter config, or pass one with --config PATH\n`,
    );
  });

  it('names $HOKAN_CONFIG when it is set', () => {
    const r = agent(['config', 'validate'], { cwd: t.dir, env: { HOME: join(t.dir, 'h2'), XDG_CONFIG_HOME: join(t.dir, 'xdg'), HOKAN_CONFIG: 'missing.json' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`    ${join(t.dir, 'missing.json')} ($HOKAN_CONFIG)\n`);
    expect(r.stderr).toContain(`    ${join(t.dir, 'xdg', 'hokan', 'config.json')} (user config folder)\n`);
  });

  it('a --config that does not exist says so', () => {
    const r = agent(['config', 'validate', '--config', join(t.dir, 'nope.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: config file not found: ${join(t.dir, 'nope.json')} (given with --config)`);
  });

  it('a --config that is a folder or cannot be read gets a hint that fits (issue 28)', async () => {
    const folder = join(t.dir, 'a-folder');
    mkdirSync(folder, { recursive: true });
    const r = agent(['config', 'validate', '--config', folder]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot read config file ${folder}: it is a folder`);
    expect(r.stderr).toContain(`→ ${folder} is a folder: give the config file inside it, e.g. --config ${folder}/config.json`);
    const locked = t.file('locked.json', '{}');
    chmodSync(locked, 0o000);
    const l = await agentAs(['config', 'validate', '--config', locked], { obeyPermissions: true });
    expect(l.code).toBe(2);
    expect(l.stderr).toContain(`→ give the agent's user read access to ${locked}`);
    expect(l.stderr).not.toContain('agent init');
  });
});

describe('agent config validate', () => {
  it('accepts the shipped config (exit 0); a target folder or source not there now is a warning, not an error', () => {
    const r = agent(['config', 'validate', '--config', SHIPPED], { env: { HOME: t.dir } });
    expect(r.stderr).toBe(
      `warning: source ${join(t.dir, 'Documents')} of job "documents" is not there now: a run backs up nothing from it and deletes nothing for it\n` +
        `warning: target "usb": ${join(t.dir, '.local', 'share', 'hokan', 'backup')} is not there now (a disk may be unplugged); runs say target-unavailable until it is\n`,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${SHIPPED}: valid — 1 target(s), 1 job(s), 0 notifier(s)`);
  });

  it('--json on a good file prints { ok: true, problems: [] }', () => {
    const r = agent(['config', 'validate', '--config', SHIPPED, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, file: SHIPPED, problems: [] });
  });

  it('invalid JSON → file, line:column and what was expected', () => {
    const f = t.file('broken.json', '{\n  "targets": {\n    "usb": { "type": "hdd" "path": "/x" }\n  }\n}\n');
    const r = agent(['config', 'validate', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:3:28: invalid JSON: expected a comma "," between entries, found "\\"path\\""`);
  });

  it('comments and trailing commas are fine', () => {
    const f = t.file('comments.json', '{\n  // a comment\n  /* another */\n  "targets": { "usb": { "type": "hdd", "path": "/x", }, },\n  "jobs": [],\n}\n');
    const r = agent(['config', 'validate', '--config', f]);
    expect(r.stderr).toBe('warning: target "usb": /x is not there now (a disk may be unplugged); runs say target-unavailable until it is\n');
    expect(r.code).toBe(0);
  });

  it('runs every check a run would: dates, regular expressions, cron, reserved names, references, a source that is a file (issue 27)', () => {
    const file = t.file('a-file.txt', 'x');
    const f = t.file(
      'late.json',
      `{
  "targets": { "usb": { "type": "hdd", "path": "\${env:HOKAN_TEST_DISK}" }, "rel": { "type": "hdd", "path": "\${env:HOKAN_TEST_REL}" } },
  "jobs": [
    { "id": "docs", "sources": [{ "path": "/tmp/.hokan" }, { "path": ${JSON.stringify(file)} }], "targets": ["usb", "rel"],
      "filters": { "modifiedBefore": "2026-02-30", "excludeRegex": ["ok", "(unclosed"] },
      "schedule": { "cron": "99 99 * * *" } }
  ]
}
`,
    );
    const r = agent(['config', 'validate', '--config', f], { env: { HOKAN_TEST_DISK: '/media/hokan-test-disk', HOKAN_TEST_REL: 'relative/disk' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${f}: 4 problems:`);
    expect(r.stderr).toMatch(new RegExp(`  ${f}:4:\\d+: jobs\\[0\\]\\.sources\\[0\\]\\.path: a source cannot be named "\\.hokan": that is the job's own folder for its records on the target`));
    expect(r.stderr).toMatch(new RegExp(`  ${f}:5:\\d+: jobs\\[0\\]\\.filters\\.excludeRegex\\[1\\]: invalid regular expression "\\(unclosed": .*Unterminated group`));
    expect(r.stderr).toMatch(new RegExp(`  ${f}:5:\\d+: jobs\\[0\\]\\.filters\\.modifiedBefore: invalid date "2026-02-30": no such day or time`));
    expect(r.stderr).toMatch(new RegExp(`  ${f}:6:\\d+: jobs\\[0\\]\\.schedule\\.cron: '99 99 \\* \\* \\*' is not a cron expression`));
    // ${env:…} paths are resolved before they are judged: the full one passes, the relative one is named.
    expect(r.stderr).not.toContain('targets.usb.path');
    expect(r.stderr).not.toContain('is a file');
    const second = t.file('late2.json', readFileSync(f, 'utf8').replace('"/tmp/.hokan"', '"/tmp/fine"').replace(/"filters".*\n/, '').replace(/"schedule".*\n/, '').replace('"targets": ["usb", "rel"],', '"targets": ["usb", "rel"] }'));
    const r2 = agent(['config', 'validate', '--config', second], { env: { HOKAN_TEST_DISK: '/media/hokan-test-disk', HOKAN_TEST_REL: 'relative/disk' } });
    expect(r2.code, r2.stderr).toBe(2);
    expect(r2.stderr).toContain(`targets.rel.path: \${env:HOKAN_TEST_REL} gives a relative path (a value from a reference is not printed)`);
    expect(r2.stderr).toContain(`jobs[0].sources[1].path: source ${file} is a file, not a folder\n      → give its folder as "path", with "include": ["a-file.txt"] to take only this file`);
  });

  const BAD = `{
  "devise": "x",
  "targets": {
    "usb": { "type": "hdd", "path": "/tmp/x", "pth": 1 },
    "cloud": { "type": "azur", "container": "abc" }
  },
  "jobs": [
    { "id": "docs", "sources": [{ "path": "~/Docs" }], "targets": ["usb", "clud"], "generations": "ten",
      "deletions": "sometimes" }
  ]
}
`;

  it('prints every problem with JSON path, line:column, what is allowed and "did you mean" (exit 2)', () => {
    const f = t.file('bad.json', BAD);
    const r = agent(['config', 'validate', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe(`error: ${f}: 6 problems:`);
    expect(r.stderr).toContain(`  ${f}:2:3: devise: unknown key 'devise'; allowed keys at the top level: $schema, device, plugins, targets, jobs, notify, presets, maxConcurrentJobs, watchSettle, watchMaxDelay, watchFallbackEvery\n      → did you mean 'device'?`);
    expect(r.stderr).toContain(`  ${f}:4:47: targets.usb.pth: unknown key 'pth'; allowed keys for a target of type 'hdd': type, path,`);
    expect(r.stderr).toContain(
      `  ${f}:5:24: targets.cloud.type: unknown target type 'azur'; types provided by plugins: hdd (@hokan/target-hdd), s3 (@hokan/target-s3), azure (@hokan/target-azure), nas (@hokan/target-nas)\n      → did you mean 'azure'?`,
    );
    expect(r.stderr).toContain(`  ${f}:8:75: jobs[0].targets[1]: no target with id 'clud'; targets defined: usb, cloud\n      → did you mean 'cloud'?`);
    expect(r.stderr).toContain(`  ${f}:8:99: jobs[0].generations: must be a whole number, not a string ("ten")`);
    expect(r.stderr).toContain(`  ${f}:9:20: jobs[0].deletions: "sometimes" is not allowed; allowed values: every-run, monthly, never`);
  });

  it('--json prints the problems with path, line and column in the error document', () => {
    const f = t.file('bad-json.json', BAD);
    const r = agent(['config', 'validate', '--config', f, '--json']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.error.code).toBe('E_CONFIG');
    expect(doc.error.problems).toContainEqual({ path: 'targets.cloud.type', line: 5, column: 24, message: expect.stringContaining("unknown target type 'azur'"), hint: "did you mean 'azure'?" });
    expect(doc.error.problems).toContainEqual({ path: 'jobs[0].generations', line: 8, column: 99, message: 'must be a whole number, not a string ("ten")' });
    expect(doc.error.problems).toHaveLength(6);
  });

  it('a target type whose plugin is not in "plugins" names the plugin to add', () => {
    const f = t.file('not-listed.json', '{\n  "plugins": ["@hokan/target-hdd"],\n  "targets": { "c": { "type": "s3", "bucket": "b" } },\n  "jobs": []\n}\n');
    const r = agent(['config', 'validate', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:3:31: targets.c.type: target type 's3' is provided by plugin @hokan/target-s3, which "plugins" does not name\n      → add "@hokan/target-s3" to "plugins"`);
  });

  it('an unknown notifier type and a wrong type in a plugin\'s schema', () => {
    const f = t.file('notify.json', '{\n  "targets": {},\n  "jobs": [],\n  "notify": [\n    { "type": "smpt" },\n    { "type": "smtp", "host": "h", "to": ["a@b"], "port": "587" }\n  ]\n}\n');
    const r = agent(['config', 'validate', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:5:15: notify[0].type: unknown notifier type 'smpt'; types provided by plugins: smtp (@hokan/notify-smtp)\n      → did you mean 'smtp'?`);
    expect(r.stderr).toContain(`${f}:6:59: notify[1].port: must be a whole number, not a string ("587")`);
  });

  it('a missing ${env:…} names the variable, never a value', () => {
    const f = t.file('env.json', '{\n  "targets": { "c": { "type": "s3", "bucket": "b", "secretAccessKey": "${env:HOKAN_TEST_UNSET_VAR}" } },\n  "jobs": []\n}\n');
    const r = agent(['config', 'validate', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${f}:2:71: targets.c.secretAccessKey: environment variable HOKAN_TEST_UNSET_VAR is not set (referenced as \${env:HOKAN_TEST_UNSET_VAR})`);
  });
});

describe('agent config show', () => {
  it('prints the resolved config with defaults, and secrets masked', () => {
    const secretFile = t.file('secret.txt', 'file-secret-value\n');
    const f = t.file(
      'show.json',
      JSON.stringify({
        device: 'pc1',
        targets: { usb: { type: 'hdd', path: '~/backup' }, c: { type: 's3', bucket: 'b', accessKeyId: 'AKIAPLAINVALUE', secretAccessKey: '${env:HOKAN_TEST_SECRET}', prefix: '${file:secret.txt}' } },
        jobs: [{ id: 'j', sources: [{ path: '~/docs' }], targets: ['usb', 'c'] }],
      }),
    );
    void secretFile;
    const home = join(t.dir, 'home');
    const r = agent(['config', 'show', '--config', f, '--json'], { env: { HOKAN_TEST_SECRET: 'env-secret-value', HOME: home } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('env-secret-value');
    expect(r.stdout).not.toContain('file-secret-value');
    expect(r.stdout).not.toContain('AKIAPLAINVALUE');
    const c = JSON.parse(r.stdout);
    expect(c.targets.c).toEqual({ type: 's3', bucket: 'b', accessKeyId: '***', secretAccessKey: '***', prefix: '***' });
    expect(c.targets.usb.path).toBe(join(home, 'backup'));
    expect(c.jobs[0]).toEqual({
      id: 'j',
      sources: [{ path: join(home, 'docs') }],
      targets: ['usb', 'c'],
      generations: 10,
      filters: {},
      deletions: 'every-run',
      deletionThreshold: { percent: 50, count: 1000 },
      followSymlinks: false,
      ignoreInode: false,
      ignoreCtime: false,
    });
    expect(c.device).toBe('pc1');
    expect(c.notify).toEqual([]);
    expect(c.presets).toEqual({});
  });
});

describe('agent plugins list', () => {
  it('--json lists the six built-in plugins with id, version, contributes and used', () => {
    const r = agent(['plugins', 'list', '--config', SHIPPED, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as any[];
    expect(list.map((p) => p.id).sort()).toEqual([...BUILTIN_IDS].sort());
    for (const p of list) {
      expect(p.version).toBe('0.1.0');
      expect(p.source).toBe('builtin');
      expect(typeof p.contributes).toBe('object');
      expect(typeof p.used).toBe('boolean');
    }
    const hdd = list.find((p) => p.id === 'target-hdd');
    expect(hdd.used).toBe(true);
    expect(hdd.usedBy).toEqual(["target type 'hdd'"]);
    expect(hdd.contributes.targets[0].type).toBe('hdd');
    expect(list.find((p) => p.id === 'target-s3').used).toBe(false);
  });

  it('lists the custom plugin the config names by path, as used', () => {
    const r = agent(['plugins', 'list', '--config', CUSTOM, '--json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as any[];
    const hello = list.find((p) => p.id === 'hello');
    expect(hello).toMatchObject({ id: 'hello', version: '1.0.0', name: 'hokan-plugin-hello', source: 'path', used: true, usedBy: ['hooks done'] });
    expect(hello.contributes.commands).toEqual([{ command: 'hello [name]', describe: 'Say hello (from the example plugin)' }]);
    expect(hello.error).toBeUndefined();
    expect(list.map((p) => p.id)).toEqual(expect.arrayContaining(BUILTIN_IDS));
  });

  it('a plugin that cannot be found → every place tried; the others are still listed', () => {
    const f = t.file('missing-plugin/config.json', JSON.stringify({ plugins: ['@hokan/target-hdd', 'hokan-plugin-nowhere', './my-plugins/gone'], targets: {}, jobs: [] }, null, 2));
    const dir = join(t.dir, 'missing-plugin');
    const r = agent(['plugins', 'list', '--config', f, '--json']);
    expect(r.code).toBe(2);
    const list = JSON.parse(r.stdout) as any[];
    expect(list.map((p) => p.id)).toEqual(expect.arrayContaining(BUILTIN_IDS));
    const nowhere = list.find((p) => p.id === 'hokan-plugin-nowhere');
    expect(nowhere.error).toContain(`plugin 'hokan-plugin-nowhere' cannot be found; tried:\n    ${join(dir, 'node_modules', 'hokan-plugin-nowhere', 'package.json')}\n`);
    expect(nowhere.error).toContain(`    ${join(ROOT, 'node_modules', 'hokan-plugin-nowhere', 'package.json')}`);
    const gone = list.find((p) => p.id === './my-plugins/gone');
    expect(gone.error).toBe(`plugin './my-plugins/gone' cannot be found; tried:\n    ${join(dir, 'my-plugins', 'gone', 'package.json')}`);

    const v = agent(['config', 'validate', '--config', f]);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain(`${f}:4:5: plugins[1]: plugin 'hokan-plugin-nowhere' cannot be found; tried:`);
    expect(v.stderr).toContain(`${f}:5:5: plugins[2]: plugin './my-plugins/gone' cannot be found; tried:\n      ${join(dir, 'my-plugins', 'gone', 'package.json')}\n      → a path in "plugins" is relative to the config file's folder (${dir}) and must name a folder with a package.json\n`);
  });

  it('a plugin whose code throws while loading → PluginLoadError naming it; the others still load', () => {
    t.file(
      'throwing/boom/package.json',
      JSON.stringify({ name: 'hokan-plugin-boom', version: '2.0.0', type: 'module', main: 'index.js', hokan: { apiVersion: 1, contributes: { hooks: ['done'] } } }),
    );
    t.file('throwing/boom/index.js', "throw new Error('kaboom at import');\n");
    const f = t.file('throwing/config.json', JSON.stringify({ plugins: ['@hokan/target-hdd', './boom'], targets: { usb: { type: 'hdd', path: '/x' } }, jobs: [] }));
    const r = agent(['plugins', 'list', '--config', f, '--json']);
    expect(r.code).toBe(2);
    const list = JSON.parse(r.stdout) as any[];
    const boom = list.find((p) => p.id === 'hokan-plugin-boom');
    expect(boom.error).toBe("plugin 'hokan-plugin-boom' (hokan-plugin-boom) failed to load: kaboom at import");
    const hdd = list.find((p) => p.id === 'target-hdd');
    expect(hdd).toMatchObject({ used: true });
    expect(hdd.error).toBeUndefined();
    expect(list).toHaveLength(7);
  });

  it('refuses a manifest written for another plugin API version, and duplicate ids', () => {
    t.file('api/old/package.json', JSON.stringify({ name: 'old-plugin', version: '1.0.0', hokan: { apiVersion: 99 } }));
    t.file('api/dup/package.json', JSON.stringify({ name: 'dup-plugin', version: '1.0.0', hokan: { apiVersion: 1, id: 'target-hdd' } }));
    const f = t.file('api/config.json', JSON.stringify({ plugins: ['@hokan/target-hdd', './old', './dup'], targets: {}, jobs: [] }));
    const r = agent(['plugins', 'list', '--config', f, '--json']);
    expect(r.code).toBe(2);
    const list = JSON.parse(r.stdout) as any[];
    expect(list.find((p) => p.id === 'old-plugin').error).toBe("plugin 'old-plugin' (old-plugin) is written for plugin API version 99, but this hokan speaks version 1");
    expect(list.find((p) => p.id === 'target-hdd' && p.error).error).toBe(
      `two plugins have the id 'target-hdd': '@hokan/target-hdd' (${join(ROOT, 'plugins', 'target-hdd')}) and './dup' (${join(t.dir, 'api', 'dup')})`,
    );
  });
});

describe('the custom plugin example, loaded by path', () => {
  it('`agent --help` lists its command', () => {
    const r = agent(['--help', '--config', CUSTOM]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/agent hello \[name\]\s+Say hello \(from the example plugin\) \[plugin hello\]/);
  });

  it('`agent hello` runs its handler, with its own options', () => {
    const data = join(t.dir, 'data-hello');
    const r = agent(['hello', 'Hanako', '--config', CUSTOM, '--data-dir', data]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Hello, Hanako! (from the example plugin)\n');
    const loud = agent(['hello', '--shout', '--config', CUSTOM, '--data-dir', data]);
    expect(loud.stdout).toBe('HELLO, WORLD! (FROM THE EXAMPLE PLUGIN)\n');
    const json = agent(['hello', 'x', '--json', '--config', CUSTOM, '--data-dir', data]);
    expect(JSON.parse(json.stdout)).toEqual({ greeting: 'Hello, x! (from the example plugin)' });
  });

  it('its `done` tap fires when the runtime calls the hook', async () => {
    const data = join(t.dir, 'data-tap');
    const { createRuntime } = await import('../core/dist/node/runtime/runtime.js');
    const { nullLogger } = await import('../core/dist/index.js');
    const rt = await createRuntime({ config: CUSTOM, dataDir: data, logger: nullLogger });
    try {
      expect(rt.active.map((a) => a.descriptor.id).sort()).toEqual(['hello', 'target-hdd']);
      const run = { id: '20240101T000000-abcd', job: 'documents', kind: 'backup', status: 'completed' } as any;
      await rt.hooks.done.promise({ run, context: {} as any });
      expect(readFileSync(join(data, 'hello-plugin.log'), 'utf8')).toMatch(/^\S+ run 20240101T000000-abcd of job documents: completed\n$/);
    } finally {
      await rt[Symbol.asyncDispose]();
    }
  });
});

describe('what is not built yet says so plainly', () => {
  it('agent notify test with no notifier in the config: bad usage (exit 2), naming the fix', () => {
    const r = agent(['notify', 'test', '--config', SHIPPED, '--data-dir', join(t.dir, 'data-ni')]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(`error: the config (${SHIPPED}) has no notifiers`);
    expect(r.stderr).toMatch(/→ add one under "notify"/);
    expect(r.stdout).toBe('');
  });
  it('a backup to a nas share that is not mounted says so (target-unavailable) and writes nothing', () => {
    const f = t.file('nas.json', JSON.stringify({ plugins: ['@hokan/target-nas'], targets: { nas: { type: 'nas', path: '/mnt/hokan-test-no-such-share' } }, jobs: [{ id: 'docs', sources: [{ path: t.dir }], targets: ['nas'] }] }));
    const r = agent(['backup', '--json', '--config', f, '--data-dir', join(t.dir, 'data-nas')]);
    expect(r.code).toBe(3);
    const run = JSON.parse(r.stdout)[0];
    expect(run.reasons).toEqual(['target-unavailable']);
    expect(run.targetResults[0].error).toContain("the NAS share's folder /mnt/hokan-test-no-such-share is not there (is the share mounted?)");
  });
});

describe('agent init', () => {
  it('writes a starter config that validates, and never overwrites without --force', () => {
    const f = join(t.dir, 'init', 'config.json');
    const home = join(t.dir, 'init-home');
    for (const d of ['Documents', 'work']) mkdirSync(join(home, d), { recursive: true });
    mkdirSync(join(t.dir, 'backup'), { recursive: true });
    const r = agent(['init', '--config', f, '--target-path', join(t.dir, 'backup'), '--source', '~/Documents', '--source', '~/work', '--device', 'test-pc'], { env: { HOME: home } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${f}`);
    // The next step printed works as printed: it names this config (issue 28).
    expect(r.stdout).toContain(`next: \`agent config validate --config ${f}\`, then \`agent backup --config ${f}\`; the daily 23:00 schedule runs only while \`agent run\` does`);
    const v = agent(['config', 'show', '--config', f, '--json'], { env: { HOME: '/home/someone' } });
    expect(v.code).toBe(0);
    const c = JSON.parse(v.stdout);
    expect(c.device).toBe('test-pc');
    expect(c.targets.usb).toEqual({ type: 'hdd', path: join(t.dir, 'backup') });
    expect(c.jobs[0].sources).toEqual([{ path: '/home/someone/Documents' }, { path: '/home/someone/work' }]);
    // Without a terminal, it says what it decided about hidden files, and how to change it (issue 27).
    expect(r.stdout).toContain('hidden files and folders (names starting with ".") are left out — each run counts them; `--hidden` or "hidden": true in "filters" takes them');
    expect(c.jobs[0].filters.hidden).toBe(false);
    const h = join(t.dir, 'init-hidden', 'config.json');
    expect(agent(['init', '--config', h, '--target-path', join(t.dir, 'backup'), '--source', '~/Documents', '--hidden']).stdout).toContain('hidden files and folders (names starting with ".") are backed up');
    expect(JSON.parse(agent(['config', 'show', '--config', h, '--json']).stdout).jobs[0].filters.hidden).toBe(true);

    // Folders not there now are said at once; a missing target folder is created by the first backup.
    const m = join(t.dir, 'init-missing', 'config.json');
    const missing = agent(['init', '--config', m, '--target-path', join(t.dir, 'not-yet'), '--source', '~/Nowhere'], { env: { HOME: home } });
    expect(missing.code).toBe(0);
    expect(missing.stderr).toContain('warning: source ~/Nowhere is not there now; a backup takes nothing from it until it is');
    expect(missing.stderr).toContain(`warning: ${join(t.dir, 'not-yet')} is not there now: the config says "createIfMissing": true, so the first backup creates it`);
    expect(JSON.parse(agent(['config', 'show', '--config', m, '--json']).stdout).targets.usb).toEqual({ type: 'hdd', path: join(t.dir, 'not-yet'), createIfMissing: true });

    const before = readFileSync(f, 'utf8');
    const again = agent(['init', '--config', f, '--target-path', '/elsewhere']);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`error: ${f} already exists; not overwriting it\n  → pass --force to replace it, or --config PATH to write somewhere else\n`);
    expect(readFileSync(f, 'utf8')).toBe(before);

    const forced = agent(['init', '--config', f, '--target-path', '/elsewhere', '--force'], { env: { HOME: home } });
    expect(forced.code).toBe(0);
    expect(readFileSync(f, 'utf8')).toContain('"path": "/elsewhere"');
  });

  it('relative paths are written in full, from the folder the command ran in (a config refuses relative ones)', () => {
    const f = join(t.dir, 'init-rel', 'config.json');
    const r = agent(['init', '--config', f, '--target-path', 'usb', '--source', 'docs', '--source', '~/work'], { cwd: t.dir });
    expect(r.code).toBe(0);
    const v = agent(['config', 'show', '--config', f, '--json'], { env: { HOME: '/home/someone' } });
    expect(v.stderr).toBe('');
    const c = JSON.parse(v.stdout);
    expect(c.targets.usb.path).toBe(join(t.dir, 'usb'));
    expect(c.jobs[0].sources).toEqual([{ path: join(t.dir, 'docs') }, { path: '/home/someone/work' }]);
  });

  it('without a terminal, a missing --target-path is bad usage', () => {
    const f = join(t.dir, 'init2', 'config.json');
    const r = agent(['init', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error: missing --target-path (where backups go)');
    expect(existsSync(f)).toBe(false);
  });
});
