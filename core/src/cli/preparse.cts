/** The global options, read before yargs runs (to find the config and its plugins' commands, and by the bin's head start). */
export function preparse(argv: readonly string[]): { config?: string; dataDir?: string; json: boolean; verbose: boolean } {
  const out: { config?: string; dataDir?: string; json: boolean; verbose: boolean } = { json: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    const [k, v] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (k === '--config' || k === '-c') out.config = v ?? argv[++i];
    else if (k === '--data-dir') out.dataDir = v ?? argv[++i];
    else if (k === '--json') out.json = v === undefined || v === 'true';
    else if (k === '--verbose' || k === '-v') out.verbose = true;
  }
  return out;
}
