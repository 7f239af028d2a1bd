/** check() failures and config validation against a real s3rver, with the exact messages a person sees. */
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ConfigError, TargetError, describeError, nullLogger } from '@hokan/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import plugin, { s3TargetContribution } from '../src/index.js';
import { resolveS3Config } from '../src/s3-config.js';
import { makeTarget } from './helpers.js';
import { S3RVER_CREDENTIALS, startS3rver, type S3rverHandle } from './s3rver-helper.js';
import { bufferSource, readAll } from './sources-local.js';

let s3: S3rverHandle;
beforeAll(async () => (s3 = await startS3rver({ buckets: ['present'] })));
afterAll(async () => s3?.stop());

async function checkError(config: Record<string, unknown>, internals = {}): Promise<TargetError> {
  const t = await makeTarget(config, internals);
  try {
    const e = await t.check().then(
      () => undefined,
      (err: unknown) => err,
    );
    if (!TargetError.is(e)) throw new Error(`expected a TargetError, got ${String(e)}`);
    return e;
  } finally {
    await t[Symbol.asyncDispose]();
  }
}

describe('target-s3 check()', () => {
  it('passes on an existing bucket', async () => {
    const t = await makeTarget(s3.targetConfig('present'));
    await expect(t.check()).resolves.toBeUndefined();
    await t[Symbol.asyncDispose]();
  });

  it('a missing bucket: unavailable, with the fix', async () => {
    const e = await checkError(s3.targetConfig('missing-bucket'));
    expect(e.kind).toBe('unavailable');
    expect(e.message).toBe(`the bucket "missing-bucket" does not exist at ${s3.endpoint}`);
    expect(e.hint).toBe('create the bucket or set createBucket: true');
  });

  it('createBucket: true creates the missing bucket, and the target works', async () => {
    const t = await makeTarget({ ...s3.targetConfig('made-by-check'), createBucket: true });
    await t.check();
    const raw = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...S3RVER_CREDENTIALS } });
    await expect(raw.send(new HeadBucketCommand({ Bucket: 'made-by-check' }))).resolves.toBeDefined();
    raw.destroy();
    await t.check(); // exists now
    await t.put('a.txt', bufferSource('hello'), { size: 5, mtimeMs: 42 });
    expect((await t.get('a.txt', undefined, readAll)).toString()).toBe('hello');
    await t[Symbol.asyncDispose]();
  });

  it('an unknown access key id: auth, naming the keys to check', async () => {
    const e = await checkError({ ...s3.targetConfig('present'), accessKeyId: 'NOSUCHKEY', secretAccessKey: 'whatever' });
    expect(e.kind).toBe('auth');
    expect(e.message).toBe('the S3 server refused the credentials for bucket "present" (InvalidAccessKeyId)');
    expect(e.hint).toBe('check accessKeyId and secretAccessKey (or the profile / environment credentials): the key id must exist and the secret must belong to it');
  });

  // s3rver does not verify SigV4 signatures (only the key id), so a wrong secret cannot be shown here;
  // SignatureDoesNotMatch maps to the same 'auth' message as InvalidAccessKeyId (s3-errors.ts).

  it('a clock off by an hour: the first request fails as auth with RequestTimeTooSkewed and the fix; the SDK then corrects its clock', async () => {
    // maxAttempts 1, so the skew error is seen; the SDK learns the offset from the server's Date header.
    const t = await makeTarget({ ...s3.targetConfig('present'), prefix: 'skew' }, { systemClockOffset: 60 * 60 * 1000, maxAttempts: 1 });
    // A GET (a listing): HEAD answers carry no error code.
    const e = await (async () => {
      for await (const _ of t.list('')) void _;
    })().catch((err: unknown) => err);
    expect(TargetError.isKind(e, 'auth')).toBe(true);
    expect((e as TargetError).message).toBe("this computer's clock differs too much from the S3 server's (more than 15 minutes), so S3 refuses its signed requests");
    expect((e as TargetError).hint).toBe('set the clock right: turn on automatic time (NTP) synchronisation, e.g. `timedatectl set-ntp true` on Linux');
    await expect(t.check()).resolves.toBeUndefined();
    await t[Symbol.asyncDispose]();
  });

  it('check() with a skewed clock passes: the HEAD fails, the SDK corrects its clock, check asks again', async () => {
    const t = await makeTarget(s3.targetConfig('present'), { systemClockOffset: 60 * 60 * 1000, maxAttempts: 1 });
    await expect(t.check()).resolves.toBeUndefined();
    await t[Symbol.asyncDispose]();
  });

  it('an endpoint nobody listens on: unavailable', async () => {
    const e = await checkError({ ...s3.targetConfig('present'), endpoint: 'http://127.0.0.1:9' }, { maxAttempts: 1 });
    expect(e.kind).toBe('unavailable');
    expect(e.message).toBe('cannot reach the S3 server http://127.0.0.1:9 (ECONNREFUSED)');
  });
});

describe('target-s3 config', () => {
  it('refuses GLACIER and DEEP_ARCHIVE with the reason and the alternative', () => {
    for (const cls of ['GLACIER', 'DEEP_ARCHIVE']) {
      let e: unknown;
      try {
        resolveS3Config({ type: 's3', bucket: 'b', storageClass: cls }, 'cloud');
      } catch (err) {
        e = err;
      }
      expect(ConfigError.is(e)).toBe(true);
      const ce = e as ConfigError;
      expect(ce.message).toBe(
        `target "cloud": storage class ${cls} is not supported: objects in it must be restored (thawed, which takes hours) before they can be read, so a backup there could not be restored or verified on demand`,
      );
      expect(ce.hint).toBe('use GLACIER_IR (Glacier Instant Retrieval) for cheap storage that reads at once, or one of STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR');
      expect(ce.problems[0]!.path).toBe('/targets/cloud/storageClass');
    }
  });

  it('accepts the readable storage classes, and objects carry them', async () => {
    for (const cls of ['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR']) {
      expect(resolveS3Config({ type: 's3', bucket: 'b', storageClass: cls }).storageClass).toBe(cls);
    }
    const t = await makeTarget({ ...s3.targetConfig('present'), prefix: 'sc', storageClass: 'STANDARD_IA' });
    await t.put('x', bufferSource('x'), { size: 1 });
    expect((await t.stat('x')).size).toBe(1);
    await t[Symbol.asyncDispose]();
  });

  it('refuses a part size under 5 MiB, a lone key id, an unknown key, and kmsKeyId without aws:kms', () => {
    expect(() => resolveS3Config({ type: 's3', bucket: 'b', partSize: 1024 })).toThrow('"partSize" must be a whole number of at least 5242880');
    expect(() => resolveS3Config({ type: 's3', bucket: 'b', accessKeyId: 'AK' })).toThrow('accessKeyId and secretAccessKey go together');
    expect(() => resolveS3Config({ type: 's3', bucket: 'b', bucketName: 'x' })).toThrow('unknown setting "bucketName" for an s3 target');
    expect(() => resolveS3Config({ type: 's3', bucket: 'b', kmsKeyId: 'k' })).toThrow('kmsKeyId is only used with serverSideEncryption "aws:kms"');
    expect(() => resolveS3Config({ type: 's3' })).toThrow('an s3 target needs a "bucket"');
  });

  it('defaults: 16 MiB parts, 8 connections, SDK checksums; prefix gets its slash', () => {
    const c = resolveS3Config({ type: 's3', bucket: 'b', prefix: '/office-pc' });
    expect(c).toMatchObject({ partSize: 16 * 1024 * 1024, maxConnections: 8, checksums: 'when-supported', prefix: 'office-pc/', createBucket: false, forcePathStyle: false });
  });

  it('the plugin binds its contribution through an inversify ContainerModule, and creates targets with the declared capabilities', async () => {
    expect(plugin).toMatchObject({ id: 'target-s3', apiVersion: 1 });
    const { Container, TargetContribution } = await import('@hokan/core');
    const container = new Container();
    await container.load(plugin.module!);
    const contribution = container.get<typeof s3TargetContribution>(TargetContribution);
    expect(contribution.type).toBe('s3');
    const t = await contribution.create({ ...s3.targetConfig('present'), prefix: 'p' }, { id: 'cloud', logger: nullLogger, dataDir: '/nonexistent' });
    expect(t.capabilities).toEqual({ maxConnections: 8, serverSideMove: true, maxObjectSize: 5 * 1024 ** 4, maxKeyLength: 1022, resumableUploads: true });
    await t.check();
    await t[Symbol.asyncDispose]();
  });

  it('a key longer than 1024 UTF-8 bytes (with the prefix) is refused as permanent', async () => {
    const t = await makeTarget({ ...s3.targetConfig('present'), prefix: 'p' });
    const key = 'é'.repeat(512); // 1024 bytes, plus "p/"
    const e = await t.put(key, bufferSource('x'), { size: 1 }).catch((err: unknown) => err);
    expect(TargetError.isKind(e, 'permanent')).toBe(true);
    expect((e as Error).message).toBe(`the key "${key}" is too long for S3: 1026 bytes with the prefix, S3 allows 1024`);
    await t[Symbol.asyncDispose]();
  });
});

describe('target-s3 wiring', () => {
  it('the SDK is not imported by the plugin entry (only inside create), so `agent --help` never loads it', async () => {
    const { readFile } = await import('node:fs/promises');
    for (const f of ['index.ts', 's3-config.ts']) {
      const src = await readFile(new URL(`../src/${f}`, import.meta.url), 'utf8');
      expect(src).not.toMatch(/^import[^;]*['"]@aws-sdk\//m);
    }
  });

  it('the default checksums (CRC32 on every part) round-trip small and multipart objects byte-identically', async () => {
    const { patternBytes } = await import('./sources-local.js');
    const t = await makeTarget({ ...s3.targetConfig('present'), prefix: 'crc', checksums: 'when-supported', partSize: 5 * 1024 * 1024 });
    for (const size of [1000, 11 * 1024 * 1024]) {
      const d = patternBytes(size, 3);
      await t.put(`k${size}`, bufferSource(d), { size, mtimeMs: 7 });
      expect((await t.get(`k${size}`, undefined, readAll)).equals(d)).toBe(true);
    }
    await t[Symbol.asyncDispose]();
  });
});

describe('target-s3 requests', () => {
  it('are signed by one signer per auth scheme (the SDK alone builds one per request; Ceph RGW, which checks signatures, runs the suites through it)', async () => {
    const sdk = await import('@aws-sdk/client-s3');
    const { createS3Client } = await import('../src/s3-target.js');
    const client = createS3Client(sdk, resolveS3Config({ ...s3.targetConfig('present'), prefix: 'lean' }, 'test'));
    const config = client.config as unknown as { signerConstructor: new (o: unknown) => object };
    let built = 0;
    const Base = config.signerConstructor;
    config.signerConstructor = class extends Base {
      constructor(o: unknown) {
        super(o);
        built++;
      }
    };
    await client.send(new sdk.PutObjectCommand({ Bucket: 'present', Key: 'lean/a', Body: 'signed' }));
    for (let i = 0; i < 5; i++) {
      const r = await client.send(new sdk.GetObjectCommand({ Bucket: 'present', Key: 'lean/a' }));
      expect(await r.Body!.transformToString()).toBe('signed');
    }
    expect(built).toBe(1);
    client.destroy();
  });

  it('keys from the SDK\'s default chain (the environment) work: its credential providers log through the logger hokan gives the SDK', async () => {
    const { accessKeyId, secretAccessKey, ...rest } = s3.targetConfig('present') as Record<string, unknown>;
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, profile: process.env.AWS_PROFILE };
    process.env.AWS_ACCESS_KEY_ID = String(accessKeyId);
    process.env.AWS_SECRET_ACCESS_KEY = String(secretAccessKey);
    delete process.env.AWS_PROFILE;
    try {
      const t = await makeTarget({ ...rest, prefix: 'env-keys' });
      await t.put('a', bufferSource('from the environment'), { size: 20 });
      expect((await t.get('a', undefined, readAll)).toString()).toBe('from the environment');
      await t[Symbol.asyncDispose]();
    } finally {
      for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret], ['AWS_PROFILE', saved.profile]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('target-s3 transient failures', () => {
  it('503 SlowDown is retried by the SDK (backoff with jitter) and the put succeeds', async () => {
    const t = await makeTarget({ ...s3.targetConfig('present'), prefix: 'slow' });
    s3.failNext(2, 'SlowDown');
    await t.put('a', bufferSource('after throttling'), { size: 16 });
    expect((await t.get('a', undefined, readAll)).toString()).toBe('after throttling');
    await t[Symbol.asyncDispose]();
  });

  it('throttling that outlasts the retries is a transient TargetError', async () => {
    const t = await makeTarget({ ...s3.targetConfig('present'), prefix: 'slow' }, { maxAttempts: 2 });
    s3.failNext(2, 'SlowDown');
    const e = await t.stat('a').catch((err: unknown) => err);
    s3.failNext(0);
    expect(TargetError.isTransient(e)).toBe(true);
    expect((e as Error).message).toBe('stat of s3://present/slow/a failed for now (HTTP 503)');
    await t[Symbol.asyncDispose]();
  });

  it('connection resets are retried; when they outlast the retries they are transient', async () => {
    const t = await makeTarget({ ...s3.targetConfig('present'), prefix: 'reset' }, { maxAttempts: 2 });
    s3.failNext(1, 'reset');
    await t.put('b', bufferSource('ok'), { size: 2 });
    expect((await t.get('b', undefined, readAll)).toString()).toBe('ok');
    s3.failNext(2, 'reset');
    const e = await t.get('b', undefined, readAll).catch((err: unknown) => err);
    s3.failNext(0);
    expect(TargetError.isTransient(e)).toBe(true);
    expect((e as Error).message).toMatch(/^download of s3:\/\/present\/reset\/b failed for now \((ECONNRESET|EPIPE)\)/);
    await t[Symbol.asyncDispose]();
  });
});
