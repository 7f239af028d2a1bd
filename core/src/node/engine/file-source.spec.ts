import { appendFileSync, mkdtempSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { patternBytes, readAll, sha256Hex } from '../../testing/sources.js';
import { ChangedDuringReadError, LocalFileSource } from './file-source.js';

const dir = mkdtempSync(join(tmpdir(), 'hokan-file-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A file on disk and the entry a scan would have made of it. */
function file(name: string, data: Buffer) {
  const abs = join(dir, name);
  writeFileSync(abs, data);
  const st = statSync(abs);
  return { abs, size: st.size, mtimeMs: st.mtimeMs };
}

/** Everything a pull reader yields, read through a buffer of `bufSize` bytes (reused, as a target does). */
async function pull(src: LocalFileSource, bufSize: number, start = 0, between?: () => void): Promise<Buffer> {
  const r = await src.reader(start);
  const buf = Buffer.alloc(bufSize);
  const parts: Buffer[] = [];
  try {
    for (;;) {
      const n = await r.read(buf);
      if (n === 0) return Buffer.concat(parts);
      parts.push(Buffer.from(buf.subarray(0, n)));
      between?.();
    }
  } finally {
    await r.close();
  }
}

describe('LocalFileSource', () => {
  for (const size of [0, 1, 4096, 1_000_003]) {
    it(`a ${size}-byte file: stream and pull reader yield its bytes and the same SHA-256`, async () => {
      const data = patternBytes(size, size + 3);
      const entry = file(`f${size}.bin`, data);
      const streamed = new LocalFileSource(entry);
      expect((await readAll(streamed.open())).equals(data)).toBe(true);
      expect(streamed.sha256).toBe(sha256Hex(data));
      for (const bufSize of [1, 4093, 1024 * 1024]) {
        if (bufSize === 1 && size > 5000) continue; // a byte a read: fine, but slow for a megabyte
        const pulled = new LocalFileSource(entry);
        expect((await pull(pulled, bufSize)).equals(data), `buffer of ${bufSize}`).toBe(true);
        expect(pulled.sha256).toBe(sha256Hex(data));
        expect(pulled.bytesRead).toBe(size);
        expect(pulled.changed).toBe(false);
      }
    });
  }

  it('a pull from an offset yields the rest and no hash (a resumed upload)', async () => {
    const data = patternBytes(10_000, 1);
    const src = new LocalFileSource(file('offset.bin', data));
    expect((await pull(src, 3000, 6000)).equals(data.subarray(6000))).toBe(true);
    expect(src.sha256).toBeUndefined();
  });

  const changes: Array<[string, (abs: string) => void]> = [
    ['grows', (abs) => appendFileSync(abs, 'more')],
    ['shrinks', (abs) => truncateSync(abs, 100)],
    ['gets a new mtime', (abs) => utimesSync(abs, new Date(), new Date(Date.now() + 5000))],
  ];
  for (const [what, change] of changes) {
    it(`a file that ${what} while it is pulled fails with ChangedDuringReadError and no hash`, async () => {
      const data = patternBytes(200_000, 2);
      const entry = file(`change-${what.replace(/ /g, '-')}.bin`, data);
      const src = new LocalFileSource(entry);
      let once = false;
      const err = await pull(src, 64 * 1024, 0, () => {
        if (!once) change(entry.abs);
        once = true;
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChangedDuringReadError);
      expect((err as Error).message).toContain('changed while it was read');
      expect(src.changed).toBe(true);
      expect(src.sha256).toBeUndefined();
    });
  }

  it('a file that vanished before the pull fails with ENOENT (the engine records it as vanished)', async () => {
    const entry = file('gone.bin', Buffer.from('x'));
    rmSync(entry.abs);
    await expect(new LocalFileSource(entry).reader()).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a reader refuses an empty buffer and reads after close', async () => {
    const src = new LocalFileSource(file('misuse.bin', Buffer.from('abc')));
    const r = await src.reader();
    await expect(r.read(Buffer.alloc(0))).rejects.toThrow(RangeError);
    await r.close();
    await r.close(); // twice is fine
    await expect(r.read(Buffer.alloc(10))).rejects.toThrow(/after close/);
  });
});
