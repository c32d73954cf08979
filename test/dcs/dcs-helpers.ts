/**
 * Harness for the Raft DCS acceptance cases (groups F–M, docs/dcs.md §12): in-process clusters of
 * `RaftDcs` nodes on a MemoryNetwork (real pickle codec), N1…N4 = 127.0.0.1:7101…7104 with members
 * pg1…pg4, one injectable wall clock per node (T), an in-memory journal per node (read back to see
 * exactly what was replicated) that survives restarts, and a log recorder.
 */

import type { RaftDcsConfig } from '../../src/dcs/raft-config.js';
import { RaftDcs, type RaftDcsOptions } from '../../src/dcs/raft-dcs.js';
import type { KvRecord } from '../../src/kv/record.js';
import type { Logger } from '../../src/logger.js';
import { decodeMethodCall } from '../../src/raft/commands.js';
import { CommandType } from '../../src/raft/core/types.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import { MemoryDumpStore } from '../../src/raft/snapshot/dump-store.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import { PyFloat, type PyValue } from '../../src/wire/value.js';
import { waitFor } from '../helpers/wait.js';

export const ADDRS = ['127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103', '127.0.0.1:7104'] as const;
export const NAMES = ['pg1', 'pg2', 'pg3', 'pg4'] as const;
export const P = '/service/batman/';

/**
 * Fast Raft timing (the timeout knobs, docs/dcs.md §10.3); N1 times out first so it is the first Raft
 * leader.
 */
export const FAST_RAFT = {
  append_entries_period: 0.02,
  min_timeout: 0.3,
  max_timeout: 0.5,
  connection_timeout: 1.0,
} as const;
export const FIRST_LEADER_RAFT = { ...FAST_RAFT, min_timeout: 0.07, max_timeout: 0.08 } as const;

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly obj: object;
}

/** A pino-shaped logger that records every line. */
export function recordingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (obj: object, msg = ''): void => {
      lines.push({ level, msg, obj });
    };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

export interface DcsNode {
  readonly name: string;
  readonly addr: string;
  dcs: RaftDcs;
  readonly clock: { t: number };
  readonly journal: MemoryJournal;
  readonly dumpStore: MemoryDumpStore;
  readonly log: LogLine[];
  running: boolean;
}

export interface DcsClusterOptions {
  readonly size?: number;
  readonly t0?: number;
  /** extra DCS config for every node */
  readonly config?: Partial<RaftDcsConfig>;
  readonly options?: Partial<RaftDcsOptions>;
  /** which node to wait for as Raft leader (default 0 = N1); null: do not wait */
  readonly leader?: number | null;
}

/** One replicated KV call read back from a journal. */
export interface LoggedCall {
  readonly index: number;
  readonly method: 'delete' | 'expire' | 'set';
  readonly key: string;
  readonly value: string | null;
  /** keyword arguments in wire order (Python values as JS: null, booleans, numbers, strings) */
  readonly kwargs: [string, PyValue][];
}

function plain(v: PyValue): PyValue {
  return v instanceof PyFloat ? v.value : v;
}

export class DcsCluster {
  readonly net = new MemoryNetwork();
  readonly nodes: DcsNode[] = [];

  private constructor(private readonly o: DcsClusterOptions) {}

  static async start(o: DcsClusterOptions = {}): Promise<DcsCluster> {
    const c = new DcsCluster(o);
    const size = o.size ?? 3;
    const addrs = ADDRS.slice(0, size);
    const made: DcsNode[] = [];
    for (let i = 0; i < size; i++) {
      const log = recordingLogger();
      made.push({
        name: NAMES[i] as string,
        addr: ADDRS[i] as string,
        dcs: null as unknown as RaftDcs,
        clock: { t: o.t0 ?? 1000 },
        journal: new MemoryJournal(),
        dumpStore: new MemoryDumpStore(),
        log: log.lines,
        running: false,
      });
      c.nodes.push(made[i] as DcsNode);
    }
    await Promise.all(made.map((_n, i) => c.open(i, addrs)));
    const leader = o.leader === undefined ? 0 : o.leader;
    if (leader !== null) await c.waitLeader(leader);
    return c;
  }

  /** (Re)start node i with its journal, dump store, clock and log. */
  async open(
    i: number,
    partners: readonly string[] = ADDRS.slice(0, this.nodes.length),
    extraConfig: Partial<RaftDcsConfig> = {},
    extraOptions: Partial<RaftDcsOptions> = {},
  ): Promise<RaftDcs> {
    const node = this.node(i);
    const lines = node.log;
    const logger: Logger = {
      debug: () => {},
      info: (obj, msg = '') => lines.push({ level: 'info', msg, obj }),
      warn: (obj, msg = '') => lines.push({ level: 'warn', msg, obj }),
      error: (obj, msg = '') => lines.push({ level: 'error', msg, obj }),
    };
    node.dcs = await RaftDcs.create(
      {
        name: node.name,
        scope: 'batman',
        ttl: 30,
        loop_wait: 10,
        retry_timeout: 10,
        self_addr: node.addr,
        partner_addrs: partners.filter((p) => p !== node.addr),
        ...(i === 0 ? FIRST_LEADER_RAFT : FAST_RAFT),
        ...this.o.config,
        ...extraConfig,
      },
      {
        wallClock: () => node.clock.t,
        logger,
        conf: { autoTickPeriod: 0.01 },
        deps: { transport: this.net.factory, journal: node.journal, dumpStore: node.dumpStore },
        ...this.o.options,
        ...extraOptions,
      },
    );
    node.running = true;
    return node.dcs;
  }

  async stop(i: number): Promise<void> {
    const node = this.node(i);
    node.running = false;
    await node.dcs.close();
  }

  node(i: number): DcsNode {
    const n = this.nodes[i];
    if (!n) throw new Error(`no node N${i + 1}`);
    return n;
  }
  get n1(): DcsNode {
    return this.node(0);
  }
  get n2(): DcsNode {
    return this.node(1);
  }
  get n3(): DcsNode {
    return this.node(2);
  }

  get running(): DcsNode[] {
    return this.nodes.filter((n) => n.running);
  }

  setTime(t: number): void {
    for (const n of this.nodes) n.clock.t = t;
  }

  async waitLeader(i: number, timeoutMs = 5000): Promise<void> {
    const want = this.node(i);
    await waitFor(
      () => want.dcs.kv.isLeader() && this.running.every((n) => n.dcs.kv.getLeader() === want.addr),
      timeoutMs,
      `${want.name} leading and known as leader by every node`,
    );
    await waitFor(
      () => want.dcs.kv.raftCommitIndex >= lastLogIndex(want) && want.dcs.kv.raftCommitIndex >= 2,
      timeoutMs,
      `${want.name} committing its no-op`,
    );
    await this.waitApplied(want.dcs.kv.raftCommitIndex);
  }

  /** Wait until every running node has applied at least `index` (and its callbacks ran). */
  async waitApplied(index: number, timeoutMs = 5000): Promise<void> {
    await waitFor(
      () => this.running.every((n) => n.dcs.kv.raftLastApplied >= index),
      timeoutMs,
      `every node applying ${index}`,
    );
    await flush();
  }

  /** Wait until every running node has applied everything the leader committed. */
  async settle(): Promise<void> {
    const leader = this.running.find((n) => n.dcs.kv.isLeader());
    if (leader) await this.waitApplied(leader.dcs.kv.raftCommitIndex);
  }

  async destroy(): Promise<void> {
    await Promise.all(this.running.map((n) => n.dcs.close()));
    for (const n of this.nodes) n.running = false;
  }
}

export function lastLogIndex(node: DcsNode): number {
  const e = node.journal.snapshot().entries;
  return e[e.length - 1]?.index ?? 0;
}

/** Every replicated KV call in a node's journal after `afterIndex`. */
export function loggedCalls(node: DcsNode, afterIndex = 0): LoggedCall[] {
  const out: LoggedCall[] = [];
  for (const e of node.journal.snapshot().entries) {
    if (e.index <= afterIndex || e.command[0] !== CommandType.Regular) continue;
    const call = decodeMethodCall(e.command);
    const method = (['delete', 'expire', 'set'] as const)[call.funcId];
    if (method === undefined) continue;
    const [key, rec] = call.args;
    out.push({
      index: e.index,
      method,
      key: String(key),
      value: rec instanceof Map ? String(rec.get('value')) : null,
      kwargs: [...(call.kwargs ?? new Map())].map(([k, v]) => [String(k), plain(v)]),
    });
  }
  return out;
}

/** Let pending immediates (message delivery, apply drains) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
}

export function rec(r: KvRecord | null): KvRecord {
  if (r === null) throw new Error('record expected');
  return r;
}

export { waitFor };
