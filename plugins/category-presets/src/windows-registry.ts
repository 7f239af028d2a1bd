/**
 * Reads the User Shell Folders of the current user from the Windows registry (where the Known
 * Folders — and OneDrive's redirection of them — are recorded), with Windows' own `reg.exe`.
 * Used on Windows only; tests pass the values in (user-folders.ts `FolderInput.shellFolders`).
 */
import { execFile } from 'node:child_process';

const KEY = 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\User Shell Folders';

/** `reg query` output → value name → data (REG_SZ and REG_EXPAND_SZ lines). */
export function parseRegQuery(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s{2,}(.+?)\s{2,}REG_(?:EXPAND_)?SZ\s{2,}(.*?)\s*$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * reg.exe's bytes as text. It writes in the console's code page: UTF-8 when set so (`chcp 65001`),
 * else the system's — Shift_JIS (CP932) on Japanese Windows, where the folder names are Japanese.
 */
export function decodeRegOutput(bytes: Uint8Array): string {
  const text = new TextDecoder('utf-8').decode(bytes);
  if (!text.includes('\uFFFD')) return text;
  try {
    return new TextDecoder('shift_jis').decode(bytes);
  } catch {
    return text; // a Node without full ICU: keep the UTF-8 reading
  }
}

export function readUserShellFolders(): Promise<Record<string, string>> {
  return new Promise((resolve) => {
    execFile('reg', ['query', KEY], { encoding: 'buffer', windowsHide: true, timeout: 10_000 }, (err, stdout) => {
      if (err) return resolve({}); // no registry answer: the defaults under the profile
      resolve(parseRegQuery(decodeRegOutput(stdout)));
    });
  });
}
