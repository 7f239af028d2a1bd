import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressEvent, progressText, restoreProgress } from './restore-progress.js';

describe('restore progress', () => {
  it('an event: rate from the elapsed time, ETA from the bytes left, text for a person', () => {
    const e = progressEvent({ filesDone: 1204, filesTotal: 12_000, bytesDone: 200 * 2 ** 20, bytesTotal: 1000 * 2 ** 20, failed: 2 }, 2000);
    expect(e).toMatchObject({ event: 'restore-progress', rate: 100 * 2 ** 20, eta: 8, elapsed: 2, done: false });
    expect(progressText(e)).toBe('1,204/12,000 files | 200 MB of 1000 MB | 100 MB/s | ETA 8 s | 2 failed');
    expect(progressText(progressEvent({ filesDone: 3, bytesDone: 10, failed: 0 }, 1000))).toBe('3 files | 10 B | 10 B/s | counting…');
  });

  it('on a terminal: a bar on that stream with files, bytes, rate and ETA; with --json: lines, the last marked done', async () => {
    let drawn = '';
    const tty = Object.assign(new Writable({ write: (c, _e, cb) => ((drawn += String(c)), cb()) }), { isTTY: true, columns: 160, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    const lines: string[] = [];
    const p = (await restoreProgress({ job: 'docs', bar: tty, json: (l) => lines.push(l) }))!;
    p.update({ filesDone: 0, filesTotal: 4, bytesDone: 0, bytesTotal: 4096, failed: 0 });
    p.update({ filesDone: 4, filesTotal: 4, bytesDone: 4096, bytesTotal: 4096, failed: 0 });
    p.stop();
    expect(drawn).toContain('docs [');
    expect(drawn).toMatch(/0\/4 files \| 0 B of 4 KB \| 0 B\/s \| (ETA \d+ s|counting…)/);
    expect(lines.map((l) => JSON.parse(l)).at(-1)).toMatchObject({ filesDone: 4, filesTotal: 4, bytesDone: 4096, eta: 0, done: true });
    expect(await restoreProgress({ job: 'docs' })).toBeUndefined();
  });
});
