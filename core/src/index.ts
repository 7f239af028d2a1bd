// Public API of @hokan/core for plugins. Plugins import inversify and tapable only through here.
import 'reflect-metadata';
export * from './common/disposable.js';
export * from './common/errors.js';
export * from './common/statuses.js';
export * from './common/logger.js';
export * from './common/model.js';
export * from './common/config-types.js';
export * from './common/target.js';
export * from './common/part-reader.js';
export * from './common/limiter.js';
export * from './common/hooks.js';
export * from './common/plugin-api.js';
export * from './common/notify.js';
export * from './common/status-texts.js';
export { formatBytes, formatDate, fsTime } from './common/units.js';
export * from './common/tokens.js';
// For local-disk targets: a disk's durability made with one syncfs (target-hdd, the restore).
export { Syncer } from './node/disk/syncer.js';
// Helpers a plugin keeps between the runs of `agent run` (copy workers): park when done, take when
// needed; `keepHelpers(true)` is what the daemon (and a plugin's tests of it) turn on.
export { helpersKept, keepHelpers, parkHelper, takeHelper } from './node/disk/kept-helpers.js';
export { FSYNC_EACH_MAX, fsyncEach, fsyncPath } from './node/disk/fsync.js';
export { ContainerModule, Container, injectable, inject, optional } from 'inversify';
export * as tapable from 'tapable';
