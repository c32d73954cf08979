/**
 * SyncObj — pysyncobj's public class: a replicated object whose `@replicated` methods are applied
 * on every node in log order. It owns the configuration, the replicated-method registry, code
 * versions and the public API. The utility commands (`status`, `add`, `remove`, `set_version`) are
 * served by UtilityCommands (utility-commands.ts), with raftdcs's `transfer`, the backup commands
 * (`snapshot`, `compact`) by SnapshotService (snapshot/snapshot-service.ts), the status dict is
 * built in status.ts, the layout of the dump state in snapshot/object-state.ts; the loop that
 * drives the Raft core (persist, send, apply, dumps, installs, ticks) is RaftDriver
 * (runtime/driver.ts), which takes every piece of the outside world as a seam (`SyncObjDeps`), so
 * the simulator runs this very class.
 *
 * It must never let one bad peer or frame take the process down.
 */
import type { Logger } from '../logger.js';
import type { PyDict, PyDictKey, PyValue } from '../wire/value.js';
import {
  decodeMethodCall,
  decodeVersion,
  encodeMembership,
  encodeMethodCall,
  encodeVersion,
} from './commands.js';
import { SyncObjConf, type SyncObjConfOptions } from './config.js';
import type { UnsafeTestFaults } from './core/options.js';
import { CommandType, FailReason, type LogEntry, RaftState } from './core/types.js';
import { FileJournal } from './journal/file-journal.js';
import { MemoryJournal } from './journal/memory.js';
import type { Journal } from './journal/types.js';
import { FunctionTable, type ReplicatedCall } from './replicated.js';
import {
  type CompactionOutcome,
  type DriverObserver,
  FatalApplyError,
  RaftDriver,
} from './runtime/driver.js';
import { type DumpCodec, realDumpCodec } from './runtime/dump-codec.js';
import type { LivenessSnapshot } from './runtime/liveness.js';
import { type ResultCallback, type ResultReason, RuntimeFailReason } from './runtime/outcome.js';
import { realScheduler, type Scheduler } from './runtime/scheduler.js';
import { type DumpStore, FileDumpStore, MemoryDumpStore } from './snapshot/dump-store.js';
import { composeObjectState, splitObjectState } from './snapshot/object-state.js';
import { SnapshotService } from './snapshot/snapshot-service.js';
import { statusDict, statusRecord } from './status.js';
import { SyncObjError, UNKNOWN_OUTCOME_MESSAGE } from './syncobj-error.js';
import { createTcpTransport } from './tcp-factory.js';
import { splitHostPort } from './transport/address.js';
import type { Transport, TransportHandler } from './transport/types.js';
import { UtilityCommands, type UtilityHandler } from './utility-commands.js';

export type { CompactionOutcome } from './runtime/driver.js';
export type { LivenessSnapshot } from './runtime/liveness.js';
export type { ResultCallback, ResultReason } from './runtime/outcome.js';
export { RuntimeFailReason } from './runtime/outcome.js';
export type { Scheduler, TimerHandle } from './runtime/scheduler.js';
export { PYSYNCOBJ_COMPAT_VERSION } from './status.js';
export { SyncObjError, type SyncObjErrorReason } from './syncobj-error.js';

export interface CallOptions {
  /** keyword arguments (sent as a dict; pysyncobj sends a 3-tuple whenever kwargs were given) */
  readonly kwargs?: PyDict;
  /** reject with SyncObjError('timeout') after this many ms (the command may still apply later) */
  readonly timeoutMs?: number;
}

export interface TransferOptions {
  /**
   * reject with SyncObjError('transfer_failed') when this node has not seen the target lead within
   * this many ms (default: twice raftMaxTimeout; the leader itself gives up after raftMaxTimeout)
   */
  readonly timeoutMs?: number;
}

/** A leadership transfer this node started, waiting to see the target lead. */
interface PendingTransfer {
  readonly target: string;
  /** null: the target leads */
  settle(error: SyncObjError | null): void;
}

/** An object whose replicated methods are applied by a SyncObj it is attached to (pysyncobj consumers). */
export class SyncObjConsumer {
  protected syncObj: SyncObj | null = null;
  /** @internal */
  attach(owner: SyncObj): void {
    this.syncObj = owner;
  }
  /** State a dump carries for this consumer (override). */
  serializeState(): PyValue {
    return null;
  }
  /** Restore state from a dump (override). */
  deserializeState(_state: PyValue): void {}
}

export interface SyncObjDeps {
  /** build the transport (default: pysyncobj's TCP protocol) */
  readonly transport?: (
    handler: TransportHandler,
    conf: SyncObjConf,
    selfAddress: string | null,
  ) => Transport;
  /** default: MemoryJournal (a file journal when `journalFile` is configured) */
  readonly journal?: Journal;
  /** default: a FileDumpStore on `fullDumpFile`, else in memory */
  readonly dumpStore?: DumpStore;
  /** clock, timers and deferred callbacks (default: Node's) */
  readonly scheduler?: Scheduler;
  /** uniform in [0, 1), for election timeouts */
  readonly random?: () => number;
  /** dump encoding and decoding (default: pickle + gzip off the main thread) */
  readonly dumpCodec?: DumpCodec;
  /** test-only: hooks for the simulator's checker */
  readonly observer?: DriverObserver;
  /** test-only: deliberately broken core behaviours the simulator must catch */
  readonly unsafeTestFaults?: UnsafeTestFaults;
  /** test-only: bytes of entries per peer and replication round (default 16 MiB) */
  readonly maxSendBytesPerRound?: number;
}

export interface SyncObjOptions {
  readonly consumers?: readonly SyncObjConsumer[];
  readonly deps?: SyncObjDeps;
}

export class SyncObj {
  readonly conf: SyncObjConf;
  protected readonly log: Logger;
  /** clock, timers and deferred callbacks of this node (Node's, or the simulator's) */
  protected readonly scheduler: Scheduler;
  private readonly selfAddress: string | null;
  private readonly partners: readonly string[];
  private readonly consumers: readonly SyncObjConsumer[];
  private readonly driver: RaftDriver;
  private table: FunctionTable | null = null;
  private enabledCodeVersion = 0;
  private readonly tickCallbacks: (() => void)[] = [];
  private readonly fsyncListeners: ((seconds: number) => void)[] = [];
  private readonly utilities: UtilityCommands;
  private readonly transfers = new Set<PendingTransfer>();
  /** the backup commands (null: a read-only node, which serves no utility commands) */
  private snapshots: SnapshotService | null = null;

  /**
   * Resolves with the error that stopped this node (it has then destroyed itself: pending calls
   * fail, sockets close); stays pending while the node runs. Never rejects.
   */
  readonly failed: Promise<Error>;

  private readonly bound: Promise<void>;
  private readyResolve!: () => void;
  private readonly readyPromise: Promise<void>;

  constructor(
    selfAddress: string | null,
    partners: readonly string[],
    conf?: SyncObjConf | SyncObjConfOptions,
    options: SyncObjOptions = {},
  ) {
    this.conf = conf instanceof SyncObjConf ? conf : new SyncObjConf(conf);
    this.log = this.conf.values.logger;
    this.selfAddress = selfAddress;
    this.partners = [...new Set(partners)].filter((p) => p !== selfAddress);
    this.consumers = options.consumers ?? [];
    for (const c of this.consumers) c.attach(this);
    const deps = options.deps ?? {};
    this.scheduler = deps.scheduler ?? realScheduler;
    const journalFile = this.conf.values.journalFile;
    const journal =
      deps.journal ??
      (journalFile && selfAddress !== null
        ? new FileJournal(journalFile, {
            fsync: this.conf.values.fsync,
            logger: this.log,
            onFsync: (seconds) => {
              for (const l of this.fsyncListeners) l(seconds);
            },
          })
        : new MemoryJournal());
    const dumpFile = this.conf.values.fullDumpFile;
    const dumpStore =
      deps.dumpStore ??
      (dumpFile && selfAddress !== null
        ? new FileDumpStore(dumpFile, this.conf.values.fsync === 'always')
        : new MemoryDumpStore());
    const transport = deps.transport ?? createTcpTransport;
    this.driver = new RaftDriver(selfAddress, this.partners, this.conf, this.driverHost(), {
      scheduler: this.scheduler,
      random: deps.random ?? Math.random,
      journal,
      dumpStore,
      dumpCodec: deps.dumpCodec ?? realDumpCodec,
      transport: (handler) => transport(handler, this.conf, selfAddress),
      observer: deps.observer,
      unsafeTestFaults: deps.unsafeTestFaults,
      maxSendBytesPerRound: deps.maxSendBytesPerRound,
    });
    this.failed = new Promise<Error>((resolve) => {
      this.driver.onFatal((e) => {
        resolve(e);
        void this.destroy();
      });
    });
    this.readyPromise = new Promise<void>((resolve) => {
      this.readyResolve = resolve;
    });
    this.utilities = new UtilityCommands({
      selfAddress,
      dynamicMembershipChange: () => this.conf.values.dynamicMembershipChange,
      statusDict: () => this.statusDict(),
      membershipChange: (op, address) => this.membershipChange(op, address),
      setCodeVersion: (version) => this.setCodeVersion(version),
      transferLeadership: (address) => this.transferLeadership(address),
    });
    if (selfAddress !== null) {
      const snapshots = new SnapshotService({
        selfAddress,
        scheduler: this.scheduler,
        dumpNow: () => this.driver.dumpNow(),
        encodeDump: (dump) => this.driver.encodeDump(dump),
        compactNow: () => this.driver.compactNow(),
        raftTerm: () => this.raftCurrentTerm,
        commitIndex: () => this.raftCommitIndex,
      });
      snapshots.register(this.utilities);
      this.addOnTickCallback(() => snapshots.prune());
      this.snapshots = snapshots;
    }
    // start on the next turn, once subclass constructors (and their fields) are done
    this.bound = Promise.resolve().then(() => {
      this.table = new FunctionTable(this, this.consumers);
      return this.driver.start();
    });
    this.bound.catch((e: unknown) => {
      this.log.error({ err: e }, 'raft node failed to start');
    });
  }

  private driverHost() {
    return {
      applyEntry: (e: LogEntry) => this.applyEntry(e),
      serializeState: () => this.serializeState(),
      restoreState: (data: PyValue) => this.restoreState(data),
      onStateChanged: (from: number, to: number) =>
        this.conf.values.onStateChanged?.(from as RaftState, to as RaftState),
      onLeaderChanged: (leader: string | null) => this.settleTransfers(leader),
      onTransferAbandoned: (target: string, reason: string) => {
        for (const t of [...this.transfers])
          if (t.target === target) t.settle(new SyncObjError('transfer_failed', reason));
      },
      onReady: () => {
        this.readyResolve();
        this.conf.values.onReady?.();
      },
      onTick: () => {
        for (const cb of [...this.tickCallbacks]) {
          try {
            cb();
          } catch (e) {
            this.log.error({ err: e }, 'tick callback failed');
          }
        }
      },
      onUtilityCommand: (command: string, args: readonly PyValue[], reply: (value: PyValue) => void) =>
        this.utilities.dispatch(command, args, reply),
    };
  }

  // --------------------------------------------------------------------------------------------
  // lifecycle

  /** Resolves once the node listens (pysyncobj waitBinded); rejects if binding failed. */
  waitBinded(): Promise<void> {
    return this.bound;
  }

  /** Resolves once the node has applied the log up to the leader's commit index (onReady). */
  waitReady(): Promise<void> {
    return this.readyPromise;
  }

  isReady(): boolean {
    return this.driver.core?.isReady ?? false;
  }

  /** Stop: no more ticks or callbacks; sockets closed; journal flushed. Pending calls fail. */
  destroy(): Promise<void> {
    for (const t of [...this.transfers])
      t.settle(new SyncObjError('destroyed', 'the node was destroyed during the leadership transfer'));
    this.snapshots?.clear();
    return this.driver.destroy(this.bound);
  }

  /** One tick (for `autoTick: false`), then wait up to `timeToWaitMs` for events. */
  async doTick(timeToWaitMs = 0): Promise<void> {
    await this.bound;
    this.driver.tick();
    if (timeToWaitMs > 0) await new Promise<void>((r) => this.scheduler.setTimer(timeToWaitMs, r));
  }

  /** Be told the duration (seconds) of every journal fsync (file journal with fsync 'always'). */
  addFsyncListener(listener: (seconds: number) => void): void {
    this.fsyncListeners.push(listener);
  }

  addOnTickCallback(cb: () => void): void {
    this.tickCallbacks.push(cb);
  }

  removeOnTickCallback(cb: () => void): void {
    const i = this.tickCallbacks.indexOf(cb);
    if (i >= 0) this.tickCallbacks.splice(i, 1);
  }

  /** The error that stopped this node, if any. */
  get failure(): Error | null {
    return this.driver.failure;
  }

  // --------------------------------------------------------------------------------------------
  // state

  get selfNode(): string | null {
    return this.selfAddress;
  }

  private get core() {
    return this.driver.core;
  }

  get otherNodes(): string[] {
    return this.core ? [...this.core.votingMembers] : [...this.partners];
  }

  get readonlyNodes(): string[] {
    return this.core ? [...this.core.status().readonlyPeers] : [];
  }

  /** the index of the last entry applied to the state machine here */
  get raftLastApplied(): number {
    return this.driver.lastApplied;
  }

  get raftCommitIndex(): number {
    return this.core?.status().commitIndex ?? 0;
  }

  get raftCurrentTerm(): number {
    return this.core?.currentTerm ?? 0;
  }

  get hasQuorum(): boolean {
    return this.core?.hasQuorum() ?? false;
  }

  /** The leader's commit index as this node last learned it (its own while leading); null before any. */
  get raftLeaderCommitIndex(): number | null {
    return this.core?.status().leaderCommitIndex ?? null;
  }

  /** True once this voter applied a membership change that removed it (it no longer campaigns). */
  get selfRemoved(): boolean {
    return this.core?.status().selfRemoved ?? false;
  }

  /**
   * When the Raft loop last ticked and when each connected peer last sent a Raft message, on this
   * node's monotonic clock (for health checks; reading it changes nothing).
   */
  liveness(): LivenessSnapshot {
    return this.driver.liveness();
  }

  isLeader(): boolean {
    return this.core?.isLeader ?? false;
  }

  getLeader(): string | null {
    return this.core?.leader ?? null;
  }

  get raftState(): RaftState {
    return this.core?.role ?? RaftState.Follower;
  }

  getCodeVersion(): number {
    return this.enabledCodeVersion;
  }

  get selfCodeVersion(): number {
    return this.functionTable().selfCodeVersion;
  }

  /** Change the DNS cache times (seconds), as Patroni does on reload_config. */
  setDnsTimeouts(cacheTimeSeconds: number, failCacheTimeSeconds: number): void {
    this.driver.setDnsTimeouts(cacheTimeSeconds * 1000, failCacheTimeSeconds * 1000);
  }

  isNodeConnected(node: string): boolean {
    return this.driver.isConnected(node);
  }

  /** pysyncobj's getStatus(), as a plain object with the same keys (docs/protocol.md §6.3). */
  getStatus(): Record<string, PyValue> {
    return statusRecord(this.statusDict());
  }

  private statusDict(): PyDict {
    return statusDict({
      selfAddress: this.selfAddress,
      partners: this.partners,
      core: this.core,
      isNodeConnected: (node) => this.isNodeConnected(node),
      lastApplied: this.driver.lastApplied,
      uptimeMs: this.driver.uptimeMs,
      selfCodeVersion: this.table?.selfCodeVersion ?? 0,
      enabledCodeVersion: this.enabledCodeVersion,
    });
  }

  // --------------------------------------------------------------------------------------------
  // proposals

  private functionTable(): FunctionTable {
    this.table ??= new FunctionTable(this, this.consumers);
    return this.table;
  }

  /**
   * Replicate a call of `method` (a `@replicated` method of this object or of an attached consumer)
   * and resolve with its result once applied here.
   */
  call<R>(
    method: (call: ReplicatedCall) => R,
    args: readonly PyValue[],
    options: CallOptions = {},
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let timer: { cancel(): void } | undefined;
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        timer?.cancel();
        fn();
      };
      if (options.timeoutMs !== undefined) {
        timer = this.scheduler.setTimer(options.timeoutMs, () =>
          finish(() => reject(new SyncObjError('timeout'))),
        );
      }
      this.callWithCallback(method, args, options.kwargs, (result, reason) => {
        if (reason === FailReason.Success) finish(() => resolve(result as R));
        else finish(() => reject(this.errorFor(reason)));
      });
    });
  }

  /** Callback style (pysyncobj's `callback=`): `cb(result, failReason)`. */
  callWithCallback(
    method: (call: ReplicatedCall) => unknown,
    args: readonly PyValue[],
    kwargs: PyDict | undefined,
    cb: ResultCallback | null,
  ): void {
    const owner = this.ownerOf(method);
    const funcId = this.functionTable().idFor(owner, method, this.enabledCodeVersion);
    this.submit(encodeMethodCall({ funcId, args, kwargs }), cb);
  }

  private readonly owners = new Map<(call: ReplicatedCall) => unknown, object>();

  private ownerOf(method: (call: ReplicatedCall) => unknown): object {
    const known = this.owners.get(method);
    if (known !== undefined) return known;
    for (const o of [this, ...this.consumers]) {
      let proto = Object.getPrototypeOf(o);
      while (proto && proto !== Object.prototype) {
        for (const key of Object.getOwnPropertyNames(proto)) {
          if (Object.getOwnPropertyDescriptor(proto, key)?.value === method) {
            this.owners.set(method, o);
            return o;
          }
        }
        proto = Object.getPrototypeOf(proto);
      }
    }
    throw new TypeError('method does not belong to this SyncObj or its consumers');
  }

  private errorFor(reason: Exclude<ResultReason, typeof FailReason.Success>): SyncObjError {
    switch (reason) {
      case RuntimeFailReason.Destroyed:
        return new SyncObjError('destroyed', 'the node was destroyed');
      case RuntimeFailReason.ApplyFailed:
        return new SyncObjError('apply_error', 'the command failed while being applied');
      case RuntimeFailReason.UnknownOutcome:
        return new SyncObjError('unknown_outcome', UNKNOWN_OUTCOME_MESSAGE);
      default:
        return new SyncObjError(reason);
    }
  }

  /** Propose raw command bytes (type byte + payload). */
  protected submit(command: Uint8Array, cb: ResultCallback | null): void {
    this.driver.submit(command, cb, this.bound);
  }

  addNodeToCluster(address: string, cb?: ResultCallback): Promise<void> {
    return this.membershipChange('add', address, cb);
  }

  removeNodeFromCluster(address: string, cb?: ResultCallback): Promise<void> {
    return this.membershipChange('rem', address, cb);
  }

  private membershipChange(op: 'add' | 'rem', address: string, cb?: ResultCallback): Promise<void> {
    if (!this.conf.values.dynamicMembershipChange) {
      return Promise.reject(new Error('dynamicMembershipChange is disabled'));
    }
    const bad = badAddress(address);
    if (bad !== null) return Promise.reject(bad);
    return new Promise<void>((resolve, reject) => {
      this.submit(encodeMembership({ op, node: address }), (result, reason) => {
        cb?.(result, reason);
        if (reason === FailReason.Success) resolve();
        else reject(this.errorFor(reason));
      });
    });
  }

  /** Switch the cluster to code version `version` (a VERSION entry). */
  setCodeVersion(version: number, cb?: ResultCallback): Promise<void> {
    if (!Number.isSafeInteger(version)) return Promise.reject(new TypeError('version must be an int'));
    const self = this.functionTable().selfCodeVersion;
    if (version > self) {
      return Promise.reject(
        new Error(`wrong version, current version is ${self}, requested version is ${version}`),
      );
    }
    if (version < this.enabledCodeVersion) {
      return Promise.reject(
        new Error(
          `wrong version, enabled version is ${this.enabledCodeVersion}, requested version is ${version}`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.submit(encodeVersion(version), (result, reason) => {
        cb?.(result, reason);
        if (reason === FailReason.Success) resolve();
        else reject(this.errorFor(reason));
      });
    });
  }

  // --------------------------------------------------------------------------------------------
  // leadership transfer

  /**
   * Hand the leadership to the voting member `address` (Raft's TimeoutNow, docs/protocol.md §7.12);
   * this node must lead. Resolves once this node sees `address` lead. Rejects with SyncObjError
   * `transfer_refused` when it cannot start (not the leader — the message names the leader —, an
   * unknown, read-only or unconnected target, a pysyncobj target, a transfer already running), or
   * `transfer_failed` when the target did not take over: the leader gave up after raftMaxTimeout
   * (and accepts proposals again), another node won, or `timeoutMs` passed. While it runs the leader
   * refuses new proposals with NOT_LEADER, which clients retry.
   */
  transferLeadership(address: string, options: TransferOptions = {}): Promise<void> {
    const bad = badAddress(address);
    if (bad !== null) return Promise.reject(bad);
    const timeoutMs = options.timeoutMs ?? 2000 * this.conf.values.raftMaxTimeout;
    // started at once when the node runs: a proposal made after this call returns is refused
    if (this.driver.core !== null) return this.startTransfer(address, timeoutMs);
    return this.bound.then(() => this.startTransfer(address, timeoutMs));
  }

  private startTransfer(address: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const refusal = this.driver.transferLeadership(address);
      if (refusal !== null) {
        reject(new SyncObjError('transfer_refused', refusal.message));
        return;
      }
      const timer = this.scheduler.setTimer(timeoutMs, () =>
        pending.settle(
          new SyncObjError('transfer_failed', `this node did not see ${address} lead within ${timeoutMs} ms`),
        ),
      );
      const pending: PendingTransfer = {
        target: address,
        settle: (error) => {
          if (!this.transfers.delete(pending)) return;
          timer.cancel();
          if (error === null) resolve();
          else reject(error);
        },
      };
      this.transfers.add(pending);
    });
  }

  /** This node now follows (or is) `leader`: transfers to it are done, to others failed. */
  private settleTransfers(leader: string | null): void {
    // null: an election is under way; this node itself: a leaderChanged queued before the transfer
    if (leader === null || leader === this.selfAddress) return;
    for (const t of [...this.transfers]) {
      t.settle(
        t.target === leader
          ? null
          : new SyncObjError('transfer_failed', `${leader} took over instead of ${t.target}`),
      );
    }
  }

  // --------------------------------------------------------------------------------------------
  // utility commands

  /** Serve an extra utility command (e.g. Patroni's `members`). */
  registerUtility(command: string, handler: UtilityHandler): void {
    this.utilities.register(command, handler);
  }

  // --------------------------------------------------------------------------------------------
  // applying committed entries

  private applyEntry(e: LogEntry): PyValue | undefined {
    const type = e.command[0];
    if (type === CommandType.Regular) return this.applyRegular(e);
    if (type === CommandType.Version) this.applyVersion(decodeVersion(e.command));
    return undefined;
  }

  private applyRegular(e: LogEntry): PyValue | undefined {
    const call = decodeMethodCall(e.command);
    const target = this.functionTable().lookup(call.funcId);
    if (!target) throw new Error(`no replicated method with function id ${call.funcId}`);
    const arg: ReplicatedCall = {
      args: call.args,
      kwargs: call.kwargs ?? new Map(),
      index: e.index,
      term: e.term,
    };
    return target.fn.call(target.owner, arg) as PyValue | undefined;
  }

  private applyVersion(version: number): void {
    const self = this.functionTable().selfCodeVersion;
    if (version > self) {
      throw new FatalApplyError(
        `the cluster switched to code version ${version} but this node only has version ${self}: upgrade it`,
      );
    }
    const old = this.enabledCodeVersion;
    this.enabledCodeVersion = version;
    this.conf.values.onCodeVersionChanged?.(old, version);
  }

  // --------------------------------------------------------------------------------------------
  // dumps: state serialisation

  /**
   * The replicated state for a dump: pysyncobj's attribute dict (`_SyncObj__enabledCodeVersion`
   * plus what subclasses add). Must be a point-in-time value that later applies do not mutate.
   * Subclasses extend `serializeAttributes()`.
   */
  protected serializeAttributes(): Map<PyDictKey, PyValue> {
    return new Map<PyDictKey, PyValue>([['_SyncObj__enabledCodeVersion', this.enabledCodeVersion]]);
  }

  /** Restore from a dump's attribute dict (unknown attributes are ignored). Subclasses extend it. */
  protected restoreAttributes(data: PyDict): void {
    const v = data.get('_SyncObj__enabledCodeVersion');
    this.enabledCodeVersion = typeof v === 'number' ? v : 0;
  }

  private serializeState(): PyValue {
    return composeObjectState(
      this.serializeAttributes(),
      this.consumers.map((c) => c.serializeState()),
    );
  }

  private restoreState(data: PyValue): void {
    const { own, consumerStates } = splitObjectState(data, this.consumers.length);
    if (own !== undefined) this.restoreAttributes(own);
    for (const [i, state] of consumerStates.entries()) this.consumers[i]?.deserializeState(state);
  }

  /** Make a dump at the next tick (pysyncobj forceLogCompaction). */
  forceLogCompaction(): void {
    this.driver.forceLogCompaction();
  }

  /**
   * Compact the log now (the `compact` utility command): a dump at the applied index, stored, and
   * the log cut at it, without waiting for logCompactionSplit's slot. Resolves once done.
   */
  compactLogNow(): Promise<CompactionOutcome> {
    return this.driver.compactNow();
  }
}

/** Why `address` is not a node address (`host:port`), or null when it is one. */
function badAddress(address: unknown): TypeError | null {
  try {
    if (typeof address !== 'string') throw new TypeError('not a string');
    splitHostPort(address);
    return null;
  } catch (e) {
    return new TypeError(
      `a node address must be 'host:port', got ${JSON.stringify(address)}: ${(e as Error).message}`,
    );
  }
}
