import type { BuiltinCommand } from '../command.js';
import type { CliContext } from '../context.js';

/** Bad usage (exit 2), not a failed run. */
const bad = <E extends { exitCode: number }>(e: E): E => Object.assign(e, { exitCode: 2 });

export const runCommand: BuiltinCommand = {
  command: 'run',
  describe: 'Run the agent as a daemon: it holds the index and the other commands go through it (schedules and watching sources: not built yet)',
  handler: async (_args, ctx) => {
    const [{ HokanError }, { IndexStore }, { socketPath }, { CommandServer, answers }] = await Promise.all([
      import('../../common/errors.js'),
      import('../../node/index/index-store.js'),
      import('../daemon/protocol.cjs'),
      import('../daemon/server.js'),
    ]);
    const main = (ctx as CliContext).runCommandLine;
    const { dataDir } = ctx.options;
    const path = socketPath(dataDir);
    const running = () =>
      bad(new HokanError('E_DAEMON_RUNNING', `an agent daemon already runs for the data folder ${dataDir} (it answers on ${path})`, {
        hint: 'the commands reach it already; to run a second one, give it another --data-dir',
      }));
    if (await answers(path)) throw running();
    // The config is loaded and checked now, and the plugins loaded: a broken config stops here (exit 2).
    await ctx.runtime();
    const index = await IndexStore.open(dataDir, { logger: ctx.logger });
    const log = ctx.logger.child('daemon');
    let listening = false;
    try {
      for (const r of await index.markInterrupted()) log.warn({ run: r.id, job: r.job }, 'a run was interrupted (the agent stopped mid-run)');
      const server = new CommandServer({
        index,
        logger: log,
        run: async (argv, io) => {
          const t0 = performance.now();
          log.info({ argv }, 'command');
          const code = await main(argv, io);
          const m = process.memoryUsage();
          const mib = (n: number) => Math.round(n / 2 ** 20);
          log.info({ argv, code, ms: Math.round(performance.now() - t0), rssMiB: mib(m.rss), heapMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external) }, 'command done');
          return code;
        },
      });
      try {
        await server.listen(path);
        listening = true;
      } catch (e) {
        if ((e as { code?: string }).code === 'E_DAEMON_RUNNING') throw running();
        throw new HokanError('E_DAEMON_SOCKET', `cannot listen on ${path}: ${(e as Error).message}`, { cause: e, hint: 'check that the data folder (--data-dir) can be written' });
      }
      if (ctx.output.json) ctx.output.printJson({ daemon: { pid: process.pid, socket: path, dataDir } });
      ctx.output.print(`hokan agent running (pid ${process.pid}) for the data folder ${dataDir}`);
      ctx.output.print(`  commands reach it through ${path}; Ctrl-C stops it`);
      const notYet = 'not built yet: schedules and watching sources — jobs run when `agent backup` asks';
      if (ctx.output.json) ctx.output.error(`note: ${notYet}`);
      else ctx.output.print(`  ${notYet}`);
      // The stale alarms ("no completed backup for N days") and runs found interrupted: now, then hourly.
      const rt = await ctx.runtime();
      const hourly = rt.config.notify.length ? startNotifyChecks(server, ctx as CliContext, index, log) : undefined;
      await new Promise<void>((resolve) => (ctx as CliContext).onInterrupt(resolve));
      if (hourly) clearInterval(hourly);
      ctx.output.error(`stopping: ${server.active.size ? `${server.active.size} command(s) running stop after the files in flight` : 'nothing running'}… (Ctrl-C again to quit at once)`);
      await server.close();
      return 0;
    } finally {
      await index.close();
      try {
        if (listening && process.platform !== 'win32') (await import('node:fs')).unlinkSync(path);
      } catch {
        // already gone
      }
    }
  },
};

/** How often the daemon checks the stale alarms (product.md: hourly). */
export const NOTIFY_CHECK_MS = 3600_000;

/**
 * Runs `agent notify check` in the daemon's queue at start and every hour, with the daemon's config
 * and data folder; what it prints goes to the daemon's log.
 */
function startNotifyChecks(server: import('../daemon/server.js').CommandServer, ctx: CliContext, index: import('../../node/index/index-store.js').IndexStore, log: import('../../common/logger.js').Logger): NodeJS.Timeout {
  const argv = ['notify', 'check', '--data-dir', ctx.options.dataDir, ...(ctx.options.config ? ['--config', ctx.options.config] : [])];
  const check = async () => {
    const { Writable } = await import('node:stream');
    const lines = (level: 'info' | 'warn') =>
      Object.assign(
        new Writable({
          write(chunk, _enc, cb) {
            for (const line of String(chunk).split('\n')) if (line.trim()) log[level]({ check: 'notify' }, line);
            cb();
          },
        }),
        { isTTY: false },
      );
    const io = { stdout: lines('info'), stderr: lines('warn'), cwd: ctx.options.cwd, env: process.env, index, onInterrupt: () => () => {} };
    await server.runOwn(argv, io);
  };
  void check();
  const timer = setInterval(() => void check(), NOTIFY_CHECK_MS);
  timer.unref();
  return timer;
}
