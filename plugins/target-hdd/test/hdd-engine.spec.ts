import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { describeEngineConformance } from '@hokan/core/testing';
import { HddTarget } from '../src/index.js';

const base = mkdtempSync(join(tmpdir(), 'hokan-hdd-engine-'));
afterAll(() => rm(base, { recursive: true, force: true }));
let n = 0;

// The engine conformance suite on a real folder: every generated case gets its own.
describeEngineConformance({
  name: 'hdd (real temp folder)',
  runs: 8,
  createPlace: async () => {
    const path = mkdtempSync(join(base, `p${n++}-`));
    return { open: () => HddTarget.create({ type: 'hdd', path }), dispose: () => rm(path, { recursive: true, force: true }) };
  },
});

// The same on a disk taken as one that does not keep renames in order (FAT, exFAT): each move into
// the versions area durable before the put that follows it, deletions still recorded with the window.
describeEngineConformance({
  name: 'hdd (renames not kept in order)',
  runs: 4,
  createPlace: async () => {
    const path = mkdtempSync(join(base, `u${n++}-`));
    return { open: () => HddTarget.create({ type: 'hdd', path }, { renamesInOrder: false }), dispose: () => rm(path, { recursive: true, force: true }) };
  },
});
