import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diskSpelling, folderInside, foldName, ignoresCase, normName } from './folder-inside.js';
import { seededRandom } from '../../testing/seeded-random.js';

const NFC = 'caf\u00e9';
const NFD = NFC.normalize('NFD');

describe('folderInside: one folder in another by the platform\'s rules', () => {
  it('Windows ignores case: drive letters, folder names and UNC shares alike', () => {
    expect(folderInside('C:\\Users\\Taro\\Documents', 'c:\\users\\taro\\documents', 'win32')).toBe('');
    expect(folderInside('C:\\Users\\Taro\\Documents', 'c:\\users\\taro\\documents\\Work\\2026', 'win32')).toBe('Work/2026');
    expect(folderInside('c:\\users\\taro', 'C:\\Users\\Taro\\OneDrive\\ドキュメント\\', 'win32')).toBe('OneDrive/ドキュメント');
    expect(folderInside('\\\\NAS\\Share\\photos', '\\\\nas\\share\\Photos\\2026', 'win32')).toBe('2026');
    expect(folderInside('C:\\', 'c:\\Users', 'win32')).toBe('Users');
    // Not inside: another drive, a sibling that shares a prefix, the outer folder's parent.
    expect(folderInside('C:\\Users\\Taro', 'D:\\Users\\Taro', 'win32')).toBeNull();
    expect(folderInside('C:\\Users\\Taro\\Doc', 'C:\\Users\\Taro\\Documents', 'win32')).toBeNull();
    expect(folderInside('C:\\Users\\Taro\\Documents', 'C:\\Users\\Taro', 'win32')).toBeNull();
    // NTFS does not fold Unicode normalization.
    expect(folderInside(`C:\\${NFC}`, `C:\\${NFD}`, 'win32')).toBeNull();
  });

  it('macOS ignores case and Unicode normalization (APFS)', () => {
    expect(folderInside('/Users/taro/Documents', '/Users/Taro/documents', 'darwin')).toBe('');
    expect(folderInside('/Users/taro/Documents', '/users/TARO/documents/Work/', 'darwin')).toBe('Work');
    expect(folderInside(`/Users/taro/${NFC}`, `/Users/taro/${NFD}/x`, 'darwin')).toBe('x');
    expect(folderInside('/Users/taro/Documents', '/Users/taro/Documents2', 'darwin')).toBeNull();
  });

  it('Linux keeps case: folders that differ only in case are two folders', () => {
    expect(folderInside('/home/taro/Documents', '/home/taro/documents', 'linux')).toBeNull();
    expect(folderInside('/home/taro/Documents', '/home/Taro/Documents/Work', 'linux')).toBeNull();
    expect(folderInside('/home/taro/Documents', '/home/taro/Documents/Work', 'linux')).toBe('Work');
    expect(folderInside('/home/taro', '/home/taro/', 'linux')).toBe('');
    expect(folderInside('/', '/home', 'linux')).toBe('home');
    expect([ignoresCase('linux'), ignoresCase('darwin'), ignoresCase('win32')]).toEqual([false, true, true]);
  });
});

describe('normName and foldName: names as the platform compares them', () => {
  it('macOS: NFC (skipped for names below U+0300, which NFC never changes) and case; Windows case only; Linux as written', () => {
    expect(normName('darwin')(NFD)).toBe(NFC);
    expect(foldName('darwin')(`X${NFD.toUpperCase()}`)).toBe(`x${NFC}`);
    expect(normName('win32')(NFD)).toBe(NFD);
    expect(foldName('win32')('THUMBS.DB')).toBe('thumbs.db');
    expect(foldName('linux')('THUMBS.DB')).toBe('THUMBS.DB');
    // The shortcut agrees with normalize('NFC'): every code point below U+0300 alone, and drawn
    // strings of them mixed with combining marks, Hangul jamo and CJK.
    const norm = normName('darwin');
    for (let c = 0; c < 0x300; c++) expect(norm(String.fromCharCode(c))).toBe(String.fromCharCode(c).normalize('NFC'));
    const rnd = seededRandom(42);
    const pool = [[0x20, 0x2ff], [0x300, 0x36f], [0x1100, 0x1175], [0x3040, 0x30ff], [0x212b, 0x212b], [0x4e00, 0x4e10]] as const;
    for (let i = 0; i < 5000; i++) {
      let s = '';
      for (let k = 0; k < 1 + Math.floor(rnd() * 6); k++) {
        const [lo, hi] = pool[Math.floor(rnd() * (rnd() < 0.7 ? 1 : pool.length))]!;
        s += String.fromCharCode(lo + Math.floor(rnd() * (hi - lo + 1)));
      }
      expect(norm(s)).toBe(s.normalize('NFC'));
    }
  });
});

describe('diskSpelling: a folder under a root spelled as the disk spells it', () => {
  const root = mkdtempSync(join(tmpdir(), 'hokan-spelling-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  for (const d of ['Documents/Work/Sub', 'Both/Work', 'Both/work']) mkdirSync(join(root, d), { recursive: true });

  it('where case is ignored, each name takes the spelling the folder holds; a missing one stays as written', () => {
    expect(diskSpelling(root, 'documents/WORK/sub', 'darwin')).toBe('Documents/Work/Sub');
    expect(diskSpelling(root, 'documents/work/new/deeper', 'win32')).toBe('Documents/Work/new/deeper');
    expect(diskSpelling(root, '', 'darwin')).toBe('');
  });

  it('a name the folder holds as written wins; one that matches several names (a case-sensitive volume) stays as written', () => {
    expect(diskSpelling(root, 'both/work', 'darwin')).toBe('Both/work');
    expect(diskSpelling(root, 'both/Work', 'darwin')).toBe('Both/Work');
    expect(diskSpelling(root, 'both/WORK', 'darwin')).toBe('Both/WORK');
  });

  it('on Linux nothing is respelled', () => {
    expect(diskSpelling(root, 'documents/work', 'linux')).toBe('documents/work');
  });
});
