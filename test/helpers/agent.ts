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

/**
 * Two runs that must meet (issue 26's two writers): `first` is started, frozen (SIGSTOP) once
 * `leases()` lists its lease on the target, `second` runs to its end meanwhile, then `first` goes
 * on. Started together, the two could simply run one after the other on a loaded machine. Returns
 * both results; throws when the first never took a lease.
 */
export async function whileFirstHoldsLease(
  first: { args: string[]; opts?: AgentOptions },
  leases: () => Promise<unknown[]>,
  second: () => Promise<AgentResult>,
): Promise<[AgentResult, AgentResult]> {
  const child = startAgent(first.args, first.opts);
  const firstDone = collect(child, 120_000);
  for (let i = 0; i < 2000 && !(await leases()).length; i++) await new Promise((r) => setTimeout(r, 5));
  if ((await leases()).length !== 1) {
    child.kill('SIGKILL');
    throw new Error(`the first run took no lease (or more than one): ${(await firstDone).stderr}`);
  }
  child.kill('SIGSTOP');
  let y: AgentResult;
  try {
    y = await second();
  } finally {
    child.kill('SIGCONT');
  }
  return [await firstDone, y];
}
