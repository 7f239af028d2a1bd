import { describe, expect, it } from 'vitest';
import { resolveS3Config } from './s3-config.js';

const base = { type: 's3', bucket: 'b' };
const problems = (raw: Record<string, unknown>): string => {
  try {
    resolveS3Config(raw, 'cloud');
    return '';
  } catch (e) {
    return `${(e as Error).message} | ${(e as { hint?: string }).hint ?? ''}`;
  }
};

describe('provider defaults (explicit keys win)', () => {
  it('no provider and no endpoint is Amazon S3: virtual-hosted addressing, the SDK\'s checksums, region from the AWS chain', () => {
    expect(resolveS3Config(base)).toMatchObject({ provider: 'aws', forcePathStyle: false, checksums: 'when-supported', region: undefined, endpoint: undefined, keepAlive: true });
  });

  it('ceph: path-style, checksums only where required, us-east-1; needs an endpoint', () => {
    // keepAlive off: beast's Nagle makes an answer with a body on a reused connection wait ~40 ms (providers.ts).
    expect(resolveS3Config({ ...base, provider: 'ceph', endpoint: 'http://rgw:7480' })).toMatchObject({ provider: 'ceph', forcePathStyle: true, checksums: 'when-required', region: 'us-east-1', endpoint: 'http://rgw:7480', keepAlive: false });
    expect(problems({ ...base, provider: 'ceph' })).toBe('target "cloud": an s3 target for Ceph Object Gateway (RGW) needs an "endpoint" | set "endpoint" to the gateway\'s URL, e.g. "http://ceph-rgw.local:7480"');
  });

  it('explicit keys win over the provider\'s defaults', () => {
    expect(resolveS3Config({ ...base, provider: 'ceph', endpoint: 'http://rgw:7480', forcePathStyle: false, checksums: 'when-supported', region: 'eu', keepAlive: true })).toMatchObject({ forcePathStyle: false, checksums: 'when-supported', region: 'eu', keepAlive: true });
    expect(problems({ ...base, keepAlive: 'yes' })).toMatch(/keepAlive/);
  });

  it('wasabi and backblaze: the endpoint follows the region, and the region is read from an endpoint', () => {
    expect(resolveS3Config({ ...base, provider: 'wasabi' })).toMatchObject({ endpoint: 'https://s3.wasabisys.com', region: 'us-east-1' });
    expect(resolveS3Config({ ...base, provider: 'wasabi', region: 'ap-northeast-1' })).toMatchObject({ endpoint: 'https://s3.ap-northeast-1.wasabisys.com' });
    expect(resolveS3Config({ ...base, endpoint: 'https://s3.ap-northeast-2.wasabisys.com' })).toMatchObject({ provider: 'wasabi', region: 'ap-northeast-2', checksums: 'when-required' });
    expect(resolveS3Config({ ...base, provider: 'backblaze', region: 'us-west-004' })).toMatchObject({ endpoint: 'https://s3.us-west-004.backblazeb2.com', forcePathStyle: true });
    expect(resolveS3Config({ ...base, endpoint: 'https://s3.eu-central-003.backblazeb2.com' })).toMatchObject({ provider: 'backblaze', region: 'eu-central-003' });
    expect(problems({ ...base, provider: 'backblaze' })).toMatch(/needs an "endpoint" \| set "region" to the bucket's region \(e\.g\. "us-west-004"/);
  });

  it('cloudflare: region auto, its own storage classes; sakura: its endpoint and jp-north-1', () => {
    expect(resolveS3Config({ ...base, endpoint: 'https://0123abcd.r2.cloudflarestorage.com' })).toMatchObject({ provider: 'cloudflare', region: 'auto', forcePathStyle: true, checksums: 'when-required' });
    expect(problems({ ...base, provider: 'cloudflare', endpoint: 'https://x.r2.cloudflarestorage.com', storageClass: 'GLACIER_IR' })).toBe(
      'target "cloud": Cloudflare R2 does not offer storage class GLACIER_IR | use one of STANDARD, STANDARD_IA, or remove storageClass',
    );
    expect(problems({ ...base, provider: 'cloudflare' })).toMatch(/https:\/\/<ACCOUNT_ID>\.r2\.cloudflarestorage\.com/);
    expect(resolveS3Config({ ...base, provider: 'sakura' })).toMatchObject({ endpoint: 'https://s3.isk01.sakurastorage.jp', region: 'jp-north-1', forcePathStyle: true });
  });

  it('an unknown endpoint is "other" (generic S3-compatible defaults); an unknown provider is named with the choices', () => {
    expect(resolveS3Config({ ...base, endpoint: 'http://nas.local:9000' })).toMatchObject({ provider: 'other', forcePathStyle: true, checksums: 'when-required' });
    expect(problems({ ...base, provider: 'dropbox', endpoint: 'http://x' })).toBe('target "cloud": unknown provider "dropbox" | use one of aws, ceph, minio, wasabi, backblaze, cloudflare, sakura, idcf, other');
  });
});
