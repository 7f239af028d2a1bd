import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diskSpelling, folderInside, ignoresCase } from './folder-inside.js';

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
