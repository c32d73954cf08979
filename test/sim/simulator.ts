/**
 * Deterministic cluster simulator: N RaftCores on a virtual clock, a network that delays, drops,
 * duplicates, reorders and partitions (one-way too), crashes and restarts with a simulated disk,
 * and clients proposing commands. After every step the safety checker runs; after the chaos phase
 * the network heals and the liveness phase requires a leader and every acknowledged command
 * applied everywhere. Everything derives from one seed: a failing seed replays exactly.
 */
import { RaftCore } from '../../src/raft/core/core.js';
import type { CoreOptions, SnapshotData, UnsafeTestFaults } from '../../src/raft/core/options.js';
import {
  CommandType,
  type FailReason,
  type LogEntry,
  type MembershipChange,
  type NodeId,
  type RaftMessage,
  RaftState,
} from '../../src/raft/core/types.js';
import { SafetyChecker, SimViolation } from './checker.js';
import { SimDisk } from './disk.js';
import { Rng } from './rng.js';

export interface SimProfile {
  readonly name: string;
  readonly voters: number;
  readonly readonlyNodes: number;
  /** virtual duration of the fault phase */
  readonly chaosMs: number;
  /** max virtual time to converge after healing */
  readonly healMs: number;
  readonly tickMs: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** per-link FIFO delivery (TCP-like) instead of independent delays */
  readonly fifo: boolean;
  readonly dropRate: number;
  readonly dupRate: number;
  /** mean time between fault events during chaos */
  readonly faultEveryMs: number;
  readonly partitions: boolean;
  readonly oneWayPartitions: boolean;
  readonly crashes: boolean;
  /** fsync latency range; 0/0 = synchronous */
  readonly fsyncMinMs: number;
  readonly fsyncMaxMs: number;
  /** a crash keeps a random prefix of unsynced writes */
  readonly tornWrites: boolean;
  readonly proposalsPerSecond: number;
  readonly membershipChanges: boolean;
  readonly compaction: boolean;
  readonly electionMinMs: number;
  readonly electionMaxMs: number;
  readonly heartbeatMs: number;
  readonly leaderFallbackMs: number;
}

export const BASE_PROFILE: SimProfile = {
  name: 'base',
  voters: 3,
  readonlyNodes: 0,
  chaosMs: 12_000,
  healMs: 30_000,
  tickMs: 25,
  minDelayMs: 1,
  maxDelayMs: 20,
  fifo: false,
  dropRate: 0.05,
  dupRate: 0.02,
  faultEveryMs: 1500,
  partitions: true,
  oneWayPartitions: true,
  crashes: true,
  fsyncMinMs: 0,
  fsyncMaxMs: 0,
  tornWrites: false,
  proposalsPerSecond: 40,
  membershipChanges: false,
  compaction: false,
  electionMinMs: 400,
  electionMaxMs: 1400,
  heartbeatMs: 100,
  leaderFallbackMs: 3000,
};

export interface SimResult {
  readonly seed: number;
  readonly profile: string;
  readonly steps: number;
  readonly virtualMs: number;
  readonly acked: number;
  readonly proposed: number;
  readonly leadersElected: number;
  readonly crashes: number;
  readonly maxTerm: number;
}

// ----------------------------------------------------------------------------------------------

interface SimEvent {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

class EventQueue {
  private heap: SimEvent[] = [];
  private seq = 0;

  push(at: number, run: () => void): void {
    const ev: SimEvent = { at, seq: this.seq++, run };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (less(h[parent] as SimEvent, ev)) break;
      h[i] = h[parent] as SimEvent;
      i = parent;
    }
    h[i] = ev;
  }

  pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0] as SimEvent;
    const last = h.pop() as SimEvent;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && less(h[r] as SimEvent, h[l] as SimEvent) ? r : l;
        if (less(last, h[c] as SimEvent)) break;
        h[i] = h[c] as SimEvent;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  get size(): number {
    return this.heap.length;
  }
}

function less(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

// ----------------------------------------------------------------------------------------------
// commands: REGULAR = 0x00 + "c<id>", MEMBERSHIP = 0x02 + "add <id>" / "rem <id>" (a toy encoding:
// the simulator exercises the core; the pickle form is covered by the wire and runtime tests)

const enc = new TextEncoder();
const dec = new TextDecoder();

export function simCommand(id: number): Uint8Array {
  const body = enc.encode(`c${id}`);
  const out = new Uint8Array(body.length + 1);
  out[0] = CommandType.Regular;
  out.set(body, 1);
  return out;
}

export function simMembershipCommand(change: MembershipChange): Uint8Array {
  const body = enc.encode(`${change.op} ${change.node}`);
  const out = new Uint8Array(body.length + 1);
  out[0] = CommandType.Membership;
  out.set(body, 1);
  return out;
}

export function decodeSimMembership(command: Uint8Array): MembershipChange | null {
  if (command[0] !== CommandType.Membership) return null;
  const [op, node] = dec.decode(command.subarray(1)).split(' ');
  if ((op !== 'add' && op !== 'rem') || !node) return null;
  return { op, node };
}

export function commandKey(command: Uint8Array): string {
  return `${command[0]}:${dec.decode(command.subarray(1))}`;
}

// ----------------------------------------------------------------------------------------------

interface Waiter {
  readonly term: number;
  readonly cmdId: number;
}

interface PersistBatch {
  msgs: { to: NodeId; message: RaftMessage }[];
  persistIndex: number;
  persistTerm: number;
  hasWrites: boolean;
}

/** The simulated state machine: the ordered list of applied command keys, and the index applied. */
interface SimStateMachine {
  appliedIndex: number;
  readonly applied: Set<string>;
}

class SimNode {
  core: RaftCore | null = null;
  incarnation = 0;
  readonly disk = new SimDisk();
  sm: SimStateMachine = { appliedIndex: 0, applied: new Set() };
  snapshot: { sm: SimStateMachine; lastEntry: LogEntry; prevEntry: LogEntry; cluster: NodeId[] } | null =
    null;
  appliedTerms = new Map<number, number>();
  waiters = new Map<number, Waiter[]>();
  pendingRefs = new Map<number, number>(); // proposal ref -> cmd id
  inflight: PersistBatch | null = null;
  next: PersistBatch = { msgs: [], persistIndex: 0, persistTerm: 0, hasWrites: false };
  lastCommit = 0;
  constructor(
    readonly id: NodeId,
    readonly voter: boolean,
  ) {}
  get alive(): boolean {
    return this.core !== null;
  }
}

export class Simulator {
  readonly rng: Rng;
  private readonly netRng: Rng;
  private readonly faultRng: Rng;
  private readonly queue = new EventQueue();
  private now = 0;
  private steps = 0;
  readonly nodes: SimNode[] = [];
  private readonly byId = new Map<NodeId, SimNode>();
  private readonly blocked = new Set<string>(); // "a>b"
  private readonly linkUp = new Map<string, boolean>(); // "a|b" sorted
  private readonly fifoClock = new Map<string, number>();
  private healed = false;
  readonly checker: SafetyChecker;
  private nextCmd = 1;
  private nextRef = 1;
  private readonly acked = new Set<number>();
  private proposed = 0;
  private crashes = 0;
  private readonly votersInitial: NodeId[];
  private spareVoters: NodeId[] = [];

  constructor(
    readonly seed: number,
    readonly profile: SimProfile,
    private readonly faults?: UnsafeTestFaults,
  ) {
    this.rng = new Rng(seed);
    this.netRng = this.rng.fork();
    this.faultRng = this.rng.fork();
    this.checker = new SafetyChecker();
    this.votersInitial = [];
    for (let i = 1; i <= profile.voters; i++) this.votersInitial.push(`n${i}`);
    for (const id of this.votersInitial) this.addNode(new SimNode(id, true));
    for (let i = 1; i <= profile.readonlyNodes; i++) this.addNode(new SimNode(`ro${i}`, false));
    if (profile.membershipChanges) {
      // a spare node that can be added and removed while the cluster runs
      const spare = `n${profile.voters + 1}`;
      this.spareVoters = [spare];
    }
  }

  private addNode(n: SimNode): void {
    this.nodes.push(n);
    this.byId.set(n.id, n);
  }

  // --------------------------------------------------------------------------------------------

  run(): SimResult {
    for (const n of this.nodes) this.start(n, this.votersInitial);
    for (const n of this.nodes) this.scheduleTick(n);
    this.scheduleClient();
    this.scheduleFault();
    this.runUntil(this.profile.chaosMs);
    this.heal();
    const deadline = this.now + this.profile.healMs;
    while (this.now < deadline) {
      this.runUntil(Math.min(deadline, this.now + 500));
      if (this.converged()) break;
    }
    if (!this.converged()) {
      throw new SimViolation(this.seed, this.profile.name, this.now, 'liveness', this.livenessReport());
    }
    return {
      seed: this.seed,
      profile: this.profile.name,
      steps: this.steps,
      virtualMs: this.now,
      acked: this.acked.size,
      proposed: this.proposed,
      leadersElected: this.checker.leadersElected,
      crashes: this.crashes,
      maxTerm: Math.max(...this.nodes.map((n) => n.core?.currentTerm ?? 0)),
    };
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
    }
  }

  // --------------------------------------------------------------------------------------------
  // nodes

  coreOptions(n: SimNode): CoreOptions {
    const p = this.profile;
    const rng = this.rng.fork();
    return {
      selfId: n.voter ? n.id : null,
      electionTimeoutMinMs: p.electionMinMs,
      electionTimeoutMaxMs: p.electionMaxMs,
      appendEntriesPeriodMs: p.heartbeatMs,
      leaderFallbackTimeoutMs: p.leaderFallbackMs,
      appendEntriesBatchSizeBytes: 256,
      snapshotChunkBytes: 64,
      appendEntriesUseBatch: false,
      commandsWaitLeader: false,
      commandsQueueSize: 1000,
      dynamicMembershipChange: true,
      maxSendBytesPerRound: 4096,
      random: () => rng.next(),
      decodeMembership: decodeSimMembership,
      decodeTransmittedEntry: () => {
        throw new Error('no transmissions in the simulator');
      },
      unsafeTestFaults: this.faults,
    };
  }

  private start(n: SimNode, configuredPeers: readonly NodeId[]): void {
    const state = n.disk.load();
    n.incarnation++;
    n.sm = n.snapshot ? cloneSm(n.snapshot.sm) : { appliedIndex: 1, applied: new Set() };
    n.appliedTerms = new Map();
    n.waiters = new Map();
    n.pendingRefs = new Map();
    n.inflight = null;
    n.next = { msgs: [], persistIndex: 0, persistTerm: 0, hasWrites: false };
    n.lastCommit = 0;
    const firstIndex = (state.entries[0] as LogEntry).index;
    let peers: NodeId[] = configuredPeers.filter((p) => p !== n.id);
    let lastApplied = firstIndex;
    let snapshot: SnapshotData | undefined;
    if (n.snapshot && n.snapshot.lastEntry.index >= firstIndex) {
      peers = n.snapshot.cluster.filter((p) => p !== n.id);
      lastApplied = n.snapshot.lastEntry.index;
      snapshot = {
        data: enc.encode(`snap:${n.snapshot.lastEntry.index}`),
        lastIndex: n.snapshot.lastEntry.index,
        lastTerm: n.snapshot.lastEntry.term,
      };
    }
    n.core = new RaftCore(this.coreOptions(n), {
      hardState: state.hardState,
      entries: state.entries,
      commitIndex: state.commitHint,
      lastApplied,
      peers,
      snapshot,
      nowMs: this.now,
    });
    this.checker.onStart(this, n.id);
    this.refreshLinks();
    this.drain(n);
  }

  private crash(n: SimNode): void {
    if (!n.core) return;
    this.crashes++;
    n.core = null;
    n.disk.crash(this.faultRng, this.profile.tornWrites);
    this.refreshLinks();
  }

  private scheduleTick(n: SimNode): void {
    const jitter = this.rng.range(0, this.profile.tickMs * 0.2);
    this.queue.push(this.now + this.profile.tickMs + jitter, () => {
      if (n.core) {
        n.core.tick(this.now);
        this.drain(n);
      }
      this.scheduleTick(n);
    });
  }

  // --------------------------------------------------------------------------------------------
  // the runtime's job: persist, send, apply

  private drain(n: SimNode): void {
    for (let guard = 0; guard < 1000; guard++) {
      const core = n.core;
      if (!core) return;
      const out = core.takeOutput();
      if (out === null) return;
      this.checker.onOutput(this, n.id, out);
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
      if (this.profile.compaction) this.maybeCompact(n);
    }
    throw new SimViolation(
      this.seed,
      this.profile.name,
      this.now,
      'runtime',
      `${n.id}: output never settles`,
    );
  }

  private maybeStartSync(n: SimNode): void {
    if (n.inflight !== null) return;
    const batch = n.next;
    if (!batch.hasWrites && batch.msgs.length === 0) return;
    n.next = { msgs: [], persistIndex: 0, persistTerm: 0, hasWrites: false };
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

  private applyEntry(n: SimNode, e: LogEntry): void {
    if (e.index !== n.sm.appliedIndex + 1) {
      throw new SimViolation(
        this.seed,
        this.profile.name,
        this.now,
        'apply order',
        `${n.id} applies ${e.index} after ${n.sm.appliedIndex}`,
      );
    }
    n.sm.appliedIndex = e.index;
    n.appliedTerms.set(e.index, e.term);
    this.checker.onApply(this, n.id, e);
    if (e.command[0] === CommandType.Regular) n.sm.applied.add(commandKey(e.command));
    const ws = n.waiters.get(e.index);
    if (ws) {
      n.waiters.delete(e.index);
      for (const w of ws) if (w.term === e.term) this.acked.add(w.cmdId);
    }
  }

  private onProposal(
    n: SimNode,
    p:
      | { ref: number; kind: 'assigned'; index: number; term: number }
      | { ref: number; kind: 'failed'; reason: FailReason },
  ): void {
    const cmdId = n.pendingRefs.get(p.ref);
    if (cmdId === undefined) return;
    n.pendingRefs.delete(p.ref);
    if (p.kind === 'failed') return;
    if (p.index <= n.sm.appliedIndex) {
      if (n.appliedTerms.get(p.index) === p.term) this.acked.add(cmdId);
      return;
    }
    const list = n.waiters.get(p.index) ?? [];
    list.push({ term: p.term, cmdId });
    n.waiters.set(p.index, list);
  }

  // --------------------------------------------------------------------------------------------
  // snapshots and compaction (the simulated state machine is the set of applied commands)

  private maybeCompact(n: SimNode): void {
    const core = n.core;
    if (!core || !n.voter) return;
    const st = core.status();
    if (st.lastApplied - st.firstIndex < 40 || !this.rng.chance(0.2)) return;
    const lastEntry = core.entryAt(st.lastApplied);
    const prevEntry = core.entryAt(st.lastApplied - 1);
    if (!lastEntry || !prevEntry) return;
    n.snapshot = { sm: cloneSm(n.sm), lastEntry, prevEntry, cluster: [...st.members, n.id] };
    // the dump is durable before the journal is cut (write, fsync, rename)
    core.compact(
      { data: enc.encode(`snap:${lastEntry.index}`), lastIndex: lastEntry.index, lastTerm: lastEntry.term },
      this.now,
    );
    this.snapshotsBySize.set(`snap:${lastEntry.index}@${n.id}`, n.snapshot);
    this.latestSnapshotOf.set(lastEntry.index, n.snapshot);
  }

  private readonly snapshotsBySize = new Map<string, NonNullable<SimNode['snapshot']>>();
  private readonly latestSnapshotOf = new Map<number, NonNullable<SimNode['snapshot']>>();

  private onSnapshotReceived(n: SimNode, data: Uint8Array): void {
    const core = n.core;
    if (!core) return;
    const text = dec.decode(data);
    const index = Number(text.slice('snap:'.length));
    const snap = this.latestSnapshotOf.get(index);
    if (
      !text.startsWith('snap:') ||
      snap === undefined ||
      snap.lastEntry.index <= core.status().lastApplied
    ) {
      core.snapshotInstallFailed(this.now);
      return;
    }
    n.snapshot = { ...snap, sm: cloneSm(snap.sm) };
    n.sm = cloneSm(snap.sm);
    n.disk.reset([snap.prevEntry, snap.lastEntry]);
    n.disk.sync();
    n.appliedTerms.set(snap.lastEntry.index, snap.lastEntry.term);
    this.checker.onSnapshotInstalled(this, n.id, snap.lastEntry);
    core.installSnapshot(
      { lastEntry: snap.lastEntry, prevEntry: snap.prevEntry, cluster: snap.cluster },
      this.now,
    );
  }

  // --------------------------------------------------------------------------------------------
  // network

  private linkKey(a: NodeId, b: NodeId): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  private canTalk(a: SimNode, b: SimNode): boolean {
    if (!a.alive || !b.alive) return false;
    if (!a.voter && !b.voter) return false;
    return !(this.blocked.has(`${a.id}>${b.id}`) && this.blocked.has(`${b.id}>${a.id}`));
  }

  /** Recompute which TCP-like connections are up and tell the cores about changes. */
  private refreshLinks(): void {
    for (let i = 0; i < this.nodes.length; i++) {
      for (let j = i + 1; j < this.nodes.length; j++) {
        const a = this.nodes[i] as SimNode;
        const b = this.nodes[j] as SimNode;
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

  private send(from: SimNode, to: NodeId, message: RaftMessage): void {
    const target = this.byId.get(to);
    if (!target) return;
    if (!this.linkUp.get(this.linkKey(from.id, to))) return;
    if (this.blocked.has(`${from.id}>${to}`)) return;
    const p = this.profile;
    const lossy = !this.healed;
    if (lossy && !p.fifo && this.netRng.chance(p.dropRate)) return;
    const copies = lossy && !p.fifo && this.netRng.chance(p.dupRate) ? 2 : 1;
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
        const senderId = from.voter ? from.id : from.id;
        core.step(senderId, message, this.now);
        this.drain(target);
      });
    }
  }

  // --------------------------------------------------------------------------------------------
  // clients and faults

  private scheduleClient(): void {
    const mean = 1000 / this.profile.proposalsPerSecond;
    this.queue.push(this.now + this.rng.range(0, 2 * mean), () => {
      if (!this.healed || this.rng.chance(0.3)) this.proposeRandom();
      if (this.now < this.profile.chaosMs + this.profile.healMs) this.scheduleClient();
    });
  }

  private proposeRandom(): void {
    const live = this.nodes.filter((n) => n.core !== null);
    if (live.length === 0) return;
    const n = this.rng.pick(live);
    const core = n.core as RaftCore;
    if (this.profile.membershipChanges && n.voter && this.rng.chance(0.05)) {
      this.proposeMembership(n, core);
      return;
    }
    const id = this.nextCmd++;
    const ref = this.nextRef++;
    n.pendingRefs.set(ref, id);
    this.proposed++;
    core.propose(simCommand(id), ref, this.now);
    this.drain(n);
  }

  private proposeMembership(n: SimNode, core: RaftCore): void {
    const members = new Set(core.votingMembers);
    const spare = this.spareVoters[0];
    if (spare === undefined) return;
    const change: MembershipChange = members.has(spare)
      ? { op: 'rem', node: spare }
      : { op: 'add', node: spare };
    if (change.op === 'add' && !this.byId.has(spare)) {
      const node = new SimNode(spare, true);
      this.addNode(node);
      this.start(node, [...this.votersInitial, spare]);
      this.scheduleTick(node);
    }
    core.propose(simMembershipCommand(change), null, this.now);
    this.drain(n);
  }

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
        if (live.length > 1 || r.chance(0.2)) {
          const victim = r.pick(live.length > 0 ? live : this.nodes);
          this.crash(victim);
        }
        break;
      }
      case 'restart': {
        const dead = this.nodes.filter((n) => n.core === null);
        if (dead.length > 0) {
          const n = r.pick(dead);
          this.start(n, this.votersInitial);
        }
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

  private currentLeader(): SimNode | undefined {
    const leaders = this.nodes.filter((n) => n.core?.role === RaftState.Leader);
    if (leaders.length !== 1) return undefined;
    return leaders[0];
  }

  /** Nodes that are in the leader's configuration (or the initial one), plus read-only nodes. */
  private participants(leader: SimNode): SimNode[] {
    const members = new Set([leader.id, ...(leader.core as RaftCore).votingMembers]);
    return this.nodes.filter((n) => (n.voter ? members.has(n.id) : true));
  }

  private converged(): boolean {
    const leader = this.currentLeader();
    if (!leader?.core) return false;
    const target = leader.core.status();
    if (target.commitIndex !== target.lastIndex) return false;
    for (const n of this.participants(leader)) {
      const core = n.core;
      if (!core) return false;
      const st = core.status();
      if (st.leader !== leader.id || st.lastApplied !== target.lastIndex) return false;
    }
    for (const id of this.acked) {
      const key = commandKey(simCommand(id));
      for (const n of this.participants(leader)) if (!n.sm.applied.has(key)) return false;
    }
    return true;
  }

  private livenessReport(): string {
    const lines = [`no convergence ${this.profile.healMs} ms after healing`];
    for (const n of this.nodes) {
      const st = n.core?.status();
      lines.push(
        st
          ? `${n.id}: state=${st.state} term=${st.term} leader=${st.leader} commit=${st.commitIndex} applied=${st.lastApplied} last=${st.lastIndex} members=${st.members.join(',')} connected=${st.connected.join(',')} removed=${st.selfRemoved}`
          : `${n.id}: down`,
      );
    }
    const missing = [...this.acked].filter((id) =>
      this.nodes.some((n) => n.core && !n.sm.applied.has(commandKey(simCommand(id)))),
    );
    if (missing.length)
      lines.push(`acknowledged commands not applied everywhere: ${missing.slice(0, 10).join(', ')}`);
    return lines.join('\n');
  }

  // --------------------------------------------------------------------------------------------
  // access for the checker

  liveNodes(): { id: NodeId; core: RaftCore; voter: boolean }[] {
    return this.nodes
      .filter((n) => n.core !== null)
      .map((n) => ({ id: n.id, core: n.core as RaftCore, voter: n.voter }));
  }
}

function cloneSm(sm: SimStateMachine): SimStateMachine {
  return { appliedIndex: sm.appliedIndex, applied: new Set(sm.applied) };
}

export { SimViolation };
