import { afterAll, describe, expect, it } from 'vitest';
import { presetFiles } from '@hokan/core/testing';
import { loadPresetData } from '../src/preset-data.js';
import { resolvePreset } from '../src/preset-resolver.js';
import { expandWindowsVars, userFolders } from '../src/user-folders.js';
import { parseRegQuery } from '../src/windows-registry.js';
import { DOCUMENTS, fakeHome } from './fake-home.js';

const { presets, defaults } = loadPresetData();
const spec = (n: string) => presets.find((p) => p.name === n)!;
const under = (dir: string, list: string[]) => list.map((f) => `${dir}/${f}`);

describe('presets on a macOS home', () => {
  const mac = fakeHome([
    ...under('Desktop', ['memo.txt', 'alias.url']),
    ...under('Documents', DOCUMENTS),
    ...under('Pictures', ['photo.jpg']),
    ...under('Movies', ['clip.mov']),
    ...under('Videos', ['not-the-mac-folder.mp4']),
    ...under('Music', ['song.m4a']),
    'Library/Mail/V10/ABC-123/INBOX.mbox/Messages/1.emlx',
    'Library/Mail/V10/MailData/Envelope Index',
    'Library/Thunderbird/Profiles/x.default/Mail/Local Folders/Inbox',
    'Library/Application Support/Google/Chrome/Default/Bookmarks',
    'Library/Application Support/Google/Chrome/Default/Cache/Cache_Data/f_0001',
    'Library/Application Support/Firefox/Profiles/y.default/places.sqlite',
    'Library/Application Support/Firefox/Profiles/y.default/cache2/entries/1',
  ]);
  afterAll(() => mac.cleanup());
  const env = { platform: 'darwin' as const, home: mac.home, env: {} };
  const select = async (name: string) => (await presetFiles(await resolvePreset(spec(name), defaults, env))).map((p) => p.slice(mac.home.length + 1));

  it('the home folders, Movies for videos', async () => {
    const f = await userFolders(env);
    expect([f.desktop, f.documents, f.pictures, f.music, f.videos]).toEqual(['Desktop', 'Documents', 'Pictures', 'Music', 'Movies'].map((d) => `${mac.home}/${d}`));
    expect(await select('videos')).toEqual(['Movies/clip.mov']);
    expect(await select('pictures')).toEqual(['Pictures/photo.jpg']);
    expect(await select('desktop')).toEqual(['Desktop/memo.txt']);
  });

  it('mail takes Apple Mail and Thunderbird; bookmarks the Chrome and Firefox bookmark files', async () => {
    expect(await select('mail')).toEqual(['Library/Mail/V10/ABC-123/INBOX.mbox/Messages/1.emlx', 'Library/Mail/V10/MailData/Envelope Index', 'Library/Thunderbird/Profiles/x.default/Mail/Local Folders/Inbox'].sort());
    expect(await select('bookmarks')).toEqual(['Library/Application Support/Firefox/Profiles/y.default/places.sqlite', 'Library/Application Support/Google/Chrome/Default/Bookmarks'].sort());
  });
});

describe('presets on Windows (Known Folders, OneDrive redirection)', () => {
  const env = {
    USERPROFILE: 'C:\\Users\\taro',
    APPDATA: 'C:\\Users\\taro\\AppData\\Roaming',
    LOCALAPPDATA: 'C:\\Users\\taro\\AppData\\Local',
    OneDrive: 'C:\\Users\\taro\\OneDrive',
    ProgramData: 'C:\\ProgramData',
    SystemDrive: 'C:',
  };
  // As `reg query` prints HKCU\...\Explorer\User Shell Folders after OneDrive's "back up my folders".
  const reg = parseRegQuery(
    [
      '',
      'HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders',
      '    AppData    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Roaming',
      '    Desktop    REG_EXPAND_SZ    %USERPROFILE%\\OneDrive\\デスクトップ',
      '    Favorites    REG_EXPAND_SZ    %USERPROFILE%\\Favorites',
      '    Local AppData    REG_EXPAND_SZ    %USERPROFILE%\\AppData\\Local',
      '    My Pictures    REG_EXPAND_SZ    %OneDrive%\\画像',
      '    Personal    REG_EXPAND_SZ    %USERPROFILE%\\OneDrive\\ドキュメント',
      '    {374DE290-123F-4565-9164-39C4925E467B}    REG_EXPAND_SZ    %USERPROFILE%\\Downloads',
      '    My Video    REG_SZ    D:\\Videos',
      '',
    ].join('\r\n'),
  );
  const input = { platform: 'win32' as const, home: 'C:\\Users\\taro', env, shellFolders: reg };

  it('reads the registry values and expands %VAR%s (case-insensitive names)', async () => {
    expect(reg.Personal).toBe('%USERPROFILE%\\OneDrive\\ドキュメント');
    expect(reg['My Video']).toBe('D:\\Videos');
    expect(expandWindowsVars('%onedrive%\\x', env)).toBe('C:\\Users\\taro\\OneDrive\\x');
    const f = await userFolders(input);
    expect(f).toMatchObject({
      desktop: 'C:\\Users\\taro\\OneDrive\\デスクトップ',
      documents: 'C:\\Users\\taro\\OneDrive\\ドキュメント',
      pictures: 'C:\\Users\\taro\\OneDrive\\画像',
      music: 'C:\\Users\\taro\\Music', // not redirected: the default under the profile
      videos: 'D:\\Videos',
      downloads: 'C:\\Users\\taro\\Downloads',
      favorites: 'C:\\Users\\taro\\Favorites',
      programData: 'C:\\ProgramData',
    });
  });

  it('without registry values: the defaults under the profile', async () => {
    const f = await userFolders({ ...input, shellFolders: {} });
    expect(f.documents).toBe('C:\\Users\\taro\\Documents');
    expect(f.videos).toBe('C:\\Users\\taro\\Videos');
    expect(f.appData).toBe('C:\\Users\\taro\\AppData\\Roaming');
  });

  it('each preset resolves to the redirected folders and the Windows-only places', async () => {
    const r = async (n: string) => resolvePreset(spec(n), defaults, input);
    expect((await r('documents')).folders).toEqual(['C:\\Users\\taro\\OneDrive\\ドキュメント']);
    expect((await r('pictures')).folders).toEqual(['C:\\Users\\taro\\OneDrive\\画像']);
    const office = await r('office');
    expect(office.folders).toEqual(['C:\\Users\\taro\\OneDrive\\デスクトップ', 'C:\\Users\\taro\\OneDrive\\ドキュメント']);
    expect(office.extensions).toHaveLength(96);
    const finance = await r('finance');
    expect(finance.folders).toEqual(['C:\\Users\\taro\\OneDrive\\デスクトップ', 'C:\\Users\\taro\\OneDrive\\ドキュメント', 'C:\\ProgramData', 'C:\\ACCP', 'C:\\OBCWIN', 'C:\\MSSQL7']);
    expect(finance.extensions).toHaveLength(237);
    expect((await r('ebooks')).folders).toEqual(['C:\\Users\\taro\\OneDrive\\デスクトップ', 'C:\\Users\\taro\\OneDrive\\ドキュメント', 'C:\\ProgramData', 'C:\\JUST']);
    const mail = await r('mail');
    const paths = mail.folders.map((f) => (typeof f === 'string' ? f : f.path));
    expect(paths).toEqual([
      'C:\\Users\\taro\\AppData\\Roaming\\Thunderbird\\Profiles',
      'C:\\Users\\taro\\AppData\\Local\\Microsoft\\Outlook',
      'C:\\Users\\taro\\OneDrive\\ドキュメント\\Outlook Files',
      'C:\\Users\\taro\\AppData\\Local\\Packages\\microsoft.windowscommunicationsapps_8wekyb3d8bbwe\\LocalState',
    ]);
    expect(mail.folders[1]).toMatchObject({ extensions: ['pst', 'ost'] });
    const bm = (await r('bookmarks')).folders.map((f) => (typeof f === 'string' ? f : f.path));
    expect(bm).toContain('C:\\Users\\taro\\AppData\\Local\\Google\\Chrome\\User Data');
    expect(bm).toContain('C:\\Users\\taro\\AppData\\Local\\Microsoft\\Edge\\User Data');
    expect(bm).toContain('C:\\Users\\taro\\AppData\\Roaming\\Mozilla\\Firefox\\Profiles');
    expect(bm).toContain('C:\\Users\\taro\\Favorites');
    expect(bm.every((p) => p.startsWith('C:\\Users\\taro\\'))).toBe(true);
  });

  it('Linux-only places are not on Windows, and Windows-only places are not on Linux', async () => {
    const win = (await resolvePreset(spec('mail'), defaults, input)).folders.map((f) => (typeof f === 'string' ? f : f.path));
    expect(win.some((p) => p.includes('.thunderbird') || p.includes('evolution'))).toBe(false);
    const lin = (await resolvePreset(spec('finance'), defaults, { platform: 'linux', home: '/home/taro', env: {} })).folders;
    expect(lin).toEqual(['/home/taro/Desktop', '/home/taro/Documents']);
  });
});
