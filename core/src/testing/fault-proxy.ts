import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { seededRandom } from './seeded-random.js';

/**
 * A fault-injecting HTTP proxy between hokan and a real test server (S3, Azure, WebDAV): each
 * request is passed through, or — with probability `rate`, chosen by a seeded generator so a
 * failing campaign can be replayed — meets one of the faults a real network and a real service
 * produce (issue 24). Nothing here imitates the service: the answers that are not faults are the
 * real server's.
 */
export type FaultKind =
  /** 503 with S3's SlowDown body (throttling). */
  | 'slow-down'
  /** 500 InternalError. */
  | 'internal-error'
  /** 429 Too Many Requests (WebDAV servers and Azure say so). */
  | 'too-many'
  /** The connection is reset while the request body is still arriving. */
  | 'reset-in-body'
  /** The answer stalls for `stallMs` before it is passed on. */
  | 'stall'
  /** The answer's headers and half its body, then the connection is cut. */
  | 'truncated'
  /** The server does the request and answers, but the answer never arrives: the connection is cut (a success the client must not take for a failure). */
  | 'lost-answer'
  /** The server is gone for `vanishMs`: every connection is refused (reset) until then. */
  | 'vanish'
  /** 507 Insufficient Storage (WebDAV: a NAS or online storage that is full for the moment). */
  | 'insufficient-storage';

export const FAULT_KINDS: readonly FaultKind[] = ['slow-down', 'internal-error', 'too-many', 'reset-in-body', 'stall', 'truncated', 'lost-answer', 'vanish'];

/**
 * Whose error answers the service faults imitate:
 * - `s3`: XML `<Error><Code>` bodies — 503 SlowDown, 500 InternalError, 429 TooManyRequests.
 * - `azure`: Azure Storage's XML error with the `x-ms-error-code` header — 503 ServerBusy ("The server
 *   is busy."), 500 OperationTimedOut, and for `too-many` 503 ServerBusy "Ingress is over the account
 *   limit." (Azure throttles with 503, not 429).
 * - `webdav`: plain-text answers as Apache, rclone or a NAS's web server give them — 503 Service
 *   Unavailable (Retry-After), 500, 429, and `insufficient-storage` 507.
 */
export type FaultFlavor = 's3' | 'azure' | 'webdav';

/** The kinds a flavor injects by default (`insufficient-storage` only for WebDAV, where servers say it). */
export function faultKinds(flavor: FaultFlavor = 's3'): readonly FaultKind[] {
  return flavor === 'webdav' ? [...FAULT_KINDS, 'insufficient-storage'] : FAULT_KINDS;
}

/** The status, headers and body of a service fault, in the flavor's own form. */
export function serviceFault(flavor: FaultFlavor, kind: 'slow-down' | 'internal-error' | 'too-many' | 'insufficient-storage'): { status: number; headers: Record<string, string>; body: string } {
  if (flavor === 'azure') {
    const [status, code, message] =
      kind === 'slow-down' || kind === 'insufficient-storage'
        ? [503, 'ServerBusy', 'The server is busy.']
        : kind === 'internal-error'
          ? [500, 'OperationTimedOut', 'Operation could not be completed within the specified time.']
          : [503, 'ServerBusy', 'Ingress is over the account limit.'];
    const body = `\ufeff<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:00000000-0000-0000-0000-000000000000\nTime:${new Date().toISOString()}</Message></Error>`;
    return { status, headers: { 'content-type': 'application/xml', 'x-ms-error-code': code, 'x-ms-request-id': '00000000-0000-0000-0000-000000000000', 'x-ms-version': '2025-01-05' }, body };
  }
  if (flavor === 'webdav') {
    const [status, text] = kind === 'slow-down' ? [503, 'Service Unavailable'] : kind === 'internal-error' ? [500, 'Internal Server Error'] : kind === 'too-many' ? [429, 'Too Many Requests'] : [507, 'Insufficient Storage'];
    return { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...(status === 503 || status === 429 ? { 'retry-after': '1' } : {}) }, body: `${status} ${text}\n` };
  }
  const [status, code, msg] = kind === 'slow-down' ? [503, 'SlowDown', 'Please reduce your request rate.'] : kind === 'too-many' ? [429, 'TooManyRequests', 'Too many requests.'] : kind === 'insufficient-storage' ? [507, 'InsufficientStorage', 'Insufficient storage.'] : [500, 'InternalError', 'We encountered an internal error. Please try again.'];
  return { status, headers: { 'content-type': 'application/xml', ...(status !== 500 ? { 'retry-after': '1' } : {}) }, body: S3_ERROR(code, msg) };
}

export interface FaultProxyOptions {
  /** The real server behind the proxy. */
  upstreamPort: number;
  /** The share of requests that meet a fault (0…1). */
  rate?: number;
  seed?: number;
  /** Default: the flavor's (faultKinds). */
  kinds?: readonly FaultKind[];
  /** Whose error answers to give (default `s3`). */
  flavor?: FaultFlavor;
  stallMs?: number;
  vanishMs?: number;
  /**
   * Chooses the fault for a request instead of the seeded draw (a test that needs one fault on one
   * request): a kind, or undefined to pass it through.
   */
  pick?: (method: string, url: string) => FaultKind | undefined;
}

export interface FaultProxy {
  port: number;
  endpoint: string;
  /** Requests seen, and faults injected per kind. */
  readonly requests: number;
  readonly injected: Record<string, number>;
  /** Changes the share of requests that meet a fault (0: a clean network). */
  setRate(rate: number): void;
  close(): Promise<void>;
}


const S3_ERROR = (code: string, message: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const random = seededRandom(o.seed ?? 1);
  let rate = o.rate ?? 0.1;
  const flavor = o.flavor ?? 's3';
  const kinds = o.kinds ?? faultKinds(flavor);
  const injected: Record<string, number> = {};
  let requests = 0;
  let goneUntil = 0;
  const sockets = new Set<Socket>();
  const note = (k: FaultKind) => (injected[k] = (injected[k] ?? 0) + 1);

  const pass = (req: IncomingMessage, res: ServerResponse, after?: (up: IncomingMessage) => void) => {
    const up = request({ host: '127.0.0.1', port: o.upstreamPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (after) return after(answer);
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const server: Server = createServer((req, res) => {
    requests++;
    if (Date.now() < goneUntil) {
      req.socket.destroy();
      return;
    }
    const fault = o.pick ? o.pick(req.method ?? '', req.url ?? '') : random() < rate ? kinds[Math.floor(random() * kinds.length)]! : undefined;
    if (!fault) return pass(req, res);
    note(fault);
    switch (fault) {
      case 'slow-down':
      case 'internal-error':
      case 'too-many':
      case 'insufficient-storage': {
        const { status, headers, body } = serviceFault(flavor, fault);
        // The body is read first (as a server does), so the client is not left writing into a closed socket.
        req.resume();
        req.on('end', () => {
          res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
        return;
      }
      case 'reset-in-body': {
        let seen = 0;
        req.on('data', (d: Buffer) => {
          seen += d.length;
          if (seen > 1) req.socket.destroy();
        });
        req.on('end', () => req.socket.destroy());
        return;
      }
      case 'stall':
        setTimeout(() => pass(req, res), o.stallMs ?? 3000);
        return;
      case 'truncated':
        return pass(req, res, (answer) => {
          const len = Number(answer.headers['content-length'] ?? 0);
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          if (len < 2) {
            answer.pipe(res);
            return;
          }
          let sent = 0;
          // A HEAD answer (or one that ends before half its length): whole, as it came.
          answer.on('end', () => res.end());
          answer.on('data', (d: Buffer) => {
            const room = Math.floor(len / 2) - sent;
            if (room > 0) res.write(d.subarray(0, room));
            sent += d.length;
            if (sent >= len / 2) {
              answer.destroy();
              res.socket?.destroy();
            }
          });
        });
      case 'lost-answer':
        // Only once the server has answered in full (it has done the request), the client's connection is cut.
        return pass(req, res, (answer) => {
          answer.resume();
          answer.on('end', () => res.socket?.destroy());
          answer.on('error', () => res.socket?.destroy());
        });
      case 'vanish':
        goneUntil = Date.now() + (o.vanishMs ?? 5000);
        req.socket.destroy();
        return;
    }
  });
  server.on('connection', (s) => {
    if (Date.now() < goneUntil) {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    injected,
    setRate(r: number) {
      rate = r;
      if (r === 0) goneUntil = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
