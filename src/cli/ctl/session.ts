/**
 * One `raftdcs ctl` invocation: its input and output, its configuration, its log lines, and its
 * read-only Raft node.
 *
 * Joining: `RaftDcs.create(..., patronictl: true)` — a node with no address of its own, no vote
 * and no files, that asks the partners for the cluster, receives the log from the leader, and
 * forwards writes to it. Patroni waits for a leader forever; we give up after `--timeout` seconds
 * (default 10) with a message that says what was asked and what to check.
 *
 * REST API calls (the commands that act on members) go through one `PatroniRestClient`, set up
 * from the configuration's `ctl` and `restapi` sections on first use (./rest-settings.ts).
 *
 * Log lines go to stderr in patronictl's shape (`2024-05-01 12:00:00,123 - WARNING - …`) at the
 * level patronictl takes from `LOGLEVEL` / `PATRONI_LOGLEVEL` / `PATRONI_LOG_LEVEL` (the last one
 * set wins), default WARNING. Command output goes to stdout only.
 *
 * This module never exits the process; the caller turns results and errors into exit codes.
 */

import type { EnvSource } from '../../config/patroni-config.js';
import type { ConfigMap } from '../../config/yaml.js';
import { RaftDcs } from '../../dcs/raft-dcs.js';
import type { Logger } from '../../logger.js';
import {
  type ClusterTarget,
  CtlError,
  citusConfigured,
  dcsConfig,
  type LoadedCtlConfig,
  loadCtlConfig,
  partnerList,
} from './config.js';
import { Terminal } from './prompt.js';
import { PatroniRestClient } from './rest-client.js';
import { restSettings } from './rest-settings.js';

export interface CtlIo {
  readonly stdout: { write(s: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(s: string): unknown };
  readonly stdin: NodeJS.ReadableStream;
  readonly env: EnvSource;
}

export interface GlobalOptions {
  /** `-c/--config-file` */
  readonly configFile?: string | null;
  /** seconds to wait for a Raft leader */
  readonly timeout?: number | null;
  /** `-k/--insecure`: do not verify the REST API's certificate */
  readonly insecure?: boolean;
  /** `--api-timeout`: seconds for a REST API connect and each wait for its reply */
  readonly apiTimeout?: number | null;
}

export const DEFAULT_TIMEOUT_SECONDS = 10;

const LEVELS = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 } as const;

function levelNumber(text: string): number {
  const t = text.trim().toUpperCase();
  if (/^[0-9]+$/.test(t)) return Number(t);
  if (t === 'WARN') return LEVELS.WARNING;
  if (t === 'FATAL') return LEVELS.CRITICAL;
  return (LEVELS as Record<string, number>)[t] ?? LEVELS.WARNING;
}

function asctime(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())},${p(d.getMilliseconds(), 3)}`;
}

/** A logger writing patronictl's log format to stderr. */
export function ctlLogger(io: CtlIo): Logger {
  let level: number = LEVELS.WARNING;
  for (const name of ['LOGLEVEL', 'PATRONI_LOGLEVEL', 'PATRONI_LOG_LEVEL']) {
    const v = io.env[name];
    if (v) level = levelNumber(v);
  }
  const line = (n: number, name: string) => (obj: object, msg?: string) => {
    if (n < level) return;
    const fields = Object.entries(obj)
      .filter(([, v]) => v !== undefined)
      .map(
        ([k, v]) => `${k}=${v instanceof Error ? v.message : typeof v === 'string' ? v : JSON.stringify(v)}`,
      );
    io.stderr.write(
      `${asctime(new Date())} - ${name} - ${msg ?? ''}${fields.length > 0 ? ` (${fields.join(', ')})` : ''}\n`,
    );
  };
  const logger: Logger = {
    debug: line(LEVELS.DEBUG, 'DEBUG'),
    info: line(LEVELS.INFO, 'INFO'),
    warn: line(LEVELS.WARNING, 'WARNING'),
    error: line(LEVELS.ERROR, 'ERROR'),
    child: () => logger,
  };
  return logger;
}

/** patronictl's `timestamp(precision)`: local time, `precision` digits of the fraction (0 = none). */
export function timestamp(precision = 6, now: Date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const base = `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())} ${p(now.getHours())}:${p(now.getMinutes())}:${p(now.getSeconds())}`;
  if (precision <= 0) return base;
  return `${base}.${`${p(now.getMilliseconds(), 3)}000`.slice(0, Math.min(precision, 6) - 1)}`;
}

export class CtlSession {
  readonly log: Logger;
  readonly terminal: Terminal;
  private loaded: LoadedCtlConfig | null = null;
  private dcsOrNull: RaftDcs | null = null;
  private restOrNull: PatroniRestClient | null = null;

  constructor(
    readonly io: CtlIo,
    readonly options: GlobalOptions,
  ) {
    this.log = ctlLogger(io);
    this.terminal = new Terminal({ input: io.stdin, write: (s) => this.out(s) });
  }

  out(text: string): void {
    this.io.stdout.write(text);
  }

  /** click.echo: the text and a newline. */
  echo(text = ''): void {
    this.out(`${text}\n`);
  }

  /** The configuration (loaded on first use). */
  get config(): ConfigMap {
    if (this.loaded === null) {
      this.loaded = loadCtlConfig(this.options.configFile ?? null, this.io.env);
      for (const w of this.loaded.warnings) this.log.warn({}, w);
    }
    return this.loaded.config;
  }

  get configPath(): string | null {
    void this.config;
    return this.loaded?.path ?? null;
  }

  /** The configured `namespace` (null: Patroni's default, `service`). */
  get namespace(): string | null {
    const ns = this.config.namespace;
    return typeof ns === 'string' ? ns : null;
  }

  /** A `citus` section is configured. */
  get citus(): boolean {
    return citusConfigured(this.config);
  }

  /** The client for the members' REST APIs (settings read on first use). */
  get rest(): PatroniRestClient {
    if (this.restOrNull === null) {
      this.restOrNull = new PatroniRestClient(
        restSettings(this.config, {
          insecure: this.options.insecure ?? false,
          timeoutSeconds: this.options.apiTimeout ?? null,
        }),
        this.log,
      );
    }
    return this.restOrNull;
  }

  /** The read-only Raft node on this cluster (one per invocation). */
  async dcs(target: ClusterTarget): Promise<RaftDcs> {
    if (this.dcsOrNull !== null) return this.dcsOrNull;
    const config = dcsConfig(this.config, target);
    const timeout = this.options.timeout ?? DEFAULT_TIMEOUT_SECONDS;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeout * 1000);
    try {
      this.dcsOrNull = await RaftDcs.create(config, {
        logger: this.log,
        signal: abort.signal,
        readyLogIntervalMs: 5000,
      });
    } catch (e) {
      if (abort.signal.aborted) {
        throw new CtlError(
          `no Raft leader found within ${timeout} s (asked ${partnerList(config).join(', ')}): ` +
            'is the cluster running, and are raft.partner_addrs, raft.self_addr and raft.password right? ' +
            '(--timeout waits longer)',
        );
      }
      throw new CtlError(`cannot join the Raft cluster: ${(e as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    return this.dcsOrNull;
  }

  async close(): Promise<void> {
    const d = this.dcsOrNull;
    this.dcsOrNull = null;
    await d?.close();
  }
}
