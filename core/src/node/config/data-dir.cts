// CommonJS on purpose: the \`agent\` bin loads the daemon client (cli/daemon/client.cts) before
// anything else, and a CommonJS graph loads without Node's ES module loader (~25 ms a command).
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface PathEnv {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  platform?: NodeJS.Platform;
  home?: string;
}

/** The environment, folder, platform and home folder paths are resolved against (defaults: this process's). */
export function pathEnv(p: PathEnv) {
  return { env: p.env ?? process.env, cwd: p.cwd ?? process.cwd(), platform: p.platform ?? process.platform, home: p.home ?? p.env?.HOME ?? homedir() };
}

/** The data directory: --data-dir, $HOKAN_DATA_DIR, XDG_DATA_HOME/hokan (~/.local/share/hokan); %LOCALAPPDATA%\hokan; ~/Library/Application Support/hokan. */
export function resolveDataDir(flag: string | undefined, p: PathEnv = {}): string {
  const { env, cwd, platform, home } = pathEnv(p);
  if (flag) return resolve(cwd, flag);
  if (env.HOKAN_DATA_DIR) return resolve(cwd, env.HOKAN_DATA_DIR);
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(home, 'AppData', 'Local'), 'hokan');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'hokan', 'data');
  return join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'hokan');
}

