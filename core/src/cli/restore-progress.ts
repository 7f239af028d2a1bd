import type { RestoreProgress } from '../node/engine/restore.js';
import { formatBytes } from '../common/units.js';
import type { Terminal } from './io.js';

/** One progress event of `agent restore --json` (a JSON line on stderr; stdout keeps its one document). */
export interface RestoreProgressEvent {
  event: 'restore-progress';
  filesDone: number;
  filesTotal?: number;
  bytesDone: number;
  bytesTotal?: number;
  failed: number;
  /** Bytes a second since the restore started. */
  rate: number;
  /** Seconds left at that rate, once the totals are known. */
  eta?: number;
  /** Seconds since the restore started. */
  elapsed: number;
  done: boolean;
}

export function progressEvent(p: RestoreProgress, elapsedMs: number, done = false): RestoreProgressEvent {
  const secs = Math.max(0.001, elapsedMs / 1000);
  const rate = p.bytesDone / secs;
  const left = p.bytesTotal !== undefined ? Math.max(0, p.bytesTotal - p.bytesDone) : undefined;
  const eta = left === undefined ? undefined : left === 0 ? 0 : rate > 0 ? Math.ceil(left / rate) : undefined;
  return { event: 'restore-progress', filesDone: p.filesDone, filesTotal: p.filesTotal, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, failed: p.failed, rate: Math.round(rate), ...(eta !== undefined ? { eta } : {}), elapsed: Math.round(secs * 10) / 10, done };
}

/** `1,204/12,000 files | 210 MiB of 1.7 GiB | 95 MiB/s | ETA 16 s` (and `| 2 failed` when some did). */
export function progressText(e: RestoreProgressEvent): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const files = e.filesTotal !== undefined ? `${n(e.filesDone)}/${n(e.filesTotal)} files` : `${n(e.filesDone)} files`;
  const bytes = e.bytesTotal !== undefined ? `${formatBytes(e.bytesDone)} of ${formatBytes(e.bytesTotal)}` : formatBytes(e.bytesDone);
  const eta = e.eta !== undefined ? `ETA ${e.eta} s` : 'counting…';
  return `${files} | ${bytes} | ${formatBytes(e.rate)}/s | ${eta}${e.failed ? ` | ${n(e.failed)} failed` : ''}`;
}

/**
 * What a person or a script watching a restore sees: on a terminal a bar on stderr (files and
 * bytes of the total, rate, ETA), redrawn at most 10 times a second; with `--json` a
 * `restore-progress` JSON line on stderr once a second and a last one at the end.
 */
export async function restoreProgress(opts: { job: string; bar?: Terminal; json?: (line: string) => void }): Promise<{ update: (p: RestoreProgress) => void; stop: () => void } | undefined> {
  const { bar: barStream, json } = opts;
  if (!barStream && !json) return undefined;
  const started = Date.now();
  let last: RestoreProgress | undefined;
  let lastAt = 0;
  let bar: { update: (v: number, payload: object) => void; setTotal: (t: number) => void; stop: () => void } | undefined;
  if (barStream) {
    const { default: cliProgress } = await import('cli-progress');
    const b = new cliProgress.SingleBar({ format: `${opts.job} [{bar}] {text}`, stream: barStream, hideCursor: true, clearOnComplete: true, fps: 10 }, cliProgress.Presets.shades_classic);
    b.start(1, 0, { text: 'counting…' });
    bar = b;
  }
  const every = barStream ? 100 : 1000;
  return {
    update(p) {
      last = p;
      const now = Date.now();
      if (now - lastAt < every) return;
      lastAt = now;
      const e = progressEvent(p, now - started);
      if (bar) {
        bar.setTotal(Math.max(1, p.bytesTotal ?? p.bytesDone));
        bar.update(p.bytesDone, { text: progressText(e) });
      }
      json?.(JSON.stringify(e));
    },
    stop() {
      bar?.stop();
      if (last) json?.(JSON.stringify(progressEvent(last, Date.now() - started, true)));
    },
  };
}
