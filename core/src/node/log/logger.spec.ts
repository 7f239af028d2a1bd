import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, logFileName, pruneLogs } from './logger.js';
import { registerSecretValue } from './secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'hokan-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sink(): { stream: Writable; text(): string } {
  let buf = '';
  return { stream: new Writable({ write: (c, _e, cb) => ((buf += c.toString()), cb()) }), text: () => buf };
}

describe('logger', () => {
  it('writes JSON lines to <dataDir>/logs/hokan-YYYY-MM-DD.jsonl and warn+ to the terminal', async () => {
    const data = join(dir, 'a');
    const term = sink();
    const now = new Date(2024, 4, 7, 12);
    const log = await createLogger({ dataDir: data, terminal: term.stream, now });
    log.info({ job: 'docs' }, 'started');
    log.child('target-s3').warn('slow');
    log.flush();
    const file = join(data, 'logs', 'hokan-2024-05-07.jsonl');
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ level: 30, job: 'docs', msg: 'started' });
    expect(lines[1]).toMatchObject({ level: 40, component: 'target-s3', msg: 'slow' });
    expect(term.text()).toBe('warn: [target-s3] slow\n');
  });

  it('--verbose shows debug lines on the terminal', async () => {
    const term = sink();
    const log = await createLogger({ terminal: term.stream, verbose: true });
    log.debug('details');
    expect(term.text()).toBe('debug: details\n');
  });

  it('masks secret-named keys and secret values from references, in the file and on the terminal', async () => {
    const data = join(dir, 'b');
    const term = sink();
    registerSecretValue('sEcReT-from-env-123');
    const log = await createLogger({ dataDir: data, terminal: term.stream, now: new Date(2024, 0, 2) });
    log.error({ target: { password: 'hunter2', accountKey: 'k', connectionString: 'cs', sasToken: 's', token: 't', accessKeyId: 'AKIA', secretAccessKey: 'x' } }, 'login failed with sEcReT-from-env-123');
    log.flush();
    const text = readFileSync(join(data, 'logs', 'hokan-2024-01-02.jsonl'), 'utf8');
    for (const s of ['hunter2', 'AKIA', 'sEcReT-from-env-123', '"cs"']) expect(text).not.toContain(s);
    expect(JSON.parse(text).target).toEqual({ password: '***', accountKey: '***', connectionString: '***', sasToken: '***', token: '***', accessKeyId: '***', secretAccessKey: '***' });
    expect(JSON.parse(text).msg).toBe('login failed with ***');
    expect(term.text()).not.toContain('hunter2');
    expect(term.text()).toContain('login failed with ***');
  });

  it('prunes log files older than 31 days at start', async () => {
    const logs = join(dir, 'c', 'logs');
    mkdirSync(logs, { recursive: true });
    const now = new Date(2024, 2, 31);
    const old = logFileName(new Date(2024, 1, 28)); // 32 days before
    const kept = logFileName(new Date(2024, 2, 1)); // 30 days before
    writeFileSync(join(logs, old), '');
    writeFileSync(join(logs, kept), '');
    writeFileSync(join(logs, 'other.txt'), '');
    await createLogger({ dataDir: join(dir, 'c'), terminal: false, now });
    expect(existsSync(join(logs, old))).toBe(false);
    expect(existsSync(join(logs, kept))).toBe(true);
    expect(existsSync(join(logs, 'other.txt'))).toBe(true);
    expect(pruneLogs(logs, 31, now)).toEqual([]);
  });
});
