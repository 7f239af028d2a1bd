import { compareRel } from '../../common/path-order.js';
import type { FileRecord } from '../../common/model.js';

/**
 * Where in a run's per-file records the records of a folder are, without a second key per record.
 *
 * A run's records are keyed by sequence (index-store.ts: newest first, at the top of the key
 * space, so LevelDB's compactions never rewrite older records); a key by path would be a second
 * rising stream beside the held records, and every compaction would take in the run's earlier
 * records again. But a run writes its records nearly in the scanner's order (the walk's order,
 * give or take the copies in flight), so the path range of each FILE_CHUNK records in a row is
 * narrow. Each chunk has one summary key — its lowest and highest path — written with the
 * chunk's records (and rewritten at each batch while the chunk fills, so a killed run's last
 * chunk has one too), placed just below the chunk's records in the same falling stream.
 * `show RUN --path P` reads every summary (one key per FILE_CHUNK records) and only the chunks
 * whose range meets P: in a run of 1,000,000 records, ~3,900 keys and a few chunks instead of
 * every record. Records out of the scanner's order (deletions, retries at the end of a run) only
 * widen their chunk's range: more is read, nothing is missed. A chunk without a summary (runs
 * written before summaries) is read whole.
 */
export const FILE_CHUNK = 256;

/** A summary's value starts with this: a file record's never does (`[` or `{`). */
export const SUMMARY_MARK = '#';

/** Summary values are told from record values by their first character. */
export const isSummary = (value: string) => value.charCodeAt(0) === 0x23;

/** The chunk a record's sequence number falls in (sequences start at 1). */
export const chunkOf = (seq: number) => Math.floor((seq - 1) / FILE_CHUNK);

export const encodeSummary = (lo: string, hi: string) => SUMMARY_MARK + JSON.stringify([lo, hi]);

export function decodeSummary(value: string): [lo: string, hi: string] {
  return JSON.parse(value.slice(1)) as [string, string];
}

/** A record's path (`ROOT/a/b`, a left-out folder `ROOT/a/b/`) is `prefix` or under it. */
export const pathUnder = (path: string, prefix: string) => path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47);

/**
 * Whether paths between `lo` and `hi` (the scanner's order) can include `prefix` or a path under
 * it. Those paths are one interval of that order: `prefix`, then everything starting `prefix/`.
 */
export function rangeMeets(lo: string, hi: string, prefix: string): boolean {
  return compareRel(hi, prefix) >= 0 && (compareRel(lo, prefix) <= 0 || pathUnder(lo, prefix));
}

/** What a summary writer needs from the store: the ops it makes. */
export interface ChunkKeys<Op> {
  recordOp(seq: number, rec: FileRecord): Op;
  summaryOp(chunk: number, lo: string, hi: string): Op;
}

/**
 * Writes one run's per-file records with their chunk summaries. `add` in sequence order; `flush`
 * before each batch goes out adds the open chunk's summary when it changed since the last one.
 */
export class FileRecordLog<Op> {
  private chunk = -1;
  private lo = '';
  private hi = '';
  private dirty = false;

  constructor(private readonly keys: ChunkKeys<Op>) {}

  add(ops: Op[], seq: number, rec: FileRecord): void {
    const c = chunkOf(seq);
    if (c !== this.chunk) {
      this.flush(ops);
      this.chunk = c;
      this.lo = this.hi = rec.path;
    } else if (compareRel(rec.path, this.lo) < 0) this.lo = rec.path;
    else if (compareRel(rec.path, this.hi) > 0) this.hi = rec.path;
    this.dirty = true;
    ops.push(this.keys.recordOp(seq, rec));
  }

  flush(ops: Op[]): void {
    if (!this.dirty) return;
    ops.push(this.keys.summaryOp(this.chunk, this.lo, this.hi));
    this.dirty = false;
  }
}
