// `rclone serve webdav` over a folder, on 127.0.0.1 and a free port, as the target-nas tests start it
// (plugins/target-nas/test/servers.ts): the same server for hokan and for rclone's own webdav client.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { connect, createServer } from 'node:net';
import * as path from 'node:path';

export const DAV_USER = 'hokan';
export const DAV_PASSWORD = 'bench-secret';

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

export async function startRcloneDav({ dir }) {
  fs.mkdirSync(path.join(dir, 'root'), { recursive: true });
  const port = await freePort();
  let log = '';
  const child = spawn('rclone', ['serve', 'webdav', path.join(dir, 'root'), '--addr', `127.0.0.1:${port}`, '--user', DAV_USER, '--pass', DAV_PASSWORD, '--config', path.join(dir, 'rclone.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  for (let i = 0; ; i++) {
    const ok = await new Promise((r) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) break;
    if (i > 200 || child.exitCode !== null) throw new Error(`rclone serve webdav did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = `http://127.0.0.1:${port}/`;
  const obscured = spawnSync('rclone', ['obscure', DAV_PASSWORD], { encoding: 'utf8' }).stdout.trim();
  return {
    url,
    root: path.join(dir, 'root'),
    pid: child.pid,
    /** A `nas` target for the folder `name` under the served root. */
    targetConfig: (name) => ({ type: 'nas', url: `${url}${name}/`, username: DAV_USER, password: DAV_PASSWORD }),
    /** rclone's own webdav client, as the remote `dav:`, from environment variables. */
    rcloneEnv: { ...process.env, RCLONE_CONFIG: '/dev/null', RCLONE_CONFIG_DAV_TYPE: 'webdav', RCLONE_CONFIG_DAV_URL: url, RCLONE_CONFIG_DAV_VENDOR: 'other', RCLONE_CONFIG_DAV_USER: DAV_USER, RCLONE_CONFIG_DAV_PASS: obscured },
    /** MKCOL through the server (rclone's VFS caches folder listings: a folder made on disk behind it is not seen at once). */
    mkdir: async (name) => {
      const r = await fetch(`${url}${encodeURIComponent(name)}/`, { method: 'MKCOL', headers: { Authorization: `Basic ${Buffer.from(`${DAV_USER}:${DAV_PASSWORD}`).toString('base64')}` } });
      await r.arrayBuffer();
      if (r.status !== 201 && r.status !== 405) throw new Error(`MKCOL ${name}: ${r.status}`);
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
