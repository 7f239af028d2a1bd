/**
 * Sizes and dates as people read and write them (product.md: sizes in KB/MB/GB with 1 GB = 1024 MB;
 * dates `YYYY/MM/DD HH:mm:ss` in local time). Pure: no node imports.
 */

const UNITS: Record<string, number> = {
  b: 1,
  byte: 1,
  bytes: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
  p: 1024 ** 5,
  pb: 1024 ** 5,
  pib: 1024 ** 5,
};

/**
 * Bytes from a size: a number of bytes, or a string like `"30GB"`, `"500 MB"`, `"1.5 GiB"`, `"1234"`.
 * Binary multiples throughout (1 KB = 1024 B, 1 GB = 1024 MB), case-insensitive; the result is
 * rounded down to a whole byte. Throws an Error naming the bad value otherwise.
 */
export function parseSize(value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid size ${String(value)}: expected a non-negative number of bytes`);
    return Math.floor(value);
  }
  if (typeof value !== 'string') throw new Error(`invalid size ${JSON.stringify(value)}: expected a number or a string like "500MB"`);
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!m) throw new Error(`invalid size ${JSON.stringify(value)}: expected a number with an optional unit, like "500MB" or "1.5 GB"`);
  const unit = m[2]!.toLowerCase();
  const mult = unit === '' ? 1 : UNITS[unit];
  if (mult === undefined) throw new Error(`invalid size ${JSON.stringify(value)}: unknown unit "${m[2]}" (use B, KB, MB, GB, TB)`);
  const n = Number(m[1]) * mult;
  if (!Number.isFinite(n)) throw new Error(`invalid size ${JSON.stringify(value)}: too large`);
  return Math.floor(n);
}

const SUFFIXES = ['KB', 'MB', 'GB', 'TB', 'PB'];

/** `512 B`, `1.5 KB`, `12.3 MB`, `1.02 GB`: three significant digits, trailing zeros dropped, 1 KB = 1024 B. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} B`;
  const neg = n < 0;
  let v = Math.abs(n);
  if (v < 1024) return `${neg ? '-' : ''}${Math.round(v)} B`;
  let i = -1;
  while (v >= 1024 && i < SUFFIXES.length - 1) {
    v /= 1024;
    i++;
  }
  // Three significant digits; a value that rounds up to 1024 moves to the next unit.
  let s = v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  if (Number(s) >= 1024 && i < SUFFIXES.length - 1) {
    v /= 1024;
    i++;
    s = v.toFixed(2);
  }
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return `${neg ? '-' : ''}${s} ${SUFFIXES[i]}`;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** `YYYY/MM/DD HH:mm:ss` in local time (product.md). Accepts a Date, epoch milliseconds or an ISO string. */
export function formatDate(date: Date | number | string): string {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) throw new Error(`invalid date ${JSON.stringify(date)}`);
  return `${pad(d.getFullYear(), 4)}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/**
 * A date as a person writes it in config (`modifiedBefore`): `YYYY-MM-DD` or `YYYY/MM/DD` (local
 * midnight), with an optional ` HH:mm[:ss]` or `THH:mm[:ss]` (local time), or any full ISO string with
 * a zone. Returns epoch milliseconds; throws an Error naming the bad value.
 */
export function parseDate(value: string): number {
  const m = /^\s*(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*$/.exec(value);
  if (m) {
    const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => (x === undefined ? 0 : Number(x))) as number[];
    const t = new Date(y!, mo! - 1, d!, h!, mi!, s!);
    if (t.getFullYear() !== y || t.getMonth() !== mo! - 1 || t.getDate() !== d || h! > 23 || mi! > 59 || s! > 59) {
      throw new Error(`invalid date ${JSON.stringify(value)}: no such day or time`);
    }
    return t.getTime();
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`invalid date ${JSON.stringify(value)}: expected YYYY-MM-DD, YYYY-MM-DD HH:mm or an ISO date`);
  return t;
}

/**
 * An mtime in milliseconds as Node's utimes/futimes want it: seconds in a double, which keeps what
 * is below the millisecond. Before 1970 the same seconds as a string: Node takes a negative number
 * for "now" but passes a numeric string through (a Date would drop the part below the millisecond).
 */
export function fsTime(ms: number): number | string {
  return ms >= 0 ? ms / 1000 : String(ms / 1000);
}
