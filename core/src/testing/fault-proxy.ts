import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

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
  /** The server is gone for `vanishMs`: every connection is refused (reset) until then. */
  | 'vanish';

export const FAULT_KINDS: readonly FaultKind[] = ['slow-down', 'internal-error', 'too-many', 'reset-in-body', 'stall', 'truncated', 'vanish'];

export interface FaultProxyOptions {
  /** The real server behind the proxy. */
  upstreamPort: number;
  /** The share of requests that meet a fault (0…1). */
  rate?: number;
  seed?: number;
  kinds?: readonly FaultKind[];
  stallMs?: number;
  vanishMs?: number;
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

/** Mulberry32: small, seeded, good enough to pick faults. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const S3_ERROR = (code: string, message: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const random = rng(o.seed ?? 1);
  let rate = o.rate ?? 0.1;
  const kinds = o.kinds ?? FAULT_KINDS;
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
    const fault = random() < rate ? kinds[Math.floor(random() * kinds.length)]! : undefined;
    if (!fault) return pass(req, res);
    note(fault);
    switch (fault) {
      case 'slow-down':
      case 'internal-error':
      case 'too-many': {
        const [status, code, msg] = fault === 'slow-down' ? [503, 'SlowDown', 'Please reduce your request rate.'] : fault === 'internal-error' ? [500, 'InternalError', 'We encountered an internal error. Please try again.'] : [429, 'TooManyRequests', 'Too many requests.'];
        // The body is read first (as a server does), so the client is not left writing into a closed socket.
        req.resume();
        req.on('end', () => {
          const body = S3_ERROR(code, msg);
          res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...(status !== 500 ? { 'retry-after': '1' } : {}) });
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
