/**
 * How a command reaches the running daemon (`agent run`). LevelDB lets one process open the index;
 * while the daemon runs it holds it, so the `agent` commands that use the index send their command
 * line to the daemon's local socket and show what comes back (product.md "Index").
 *
 * The socket is `<data>/agent.sock` (mode 0600), or a named pipe on Windows. Messages are JSON, one
 * per line. The client sends a `Request`, then `Control` lines (Ctrl-C, stdout closed); the daemon
 * answers with `Reply` lines: output as it is written, then the exit code.
 *
 * Kept free of heavy imports: the `agent` bin loads this module (through client.cts) first.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

export const PROTOCOL = 1;

/** What a terminal looks like on the client's side: the command draws for it (`--help` width, progress bar). */
export interface TerminalInfo {
  tty: boolean;
  columns?: number;
}

export interface Request {
  hokan: typeof PROTOCOL;
  /** The client's package version: a daemon started from other code refuses (restart it). */
  version: string;
  argv: string[];
  cwd: string;
  /** The client's $HOKAN_CONFIG and $HOKAN_DATA_DIR (the rest of the environment is the daemon's). */
  env: { HOKAN_CONFIG?: string; HOKAN_DATA_DIR?: string };
  stdout: TerminalInfo;
  stderr: TerminalInfo;
}

/** Ctrl-C on the client (the command stops after the files in flight); the client's stdout reader went away. */
export type Control = { interrupt: true } | { stdoutClosed: true };

export type Reply = { out: string } | { err: string } | { exit: number };

/** The longest first line a daemon reads (a command line with its options). */
export const MAX_REQUEST_BYTES = 1 << 20;

/**
 * The daemon's socket for a data folder. A Unix socket path must fit in ~104 bytes: a longer one
 * goes to the runtime folder (or the temp folder), named by the data folder's hash and the user.
 */
export function socketPath(dataDir: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string {
  // node:crypto only when needed: the bin loads this module before every command.
  const id = () => (require('node:crypto') as typeof import('node:crypto')).createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  if (platform === 'win32') return `\\\\.\\pipe\\hokan-${id()}`;
  const inData = join(dataDir, 'agent.sock');
  if (Buffer.byteLength(inData) <= 100) return inData;
  return join(env.XDG_RUNTIME_DIR || tmpdir(), `hokan-${process.getuid?.() ?? 'u'}-${id()}.sock`);
}

/** Splits a socket's data into JSON lines (a message may arrive in pieces, or several in one chunk). */
export function lineReader(onMessage: (m: unknown) => void, onTooLong: () => void, max = MAX_REQUEST_BYTES): (chunk: Buffer) => void {
  let buf = '';
  const text = new StringDecoder('utf8'); // a character split between two chunks stays whole
  return (chunk) => {
    buf += text.write(chunk);
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line) continue;
      let m: unknown;
      try {
        m = JSON.parse(line);
      } catch {
        m = undefined;
      }
      onMessage(m);
    }
    if (buf.length > max) {
      buf = '';
      onTooLong();
    }
  };
}
