import type { Reason } from '../../common/statuses.js';

// What the index holds per file and target: shared by the store and its codec (and read by the
// engine), so neither imports the other for them.

/** One version of a file on a target. `v` is the id of the run that uploaded it. */
export interface HeldVersion {
  v: string;
  size: number;
  mtimeMs: number;
  sha256: string;
  /** Set when the file was deleted at the source while this was its newest version: the deleting run. */
  del?: string;
  /** For symlinks: where the link points (nothing is stored on the target). */
  link?: string;
  /**
   * Set by `agent verify` when the stored copy of this current version is damaged or missing: the
   * next backup sends the file again (over it, not keeping it as a generation).
   */
  damaged?: Reason;
  /** Permission bits of a file (`mode & 0o7777`), restored with it; absent in versions from before they were kept. */
  mode?: number;
  /**
   * A folder (nothing is stored on the target): its permission bits and mtime, and that it exists
   * even when empty. Changes of its mode or mtime are recorded on this version in place (journal
   * `meta`), not as new versions; a new version starts when the folder appears again.
   */
  dir?: true;
  /** Owner and group ids at the source (files, links, folders; absent before they were kept): restored as root. */
  uid?: number;
  gid?: number;
}

/** Whether a version has an object on the target (files do; symlinks and folders live in the journal only). */
export function storesObject(v: HeldVersion): boolean {
  return v.link === undefined && v.dir !== true;
}

/** What a target holds for one path: the browsable newest version and the older generations. */
export interface HeldFile {
  /** The version at the browsable key; absent when the file was deleted at the source. */
  cur?: HeldVersion;
  /** Older versions under `.hokan/versions`, newest first. */
  old: HeldVersion[];
  /**
   * Runs whose version of this file retention dropped: `[from, until)` intervals of run ids (the
   * dropped version's run, and the run of the version after it or the run that saw the file
   * deleted). A restore as of such a run says the version is no longer kept instead of leaving the
   * file out in silence. Derived from the journal's `drop` lines the same way live and on a rebuild.
   */
  pruned?: [from: string, until: string][];
  /** Change detection beyond size and mtime; absent after a rebuild from the target. */
  ino?: number;
  ctimeMs?: number;
}
