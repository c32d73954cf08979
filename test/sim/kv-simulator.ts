/**
 * The KV mode of the deterministic simulator: the same virtual network, disks, crashes and fault
 * profiles as simulator.ts, but every node's state machine is a KvStateMachine (src/kv) applying
 * real pickled KVStoreTTL commands (`encodeMethodCall` with Patroni's function ids 0 `_delete`,
 * 1 `_expire`, 2 `_set`), the leader expires overdue keys as KVStoreTTL does (limb included), and
 * clients run Patroni's client side against a few keys: local pre-check, record built with the
 * node's wall clock, the retry loop (submit, wait, 1 s pause, resubmit until the budget is spent;
 * the first success of any round wins). Every operation is recorded with its invoke and response
 * times and its outcome — the result, `false`, or unknown (timed out, node crashed) — and
 * kv-checker.ts proves the history linearizable and the replicas identical.
 */

import {
  type CasConditions,
  checkConditions,
  conditionKwargs,
  type KvRecord,
  newRecordDict,
  valuesMatch,
} from '../../src/kv/record.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { decodeMethodCall, encodeMethodCall } from '../../src/raft/commands.js';
import { RaftCore } from '../../src/raft/core/core.js';
import type { CoreOptions, SnapshotData, UnsafeTestFaults } from '../../src/raft/core/options.js';
import {
  CommandType,
  FailReason,
  type LogEntry,
  type NodeId,
  type RaftMessage,
  RaftState,
} from '../../src/raft/core/types.js';
import { type PyDict, type PyDictKey, PyFloat, type PyValue } from '../../src/wire/value.js';
import { type CheckedCluster, SafetyChecker } from './checker.js';
import { SimDisk } from './disk.js';
import {
  type ClientOp,
  type ExpireIssue,
  KvChecker,
  type KvCheckOptions,
  type KvHistory,
} from './kv-checker.js';
import { FUNC_DELETE, FUNC_EXPIRE, FUNC_SET, type ModelRecord, stateText } from './kv-model.js';
import { Rng } from './rng.js';
import { decodeSimMembership, type SimProfile, SimViolation, simMembershipCommand } from './simulator.js';

/** A deliberately broken apply rule, for proving the checkers can fail. */
export type KvApplyFault =
  /** every node applies `_set` as if prevValue were not given */
  | 'ignorePrevValue'
  /** every node applies `_set` as if prevIndex were not given */
  | 'ignorePrevIndex'
  /** only n2 ignores prevValue: the replicas diverge */
  | 'divergentN2';

export interface KvSimOptions extends KvCheckOptions {
  /** keys `/sim/k0` … (default 3; no key is a prefix of another) */
  readonly keys?: number;
  /** concurrent clients, each running one operation at a time (default 4) */
  readonly clients?: number;
  readonly coreFaults?: UnsafeTestFaults;
  readonly applyFault?: KvApplyFault;
  /**
   * test-only: scope session guarantees to the client alone, as if its reads on different nodes
   * had to be monotonic (they need not: reads are local) — proves the read checks can fail
   */
  readonly sessionsSpanNodes?: boolean;
}

export interface KvSimResult {
  readonly seed: number;
  readonly profile: string;
  readonly steps: number;
  readonly virtualMs: number;
  readonly ops: number;
  readonly acked: number;
  readonly unknown: number;
  readonly precheckFalse: number;
  readonly reads: number;
  readonly expiresIssued: number;
  readonly committedEntries: number;
  readonly leadersElected: number;
  readonly crashes: number;
  readonly searchSteps: number;
  /** operations completed by an index assignment for an entry already applied (never over TCP) */
  readonly lateAssignments: number;
}

// ----------------------------------------------------------------------------------------------

class EventQueue {
  private heap: { at: number; seq: number; run: () => void }[] = [];
  private seq = 0;

  push(at: number, run: () => void): void {
    const ev = { at, seq: this.seq++, run };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as typeof ev;
      if (parent.at < ev.at || (parent.at === ev.at && parent.seq < ev.seq)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = ev;
  }

  pop(): { at: number; seq: number; run: () => void } | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop() as (typeof h)[number];
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const lv = h[l] as (typeof h)[number];
        const rv = h[r];
        const c = rv !== undefined && (rv.at < lv.at || (rv.at === lv.at && rv.seq < lv.seq)) ? r : l;
        const cv = h[c] as (typeof h)[number];
        if (last.at < cv.at || (last.at === cv.at && last.seq < cv.seq)) break;
        h[i] = cv;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

/** A state machine with a broken `_set` rule (test-only). */
class BrokenKvStateMachine extends KvStateMachine {
  constructor(private readonly drop: 'prevValue' | 'prevIndex') {
    super();
  }
  override applySet(args: readonly PyValue[], kwargs: PyDict, index: number): KvRecord | false {
    const kw = new Map(kwargs);
    kw.delete(this.drop);
    return super.applySet(args, kw, index);
  }
}

type Completion = (result: PyValue | KvRecord | undefined, reason: number) => void;

/** SyncObj's internal outcome for a waiter whose index a snapshot covered. */
const UNKNOWN_OUTCOME = -3;
/** the proposal was assigned an index this node had already applied: SyncObj reports success without a result */
const LATE_ASSIGNMENT = -4;

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

interface KvSnapshot {
  readonly data: Map<PyDictKey, PyValue>;
  readonly lastEntry: LogEntry;
  readonly prevEntry: LogEntry;
  readonly cluster: NodeId[];
}

class KvNode {
  core: RaftCore | null = null;
  incarnation = 0;
  readonly disk = new SimDisk();
  sm: KvStateMachine = new KvStateMachine();
  appliedIndex = 1;
  snapshot: KvSnapshot | null = null;
  appliedTerms = new Map<number, number>();
  waiters = new Map<number, Waiter[]>();
  pending = new Map<number, Completion>();
  readonly limb = new Map<string, PyDict>();
  inflight: PersistBatch | null = null;
  next: PersistBatch = { msgs: [], persistIndex: 0, persistTerm: 0, hasWrites: false };
  lastCommit = 0;
  constructor(
    readonly id: NodeId,
    readonly voter: boolean,
    /** this node's wall clock offset, seconds */
    readonly skew: number,
  ) {}
  get alive(): boolean {
    return this.core !== null;
  }
}

function toModel(r: KvRecord): ModelRecord {
  return r.expire === undefined
    ? { value: r.value, updated: r.updated, created: r.created, index: r.index }
    : { value: r.value, updated: r.updated, created: r.created, expire: r.expire, index: r.index };
}

/** The canonical text of a node's whole KV state (same form as the model's). */
export function kvStateText(sm: KvStateMachine): string {
  return stateText([...sm.getPrefix('')].map(([k, r]) => [k, toModel(r)] as [string, ModelRecord]));
}

export class KvSimulator {
  readonly rng: Rng;
  private readonly netRng: Rng;
  private readonly faultRng: Rng;
  private readonly clientRng: Rng;
  private readonly queue = new EventQueue();
  private now = 0;
  private steps = 0;
  readonly nodes: KvNode[] = [];
  private readonly byId = new Map<NodeId, KvNode>();
  private readonly blocked = new Set<string>();
  private readonly linkUp = new Map<string, boolean>();
  private readonly fifoClock = new Map<string, number>();
  private healed = false;
  private readonly raftChecker = new SafetyChecker();
  readonly checker: KvChecker;
  private nextRef = 1;
  private crashes = 0;
  private readonly votersInitial: NodeId[] = [];
  private spareVoters: NodeId[] = [];
  private readonly keys: string[];
  private readonly history: KvHistory = { ops: [], expires: [] };
  private clientsStopAt: number;
  private activeClients = 0;
  private maxCommit = 0;

  constructor(
    readonly seed: number,
    readonly profile: SimProfile,
    private readonly options: KvSimOptions = {},
  ) {
    this.rng = new Rng(seed);
    this.netRng = this.rng.fork();
    this.faultRng = this.rng.fork();
    this.clientRng = this.rng.fork();
    this.checker = new KvChecker(seed, `${profile.name} --kv`, options);
    const skewRng = this.rng.fork();
    for (let i = 1; i <= profile.voters; i++) this.votersInitial.push(`n${i}`);
    for (const id of this.votersInitial) this.addNode(new KvNode(id, true, skewRng.range(-0.3, 0.3)));
    for (let i = 1; i <= profile.readonlyNodes; i++)
      this.addNode(new KvNode(`ro${i}`, false, skewRng.range(-0.3, 0.3)));
    if (profile.membershipChanges) this.spareVoters = [`n${profile.voters + 1}`];
    const k = options.keys ?? 3;
    this.keys = Array.from({ length: k }, (_, i) => `/sim/k${i}`);
    this.clientsStopAt = profile.chaosMs + 2000;
  }

  private addNode(n: KvNode): void {
    this.nodes.push(n);
    this.byId.set(n.id, n);
  }

  private fail(property: string, detail: string): never {
    throw new SimViolation(this.seed, `${this.profile.name} --kv`, this.now, property, detail);
  }

  // --------------------------------------------------------------------------------------------

  run(): KvSimResult {
    for (const n of this.nodes) this.start(n, this.votersInitial);
    for (const n of this.nodes) this.scheduleTick(n);
    const clients = this.options.clients ?? 4;
    for (let c = 0; c < clients; c++) this.scheduleClient(c);
    this.scheduleFault();
    this.runUntil(this.profile.chaosMs);
    this.heal();
    const deadline = this.now + this.profile.healMs;
    while (this.now < deadline) {
      this.runUntil(Math.min(deadline, this.now + 500));
      if (this.converged()) break;
    }
    if (!this.converged()) this.fail('liveness', this.livenessReport());
    const report = this.checker.finish(
      this.history,
      this.participants().map((n) => ({ id: n.id, appliedIndex: n.appliedIndex, state: kvStateText(n.sm) })),
    );
    const ops = this.history.ops;
    return {
      seed: this.seed,
      profile: this.profile.name,
      steps: this.steps,
      virtualMs: this.now,
      ops: ops.length,
      acked: ops.filter((o) => o.outcome === 'ok' && o.kind !== 'read').length,
      unknown: ops.filter((o) => o.outcome === 'unknown').length,
      precheckFalse: ops.filter((o) => o.outcome === 'precheck-false').length,
      reads: ops.filter((o) => o.kind === 'read').length,
      expiresIssued: this.history.expires.length,
      committedEntries: report.committedEntries,
      leadersElected: this.raftChecker.leadersElected,
      crashes: this.crashes,
      searchSteps: report.searchSteps,
      lateAssignments: ops.filter((o) => o.lateAssignment).length,
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
      this.raftChecker.afterStep(this.raftView(), this.now);
      for (const n of this.nodes) {
        const c = n.core?.status().commitIndex ?? 0;
        if (c > this.maxCommit) this.maxCommit = c;
      }
    }
  }

  /** What the Raft SafetyChecker reads of a simulator. */
  private raftView(): CheckedCluster {
    return {
      seed: this.seed,
      label: `${this.profile.name} --kv`,
      liveNodes: () =>
        this.nodes
          .filter((n) => n.core !== null)
          .map((n) => ({ id: n.id, core: n.core as RaftCore, voter: n.voter })),
    };
  }

  // --------------------------------------------------------------------------------------------
  // nodes

  private coreOptions(n: KvNode): CoreOptions {
    const p = this.profile;
    const rng = this.rng.fork();
    return {
      selfId: n.voter ? n.id : null,
      electionTimeoutMinMs: p.electionMinMs,
      electionTimeoutMaxMs: p.electionMaxMs,
      appendEntriesPeriodMs: p.heartbeatMs,
      leaderFallbackTimeoutMs: p.leaderFallbackMs,
      appendEntriesBatchSizeBytes: 1024,
      snapshotChunkBytes: 256,
      appendEntriesUseBatch: false,
      commandsWaitLeader: false,
      commandsQueueSize: 1000,
      dynamicMembershipChange: true,
      maxSendBytesPerRound: 16384,
      random: () => rng.next(),
      decodeMembership: decodeSimMembership,
      decodeTransmittedEntry: () => {
        throw new Error('no transmissions in the simulator');
      },
      unsafeTestFaults: this.options.coreFaults,
    };
  }

  private newStateMachine(n: KvNode): KvStateMachine {
    const f = this.options.applyFault;
    if (f === 'ignorePrevValue' || (f === 'divergentN2' && n.id === 'n2'))
      return new BrokenKvStateMachine('prevValue');
    if (f === 'ignorePrevIndex') return new BrokenKvStateMachine('prevIndex');
    return new KvStateMachine();
  }

  private start(n: KvNode, configuredPeers: readonly NodeId[]): void {
    const state = n.disk.load();
    n.incarnation++;
    n.sm = this.newStateMachine(n);
    n.appliedIndex = 1;
    n.appliedTerms = new Map();
    n.waiters = new Map();
    n.pending = new Map();
    n.limb.clear();
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
      n.sm.restore(n.snapshot.data);
      n.appliedIndex = lastApplied;
      n.appliedTerms.set(lastApplied, n.snapshot.lastEntry.term);
      snapshot = {
        data: snapshotToken(lastApplied),
        lastIndex: lastApplied,
        lastTerm: n.snapshot.lastEntry.term,
      };
    } else {
      n.appliedIndex = firstIndex;
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
    this.raftChecker.onStart(this.raftView(), n.id);
    this.refreshLinks();
    this.drain(n);
  }

  private crash(n: KvNode): void {
    if (!n.core) return;
    this.crashes++;
    n.core = null;
    // the client processes living with this node lose their calls: outcomes unknown
    for (const done of n.pending.values()) done(undefined, UNKNOWN_OUTCOME);
    for (const ws of n.waiters.values()) for (const w of ws) w.done(undefined, UNKNOWN_OUTCOME);
    n.pending.clear();
    n.waiters.clear();
    n.disk.crash(this.faultRng, this.profile.tornWrites);
    this.refreshLinks();
  }

  private wallClock(n: KvNode): number {
    return 1000 + this.now / 1000 + n.skew;
  }

  private scheduleTick(n: KvNode): void {
    const jitter = this.rng.range(0, this.profile.tickMs * 0.2);
    this.queue.push(this.now + this.profile.tickMs + jitter, () => {
      if (n.core) {
        n.core.tick(this.now);
        this.expireKeys(n);
        this.drain(n);
      }
      this.scheduleTick(n);
    });
  }

  /** KVStoreTTL's leader-driven expiry, run after every tick. */
  private expireKeys(n: KvNode): void {
    const core = n.core;
    if (!core) return;
    if (core.role !== RaftState.Leader) {
      n.limb.clear();
      return;
    }
    const now = this.wallClock(n);
    for (const key of n.sm.expiring) {
      const value = n.sm.raw(key);
      if (value === undefined) continue;
      const e = value.get('expire');
      const t = e instanceof PyFloat ? e.value : typeof e === 'number' ? e : Number.NaN;
      if (!(t <= now)) continue;
      const inLimb = n.limb.get(key);
      if (inLimb !== undefined && valuesMatch(inLimb, value)) continue;
      n.limb.set(key, value);
      const command = encodeMethodCall({ funcId: FUNC_EXPIRE, args: [key, value], kwargs: undefined });
      const issue: ExpireIssue = { key, command, invoke: this.now };
      this.history.expires.push(issue);
      this.propose(n, command, () => {
        const l = n.limb.get(key);
        if (l !== undefined && valuesMatch(l, value)) n.limb.delete(key);
      });
    }
  }

  private propose(n: KvNode, command: Uint8Array, done: Completion): void {
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

  // --------------------------------------------------------------------------------------------
  // the runtime's job: persist, send, apply

  private drain(n: KvNode): void {
    for (let guard = 0; guard < 1000; guard++) {
      const core = n.core;
      if (!core) return;
      const out = core.takeOutput();
      if (out === null) return;
      this.raftChecker.onOutput(this.raftView(), n.id, core, out);
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
      if (n.core !== core) return;
    }
    this.fail('runtime', `${n.id}: output never settles`);
  }

  private maybeStartSync(n: KvNode): void {
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

  private applyEntry(n: KvNode, e: LogEntry): void {
    if (e.index !== n.appliedIndex + 1) {
      this.fail('apply order', `${n.id} applies ${e.index} after ${n.appliedIndex}`);
    }
    let result: PyValue | KvRecord | undefined;
    if (e.command[0] === CommandType.Regular) {
      const call = decodeMethodCall(e.command);
      const kwargs = call.kwargs ?? new Map<PyDictKey, PyValue>();
      if (call.funcId === FUNC_SET) result = n.sm.applySet(call.args, kwargs, e.index);
      else if (call.funcId === FUNC_DELETE) result = n.sm.applyDelete(call.args, kwargs);
      else if (call.funcId === FUNC_EXPIRE) {
        n.sm.applyExpire(call.args);
        result = null;
      } else this.fail('apply', `${n.id}: unknown function id ${call.funcId} at ${e.index}`);
    }
    n.appliedIndex = e.index;
    n.appliedTerms.set(e.index, e.term);
    this.raftChecker.onApply(this.raftView(), n.id, e);
    this.checker.onApply(n.id, e, kvStateText(n.sm), this.now);
    const ws = n.waiters.get(e.index);
    if (ws) {
      n.waiters.delete(e.index);
      for (const w of ws)
        w.done(
          w.term === e.term ? result : undefined,
          w.term === e.term ? FailReason.Success : FailReason.Discarded,
        );
    }
  }

  private onProposal(
    n: KvNode,
    p:
      | { ref: number; kind: 'assigned'; index: number; term: number }
      | { ref: number; kind: 'failed'; reason: FailReason },
  ): void {
    const done = n.pending.get(p.ref);
    if (done === undefined) return;
    n.pending.delete(p.ref);
    if (p.kind === 'failed') {
      done(undefined, p.reason);
      return;
    }
    if (p.index <= n.appliedIndex) {
      // SyncObj: success without a result (or DISCARDED): KVStoreTTL would report false
      done(undefined, n.appliedTerms.get(p.index) === p.term ? LATE_ASSIGNMENT : FailReason.Discarded);
      return;
    }
    const list = n.waiters.get(p.index) ?? [];
    list.push({ term: p.term, done });
    n.waiters.set(p.index, list);
  }

  // --------------------------------------------------------------------------------------------
  // snapshots: the KV map (records are immutable, so a shallow copy is a point-in-time state)

  private readonly snapshots = new Map<number, KvSnapshot>();

  private maybeCompact(n: KvNode): void {
    const core = n.core;
    if (!core || !n.voter) return;
    const st = core.status();
    if (st.lastApplied - st.firstIndex < 30 || !this.rng.chance(0.2)) return;
    if (st.lastApplied !== n.appliedIndex) return;
    const lastEntry = core.entryAt(st.lastApplied);
    const prevEntry = core.entryAt(st.lastApplied - 1);
    if (!lastEntry || !prevEntry) return;
    n.snapshot = { data: n.sm.snapshot(), lastEntry, prevEntry, cluster: [...st.members, n.id] };
    core.compact(
      { data: snapshotToken(lastEntry.index), lastIndex: lastEntry.index, lastTerm: lastEntry.term },
      this.now,
    );
    this.snapshots.set(lastEntry.index, n.snapshot);
  }

  private onSnapshotReceived(n: KvNode, data: Uint8Array): void {
    const core = n.core;
    if (!core) return;
    const index = snapshotIndex(data);
    const snap = index === null ? undefined : this.snapshots.get(index);
    if (snap === undefined || snap.lastEntry.index <= core.status().lastApplied) {
      core.snapshotInstallFailed(this.now);
      return;
    }
    n.snapshot = snap;
    n.sm = this.newStateMachine(n);
    n.sm.restore(snap.data);
    n.disk.reset([snap.prevEntry, snap.lastEntry]);
    n.disk.sync();
    n.appliedIndex = snap.lastEntry.index;
    n.appliedTerms.set(snap.lastEntry.index, snap.lastEntry.term);
    for (const [index2, ws] of [...n.waiters]) {
      if (index2 > snap.lastEntry.index) continue;
      n.waiters.delete(index2);
      for (const w of ws) w.done(undefined, UNKNOWN_OUTCOME);
    }
    this.raftChecker.onSnapshotInstalled(this.raftView(), n.id, snap.lastEntry);
    this.checker.onSnapshotInstalled(n.id, snap.lastEntry.index, kvStateText(n.sm));
    core.installSnapshot(
      { lastEntry: snap.lastEntry, prevEntry: snap.prevEntry, cluster: snap.cluster },
      this.now,
    );
  }

  // --------------------------------------------------------------------------------------------
  // network (as simulator.ts)

  private linkKey(a: NodeId, b: NodeId): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  private canTalk(a: KvNode, b: KvNode): boolean {
    if (!a.alive || !b.alive) return false;
    if (!a.voter && !b.voter) return false;
    return !(this.blocked.has(`${a.id}>${b.id}`) && this.blocked.has(`${b.id}>${a.id}`));
  }

  private refreshLinks(): void {
    for (let i = 0; i < this.nodes.length; i++) {
      for (let j = i + 1; j < this.nodes.length; j++) {
        const a = this.nodes[i] as KvNode;
        const b = this.nodes[j] as KvNode;
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

  private send(from: KvNode, to: NodeId, message: RaftMessage): void {
    const target = this.byId.get(to);
    if (!target) return;
    if (!this.linkUp.get(this.linkKey(from.id, to))) return;
    if (this.blocked.has(`${from.id}>${to}`)) return;
    const p = this.profile;
    const lossy = !this.healed;
    if (lossy && !p.fifo && this.netRng.chance(p.dropRate)) return;
    // forwarded submissions are never duplicated: over TCP nothing is, and a duplicated
    // apply_command is a second submission no client made (Raft messages still are)
    const copies =
      lossy && !p.fifo && message.type !== 'apply_command' && this.netRng.chance(p.dupRate) ? 2 : 1;
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
        if (p.fifo && (target.incarnation !== incarnation || from.incarnation !== fromIncarnation)) return;
        if (!this.linkUp.get(this.linkKey(from.id, to))) return;
        if (this.blocked.has(`${from.id}>${to}`)) return;
        core.step(from.id, message, this.now);
        this.drain(target);
      });
    }
  }

  // --------------------------------------------------------------------------------------------
  // clients: Patroni's KVStoreTTL client side (set / delete / get) with its retry loop

  private scheduleClient(client: number): void {
    this.activeClients++;
    const next = () => {
      if (this.now >= this.clientsStopAt) {
        this.activeClients--;
        return;
      }
      this.runClientOp(client, () => this.queue.push(this.now + this.clientRng.range(5, 80), next));
    };
    this.queue.push(this.now + this.clientRng.range(0, 100), next);
  }

  private runClientOp(client: number, then: () => void): void {
    const r = this.clientRng;
    const live = this.nodes.filter((n) => n.core !== null);
    if (live.length === 0) {
      this.queue.push(this.now + 50, then);
      return;
    }
    const n = r.pick(live);
    const key = r.pick(this.keys);
    const id = this.history.ops.length;
    const op: ClientOp = {
      id,
      client,
      node: n.id,
      session: this.options.sessionsSpanNodes ? `${client}` : `${client}@${n.id}#${n.incarnation}`,
      kind: 'read',
      key,
      invoke: this.now,
      response: null,
      command: null,
      rounds: 0,
      outcome: 'pending',
      result: undefined,
      cas: {},
    };
    this.history.ops.push(op);
    const local = n.sm.raw(key);
    op.commitBound = this.commitBound(n);
    const localRec = n.sm.get(key);
    const x = r.next();
    if (x < 0.12) {
      op.outcome = 'ok';
      op.result = localRec === null ? null : toModel(localRec);
      op.response = this.now;
      op.commitBound = this.commitBound(n);
      then();
      return;
    }
    const value = `c${client}-${id}`;
    const budget = r.pick([1, 2, 3, 5]);
    if (x < 0.8) {
      // set, with one of Patroni's CAS forms or none
      const y = r.next();
      let cas: CasConditions = {};
      if (y < 0.3) cas = {};
      else if (y < 0.42) cas = { prevExist: false };
      else if (y < 0.5) cas = { prevExist: true };
      else if (y < 0.7)
        cas = { prevValue: r.chance(0.8) && localRec ? localRec.value : `c${r.int(0, 3)}-${r.int(0, id)}` };
      else if (y < 0.93)
        cas = { prevIndex: localRec && r.chance(0.85) ? localRec.index - (r.chance(0.1) ? 1 : 0) : null };
      else cas = { prevExist: true, prevValue: localRec?.value ?? 'x' };
      const kwargs = conditionKwargs(cas);
      op.kind = 'set';
      op.cas = cas;
      if (!checkConditions(local, kwargs)) {
        this.precheckFalse(op, localRec, then);
        return;
      }
      const ttl = r.chance(0.25) ? r.pick([0.5, 1, 2, 4]) : undefined;
      const record = newRecordDict(value, this.wallClock(n), local?.get('created'), ttl);
      const command = encodeMethodCall({
        funcId: FUNC_SET,
        args: [key, record],
        kwargs: kwargs.size > 0 ? kwargs : undefined,
      });
      this.retryLoop(n, op, command, budget, then);
      return;
    }
    // deletes
    const y = r.next();
    let kwargs: PyDict;
    if (y < 0.12) {
      op.kind = 'rdelete';
      kwargs = new Map<PyDictKey, PyValue>([['recursive', true]]);
    } else if (y < 0.24) {
      // an unconditional delete as Python Patroni sends it (no CAS, no pre-check)
      op.kind = 'pydelete';
      kwargs = new Map<PyDictKey, PyValue>([['recursive', false]]);
    } else {
      op.kind = 'delete';
      const z = r.next();
      const cas: CasConditions =
        z < 0.45
          ? {}
          : z < 0.5
            ? { prevIndex: null }
            : z < 0.75
              ? { prevValue: localRec?.value ?? 'x' }
              : { prevIndex: localRec ? localRec.index : r.int(1, 50) };
      const conditions = conditionKwargs(cas);
      // KVStoreTTL.delete: nothing that requires the key to exist → add prevExist: true
      const constrains =
        conditions.has('prevExist') ||
        conditions.has('prevValue') ||
        (conditions.has('prevIndex') && conditions.get('prevIndex') !== null);
      if (!constrains) conditions.set('prevExist', true);
      op.cas = Object.fromEntries(conditions) as CasConditions;
      if (!checkConditions(local, conditions)) {
        this.precheckFalse(op, localRec, then);
        return;
      }
      kwargs = new Map<PyDictKey, PyValue>([['recursive', false], ...conditions]);
    }
    const command = encodeMethodCall({ funcId: FUNC_DELETE, args: [key], kwargs });
    this.retryLoop(n, op, command, budget, then);
  }

  /** The highest commit index any node has reached (a local read cannot be newer). */
  private commitBound(n: KvNode): number {
    return Math.max(this.maxCommit, n.core?.status().commitIndex ?? 0);
  }

  private precheckFalse(op: ClientOp, seen: KvRecord | null, then: () => void): void {
    op.outcome = 'precheck-false';
    op.result = false;
    op.observed = seen === null ? null : toModel(seen);
    op.response = this.now;
    then();
  }

  /**
   * KVStoreTTL.retry in virtual time: submit; wait for a completion up to the remaining budget; on a
   * failure (of any round) or when the wait runs out, pause 1 s and submit again while budget
   * remains; the first success of any round wins. Out of budget: unknown outcome.
   */
  private retryLoop(n: KvNode, op: ClientOp, command: Uint8Array, budgetS: number, then: () => void): void {
    op.command = command;
    const deadline = this.now + budgetS * 1000;
    const incarnation = n.incarnation;
    let finished = false;
    let lastError: number | null = null;
    let wake: (() => void) | null = null;
    const finish = (outcome: 'ok' | 'unknown', result?: ModelRecord | boolean) => {
      if (finished) return;
      finished = true;
      wake = null;
      op.outcome = outcome;
      op.result = result;
      op.response = outcome === 'ok' ? this.now : Number.POSITIVE_INFINITY;
      op.finishedAt = this.now;
      then();
    };
    const afterWait = () => {
      wake = null;
      if (finished) return;
      const remaining = deadline - this.now;
      if (remaining <= 0) {
        finish('unknown');
        return;
      }
      this.queue.push(this.now + 1000, () => round(remaining));
    };
    const round = (waitMs: number) => {
      if (finished) return;
      if (n.core === null || n.incarnation !== incarnation) {
        // the client lived with its node: it is gone, the outcome of earlier rounds is unknown
        finish('unknown');
        return;
      }
      lastError = null;
      op.rounds++;
      this.propose(n, command, (result, reason) => {
        if (finished) return;
        if (reason === FailReason.Success) {
          finish('ok', resultOf(result));
          return;
        }
        if (reason === LATE_ASSIGNMENT) {
          op.lateAssignment = true;
          finish('unknown');
          return;
        }
        lastError = reason;
        wake?.();
      });
      if (finished) return;
      if (lastError !== null) {
        afterWait();
        return;
      }
      const mine = () => {
        if (wake === mine) afterWait();
      };
      wake = mine;
      this.queue.push(this.now + waitMs, mine);
    };
    round(budgetS * 1000);
  }

  // --------------------------------------------------------------------------------------------
  // faults (as simulator.ts)

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
    if (p.membershipChanges) kinds.push('membership');
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
        if (live.length > 1 || r.chance(0.2)) this.crash(r.pick(live.length > 0 ? live : this.nodes));
        break;
      }
      case 'restart': {
        const dead = this.nodes.filter((n) => n.core === null);
        if (dead.length > 0) this.start(r.pick(dead), this.votersInitial);
        break;
      }
      case 'membership':
        this.membershipChange();
        break;
    }
    this.refreshLinks();
  }

  private membershipChange(): void {
    const leader = this.nodes.find((n) => n.core?.role === RaftState.Leader);
    const spare = this.spareVoters[0];
    if (!leader?.core || spare === undefined) return;
    const members = new Set(leader.core.votingMembers);
    const op = members.has(spare) ? 'rem' : 'add';
    if (op === 'add' && !this.byId.has(spare)) {
      const node = new KvNode(spare, true, 0);
      this.addNode(node);
      this.start(node, [...this.votersInitial, spare]);
      this.scheduleTick(node);
    }
    leader.core.propose(simMembershipCommand({ op, node: spare }), null, this.now);
    this.drain(leader);
  }

  private heal(): void {
    this.healed = true;
    this.blocked.clear();
    for (const n of this.nodes) if (!n.core) this.start(n, this.votersInitial);
    this.refreshLinks();
  }

  // --------------------------------------------------------------------------------------------
  // liveness

  /** The leader's voting members (a removed spare node stops following) and the read-only nodes. */
  private participants(): KvNode[] {
    const leader = this.nodes.find((n) => n.core?.role === RaftState.Leader);
    if (!leader?.core) return [];
    const members = new Set([leader.id, ...leader.core.votingMembers]);
    return this.nodes.filter((n) => n.core !== null && (!n.voter || members.has(n.id)));
  }

  private converged(): boolean {
    if (this.activeClients > 0) return false;
    const leaders = this.nodes.filter((n) => n.core?.role === RaftState.Leader);
    if (leaders.length !== 1) return false;
    const leader = leaders[0] as KvNode;
    const target = (leader.core as RaftCore).status();
    if (target.commitIndex !== target.lastIndex) return false;
    const members = new Set([leader.id, ...(leader.core as RaftCore).votingMembers]);
    for (const n of this.nodes) {
      if (n.voter && !members.has(n.id)) continue;
      const st = n.core?.status();
      if (!st || st.leader !== leader.id || n.appliedIndex !== target.lastIndex) return false;
    }
    // nothing overdue left to expire
    const wall = this.wallClock(leader);
    for (const key of leader.sm.expiring) {
      const e = leader.sm.get(key)?.expire;
      if (e !== undefined && e <= wall) return false;
    }
    return true;
  }

  private livenessReport(): string {
    const lines = [
      `no convergence ${this.profile.healMs} ms after healing (active clients ${this.activeClients})`,
    ];
    for (const n of this.nodes) {
      const st = n.core?.status();
      lines.push(
        st
          ? `${n.id}: state=${st.state} term=${st.term} leader=${st.leader} commit=${st.commitIndex} applied=${n.appliedIndex} last=${st.lastIndex} members=${st.members.join(',')}`
          : `${n.id}: down`,
      );
    }
    return lines.join('\n');
  }
}

function resultOf(v: PyValue | KvRecord | undefined): ModelRecord | boolean {
  if (v === true || v === false) return v;
  if (v !== null && typeof v === 'object' && 'value' in v && 'index' in v) return toModel(v as KvRecord);
  throw new Error(`unexpected apply result ${String(v)}`);
}

const te = new TextEncoder();
const td = new TextDecoder();

function snapshotToken(index: number): Uint8Array {
  return te.encode(`kvsnap:${index}`);
}

function snapshotIndex(data: Uint8Array): number | null {
  const t = td.decode(data);
  return t.startsWith('kvsnap:') ? Number(t.slice('kvsnap:'.length)) : null;
}

export { SimViolation };
