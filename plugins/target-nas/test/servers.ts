/**
 * Real WebDAV servers for tests, each on 127.0.0.1 and a free port, started by the test and always
 * stopped by it: `webdav-server` (npm, in this process), `rclone serve webdav` and Apache `mod_dav`
 * (child processes; Apache with its own config generated in a temp folder, not the system service).
 * Reusable by any test that needs a NAS: `const s = await startServer('rclone'); … await s.stop();`
 *
 * rclone and Apache come from Debian packages that `.ci/run` installs. Run locally without them, a
 * suite says which server it skipped (`serverAvailable`); under CI a missing one is a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createNetServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type ServerKind = 'webdav-server' | 'rclone' | 'apache';
export const SERVER_KINDS: ServerKind[] = ['webdav-server', 'rclone', 'apache'];

export const USER = 'hokan';
export const PASSWORD = 'nas-secret-42';

export interface DavServer {
  kind: ServerKind;
  port: number;
  /** `http(s)://127.0.0.1:PORT/` — the served root (a folder `dav/` below it for Apache). */
  url: string;
  /** The folder on disk the server serves (rclone, Apache); undefined for webdav-server (in memory). */
  dir?: string;
  /** A `nas` target's settings for a folder under the served root (made beforehand with mkdir). */
  targetConfig(folder: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Makes a folder under the served root (MKCOL, as a person would in a file manager). */
  mkdir(folder: string): Promise<void>;
  stop(): Promise<void>;
}

const APACHE = '/usr/sbin/apache2';
const APACHE_MODULES = '/usr/lib/apache2/modules';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** `true`, or why the server cannot run here. Under CI a missing server is not a reason: the suite fails. */
export function serverAvailable(kind: ServerKind): true | string {
  let missing: string | undefined;
  if (kind === 'rclone' && !onPath('rclone')) missing = 'rclone is not installed (Debian package rclone; .ci/run installs it)';
  if (kind === 'apache' && !(existsSync(APACHE) && existsSync(join(APACHE_MODULES, 'mod_dav_fs.so')))) missing = 'Apache is not installed (Debian package apache2; .ci/run installs it)';
  if (!missing) return true;
  if (process.env.CI) throw new Error(`${kind}: ${missing} — CI must provide it`);
  console.warn(`target-nas tests: skipped the ${kind} server: ${missing}`);
  return missing;
}

export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, log: () => string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited (${child.exitCode ?? child.signalCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`the server did not listen on ${port} within ${ms} ms: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

async function davMkdir(url: string, folder: string): Promise<void> {
  let path = '';
  for (const seg of folder.split('/').filter(Boolean)) {
    path += `${encodeURIComponent(seg)}/`;
    const r = await fetch(url + path, { method: 'MKCOL', headers: { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` } });
    await r.arrayBuffer();
    if (r.status !== 201 && r.status !== 405) throw new Error(`MKCOL ${url + path}: ${r.status}`);
  }
}

export interface StartOptions {
  /** webdav-server only: serve HTTPS with this key and certificate (PEM). */
  https?: { key: string; cert: string };
  /** webdav-server only: answer a request before the server sees it (a NAS that refuses some names). */
  refuse?: (method: string, path: string) => number | undefined;
}

export async function startServer(kind: ServerKind, opts: StartOptions = {}): Promise<DavServer> {
  if (kind === 'webdav-server') return startWebdavServer(opts);
  if (kind === 'rclone') return startRclone();
  return startApache();
}

function handle(kind: ServerKind, port: number, url: string, stop: () => Promise<void>, dir?: string): DavServer {
  return {
    kind,
    port,
    url,
    dir,
    targetConfig: (folder, extra = {}) => ({ type: 'nas', url: url + folder.split('/').map(encodeURIComponent).join('/'), username: USER, password: PASSWORD, ...extra }),
    mkdir: (folder) => davMkdir(url, folder),
    stop,
  };
}

async function startWebdavServer(opts: StartOptions): Promise<DavServer> {
  const { v2: webdav } = await import('webdav-server');
  const users = new webdav.SimpleUserManager();
  const user = users.addUser(USER, PASSWORD, false);
  const privileges = new webdav.SimplePathPrivilegeManager();
  privileges.setRights(user, '/', ['all']);
  const server = new webdav.WebDAVServer({
    port: 0,
    hostname: '127.0.0.1',
    httpAuthentication: new webdav.HTTPBasicAuthentication(users, 'hokan test'),
    privilegeManager: privileges,
    ...(opts.https ? { https: opts.https } : {}),
  });
  if (opts.refuse) {
    const refuse = opts.refuse;
    server.beforeRequest((ctx, next) => {
      let path = ctx.requested.uri;
      try {
        path = decodeURIComponent(new URL(ctx.requested.uri, 'http://x').pathname);
      } catch {
        // keep the raw one
      }
      const code = refuse(ctx.request.method ?? '', path);
      if (code !== undefined) {
        ctx.setCode(code);
        ctx.exit();
      } else next();
    });
  }
  await new Promise<void>((resolve) => server.start(() => resolve()));
  const port = (server.server!.address() as { port: number }).port;
  const url = `${opts.https ? 'https' : 'http'}://127.0.0.1:${port}/`;
  return handle('webdav-server', port, url, () => new Promise<void>((resolve) => server.stop(() => resolve())));
}

async function startRclone(): Promise<DavServer> {
  const dir = await mkdtemp(join(tmpdir(), 'hokan-rclone-dav-'));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    let log = '';
    // No config file of the person's: an empty one in the temp folder.
    const child = spawn('rclone', ['serve', 'webdav', join(dir, 'root'), '--addr', `127.0.0.1:${port}`, '--user', USER, '--pass', PASSWORD, '--config', join(dir, 'rclone.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    mkdirSync(join(dir, 'root'), { recursive: true });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await waitForPort(port, child, () => log);
    } catch (e) {
      await stopChild(child);
      if (attempt >= 2) throw e;
      continue; // the port was taken between freePort and the start: another one
    }
    return handle('rclone', port, `http://127.0.0.1:${port}/`, async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    }, join(dir, 'root'));
  }
}

/** Apache httpd with mod_dav_fs, Basic auth, its own config, lock database and logs in a temp folder. */
async function startApache(): Promise<DavServer> {
  const dir = await mkdtemp(join(tmpdir(), 'hokan-apache-dav-'));
  const dav = join(dir, 'dav');
  mkdirSync(dav);
  mkdirSync(join(dir, 'lock'));
  // apr1 (MD5) rather than bcrypt: Apache checks the password on every request, and bcrypt costs
  // ~10 ms each (a test fixture, not a secret). As root, Apache serves as www-data (it refuses to serve as root): it must own what it writes.
  const asRoot = process.getuid?.() === 0;
  const htpasswd = spawnSync('htpasswd', ['-nbm', USER, PASSWORD], { encoding: 'utf8' });
  if (htpasswd.status !== 0) throw new Error(`htpasswd failed: ${htpasswd.stderr}`);
  writeFileSync(join(dir, 'htpasswd'), htpasswd.stdout);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const conf = join(dir, 'httpd.conf');
    const mods = ['mpm_event', 'authn_core', 'authn_file', 'authz_core', 'authz_user', 'auth_basic', 'alias', 'dav', 'dav_fs'];
    writeFileSync(
      conf,
      [
        `ServerRoot ${dir}`,
        `ServerName 127.0.0.1`,
        `Listen 127.0.0.1:${port}`,
        `PidFile ${join(dir, 'httpd.pid')}`,
        `ErrorLog ${join(dir, 'error.log')}`,
        'LogLevel warn',
        ...mods.map((m) => `LoadModule ${m}_module ${APACHE_MODULES}/mod_${m}.so`),
        ...(asRoot ? ['User www-data', 'Group www-data'] : []),
        'StartServers 1',
        'ServerLimit 2',
        'ThreadsPerChild 16',
        'MaxRequestWorkers 32',
        'KeepAlive On',
        'Timeout 60',
        `DavLockDB ${join(dir, 'lock', 'DavLock')}`,
        `DocumentRoot ${dir}`,
        `Alias /dav ${dav}`,
        `<Directory ${dav}>`,
        '  Dav On',
        '  AuthType Basic',
        '  AuthName "hokan test"',
        `  AuthUserFile ${join(dir, 'htpasswd')}`,
        '  Require valid-user',
        '  Options None',
        '  AllowOverride None',
        '</Directory>',
        '',
      ].join('\n'),
    );
    if (asRoot) chownTree(dir, 'www-data');
    let log = '';
    const child = spawn(APACHE, ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, APACHE_RUN_DIR: dir, APACHE_LOCK_DIR: dir, APACHE_LOG_DIR: dir } });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    try {
      await waitForPort(port, child, () => log);
    } catch (e) {
      await stopChild(child);
      if (attempt >= 2) throw e;
      continue;
    }
    return handle('apache', port, `http://127.0.0.1:${port}/dav/`, async () => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    }, dav);
  }
}

/** chown -R to a system user (by name), for Apache's worker processes. */
function chownTree(dir: string, user: string): void {
  const id = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (id.status !== 0) throw new Error(`no user ${user} for Apache to run as`);
  const uid = Number(id.stdout.trim());
  const g = Number(gid.stdout.trim());
  const walk = (p: string) => {
    chownSync(p, uid, g);
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const q = join(p, e.name);
      if (e.isDirectory()) walk(q);
      else chownSync(q, uid, g);
    }
  };
  walk(dir);
}
