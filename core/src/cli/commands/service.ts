import type { BuiltinCommand } from '../command.js';
import type { CommandContext } from '../../common/plugin-api.js';

/**
 * `agent service print|install|uninstall`: run `agent run` as a service — a systemd user unit
 * (or, with --system, a system unit for a file server) on Linux, a launchd agent on macOS; on
 * Windows the instructions (a Windows service needs a wrapper such as WinSW or NSSM).
 * `install` writes the unit for this user where the OS allows it and prints the commands that
 * enable it (it never runs systemctl or launchctl itself); a system unit is printed, for root to
 * put in /etc/systemd/system.
 */

interface Unit {
  kind: 'systemd-user' | 'systemd-system' | 'launchd' | 'windows';
  /** Where `install` writes it (none: printed only). */
  file?: string;
  text: string;
  enable: string[];
  disable: string[];
}

async function unitFor(ctx: CommandContext, system: boolean, platform: NodeJS.Platform = process.platform): Promise<Unit> {
  const [{ join, resolve }, { homedir, userInfo }, { fileURLToPath }, { findConfigPath }] = await Promise.all([import('node:path'), import('node:os'), import('node:url'), import('../../node/config/config-paths.js')]);
  const bin = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..', 'bin', 'agent.cjs');
  const config = resolve(ctx.options.cwd, findConfigPath(ctx.options.config, { cwd: ctx.options.cwd }));
  const data = resolve(ctx.options.cwd, ctx.options.dataDir);
  // The bin's first line (`#!/usr/bin/env -S NAME=VALUE… node --max-old-space-size=…`): the same
  // environment and Node flags as `agent run` typed in a terminal, with this Node's full path. Not
  // its NODE_EXTRA_CA_CERTS hand-over (the `${…}` values, cli/extra-ca.cts): the unit starts node
  // itself, so that variable, if the unit's environment has it, reaches Node as it is.
  const { readFileSync } = await import('node:fs');
  const shebang = /^#!\S*env -S ((?:\w+=\S*\s+)*)node(.*)$/.exec(readFileSync(bin, 'utf8').split('\n', 1)[0] ?? '');
  const vars = (shebang?.[1] ?? '').trim().split(/\s+/).filter((v) => v && !v.includes('${'));
  const flags = (shebang?.[2] ?? '').trim().split(/\s+/).filter(Boolean);
  const args = [process.execPath, ...flags, bin, 'run', '--config', config, '--data-dir', data];
  const quote = (a: string) => (/[\s"\\]/.test(a) ? `"${a.replace(/(["\\])/g, '\\$1')}"` : a);
  const home = process.env.HOME || homedir();
  if (platform === 'win32') {
    return {
      kind: 'windows',
      text: [
        'Windows: run the agent as a service with a service wrapper (hokan does not install one itself):',
        `  WinSW or NSSM, with the program ${quote(process.execPath)} and the arguments:`,
        `  ${args.slice(1).map(quote).join(' ')}`,
        ...(vars.length ? [`  and the environment ${vars.join(' ')}`] : []),
        '  set it to restart on failure; stop it with a console Ctrl-C (NSSM: "Shutdown" tab) so runs end cleanly.',
        'Or, for your user only: a shortcut to that command line in shell:startup (runs at log-in).',
      ].join('\n'),
      enable: [],
      disable: [],
    };
  }
  if (platform === 'darwin') {
    const label = 'org.hokan.agent';
    const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    return {
      kind: 'launchd',
      file: join(home, 'Library', 'LaunchAgents', `${label}.plist`),
      text: `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>${label}</string>
  <key>ProgramArguments</key>
  <array>
${args.map((a) => `    <string>${xml(a)}</string>`).join('\n')}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
${vars.map((v) => `    <key>${xml(v.split('=')[0]!)}</key><string>${xml(v.slice(v.indexOf('=') + 1))}</string>`).join('\n')}
  </dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>ExitTimeOut</key><integer>30</integer>
  <key>StandardErrorPath</key><string>${xml(join(data, 'agent.err.log'))}</string>
</dict>
</plist>
`,
      enable: [`launchctl load -w ~/Library/LaunchAgents/${label}.plist`],
      disable: [`launchctl unload -w ~/Library/LaunchAgents/${label}.plist`],
    };
  }
  const common = [
    '[Unit]',
    'Description=hokan backup agent (agent run: schedules, watching, the index)',
    'After=network-online.target local-fs.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    ...vars.map((v) => `Environment=${v}`),
    `ExecStart=${args.map(quote).join(' ')}`,
    'ExecReload=/bin/kill -HUP $MAINPID',
    'Restart=on-failure',
    'RestartSec=30',
    // SIGTERM: the running backup stops at a file boundary and is recorded within 10 s.
    'KillSignal=SIGTERM',
    'TimeoutStopSec=30',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
  ];
  if (system) {
    const user = userInfo().username;
    return {
      kind: 'systemd-system',
      text: [
        ...common,
        `User=${user}`,
        // Reads what it backs up anywhere, writes only its data folder and the targets (mounts under /media, /mnt, /srv).
        'ProtectSystem=full',
        'ProtectHome=read-only',
        `ReadWritePaths=${data}`,
        '# add the targets\' folders if they are under /home: ReadWritePaths=/home/…/backup',
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
      ].join('\n'),
      enable: ['sudo cp hokan.service /etc/systemd/system/ && sudo systemctl daemon-reload && sudo systemctl enable --now hokan'],
      disable: ['sudo systemctl disable --now hokan && sudo rm /etc/systemd/system/hokan.service && sudo systemctl daemon-reload'],
    };
  }
  return {
    kind: 'systemd-user',
    file: join(process.env.XDG_CONFIG_HOME || join(home, '.config'), 'systemd', 'user', 'hokan.service'),
    text: [...common, '', '[Install]', 'WantedBy=default.target', ''].join('\n'),
    enable: ['systemctl --user daemon-reload', 'systemctl --user enable --now hokan', 'loginctl enable-linger $USER   # to run while you are logged out'],
    disable: ['systemctl --user disable --now hokan'],
  };
}

const systemOption = { type: 'boolean', default: false, describe: 'Linux: a system unit (a file server; printed, for root to install) instead of a user unit' } as const;

export const serviceCommand: BuiltinCommand = {
  command: 'service',
  describe: 'Run `agent run` as a service: print, install or uninstall the unit for this OS',
  subcommands: [
    {
      command: 'print',
      describe: 'Print the unit (systemd user or --system unit, launchd plist) or the Windows instructions',
      builder: (y) => y.option('system', systemOption),
      handler: async (args, ctx) => {
        const u = await unitFor(ctx, !!args.system);
        if (ctx.output.json) ctx.output.printJson(u);
        else ctx.output.print(u.text.trimEnd());
        return 0;
      },
    },
    {
      command: 'install',
      describe: 'Write the unit for this user (systemd user unit, launchd agent) and say how to enable it',
      builder: (y) => y.option('system', systemOption),
      handler: async (args, ctx) => {
        const u = await unitFor(ctx, !!args.system);
        if (!u.file) {
          ctx.output.print(u.text.trimEnd());
          ctx.output.error(u.kind === 'windows' ? 'nothing written: on Windows, install it with a service wrapper as above' : 'nothing written: a system unit is installed by root — save the text above as hokan.service, then:\n  ' + u.enable.join('\n  '));
          return 0;
        }
        const { existsSync, mkdirSync, readFileSync, writeFileSync } = await import('node:fs');
        const { dirname } = await import('node:path');
        const same = existsSync(u.file) && readFileSync(u.file, 'utf8') === u.text;
        mkdirSync(dirname(u.file), { recursive: true });
        writeFileSync(u.file, u.text);
        if (ctx.output.json) ctx.output.printJson({ written: u.file, kind: u.kind, enable: u.enable });
        else {
          ctx.output.print(`${same ? 'unchanged' : 'wrote'} ${u.file}`);
          ctx.output.print(`enable and start it:\n  ${u.enable.join('\n  ')}`);
        }
        return 0;
      },
    },
    {
      command: 'uninstall',
      describe: 'Remove the unit `agent service install` wrote',
      builder: (y) => y.option('system', systemOption),
      handler: async (args, ctx) => {
        const u = await unitFor(ctx, !!args.system);
        const { existsSync, rmSync } = await import('node:fs');
        if (!u.file || !existsSync(u.file)) {
          const { UsageError } = await import('../../common/errors.js');
          throw new UsageError(u.file ? `there is no unit to remove at ${u.file}` : `agent service uninstall removes what install wrote, and it writes no ${u.kind} unit`, {
            hint: u.file ? 'it was never installed for this user, or already removed' : u.disable.length ? u.disable.join('; ') : 'remove the service with the wrapper that installed it',
          });
        }
        ctx.output.print(`stop and disable it first:\n  ${u.disable.join('\n  ')}`);
        rmSync(u.file);
        ctx.output.print(`removed ${u.file}`);
        return 0;
      },
    },
  ],
};
