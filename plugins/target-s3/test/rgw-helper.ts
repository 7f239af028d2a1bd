/**
 * Ceph RADOS Gateway (RGW 16, Debian's `radosgw ceph-mon ceph-osd ceph-common`) for tests: a real,
 * widely deployed S3 implementation that nobody here wrote. One throwaway single-node Ceph (1 mon,
 * 1 osd on memstore, no mgr) plus radosgw on 127.0.0.1 and a free port, started by
 * `../shared/servers/ceph-rgw/start.sh DIR PORT` (~4 s) and stopped by `stop.sh DIR`, which kills exactly the
 * processes it started. Start it once per test file — it costs a few hundred MB of RAM and a core
 * for a few seconds.
 *
 * ```ts
 * describeOnRgw('my tests', { buckets: ['b'] }, (rgw) => { it('…', async () => { rgw().targetConfig('b') … }); });
 * ```
 * Without the packages the tests are skipped with a plain reason in their title and a line on stderr
 * — unless CI is set (`CI=true`, as `.ci/run` does): then one failing test says what is missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';

// The scripts beside the project (../shared/servers/ceph-rgw) when it is there, as in CI; a clone on its
// own uses the copy kept with these tests (ceph-rgw/), so a fresh clone anywhere runs the same suite.
const SHARED = fileURLToPath(new URL('../../../../shared/servers/ceph-rgw/', import.meta.url));
const SCRIPTS = existsSync(SHARED) ? SHARED : fileURLToPath(new URL('./ceph-rgw/', import.meta.url));
/** What start.sh runs: the Ceph daemons and tools, and the small tools it checks ports and readiness with. */
const NEEDED = ['radosgw', 'ceph-mon', 'ceph-osd', 'ceph', 'monmaptool', 'radosgw-admin', 'uuidgen', 'ss', 'curl'];

export interface RgwHandle {
  endpoint: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  /** The settings a person writes for this server (provider "ceph", endpoint, keys, bucket); merge your own prefix etc. Everything else at its default. */
  targetConfig(bucket: string): Record<string, unknown>;
  stop(): Promise<void>;
}

/** `true`, or why RGW cannot start here (the commands that are missing). */
export function rgwAvailability(): true | string {
  const missing = NEEDED.filter((c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length === 0) return true;
  return `Ceph RGW is not installed (missing: ${missing.join(', ')}); install it with: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common uuid-runtime iproute2 curl`;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function run(script: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(SCRIPTS, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts RGW and creates `buckets`. memstore: faster to start than bluestore and nothing on disk. */
export async function startRgw(opts: { buckets?: string[]; storeBytes?: number } = {}): Promise<RgwHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'hokan-rgw-'));
  let lastError = '';
  // A port picked free can be taken by another test file before radosgw binds it: try again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const r = await run('start.sh', [dir, String(port)], { RGW_OBJECTSTORE: 'memstore', RGW_STORE_BYTES: String(opts.storeBytes ?? 2 * 1024 ** 3) }, 150_000);
    const m = /endpoint=(\S+) access=(\S+) secret=(\S+)/.exec(r.stdout);
    if (r.code === 0 && m) {
      const [, endpoint, accessKeyId, secretAccessKey] = m as unknown as [string, string, string, string];
      const handle: RgwHandle = {
        endpoint,
        port,
        accessKeyId,
        secretAccessKey,
        targetConfig: (bucket) => ({ type: 's3', provider: 'ceph', bucket, endpoint, accessKeyId, secretAccessKey }),
        stop: async () => {
          await run('stop.sh', [dir], {}, 60_000);
          await rm(dir, { recursive: true, force: true });
        },
      };
      try {
        await createBuckets(handle, opts.buckets ?? []);
      } catch (e) {
        await handle.stop();
        throw e;
      }
      return handle;
    }
    lastError = `${r.stderr}${r.stdout}`.trim();
    await run('stop.sh', [dir], {}, 60_000); // removes the folder; start.sh wants an empty one
  }
  throw new Error(`Ceph RGW did not start:\n${lastError}`);
}

async function createBuckets(h: RgwHandle, buckets: string[]): Promise<void> {
  if (buckets.length === 0) return;
  const sdk = await import('@aws-sdk/client-s3');
  const c = new sdk.S3Client({ endpoint: h.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: h.accessKeyId, secretAccessKey: h.secretAccessKey } });
  try {
    for (const Bucket of buckets) await c.send(new sdk.CreateBucketCommand({ Bucket }));
  } finally {
    c.destroy();
  }
}

/**
 * A describe block with one RGW for all its tests (started in beforeAll, stopped in afterAll even
 * when a test fails). `rgw()` returns the running server inside tests and hooks.
 */
export function describeOnRgw(title: string, opts: { buckets?: string[] }, body: (rgw: () => RgwHandle) => void): void {
  const avail = rgwAvailability();
  if (avail !== true) {
    if (process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0') {
      describe(title, () => {
        it('runs on Ceph RGW (CI must not skip it)', () => {
          throw new Error(`${avail}. .ci/run installs it.`);
        });
      });
      return;
    }
    process.stderr.write(`\n${title}: SKIPPED — ${avail}\n`);
    describe.skip(`${title} (skipped: ${avail})`, () => body(() => {
      throw new Error('RGW is not running');
    }));
    return;
  }
  describe(title, () => {
    let h: RgwHandle | undefined;
    beforeAll(async () => {
      h = await startRgw(opts);
    }, 180_000);
    afterAll(async () => {
      await h?.stop();
    }, 90_000);
    body(() => {
      if (!h) throw new Error('RGW is not running (its start failed: see the beforeAll error)');
      return h;
    });
  });
}
