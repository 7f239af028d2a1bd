import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A message the server took: the envelope and the message as mailparser reads it. */
export interface Received {
  /** The message as it crossed the wire (headers as encoded). */
  raw: string;
  from: string;
  to: string[];
  mail: ParsedMail;
}

export interface SmtpHandle {
  port: number;
  received: Received[];
  /** Resolves when `n` messages have arrived (fails after `ms`). */
  waitFor(n: number, ms?: number): Promise<Received[]>;
  stop(): Promise<void>;
}

/** A self-signed certificate for 127.0.0.1 (openssl), for STARTTLS. */
export async function selfSignedCert(): Promise<{ key: string; cert: string; certFile: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hokan-smtp-cert-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function waiter(received: Received[]) {
  const waits: { n: number; resolve: () => void }[] = [];
  return {
    push(r: Received) {
      received.push(r);
      for (const w of [...waits]) if (received.length >= w.n) w.resolve();
    },
    waitFor(n: number, ms = 10_000): Promise<Received[]> {
      if (received.length >= n) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${received.length} message(s) arrived, expected ${n}`)), ms);
        waits.push({ n, resolve: () => (clearTimeout(t), resolve(received)) });
      });
    },
  };
}

/**
 * smtp-server in this process on a free port of 127.0.0.1: with `tls` it offers STARTTLS, with
 * `auth` it wants a login after it (535 for a wrong password); recipients matching `refuse` get 550.
 */
export async function startSmtpServer(o: { tls?: { key: string; cert: string }; auth?: { user: string; pass: string }; refuse?: RegExp } = {}): Promise<SmtpHandle> {
  const received: Received[] = [];
  const w = waiter(received);
  const server = new SMTPServer({
    ...(o.tls ? { key: o.tls.key, cert: o.tls.cert } : { disabledCommands: ['STARTTLS'] }),
    authOptional: !o.auth,
    ...(o.auth ? {} : { disabledCommands: o.tls ? ['AUTH'] : ['STARTTLS', 'AUTH'] }),
    logger: false,
    onAuth(auth, _session, cb) {
      if (o.auth && auth.username === o.auth.user && auth.password === o.auth.pass) return cb(null, { user: auth.username });
      cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      if (o.refuse?.test(address.address)) return cb(Object.assign(new Error(`<${address.address}>: Recipient address rejected: User unknown`), { responseCode: 550 }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        simpleParser(raw)
          .then((mail) => {
            w.push({ raw, from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), mail });
            cb();
          })
          .catch(cb);
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as { port: number }).port;
  return { port, received, waitFor: w.waitFor, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A port nothing listens on (taken, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Where Debian's python3-aiosmtpd lives: Debian's own python3 (not the first python3 on the PATH here). */
export function aiosmtpdPython(): string | undefined {
  for (const py of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(py, ['-c', 'import aiosmtpd'], { stdio: 'ignore' });
      return py;
    } catch {
      // not there
    }
  }
  return undefined;
}

/**
 * `python3 -m aiosmtpd -n -l 127.0.0.1:PORT` (its debugging handler prints every message it takes
 * on stdout): an SMTP server nobody here wrote. Messages are cut out of its output and parsed.
 */
export async function startAiosmtpd(python: string): Promise<SmtpHandle> {
  const port = await closedPort();
  const received: Received[] = [];
  const w = waiter(received);
  const child: ChildProcess = spawn(python, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (;;) {
      const start = out.indexOf('---------- MESSAGE FOLLOWS ----------\n');
      const end = out.indexOf('------------ END MESSAGE ------------\n', start);
      if (start < 0 || end < 0) break;
      const raw = out.slice(start + '---------- MESSAGE FOLLOWS ----------\n'.length, end);
      out = out.slice(end + 1);
      void simpleParser(raw).then((mail) => {
        // Its debugging handler prints the message, not the envelope: the headers say who.
        const addrs = (a: ParsedMail['to']) => (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => v.address ?? ''));
        w.push({ raw, from: mail.from?.value[0]?.address ?? '', to: [...addrs(mail.to), ...addrs(mail.cc)], mail });
      });
    }
  });
  // Ready when it accepts a connection.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`aiosmtpd did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    received,
    waitFor: w.waitFor,
    stop: async () => {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
