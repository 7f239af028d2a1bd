import { ConfigError } from '@hokan/core';

/** Tiers a blob can be read back from at once. */
export const ACCESS_TIERS = ['Hot', 'Cool', 'Cold'] as const;
export type AccessTier = (typeof ACCESS_TIERS)[number];

export const MIB = 1024 * 1024;
/** Default block size: files up to this size go up in one Put Blob, larger ones as staged blocks. */
export const DEFAULT_BLOCK_SIZE = 16 * MIB;
/** Azure's largest block (API 2019-12-12 and later). */
export const MAX_BLOCK_SIZE = 4000 * MIB;
/** Azure allows at most 50,000 committed blocks per blob. */
export const MAX_BLOCKS = 50_000;
export const DEFAULT_MAX_CONNECTIONS = 8;

/** The `azure` target's settings as written in config.json (see ../schema.json). */
export interface AzureTargetConfig {
  type: 'azure';
  account?: string;
  container: string;
  prefix?: string;
  endpoint?: string;
  accountKey?: string;
  sasToken?: string;
  connectionString?: string;
  accessTier?: AccessTier;
  blockSize?: number;
  maxConnections?: number;
  createContainer?: boolean;
}

/** How the target signs its requests. */
export type AzureAuth = 'accountKey' | 'sasToken' | 'connectionString' | 'defaultCredential';

/** The settings after validation, with defaults filled in. */
export interface ResolvedAzureConfig extends AzureTargetConfig {
  prefix: string;
  blockSize: number;
  maxConnections: number;
  createContainer: boolean;
  auth: AzureAuth;
  /** The SAS token without a leading `?`. */
  sasToken?: string;
}

const KEYS = new Set(['type', 'account', 'container', 'prefix', 'endpoint', 'accountKey', 'sasToken', 'connectionString', 'accessTier', 'blockSize', 'maxConnections', 'createContainer']);
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?!.*--)[a-z0-9-]*[a-z0-9]$/;
const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;

/**
 * Checks the settings again at `create` time (the core validates against schema.json first; this
 * guards library use and gives the Archive message even when a schema was not applied). Secrets
 * are never put into a message.
 */
export function resolveAzureConfig(raw: Record<string, unknown>, targetId = 'azure'): ResolvedAzureConfig {
  const problems: { path: string; message: string; hint?: string }[] = [];
  const at = (k: string) => `/targets/${targetId}/${k}`;
  for (const k of Object.keys(raw)) {
    if (!KEYS.has(k)) problems.push({ path: at(k), message: `unknown setting "${k}" for an azure target` });
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
  const int = (k: string, min: number, max: number): number | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      problems.push({ path: at(k), message: `"${k}" must be a whole number from ${min} to ${max}` });
      return undefined;
    }
    return v;
  };

  const container = str('container');
  if (raw.container === undefined) problems.push({ path: at('container'), message: 'an azure target needs a "container"' });
  else if (container !== undefined && !CONTAINER_NAME.test(container)) {
    problems.push({ path: at('container'), message: `"${container}" is not a valid container name`, hint: 'container names are 3-63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit' });
  }
  const account = str('account');
  if (account !== undefined && !ACCOUNT_NAME.test(account)) {
    problems.push({ path: at('account'), message: `"${account}" is not a valid storage account name`, hint: 'account names are 3-24 lower-case letters and digits' });
  }
  let prefix = raw.prefix === '' ? '' : (str('prefix') ?? '');
  prefix = prefix.replace(/^\/+/, '');
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';

  const endpoint = str('endpoint');
  if (endpoint !== undefined) {
    try {
      const u = new URL(endpoint);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
      if (u.search !== '') {
        problems.push({ path: at('endpoint'), message: 'the endpoint must not carry a query string', hint: 'put a SAS token in "sasToken" (e.g. "${env:AZURE_SAS}"), not in the endpoint' });
      }
    } catch {
      problems.push({ path: at('endpoint'), message: `endpoint "${endpoint}" is not an http:// or https:// URL` });
    }
  }

  const accountKey = str('accountKey');
  let sasToken = str('sasToken');
  const connectionString = str('connectionString');
  const given = [accountKey && 'accountKey', sasToken && 'sasToken', connectionString && 'connectionString'].filter(Boolean) as AzureAuth[];
  if (given.length > 1) {
    problems.push({ path: at(given[1]!), message: `give one of accountKey, sasToken and connectionString, not ${given.join(' and ')}` });
  }
  const auth: AzureAuth = given[0] ?? 'defaultCredential';
  if (auth !== 'connectionString' && account === undefined && endpoint === undefined) {
    problems.push({ path: at('account'), message: 'an azure target needs an "account" (or an "endpoint", or a "connectionString")' });
  }
  if (auth === 'defaultCredential' && endpoint?.startsWith('http:')) {
    problems.push({ path: at('endpoint'), message: 'DefaultAzureCredential (no accountKey, sasToken or connectionString) signs in with tokens, which Azure accepts only over https', hint: 'use an https:// endpoint, or set accountKey, sasToken or connectionString' });
  }
  if (auth === 'accountKey' && account === undefined) {
    problems.push({ path: at('account'), message: 'an accountKey needs the "account" it belongs to' });
  }
  if (sasToken !== undefined) {
    sasToken = sasToken.replace(/^\?/, '');
    if (!/(^|&)sig=/.test(sasToken)) problems.push({ path: at('sasToken'), message: 'sasToken is not a SAS token (it has no "sig=" part)', hint: 'copy the whole token (sv=…&se=…&sig=…) from the portal or `az storage container generate-sas`' });
  }
  if (connectionString !== undefined && !/AccountName=|BlobEndpoint=|UseDevelopmentStorage=true/i.test(connectionString)) {
    problems.push({ path: at('connectionString'), message: 'connectionString is not an Azure Storage connection string (no AccountName= or BlobEndpoint=)' });
  }

  const accessTier = str('accessTier');
  if (accessTier !== undefined && !(ACCESS_TIERS as readonly string[]).includes(accessTier)) {
    if (accessTier.toLowerCase() === 'archive') {
      problems.push({
        path: at('accessTier'),
        message: 'access tier Archive is not supported: archived blobs cannot be read until they are rehydrated (which takes hours), so a backup there could not be restored or verified on demand',
        hint: `use Cold (cheap, read at once) or one of ${ACCESS_TIERS.join(', ')}; a lifecycle rule can still move old generations (.hokan/versions/) to Archive`,
      });
    } else {
      problems.push({ path: at('accessTier'), message: `unknown access tier "${accessTier}"`, hint: `use one of ${ACCESS_TIERS.join(', ')}` });
    }
  }
  const blockSize = int('blockSize', MIB, MAX_BLOCK_SIZE);
  if (raw.blockSize !== undefined && blockSize === undefined) problems[problems.length - 1]!.hint = 'blocks are 1 MiB (1048576 bytes) to 4000 MiB';
  const maxConnections = int('maxConnections', 1, 64);
  const createContainer = raw.createContainer;
  if (createContainer !== undefined && typeof createContainer !== 'boolean') problems.push({ path: at('createContainer'), message: '"createContainer" must be true or false' });

  if (problems.length > 0) {
    const first = problems[0]!;
    throw new ConfigError(`target "${targetId}": ${problems.map((p) => p.message).join('; ')}`, { problems, hint: first.hint });
  }
  return {
    type: 'azure',
    account,
    container: container!,
    prefix,
    endpoint: endpoint?.replace(/\/+$/, ''),
    accountKey,
    sasToken,
    connectionString,
    accessTier: accessTier as AccessTier | undefined,
    blockSize: blockSize ?? DEFAULT_BLOCK_SIZE,
    maxConnections: maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    createContainer: createContainer === true,
    auth,
  };
}

/** The block size for a blob: the configured one, grown so that no blob needs more than 50,000 blocks. */
export function blockSizeFor(size: number, configured: number): number {
  const needed = Math.ceil(size / MAX_BLOCKS);
  if (needed <= configured) return configured;
  return Math.ceil(needed / MIB) * MIB;
}

/** When the SAS token stops working (its `se=`), if it says. */
export function sasExpiry(sasToken: string | undefined): Date | undefined {
  if (!sasToken) return undefined;
  const se = new URLSearchParams(sasToken).get('se');
  if (!se) return undefined;
  const d = new Date(se);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** The blob service URL: the endpoint as given, else the public cloud's for the account. */
export function serviceUrl(cfg: Pick<ResolvedAzureConfig, 'endpoint' | 'account'>): string {
  return cfg.endpoint ?? `https://${cfg.account}.blob.core.windows.net`;
}
