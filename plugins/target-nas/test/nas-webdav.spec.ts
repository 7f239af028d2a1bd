import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TargetError, nullLogger, type Logger, type Target } from '@hokan/core';
import { bufferSource, patternBytes, readAll, sha256Hex } from '@hokan/core/testing';
import { nasTargetContribution } from '../src/index.js';
import { parseMultistatus } from '../src/multistatus.js';
import { PASSWORD, freePort, startServer, type DavServer } from './servers.js';

// The WebDAV side's own promises, against a real webdav-server (in this process, so a hook sees
// every request and can answer for the server: a NAS that refuses names, is locked or full).
const ctx = { id: 'nas', logger: nullLogger, dataDir: '' };
const seen: { method: string; path: string; headers: Record<string, string | string[] | undefined> }[] = [];
let answer: (method: string, path: string) => number | undefined = () => undefined;
let s: DavServer;
let n = 0;

beforeAll(async () => {
  s = await startServer('webdav-server', {
    refuse: (method, path) => {
      seen.push({ method, path, headers: {} });
      return answer(method, path);
    },
  });
});
afterAll(async () => s?.stop());

async function fresh(extra: Record<string, unknown> = {}, logger: Logger = nullLogger): Promise<Target> {
  const folder = `w${++n}`;
  await s.mkdir(folder);
  return nasTargetContribution.create(s.targetConfig(folder, extra) as never, { ...ctx, logger });
}

async function errorOf(p: Promise<unknown>): Promise<TargetError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(TargetError.is(e), `expected a TargetError, got ${String(e)}`).toBe(true);
  return e as TargetError;
}

describe('nas target over WebDAV', () => {
  it('uploads to .hokan-tmp/ and moves into place; makes each folder once per run', async () => {
    const t = await fresh();
    await t.check();
    seen.length = 0;
    for (let i = 0; i < 12; i++) await t.put(`docs/sub${i % 2}/f${i}.txt`, bufferSource(`file ${i}`), { size: `file ${i}`.length });
    const mkcols = seen.filter((r) => r.method === 'MKCOL').map((r) => r.path);
    expect(mkcols.sort()).toEqual([`/w${n}/docs/`, `/w${n}/docs/sub0/`, `/w${n}/docs/sub1/`]);
    const puts = seen.filter((r) => r.method === 'PUT').map((r) => r.path);
    expect(puts).toHaveLength(12);
    for (const p of puts) expect(p).toMatch(new RegExp(`^/w${n}/\\.hokan-tmp/[0-9a-f]{12}-\\w+$`));
    expect(seen.filter((r) => r.method === 'MOVE')).toHaveLength(12);
    const listed: string[] = [];
    for await (const o of t.list('')) listed.push(o.key);
    expect(listed.sort()).toEqual(Array.from({ length: 12 }, (_, i) => `docs/sub${i % 2}/f${i}.txt`).sort());
    await t[Symbol.asyncDispose]();
  });

  it('streams a large body (never the whole file in memory before sending) and reads it back byte-identical', async () => {
    const t = await fresh();
    await t.check();
    const data = patternBytes(24 * 1024 * 1024, 5);
    let opened = 0;
    let sentWhenOpened = -1;
    let progress = 0;
    const body = bufferSource(data, { chunkSize: 256 * 1024 });
    const wrapped = { size: body.size, open: (start?: number) => (opened++, body.open(start)) };
    await t.put('big.bin', wrapped, { size: data.length }, { onProgress: (b) => (progress === 0 && (sentWhenOpened = b), (progress = b)) });
    expect(opened).toBe(1);
    expect(sentWhenOpened).toBeLessThan(data.length); // progress came chunk by chunk, as bytes went out
    expect(progress).toBe(data.length);
    expect(await t.get('big.bin', undefined, async (r) => sha256Hex(await readAll(r)))).toBe(sha256Hex(data));
    await t[Symbol.asyncDispose]();
  });

  it('a server that refuses \\ : * ? " < > | and trailing dots: check() finds out, the capabilities declare it, such keys are refused permanent', async () => {
    const refused = /[:*?"<>|\\]|\.$/;
    answer = (method, path) => (method === 'PUT' && refused.test(path.split('/').at(-1)!) ? 400 : undefined);
    try {
      const t = await fresh();
      await t.check();
      expect([...(t.capabilities.forbiddenChars ?? '')].sort().join('')).toBe([...'\\:*?"<>|'].sort().join(''));
      expect(t.capabilities.forbiddenTrailingChars).toBe('.');
      const e = await errorOf(t.put('docs/what?.txt', bufferSource('x'), { size: 1 }));
      expect(e.kind).toBe('permanent');
      expect(e.message).toContain('which the WebDAV server at');
      await t.put('docs/plain.txt', bufferSource('x'), { size: 1 });
      await t[Symbol.asyncDispose]();
    } finally {
      answer = () => undefined;
    }
  });

  it('names: declared forbiddenChars are refused too', async () => {
    const t = await fresh({ forbiddenChars: '#' });
    await t.check();
    expect(t.capabilities.forbiddenChars).toContain('#');
    expect((await errorOf(t.put('a#b.txt', bufferSource('x'), { size: 1 }))).kind).toBe('permanent');
    await t[Symbol.asyncDispose]();
  });

  it('errors say what to fix: 401 wrong password, 404 wrong URL, 423 locked, 507 full, unreachable; the password is never in them', async () => {
    const wrong = 'not-the-password-123';
    const e401 = await errorOf((await fresh({ password: wrong })).check());
    expect(e401.kind).toBe('auth');
    expect(e401.message).toMatch(/refused the user "hokan" \(HTTP 401.*wrong username or password/);
    expect(e401.hint).toMatch(/check "username"/);
    const t404 = await nasTargetContribution.create(s.targetConfig('no-such-folder') as never, ctx);
    const e404 = await errorOf(t404.check());
    expect(e404.kind).toBe('unavailable');
    expect(e404.message).toMatch(/there is no WebDAV folder at .*no-such-folder\/ \(HTTP 404/);
    const t = await fresh();
    await t.check();
    answer = (method) => (method === 'PUT' ? 423 : undefined);
    const e423 = await errorOf(t.put('locked.txt', bufferSource('x'), { size: 1 }));
    expect(e423.kind).toBe('transient');
    expect(e423.message).toMatch(/locked by another client \(HTTP 423/);
    answer = (method) => (method === 'PUT' ? 507 : undefined);
    const e507 = await errorOf(t.put('full.txt', bufferSource('x'), { size: 1 }));
    expect(e507.kind).toBe('quota');
    expect(e507.message).toMatch(/full or over its quota \(HTTP 507/);
    answer = () => undefined;
    const port = await freePort();
    const gone = await nasTargetContribution.create({ type: 'nas', url: `http://127.0.0.1:${port}/nas/`, username: 'hokan', password: PASSWORD }, ctx);
    const eGone = await errorOf(gone.check());
    expect(eGone.kind).toBe('unavailable');
    expect(eGone.message).toMatch(/does not answer \(ECONNREFUSED\)/);
    for (const e of [e401, e404, e423, e507, eGone]) expect(JSON.stringify({ m: e.message, h: e.hint, c: String(e.cause) })).not.toMatch(new RegExp(`${wrong}|${PASSWORD}`));
    await t[Symbol.asyncDispose]();
  });

  it('403 (no rights) is access-denied with the fix; a file where a folder must go (MKCOL 405) is permanent and says so', async () => {
    const t = await fresh();
    await t.check();
    answer = (method) => (method === 'PUT' ? 403 : undefined);
    const e403 = await errorOf(t.put('docs/a.txt', bufferSource('x'), { size: 1 }));
    answer = () => undefined;
    expect(e403.kind).toBe('auth');
    expect(e403.message).toMatch(/is not allowed for the user "hokan" \(HTTP 403/);
    expect(e403.hint).toMatch(/read and write rights/);
    await t.put('docs/report', bufferSource('a file'), { size: 6 });
    const e405 = await errorOf(t.put('docs/report/inside.txt', bufferSource('x'), { size: 1 }));
    expect(e405.kind).toBe('permanent');
    expect(e405.message).toMatch(/cannot make the folder "docs\/report" .*: a file has that name/);
    await t[Symbol.asyncDispose]();
  });

  it('a user who may read but not write: check() passes (a restore works), a write is access-denied with the fix', async () => {
    const t = await fresh();
    await t.put('kept.txt', bufferSource('kept'), { size: 4 });
    await t[Symbol.asyncDispose]();
    answer = (method) => (['PUT', 'MKCOL', 'MOVE', 'DELETE', 'PROPPATCH'].includes(method) ? 403 : undefined);
    try {
      const ro = await nasTargetContribution.create(s.targetConfig(`w${n}`, { url: `${s.url}w${n}/` }) as never, ctx);
      await ro.check();
      expect((await ro.get('kept.txt', undefined, readAll)).toString()).toBe('kept');
      const e = await errorOf(ro.put('new.txt', bufferSource('x'), { size: 1 }));
      expect(e.kind).toBe('auth');
      expect(e.hint).toMatch(/read and write rights/);
    } finally {
      answer = () => undefined;
    }
  });

  it('a server that accepts the connection and never answers: a timeout, transient (retried), within the configured time', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((c) => sockets.push(c));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    try {
      const t = await nasTargetContribution.create({ type: 'nas', url: `http://127.0.0.1:${port}/`, timeout: 1 }, ctx);
      const t0 = Date.now();
      const e = await errorOf(t.check());
      expect(e.kind).toBe('transient');
      expect(e.message).toMatch(/timed out/);
      expect(Date.now() - t0).toBeLessThan(15_000); // three tries of 1 s and the backoff between them
    } finally {
      for (const c of sockets) c.destroy();
      silent.close();
    }
  });

  it('the server\'s quota properties give usage() where it answers them (Nextcloud-style answer)', () => {
    const xml = `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/remote.php/dav/files/u/backup/</d:href><d:propstat><d:prop><d:quota-available-bytes>1000</d:quota-available-bytes><d:quota-used-bytes>234</d:quota-used-bytes><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat><d:propstat><d:prop><d:getcontentlength/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response></d:multistatus>`;
    const [e] = parseMultistatus(xml);
    expect(e).toMatchObject({ path: '/remote.php/dav/files/u/backup', collection: true, props: { 'quota-available-bytes': '1000', 'quota-used-bytes': '234' }, failed: { getcontentlength: 'HTTP/1.1 404 Not Found' } });
  });
});

describe('nas target over HTTPS', () => {
  let tls: DavServer;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hokan-nas-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=nas.hokan.test', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    tls = await startServer('webdav-server', { https: { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') } });
  });
  afterAll(async () => {
    await tls?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('verifies the certificate by default and says which one failed and how to trust it', async () => {
    const t = await nasTargetContribution.create(tls.targetConfig('') as never, ctx);
    const e = await errorOf(t.check());
    expect(e.kind).toBe('unavailable');
    expect(e.message).toMatch(/the TLS certificate of 127\.0\.0\.1:\d+ does not verify \(DEPTH_ZERO_SELF_SIGNED_CERT\): the server shows "nas\.hokan\.test" \(self-signed\), valid .* SHA-256 fingerprint [0-9A-F:]{95}/);
    expect(e.hint).toMatch(/"ca": "\/path\/to\/nas-ca\.pem".*"insecureSkipVerify": true/);
  });

  it('trusts a CA file ("ca"), or skips the check when told to, and logs that it does', async () => {
    const caFile = join(dir, 'cert.pem');
    const t = await nasTargetContribution.create(tls.targetConfig('', { ca: caFile }) as never, ctx);
    await t.check();
    await t.put('x.txt', bufferSource('tls'), { size: 3 });
    expect((await t.get('x.txt', undefined, readAll)).toString()).toBe('tls');
    const warnings: string[] = [];
    const logger: Logger = { ...nullLogger, warn: (_o: unknown, msg?: string) => void warnings.push(String(msg ?? _o)), child: () => logger } as Logger;
    const insecure = await nasTargetContribution.create(tls.targetConfig('', { insecureSkipVerify: true }) as never, { ...ctx, logger });
    await insecure.check();
    expect(warnings.join('\n')).toMatch(/insecureSkipVerify: the TLS certificate of 127\.0\.0\.1:\d+ is not checked/);
    writeFileSync(join(dir, 'not-pem.txt'), 'hello');
    await expect(nasTargetContribution.create(tls.targetConfig('', { ca: join(dir, 'not-pem.txt') }) as never, ctx)).rejects.toThrow(/holds no PEM certificate/);
  });
});
