import { afterAll, describe, expect, it } from 'vitest';
import { presetFiles, walkSources } from '@hokan/core/testing';
import { loadPresetData } from '../src/preset-data.js';
import { resolvePreset } from '../src/preset-resolver.js';
import { userFolders } from '../src/user-folders.js';
import { fakeWindows, WINDOWS_FILES, WINDOWS_SELECTS, windowsInput } from './fake-windows.js';

/**
 * The Windows layout walked: the presets resolved from taro's registry and environment (Known
 * Folders, OneDrive's redirection, %VAR%s), their folders put onto a fake machine of real files
 * (fake-windows.ts `onto`, the one seam), then walked by the backup's own walk and filters.
 */
const { presets, defaults } = loadPresetData();
const spec = (n: string) => presets.find((p) => p.name === n)!;
const win = fakeWindows(WINDOWS_FILES);
afterAll(() => win.cleanup());

const slashes = (p: string) => p.replace(/\\/g, '/');
const resolved = async (name: string) => win.onto(await resolvePreset(spec(name), defaults, windowsInput()));
/** The files a preset selects on the machine, as Windows paths (`/`-separated), sorted. */
const select = async (name: string) => (await presetFiles(await resolved(name))).map((p) => slashes(win.windows(p))).sort();

describe('presets on a Windows machine with OneDrive redirection (walked)', () => {
  it('the Known Folders come from the registry: Desktop, Documents and Pictures in OneDrive, Videos on D:', async () => {
    const f = await userFolders(windowsInput());
    expect([f.desktop, f.documents, f.pictures, f.music, f.videos, f.downloads, f.appData, f.localAppData, f.favorites]).toEqual([
      'C:\\Users\\taro\\OneDrive\\デスクトップ',
      'C:\\Users\\taro\\OneDrive\\ドキュメント',
      'C:\\Users\\taro\\OneDrive\\画像',
      'C:\\Users\\taro\\Music',
      'D:\\Videos',
      'C:\\Users\\taro\\Downloads',
      'C:\\Users\\taro\\AppData\\Roaming',
      'C:\\Users\\taro\\AppData\\Local',
      'C:\\Users\\taro\\Favorites',
    ]);
  });

  for (const [name, expected] of Object.entries(WINDOWS_SELECTS)) {
    it(`${name} selects exactly its files`, async () => {
      expect(await select(name)).toEqual([...expected].sort());
    });
  }

  it('what no preset takes: shortcuts, desktop.ini, thumbnails, temporary, lock and hidden files, caches, trash, the folders OneDrive left, the rest of the profile', async () => {
    const taken = new Set<string>();
    for (const name of Object.keys(WINDOWS_SELECTS)) for (const f of await select(name)) taken.add(f);
    expect(WINDOWS_FILES.filter((f) => !taken.has(f)).sort()).toEqual(
      [
        'C:/ProgramData/App/cache.tmp',
        'C:/ProgramData/Microsoft/Windows/Start Menu/Programs/会計.lnk',
        'C:/JUST/Hagaki/app.exe',
        'C:/OBCWIN/DATA/readme.txt',
        'C:/Users/taro/AppData/Local/BraveSoftware/Brave-Browser/User Data/Default/Preferences',
        'C:/Users/taro/AppData/Local/Google/Chrome/User Data/Default/Cache/Cache_Data/data_0',
        'C:/Users/taro/AppData/Local/Google/Chrome/User Data/Default/History',
        'C:/Users/taro/AppData/Local/Google/Chrome/User Data/Local State',
        'C:/Users/taro/AppData/Local/Microsoft/Edge/User Data/Default/Code Cache/js/index',
        'C:/Users/taro/AppData/Local/Microsoft/Edge/User Data/Default/Favicons',
        'C:/Users/taro/AppData/Local/Microsoft/Outlook/Offline Address Books/ja-JP/udetails.oab',
        'C:/Users/taro/AppData/Local/Microsoft/Outlook/RoamCache/Stream_Autocomplete_0_ABC.dat',
        'C:/Users/taro/AppData/Local/Microsoft/Outlook/~taro@example.jp.ost.tmp',
        'C:/Users/taro/AppData/Local/Mozilla/Firefox/Profiles/xyz.default-release/cache2/entries/FF00',
        'C:/Users/taro/AppData/Local/Packages/microsoft.windowscommunicationsapps_8wekyb3d8bbwe/LocalState/Cache/cached.bin',
        'C:/Users/taro/AppData/Roaming/Mozilla/Firefox/Profiles/xyz.default-release/cookies.sqlite',
        'C:/Users/taro/AppData/Roaming/Mozilla/Firefox/Profiles/xyz.default-release/favicons.sqlite',
        'C:/Users/taro/AppData/Roaming/Mozilla/Firefox/Profiles/xyz.default-release/parent.lock',
        'C:/Users/taro/AppData/Roaming/Opera Software/Opera Stable/Default/Cache/Cache_Data/f_000001',
        'C:/Users/taro/AppData/Roaming/Thunderbird/Profiles/abc.default-release/cache2/entries/0A1B',
        'C:/Users/taro/AppData/Roaming/Thunderbird/Profiles/abc.default-release/parent.lock',
        'C:/Users/taro/Desktop/old.txt',
        'C:/Users/taro/Documents/old-local.docx',
        'C:/Users/taro/Downloads/big.iso.crdownload',
        'C:/Users/taro/Downloads/setup.exe',
        'C:/Users/taro/Favorites/desktop.ini',
        'C:/Users/taro/Music/album/desktop.ini',
        'C:/Users/taro/OneDrive/デスクトップ/Microsoft Edge.lnk',
        'C:/Users/taro/OneDrive/デスクトップ/SITE.URL',
        'C:/Users/taro/OneDrive/デスクトップ/desktop.ini',
        'C:/Users/taro/OneDrive/デスクトップ/お気に入り.url',
        'C:/Users/taro/OneDrive/ドキュメント/$RECYCLE.BIN/old.docx',
        'C:/Users/taro/OneDrive/ドキュメント/.hidden-note.txt',
        'C:/Users/taro/OneDrive/ドキュメント/Outlook Files/~taro@example.jp.pst.tmp',
        'C:/Users/taro/OneDrive/ドキュメント/Thumbs.db',
        'C:/Users/taro/OneDrive/ドキュメント/desktop.ini',
        'C:/Users/taro/OneDrive/ドキュメント/draft.tmp',
        'C:/Users/taro/OneDrive/ドキュメント/project/.cache/x.txt',
        'C:/Users/taro/OneDrive/ドキュメント/~$report.docx',
        'C:/Users/taro/OneDrive/画像/desktop.ini',
        'C:/Users/taro/OneDrive/画像/raw.tmp',
        'C:/Users/taro/OneDrive/画像/trip/Thumbs.db',
        'C:/Users/taro/Pictures/old.jpg',
        'C:/Users/taro/Videos/not-the-videos-folder.mp4',
        'D:/Videos/ehthumbs_vista.db',
      ].sort(),
    );
  });

  it('folders a preset names that this machine lacks are left out (finance: C:\\ACCP and C:\\MSSQL7)', async () => {
    const res = await resolved('finance');
    const t = await walkSources([{ preset: 'finance' }], { presets: {} }, async () => res);
    expect(t.roots.map((r) => win.windows(r.path))).toEqual(['C:\\Users\\taro\\OneDrive\\デスクトップ', 'C:\\Users\\taro\\OneDrive\\ドキュメント', 'C:\\ProgramData', 'C:\\OBCWIN']);
    expect(t.errors).toEqual([]);
  });

  it('all ten presets in one job: overlapping folders are walked once, each file taken once', async () => {
    const names = Object.keys(WINDOWS_SELECTS);
    const seen: string[] = [];
    const t = await walkSources(names.map((preset) => ({ preset })), { presets: {} }, resolved, { onFile: (e) => seen.push(slashes(win.windows(e.abs))) });
    const union = [...new Set(Object.values(WINDOWS_SELECTS).flat())].sort();
    expect(seen.sort()).toEqual(union);
    // Desktop and Documents hold office, finance, ebooks and Outlook's files too: one root each.
    const docs = t.roots.find((r) => win.windows(r.path) === 'C:\\Users\\taro\\OneDrive\\ドキュメント')!;
    expect(docs.members?.map((m) => [m.base, m.preset])).toEqual([
      ['', 'office'],
      ['', 'finance'],
      ['', 'ebooks'],
      ['Outlook Files', 'mail'],
    ]);
    expect(t.roots.filter((r) => win.windows(r.path).startsWith('C:\\Users\\taro\\OneDrive\\')).length).toBe(3);
  });
});
