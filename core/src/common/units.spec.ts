import { describe, expect, it } from 'vitest';
import { formatBytes, formatDate, parseDate, parseSize } from './units.js';

describe('parseSize', () => {
  it('reads numbers and binary units (1 GB = 1024 MB)', () => {
    expect(parseSize(1234)).toBe(1234);
    expect(parseSize('1234')).toBe(1234);
    expect(parseSize('512B')).toBe(512);
    expect(parseSize('1KB')).toBe(1024);
    expect(parseSize('500 MB')).toBe(500 * 1024 * 1024);
    expect(parseSize('30GB')).toBe(30 * 1024 ** 3);
    expect(parseSize('1.5 GiB')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('2tb')).toBe(2 * 1024 ** 4);
    expect(parseSize(' 10 k ')).toBe(10240);
    expect(parseSize('1GB')).toBe(parseSize('1024MB'));
  });
  it('rejects garbage with a clear message', () => {
    expect(() => parseSize('lots')).toThrow(/invalid size "lots"/);
    expect(() => parseSize('12 parsecs')).toThrow(/unknown unit "parsecs"/);
    expect(() => parseSize('-5MB')).toThrow(/invalid size/);
    expect(() => parseSize(-1)).toThrow(/non-negative/);
    expect(() => parseSize(Number.NaN)).toThrow(/invalid size/);
    expect(() => parseSize('')).toThrow(/invalid size/);
  });
});

describe('formatBytes', () => {
  it('prints three significant digits with KB/MB/GB (1024)', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1 KB');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(12.3 * 1024 * 1024)).toBe('12.3 MB');
    expect(formatBytes(1.02 * 1024 ** 3)).toBe('1.02 GB');
    expect(formatBytes(150 * 1024 ** 3)).toBe('150 GB');
    expect(formatBytes(1024 ** 4)).toBe('1 TB');
    expect(formatBytes(1024 * 1024 - 1)).toBe('1 MB');
  });
});

describe('formatDate / parseDate', () => {
  it('formats YYYY/MM/DD HH:mm:ss in local time', () => {
    const d = new Date(2024, 0, 5, 7, 8, 9);
    expect(formatDate(d)).toBe('2024/01/05 07:08:09');
    expect(formatDate(d.getTime())).toBe('2024/01/05 07:08:09');
    expect(formatDate(new Date(2024, 11, 31, 23, 59, 59))).toBe('2024/12/31 23:59:59');
    expect(() => formatDate('nope')).toThrow(/invalid date/);
  });
  it('parses config dates as local midnight or local time', () => {
    expect(parseDate('2020-01-31')).toBe(new Date(2020, 0, 31).getTime());
    expect(parseDate('2020/1/31')).toBe(new Date(2020, 0, 31).getTime());
    expect(parseDate('2020-01-31 13:45')).toBe(new Date(2020, 0, 31, 13, 45).getTime());
    expect(parseDate('2020-01-31T13:45:10Z')).toBe(Date.UTC(2020, 0, 31, 13, 45, 10));
    expect(() => parseDate('2020-02-30')).toThrow(/no such day/);
    expect(() => parseDate('yesterday')).toThrow(/invalid date "yesterday"/);
  });
});
