/**
 * The daemon's side of the socket (protocol.cts): each connection is one command line, run with
 * `main` in this process against the daemon's open index, its output sent back as it is written.
 *
 * Commands that read (history, show, versions, status) run at once, also while a backup runs.
 * Commands that change what the targets or the index hold (backup, restore, verify, plugins'
 * commands) run one at a time, in the order they came: a second `agent backup` waits for the first
 * (product.md: the daemon queues overlapping runs).
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import type { Logger } from '../../common/logger.js';
import type { IndexStore } from '../../node/index/index-store.js';
import type { ActiveCommand, CliIO, Terminal } from '../io.js';
export type { ActiveCommand } from '../io.js';
import { commandWord, connectTo, packageVersion } from './client.cjs';
import { lineReader, PROTOCOL, type Reply, type Request, type TerminalInfo } from './protocol.cjs';
import { RunQueue } from '../../node/scheduler/run-queue.js';
import type { DaemonControl } from '../io.js';

/** Commands that only read: they do not wait for a running backup. */
const READERS = new Set(['history', 'show', 'versions', 'status']);
/** The daemon's own controls: at once, never behind a backup. */
const CONTROLS = new Set(['pause', 'resume', 'stop']);


/** One of the client's streams: what the command writes goes over the socket as `{out}` or `{err}` lines. */
class Relay extends Writable implements Terminal {
  readonly isTTY: boolean;
  readonly columns?: number;
  constructor(
    private readonly sock: Socket,
    private readonly key: 'out' | 'err',
    t: TerminalInfo,
  ) {
    super({ decodeStrings: false });
    this.isTTY = t.tty;
    this.columns = t.columns;
  }
  override _write(chunk: string | Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.sock.destroyed) return cb();
    // The callback waits for the socket: a command writing faster than the client reads waits too.
    this.sock.write(JSON.stringify({ [this.key]: typeof chunk === 'string' ? chunk : chunk.toString('utf8') }) + '\n', () => cb());
  }
}

export interface CommandServerOptions {
  /** The daemon's index, open for every command. */
  index: IndexStore;
  logger: Logger;
  /** Runs one command line (cli/main.ts `main`). */
  run(argv: string[], io: CliIO): Promise<number>;
  /** The daemon's one queue, shared with the scheduler (default: a queue of one at a time). */
  queue?: RunQueue;
  /** The scheduler's controls, for `agent status`, `pause`, `resume`, `stop`. */
  control?: DaemonControl;
}

export class CommandServer {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly running = new Set<Promise<void>>();
  private readonly stops = new Set<() => void>();
  /** Commands that change what the targets or the index hold wait their turn here, with the scheduler's runs. */
  readonly queue: RunQueue;
  readonly active = new Set<ActiveCommand>();
  readonly since = new Date();
  private readonly version = packageVersion();

  constructor(private readonly options: CommandServerOptions) {
    this.queue = options.queue ?? new RunQueue(1);
  }

  /**
   * Listens on `path`. A socket file left by a daemon that was killed is replaced; one a live daemon
   * answers on is not (it throws with code E_DAEMON_RUNNING).
   */
  async listen(path: string): Promise<void> {
    if (process.platform !== 'win32' && existsSync(path)) {
      if (await answers(path)) throw Object.assign(new Error(`an agent daemon already runs for this data folder (it answers on ${path})`), { code: 'E_DAEMON_RUNNING' });
      unlinkSync(path);
    }
    const server = createServer((sock) => this.accept(sock));
    // Only this user may reach the daemon: the socket is created 0600 (umask), not chmod-ed after.
    const mask = process.platform === 'win32' ? undefined : process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      if (mask !== undefined) process.umask(mask);
    }
    if (process.platform !== 'win32') chmodSync(path, 0o600);
    this.server = server;
  }

  /**
   * Stops: no new connections; the commands running are asked to stop as on Ctrl-C (a backup ends
   * `aborted` after the files in flight, with everything done so far kept), and waited for; those
   * waiting their turn do not start.
   */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const stop of this.stops) stop();
    await Promise.allSettled([...this.running]);
    for (const s of this.sockets) s.end();
    await closed;
  }

  /** Calls `stop` when the daemon closes (a run of the scheduler's own stops as a command does). */
  onClose(stop: () => void): void {
    this.stops.add(stop);
  }

  offClose(stop: () => void): void {
    this.stops.delete(stop);
  }

  /**
   * Runs a command of the daemon's own (the hourly `notify check`) in the one-at-a-time queue, so it
   * never overlaps a backup; `agent status` lists it while it runs.
   */
  async runOwn(argv: string[], io: CliIO): Promise<number> {
    const turn = this.queue.enter({ label: `agent ${argv.join(' ')}` });
    if ('refused' in turn) return 3; // never: no jobs named
    const entry: ActiveCommand = { argv, since: new Date(), state: 'waiting' };
    this.active.add(entry);
    try {
      await turn.started;
      entry.state = 'running';
      return await this.options.run(argv, io);
    } catch (e) {
      this.options.logger.error({ err: e, argv }, 'a command of the daemon failed');
      return 3;
    } finally {
      turn.release();
      this.active.delete(entry);
    }
  }

  private accept(sock: Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined); // a client that went away: 'close' follows
    let request: Request | undefined;
    const interrupts = new Set<() => void>();
    let stdout: Relay | undefined;
    let stderr: Relay | undefined;
    const reply = (r: Reply) => {
      if (!sock.destroyed) sock.write(JSON.stringify(r) + '\n');
    };
    sock.on(
      'data',
      lineReader(
        (m) => {
          if (!request) {
            request = m as Request;
            if (!valid(request)) {
              reply({ err: 'agent: the daemon cannot read this request (a client from another hokan?)\n' });
              reply({ exit: 2 });
              sock.end();
              return;
            }
            if (request.version !== this.version) {
              reply({ err: `agent: the running agent daemon is hokan ${this.version}, this command is ${request.version}\n  restart the daemon (stop \`agent run\` and start it again) to use the installed version\n` });
              reply({ exit: 2 });
              sock.end();
              return;
            }
            const io: CliIO = {
              stdout: (stdout = new Relay(sock, 'out', request.stdout)),
              stderr: (stderr = new Relay(sock, 'err', request.stderr)),
              cwd: request.cwd,
              env: clientEnv(request.env),
              index: this.options.index,
              daemon: { pid: process.pid, since: this.since, commands: () => [...this.active], control: this.options.control },
              onInterrupt(listener) {
                interrupts.add(listener);
                return () => interrupts.delete(listener);
              },
            };
            this.start(request.argv, io, interrupts, reply, sock);
            return;
          }
          const c = m as { interrupt?: boolean; stdoutClosed?: boolean } | undefined;
          if (c?.interrupt) for (const l of [...interrupts]) l();
          if (c?.stdoutClosed) stdout?.destroy();
        },
        () => sock.destroy(),
      ),
    );
    // The client hung up (a second Ctrl-C, its terminal closed, killed): stop its command as on
    // Ctrl-C, and let what it prints see that nobody reads (an export stops producing).
    sock.on('close', () => {
      for (const l of [...interrupts]) l();
      stdout?.destroy();
      stderr?.destroy();
    });
  }

  private start(argv: string[], io: CliIO, interrupts: Set<() => void>, reply: (r: Reply) => void, sock: Socket): void {
    const word = commandWord(argv) ?? '';
    const entry: ActiveCommand = { argv, since: new Date(), state: 'waiting' };
    this.active.add(entry);
    const stop = () => {
      for (const l of [...interrupts]) l();
    };
    const exclusive = !READERS.has(word) && !CONTROLS.has(word);
    // Backups name their jobs (none: every job); other commands take a turn of their own.
    // A restore or verify (a drill) reads its job: never at the same time as a backup of it.
    const reads = word === 'restore' || word === 'verify' ? jobOption(argv) : undefined;
    const turn = exclusive ? this.queue.enter({ jobs: word === 'backup' ? (backupJobs(argv).length ? backupJobs(argv) : (this.options.control?.jobIds() ?? [])) : [], reads, label: `agent ${argv.join(' ')}` }) : undefined;
    const release = () => (turn && !('refused' in turn) ? turn.release() : undefined);
    // Stopping the daemon stops this command, running or waiting.
    this.stops.add(stop);
    const job = (async () => {
      let waiting = true;
      // A stop asked while the command waits its turn: it does not start at all.
      const cancelled = new Promise<void>((resolve) => interrupts.add(() => (waiting ? resolve() : undefined)));
      const ahead = turn && !('refused' in turn) ? this.queue.entries().filter((a) => a !== turn.entry && (a.state === 'running' || a.at <= turn.entry.at)) : [];
      if (ahead.length) io.stderr.write(`waiting: \`${ahead[0]!.label}\` ${ahead[0]!.state === 'running' ? 'is running' : 'is waiting too'} (since ${ahead[0]!.since.toLocaleTimeString()}); this command starts when ${ahead.length > 1 ? `the ${ahead.length} before it end` : 'it ends'}\n`);
      const go = turn && !('refused' in turn) ? await Promise.race([turn.started, cancelled.then(() => false)]) : true;
      waiting = false;
      if (!go || sock.destroyed) {
        io.stderr.write('agent: stopped before it started\n');
        return 130;
      }
      entry.state = 'running';
      return await this.options.run(argv, io);
    })()
      .catch((e: unknown) => {
        this.options.logger.error({ err: e, argv }, 'a command the daemon ran failed');
        return 3;
      })
      .then(async (code) => {
        this.stops.delete(stop);
        release();
        this.active.delete(entry);
        await Promise.all([finished(io.stdout), finished(io.stderr)]);
        reply({ exit: code });
        sock.end();
      });
    this.running.add(job);
    void job.finally(() => this.running.delete(job));
  }
}

/** The jobs an `agent backup` command line names (`[]`: every job). */
function backupJobs(argv: string[]): string[] {
  const i = argv.indexOf('backup');
  const out: string[] = [];
  for (let k = i + 1; k < argv.length; k++) {
    const a = argv[k]!;
    if (a.startsWith('-')) {
      if (!a.includes('=') && VALUED.has(a)) k++;
      continue;
    }
    out.push(a);
  }
  return out;
}
/** The `--job J` of a command line (`[]` when none). */
function jobOption(argv: string[]): string[] {
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k]!;
    if (a === '--job' && argv[k + 1] !== undefined) return [argv[k + 1]!];
    if (a.startsWith('--job=')) return [a.slice('--job='.length)];
  }
  return [];
}

const VALUED = new Set(['--config', '-c', '--data-dir', '--target']);

/** Whether a daemon answers on `path`. */
export async function answers(path: string): Promise<boolean> {
  const s = await connectTo(path);
  s?.destroy();
  return s !== undefined;
}

function valid(r: Request | undefined): r is Request {
  if (!r || typeof r !== 'object' || r.hokan !== PROTOCOL || typeof r.version !== 'string') return false;
  return Array.isArray(r.argv) && r.argv.every((a) => typeof a === 'string') && typeof r.cwd === 'string' && typeof r.env === 'object' && !!r.stdout && !!r.stderr;
}

/** The daemon's environment with the client's $HOKAN_CONFIG and $HOKAN_DATA_DIR. */
function clientEnv(e: { HOKAN_CONFIG?: string; HOKAN_DATA_DIR?: string }): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['HOKAN_CONFIG', 'HOKAN_DATA_DIR'] as const) {
    if (typeof e[k] === 'string') env[k] = e[k];
    else delete env[k];
  }
  return env;
}

/** Resolves once what was written to the relay has gone to the socket. */
function finished(w: Terminal): Promise<void> {
  const s = w as unknown as Writable;
  if (s.destroyed || s.writableFinished) return Promise.resolve();
  return new Promise((resolve) => s.end(() => resolve()));
}
