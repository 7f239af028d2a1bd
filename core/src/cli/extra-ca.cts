/**
 * NODE_EXTRA_CA_CERTS, read when a TLS connection needs it instead of when Node starts.
 *
 * Node 20 reads the file named by NODE_EXTRA_CA_CERTS, and builds its whole root store, before any
 * script runs: ~100 ms of every `agent` command on a machine that sets it (a bundle of 144
 * certificates: docs/benchmarks.md), although most commands open no TLS connection at all — a
 * command sent to `agent run` only relays bytes over a local socket, a backup to a local disk or a
 * restore from one never leaves the machine. So the bin's first line takes the variable out of
 * Node's sight (into HOKAN_EXTRA_CA_CERTS), puts it back for child processes, and, when the command
 * runs in this process, calls `trustExtraCaCerts`: the first secure context made without its own
 * `ca` reads the file, and gets Node's bundled roots plus the file's certificates, as Node's own
 * start-up would have given it. With an explicit `ca` nothing is added (Node does the same). A file
 * that cannot be read is warned about once, in Node's words, and left out, as Node does.
 *
 * The contexts of plain client connections (no option that changes a context: the SDKs' and
 * nodemailer's connections) are made once and shared — building a context with ~290 certificates
 * costs what Node's start-up did, so it must not happen per connection.
 *
 * Limits, said in docs/design.md ("Start-up"): only this process's main thread is covered (hokan's own
 * worker threads open no TLS connection); with `--use-openssl-ca` the system store is replaced by
 * Node's bundled one plus the file, so there hokan must be started with `node core/bin/agent.cjs`
 * (the variable then reaches Node as usual).
 *
 * CommonJS (.cts) like the bin's other start-up modules: required before the ES module CLI loads.
 */
import { readFileSync } from 'node:fs';
import type { SecureContext, SecureContextOptions } from 'node:tls';
// The module object itself (not an `import *` copy): its `createSecureContext` is what `tls.connect`
// calls. Loaded only on the way to a command run in this process (the bin requires this file then).
import tls = require('node:tls');

/** The options that make a context differ from the default one (Node 20's `configSecureContext`). */
const CONTEXT_OPTIONS = [
  'cert',
  'ciphers',
  'clientCertEngine',
  'crl',
  'dhparam',
  'ecdhCurve',
  'honorCipherOrder',
  'key',
  'maxVersion',
  'minVersion',
  'passphrase',
  'pfx',
  'privateKeyEngine',
  'privateKeyIdentifier',
  'secureOptions',
  'secureProtocol',
  'sessionIdContext',
  'sessionTimeout',
  'sigalgs',
  'ticketKeys',
] as const;

let installed = false;

/** Makes TLS trust the certificates in `file` besides Node's own roots, read on first use. */
export function trustExtraCaCerts(file: string): void {
  if (installed || !file) return;
  installed = true;
  const original = tls.createSecureContext;
  let roots: string[] | null | undefined; // undefined: not read yet; null: unusable (warned)
  let shared: SecureContext | undefined; // the plain context, made with the roots

  const extraRoots = (): string[] | null => {
    if (roots !== undefined) return roots;
    try {
      const all = [...tls.rootCertificates, readFileSync(file, 'utf8')];
      shared = original({ ca: all }); // text with no certificate in it adds none, as with Node
      roots = all;
    } catch (e) {
      process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}`);
      roots = null;
    }
    return roots;
  };

  tls.createSecureContext = function createSecureContext(options?: SecureContextOptions): SecureContext {
    // As Node's configSecureContext: a falsy `ca` means the default roots (which Node would have extended).
    if (options?.ca) return original(options);
    const ca = extraRoots();
    if (!ca) return original(options);
    const plain = !options || CONTEXT_OPTIONS.every((k) => (options as Record<string, unknown>)[k] === undefined);
    return plain ? shared! : original({ ...options, ca });
  };
}
