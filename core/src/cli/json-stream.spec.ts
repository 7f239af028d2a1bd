import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { JsonListDocument } from './json-stream.js';
import { CliOutput } from './output.js';

/** A CliOutput over an in-memory stream; what was written, and how much of it before `finish`. */
function capture() {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (d: Buffer) => (text += d.toString('utf8')));
  const out = new CliOutput(true, stdout as unknown as NodeJS.WriteStream, new PassThrough() as unknown as NodeJS.WriteStream);
  return { out, text: () => text };
}

const item = (i: number) => ({ path: `src/d${i % 7}/f${i}.txt`, status: i % 5 ? 'restored' : 'failed', size: i * 3, note: i % 11 ? undefined : 'a "quoted"\nline' });
const run = { id: 'r1', status: 'completed', counts: { restored: 1, failed: 0 } };

describe('a --json document with a long list (JsonListDocument)', () => {
  it('up to the held count: the usual document, byte for byte (run first)', async () => {
    for (const n of [0, 1, 3, 50]) {
      const { out, text } = capture();
      const doc = new JsonListDocument(out, 'files', 50);
      const items = Array.from({ length: n }, (_, i) => item(i));
      items.forEach((it) => doc.add(it));
      expect(text()).toBe(''); // held
      doc.finish({ run });
      await new Promise((r) => setImmediate(r));
      expect(text()).toBe(JSON.stringify({ run, files: items }, null, 2) + '\n');
    }
  });

  it('past it: the items go out as they come, and the whole is the same document with the list first', async () => {
    for (const n of [51, 52, 5000]) {
      const { out, text } = capture();
      const doc = new JsonListDocument(out, 'files', 50);
      const items = Array.from({ length: n }, (_, i) => item(i));
      items.forEach((it) => doc.add(it));
      await new Promise((r) => setImmediate(r));
      const before = text().length;
      if (n === 5000) expect(before).toBeGreaterThan(100_000); // streamed, not held to the end
      doc.finish({ run, extra: [1, { a: 'b' }] });
      await new Promise((r) => setImmediate(r));
      expect(text()).toBe(JSON.stringify({ files: items, run, extra: [1, { a: 'b' }] }, null, 2) + '\n');
      expect(JSON.parse(text())).toEqual(JSON.parse(JSON.stringify({ run, files: items, extra: [1, { a: 'b' }] })));
    }
  });
});
