/**
 * The deterministic simulator's world: N real SyncObj nodes (the production runtime — RaftDriver
 * and RaftCore — with nothing re-implemented here) on a virtual clock, each given simulated seams
 * (seams.ts: scheduler, journal on a SimDisk that loses unsynced writes in a crash, dump store,
 * dump codec) and a simulated transport (network.ts: connections with set-up time, delays, drops,
 * duplicates, reordering, partitions). Faults — partitions, one-way blocks, crashes between any two
 * events, restarts, membership changes — are injected during a chaos phase, and an operator asks
 * the leader now and then to hand leadership to a random member (`transfersEveryMs`); then the
 * network heals and the cluster must converge. The Raft SafetyChecker runs after every event.
 *
 * Asynchronous completions are promises settled by events; after each event the microtask queue
 * is drained (a `setImmediate` turn) before the next one runs, so every seed replays exactly.
 *
 * What runs on each node and what clients do is a mode (`SimMode`): the toy mode (simulator.ts)
 * and the KV mode (kv-simulator.ts).
 */

import { gunzipSync } from 'node:zlib';
import { type Logger, silentLogger } from '../../src/logger.js';
import { decodeTransmittedEntry } from '../../src/raft/commands.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import type { RaftCore } from '../../src/raft/core/core.js';
import type { UnsafeTestFaults } from '../../src/raft/core/options.js';
import { type LogEntry, NO_OP_COMMAND, type NodeId, RaftState } from '../../src/raft/core/types.js';
import { messageFromPy, messageToPy } from '../../src/raft/messages.js';
import { decodeDumpPickle } from '../../src/raft/snapshot/dump.js';
import type { SyncObj, SyncObjDeps } from '../../src/raft/syncobj.js';
import { encodePickle } from '../../src/wire/pickle/index.js';
import type { PyValue } from '../../src/wire/value.js';
import { type CheckedCluster, SafetyChecker, SimViolation } from './checker.js';
import { SimDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { type NetworkProfile, SimNetwork, type SimTransport } from './network.js';
import { PysyncobjFollower } from './pysyncobj-follower.js';
import { Rng } from './rng.js';
import {
  type SimClock,
  SimDumpCodec,
  SimDumpFile,
  SimDumpStore,
  SimJournal,
  type SimLatencies,
  SimScheduler,
} from './seams.js';

export interface SimProfile extends NetworkProfile, SimLatencies {
  readonly name: string;
  readonly voters: number;
  readonly readonlyNodes: number;
  /** virtual duration of the fault phase */
  readonly chaosMs: number;
  /** max virtual time to converge after healing */
  readonly healMs: number;
  /** the nodes' autoTickPeriod */
  readonly tickMs: number;
  /** mean time between fault events during chaos */
  readonly faultEveryMs: number;
  readonly partitions: boolean;
  readonly oneWayPartitions: boolean;
  readonly crashes: boolean;
  /** a crash keeps a random prefix of unsynced writes */
  readonly tornWrites: boolean;
  readonly proposalsPerSecond: number;
  readonly membershipChanges: boolean;
  /** dump and compact once this many entries are in the log (0: never) */
  readonly compactAfterEntries: number;
  readonly electionMinMs: number;
  readonly electionMaxMs: number;
  readonly heartbeatMs: number;
  readonly leaderFallbackMs: number;
  /** processes are stopped (SIGSTOP) for a while and resumed */
  readonly pauses: boolean;
  /** how many of the voters are modelled pysyncobj 0.3.11 followers (pysyncobj-follower.ts) */
  readonly pysyncobjFollowers: number;
  /** appendEntriesBatchSizeBytes (else the mode's): 1 sends one entry per append_entries */
  readonly appendBatchBytes?: number;
  /**
   * up to how long the rest of an event-loop iteration lasts (ms): what a node defers
   * (setImmediate) runs after the I/O that arrives meanwhile (0 or absent: right after the event)
   */
  readonly loopRestMaxMs?: number;
  /**
   * leaders rewind a follower to whatever a reset answer asks, stale or not, as pysyncobj leaders
   * do (UnsafeTestFaults.rewindOnEveryReset): snapshots reach followers holding more than them,
   * and new transfers reach followers still installing the last one. Not with pysyncobj followers.
   */
  readonly pysyncobjLikeLeaders?: boolean;
  /**
   * the chance that an isolation, crash or pause strikes the current leader rather than a random
   * node (a nemesis aimed at leaders): leader changes while followers hold its uncommitted entries
   * or are still installing its snapshot (0 or absent: victims are drawn at random)
   */
  readonly leaderVictimRate?: number;
  /**
   * mean time between leadership transfers an operator asks the leader for during chaos, to a
   * random voting member or the leader itself (0 or absent: none). Drawn from a stream of its own.
   */
  readonly transfersEveryMs?: number;
}

export const BASE_PROFILE: SimProfile = {
  name: 'base',
  voters: 3,
  readonlyNodes: 0,
  chaosMs: 12_000,
  healMs: 30_000,
  tickMs: 50,
  minDelayMs: 1,
  maxDelayMs: 20,
  fifo: false,
  dropRate: 0.05,
  dupRate: 0.02,
  connectMinMs: 1,
  connectMaxMs: 30,
  connectionTimeoutMs: 3500,
  faultEveryMs: 1500,
  partitions: true,
  oneWayPartitions: true,
  crashes: true,
  fsyncMinMs: 0,
  fsyncMaxMs: 0,
  dumpWriteMaxMs: 5,
  codecMaxMs: 5,
  tornWrites: false,
  proposalsPerSecond: 40,
  membershipChanges: false,
  compactAfterEntries: 0,
  electionMinMs: 400,
  electionMaxMs: 1400,
  heartbeatMs: 100,
  leaderFallbackMs: 3000,
  pauses: false,
  pysyncobjFollowers: 0,
};

/** A node's log as the cross-node checks read it. */
interface LogView {
  readonly term: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  termAt(index: number): number | undefined;
}

/** Every node address the simulator uses: `n1:1`, `n2:1`, … (read-only nodes have none). */
export function simAddress(i: number): NodeId {
  return `n${i}:1`;
}

/** One simulated process: its disk and dump outlive its lives; `obj` and `core` are the live ones. */
export class SimNode<N extends SyncObj> {
  obj: N | null = null;
  /** a modelled Python pysyncobj follower instead of a raftdcs node (never crashed: it persists no vote) */
  py: PysyncobjFollower | null = null;
  core: RaftCore | null = null;
  transport: SimTransport | null = null;
  incarnation = 0;
  life = { alive: false, pausedUntil: 0 };
  readonly disk = new SimDisk();
  readonly dumpFile = new SimDumpFile();
  /** the last log index applied to the state machine in this life (a loaded dump's at first) */
  appliedIndex = 0;
  constructor(
    /** the self address, or the transport id of a read-only node */
    readonly id: NodeId,
    readonly voter: boolean,
    /** this node's wall clock minus virtual time, ms */
    readonly wallOffsetMs: number,
    readonly kind: 'raftdcs' | 'pysyncobj' = 'raftdcs',
  ) {}
  get alive(): boolean {
    return this.life.alive;
  }
}

/** The node options a mode shapes (entry sizes differ between modes). */
export interface ModeTuning {
  readonly appendEntriesBatchSizeBytes: number;
  readonly snapshotChunkBytes: number;
  readonly maxSendBytesPerRound: number;
  readonly unsafeTestFaults?: UnsafeTestFaults;
}

/**
 * A simulation mode: what runs on each node (a SyncObj subclass `N`) and what the clients do. The
 * cluster calls these; a mode drives its clients through the cluster's `at`, `nodes`, `now`,
 * `healed` and `rng`.
 */
export interface SimMode<N extends SyncObj> {
  /** appended to the profile name in violations and replay lines ('' or ' --kv') */
  readonly label: string;
  readonly tuning: ModeTuning;
  /** the network may duplicate this message (forwarded submissions may be spared) */
  mayDuplicate(message: PyValue): boolean;
  /** membership changes (profile.membershipChanges) are also proposed by the leader as a fault */
  readonly membershipFaults: boolean;

  /** Called once, from the cluster's constructor. */
  attach(cluster: Cluster<N>): void;
  /** A node life's object: the mode's SyncObj subclass built with these arguments. */
  create(
    n: SimNode<N>,
    selfAddress: string | null,
    partners: readonly string[],
    conf: SyncObjConfOptions,
    deps: SyncObjDeps,
  ): N;
  /** Schedule the clients (once, when the run begins). */
  startClients(): void;
  /** Whatever else the converged cluster must satisfy (the leader is given). */
  converged(leader: SimNode<N>): boolean;
  /** Extra lines for the liveness report. */
  livenessDetail(): string[];

  /** after an entry was applied on `n` (and checked) */
  onApplied?(n: SimNode<N>, e: LogEntry): void;
  /** after a received snapshot was loaded on `n` */
  onSnapshotInstalled?(n: SimNode<N>, lastEntry: LogEntry): void;
  /** a modelled pysyncobj follower loaded a dump (its state `data` at `lastEntry`) */
  onPythonSnapshot?(n: SimNode<N>, data: PyValue, lastEntry: LogEntry): void;
  /** `n` crashed: its callers' calls end with an unknown outcome */
  onCrash?(n: SimNode<N>): void;
  /** after every event (the Raft checks ran) */
  afterStep?(): void;
}

/** SIM_DEBUG=1: every node's log lines on stderr, with virtual time (for replaying a seed). */
function debugLogger(clock: { now: number }, id: string): Logger {
  const line = (level: string) => (obj: object, msg?: string) =>
    console.error(
      `${clock.now.toFixed(1)} ${id} ${level} ${msg ?? ''} ${JSON.stringify(obj, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v))}`,
    );
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

/**
 * Let every pending promise continuation run. Called from a promise continuation (the loop is
 * async), a `process.nextTick` callback runs only once Node has drained the whole microtask queue,
 * so this waits for exactly that — without the cost of an event-loop turn (`setImmediate`).
 */
async function drainMicrotasks(): Promise<void> {
  await null;
  await new Promise<void>((resolve) => process.nextTick(resolve));
}

export class Cluster<N extends SyncObj> implements CheckedCluster, SimClock {
  readonly rng: Rng;
  private readonly faultRng: Rng;
  /** the operator's transfers: a stream of its own, so profiles without them replay as before */
  private readonly transferRng: Rng;
  transfersRequested = 0;
  transfersCompleted = 0;
  private readonly queue = new EventQueue();
  readonly net: SimNetwork;
  now = 0;
  steps = 0;
  crashes = 0;
  pauses = 0;
  healed = false;
  readonly nodes: SimNode<N>[] = [];
  private readonly byId = new Map<NodeId, SimNode<N>>();
  readonly checker = new SafetyChecker();
  /** violations and replay lines name the profile and the mode */
  readonly label: string;
  private readonly votersInitial: NodeId[] = [];
  private readonly spareVoters: NodeId[] = [];
  private violation: SimViolation | null = null;

  constructor(
    readonly seed: number,
    readonly profile: SimProfile,
    private readonly mode: SimMode<N>,
  ) {
    this.rng = new Rng(seed);
    const netRng = this.rng.fork();
    this.faultRng = this.rng.fork();
    this.transferRng = new Rng(seed ^ 0x7a4f3e21);
    this.label = `${profile.name}${mode.label}`;
    this.net = new SimNetwork(this, netRng, profile, (m) => mode.mayDuplicate(m));
    mode.attach(this);
    for (let i = 1; i <= profile.voters; i++) this.votersInitial.push(simAddress(i));
    const pythonFrom = profile.voters - profile.pysyncobjFollowers + 1;
    for (const [i, id] of this.votersInitial.entries()) {
      this.addNode(id, true, i + 1 >= pythonFrom ? 'pysyncobj' : 'raftdcs');
    }
    for (let i = 1; i <= profile.readonlyNodes; i++) this.addNode(`ro${i}`, false);
    // a spare voter that membership changes add and remove while the cluster runs
    if (profile.membershipChanges) this.spareVoters.push(simAddress(profile.voters + 1));
  }

  private addNode(id: NodeId, voter: boolean, kind: 'raftdcs' | 'pysyncobj' = 'raftdcs'): SimNode<N> {
    const n = new SimNode<N>(id, voter, 1_700_000_000_000 + this.rng.range(-50, 50), kind);
    this.nodes.push(n);
    this.byId.set(id, n);
    return n;
  }

  node(id: NodeId): SimNode<N> | undefined {
    return this.byId.get(id);
  }

  fail(property: string, detail: string): never {
    throw new SimViolation(this.seed, this.label, this.now, property, detail);
  }

  /** The rest of a node's event-loop iteration (SimProfile.loopRestMaxMs): often none. */
  private loopRest(): number {
    const max = this.profile.loopRestMaxMs ?? 0;
    if (max <= 0 || this.rng.chance(0.5)) return 0;
    return this.rng.range(0, max);
  }

  /** Run `fn` at virtual time `at`. */
  at(at: number, fn: () => void): void {
    this.queue.push(at, fn);
  }

  // --------------------------------------------------------------------------------------------

  /** Chaos, heal, converge; rejects with a SimViolation on any violated property or no convergence. */
  async run(): Promise<void> {
    for (const n of this.nodes) this.start(n, this.votersInitial);
    this.mode.startClients();
    this.scheduleFault();
    this.scheduleTransfer();
    await this.runUntil(this.profile.chaosMs);
    this.heal();
    const deadline = this.now + this.profile.healMs;
    while (this.now < deadline) {
      await this.runUntil(Math.min(deadline, this.now + 500));
      if (this.converged()) break;
    }
    if (!this.converged()) this.fail('liveness', this.livenessReport());
    this.finalMaxTerm = this.maxTerm;
    for (const n of this.nodes) this.stop(n);
  }

  private async runUntil(until: number): Promise<void> {
    await drainMicrotasks();
    this.throwViolation();
    for (;;) {
      const ev = this.queue.pop();
      if (ev === undefined) return;
      if (ev.at > until) {
        this.queue.push(ev.at, ev.run);
        this.now = until;
        return;
      }
      this.now = ev.at;
      this.steps++;
      ev.run();
      // the continuations of promises this event settled run before the next event
      await drainMicrotasks();
      this.throwViolation();
      this.checker.afterStep(this, this.now);
      this.checkMatchIndexes();
      this.checkCommittedSafety();
      this.mode.afterStep?.();
    }
  }

  /** What the cross-node checks read of a node's log: a raftdcs node's core or a modelled pysyncobj follower. */
  private logView(n: SimNode<N>): LogView | undefined {
    if (n.py) return n.py;
    const core = n.core;
    if (!core || !n.alive) return undefined;
    const b = core.brief();
    return {
      term: b.term,
      firstIndex: b.firstIndex,
      lastIndex: b.lastIndex,
      lastTerm: b.lastTerm,
      termAt: (i: number) => core.entryAt(i)?.term,
    };
  }

  /**
   * A leader counts a follower only for entries the follower holds from it: while the follower is
   * not in a later term than the leader's, the leader's matchIndex for it never goes beyond its log
   * and agrees with it there. An acknowledgement that claims more (a kept-log install acknowledging
   * an old leader's entries to a new one; a modelled pysyncobj follower that deleted what it had
   * acknowledged) lets the leader commit what no majority holds. Checked after every step.
   */
  private checkMatchIndexes(): void {
    for (const l of this.nodes) {
      const core = l.core;
      if (!core || !l.alive || core.role !== RaftState.Leader) continue;
      const term = core.currentTerm;
      for (const n of this.nodes) {
        if (n === l) continue;
        const f = this.logView(n);
        if (!f || f.term > term) continue;
        const match = core.matchIndexOf(n.id);
        if (match === 0) continue;
        const leaderTerm = core.entryAt(match)?.term;
        if (
          match > f.lastIndex ||
          match > core.brief().lastIndex ||
          (match >= f.firstIndex && leaderTerm !== undefined && f.termAt(match) !== leaderTerm)
        ) {
          this.fail(
            'acknowledged entries held',
            `${l.id} (term ${term}) counts ${n.id} for ${match} (term ${leaderTerm}); it holds ${f.firstIndex}..${f.lastIndex} (term ${f.termAt(match)} at ${match})`,
          );
        }
      }
    }
  }

  /**
   * Committed entries are safe at every moment, not only once a node is lost: no live voter that
   * lacks the newest committed entry could win an election now — the voters whose logs its own is
   * at least as up-to-date as (itself included; a crashed voter counted as refusing) are not a
   * majority. Committing an entry of an earlier term by counting replicas (Raft's Figure 8) breaks
   * this the moment it happens. Skipped in profiles with membership changes (configurations differ
   * while a change is under way).
   */
  private checkCommittedSafety(): void {
    const index = this.checker.maxCommittedIndex;
    if (index === 0 || this.profile.membershipChanges) return;
    const term = this.checker.maxCommittedTerm;
    const views: { id: NodeId; v: LogView; runs: boolean }[] = [];
    for (const n of this.nodes) {
      if (!n.voter) continue;
      const v = this.logView(n);
      if (v) views.push({ id: n.id, v, runs: n.py === null });
    }
    for (const c of views) {
      if (!c.runs || c.v.firstIndex > index || c.v.termAt(index) === term) continue;
      let votes = 0;
      for (const w of views) {
        if (c.v.lastTerm > w.v.lastTerm || (c.v.lastTerm === w.v.lastTerm && c.v.lastIndex >= w.v.lastIndex))
          votes++;
      }
      if (votes > this.votersInitial.length / 2) {
        this.fail(
          'committed entries safe',
          `${c.id} (last ${c.v.lastIndex} of term ${c.v.lastTerm}) lacks committed entry ${index} (term ${term}) yet ${votes} of ${this.votersInitial.length} voters would elect it: ${views.map((w) => `${w.id} last ${w.v.lastIndex}/t${w.v.lastTerm}`).join(', ')}`,
        );
      }
    }
  }

  /** A violation found inside a node's callback (which the runtime may catch) is rethrown here. */
  private throwViolation(): void {
    if (this.violation) throw this.violation;
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof SimViolation) {
        this.violation ??= e;
        return;
      }
      throw e;
    }
  }

  // --------------------------------------------------------------------------------------------
  // nodes

  private confFor(n: SimNode<N>): SyncObjConfOptions {
    const p = this.profile;
    const t = this.mode.tuning;
    return {
      autoTick: true,
      autoTickPeriod: p.tickMs / 1000,
      raftMinTimeout: p.electionMinMs / 1000,
      raftMaxTimeout: p.electionMaxMs / 1000,
      appendEntriesPeriod: p.heartbeatMs / 1000,
      leaderFallbackTimeout: p.leaderFallbackMs / 1000,
      appendEntriesUseBatch: false,
      commandsWaitLeader: false,
      commandsQueueSize: 1000,
      dynamicMembershipChange: true,
      appendEntriesBatchSizeBytes: p.appendBatchBytes ?? t.appendEntriesBatchSizeBytes,
      logCompactionBatchSize: t.snapshotChunkBytes,
      logCompactionMinEntries: p.compactAfterEntries > 0 && n.voter ? p.compactAfterEntries : 1e12,
      logCompactionMinTime: 1e12,
      logger: process.env.SIM_DEBUG ? debugLogger(this, n.id) : silentLogger,
    };
  }

  /** (Re)start a node: a new life of its process on its disk and dump. */
  private start(n: SimNode<N>, configuredPeers: readonly NodeId[]): void {
    if (n.alive) return;
    // a read-only node (patronictl) is configured with every address that may be a voter: it
    // connects only to the voters it knows, so it could never follow a spare that became leader
    if (!n.voter) configuredPeers = [...new Set([...configuredPeers, ...this.spareVoters])];
    if (n.kind === 'pysyncobj') {
      this.startPython(n, configuredPeers);
      return;
    }
    n.incarnation++;
    const life = { alive: true, pausedUntil: 0 };
    n.life = life;
    n.core = null;
    n.appliedIndex = 0;
    const rng = this.rng.fork();
    const p = this.profile;
    const observer = {
      onCoreStarted: (core: RaftCore) => {
        n.core = core;
        n.appliedIndex = n.obj?.raftLastApplied ?? 0;
        this.checker.onStart(this, n.id);
      },
      onOutput: (core: RaftCore, out: Parameters<SafetyChecker['onOutput']>[3]) =>
        this.guard(() => this.checker.onOutput(this, n.id, core, out)),
      onApplied: (e: LogEntry) =>
        this.guard(() => {
          if (e.index !== n.appliedIndex + 1) {
            this.fail('apply order', `${n.id} applies ${e.index} after ${n.appliedIndex}`);
          }
          n.appliedIndex = e.index;
          this.checker.onApply(this, n.id, e);
          this.mode.onApplied?.(n, e);
        }),
      onSnapshotInstalled: (last: LogEntry) =>
        this.guard(() => {
          n.appliedIndex = last.index;
          this.checker.onSnapshotInstalled(this, n.id, last);
          this.mode.onSnapshotInstalled?.(n, last);
        }),
    };
    const deps: SyncObjDeps = {
      scheduler: new SimScheduler(this, life, n.wallOffsetMs, () => this.loopRest()),
      random: () => rng.next(),
      journal: new SimJournal(n.disk, this, life, rng, p),
      dumpStore: new SimDumpStore(n.dumpFile, this, life, rng, p),
      dumpCodec: new SimDumpCodec(this, life, rng, p),
      transport: (handler) => {
        const t = this.net.transport(n.id, n.voter, handler, life);
        n.transport = t;
        return t;
      },
      observer,
      unsafeTestFaults: this.profile.pysyncobjLikeLeaders
        ? { ...this.mode.tuning.unsafeTestFaults, rewindOnEveryReset: true }
        : this.mode.tuning.unsafeTestFaults,
      maxSendBytesPerRound: this.mode.tuning.maxSendBytesPerRound,
    };
    const self = n.voter ? n.id : null;
    n.obj = this.mode.create(
      n,
      self,
      configuredPeers.filter((a) => a !== self),
      this.confFor(n),
      deps,
    );
    n.obj.waitBinded().catch((e: unknown) => {
      if (life.alive) this.violation ??= this.violationFor('runtime', `${n.id} failed to start: ${e}`);
    });
  }

  /**
   * A modelled pysyncobj follower: it answers what Python answers (pysyncobj-follower.ts), applies
   * what it considers committed, and never campaigns. It persists no vote, so it is never crashed
   * here (a restarted Python node can vote twice in a term: pysyncobj's own flaw, not ours).
   */
  private startPython(n: SimNode<N>, configuredPeers: readonly NodeId[]): void {
    n.incarnation++;
    const life = { alive: true, pausedUntil: 0 };
    n.life = life;
    n.appliedIndex = 1;
    const model = new PysyncobjFollower(n.id, [{ command: NO_OP_COMMAND, index: 1, term: 0 }], 0, {
      decodeTransmittedEntry,
      loadSnapshot: (data) => {
        let dump: ReturnType<typeof decodeDumpPickle>;
        try {
          dump = decodeDumpPickle(gunzipSync(data));
        } catch {
          return null; // chunks lost or reordered on a datagram-like link: the dump does not load
        }
        this.guard(() => {
          n.appliedIndex = dump.lastEntry.index;
          this.checker.onSnapshotInstalled(this, n.id, dump.lastEntry);
          this.mode.onPythonSnapshot?.(n, dump.data, dump.lastEntry);
        });
        return { prevEntry: dump.prevEntry, lastEntry: dump.lastEntry };
      },
    });
    n.py = model;
    const t = this.net.transport(
      n.id,
      true,
      {
        onMessage: (from, value) => {
          const message = messageFromPy(value);
          if (message === null || !life.alive) return;
          for (const out of model.step(from, message)) {
            t.sendPickled(out.to, encodePickle(messageToPy(out.message), { bytes: 'binbytes' }));
          }
          for (const e of model.applyCommitted()) {
            if (e.index <= n.appliedIndex) continue; // covered by a loaded dump
            this.guard(() => {
              n.appliedIndex = e.index;
              this.checker.onApply(this, n.id, e);
              this.mode.onApplied?.(n, e);
            });
          }
        },
        onPeerConnected: () => {},
        onPeerDisconnected: () => {},
        onUtilityCommand: () => {},
      },
      life,
      'pysyncobj',
    );
    n.transport = t;
    for (const p of configuredPeers) if (p !== n.id) t.addNode(p);
    void t.start();
  }

  private violationFor(property: string, detail: string): SimViolation {
    return new SimViolation(this.seed, this.label, this.now, property, detail);
  }

  /** The process ends at once: what was not fsync'd may be lost, its callers learn nothing more. */
  private crash(n: SimNode<N>): void {
    if (!n.alive) return;
    this.crashes++;
    this.stop(n);
    n.disk.crash(this.faultRng, this.profile.tornWrites);
    this.mode.onCrash?.(n);
  }

  private stop(n: SimNode<N>): void {
    if (!n.alive) return;
    n.life.alive = false;
    n.transport?.stop();
    n.transport = null;
    n.core = null;
    n.obj = null;
    n.py = null;
  }

  /** Propose on `n` to add the spare voter (created and started on first use) or to remove it. */
  proposeMembershipChange(n: SimNode<N>): void {
    const obj = n.obj;
    const core = n.core;
    const spare = this.spareVoters[0];
    if (!obj || !core || spare === undefined) return;
    const add = !new Set(core.votingMembers).has(spare);
    if (add && !this.byId.has(spare)) {
      const node = this.addNode(spare, true);
      this.start(node, [...this.votersInitial, spare]);
    }
    const done = add ? obj.addNodeToCluster(spare) : obj.removeNodeFromCluster(spare);
    done.catch(() => undefined);
  }

  // --------------------------------------------------------------------------------------------
  // the operator's leadership transfers

  private scheduleTransfer(): void {
    const every = this.profile.transfersEveryMs ?? 0;
    if (every <= 0) return;
    this.queue.push(this.now + this.transferRng.range(every * 0.5, every * 1.5), () => {
      if (this.healed) return;
      this.requestTransfer();
      this.scheduleTransfer();
    });
  }

  /** Ask a live raftdcs leader to hand over to a random voting member (itself now and then: refused). */
  private requestTransfer(): void {
    const leader = this.nodes.find((n) => n.alive && n.obj !== null && n.core?.role === RaftState.Leader);
    const core = leader?.core;
    if (!leader?.obj || !core) return;
    const target = this.transferRng.pick([...core.votingMembers, leader.id]);
    this.transfersRequested++;
    leader.obj.transferLeadership(target).then(
      () => {
        this.transfersCompleted++;
      },
      () => undefined, // refused, abandoned, or another node won: each said why
    );
  }

  // --------------------------------------------------------------------------------------------
  // faults

  private scheduleFault(): void {
    const p = this.profile;
    this.queue.push(this.now + this.faultRng.range(p.faultEveryMs * 0.5, p.faultEveryMs * 1.5), () => {
      if (this.healed) return;
      this.injectFault();
      this.scheduleFault();
    });
  }

  private injectFault(): void {
    const p = this.profile;
    const r = this.faultRng;
    const kinds: string[] = ['heal'];
    if (p.partitions) kinds.push('partition', 'isolate');
    if (p.oneWayPartitions) kinds.push('oneway');
    if (p.crashes) kinds.push('crash', 'crash', 'restart', 'restart');
    if (p.pauses) kinds.push('pause');
    if (p.membershipChanges && this.mode.membershipFaults) kinds.push('membership');
    const kind = r.pick(kinds);
    const ids = this.nodes.map((n) => n.id);
    const blocked = this.net.blocked;
    const leaderVictim = (): SimNode<N> | undefined => {
      if (!p.leaderVictimRate || !r.chance(p.leaderVictimRate)) return undefined;
      return this.nodes.find((n) => n.alive && n.kind === 'raftdcs' && n.core?.role === RaftState.Leader);
    };
    switch (kind) {
      case 'heal':
        blocked.clear();
        break;
      case 'partition': {
        blocked.clear();
        const side = new Set(ids.filter(() => r.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) blocked.add(`${a}>${b}`);
        break;
      }
      case 'isolate': {
        const victim = leaderVictim()?.id ?? r.pick(ids);
        for (const o of ids) {
          if (o === victim) continue;
          blocked.add(`${victim}>${o}`);
          blocked.add(`${o}>${victim}`);
        }
        break;
      }
      case 'oneway': {
        const a = r.pick(ids);
        const b = r.pick(ids.filter((x) => x !== a));
        blocked.add(`${a}>${b}`);
        break;
      }
      case 'crash': {
        const live = this.nodes.filter((n) => n.alive && n.kind === 'raftdcs');
        // keep at least one node alive most of the time; sometimes crash everything
        if (live.length > 1 || (live.length > 0 && r.chance(0.2))) this.crash(leaderVictim() ?? r.pick(live));
        break;
      }
      case 'pause': {
        // SIGSTOP: the process runs nothing (timers, completions, reads) until SIGCONT; its
        // connections stay up and what arrives meanwhile waits in its sockets
        const live = this.nodes.filter((n) => n.alive && n.kind === 'raftdcs');
        if (live.length > 0) {
          const n = leaderVictim() ?? r.pick(live);
          n.life.pausedUntil = Math.max(n.life.pausedUntil, this.now + r.range(200, 6000));
          this.pauses++;
        }
        break;
      }
      case 'restart': {
        const dead = this.nodes.filter((n) => !n.alive);
        if (dead.length > 0) this.start(r.pick(dead), this.votersInitial);
        break;
      }
      case 'membership': {
        const leader = this.nodes.find((n) => n.core?.role === RaftState.Leader);
        if (leader) this.proposeMembershipChange(leader);
        break;
      }
    }
    this.net.refresh();
  }

  private heal(): void {
    this.healed = true;
    this.net.lossy = false;
    this.net.blocked.clear();
    for (const n of this.nodes) if (!n.alive) this.start(n, this.votersInitial);
    // a process paused past the heal resumes then (its waiting events run in order)
    this.net.refresh();
  }

  // --------------------------------------------------------------------------------------------
  // liveness

  /** The only leader, if exactly one node leads. */
  currentLeader(): SimNode<N> | undefined {
    const leaders = this.nodes.filter((n) => n.core?.role === RaftState.Leader);
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  /** The nodes in the leader's configuration (a removed spare stops following), plus read-only nodes. */
  participants(leader: SimNode<N>): SimNode<N>[] {
    const members = new Set([leader.id, ...(leader.core as RaftCore).votingMembers]);
    return this.nodes.filter((n) => (n.voter ? members.has(n.id) : true));
  }

  /** One leader, everything committed, every participant following it and applied to the end. */
  private converged(): boolean {
    const leader = this.currentLeader();
    if (!leader?.core) return false;
    const target = leader.core.status();
    if (target.commitIndex !== target.lastIndex) return false;
    for (const n of this.participants(leader)) {
      if (n.py) {
        if (n.py.leader !== leader.id || n.appliedIndex !== target.lastIndex) return false;
        continue;
      }
      const st = n.core?.status();
      if (!st || st.leader !== leader.id) return false;
      if (st.lastApplied !== target.lastIndex || n.appliedIndex !== target.lastIndex) return false;
    }
    return this.mode.converged(leader);
  }

  private livenessReport(): string {
    const lines = [`no convergence ${this.profile.healMs} ms after healing`];
    for (const n of this.nodes) {
      if (n.py) {
        const py = n.py;
        lines.push(
          `${n.id} (pysyncobj): term=${py.term} leader=${py.leader} commit=${py.commitIndex} applied=${py.lastApplied}/${n.appliedIndex} first=${py.firstIndex} last=${py.lastIndex}`,
        );
        continue;
      }
      const st = n.core?.status();
      lines.push(
        st
          ? `${n.id}: state=${st.state} term=${st.term} leader=${st.leader} commit=${st.commitIndex} applied=${st.lastApplied}/${n.appliedIndex} last=${st.lastIndex} members=${st.members.join(',')} connected=${st.connected.join(',')} removed=${st.selfRemoved} next=${[...st.nextIndex].join(',')} match=${[...st.matchIndex].join(',')}`
          : `${n.id}: down`,
      );
    }
    lines.push(...this.mode.livenessDetail());
    return lines.join('\n');
  }

  // --------------------------------------------------------------------------------------------
  // access for the checker

  liveNodes(): { id: NodeId; core: RaftCore; voter: boolean }[] {
    const out: { id: NodeId; core: RaftCore; voter: boolean }[] = [];
    for (const n of this.nodes) if (n.alive && n.core) out.push({ id: n.id, core: n.core, voter: n.voter });
    return out;
  }

  private finalMaxTerm = 0;

  /** the highest term of a live node (at the end of a run: when it converged) */
  get maxTerm(): number {
    return Math.max(this.finalMaxTerm, ...this.nodes.map((n) => n.core?.currentTerm ?? 0));
  }
}
