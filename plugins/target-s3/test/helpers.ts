import { nullLogger, type Logger } from '@hokan/core';
import { resolveS3Config } from '../src/s3-config.js';
import { S3Target, createS3Client, type S3TargetInternals } from '../src/s3-target.js';

/** An S3Target built the way the plugin builds one, with the test-only internals available. */
export async function makeTarget(config: Record<string, unknown>, internals: S3TargetInternals = {}, logger: Logger = nullLogger): Promise<S3Target> {
  const sdk = await import('@aws-sdk/client-s3');
  const cfg = resolveS3Config(config, 'test');
  return new S3Target(sdk, createS3Client(sdk, cfg, internals), cfg, logger, internals);
}
