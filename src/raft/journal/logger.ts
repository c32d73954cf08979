/**
 * The logger the journal writes to: pino's call shape (`logger.warn(obj, msg)`), so the runtime's
 * pino logger fits as is. Silent by default.
 *
 * This module must never log by itself or hold global state.
 */
export interface JournalLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};

export const silentJournalLogger: JournalLogger = Object.freeze({
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
});
