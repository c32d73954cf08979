/**
 * The KV mode of the deterministic simulator (the world is cluster.ts: the same virtual network,
 * disks, crashes and fault profiles as the toy mode). Every node is a real KVStoreTTL (src/kv) —
 * its replicated `_set` / `_delete` / `_expire`, its leader-driven expiry on its own tick callback,
 * its dumps — on a real SyncObj runtime with simulated seams; its wall clock is the node's skewed
 * one. Clients run Patroni's client side through KVStoreTTL's public API — `set` (local pre-check,
 * record built with the node's wall clock, the retry loop: submit, wait, 1 s pause, resubmit until
 * the budget is spent, the first success of any round wins), `delete` (recursive or not), Python
 * Patroni's unconditional delete (through `retry`), and local `get` — against a few keys, on a
 * random live node. Every operation is recorded with its invoke and response times and its
 * outcome — the result, `false`, or unknown (the retry budget ran out, or the node crashed) — and
 * kv-checker.ts proves the history linearizable and the replicas identical.
 *
 * The simulator only watches: a thin KVStoreTTL subclass (SimKVStore) counts each operation's
 * submission rounds, keeps the bytes it submitted and records the expiries the leader proposes.
 * Nothing here persists, sends, applies or installs anything itself.
 */

import { RaftError } from '../../src/kv/errors.js';
import { KVStoreTTL, type KVStoreTTLOptions } from '../../src/kv/kvstore-ttl.js';
import type { CasConditions, KvRecord } from '../../src/kv/record.js';
import { decodeMethodCall } from '../../src/raft/commands.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import type { UnsafeTestFaults } from '../../src/raft/core/options.js';
import { CommandType, type LogEntry } from '../../src/raft/core/types.js';
import { type ReplicatedCall, replicated } from '../../src/raft/replicated.js';
import type { ResultCallback, Scheduler, SyncObjDeps } from '../../src/raft/syncobj.js';
import type { PyDictKey, PyValue } from '../../src/wire/value.js';
import { SimViolation } from './checker.js';
import {
  Cluster,
  type ModeTuning,
  type SimMode,
  type SimNode,
  type SimProfile,
  simAddress,
} from './cluster.js';
import {
  type ClientOp,
  type ExpireIssue,
  KvChecker,
  type KvCheckOptions,
  type KvHistory,
} from './kv-checker.js';
import { FUNC_EXPIRE, type ModelRecord, stateText } from './kv-model.js';
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
  readonly transfersRequested: number;
  readonly transfersCompleted: number;
}

// ----------------------------------------------------------------------------------------------
// the nodes

/** One client operation in flight on a node. */
interface Call {
  readonly op: ClientOp;
  readonly node: KvSimNode;
  /** the retry loop ran out of budget (set and delete report that as plain `false`) */
  timedOut: boolean;
  /** end the client's wait (first caller wins: the node's answer or its crash) */
  end(outcome: 'ok' | 'unknown', result?: ModelRecord | boolean): void;
}

/** How the simulator watches a node: its submissions, its leader's expiries. */
interface KvWatcher {
  /** the leader proposed `_expire` (KVStoreTTL's own tick callback) */
  onExpireProposed(command: Uint8Array): void;
}

/**
 * KVStoreTTL as it is, plus bookkeeping: the client operation whose `set` / `delete` / `retry` is
 * being called (`nextCall`) has its submission rounds counted and its command bytes kept; the loop
 * running out of time is noted (set and delete return plain `false` then, which the history must
 * record as an unknown outcome).
 */
class SimKVStore extends KVStoreTTL {
  /** set by the client around its call into set / delete / retry; the retry loop takes it */
  nextCall: Call | null = null;
  /** the call whose round is submitting right now */
  private submitting: Call | null = null;
  private readonly watcher: KvWatcher;

  constructor(options: KVStoreTTLOptions, watcher: KvWatcher) {
    super(options);
    this.watcher = watcher;
  }

  override retry(
    submit: (cb: ResultCallback) => void,
    timeoutSeconds?: number | null,
  ): Promise<PyValue | undefined | false> {
    const call = this.nextCall;
    this.nextCall = null;
    if (call === null) return super.retry(submit, timeoutSeconds);
    return super
      .retry((cb) => {
        call.op.rounds++;
        this.submitting = call;
        try {
          submit(cb);
        } finally {
          this.submitting = null;
        }
      }, timeoutSeconds)
      .catch((e: unknown) => {
        if (e instanceof RaftError) call.timedOut = true;
        throw e;
      });
  }

  protected override submit(command: Uint8Array, cb: ResultCallback | null): void {
    const call = this.submitting;
    if (call !== null) call.op.command ??= command;
    else if (command[0] === CommandType.Regular && decodeMethodCall(command).funcId === FUNC_EXPIRE) {
      this.watcher.onExpireProposed(command);
    }
    super.submit(command, cb);
  }
}

/** A KVStoreTTL whose `_set` ignores one condition (test-only: the checks must catch it). */
class BrokenKVStore extends SimKVStore {
  constructor(
    options: KVStoreTTLOptions,
    watcher: KvWatcher,
    private readonly drop: 'prevValue' | 'prevIndex',
  ) {
    super(options, watcher);
  }

  @replicated({ name: '_set' })
  override _set(call: ReplicatedCall): KvRecord | false {
    const kwargs = new Map(call.kwargs);
    kwargs.delete(this.drop);
    return super._set({ ...call, kwargs });
  }
}

type KvSimNode = SimNode<SimKVStore>;

function toModel(r: KvRecord): ModelRecord {
  return r.expire === undefined
    ? { value: r.value, updated: r.updated, created: r.created, index: r.index }
    : { value: r.value, updated: r.updated, created: r.created, expire: r.expire, index: r.index };
}

/** The canonical text of a node's whole KV state (same form as the model's). */
export function kvStateText(kv: KVStoreTTL): string {
  return stateText([...kv.getPrefix('')].map(([k, r]) => [k, toModel(r)] as [string, ModelRecord]));
}

function isApplyCommand(message: PyValue): boolean {
  return message instanceof Map && message.get('type') === 'apply_command';
}

// ----------------------------------------------------------------------------------------------

class KvMode implements SimMode<SimKVStore> {
  readonly label = ' --kv';
  readonly tuning: ModeTuning;
  readonly membershipFaults = true;
  readonly checker: KvChecker;
  readonly history: KvHistory = { ops: [], expires: [] };
  private c!: Cluster<SimKVStore>;
  private clientRng!: Rng;
  private readonly keys: string[];
  private readonly clientsStopAt: number;
  private activeClients = 0;
  /** operations waiting for a node's answer */
  private readonly calls = new Set<Call>();
  /** an error thrown in a client's continuation, rethrown after the event */
  private error: unknown = null;
  /** what the converged participants held (captured before the cluster stops them) */
  private finalStates: { id: string; appliedIndex: number; state: string }[] = [];

  constructor(
    seed: number,
    profile: SimProfile,
    private readonly options: KvSimOptions,
  ) {
    this.tuning = {
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

  /**
   * Forwarded submissions are never duplicated: over TCP nothing is, and a duplicated
   * apply_command is a second submission no client made (Raft messages still are).
   */
  mayDuplicate(message: PyValue): boolean {
    return !isApplyCommand(message);
  }

  attach(cluster: Cluster<SimKVStore>): void {
    this.c = cluster;
    this.clientRng = cluster.rng.fork();
  }

  create(
    n: KvSimNode,
    selfAddress: string | null,
    partners: readonly string[],
    conf: SyncObjConfOptions,
    deps: SyncObjDeps,
  ): SimKVStore {
    const scheduler = deps.scheduler as Scheduler;
    const options: KVStoreTTLOptions = {
      selfAddr: selfAddress,
      partnerAddrs: partners,
      conf,
      deps,
      retryTimeout: 10,
      retryPauseMs: 1000,
      // the node's own (skewed) wall clock: records and expiry use it
      wallClock: () => scheduler.wallNow() / 1000,
    };
    const watcher: KvWatcher = {
      onExpireProposed: (command) => {
        const key = decodeMethodCall(command).args[0] as string;
        const issue: ExpireIssue = { key, command, invoke: this.c.now };
        this.history.expires.push(issue);
      },
    };
    const f = this.options.applyFault;
    if (f === 'ignorePrevValue' || (f === 'divergentN2' && n.id === simAddress(2)))
      return new BrokenKVStore(options, watcher, 'prevValue');
    if (f === 'ignorePrevIndex') return new BrokenKVStore(options, watcher, 'prevIndex');
    return new SimKVStore(options, watcher);
  }

  onApplied(n: KvSimNode, e: LogEntry): void {
    this.checker.onApply(n.id, e, kvStateText(n.obj as SimKVStore), this.c.now);
  }

  onSnapshotInstalled(n: KvSimNode, lastEntry: LogEntry): void {
    this.checker.onSnapshotInstalled(n.id, lastEntry.index, kvStateText(n.obj as SimKVStore));
  }

  /** The node's process is gone: its operations in flight end with an unknown outcome. */
  onCrash(n: KvSimNode): void {
    for (const call of [...this.calls]) if (call.node === n) call.end('unknown');
  }

  afterStep(): void {
    if (this.error !== null) throw this.error;
  }

  // --------------------------------------------------------------------------------------------
  // clients: Patroni's KVStoreTTL client side (set / delete / get) with its retry loop

  startClients(): void {
    const clients = this.options.clients ?? 4;
    for (let c = 0; c < clients; c++) {
      this.activeClients++;
      this.client(c).catch((e: unknown) => {
        this.error ??= e;
      });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.c.at(this.c.now + ms, resolve));
  }

  private async client(client: number): Promise<void> {
    await this.sleep(this.clientRng.range(0, 100));
    while (this.c.now < this.clientsStopAt) {
      await this.runClientOp(client);
      await this.sleep(this.clientRng.range(5, 80));
    }
    this.activeClients--;
  }

  /** The highest commit index any node has reached (a local read cannot be newer). */
  private commitBound(n: KvSimNode): number {
    return Math.max(this.c.checker.maxCommittedIndex, n.core?.brief().commitIndex ?? 0);
  }

  private async runClientOp(client: number): Promise<void> {
    const c = this.c;
    const r = this.clientRng;
    const live = c.nodes.filter((n) => n.obj !== null && n.core !== null);
    if (live.length === 0) {
      await this.sleep(50);
      return;
    }
    const n = r.pick(live);
    const kv = n.obj as SimKVStore;
    const key = r.pick(this.keys);
    const id = this.history.ops.length;
    const op: ClientOp = {
      id,
      client,
      node: n.id,
      session: this.options.sessionsSpanNodes ? `${client}` : `${client}@${n.id}#${n.incarnation}`,
      kind: 'read',
      key,
      invoke: c.now,
      response: null,
      command: null,
      rounds: 0,
      outcome: 'pending',
      result: undefined,
      cas: {},
    };
    this.history.ops.push(op);
    op.commitBound = this.commitBound(n);
    const localRec = kv.get(key);
    const x = r.next();
    if (x < 0.12) {
      op.outcome = 'ok';
      op.result = localRec === null ? null : toModel(localRec);
      op.response = c.now;
      return;
    }
    const value = `c${client}-${id}`;
    const budget = r.pick([1, 2, 3, 5]);
    const call = this.newCall(op, n);
    let pending: Promise<unknown>;
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
      const ttl = r.chance(0.25) ? r.pick([0.5, 1, 2, 4]) : undefined;
      op.kind = 'set';
      op.cas = cas;
      kv.nextCall = call;
      pending = kv.set(key, value, { ...cas, ttl, timeout: budget });
    } else {
      const y = r.next();
      if (y < 0.12) {
        op.kind = 'rdelete';
        kv.nextCall = call;
        pending = kv.delete(key, { recursive: true, timeout: budget });
      } else if (y < 0.24) {
        // an unconditional delete as Python Patroni sends it (no CAS, no pre-check): its retry
        // loop with `_delete(key, recursive=False)`
        op.kind = 'pydelete';
        const kwargs = new Map<PyDictKey, PyValue>([['recursive', false]]);
        kv.nextCall = call;
        pending = kv.retry((cb) => kv.callWithCallback(kv._delete, [key], kwargs, cb), budget);
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
        // what KVStoreTTL.delete sends and pre-checks: nothing that requires the key to exist →
        // prevExist: true is added (the history records the conditions the node evaluates)
        const constrains =
          cas.prevExist !== undefined ||
          cas.prevValue !== undefined ||
          (cas.prevIndex !== undefined && cas.prevIndex !== null);
        op.cas = constrains ? cas : { ...cas, prevExist: true };
        kv.nextCall = call;
        pending = kv.delete(key, { ...cas, timeout: budget });
      }
    }
    kv.nextCall = null;
    if (op.rounds === 0) {
      // KVStoreTTL answered from its local pre-check without submitting anything
      this.calls.delete(call);
      op.outcome = 'precheck-false';
      op.result = false;
      op.observed = localRec === null ? null : toModel(localRec);
      op.response = c.now;
      const answer = await pending;
      if (answer !== false)
        c.fail('kv client', `op ${id}: ${op.kind} returned ${String(answer)} unsubmitted`);
      return;
    }
    pending.then(
      (v) => {
        if (v === false && call.timedOut) call.end('unknown');
        else call.end('ok', resultOf(v));
      },
      (e: unknown) => {
        if (e instanceof RaftError) call.end('unknown');
        else this.error ??= e;
      },
    );
    await call.done;
  }

  private newCall(op: ClientOp, node: KvSimNode): Call & { done: Promise<void> } {
    let resolve!: () => void;
    const done = new Promise<void>((r) => {
      resolve = r;
    });
    const call = {
      op,
      node,
      timedOut: false,
      done,
      end: (outcome: 'ok' | 'unknown', result?: ModelRecord | boolean) => {
        if (op.outcome !== 'pending') return;
        this.calls.delete(call);
        op.outcome = outcome;
        op.result = result;
        op.response = outcome === 'ok' ? this.c.now : Number.POSITIVE_INFINITY;
        op.finishedAt = this.c.now;
        resolve();
      },
    };
    this.calls.add(call);
    return call;
  }

  // --------------------------------------------------------------------------------------------
  // liveness: the clients are done and nothing overdue is left to expire

  converged(leader: KvSimNode): boolean {
    if (this.activeClients > 0) return false;
    const kv = leader.obj as SimKVStore;
    const wall = (this.c.now + leader.wallOffsetMs) / 1000;
    for (const rec of kv.getPrefix('').values()) {
      if (rec.expire !== undefined && rec.expire <= wall) return false;
    }
    // the cluster stops every node once converged: keep what the participants hold
    this.finalStates = this.c.participants(leader).map((n) => ({
      id: n.id,
      appliedIndex: n.appliedIndex,
      state: kvStateText(n.obj as SimKVStore),
    }));
    return true;
  }

  livenessDetail(): string[] {
    const pending = [...this.calls].map((call) => `op ${call.op.id} on ${call.node.id}`);
    return [`active clients ${this.activeClients}; waiting: ${pending.join(', ') || 'none'}`];
  }

  /** The final checks (after convergence) and the run's summary. */
  finish(): KvSimResult {
    const c = this.c;
    const report = this.checker.finish(this.history, this.finalStates);
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
      transfersRequested: c.transfersRequested,
      transfersCompleted: c.transfersCompleted,
    };
  }
}

export class KvSimulator {
  constructor(
    readonly seed: number,
    readonly profile: SimProfile,
    private readonly options: KvSimOptions = {},
  ) {}

  async run(): Promise<KvSimResult> {
    // every node runs KVStoreTTL here: the modelled pysyncobj followers (no state machine) are the
    // toy mode's
    const profile = { ...this.profile, pysyncobjFollowers: 0 };
    const mode = new KvMode(this.seed, profile, this.options);
    await new Cluster(this.seed, profile, mode).run();
    return mode.finish();
  }
}

function resultOf(v: unknown): ModelRecord | boolean {
  if (v === true || v === false) return v;
  if (v !== null && typeof v === 'object' && 'value' in v && 'index' in v) return toModel(v as KvRecord);
  throw new Error(`unexpected result ${String(v)}`);
}

export { SimViolation };
