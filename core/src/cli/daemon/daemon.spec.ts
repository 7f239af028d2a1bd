import { describe, expect, it } from 'vitest';
import { commandWord, forwardable } from './client.cjs';
import { lineReader, socketPath } from './protocol.cjs';

describe('which command lines go to the daemon', () => {
  it('finds the command word past the global options and their values', () => {
    expect(commandWord(['--config', 'backup', '--data-dir', 'x', 'history', '--json'])).toBe('history');
    expect(commandWord(['-c', 'c.json', '--json', 'backup', 'docs'])).toBe('backup');
    expect(commandWord(['--config=c.json', 'show', 'RUN'])).toBe('show');
    expect(commandWord(['--json'])).toBeUndefined();
  });

  it('sends the commands that use the index; keeps here those that do not, --help, --version and HOKAN_NO_DAEMON=1', () => {
    for (const c of ['backup', 'restore', 'versions', 'history', 'show', 'verify', 'status', 'presets']) expect(forwardable([c], {})).toBe(true);
    for (const c of ['run', 'init', 'config', 'plugins']) expect(forwardable([c, '--json'], {})).toBe(false);
    expect(forwardable(['backup', '--help'], {})).toBe(false);
    expect(forwardable(['history', '-h'], {})).toBe(false);
    expect(forwardable(['--version'], {})).toBe(false);
    expect(forwardable([], {})).toBe(false);
    expect(forwardable(['backup'], { HOKAN_NO_DAEMON: '1' })).toBe(false);
  });
});

describe('the daemon socket', () => {
  it('is agent.sock in the data folder, or a per-user hashed name in the runtime folder when that path is too long for a socket', () => {
    expect(socketPath('/home/me/.local/share/hokan', 'linux', {})).toBe('/home/me/.local/share/hokan/agent.sock');
    const deep = '/mnt/' + 'a-rather-long-folder-name/'.repeat(5) + 'hokan';
    const p = socketPath(deep, 'linux', { XDG_RUNTIME_DIR: '/run/user/1000' });
    expect(p).toMatch(/^\/run\/user\/1000\/hokan-\w+-[0-9a-f]{16}\.sock$/);
    expect(socketPath(deep, 'linux', { XDG_RUNTIME_DIR: '/run/user/1000' })).toBe(p); // the same for client and daemon
    expect(socketPath(deep + '2', 'linux', { XDG_RUNTIME_DIR: '/run/user/1000' })).not.toBe(p);
    expect(socketPath('C:\\Users\\me\\AppData\\Local\\hokan', 'win32', {})).toMatch(/^\\\\\.\\pipe\\hokan-[0-9a-f]{16}$/);
  });

  it('reads JSON lines split anywhere, a character split between two chunks included', () => {
    const got: unknown[] = [];
    const read = lineReader((m) => got.push(m), () => got.push('too long'), 64);
    const bytes = Buffer.from(JSON.stringify({ out: '保管 ok' }) + '\n' + JSON.stringify({ exit: 0 }) + '\n');
    const cut = bytes.indexOf(Buffer.from('管')) + 1; // inside the 3-byte character
    read(bytes.subarray(0, cut));
    read(bytes.subarray(cut));
    expect(got).toEqual([{ out: '保管 ok' }, { exit: 0 }]);
    read(Buffer.from('x'.repeat(100)));
    expect(got.at(-1)).toBe('too long');
  });
});
