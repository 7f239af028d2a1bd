/**
 * The target conformance suite and the engine model suite on Ceph RGW (rgw-helper.ts), through the
 * plugin's own factory with the settings a user writes for Ceph — no checksum or other tuning.
 * One RGW for the whole file.
 */
import { nullLogger } from '@hokan/core';
import { describeEngineConformance, describeTargetConformance } from '@hokan/core/testing';
import { s3TargetContribution } from '../src/index.js';
import { describeOnRgw } from './rgw-helper.js';

let n = 0;
const MiB = 1024 * 1024;

describeOnRgw('target-s3 on Ceph RGW', { buckets: ['conformance', 'engine'] }, (rgw) => {
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
