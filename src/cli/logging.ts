/**
 * Logging for the CLI commands: one pino logger writing to stderr — human-readable (pino-pretty)
 * when stderr is a terminal, one JSON object per line otherwise (or as forced with
 * `--log-format`). Level names are accepted in Patroni's (Python's) spelling as well as pino's:
 * DEBUG, INFO, WARNING/WARN, ERROR, CRITICAL/FATAL, NOTSET, the numbers 0–50, trace, silent.
 *
 * Child loggers handed out here (e.g. the one given to the raft runtime as `conf.logger`) are
 * tracked, so a level change (SIGHUP) reaches all of them — pino children do not follow their
 * parent's level by themselves.
 *
 * Writes are synchronous so the last lines before an exit are never lost. This module must never
 * write to stdout (stdout belongs to command output, e.g. `raftdcs admin`).
 */
import { type LevelWithSilent, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'auto' | 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'pretty'];
export const DEFAULT_LOG_LEVEL: LevelWithSilent = 'info';

const NAMES: Readonly<Record<string, LevelWithSilent>> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'fatal',
  fatal: 'fatal',
  silent: 'silent',
  notset: 'trace',
};

/** A level name or Python level number → pino's level, or null when it is not one. */
export function parseLogLevel(text: string): LevelWithSilent | null {
  const t = text.trim().toLowerCase();
  if (/^[0-9]+$/.test(t)) {
    const n = Number(t);
    if (n < 10) return 'trace';
    if (n < 20) return 'debug';
    if (n < 30) return 'info';
    if (n < 40) return 'warn';
    if (n < 50) return 'error';
    return 'fatal';
  }
  return NAMES[t] ?? null;
}

export interface CliLogging {
  /** the root logger */
  readonly logger: Logger;
  /** a child logger that follows later level changes */
  child(bindings: Record<string, unknown>): Logger;
  /** change the level of the root and every child handed out */
  setLevel(level: LevelWithSilent): void;
  readonly level: LevelWithSilent;
  /** whether lines are JSON (else pretty) */
  readonly json: boolean;
}

export interface LoggingOptions {
  readonly level?: LevelWithSilent;
  readonly format?: LogFormat;
  /** where lines go (default: stderr, fd 2); tests pass a stream */
  readonly destination?: NodeJS.WritableStream;
  /** whether the destination is a terminal (default: process.stderr.isTTY) */
  readonly isTTY?: boolean;
  /** the `name` field (default `raftdcs`) */
  readonly name?: string;
}

export function createLogging(options: LoggingOptions = {}): CliLogging {
  const level = options.level ?? DEFAULT_LOG_LEVEL;
  const isTTY = options.isTTY ?? process.stderr.isTTY === true;
  const format = options.format ?? 'auto';
  const json = format === 'json' || (format === 'auto' && !isTTY);
  const name = options.name ?? 'raftdcs';
  const stream = json
    ? (options.destination ?? pino.destination({ dest: 2, sync: true }))
    : pretty({
        destination: options.destination ?? 2,
        sync: true,
        colorize: isTTY,
        translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
        ignore: 'pid,hostname,name',
      });
  const root = pino({ name, level }, stream);
  const children: Logger[] = [];
  let current = level;
  return {
    logger: root,
    child(bindings) {
      const c = root.child(bindings);
      c.level = current;
      children.push(c);
      return c;
    },
    setLevel(next) {
      current = next;
      root.level = next;
      for (const c of children) c.level = next;
    },
    get level() {
      return current;
    },
    json,
  };
}
