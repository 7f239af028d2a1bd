import type { BuiltinCommand } from '../command.js';
import type { CliContext } from '../context.js';

/** Bad usage (exit 2), not a failed run. */
const bad = <E extends { exitCode: number }>(e: E): E => Object.assign(e, { exitCode: 2 });

export const runCommand: BuiltinCommand = {
  command: 'run',
  describe: 'Run the agent as a daemon: it runs the jobs on their schedules and as their sources change, runs their restore drills, and holds the index; the other commands go through it',
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
      const rt0 = await ctx.runtime();
      // The config the daemon runs: the one it started with, then each good one a reload brings.
      let good: import('../../node/config/config-loader.js').LoadedConfig | undefined = await (await import('../../node/config/config-loader.js')).loadConfig({ path: rt0.configPath, env: process.env, cacheDir: (await import('node:path')).join(dataDir, 'cache') });
      let config = rt0.config;
      const [{ RunQueue }, { Scheduler }] = await Promise.all([import('../../node/scheduler/run-queue.js'), import('../../node/scheduler/scheduler.js')]);
      const queue = new RunQueue(rt0.config.maxConcurrentJobs ?? 1);
      let stopDaemon = () => {};
      const stopped = new Promise<void>((resolve) => (stopDaemon = resolve));
      const notes: string[] = [];
      const scheduler: InstanceType<typeof Scheduler> = new Scheduler({
        queue,
        jobs: rt0.config.jobs,
        device: rt0.config.device,
        logger: ctx.logger.child('scheduler'),
        runs: {
          last: async (job) => (await index.listRuns({ job, kind: 'backup', limit: 1, total: false })).runs[0],
          put: (run) => index.putRun(run),
        },
        run: (job, req) => scheduledRun(ctx as CliContext, index, server, control, job, req, log, good),
        probe: (job) => probeTargets(rt0, job),
        // Restore drills: `agent verify --restore --job J` in this process, in the queue turn the scheduler took.
        drill: (job, req) => scheduledDrill(ctx as CliContext, index, server, control, job, req, log, good, config),
        lastDrill: async (job) => (await index.listRuns({ job, kind: 'restore', limit: 1000, total: false })).runs.find((r) => r.drill),
      });
      const watchers = new Map<string, import('../../node/watch/watcher.js').JobWatcher>();
      const control: import('../io.js').DaemonControl = {
        jobIds: () => config.jobs.map((j) => j.id),
        jobs: () => scheduler.status().map((j) => ({ ...j, watch: watchText(watchers.get(j.job), config.jobs.find((x) => x.id === j.job)?.watch) })),
        notes: () => notes,
        pause: (job, forMs) => scheduler.pause(job, forMs),
        resume: (job) => scheduler.resume(job),
        stop: () => stopDaemon(),
        gate: (job) => scheduler.gateFor(job),
        progress: (job, p) => scheduler.progress(job, p),
      };
      const server = new CommandServer({
        index,
        logger: log,
        queue,
        control,
        run: async (argv, io) => {
          const t0 = performance.now();
          log.info({ argv }, 'command');
          // A command for the daemon's own config runs with the config the daemon holds (a file
          // saved half-edited does not break `agent status`); another --config is read as given.
          // A command that names none, from where no config file is found (the README's `npm
          // start`, then `agent status` from another folder), is for this daemon: its config.
          let same = false;
          let cmd = argv;
          try {
            const [{ preparse }, { locateConfigPath }, { resolve: resolvePath }] = await Promise.all([import('../preparse.cjs'), import('../../node/config/config-paths.js'), import('node:path')]);
            const flag = preparse(argv).config;
            const found = locateConfigPath(flag, { env: io.env, cwd: io.cwd });
            if (found === undefined && flag === undefined && !io.env.HOKAN_CONFIG) {
              cmd = [...argv, '--config', rt0.configPath];
              same = true;
            } else same = found !== undefined && resolvePath(found) === resolvePath(rt0.configPath);
          } catch {
            same = false;
          }
          const code = await main(cmd, same && good ? { ...io, loaded: good } : io);
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
      await scheduler.start();
      // A walk thread kept loaded between runs: every backup walks on another core without the
      // thread's start (~110–170 ms), which a one-shot command pays only for a big tree. And the
      // helpers a run's targets start (copy workers, the disk's sync helper) parked between runs.
      (await import('../../node/scan/scanner.js')).keepWalkThreads(true);
      (await import('../../node/engine/backup.js')).keepHelpers(true);
      const scheduled = scheduler.status().filter((j) => j.schedule || j.full);
      ctx.output[ctx.output.json ? 'error' : 'print'](
        scheduled.length ? `  schedules: ${scheduled.map((j) => `${j.job} ${j.schedule ?? j.full}${j.next[0] ? ` (next ${j.next[0]})` : ''}`).join('; ')}` : '  schedules: no job has one — jobs run when `agent backup` asks',
      );
      await startWatchers(rt0, scheduler, watchers, ctx.options.dataDir, ctx.logger.child('watch'));
      for (const [job, w] of watchers) ctx.output[ctx.output.json ? 'error' : 'print'](`  watch: ${job} — ${watchText(w, true)}`);
      const drilled = scheduler.status().filter((j) => j.drill);
      if (drilled.length) ctx.output[ctx.output.json ? 'error' : 'print'](`  drills: ${drilled.map((j) => `${j.job} ${j.drill!.schedule}${j.drill!.next ? ` (next ${j.drill!.next})` : ''}`).join('; ')}`);
      // Config reload: on SIGHUP and when config.json changes. The new one is checked first; a bad
      // one is refused (log, `agent status`) and the daemon keeps the one it has. Runs in progress
      // finish with the config they started with.
      const reload = async (why: string) => {
        const [{ loadConfig }, { describeError }, { join: joinPath }] = await Promise.all([import('../../node/config/config-loader.js'), import('../../common/errors.js'), import('node:path')]);
        const refusedAt = notes.findIndex((n) => n.startsWith('config refused'));
        try {
          const next = await loadConfig({ path: rt0.configPath, env: process.env, cacheDir: joinPath(ctx.options.dataDir, 'cache') });
          good = next;
          config = next.config;
          if (refusedAt >= 0) notes.splice(refusedAt, 1);
          queue.setLimit(config.maxConcurrentJobs ?? 1);
          await scheduler.setJobs(config.jobs);
          await Promise.all([...watchers.values()].map((w) => w.close()));
          watchers.clear();
          await startWatchers({ ...rt0, config } as typeof rt0, scheduler, watchers, ctx.options.dataDir, ctx.logger.child('watch'));
          log.info({ why, jobs: config.jobs.map((j) => j.id) }, 'config reloaded');
        } catch (e) {
          const text = `config refused (${why}, ${new Date().toISOString()}): ${describeError(e).replace(/\n\s*/g, ' ')} — the agent keeps the config it had; fix config.json and save it again`;
          if (refusedAt >= 0) notes[refusedAt] = text;
          else notes.push(text);
          log.error({ why, err: describeError(e) }, 'the changed config was refused; the agent keeps the one it had');
        }
      };
      let reloading = Promise.resolve();
      const queueReload = (why: string) => (reloading = reloading.then(() => reload(why)));
      const onHup = () => void queueReload('SIGHUP');
      process.on('SIGHUP', onHup);
      const { watch: fsWatch } = await import('node:fs');
      const { dirname: dirOf, basename: baseOf } = await import('node:path');
      let fileTimer: NodeJS.Timeout | undefined;
      // The folder is watched (an editor saves by rename: the file's own watch would be lost).
      const configWatch = (() => {
        try {
          return fsWatch(dirOf(rt0.configPath), (_e, name) => {
            if (name !== baseOf(rt0.configPath)) return;
            clearTimeout(fileTimer);
            fileTimer = setTimeout(() => void queueReload('config.json changed'), 300);
          });
        } catch {
          return undefined;
        }
      })();
      // The stale alarms ("no completed backup for N days") and runs found interrupted: now, then hourly.
      const hourly = rt0.config.notify.length ? startNotifyChecks(server, ctx as CliContext, index, log) : undefined;
      let undo = () => {};
      await Promise.race([new Promise<void>((resolve) => (undo = (ctx as CliContext).onInterrupt(resolve))), stopped]);
      undo();
      if (hourly) clearInterval(hourly);
      scheduler.stop();
      process.off('SIGHUP', onHup);
      configWatch?.close();
      clearTimeout(fileTimer);
      await reloading;
      await Promise.all([...watchers.values()].map((w) => w.close()));
      ctx.output.error(`stopping: ${queue.entries().length ? `${queue.entries().length} run(s) or command(s) stop after the files in flight` : 'nothing running'}… (Ctrl-C again to quit at once)`);
      // The runs stop at a file boundary and are recorded; past the deadline the agent exits anyway
      // (a run still going is found `interrupted` at the next start).
      const deadline = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), STOP_DEADLINE_MS).unref());
      const ended = await Promise.race([Promise.all([server.close(), scheduler.drain()]).then(() => 'ok' as const), deadline]);
      if (ended === 'late') {
        log.warn({ deadlineMs: STOP_DEADLINE_MS }, 'runs did not stop within the deadline: the agent exits; they show interrupted at the next start');
        ctx.output.error(`stopping: runs did not stop within ${STOP_DEADLINE_MS / 1000} s; exiting (they show \`interrupted\` at the next start)`);
      }
      return 0;
    } finally {
      (await import('../../node/scan/scanner.js')).keepWalkThreads(false);
      (await import('../../node/engine/backup.js')).keepHelpers(false);
      await index.close();
      try {
        if (listening && process.platform !== 'win32') (await import('node:fs')).unlinkSync(path);
      } catch {
        // already gone
      }
    }
  },
};

/** How long SIGTERM / Ctrl-C / `agent stop` wait for the runs to stop at a file boundary. */
const STOP_DEADLINE_MS = Number(process.env.HOKAN_STOP_DEADLINE_MS) || 10_000;


/**
 * One scheduled (or catch-up, or retry) run: the `agent backup JOB` command line run in this
 * process, in the queue turn the scheduler took, with the scheduler's gate (pauses) and the
 * daemon's Ctrl-C. What it prints goes to the log; its run record comes back.
 */
async function scheduledRun(
  ctx: CliContext,
  index: import('../../node/index/index-store.js').IndexStore,
  server: import('../daemon/server.js').CommandServer,
  control: import('../io.js').DaemonControl,
  job: string,
  req: import('../../node/scheduler/scheduler.js').RunRequest,
  log: import('../../common/logger.js').Logger,
  loaded: import('../../node/config/config-loader.js').LoadedConfig | undefined,
  drill = false,
): Promise<import('../../common/model.js').RunRecord | undefined> {
  const { Writable } = await import('node:stream');
  let out = '';
  const stdout = Object.assign(
    new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    }),
    { isTTY: false },
  );
  const stderr = Object.assign(
    new Writable({
      write(chunk, _enc, cb) {
        for (const line of String(chunk).split('\n')) if (line.trim()) log.warn({ job, why: req.why }, line);
        cb();
      },
    }),
    { isTTY: false },
  );
  const what = drill ? ['verify', '--restore', '--job', job, '--scheduled'] : ['backup', job, ...(req.full ? ['--full'] : [])];
  const argv = [...what, '--json', '--data-dir', ctx.options.dataDir, ...(ctx.options.config ? ['--config', ctx.options.config] : [])];
  const listeners = new Set<() => void>();
  const stop = () => {
    for (const l of [...listeners]) l();
  };
  server.onClose(stop);
  const io: import('../io.js').CliIO = {
    stdout,
    stderr,
    cwd: ctx.options.cwd,
    env: process.env,
    index,
    daemon: { pid: process.pid, since: server.since, commands: () => [...server.active], control },
    gate: req.gate,
    paths: req.paths,
    loaded,
    onProgress: (p) => control.progress(job, p),
    onInterrupt(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const t0 = performance.now();
  log.info({ job, why: req.why, scheduledAt: new Date(req.scheduledAt).toISOString(), full: req.full }, drill ? 'scheduled drill' : 'scheduled run');
  const code = await ctx.runCommandLine(argv, io);
  server.offClose(stop);
  let runs: import('../../common/model.js').RunRecord[] = [];
  try {
    const parsed = JSON.parse(out) as typeof runs | { run: (typeof runs)[number] };
    runs = Array.isArray(parsed) ? parsed : [parsed.run];
  } catch {
    // a run that could not start (a config now broken): its message went to the log
  }
  const rec = runs[0] ?? (code !== 0 || drill ? undefined : (await index.listRuns({ job, kind: 'backup', limit: 1, total: false })).runs[0]);
  log.info({ job, why: req.why, code, status: rec?.status, ms: Math.round(performance.now() - t0) }, drill ? 'scheduled drill done' : 'scheduled run done');
  return rec;
}

/**
 * One scheduled restore drill (the job's `drill`): `agent verify --restore --job JOB --scheduled`
 * run in this process like a scheduled backup; nothing when none of the job's targets holds a
 * backup of it yet (a new job: there is nothing to drill, and nothing is recorded).
 */
async function scheduledDrill(
  ctx: CliContext,
  index: import('../../node/index/index-store.js').IndexStore,
  server: import('../daemon/server.js').CommandServer,
  control: import('../io.js').DaemonControl,
  job: string,
  req: { scheduledAt: number },
  log: import('../../common/logger.js').Logger,
  loaded: import('../../node/config/config-loader.js').LoadedConfig | undefined,
  config: import('../../common/config-types.js').HokanConfig,
): Promise<import('../../common/model.js').RunRecord | undefined> {
  const targets = (loaded?.config ?? config).jobs.find((j) => j.id === job)?.targets ?? [];
  let held = false;
  for (const t of targets) if (await index.getTargetState(job, t)) held = true;
  if (!held) return undefined;
  return scheduledRun(ctx, index, server, control, job, { full: false, why: 'schedule', scheduledAt: req.scheduledAt, gate: () => undefined }, log, loaded, true);
}

/** A job's watch state in words (`agent status`). */
function watchText(w: import('../../node/watch/watcher.js').JobWatcher | undefined, on: boolean | undefined): string {
  if (!on) return 'off';
  const s = w?.state();
  if (!s || s.state === 'starting') return 'starting';
  if (s.state === 'watching') return `watching ${s.folders} folder${s.folders === 1 ? '' : 's'}`;
  return `${s.state === 'fallback' ? 'fallback' : 'off'}: ${s.why}`;
}

/** Watches the sources of every job with `watch: true`; changes go to the scheduler as paths. */
async function startWatchers(
  rt: import('../../common/plugin-api.js').Runtime,
  scheduler: import('../../node/scheduler/scheduler.js').Scheduler,
  watchers: Map<string, import('../../node/watch/watcher.js').JobWatcher>,
  dataDir: string,
  log: import('../../common/logger.js').Logger,
): Promise<void> {
  const jobs = rt.config.jobs.filter((j) => j.watch);
  if (!jobs.length) return;
  const [{ JobWatcher, durationMs }, { ENGINE_SERVICE }, { describeError }, { compileFilters }] = await Promise.all([
    import('../../node/watch/watcher.js'),
    import('../../node/engine/engine-service.js'),
    import('../../common/errors.js'),
    import('../../node/scan/filters.js'),
  ]);
  const engine = rt.container.get<import('../../node/engine/engine-service.js').EngineService>(ENGINE_SERVICE);
  const c = rt.config;
  const settleMs = durationMs(c.watchSettle, 2000);
  const maxDelayMs = durationMs(c.watchMaxDelay, 30_000);
  const fallbackMs = durationMs(c.watchFallbackEvery, 15 * 60_000);
  const targetPaths = Object.values(c.targets).map((t) => (typeof t.path === 'string' ? t.path : undefined)).filter((p): p is string => !!p);
  const maxFolders = process.env.HOKAN_WATCH_MAX_FOLDERS ? Number(process.env.HOKAN_WATCH_MAX_FOLDERS) : undefined;
  for (const job of jobs) {
    let roots: import('../../common/model.js').SourceRoot[];
    try {
      roots = await engine.sourceRoots(job.id);
    } catch (e) {
      log.warn({ job: job.id, err: describeError(e) }, 'cannot watch the sources of this job');
      continue;
    }
    const trim = (p: string) => p.replace(/[\\/]+$/, '') || '/';
    const w = new JobWatcher({
      job: job.id,
      folders: roots.map((r) => r.path),
      hidden: job.filters.hidden === true,
      // The run's own filters: what it prunes is not watched.
      filters: (folder) => {
        const root = roots.find((r) => trim(r.path) === folder);
        return root ? compileFilters(job.filters, root) : undefined;
      },
      skip: [dataDir, ...targetPaths],
      settleMs,
      maxDelayMs,
      maxFolders,
      logger: log,
      onChanges: (paths) => scheduler.watched(job.id, paths),
      onFallback: () => scheduler.fallBack(job.id, fallbackMs),
    });
    watchers.set(job.id, w);
    await w.start();
    // What changed while the agent was not running: one full scan at start.
    if (w.state().state === 'watching') scheduler.trigger(job.id, { why: 'watch' });
  }
}

/** Whether one of a job's targets answers: undefined when one does, else why none does. */
async function probeTargets(rt: import('../../common/plugin-api.js').Runtime, job: string): Promise<string | undefined> {
  const [{ ENGINE_SERVICE }, { TargetError, describeError }, { closeTarget }] = await Promise.all([
    import('../../node/engine/engine-service.js'),
    import('../../common/errors.js'),
    import('../../node/engine/job-store.js'),
  ]);
  const engine = rt.container.get<import('../../node/engine/engine-service.js').EngineService>(ENGINE_SERVICE);
  const why: string[] = [];
  for (const id of rt.config.jobs.find((j) => j.id === job)?.targets ?? []) {
    let t: import('../../common/target.js').Target | undefined;
    try {
      t = await engine.openTarget(id);
      await t.stat('.hokan-probe');
      return undefined;
    } catch (e) {
      if (TargetError.isNotFound(e)) return undefined;
      why.push(`${id}: ${describeError(e)}`);
    } finally {
      await closeTarget(t);
    }
  }
  return why.join('; ') || 'the job has no target';
}

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
