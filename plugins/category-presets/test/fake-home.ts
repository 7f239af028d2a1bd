import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A fake home folder on the real file system: `files` are paths relative to it (content = the path). */
export function fakeHome(files: string[], prefix = 'hokan-presets-home-'): { home: string; cleanup(): void; abs(rel: string): string } {
  const home = mkdtempSync(join(tmpdir(), prefix));
  for (const rel of files) {
    const p = join(home, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, `${rel}\n`);
  }
  return { home, cleanup: () => rmSync(home, { recursive: true, force: true }), abs: (rel) => join(home, rel) };
}

/** Files of many types in the usual places of a Linux (or macOS) home. */
export const DESKTOP = ['a shortcut.lnk', 'editor.desktop', 'site.URL', 'memo.txt', 'plan.DOCX', 'photo.jpg', 'ledger.kd18'];
export const DOCUMENTS = [
  'budget.xlsb',
  'report.docx',
  'notes.txt',
  'tax/2025.KD18',
  'tax/old/yayoi.hb11',
  'cards/nenga.FWA',
  'cards/list.fgl',
  'books/novel.epub',
  'books/manual.PDF',
  'scan.jpg',
  'tool.exe',
  'draft.tmp',
  '~$report.docx',
  'Thumbs.db',
  'desktop.ini',
  '.hidden-note.txt',
  '$RECYCLE.BIN/old.docx',
  'project/.cache/x.txt',
];
export const PICTURES = ['a.jpg', 'b.PNG', 'trip/c.heic', 'trip/Thumbs.db', '.thumbnails/normal/x.png', 'raw.tmp'];
export const MUSIC = ['song.mp3', 'album/track.flac'];
export const VIDEOS = ['clip.mp4', 'movie.MKV'];
