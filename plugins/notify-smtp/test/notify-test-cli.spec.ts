import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { closedPort } from './smtp-helper.js';
import { PASSWORD, DATE, secure, plain, setup, secureNotifier, plainNotifier, newMail } from './cli-fixture.js';

// `agent notify test` against real SMTP servers: the server's answer, the Japanese subject as it crosses
// the wire and decodes, and each way sending goes wrong said in words (535 → exit 3, STARTTLS, TLS,
// refused, unknown host, 550).

describe('agent notify test', () => {
  it('STARTTLS + AUTH: prints the server\'s answer; the Japanese subject and sender name arrive RFC 2047-encoded and decode; to and cc reached; the password is never shown', async () => {
    const { run } = await setup([secureNotifier()]);
    const { result, mails } = await newMail(secure, () => run(['notify', 'test', 'mail']));
    const r = result as Awaited<ReturnType<typeof run>>;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^mail \(smtp\): test message sent — the server answered: 250 OK: message queued/m);
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
    expect(mails).toHaveLength(1);
    const m = mails[0]!;
    expect(m.to.sort()).toEqual(['admin@example.jp', 'boss@example.jp', 'it@example.jp']);
    expect(m.from).toBe('hokan@example.jp');
    expect(m.mail.subject).toMatch(new RegExp(`^【hokan】office-pc / -: テストメール \\(${DATE.source}\\)$`));
    expect(m.raw).toMatch(/^Subject: =\?UTF-8\?[BQ]\?/im);
    expect(m.mail.from?.value[0]).toEqual({ name: 'hokan バックアップ', address: 'hokan@example.jp' });
    expect(m.mail.text).toContain('hokan からのテストメールです');
    expect(m.mail.html).toContain('テストメール');
  });

  it('a wrong password: the server\'s 535 answer, exit 3, and the password masked', async () => {
    const { run, base } = await setup([secureNotifier()]);
    const r = await run(['notify', 'test'], { SMTP_PASSWORD: 'Wr0ng-Passw0rd!' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/mail \(smtp\): the test message could not be sent: the server at 127\.0\.0\.1:\d+ refused the user name or password of "hokan@example\.jp" — the server answered: 535/);
    expect(r.stderr).toMatch(/→ check "user" and "password"/);
    expect(r.stdout + r.stderr).not.toContain('Wr0ng-Passw0rd!');
    // Nor in the log, where the failure is written.
    const logs = join(base, 'data', 'logs');
    const text = (await Promise.all((await readdir(logs)).map((f) => readFile(join(logs, f), 'utf8')))).join('');
    expect(text).toContain('535');
    expect(text).not.toContain('Wr0ng-Passw0rd!');
  });

  it('says clearly what else goes wrong: STARTTLS not offered, TLS refused, connection refused, unknown host, a refused recipient (550); bad usage is exit 2', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [plainNotifier({ requireTLS: undefined }), /does not offer STARTTLS, and the notifier requires it/],
      [plainNotifier({ secure: true }), /TLS was refused by 127\.0\.0\.1:\d+/],
      [plainNotifier({ port: await closedPort() }), /nothing answers on 127\.0\.0\.1:\d+ \(connection refused\)/],
      [plainNotifier({ host: 'no-such-host.invalid', timeout: 5 }), /unknown host "no-such-host\.invalid"/],
      [secureNotifier({ to: ['nobody@example.jp'], cc: undefined }), /refused the recipient nobody@example\.jp.*550/],
    ];
    for (const [notifier, expected] of cases) {
      const { run } = await setup([notifier]);
      const r = await run(['notify', 'test']);
      expect(r.stderr, JSON.stringify(notifier)).toMatch(expected);
      expect(r.code).toBe(3);
    }
    const { run } = await setup([plainNotifier()]);
    const unknown = await run(['notify', 'test', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/there is no notifier "nope" in the config[\s\S]*notifiers: plain/);
  });
});
