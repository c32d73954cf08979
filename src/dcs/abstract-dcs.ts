/**
 * `AbstractDcs` — Patroni's `AbstractDCS`: what every DCS does the same way, on top of a handful
 * of DCS-specific operations (`docs/dcs.md` §8.3–§8.8, Patroni 4.x behaviour):
 *
 * - the key paths (namespace, scope, MPP group) and the MPP coordinator/worker loading;
 * - `getCluster()` with its cache (valid until now + ttl), `cluster`, `lastSeen`, `resetCluster()`
 *   (also when a load fails);
 * - `writeStatus` (4.x carry-over of `slots`/`retain_slots`, nulls dropped, `deep_compare`, legacy
 *   `optime/leader` while a member runs Patroni < 2.1.0), `writeLeaderOptime`, `writeFailsafe`;
 * - `updateLeader(cluster, lastLsn, slots, failsafe)` with the `retain_slots` bookkeeping,
 *   `acquireLeaderLock`, `deleteLeader(leader, lastLsn)`, `manualFailover`, `writeSyncState`;
 * - the change event: `watch(leaderVersion, timeoutSeconds)` (clears it on return) and `wakeup()`.
 *
 * Times come from an injected wall clock (epoch seconds, like Python's `time.time()`). This class
 * never talks to the network itself and never decides HA policy: it only keeps the bookkeeping
 * Patroni keeps, so that a subclass maps each abstract operation onto its store.
 *
 * Errors: a `DCSError` from `getCluster`, `updateLeader` or `attemptToAcquireLeader` means "DCS
 * unreachable" to the HA loop; a `ClusterParseError` from `getCluster` is a bad value in the store.
 */
import { assert } from '../assert.js';
import { type Logger, silentLogger } from '../logger.js';
import { pyStrCompare } from '../py/compare.js';
import { pyRoundHalfEven, pyStrip } from '../py/numbers.js';
import { Cluster } from './model/cluster.js';
import { PyDateTime } from './model/datetime.js';
import {
  deepCompare,
  isPyDict,
  type JsonObject,
  type JsonValue,
  type PyJson,
  type PyJsonDict,
  pyDictEntries,
  pyJsonDumps,
  pyStr,
  pyStrRepr,
  pyTruthy,
} from './model/json.js';
import { compareVersionTuples, type Leader, type Member } from './model/member.js';
import { patroniStrtod, patroniStrtol } from './model/pyint.js';
import { SyncState } from './model/sync-state.js';
import { DcsPaths, MPP_COORDINATOR_GROUP, type MppConfig } from './paths.js';

/** An LSN (bytes): any size, so `bigint` beyond 2^53. */
export type Lsn = number | bigint;

/** What `writeStatus` receives: `optime` always; `slots`/`retain_slots` optional (null = drop). */
export interface StatusValue {
  readonly optime: Lsn;
  readonly slots?: Readonly<Record<string, Lsn>> | null;
  readonly retain_slots?: readonly string[] | null;
}

/** The longest delay a Node timer takes (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A one-flag event like Python's `threading.Event`, awaited with a timeout. */
export class DcsEvent {
  private flag = false;
  private readonly waiters = new Set<() => void>();

  set(): void {
    this.flag = true;
    for (const w of [...this.waiters]) w();
  }

  clear(): void {
    this.flag = false;
  }

  isSet(): boolean {
    return this.flag;
  }

  /** Resolve with the flag once it is set or after `timeoutMs` (at once when already set). */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.flag || !(timeoutMs > 0)) return Promise.resolve(this.flag);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.flag);
      };
      const timer = setTimeout(done, Math.min(timeoutMs, MAX_TIMER_MS));
      this.waiters.add(done);
    });
  }
}

export interface AbstractDcsOptions {
  /** this node's member name */
  readonly name: string;
  readonly scope: string;
  /** default `service` */
  readonly namespace?: string | null;
  /** HA loop period in seconds (default 10) */
  readonly loopWait?: number;
  /** the validated MPP (Citus) configuration; null/absent when MPP is disabled */
  readonly mpp?: MppConfig | null;
  /** running inside patronictl */
  readonly patronictl?: boolean;
  /** epoch seconds (Python `time.time()`); default the system clock */
  readonly wallClock?: () => number;
  readonly logger?: Logger;
}

/** Patroni's `slot_name_from_member_name`: lower-case, `-`/`.` → `_`, others → `u%04d`, ≤ 63 chars. */
export function slotNameFromMemberName(name: string): string {
  let out = '';
  for (const ch of name.toLowerCase()) {
    if (/^[a-z0-9_]$/.test(ch)) out += ch;
    else if (ch === '-' || ch === '.') out += '_';
    else out += `u${String(ch.codePointAt(0)).padStart(4, '0')}`;
  }
  return [...out].slice(0, 63).join('');
}

/** Patroni's `parse_bool`. */
export function parseBool(value: JsonValue | undefined): boolean | null {
  const s = (value === undefined ? 'None' : pyStr(value)).toLowerCase();
  if (['on', 'true', 'yes', '1'].includes(s)) return true;
  if (['off', 'false', 'no', '0'].includes(s)) return false;
  return null;
}

const SECONDS_PER_UNIT: Readonly<Record<string, number>> = {
  us: 1 / 1_000_000,
  ms: 1 / 1000,
  s: 1,
  min: 60,
  h: 3600,
  d: 86400,
};
const ROUND_TO: Readonly<Record<string, string>> = { d: 'h', h: 'min', min: 's', s: 'ms', ms: 'us' };

/** Patroni's `parse_int(value, 's')`: an integer number of seconds, units `us ms s min h d` accepted. */
export function parseSeconds(value: JsonValue | undefined): number | null {
  if (value === undefined || isPyDict(value) || Array.isArray(value)) return null;
  const l = patroniStrtol(value);
  let n: number | null = l.value === null ? null : Number(l.value);
  let rest = l.rest;
  if ((n === null && rest.startsWith('.')) || ['.', 'e', 'E'].includes(rest[0] ?? '')) {
    const d = patroniStrtod(value);
    n = d.value;
    rest = d.rest;
  }
  if (n === null) return null;
  const unit = pyStrip(rest);
  if (unit !== '') {
    const mult = SECONDS_PER_UNIT[unit];
    if (mult === undefined) return null;
    n *= mult;
    const roundUnit = ROUND_TO[unit];
    if (roundUnit !== undefined) {
      const m = SECONDS_PER_UNIT[roundUnit];
      assert(m !== undefined, `no seconds for the unit ${roundUnit}`);
      n = Number(pyRoundHalfEven(n / m)) * m;
    }
  }
  const r = pyRoundHalfEven(n);
  return r === null ? null : Number(r);
}

export abstract class AbstractDcs {
  /** every key this node uses */
  readonly paths: DcsPaths;
  /** the change event: set by the store's callbacks and by `wakeup()` */
  readonly event = new DcsEvent();
  protected readonly log: Logger;
  protected readonly wallClock: () => number;
  protected readonly ctl: boolean;
  private loopWaitSeconds: number;
  private cachedCluster: Cluster | null = null;
  private clusterValidTill = 0;
  private lastLsn: Lsn = 0;
  private lastSeenSeconds = 0;
  /** Patroni `_last_status` (4.x initial value `{retain_slots: []}`) */
  private lastStatus: Map<string, PyJson> = new Map([['retain_slots', []]]);
  /** Patroni `_last_retain_slots`: slot name → when last seen as a member's slot */
  private lastRetainSlots = new Map<string, number>();
  /** Patroni `_last_failsafe` (initially `{}`, then whatever the `failsafe` key parsed to) */
  private lastFailsafe: JsonValue | PyJsonDict = Object.freeze(Object.create(null) as JsonObject);
  /** the last `config` that had a modify version (Patroni's global config for slot decisions) */
  private lastGlobalConfig: JsonObject = Object.freeze(Object.create(null) as JsonObject);

  constructor(o: AbstractDcsOptions) {
    this.paths = new DcsPaths({
      namespace: o.namespace ?? undefined,
      scope: o.scope,
      name: o.name,
      mpp: o.mpp ?? null,
    });
    this.loopWaitSeconds = o.loopWait ?? 10;
    this.ctl = Boolean(o.patronictl);
    this.wallClock = o.wallClock ?? (() => Date.now() / 1000);
    this.log = o.logger ?? silentLogger;
  }

  /** This node's member name. */
  get name(): string {
    return this.paths.name;
  }

  /** Patroni `client_path(relative)`. */
  clientPath(relative: string): string {
    return this.paths.client(relative);
  }

  // --------------------------------------------------------------------------------------------
  // settings

  /** TTL in seconds of the leader and member keys. */
  abstract get ttl(): number;
  /** New TTL for keys written from now on. */
  abstract setTtl(ttl: number): void;
  /** New retry budget (seconds) for DCS writes. */
  abstract setRetryTimeout(retryTimeout: number): void;

  get loopWait(): number {
    return this.loopWaitSeconds;
  }

  protected setLoopWait(loopWait: number): void {
    this.loopWaitSeconds = loopWait;
  }

  /** Patroni `reload_config`: loop_wait, ttl and retry_timeout from the top-level configuration. */
  reloadConfig(config: {
    readonly loop_wait: number;
    readonly ttl: number;
    readonly retry_timeout: number;
  }): void {
    this.setLoopWait(config.loop_wait);
    this.setTtl(config.ttl);
    this.setRetryTimeout(config.retry_timeout);
  }

  /** `int(time)` of the last successful `getCluster()`, 0 before. */
  get lastSeen(): number {
    return this.lastSeenSeconds;
  }

  // --------------------------------------------------------------------------------------------
  // loading

  /** Build one cluster from the keys under `path` (a cluster path ending in `/`). */
  protected abstract postgresqlClusterLoader(path: string): Cluster | Promise<Cluster>;
  /** Build every MPP group's cluster from the keys under `path` (`<base>/`). */
  protected abstract mppClusterLoader(
    path: string,
  ): ReadonlyMap<number, Cluster> | Promise<ReadonlyMap<number, Cluster>>;
  /** Run a loader against the store; may throw `DCSError` when the store cannot be read. */
  protected abstract loadCluster<T>(path: string, loader: (path: string) => T | Promise<T>): Promise<T>;

  private async postgresqlCluster(path: string = this.paths.cluster): Promise<Cluster> {
    return this.loadCluster(path, (p) => this.postgresqlClusterLoader(p));
  }

  /** MPP enabled and this node is in the coordinator group. */
  isMppCoordinator(): boolean {
    return this.paths.isMppCoordinator;
  }

  /** Name of this DCS in log lines (Python's class name). */
  protected get dcsClassName(): string {
    return this.constructor.name;
  }

  /**
   * The MPP coordinator's cluster (used on workers); on any error Patroni's log line
   * `Failed to load Citus coordinator cluster from <DCS>: <error>` and null.
   */
  async getMppCoordinator(): Promise<Cluster | null> {
    try {
      return await this.postgresqlCluster(`${this.paths.base}/${MPP_COORDINATOR_GROUP}/`);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.log.error(
        { err },
        `Failed to load Citus coordinator cluster from ${this.dcsClassName}: ${err.name}(${pyStrRepr(err.message)})`,
      );
      return null;
    }
  }

  private async mppCluster(): Promise<Cluster> {
    const groups = new Map(await this.loadCluster(this.paths.mppRoot, (p) => this.mppClusterLoader(p)));
    const coordinator = groups.get(MPP_COORDINATOR_GROUP) ?? Cluster.empty();
    groups.delete(MPP_COORDINATOR_GROUP);
    return groups.size > 0
      ? coordinator.withWorkers(new Map([...coordinator.workers, ...groups]))
      : coordinator;
  }

  /**
   * A fresh view of the cluster (with every worker group for the MPP coordinator). Caches it until
   * now + ttl and records `lastSeen`, the status and failsafe last seen. A failing load drops the
   * cache and re-throws.
   */
  async getCluster(): Promise<Cluster> {
    let cluster: Cluster;
    try {
      cluster = this.isMppCoordinator() ? await this.mppCluster() : await this.postgresqlCluster();
    } catch (e) {
      this.resetCluster();
      throw e;
    }
    const now = this.wallClock();
    this.cachedCluster = cluster;
    this.clusterValidTill = now + this.ttl;
    this.lastSeenSeconds = Math.trunc(now);
    const status = new Map<string, PyJson>([
      ['optime', cluster.status.lastLsn],
      ['retain_slots', cluster.status.retainSlots],
    ]);
    if (cluster.status.slots && pyTruthy(cluster.status.slots)) status.set('slots', cluster.status.slots);
    this.lastStatus = status;
    this.lastFailsafe = cluster.failsafe;
    if (cluster.config?.modifyVersion) this.lastGlobalConfig = cluster.config.data;
    return cluster;
  }

  /** The cached cluster while it is valid (until getCluster time + ttl), else null. */
  get cluster(): Cluster | null {
    return this.clusterValidTill > this.wallClock() ? this.cachedCluster : null;
  }

  /** Forget the cached cluster. */
  resetCluster(): void {
    this.cachedCluster = null;
    this.clusterValidTill = 0;
  }

  // --------------------------------------------------------------------------------------------
  // status, optime, failsafe

  /** Write `optime/leader` (legacy, decimal text). */
  protected abstract writeLeaderOptimeValue(lsnText: string): Promise<boolean>;
  /** Write `status` (compact JSON). */
  protected abstract writeStatusValue(json: string): Promise<boolean>;
  /** Write `failsafe` (compact JSON). */
  protected abstract writeFailsafeValue(json: string): Promise<boolean>;

  /** `writeStatus({optime: lsn})`. */
  async writeLeaderOptime(lsn: Lsn): Promise<void> {
    await this.writeStatus({ optime: lsn });
  }

  /**
   * Patroni 4.x `write_status`: carry `slots`/`retain_slots` over from the last status when the
   * value lacks them, drop null fields, write only when it differs (`deep_compare`) from the last
   * status; then, while a member runs Patroni < 2.1.0, the legacy `optime/leader` when it changed.
   */
  async writeStatus(value: StatusValue): Promise<void> {
    const v = new Map<string, PyJson>();
    for (const [k, x] of Object.entries(value)) if (x !== undefined) v.set(k, x as PyJson);
    for (const name of ['slots', 'retain_slots']) {
      const last = this.lastStatus.get(name);
      if (!v.has(name) && pyTruthy(last)) v.set(name, last as PyJson);
    }
    for (const [k, x] of [...v]) if (x === null) v.delete(k);
    if (!deepCompare(this.lastStatus, v) && (await this.writeStatusValue(pyJsonDumps(v)))) {
      this.lastStatus = v;
    }
    const minVersion = this.cluster?.minVersion;
    const optime = v.get('optime') as Lsn;
    if (
      minVersion &&
      compareVersionTuples(minVersion, [2, 1, 0]) < 0 &&
      pyStr(this.lastLsn) !== pyStr(optime)
    ) {
      this.lastLsn = optime;
      await this.writeLeaderOptimeValue(pyStr(optime));
    }
  }

  /** Write `failsafe` unless the last one seen/written is an equal object. */
  async writeFailsafe(value: Readonly<Record<string, string>>): Promise<void> {
    const last = this.lastFailsafe;
    const same = isPyDict(last) && deepCompare(last as PyJsonDict, value);
    if (!same && (await this.writeFailsafeValue(pyJsonDumps(value)))) this.lastFailsafe = value;
  }

  /** The failsafe topology last read or written (Patroni `failsafe` property): raw parsed JSON. */
  get failsafe(): JsonValue | PyJsonDict {
    return this.lastFailsafe;
  }

  /**
   * Patroni's `_build_retain_slots`: remember (now) every slot in `slots` that belongs to a member
   * (skipping `nostream` members; our own slot counts when our member key is missing) and is not a
   * permanent physical slot; forget names older than `member_slots_ttl`; the sorted names or null.
   */
  protected buildRetainSlots(cluster: Cluster, slots: Readonly<Record<string, Lsn>> | null): string[] | null {
    const now = this.wallClock();
    const config = cluster.config?.modifyVersion ? cluster.config.data : this.lastGlobalConfig;
    if (slots && Object.keys(slots).length > 0) {
      const members = new Set<string>();
      let foundSelf = false;
      for (const m of cluster.members) {
        // Patroni overwrites found_self on every member (only the last one counts); what its code
        // means — our slot counts when we have no member key (docs/dcs.md §8.5) — is what we do
        if (m.name === this.name) foundSelf = true;
        if (!isNoStream(m)) members.add(slotNameFromMemberName(m.name));
      }
      if (!foundSelf) members.add(slotNameFromMemberName(this.name));
      const permanent = permanentPhysicalSlots(config);
      for (const name of Object.keys(slots)) {
        if (members.has(name) && !permanent.has(name)) this.lastRetainSlots.set(name, now);
      }
    }
    const ttl = parseSeconds(config['member_slots_ttl']) ?? 1800;
    for (const [name, seen] of [...this.lastRetainSlots]) {
      if (seen + ttl <= now) {
        this.log.info(
          {},
          `Replication slot '${name}' for absent cluster member is expired after ${ttl} sec.`,
        );
        this.lastRetainSlots.delete(name);
      }
    }
    const names = [...this.lastRetainSlots.keys()].sort(pyStrCompare);
    return names.length > 0 ? names : null;
  }

  // --------------------------------------------------------------------------------------------
  // leader lock

  /** Refresh the leader key (CAS on our name); may throw `DCSError` when the store is unreachable. */
  protected abstract updateLeaderKey(leader: Leader | null): Promise<boolean>;
  /** Create the leader key if absent; may throw `DCSError` when the store is unreachable. */
  abstract attemptToAcquireLeader(): Promise<boolean>;
  /** Remove the leader key if we hold it. */
  protected abstract deleteLeaderKey(leader: Leader): Promise<boolean>;
  /** Overwrite the leader key unconditionally (bootstrap). */
  abstract takeLeader(): Promise<boolean>;

  /**
   * Patroni 4.x `update_leader`: refresh the lock; on success write the status (when `lastLsn` is
   * truthy: optime, `slots` or nothing, `retain_slots` from the bookkeeping) and the failsafe
   * topology (when given). Returns whether the lock was refreshed; `DCSError` escapes.
   */
  async updateLeader(
    cluster: Cluster,
    lastLsn: Lsn | null,
    slots: Readonly<Record<string, Lsn>> | null = null,
    failsafe: Readonly<Record<string, string>> | null = null,
  ): Promise<boolean> {
    const ok = await this.updateLeaderKey(cluster.leader);
    if (ok && lastLsn) {
      await this.writeStatus({
        optime: lastLsn,
        slots: slots && Object.keys(slots).length > 0 ? slots : null,
        retain_slots: this.buildRetainSlots(cluster, slots),
      });
    }
    if (ok && failsafe !== null) await this.writeFailsafe(failsafe);
    return ok;
  }

  /**
   * `attemptToAcquireLeader()`, and on success restart the retention clock of every slot named in
   * the last status's `retain_slots` (a new primary keeps its members' slots for member_slots_ttl).
   */
  async acquireLeaderLock(): Promise<boolean> {
    const ok = await this.attemptToAcquireLeader();
    if (ok) {
      const now = this.wallClock();
      const retain = this.lastStatus.get('retain_slots');
      this.lastRetainSlots = new Map(
        (Array.isArray(retain) ? (retain as readonly PyJson[]) : []).map((n) => [pyStr(n), now]),
      );
    }
    return ok;
  }

  /** Patroni 4.x `delete_leader`: write the status first (when `lastLsn`), then drop our lock. */
  async deleteLeader(leader: Leader | null, lastLsn: Lsn | null = null): Promise<boolean> {
    if (lastLsn) await this.writeStatus({ optime: lastLsn });
    return leader !== null && (await this.deleteLeaderKey(leader));
  }

  // --------------------------------------------------------------------------------------------
  // the other keys

  abstract touchMember(data: PyJsonDict): Promise<boolean>;
  abstract initialize(createNew?: boolean, sysid?: string): Promise<boolean>;
  abstract cancelInitialization(): Promise<boolean>;
  abstract deleteCluster(): Promise<boolean>;
  abstract setConfigValue(value: string, version?: number | null): Promise<boolean>;
  abstract setFailoverValue(value: string, version?: number | null): Promise<boolean>;
  abstract setHistoryValue(value: string): Promise<boolean>;
  /** The new `sync` version (index), or false. */
  abstract setSyncStateValue(value: string, version?: number | null): Promise<number | false>;
  abstract deleteSyncState(version?: number | null): Promise<boolean>;

  /**
   * Write `failover` = `{leader?, member?, scheduled_at?}` (each only when truthy; `scheduled_at`
   * in ISO-8601 with its offset). `manualFailover('', '')` writes `{}` (clears it).
   */
  async manualFailover(
    leader: string | null,
    candidate: string | null,
    scheduledAt: PyDateTime | Date | null = null,
    version: number | null = null,
  ): Promise<boolean> {
    const value = new Map<string, PyJson>();
    if (leader) value.set('leader', leader);
    if (candidate) value.set('member', candidate);
    if (scheduledAt) {
      const dt =
        scheduledAt instanceof Date
          ? PyDateTime.fromEpochSeconds(scheduledAt.getTime() / 1000, 0)
          : scheduledAt;
      value.set('scheduled_at', dt.isoformat());
    }
    return this.setFailoverValue(pyJsonDumps(value), version);
  }

  /** Patroni 4.x `sync_state`: `{leader, quorum, sync_standby: sorted names joined by ',' or null}`. */
  static syncState(
    leader: string | null,
    syncStandby: Iterable<string> | null,
    quorum: number | null,
  ): { leader: string | null; quorum: number | null; sync_standby: string | null } {
    const names = syncStandby ? [...syncStandby].sort(pyStrCompare) : [];
    return { leader, quorum, sync_standby: names.length > 0 ? names.join(',') : null };
  }

  /** Write `sync`; the new SyncState (version = the new index) or null when the CAS failed. */
  async writeSyncState(
    leader: string | null,
    syncStandby: Iterable<string> | null,
    quorum: number | null,
    version: number | null = null,
  ): Promise<SyncState | null> {
    const value = AbstractDcs.syncState(leader, syncStandby, quorum);
    const ret = await this.setSyncStateValue(pyJsonDumps(value), version);
    return typeof ret === 'number' ? SyncState.fromNode(ret, value) : null;
  }

  // --------------------------------------------------------------------------------------------
  // events

  /**
   * Wait up to `timeoutSeconds` for a change event; true when there was one. `leaderVersion` is
   * ignored (as in Patroni's Raft DCS). The event is always cleared on return.
   */
  async watch(_leaderVersion: number | null, timeoutSeconds: number): Promise<boolean> {
    try {
      return await this.event.wait(timeoutSeconds * 1000);
    } finally {
      this.event.clear();
    }
  }

  /** Set the event (the HA loop wakes itself up). */
  wakeup(): void {
    this.event.set();
  }
}

function isNoStream(m: Member): boolean {
  return parseBool(m.tags['nostream']) === true;
}

function isLogicalSlot(value: JsonValue): boolean {
  if (!isPyDict(value)) return false;
  const o = value as JsonObject;
  const type = o['type'] === undefined ? 'logical' : o['type'];
  return type === 'logical' && pyTruthy(o['database']) && pyTruthy(o['plugin']);
}

function isPhysicalSlot(value: JsonValue): boolean {
  if (!pyTruthy(value)) return true;
  if (!isPyDict(value) || isLogicalSlot(value)) return false;
  const t = (value as JsonObject)['type'];
  return (t === undefined ? 'physical' : t) === 'physical';
}

/** Patroni's `Cluster.permanent_physical_slots` names, from a global configuration. */
function permanentPhysicalSlots(config: JsonObject): Set<string> {
  const raw = [config['permanent_replication_slots'], config['permanent_slots'], config['slots']].find((v) =>
    pyTruthy(v),
  );
  const out = new Set<string>();
  if (!raw || !isPyDict(raw)) return out;
  const standby = config['standby_cluster'];
  const isStandby =
    isPyDict(standby) &&
    ['host', 'port', 'restore_command'].some((p) => pyTruthy((standby as JsonObject)[p]));
  for (const [name, v] of pyDictEntries(raw as PyJsonDict)) {
    const value = (pyTruthy(v) ? v : {}) as JsonValue;
    if (!isPhysicalSlot(value)) continue;
    const clusterType = isPyDict(value) ? (value as JsonObject)['cluster_type'] : undefined;
    if (isStandby ? clusterType !== 'primary' : clusterType !== 'standby') out.add(name);
  }
  return out;
}
