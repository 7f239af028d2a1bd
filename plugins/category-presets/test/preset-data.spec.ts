import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { checkPreset, extensionsOf, loadPresetData, PRESET_DIR } from '../src/preset-data.js';

const { presets, defaults } = loadPresetData();
const byName = (n: string) => presets.find((p) => p.name === n)!;

describe('preset data (seed 002 §5.1)', () => {
  it('every preset file and defaults.json pass their JSON Schema', () => {
    const ajv = new Ajv({ allErrors: true });
    const preset = ajv.compile(JSON.parse(readFileSync(join(PRESET_DIR, 'preset.schema.json'), 'utf8')));
    const defs = ajv.compile(JSON.parse(readFileSync(join(PRESET_DIR, 'defaults.schema.json'), 'utf8')));
    const files = readdirSync(PRESET_DIR).filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json') && f !== 'defaults.json');
    expect(files.length).toBe(10);
    for (const f of files) {
      const ok = preset(JSON.parse(readFileSync(join(PRESET_DIR, f), 'utf8')));
      expect({ file: f, errors: ok ? null : preset.errors }).toEqual({ file: f, errors: null });
    }
    expect(defs(JSON.parse(readFileSync(join(PRESET_DIR, 'defaults.json'), 'utf8'))), JSON.stringify(defs.errors)).toBe(true);
  });

  it('the schema refuses what the loader would misread', () => {
    const ajv = new Ajv({ allErrors: true });
    const preset = ajv.compile(JSON.parse(readFileSync(join(PRESET_DIR, 'preset.schema.json'), 'utf8')));
    const good = { name: 'x', title: { en: 'X', ja: 'X' }, description: { en: 'x', ja: 'x' }, folders: [{ known: 'documents' }] };
    expect(preset(good)).toBe(true);
    expect(preset({ ...good, folders: [{ known: 'attic' }] })).toBe(false);
    expect(preset({ ...good, folders: [{ path: '/etc' }] })).toBe(false); // not from a {base}
    expect(preset({ ...good, extensions: { g: ['.PDF'] } })).toBe(false); // lower case, no dot
    expect(preset({ ...good, title: { en: 'X' } })).toBe(false); // ja missing
    expect(() => checkPreset({ ...good, folders: [{ known: 'attic' }] }, 'x.json')).toThrow(/x.json: folders\[0\].known must be one of/);
    expect(() => checkPreset({ ...good, title: { en: 'X' } }, 'x.json')).toThrow(/"title" needs "en" and "ja"/);
  });

  it('the ten presets, with English and Japanese names, and the manifest names them all', () => {
    expect(presets.map((p) => p.name).sort()).toEqual(['bookmarks', 'desktop', 'documents', 'ebooks', 'finance', 'mail', 'music', 'office', 'pictures', 'videos']);
    expect(byName('pictures').title).toEqual({ en: 'Pictures', ja: '画像ファイル' });
    expect(byName('finance').title.ja).toBe('財務・会計ファイル');
    const manifest = JSON.parse(readFileSync(join(PRESET_DIR, '..', 'package.json'), 'utf8'));
    expect(manifest.hokan.contributes.presets.map((p: { name: string }) => p.name).sort()).toEqual(presets.map((p) => p.name).sort());
  });

  it('config.json\'s JSON Schema lists the preset names for "preset" and "extends" (editors complete them)', () => {
    const schema = JSON.parse(readFileSync(join(PRESET_DIR, '..', '..', '..', 'config', 'schema.json'), 'utf8'));
    const names = presets.map((p) => p.name).sort();
    const preset = schema.properties.jobs.items.properties.sources.items.properties.preset;
    expect(preset.anyOf[0].enum).toEqual(names);
    const def = Object.values<any>(schema.properties.presets.patternProperties)[0];
    expect(def.properties.extends.anyOf[0].enum).toEqual(names);
  });

  it('office has exactly the 96 extensions of §5.1.1', () => {
    const ext = extensionsOf(byName('office'));
    expect(ext.length).toBe(96);
    for (const e of ['doc', 'docx', 'xlsb', 'xlam', 'accdb', 'mpx', 'odt', 'odf', 'txt', 'wri', 'abw', 'std', 'lwp', 'qpw']) expect(ext).toContain(e);
    expect(ext).not.toContain('pdf');
  });

  it('finance has exactly 237 unique extensions of §5.1.2 (263 listed; the Yayoi list overlaps "Other" and counts once)', () => {
    const spec = byName('finance');
    const listed = Object.values(spec.extensions!).flat();
    expect(listed.length).toBe(263);
    const ext = extensionsOf(spec);
    expect(ext.length).toBe(237);
    for (const e of ['mny', 'kd1', 'kd17', 'kd18', 'hb16', 'he11', 'db9', 'klb16', 'hlx1', 't01', 't09', 'saccp', 'ldf', 'mdf', 'lx16']) expect(ext).toContain(e);
    expect(ext).not.toContain('kd19');
    expect(ext).not.toContain('hb17');
    // The Yayoi list is all inside "Other"'s numbered families.
    const other = new Set(spec.extensions!['Other']);
    for (const e of spec.extensions!['Yayoi Hanbai (弥生販売)']!) expect(other.has(e)).toBe(true);
  });

  it('ebooks has exactly the 63 extensions of §5.1.3, with the New-Year-card software', () => {
    const ext = extensionsOf(byName('ebooks'));
    expect(ext.length).toBe(63);
    for (const e of ['fwa', 'fwb', 'fzd', 'pdn', 'fga', 'fgl', 'idx', 'fgt', 'jsr', 'jyd', 'hsa', 'hsd', 'pdf', 'epub', 'azw1', 'zvr']) expect(ext).toContain(e);
  });

  it('the defaults leave out caches, thumbnails, trash, temporary and lock files; profiles lose their browser caches too', () => {
    for (const g of ['.cache/', '.thumbnails/', 'Thumbs.db', '$RECYCLE.BIN/', '.Trash-*/', '*.tmp', '~$*', '.~lock.*#', 'parent.lock']) expect(defaults.exclude).toContain(g);
    for (const g of ['Cache/', 'Code Cache/', 'GPUCache/', 'cache2/', 'Service Worker/']) expect(defaults.profileExclude).toContain(g);
    expect(byName('desktop').excludeExtensions).toEqual(['lnk', 'url', 'desktop']);
  });
});
