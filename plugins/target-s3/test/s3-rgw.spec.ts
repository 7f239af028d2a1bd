/**
 * The target conformance suite and the engine model suite on Ceph RGW (rgw-helper.ts), through the
 * plugin's own factory with the settings a user writes for Ceph — no checksum or other tuning.
 * One RGW for the whole file.
 */
import { AbortMultipartUploadCommand, S3Client } from '@aws-sdk/client-s3';
import { nullLogger } from '@hokan/core';
import { describeEngineConformance, describeTargetConformance } from '@hokan/core/testing';
import { expect, it } from 'vitest';
import type { MultipartResumeState } from '../src/multipart-upload.js';
import { s3TargetContribution } from '../src/index.js';
import { makeTarget } from './helpers.js';
import { describeOnRgw } from './rgw-helper.js';
import { bufferSource, patternBytes, readAll } from './sources-local.js';
import { failingSource, memoryResumeStore } from './test-utils.js';

let n = 0;
const MiB = 1024 * 1024;

describeOnRgw('target-s3 on Ceph RGW', { buckets: ['conformance', 'engine', 'quirks'] }, (rgw) => {
  it('an unfinished upload that RGW no longer has (ListParts answers NoSuchKey, not NoSuchUpload) starts over and completes', async () => {
    const t = await makeTarget({ ...rgw().targetConfig('quirks'), prefix: 'q/', partSize: 5 * MiB, maxConnections: 2 });
    const data = patternBytes(3 * 5 * MiB + 77, 9);
    const meta = { size: data.length, mtimeMs: 1700000005000 };
    const store = memoryResumeStore();
    await expect(t.put('big.bin', failingSource(data, 11 * MiB), meta, { resume: store })).rejects.toThrow(/simulated read error/);
    const saved = store.value as MultipartResumeState;
    const raw = new S3Client({ endpoint: rgw().endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: rgw().accessKeyId, secretAccessKey: rgw().secretAccessKey } });
    await raw.send(new AbortMultipartUploadCommand({ Bucket: 'quirks', Key: saved.key, UploadId: saved.uploadId }));
    raw.destroy();
    const outcomes: boolean[] = [];
    await t.put('big.bin', bufferSource(data), meta, { resume: store, onResume: (r) => outcomes.push(r) });
    expect(outcomes).toEqual([false]);
    expect((await t.get('big.bin', undefined, readAll)).equals(data)).toBe(true);
    await t[Symbol.asyncDispose]();
  });

  const create = (bucket: string, extra: Record<string, unknown> = {}) =>
    s3TargetContribution.create({ ...rgw().targetConfig(bucket), prefix: `p${++n}/`, ...extra }, { id: 'cloud', logger: nullLogger, dataDir: '/nonexistent' });

  describeTargetConformance({
    name: 's3 (Ceph RGW)',
    // 5 MiB parts: the 12 MiB object of the suite is a three-part multipart upload.
    create: () => create('conformance', { partSize: 5 * MiB }),
    largeObjectSize: 12 * MiB,
    partSize: 5 * MiB,
  });

  describeEngineConformance({
    name: 's3 (Ceph RGW)',
    // Fewer cases than on s3rver (the same engine, a slower server): the regressions, one fixed seed and a fresh one.
    runs: 3,
    seeds: [1],
    maxOps: 16,
    createPlace: async () => {
      const prefix = `e${++n}/`;
      return { open: () => s3TargetContribution.create({ ...rgw().targetConfig('engine'), prefix }, { id: 'cloud', logger: nullLogger, dataDir: '/nonexistent' }) };
    },
  });
});
