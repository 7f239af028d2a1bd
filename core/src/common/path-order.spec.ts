import { describe, expect, it } from 'vitest';
import { compareRel } from './path-order.js';

describe('compareRel', () => {
  it('orders paths exactly as their \\0-joined UTF-8 bytes (the index order)', () => {
    const paths = ['a', 'a b', 'a-b', 'a.b', 'a/b', 'a/b/c', 'a b/c', 'B', 'é', 'e\u0301', '日本/写真', '日本語', 'z', '😀', '\uff21', 'a/😀', 'a/\uff21', ''];
    const key = (p: string) => Buffer.from(p.split('/').join('\0'));
    for (const x of paths) for (const y of paths) expect(Math.sign(compareRel(x, y)), `${x} vs ${y}`).toBe(Math.sign(Buffer.compare(key(x), key(y))));
  });
});
