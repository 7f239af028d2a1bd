export { bufferSource, patternBytes, readAll } from '@hokan/core/testing';
