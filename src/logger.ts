/**
 * The one logger interface every layer logs through: pino's call shape (`log.warn(obj, msg)`), so a
 * pino logger fits as is. Library users pass theirs in the options (`SyncObjConfOptions.logger`,
 * `RaftDcsOptions.logger`, …); the default is silent.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  /** a logger whose lines carry `bindings` too (pino's `child`); optional */
  child?(bindings: object): Logger;
}

const noop = (): void => {};

/** Logs nothing. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });
