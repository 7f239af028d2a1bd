import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, readlink, writeFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';

export const NFC = 'caf\u00e9 \u30d1.txt';
export const NFD = NFC.normalize('NFD');

/** Writes files (rel → content) under root. */
export async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, body] of Object.entries(files)) {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), body);
  }
}

/** A tree of awkward names: Japanese in NFC and NFD, spaces, empty files, deep paths, a symlink. */
export async function awkwardTree(root: string): Promise<void> {
  const deep = Array.from({ length: 25 }, (_, i) => `level ${i}`).join('/');
  await writeTree(root, {
    'report.txt': 'quarterly report\n',
    'with space/and more space.txt': 'spaces',
    '日本語フォルダ/写真 2026.jpg': Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]),
    [NFC]: 'nfc form',
    [NFD]: 'nfd form',
    'empty.txt': '',
    [`${deep}/bottom.txt`]: 'deep',
  });
  await symlink('report.txt', join(root, 'report-link'));
}

/** Every file under root as rel → sha256 (symlinks as `-> target`), to compare trees byte for byte. */
export async function digestTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    const abs = join(e.parentPath, e.name);
    const rel = abs.slice(root.length + 1);
    if (e.isSymbolicLink()) out[rel] = `-> ${await readlink(abs)}`;
    else if (e.isFile()) out[rel] = createHash('sha256').update(await readFile(abs)).digest('hex');
  }
  return out;
}

/** Deterministic pseudo-random bytes (incompressible, reproducible). */
export function bytes(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(Math.ceil(size / 4) * 4);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b.subarray(0, size);
}
