// Starts Ceph RGW for the benchmarks with the same scripts the tests use
// (../shared/servers/ceph-rgw/start.sh DIR PORT, stop.sh DIR): one mon, one osd (bluestore in a
// sparse file in DIR, so the data is on disk as on a real server), radosgw on 127.0.0.1 and a free
// port, user hokan/hokansecret. Needs the Debian packages radosgw ceph-mon ceph-osd ceph-common.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { REPO } from './hokan.mjs';

const SCRIPTS = path.join(REPO, '..', 'shared', 'servers', 'ceph-rgw');

async function freePort() {
  const srv = createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export async function startRgw({ dir, buckets, storeBytes }) {
  if (spawnSync('sh', ['-c', 'command -v radosgw'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('Ceph RGW is not installed: apt-get install -y --no-install-recommends radosgw ceph-mon ceph-osd ceph-common');
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const port = await freePort();
  const r = spawnSync('bash', [path.join(SCRIPTS, 'start.sh'), dir, String(port)], {
    encoding: 'utf8',
    env: { ...process.env, RGW_OBJECTSTORE: 'bluestore', RGW_STORE_BYTES: String(storeBytes) },
  });
  const m = /endpoint=(\S+) access=(\S+) secret=(\S+)/.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) throw new Error(`Ceph RGW did not start:\n${r.stderr}${r.stdout}`);
  const [, endpoint, accessKeyId, secretAccessKey] = m;
  const stop = async () => {
    spawnSync('bash', [path.join(SCRIPTS, 'stop.sh'), dir], { stdio: 'ignore' });
  };
  try {
    const sdk = await import('@aws-sdk/client-s3');
    const c = new sdk.S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
    for (const Bucket of buckets) await c.send(new sdk.CreateBucketCommand({ Bucket }));
    c.destroy();
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    endpoint,
    accessKeyId,
    secretAccessKey,
    /** What a person writes for Ceph: provider, endpoint, keys. */
    targetConfig: (bucket) => ({ type: 's3', provider: 'ceph', bucket, endpoint, accessKeyId, secretAccessKey }),
    stop,
  };
}
