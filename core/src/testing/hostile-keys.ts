import type { TargetCapabilities } from '../common/target.js';

/**
 * Keys that break naive targets (architecture.md): URL-reserved and XML-special characters, a `?`
 * that a careless HTTP client turns into a query string, `+` that form-decoding turns into a space,
 * non-ASCII in several scripts, leading and trailing spaces in segments, and the same name in NFC
 * and NFD forms (two distinct keys by the Target contract).
 */
export const HOSTILE_KEYS: readonly string[] = [
  'hello? sausage/êé/Hello, 世界/ " \' @ < > & ? + ≠/z.txt',
  ' leading space/file.txt',
  'trailing space /file.txt',
  '  both  / spaced name .txt',
  'percent %20 and %2F/plus+sign #hash ;semi=eq [brackets] {braces}.txt',
  'back\\slash and colon:star*pipe|/x.txt',
  'tilde~/dollar$ caret^ backtick` !bang/emoji 😀 ﬁ ligature.txt',
  'にほんご/日本語のファイル名 (コピー).txt',
  'a/.dotfile',
  'a/..double.dot..',
];

/** `café` with a precomposed é (NFC) and with e + U+0301 (NFD): two different keys. */
export const NFC_NAME = 'caf\u00e9 \u30d1.txt'; // also パ precomposed
export const NFD_NAME = NFC_NAME.normalize('NFD');

/**
 * Why a target may refuse `key`, by its declared capabilities — or `undefined` when it must hold it.
 * The conformance suite expects a `permanent` TargetError exactly when this returns a reason.
 */
export function keyRefusalReason(key: string, caps: TargetCapabilities): string | undefined {
  if (caps.forbiddenChars) {
    for (const ch of caps.forbiddenChars) if (key.includes(ch)) return `contains the forbidden character ${JSON.stringify(ch)}`;
  }
  if (caps.maxKeyLength !== undefined && key.length > caps.maxKeyLength) return `longer than ${caps.maxKeyLength} characters`;
  for (const seg of key.split('/')) {
    if (caps.forbiddenTrailingChars && seg.length > 0 && caps.forbiddenTrailingChars.includes(seg[seg.length - 1]!)) {
      return `segment ${JSON.stringify(seg)} ends with a character the target drops`;
    }
    if (caps.maxNameLength !== undefined && seg.length > caps.maxNameLength) return `segment longer than ${caps.maxNameLength} characters`;
    if (caps.maxNameBytes !== undefined && Buffer.byteLength(seg) > caps.maxNameBytes) return `segment longer than ${caps.maxNameBytes} bytes`;
  }
  return undefined;
}
