/** check() failures, transient failures and config validation against a real Azurite, with the exact messages a person sees. */
import { BlobServiceClient, ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { ConfigError, TargetError, describeError, nullLogger } from '@hokan/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import plugin, { azureTargetContribution } from '../src/index.js';
import { resolveAzureConfig } from '../src/azure-config.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzuriteHandle } from './azurite-helper.js';
import { bufferSource, makeTarget, readAll } from './helpers.js';

let az: AzuriteHandle;
const cred = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY);
const WRONG_KEY = Buffer.from('not the key of this account, but 64 bytes long like a real one!').toString('base64');
beforeAll(async () => {
  az = await startAzurite();
  await az.createContainer('present');
});
afterAll(async () => az?.stop());

async function errorOf(p: Promise<unknown>): Promise<TargetError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!TargetError.is(e)) throw new Error(`expected a TargetError, got ${String(e)}`);
  return e;
}

function sas(permissions: string, expiresOn: Date, startsOn?: Date): string {
  return generateBlobSASQueryParameters({ containerName: 'present', permissions: ContainerSASPermissions.parse(permissions), expiresOn, ...(startsOn ? { startsOn } : {}) }, cred).toString();
}

/** What a person could see of an error (message, hint, cause), as the CLI and the log show it. */
function shown(e: unknown): string {
  return JSON.stringify(describeError(e)) + String((e as Error).message) + String((e as TargetError).hint) + String(((e as Error).cause as Error | undefined)?.message);
}

describe('target-azure check()', () => {
  it('passes on an existing container', async () => {
    const t = await makeTarget(az.targetConfig('present'));
    await expect(t.check()).resolves.toBeUndefined();
  });

  it('a missing container: unavailable, with the fix', async () => {
    const e = await errorOf((await makeTarget(az.targetConfig('missing-container'))).check());
    expect(e.kind).toBe('unavailable');
    expect(e.message).toBe(`the container "missing-container" does not exist in the storage account "${AZURITE_ACCOUNT}"`);
    expect(e.hint).toBe('set "createContainer": true for this target, or create the container (portal, Storage Explorer or `az storage container create`)');
  });

  it('createContainer: true creates the missing container, and the target works', async () => {
    const t = await makeTarget({ ...az.targetConfig('made-by-check'), createContainer: true });
    await t.check();
    const raw = new BlobServiceClient(az.endpoint, cred);
    expect(await raw.getContainerClient('made-by-check').exists()).toBe(true);
    await t.check(); // exists now
    await t.put('a.txt', bufferSource('hello'), { size: 5, mtimeMs: 42 });
    expect((await t.get('a.txt', undefined, readAll)).toString()).toBe('hello');
  });

  it('a wrong account key: auth, naming the key to check; the key is never shown', async () => {
    const e = await errorOf((await makeTarget({ ...az.targetConfig('present'), accountKey: WRONG_KEY })).check());
    expect(e.kind).toBe('auth');
    expect(e.message).toMatch(new RegExp(`^Azure refused the account key for storage account "${AZURITE_ACCOUNT}" \\((AuthenticationFailed|AuthorizationFailure)\\): the key is wrong or was rotated$`));
    expect(e.hint).toBe('copy key1 or key2 from the account\'s "Access keys" page into what "accountKey" (or the connection string) reads');
    expect(shown(e)).not.toContain(WRONG_KEY);
  });

  it('a read-only SAS: check passes (it can list), a put is refused naming the missing permissions', async () => {
    const token = sas('rl', new Date(Date.now() + 3600_000));
    const t = await makeTarget({ type: 'azure', endpoint: az.endpoint, container: 'present', prefix: 'ro', sasToken: token });
    await t.check();
    const e = await errorOf(t.put('x.txt', bufferSource('x'), { size: 1 }));
    expect(e.kind).toBe('auth');
    expect(e.message).toBe('upload of blob "ro/x.txt" in container "present" is not allowed with these credentials (AuthorizationPermissionMismatch)');
    expect(e.hint).toBe('the SAS token lacks a permission: make one with read, add, create, write, delete and list (racwdl) for this container');
    const sig = new URLSearchParams(token).get('sig')!;
    expect(shown(e)).not.toContain(sig);
    expect(shown(e)).not.toContain(encodeURIComponent(sig));
  });

  it('an expired SAS: auth, saying when it expired, before any request', async () => {
    const expired = new Date(Math.floor((Date.now() - 3600_000) / 1000) * 1000);
    const t = await makeTarget({ type: 'azure', endpoint: az.endpoint, container: 'present', sasToken: `?${sas('racwdl', expired, new Date(Date.now() - 7200_000))}` });
    az.proxy.reset();
    const e = await errorOf(t.check());
    expect(e.kind).toBe('auth');
    expect(e.message).toBe(`the SAS token expired on ${expired.toISOString()}`);
    expect(e.hint).toBe('make a new SAS token (permissions racwdl: read, add, create, write, delete, list) and put it where "sasToken" reads it from');
    // …and a request made with it anyway says the same.
    const e2 = await errorOf(t.stat('x'));
    expect(e2.message).toBe(`the SAS token expired on ${expired.toISOString()}`);
  });

  it('a SAS with every permission works for the whole cycle, moves included', async () => {
    const t = await makeTarget({ type: 'azure', endpoint: az.endpoint, container: 'present', prefix: 'rw', sasToken: sas('racwdl', new Date(Date.now() + 3600_000)) });
    await t.check();
    await t.put('a.txt', bufferSource('sas'), { size: 3, mtimeMs: 9000 });
    await t.move('a.txt', 'b.txt');
    expect((await t.get('b.txt', undefined, readAll)).toString()).toBe('sas');
    expect((await t.stat('b.txt')).mtimeMs).toBe(9000);
  });

  it('a connection string works like account and key', async () => {
    const cs = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${az.endpoint};`;
    const t = await makeTarget({ type: 'azure', container: 'present', prefix: 'cs', connectionString: cs });
    await t.check();
    await t.put('c.txt', bufferSource('cs'), { size: 2 });
    expect((await t.get('c.txt', undefined, readAll)).toString()).toBe('cs');
  });

  it('an account name that does not resolve (DNS): unavailable, naming the account', async () => {
    const e = await errorOf((await makeTarget({ ...az.targetConfig('present'), account: 'nosuchaccount', endpoint: 'http://nosuchaccount.blob.invalid' })).check());
    expect(e.kind).toBe('unavailable');
    expect(e.message).toMatch(/^cannot find the storage account: nosuchaccount\.blob\.invalid has no address \((ENOTFOUND|EAI_AGAIN)\)$/);
    expect(e.hint).toBe('check the account name "nosuchaccount" (and "endpoint"), and that this computer is online');
  });

  it('an account the service does not know: unavailable', async () => {
    const e = await errorOf((await makeTarget({ ...az.targetConfig('present'), endpoint: `http://127.0.0.1:${az.port}/otheraccount` })).check());
    expect(['unavailable', 'auth']).toContain(e.kind);
  });

  it('an endpoint nobody listens on: unavailable', async () => {
    const e = await errorOf((await makeTarget({ ...az.targetConfig('present'), endpoint: 'http://127.0.0.1:9/devstoreaccount1' }, { maxTries: 1 })).check());
    expect(e.kind).toBe('unavailable');
    expect(e.message).toBe('cannot reach the blob service at http://127.0.0.1:9/devstoreaccount1 (ECONNREFUSED)');
  });
});

describe('target-azure transient failures (the SDK\'s retry policy)', () => {
  it('503 ServerBusy is retried and the put succeeds', async () => {
    const t = await makeTarget({ ...az.targetConfig('present'), endpoint: az.proxy.endpoint, prefix: 'busy' }, { retryDelayInMs: 50 });
    az.proxy.failNext(2, 'busy');
    await t.put('a', bufferSource('after throttling'), { size: 16 });
    expect((await t.get('a', undefined, readAll)).toString()).toBe('after throttling');
  });

  it('throttling that outlasts the retries is a transient TargetError', async () => {
    const t = await makeTarget({ ...az.targetConfig('present'), endpoint: az.proxy.endpoint, prefix: 'busy' }, { maxTries: 2, retryDelayInMs: 50 });
    az.proxy.failNext(2, 'busy');
    const e = await errorOf(t.stat('a'));
    az.proxy.failNext(0);
    expect(e.kind).toBe('transient');
    expect(e.message).toMatch(/^stat of blob "busy\/a" in container "present" failed for now \((ServerBusy|HTTP 503)\)$/);
  });

  it('connection resets are retried; when they outlast the retries they are transient', async () => {
    const t = await makeTarget({ ...az.targetConfig('present'), endpoint: az.proxy.endpoint, prefix: 'reset' }, { maxTries: 2, retryDelayInMs: 50 });
    az.proxy.failNext(1, 'reset');
    await t.put('b', bufferSource('ok'), { size: 2 });
    expect((await t.get('b', undefined, readAll)).toString()).toBe('ok');
    az.proxy.failNext(2, 'reset');
    const e = await errorOf(t.get('b', undefined, readAll));
    az.proxy.failNext(0);
    expect(e.kind).toBe('transient');
    expect(e.message).toMatch(/^download of blob "reset\/b" in container "present" failed for now \((ECONNRESET|EPIPE|REQUEST_SEND_ERROR)\)$/);
  });
});

describe('target-azure config', () => {
  const problem = (raw: Record<string, unknown>): ConfigError => {
    try {
      resolveAzureConfig(raw, 'cloud');
    } catch (e) {
      if (ConfigError.is(e)) return e;
      throw e;
    }
    throw new Error('expected a ConfigError');
  };

  it('refuses Archive with the reason and the alternative', () => {
    const e = problem({ type: 'azure', account: 'acct1', container: 'c1c', accountKey: 'k', accessTier: 'Archive' });
    expect(e.message).toBe('target "cloud": access tier Archive is not supported: archived blobs cannot be read until they are rehydrated (which takes hours), so a backup there could not be restored or verified on demand');
    expect(e.hint).toBe('use Cold (cheap, read at once) or one of Hot, Cool, Cold; a lifecycle rule can still move old generations (.hokan/versions/) to Archive');
    expect(e.problems[0]!.path).toBe('/targets/cloud/accessTier');
  });

  it('refuses two secrets at once, a bad container name, a small block size, an unknown key, a SAS without a signature', () => {
    expect(problem({ type: 'azure', account: 'acct1', container: 'c1c', accountKey: 'k', sasToken: 'sig=x' }).message).toBe('target "cloud": give one of accountKey, sasToken and connectionString, not accountKey and sasToken');
    expect(problem({ type: 'azure', account: 'acct1', container: 'Office_Backup', accountKey: 'k' }).message).toBe('target "cloud": "Office_Backup" is not a valid container name');
    expect(problem({ type: 'azure', account: 'acct1', container: 'c1c', accountKey: 'k', blockSize: 1000 }).hint).toBe('blocks are 1 MiB (1048576 bytes) to 4000 MiB');
    expect(problem({ type: 'azure', account: 'acct1', container: 'c1c', accountKey: 'k', bucket: 'x' }).message).toBe('target "cloud": unknown setting "bucket" for an azure target');
    expect(problem({ type: 'azure', account: 'acct1', container: 'c1c', sasToken: 'sv=2024&se=2030' }).message).toBe('target "cloud": sasToken is not a SAS token (it has no "sig=" part)');
    expect(problem({ type: 'azure', container: 'c1c', endpoint: 'http://127.0.0.1:10000/devstoreaccount1' }).message).toBe('target "cloud": DefaultAzureCredential (no accountKey, sasToken or connectionString) signs in with tokens, which Azure accepts only over https');
    expect(problem({ type: 'azure', container: 'c1c', accountKey: 'k' }).message).toBe('target "cloud": an azure target needs an "account" (or an "endpoint", or a "connectionString"); an accountKey needs the "account" it belongs to');
  });

  it('defaults: 16 MiB blocks, 8 connections; prefix gets its slash; a SAS loses its "?"', () => {
    const c = resolveAzureConfig({ type: 'azure', account: 'acct1', container: 'c1c', prefix: '/office-pc', sasToken: '?sv=1&sig=abc' });
    expect(c).toMatchObject({ blockSize: 16 * 1024 * 1024, maxConnections: 8, prefix: 'office-pc/', createContainer: false, auth: 'sasToken', sasToken: 'sv=1&sig=abc' });
  });

  it('without a key, SAS or connection string, DefaultAzureCredential needs @azure/identity: a clear message when it is not installed', async () => {
    // This repository does not install the optional peer for the plugin (Azurite's own older copy sits in its folder).
    const { createRequire } = await import('node:module');
    expect(() => createRequire(import.meta.url).resolve('@azure/identity')).toThrow();
    const e = await azureTargetContribution.create({ type: 'azure', account: 'acct1', container: 'c1c' }, { id: 'cloud', logger: nullLogger, dataDir: '/nonexistent' }).catch((err: unknown) => err);
    expect(ConfigError.is(e)).toBe(true);
    expect((e as Error).message).toBe('the azure target has no accountKey, sasToken or connectionString, and DefaultAzureCredential (Entra ID sign-in) needs the package @azure/identity, which is not installed');
    expect((e as ConfigError).hint).toBe('set one of accountKey, sasToken, connectionString (e.g. "accountKey": "${env:AZURE_STORAGE_KEY}"), or run `npm install @azure/identity` where hokan is installed');
  });

  it('the plugin binds its contribution through an inversify ContainerModule, and creates targets with the declared capabilities', async () => {
    expect(plugin).toMatchObject({ id: 'target-azure', apiVersion: 1 });
    const { Container, TargetContribution } = await import('@hokan/core');
    const container = new Container();
    await container.load(plugin.module!);
    const contribution = container.get<typeof azureTargetContribution>(TargetContribution);
    expect(contribution.type).toBe('azure');
    const t = await contribution.create({ ...az.targetConfig('present'), prefix: 'p' }, { id: 'cloud', logger: nullLogger, dataDir: '/nonexistent' });
    expect(t.capabilities).toEqual({ maxConnections: 8, serverSideMove: true, maxObjectSize: 50_000 * 4000 * 1024 * 1024, maxKeyLength: 1022, resumableUploads: true, forbiddenChars: '\\', preservesMtime: true });
    await t.check();
  });

  it('the SDK is not imported by the plugin entry (only inside create), so `agent --help` never loads it', async () => {
    const { readFile } = await import('node:fs/promises');
    for (const f of ['index.ts', 'azure-config.ts']) {
      const src = await readFile(new URL(`../src/${f}`, import.meta.url), 'utf8');
      expect(src).not.toMatch(/^import[^;]*['"]@azure\//m);
    }
  });
});
