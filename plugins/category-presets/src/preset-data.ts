/**
 * The presets are data: one JSON file per preset in `presets/` (their JSON Schema is
 * `presets/preset.schema.json`; the plugin's tests check every file against it), plus
 * `presets/defaults.json` — what every preset leaves out. Read once when the plugin loads, with a
 * short check that names the file and the key when one is wrong.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KNOWN, type KnownFolder } from './user-folders.js';

export type Os = 'linux' | 'darwin' | 'win32';

export type PresetFolderSpec =
  | { known: KnownFolder; os?: Os[] }
  | { path: string; os?: Os[]; profile?: boolean; include?: string[]; exclude?: string[]; extensions?: string[] };

export interface PresetSpec {
  name: string;
  title: { en: string; ja: string };
  description: { en: string; ja: string };
  folders: PresetFolderSpec[];
  /** Groups as the source lists them (seed 002 §5.1): group → extensions. */
  extensions?: Record<string, string[]>;
  excludeExtensions?: string[];
  exclude?: string[];
}

export interface PresetDefaults {
  exclude: string[];
  profileExclude: string[];
}

export const PRESET_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'presets');

export class PresetDataError extends Error {}

function fail(file: string, msg: string): never {
  throw new PresetDataError(`${file}: ${msg} (see presets/preset.schema.json)`);
}

const isStrList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length > 0);
const OS = new Set(['linux', 'darwin', 'win32']);

/** The short check done at load (the full schema runs in the tests). */
export function checkPreset(v: any, file: string): PresetSpec {
  if (!v || typeof v !== 'object') fail(file, 'not a JSON object');
  if (typeof v.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(v.name)) fail(file, '"name" must be a lower-case name');
  for (const k of ['title', 'description']) {
    if (typeof v[k]?.en !== 'string' || typeof v[k]?.ja !== 'string') fail(file, `"${k}" needs "en" and "ja"`);
  }
  if (!Array.isArray(v.folders) || v.folders.length === 0) fail(file, '"folders" must be a non-empty list');
  for (const [i, f] of (v.folders as any[]).entries()) {
    if (f?.os !== undefined && !(Array.isArray(f.os) && f.os.every((o: unknown) => OS.has(o as string)))) fail(file, `folders[${i}].os must list linux, darwin or win32`);
    if (typeof f?.known === 'string') {
      if (!(KNOWN as readonly string[]).includes(f.known)) fail(file, `folders[${i}].known must be one of ${KNOWN.join(', ')}`);
    } else if (typeof f?.path !== 'string' || !/^\{[A-Za-z]+\}/.test(f.path)) fail(file, `folders[${i}] needs "known" or a "path" starting with a {base}`);
    for (const k of ['include', 'exclude', 'extensions']) if (f[k] !== undefined && !isStrList(f[k])) fail(file, `folders[${i}].${k} must be a list of strings`);
  }
  if (v.extensions !== undefined) {
    if (!v.extensions || typeof v.extensions !== 'object' || Array.isArray(v.extensions)) fail(file, '"extensions" must map a group name to a list');
    for (const [g, l] of Object.entries(v.extensions)) if (!isStrList(l)) fail(file, `extensions["${g}"] must be a list of strings`);
  }
  for (const k of ['excludeExtensions', 'exclude']) if (v[k] !== undefined && !isStrList(v[k])) fail(file, `"${k}" must be a list of strings`);
  return v as PresetSpec;
}

/** Every preset file in `dir` (sorted by file name) and the defaults. */
export function loadPresetData(dir = PRESET_DIR): { presets: PresetSpec[]; defaults: PresetDefaults } {
  const presets: PresetSpec[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json') && !n.endsWith('.schema.json') && n !== 'defaults.json').sort()) {
    const spec = checkPreset(JSON.parse(readFileSync(join(dir, f), 'utf8')), f);
    if (`${spec.name}.json` !== f) fail(f, `"name" is "${spec.name}" but the file is ${f}`);
    presets.push(spec);
  }
  const d = JSON.parse(readFileSync(join(dir, 'defaults.json'), 'utf8'));
  if (!isStrList(d?.exclude) || !isStrList(d?.profileExclude)) fail('defaults.json', '"exclude" and "profileExclude" must be lists of strings');
  return { presets, defaults: { exclude: d.exclude, profileExclude: d.profileExclude } };
}

/** A preset's extensions as one list: lower case, each once, in the order listed. */
export function extensionsOf(spec: PresetSpec): string[] {
  const out = new Set<string>();
  for (const list of Object.values(spec.extensions ?? {})) for (const e of list) out.add(e.toLowerCase().replace(/^\.+/, ''));
  return [...out];
}
