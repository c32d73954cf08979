/**
 * `RaftDcs` — Patroni's Raft DCS (`patroni.dcs.raft.Raft`, `docs/dcs.md` §8): every DCS
 * operation is one KVStoreTTL operation on a key under the cluster path, with Patroni's keys, CAS
 * arguments, TTLs and retry budgets (§8.1); clusters are built from the local KV copy (reads never
 * touch the network); the KV callbacks raise the change event by Patroni's rules (§9.1).
 *
 * Construction is async (`RaftDcs.create`): validate the configuration and `data_dir`, join the
 * Raft cluster (DynMemberSyncObj flow), then wait until the node has a leader's view (`onReady`) or
 * has re-applied its own log (`appliedLocalLog`), logging `waiting on raft` every 5 s meanwhile.
 * Without `self_addr` (or with `patronictl: true`) the node is read-only: no files, no vote.
 *
 * Only `attemptToAcquireLeader` and the refresh in `updateLeader` let a `RaftError` escape; every
 * other write turns it into false. This module must never apply anything itself (all state changes
 * go through the replicated log), never send an unconditional delete (a missing key would stop
 * Python peers), and never fire the change event on `history`, `failover`, `initialize`,
 * `failsafe`, member-key writes or our own-leader `status` writes.
 *
 * Event choice (`docs/dcs.md` §9.1): we do NOT fire on the creation of a member key or of another node's
 * leader key. Patroni means to, but its condition can never be true, so no Patroni node does it;
 * firing would make our HA loop run on a different rhythm than the Python nodes next to it.
 */

import { KVStoreTTL } from '../kv/kvstore-ttl.js';
import type { KvRecord } from '../kv/record.js';
import { type Logger, silentLogger } from '../logger.js';
import type { SyncObjConfOptions } from '../raft/config.js';
import type { SyncObjDeps } from '../raft/syncobj.js';
import { AbstractDcs } from './abstract-dcs.js';
import type { Cluster } from './model/cluster.js';
import { buildCluster, buildMppGroups, entriesUnder } from './model/cluster-loader.js';
import { type PyJsonDict, pyJsonDumps } from './model/json.js';
import type { Leader } from './model/member.js';
import {
  prepareDataDir,
  RaftConfigError,
  type RaftDcsConfig,
  type RaftNodeSettings,
  raftNodeSettings,
} from './raft-config.js';

export interface RaftDcsOptions {
  /** epoch seconds for records, expiry, the cluster cache and slot retention (default: system clock) */
  readonly wallClock?: () => number;
  /** DCS log lines (`waiting on raft`, custom timeouts, coordinator load errors) */
  readonly logger?: Logger;
  /** the Raft engine's logger (default: `logger`) */
  readonly engineLogger?: Logger;
  /** engine seams for tests: transport, journal, dump store, monotonic clock, randomness */
  readonly deps?: SyncObjDeps;
  /** engine-only SyncObjConf overrides (tick period, compaction, fsync); tests and embedding */
  readonly conf?: Partial<SyncObjConfOptions>;
  /** pause between retry rounds, ms (Patroni 1000) */
  readonly retryPauseMs?: number;
  /** first backoff of the background `add`, ms */
  readonly joinBackoffMs?: number;
  /** how often `waiting on raft` is logged while starting, ms (Patroni 5000) */
  readonly readyLogIntervalMs?: number;
  /** give up starting (the node is destroyed, create() rejects) */
  readonly signal?: AbortSignal;
  /** name files the Windows way (`:` → `_`); default: this platform */
  readonly windows?: boolean;
}

export class RaftDcs extends AbstractDcs {
  /** the settings derived from the configuration */
  readonly settings: RaftNodeSettings;
  private ttlSeconds: number;
  private kvOrNull: KVStoreTTL | null = null;
  /** the leader key's value as the callbacks last saw it (only used before the KV is attached) */
  private leaderSeen: string | null = null;
  private closed = false;

  private constructor(settings: RaftNodeSettings, config: RaftDcsConfig, options: RaftDcsOptions) {
    super({
      name: config.name,
      scope: config.scope,
      namespace: config.namespace,
      loopWait: settings.loopWait,
      mpp: settings.mpp,
      patronictl: Boolean(config.patronictl),
      wallClock: options.wallClock,
      logger: options.logger,
    });
    this.settings = settings;
    this.ttlSeconds = settings.ttl;
  }

  /**
   * Validate the configuration, prepare `data_dir`, start the Raft node (join flow) and wait until
   * it is ready (a leader's view, or its own log re-applied). Rejects on a configuration error
   * (`RaftConfigError` naming the key), when the node cannot start, or when `signal` aborts.
   */
  static async create(config: RaftDcsConfig, options: RaftDcsOptions = {}): Promise<RaftDcs> {
    for (const key of ['name', 'scope'] as const) {
      if (typeof config[key] !== 'string' || config[key] === '') {
        throw new RaftConfigError(key, `${key} is required (a non-empty string)`);
      }
    }
    const settings = raftNodeSettings(config, { windows: options.windows });
    if (settings.dataDir !== '') prepareDataDir(settings.dataDir);
    const dcs = new RaftDcs(settings, config, options);
    await dcs.start(options);
    return dcs;
  }

  private async start(options: RaftDcsOptions): Promise<void> {
    const s = this.settings;
    if (s.timeouts.logLine !== null) this.log.info({}, s.timeouts.logLine);
    if (s.mppIgnored !== null) this.log.warn({}, `citus section ignored, MPP disabled: ${s.mppIgnored}`);
    let ready = false;
    const kv = await KVStoreTTL.open({
      selfAddr: s.selfAddr,
      partnerAddrs: s.partnerAddrs,
      retryTimeout: s.retryTimeout,
      onReady: () => {
        ready = true;
      },
      onSet: (key, record) => this.onKvSet(key, record),
      onDelete: (key) => this.onKvDelete(key),
      conf: { ...s.conf, logger: options.engineLogger ?? options.logger ?? silentLogger, ...options.conf },
      wallClock: this.wallClock,
      retryPauseMs: options.retryPauseMs,
      joinBackoffMs: options.joinBackoffMs,
      deps: options.deps,
    });
    this.kvOrNull = kv;
    try {
      await new Promise<void>((resolve, reject) => {
        let finished = false;
        const finish = (fn: () => void) => {
          if (finished) return;
          finished = true;
          kv.removeOnTickCallback(check);
          clearInterval(timer);
          options.signal?.removeEventListener('abort', onAbort);
          fn();
        };
        const check = () => {
          if (ready || kv.appliedLocalLog) finish(resolve);
        };
        const onAbort = () => finish(() => reject(new Error('RaftDcs start-up aborted')));
        const timer = setInterval(() => {
          check();
          if (!finished) this.log.info({}, 'waiting on raft');
        }, options.readyLogIntervalMs ?? 5000);
        kv.addOnTickCallback(check);
        kv.waitBinded().catch((e: unknown) => finish(() => reject(e)));
        if (options.signal?.aborted) onAbort();
        options.signal?.addEventListener('abort', onAbort);
        check();
      });
    } catch (e) {
      await kv.destroy();
      throw e;
    }
  }

  /** The KV store (for the controller, tools and tests). */
  get kv(): KVStoreTTL {
    if (this.kvOrNull === null) throw new Error('RaftDcs is not started');
    return this.kvOrNull;
  }

  /** Stop the Raft node (connections closed, journal flushed). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.kvOrNull?.destroy();
  }

  protected override get dcsClassName(): string {
    return 'Raft';
  }

  // --------------------------------------------------------------------------------------------
  // change events (docs/dcs.md §9.1), evaluated on every applied change

  private currentLeader(): string | null {
    const kv = this.kvOrNull;
    return kv === null ? this.leaderSeen : (kv.get(this.paths.leader)?.value ?? null);
  }

  private onKvSet(key: string, record: KvRecord): void {
    const p = this.paths;
    if (key === p.leader) this.leaderSeen = record.value;
    if (key === p.config || key === p.sync) {
      this.event.set();
    } else if ((key === p.status || key === p.leaderOptime) && this.currentLeader() !== this.name) {
      this.event.set();
    }
  }

  private onKvDelete(key: string): void {
    if (key !== this.paths.leader) return;
    this.leaderSeen = null;
    this.event.set();
  }

  // --------------------------------------------------------------------------------------------
  // settings

  get ttl(): number {
    return this.ttlSeconds;
  }

  setTtl(ttl: number): void {
    this.ttlSeconds = ttl;
  }

  setRetryTimeout(retryTimeout: number): void {
    this.kv.setRetryTimeout(retryTimeout);
  }

  /** Patroni: loop_wait, ttl, retry_timeout, then the DNS cache times (ttl / loop_wait). */
  override reloadConfig(config: {
    readonly loop_wait: number;
    readonly ttl: number;
    readonly retry_timeout: number;
  }): void {
    super.reloadConfig(config);
    this.kv.setDnsTimeouts(this.ttl, this.loopWait);
  }

  // --------------------------------------------------------------------------------------------
  // loading (local reads: never the network, never a DCSError)

  protected postgresqlClusterLoader(path: string): Cluster {
    return buildCluster(entriesUnder(this.kv.getPrefix(path), path), { keyPrefix: path });
  }

  protected mppClusterLoader(path: string): ReadonlyMap<number, Cluster> {
    return buildMppGroups(entriesUnder(this.kv.getPrefix(path), path), { keyPrefix: path });
  }

  protected async loadCluster<T>(path: string, loader: (path: string) => T | Promise<T>): Promise<T> {
    return loader(path);
  }

  // --------------------------------------------------------------------------------------------
  // writes (docs/dcs.md §8.1)

  private async set(
    key: string,
    value: string,
    o: Parameters<KVStoreTTL['set']>[2] = {},
  ): Promise<KvRecord | false> {
    return this.kv.set(key, value, o);
  }

  protected async writeLeaderOptimeValue(lsnText: string): Promise<boolean> {
    return (await this.set(this.paths.leaderOptime, lsnText, { timeout: 1 })) !== false;
  }

  protected async writeStatusValue(json: string): Promise<boolean> {
    return (await this.set(this.paths.status, json, { timeout: 1 })) !== false;
  }

  protected async writeFailsafeValue(json: string): Promise<boolean> {
    return (await this.set(this.paths.failsafe, json, { timeout: 1 })) !== false;
  }

  /**
   * Refresh our lock (`prevValue = name`; RaftError escapes). If that fails and the local view now
   * has no leader key at all (it expired), try to create it (`prevExist = false`).
   */
  protected async updateLeaderKey(_leader: Leader | null): Promise<boolean> {
    const refreshed = await this.set(this.paths.leader, this.name, {
      ttl: this.ttlSeconds,
      prevValue: this.name,
      raiseOnRaftError: true,
    });
    if (refreshed !== false) return true;
    if (this.kv.get(this.paths.leader) === null) return this.attemptToAcquireLeader();
    return false;
  }

  /** Create the leader key if absent (apply-time CAS); RaftError escapes. */
  async attemptToAcquireLeader(): Promise<boolean> {
    const r = await this.set(this.paths.leader, this.name, {
      ttl: this.ttlSeconds,
      prevExist: false,
      raiseOnRaftError: true,
    });
    return r !== false;
  }

  async setFailoverValue(value: string, version: number | null = null): Promise<boolean> {
    return (await this.set(this.paths.failover, value, { prevIndex: version })) !== false;
  }

  async setConfigValue(value: string, version: number | null = null): Promise<boolean> {
    return (await this.set(this.paths.config, value, { prevIndex: version })) !== false;
  }

  /** Our member key: compact JSON of `data`, TTL = ttl, 2 s budget. */
  async touchMember(data: PyJsonDict): Promise<boolean> {
    return (
      (await this.set(this.paths.member, pyJsonDumps(data), { ttl: this.ttlSeconds, timeout: 2 })) !== false
    );
  }

  async takeLeader(): Promise<boolean> {
    return (await this.set(this.paths.leader, this.name, { ttl: this.ttlSeconds })) !== false;
  }

  /** Race for (createNew) or fill in (not createNew) the `initialize` key. */
  async initialize(createNew = true, sysid = ''): Promise<boolean> {
    return (await this.set(this.paths.initialize, sysid, { prevExist: !createNew })) !== false;
  }

  protected async deleteLeaderKey(_leader: Leader): Promise<boolean> {
    return this.kv.delete(this.paths.leader, { prevValue: this.name, timeout: 1 });
  }

  /** Remove `initialize` (sent with `prevExist: true`: false when it is already gone). */
  async cancelInitialization(): Promise<boolean> {
    return this.kv.delete(this.paths.initialize);
  }

  /** Remove every key under our cluster path (our MPP group only). */
  async deleteCluster(): Promise<boolean> {
    return this.kv.delete(this.paths.cluster, { recursive: true });
  }

  async setHistoryValue(value: string): Promise<boolean> {
    return (await this.set(this.paths.history, value)) !== false;
  }

  async setSyncStateValue(value: string, version: number | null = null): Promise<number | false> {
    const r = await this.set(this.paths.sync, value, { prevIndex: version });
    return r === false ? false : r.index;
  }

  /**
   * Remove `sync` (CAS on `version`). Without a version Patroni sends `prevIndex: None`, which
   * imposes nothing — an unconditional delete that stops Python peers when the key is missing; we
   * send `prevExist: true` instead (same effect when the key exists).
   */
  async deleteSyncState(version: number | null = null): Promise<boolean> {
    return this.kv.delete(this.paths.sync, version === null ? {} : { prevIndex: version });
  }
}
