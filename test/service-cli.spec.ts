/**
 * `agent service print|install|uninstall`: the systemd units (user, and --system for a file
 * server) that run `agent run` with this config and data folder, written for this user and removed
 * again; bad input says what is wrong.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT, agent } from './helpers/agent.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hokan-service-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.runIf(process.platform === 'linux')('agent service', () => {
  it('prints, installs and uninstalls the systemd user unit; --system prints the hardened system unit', async () => {
    const home = join(dir, 'home');
    await mkdir(home, { recursive: true });
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ targets: { usb: { type: 'hdd', path: join(dir, 'usb') } }, jobs: [{ id: 'docs', sources: [{ path: home }], targets: ['usb'] }] }));
    const data = join(dir, 'data');
    const env = { HOME: home, XDG_CONFIG_HOME: '' };
    const g = ['--config', config, '--data-dir', data];
    const printed = await agent(['service', 'print', ...g], { env });
    expect(printed.code).toBe(0);
    // The bin's own environment and Node flags (its first line), with this Node's full path.
    expect(printed.stdout).toContain('\nEnvironment=MALLOC_ARENA_MAX=2\n');
    // Not the bin's NODE_EXTRA_CA_CERTS hand-over (`-u`, `${…}`): the unit starts node itself.
    expect(printed.stdout).not.toMatch(/EXTRA_CA|\$\{/);
    expect(printed.stdout).toContain(`\nExecStart=${process.execPath} --max-old-space-size=1024 --max-semi-space-size=8 ${AGENT} run --config ${config} --data-dir ${data}\n`);
    expect(printed.stdout).toContain('\nRestart=on-failure\n');
    expect(printed.stdout).toContain('\nExecReload=/bin/kill -HUP $MAINPID\n');
    expect(printed.stdout).toContain('\nNoNewPrivileges=yes\n');
    expect(printed.stdout).toMatch(/\[Install\]\nWantedBy=default\.target\n$/);

    const system = await agent(['service', 'print', '--system', ...g], { env });
    expect(system.stdout).toMatch(/\nUser=\S+\n/);
    expect(system.stdout).toContain('\nProtectSystem=full\n');
    expect(system.stdout).toContain(`\nReadWritePaths=${data}\n`);
    expect(system.stdout).toContain('\nWantedBy=multi-user.target\n');

    const unit = join(home, '.config', 'systemd', 'user', 'hokan.service');
    const inst = await agent(['service', 'install', ...g], { env });
    expect(inst.code).toBe(0);
    expect(inst.stdout).toBe(`wrote ${unit}\nenable and start it:\n  systemctl --user daemon-reload\n  systemctl --user enable --now hokan\n  loginctl enable-linger $USER   # to run while you are logged out\n`);
    expect(readFileSync(unit, 'utf8')).toBe(printed.stdout);
    const sysInst = await agent(['service', 'install', '--system', ...g], { env });
    expect(sysInst.stderr).toMatch(/^nothing written: a system unit is installed by root/);

    const un = await agent(['service', 'uninstall', ...g], { env });
    expect(un.code).toBe(0);
    expect(un.stdout).toBe(`stop and disable it first:\n  systemctl --user disable --now hokan\nremoved ${unit}\n`);
    expect(existsSync(unit)).toBe(false);
    const again = await agent(['service', 'uninstall', ...g], { env });
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`error: there is no unit to remove at ${unit}\n  → it was never installed for this user, or already removed\n`);
    const bad = await agent(['service', 'frob', ...g], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/frob/);
  });
});
