/**
 * Starts a real Azurite blob service (a child process, on 127.0.0.1, a free port, in memory) for
 * tests, and an HTTP proxy in front of it that counts the bytes clients send and can answer
 * 503 ServerBusy or reset the connection for the next requests.
 * Reusable by any test that needs Azure: `const az = await startAzurite(); … await az.stop();`
 *
 * Azurite 3.35 is the last that runs on Node 20; `--skipApiVersionCheck` lets the newer SDK talk to
 * it, `--loose` ignores headers it does not know. It uses the well-known development account.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { createServer as createNetServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteHandle {
  port: number;
  /** `http://127.0.0.1:PORT/devstoreaccount1` */
  endpoint: string;
  /** The proxy in front of it: point a target here to count bytes or inject failures. */
  proxy: FaultProxy;
  /** An `azure` target's settings for `container` (created beforehand with createContainer). */
  targetConfig(container: string, extra?: Record<string, unknown>): Record<string, unknown>;
  createContainer(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** Path of Azurite's blob server script, wherever npm put the package. */
function azuriteBlobBin(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('azurite/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { bin: Record<string, string> };
  return join(dirname(pkgPath), pkg.bin['azurite-blob']!);
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function launch(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [azuriteBlobBin(), '--silent', '--inMemoryPersistence', '--disableTelemetry', '--blobHost', '127.0.0.1', '--blobPort', String(port), '--skipApiVersionCheck', '--loose'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Azurite did not start in 30 s: ${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('successfully listens')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with ${code}: ${out}`));
    });
  });
  child.removeAllListeners('exit');
  return child;
}

export async function startAzurite(): Promise<AzuriteHandle> {
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; !child; attempt++) {
    port = await freePort();
    try {
      child = await launch(port);
    } catch (e) {
      if (attempt >= 2) throw e; // the port was taken between freePort and launch: try another
    }
  }
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const proxy = await startFaultProxy(port);
  const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
  const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
  const proc = child;
  return {
    port,
    endpoint,
    proxy,
    targetConfig: (container, extra = {}) => ({ type: 'azure', account: AZURITE_ACCOUNT, accountKey: AZURITE_KEY, endpoint, container, ...extra }),
    async createContainer(name) {
      await service.getContainerClient(name).createIfNotExists();
    },
    async stop() {
      await proxy.close();
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

export interface FaultProxy {
  port: number;
  /** `http://127.0.0.1:PORT/devstoreaccount1` through the proxy. */
  endpoint: string;
  /** Bytes clients sent towards the server (request line, headers and bodies) since the last reset. */
  readonly requestBytes: number;
  /** Requests forwarded since the last reset. */
  readonly requests: number;
  reset(): void;
  /** The next `n` requests get a 503 ServerBusy answer, or have their connection reset. */
  failNext(n: number, how?: 'busy' | 'reset'): void;
  close(): Promise<void>;
}

/** An HTTP proxy on 127.0.0.1 in front of `targetPort`. */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  let bytes = 0;
  let requests = 0;
  let failures = 0;
  let failHow: 'busy' | 'reset' = 'busy';
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // Request line and headers as they came on the wire (close enough: names and values plus separators).
    bytes += `${req.method} ${req.url} HTTP/1.1\r\n`.length + req.rawHeaders.reduce((n, h, i) => n + h.length + (i % 2 === 0 ? 2 : 2), 0) + 2;
    req.on('data', (d: Buffer) => (bytes += d.length));
    if (failures > 0) {
      failures--;
      if (failHow === 'reset') {
        req.socket.destroy();
        return;
      }
      req.resume();
      req.on('end', () => {
        const body = '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is busy.</Message></Error>';
        res.writeHead(503, { 'x-ms-error-code': 'ServerBusy', 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    requests++;
    const up = request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`,
    get requestBytes() {
      return bytes;
    },
    get requests() {
      return requests;
    },
    reset() {
      bytes = 0;
      requests = 0;
    },
    failNext(n, how = 'busy') {
      failures = n;
      failHow = how;
    },
    async close() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
