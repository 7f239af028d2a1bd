import { describe, expect, it } from 'vitest';
import { userFolders } from '../src/user-folders.js';
import { decodeRegOutput, parseRegQuery } from '../src/windows-registry.js';
import { REG_QUERY_ONEDRIVE_JA, WINDOWS_ENV } from './fake-windows.js';

/**
 * The registry read that runs only on Windows (`reg query` of User Shell Folders) cannot run here:
 * its two pure halves can. reg.exe's bytes → text (the console's code page), and text → values.
 */

/** reg.exe's output on a console in Shift_JIS (CP932), the default of Japanese Windows. */
const sjis = (parts: (string | number[])[]): Uint8Array => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'ascii') : Buffer.from(p))));
const SJIS = {
  desktop: [0x83, 0x66, 0x83, 0x58, 0x83, 0x4e, 0x83, 0x67, 0x83, 0x62, 0x83, 0x76], // デスクトップ
  documents: [0x83, 0x68, 0x83, 0x4c, 0x83, 0x85, 0x83, 0x81, 0x83, 0x93, 0x83, 0x67], // ドキュメント
  pictures: [0x89, 0xe6, 0x91, 0x9c], // 画像
  company: [0x8a, 0x94, 0x8e, 0xae, 0x89, 0xef, 0x8e, 0xd0, 0x83, 0x54, 0x83, 0x93, 0x83, 0x76, 0x83, 0x8b], // 株式会社サンプル
};

describe('parseRegQuery: `reg query` of User Shell Folders', () => {
  it('every REG_SZ and REG_EXPAND_SZ value of a Japanese machine with OneDrive folder backup (CRLF, names with spaces, GUID names)', () => {
    expect(parseRegQuery(REG_QUERY_ONEDRIVE_JA)).toEqual({
      AppData: '%USERPROFILE%\\AppData\\Roaming',
      Cache: '%USERPROFILE%\\AppData\\Local\\Microsoft\\Windows\\INetCache',
      Cookies: '%USERPROFILE%\\AppData\\Local\\Microsoft\\Windows\\INetCookies',
      Desktop: 'C:\\Users\\taro\\OneDrive\\デスクトップ',
      Favorites: '%USERPROFILE%\\Favorites',
      History: '%USERPROFILE%\\AppData\\Local\\Microsoft\\Windows\\History',
      'Local AppData': '%USERPROFILE%\\AppData\\Local',
      'My Music': '%USERPROFILE%\\Music',
      'My Pictures': '%OneDrive%\\画像',
      'My Video': 'D:\\Videos',
      NetHood: '%USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Network Shortcuts',
      Personal: 'C:\\Users\\taro\\OneDrive\\ドキュメント',
      PrintHood: '%USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Printer Shortcuts',
      Programs: '%USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs',
      Recent: '%USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Recent',
      SendTo: '%USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\SendTo',
      'Start Menu': '%USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu',
      Startup: '%USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup',
      Templates: '%USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Templates',
      '{374DE290-123F-4565-9164-39C4925E467B}': '%USERPROFILE%\\Downloads',
      '{F42EE2D3-909F-4907-8871-4C22FC0BF756}': 'C:\\Users\\taro\\OneDrive\\ドキュメント',
      '{0DDD015D-B06C-45D5-8C4C-F59713854639}': '%OneDrive%\\画像',
      '{754AC886-DF64-4CBA-86B5-F7FBF4FBCEF5}': 'C:\\Users\\taro\\OneDrive\\デスクトップ',
      '{7D83EE9B-2244-4E70-B1F5-5393042AF1E4}': '%USERPROFILE%\\Downloads',
      '{A0C69A99-21C8-4671-8703-7934162FCF1D}': '%USERPROFILE%\\Music',
      '{35286A68-3C57-41A1-BBB1-0EAE73D76C95}': 'D:\\Videos',
    });
  });

  it('other types and the key line are not values; an empty string value is empty; data keeps its inner spaces', () => {
    const text = [
      '',
      'HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders',
      '    (既定)    REG_SZ    ',
      '    Personal    REG_EXPAND_SZ    C:\\Users\\taro\\OneDrive - 株式会社サンプル\\Documents  ',
      '    SomeFlag    REG_DWORD    0x1',
      '    Blob    REG_BINARY    0100FF',
      '    Paths    REG_MULTI_SZ    C:\\a\\0C:\\b',
      '',
    ].join('\r\n');
    expect(parseRegQuery(text)).toEqual({ '(既定)': '', Personal: 'C:\\Users\\taro\\OneDrive - 株式会社サンプル\\Documents' });
    // LF only (output that passed through a tool) reads the same.
    expect(parseRegQuery(REG_QUERY_ONEDRIVE_JA.replace(/\r\n/g, '\n'))).toEqual(parseRegQuery(REG_QUERY_ONEDRIVE_JA));
  });
});

describe('decodeRegOutput: the console code page', () => {
  it('Shift_JIS output (Japanese Windows) is read as Shift_JIS: the Japanese folder names survive', async () => {
    const bytes = sjis([
      '\r\nHKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders\r\n',
      '    Desktop    REG_EXPAND_SZ    %USERPROFILE%\\OneDrive - ',
      SJIS.company,
      '\\',
      SJIS.desktop,
      '\r\n    Personal    REG_EXPAND_SZ    %OneDriveCommercial%\\',
      SJIS.documents,
      '\r\n    My Pictures    REG_EXPAND_SZ    %OneDriveCommercial%\\',
      SJIS.pictures,
      '\r\n    {374DE290-123F-4565-9164-39C4925E467B}    REG_EXPAND_SZ    %USERPROFILE%\\Downloads\r\n\r\n',
    ]);
    const values = parseRegQuery(decodeRegOutput(bytes));
    expect(values).toEqual({
      Desktop: '%USERPROFILE%\\OneDrive - 株式会社サンプル\\デスクトップ',
      Personal: '%OneDriveCommercial%\\ドキュメント',
      'My Pictures': '%OneDriveCommercial%\\画像',
      '{374DE290-123F-4565-9164-39C4925E467B}': '%USERPROFILE%\\Downloads',
    });
    // A work account's OneDrive: its own variable.
    const f = await userFolders({ platform: 'win32', home: 'C:\\Users\\taro', env: { ...WINDOWS_ENV, OneDriveCommercial: 'C:\\Users\\taro\\OneDrive - 株式会社サンプル' }, shellFolders: values });
    expect([f.desktop, f.documents, f.pictures, f.downloads]).toEqual([
      'C:\\Users\\taro\\OneDrive - 株式会社サンプル\\デスクトップ',
      'C:\\Users\\taro\\OneDrive - 株式会社サンプル\\ドキュメント',
      'C:\\Users\\taro\\OneDrive - 株式会社サンプル\\画像',
      'C:\\Users\\taro\\Downloads',
    ]);
  });

  it('UTF-8 output (chcp 65001) is read as UTF-8', () => {
    expect(decodeRegOutput(new TextEncoder().encode(REG_QUERY_ONEDRIVE_JA))).toBe(REG_QUERY_ONEDRIVE_JA);
  });
});

describe('User Shell Folders values → Known Folders', () => {
  it('the GUID-named value stands in when the legacy name is missing (Desktop {754AC886-…}, Documents {F42EE2D3-…}, Downloads)', async () => {
    const only = (names: string[]) => Object.fromEntries(Object.entries(parseRegQuery(REG_QUERY_ONEDRIVE_JA)).filter(([k]) => names.includes(k)));
    const f = await userFolders({
      platform: 'win32',
      home: 'C:\\Users\\taro',
      env: WINDOWS_ENV,
      shellFolders: only(['{754AC886-DF64-4CBA-86B5-F7FBF4FBCEF5}', '{F42EE2D3-909F-4907-8871-4C22FC0BF756}', '{7D83EE9B-2244-4E70-B1F5-5393042AF1E4}']),
    });
    expect([f.desktop, f.documents, f.downloads, f.pictures]).toEqual([
      'C:\\Users\\taro\\OneDrive\\デスクトップ',
      'C:\\Users\\taro\\OneDrive\\ドキュメント',
      'C:\\Users\\taro\\Downloads',
      'C:\\Users\\taro\\Pictures', // no value: the default under the profile
    ]);
  });

  it('a value naming an unknown variable, or a relative path, is not taken: the default under the profile', async () => {
    const f = await userFolders({ platform: 'win32', home: 'C:\\Users\\taro', env: WINDOWS_ENV, shellFolders: { Personal: '%NoSuchVar%\\Documents', 'My Music': 'Music' } });
    expect([f.documents, f.music]).toEqual(['C:\\Users\\taro\\Documents', 'C:\\Users\\taro\\Music']);
  });
});
