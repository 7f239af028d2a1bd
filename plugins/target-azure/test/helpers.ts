import type { ResumeStore, RewindableSource } from '@hokan/core';
import { nullLogger } from '@hokan/core';
import { Readable } from 'node:stream';
import { resolveAzureConfig } from '../src/azure-config.js';
import { AzureTarget, createContainerClient, type AzureTargetInternals } from '../src/azure-target.js';

/** An AzureTarget built the way the plugin builds one, with the test-only internals available. */
export async function makeTarget(config: Record<string, unknown>, internals: AzureTargetInternals = {}): Promise<AzureTarget> {
  const sdk = await import('@azure/storage-blob');
  const cfg = resolveAzureConfig(config, 'test');
  return new AzureTarget(await createContainerClient(sdk, cfg, internals), cfg, nullLogger, internals);
}

/** A ResumeStore in memory that stores JSON copies, as the LevelDB index does. */
export function memoryResumeStore(): ResumeStore & { value: unknown } {
  const s = {
    value: undefined as unknown,
    async get<T>(): Promise<T | undefined> {
      return s.value === undefined ? undefined : (JSON.parse(JSON.stringify(s.value)) as T);
    },
    async set(state: unknown) {
      s.value = JSON.parse(JSON.stringify(state));
    },
    async clear() {
      s.value = undefined;
    },
  };
  return s;
}

/** A source over `data` whose stream fails (like a disk read error) after `failAfter` bytes. */
export function failingSource(data: Buffer, failAfter: number, chunk = 256 * 1024): RewindableSource {
  return {
    size: data.length,
    open(start = 0) {
      let pos = start;
      return new Readable({
        read() {
          if (pos >= failAfter) {
            this.destroy(new Error(`simulated read error at byte ${pos}`));
            return;
          }
          const end = Math.min(data.length, pos + chunk, failAfter);
          this.push(data.subarray(pos, end));
          pos = end;
          if (pos >= data.length) this.push(null);
        },
      });
    },
  };
}
export { bufferSource, patternBytes, readAll } from '@hokan/core/testing';
