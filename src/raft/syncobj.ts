/**
 * SyncObj — the runtime around the pure Raft core: the only place with I/O. It glues the core to
 * a journal (persist before acknowledging), a transport (pysyncobj's TCP protocol), timers (auto
 * tick, or a manual `doTick()` for embedding as Patroni does), the replicated-method registry and
 * the utility commands. Subclass it (or attach SyncObjConsumers) and mark state-changing methods
 * with `@replicated`.
 *
 * It must never apply an entry before it is committed and durable here, never send a vote or an
 * acknowledgement before the journal says the state it depends on is durable, and never let one
 * bad peer or frame take the process down.
 */
import { performance } from 'node:perf_hooks';
import { WireError } from '../wire/errors.js';
import { encodePickle } from '../wire/pickle/index.js';
import { type PyDict, type PyDictKey, type PyValue, pyStr, tcpNode } from '../wire/value.js';
import {
  decodeMembership,
  decodeMethodCall,
  decodeTransmittedEntry,
  decodeVersion,
  encodeMembership,
  encodeMethodCall,
  encodeVersion,
} from './commands.js';
import { type Logger, SyncObjConf, type SyncObjConfOptions } from './config.js';
import { type CoreOutput, type ProposalOutcome, RaftCore } from './core/core.js';
import type { SnapshotData } from './core/options.js';
import {
  CommandType,
  FAIL_REASON_NAMES,
  FailReason,
  type LogEntry,
  type OutgoingMessage,
  RaftState,
} from './core/types.js';
import { FileJournal } from './journal/file-journal.js';
import { MemoryJournal } from './journal/memory.js';
import { enforceStartupCheck } from './journal/startup-check.js';
import type { Journal, JournalOpened } from './journal/types.js';
import { messageFromPy, messageToPy } from './messages.js';
import { FunctionTable, type ReplicatedCall } from './replicated.js';
import { type Dump, decodeDump, encodeDumpChunks } from './snapshot/dump.js';
import { type DumpStore, FileDumpStore, gzipChunks, MemoryDumpStore } from './snapshot/dump-store.js';
import { createTcpTransport } from './tcp-factory.js';
import { splitHostPort } from './transport/address.js';
import type { Transport, TransportHandler } from './transport/types.js';
import { formatUtilityResult } from './transport/utility.js';

export const PYSYNCOBJ_COMPAT_VERSION = '0.3.11';
export const RAFTDCS_VERSION = '0.1.0';

/** A proposal failed with one of pysyncobj's FAIL_REASON codes. */
export class SyncObjError extends Error {
  override readonly name = 'SyncObjError';
  constructor(
    readonly reason: FailReason | 'timeout' | 'destroyed' | 'apply_error' | 'unknown_outcome',
    message?: string,
  ) {
    super(
      message ??
        (typeof reason === 'number'
          ? `command failed: ${FAIL_REASON_NAMES[reason]}`
          : `command failed: ${reason}`),
    );
  }
}

export type ResultCallback = (result: PyValue | undefined, failReason: FailReason) => void;

export interface CallOptions {
  /** keyword arguments (sent as a dict; pysyncobj sends a 3-tuple whenever kwargs were given) */
  readonly kwargs?: PyDict;
  /** reject with SyncObjError('timeout') after this many ms (the command may still apply later) */
  readonly timeoutMs?: number;
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

export interface Clock {
  /** monotonic milliseconds */
  now(): number;
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
  readonly clock?: Clock;
  /** uniform in [0, 1), for election timeouts */
  readonly random?: () => number;
}

export interface SyncObjOptions {
  readonly consumers?: readonly SyncObjConsumer[];
  readonly deps?: SyncObjDeps;
}

type UtilityHandler = (args: readonly PyValue[], reply: (value: PyValue) => void) => void;

interface Pending {
  settle(result: PyValue | undefined, reason: FailReason): void;
}

/** what applying an entry gave (kept for index assignments that arrive after the apply) */
interface AppliedResult {
  readonly index: number;
  readonly term: number;
  readonly ok: boolean;
  readonly result: PyValue | undefined;
}

interface PersistBatch {
  readonly messages: OutgoingMessage[];
  persistIndex: number;
  persistTerm: number;
}

const monotonicClock: Clock = { now: () => performance.now() };

/** Internal outcome codes beyond pysyncobj's FAIL_REASON (never sent on the wire). */
const DESTROYED = -1 as FailReason;
const APPLY_FAILED = -2 as FailReason;
/** the entry's index was covered by a snapshot: whether it was applied here is unknown */
const UNKNOWN_OUTCOME = -3 as FailReason;
/** how many applied results are remembered for late index assignments */
const RECENT_RESULTS = 4096;

export class SyncObj {
  readonly conf: SyncObjConf;
  protected readonly log: Logger;
  private readonly selfAddress: string | null;
  private readonly partners: readonly string[];
  private readonly consumers: readonly SyncObjConsumer[];
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly journal: Journal;
  private readonly dumpStore: DumpStore;
  private transport: Transport | null = null;
  private compacting = false;
  private forceCompaction = false;
  private lastDumpMs: number;
  private lastDumpPrevIndex: number | null = null;
  private installing = false;
  private core: RaftCore | null = null;
  private table: FunctionTable | null = null;
  private enabledCodeVersion = 0;
  private readonly startedAtMs: number;

  private readonly pending = new Map<number, Pending>();
  private nextRef = 1;
  private readonly waiters = new Map<number, { term: number; pending: Pending }[]>();
  /** results of recently applied entries, for index assignments that arrive after the apply */
  private readonly recentResults: (AppliedResult | undefined)[] = new Array(RECENT_RESULTS);
  private lastAppliedIndex = 0;

  private readonly persistQueue: PersistBatch[] = [];
  /** the batches whose fsync is running (their messages go out when it completes) */
  private inflight: PersistBatch[] | null = null;
  private syncing = false;
  /** dump-store writes run one after another (a late compaction never overwrites a newer install) */
  private dumpWrites: Promise<unknown> = Promise.resolve();
  private drainScheduled = false;
  private tickTimer: NodeJS.Timeout | null = null;
  private destroyed = false;
  private readonly tickCallbacks: (() => void)[] = [];
  private readonly fsyncListeners: ((seconds: number) => void)[] = [];
  private readonly utilityHandlers = new Map<string, UtilityHandler>();
  private fatalError: Error | null = null;

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
    this.clock = deps.clock ?? monotonicClock;
    this.random = deps.random ?? Math.random;
    const journalFile = this.conf.values.journalFile;
    this.journal =
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
    this.dumpStore =
      deps.dumpStore ??
      (dumpFile && selfAddress !== null
        ? new FileDumpStore(dumpFile, this.conf.values.fsync === 'always')
        : new MemoryDumpStore());
    this.startedAtMs = this.clock.now();
    this.lastDumpMs = this.startedAtMs;
    this.readyPromise = new Promise<void>((resolve) => {
      this.readyResolve = resolve;
    });
    this.registerUtility('status', (_args, reply) => reply(this.statusDict()));
    this.registerUtility('add', (args, reply) => this.utilityMembership('add', args, reply));
    this.registerUtility('remove', (args, reply) => this.utilityMembership('remove', args, reply));
    this.registerUtility('set_version', (args, reply) => this.utilitySetVersion(args, reply));
    // start on the next turn, once subclass constructors (and their fields) are done
    this.bound = Promise.resolve().then(() => this.start(deps));
    this.bound.catch((e: unknown) => {
      this.log.error({ err: e }, 'raft node failed to start');
    });
  }

  // --------------------------------------------------------------------------------------------
  // lifecycle

  private async start(deps: SyncObjDeps): Promise<void> {
    const dumpGz = await this.dumpStore.read();
    let dump: Dump | null = null;
    if (dumpGz !== null) {
      try {
        dump = await decodeDump(dumpGz);
      } catch (e) {
        throw new Error(`cannot read the dump ${this.dumpStore.description}: ${(e as Error).message}`);
      }
    }
    // refuse partial data (a lost journal or dump) before a missing journal is created afresh
    let checked = false;
    const verify = (journal: JournalOpened) => {
      checked = true;
      const files = { journal, dump, dumpFile: this.dumpStore.description };
      enforceStartupCheck(files, {
        allowPartialData: this.conf.values.unsafeAllowPartialData,
        logger: this.log,
      });
    };
    const state = await this.journal.open({ verify });
    if (!checked) verify(state);
    if (this.destroyed) return;
    let entries = state.entries;
    let lastApplied = (entries[0] as LogEntry).index;
    let selfRemoved = false;
    let peers = this.partners;
    let snapshot: SnapshotData | undefined;
    if (dump !== null) {
      entries = this.alignJournalWithDump(entries, dump);
      lastApplied = dump.lastEntry.index;
      if (this.conf.values.dynamicMembershipChange) {
        peers = dump.cluster.filter((n) => n !== this.selfAddress);
        selfRemoved = this.selfAddress !== null && !dump.cluster.includes(this.selfAddress);
      }
      this.restoreState(dump.data);
      snapshot = {
        data: dumpGz as Uint8Array,
        lastIndex: dump.lastEntry.index,
        lastTerm: dump.lastEntry.term,
      };
      this.lastDumpPrevIndex = dump.prevEntry.index;
      this.newestDumpIndex = dump.lastEntry.index;
      this.log.info(
        { dump: this.dumpStore.description, lastIndex: dump.lastEntry.index, entries: entries.length },
        'state loaded from the dump; replaying the journal after it',
      );
    }
    this.table = new FunctionTable(this, this.consumers);
    const c = this.conf.values;
    const ms = (s: number) => s * 1000;
    this.core = new RaftCore(
      {
        selfId: this.selfAddress,
        electionTimeoutMinMs: ms(c.raftMinTimeout),
        electionTimeoutMaxMs: ms(c.raftMaxTimeout),
        appendEntriesPeriodMs: ms(c.appendEntriesPeriod),
        leaderFallbackTimeoutMs: ms(c.leaderFallbackTimeout),
        appendEntriesBatchSizeBytes: c.appendEntriesBatchSizeBytes,
        snapshotChunkBytes: c.logCompactionBatchSize,
        appendEntriesUseBatch: c.appendEntriesUseBatch,
        commandsWaitLeader: c.commandsWaitLeader,
        commandsQueueSize: c.commandsQueueSize,
        dynamicMembershipChange: c.dynamicMembershipChange,
        maxSendBytesPerRound: 16 * 1024 * 1024,
        random: this.random,
        decodeMembership,
        decodeTransmittedEntry,
      },
      {
        hardState: state.hardState,
        entries,
        commitIndex: Math.max(state.commitIndex, lastApplied),
        lastApplied,
        peers,
        snapshot,
        selfRemoved,
        nowMs: this.clock.now(),
      },
    );
    this.lastAppliedIndex = lastApplied;
    const factory = deps.transport ?? createTcpTransport;
    this.transport = factory(this.transportHandler(), this.conf, this.selfAddress);
    this.syncTransportNodes(this.core.votingMembers);
    this.drain();
    await this.transport.start();
    if (this.destroyed) return;
    if (c.autoTick) this.scheduleTick();
  }

  /** Resolves once the node listens (pysyncobj waitBinded); rejects if binding failed. */
  waitBinded(): Promise<void> {
    return this.bound;
  }

  /** Resolves once the node has applied the log up to the leader's commit index (onReady). */
  waitReady(): Promise<void> {
    return this.readyPromise;
  }

  isReady(): boolean {
    return this.core?.isReady ?? false;
  }

  /** Stop: no more ticks or callbacks; sockets closed; journal flushed. Pending calls fail. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
    await this.bound.catch(() => undefined);
    for (const p of this.pending.values()) p.settle(undefined, DESTROYED);
    this.pending.clear();
    for (const list of this.waiters.values()) for (const w of list) w.pending.settle(undefined, DESTROYED);
    this.waiters.clear();
    await this.transport?.destroy();
    await this.dumpWrites;
    try {
      await this.journal.sync();
    } catch (e) {
      this.log.error({ err: e }, 'the journal could not be flushed while stopping');
    } finally {
      await this.journal
        .close()
        .catch((e: unknown) => this.log.error({ err: e }, 'closing the journal failed'));
    }
  }

  /** One tick (for `autoTick: false`), then wait up to `timeToWaitMs` for events. */
  async doTick(timeToWaitMs = 0): Promise<void> {
    await this.bound;
    this.tick();
    if (timeToWaitMs > 0) await new Promise((r) => setTimeout(r, timeToWaitMs));
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

  private scheduleTick(): void {
    if (this.destroyed) return;
    const core = this.core;
    const period = this.conf.values.autoTickPeriod * 1000;
    const untilDeadline = core ? core.nextDeadline() - this.clock.now() : period;
    const delay = Math.max(1, Math.min(period, untilDeadline));
    this.tickTimer = setTimeout(() => {
      // tick in the check phase, after the poll phase has read what the sockets hold: after an
      // event-loop stall the leader's heartbeats are seen before the election timer is judged
      setImmediate(() => {
        this.tickTimer = null;
        this.tick();
        this.scheduleTick();
      });
    }, delay);
  }

  private tick(): void {
    if (this.destroyed || !this.core) return;
    try {
      this.core.tick(this.clock.now());
      this.maybeCompact();
      for (const cb of [...this.tickCallbacks]) {
        try {
          cb();
        } catch (e) {
          this.log.error({ err: e }, 'tick callback failed');
        }
      }
    } catch (e) {
      this.fail(e);
      return;
    }
    this.drain();
  }

  // --------------------------------------------------------------------------------------------
  // state

  get selfNode(): string | null {
    return this.selfAddress;
  }

  get otherNodes(): string[] {
    return this.core ? [...this.core.votingMembers] : [...this.partners];
  }

  get readonlyNodes(): string[] {
    return this.core ? [...this.core.status().readonlyPeers] : [];
  }

  /** the index of the last entry applied to the state machine here */
  get raftLastApplied(): number {
    return this.lastAppliedIndex;
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
    this.transport?.setDnsTimeouts?.(cacheTimeSeconds * 1000, failCacheTimeSeconds * 1000);
  }

  isNodeConnected(node: string): boolean {
    return this.transport?.isConnected(node) ?? false;
  }

  /** pysyncobj's getStatus(), as a plain object with the same keys (spec §6). */
  getStatus(): Record<string, PyValue> {
    const out: Record<string, PyValue> = {};
    for (const [k, v] of this.statusDict()) out[String(k)] = v;
    return out;
  }

  private statusDict(): PyDict {
    const core = this.core;
    const st = core?.status();
    const m = new Map<PyDictKey, PyValue>();
    const self = this.selfAddress === null ? null : tcpNode(this.selfAddress);
    m.set('version', PYSYNCOBJ_COMPAT_VERSION);
    m.set('revision', 'deprecated'); // pysyncobj's value; our version is in the HTTP status
    m.set('self', self);
    m.set('state', st?.state ?? 0);
    m.set('leader', st?.leader ? (st.leader === this.selfAddress ? self : tcpNode(st.leader)) : null);
    m.set('has_quorum', core?.hasQuorum() ?? false);
    const members = st?.members ?? this.partners;
    m.set('partner_nodes_count', members.length);
    for (const p of members) m.set(`partner_node_status_server_${p}`, this.isNodeConnected(p) ? 2 : 0);
    const ro = st?.readonlyPeers ?? [];
    m.set('readonly_nodes_count', ro.length);
    for (const p of ro) m.set(`readonly_node_status_server_${p}`, 2);
    m.set('log_len', st?.logLength ?? 0);
    m.set('last_applied', this.lastAppliedIndex);
    m.set('commit_idx', st?.commitIndex ?? 0);
    m.set('raft_term', st?.term ?? 0);
    m.set('next_node_idx_count', st?.nextIndex.size ?? 0);
    for (const [p, i] of st?.nextIndex ?? []) m.set(`next_node_idx_server_${p}`, i);
    m.set('match_idx_count', st?.matchIndex.size ?? 0);
    for (const [p, i] of st?.matchIndex ?? []) m.set(`match_idx_server_${p}`, i);
    m.set('leader_commit_idx', st?.leaderCommitIndex ?? null);
    m.set('uptime', Math.floor((this.clock.now() - this.startedAtMs) / 1000));
    m.set('self_code_version', this.table?.selfCodeVersion ?? 0);
    m.set('enabled_code_version', this.enabledCodeVersion);
    return m;
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
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        fn();
      };
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => finish(() => reject(new SyncObjError('timeout'))), options.timeoutMs);
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

  private errorFor(reason: FailReason): SyncObjError {
    if ((reason as number) === -1) return new SyncObjError('destroyed', 'the node was destroyed');
    if ((reason as number) === -2)
      return new SyncObjError('apply_error', 'the command failed while being applied');
    return new SyncObjError(reason);
  }

  /** Propose raw command bytes (type byte + payload). */
  protected submit(command: Uint8Array, cb: ResultCallback | null): void {
    if (this.destroyed) {
      cb?.(undefined, DESTROYED);
      return;
    }
    if (this.fatalError) {
      cb?.(undefined, DESTROYED);
      return;
    }
    const core = this.core;
    if (!core) {
      // not started yet: retry once the journal is open
      this.bound.then(
        () => this.submit(command, cb),
        () => cb?.(undefined, DESTROYED),
      );
      return;
    }
    let ref: number | null = null;
    if (cb) {
      ref = this.nextRef++;
      this.pending.set(ref, { settle: cb });
    }
    core.propose(command, ref, this.clock.now());
    this.scheduleDrain();
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
    try {
      if (typeof address !== 'string') throw new TypeError('not a string');
      splitHostPort(address);
    } catch (e) {
      return Promise.reject(
        new TypeError(
          `a node address must be 'host:port', got ${JSON.stringify(address)}: ${(e as Error).message}`,
        ),
      );
    }
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
  // utility commands

  /** Serve an extra utility command (e.g. Patroni's `members`). */
  registerUtility(command: string, handler: UtilityHandler): void {
    this.utilityHandlers.set(command, handler);
  }

  private utilityMembership(
    cmd: 'add' | 'remove',
    args: readonly PyValue[],
    reply: (v: PyValue) => void,
  ): void {
    const address = args[0];
    if (!this.conf.values.dynamicMembershipChange) {
      reply('dynamicMembershipChange is disabled');
      return;
    }
    if (typeof address !== 'string') {
      reply(
        `FAIL ${cmd.toUpperCase()} ${pyStr(address ?? null)}: a node address must be a 'host:port' string`,
      );
      return;
    }
    if (cmd === 'remove' && address === this.selfAddress) {
      reply(formatUtilityResult('remove', args, null, FailReason.RequestDenied));
      return;
    }
    this.membershipChange(cmd === 'add' ? 'add' : 'rem', address).then(
      () => reply(formatUtilityResult(cmd, args, null, FailReason.Success)),
      (e: unknown) =>
        reply(
          e instanceof SyncObjError
            ? formatUtilityResult(
                cmd,
                args,
                null,
                typeof e.reason === 'number' ? e.reason : FailReason.RequestDenied,
              )
            : String((e as Error).message),
        ),
    );
  }

  private utilitySetVersion(args: readonly PyValue[], reply: (v: PyValue) => void): void {
    const v = args[0];
    if (typeof v !== 'number') {
      reply(`FAIL SET_VERSION ${pyStr(v ?? null)}: the version must be an int`);
      return;
    }
    this.setCodeVersion(v).then(
      () => reply(formatUtilityResult('set_version', args, null, FailReason.Success)),
      (e: unknown) =>
        reply(
          e instanceof SyncObjError && typeof e.reason === 'number'
            ? formatUtilityResult('set_version', args, null, e.reason)
            : String((e as Error).message),
        ),
    );
  }

  // --------------------------------------------------------------------------------------------
  // transport events

  private transportHandler(): TransportHandler {
    return {
      onMessage: (peer, value) => {
        const core = this.core;
        if (!core || this.destroyed) return;
        let message: ReturnType<typeof messageFromPy>;
        try {
          message = messageFromPy(value);
        } catch (e) {
          if (e instanceof WireError) {
            this.log.warn({ peer, code: e.code, err: e.message }, 'malformed message ignored');
            return;
          }
          throw e;
        }
        if (message === null) return;
        try {
          core.step(peer, message, this.clock.now());
        } catch (e) {
          this.fail(e);
          return;
        }
        this.scheduleDrain();
      },
      onPeerConnected: (peer, readonly) => {
        this.core?.peerConnected(peer, readonly, this.clock.now());
        this.scheduleDrain();
      },
      onPeerDisconnected: (peer) => {
        this.core?.peerDisconnected(peer, this.clock.now());
        this.scheduleDrain();
      },
      onUtilityCommand: (command, args, reply) => {
        const handler = this.utilityHandlers.get(command);
        if (!handler) {
          reply(`unknown command '${command}'`);
          return;
        }
        try {
          handler(args, reply);
        } catch (e) {
          reply(String((e as Error).message ?? e));
        }
      },
    };
  }

  // --------------------------------------------------------------------------------------------
  // the drain loop: persist, send, apply

  private scheduleDrain(): void {
    if (this.drainScheduled || this.destroyed) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    const core = this.core;
    if (!core || this.destroyed) return;
    for (let guard = 0; guard < 10_000; guard++) {
      let out: CoreOutput | null;
      try {
        out = core.takeOutput();
      } catch (e) {
        this.fail(e);
        return;
      }
      if (out === null) return;
      this.handleOutput(out);
    }
    this.log.warn({}, 'drain loop did not settle; continuing on the next turn');
    this.scheduleDrain();
  }

  private handleOutput(out: CoreOutput): void {
    const j = this.journal;
    let wrote = false;
    if (out.hardState) {
      j.writeHardState(out.hardState);
      wrote = true;
    }
    if (out.truncateFrom !== undefined) {
      j.truncateFrom(out.truncateFrom);
      wrote = true;
    }
    let persistIndex = 0;
    let persistTerm = 0;
    if (out.entries.length > 0) {
      j.append(out.entries);
      wrote = true;
      const last = out.entries[out.entries.length - 1] as LogEntry;
      persistIndex = last.index;
      persistTerm = last.term;
    }
    j.setCommitIndex(out.commitIndex);
    this.sendAll(out.send);
    // messages that need the journal durable wait for the fsync covering everything written so
    // far: a new batch when this output wrote, else the last queued batch, else the one in flight
    const queuedTail = this.persistQueue[this.persistQueue.length - 1];
    const inflightTail = this.inflight?.[this.inflight.length - 1];
    if (wrote) {
      this.persistQueue.push({ messages: [...out.sendAfterPersist], persistIndex, persistTerm });
      this.flushPersistQueue();
    } else if (queuedTail) {
      queuedTail.messages.push(...out.sendAfterPersist);
      this.flushPersistQueue();
    } else if (inflightTail) {
      inflightTail.messages.push(...out.sendAfterPersist);
    } else {
      this.sendAll(out.sendAfterPersist);
    }
    for (const e of out.apply) this.applyEntry(e);
    for (const p of out.proposals) this.onProposal(p);
    for (const ev of out.events) this.onCoreEvent(ev);
  }

  private flushPersistQueue(): void {
    if (this.syncing || this.persistQueue.length === 0) return;
    if (this.journal.durableImmediately) {
      const batches = this.persistQueue.splice(0);
      this.completePersist(batches);
      return;
    }
    const batches = this.persistQueue.splice(0);
    this.syncing = true;
    this.inflight = batches;
    this.journal.sync().then(
      () => {
        this.syncing = false;
        this.inflight = null;
        if (this.destroyed) return;
        this.completePersist(batches);
        this.flushPersistQueue();
        this.drain();
      },
      (e: unknown) => {
        this.syncing = false;
        this.inflight = null;
        this.fail(e instanceof Error ? e : new Error(String(e)));
      },
    );
  }

  private completePersist(batches: PersistBatch[]): void {
    let index = 0;
    let term = 0;
    for (const b of batches) {
      this.sendAll(b.messages);
      if (b.persistIndex > 0) {
        index = b.persistIndex;
        term = b.persistTerm;
      }
    }
    if (index > 0) this.core?.onPersisted(index, term, this.clock.now());
  }

  private sendAll(messages: readonly OutgoingMessage[]): void {
    const t = this.transport;
    if (!t || messages.length === 0) return;
    // the same append_entries usually goes to every follower: pickle it once
    let shared: Map<string, Uint8Array> | null = null;
    for (const { to, message } of messages) {
      if (!t.isConnected(to)) continue;
      const key = sharedKey(message);
      let pickle = key === null ? undefined : shared?.get(key);
      if (pickle === undefined) {
        // bytes as BINBYTES: loaded by every Python 3 pysyncobj, and much cheaper than the
        // protocol-2 `_codecs.encode` form on both sides (spec §3.4)
        pickle = encodePickle(messageToPy(message), { bytes: 'binbytes' });
        if (key !== null) {
          shared ??= new Map();
          shared.set(key, pickle);
        }
      }
      t.sendPickled(to, pickle);
    }
  }

  private applyEntry(e: LogEntry): void {
    let result: PyValue | undefined;
    let ok = true;
    const type = e.command[0];
    try {
      if (type === CommandType.Regular) {
        result = this.applyRegular(e);
      } else if (type === CommandType.Version) {
        this.applyVersion(decodeVersion(e.command));
      }
    } catch (err) {
      ok = false;
      this.log.error({ index: e.index, term: e.term, err }, 'applying a committed entry failed');
      if (err instanceof FatalApplyError) {
        this.fail(err);
        return;
      }
    }
    this.lastAppliedIndex = e.index;
    this.recentResults[e.index % RECENT_RESULTS] = { index: e.index, term: e.term, ok, result };
    const ws = this.waiters.get(e.index);
    if (ws) {
      this.waiters.delete(e.index);
      for (const w of ws) {
        if (w.term !== e.term) w.pending.settle(undefined, FailReason.Discarded);
        else if (ok) w.pending.settle(result, FailReason.Success);
        else w.pending.settle(undefined, APPLY_FAILED);
      }
    }
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

  private onProposal(p: ProposalOutcome): void {
    const pending = this.pending.get(p.ref);
    if (!pending) return;
    this.pending.delete(p.ref);
    if (p.kind === 'failed') {
      pending.settle(undefined, p.reason);
      return;
    }
    if (p.index <= this.lastAppliedIndex) {
      // the entry was applied before its index reached us (messages reordered): answer from the
      // applied results; when that is too far back, the outcome is unknown rather than guessed
      const slot = this.recentResults[p.index % RECENT_RESULTS];
      const applied = slot?.index === p.index ? slot : undefined;
      if (applied === undefined) pending.settle(undefined, UNKNOWN_OUTCOME);
      else if (applied.term !== p.term) pending.settle(undefined, FailReason.Discarded);
      else pending.settle(applied.result, applied.ok ? FailReason.Success : APPLY_FAILED);
      return;
    }
    const list = this.waiters.get(p.index) ?? [];
    list.push({ term: p.term, pending });
    this.waiters.set(p.index, list);
  }

  private onCoreEvent(ev: CoreOutput['events'][number]): void {
    switch (ev.type) {
      case 'stateChanged':
        this.log.info({ from: ev.from, to: ev.to, term: ev.term }, 'raft state changed');
        this.conf.values.onStateChanged?.(ev.from, ev.to);
        return;
      case 'leaderChanged':
        this.log.info({ leader: ev.leader, term: ev.term }, 'raft leader changed');
        return;
      case 'membershipChanged':
        this.log.info({ change: ev.change, members: ev.members }, 'cluster membership changed');
        this.syncTransportNodes(ev.members);
        return;
      case 'membershipReset':
        this.syncTransportNodes(ev.members);
        return;
      case 'ready':
        this.readyResolve();
        this.conf.values.onReady?.();
        return;
      case 'snapshotReceived':
        this.onSnapshotReceived(ev.data);
        return;
      case 'anomaly':
        this.log.warn({ detail: ev.message }, 'raft anomaly');
        return;
    }
  }

  private readonly transportNodes = new Set<string>();

  /** Keep the transport's node set equal to the voting members (other than self). */
  private syncTransportNodes(members: readonly string[]): void {
    const t = this.transport;
    if (!t) return;
    const want = new Set(members.filter((m) => m !== this.selfAddress));
    for (const n of this.transportNodes) {
      if (!want.has(n)) {
        t.dropNode(n); // the transport reports no disconnect for a dropped node
        this.transportNodes.delete(n);
        this.core?.peerDisconnected(n, this.clock.now());
      }
    }
    for (const n of want) {
      if (!this.transportNodes.has(n)) {
        this.transportNodes.add(n);
        try {
          t.addNode(n);
        } catch (e) {
          // a member with an unusable address (a Python peer accepts any port): it stays a member
          // for quorum, as on Python nodes, but nobody can reach it
          this.log.error(
            { node: n, err: (e as Error).message },
            'cannot connect to a cluster member: bad address',
          );
        }
      }
    }
  }

  // --------------------------------------------------------------------------------------------
  // dumps: state serialisation, log compaction, snapshot install

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
    const own = this.serializeAttributes();
    if (this.consumers.length === 0) return own;
    return [own, ...this.consumers.map((c) => c.serializeState())];
  }

  private restoreState(data: PyValue): void {
    if (Array.isArray(data)) {
      const [own, ...rest] = data;
      if (own instanceof Map) this.restoreAttributes(own);
      for (const [i, c] of this.consumers.entries()) c.deserializeState(rest[i] ?? null);
      return;
    }
    if (data instanceof Map) this.restoreAttributes(data);
  }

  /** Keep the journal from the dump's prev entry on when it holds the dump's pair, else reset it. */
  private alignJournalWithDump(entries: readonly LogEntry[], dump: Dump): readonly LogEntry[] {
    const first = (entries[0] as LogEntry).index;
    const at = (i: number) => entries[i - first];
    const prev = at(dump.prevEntry.index);
    const last = at(dump.lastEntry.index);
    if (prev && last && prev.term === dump.prevEntry.term && last.term === dump.lastEntry.term) {
      if (dump.prevEntry.index > first) this.journal.compact(dump.prevEntry.index);
      return entries.slice(dump.prevEntry.index - first);
    }
    this.journal.reset([dump.prevEntry, dump.lastEntry]);
    return [dump.prevEntry, dump.lastEntry];
  }

  /** Make a dump at the next tick (pysyncobj forceLogCompaction). */
  forceLogCompaction(): void {
    this.forceCompaction = true;
  }

  private maybeCompact(): void {
    const core = this.core;
    if (!core || this.compacting || this.installing) return;
    const c = this.conf.values;
    const now = this.clock.now();
    const st = core.status();
    const due =
      st.logLength > c.logCompactionMinEntries ||
      now - this.lastDumpMs > c.logCompactionMinTime * 1000 ||
      this.forceCompaction;
    if (!due) return;
    // under a heavy write load pysyncobj would dump back to back (in forked children); we dump at
    // most once a second unless the log grows far beyond the threshold (memory stays bounded)
    if (
      !this.forceCompaction &&
      now - this.lastDumpMs < 1000 &&
      st.logLength <= 10 * c.logCompactionMinEntries
    )
      return;
    if (c.logCompactionSplit && !this.inOwnCompactionSlot(now, st.members)) return;
    // what the state machine holds (the core may have handed out entries not applied yet)
    const lastIndex = this.lastAppliedIndex;
    const last = core.entryAt(lastIndex);
    const prev = core.entryAt(lastIndex - 1);
    if (!last || !prev || prev.index === this.lastDumpPrevIndex) {
      this.lastDumpMs = now;
      return;
    }
    this.forceCompaction = false;
    const dump: Dump = {
      data: this.serializeState(),
      lastEntry: last,
      prevEntry: prev,
      cluster: core.membersAt(lastIndex),
    };
    this.compacting = true;
    const t0 = now;
    const write = gzipChunks(encodeDumpChunks(dump)).then(async (gz) => {
      if (!(await this.storeDump(last.index, gz))) throw new Error('superseded by a newer dump');
      return gz;
    });
    write.then(
      (gz) => {
        this.compacting = false;
        if (this.destroyed || this.core !== core) return;
        if (core.status().firstIndex > prev.index) return; // a snapshot install replaced the log meanwhile
        core.compact({ data: gz, lastIndex: last.index, lastTerm: last.term }, this.clock.now());
        this.journal.compact(prev.index);
        this.lastDumpPrevIndex = prev.index;
        this.lastDumpMs = this.clock.now();
        this.log.info(
          { lastIndex: last.index, bytes: gz.length, ms: Math.round(this.clock.now() - t0) },
          'log compacted after a dump',
        );
      },
      (e: unknown) => {
        this.compacting = false;
        this.lastDumpMs = this.clock.now();
        this.log.warn({ err: e, dump: this.dumpStore.description }, 'failed to store a full dump');
      },
    );
  }

  /** logCompactionSplit: each node dumps only in its own slot of the logCompactionMinTime period. */
  private inOwnCompactionSlot(nowMs: number, members: readonly string[]): boolean {
    if (this.selfAddress === null) return true;
    const ids = [...members, this.selfAddress].sort();
    const interval = this.conf.values.logCompactionMinTime;
    const t = (this.startedAtWallMs + nowMs - this.startedAtMs) / 1000;
    const periodStart = Math.floor(t / interval) * interval;
    const nodeInterval = interval / ids.length;
    const start = periodStart + ids.indexOf(this.selfAddress) * nodeInterval;
    return t >= start && t < start + 0.3 * nodeInterval;
  }

  private readonly startedAtWallMs = Date.now();

  private newestDumpIndex = 0;

  /**
   * Store a dump durably, one store write at a time and newest wins: a dump older than one stored
   * already (a slow local compaction finishing after a snapshot install) is not written.
   */
  private storeDump(lastIndex: number, gz: Uint8Array): Promise<boolean> {
    const write = this.dumpWrites.then(async () => {
      if (lastIndex <= this.newestDumpIndex) return false;
      await this.dumpStore.writeGz(gz);
      this.newestDumpIndex = lastIndex;
      return true;
    });
    this.dumpWrites = write.catch(() => undefined);
    return write;
  }

  /** A full dump arrived from the leader: store it durably, load it, then let the core go on. */
  private onSnapshotReceived(data: Uint8Array): void {
    const core = this.core;
    if (!core) return;
    this.installing = true;
    const failed = (why: string, err?: unknown) => {
      this.installing = false;
      this.log.warn({ err, why }, 'snapshot from the leader not installed');
      if (!this.destroyed) {
        core.snapshotInstallFailed(this.clock.now());
        this.scheduleDrain();
      }
    };
    decodeDump(data).then(
      async (dump) => {
        if (dump.lastEntry.index <= core.status().lastApplied) return failed('already applied');
        try {
          if (!(await this.storeDump(dump.lastEntry.index, data)))
            return failed('a newer dump is stored already');
        } catch (e) {
          return failed('cannot store the dump', e);
        }
        if (this.destroyed) return;
        if (dump.lastEntry.index <= this.lastAppliedIndex) return failed('already applied');
        // from here on synchronous: state, journal and core switch together
        this.restoreState(dump.data);
        const logGoesOn =
          core.holdsEntry(dump.lastEntry.index, dump.lastEntry.term) &&
          core.holdsEntry(dump.prevEntry.index, dump.prevEntry.term);
        if (logGoesOn)
          this.journal.compact(dump.prevEntry.index); // keep the entries after the dump
        else this.journal.reset([dump.prevEntry, dump.lastEntry]);
        this.persistQueue.push({ messages: [], persistIndex: 0, persistTerm: 0 }); // acks wait for the journal
        core.installSnapshot(
          {
            lastEntry: dump.lastEntry,
            prevEntry: dump.prevEntry,
            cluster: this.conf.values.dynamicMembershipChange
              ? dump.cluster
              : [...core.votingMembers, this.selfAddress ?? ''],
            data,
          },
          this.clock.now(),
        );
        this.flushPersistQueue();
        this.lastAppliedIndex = dump.lastEntry.index;
        this.lastDumpPrevIndex = dump.prevEntry.index;
        this.installing = false;
        for (const [index, list] of [...this.waiters]) {
          if (index > dump.lastEntry.index) continue;
          this.waiters.delete(index);
          for (const w of list) w.pending.settle(undefined, UNKNOWN_OUTCOME);
        }
        this.log.info(
          { lastIndex: dump.lastEntry.index, bytes: data.length },
          'snapshot from the leader installed',
        );
        this.drain();
      },
      (e: unknown) => failed('the dump does not decode', e),
    );
  }

  private fail(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    if (this.fatalError) return;
    this.fatalError = err;
    this.log.error({ err }, 'raft node stopped after a fatal error');
    void this.destroy();
  }

  /** The error that stopped this node, if any. */
  get failure(): Error | null {
    return this.fatalError;
  }
}

class FatalApplyError extends Error {
  override readonly name = 'FatalApplyError';
}

/** A key identifying an append_entries by content (entries are identified by index and term). */
function sharedKey(m: OutgoingMessage['message']): string | null {
  if (m.type !== 'append_entries') return null;
  const first = m.entries[0];
  const last = m.entries[m.entries.length - 1];
  return `${m.term}:${m.commitIndex}:${m.prevLogIdx}:${m.prevLogTerm}:${first ? `${first.index}/${first.term}-${(last as LogEntry).index}/${(last as LogEntry).term}` : ''}`;
}
