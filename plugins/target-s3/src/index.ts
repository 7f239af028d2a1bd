import { ContainerModule, TargetContribution, definePlugin, type TargetContribution as TargetContributionType } from '@hokan/core';
import { resolveS3Config } from './s3-config.js';

/**
 * The `s3` target type. The AWS SDK is imported only when a target of this type is created, so
 * `agent --help`, `config validate` and targets of other types never load it.
 */
export const s3TargetContribution: TargetContributionType = {
  type: 's3',
  async create(config, ctx) {
    const cfg = resolveS3Config(config, ctx.id);
    // The SDK warns on stderr, on every run, that its releases after January 2027 will need Node 22.
    // hokan pins the SDK in its lockfile, so a person can do nothing about it: keep stderr for
    // what needs them, and leave the note in the log instead.
    if (process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === undefined && Number(process.versions.node.split('.')[0]) < 22) {
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
      ctx.logger.debug('the AWS SDK releases after January 2027 need Node 22; this build pins an earlier one');
    }
    const [sdk, { S3Target, createS3Client }] = await Promise.all([import('@aws-sdk/client-s3'), import('./s3-target.js')]);
    const logger = ctx.logger.child('target-s3');
    logger.debug({ target: ctx.id, provider: cfg.provider, bucket: cfg.bucket, prefix: cfg.prefix, region: cfg.region, endpoint: cfg.endpoint, credentials: cfg.accessKeyId ? 'static' : cfg.profile ? `profile ${cfg.profile}` : 'default chain' }, 's3 target');
    return new S3Target(sdk, createS3Client(sdk, cfg, {}, (msg) => logger.debug({ sdk: msg }, 'AWS SDK warning')), cfg, logger);
  },
};

/** inversify 7: a ContainerModule gets `{ bind, ... }` as one options object. */
export const s3Module = new ContainerModule(({ bind }) => {
  bind(TargetContribution).toConstantValue(s3TargetContribution);
});

export default definePlugin({ id: 'target-s3', apiVersion: 1, module: s3Module });

export { resolveS3Config } from './s3-config.js';
export type { S3TargetConfig } from './s3-config.js';
export type { MultipartResumeState, UploadedPart } from './multipart-upload.js';
