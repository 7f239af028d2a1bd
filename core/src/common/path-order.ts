/**
 * The one order of paths in hokan: component-wise by UTF-8 bytes. The scanner walks in it,
 * LevelDB stores the index in it (`\x00` between components), and the engine merges the two.
 *
 * Equivalent to comparing `rel.split('/').join('\0')` as UTF-8 bytes, without allocating: '/'
 * (and '\0', so an index key's tail compares equal to the path it encodes) sorts below every
 * other character, and UTF-16 surrogates (code points above U+FFFF) are lifted above
 * U+E000–U+FFFF so the order is by code point, which is UTF-8 byte order.
 */
export function compareRel(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 47 || x === 0) x = -1;
    if (y === 47 || y === 0) y = -1;
    // One side '/', the other '\0': the same separator, so the paths are equal so far — go on.
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}
