import * as fsc from 'node:fs';
import { promisify } from 'node:util';
import pLimit from 'p-limit';

const fdOpen = promisify(fsc.open);
const fdSync = promisify(fsc.fsync);
const fdClose = promisify(fsc.close);

/**
 * Windows that take at most this many fsyncs (their files and folders) are made durable file by file
 * (an fsync of each, side by side, then of their folders), larger ones with one `syncfs` of the disk
 * (`Syncer`). A `syncfs` writes back every dirty page of the disk — other programs' too — and its
 * helper has to be started first: 50 small files while another program wrote to the disk, 28–31 ms
 * by fsyncs against 40–88 ms by `sync -f` (one file: 2.5–6 vs 24–43 ms). A watched run of a few files, a restore of one folder
 * and the close of a run that changed little then cost what they write, not what the disk holds.
 */
export const FSYNC_EACH_MAX = 64;

/** fsync by name: a file written earlier and closed (its data is written back now), or a folder. */
export async function fsyncPath(p: string): Promise<void> {
  const fd = await fdOpen(p, 'r');
  try {
    await fdSync(fd);
  } finally {
    await fdClose(fd);
  }
}

/**
 * An fsync of each file, then of each folder, `concurrency` at a time (the file system batches
 * fsyncs that arrive together into one journal commit). A folder's failure goes to `dirError`,
 * which throws or not: some file systems refuse a folder's fsync (the renames are atomic anyway).
 */
export async function fsyncEach(files: readonly string[], dirs: Iterable<string>, concurrency: number, dirError: (dir: string, e: unknown) => void): Promise<void> {
  const limit = pLimit(Math.max(1, concurrency));
  await Promise.all(files.map((f) => limit(() => fsyncPath(f))));
  await Promise.all([...dirs].map((d) => limit(() => fsyncPath(d).catch((e: unknown) => dirError(d, e)))));
}
