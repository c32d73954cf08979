/**
 * Harness for the KVStoreTTL acceptance cases (groups A–G, docs/dcs.md §12): in-process clusters
 * on an InterceptNetwork (real pickle codec), N1…N4 at 127.0.0.1:7101…7104, one injectable wall
 * clock per node, an in-memory journal per node (read back to see exactly what was replicated),
 * callback recorders, and raw replicated calls injected as a Python peer would send them.
 */
import { expect } from 'vitest';
import { KVStoreTTL, type KVStoreTTLOptions } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import { decodeMethodCall } from '../../src/raft/commands.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { CommandType, type LogEntry } from '../../src/raft/core/types.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import type { ResultReason } from '../../src/raft/runtime/outcome.js';
import { MemoryDumpStore } from '../../src/raft/snapshot/dump-store.js';
import { type PyDict, type PyDictKey, PyFloat, type PyValue } from '../../src/wire/value.js';
import { InterceptNetwork } from '../helpers/intercept-network.js';
import { waitFor } from '../helpers/wait.js';

export const ADDRS = ['127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103', '127.0.0.1:7104'] as const;

/** Fast Raft timing for in-process clusters. */
export const FAST: SyncObjConfOptions = {
  appendEntriesPeriod: 0.02,
  raftMinTimeout: 0.3,
  raftMaxTimeout: 0.5,
  connectionTimeout: 0.5,
  autoTickPeriod: 0.01,
};

/** N1's timing: it times out long before the others, so it is the first leader. */
export const FIRST_LEADER: SyncObjConfOptions = { ...FAST, raftMinTimeout: 0.07, raftMaxTimeout: 0.08 };

export interface WallClock {
  t: number;
}

export interface TestNode {
  readonly name: string;
  readonly addr: string;
  kv: KVStoreTTL;
  readonly clock: WallClock;
  readonly journal: MemoryJournal;
  readonly dumpStore: MemoryDumpStore;
  /** on_set calls: key and the record the callback saw */
  readonly sets: [string, KvRecord][];
  /** on_delete calls */
  readonly deletes: string[];
}

export interface ClusterOptions {
  /** number of nodes (N1…Nn), default 3 */
  readonly size?: number;
  /** wall clock start, default 1000 */
  readonly t0?: number;
  /** Raft timing for N1 (default FIRST_LEADER) and the others (default FAST) */
  readonly leaderConf?: SyncObjConfOptions;
  readonly conf?: SyncObjConfOptions;
  readonly retryTimeout?: number;
  readonly retryPauseMs?: number;
  /** wait for N1 to lead (default true) */
  readonly waitLeader?: boolean;
}

export class KvCluster {
  readonly net = new InterceptNetwork();
  readonly nodes: TestNode[] = [];

  constructor(private readonly options: ClusterOptions = {}) {}

  static async start(options: ClusterOptions = {}): Promise<KvCluster> {
    const c = new KvCluster(options);
    const size = options.size ?? 3;
    const addrs = ADDRS.slice(0, size);
    for (let i = 0; i < size; i++) c.add(addrs, i);
    if (options.waitLeader ?? true) await c.waitLeader(0);
    return c;
  }

  /** Create node i (N{i+1}) with the given partner list. */
  add(partners: readonly string[], i: number, extra: Partial<KVStoreTTLOptions> = {}): TestNode {
    const addr = ADDRS[i] as string;
    const node: TestNode = {
      name: `N${i + 1}`,
      addr,
      clock: { t: this.options.t0 ?? 1000 },
      journal: new MemoryJournal(),
      dumpStore: new MemoryDumpStore(),
      sets: [],
      deletes: [],
      kv: null as unknown as KVStoreTTL,
    };
    node.kv = this.open(node, partners, extra);
    this.nodes[i] = node;
    return node;
  }

  /** (Re)start a node's KVStoreTTL with its journal, dump store, clock and recorders. */
  open(node: TestNode, partners: readonly string[], extra: Partial<KVStoreTTLOptions> = {}): KVStoreTTL {
    const o = this.options;
    const leaderConf = o.leaderConf ?? FIRST_LEADER;
    const conf = node.addr === ADDRS[0] ? leaderConf : (o.conf ?? FAST);
    return new KVStoreTTL({
      selfAddr: node.addr,
      partnerAddrs: partners.filter((p) => p !== node.addr),
      conf,
      retryTimeout: o.retryTimeout,
      retryPauseMs: o.retryPauseMs,
      wallClock: () => node.clock.t,
      onSet: (k, r) => node.sets.push([k, r]),
      onDelete: (k) => node.deletes.push(k),
      deps: { transport: this.net.factory, journal: node.journal, dumpStore: node.dumpStore },
      ...extra,
    });
  }

  node(i: number): TestNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node N${i + 1}`);
    return n;
  }

  get n1(): TestNode {
    return this.node(0);
  }
  get n2(): TestNode {
    return this.node(1);
  }
  get n3(): TestNode {
    return this.node(2);
  }

  /** Set every node's wall clock. */
  setTime(t: number): void {
    for (const n of this.nodes) n.clock.t = t;
  }

  async waitLeader(i: number, timeoutMs = 5000): Promise<void> {
    const want = this.node(i);
    await waitFor(
      () =>
        want.kv.isLeader() &&
        this.nodes.every((n) => n.kv.failure !== null || n.kv.getLeader() === want.addr || n === want),
      timeoutMs,
      `${want.name} leading and known as leader by every node`,
    );
    // the leader's no-op is committed and applied everywhere
    await waitFor(
      () => want.kv.raftCommitIndex === lastLogIndex(want) && want.kv.raftCommitIndex >= 2,
      timeoutMs,
      `${want.name} committing its no-op`,
    );
    await this.waitApplied(want.kv.raftCommitIndex);
  }

  currentLeader(): TestNode | undefined {
    return this.nodes.find((n) => n.kv.isLeader());
  }

  /** Wait until every live node has applied at least `index`. */
  async waitApplied(index: number, timeoutMs = 5000, nodes: readonly TestNode[] = this.nodes): Promise<void> {
    await waitFor(
      () => nodes.every((n) => n.kv.raftLastApplied >= index),
      timeoutMs,
      `every node applying index ${index} (applied: ${nodes.map((n) => `${n.name}=${n.kv.raftLastApplied}`).join(' ')})`,
    );
    // raftLastApplied (the core's) runs ahead of the state machine until the runtime's pending drain
    // (a setImmediate) has run: let it run
    await flush();
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kv.destroy()));
  }
}

// ----------------------------------------------------------------------------------------------
// raw replicated calls (what a Python peer sends)

/** A record dict as Patroni's `set()` builds it: value, updated, created[, expire] (floats). */
export function recordDict(value: string, updated: number, created: number, expire?: number): PyDict {
  const m = new Map<PyDictKey, PyValue>([
    ['value', value],
    ['updated', new PyFloat(updated)],
    ['created', new PyFloat(created)],
  ]);
  if (expire !== undefined) m.set('expire', new PyFloat(expire));
  return m;
}

/** A full stored record (with index) as the leader passes it to `_expire`. */
export function storedDict(r: KvRecord): PyDict {
  const m = recordDict(r.value, r.updated, r.created, r.expire);
  m.set('index', r.index);
  return m;
}

export function kwargs(entries: [string, PyValue][]): PyDict {
  return new Map<PyDictKey, PyValue>(entries);
}

export interface CallOutcome {
  readonly result: PyValue | undefined;
  readonly reason: ResultReason;
}

/** Submit a raw `_set`/`_delete`/`_expire` call on `kv` (with kwargs exactly as given) and await its completion. */
export function rawCall(
  kv: KVStoreTTL,
  method: '_set' | '_delete' | '_expire',
  args: readonly PyValue[],
  kw?: PyDict,
): Promise<CallOutcome> {
  return new Promise((resolve) => {
    kv.callWithCallback(kv[method], args, kw, (result, reason) => resolve({ result, reason }));
  });
}

// ----------------------------------------------------------------------------------------------
// reading the replicated log

export interface KvEntry {
  readonly index: number;
  readonly term: number;
  readonly method: '_delete' | '_expire' | '_set' | 'other';
  readonly args: readonly PyValue[];
  /** keyword arguments, undefined when the command was the pair `(id, args)` */
  readonly kwargs: PyDict | undefined;
}

const METHODS = ['_delete', '_expire', '_set'] as const;

/** The node's log (from its journal), REGULAR entries decoded as KVStoreTTL calls. */
export function kvLog(node: TestNode): KvEntry[] {
  return node.journal.snapshot().entries.flatMap((e: LogEntry) => {
    if (e.command[0] !== CommandType.Regular) return [];
    const call = decodeMethodCall(e.command);
    return [
      {
        index: e.index,
        term: e.term,
        method: METHODS[call.funcId] ?? 'other',
        args: call.args,
        kwargs: call.kwargs,
      },
    ];
  });
}

/** Index of the last entry in the node's log. */
export function lastLogIndex(node: TestNode): number {
  const entries = node.journal.snapshot().entries;
  return (entries[entries.length - 1] as LogEntry).index;
}

/** A dict as plain [key, value] pairs with floats unwrapped, for readable equality checks. */
export function plain(d: PyValue | undefined): unknown {
  if (d instanceof Map) return [...d].map(([k, v]) => [k, plain(v)]);
  if (d instanceof PyFloat) return { float: d.value };
  return d;
}

/** The record every node holds for `key` (null when absent), compared across nodes. */
export function expectSameEverywhere(nodes: readonly TestNode[], key: string): KvRecord | null {
  const first = (nodes[0] as TestNode).kv.get(key);
  for (const n of nodes) expect(n.kv.get(key), `${n.name} ${key}`).toEqual(first);
  return first;
}

/** Let every already scheduled setImmediate (the runtime's drains, in-memory deliveries) run. */
export function flush(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The record a write returned; fails the test when the write was refused (false). */
export function ok(r: KvRecord | false): KvRecord {
  expect(r).not.toBe(false);
  return r as KvRecord;
}
