import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../common/errors.js';

export interface PathEnv {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  platform?: NodeJS.Platform;
  home?: string;
}

function ctx(p: PathEnv) {
  return { env: p.env ?? process.env, cwd: p.cwd ?? process.cwd(), platform: p.platform ?? process.platform, home: p.home ?? p.env?.HOME ?? homedir() };
}

/** The user's config file: XDG_CONFIG_HOME/hokan, ~/.config/hokan; %APPDATA%\hokan on Windows; ~/Library/Application Support/hokan on macOS. */
export function userConfigPath(p: PathEnv = {}): string {
  const { env, platform, home } = ctx(p);
  if (platform === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'hokan', 'config.json');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'hokan', 'config.json');
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'hokan', 'config.json');
}

/** The candidate config files, in order: --config, $HOKAN_CONFIG, ./config.json, the user's config dir. */
export function configCandidates(flag: string | undefined, p: PathEnv = {}): { path: string; from: string }[] {
  const { env, cwd } = ctx(p);
  if (flag) return [{ path: resolve(cwd, flag), from: '--config' }];
  const out: { path: string; from: string }[] = [];
  if (env.HOKAN_CONFIG) out.push({ path: resolve(cwd, env.HOKAN_CONFIG), from: '$HOKAN_CONFIG' });
  out.push({ path: resolve(cwd, 'config.json'), from: 'current folder' });
  out.push({ path: userConfigPath(p), from: 'user config folder' });
  return out;
}

/** Finds the config file, or throws a ConfigError that says every place it looked (exit 2). */
export function findConfigPath(flag: string | undefined, p: PathEnv = {}): string {
  const candidates = configCandidates(flag, p);
  for (const c of candidates) if (existsSync(c.path)) return c.path;
  if (flag) {
    throw new ConfigError(`config file not found: ${candidates[0]!.path} (given with --config)`, {
      file: candidates[0]!.path,
      hint: `check the path, or run \`agent init --config ${flag}\` to write a starter config there`,
    });
  }
  throw new ConfigError(`no config file found; looked in:\n${candidates.map((c) => `    ${c.path} (${c.from})`).join('\n')}`, {
    hint: '`agent init` writes a starter config, or pass one with --config PATH',
  });
}

/** Where `agent init` writes when no --config is given: $HOKAN_CONFIG, else the user's config dir. */
export function defaultInitPath(flag: string | undefined, p: PathEnv = {}): string {
  const { env, cwd } = ctx(p);
  if (flag) return resolve(cwd, flag);
  if (env.HOKAN_CONFIG) return resolve(cwd, env.HOKAN_CONFIG);
  return userConfigPath(p);
}

/** The data directory: --data-dir, $HOKAN_DATA_DIR, XDG_DATA_HOME/hokan (~/.local/share/hokan); %LOCALAPPDATA%\hokan; ~/Library/Application Support/hokan. */
export function resolveDataDir(flag: string | undefined, p: PathEnv = {}): string {
  const { env, cwd, platform, home } = ctx(p);
  if (flag) return resolve(cwd, flag);
  if (env.HOKAN_DATA_DIR) return resolve(cwd, env.HOKAN_DATA_DIR);
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), 'hokan');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'hokan', 'data');
  return join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'hokan');
}

/** `~` and `~/x` → the home folder. */
export function expandHome(path: string, home = homedir()): string {
  if (path === '~') return home;
  if (path.startsWith('~/') || path.startsWith('~\\')) return join(home, path.slice(2));
  return path;
}

/** A path that needs no working folder: from the home folder (`~`, `~/…`), or absolute here or on Windows (a drive or a share). */
export function isFullPath(path: string): boolean {
  return expandHome(path, '/') !== path || isAbsolute(path) || /^[A-Za-z]:[\\/]/.test(path) || path.startsWith('\\\\');
}
