import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, type AgentResult } from './helpers/agent.js';

// Issue 28: the README's own commands, as written, on a fresh home folder — `agent init` with the
// README's flags, then every `npx agent …` line of "Back up and restore". Only what cannot be the
// same on this machine is replaced, each said below: the backup disk (/media/BACKUP1), the restore
// folder (/tmp/restored), the run id (RUN) and the example date of --at (before the first backup
// here). A README line that stops working fails this test.
const README = new URL('../README.md', import.meta.url);

let home: string;
beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'hokan-readme-'));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

/** Words of one shell line (quotes, `~`), without its comment. */
function words(line: string, vars: Record<string, string>): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  const code = line.replace(/\s+#.*$/, '');
  for (const m of code.matchAll(re)) {
    let w = m[1] ?? m[2] ?? m[3]!;
    if (m[3] !== undefined) w = w.replace(/^~(?=\/|$)/, vars.HOME!);
    for (const [k, v] of Object.entries(vars)) if (k !== 'HOME') w = w.split(k).join(v);
    out.push(w);
  }
  return out;
}

describe('the README, as written (issue 28)', () => {
  it('agent init with the README\'s flags, validate, plugins, presets, then every command of "Back up and restore" exits 0 and does what it says', async () => {
    const text = await readFile(README, 'utf8');
    const env = { HOME: home, XDG_CONFIG_HOME: '', XDG_DATA_HOME: '', HOKAN_CONFIG: '', HOKAN_DATA_DIR: '' };
    const disk = join(home, 'media', 'BACKUP1');
    await mkdir(disk, { recursive: true });
    for (const d of ['Documents', 'Pictures', 'work']) await mkdir(join(home, d), { recursive: true });
    await writeFile(join(home, 'Documents', 'plan.xlsx'), 'the plan, v1');
    await writeFile(join(home, 'Pictures', 'cat.jpg'), 'a cat');
    await writeFile(join(home, 'work', 'notes.txt'), 'notes');
    const vars: Record<string, string> = { HOME: home, '/media/BACKUP1': disk, '/tmp/restored': join(home, 'restored') };
    const run = async (line: string): Promise<AgentResult> => {
      const w = words(line, vars);
      expect(w.slice(0, 2), line).toEqual(['npx', 'agent']);
      return agent(w.slice(2), { cwd: home, env });
    };
    const ok = async (line: string) => {
      const r = await run(line);
      expect(r.code, `${line}\n${r.stdout}\n${r.stderr}`).toBe(0);
      return r;
    };

    // "Then: `npx agent init …` writes a starter config, `npx agent config validate` checks it, `npx agent plugins list` …"
    const init = /`(npx agent init [^`]+)`/.exec(text)?.[1];
    expect(init, 'the README shows an agent init line').toBeDefined();
    await ok(init!);
    for (const line of ['npx agent config validate', 'npx agent plugins list', /`(npx agent presets show \w+)`/.exec(text)![1]!]) {
      expect(text, line).toContain(line);
      await ok(line);
    }

    // Every command of the "Back up and restore" block, in order.
    const section = text.slice(text.indexOf('## Back up and restore'));
    const block = section.slice(section.indexOf('```sh') + 5, section.indexOf('```', section.indexOf('```sh') + 5));
    const lines = block.split('\n').filter((l) => l.startsWith('npx agent'));
    expect(lines.length, 'the block has commands').toBeGreaterThan(5);
    for (const line of lines) {
      if (/ show RUN/.test(line)) {
        const h = JSON.parse((await ok('npx agent history --json')).stdout);
        vars.RUN = (h.runs ?? h)[0].id;
      }
      // The README's example date is before any backup here: a time after the first one instead.
      if (/--at "/.test(line)) vars[/--at "([^"]+)"/.exec(line)![1]!] = new Date(Date.now() + 60_000).toISOString();
      const r = await ok(line);
      if (/^npx agent backup\b/.test(line)) expect(r.stdout).toMatch(/main: completed — seen 3, uploaded 3/);
      if (/ versions /.test(line)) expect(r.stdout).toMatch(/current/);
      if (/restore .*--to /.test(line)) expect(await readFile(join(home, 'restored', 'Documents', 'plan.xlsx'), 'utf8')).toBe('the plan, v1');
      if (/ verify --restore /.test(line)) expect(r.stdout).toMatch(/^restore drill of main: 3 files .* 3 intact, 3 also compared with the unchanged source — completed$/m);
      else if (/ verify /.test(line)) expect(r.stdout).toMatch(/ 0 bad/);
    }
  }, 180_000);
});
