/**
 * RaftDriver — the one loop that turns the pure core's actions into I/O, for production and for
 * the simulator alike: persist → fsync → send-after-persist → apply; proposals and their waiters;
 * dumps, log compaction and snapshot installs; membership changes reaching the transport; ticks.
 *
 * Everything it touches in the outside world comes in through a seam: the scheduler (clock, timers,
 * deferred callbacks), randomness, the journal, the dump store, the dump codec and the transport.
 * `SyncObj` is the public class over it; the simulator runs real SyncObj nodes by handing them
 * simulated seams, so there is no second copy of this logic anywhere.
 *
 * It must never apply an entry before it is committed and durable here, never send a vote or an
 * acknowledgement before the journal says the state it depends on is durable, never let an
 * asynchronous completion (fsync, dump write, dump decode) act on a core state it was not started
 * for, and never let one bad peer or frame take the process down.
 */
import { assert, InvariantError } from '../../assert.js';
import { RaftdcsError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { pyStrCompare } from '../../py/compare.js';
import { WireError } from '../../wire/errors.js';
import { encodePickle } from '../../wire/pickle/index.js';
import type { PyValue } from '../../wire/value.js';
import { decodeMembership, decodeTransmittedEntry } from '../commands.js';
import type { SyncObjConf } from '../config.js';
import {
  type CoreOutput,
  type ProposalOutcome,
  RaftCore,
  RaftInvariantError,
  type TransferRefusal,
} from '../core/core.js';
import type { SnapshotData, UnsafeTestFaults } from '../core/options.js';
import { CommandType, FailReason, type LogEntry, type OutgoingMessage } from '../core/types.js';
import { enforceStartupCheck } from '../journal/startup-check.js';
import type { Journal, JournalOpened } from '../journal/types.js';
import { messageFromPy, messageToPy } from '../messages.js';
import type { Dump } from '../snapshot/dump.js';
import type { DumpStore } from '../snapshot/dump-store.js';
import type { Transport, TransportHandler } from '../transport/types.js';
import type { DumpCodec } from './dump-codec.js';
import { LivenessRecord, type LivenessSnapshot } from './liveness.js';
import { type ResultCallback, type ResultReason, RuntimeFailReason } from './outcome.js';
import type { Scheduler, TimerHandle } from './scheduler.js';

/** how many applied results are remembered for late index assignments */
const RECENT_RESULTS = 4096;

/** An entry whose application must stop the node (e.g. a code version this node does not have). */
export class FatalApplyError extends RaftdcsError<'FATAL_APPLY'> {
  override readonly name = 'FatalApplyError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('FATAL_APPLY', message, options);
  }
}

/** What the driver needs from the object it drives (SyncObj). */
export interface DriverHost {
  /** Apply a committed REGULAR or VERSION entry; the result goes to the proposal's caller. */
  applyEntry(e: LogEntry): PyValue | undefined;
  /** The replicated state for a dump (a point-in-time value later applies do not mutate). */
  serializeState(): PyValue;
  /** Replace the replicated state with a dump's. */
  restoreState(data: PyValue): void;
  onStateChanged(from: number, to: number): void;
  /** the node this one follows (or leads as) changed; null: none known */
  onLeaderChanged(leader: string | null): void;
  /** a leadership transfer this node ran was given up (`reason` says why) */
  onTransferAbandoned(target: string, reason: string): void;
  onReady(): void;
  /** after every tick of the core (tick callbacks, expiry) */
  onTick(): void;
  onUtilityCommand(command: string, args: readonly PyValue[], reply: (value: PyValue) => void): void;
}

/**
 * Test-only hooks: the simulator's safety checker watches what the core hands out and what is
 * applied. Production passes none.
 */
export interface DriverObserver {
  onCoreStarted?(core: RaftCore): void;
  onOutput?(core: RaftCore, out: CoreOutput): void;
  onApplied?(e: LogEntry): void;
  onSnapshotInstalled?(lastEntry: LogEntry): void;
}

export interface DriverSeams {
  readonly scheduler: Scheduler;
  /** uniform in [0, 1), for election timeouts */
  readonly random: () => number;
  readonly journal: Journal;
  readonly dumpStore: DumpStore;
  readonly dumpCodec: DumpCodec;
  readonly transport: (handler: TransportHandler) => Transport;
  readonly observer?: DriverObserver;
  /** deliberately broken behaviours, for proving the simulator's checks can fail */
  readonly unsafeTestFaults?: UnsafeTestFaults;
  /** bytes of entries sent to one peer per replication round (default 16 MiB; the simulator cuts it) */
  readonly maxSendBytesPerRound?: number;
}

interface Pending {
  settle(result: PyValue | undefined, reason: ResultReason): void;
}

/** what applying an entry gave (kept for index assignments that arrive after the apply) */
interface AppliedResult {
  readonly index: number;
  readonly term: number;
  readonly ok: boolean;
  readonly result: PyValue | undefined;
}

/** What an operator-requested compaction (compactNow) did. */
export interface CompactionOutcome {
  /** the dump's last entry: the log now starts at the entry before it */
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** bytes of the dump written; null when a dump at this index was stored already (none written) */
  readonly dumpBytes: number | null;
  /** entries in the log afterwards */
  readonly logLength: number;
}

interface CompactionWaiter {
  resolve(outcome: CompactionOutcome): void;
  reject(error: Error): void;
}

interface PersistBatch {
  readonly messages: OutgoingMessage[];
  persistIndex: number;
  persistTerm: number;
}

export class RaftDriver {
  private readonly conf: SyncObjConf;
  private readonly log: Logger;
  private readonly scheduler: Scheduler;
  readonly journal: Journal;
  readonly dumpStore: DumpStore;
  private readonly codec: DumpCodec;
  private readonly observer: DriverObserver | undefined;
  private transport: Transport | null = null;
  private coreRef: RaftCore | null = null;

  private compacting = false;
  private forceCompaction = false;
  private lastDumpMs: number;
  private lastDumpPrevIndex: number | null = null;
  private newestDumpIndex = 0;
  /** the cluster of the newest stored dump (the one at newestDumpIndex) */
  private storedDumpCluster: ReadonlySet<string> | null = null;
  /** the membership may have moved: compare the stored dump's cluster with the log's */
  private dumpClusterDirty = false;
  /** the stored dump's cluster is not what the log says: write a dump that is */
  private correctDumpCluster = false;
  /** a received snapshot is being decoded, stored and loaded */
  private installing = false;
  /** compactNow() callers waiting for the next compaction to start (then for it to finish) */
  private compactionWaiters: CompactionWaiter[] = [];

  private readonly pending = new Map<number, Pending>();
  private nextRef = 1;
  private readonly waiters = new Map<number, { term: number; pending: Pending }[]>();
  private readonly recentResults: (AppliedResult | undefined)[] = new Array(RECENT_RESULTS);
  private lastAppliedIndex = 0;

  private readonly persistQueue: PersistBatch[] = [];
  /** the batches whose fsync is running (their messages go out when it completes) */
  private inflight: PersistBatch[] | null = null;
  private syncing = false;
  /** dump-store writes run one after another (a late compaction never overwrites a newer install) */
  private dumpWrites: Promise<unknown> = Promise.resolve();
  private drainScheduled = false;
  private tickTimer: TimerHandle | null = null;
  private destroyed = false;
  private fatalError: Error | null = null;
  private readonly transportNodes = new Set<string>();
  /** a leader a member named while we had none, outside our membership (maybeDiscoverLeader) */
  private discoveredLeader: string | null = null;
  private discoveryRunning = false;
  private leaderlessSinceMs: number | null = null;
  private nextDiscoveryMs = 0;
  private readonly startedAtMs: number;
  private readonly startedAtWallMs: number;
  private readonly livenessRecord: LivenessRecord;

  constructor(
    private readonly selfAddress: string | null,
    private readonly partners: readonly string[],
    conf: SyncObjConf,
    private readonly host: DriverHost,
    private readonly seams: DriverSeams,
  ) {
    this.conf = conf;
    this.log = conf.values.logger;
    this.scheduler = seams.scheduler;
    this.journal = seams.journal;
    this.dumpStore = seams.dumpStore;
    this.codec = seams.dumpCodec;
    this.observer = seams.observer;
    this.startedAtMs = this.scheduler.now();
    this.startedAtWallMs = this.scheduler.wallNow();
    this.lastDumpMs = this.startedAtMs;
    this.livenessRecord = new LivenessRecord(this.startedAtMs);
  }

  // --------------------------------------------------------------------------------------------
  // lifecycle

  get core(): RaftCore | null {
    return this.coreRef;
  }

  get now(): number {
    return this.scheduler.now();
  }

  get uptimeMs(): number {
    return this.scheduler.now() - this.startedAtMs;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /** The error that stopped this node, if any. */
  get failure(): Error | null {
    return this.fatalError;
  }

  get lastApplied(): number {
    return this.lastAppliedIndex;
  }

  /** When the loop last ticked and when each peer was last heard from (for health checks). */
  liveness(): LivenessSnapshot {
    return this.livenessRecord.snapshot(this.scheduler.now());
  }

  isConnected(node: string): boolean {
    return this.transport?.isConnected(node) ?? false;
  }

  setDnsTimeouts(cacheTimeMs: number, failCacheTimeMs: number): void {
    this.transport?.setDnsTimeouts?.(cacheTimeMs, failCacheTimeMs);
  }

  /** Load the dump and the journal, build the core, start the transport and the ticks. */
  async start(): Promise<void> {
    const dumpGz = await this.dumpStore.read();
    let dump: Dump | null = null;
    if (dumpGz !== null) {
      try {
        dump = await this.codec.decode(dumpGz);
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
    const first = entries[0];
    assert(first !== undefined, 'the journal opened with no entry');
    let lastApplied = first.index;
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
      this.host.restoreState(dump.data);
      snapshot = {
        data: dumpGz as Uint8Array,
        lastIndex: dump.lastEntry.index,
        lastTerm: dump.lastEntry.term,
      };
      this.lastDumpPrevIndex = dump.prevEntry.index;
      this.newestDumpIndex = dump.lastEntry.index;
      this.storedDumpCluster = new Set(dump.cluster);
      this.dumpClusterDirty = true; // a pysyncobj dump and a journal holding the change it includes
      this.log.info(
        { dump: this.dumpStore.description, lastIndex: dump.lastEntry.index, entries: entries.length },
        'state loaded from the dump; replaying the journal after it',
      );
    }
    const c = this.conf.values;
    const ms = (s: number) => s * 1000;
    const core = new RaftCore(
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
        maxSendBytesPerRound: this.seams.maxSendBytesPerRound ?? 16 * 1024 * 1024,
        random: this.seams.random,
        decodeMembership,
        decodeTransmittedEntry,
        unsafeTestFaults: this.seams.unsafeTestFaults,
      },
      {
        hardState: state.hardState,
        entries,
        commitIndex: Math.max(state.commitIndex, lastApplied),
        lastApplied,
        peers,
        snapshot,
        selfRemoved,
        nowMs: this.scheduler.now(),
      },
    );
    this.coreRef = core;
    this.lastAppliedIndex = lastApplied;
    this.observer?.onCoreStarted?.(core);
    this.transport = this.seams.transport(this.transportHandler());
    this.syncTransportNodes(core.votingMembers);
    this.drain();
    await this.transport.start();
    if (this.destroyed) return;
    if (c.autoTick) this.scheduleTick();
  }

  /** Stop: no more ticks or callbacks; sockets closed; journal flushed. Pending calls fail. */
  async destroy(started: Promise<void>): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.tickTimer?.cancel();
    this.tickTimer = null;
    await started.catch(() => undefined);
    for (const p of this.pending.values()) p.settle(undefined, RuntimeFailReason.Destroyed);
    this.pending.clear();
    for (const list of this.waiters.values())
      for (const w of list) w.pending.settle(undefined, RuntimeFailReason.Destroyed);
    this.waiters.clear();
    for (const w of this.compactionWaiters.splice(0)) w.reject(new Error('the node was stopped'));
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

  private failStop: ((e: Error) => void) | null = null;

  /** What to do after a fatal error (SyncObj destroys itself). */
  onFatal(stop: (e: Error) => void): void {
    this.failStop = stop;
  }

  private fail(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    if (this.fatalError) return;
    this.fatalError = err;
    this.log.error({ err }, 'raft node stopped after a fatal error');
    this.failStop?.(err);
  }

  // --------------------------------------------------------------------------------------------
  // ticks

  private scheduleTick(): void {
    if (this.destroyed) return;
    const core = this.coreRef;
    const period = this.conf.values.autoTickPeriod * 1000;
    const untilDeadline = core ? core.nextDeadline() - this.scheduler.now() : period;
    const delay = Math.max(1, Math.min(period, untilDeadline));
    this.tickTimer = this.scheduler.setTimer(delay, () => {
      // tick in the check phase, after the poll phase has read what the sockets hold: after an
      // event-loop stall the leader's heartbeats are seen before the election timer is judged
      this.scheduler.defer(() => {
        this.tickTimer = null;
        this.tick();
        this.scheduleTick();
      });
    });
  }

  tick(): void {
    const core = this.coreRef;
    if (this.destroyed || !core) return;
    try {
      core.tick(this.scheduler.now());
      this.maybeCompact();
      this.maybeDiscoverLeader(core);
      this.host.onTick();
      this.livenessRecord.ticked(this.scheduler.now());
    } catch (e) {
      this.fail(e);
      return;
    }
    this.drain();
  }

  // --------------------------------------------------------------------------------------------
  // proposals

  /** Propose raw command bytes (type byte + payload); `cb` gets the outcome once applied here. */
  submit(command: Uint8Array, cb: ResultCallback | null, started: Promise<void>): void {
    if (this.destroyed || this.fatalError) {
      cb?.(undefined, RuntimeFailReason.Destroyed);
      return;
    }
    const core = this.coreRef;
    if (!core) {
      // not started yet: retry once the journal is open
      started.then(
        () => this.submit(command, cb, started),
        () => cb?.(undefined, RuntimeFailReason.Destroyed),
      );
      return;
    }
    let ref: number | null = null;
    if (cb) {
      ref = this.nextRef++;
      this.pending.set(ref, { settle: cb });
    }
    core.propose(command, ref, this.scheduler.now());
    this.scheduleDrain();
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
      if (applied === undefined) pending.settle(undefined, RuntimeFailReason.UnknownOutcome);
      else if (applied.term !== p.term) pending.settle(undefined, FailReason.Discarded);
      else pending.settle(applied.result, applied.ok ? FailReason.Success : RuntimeFailReason.ApplyFailed);
      return;
    }
    const list = this.waiters.get(p.index) ?? [];
    list.push({ term: p.term, pending });
    this.waiters.set(p.index, list);
  }

  /**
   * Ask the core to hand leadership to `target`: why it will not (nothing changed), or null once the
   * transfer runs (its end shows as onLeaderChanged or onTransferAbandoned).
   */
  transferLeadership(target: string): TransferRefusal | null {
    const core = this.coreRef;
    if (!core || this.destroyed || this.fatalError) {
      return { code: 'not-leader', message: 'this node is not running' };
    }
    const refusal = core.transferLeadership(target, this.scheduler.now());
    this.scheduleDrain();
    return refusal;
  }

  // --------------------------------------------------------------------------------------------
  // transport events

  private transportHandler(): TransportHandler {
    return {
      onMessage: (peer, value) => {
        const core = this.coreRef;
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
        this.livenessRecord.heard(peer, this.scheduler.now());
        try {
          core.step(peer, message, this.scheduler.now());
        } catch (e) {
          this.fail(e);
          return;
        }
        this.scheduleDrain();
      },
      onPeerConnected: (peer, readonly) => {
        this.coreRef?.peerConnected(peer, readonly, this.scheduler.now());
        this.scheduleDrain();
      },
      onPeerDisconnected: (peer) => {
        this.livenessRecord.forget(peer);
        this.coreRef?.peerDisconnected(peer, this.scheduler.now());
        this.scheduleDrain();
      },
      onUtilityCommand: (command, args, reply) => this.host.onUtilityCommand(command, args, reply),
    };
  }

  /** Keep the transport's node set equal to the voting members (other than self). */
  private syncTransportNodes(members: readonly string[]): void {
    const t = this.transport;
    if (!t) return;
    const want = new Set(members.filter((m) => m !== this.selfAddress));
    // a read-only node also keeps its configured partners: a leader it does not know of yet (added
    // after the point its log reached) can only reach it through a connection it opens itself
    if (this.selfAddress === null) for (const p of this.partners) want.add(p);
    if (this.discoveredLeader !== null) want.add(this.discoveredLeader);
    for (const n of this.transportNodes) {
      if (!want.has(n)) {
        t.dropNode(n); // the transport reports no disconnect for a dropped node
        this.transportNodes.delete(n);
        this.livenessRecord.forget(n);
        this.coreRef?.peerDisconnected(n, this.scheduler.now());
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

  /**
   * Leader discovery. A node whose log ends before the entry that added the current leader does not
   * know that leader, and when the leader's address is the smaller one no connection is ever opened
   * between them (only the greater address dials; a pysyncobj leader never dials a node that did
   * not dial it, and the raftdcs dial-back needs the dialing side to know the other). The members
   * we reach keep following that leader and disregard our vote requests, so we would never catch
   * up. After two maximum election timeouts without a leader, we ask the members we are connected
   * to (a `status` utility command, which pysyncobj and raftdcs nodes answer alike) whom they
   * follow, and keep a connection to a named leader outside our membership until we follow another
   * node. Once connected it leads us like any leader of a current term (the core answers a stale
   * one with a vote request, so it learns our term). Chaos seed 12013.
   */
  private maybeDiscoverLeader(core: RaftCore): void {
    const t = this.transport;
    if (t?.askLeader === undefined || this.selfAddress === null) return;
    const now = this.scheduler.now();
    const leader = core.leader;
    if (leader !== null) {
      this.leaderlessSinceMs = null;
      const discovered = this.discoveredLeader;
      if (discovered !== null && (leader !== discovered || core.votingMembers.includes(discovered))) {
        this.discoveredLeader = null;
        this.syncTransportNodes(core.votingMembers);
      }
      return;
    }
    const waitMs = Math.max(1000, 2000 * this.conf.values.raftMaxTimeout);
    if (this.leaderlessSinceMs === null) this.leaderlessSinceMs = now;
    if (this.discoveryRunning || now - this.leaderlessSinceMs < waitMs || now < this.nextDiscoveryMs) return;
    const ask = [...this.transportNodes].filter((n) => n !== this.discoveredLeader && t.isConnected(n));
    if (ask.length === 0) return;
    this.discoveryRunning = true;
    this.nextDiscoveryMs = now + waitMs;
    void Promise.allSettled(ask.map((n) => t.askLeader?.(n, waitMs) ?? null)).then((answers) => {
      this.discoveryRunning = false;
      if (this.destroyed || this.coreRef !== core || core.leader !== null) return;
      const members = core.votingMembers;
      const named = answers.flatMap((a) => (a.status === 'fulfilled' && a.value ? [a.value] : []));
      const found = named.find((n) => n !== this.selfAddress && !members.includes(n));
      if (found === undefined || found === this.discoveredLeader) return;
      this.log.info(
        { leader: found, asked: ask },
        'no leader for a while; a member follows a node our log does not list yet: connecting to it',
      );
      this.discoveredLeader = found;
      this.syncTransportNodes(members);
    });
  }

  // --------------------------------------------------------------------------------------------
  // the drain loop: persist, send, apply

  scheduleDrain(): void {
    if (this.drainScheduled || this.destroyed) return;
    this.drainScheduled = true;
    this.scheduler.defer(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  drain(): void {
    const core = this.coreRef;
    if (!core || this.destroyed) return;
    for (let guard = 0; guard < 10_000; guard++) {
      let out: CoreOutput | null;
      try {
        out = core.takeOutput();
      } catch (e) {
        this.fail(e);
        return;
      }
      if (out === null) {
        this.checkDumpCluster();
        return;
      }
      this.observer?.onOutput?.(core, out);
      try {
        this.handleOutput(out);
      } catch (e) {
        // a broken invariant stops the node; a journal write error goes on to the event loop
        if (!(e instanceof InvariantError)) throw e;
        this.fail(e);
        return;
      }
      if (this.destroyed) return;
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
    const last = out.entries.at(-1);
    if (last !== undefined) {
      j.append(out.entries);
      wrote = true;
      persistIndex = last.index;
      persistTerm = last.term;
      // a membership entry changes what the log says about the stored dump's index even when
      // appending it changed nothing (the dump already included it): no event for that one
      if (out.entries.some((e) => e.command[0] === CommandType.Membership)) this.dumpClusterDirty = true;
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
    for (const e of out.apply) {
      assert(e.index <= out.commitIndex, () => `entry ${e.index} applied beyond commit ${out.commitIndex}`);
      this.applyEntry(e);
      if (this.destroyed) return;
    }
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
    if (index > 0) this.coreRef?.onPersisted(index, term, this.scheduler.now());
  }

  private sendAll(messages: readonly OutgoingMessage[]): void {
    const t = this.transport;
    if (!t || messages.length === 0) return;
    // the same append_entries usually goes to every follower: pickle it once
    let shared: Map<string, Uint8Array> | null = null;
    for (const { to, message } of messages) {
      if (!t.isConnected(to)) continue;
      // a pysyncobj node that takes us for a read-only peer (it does not know us yet) would adopt the
      // term of a vote request from anyone: a removed node could disrupt it that way
      if (message.type === 'request_vote' && t.isReadonlyLink?.(to)) continue;
      const key = sharedKey(message);
      let pickle = key === null ? undefined : shared?.get(key);
      if (pickle === undefined) {
        // bytes as BINBYTES: loaded by every Python 3 pysyncobj, and much cheaper than the
        // protocol-2 `_codecs.encode` form on both sides (docs/protocol.md §5.4)
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
    assert(
      e.index === this.lastAppliedIndex + 1,
      () => `entry ${e.index} applied after ${this.lastAppliedIndex} (entries apply in order, once)`,
    );
    let result: PyValue | undefined;
    let ok = true;
    try {
      result = this.host.applyEntry(e);
    } catch (err) {
      ok = false;
      this.log.error({ index: e.index, term: e.term, err }, 'applying a committed entry failed');
      if (err instanceof FatalApplyError) {
        this.fail(err);
        return;
      }
    }
    this.lastAppliedIndex = e.index;
    this.observer?.onApplied?.(e);
    this.recentResults[e.index % RECENT_RESULTS] = { index: e.index, term: e.term, ok, result };
    const ws = this.waiters.get(e.index);
    if (ws) {
      this.waiters.delete(e.index);
      for (const w of ws) {
        if (w.term !== e.term) w.pending.settle(undefined, FailReason.Discarded);
        else if (ok) w.pending.settle(result, FailReason.Success);
        else w.pending.settle(undefined, RuntimeFailReason.ApplyFailed);
      }
    }
  }

  private onCoreEvent(ev: CoreOutput['events'][number]): void {
    switch (ev.type) {
      case 'stateChanged':
        this.log.info({ from: ev.from, to: ev.to, term: ev.term }, 'raft state changed');
        this.host.onStateChanged(ev.from, ev.to);
        return;
      case 'leaderChanged':
        this.log.info({ leader: ev.leader, term: ev.term }, 'raft leader changed');
        this.host.onLeaderChanged(ev.leader);
        return;
      case 'transferAbandoned':
        this.log.warn({ target: ev.target }, ev.reason);
        this.host.onTransferAbandoned(ev.target, ev.reason);
        return;
      case 'membershipChanged':
        this.log.info({ change: ev.change, members: ev.members }, 'cluster membership changed');
        this.syncTransportNodes(ev.members);
        this.dumpClusterDirty = true;
        return;
      case 'membershipReset':
        this.syncTransportNodes(ev.members);
        this.dumpClusterDirty = true;
        return;
      case 'ready':
        this.host.onReady();
        return;
      case 'snapshotReceived':
        this.onSnapshotReceived(ev.data);
        return;
      case 'anomaly':
        this.log.warn({ detail: ev.message }, 'raft anomaly');
        return;
    }
  }

  // --------------------------------------------------------------------------------------------
  // dumps: log compaction, snapshot install

  /** Keep the journal from the dump's prev entry on when it holds the dump's pair, else reset it. */
  private alignJournalWithDump(entries: readonly LogEntry[], dump: Dump): readonly LogEntry[] {
    const head = entries[0];
    assert(head !== undefined, 'the journal opened with no entry');
    const first = head.index;
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

  /**
   * Compact now, for an operator (the `compact` utility command): a dump at the applied index is
   * written and the log cut at it, as a due compaction does — without waiting for this node's
   * logCompactionSplit slot. Resolves once the dump is stored and the log cut (or at once when the
   * stored dump is at the applied index already); waits for a compaction or snapshot install in
   * progress to end first.
   */
  compactNow(): Promise<CompactionOutcome> {
    if (this.destroyed || this.fatalError || !this.coreRef) {
      return Promise.reject(new Error('the node is not running'));
    }
    return new Promise<CompactionOutcome>((resolve, reject) => {
      this.compactionWaiters.push({ resolve, reject });
      this.forceCompaction = true;
      this.maybeCompact();
    });
  }

  /**
   * The dump of the state machine at the applied index, taken now — what a compaction at this
   * instant would write: the state, the applied entry and the one before it, the membership as of
   * the applied entry. Consistent: it is taken in one synchronous step on the event loop (nothing
   * is applied meanwhile), and serializeState gives a value later applies do not change. Throws
   * when the node is not running or has applied nothing after its log's first entry.
   */
  dumpNow(): Dump {
    const core = this.coreRef;
    if (this.destroyed || this.fatalError || !core) throw new Error('the node is not running');
    const last = core.entryAt(this.lastAppliedIndex);
    const prev = core.entryAt(this.lastAppliedIndex - 1);
    if (!last || !prev) {
      throw new Error(
        `nothing to dump: no entry applied after the log's first one (applied index ${this.lastAppliedIndex})`,
      );
    }
    return this.dumpAt(core, last, prev);
  }

  /** A dump encoded as dumps are stored and sent (gzip of the pickle; off the main thread). */
  encodeDump(dump: Dump): Promise<Uint8Array> {
    return this.codec.encode(dump);
  }

  private dumpAt(core: RaftCore, last: LogEntry, prev: LogEntry): Dump {
    return {
      data: this.host.serializeState(),
      lastEntry: last,
      prevEntry: prev,
      cluster: core.membersAt(last.index),
    };
  }

  private maybeCompact(): void {
    const core = this.coreRef;
    if (!core || this.compacting || this.installing) return;
    const c = this.conf.values;
    const now = this.scheduler.now();
    const st = core.status();
    const correcting = this.correctDumpCluster;
    const due =
      st.logLength > c.logCompactionMinEntries ||
      now - this.lastDumpMs > c.logCompactionMinTime * 1000 ||
      this.forceCompaction ||
      correcting;
    if (!due) return;
    // under a heavy write load pysyncobj would dump back to back (in forked children); we dump at
    // most once a second unless the log grows far beyond the threshold (memory stays bounded)
    if (
      !this.forceCompaction &&
      now - this.lastDumpMs < 1000 &&
      st.logLength <= 10 * c.logCompactionMinEntries
    )
      return;
    // an operator's request (compactNow) does not wait for this node's slot
    const requested = this.compactionWaiters.length > 0;
    if (c.logCompactionSplit && !correcting && !requested && !this.inOwnCompactionSlot(now, st.members))
      return;
    // what the state machine holds (the core may have handed out entries not applied yet)
    const lastIndex = this.lastAppliedIndex;
    const last = core.entryAt(lastIndex);
    const prev = core.entryAt(lastIndex - 1);
    // a correction may rewrite the dump at the same index (nothing was applied since it)
    if (!last || !prev || (prev.index === this.lastDumpPrevIndex && !correcting)) {
      this.lastDumpMs = now;
      if (requested) this.settleUnstartedCompaction(core, last, prev);
      return;
    }
    this.forceCompaction = false;
    const waiters = this.compactionWaiters.splice(0);
    const dump = this.dumpAt(core, last, prev);
    this.compacting = true;
    const t0 = now;
    const write = this.codec.encode(dump).then(async (gz) => {
      if (!(await this.storeDump(last.index, gz, dump.cluster, correcting)))
        throw new Error('superseded by a newer dump');
      return gz;
    });
    write.then(
      (gz) => {
        this.compacting = false;
        if (this.destroyed || this.coreRef !== core) {
          for (const w of waiters) w.reject(new Error('the node was stopped'));
          return;
        }
        // (unless a snapshot install replaced the log meanwhile)
        if (core.status().firstIndex <= prev.index) {
          core.compact({ data: gz, lastIndex: last.index, lastTerm: last.term }, this.scheduler.now());
          if (prev.index !== this.lastDumpPrevIndex) this.journal.compact(prev.index);
          this.lastDumpPrevIndex = prev.index;
          this.lastDumpMs = this.scheduler.now();
          this.log.info(
            { lastIndex: last.index, bytes: gz.length, ms: Math.round(this.scheduler.now() - t0) },
            'log compacted after a dump',
          );
        }
        const outcome: CompactionOutcome = {
          lastIndex: last.index,
          lastTerm: last.term,
          dumpBytes: gz.length,
          logLength: core.status().logLength,
        };
        for (const w of waiters) w.resolve(outcome);
        this.checkDumpCluster(); // the membership may have moved while the dump was written
      },
      (e: unknown) => {
        this.compacting = false;
        this.lastDumpMs = this.scheduler.now();
        this.log.warn({ err: e, dump: this.dumpStore.description }, 'failed to store a full dump');
        const err = e instanceof Error ? e : new Error(String(e));
        for (const w of waiters) w.reject(new Error(`the dump could not be stored: ${err.message}`));
      },
    );
  }

  /** compactNow() callers, when there is nothing to compact: the stored dump is at the applied index, or nothing was applied. */
  private settleUnstartedCompaction(
    core: RaftCore,
    last: LogEntry | undefined,
    prev: LogEntry | undefined,
  ): void {
    const waiters = this.compactionWaiters.splice(0);
    if (!last || !prev) {
      const e = new Error(
        `nothing to compact: no entry applied after the log's first one (applied index ${this.lastAppliedIndex})`,
      );
      for (const w of waiters) w.reject(e);
      return;
    }
    const outcome: CompactionOutcome = {
      lastIndex: last.index,
      lastTerm: last.term,
      dumpBytes: null,
      logLength: core.status().logLength,
    };
    for (const w of waiters) w.resolve(outcome);
  }

  /**
   * Keep the stored dump's cluster equal to what the log says about the membership at the dump's
   * index (`membersAt`). Our own dumps are written that way; a pysyncobj node's dump holds its
   * membership at the moment it was written, which includes a change appended after the dump's
   * last entry and not committed yet (e.g. a dump at 3 whose cluster has the node that entry 4
   * adds). Loaded on a restart, or sent on to a follower, such a dump would bring the
   * change back after its entry was truncated from the log. So once the log shows it — a kept-log
   * install, the entry reaching the log, a journal that holds it — a dump with the log's
   * membership replaces the stored one (at the same index when nothing was applied since).
   */
  private checkDumpCluster(): void {
    if (!this.dumpClusterDirty) return;
    const core = this.coreRef;
    if (!core || this.destroyed) return;
    if (this.compacting || this.installing) return; // checked again when those end
    this.dumpClusterDirty = false;
    const stored = this.storedDumpCluster;
    if (!this.conf.values.dynamicMembershipChange || stored === null) return;
    if (core.entryAt(this.newestDumpIndex) === undefined) return; // the log moved past it
    const want = core.membersAt(this.newestDumpIndex);
    const differs = want.length !== stored.size || want.some((n) => !stored.has(n));
    if (!differs) {
      this.correctDumpCluster = false;
      return;
    }
    if (!this.correctDumpCluster) {
      this.log.warn(
        { lastIndex: this.newestDumpIndex, dump: [...stored], log: want },
        "the stored dump's cluster is not the log's membership at its index (a pysyncobj dump " +
          'that includes a membership change not committed when it was written): writing a new dump',
      );
      this.correctDumpCluster = true;
      this.forceCompaction = true;
    }
    this.maybeCompact();
  }

  /** logCompactionSplit: each node dumps only in its own slot of the logCompactionMinTime period. */
  private inOwnCompactionSlot(nowMs: number, members: readonly string[]): boolean {
    if (this.selfAddress === null) return true;
    const ids = [...members, this.selfAddress].sort(pyStrCompare); // Python's sorted(): code-point order
    const interval = this.conf.values.logCompactionMinTime;
    const t = (this.startedAtWallMs + nowMs - this.startedAtMs) / 1000;
    const periodStart = Math.floor(t / interval) * interval;
    const nodeInterval = interval / ids.length;
    const start = periodStart + ids.indexOf(this.selfAddress) * nodeInterval;
    return t >= start && t < start + 0.3 * nodeInterval;
  }

  /**
   * Store a dump durably, one store write at a time and newest wins: a dump older than one stored
   * already (a slow local compaction finishing after a snapshot install) is not written.
   */
  private storeDump(
    lastIndex: number,
    gz: Uint8Array,
    cluster: readonly string[],
    replaceSameIndex = false,
  ): Promise<boolean> {
    const write = this.dumpWrites.then(async () => {
      if (lastIndex < this.newestDumpIndex || (lastIndex === this.newestDumpIndex && !replaceSameIndex))
        return false;
      await this.dumpStore.writeGz(gz);
      this.newestDumpIndex = lastIndex;
      this.storedDumpCluster = new Set(cluster);
      this.dumpClusterDirty = true;
      if (replaceSameIndex) this.correctDumpCluster = false;
      return true;
    });
    this.dumpWrites = write.catch(() => undefined);
    return write;
  }

  /** A full dump arrived from the leader: store it durably, load it, then let the core go on. */
  private onSnapshotReceived(data: Uint8Array): void {
    const core = this.coreRef;
    if (!core) return;
    this.installing = true;
    const failed = (why: string, err?: unknown) => {
      this.installing = false;
      this.log.warn({ err, why }, 'snapshot from the leader not installed');
      if (!this.destroyed) {
        core.snapshotInstallFailed(this.scheduler.now());
        this.scheduleDrain();
      }
    };
    this.codec.decode(data).then(
      async (dump) => {
        if (dump.lastEntry.index <= core.status().lastApplied) return failed('already applied');
        try {
          if (!(await this.storeDump(dump.lastEntry.index, data, dump.cluster)))
            return failed('a newer dump is stored already');
        } catch (e) {
          return failed('cannot store the dump', e);
        }
        if (this.destroyed || this.coreRef !== core) return;
        if (!this.seams.unsafeTestFaults?.acceptSnapshotDuringInstall) {
          // apply what the core handed out meanwhile (a deferred drain may be pending): the state
          // machine must be at the core's lastApplied before it is compared with the dump
          this.drain();
          if (this.destroyed) return;
          if (dump.lastEntry.index <= core.status().lastApplied) return failed('already applied');
        }
        if (dump.lastEntry.index <= this.lastAppliedIndex) return failed('already applied');
        // from here on synchronous: state, journal and core switch together
        this.host.restoreState(dump.data);
        const logGoesOn =
          core.holdsEntry(dump.lastEntry.index, dump.lastEntry.term) &&
          core.holdsEntry(dump.prevEntry.index, dump.prevEntry.term);
        if (logGoesOn)
          this.journal.compact(dump.prevEntry.index); // keep the entries after the dump
        else this.journal.reset([dump.prevEntry, dump.lastEntry]);
        this.persistQueue.push({ messages: [], persistIndex: 0, persistTerm: 0 }); // acks wait for the journal
        const installed = core.installSnapshot(
          {
            lastEntry: dump.lastEntry,
            prevEntry: dump.prevEntry,
            cluster: this.conf.values.dynamicMembershipChange
              ? dump.cluster
              : [...core.votingMembers, this.selfAddress ?? ''],
            data,
          },
          this.scheduler.now(),
        );
        if (installed === 'ignored' && !this.seams.unsafeTestFaults?.acceptSnapshotDuringInstall) {
          // unreachable: the state was restored for a dump the core did not take
          this.fail(
            new RaftInvariantError(
              `the core refused a snapshot at ${dump.lastEntry.index} after its state was loaded`,
            ),
          );
          return;
        }
        this.flushPersistQueue();
        this.lastAppliedIndex = dump.lastEntry.index;
        this.lastDumpPrevIndex = dump.prevEntry.index;
        this.installing = false;
        this.observer?.onSnapshotInstalled?.(dump.lastEntry);
        for (const [index, list] of [...this.waiters]) {
          if (index > dump.lastEntry.index) continue;
          this.waiters.delete(index);
          for (const w of list) w.pending.settle(undefined, RuntimeFailReason.UnknownOutcome);
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
}

/** A key identifying an append_entries by content (entries are identified by index and term). */
function sharedKey(m: OutgoingMessage['message']): string | null {
  if (m.type !== 'append_entries') return null;
  const first = m.entries[0];
  const last = m.entries.at(-1);
  const span = first && last ? `${first.index}/${first.term}-${last.index}/${last.term}` : '';
  return `${m.term}:${m.commitIndex}:${m.prevLogIdx}:${m.prevLogTerm}:${span}`;
}
