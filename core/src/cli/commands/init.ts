import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../common/errors.js';
import type { BuiltinCommand } from '../command.js';

/** The starter config: JSON with comments, an hdd target and one job. */
export function starterConfig(o: { device: string; targetPath: string; sources: string[]; schema?: string }): string {
  const sources = o.sources.map((s) => `        { "path": ${JSON.stringify(s)} }`).join(',\n');
  return `{
  // Written by \`agent init\`. Reference: docs/config.md. Check it with \`agent config validate\`.
${o.schema ? `  "$schema": ${JSON.stringify(o.schema)},\n` : ''}  "device": ${JSON.stringify(o.device)},
  "plugins": ["@hokan/target-hdd", "@hokan/target-s3", "@hokan/target-azure", "@hokan/target-nas", "@hokan/notify-smtp", "@hokan/category-presets"],
  "targets": {
    // An external HDD or any local folder.
    "usb": { "type": "hdd", "path": ${JSON.stringify(o.targetPath)} }
  },
  "jobs": [
    {
      "id": "main",
      "sources": [
${sources}
      ],
      "targets": ["usb"],
      "schedule": { "daily": true, "at": "23:00" },
      "generations": 10,
      "filters": { "exclude": ["**/node_modules/**", "**/*.tmp"] }
    }
  ]
}
`;
}

async function ask(question: string, fallback: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const a = (await rl.question(`${question} [${fallback}]: `)).trim();
    return a || fallback;
  } finally {
    rl.close();
  }
}

export const initCommand: BuiltinCommand = {
  command: 'init',
  describe: 'Write a starter config.json (interactive on a terminal; use the flags in scripts)',
  builder: (y) =>
    y
      .option('target-path', { type: 'string', describe: 'Folder backups go to (an external HDD or any folder)' })
      .option('source', { type: 'string', array: true, describe: 'A folder to back up (repeat for more)' })
      .option('device', { type: 'string', describe: 'This machine\'s name on the targets (default: the host name)' })
      .option('force', { type: 'boolean', default: false, describe: 'Overwrite an existing config file' }),
  handler: async (args, ctx) => {
    const { defaultInitPath } = await import('../../node/config/config-paths.js');
    const file = defaultInitPath(ctx.options.config, { cwd: ctx.options.cwd });
    if (existsSync(file) && !args.force) {
      throw new UsageError(`${file} already exists; not overwriting it`, { hint: 'pass --force to replace it, or --config PATH to write somewhere else' });
    }
    const interactive = Boolean(process.stdin.isTTY) && !ctx.output.json;
    let targetPath = args.targetPath as string | undefined;
    let sources = (args.source as string[] | undefined)?.filter(Boolean);
    let device = (args.device as string | undefined) ?? hostname();
    if (!targetPath || !sources?.length) {
      if (!interactive) {
        if (!targetPath) throw new UsageError('missing --target-path (where backups go)', { hint: 'e.g. `agent init --target-path /media/BACKUP1/hokan --source ~/Documents`' });
      } else {
        targetPath ??= await ask('Where should backups go (an external HDD or a folder)?', process.platform === 'win32' ? 'E:\\hokan' : '/media/BACKUP1/hokan');
        if (!sources?.length) sources = (await ask('Which folders should be backed up (comma-separated)?', '~/Documents')).split(',').map((s) => s.trim()).filter(Boolean);
        if (!args.device) device = await ask('Name of this machine', device);
      }
    }
    sources = sources?.length ? sources : ['~/Documents'];
    // Relative paths mean the folder the person typed them in: written in full (a config refuses them).
    const { isFullPath } = await import('../../node/config/config-paths.js');
    const full = (p: string) => (isFullPath(p) ? p : resolve(ctx.options.cwd, p));
    targetPath = full(targetPath!);
    sources = sources.map(full);
    const here = dirname(fileURLToPath(import.meta.url));
    const schemaFile = resolve(here, '..', '..', '..', '..', 'config', 'schema.json');
    const schema = existsSync(schemaFile) ? schemaFile : undefined;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, starterConfig({ device, targetPath: targetPath!, sources, schema }));
    if (ctx.output.json) ctx.output.printJson({ written: file });
    else {
      ctx.output.print(`wrote ${file}`);
      ctx.output.print(`next: \`agent config validate${ctx.options.config ? ` --config ${ctx.options.config}` : ''}\`, then \`agent backup\``);
    }
    return 0;
  },
};
