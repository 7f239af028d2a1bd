/**
 * `provider` (as rclone's s3 `provider`): the defaults each S3 service needs, from its public
 * documentation (cited in docs/config.md, "S3 providers"). Every default here yields to a key the
 * person sets. Where a service's documentation says nothing about a setting, the generic
 * S3-compatible default is used and the target learns at run time what the server lacks
 * (server-features.ts) — nothing here is guessed beyond that.
 */
import type { OptionalCall } from './server-features.js';

export const PROVIDERS = ['aws', 'ceph', 'minio', 'wasabi', 'backblaze', 'cloudflare', 'sakura', 'idcf', 'other'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface ProviderDefaults {
  title: string;
  /** Bucket in the path (https://host/bucket) rather than in the host name. */
  forcePathStyle: boolean;
  /**
   * The AWS SDK's newer default integrity checksums (CRC32, and aws-chunked bodies with trailers)
   * or only where the API requires them. Only Amazon S3 is documented to take them on every call.
   */
  checksums: 'when-supported' | 'when-required';
  /** Region used for signing when none is set. */
  region?: string;
  /** The endpoint when none is set, from the region (undefined: the person must give one, unless aws). */
  endpoint?: (region: string | undefined) => string | undefined;
  /** What to tell a person who gave no endpoint where one is needed. */
  endpointHint?: string;
  /** Storage classes the service documents (undefined: not documented; the server decides). */
  storageClasses?: readonly string[];
  /** Calls the documentation says the service lacks. */
  missingCalls: readonly OptionalCall[];
  /** Reuse connections between requests (HTTP keep-alive). Default true. */
  keepAlive?: boolean;
}

const GENERIC = { forcePathStyle: true, checksums: 'when-required', missingCalls: [] } as const;

export const PROVIDER_DEFAULTS: Record<Provider, ProviderDefaults> = {
  aws: {
    title: 'Amazon S3',
    forcePathStyle: false,
    checksums: 'when-supported',
    storageClasses: ['STANDARD', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR'],
    missingCalls: [],
  },
  ceph: {
    ...GENERIC,
    title: 'Ceph Object Gateway (RGW)',
    // RGW signs with any region name; its default zonegroup answers to us-east-1.
    region: 'us-east-1',
    // RGW's beast frontend leaves Nagle's algorithm on unless `tcp_nodelay=1` is in rgw_frontends
    // (Ceph's default is 0): on a reused connection every answer with a body — a GET, a listing —
    // waits ~40 ms for the client's delayed ACK (measured: 47 ms against 5–10 ms on a fresh
    // connection, which Linux acknowledges at once). RGW usually sits on the LAN, where a
    // connection costs far less than that.
    keepAlive: false,
    endpointHint: 'set "endpoint" to the gateway\'s URL, e.g. "http://ceph-rgw.local:7480"',
  },
  minio: {
    ...GENERIC,
    title: 'MinIO',
    region: 'us-east-1',
    endpointHint: 'set "endpoint" to the MinIO server\'s URL, e.g. "http://nas.local:9000"',
  },
  wasabi: {
    ...GENERIC,
    title: 'Wasabi',
    region: 'us-east-1',
    endpoint: (region) => (region === undefined || region === 'us-east-1' ? 'https://s3.wasabisys.com' : `https://s3.${region}.wasabisys.com`),
  },
  backblaze: {
    ...GENERIC,
    title: 'Backblaze B2',
    endpoint: (region) => (region === undefined ? undefined : `https://s3.${region}.backblazeb2.com`),
    endpointHint: 'set "region" to the bucket\'s region (e.g. "us-west-004", part of the bucket\'s Endpoint shown in the B2 web console), or "endpoint" to that Endpoint',
  },
  cloudflare: {
    ...GENERIC,
    title: 'Cloudflare R2',
    region: 'auto',
    endpointHint: 'set "endpoint" to "https://<ACCOUNT_ID>.r2.cloudflarestorage.com" (the account id is in the Cloudflare dashboard)',
    storageClasses: ['STANDARD', 'STANDARD_IA'],
  },
  sakura: {
    ...GENERIC,
    title: 'さくらのクラウド オブジェクトストレージ (SAKURA internet)',
    region: 'jp-north-1',
    endpoint: () => 'https://s3.isk01.sakurastorage.jp',
  },
  idcf: {
    ...GENERIC,
    title: 'IDCFクラウド オブジェクトストレージ',
    endpointHint: 'set "endpoint" to the S3 endpoint shown in the IDCF Cloud console',
  },
  other: {
    ...GENERIC,
    title: 'another S3-compatible service',
    endpointHint: 'set "endpoint" to the service\'s S3 URL',
  },
};

/** The provider a config means: the one it names, else one recognised from the endpoint's host, else aws / other. */
export function inferProvider(endpoint: string | undefined): Provider {
  if (endpoint === undefined) return 'aws';
  let host: string;
  try {
    host = new URL(endpoint).hostname.toLowerCase();
  } catch {
    return 'other';
  }
  const is = (domain: string) => host === domain || host.endsWith(`.${domain}`);
  if (is('amazonaws.com')) return 'aws';
  if (is('wasabisys.com')) return 'wasabi';
  if (is('backblazeb2.com')) return 'backblaze';
  if (is('r2.cloudflarestorage.com')) return 'cloudflare';
  if (is('sakurastorage.jp')) return 'sakura';
  if (is('idcfcloud.com')) return 'idcf';
  return 'other';
}

/** The region inside a Wasabi or Backblaze endpoint host (s3.<region>.wasabisys.com, s3.<region>.backblazeb2.com). */
export function regionFromEndpoint(provider: Provider, endpoint: string | undefined): string | undefined {
  if (endpoint === undefined || (provider !== 'wasabi' && provider !== 'backblaze')) return undefined;
  try {
    const m = /^s3\.([a-z0-9-]+)\.(?:wasabisys\.com|backblazeb2\.com)$/.exec(new URL(endpoint).hostname.toLowerCase());
    return m?.[1];
  } catch {
    return undefined;
  }
}
