#!/usr/bin/env node
/**
 * `agent` — hokan's command line. Exit codes (product.md): 0 all good, 1 finished but some files
 * incomplete, 2 bad usage or bad config, 3 the run failed. With --json, stdout holds exactly one
 * JSON document (errors too: `{ "error": { code, message, hint, problems } }`).
 *
 * Startup is kept lazy: only yargs and the plugin manifests (package.json files) are read before
 * a command runs; ajv, pino, inversify and the plugins' code are imported by the commands that
 * need them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv } from 'yargs';
import { describeError, HokanError, PluginLoadError, UsageError } from '../common/errors.js';
import type { GlobalOptions } from '../common/plugin-api.js';
import { configCandidates, resolveDataDir } from '../node/config/config-paths.js';
import { maskSecretValuesIn } from '../node/log/secrets.js';
import type { BuiltinCommand } from './command.js';
import { builtinCommands } from './commands/index.js';
import { CliContext } from './context.js';
import { endHeadStart } from './head-start.js';
import { CliOutput, processIO, type CliIO } from './output.js';
import { preparse } from './preparse.cjs';

// yargs 17's CommonJS build is one file that loads in ~25 ms; yargs 18 is ESM only, a graph of some
// sixty modules that takes ~100 ms to load — a quarter of a no-change backup (docs/benchmarks.md).
const require = createRequire(import.meta.url);
const yargs = require('yargs/yargs') as (args: readonly string[]) => Argv;
const { hideBin } = require('yargs/helpers') as { hideBin: (argv: string[]) => string[] };

const here = dirname(fileURLToPath(import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(here, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

interface PluginCommand {
  command: string;
  describe: string;
  pluginId: string;
  pluginName: string;
}

/** Commands the configured plugins declare in their manifests (no plugin code runs). */
async function pluginCommands(configFlag: string | undefined, io: CliIO): Promise<PluginCommand[]> {
  try {
    const file = configCandidates(configFlag, { env: io.env, cwd: io.cwd }).find((c) => existsSync(c.path))?.path;
    let specs: string[] | undefined;
    let dir = io.cwd;
    if (file) {
      const text = readFileSync(file, 'utf8');
      let raw: { plugins?: unknown } | undefined;
      try {
        raw = JSON.parse(text) as typeof raw;
      } catch {
        // Comments or trailing commas (or a broken file, which the command reports): jsonc-parser,
        // loaded only then — it costs a plain config's start-up ~25 ms.
        raw = (await import('jsonc-parser')).parse(text) as typeof raw;
      }
      if (Array.isArray(raw?.plugins) && raw.plugins.every((p) => typeof p === 'string')) specs = raw.plugins as string[];
      dir = dirname(file);
    }
    const { PluginHost } = await import('../node/plugins/plugin-host.js');
    const host = PluginHost.discover(specs, dir);
    return host.configured.flatMap((d) => (d.manifest.contributes?.commands ?? []).map((c) => ({ ...c, pluginId: d.id, pluginName: d.name })));
  } catch {
    return [];
  }
}

/** A path option given twice (`--data-dir A … --data-dir B`): the last one counts, as in `preparse`. */
const lastOne = (v: unknown) => (Array.isArray(v) ? v[v.length - 1] : v);

/** One invocation of `main`: its streams and what it will exit with (the daemon runs several at once). */
interface Invocation {
  io: CliIO;
  output: CliOutput;
  exitCode: number;
  /** Set when stdout failed for another reason than its reader going away: the exit code is then 3. */
  outputFailed: boolean;
}

const watched = new WeakSet<object>();
/**
 * A reader that goes away (`agent show RUN --csv | head`) is not a failure: stdout is closed, what
 * is left to print is dropped (CliOutput and streaming commands check) and the command finishes —
 * a backup is not stopped by a closed pager. Any other write error (a full disk under `> file`) is
 * said once on stderr and makes the exit code 3.
 */
function watchOutput(inv: Invocation): void {
  const { stdout, stderr } = inv.io;
  if (watched.has(stdout)) return;
  watched.add(stdout);
  stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (!stdout.destroyed) stdout.destroy();
    if (e.code === 'EPIPE' || inv.outputFailed) return;
    inv.outputFailed = true;
    if (!stderr.destroyed) stderr.write(`agent: cannot write the output: ${e.message}\n`);
  });
  stderr.on('error', () => undefined); // nowhere left to say it
}

function commandWord(cmd: string): string {
  return cmd.trim().split(/\s+/)[0]!;
}

function register(y: Argv, cmd: BuiltinCommand, inv: Invocation, path: string[]): Argv {
  const word = commandWord(cmd.command);
  return y.command(
    cmd.command,
    cmd.describe,
    (sub: Argv) => {
      let s = cmd.builder ? cmd.builder(sub) : sub;
      if (cmd.subcommands?.length) {
        for (const c of cmd.subcommands) s = register(s, c, inv, [...path, word]);
        s = s.demandCommand(1, `name a subcommand of '${[...path, word].join(' ')}' (see \`agent ${[...path, word].join(' ')} --help\`)`);
      }
      return s;
    },
    cmd.handler
      ? async (args: Record<string, unknown>) => {
          const ctx = new CliContext(optionsFrom(args, inv.io), inv.output, [...path, word][0], inv.io, main);
          try {
            inv.exitCode = (await cmd.handler!(args, ctx)) ?? 0;
          } finally {
            await ctx.close();
          }
        }
      : undefined,
  );
}

function optionsFrom(args: Record<string, unknown>, io: CliIO): GlobalOptions {
  return {
    config: args.config as string | undefined,
    dataDir: resolveDataDir(args.dataDir as string | undefined, { env: io.env, cwd: io.cwd }),
    json: Boolean(args.json),
    verbose: Boolean(args.verbose),
    cwd: io.cwd,
  };
}

function registerPluginCommand(y: Argv, pc: PluginCommand, inv: Invocation, argv: string[]): Argv {
  const word = commandWord(pc.command);
  return y.command(
    pc.command,
    `${pc.describe} [plugin ${pc.pluginId}]`,
    (sub: Argv) => sub.strict(false),
    async (args: Record<string, unknown>) => {
      const ctx = new CliContext(optionsFrom(args, inv.io), inv.output, word, inv.io, main);
      try {
        const rt = await ctx.hokanRuntime();
        const contribution = rt.commands.get(word);
        if (!contribution) {
          throw new PluginLoadError(pc.pluginId, `plugin '${pc.pluginId}' (${pc.pluginName}) declares the command '${word}' in its manifest but registers no CommandContribution for it`, {
            hint: 'bind a CommandContribution in the plugin\'s ContainerModule',
          });
        }
        let parsed = args;
        if (contribution.builder) {
          parsed = (await contribution
            .builder(yargs(argv).command(contribution.command, contribution.describe).option('config', { type: 'string' }).option('data-dir', { type: 'string' }).option('json', { type: 'boolean' }).option('verbose', { type: 'boolean' }))
            .help(false)
            .version(false)
            .exitProcess(false)
            .fail((msg, err) => {
              throw err ?? new UsageError(msg);
            })
            .parseAsync()) as Record<string, unknown>;
        }
        inv.exitCode = (await contribution.handler(parsed, ctx)) ?? 0;
      } finally {
        await ctx.close();
      }
    },
  );
}

function printError(e: unknown, output: CliOutput, verbose: boolean): number {
  const code = HokanError.is(e) ? e.exitCode : 3;
  if (output.json) {
    const err = HokanError.is(e)
      ? { code: e.code, message: e.message, hint: e.hint, problems: (e as { problems?: unknown }).problems ?? [] }
      : { code: 'E_INTERNAL', message: e instanceof Error ? e.message : String(e), problems: [] };
    output.printJson({ error: err });
  } else {
    output.error(`error: ${describeError(e)}`);
    if (verbose && e instanceof Error && e.stack && !HokanError.is(e)) output.error(maskSecretValuesIn(e.stack));
  }
  return code;
}

/**
 * Runs one command line and returns its exit code. `io` is where it runs: this process's streams by
 * default; the daemon passes a client's (cli/daemon/server.ts).
 */
export async function main(argv: string[] = hideBin(process.argv), io: CliIO = processIO()): Promise<number> {
  const pre = preparse(argv);
  const inv: Invocation = { io, output: new CliOutput(pre.json, io.stdout, io.stderr), exitCode: 0, outputFailed: false };
  const output = inv.output;
  watchOutput(inv);
  try {
    const extra = await pluginCommands(pre.config, io);
    let y: Argv = yargs(argv)
      .scriptName('agent')
      .usage('hokan (保管) — the backup agent\n\nUsage: agent <command> [options]')
      .option('config', { alias: 'c', type: 'string', describe: 'config.json to use (default: $HOKAN_CONFIG, ./config.json, the user config folder)', global: true, coerce: lastOne })
      .option('data-dir', { type: 'string', describe: 'Where the index and the logs live (default: $HOKAN_DATA_DIR, the user data folder)', global: true, coerce: lastOne })
      .option('json', { type: 'boolean', default: false, describe: 'Machine-readable output: one JSON document on stdout', global: true })
      .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'Debug lines on the terminal', global: true })
      .strict()
      .recommendCommands()
      .version(VERSION)
      .help()
      .alias('help', 'h')
      .wrap(io.stdout.isTTY ? Math.min(110, io.stdout.columns || 100) : null)
      .demandCommand(1, 'name a command (see `agent --help`)')
      .exitProcess(false)
      .fail((msg, err) => {
        // yargs' own errors (validation, an option's coerce) are bad usage; a command's are its own.
        if (err && err.name !== 'YError') throw err;
        throw new UsageError(err?.message ?? msg, { hint: 'see `agent --help`' });
      });
    for (const c of builtinCommands) y = register(y, c, inv, []);
    const taken = new Set(builtinCommands.map((c) => commandWord(c.command)));
    for (const pc of extra) if (!taken.has(commandWord(pc.command))) y = registerPluginCommand(y, pc, inv, argv);
    y = y.epilogue('Exit codes: 0 all good, 1 finished but some files incomplete, 2 bad usage or config, 3 the run failed.\nConfig reference: docs/config.md · plugin guide: docs/plugins.md');
    await y.parseAsync();
    return inv.outputFailed ? 3 : inv.exitCode;
  } catch (e) {
    const code = printError(e, output, pre.verbose);
    return inv.outputFailed ? 3 : code;
  } finally {
    await endHeadStart();
  }
}

const invoked = process.argv[1] && (await import('node:fs')).realpathSync(process.argv[1]);
if (invoked === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
