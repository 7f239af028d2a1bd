/**
 * A fake Windows machine on this (Linux) file system, for walking the presets' Windows layout.
 *
 * The resolver is not faked: it builds real Windows paths (`path.win32`) from a home, an
 * environment and the registry's User Shell Folders, here the text `reg query` prints on a
 * Japanese Windows whose Desktop, Documents and Pictures OneDrive backs up. The one seam is
 * `onto()`: it turns each resolved Windows folder into the real folder standing for it here — each
 * drive is a folder (`C:\Users\taro` is `<root>/C/Users/taro`) — and leaves everything else of the
 * resolution alone (include and exclude globs and extension lists are relative to a folder, the
 * same on both). The walk and the backup then read real files with the same code as anywhere.
 * Windows ignores case in paths; the fake spells every folder exactly as the resolver does.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import type { PresetResolution } from '@hokan/core';
import type { FolderInput } from '../src/user-folders.js';
import { parseRegQuery } from '../src/windows-registry.js';
import { DOCUMENTS } from './fake-home.js';

/**
 * `reg query "HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\User Shell Folders"` on a
 * Japanese Windows 11 after OneDrive's "back up important PC folders" (Desktop, Documents and
 * Pictures move into OneDrive, written out in full), Videos moved to D: by hand (REG_SZ), Music and
 * Downloads where Windows put them. Written in reg.exe's format (4-space columns, CRLF, a blank
 * line before and after); not captured from a machine.
 */
export const REG_QUERY_ONEDRIVE_JA = [
  '',
  'HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders',
  '    AppData    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Roaming',
  '    Cache    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Local\\Microsoft\\Windows\\INetCache',
  '    Cookies    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Local\\Microsoft\\Windows\\INetCookies',
  '    Desktop    REG_EXPAND_SZ    C:\\Users\\taro\\OneDrive\\デスクトップ',
  '    Favorites    REG_EXPAND_SZ    %USERPROFILE%\\Favorites',
  '    History    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Local\\Microsoft\\Windows\\History',
  '    Local AppData    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Local',
  '    My Music    REG_EXPAND_SZ    %USERPROFILE%\\Music',
  '    My Pictures    REG_EXPAND_SZ    %OneDrive%\\画像',
  '    My Video    REG_SZ    D:\\Videos',
  '    NetHood    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Network Shortcuts',
  '    Personal    REG_EXPAND_SZ    C:\\Users\\taro\\OneDrive\\ドキュメント',
  '    PrintHood    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Printer Shortcuts',
  '    Programs    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs',
  '    Recent    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Recent',
  '    SendTo    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\SendTo',
  '    Start Menu    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu',
  '    Startup    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup',
  '    Templates    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Roaming\\Microsoft\\Windows\\Templates',
  '    {374DE290-123F-4565-9164-39C4925E467B}    REG_EXPAND_SZ    %USERPROFILE%\\Downloads',
  '    {F42EE2D3-909F-4907-8871-4C22FC0BF756}    REG_EXPAND_SZ    C:\\Users\\taro\\OneDrive\\ドキュメント',
  '    {0DDD015D-B06C-45D5-8C4C-F59713854639}    REG_EXPAND_SZ    %OneDrive%\\画像',
  '    {754AC886-DF64-4CBA-86B5-F7FBF4FBCEF5}    REG_EXPAND_SZ    C:\\Users\\taro\\OneDrive\\デスクトップ',
  '    {7D83EE9B-2244-4E70-B1F5-5393042AF1E4}    REG_EXPAND_SZ    %USERPROFILE%\\Downloads',
  '    {A0C69A99-21C8-4671-8703-7934162FCF1D}    REG_EXPAND_SZ    %USERPROFILE%\\Music',
  '    {35286A68-3C57-41A1-BBB1-0EAE73D76C95}    REG_SZ    D:\\Videos',
  '',
  '',
].join('\r\n');

/** The environment of taro's session (the variables the registry values and the resolver use). */
export const WINDOWS_ENV: NodeJS.ProcessEnv = {
  USERPROFILE: 'C:\\Users\\taro',
  HOMEDRIVE: 'C:',
  HOMEPATH: '\\Users\\taro',
  APPDATA: 'C:\\Users\\taro\\AppData\\Roaming',
  LOCALAPPDATA: 'C:\\Users\\taro\\AppData\\Local',
  OneDrive: 'C:\\Users\\taro\\OneDrive',
  OneDriveConsumer: 'C:\\Users\\taro\\OneDrive',
  ProgramData: 'C:\\ProgramData',
  SystemDrive: 'C:',
  TEMP: 'C:\\Users\\taro\\AppData\\Local\\Temp',
};

/** What the preset resolver is given on that machine. */
export const windowsInput = (): FolderInput => ({ platform: 'win32', home: 'C:\\Users\\taro', env: WINDOWS_ENV, shellFolders: parseRegQuery(REG_QUERY_ONEDRIVE_JA) });

export interface FakeWindows {
  /** The folder that stands for the machine: `<root>/C`, `<root>/D`. */
  root: string;
  /** A Windows path (`C:\…`, or `C:/…`) → the real path standing for it here. */
  local(winPath: string): string;
  /** A real path under `root` → the Windows path it stands for (`C:\Users\…`). */
  windows(localPath: string): string;
  /** The seam: a resolution's Windows folders → their real folders here; nothing else changes. */
  onto(res: PresetResolution): PresetResolution;
  cleanup(): void;
}

/**
 * Makes the machine: `files` maps Windows paths (written with `/` for reading's sake:
 * `C:/Users/taro/Music/song.mp3`) to their bytes; a list gives each file its own path as content.
 */
export function fakeWindows(files: string[] | Record<string, string | Uint8Array>): FakeWindows {
  const root = mkdtempSync(join(tmpdir(), 'hokan-presets-windows-'));
  const local = (winPath: string): string => {
    const m = /^([A-Za-z]):[\\/]*(.*)$/.exec(winPath);
    if (!m) throw new Error(`not a drive path: ${winPath}`);
    return join(root, m[1]!.toUpperCase(), ...m[2]!.split(/[\\/]+/).filter(Boolean));
  };
  const windows = (localPath: string): string => {
    const rel = relative(root, localPath);
    if (rel.startsWith('..')) throw new Error(`not on the fake machine: ${localPath}`);
    const [drive, ...rest] = rel.split(sep);
    return `${drive}:\\${rest.join('\\')}`;
  };
  const entries = Array.isArray(files) ? files.map((f) => [f, `${f}\n`] as const) : Object.entries(files);
  for (const [win, body] of entries) {
    const p = local(win);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, body);
  }
  const onto = (res: PresetResolution): PresetResolution => ({
    ...res,
    folders: res.folders.map((f) => (typeof f === 'string' ? local(f) : { ...f, path: local(f.path) })),
  });
  return { root, local, windows, onto, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

// ---- taro's machine ------------------------------------------------------------------------------

const P = 'C:/Users/taro';
const DESK = `${P}/OneDrive/デスクトップ`;
const DOCS = `${P}/OneDrive/ドキュメント`;
const PICS = `${P}/OneDrive/画像`;
const LOCAL = `${P}/AppData/Local`;
const ROAMING = `${P}/AppData/Roaming`;
const under = (dir: string, list: string[]) => list.map((f) => `${dir}/${f}`);

/** Files of many types where Windows and its applications keep them (Windows paths, `/`-separated). */
export const WINDOWS_FILES = [
  ...under(DESK, ['Microsoft Edge.lnk', 'お気に入り.url', 'SITE.URL', 'memo.txt', 'plan.DOCX', 'photo.jpg', 'ledger.kd18', '年賀状2027.fwb', 'desktop.ini']),
  // The Linux home's documents (fake-home.ts), and Outlook's data files where Outlook keeps them.
  ...under(DOCS, [
    ...DOCUMENTS,
    'Outlook Files/taro@example.jp.pst',
    'Outlook Files/archive.PST',
    'Outlook Files/readme.txt',
    'Outlook Files/~taro@example.jp.pst.tmp',
  ]),
  ...under(PICS, ['a.jpg', 'b.PNG', 'trip/c.heic', 'trip/Thumbs.db', 'desktop.ini', 'raw.tmp', 'Camera Roll/IMG_0001.JPG', 'Screenshots/スクリーンショット 2026-12-01 101010.png']),
  // The folders OneDrive moved away from: no longer the user's Desktop, Documents or Pictures.
  `${P}/Desktop/old.txt`,
  `${P}/Documents/old-local.docx`,
  `${P}/Pictures/old.jpg`,
  ...under(`${P}/Music`, ['song.mp3', 'album/track.flac', 'album/desktop.ini']),
  ...under('D:/Videos', ['clip.mp4', 'movie.MKV', 'ehthumbs_vista.db']),
  ...under(`${P}/Videos`, ['not-the-videos-folder.mp4']),
  ...under(`${P}/Downloads`, ['setup.exe', 'big.iso.crdownload']),
  // Accounting and New-Year-card software keep data outside the profile.
  ...under('C:/ProgramData', ['Yayoi/会計データ/2026.KD18', 'OBC/db/company.mdf', 'Fudemame/住所録.fwa', 'Microsoft/Windows/Start Menu/Programs/会計.lnk', 'App/cache.tmp']),
  ...under('C:/OBCWIN/DATA', ['2026.ldf', 'readme.txt']),
  ...under('C:/JUST/Hagaki', ['住所録.jsr', 'app.exe']),
  // Mail: Thunderbird, Outlook's data files, the Windows Mail store.
  ...under(`${ROAMING}/Thunderbird/Profiles/abc.default-release`, ['prefs.js', 'Mail/Local Folders/Inbox', 'ImapMail/imap.example.jp/INBOX.msf', 'parent.lock', 'cache2/entries/0A1B']),
  ...under(`${LOCAL}/Microsoft/Outlook`, ['taro@example.jp.ost', 'archive.pst', 'Offline Address Books/ja-JP/udetails.oab', 'RoamCache/Stream_Autocomplete_0_ABC.dat', '~taro@example.jp.ost.tmp']),
  ...under(`${LOCAL}/Packages/microsoft.windowscommunicationsapps_8wekyb3d8bbwe/LocalState`, ['LiveComm/0123abcd/120712-0049/store.vol', 'Indexed/LiveComm/0123abcd/120712-0049/Mail/0001.eml', 'Cache/cached.bin']),
  // Bookmarks: every browser profile under AppData, and Internet Explorer's Favorites.
  ...under(`${LOCAL}/Google/Chrome/User Data`, ['Default/Bookmarks', 'Default/Bookmarks.bak', 'Default/History', 'Default/Cache/Cache_Data/data_0', 'Profile 1/Bookmarks', 'Local State']),
  ...under(`${LOCAL}/Microsoft/Edge/User Data`, ['Default/Bookmarks', 'Default/Favicons', 'Default/Code Cache/js/index']),
  ...under(`${LOCAL}/BraveSoftware/Brave-Browser/User Data`, ['Default/Bookmarks', 'Default/Preferences']),
  ...under(`${LOCAL}/Chromium/User Data`, ['Default/Bookmarks']),
  ...under(`${ROAMING}/Opera Software/Opera Stable`, ['Default/Bookmarks', 'Bookmarks.bak', 'Default/Cache/Cache_Data/f_000001']),
  ...under(`${ROAMING}/Mozilla/Firefox/Profiles/xyz.default-release`, ['places.sqlite', 'favicons.sqlite', 'cookies.sqlite', 'bookmarkbackups/bookmarks-2026-12-01_42_abc.jsonlz4', 'parent.lock']),
  ...under(`${LOCAL}/Mozilla/Firefox/Profiles/xyz.default-release`, ['cache2/entries/FF00']),
  ...under(`${P}/Favorites`, ['Links/Bing.url', 'ニュース.url', 'desktop.ini']),
];

/** What each preset selects on that machine, exactly (Windows paths, `/`-separated, sorted). */
export const WINDOWS_SELECTS: Record<string, string[]> = {
  documents: under(DOCS, ['books/manual.PDF', 'books/novel.epub', 'budget.xlsb', 'cards/list.fgl', 'cards/nenga.FWA', 'notes.txt', 'Outlook Files/archive.PST', 'Outlook Files/readme.txt', 'Outlook Files/taro@example.jp.pst', 'report.docx', 'scan.jpg', 'tax/2025.KD18', 'tax/old/yayoi.hb11', 'tool.exe']),
  desktop: under(DESK, ['ledger.kd18', 'memo.txt', 'photo.jpg', 'plan.DOCX', '年賀状2027.fwb']),
  pictures: under(PICS, ['a.jpg', 'b.PNG', 'Camera Roll/IMG_0001.JPG', 'Screenshots/スクリーンショット 2026-12-01 101010.png', 'trip/c.heic']),
  music: under(`${P}/Music`, ['album/track.flac', 'song.mp3']),
  videos: under('D:/Videos', ['clip.mp4', 'movie.MKV']),
  office: [...under(DESK, ['memo.txt', 'plan.DOCX']), ...under(DOCS, ['budget.xlsb', 'notes.txt', 'Outlook Files/readme.txt', 'report.docx'])],
  finance: [...under(DESK, ['ledger.kd18']), ...under(DOCS, ['tax/2025.KD18', 'tax/old/yayoi.hb11']), ...under('C:/ProgramData', ['OBC/db/company.mdf', 'Yayoi/会計データ/2026.KD18']), 'C:/OBCWIN/DATA/2026.ldf'],
  ebooks: [...under(DESK, ['年賀状2027.fwb']), ...under(DOCS, ['books/manual.PDF', 'books/novel.epub', 'cards/list.fgl', 'cards/nenga.FWA']), 'C:/ProgramData/Fudemame/住所録.fwa', 'C:/JUST/Hagaki/住所録.jsr'],
  mail: [
    ...under(`${ROAMING}/Thunderbird/Profiles/abc.default-release`, ['ImapMail/imap.example.jp/INBOX.msf', 'Mail/Local Folders/Inbox', 'prefs.js']),
    ...under(`${LOCAL}/Microsoft/Outlook`, ['archive.pst', 'taro@example.jp.ost']),
    ...under(`${DOCS}/Outlook Files`, ['archive.PST', 'taro@example.jp.pst']),
    ...under(`${LOCAL}/Packages/microsoft.windowscommunicationsapps_8wekyb3d8bbwe/LocalState`, ['Indexed/LiveComm/0123abcd/120712-0049/Mail/0001.eml', 'LiveComm/0123abcd/120712-0049/store.vol']),
  ],
  bookmarks: [
    ...under(`${LOCAL}/Google/Chrome/User Data`, ['Default/Bookmarks', 'Default/Bookmarks.bak', 'Profile 1/Bookmarks']),
    ...under(`${LOCAL}/Microsoft/Edge/User Data`, ['Default/Bookmarks']),
    ...under(`${LOCAL}/BraveSoftware/Brave-Browser/User Data`, ['Default/Bookmarks']),
    ...under(`${LOCAL}/Chromium/User Data`, ['Default/Bookmarks']),
    ...under(`${ROAMING}/Opera Software/Opera Stable`, ['Bookmarks.bak', 'Default/Bookmarks']),
    ...under(`${ROAMING}/Mozilla/Firefox/Profiles/xyz.default-release`, ['bookmarkbackups/bookmarks-2026-12-01_42_abc.jsonlz4', 'places.sqlite']),
    ...under(`${P}/Favorites`, ['Links/Bing.url', 'ニュース.url']),
  ],
};
