/**
 * LEGACY — being replaced: the KV mode still drives bare RaftCores through this copy of the
 * runtime's mechanics; the toy mode runs real SyncObj nodes (cluster.ts).
 *
 * The cluster mechanics of the deterministic simulator, shared by its modes: N RaftCores on a
 * virtual clock, each with a simulated disk (disk.ts: a crash loses unsynced writes); the runtime's
 * job (persist → fsync → send-after-persist, apply, proposals, compaction and snapshot transfer);
 * a network that delays, drops, duplicates, reorders and partitions (one-way too), or delivers per
 * link in FIFO order (TCP-like); fault injection (partitions, crashes, restarts, membership
 * changes); and the final heal and liveness phase. The Raft SafetyChecker runs after every step.
 *
 * What runs on each node and what the clients do is a mode (`SimMode`): the toy mode
 * (simulator.ts: opaque commands, acknowledged commands must be applied everywhere) and the KV mode
 * (kv-simulator.ts: KVStoreTTL state machines, Patroni's client side, linearizability checks).
 * Everything derives from one seed: a failing seed replays exactly.
 */
import { type ProposalOutcome, RaftCore } from '../../src/raft/core/core.js';
import type { CoreOptions, SnapshotData } from '../../src/raft/core/options.js';
import {
  CommandType,
  FailReason,
  type LogEntry,
  type NodeId,
  type RaftMessage,
  RaftState,
} from '../../src/raft/core/types.js';
import { type CheckedCluster, SafetyChecker, SimViolation } from './checker.js';
import type { SimProfile } from './cluster.js';
import { SimDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { Rng } from './rng.js';
import { decodeSimMembership, simMembershipCommand } from './toy-commands.js';

// ----------------------------------------------------------------------------------------------
// membership commands: MEMBERSHIP = 0x02 + "add <id>" / "rem <id>" (a toy encoding: the simulator
// exercises the core; the pickle form is covered by the wire and runtime tests)

const enc = new TextEncoder();
const dec = new TextDecoder();

// ----------------------------------------------------------------------------------------------

// ----------------------------------------------------------------------------------------------

/**
 * How a proposal ends, as SyncObj reports it to the caller's callback: `FailReason.Success` with
 * the state machine's result, another FailReason, or one of the two outcomes below.
 */
export type Completion = (result: unknown, reason: number) => void;

/** SyncObj's internal outcome for a waiter whose index a snapshot covered, or whose node crashed. */
export const UNKNOWN_OUTCOME = -3;
/** the proposal was assigned an index this node had already applied (same term): SyncObj reports success without a result */
export const LATE_ASSIGNMENT = -4;

interface Waiter {
  readonly term: number;
  readonly done: Completion;
}

interface PersistBatch {
  msgs: { to: NodeId; message: RaftMessage }[];
  persistIndex: number;
  persistTerm: number;
  hasWrites: boolean;
}

/** A dump of a node's state machine (`state`, the mode's form) at `lastEntry`, with the cluster then. */
export interface NodeSnapshot<S> {
  readonly state: S;
  readonly lastEntry: LogEntry;
  readonly prevEntry: LogEntry;
  readonly cluster: NodeId[];
}

/** One simulated process: its disk, its core while alive, and the mode's per-node state (`app`). */
export class SimNode<A, S> {
  core: RaftCore | null = null;
  incarnation = 0;
  readonly disk = new SimDisk();
  /** the last log index applied to the state machine (the snapshot's when restored from one) */
  appliedIndex = 1;
  /** index → term of entries applied in this node life (late index assignments are judged by it) */
  appliedTerms = new Map<number, number>();
  /** the durable dump (written before the journal is cut) */
  snapshot: NodeSnapshot<S> | null = null;
  /** proposals waiting for their entry to be applied, by index */
  waiters = new Map<number, Waiter[]>();
  /** proposals waiting for an index assignment, by proposal ref */
  pending = new Map<number, Completion>();
  inflight: PersistBatch | null = null;
  next: PersistBatch = emptyBatch();
  lastCommit = 0;
  constructor(
    readonly id: NodeId,
    readonly voter: boolean,
    readonly app: A,
  ) {}
  get alive(): boolean {
    return this.core !== null;
  }
}

function emptyBatch(): PersistBatch {
  return { msgs: [], persistIndex: 0, persistTerm: 0, hasWrites: false };
}

/**
 * A simulation mode: what runs on each node (the state machine, `A` per node, dumped as `S`) and
 * what the clients do. The cluster calls these; a mode drives its clients through the cluster's
 * `at`, `propose`, `proposeMembershipChange` and reads `now`, `nodes`, `healed`.
 */
export interface SimMode<A, S> {
  /** appended to the profile name in violations and replay lines ('' or ' --kv') */
  readonly label: string;
  /** the mode's core tuning (entry sizes differ) and test-only core faults */
  readonly coreOptions: Pick<
    CoreOptions,
    'appendEntriesBatchSizeBytes' | 'snapshotChunkBytes' | 'maxSendBytesPerRound' | 'unsafeTestFaults'
  >;
  /** compaction (profile.compaction) dumps once this many entries were applied past the log's first */
  readonly compactAfterEntries: number;
  /** the network may duplicate forwarded submissions (`apply_command`) like any other message */
  readonly duplicateSubmissions: boolean;
  /** membership changes (profile.membershipChanges) are also proposed by the leader as a fault */
  readonly membershipFaults: boolean;

  /** Called once, from the cluster's constructor, after it forked its network and fault streams. */
  attach(cluster: Cluster<A, S>): void;
  /** The per-node state of a new node (`spare`: the voter membership changes add and remove). */
  newNode(id: NodeId, voter: boolean, spare: boolean): A;
  /** A node (re)starts or installs a snapshot: a fresh state machine, or a copy of the dump's state. */
  load(n: SimNode<A, S>, snapshot: S | null): void;
  /** A point-in-time copy of the node's state machine (the dump written at compaction). */
  capture(n: SimNode<A, S>): S;
  /** Apply a committed REGULAR entry; the result goes to the proposal's completion. */
  apply(n: SimNode<A, S>, e: LogEntry): unknown;
  /** Schedule the clients (once, when the run begins). */
  startClients(): void;
  /** Whatever else the converged cluster must satisfy (the leader is given). */
  converged(leader: SimNode<A, S>): boolean;
  /** Extra lines for the liveness report. */
  livenessDetail(): string[];

  /** after a node's core started (its state machine loaded) */
  onStart?(n: SimNode<A, S>): void;
  /** after every core tick of a live node (before its output is drained) */
  afterTick?(n: SimNode<A, S>): void;
  /** after an entry was applied and recorded */
  onApplied?(n: SimNode<A, S>, e: LogEntry): void;
  /** after a received snapshot was loaded (before the core is told) */
  onSnapshotInstalled?(n: SimNode<A, S>, lastEntry: LogEntry): void;
  /** after every step (the Raft checks ran) */
  afterStep?(): void;
}

const SNAPSHOT_TAG = 'snap:';

/** The token a dump travels as; the state itself stays in the cluster's registry (`snapshots`). */
function snapshotToken(index: number): Uint8Array {
  return enc.encode(`${SNAPSHOT_TAG}${index}`);
}

function snapshotIndex(data: Uint8Array): number | null {
  const t = dec.decode(data);
  return t.startsWith(SNAPSHOT_TAG) ? Number(t.slice(SNAPSHOT_TAG.length)) : null;
}

export class Cluster<A, S> implements CheckedCluster {
  readonly rng: Rng;
  private readonly netRng: Rng;
  private readonly faultRng: Rng;
  private readonly queue = new EventQueue();
  now = 0;
  steps = 0;
  crashes = 0;
  healed = false;
  readonly nodes: SimNode<A, S>[] = [];
  private readonly byId = new Map<NodeId, SimNode<A, S>>();
  private readonly blocked = new Set<string>(); // "a>b"
  private readonly linkUp = new Map<string, boolean>(); // "a|b" sorted
  private readonly fifoClock = new Map<string, number>();
  readonly checker = new SafetyChecker();
  /** violations and replay lines name the profile and the mode */
  readonly label: string;
  private nextRef = 1;
  private readonly votersInitial: NodeId[] = [];
  private readonly spareVoters: NodeId[] = [];
  /** every dump written, by last index (dumps at one index are equal: State Machine Safety) */
  private readonly snapshots = new Map<number, NodeSnapshot<S>>();

  constructor(
    readonly seed: number,
    readonly profile: SimProfile,
    private readonly mode: SimMode<A, S>,
  ) {
    this.rng = new Rng(seed);
    this.netRng = this.rng.fork();
    this.faultRng = this.rng.fork();
    this.label = `${profile.name}${mode.label}`;
    mode.attach(this);
    for (let i = 1; i <= profile.voters; i++) this.votersInitial.push(`n${i}`);
    for (const id of this.votersInitial) this.addNode(id, true, false);
    for (let i = 1; i <= profile.readonlyNodes; i++) this.addNode(`ro${i}`, false, false);
    // a spare voter that membership changes add and remove while the cluster runs
    if (profile.membershipChanges) this.spareVoters.push(`n${profile.voters + 1}`);
  }

  private addNode(id: NodeId, voter: boolean, spare: boolean): SimNode<A, S> {
    const n = new SimNode<A, S>(id, voter, this.mode.newNode(id, voter, spare));
    this.nodes.push(n);
    this.byId.set(id, n);
    return n;
  }

  fail(property: string, detail: string): never {
    throw new SimViolation(this.seed, this.label, this.now, property, detail);
  }

  /** Run `run` at virtual time `at`. */
  at(at: number, run: () => void): void {
    this.queue.push(at, run);
  }

  // --------------------------------------------------------------------------------------------

  /** Chaos, heal, converge; throws a SimViolation on any violated property or no convergence. */
  run(): void {
    for (const n of this.nodes) this.start(n, this.votersInitial);
    for (const n of this.nodes) this.scheduleTick(n);
    this.mode.startClients();
    this.scheduleFault();
    this.runUntil(this.profile.chaosMs);
    this.heal();
    const deadline = this.now + this.profile.healMs;
    while (this.now < deadline) {
      this.runUntil(Math.min(deadline, this.now + 500));
      if (this.converged()) break;
    }
    if (!this.converged()) this.fail('liveness', this.livenessReport());
  }

  private runUntil(until: number): void {
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
      this.checker.afterStep(this, this.now);
      this.mode.afterStep?.();
    }
  }

  // --------------------------------------------------------------------------------------------
  // nodes

  private coreOptions(n: SimNode<A, S>): CoreOptions {
    const p = this.profile;
    const rng = this.rng.fork();
    return {
      selfId: n.voter ? n.id : null,
      electionTimeoutMinMs: p.electionMinMs,
      electionTimeoutMaxMs: p.electionMaxMs,
      appendEntriesPeriodMs: p.heartbeatMs,
      leaderFallbackTimeoutMs: p.leaderFallbackMs,
      appendEntriesUseBatch: false,
      commandsWaitLeader: false,
      commandsQueueSize: 1000,
      dynamicMembershipChange: true,
      random: () => rng.next(),
      decodeMembership: decodeSimMembership,
      decodeTransmittedEntry: () => {
        throw new Error('no transmissions in the simulator');
      },
      ...this.mode.coreOptions,
    };
  }

  /** (Re)start a node from its disk and its dump. */
  private start(n: SimNode<A, S>, configuredPeers: readonly NodeId[]): void {
    const state = n.disk.load();
    n.incarnation++;
    n.appliedTerms = new Map();
    n.waiters = new Map();
    n.pending = new Map();
    n.inflight = null;
    n.next = emptyBatch();
    n.lastCommit = 0;
    const firstIndex = (state.entries[0] as LogEntry).index;
    let peers: NodeId[] = configuredPeers.filter((p) => p !== n.id);
    let lastApplied = firstIndex;
    let snapshot: SnapshotData | undefined;
    if (n.snapshot && n.snapshot.lastEntry.index >= firstIndex) {
      const last = n.snapshot.lastEntry;
      peers = n.snapshot.cluster.filter((p) => p !== n.id);
      lastApplied = last.index;
      this.mode.load(n, n.snapshot.state);
      n.appliedTerms.set(last.index, last.term);
      snapshot = { data: snapshotToken(last.index), lastIndex: last.index, lastTerm: last.term };
    } else {
      this.mode.load(n, null);
    }
    n.appliedIndex = lastApplied;
    n.core = new RaftCore(this.coreOptions(n), {
      hardState: state.hardState,
      entries: state.entries,
      commitIndex: state.commitHint,
      lastApplied,
      peers,
      snapshot,
      nowMs: this.now,
    });
    this.mode.onStart?.(n);
    this.checker.onStart(this, n.id);
    this.refreshLinks();
    this.drain(n);
  }

  private crash(n: SimNode<A, S>): void {
    if (!n.core) return;
    this.crashes++;
    n.core = null;
    // the callers living with this process lose their calls: outcomes unknown
    for (const done of n.pending.values()) done(undefined, UNKNOWN_OUTCOME);
    for (const ws of n.waiters.values()) for (const w of ws) w.done(undefined, UNKNOWN_OUTCOME);
    n.pending.clear();
    n.waiters.clear();
    n.disk.crash(this.faultRng, this.profile.tornWrites);
    this.refreshLinks();
  }

  private scheduleTick(n: SimNode<A, S>): void {
    const jitter = this.rng.range(0, this.profile.tickMs * 0.2);
    this.queue.push(this.now + this.profile.tickMs + jitter, () => {
      if (n.core) {
        n.core.tick(this.now);
        this.mode.afterTick?.(n);
        this.drain(n);
      }
      this.scheduleTick(n);
    });
  }

  // --------------------------------------------------------------------------------------------
  // proposals

  /** Propose a command on `n` as SyncObj's callers do; `done` gets the outcome (see Completion). */
  propose(n: SimNode<A, S>, command: Uint8Array, done: Completion): void {
    const core = n.core;
    if (!core) {
      done(undefined, FailReason.MissingLeader);
      return;
    }
    const ref = this.nextRef++;
    n.pending.set(ref, done);
    core.propose(command, ref, this.now);
    this.drain(n);
  }

  /** Propose on `n` to add the spare voter (created and started on first use) or to remove it. */
  proposeMembershipChange(n: SimNode<A, S>): void {
    const core = n.core;
    const spare = this.spareVoters[0];
    if (!core || spare === undefined) return;
    const op = new Set(core.votingMembers).has(spare) ? 'rem' : 'add';
    if (op === 'add' && !this.byId.has(spare)) {
      const node = this.addNode(spare, true, true);
      this.start(node, [...this.votersInitial, spare]);
      this.scheduleTick(node);
    }
    core.propose(simMembershipCommand({ op, node: spare }), null, this.now);
    this.drain(n);
  }

  // --------------------------------------------------------------------------------------------
  // the runtime's job: persist, send, apply

  private drain(n: SimNode<A, S>): void {
    for (let guard = 0; guard < 1000; guard++) {
      const core = n.core;
      if (!core) return;
      const out = core.takeOutput();
      if (out === null) return;
      this.checker.onOutput(this, n.id, core, out);
      let wrote = false;
      if (out.hardState) {
        n.disk.writeHardState(out.hardState);
        wrote = true;
      }
      if (out.truncateFrom !== undefined) {
        n.disk.truncate(out.truncateFrom);
        wrote = true;
      }
      if (out.entries.length > 0) {
        n.disk.append(out.entries);
        wrote = true;
        const last = out.entries[out.entries.length - 1] as LogEntry;
        n.next.persistIndex = last.index;
        n.next.persistTerm = last.term;
      }
      if (out.commitIndex > n.lastCommit) {
        n.lastCommit = out.commitIndex;
        n.disk.writeCommitHint(out.commitIndex);
      }
      for (const m of out.send) this.send(n, m.to, m.message);
      if (wrote) n.next.hasWrites = true;
      n.next.msgs.push(...out.sendAfterPersist);
      for (const e of out.apply) this.applyEntry(n, e);
      for (const p of out.proposals) this.onProposal(n, p);
      for (const ev of out.events) {
        if (ev.type === 'snapshotReceived') this.onSnapshotReceived(n, ev.data);
      }
      this.maybeStartSync(n);
      if (this.profile.compactAfterEntries > 0) this.maybeCompact(n);
      if (n.core !== core) return;
    }
    this.fail('runtime', `${n.id}: output never settles`);
  }

  /** One fsync at a time: writes made meanwhile, and the messages that wait for them, batch up. */
  private maybeStartSync(n: SimNode<A, S>): void {
    if (n.inflight !== null) return;
    const batch = n.next;
    if (!batch.hasWrites && batch.msgs.length === 0) return;
    n.next = emptyBatch();
    if (!batch.hasWrites) {
      for (const m of batch.msgs) this.send(n, m.to, m.message);
      return;
    }
    const delay =
      this.profile.fsyncMaxMs > 0 ? this.rng.range(this.profile.fsyncMinMs, this.profile.fsyncMaxMs) : 0;
    const incarnation = n.incarnation;
    n.inflight = batch;
    const complete = () => {
      if (!n.core || n.incarnation !== incarnation) return;
      n.disk.sync();
      n.inflight = null;
      if (batch.persistIndex > 0) n.core.onPersisted(batch.persistIndex, batch.persistTerm, this.now);
      for (const m of batch.msgs) this.send(n, m.to, m.message);
      this.drain(n);
      this.maybeStartSync(n);
    };
    if (delay === 0) complete();
    else this.queue.push(this.now + delay, complete);
  }

  private applyEntry(n: SimNode<A, S>, e: LogEntry): void {
    if (e.index !== n.appliedIndex + 1) {
      this.fail('apply order', `${n.id} applies ${e.index} after ${n.appliedIndex}`);
    }
    const result = e.command[0] === CommandType.Regular ? this.mode.apply(n, e) : undefined;
    n.appliedIndex = e.index;
    n.appliedTerms.set(e.index, e.term);
    this.checker.onApply(this, n.id, e);
    this.mode.onApplied?.(n, e);
    const ws = n.waiters.get(e.index);
    if (ws) {
      n.waiters.delete(e.index);
      for (const w of ws) {
        if (w.term === e.term) w.done(result, FailReason.Success);
        else w.done(undefined, FailReason.Discarded);
      }
    }
  }

  private onProposal(n: SimNode<A, S>, p: ProposalOutcome): void {
    const done = n.pending.get(p.ref);
    if (done === undefined) return;
    n.pending.delete(p.ref);
    if (p.kind === 'failed') {
      done(undefined, p.reason);
      return;
    }
    if (p.index <= n.appliedIndex) {
      // SyncObj: success without a result (or DISCARDED)
      done(undefined, n.appliedTerms.get(p.index) === p.term ? LATE_ASSIGNMENT : FailReason.Discarded);
      return;
    }
    const list = n.waiters.get(p.index) ?? [];
    list.push({ term: p.term, done });
    n.waiters.set(p.index, list);
  }

  // --------------------------------------------------------------------------------------------
  // snapshots and compaction: a dump travels as a token naming its index; the receiver loads the
  // state registered under it

  private maybeCompact(n: SimNode<A, S>): void {
    const core = n.core;
    if (!core || !n.voter) return;
    const st = core.status();
    if (st.lastApplied - st.firstIndex < this.mode.compactAfterEntries || !this.rng.chance(0.2)) return;
    if (st.lastApplied !== n.appliedIndex) return;
    const lastEntry = core.entryAt(st.lastApplied);
    const prevEntry = core.entryAt(st.lastApplied - 1);
    if (!lastEntry || !prevEntry) return;
    // the dump is durable before the journal is cut (write, fsync, rename)
    n.snapshot = { state: this.mode.capture(n), lastEntry, prevEntry, cluster: [...st.members, n.id] };
    core.compact(
      { data: snapshotToken(lastEntry.index), lastIndex: lastEntry.index, lastTerm: lastEntry.term },
      this.now,
    );
    this.snapshots.set(lastEntry.index, n.snapshot);
  }

  private onSnapshotReceived(n: SimNode<A, S>, data: Uint8Array): void {
    const core = n.core;
    if (!core) return;
    const index = snapshotIndex(data);
    const snap = index === null ? undefined : this.snapshots.get(index);
    if (snap === undefined || snap.lastEntry.index <= core.status().lastApplied) {
      core.snapshotInstallFailed(this.now);
      return;
    }
    const last = snap.lastEntry;
    n.snapshot = snap;
    this.mode.load(n, snap.state);
    n.appliedIndex = last.index;
    n.appliedTerms.set(last.index, last.term);
    for (const [i, ws] of [...n.waiters]) {
      if (i > last.index) continue;
      n.waiters.delete(i);
      for (const w of ws) w.done(undefined, UNKNOWN_OUTCOME);
    }
    this.checker.onSnapshotInstalled(this, n.id, last);
    this.mode.onSnapshotInstalled?.(n, last);
    core.installSnapshot(
      { lastEntry: last, prevEntry: snap.prevEntry, cluster: snap.cluster, data: snapshotToken(last.index) },
      this.now,
    );
    // the journal then holds the log from the dump's prev entry on (a matching suffix is kept)
    n.disk.reset(core.entriesFrom(core.status().firstIndex));
    n.disk.sync();
  }

  // --------------------------------------------------------------------------------------------
  // network

  private linkKey(a: NodeId, b: NodeId): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  private canTalk(a: SimNode<A, S>, b: SimNode<A, S>): boolean {
    if (!a.alive || !b.alive) return false;
    if (!a.voter && !b.voter) return false;
    return !(this.blocked.has(`${a.id}>${b.id}`) && this.blocked.has(`${b.id}>${a.id}`));
  }

  /** Recompute which TCP-like connections are up and tell the cores about changes. */
  private refreshLinks(): void {
    for (let i = 0; i < this.nodes.length; i++) {
      for (let j = i + 1; j < this.nodes.length; j++) {
        const a = this.nodes[i] as SimNode<A, S>;
        const b = this.nodes[j] as SimNode<A, S>;
        const key = this.linkKey(a.id, b.id);
        const up = this.canTalk(a, b);
        const was = this.linkUp.get(key) ?? false;
        if (up === was) continue;
        this.linkUp.set(key, up);
        for (const [x, y] of [
          [a, b],
          [b, a],
        ] as const) {
          if (!x.core) continue;
          if (up) x.core.peerConnected(y.id, !y.voter, this.now);
          else x.core.peerDisconnected(y.id, this.now);
        }
        if (a.core) this.drain(a);
        if (b.core) this.drain(b);
      }
    }
  }

  private send(from: SimNode<A, S>, to: NodeId, message: RaftMessage): void {
    const target = this.byId.get(to);
    if (!target) return;
    if (!this.linkUp.get(this.linkKey(from.id, to))) return;
    if (this.blocked.has(`${from.id}>${to}`)) return;
    const p = this.profile;
    const lossy = !this.healed;
    if (lossy && !p.fifo && this.netRng.chance(p.dropRate)) return;
    const copies =
      lossy &&
      !p.fifo &&
      (this.mode.duplicateSubmissions || message.type !== 'apply_command') &&
      this.netRng.chance(p.dupRate)
        ? 2
        : 1;
    const incarnation = target.incarnation;
    const fromIncarnation = from.incarnation;
    for (let c = 0; c < copies; c++) {
      let at = this.now + this.netRng.range(p.minDelayMs, p.maxDelayMs);
      if (p.fifo) {
        const k = `${from.id}>${to}`;
        at = Math.max(at, (this.fifoClock.get(k) ?? 0) + 0.001);
        this.fifoClock.set(k, at);
      }
      this.queue.push(at, () => {
        const core = target.core;
        if (!core) return;
        // a restart breaks TCP connections: FIFO links never deliver to a new incarnation
        if (p.fifo && (target.incarnation !== incarnation || from.incarnation !== fromIncarnation)) return;
        if (!this.linkUp.get(this.linkKey(from.id, to))) return;
        if (this.blocked.has(`${from.id}>${to}`)) return;
        core.step(from.id, message, this.now);
        this.drain(target);
      });
    }
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
    if (p.membershipChanges && this.mode.membershipFaults) kinds.push('membership');
    const kind = r.pick(kinds);
    const ids = this.nodes.map((n) => n.id);
    switch (kind) {
      case 'heal':
        this.blocked.clear();
        break;
      case 'partition': {
        this.blocked.clear();
        const side = new Set(ids.filter(() => r.chance(0.5)));
        for (const a of ids)
          for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}>${b}`);
        break;
      }
      case 'isolate': {
        const victim = r.pick(ids);
        for (const o of ids) {
          if (o === victim) continue;
          this.blocked.add(`${victim}>${o}`);
          this.blocked.add(`${o}>${victim}`);
        }
        break;
      }
      case 'oneway': {
        const a = r.pick(ids);
        const b = r.pick(ids.filter((x) => x !== a));
        this.blocked.add(`${a}>${b}`);
        break;
      }
      case 'crash': {
        const live = this.nodes.filter((n) => n.core !== null);
        // keep at least one node alive most of the time; sometimes crash everything
        if (live.length > 1 || r.chance(0.2)) this.crash(r.pick(live.length > 0 ? live : this.nodes));
        break;
      }
      case 'restart': {
        const dead = this.nodes.filter((n) => n.core === null);
        if (dead.length > 0) this.start(r.pick(dead), this.votersInitial);
        break;
      }
      case 'membership': {
        const leader = this.nodes.find((n) => n.core?.role === RaftState.Leader);
        if (leader) this.proposeMembershipChange(leader);
        break;
      }
    }
    this.refreshLinks();
  }

  private heal(): void {
    this.healed = true;
    this.blocked.clear();
    for (const n of this.nodes) if (!n.core) this.start(n, this.votersInitial);
    this.refreshLinks();
  }

  // --------------------------------------------------------------------------------------------
  // liveness

  /** The only leader, if exactly one node leads. */
  currentLeader(): SimNode<A, S> | undefined {
    const leaders = this.nodes.filter((n) => n.core?.role === RaftState.Leader);
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  /** The nodes in the leader's configuration (a removed spare stops following), plus read-only nodes. */
  participants(leader: SimNode<A, S>): SimNode<A, S>[] {
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
      const st = n.core?.status();
      if (!st || st.leader !== leader.id) return false;
      if (st.lastApplied !== target.lastIndex || n.appliedIndex !== target.lastIndex) return false;
    }
    return this.mode.converged(leader);
  }

  private livenessReport(): string {
    const lines = [`no convergence ${this.profile.healMs} ms after healing`];
    for (const n of this.nodes) {
      const st = n.core?.status();
      lines.push(
        st
          ? `${n.id}: state=${st.state} term=${st.term} leader=${st.leader} commit=${st.commitIndex} applied=${st.lastApplied}/${n.appliedIndex} last=${st.lastIndex} members=${st.members.join(',')} connected=${st.connected.join(',')} removed=${st.selfRemoved}`
          : `${n.id}: down`,
      );
    }
    lines.push(...this.mode.livenessDetail());
    return lines.join('\n');
  }

  // --------------------------------------------------------------------------------------------
  // access for the checker

  liveNodes(): { id: NodeId; core: RaftCore; voter: boolean }[] {
    return this.nodes
      .filter((n) => n.core !== null)
      .map((n) => ({ id: n.id, core: n.core as RaftCore, voter: n.voter }));
  }

  get maxTerm(): number {
    return Math.max(...this.nodes.map((n) => n.core?.currentTerm ?? 0));
  }
}
