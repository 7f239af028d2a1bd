import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareRel } from './path-order.js';

/** The plain reference: split on '/' (or the index's '\0'), compare each component's UTF-8 bytes, shorter list first. */
function reference(a: string, b: string): number {
  const xs = a.split(/[/\0]/);
  const ys = b.split(/[/\0]/);
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const c = Buffer.compare(Buffer.from(xs[i]!, 'utf8'), Buffer.from(ys[i]!, 'utf8'));
    if (c !== 0) return c;
  }
  return Math.sign(xs.length - ys.length);
}

// Characters that matter to the order: separators, characters just above and below them, ASCII,
// Latin with and without combining marks (NFC/NFD), CJK, U+E000–U+FFFF and surrogate pairs.
const char = fc.constantFrom('/', '\0', '\u0001', ' ', '!', '-', '.', '0', 'a', 'b', 'z', 'A', '~', '\u007f', 'é', 'e\u0301', '\u00ff', '日', '本', '写', '\ue000', '\uff21', '\uffff', '😀', '𠮷', '\u{10ffff}');
const path = fc.array(char, { maxLength: 8 }).map((cs) => cs.join(''));
/** The same path in both forms: '/' between components, or '\0' as the index keys hold it. */
const bothForms = (p: string) => [p, p.replaceAll('/', '\0')];

describe('compareRel', () => {
  it('orders paths exactly as their \\0-joined UTF-8 bytes (the index order)', () => {
    const paths = ['a', 'a b', 'a-b', 'a.b', 'a/b', 'a/b/c', 'a b/c', 'B', 'é', 'e\u0301', '日本/写真', '日本語', 'z', '😀', '\uff21', 'a/😀', 'a/\uff21', ''];
    const key = (p: string) => Buffer.from(p.split('/').join('\0'));
    for (const x of paths) for (const y of paths) expect(Math.sign(compareRel(x, y)), `${x} vs ${y}`).toBe(Math.sign(Buffer.compare(key(x), key(y))));
  });

  it('a path and its index key with "\\0" compare equal, and later components still count (issue 14: many/f000 vs many\\0f005 was "equal")', () => {
    expect(compareRel('many/f000.txt', 'many\0f005.txt')).toBeLessThan(0);
    expect(compareRel('many\0f005.txt', 'many/f000.txt')).toBeGreaterThan(0);
    expect(compareRel('many/f005.txt', 'many\0f005.txt')).toBe(0);
    expect(compareRel('a/b/c', 'a\0b\0d')).toBeLessThan(0);
  });

  it('agrees with the plain reference over generated paths in both forms (surrogates, NFC/NFD, empty components)', () => {
    fc.assert(
      fc.property(path, path, fc.boolean(), fc.boolean(), (a, b, ka, kb) => {
        const x = bothForms(a)[ka ? 1 : 0]!;
        const y = bothForms(b)[kb ? 1 : 0]!;
        expect(Math.sign(compareRel(x, y))).toBe(reference(x, y));
        expect(Math.sign(compareRel(y, x))).toBe(-reference(x, y) || 0);
      }),
      { numRuns: 5000 },
    );
  });

  it('sorting with it is a total order: sorted lists agree with the reference whatever the input order', () => {
    fc.assert(
      fc.property(fc.array(path, { maxLength: 30 }), (ps) => {
        const sorted = [...ps].sort(compareRel);
        for (let i = 1; i < sorted.length; i++) expect(reference(sorted[i - 1]!, sorted[i]!)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 500 },
    );
  });
});
