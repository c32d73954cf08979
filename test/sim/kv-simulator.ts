/**
 * The KV mode of the deterministic simulator (the cluster mechanics are cluster.ts: the same
 * virtual network, disks, crashes and fault profiles as the toy mode): every node's state machine
 * is a KvStateMachine (src/kv) applying real pickled KVStoreTTL commands (`encodeMethodCall` with
 * Patroni's function ids 0 `_delete`, 1 `_expire`, 2 `_set`), the leader expires overdue keys as
 * KVStoreTTL does (limb included), and clients run Patroni's client side against a few keys: local
 * pre-check, record built with the node's wall clock, the retry loop (submit, wait, 1 s pause,
 * resubmit until the budget is spent; the first success of any round wins). Every operation is
 * recorded with its invoke and response times and its outcome — the result, `false`, or unknown
 * (timed out, node crashed) — and kv-checker.ts proves the history linearizable and the replicas
 * identical.
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
import type { UnsafeTestFaults } from '../../src/raft/core/options.js';
import { FailReason, type LogEntry, type NodeId, RaftState } from '../../src/raft/core/types.js';
import { type PyDict, type PyDictKey, PyFloat, type PyValue } from '../../src/wire/value.js';
import { SimViolation } from './checker.js';
import type { SimProfile } from './cluster.js';
import {
  type ClientOp,
  type ExpireIssue,
  KvChecker,
  type KvCheckOptions,
  type KvHistory,
} from './kv-checker.js';
import { FUNC_DELETE, FUNC_EXPIRE, FUNC_SET, type ModelRecord, stateText } from './kv-model.js';
import { Cluster, LATE_ASSIGNMENT, type SimMode, type SimNode } from './legacy-core-cluster.js';
import type { Rng } from './rng.js';

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

/** What runs on a node besides Raft: KVStoreTTL's state machine and its expiry limb. */
interface KvApp {
  sm: KvStateMachine;
  readonly limb: Map<string, PyDict>;
  /** this node's wall clock offset, seconds */
  readonly skew: number;
}

/** A dump: the KV map (records are immutable, so a shallow copy is a point-in-time state). */
type KvDump = Map<PyDictKey, PyValue>;

type KvSimNode = SimNode<KvApp, KvDump>;

function toModel(r: KvRecord): ModelRecord {
  return r.expire === undefined
    ? { value: r.value, updated: r.updated, created: r.created, index: r.index }
    : { value: r.value, updated: r.updated, created: r.created, expire: r.expire, index: r.index };
}

/** The canonical text of a node's whole KV state (same form as the model's). */
export function kvStateText(sm: KvStateMachine): string {
  return stateText([...sm.getPrefix('')].map(([k, r]) => [k, toModel(r)] as [string, ModelRecord]));
}

class KvMode implements SimMode<KvApp, KvDump> {
  readonly label = ' --kv';
  readonly coreOptions;
  readonly compactAfterEntries = 30;
  /**
   * forwarded submissions are never duplicated: over TCP nothing is, and a duplicated
   * apply_command is a second submission no client made (Raft messages still are)
   */
  readonly duplicateSubmissions = false;
  readonly membershipFaults = true;
  readonly checker: KvChecker;
  readonly history: KvHistory = { ops: [], expires: [] };
  private c!: Cluster<KvApp, KvDump>;
  private clientRng!: Rng;
  private skewRng!: Rng;
  private readonly keys: string[];
  private readonly clientsStopAt: number;
  private activeClients = 0;
  private maxCommit = 0;

  constructor(
    seed: number,
    profile: SimProfile,
    private readonly options: KvSimOptions,
  ) {
    this.coreOptions = {
      appendEntriesBatchSizeBytes: 1024,
      snapshotChunkBytes: 256,
      maxSendBytesPerRound: 16384,
      unsafeTestFaults: options.coreFaults,
    };
    this.checker = new KvChecker(seed, `${profile.name}${this.label}`, options);
    const k = options.keys ?? 3;
    this.keys = Array.from({ length: k }, (_, i) => `/sim/k${i}`);
    this.clientsStopAt = profile.chaosMs + 2000;
  }

  attach(cluster: Cluster<KvApp, KvDump>): void {
    this.c = cluster;
    this.clientRng = cluster.rng.fork();
    this.skewRng = cluster.rng.fork();
  }

  newNode(_id: NodeId, _voter: boolean, spare: boolean): KvApp {
    return { sm: new KvStateMachine(), limb: new Map(), skew: spare ? 0 : this.skewRng.range(-0.3, 0.3) };
  }

  // --------------------------------------------------------------------------------------------
  // the state machine

  private newStateMachine(n: KvSimNode): KvStateMachine {
    const f = this.options.applyFault;
    if (f === 'ignorePrevValue' || (f === 'divergentN2' && n.id === 'n2'))
      return new BrokenKvStateMachine('prevValue');
    if (f === 'ignorePrevIndex') return new BrokenKvStateMachine('prevIndex');
    return new KvStateMachine();
  }

  load(n: KvSimNode, dump: KvDump | null): void {
    n.app.sm = this.newStateMachine(n);
    if (dump !== null) n.app.sm.restore(dump);
  }

  capture(n: KvSimNode): KvDump {
    return n.app.sm.snapshot();
  }

  apply(n: KvSimNode, e: LogEntry): PyValue | KvRecord {
    const call = decodeMethodCall(e.command);
    const kwargs = call.kwargs ?? new Map<PyDictKey, PyValue>();
    const sm = n.app.sm;
    if (call.funcId === FUNC_SET) return sm.applySet(call.args, kwargs, e.index);
    if (call.funcId === FUNC_DELETE) return sm.applyDelete(call.args, kwargs);
    if (call.funcId === FUNC_EXPIRE) {
      sm.applyExpire(call.args);
      return null;
    }
    return this.c.fail('apply', `${n.id}: unknown function id ${call.funcId} at ${e.index}`);
  }

  onStart(n: KvSimNode): void {
    n.app.limb.clear();
  }

  onApplied(n: KvSimNode, e: LogEntry): void {
    this.checker.onApply(n.id, e, kvStateText(n.app.sm), this.c.now);
  }

  onSnapshotInstalled(n: KvSimNode, lastEntry: LogEntry): void {
    this.checker.onSnapshotInstalled(n.id, lastEntry.index, kvStateText(n.app.sm));
  }

  afterStep(): void {
    for (const n of this.c.nodes) {
      const c = n.core?.status().commitIndex ?? 0;
      if (c > this.maxCommit) this.maxCommit = c;
    }
  }

  afterTick(n: KvSimNode): void {
    this.expireKeys(n);
  }

  private wallClock(n: KvSimNode): number {
    return 1000 + this.c.now / 1000 + n.app.skew;
  }

  /** KVStoreTTL's leader-driven expiry, run after every tick. */
  private expireKeys(n: KvSimNode): void {
    const core = n.core;
    if (!core) return;
    if (core.role !== RaftState.Leader) {
      n.app.limb.clear();
      return;
    }
    const now = this.wallClock(n);
    for (const key of n.app.sm.expiring) {
      const value = n.app.sm.raw(key);
      if (value === undefined) continue;
      const e = value.get('expire');
      const t = e instanceof PyFloat ? e.value : typeof e === 'number' ? e : Number.NaN;
      if (!(t <= now)) continue;
      const inLimb = n.app.limb.get(key);
      if (inLimb !== undefined && valuesMatch(inLimb, value)) continue;
      n.app.limb.set(key, value);
      const command = encodeMethodCall({ funcId: FUNC_EXPIRE, args: [key, value], kwargs: undefined });
      const issue: ExpireIssue = { key, command, invoke: this.c.now };
      this.history.expires.push(issue);
      this.c.propose(n, command, () => {
        const l = n.app.limb.get(key);
        if (l !== undefined && valuesMatch(l, value)) n.app.limb.delete(key);
      });
    }
  }

  // --------------------------------------------------------------------------------------------
  // clients: Patroni's KVStoreTTL client side (set / delete / get) with its retry loop

  startClients(): void {
    const clients = this.options.clients ?? 4;
    for (let c = 0; c < clients; c++) this.scheduleClient(c);
  }

  private scheduleClient(client: number): void {
    this.activeClients++;
    const next = () => {
      if (this.c.now >= this.clientsStopAt) {
        this.activeClients--;
        return;
      }
      this.runClientOp(client, () => this.c.at(this.c.now + this.clientRng.range(5, 80), next));
    };
    this.c.at(this.c.now + this.clientRng.range(0, 100), next);
  }

  private runClientOp(client: number, then: () => void): void {
    const r = this.clientRng;
    const live = this.c.nodes.filter((n) => n.core !== null);
    if (live.length === 0) {
      this.c.at(this.c.now + 50, then);
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
      invoke: this.c.now,
      response: null,
      command: null,
      rounds: 0,
      outcome: 'pending',
      result: undefined,
      cas: {},
    };
    this.history.ops.push(op);
    const local = n.app.sm.raw(key);
    op.commitBound = this.commitBound(n);
    const localRec = n.app.sm.get(key);
    const x = r.next();
    if (x < 0.12) {
      op.outcome = 'ok';
      op.result = localRec === null ? null : toModel(localRec);
      op.response = this.c.now;
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
  private commitBound(n: KvSimNode): number {
    return Math.max(this.maxCommit, n.core?.status().commitIndex ?? 0);
  }

  private precheckFalse(op: ClientOp, seen: KvRecord | null, then: () => void): void {
    op.outcome = 'precheck-false';
    op.result = false;
    op.observed = seen === null ? null : toModel(seen);
    op.response = this.c.now;
    then();
  }

  /**
   * KVStoreTTL.retry in virtual time: submit; wait for a completion up to the remaining budget; on a
   * failure (of any round) or when the wait runs out, pause 1 s and submit again while budget
   * remains; the first success of any round wins. Out of budget: unknown outcome.
   */
  private retryLoop(
    n: KvSimNode,
    op: ClientOp,
    command: Uint8Array,
    budgetS: number,
    then: () => void,
  ): void {
    op.command = command;
    const deadline = this.c.now + budgetS * 1000;
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
      op.response = outcome === 'ok' ? this.c.now : Number.POSITIVE_INFINITY;
      op.finishedAt = this.c.now;
      then();
    };
    const afterWait = () => {
      wake = null;
      if (finished) return;
      const remaining = deadline - this.c.now;
      if (remaining <= 0) {
        finish('unknown');
        return;
      }
      this.c.at(this.c.now + 1000, () => round(remaining));
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
      this.c.propose(n, command, (result, reason) => {
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
      this.c.at(this.c.now + waitMs, mine);
    };
    round(budgetS * 1000);
  }

  // --------------------------------------------------------------------------------------------
  // liveness: the clients are done and nothing overdue is left to expire

  converged(leader: KvSimNode): boolean {
    if (this.activeClients > 0) return false;
    const wall = this.wallClock(leader);
    for (const key of leader.app.sm.expiring) {
      const e = leader.app.sm.get(key)?.expire;
      if (e !== undefined && e <= wall) return false;
    }
    return true;
  }

  livenessDetail(): string[] {
    return [`active clients ${this.activeClients}`];
  }

  /** The final checks (after convergence) and the run's summary. */
  finish(): KvSimResult {
    const c = this.c;
    const leader = c.currentLeader();
    const nodes = leader ? c.participants(leader).filter((n) => n.core !== null) : [];
    const report = this.checker.finish(
      this.history,
      nodes.map((n) => ({ id: n.id, appliedIndex: n.appliedIndex, state: kvStateText(n.app.sm) })),
    );
    const ops = this.history.ops;
    return {
      seed: c.seed,
      profile: c.profile.name,
      steps: c.steps,
      virtualMs: c.now,
      ops: ops.length,
      acked: ops.filter((o) => o.outcome === 'ok' && o.kind !== 'read').length,
      unknown: ops.filter((o) => o.outcome === 'unknown').length,
      precheckFalse: ops.filter((o) => o.outcome === 'precheck-false').length,
      reads: ops.filter((o) => o.kind === 'read').length,
      expiresIssued: this.history.expires.length,
      committedEntries: report.committedEntries,
      leadersElected: c.checker.leadersElected,
      crashes: c.crashes,
      searchSteps: report.searchSteps,
      lateAssignments: ops.filter((o) => o.lateAssignment).length,
    };
  }
}

export class KvSimulator {
  constructor(
    readonly seed: number,
    readonly profile: SimProfile,
    private readonly options: KvSimOptions = {},
  ) {}

  run(): KvSimResult {
    const mode = new KvMode(this.seed, this.profile, this.options);
    new Cluster(this.seed, this.profile, mode).run();
    return mode.finish();
  }
}

function resultOf(v: unknown): ModelRecord | boolean {
  if (v === true || v === false) return v;
  if (v !== null && typeof v === 'object' && 'value' in v && 'index' in v) return toModel(v as KvRecord);
  throw new Error(`unexpected apply result ${String(v)}`);
}

export { SimViolation };
