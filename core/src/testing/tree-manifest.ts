import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

/**
 * One line per file, folder and symlink under `root` (not the root itself), sorted: the path,
 * its type, permission bits, owner and group and mtime to the millisecond, and for files the size and
 * SHA-256, for links the target — what `rsync -a` keeps and a restore must give back. Two trees are
 * the same when their manifests are equal (`diffManifests`).
 */
export async function treeManifest(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const abs = join(dir, name);
      const p = rel ? `${rel}/${name}` : name;
      const st = await lstat(abs);
      const meta = `0${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${new Date(Math.floor(st.mtimeMs)).toISOString()}`;
      if (st.isDirectory()) {
        out.push(`${JSON.stringify(p)} dir ${meta}`);
        await walk(abs, p);
      } else if (st.isSymbolicLink()) {
        out.push(`${JSON.stringify(p)} link -> ${JSON.stringify(await readlink(abs))}`);
      } else if (st.isFile()) {
        const h = createHash('sha256');
        await pipeline(createReadStream(abs), h);
        out.push(`${JSON.stringify(p)} file ${meta} ${st.size} ${h.digest('hex')}`);
      } else out.push(`${JSON.stringify(p)} special`);
    }
  };
  await walk(root, '');
  return out;
}

/** The lines only one of two manifests has (the first `max` of each side), and how many differ in all. */
export function diffManifests(a: readonly string[], b: readonly string[], max = 20): { count: number; onlyA: string[]; onlyB: string[] } {
  const setB = new Set(b);
  const setA = new Set(a);
  const onlyA = a.filter((l) => !setB.has(l));
  const onlyB = b.filter((l) => !setA.has(l));
  return { count: onlyA.length + onlyB.length, onlyA: onlyA.slice(0, max), onlyB: onlyB.slice(0, max) };
}
