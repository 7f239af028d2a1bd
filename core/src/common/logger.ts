/** The logger interface plugins see (pino-compatible). Plugins never call `console`. */
export interface LogFn {
  (msg: string): void;
  (obj: object, msg?: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** A logger whose lines carry `{ component: name }` (plugins get `logger.child(pluginId)`). */
  child(name: string): Logger;
}

/** A logger that drops everything — for tests and for library use without a data directory. */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger;
  },
};
