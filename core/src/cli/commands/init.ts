import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../common/errors.js';
import type { BuiltinCommand } from '../command.js';

/** The starter config: JSON with comments, an hdd target and one job. */
export function starterConfig(o: { device: string; targetPath: string; sources: string[]; presets?: string[]; schema?: string; hidden?: boolean; createIfMissing?: boolean }): string {
  const sources = [...(o.presets ?? []).map((p) => `        { "preset": ${JSON.stringify(p)} }`), ...o.sources.map((s) => `        { "path": ${JSON.stringify(s)} }`)].join(',\n');
  return `{
  // Written by \`agent init\`. Reference: docs/config.md. Check it with \`agent config validate\`.
${o.schema ? `  "$schema": ${JSON.stringify(o.schema)},\n` : ''}  "device": ${JSON.stringify(o.device)},
  "plugins": ["@hokan/target-hdd", "@hokan/target-s3", "@hokan/target-azure", "@hokan/target-nas", "@hokan/notify-smtp", "@hokan/category-presets"],
  "targets": {
    // An external HDD or any local folder.
    "usb": { "type": "hdd", "path": ${JSON.stringify(o.targetPath)}${o.createIfMissing ? ', "createIfMissing": true' : ''} }
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
      // Hidden files and folders (names starting with "."): ${o.hidden ? 'backed up' : 'left out, and counted in each run\'s summary'}.
      "filters": { "exclude": ["**/node_modules/**", "**/*.tmp"], "hidden": ${o.hidden ? 'true' : 'false'} }
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

/** The presets the built-in plugins contribute (from their manifests: no plugin code runs). */
async function builtinPresetNames(): Promise<string[]> {
  const { PluginHost } = await import('../../node/plugins/plugin-host.js');
  const host = PluginHost.discover(undefined, process.cwd());
  return host.configured.flatMap((d) => (d.manifest.contributes?.presets ?? []).map((p) => p.name));
}

export const initCommand: BuiltinCommand = {
  command: 'init',
  describe: 'Write a starter config.json (interactive on a terminal; use the flags in scripts)',
  builder: (y) =>
    y
      .option('target-path', { type: 'string', describe: 'Folder backups go to (an external HDD or any folder)' })
      .option('source', { type: 'string', array: true, describe: 'A folder to back up (repeat for more)' })
      .option('preset', { type: 'string', array: true, describe: 'A category to back up: documents, desktop, pictures, music, videos, office, finance, ebooks, mail, bookmarks (repeat, or comma-separate; see `agent presets list`)' })
      .option('device', { type: 'string', describe: 'This machine\'s name on the targets (default: the host name)' })
      .option('hidden', { type: 'boolean', describe: 'Back up hidden files and folders too (names starting with "."; default: left out, and counted)' })
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
    const known = await builtinPresetNames();
    const splitList = (v: string) => v.split(',').map((s) => s.trim()).filter((s) => s && s.toLowerCase() !== 'none');
    let presets = (args.preset as string[] | undefined)?.flatMap(splitList);
    let device = (args.device as string | undefined) ?? hostname();
    if (!targetPath || (!sources?.length && !presets?.length)) {
      if (!interactive) {
        if (!targetPath) throw new UsageError('missing --target-path (where backups go)', { hint: 'e.g. `agent init --target-path /media/BACKUP1/hokan --preset documents --preset pictures --source ~/work`' });
      } else {
        targetPath ??= await ask('Where should backups go (an external HDD or a folder)?', process.platform === 'win32' ? 'E:\\hokan' : '/media/BACKUP1/hokan');
        if (!sources?.length && !presets?.length) {
          // "Leave it to us": categories first, found where this OS keeps them; then any other folders.
          presets = splitList(await ask(`Which categories should be backed up (comma-separated, or none)? ${known.join(', ')}`, 'documents, desktop, pictures'));
          sources = splitList(await ask('Which other folders should be backed up (comma-separated, or none)?', presets.length ? 'none' : '~/Documents'));
        }
        if (!args.device) device = await ask('Name of this machine', device);
      }
    }
    let hidden = args.hidden as boolean | undefined;
    if (hidden === undefined && interactive) hidden = /^y/i.test(await ask('Back up hidden files and folders too (names starting with ".", such as .ssh or .env)? y/n', 'n'));
    presets = [...new Set(presets ?? [])];
    for (const p of presets) {
      if (known.includes(p)) continue;
      const { didYouMean } = await import('../../node/config/did-you-mean.js');
      const guess = didYouMean(p, known);
      throw new UsageError(`unknown preset '${p}'; presets: ${known.join(', ')}`, { hint: guess ? `did you mean '${guess}'?` : 'see `agent presets list`' });
    }
    sources = sources?.length ? sources : presets.length ? [] : ['~/Documents'];
    // Relative paths mean the folder the person typed them in: written in full (a config refuses them).
    const { isFullPath } = await import('../../node/config/config-paths.js');
    const full = (p: string) => (isFullPath(p) ? p : resolve(ctx.options.cwd, p));
    targetPath = full(targetPath!);
    sources = sources.map(full);
    // Folders that are not there now: said, not discovered by the first backup.
    const { expandHome } = await import('../../node/config/config-paths.js');
    for (const src of sources) if (!existsSync(expandHome(src, homedir()))) ctx.output.error(`warning: source ${src} is not there now; a backup takes nothing from it until it is`);
    const targetMissing = !existsSync(expandHome(targetPath, homedir()));
    const here = dirname(fileURLToPath(import.meta.url));
    const schemaFile = resolve(here, '..', '..', '..', '..', 'config', 'schema.json');
    const schema = existsSync(schemaFile) ? schemaFile : undefined;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, starterConfig({ device, targetPath: targetPath!, sources, presets, schema, hidden: hidden === true, createIfMissing: targetMissing }));
    if (targetMissing) ctx.output.error(`warning: ${targetPath} is not there now: the config says "createIfMissing": true, so the first backup creates it (when its parent folder exists; an unplugged disk is never written to)`);
    if (ctx.output.json) ctx.output.printJson({ written: file });
    else {
      ctx.output.print(`wrote ${file}`);
      ctx.output.print(hidden ? 'hidden files and folders (names starting with ".") are backed up' : 'hidden files and folders (names starting with ".") are left out — each run counts them; `--hidden` or "hidden": true in "filters" takes them');
      const withConfig = ctx.options.config ? ` --config ${ctx.options.config}` : '';
      ctx.output.print(`next: \`agent config validate${withConfig}\`, then \`agent backup${withConfig}\`; the daily 23:00 schedule runs only while \`agent run\` does (\`agent status\` shows its next run)`);
    }
    return 0;
  },
};
