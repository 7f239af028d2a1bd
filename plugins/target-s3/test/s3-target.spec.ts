import { nullLogger } from '@hokan/core';
import { describeTargetConformance } from '@hokan/core/testing';
import { afterAll, beforeAll } from 'vitest';
import { s3TargetContribution } from '../src/index.js';
import { startS3rver, type S3rverHandle } from './s3rver-helper.js';

let s3: S3rverHandle;
let n = 0;
beforeAll(async () => (s3 = await startS3rver({ buckets: ['conformance'] })));
afterAll(async () => s3?.stop());

describeTargetConformance({
  name: 's3 (s3rver)',
  // Through the plugin's own factory, as the core creates it; a fresh prefix per test. 5 MiB parts so
  // the 12 MiB object of the suite is a three-part multipart upload.
  create: () => s3TargetContribution.create({ ...s3.targetConfig('conformance'), prefix: `c${++n}/`, partSize: 5 * 1024 * 1024 }, { id: 'cloud', logger: nullLogger, dataDir: '/nonexistent' }),
  largeObjectSize: 12 * 1024 * 1024,
  partSize: 5 * 1024 * 1024,
});
