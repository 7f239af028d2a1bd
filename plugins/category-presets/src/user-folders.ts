/**
 * The user's folders as the OS knows them — never hard-coded paths:
 * - Linux: the XDG user dirs (`$XDG_CONFIG_HOME/user-dirs.dirs`, written by xdg-user-dirs-update in
 *   the session's language), else the `XDG_*_DIR` variables, else the XDG defaults — or, when the
 *   default is missing, a localized folder that exists (`~/画像`, `~/ピクチャ`, `~/ドキュメント`).
 * - macOS: the home folders (Movies for videos); their localized names are display names only.
 * - Windows: the Known Folders from the registry's User Shell Folders (OneDrive's "back up my
 *   folders" redirects them there), `%VAR%`s expanded; the defaults under the profile otherwise.
 *
 * Everything comes in as inputs (platform, home, environment, the registry's values), so tests
 * resolve a fake home for every OS on any machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export const KNOWN = ['desktop', 'documents', 'pictures', 'music', 'videos', 'downloads'] as const;
export type KnownFolder = (typeof KNOWN)[number];

/** Every base a preset folder template may start from. */
export interface UserFolders extends Record<KnownFolder, string | null> {
  home: string;
  /** Roaming application data: %APPDATA%, ~/Library/Application Support, $XDG_CONFIG_HOME. */
  appData: string;
  /** Local application data: %LOCALAPPDATA%, ~/Library/Application Support, $XDG_DATA_HOME. */
  localAppData: string;
  /** Windows only: %ProgramData% and the system drive (`C:`); null elsewhere. */
  programData: string | null;
  systemDrive: string | null;
  /** Windows only: Internet Explorer's Favorites. */
  favorites: string | null;
}

export interface FolderInput {
  platform: NodeJS.Platform;
  home: string;
  env: NodeJS.ProcessEnv;
  /**
   * Windows: the values of HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\User Shell Folders
   * (name → data, `%VAR%`s not yet expanded). Read from the registry when absent and running on Windows.
   */
  shellFolders?: Record<string, string>;
}

/** Platform path helpers: Windows paths are built with `path.win32` on any OS (tests). */
export const pathFor = (platform: NodeJS.Platform) => (platform === 'win32' ? path.win32 : path.posix);

// ---- Linux --------------------------------------------------------------------------------------

const XDG_KEYS: Record<KnownFolder, string> = { desktop: 'DESKTOP', documents: 'DOCUMENTS', pictures: 'PICTURES', music: 'MUSIC', videos: 'VIDEOS', downloads: 'DOWNLOAD' };

/**
 * The default folder names, then localized names xdg-user-dirs has created (Japanese: current and
 * older translations). The first that exists is taken; the English one when none does.
 */
const XDG_DEFAULTS: Record<KnownFolder, string[]> = {
  desktop: ['Desktop', 'デスクトップ'],
  documents: ['Documents', 'ドキュメント', '文書'],
  pictures: ['Pictures', '画像', 'ピクチャ'],
  music: ['Music', '音楽', 'ミュージック'],
  videos: ['Videos', 'ビデオ'],
  downloads: ['Downloads', 'ダウンロード'],
};

/** `$XDG_CONFIG_HOME/user-dirs.dirs`: `XDG_PICTURES_DIR="$HOME/画像"` lines, as key → absolute path. */
export function parseUserDirs(text: string, home: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*XDG_([A-Z]+)_DIR\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(line);
    if (!m) continue;
    const v = m[2]!.replace(/\\(.)/g, '$1');
    if (v === '$HOME' || v.startsWith('$HOME/')) out[m[1]!] = path.posix.join(home, v.slice(5));
    else if (v.startsWith('/')) out[m[1]!] = v; // the format allows only $HOME/… or an absolute path
  }
  return out;
}

function linuxFolders(home: string, env: NodeJS.ProcessEnv): UserFolders {
  const abs = (v: string | undefined) => (v && v.startsWith('/') ? v : undefined);
  const configHome = abs(env.XDG_CONFIG_HOME) ?? path.posix.join(home, '.config');
  const dataHome = abs(env.XDG_DATA_HOME) ?? path.posix.join(home, '.local', 'share');
  let fromFile: Record<string, string> = {};
  try {
    fromFile = parseUserDirs(readFileSync(path.posix.join(configHome, 'user-dirs.dirs'), 'utf8'), home);
  } catch {
    // no user-dirs.dirs: the defaults
  }
  const known = {} as Record<KnownFolder, string | null>;
  for (const k of KNOWN) {
    const key = XDG_KEYS[k];
    const v = fromFile[key] ?? abs(env[`XDG_${key}_DIR`]);
    if (v !== undefined) {
      // A user dir set to the home folder itself means "none" (xdg-user-dirs' convention).
      known[k] = path.posix.resolve(v) === path.posix.resolve(home) ? null : v;
      continue;
    }
    const candidates = XDG_DEFAULTS[k].map((n) => path.posix.join(home, n));
    known[k] = candidates.find((c) => existsSync(c)) ?? candidates[0]!;
  }
  return { ...known, home, appData: configHome, localAppData: dataHome, programData: null, systemDrive: null, favorites: null };
}

// ---- macOS --------------------------------------------------------------------------------------

function macFolders(home: string): UserFolders {
  const j = (...p: string[]) => path.posix.join(home, ...p);
  const support = j('Library', 'Application Support');
  return {
    home,
    desktop: j('Desktop'),
    documents: j('Documents'),
    pictures: j('Pictures'),
    music: j('Music'),
    videos: j('Movies'),
    downloads: j('Downloads'),
    appData: support,
    localAppData: support,
    programData: null,
    systemDrive: null,
    favorites: null,
  };
}

// ---- Windows ------------------------------------------------------------------------------------

/**
 * User Shell Folders value names per Known Folder: the legacy name, then the GUID-named value
 * newer Windows keeps beside it (for the Desktop `{754AC886-…}`; `{B4BFCC3A-…}` is FOLDERID_Desktop
 * itself, in case a tool wrote that).
 */
const SHELL_NAMES: Record<KnownFolder | 'appData' | 'localAppData' | 'favorites', string[]> = {
  desktop: ['Desktop', '{754AC886-DF64-4CBA-86B5-F7FBF4FBCEF5}', '{B4BFCC3A-DB2C-424C-B029-7FE99A87C641}'],
  documents: ['Personal', '{F42EE2D3-909F-4907-8871-4C22FC0BF756}'],
  pictures: ['My Pictures', '{0DDD015D-B06C-45D5-8C4C-F59713854639}'],
  music: ['My Music', '{A0C69A99-21C8-4671-8703-7934162FCF1D}'],
  videos: ['My Video', '{35286A68-3C57-41A1-BBB1-0EAE73D76C95}'],
  downloads: ['{374DE290-123F-4565-9164-39C4925E467B}', '{7D83EE9B-2244-4E70-B1F5-5393042AF1E4}'],
  appData: ['AppData'],
  localAppData: ['Local AppData'],
  favorites: ['Favorites'],
};
const WIN_DEFAULTS: Record<keyof typeof SHELL_NAMES, string> = {
  desktop: 'Desktop',
  documents: 'Documents',
  pictures: 'Pictures',
  music: 'Music',
  videos: 'Videos',
  downloads: 'Downloads',
  appData: 'AppData\\Roaming',
  localAppData: 'AppData\\Local',
  favorites: 'Favorites',
};

/** `%USERPROFILE%\OneDrive\Documents` → the variable's value (names are case-insensitive on Windows). */
export function expandWindowsVars(s: string, env: NodeJS.ProcessEnv): string {
  const lower = new Map(Object.entries(env).map(([k, v]) => [k.toLowerCase(), v]));
  return s.replace(/%([^%]+)%/g, (all, name: string) => lower.get(name.toLowerCase()) ?? all);
}

function windowsFolders(home: string, env: NodeJS.ProcessEnv, shell: Record<string, string>): UserFolders {
  const w = path.win32;
  const vars = { ...env, USERPROFILE: env.USERPROFILE ?? home };
  const fromShell = (k: keyof typeof SHELL_NAMES): string => {
    for (const n of SHELL_NAMES[k]) {
      const v = shell[n];
      if (typeof v === 'string' && v.trim()) {
        const x = expandWindowsVars(v.trim(), vars);
        if (!x.includes('%') && w.isAbsolute(x)) return w.normalize(x);
      }
    }
    if (k === 'appData' && env.APPDATA) return w.normalize(env.APPDATA);
    if (k === 'localAppData' && env.LOCALAPPDATA) return w.normalize(env.LOCALAPPDATA);
    return w.join(vars.USERPROFILE!, WIN_DEFAULTS[k]);
  };
  const drive = (env.SystemDrive ?? env.SYSTEMDRIVE ?? 'C:').replace(/[\\/]+$/, '');
  return {
    home,
    desktop: fromShell('desktop'),
    documents: fromShell('documents'),
    pictures: fromShell('pictures'),
    music: fromShell('music'),
    videos: fromShell('videos'),
    downloads: fromShell('downloads'),
    appData: fromShell('appData'),
    localAppData: fromShell('localAppData'),
    favorites: fromShell('favorites'),
    programData: w.normalize(env.ProgramData ?? env.PROGRAMDATA ?? `${drive}\\ProgramData`),
    systemDrive: drive,
  };
}

/** The user's folders on `platform`. */
export async function userFolders(input: FolderInput): Promise<UserFolders> {
  if (input.platform === 'win32') {
    let shell = input.shellFolders;
    if (!shell && process.platform === 'win32') shell = await (await import('./windows-registry.js')).readUserShellFolders();
    return windowsFolders(input.home, input.env, shell ?? {});
  }
  if (input.platform === 'darwin') return macFolders(input.home);
  return linuxFolders(input.home, input.env);
}
