// @hokan/core/testing — what plugin authors and the engine's tests use: the target conformance
// suite (needs vitest, an optional peer dependency), a real in-memory target, and body helpers.
export { describeEngineConformance, type EngineConformanceOptions, type EnginePlace } from './engine-conformance.js';
export { describeTargetConformance, type TargetConformanceOptions } from './conformance.js';
export { MemoryTarget, type MemoryTargetFault, type MemoryTargetOp, type MemoryTargetOptions } from './memory-target.js';
export { HOSTILE_KEYS, NFC_NAME, NFD_NAME, keyRefusalReason } from './hostile-keys.js';
export { bufferSource, hashStream, patternBytes, readAll, sha256Hex } from './sources.js';
export { presetFiles, walkSources, type WalkSourcesOptions, type WalkTotals } from '../node/engine/source-walk.js';
export { diffManifests, treeManifest } from './tree-manifest.js';
export { seededRandom } from './seeded-random.js';
export { FAULT_KINDS, faultKinds, serviceFault, startFaultProxy, type FaultFlavor, type FaultKind, type FaultProxy, type FaultProxyOptions } from './fault-proxy.js';
