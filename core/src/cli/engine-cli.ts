import { setMaxListeners } from 'node:events';
import { UsageError } from '../common/errors.js';
import type { CommandContext } from '../common/plugin-api.js';
import type { RunRecord } from '../common/model.js';
import { formatBytes, formatDate } from '../common/units.js';
import type { EngineDeps } from '../node/engine/deps.js';
import { ENGINE_SERVICE, type EngineService } from '../node/engine/engine-service.js';
import { CliContext } from './context.js';
import { processIO } from './output.js';

/** Runs `fn` with the engine of the command's runtime, and closes the index after. */
export async function withEngine<T>(ctx: CommandContext, fn: (deps: EngineDeps) => Promise<T>): Promise<T> {
  const rt = await ctx.runtime();
  const engine = rt.container.get<EngineService>(ENGINE_SERVICE);
  try {
    return await fn(await engine.deps());
  } finally {
    await engine[Symbol.asyncDispose]();
  }
}

/**
 * An AbortSignal that fires on Ctrl-C (the run ends as `aborted`, with everything done so far kept).
 * A second Ctrl-C quits at once (processIO; under the daemon, the client hangs up).
 */
export function interruptSignal(ctx: CommandContext): { signal: AbortSignal; dispose(): void } {
  const ctrl = new AbortController();
  setMaxListeners(0, ctrl.signal); // one listener per transfer in flight
  const onStop = () => {
    if (ctrl.signal.aborted) return;
    ctx.output.error('stopping after the files in flight… (Ctrl-C again to quit at once)');
    ctrl.abort(new Error('aborted by the person'));
  };
  const undo = ctx instanceof CliContext ? ctx.onInterrupt(onStop) : processIO().onInterrupt(onStop);
  return { signal: ctrl.signal, dispose: undo };
}

/** `completed` / `incomplete (quota-exceeded)` / `incomplete (multiple-errors: a, b)`. */
export function statusText(run: Pick<RunRecord, 'status' | 'reasons'>): string {
  if (!run.reasons.length) return run.status;
  const [first, ...rest] = run.reasons;
  return first === 'multiple-errors' ? `${run.status} (multiple-errors: ${rest.join(', ')})` : `${run.status} (${run.reasons.join(', ')})`;
}

export function countsText(run: RunRecord): string {
  const c = run.counts;
  if (run.drill) return `drilled ${c.seen}, intact ${c.restored}, failed ${c.failed}${run.drill.sourceChecked ? `, compared with the source ${run.drill.sourceChecked}` : ''}`;
  if (run.kind === 'restore') return `restored ${c.restored}, unchanged ${c.unchanged}, skipped ${c.skipped}, failed ${c.failed}`;
  return `seen ${c.seen}, uploaded ${c.uploaded}, unchanged ${c.unchanged}, deleted ${c.deleted}, skipped ${c.skipped}, failed ${c.failed}${filteredText(run)}`;
}

/** `, left out by filters 5 (hidden 3, extension 2)`: nothing is left out without a word. */
export function filteredText(run: RunRecord): string {
  const parts = Object.entries(run.filtered ?? {}).filter(([, n]) => n);
  if (!parts.length) return '';
  return `, left out by filters ${parts.reduce((a, [, n]) => a + n, 0)} (${parts.map(([k, n]) => `${k} ${n}`).join(', ')})`;
}

/** One line of `agent history`. */
export function runLine(run: RunRecord): string {
  return `${formatDate(run.start)}  ${run.id}  ${run.job}  ${run.drill ? 'restore (drill)' : run.kind}  ${statusText(run)}  ${countsText(run)}  ${formatBytes(run.bytes)}`;
}

/** Exit code for finished runs (product.md): 0 all good, 1 some files incomplete, 3 a run failed. */
export function exitCodeFor(runs: RunRecord[]): number {
  if (runs.some((r) => r.error || r.status === 'aborted' || r.status === 'interrupted')) return 3;
  if (runs.some((r) => r.status === 'incomplete')) return 1;
  return 0;
}

/**
 * Parses `--at`: ISO, `YYYY/MM/DD HH:mm[:ss]` or `YYYY-MM-DD[ HH:mm[:ss]]` in local time (a day
 * alone means its end). A date that does not exist (`2026-13-45`, `2026-02-30`) is refused, never
 * rolled over into another one.
 */
export function parseAt(value: string): Date {
  const m = /^(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(value.trim());
  const bad = (why: string) => new UsageError(`--at "${value}" is not a time: ${why}`, { hint: 'use e.g. "2026/11/01 18:00", "2026-11-01" (the end of that day) or an ISO time' });
  if (m) {
    const [y, mo, d, h, mi, se] = [+m[1]!, +m[2]!, +m[3]!, +(m[4] ?? 23), +(m[5] ?? 59), +(m[6] ?? 59)];
    if (mo < 1 || mo > 12) throw bad(`there is no month ${mo}`);
    const days = new Date(y, mo, 0).getDate();
    if (d < 1 || d > days) throw bad(`${y}/${String(mo).padStart(2, '0')} has no day ${d}`);
    if (h > 23 || mi > 59 || se > 59) throw bad(`there is no time ${m[4]}:${m[5]}${m[6] !== undefined ? `:${m[6]}` : ''}`);
    return new Date(y, mo - 1, d, h, mi, se);
  }
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) throw bad('not a date this agent can read');
  return t;
}
