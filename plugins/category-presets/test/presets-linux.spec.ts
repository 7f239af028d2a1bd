import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { presetFiles } from '@hokan/core/testing';
import { loadPresetData } from '../src/preset-data.js';
import { resolvePreset } from '../src/preset-resolver.js';
import { parseUserDirs, userFolders } from '../src/user-folders.js';
import { DESKTOP, DOCUMENTS, fakeHome, MUSIC, PICTURES, VIDEOS } from './fake-home.js';

const { presets, defaults } = loadPresetData();
const spec = (n: string) => presets.find((p) => p.name === n)!;
const under = (dir: string, list: string[]) => list.map((f) => `${dir}/${f}`);

const english = fakeHome([
  ...under('Desktop', DESKTOP),
  ...under('Documents', DOCUMENTS),
  ...under('Pictures', PICTURES),
  ...under('Music', MUSIC),
  ...under('Videos', VIDEOS),
  '.thunderbird/abc.default-release/prefs.js',
  '.thunderbird/abc.default-release/Mail/Local Folders/Inbox',
  '.thunderbird/abc.default-release/ImapMail/imap.example.jp/INBOX',
  '.thunderbird/abc.default-release/cache2/entries/0A1B',
  '.thunderbird/abc.default-release/parent.lock',
  '.local/share/evolution/mail/local/cur/1.eml',
  '.mozilla/firefox/abc.default-release/places.sqlite',
  '.mozilla/firefox/abc.default-release/cookies.sqlite',
  '.mozilla/firefox/abc.default-release/bookmarkbackups/bookmarks-2026-12-01.jsonlz4',
  '.mozilla/firefox/abc.default-release/cache2/entries/FF00',
  '.config/google-chrome/Default/Bookmarks',
  '.config/google-chrome/Default/Bookmarks.bak',
  '.config/google-chrome/Default/History',
  '.config/google-chrome/Default/Cache/Cache_Data/data_0',
  '.config/google-chrome/Profile 1/Bookmarks',
  '.config/google-chrome/Local State',
  '.config/opera/Bookmarks',
  'Downloads/setup.bin',
]);
afterAll(() => english.cleanup());

const linux = (home: string, env: NodeJS.ProcessEnv = {}) => ({ platform: 'linux' as const, home, env });
const select = async (name: string, home: string, env: NodeJS.ProcessEnv = {}) => (await presetFiles(await resolvePreset(spec(name), defaults, linux(home, env)))).map((p) => p.slice(home.length + 1));

describe('presets on a Linux home with the XDG default folders (no user-dirs.dirs)', () => {
  it('documents takes every file of Documents except caches, trash, temporary, lock and hidden files', async () => {
    expect(await select('documents', english.home)).toEqual(
      under('Documents', ['books/manual.PDF', 'books/novel.epub', 'budget.xlsb', 'cards/list.fgl', 'cards/nenga.FWA', 'notes.txt', 'report.docx', 'scan.jpg', 'tax/2025.KD18', 'tax/old/yayoi.hb11', 'tool.exe']).sort(),
    );
  });

  it('desktop leaves out shortcuts (.lnk, .url, .desktop; any case)', async () => {
    expect(await select('desktop', english.home)).toEqual(under('Desktop', ['ledger.kd18', 'memo.txt', 'photo.jpg', 'plan.DOCX']).sort());
  });

  it('pictures, music and videos take whole folders, without thumbnails and temporary files', async () => {
    expect(await select('pictures', english.home)).toEqual(under('Pictures', ['a.jpg', 'b.PNG', 'trip/c.heic']).sort());
    expect(await select('music', english.home)).toEqual(under('Music', ['album/track.flac', 'song.mp3']).sort());
    expect(await select('videos', english.home)).toEqual(under('Videos', ['clip.mp4', 'movie.MKV']).sort());
  });

  it('office, finance and ebooks take their extensions (case-insensitive) on the desktop and in Documents', async () => {
    expect(await select('office', english.home)).toEqual([...under('Desktop', ['memo.txt', 'plan.DOCX']), ...under('Documents', ['budget.xlsb', 'notes.txt', 'report.docx'])].sort());
    expect(await select('finance', english.home)).toEqual([...under('Desktop', ['ledger.kd18']), ...under('Documents', ['tax/2025.KD18', 'tax/old/yayoi.hb11'])].sort());
    expect(await select('ebooks', english.home)).toEqual(under('Documents', ['books/manual.PDF', 'books/novel.epub', 'cards/list.fgl', 'cards/nenga.FWA']).sort());
  });

  it('mail takes the Thunderbird profile and the Evolution store, without caches and lock files', async () => {
    expect(await select('mail', english.home)).toEqual(
      [
        '.thunderbird/abc.default-release/ImapMail/imap.example.jp/INBOX',
        '.thunderbird/abc.default-release/Mail/Local Folders/Inbox',
        '.thunderbird/abc.default-release/prefs.js',
        '.local/share/evolution/mail/local/cur/1.eml',
      ].sort(),
    );
  });

  it('bookmarks takes the bookmark files of every browser profile, nothing else', async () => {
    expect(await select('bookmarks', english.home)).toEqual(
      [
        '.config/google-chrome/Default/Bookmarks',
        '.config/google-chrome/Default/Bookmarks.bak',
        '.config/google-chrome/Profile 1/Bookmarks',
        '.config/opera/Bookmarks',
        '.mozilla/firefox/abc.default-release/bookmarkbackups/bookmarks-2026-12-01.jsonlz4',
        '.mozilla/firefox/abc.default-release/places.sqlite',
      ].sort(),
    );
  });
});

describe('presets on a Japanese-localized Linux home', () => {
  const ja = fakeHome([
    ...under('デスクトップ', ['メモ.txt', 'ランチャー.desktop']),
    ...under('ドキュメント', ['見積書.xlsx', '家計簿.KD3', '年賀状.fwb', 'メモ.txt']),
    ...under('画像', ['旅行.jpg', '.thumbnails/t.png']),
    ...under('音楽', ['曲.mp3']),
    ...under('ビデオ', ['動画.mp4']),
    ...under('Music', ['stray.mp3']), // not the user's music folder: user-dirs.dirs says 音楽
  ]);
  const legacy = fakeHome([...under('ピクチャ', ['古い写真.jpg']), ...under('ドキュメント', ['文書.odt'])]);
  afterAll(() => {
    ja.cleanup();
    legacy.cleanup();
  });
  mkdirSync(join(ja.home, 'conf'), { recursive: true });
  writeFileSync(
    join(ja.home, 'conf', 'user-dirs.dirs'),
    '# This file is written by xdg-user-dirs-update\nXDG_DESKTOP_DIR="$HOME/デスクトップ"\nXDG_DOWNLOAD_DIR="$HOME/ダウンロード"\nXDG_DOCUMENTS_DIR="$HOME/ドキュメント"\nXDG_MUSIC_DIR="$HOME/音楽"\nXDG_PICTURES_DIR="$HOME/画像"\nXDG_VIDEOS_DIR="$HOME/ビデオ"\nXDG_TEMPLATES_DIR="$HOME"\n',
  );
  const env = { XDG_CONFIG_HOME: join(ja.home, 'conf') };

  it('user-dirs.dirs names the folders: each preset selects exactly its files there', async () => {
    expect(await select('pictures', ja.home, env)).toEqual(['画像/旅行.jpg']);
    expect(await select('music', ja.home, env)).toEqual(['音楽/曲.mp3']);
    expect(await select('videos', ja.home, env)).toEqual(['ビデオ/動画.mp4']);
    expect(await select('desktop', ja.home, env)).toEqual(['デスクトップ/メモ.txt']);
    expect(await select('office', ja.home, env)).toEqual(['デスクトップ/メモ.txt', 'ドキュメント/メモ.txt', 'ドキュメント/見積書.xlsx'].sort());
    expect(await select('finance', ja.home, env)).toEqual(['ドキュメント/家計簿.KD3']);
    expect(await select('ebooks', ja.home, env)).toEqual(['ドキュメント/年賀状.fwb']);
  });

  it('without user-dirs.dirs, an existing localized folder stands in for a missing default (~/ピクチャ, ~/ドキュメント)', async () => {
    const f = await userFolders(linux(legacy.home));
    expect(f.pictures).toBe(join(legacy.home, 'ピクチャ'));
    expect(f.documents).toBe(join(legacy.home, 'ドキュメント'));
    expect(f.music).toBe(join(legacy.home, 'Music')); // none exists: the XDG default
    expect(await select('pictures', legacy.home)).toEqual(['ピクチャ/古い写真.jpg']);
    expect(await select('office', legacy.home)).toEqual(['ドキュメント/文書.odt']);
  });

  it('a user dir set to the home folder means none (never the whole home); XDG_CONFIG_HOME and XDG_DATA_HOME are honoured', async () => {
    const dirs = parseUserDirs('XDG_PICTURES_DIR="$HOME"\nXDG_MUSIC_DIR="/srv/music"\nXDG_VIDEOS_DIR="relative/ignored"\n# XDG_DOCUMENTS_DIR="$HOME/x"\n', '/home/taro');
    expect(dirs).toEqual({ PICTURES: '/home/taro', MUSIC: '/srv/music' });
    writeFileSync(join(ja.home, 'conf', 'user-dirs.dirs'), 'XDG_PICTURES_DIR="$HOME"\n');
    const f = await userFolders(linux(ja.home, { XDG_CONFIG_HOME: join(ja.home, 'conf'), XDG_DATA_HOME: '/data/taro', XDG_MUSIC_DIR: '/srv/music' }));
    expect(f.pictures).toBeNull();
    expect(f.music).toBe('/srv/music'); // from the environment when the file does not say
    expect(f.appData).toBe(join(ja.home, 'conf'));
    expect(f.localAppData).toBe('/data/taro');
    expect((await resolvePreset(spec('pictures'), defaults, linux(ja.home, { XDG_CONFIG_HOME: join(ja.home, 'conf') }))).folders).toEqual([]);
  });
});
