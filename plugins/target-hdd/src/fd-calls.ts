import * as fsc from 'node:fs';
import { promisify } from 'node:util';

// The callback forms, promisified: one thread-pool round trip each, no FileHandle to create and track.
export const fdOpen = promisify(fsc.open);
export const fdWrite = promisify(fsc.write) as (fd: number, b: Buffer, off: number, len: number) => Promise<{ bytesWritten: number }>;
export const fdTimes = promisify(fsc.futimes);
export const fdChmod = promisify(fsc.fchmod);
export const fdSync = promisify(fsc.fsync);
export const fdClose = promisify(fsc.close);
