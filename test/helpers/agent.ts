import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI, exactly what `npx agent` runs. */
export const AGENT = fileURLToPath(new URL('../../core/bin/agent.cjs', import.meta.url));

export interface AgentResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `agent ARGS` in a child process and collects its output. */
export interface AgentOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /**
   * Run without the capabilities that let root ignore file permissions (CAP_DAC_OVERRIDE,
   * CAP_DAC_READ_SEARCH), through util-linux's setpriv: a chmod 000 file is then unreadable for
   * the agent as it is for a person, wherever the repository lives.
   */
  obeyPermissions?: boolean;
}

export function agent(args: string[], opts: AgentOptions = {}): Promise<AgentResult> {
  const child = startAgent(args, opts);
  return collect(child, opts.timeoutMs ?? 60_000);
}

export function startAgent(args: string[], opts: AgentOptions = {}): ChildProcess {
  const drop = '-dac_override,-dac_read_search';
  const [cmd, argv] = opts.obeyPermissions && process.getuid?.() === 0
    ? ['setpriv', [`--inh-caps=${drop}`, `--bounding-set=${drop}`, '--', process.execPath, AGENT, ...args]]
    : [process.execPath, [AGENT, ...args]];
  return spawn(cmd, argv, {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function collect(child: ChildProcess, timeoutMs = 60_000): Promise<AgentResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`agent timed out after ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
