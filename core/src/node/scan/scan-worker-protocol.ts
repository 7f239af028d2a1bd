/**
 * What crosses between a scan worker (scan-worker.ts) and the thread that reads it: the walk it is
 * started with, and the batches it sends back (packed there, unpacked here).
 */
import * as path from 'node:path';
import type { FilterConfig } from '../../common/config-types.js';
import type { ScanItem, SourceRoot } from '../../common/model.js';
import type { WalkOptions } from './walker.js';

/** What a scan worker sends: a batch of items, what the rules left out meanwhile, and whether the walk is over. */
export interface ScanWorkerMessage {
  items: ScanItem[];
  skips: [rel: string, reason: string, kind: 'file' | 'dir' | 'symlink' | 'other'][];
  done: boolean;
}

/** Numbers per packed file: size, mtimeMs, ctimeMs, ino, dev, mode, uid, gid. */
export const PACKED_FIELDS = 8;

/** A packed batch (see scan-worker.ts `sendPacked`): files as numbers, links and errors as they are. */
export interface PackedMessage {
  packed: { rels: string; nums: Float64Array; odd: [index: number, item: ScanItem][] };
  skips: ScanWorkerMessage['skips'];
  done: boolean;
}

/** Unpacks a batch from a scan worker into the items the walk would have yielded here. */
export function unpack(root: SourceRoot, m: ScanWorkerMessage | PackedMessage): ScanItem[] {
  if (!('packed' in m)) {
    // Items crossed a thread: give them back the caller's root object.
    for (const it of m.items) (it as { root: SourceRoot }).root = root;
    return m.items;
  }
  const { rels, nums, odd } = m.packed;
  if (rels === '' && odd.length === 0 && nums.length === 0) return [];
  const names = rels.split('\0');
  const base = root.path.endsWith(path.sep) ? root.path : root.path + '/';
  const out: ScanItem[] = new Array(names.length);
  let k = 0;
  for (let i = 0; i < names.length; i++) {
    if (k < odd.length && odd[k]![0] === i) {
      const it = odd[k++]![1];
      (it as { root: SourceRoot }).root = root;
      out[i] = it;
      continue;
    }
    const o = i * PACKED_FIELDS;
    const rel = names[i]!;
    out[i] = { root, rel, abs: base + rel, type: 'file', size: nums[o]!, mtimeMs: nums[o + 1]!, ctimeMs: nums[o + 2]!, ino: nums[o + 3]!, dev: nums[o + 4]!, mode: nums[o + 5]!, uid: nums[o + 6]!, gid: nums[o + 7]!, linkTarget: undefined };
  }
  return out;
}

/** What a scan worker walks, and how (plain data: it crosses to the worker thread, and to the head-start hint). */
export interface WalkSpec {
  root: SourceRoot;
  filters: FilterConfig;
  followSymlinks: boolean;
  /** Said, not left to the worker's default: a test walks as Windows or macOS would. */
  platform: NodeJS.Platform;
  folders: boolean;
  batchSize: number;
  wantSkips: boolean;
}

/** What a scan worker is started with. */
export interface ScanWorkerData extends WalkSpec {
  /** One Int32: batches the worker may still send before the reader takes one (back-pressure). */
  credits: SharedArrayBuffer;
}

/** The options of a scan (`ScanOptions`) that decide what a worker walks. */
export type WorkerOptions = Pick<WalkOptions, 'filters' | 'followSymlinks' | 'platform' | 'onSkip' | 'folders'> & { batchSize?: number };

/** The walk a worker started with these options does. */
export function walkSpec(root: SourceRoot, opts: WorkerOptions): WalkSpec {
  return {
    root: { ...root },
    filters: opts.filters ?? {},
    followSymlinks: opts.followSymlinks === true,
    platform: opts.platform ?? process.platform,
    folders: opts.folders === true,
    batchSize: opts.batchSize && opts.batchSize > 0 ? opts.batchSize : 1024,
    wantSkips: opts.onSkip !== undefined,
  };
}
