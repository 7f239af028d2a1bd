import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT, collect } from '../../../test/helpers/agent.js';
import { cert, secure, setup, secureNotifier, newMail, dir } from './cli-fixture.js';

// NODE_EXTRA_CA_CERTS through the `agent` bin (core/bin/agent.cjs, cli/extra-ca.cts): the bin's first
// line hides the variable from Node's start-up (~100 ms a command) and the agent reads the file at its
// first TLS connection instead. What must hold: a private CA named there is trusted exactly as Node
// itself would trust it, a command that opens no TLS connection never reads the file, and a file
// that cannot be read is said — as Node says it — when it is needed.

/** The bin run as a program (its `#!` line, as `npx agent` or a service runs it), not as `node agent.cjs`. */
function bin(args: string[], base: string, env: Record<string, string | undefined>) {
  const e: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', LANG: 'C', SMTP_PASSWORD: 'correct horse 42 battery' };
  delete e.NODE_EXTRA_CA_CERTS;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) e[k] = v;
  const child = spawn(AGENT, [...args, '--config', join(base, 'config.json'), '--data-dir', join(base, 'data')], { cwd: base, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  return collect(child);
}

describe('NODE_EXTRA_CA_CERTS, read at the first TLS connection', () => {
  it('a private CA named there is trusted by a plugin\'s TLS connection (STARTTLS to a self-signed server, no `ca` in the config); without it the certificate is refused', async () => {
    const { base } = await setup([secureNotifier({ ca: undefined })]);
    const { result, mails } = await newMail(secure, () => bin(['notify', 'test', 'mail'], base, { NODE_EXTRA_CA_CERTS: cert.certFile }));
    const ok = result as Awaited<ReturnType<typeof bin>>;
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^mail \(smtp\): test message sent — the server answered: 250/m);
    expect(mails).toHaveLength(1);

    const refused = await bin(['notify', 'test', 'mail'], base, {});
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/mail \(smtp\): the test message could not be sent: .*certificate/i);
  });

  it('a file that cannot be read: a command with no TLS connection never looks at it; one that needs it says so, as Node would, and goes on with the usual roots', async () => {
    const { base } = await setup([secureNotifier({ ca: undefined })]);
    const missing = join(dir, 'no-such-ca.pem');
    // A backup to a local folder (the notifier does not send for a good run without `on`): no TLS.
    const local = await bin(['backup'], base, { NODE_EXTRA_CA_CERTS: missing });
    expect(local.code).toBe(0);
    expect(local.stderr).not.toContain('no-such-ca.pem');
    expect(local.stdout).toMatch(/uploaded 3/);

    const tls = await bin(['notify', 'test', 'mail'], base, { NODE_EXTRA_CA_CERTS: missing });
    expect(tls.stderr).toMatch(/Warning: Ignoring extra certs from `.*no-such-ca\.pem`, load failed: ENOENT/);
    expect(tls.stderr).toMatch(/certificate/i); // the self-signed server is not trusted without it
    expect(tls.code).toBe(3);
  });
});
