/**
 * KVStoreTTL — Patroni's replicated key/value store with TTLs, compare-and-set and leader-driven
 * expiry, wire-compatible with Patroni's Python class: the same three replicated methods
 * (`_delete` id 0, `_expire` id 1, `_set` id 2), the same command shapes and the same apply-time
 * rules, so Python and TypeScript nodes applying the same log hold identical data.
 *
 * Deliberate differences (docs/dcs.md §2.7, §3.1, §3.3, §4.3, §11): applying an unconditional
 * delete of a missing key is a no-op (Python crashes), and our own unconditional deletes carry
 * `prevExist: true`; reads return frozen copies; the expiry limb is cleared for the right key.
 *
 * Python → TypeScript: set → set(), delete → delete(), get(k) → get(k), get(k, recursive=True) →
 * getPrefix(k), retry → retry(), set_retry_timeout → setRetryTimeout(), _set/_delete/_expire →
 * the replicated methods of the same wire names.
 */

import type { SyncObjConfOptions } from '../raft/config.js';
import { FailReason } from '../raft/core/types.js';
import { type ReplicatedCall, replicated } from '../raft/replicated.js';
import type { ResultCallback, ResultReason } from '../raft/runtime/outcome.js';
import { SyncObj, type SyncObjConsumer, type SyncObjDeps, type TimerHandle } from '../raft/syncobj.js';
import { type PyDict, type PyDictKey, PyFloat, type PyValue } from '../wire/value.js';
import { discoverMembers, joinCluster } from './dyn-member.js';
import { RaftError } from './errors.js';
import {
  type CasConditions,
  checkConditions,
  conditionKwargs,
  type KvRecord,
  newRecordDict,
  valuesMatch,
} from './record.js';
import { KvStateMachine } from './state-machine.js';

export interface KVStoreTTLOptions {
  /** own `host:port`, or null for a read-only node (patronictl) */
  readonly selfAddr: string | null;
  readonly partnerAddrs: readonly string[];
  /** default retry budget of set/delete, seconds (Patroni `retry_timeout`, default 10) */
  readonly retryTimeout?: number;
  readonly onReady?: () => void;
  readonly onSet?: (key: string, record: KvRecord) => void;
  readonly onDelete?: (key: string) => void;
  /** SyncObj settings (Patroni's are the defaults here: no batching, dynamic membership, fail fast) */
  readonly conf?: SyncObjConfOptions;
  /**
   * wall clock in epoch seconds (Python `time.time()`); records and expiry use it. Default: the
   * scheduler's wall clock (Date.now() in production)
   */
  readonly wallClock?: () => number;
  /** pause between retry rounds, ms (Patroni: 1 s) */
  readonly retryPauseMs?: number;
  readonly consumers?: readonly SyncObjConsumer[];
  readonly deps?: SyncObjDeps;
}

export interface OpenKVStoreTTLOptions extends KVStoreTTLOptions {
  /** join options for the background `add` (tests shorten the backoff) */
  readonly joinBackoffMs?: number;
}

export interface SetOptions extends CasConditions {
  /** seconds; the record gets `expire = updated + ttl` when truthy */
  readonly ttl?: number | null;
  /** retry budget in seconds (0/undefined = the store's retry timeout) */
  readonly timeout?: number | null;
  /** throw RaftError on timeout instead of returning false (Patroni `handle_raft_error=False`) */
  readonly raiseOnRaftError?: boolean;
}

export interface DeleteOptions extends CasConditions {
  readonly recursive?: boolean;
  readonly timeout?: number | null;
}

/** how early a wait's timer may fire before the retry loop treats the budget as spent (ms) */
const EARLY_FIRE_SLACK_MS = 5;

export const PATRONI_SYNCOBJ_DEFAULTS: SyncObjConfOptions = {
  autoTick: true,
  autoTickPeriod: 0.05,
  appendEntriesUseBatch: false,
  dynamicMembershipChange: true,
  commandsWaitLeader: false,
};

export class KVStoreTTL extends SyncObj {
  private readonly sm: KvStateMachine;
  private readonly limb = new Map<string, PyDict>();
  private retryTimeoutSeconds: number;
  private readonly wallClock: () => number;
  private readonly retryPauseMs: number;
  private appliedLocal = false;
  private joiner: { stop(): void } | null = null;

  /**
   * Patroni's DynMemberSyncObj start-up: ask the partners for `members`, start with that
   * membership (else the configured partners), and when the cluster does not list this node yet,
   * ask to be added — retried with backoff until it is.
   */
  static async open(options: OpenKVStoreTTLOptions): Promise<KVStoreTTL> {
    const retryTimeout = options.retryTimeout || 10;
    const password = options.conf?.password ?? null;
    const answer = await discoverMembers(options.partnerAddrs, options.selfAddr, {
      password,
      retryTimeout,
      logger: options.conf?.logger,
    });
    const partners = (answer?.members ?? options.partnerAddrs).filter((p) => p !== options.selfAddr);
    const kv = new KVStoreTTL({ ...options, partnerAddrs: partners });
    if (answer && options.selfAddr !== null && !answer.members.includes(options.selfAddr)) {
      kv.joiner = joinCluster(options.selfAddr, answer.from, partners, {
        password,
        retryTimeout,
        logger: options.conf?.logger,
        initialBackoffMs: options.joinBackoffMs,
      });
    }
    return kv;
  }

  constructor(options: KVStoreTTLOptions) {
    super(
      options.selfAddr,
      options.partnerAddrs,
      { ...PATRONI_SYNCOBJ_DEFAULTS, onReady: options.onReady ?? null, ...options.conf },
      { consumers: options.consumers, deps: options.deps },
    );
    this.retryTimeoutSeconds = options.retryTimeout || 10;
    // the scheduler's wall clock: Date.now() in production
    this.wallClock = options.wallClock ?? (() => this.scheduler.wallNow() / 1000);
    this.retryPauseMs = options.retryPauseMs ?? 1000;
    this.sm = new KvStateMachine({ onSet: options.onSet, onDelete: options.onDelete });
    this.addOnTickCallback(() => this.expireKeys());
    this.addOnTickCallback(() => {
      if (options.selfAddr !== null && !this.appliedLocal && this.raftLastApplied === this.raftCommitIndex) {
        this.appliedLocal = true;
      }
    });
    this.registerUtility('members', (_args, reply) => reply(this.membersReply()));
  }

  /**
   * Patroni's `applied_local_log`: true once the log known to be committed locally (the persisted
   * commit index) has been applied — lets a restarted node serve its last state without a leader.
   */
  get appliedLocalLog(): boolean {
    return this.appliedLocal;
  }

  /** Patroni's `members` utility reply: other voting nodes, then this node. */
  membersReply(): PyValue[] {
    const leader = this.getLeader();
    const out: PyValue[] = this.otherNodes.map(
      (addr) =>
        new Map<PyDictKey, PyValue>([
          ['addr', addr],
          ['leader', addr === leader],
          ['status', this.isNodeConnected(addr) ? 2 : 0],
        ]),
    );
    if (this.selfNode !== null) {
      out.push(
        new Map<PyDictKey, PyValue>([
          ['addr', this.selfNode],
          ['leader', this.isLeader()],
          ['status', 2],
        ]),
      );
    }
    return out;
  }

  override async destroy(): Promise<void> {
    this.joiner?.stop();
    this.joiner = null;
    await super.destroy();
  }

  setRetryTimeout(seconds: number): void {
    this.retryTimeoutSeconds = seconds;
  }

  get retryTimeout(): number {
    return this.retryTimeoutSeconds;
  }

  // --------------------------------------------------------------------------------------------
  // replicated methods (their wire names and numbering are Patroni's)

  @replicated({ name: '_set' })
  _set(call: ReplicatedCall): KvRecord | false {
    return this.sm.applySet(call.args, call.kwargs, call.index);
  }

  @replicated({ name: '_delete' })
  _delete(call: ReplicatedCall): boolean {
    return this.sm.applyDelete(call.args, call.kwargs);
  }

  @replicated({ name: '_expire' })
  _expire(call: ReplicatedCall): null {
    this.sm.applyExpire(call.args);
    return null;
  }

  // --------------------------------------------------------------------------------------------
  // dumps: exactly `_SyncObj__enabledCodeVersion` and `_KVStoreTTL__data` (Python assigns every
  // attribute it finds, so nothing else may be sent — never `_KVStoreTTL__destroying`)

  protected override serializeAttributes(): Map<PyDictKey, PyValue> {
    const attrs = super.serializeAttributes();
    // stored record dicts are never mutated after being stored, so a shallow copy is a snapshot
    attrs.set('_KVStoreTTL__data', this.sm.snapshot());
    return attrs;
  }

  protected override restoreAttributes(attrs: PyDict): void {
    super.restoreAttributes(attrs);
    this.sm.restore(attrs.get('_KVStoreTTL__data'));
    this.limb.clear();
  }

  // --------------------------------------------------------------------------------------------
  // reads (local, point in time, never mutable references)

  get(key: string): KvRecord | null {
    return this.sm.get(key);
  }

  /** Every key starting with `prefix` (plain string prefix), in insertion order. */
  getPrefix(prefix: string): Map<string, KvRecord> {
    return this.sm.getPrefix(prefix);
  }

  /** Number of keys held. */
  get size(): number {
    return this.sm.size;
  }

  // --------------------------------------------------------------------------------------------
  // writes

  /**
   * Patroni's `set`: local pre-check, then replicate `_set` through the retry loop. Resolves to the
   * stored record, or false when a condition failed (locally or at apply time) or — unless
   * `raiseOnRaftError` — when the retry budget ran out.
   */
  async set(key: string, value: string, options: SetOptions = {}): Promise<KvRecord | false> {
    const old = this.sm.raw(key);
    const kwargs = conditionKwargs(options);
    if (!checkConditions(old, kwargs)) return false;
    const record = newRecordDict(value, this.wallClock(), old?.get('created'), options.ttl ?? undefined);
    try {
      const result = await this.retry(
        (cb) => this.callWithCallback(this._set, [key, record], kwargs.size > 0 ? kwargs : undefined, cb),
        options.timeout,
      );
      return result === false || result === undefined || result === null
        ? false
        : (result as unknown as KvRecord);
    } catch (e) {
      if (e instanceof RaftError && !options.raiseOnRaftError) return false;
      throw e;
    }
  }

  /**
   * Patroni's `delete` (a RaftError becomes false). A non-recursive delete without conditions
   * carries `prevExist: true`, so Python peers never apply an unconditional delete of a missing key.
   */
  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    const recursive = options.recursive ?? false;
    const conditions = conditionKwargs(options);
    if (!recursive) {
      // nothing that requires the key to exist (no condition, or only `prevIndex: None`): add
      // prevExist, so no node — Python ones included — applies a delete of a missing key
      const constrains =
        conditions.has('prevExist') ||
        conditions.has('prevValue') ||
        (conditions.has('prevIndex') && conditions.get('prevIndex') !== null);
      if (!constrains) conditions.set('prevExist', true);
      // a key absent here has nothing to delete: never replicate a delete of a missing key (Python
      // nodes crash applying one), whatever the conditions say
      if (this.sm.raw(key) === undefined) return false;
      if (!checkConditions(this.sm.raw(key), conditions)) return false;
    }
    const kwargs = new Map<PyDictKey, PyValue>([['recursive', recursive], ...conditions]);
    try {
      const result = await this.retry(
        (cb) => this.callWithCallback(this._delete, [key], kwargs, cb),
        options.timeout,
      );
      return result === true;
    } catch (e) {
      if (e instanceof RaftError) return false;
      throw e;
    }
  }

  /**
   * Patroni's retry loop (docs/dcs.md §3.4): submit, wait, retry after a pause until the budget is spent.
   * SUCCESS → the result; REQUEST_DENIED → false; out of time → RaftError('timeout'). A late
   * success of an earlier round also completes the call.
   */
  retry(
    submit: (cb: ResultCallback) => void,
    timeoutSeconds?: number | null,
  ): Promise<PyValue | undefined | false> {
    const budget = timeoutSeconds || this.retryTimeoutSeconds;
    // monotonic: a wall-clock step must not shorten or stretch the budget; all time and timers
    // come from this node's scheduler (Node's in production, the simulator's virtual one in tests)
    const clock = this.scheduler;
    const deadline = clock.now() + budget * 1000;
    return new Promise((resolve, reject) => {
      let finished = false;
      let wake: (() => void) | null = null;
      let lastError: ResultReason | null = null;
      let timer: TimerHandle | null = null;
      const finish = (fn: () => void) => {
        if (finished) return;
        finished = true;
        timer?.cancel();
        fn();
      };
      const round = (waitMs: number) => {
        if (finished) return;
        lastError = null;
        submit((result, reason) => {
          if (finished) return;
          if (reason === FailReason.Success) {
            finish(() => resolve(result));
            return;
          }
          lastError = reason;
          wake?.();
        });
        if (finished) return;
        // timerFired: the wait ran its full length (no failure woke it early)
        const afterWait = (timerFired: boolean) => {
          wake = null;
          timer?.cancel();
          timer = null;
          if (finished) return;
          if (lastError === FailReason.RequestDenied) {
            finish(() => resolve(false));
            return;
          }
          const remaining = deadline - clock.now();
          if (remaining <= 0) {
            finish(() => reject(new RaftError('timeout')));
            return;
          }
          if (timerFired && remaining <= EARLY_FIRE_SLACK_MS) {
            // the wait's timer fired a hair early (libuv's loop clock is truncated to ms and
            // may be stale): the budget is spent, as it would be in Patroni, so wait out the
            // remainder instead of starting another round
            timer = clock.setTimer(Math.ceil(remaining), () => afterWait(true));
            return;
          }
          // Patroni: time is left, so pause and submit again
          timer = clock.setTimer(this.retryPauseMs, () => {
            timer = null;
            round(remaining);
          });
        };
        if (lastError !== null) {
          afterWait(false);
          return;
        }
        wake = () => afterWait(false);
        timer = clock.setTimer(Math.max(0, waitMs), () => afterWait(true));
      };
      round(budget * 1000);
    });
  }

  // --------------------------------------------------------------------------------------------
  // leader-driven expiry

  private expireKeys(): void {
    if (!this.isLeader()) {
      this.limb.clear();
      return;
    }
    const now = this.wallClock();
    for (const key of this.sm.expiring) {
      const value = this.sm.raw(key);
      if (value === undefined) continue;
      const expire = value.get('expire');
      const t = expire instanceof PyFloat ? expire.value : typeof expire === 'number' ? expire : Number.NaN;
      if (!(t <= now)) continue;
      const inLimb = this.limb.get(key);
      if (inLimb !== undefined && valuesMatch(inLimb, value)) continue;
      this.limb.set(key, value);
      this.callWithCallback(this._expire, [key, value], undefined, () => {
        const l = this.limb.get(key);
        if (l !== undefined && valuesMatch(l, value)) this.limb.delete(key);
      });
    }
  }
}
