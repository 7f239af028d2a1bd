import type { Output } from '../common/plugin-api.js';
import { maskSecretValuesIn } from '../node/secrets.js';

/**
 * The CLI's Output: human lines on stdout (none with --json), the one JSON document on stdout with
 * --json, warnings and errors on stderr. Known secret values are masked in everything written.
 */
export class CliOutput implements Output {
  readonly isTTY: boolean;
  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    this.isTTY = Boolean(stdout.isTTY);
  }
  print(text: string): void {
    if (!this.json) this.stdout.write(maskSecretValuesIn(text) + '\n');
  }
  printJson(value: unknown): void {
    this.stdout.write(maskSecretValuesIn(JSON.stringify(value, null, 2)) + '\n');
  }
  error(text: string): void {
    this.stderr.write(maskSecretValuesIn(text) + '\n');
  }
}
