import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeLines } from './manifests.js';

const dir = mkdtempSync(join(tmpdir(), 'hokan-manifests-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function* gen(lines: string[]): AsyncGenerator<string> {
  yield* lines;
}

describe('writeLines (snapshot files through one reused buffer)', () => {
  it('writes every line exactly, across buffer boundaries, with multi-byte text and lines bigger than the buffer', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 30_000; i++) lines.push(JSON.stringify({ p: `写真/旅行 ${i}/IMG_${i}.jpg`, n: i }) + '\n');
    lines.splice(12_345, 0, JSON.stringify({ p: 'huge', old: 'é'.repeat(700_000) }) + '\n'); // > 1 MiB of UTF-8
    lines.push(''); // an empty line changes nothing
    const file = join(dir, 'snap.jsonl');
    await writeLines(file, gen(lines));
    const text = readFileSync(file, 'utf8');
    expect(text.length).toBe(lines.join('').length);
    expect(text).toBe(lines.join(''));
  });

  it('an empty iterable makes an empty file', async () => {
    const file = join(dir, 'empty.jsonl');
    await writeLines(file, gen([]));
    expect(readFileSync(file)).toHaveLength(0);
  });
});
