import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../../common/errors.js';

import { pathEnv as ctx, type PathEnv } from './data-dir.cjs';
export { resolveDataDir, type PathEnv } from './data-dir.cjs';

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

/** The first candidate config file that is there (configCandidates), or undefined. */
export function locateConfigPath(flag: string | undefined, p: PathEnv = {}): string | undefined {
  return configCandidates(flag, p).find((c) => existsSync(c.path))?.path;
}

/** Finds the config file, or throws a ConfigError that says every place it looked (exit 2). */
export function findConfigPath(flag: string | undefined, p: PathEnv = {}): string {
  const found = locateConfigPath(flag, p);
  if (found !== undefined) return found;
  const candidates = configCandidates(flag, p);
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
