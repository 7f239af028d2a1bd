/**
 * config.json as text: parsed as JSONC, with the line:column of every value for the problems
 * reported at them, and the problems formatted the way the CLI prints them.
 */
import { createRequire } from 'node:module';
import type { Node, ParseError } from 'jsonc-parser';
import { ConfigError, type ConfigProblem } from '../../common/errors.js';

/** Turns offsets into 1-based line:column. */
export class LineMap {
  private readonly starts: number[] = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }
  at(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.starts[lo]! + 1 };
  }
}

/** `jobs[0].targets[1]`, `targets.usb.type`, `targets["my usb"]`. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out || '(top level)';
}

export function pointerSegments(pointer: string): string[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Finds the node at a path of (string) segments, reading array indexes as numbers. */
function nodeAt(root: Node | undefined, segments: readonly (string | number)[]): Node | undefined {
  let node = root;
  for (const seg of segments) {
    if (!node) return undefined;
    if (node.type === 'object') {
      const prop = node.children?.find((p) => p.children?.[0]?.value === String(seg));
      node = prop?.children?.[1];
    } else if (node.type === 'array') {
      node = node.children?.[Number(seg)];
    } else return undefined;
  }
  return node;
}

/** The key node of property `key` inside the object at `segments` (for unknown keys). */
function keyNodeAt(root: Node | undefined, segments: readonly (string | number)[], key: string): Node | undefined {
  const obj = nodeAt(root, segments);
  return obj?.children?.find((p) => p.children?.[0]?.value === key)?.children?.[0];
}

const PARSE_EXPECTED: Record<string, string> = {
  InvalidSymbol: 'a value (an object, array, string, number, true, false or null)',
  InvalidNumberFormat: 'a valid number',
  PropertyNameExpected: 'a property name in double quotes',
  ValueExpected: 'a value',
  ColonExpected: 'a colon ":" after the property name',
  CommaExpected: 'a comma "," between entries',
  CloseBraceExpected: 'a closing brace "}"',
  CloseBracketExpected: 'a closing bracket "]"',
  EndOfFileExpected: 'the end of the file after the top-level object',
  InvalidCommentToken: 'a complete comment',
  UnexpectedEndOfComment: 'the end of the comment "*/"',
  UnexpectedEndOfString: 'a closing double quote',
  UnexpectedEndOfNumber: 'more digits',
  InvalidUnicode: 'a valid \\u escape',
  InvalidEscapeCharacter: 'a valid escape such as \\n or \\"',
  InvalidCharacter: 'no control characters inside a string',
};

export interface ParsedConfigText {
  value: unknown;
  tree: Node | undefined;
  lines: LineMap;
}

// jsonc-parser is required only for a config with comments or trailing commas, for a syntax error,
// and for the line:column of a problem: a plain JSON config starts without loading it.
const requireCjs = createRequire(import.meta.url);
let jsoncMod: typeof import('jsonc-parser') | undefined;
const jsonc = (): typeof import('jsonc-parser') => (jsoncMod ??= requireCjs('jsonc-parser') as typeof import('jsonc-parser'));

/** Parses config.json (comments and trailing commas allowed); invalid JSON → ConfigError with line:column and what was expected. */
export function parseConfigText(text: string, file: string): ParsedConfigText {
  const parseTree = (errors: ParseError[]) => jsonc().parseTree(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
  let value: unknown;
  let tree: Node | undefined;
  let treeBuilt = false;
  try {
    value = JSON.parse(text);
  } catch {
    const errors: ParseError[] = [];
    tree = parseTree(errors);
    treeBuilt = true;
    if (errors.length) {
      const lines = new LineMap(text);
      const problems = errors.slice(0, 5).map((e): ConfigProblem => {
        const code = jsonc().printParseErrorCode(e.error);
        const at = lines.at(e.offset);
        const found = text.slice(e.offset, e.offset + Math.max(1, Math.min(e.length, 20)));
        return {
          path: '',
          ...at,
          message: `invalid JSON: expected ${PARSE_EXPECTED[code] ?? code}${found.trim() ? `, found ${JSON.stringify(found)}` : ' (the file ends here)'}`,
        };
      });
      throw configError(file, problems);
    }
    value = tree ? jsonc().getNodeValue(tree) : undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw configError(file, [{ path: '', line: 1, column: 1, message: 'the config must be a JSON object: { "targets": { … }, "jobs": [ … ] }' }]);
  }
  let lines: LineMap | undefined;
  return {
    value,
    // Where problems are: built when the first one is reported.
    get tree() {
      if (!treeBuilt) {
        tree = parseTree([]);
        treeBuilt = true;
      }
      return tree;
    },
    get lines() {
      return (lines ??= new LineMap(text));
    },
  };
}

function problemLine(file: string, p: ConfigProblem): string {
  const where = p.line !== undefined ? `${file}:${p.line}:${p.column}` : file;
  const text = `${where}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
  return p.hint ? `${text}\n    → ${p.hint}` : text;
}

/** Formats problems the way the CLI prints them: `FILE:LINE:COL: PATH: MESSAGE` and `→ hint`. */
export function formatProblems(file: string, problems: readonly ConfigProblem[]): string {
  return problems.map((p) => problemLine(file, p)).join('\n');
}

/** One ConfigError that lists every problem of the file. */
export function configError(file: string, problems: ConfigProblem[]): ConfigError {
  const n = problems.length;
  return new ConfigError(`${file}: ${n === 1 ? '1 problem' : `${n} problems`}:\n${problems.map((p) => '  ' + problemLine(file, p).replace(/\n/g, '\n  ')).join('\n')}`, {
    file,
    problems,
  });
}

/** The line:column of the value at `segments` (or of its key), else of its nearest ancestor that exists. */
export function placeOf(ctx: { parsed: ParsedConfigText }, segments: readonly (string | number)[], key?: string): { line?: number; column?: number } {
  const { tree, lines } = ctx.parsed;
  const node = key !== undefined ? keyNodeAt(tree, segments, key) : nodeAt(tree, segments);
  if (node) return lines.at(node.offset);
  // Fall back to the nearest ancestor that exists.
  for (let i = segments.length - 1; i >= 0; i--) {
    const n = nodeAt(tree, segments.slice(0, i));
    if (n) return lines.at(n.offset);
  }
  return {};
}
