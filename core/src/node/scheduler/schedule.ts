/**
 * When a job's schedule fires (product.md "Schedules"), computed with croner in the machine's time
 * zone or the job's `timezone`. croner keeps daylight-saving changes safe: a time that does not
 * exist that night (02:30 when clocks go 02:00 → 03:00) fires once, at the first instant after the
 * gap; a time that happens twice (clocks go 03:00 → 02:00) fires once, the first time.
 *
 * Kinds: `daily` (true with `at`, or "HH:MM"), `weekly` days with `at`, `monthly` day with `at`
 * (a day the month does not have — 31 in April, 30 in February — is the month's last day),
 * `every` "30m"/"6h" (from an anchor: the job's last run, or the agent's start), `cron` (5 or 6
 * fields, with croner's extensions).
 */
import { Cron } from 'croner';
import type { ScheduleConfig } from '../../common/config-types.js';

const MINUTE = 60_000;
const DAYS: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

/** One schedule, ready to say its next time after a moment. */
export interface Trigger {
  /** In words, for `agent status` ("daily at 23:00", "every 30m", "cron 0 2 * * *"). */
  readonly text: string;
  /** The first scheduled time strictly after `after` (ms since the epoch); `anchor` is where `every` counts from. */
  next(after: number, anchor?: number): number | undefined;
}

type ScheduleTimes = Omit<ScheduleConfig, 'full' | 'pause' | 'catchUp'>;

/** The trigger of a schedule (its main part, or `full`); undefined when it names no time. */
export function triggerOf(s: ScheduleTimes | undefined, timezone?: string): Trigger | undefined {
  if (!s) return undefined;
  const at = typeof s.daily === 'string' ? s.daily : (s.at ?? '00:00');
  const [hh, mm] = at.split(':').map(Number) as [number, number];
  const cron = (pattern: string, text: string, accept?: (t: Date) => boolean): Trigger => {
    const c = new Cron(pattern, { paused: true, ...(timezone ? { timezone } : {}) });
    return {
      text,
      next(after) {
        let t = new Date(after);
        for (let i = 0; i < 12; i++) {
          const n = c.nextRun(t);
          if (!n) return undefined;
          if (!accept || accept(n)) return n.getTime();
          t = n;
        }
        return undefined;
      },
    };
  };
  if (s.cron) return cron(s.cron, `cron ${s.cron}${timezone ? ` (${timezone})` : ''}`);
  if (s.every) {
    const ms = periodMs(s.every);
    return {
      text: `every ${s.every.replace(/\s+/g, '')}`,
      next(after, anchor = after) {
        if (anchor > after) return anchor;
        return anchor + (Math.floor((after - anchor) / ms) + 1) * ms;
      },
    };
  }
  const zone = timezone ? ` (${timezone})` : '';
  if (s.weekly?.length) return cron(`${mm} ${hh} * * ${s.weekly.map((d) => DAYS[d]).join(',')}`, `weekly ${s.weekly.join(', ')} at ${at}${zone}`);
  if (s.monthly !== undefined) {
    const day = s.monthly;
    const text = `monthly on day ${day} at ${at}${zone}${day > 28 ? ' (or the last day of a shorter month)' : ''}`;
    if (day <= 28) return cron(`${mm} ${hh} ${day} * *`, text);
    // Day 29–31: the day itself, or the last day of a month that has fewer.
    return cron(`${mm} ${hh} ${day},L * *`, text, (t) => {
      const { d, last } = dayInZone(t, timezone);
      return d === day || (d === last && last < day);
    });
  }
  if (s.daily !== undefined && s.daily !== false) return cron(`${mm} ${hh} * * *`, `daily at ${at}${zone}`);
  return undefined;
}

/** A job's restore drills (`drill`): its times, or every 7 days when it names none (only a `sample`). */
export function drillTrigger(drill: ScheduleTimes | undefined, timezone?: string): Trigger | undefined {
  if (!drill) return undefined;
  return triggerOf(drill, timezone) ?? triggerOf({ every: '7d' });
}

/** "30m", "2 hours", "7d" → milliseconds. */
export function periodMs(text: string): number {
  const m = /^\s*(\d+)\s*(m|min|minutes?|h|hours?|d|days?|s|sec|seconds?)\s*$/.exec(text);
  if (!m) throw new Error(`"${text}" is not a period such as "30m", "2h" or "7d"`);
  const n = Number(m[1]);
  const unit = m[2]!.startsWith('h') ? 60 * MINUTE : m[2]!.startsWith('d') ? 24 * 60 * MINUTE : m[2]!.startsWith('s') ? 1000 : MINUTE;
  return n * unit;
}

/** Day of the month, and the month's last day, of a moment in a zone. */
function dayInZone(t: Date, timezone?: string): { d: number; last: number } {
  const f = new Intl.DateTimeFormat('en-US', { timeZone: timezone, year: 'numeric', month: 'numeric', day: 'numeric' });
  const parts = Object.fromEntries(f.formatToParts(t).map((p) => [p.type, p.value]));
  const y = Number(parts.year);
  const mo = Number(parts.month);
  return { d: Number(parts.day), last: new Date(Date.UTC(y, mo, 0)).getUTCDate() };
}

/** Minutes since midnight of a moment in a zone. */
export function minuteOfDay(t: number, timezone?: string): number {
  const f = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const parts = Object.fromEntries(f.formatToParts(new Date(t)).map((p) => [p.type, p.value]));
  return Number(parts.hour) * 60 + Number(parts.minute);
}

const toMinutes = (hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
};

/** A pause window ("09:00"–"18:00", or "22:00"–"06:00" across midnight) in a zone. */
export class PauseWindow {
  private readonly from: number;
  private readonly to: number;
  private readonly end: Cron;
  constructor(
    readonly window: { from: string; to: string },
    private readonly timezone?: string,
  ) {
    this.from = toMinutes(window.from);
    this.to = toMinutes(window.to);
    const [h, m] = window.to.split(':').map(Number) as [number, number];
    this.end = new Cron(`${m} ${h} * * *`, { paused: true, ...(timezone ? { timezone } : {}) });
  }

  get text(): string {
    return `${this.window.from}–${this.window.to}`;
  }

  /** Whether `t` falls in the window. */
  contains(t: number): boolean {
    if (this.from === this.to) return false;
    const m = minuteOfDay(t, this.timezone);
    return this.from < this.to ? m >= this.from && m < this.to : m >= this.from || m < this.to;
  }

  /** When the window that holds `t` ends (`t` itself when it is outside). */
  endsAfter(t: number): number {
    if (!this.contains(t)) return t;
    return this.end.nextRun(new Date(t))?.getTime() ?? t;
  }
}
