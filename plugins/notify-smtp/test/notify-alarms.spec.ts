import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, startAgent } from '../../../test/helpers/agent.js';
import { aiosmtpdPython, startAiosmtpd, type SmtpHandle } from './smtp-helper.js';
import { plain, dir, setup, plainNotifier, newMail } from './cli-fixture.js';

/** Loaded into an agent process to move its clock (test/helpers/clock-shift.cjs). */
const CLOCK_SHIFT = fileURLToPath(new URL('../../../test/helpers/clock-shift.cjs', import.meta.url));

// The alarms a person would otherwise never hear of: the stale alarm (`agent notify check --now`),
// runs killed mid-run (told by the next command or `agent run`), and the same mails through aiosmtpd
// (Python), an SMTP server nobody here wrote.

describe('the stale alarm through the CLI', () => {
  it('fires for the job with no completed backup in N days (not for the healthy one), repeats daily, says "back to normal" once; status shows it', async () => {
    const base = join(dir, 'stale');
    const jobs = [
      { id: 'docs', sources: [{ path: join(base, 'd') }], targets: ['usb'], notify: ['a'] },
      { id: 'photos', sources: [{ path: join(base, 'p') }], targets: ['usb'], notify: ['b'] },
    ];
    const { run } = await setup([plainNotifier({ id: 'a', on: ['stale:3d'] }), plainNotifier({ id: 'b', on: ['stale:30d'], to: 'photos@example.jp' })], { jobs });
    await mkdir(join(base, 'd'), { recursive: true });
    await mkdir(join(base, 'p'), { recursive: true });
    await writeFile(join(base, 'd', 'a.txt'), 'a');
    await writeFile(join(base, 'p', 'b.jpg'), 'b');
    const b = await newMail(plain, () => run(['backup']));
    expect((b.result as { code: number }).code).toBe(0);
    expect(b.mails).toHaveLength(0);
    const status = await run(['status']);
    expect(status.stdout).toMatch(/job docs: last backup[^\n]*\n(?:  [^\n]*\n)*?  stale: ok — last completed backup [^\n]*\(0 day\(s\) ago\); the alarm goes off after 3 day\(s\)/);

    const at = (days: number, hours = 0) => new Date(Date.now() + days * 86_400_000 + hours * 3_600_000).toISOString();
    const first = await newMail(plain, () => run(['notify', 'check', '--now', at(4)]));
    expect(first.mails.map((m) => m.to)).toEqual([['admin@example.jp']]);
    expect(first.mails[0]!.mail.subject).toMatch(/^\[hokan\] office-pc \/ docs: no completed backup for 4 day\(s\)/);
    expect(first.mails[0]!.mail.text).toContain('This alarm is repeated once a day until a backup of this job completes');
    expect((first.result as { stdout: string }).stdout).toMatch(/job docs: STALE — last completed backup/);
    expect((first.result as { stdout: string }).stdout).toMatch(/job photos: ok — /);
    expect((await newMail(plain, () => run(['notify', 'check', '--now', at(4, 5)]))).mails).toHaveLength(0);
    const second = await newMail(plain, () => run(['notify', 'check', '--now', at(5, 1)]));
    expect(second.mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/docs: no completed backup for 5 day\(s\)/)]);

    // A completed backup ends it: "back to normal", once.
    await writeFile(join(base, 'd', 'new.txt'), 'new');
    const fixed = await newMail(plain, () => run(['backup', 'docs']));
    expect(fixed.mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/^\[hokan\] office-pc \/ docs: back to normal/)]);
    expect((await newMail(plain, () => run(['notify', 'check']))).mails).toHaveLength(0);
  });
});

describe('runs found interrupted', () => {
  it('a backup killed mid-run is told once: by the next command, or by `agent run` when it starts', async () => {
    const { base, run } = await setup([plainNotifier({ language: 'ja' })]);
    const crash = await run(['backup'], { HOKAN_CRASH_AT: 'after-flush:1' });
    expect(crash.signal ?? crash.code).toBe('SIGKILL');
    // The daemon finds it at its start (its first check), and mails it.
    const before = plain.received.length;
    const daemon = startAgent(['run', '--config', join(base, 'config.json'), '--data-dir', join(base, 'data')], { cwd: base, env: { LANG: 'C' } });
    const done = collect(daemon, 60_000);
    const mails = (await plain.waitFor(before + 1)).slice(before);
    expect(mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/^【hokan】office-pc \/ docs: 未完了 \(不慮の事態\)/)]);
    expect(mails[0]!.mail.text).toContain('バックアップの途中でエージェントが停止しました');
    daemon.kill('SIGTERM');
    expect((await done).code).toBe(0);
    // Told once: the next backup (which completes) sends nothing more.
    const next = await newMail(plain, () => run(['backup']));
    expect((next.result as { code: number }).code).toBe(0);
    expect(next.mails).toHaveLength(0);

    // Without a daemon, the next command that opens the index tells it.
    const other = await setup([plainNotifier()]);
    await other.run(['backup'], { HOKAN_CRASH_AT: 'after-flush:1' });
    const told = await newMail(plain, () => other.run(['history']));
    expect(told.mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/docs: interrupted/)]);
  });
});

const python = aiosmtpdPython();
describe.skipIf(!python && !process.env.CI)('against aiosmtpd (Python), a server nobody here wrote', () => {
  let aio: SmtpHandle;
  beforeAll(async () => {
    if (!python) throw new Error('python3-aiosmtpd is not installed (.ci/run installs it)');
    aio = await startAiosmtpd(python);
  });
  afterAll(async () => {
    await aio?.stop();
  });

  it('takes the test mail and a failure mail, whose Japanese subject decodes', async () => {
    const notifier = { id: 'aio', type: 'smtp', host: '127.0.0.1', port: 0, requireTLS: false, from: 'hokan@example.jp', to: ['admin@example.jp'], language: 'ja' };
    const t = await setup([{ ...notifier, port: aio.port }]);
    const r = await t.run(['notify', 'test']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/aio \(smtp\): test message sent — the server answered: 250/);
    const f = await setup([{ ...notifier, port: aio.port }], { failing: true });
    await f.run(['backup']);
    const mails = await aio.waitFor(2);
    expect(mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(/テストメール/), expect.stringMatching(/^【hokan】office-pc \/ docs: 未完了 \(保存先に接続できません\)/)]);
    expect(mails[1]!.to).toEqual(['admin@example.jp']);
    expect(mails[1]!.mail.text).toContain('保存先に接続できません');
  });
});

describe('the stale alarm per rotated disk (issue 24)', () => {
  it('a disk of the rotation without a backup for N days alarms by its name (the disk in use does not), daily; status shows it; "back to normal" when it is backed up again', async () => {
    const { base, src, run } = await setup([plainNotifier({ id: 'a', on: ['stale:3d'] })]);
    const config = join(base, 'config.json');
    const cfg = JSON.parse(await readFile(config, 'utf8'));
    cfg.targets.usb.rotate = true;
    await writeFile(config, JSON.stringify(cfg));
    const disk = cfg.targets.usb.path as string;
    const shelf = { A: join(base, 'disk-A'), B: join(base, 'disk-B') };
    await mkdir(shelf.B);
    const swap = async (out: 'A' | 'B', inn: 'A' | 'B') => {
      await rename(disk, shelf[out]);
      await rename(shelf[inn], disk);
    };
    const DAY = 86_400_000;
    // The agent's clock: days from now (a run "later"), injected into the whole process.
    const later = (days: number) => ({ NODE_OPTIONS: `--require ${CLOCK_SHIFT}`, HOKAN_TEST_CLOCK_SHIFT_MS: String(Math.round(days * DAY)) });
    const at = (days: number) => new Date(Date.now() + days * DAY).toISOString();
    const backup = async (env: Record<string, string> = {}) => {
      const r = await newMail(plain, () => run(['backup', '--json'], env));
      const out = (r.result as { stdout: string; code: number });
      expect(out.code, out.stdout).toBe(0);
      return { run: JSON.parse(out.stdout)[0], mails: r.mails };
    };

    const onA = await backup();
    const diskA = onA.run.targetResults[0].disk as string;
    await writeFile(join(src, 'report.txt'), 'changed on day 0');
    await swap('A', 'B');
    const onB = await backup();
    const diskB = onB.run.targetResults[0].disk as string;
    expect(diskB).not.toBe(diskA);
    await swap('B', 'A');

    // Five days later, disk A is in and backed up; disk B has been on the shelf for five days.
    await writeFile(join(src, 'report.txt'), 'changed on day 5');
    const day5 = await backup(later(5));
    expect(day5.run.targetResults[0].disk).toBe(diskA);
    const subjects = day5.mails.map((m) => m.mail.subject);
    expect(subjects).toEqual([expect.stringMatching(new RegExp(`^\\[hokan\\] office-pc / docs: disk ${diskB.slice(0, 8)} \\(usb\\) has had no backup for 5 day\\(s\\)`))]);
    const text = day5.mails[0]!.mail.text!;
    expect(text).toContain(`Disk ${diskB.slice(0, 8)} of the rotation on target "usb" has had no completed backup of "docs" for 5 day(s).`);
    expect(text).toContain(diskB);
    expect(text).toMatch(/Last completed backup\s+\d{4}\/\d{2}\/\d{2}/);
    expect(text).toContain('bring this disk back');
    expect(text).not.toContain(diskA.slice(0, 8));

    // The same day: not again. The check says which disk is stale and which is in use.
    const check = await newMail(plain, () => run(['notify', 'check', '--now', at(5.1)]));
    expect(check.mails).toHaveLength(0);
    const out = (check.result as { stdout: string }).stdout;
    expect(out).toMatch(/job docs: ok — last completed backup/);
    expect(out).toContain(`disk ${diskB.slice(0, 8)} (usb): STALE — last completed backup`);
    expect(out).toMatch(new RegExp(`disk ${diskB.slice(0, 8)} \\(usb\\): STALE — last completed backup \\d{4}/\\d{2}/\\d{2} [\\d:]+ \\(5 day\\(s\\) ago\\)`));
    expect(out).toMatch(new RegExp(`disk ${diskA.slice(0, 8)} \\(usb\\), the disk in use: ok — last completed backup [^\\n]*\\(0 day\\(s\\) ago\\)`));

    // agent status (as of day 5) shows the stale disk, by its name, in the job and under the target.
    const status = (await run(['status', '--now', at(5.1)])).stdout;
    expect(status).toContain(`  disk ${diskB.slice(0, 8)} (usb): STALE`);
    expect(status).toMatch(new RegExp(`\\n  disk ${diskB.slice(0, 8)}: last backup [^\\n]*completed  \\[run ${onB.run.id}\\] — STALE: no completed backup for 5 day\\(s\\)`));
    expect(status).toMatch(new RegExp(`\\n  disk ${diskA.slice(0, 8)}: last backup [^\\n]*completed  \\[run ${day5.run.id}\\]\\n`));
    const json = JSON.parse((await run(['status', '--json', '--now', at(5.1)])).stdout);
    expect(json.jobs[0].stale.disks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ target: 'usb', disk: diskB, stale: true, inUse: false, daysSince: 5 }),
        expect.objectContaining({ target: 'usb', disk: diskA, stale: false, inUse: true, daysSince: 0 }),
      ]),
    );

    // A day later: repeated, for disk B only.
    const day6 = await newMail(plain, () => run(['notify', 'check', '--now', at(6.05)]));
    expect(day6.mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(new RegExp(`disk ${diskB.slice(0, 8)} \\(usb\\) has had no backup for 6 day\\(s\\)`))]);

    // Disk B comes back and is backed up: back to normal, once; disk A (backed up a day ago) is fine.
    await swap('A', 'B');
    const back = await backup(later(6.1));
    expect(back.run.targetResults[0].disk).toBe(diskB);
    expect(back.mails.map((m) => m.mail.subject)).toEqual([expect.stringMatching(new RegExp(`^\\[hokan\\] office-pc / docs: disk ${diskB.slice(0, 8)} \\(usb\\) back to normal`))]);
    expect((await newMail(plain, () => run(['notify', 'check', '--now', at(6.2)]))).mails).toHaveLength(0);
  });
});
