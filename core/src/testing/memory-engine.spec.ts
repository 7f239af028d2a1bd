import { describeEngineConformance } from './engine-conformance.js';
import { MemoryTarget } from './memory-target.js';

// The engine conformance suite on the in-memory target: the cheapest place, so the most cases.
describeEngineConformance({
  name: 'memory',
  runs: 25,
  watchedRuns: true,
  createPlace: async () => {
    const t = new MemoryTarget();
    // Each open is a fresh handle on the same storage, as with a real plugin: the engine disposes it.
    return { open: async () => Object.create(t, { [Symbol.asyncDispose]: { value: async () => {} } }) as MemoryTarget };
  },
});
