// Until @hokan/core/testing is built, the same small source helpers (re-exported from there when present).
export { bufferSource, patternBytes, readAll } from '../../../core/src/testing/sources.js';
