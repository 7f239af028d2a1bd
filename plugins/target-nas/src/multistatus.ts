import { XMLParser } from 'fast-xml-parser';

/** One `<response>` of a 207 Multi-Status answer, with the properties its 2xx propstats hold. */
export interface DavEntry {
  /** The href's path, percent-decoded segment by segment, without a trailing `/`. */
  path: string;
  collection: boolean;
  size?: number;
  mtimeMs?: number;
  /** Properties the server answered with 2xx, by local name (`quota-used-bytes`, …), as text. */
  props: Record<string, string>;
  /** Properties the server refused or lacks (non-2xx propstats), by local name, with the status line. */
  failed: Record<string, string>;
  /** A `<status>` of the response itself (PROPPATCH/DELETE answers), when there is one. */
  status?: number;
}

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  // Every list shape is a list, whatever the server sent one or many of.
  isArray: (name) => name === 'response' || name === 'propstat',
  // Names are text; never turn "2024.10" into a number, never expand entities beyond XML's own.
  processEntities: true,
  htmlEntities: false,
});

/** The status code in a `HTTP/1.1 200 OK` line. */
function statusOf(line: unknown): number | undefined {
  const m = typeof line === 'string' ? line.match(/HTTP\/[\d.]+\s+(\d{3})/) : undefined;
  return m ? Number(m[1]) : undefined;
}

function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return '';
  return String(v);
}

/** Decodes a URL path one segment at a time (a `%2F` inside a name stays inside it). */
export function decodeHrefPath(href: string): string {
  let p = href.trim();
  const m = p.match(/^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/.*)?$/i);
  if (m) p = m[1] ?? '/';
  // No query part is cut off: a server that leaves `?` or `#` unencoded in an href (webdav-server
  // does) means them as part of a name.
  const segs = p.split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  let out = segs.join('/');
  while (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return out;
}

/** Parses a 207 Multi-Status body. */
export function parseMultistatus(xml: string): DavEntry[] {
  const doc = parser.parse(xml) as { multistatus?: { response?: unknown[] } | '' };
  const ms = doc.multistatus;
  if (ms === undefined) throw new Error('not a WebDAV multistatus answer');
  if (ms === '' || !ms.response) return [];
  const out: DavEntry[] = [];
  for (const r of ms.response as Record<string, unknown>[]) {
    const hrefs = r.href;
    const href = Array.isArray(hrefs) ? text(hrefs[0]) : text(hrefs);
    const entry: DavEntry = { path: decodeHrefPath(href), collection: false, props: {}, failed: {} };
    if (r.status !== undefined) entry.status = statusOf(r.status);
    for (const ps of (r.propstat as Record<string, unknown>[] | undefined) ?? []) {
      const st = statusOf(ps.status) ?? 200;
      const prop = (ps.prop ?? {}) as Record<string, unknown>;
      for (const [name, value] of Object.entries(prop)) {
        if (st >= 200 && st < 300) {
          if (name === 'resourcetype') {
            if (value && typeof value === 'object' && 'collection' in (value as object)) entry.collection = true;
            continue;
          }
          entry.props[name] = text(value);
        } else entry.failed[name] = String(ps.status ?? st);
      }
    }
    const len = entry.props.getcontentlength;
    if (len !== undefined && len !== '' && Number.isFinite(Number(len))) entry.size = Number(len);
    const lm = entry.props.getlastmodified;
    if (lm) {
      const t = Date.parse(lm);
      if (Number.isFinite(t)) entry.mtimeMs = t;
    }
    out.push(entry);
  }
  return out;
}
