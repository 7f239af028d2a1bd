import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Logger } from '../../common/logger.js';
import { maskSecretValuesIn, redactDeep } from './secrets.js';

export interface LoggerOptions {
  /** Data directory; JSON lines go to `<dataDir>/logs/hokan-YYYY-MM-DD.jsonl`. Omit for no file. */
  dataDir?: string;
  /** Human lines on stderr: warn and up, or debug and up with `verbose`. */
  verbose?: boolean;
  /** Where human lines go (default: process.stderr); `false` for none. */
  terminal?: NodeJS.WritableStream | false;
  /** Days of log files kept (default 31). */
  keepDays?: number;
  /** "Today" for the file name and pruning (tests). */
  now?: Date;
}

const LOG_FILE = /^hokan-(\d{4})-(\d{2})-(\d{2})\.jsonl$/;
const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

export function logFileName(d: Date): string {
  return `hokan-${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}.jsonl`;
}

/** Removes log files whose date is more than `keepDays` days before `now`. Returns the names removed. */
export function pruneLogs(dir: string, keepDays: number, now: Date): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const removed: string[] = [];
  for (const name of names) {
    const m = LOG_FILE.exec(name);
    if (!m) continue;
    const day = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])).getTime();
    if ((today - day) / 86_400_000 > keepDays) {
      rmSync(join(dir, name), { force: true });
      removed.push(name);
    }
  }
  return removed;
}

/** Turns pino's JSON lines into short human lines: `warn [target-s3] message key=value`. */
class HumanLines extends Writable {
  constructor(private readonly out: NodeJS.WritableStream) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        const { level, time: _t, pid: _p, hostname: _h, msg, component, err, ...rest } = o;
        const extra = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        const e = err as { message?: string } | undefined;
        const parts = [`${LEVEL_NAMES[level as number] ?? level}:`, component ? `[${component}]` : '', String(msg ?? ''), e?.message && e.message !== msg ? `— ${e.message}` : '', extra];
        this.out.write(parts.filter(Boolean).join(' ') + '\n');
      } catch {
        this.out.write(line + '\n');
      }
    }
    cb();
  }
}

/**
 * Creates the root logger: pino JSON lines to today's file under `<dataDir>/logs` (files older
 * than 31 days are pruned here), and human lines on the terminal. Secret-named keys and secret
 * values that came from references are masked as `***` in both.
 *
 * pino is imported here, so callers that want a fast start create the logger lazily
 * (see `lazyLogger`).
 */
export async function createLogger(options: LoggerOptions = {}): Promise<Logger & { flush(): void; close(): Promise<void> }> {
  const { default: pino } = await import('pino');
  const streams: { level: 'debug' | 'warn'; stream: import('pino').DestinationStream }[] = [];
  let file: ReturnType<typeof pino.destination> | undefined;
  let closed = false;
  if (options.dataDir) {
    const dir = join(options.dataDir, 'logs');
    mkdirSync(dir, { recursive: true });
    const now = options.now ?? new Date();
    pruneLogs(dir, options.keepDays ?? 31, now);
    file = pino.destination({ dest: join(dir, logFileName(now)), sync: true, mkdir: true });
    const f = file;
    // A line logged after close() (a late callback) is dropped rather than thrown at the caller.
    streams.push({ level: 'debug', stream: { write: (line: string) => void (closed ? undefined : f.write(line)) } });
  }
  const terminal = options.terminal === undefined ? process.stderr : options.terminal;
  if (terminal) streams.push({ level: options.verbose ? 'debug' : 'warn', stream: new HumanLines(terminal) as unknown as import('pino').DestinationStream });
  const base = pino(
    {
      level: 'debug',
      base: { pid: process.pid },
      formatters: { log: (obj) => redactDeep(obj) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          const masked = args.map((a) => (typeof a === 'string' ? maskSecretValuesIn(a) : a)) as typeof args;
          return method.apply(this, masked);
        },
      },
    },
    pino.multistream(streams.length ? streams : [{ level: 'warn', stream: { write() {} } }]),
  );
  const wrap = (p: import('pino').Logger): Logger & { flush(): void } => ({
    debug: p.debug.bind(p) as Logger['debug'],
    info: p.info.bind(p) as Logger['info'],
    warn: p.warn.bind(p) as Logger['warn'],
    error: p.error.bind(p) as Logger['error'],
    child: (name: string) => wrap(p.child({ component: name })),
    flush: () => p.flush(),
  });
  const closing = new Promise<void>((resolve) => (file ? file.once('close', () => resolve()) : resolve()));
  return Object.assign(wrap(base), {
    /** Closes the log file (the daemon makes one logger per command). Idempotent. */
    close: async () => {
      if (file && !closed) file.end();
      closed = true;
      await closing;
    },
  });
}

/**
 * A Logger that creates the real one (and imports pino) only when something is first logged.
 * Lines logged before it is ready are queued and written in order.
 */
export function lazyLogger(options: LoggerOptions): Logger & { ready(): Promise<void>; close(): Promise<void> } {
  let real: (Logger & { close(): Promise<void> }) | undefined;
  let loading: Promise<void> | undefined;
  const queue: [string | undefined, keyof Omit<Logger, 'child'>, unknown[]][] = [];
  const drain = () => {
    for (const [component, level, args] of queue.splice(0)) {
      const l = component ? real!.child(component) : real!;
      (l[level] as (...a: unknown[]) => void)(...args);
    }
  };
  const load = () => {
    loading ??= createLogger(options).then((l) => {
      real = l;
      drain();
    });
    return loading;
  };
  const make = (component?: string): Logger => {
    const log =
      (level: keyof Omit<Logger, 'child'>) =>
      (...args: unknown[]) => {
        if (real) {
          const l = component ? real.child(component) : real;
          (l[level] as (...a: unknown[]) => void)(...args);
        } else {
          queue.push([component, level, args]);
          void load();
        }
      };
    return {
      debug: log('debug') as Logger['debug'],
      info: log('info') as Logger['info'],
      warn: log('warn') as Logger['warn'],
      error: log('error') as Logger['error'],
      child: (name: string) => make(component ? `${component}.${name}` : name),
    };
  };
  const ready = () => (queue.length || loading ? load() : Promise.resolve());
  /** Writes what is queued, then closes the log file if one was opened. */
  const close = async () => {
    await ready();
    await real?.close();
  };
  return Object.assign(make(), { ready, close });
}
