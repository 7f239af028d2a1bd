import { ConfigError } from '@hokan/core';
import { inferProvider, PROVIDER_DEFAULTS, PROVIDERS, regionFromEndpoint, type Provider } from './providers.js';
import type { OptionalCall } from './server-features.js';

/** Storage classes an object can be read back from at once. */
export const STORAGE_CLASSES = ['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR'] as const;
/** Archive classes: reading needs a restore ("thaw") of hours first, so a backup there cannot be restored on demand. */
export const ARCHIVE_STORAGE_CLASSES = ['GLACIER', 'DEEP_ARCHIVE'] as const;

export type StorageClass = (typeof STORAGE_CLASSES)[number];

export const MIB = 1024 * 1024;
/** S3's smallest part (all but the last). */
export const MIN_PART_SIZE = 5 * MIB;
export const DEFAULT_PART_SIZE = 16 * MIB;
/** S3 allows at most 10,000 parts per upload. */
export const MAX_PARTS = 10_000;
export const DEFAULT_MAX_CONNECTIONS = 8;

/** The `s3` target's settings as written in config.json (see ../schema.json). */
export interface S3TargetConfig {
  type: 's3';
  /** Which service (providers.ts): chooses the defaults below; explicit keys win. */
  provider?: Provider;
  bucket: string;
  prefix?: string;
  region?: string;
  endpoint?: string;
  forcePathStyle?: boolean;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  profile?: string;
  storageClass?: StorageClass;
  serverSideEncryption?: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  checksums?: 'when-supported' | 'when-required';
  partSize?: number;
  maxConnections?: number;
  createBucket?: boolean;
  keepAlive?: boolean;
}

/** The settings after validation, with defaults filled in. */
export interface ResolvedS3Config extends S3TargetConfig {
  provider: Provider;
  /** Calls the provider's documentation says it lacks (tried never). */
  missingCalls: OptionalCall[];
  prefix: string;
  partSize: number;
  maxConnections: number;
  checksums: 'when-supported' | 'when-required';
  forcePathStyle: boolean;
  createBucket: boolean;
  keepAlive: boolean;
}

const KEYS = new Set([
  'type', 'provider', 'bucket', 'prefix', 'region', 'endpoint', 'forcePathStyle', 'accessKeyId', 'secretAccessKey', 'sessionToken',
  'profile', 'storageClass', 'serverSideEncryption', 'kmsKeyId', 'checksums', 'partSize', 'maxConnections', 'createBucket', 'keepAlive',
]);

/**
 * Checks the settings again at `create` time (the core validates against schema.json first; this
 * guards library use and gives the archive-class message even when a schema was not applied).
 * Secrets are never put into a message.
 */
export function resolveS3Config(raw: Record<string, unknown>, targetId = 's3'): ResolvedS3Config {
  const problems: { path: string; message: string; hint?: string }[] = [];
  const at = (k: string) => `/targets/${targetId}/${k}`;
  for (const k of Object.keys(raw)) {
    if (!KEYS.has(k)) problems.push({ path: at(k), message: `unknown setting "${k}" for an s3 target` });
  }
  const str = (k: string): string | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v === '') {
      problems.push({ path: at(k), message: `"${k}" must be a non-empty string` });
      return undefined;
    }
    return v;
  };
  const bool = (k: string): boolean | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') problems.push({ path: at(k), message: `"${k}" must be true or false` });
    return v === true;
  };
  const int = (k: string, min: number): number | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      problems.push({ path: at(k), message: `"${k}" must be a whole number of at least ${min}` });
      return undefined;
    }
    return v;
  };

  const bucket = str('bucket');
  if (raw.bucket === undefined) problems.push({ path: at('bucket'), message: 'an s3 target needs a "bucket"' });
  let prefix = raw.prefix === '' ? '' : (str('prefix') ?? '');
  if (prefix.startsWith('/')) prefix = prefix.replace(/^\/+/, '');
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';

  const endpoint = str('endpoint');
  const named = str('provider');
  if (named !== undefined && !(PROVIDERS as readonly string[]).includes(named)) {
    problems.push({ path: at('provider'), message: `unknown provider "${named}"`, hint: `use one of ${PROVIDERS.join(', ')}` });
  }
  const provider: Provider = named !== undefined && (PROVIDERS as readonly string[]).includes(named) ? (named as Provider) : inferProvider(endpoint);
  const defaults = PROVIDER_DEFAULTS[provider];

  const storageClass = str('storageClass');
  if (storageClass !== undefined && defaults.storageClasses && (STORAGE_CLASSES as readonly string[]).includes(storageClass) && !defaults.storageClasses.includes(storageClass)) {
    problems.push({
      path: at('storageClass'),
      message: `${defaults.title} does not offer storage class ${storageClass}`,
      hint: `use one of ${defaults.storageClasses.join(', ')}, or remove storageClass`,
    });
  } else if (storageClass !== undefined && !(STORAGE_CLASSES as readonly string[]).includes(storageClass)) {
    if ((ARCHIVE_STORAGE_CLASSES as readonly string[]).includes(storageClass)) {
      problems.push({
        path: at('storageClass'),
        message: `storage class ${storageClass} is not supported: objects in it must be restored (thawed, which takes hours) before they can be read, so a backup there could not be restored or verified on demand`,
        hint: `use GLACIER_IR (Glacier Instant Retrieval) for cheap storage that reads at once, or one of ${STORAGE_CLASSES.join(', ')}`,
      });
    } else {
      problems.push({ path: at('storageClass'), message: `unknown storage class "${storageClass}"`, hint: `use one of ${STORAGE_CLASSES.join(', ')}` });
    }
  }
  const sse = str('serverSideEncryption');
  if (sse !== undefined && sse !== 'AES256' && sse !== 'aws:kms') {
    problems.push({ path: at('serverSideEncryption'), message: `serverSideEncryption must be "AES256" or "aws:kms", not "${sse}"` });
  }
  const kmsKeyId = str('kmsKeyId');
  if (kmsKeyId !== undefined && sse !== 'aws:kms') {
    problems.push({ path: at('kmsKeyId'), message: 'kmsKeyId is only used with serverSideEncryption "aws:kms"', hint: 'add "serverSideEncryption": "aws:kms"' });
  }
  const checksums = str('checksums') ?? defaults.checksums;
  if (checksums !== 'when-supported' && checksums !== 'when-required') {
    problems.push({ path: at('checksums'), message: `checksums must be "when-supported" or "when-required", not "${checksums}"` });
  }
  const accessKeyId = str('accessKeyId');
  const secretAccessKey = str('secretAccessKey');
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    problems.push({
      path: at(accessKeyId === undefined ? 'accessKeyId' : 'secretAccessKey'),
      message: 'accessKeyId and secretAccessKey go together: give both, or neither to use the AWS default credentials (environment, ~/.aws, instance role)',
    });
  }
  if (endpoint !== undefined) {
    try {
      const u = new URL(endpoint);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
    } catch {
      problems.push({ path: at('endpoint'), message: `endpoint "${endpoint}" is not an http:// or https:// URL` });
    }
  }
  const partSize = int('partSize', MIN_PART_SIZE);
  if (raw.partSize !== undefined && partSize === undefined) problems[problems.length - 1]!.hint = 'S3 parts are at least 5 MiB (5242880 bytes)';
  const maxConnections = int('maxConnections', 1);
  const forcePathStyle = bool('forcePathStyle');
  const createBucket = bool('createBucket');
  const keepAlive = bool('keepAlive');

  const region = str('region') ?? regionFromEndpoint(provider, endpoint) ?? defaults.region;
  const resolvedEndpoint = endpoint ?? defaults.endpoint?.(region);
  if (resolvedEndpoint === undefined && provider !== 'aws') {
    problems.push({ path: at('endpoint'), message: `an s3 target for ${defaults.title} needs an "endpoint"`, hint: defaults.endpointHint });
  }

  const config: ResolvedS3Config = {
    type: 's3',
    provider,
    missingCalls: [...defaults.missingCalls],
    bucket: bucket ?? '',
    prefix,
    region,
    endpoint: resolvedEndpoint,
    forcePathStyle: forcePathStyle ?? (resolvedEndpoint === undefined ? false : defaults.forcePathStyle),
    accessKeyId,
    secretAccessKey,
    sessionToken: str('sessionToken'),
    profile: str('profile'),
    storageClass: storageClass as StorageClass | undefined,
    serverSideEncryption: sse as ResolvedS3Config['serverSideEncryption'],
    kmsKeyId,
    checksums: checksums as ResolvedS3Config['checksums'],
    partSize: partSize ?? DEFAULT_PART_SIZE,
    maxConnections: maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    createBucket: createBucket ?? false,
    keepAlive: keepAlive ?? defaults.keepAlive ?? true,
  };
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new ConfigError(`target "${targetId}": ${problems.map((p) => p.message).join('; ')}`, { problems, hint: first.hint });
  }
  return config;
}

/** The part size for an object: the configured one, grown so that no upload needs more than 10,000 parts. */
export function partSizeFor(size: number, configured: number): number {
  const needed = Math.ceil(size / MAX_PARTS);
  if (needed <= configured) return configured;
  return Math.ceil(needed / MIB) * MIB;
}
