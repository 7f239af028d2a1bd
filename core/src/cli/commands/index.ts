import type { BuiltinCommand } from '../command.js';
import { configCommand } from './config.js';
import { initCommand } from './init.js';
import { notifyCommand } from './notify.js';
import { statusCommand } from './status.js';
import { runCommand } from './run.js';
import { pluginsCommand } from './plugins.js';
import { presetsCommand } from './presets.js';
import { backupCommand } from './backup.js';
import { restoreCommand } from './restore.js';
import { versionsCommand } from './versions.js';
import { historyCommand } from './history.js';
import { showCommand } from './show.js';
import { verifyCommand } from './verify.js';
import { pauseCommand, resumeCommand, stopCommand } from './control.js';
import { serviceCommand } from './service.js';

/**
 * The built-in commands, in the order `agent --help` lists them. To add one: write a small module
 * in this folder exporting a `BuiltinCommand` (import heavy modules inside its handler, not at the
 * top — `agent --help` must stay fast) and add it to this array.
 */
export const builtinCommands: BuiltinCommand[] = [
  initCommand,
  backupCommand,
  restoreCommand,
  versionsCommand,
  historyCommand,
  showCommand,
  verifyCommand,
  configCommand,
  pluginsCommand,
  presetsCommand,
  runCommand,
  statusCommand,
  pauseCommand,
  resumeCommand,
  stopCommand,
  serviceCommand,
  notifyCommand,
];
