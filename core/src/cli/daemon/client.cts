/**
 * The client side of the daemon's socket (protocol.cts). The `agent` bin calls `forward` before it
 * loads the CLI: when `agent run` is running for the command's data folder, the command line goes
 * there and this process only relays the output — it starts in the time Node itself takes, and the
 * daemon already has the code loaded and the index open. With no daemon it returns undefined and
 * the command runs here.
 *
 * CommonJS (.cts), like everything it imports: loaded without Node's ES module loader, a forwarded
 * command starts ~20 ms sooner (docs/benchmarks.md).
 */
import { readFileSync, statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { resolveDataDir } from '../../node/config/data-dir.cjs';
import { preparse } from '../preparse.cjs';
import { lineReader, PROTOCOL, socketPath, type Control, type Reply, type Request } from './protocol.cjs';

/** Commands that never use the index run in this process even when the daemon runs. */
const LOCAL_COMMANDS = new Set(['run', 'init', 'config', 'plugins', 'service', 'help', 'completion']);

/** The command's first word, skipping the global options and their values. */
export function commandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return argv[i + 1];
    if (a === '--config' || a === '-c' || a === '--data-dir') {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** Whether this command line goes to a running daemon: it uses the index, and is not `--help`/`--version`. */
export function forwardable(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  if (env.HOKAN_NO_DAEMON === '1') return false;
  const word = commandWord(argv);
  if (!word || LOCAL_COMMANDS.has(word)) return false;
  return !argv.some((a) => a === '--help' || a === '-h' || a === '--version');
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** A connection to the daemon on `path`, or undefined when none answers there. */
export function connectTo(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    // No daemon (a socket left by one that was killed: refused) or not ours to reach: run here.
    s.once('error', () => resolve(undefined));
  });
}

const info = (s: NodeJS.WriteStream) => ({ tty: Boolean(s.isTTY), columns: s.isTTY ? s.columns : undefined });

/**
 * Runs the command line on the daemon of its data folder and returns its exit code, or undefined
 * when there is none to reach (the caller runs the command itself). Never throws.
 */
export async function forward(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Promise<number | undefined> {
  let sock: Socket | undefined;
  let request: Request;
  let dataDir: string;
  try {
    if (!forwardable(argv, env)) return undefined;
    dataDir = resolveDataDir(preparse(argv).dataDir, { env, cwd });
    const path = socketPath(dataDir);
    if (process.platform !== 'win32') {
      const st = statSync(path, { throwIfNoEntry: false });
      // Only a socket this user owns: in a shared folder (the temp folder, for a long data folder
      // path) another user could have put one there to read the commands.
      if (!st?.isSocket() || (process.getuid && st.uid !== process.getuid())) return undefined;
    }
    sock = await connectTo(path);
    if (!sock) return undefined;
    request = {
      hokan: PROTOCOL,
      version: packageVersion(),
      argv: [...argv],
      cwd,
      env: { HOKAN_CONFIG: env.HOKAN_CONFIG, HOKAN_DATA_DIR: env.HOKAN_DATA_DIR },
      stdout: info(process.stdout),
      stderr: info(process.stderr),
    };
  } catch {
    sock?.destroy();
    return undefined;
  }
  return relay(sock, request, dataDir);
}

/** Sends the request and plays the replies on this process's stdout and stderr until the exit code. */
function relay(sock: Socket, request: Request, dataDir: string): Promise<number> {
  return new Promise((resolve) => {
    let code: number | undefined;
    let interrupts = 0;
    const send = (m: Control) => {
      if (!sock.destroyed) sock.write(JSON.stringify(m) + '\n');
    };
    // Ctrl-C: the daemon stops the command after the files in flight; a second one hangs up, which
    // stops it too, and quits here at once.
    const onSig = () => {
      if (++interrupts === 1) return send({ interrupt: true });
      sock.destroy();
      done(130);
    };
    process.on('SIGINT', onSig);
    process.on('SIGTERM', onSig);
    let stdoutGone = false;
    process.stdout.on('error', () => {
      // The reader went away (`| head`): the daemon stops producing what nobody reads.
      if (stdoutGone) return;
      stdoutGone = true;
      send({ stdoutClosed: true });
    });
    process.stderr.on('error', () => undefined);
    const write = (stream: NodeJS.WriteStream, text: string) => {
      if (stream === process.stdout && stdoutGone) return;
      // Behind a slow reader (a pager), stop reading the socket: the daemon waits, nothing piles up here.
      if (!stream.write(text)) {
        sock.pause();
        stream.once('drain', () => sock.resume());
      }
    };
    const done = (exit: number) => {
      if (code !== undefined) return;
      code = exit;
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
      resolve(exit);
    };
    sock.on(
      'data',
      lineReader(
        (m) => {
          const r = m as Reply | undefined;
          if (!r || typeof r !== 'object') return;
          if ('out' in r) write(process.stdout, r.out);
          else if ('err' in r) write(process.stderr, r.err);
          else if ('exit' in r) {
            done(r.exit);
            sock.end();
          }
        },
        () => undefined,
        Infinity,
      ),
    );
    sock.on('error', () => undefined); // 'close' follows
    sock.on('close', () => {
      if (code !== undefined) return;
      process.stderr.write(
        `agent: the agent daemon (\`agent run\`) went away before the command finished\n  its log is in ${join(dataDir, 'logs')}; a backup it was running shows as interrupted and the next one picks up where it stopped\n`,
      );
      done(3);
    });
    sock.write(JSON.stringify(request) + '\n');
  });
}
