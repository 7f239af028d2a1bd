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

/** Everything the stream of `open(start)` yields; `between` runs after each chunk (to change the file mid-read). */
async function read(src: LocalFileSource, start = 0, between?: () => void): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src.open(start)) {
    parts.push(c as Buffer);
    between?.();
  }
  return Buffer.concat(parts);
}

describe('LocalFileSource', () => {
  for (const size of [0, 1, 4096, 3_000_003]) {
    it(`a ${size}-byte file: its bytes and their SHA-256, as a local file body too`, async () => {
      const data = patternBytes(size, size + 3);
      const entry = file(`f${size}.bin`, data);
      const src = new LocalFileSource(entry);
      expect((await read(src)).equals(data)).toBe(true);
      expect(src.sha256).toBe(sha256Hex(data));
      expect(src.bytesRead).toBe(size);
      expect(src.localFile).toMatchObject({ path: entry.abs, size, mtimeMs: entry.mtimeMs });
      // A target that copies the file itself reports the hash through the body.
      const copied = new LocalFileSource(entry);
      copied.localFile.copied(sha256Hex(data));
      expect(copied.sha256).toBe(sha256Hex(data));
      expect(copied.localFile.changed()).toBeInstanceOf(ChangedDuringReadError);
      expect(copied.changed).toBe(true);
    });
  }

  it('a read from an offset yields the rest and no hash (a resumed upload)', async () => {
    const data = patternBytes(10_000, 1);
    const src = new LocalFileSource(file('offset.bin', data));
    expect((await read(src, 6000)).equals(data.subarray(6000))).toBe(true);
    expect(src.sha256).toBeUndefined();
  });

  const changes: Array<[string, (abs: string) => void]> = [
    ['grows', (abs) => appendFileSync(abs, 'more')],
    ['shrinks', (abs) => truncateSync(abs, 100)],
    ['gets a new mtime', (abs) => utimesSync(abs, new Date(), new Date(Date.now() + 5000))],
  ];
  for (const [what, change] of changes) {
    it(`a file that ${what} while it is read fails with ChangedDuringReadError and no hash`, async () => {
      const data = patternBytes(3_000_000, 2); // several chunks
      const entry = file(`change-${what.replace(/ /g, '-')}.bin`, data);
      const src = new LocalFileSource(entry);
      let once = false;
      const err = await read(src, 0, () => {
        if (!once) change(entry.abs);
        once = true;
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChangedDuringReadError);
      expect((err as Error).message).toContain('changed while it was read');
      expect(src.changed).toBe(true);
      expect(src.sha256).toBeUndefined();
    });
  }

  it('a file that vanished before the read fails with ENOENT (the engine records it as changed-during-backup)', async () => {
    const entry = file('gone.bin', Buffer.from('x'));
    rmSync(entry.abs);
    await expect(read(new LocalFileSource(entry))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
