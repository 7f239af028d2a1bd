import { sep } from 'node:path';

/**
 * Names a restore's destination cannot hold. A backup keeps every name the source had (on Linux
 * and macOS anything but `/` and NUL); Windows refuses `< > : " | ? * \`, control characters,
 * names ending in a dot or a space, and device names (`CON`, `NUL.txt`, `COM1`…). Such a name is
 * refused (`forbidden-name`, never dropped in silence) unless `--rename-unsafe` asks for a name
 * that can be held: each character becomes its full-width twin (`a:b` → `a：b`, as rclone's
 * encoding does), a trailing dot or space its visible twin, and a device name gets a `_`.
 */
export type NameRules = 'posix' | 'windows';

/** The rules of the system this process runs on. */
export const HOST_NAME_RULES: NameRules = sep === '\\' ? 'windows' : 'posix';

const TWIN: Record<string, string> = { '<': '＜', '>': '＞', ':': '：', '"': '＂', '|': '｜', '?': '？', '*': '＊', '\\': '＼' };
const FORBIDDEN = /[<>:"|?*\\\u0001-\u001f]/;
const DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\.|$)/i;

/** Why `name` cannot be written under these rules, or undefined when it can. */
export function unsafeName(name: string, rules: NameRules): string | undefined {
  if (rules === 'posix') return undefined;
  const ch = FORBIDDEN.exec(name)?.[0];
  if (ch !== undefined) return `${ch === '\\' ? 'a backslash' : ch < ' ' ? 'a control character' : `the character ${ch}`} is not allowed in a name`;
  if (/[. ]$/.test(name)) return `a name may not end in ${name.endsWith('.') ? 'a dot' : 'a space'}`;
  if (DEVICE.test(name)) return `${name.split('.')[0]} is a device name`;
  return undefined;
}

/** A name Windows can hold for `name` (see above); names it can hold already stay as they are. */
export function safeName(name: string): string {
  let out = name.replace(/[<>:"|?*\\]/g, (c) => TWIN[c]!).replace(/[\u0001-\u001f]/g, (c) => String.fromCharCode(0x2400 + c.charCodeAt(0)));
  out = out.replace(/[. ]$/, (c) => (c === '.' ? '．' : '␠'));
  if (DEVICE.test(out)) out = out.replace(/^([^.]*)/, '$1_');
  return out;
}
