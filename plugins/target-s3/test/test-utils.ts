/** Small helpers for the target-s3 tests: a byte-counting TCP proxy, a ResumeStore in memory, sources. */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { ResumeStore, RewindableSource } from '@hokan/core';

export interface CountingProxy {
  port: number;
  endpoint: string;
  /** Bytes the clients sent towards the server (request lines, headers and bodies) since the last reset. */
  readonly requestBytes: number;
  reset(): void;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 that forwards to `port` and counts what the client sends. */
export async function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (d: Buffer) => (count += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    get requestBytes() {
      return count;
    },
    reset() {
      count = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A ResumeStore in memory that stores JSON copies, as the LevelDB index does. */
export function memoryResumeStore(): ResumeStore & { value: unknown; sets: number } {
  const s = {
    value: undefined as unknown,
    sets: 0,
    async get<T>(): Promise<T | undefined> {
      return s.value === undefined ? undefined : (JSON.parse(JSON.stringify(s.value)) as T);
    },
    async set(state: unknown) {
      s.sets++;
      s.value = JSON.parse(JSON.stringify(state));
    },
    async clear() {
      s.value = undefined;
    },
  };
  return s;
}

/** A source over `data` whose stream fails (like a disk read error) after `failAfter` bytes. */
export function failingSource(data: Buffer, failAfter: number, chunk = 256 * 1024): RewindableSource {
  return {
    size: data.length,
    open(start = 0) {
      let pos = start;
      return new Readable({
        read() {
          if (pos >= failAfter) {
            this.destroy(new Error(`simulated read error at byte ${pos}`));
            return;
          }
          const end = Math.min(data.length, pos + chunk, failAfter);
          this.push(data.subarray(pos, end));
          pos = end;
          if (pos >= data.length) this.push(null);
        },
      });
    },
  };
}

/** A source that records every byte offset its streams were opened at and counts bytes read. */
export function trackingSource(data: Buffer, chunk = 256 * 1024): RewindableSource & { opens: number[]; bytesRead: number } {
  const src = {
    size: data.length,
    opens: [] as number[],
    bytesRead: 0,
    open(start = 0) {
      src.opens.push(start);
      let pos = start;
      return new Readable({
        read() {
          if (pos >= data.length) {
            this.push(null);
            return;
          }
          const end = Math.min(data.length, pos + chunk);
          src.bytesRead += end - pos;
          this.push(data.subarray(pos, end));
          pos = end;
        },
      });
    },
  };
  return src;
}
