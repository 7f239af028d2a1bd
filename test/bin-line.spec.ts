import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import cmdShim from 'cmd-shim';
import { describe, expect, it } from 'vitest';
import { AGENT } from './helpers/agent.js';

// The bin's first line is read by two programs: `env -S` when it runs as a program (Linux, macOS),
// and npm's cmd-shim, which writes the Windows `agent.cmd` from it at install time and understands
// only `NAME=VALUE` pairs (non-empty values) before the program. Its NODE_EXTRA_CA_CERTS hand-over
// (cli/extra-ca.cts) must survive both: on Linux it is exercised by plugins/notify-smtp/test/
// extra-ca-cli.spec.ts; here the shim npm would write, with npm's own cmd-shim.

describe('the agent bin\'s first line', () => {
  it('npm\'s Windows shim from it sets the environment in order (the extra CA file handed over, then emptied for Node) and runs node with the heap flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hokan-shim-'));
    try {
      await cmdShim(AGENT, join(dir, 'agent'));
      const cmd = await readFile(join(dir, 'agent.cmd'), 'utf8');
      const sets = cmd.split('\r\n').filter((l) => l.startsWith('@SET '));
      expect(sets).toEqual(['@SET HOKAN_EXTRA_CA_CERTS=%NODE_EXTRA_CA_CERTS%', '@SET NODE_EXTRA_CA_CERTS=%HOKAN_NO_VALUE%', '@SET MALLOC_ARENA_MAX=2']);
      expect(cmd).toContain('SET "_prog=node"');
      expect(cmd).toMatch(/"%_prog%" --max-old-space-size=1024 --max-semi-space-size=8 "%dp0%\\[^"]*core\\bin\\agent\.cjs" %\*\r\n/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
