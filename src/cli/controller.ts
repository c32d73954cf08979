/**
 * `raftdcs controller` — a drop-in for `patroni_raft_controller` (docs/dcs.md §10.6): reads the
 * configuration by Patroni's rules, uses only its `raft:` section (plus `log.level` and our own
 * `raftdcs:` section), and runs a full voting KVStoreTTL node — journal and dump files named as
 * Patroni names them, no callbacks, expiring TTL keys while it is the Raft leader — until SIGTERM or
 * SIGINT, then stops cleanly (sockets closed, journal flushed) and exits 0. SIGHUP re-reads the
 * configuration and applies only the log level, as Patroni's daemon does.
 *
 * Exit codes: ./exit-codes.ts. Configuration errors go to stderr as plain text (nothing has been
 * started yet); everything after that goes through the logger. While it runs it holds the node's
 * advisory lock (`<data_dir>/<self_addr>.lock`, ./node-lock.ts): a second process on the same files
 * refuses to start (exit 3), and `raftdcs recover` refuses to rewrite them.
 *
 * This module must never leave the process running after it resolved, never retry binding in a
 * tight loop (the transport retries every `bind_retry_time`), and never swallow a fatal node
 * error: it becomes exit code 4.
 */
import type { LevelWithSilent, Logger } from 'pino';
import {
  type ControllerSettings,
  controllerSettings,
  prepareControllerDataDir,
} from '../config/controller-config.js';
import {
  type EnvSource,
  type LoadedConfig,
  loadPatroniConfig,
  reloadPatroniConfig,
} from '../config/patroni-config.js';
import { type ConfigMap, isConfigMap } from '../config/yaml.js';
import { KVStoreTTL } from '../kv/kvstore-ttl.js';
import { ConfigError } from '../raft/config.js';
import { journalPaths } from '../raft/journal/paths.js';
import { RAFTDCS_VERSION as VERSION } from '../version.js';
import { ExitCode } from './exit-codes.js';
import { type HttpEndpoint, startHttpEndpoint } from './http.js';
import {
  type CliLogging,
  createLogging,
  DEFAULT_LOG_LEVEL,
  type LogFormat,
  parseLogLevel,
} from './logging.js';
import { createMetrics } from './metrics.js';
import { acquireNodeLock, describeLock, type NodeLock, NodeLockError } from './node-lock.js';

/** How long a clean stop may take before we give up and exit with code 4. */
const SHUTDOWN_DEADLINE_MS = 15_000;

export interface ControllerOptions {
  /** a YAML file or a directory of them (null: PATRONI_CONFIGURATION, else the environment) */
  readonly configPath: string | null;
  /** `--http host:port` (overrides `raftdcs.http`) */
  readonly http?: string | null;
  /** `--max-bind-retries n` (overrides `raftdcs.max_bind_retries`) */
  readonly maxBindRetries?: number | null;
  /** `--log-level` (overrides `log.level` / PATRONI_LOG_LEVEL, also across SIGHUP) */
  readonly logLevel?: string | null;
  /**
   * `--unsafe-allow-partial-data`: start even though the data files show a partial loss (SyncObjConf
   * `unsafeAllowPartialData`); a command-line flag only, so that it is used for one start by hand
   */
  readonly unsafeAllowPartialData?: boolean;
  readonly logFormat?: LogFormat;
  /** default process.env; PATRONI_* variables read are removed from it, as Patroni does */
  readonly env?: EnvSource;
  /** where configuration errors are written (default process.stderr) */
  readonly stderr?: { write(s: string): unknown };
}

/** Run the controller until it is told to stop; resolves to the exit code. */
export async function runController(options: ControllerOptions): Promise<ExitCode> {
  let start: ControllerStart;
  try {
    start = loadControllerStart(options);
  } catch (e) {
    return reportConfigError(e, options.stderr ?? process.stderr);
  }
  const logging = createLogging({ level: start.level, format: options.logFormat ?? 'auto' });
  const log = logging.logger;
  const allowPartialData = options.unsafeAllowPartialData === true;
  // Test-only: the chaos campaign's control run (test/chaos) proves its checks catch lost writes by
  // running controllers that keep their log in memory. Never documented for operators.
  const unsafeNoJournal = process.env.RAFTDCS_UNSAFE_TEST_NO_JOURNAL === '1';
  logStartup(log, start, allowPartialData, unsafeNoJournal);

  // the advisory lock: no second process on these files (raftdcs recover checks it too)
  const lock = await takeNodeLock(start.settings, log);
  if (lock === null) return ExitCode.StartFailed;
  // signals: installed before anything is started, removed when we return
  const signals = installSignalHandlers(logging, start);
  const running: RunningParts = { kv: null, http: null, lock };
  const shutdown = (code: ExitCode) => shutdownController(code, running, log);
  try {
    const store = await openControllerNode(start.settings, logging, allowPartialData, unsafeNoJournal);
    running.kv = store;
    const startFailure = await waitListening(store, start.settings, signals.stopRequested, log);
    if (startFailure !== null) return await shutdown(startFailure);
    if (start.settings.http !== null) {
      const http = await startControllerHttp(start.settings, start.settings.http, store, logging);
      if (http === null) return await shutdown(ExitCode.StartFailed);
      running.http = http;
    }
    const outcome = await Promise.race([signals.stopRequested, store.failed]);
    if (outcome instanceof Error) {
      log.fatal({ err: outcome.message }, 'the raft node stopped on a fatal error');
      return await shutdown(ExitCode.Fatal);
    }
    return await shutdown(ExitCode.Ok);
  } catch (e) {
    log.fatal({ err: e }, 'the raft controller failed');
    return await shutdown(ExitCode.Fatal);
  } finally {
    signals.remove();
  }
}

/** What the controller starts from: the configuration read, its settings and the log level. */
interface ControllerStart {
  readonly loaded: LoadedConfig;
  readonly settings: ControllerSettings;
  readonly level: LevelWithSilent;
  /** the level `--log-level` fixes (SIGHUP does not change it), else null */
  readonly pinnedLevel: LevelWithSilent | null;
}

/** Read the configuration and prepare the data directory; throws ConfigError. */
function loadControllerStart(options: ControllerOptions): ControllerStart {
  let pinnedLevel: LevelWithSilent | null = null;
  if (options.logLevel) {
    pinnedLevel = parseLogLevel(options.logLevel);
    if (pinnedLevel === null) throw new ConfigError('--log-level', unknownLevel(options.logLevel));
  }
  const loaded = loadPatroniConfig({ path: options.configPath, env: options.env, consumeEnv: true });
  const settings = controllerSettings(loaded.config, {
    http: options.http,
    maxBindRetries: options.maxBindRetries,
  });
  const level = pinnedLevel ?? levelOf(loaded.config);
  prepareControllerDataDir(settings.node.dataDir);
  return { loaded, settings, level, pinnedLevel };
}

/** A configuration error on stderr (nothing is started yet): exit code Config. Rethrows anything else. */
function reportConfigError(e: unknown, stderr: { write(s: string): unknown }): ExitCode {
  if (!(e instanceof ConfigError)) throw e;
  stderr.write(`${e.message}\n`);
  stderr.write('(see raftdcs controller --help and docs/controller.md)\n');
  return ExitCode.Config;
}

/** The configuration warnings, what is started, and the warnings of the unsafe modes. */
function logStartup(
  log: Logger,
  { loaded, settings }: ControllerStart,
  allowPartialData: boolean,
  unsafeNoJournal: boolean,
): void {
  for (const w of loaded.warnings) log.warn(w);
  const node = settings.node;
  if (settings.unknownRaftKeys.length > 0) {
    log.warn({ keys: settings.unknownRaftKeys.map((k) => `raft.${k}`) }, 'ignoring unknown raft keys');
  }
  log.info(
    {
      version: VERSION,
      config: loaded.source,
      selfAddr: node.selfAddr,
      // null: pysyncobj's default, every interface on self_addr's port
      bindAddr: settings.bindAddr,
      partnerAddrs: node.partnerAddrs,
      journal: node.files.journal,
      dump: node.files.dump,
      encrypted: settings.password !== null,
    },
    'starting the raft controller',
  );
  if (node.timeouts.logLine !== null) log.info(node.timeouts.logLine);
  if (allowPartialData) {
    log.warn(
      { journal: node.files.journal, dump: node.files.dump },
      '--unsafe-allow-partial-data: starting even if the journal or dump shows lost data (the node then forgets its vote and acknowledged entries); do not pass it to later starts',
    );
  }
  if (unsafeNoJournal) {
    log.warn(
      { env: 'RAFTDCS_UNSAFE_TEST_NO_JOURNAL' },
      'UNSAFE TEST MODE: no journal and no dump on disk; a crash forgets acknowledged writes and votes',
    );
  }
}

interface SignalHandlers {
  /** resolves with the name of the first SIGTERM/SIGINT */
  readonly stopRequested: Promise<string>;
  /** remove every handler installed */
  remove(): void;
}

/** SIGTERM/SIGINT stop, SIGHUP re-reads the log level, an uncaught error exits with Fatal. */
function installSignalHandlers(logging: CliLogging, start: ControllerStart): SignalHandlers {
  const log = logging.logger;
  let resolveStop!: (why: string) => void;
  const stopRequested = new Promise<string>((resolve) => {
    resolveStop = resolve;
  });
  let stopping: string | null = null;
  const onStopSignal = (signal: NodeJS.Signals) => {
    if (stopping !== null) {
      log.warn({ signal }, 'already stopping');
      return;
    }
    stopping = signal;
    log.info({ signal }, 'stopping the raft controller');
    resolveStop(signal);
  };
  const onHangup = () => reloadLogLevel(logging, start);
  const onUncaught = (e: unknown) => {
    log.fatal({ err: e }, 'uncaught error; exiting');
    process.exit(ExitCode.Fatal);
  };
  process.on('SIGTERM', onStopSignal);
  process.on('SIGINT', onStopSignal);
  process.on('SIGHUP', onHangup);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  return {
    stopRequested,
    remove: () => {
      process.off('SIGTERM', onStopSignal);
      process.off('SIGINT', onStopSignal);
      process.off('SIGHUP', onHangup);
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
    },
  };
}

/** SIGHUP: re-read the configuration and apply its log level (unless `--log-level` fixed it). */
function reloadLogLevel(logging: CliLogging, { loaded, pinnedLevel }: ControllerStart): void {
  const log = logging.logger;
  if (pinnedLevel !== null) {
    log.info({ level: pinnedLevel }, 'SIGHUP: the log level is fixed by --log-level');
    return;
  }
  let next: LevelWithSilent;
  try {
    next = levelOf(reloadPatroniConfig(loaded));
  } catch (e) {
    log.error(
      { err: (e as Error).message },
      'SIGHUP: the configuration could not be re-read; nothing changed',
    );
    return;
  }
  if (next === logging.level) {
    log.info({ level: next }, 'SIGHUP: configuration re-read; the log level is unchanged');
    return;
  }
  // logged at info: after the switch when it makes the log more verbose, else before it
  const from = logging.level;
  // pino ranks the levels it logs at; 'silent' is not among them and is the quietest
  const rank = (level: string): number => log.levels.values[level] ?? Number.POSITIVE_INFINITY;
  const moreVerbose = rank(next) < rank(from);
  if (moreVerbose) logging.setLevel(next);
  log.info({ from, to: next }, 'SIGHUP: log level changed');
  if (!moreVerbose) logging.setLevel(next);
}

/** Take the node's advisory lock (./node-lock.ts); null (logged) when another live process holds it. */
async function takeNodeLock(settings: ControllerSettings, log: Logger): Promise<NodeLock | null> {
  const node = settings.node;
  const path = journalPaths(node.dataDir, node.selfAddr).lock;
  try {
    const lock = await acquireNodeLock(path, {
      selfAddr: node.selfAddr,
      program: 'controller',
      takeOverForeign: true,
    });
    if (lock.replaced !== null) {
      log.warn({ lock: path, previous: describeLock(path, lock.replaced) }, 'took over a stale lock');
    }
    return lock;
  } catch (e) {
    if (e instanceof NodeLockError) {
      log.error(
        { lock: path, err: e.message },
        'another process runs this node (its lock names a live process): not starting',
      );
    } else {
      log.error({ lock: path, err: (e as Error).message }, 'cannot take the lock on the data files');
    }
    return null;
  }
}

/** Open the voting KVStoreTTL node with Patroni's SyncObjConf (it starts binding on its own). */
function openControllerNode(
  settings: ControllerSettings,
  logging: CliLogging,
  allowPartialData: boolean,
  unsafeNoJournal: boolean,
): Promise<KVStoreTTL> {
  const node = settings.node;
  return KVStoreTTL.open({
    selfAddr: node.selfAddr,
    partnerAddrs: node.partnerAddrs,
    retryTimeout: node.retryTimeout,
    conf: {
      // Patroni's SyncObjConf: password, bind address, journal and dump files, DNS cache times,
      // the custom timeout knobs; no onReady (the controller has no callbacks)
      ...node.conf,
      maxBindRetries: settings.maxBindRetries,
      bindRetryTime: settings.bindRetryTime,
      fsync: 'always',
      ...(unsafeNoJournal ? { journalFile: null, fullDumpFile: null } : {}),
      unsafeAllowPartialData: allowPartialData,
      logger: logging.child({ component: 'raft' }),
    },
  });
}

/**
 * Wait until the node listens, or a stop is requested first. Null when it listens; else the exit
 * code to stop with (StartFailed when binding failed, Ok on a stop).
 */
async function waitListening(
  store: KVStoreTTL,
  settings: ControllerSettings,
  stopRequested: Promise<string>,
  log: Logger,
): Promise<ExitCode | null> {
  const node = settings.node;
  const started = store.waitBinded().then(
    () => null,
    (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
  );
  const first = await Promise.race([started, stopRequested.then(() => 'stop' as const)]);
  if (first instanceof Error) {
    log.error(
      {
        err: first.message,
        selfAddr: node.selfAddr,
        bindAddr: settings.bindAddr,
        maxBindRetries: settings.maxBindRetries,
      },
      'the raft node could not start',
    );
    return ExitCode.StartFailed;
  }
  if (first === 'stop') return ExitCode.Ok;
  log.info({ selfAddr: node.selfAddr }, 'raft node listening');
  return null;
}

/** Start the HTTP endpoint (GET /status, /health, /readyz, /metrics); null (logged) when it cannot listen. */
async function startControllerHttp(
  settings: ControllerSettings,
  listen: NonNullable<ControllerSettings['http']>,
  store: KVStoreTTL,
  logging: CliLogging,
): Promise<HttpEndpoint | null> {
  const log = logging.logger;
  try {
    const http = await startHttpEndpoint({
      listen,
      kv: store,
      metrics: createMetrics(store, VERSION, settings.readyMaxLag),
      version: VERSION,
      logger: logging.child({ component: 'http' }),
      readyMaxLag: settings.readyMaxLag,
    });
    log.info(
      { address: http.address, readyMaxLag: settings.readyMaxLag },
      'HTTP endpoint listening (GET /status, /health, /readyz, /metrics)',
    );
    return http;
  } catch (e) {
    log.error({ err: (e as Error).message, http: listen }, 'the HTTP endpoint could not start');
    return null;
  }
}

/** What a stop must close. */
interface RunningParts {
  kv: KVStoreTTL | null;
  http: HttpEndpoint | null;
  lock: NodeLock | null;
}

/** Close the HTTP endpoint and the node (sockets, journal) within a deadline. */
async function shutdownController(code: ExitCode, running: RunningParts, log: Logger): Promise<ExitCode> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), SHUTDOWN_DEADLINE_MS);
  });
  const work = (async () => {
    await running.http?.close();
    await running.kv?.destroy();
    // only once the journal is closed: recover may touch the files from then on
    await running.lock?.release().catch((e: unknown) => {
      log.warn({ err: (e as Error).message, lock: running.lock?.path }, 'could not remove the lock file');
    });
    return 'done' as const;
  })();
  try {
    const r = await Promise.race([work, deadline]);
    if (r === 'timeout') {
      log.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'the node did not stop in time');
      return ExitCode.Fatal;
    }
  } catch (e) {
    log.error({ err: (e as Error).message }, 'the node did not stop cleanly (journal flush or close failed)');
    return ExitCode.Fatal;
  } finally {
    clearTimeout(timer);
  }
  log.info({ exitCode: code }, 'raft controller stopped');
  return code;
}

/** `log.level` (after PATRONI_LOG_LEVEL) as a pino level; INFO when unset. */
function levelOf(config: ConfigMap): LevelWithSilent {
  const logSection = config.log;
  const raw = isConfigMap(logSection) ? logSection.level : undefined;
  if (raw === undefined || raw === null) return DEFAULT_LOG_LEVEL;
  const text = typeof raw === 'bigint' ? raw.toString() : typeof raw === 'string' ? raw : null;
  const parsed = text === null ? null : parseLogLevel(text);
  if (parsed === null) throw new ConfigError('log.level', unknownLevel(String(raw)));
  return parsed;
}

function unknownLevel(text: string): string {
  return `unknown log level ${JSON.stringify(text)} (expected DEBUG, INFO, WARNING, ERROR, CRITICAL, or a pino level)`;
}
