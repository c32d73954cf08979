/**
 * The interop harness: real Debian pysyncobj nodes (one `/usr/bin/python3 test/interop/py/node.py`
 * process per node, driven by JSON lines) next to our `InteropObject` nodes, on loopback ports
 * chosen per test, with one log directory per test (Python stderr, our node logs) that is printed
 * when the test fails. Every wait is bounded and says on timeout which node was waited for and
 * what it last looked like.
 *
 * Both kinds of node are reached through the same `InteropNode` interface, so a test can propose
 * on, and compare, all nodes alike.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  type WriteStream,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';
import type { Logger } from '../../src/logger.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { type ResultReason, resultReasonName } from '../../src/raft/runtime/outcome.js';
import type { PyValue } from '../../src/wire/value.js';
import { PYTHON } from '../helpers/python.js';
import { type AppliedRecord, InteropObject, type Scalar } from './ts-object.js';

const NODE_PY = fileURLToPath(new URL('./py/node.py', import.meta.url));
export const SYNCOBJ_ADMIN = '/usr/bin/syncobj_admin';

// ------------------------------------------------------------------------------------------------
// configuration shared by both sides

/** Raft timing, in seconds (pysyncobj names); valid for pysyncobj's and our validation alike. */
export interface RaftTimeouts {
  readonly appendEntriesPeriod: number;
  readonly raftMinTimeout: number;
  readonly raftMaxTimeout: number;
  readonly connectionTimeout: number;
  readonly connectionRetryTime: number;
}

export const FAST: RaftTimeouts = {
  appendEntriesPeriod: 0.05,
  raftMinTimeout: 0.3,
  raftMaxTimeout: 0.6,
  connectionTimeout: 1.5,
  connectionRetryTime: 0.5,
};

/** Slower elections: a node with these loses every race against a FAST one. */
export const SLOW_ELECTIONS: RaftTimeouts = { ...FAST, raftMinTimeout: 0.9, raftMaxTimeout: 1.2 };

/** Faster elections than FAST (still > 3 × appendEntriesPeriod). */
export const QUICK_ELECTIONS: RaftTimeouts = { ...FAST, raftMinTimeout: 0.2, raftMaxTimeout: 0.25 };

export interface NodeOptions {
  readonly password?: string | null;
  readonly timeouts?: RaftTimeouts;
  readonly dynamic?: boolean;
  /** appendEntriesUseBatch (pysyncobj default true; Patroni false) */
  readonly useBatch?: boolean;
  /** commandsWaitLeader (default true) */
  readonly waitLeader?: boolean;
}

/** What a test reads from any node (Python or ours), in one shape. */
export interface NodeStatus {
  readonly self: string | null;
  readonly term: number;
  readonly state: number;
  readonly leader: string | null;
  readonly isLeader: boolean;
  readonly commit: number;
  readonly applied: number;
  readonly value: number;
  /** sorted by key */
  readonly dict: Record<string, Scalar>;
  readonly appliedOps: number;
  readonly otherNodes: string[];
  readonly readonlyNodes: number;
  readonly connected: string[];
  readonly hasQuorum: boolean;
  /** entries held in the log (2 right after a dump) */
  readonly logLen: number;
}

export type OpResult =
  | { readonly ok: true; readonly result: Scalar; readonly err: number; readonly errName: string }
  | { readonly ok: false; readonly error: string };

export interface InteropNode {
  readonly name: string;
  readonly address: string | null;
  readonly kind: 'py' | 'ts';
  status(): Promise<NodeStatus>;
  records(): Promise<AppliedRecord[]>;
  incr(n: number, timeoutMs?: number): Promise<OpResult>;
  put(k: string, v: Scalar, timeoutMs?: number): Promise<OpResult>;
  rm(k: string, timeoutMs?: number): Promise<OpResult>;
  addNode(address: string, timeoutMs?: number): Promise<OpResult>;
  removeNode(address: string, timeoutMs?: number): Promise<OpResult>;
}

const OP_TIMEOUT_MS = 15_000;

/** A long value cut for messages: its start, its length. */
export function short(text: string | undefined, max = 120): string {
  if (text === undefined) return 'undefined';
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length} chars)`;
}

function sortedDict(entries: Iterable<[string, Scalar]>): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const [k, v] of [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[k] = v;
  return out;
}

function jsonScalar(v: PyValue | undefined): Scalar {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' || typeof v === 'number') return v;
  return `<non-scalar ${String(v)}>`;
}

// ------------------------------------------------------------------------------------------------
// Python nodes

interface PyReply {
  readonly id: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly status?: NodeStatus;
  readonly result?: Scalar;
  readonly err?: number;
  readonly errName?: string;
  readonly applied?: AppliedRecord[];
}

interface PyWaiter {
  resolve(reply: PyReply): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export interface PyNodeOptions extends NodeOptions {
  readonly name: string;
  /** null: a read-only node (pysyncobj `SyncObj(None, partners)`) */
  readonly self: string | null;
  readonly partners: readonly string[];
  readonly logFile: string;
}

export class PyNode implements InteropNode {
  readonly kind = 'py';
  readonly name: string;
  readonly address: string | null;
  readonly logFile: string;
  private readonly proc: ChildProcess;
  private nextId = 1;
  private readonly waiters = new Map<number, PyWaiter>();
  private startedResolve!: () => void;
  private startedReject!: (e: Error) => void;
  private readonly started: Promise<void>;
  /** why the node can no longer answer (exited / tick thread died), or null */
  private deadReason: string | null = null;
  readonly exited: Promise<void>;

  private constructor(o: PyNodeOptions) {
    this.name = o.name;
    this.address = o.self;
    this.logFile = o.logFile;
    const t = o.timeouts ?? FAST;
    const args = [
      NODE_PY,
      ...(o.self === null ? [] : ['--self', o.self]),
      '--partners',
      o.partners.join(','),
      '--append-entries-period',
      String(t.appendEntriesPeriod),
      '--raft-min-timeout',
      String(t.raftMinTimeout),
      '--raft-max-timeout',
      String(t.raftMaxTimeout),
      '--connection-timeout',
      String(t.connectionTimeout),
      '--connection-retry-time',
      String(t.connectionRetryTime),
      '--use-batch',
      o.useBatch === false ? '0' : '1',
      '--wait-leader',
      o.waitLeader === false ? '0' : '1',
      ...(o.dynamic ? ['--dynamic'] : []),
      ...(o.password ? ['--password', o.password] : []),
    ];
    const errFd = openSync(o.logFile, 'a');
    try {
      this.proc = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', errFd] });
    } finally {
      closeSync(errFd);
    }
    this.started = new Promise<void>((resolve, reject) => {
      this.startedResolve = resolve;
      this.startedReject = reject;
    });
    this.started.catch(() => undefined);
    this.exited = new Promise<void>((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.markDead(`python node ${this.name} exited (code ${code}, signal ${signal})`);
        resolve();
      });
      this.proc.once('error', (e) => {
        this.markDead(`python node ${this.name} could not be spawned: ${e.message}`);
        resolve();
      });
    });
    this.proc.stdin?.on('error', () => undefined); // EPIPE after the process died
    const rl = createInterface({ input: this.proc.stdout! });
    rl.on('line', (line) => this.onLine(line));
  }

  static async start(o: PyNodeOptions, timeoutMs = 15_000): Promise<PyNode> {
    const node = new PyNode(o);
    const timer = setTimeout(
      () => node.startedReject(new Error(`python node ${o.name} did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      await node.started;
    } finally {
      clearTimeout(timer);
    }
    return node;
  }

  get alive(): boolean {
    return this.deadReason === null;
  }

  private markDead(reason: string): void {
    if (this.deadReason === null) this.deadReason = reason;
    this.startedReject(new Error(reason));
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error(`${reason} (request ${id} unanswered; log ${this.logFile})`));
    }
    this.waiters.clear();
  }

  private onLine(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // not ours (a stray print); stderr has the logs
    }
    if (msg.event === 'started') {
      this.startedResolve();
      return;
    }
    if (msg.event === 'tick_thread_died') {
      this.markDead(`python node ${this.name}: pysyncobj's tick thread died (see ${this.logFile})`);
      return;
    }
    const id = msg.id;
    if (typeof id !== 'number') return;
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    clearTimeout(w.timer);
    w.resolve(msg as unknown as PyReply);
  }

  /** Send a request; the reply (whatever its `ok`) resolves; a dead node or no reply rejects. */
  request(body: Record<string, unknown>, timeoutMs: number): Promise<PyReply> {
    if (this.deadReason !== null) return Promise.reject(new Error(this.deadReason));
    const id = this.nextId++;
    return new Promise<PyReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(
          new Error(
            `python node ${this.name}: no reply to ${JSON.stringify(body)} within ${timeoutMs} ms (log ${this.logFile})`,
          ),
        );
      }, timeoutMs);
      this.waiters.set(id, { resolve, reject, timer });
      this.proc.stdin?.write(`${JSON.stringify({ ...body, id })}\n`);
    });
  }

  async status(): Promise<NodeStatus> {
    const r = await this.request({ cmd: 'status' }, 5000);
    return r.status as NodeStatus;
  }

  async records(): Promise<AppliedRecord[]> {
    const r = await this.request({ cmd: 'applied' }, 5000);
    return r.applied ?? [];
  }

  private async op(body: Record<string, unknown>, timeoutMs: number): Promise<OpResult> {
    const r = await this.request({ ...body, timeout: timeoutMs / 1000 }, timeoutMs + 5000);
    if (!r.ok) return { ok: false, error: r.error ?? 'unknown error' };
    return { ok: true, result: r.result ?? null, err: r.err ?? -1, errName: r.errName ?? '?' };
  }

  incr(n: number, timeoutMs = OP_TIMEOUT_MS): Promise<OpResult> {
    return this.op({ cmd: 'incr', n }, timeoutMs);
  }
  put(k: string, v: Scalar, timeoutMs = OP_TIMEOUT_MS): Promise<OpResult> {
    return this.op({ cmd: 'put', k, v }, timeoutMs);
  }
  rm(k: string, timeoutMs = OP_TIMEOUT_MS): Promise<OpResult> {
    return this.op({ cmd: 'rm', k }, timeoutMs);
  }
  addNode(address: string, timeoutMs = OP_TIMEOUT_MS): Promise<OpResult> {
    return this.op({ cmd: 'add', addr: address }, timeoutMs);
  }
  removeNode(address: string, timeoutMs = OP_TIMEOUT_MS): Promise<OpResult> {
    return this.op({ cmd: 'remove', addr: address }, timeoutMs);
  }

  /**
   * Wait (inside the Python node, checked every tick) until all conditions hold; see node.py for the
   * keys. Rejects with the node's last status when they do not within `timeoutMs`.
   */
  async waitUntil(cond: Record<string, unknown>, timeoutMs: number): Promise<NodeStatus> {
    const r = await this.request({ cmd: 'wait', cond, timeout: timeoutMs / 1000 }, timeoutMs + 5000);
    if (!r.ok) {
      throw new Error(
        `python node ${this.name}: ${JSON.stringify(cond)} did not hold within ${timeoutMs} ms; last status ${JSON.stringify(r.status)} (log ${this.logFile})`,
      );
    }
    return r.status as NodeStatus;
  }

  /** pysyncobj's forceLogCompaction(): a dump at the next tick, then the log is cut. */
  async compact(): Promise<void> {
    await this.request({ cmd: 'compact' }, 5000);
  }

  /** Freeze (SIGSTOP) or resume (SIGCONT) the process: a leader that stops answering for a while. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.proc.kill(signal);
  }

  /** SIGKILL, then wait for the exit (bounded). */
  async kill(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGKILL');
      this.proc.kill('SIGCONT'); // a stopped process dies only once it runs again
    }
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 5000))]);
  }
}

// ------------------------------------------------------------------------------------------------
// our nodes

export class TsNode implements InteropNode {
  readonly kind = 'ts';
  constructor(
    readonly name: string,
    readonly obj: InteropObject,
  ) {}

  get address(): string | null {
    return this.obj.selfNode;
  }

  statusNow(): NodeStatus {
    const o = this.obj;
    const others = o.otherNodes;
    return {
      self: o.selfNode,
      term: o.raftCurrentTerm,
      state: o.raftState,
      leader: o.getLeader(),
      isLeader: o.isLeader(),
      commit: o.raftCommitIndex,
      applied: o.raftLastApplied,
      value: o.counter,
      dict: sortedDict(o.dict.entries()),
      appliedOps: o.records.length,
      otherNodes: [...others].sort(),
      readonlyNodes: o.readonlyNodes.length,
      connected: others.filter((n) => o.isNodeConnected(n)).sort(),
      hasQuorum: o.hasQuorum,
      logLen: Number(o.getStatus().log_len),
    };
  }

  async status(): Promise<NodeStatus> {
    return this.statusNow();
  }

  async records(): Promise<AppliedRecord[]> {
    return this.obj.records.map((r) => [...r] as AppliedRecord);
  }

  private op(
    method: (typeof this.obj)['incr'] | (typeof this.obj)['put'] | (typeof this.obj)['rm'],
    args: PyValue[],
    timeoutMs: number,
  ): Promise<OpResult> {
    return new Promise<OpResult>((resolve) => {
      const timer = setTimeout(() => resolve({ ok: false, error: 'timeout' }), timeoutMs);
      try {
        this.obj.callWithCallback(method, args, undefined, (result, reason) => {
          clearTimeout(timer);
          resolve({
            ok: true,
            result: jsonScalar(result),
            err: reason,
            errName: resultReasonName(reason),
          });
        });
      } catch (e) {
        clearTimeout(timer);
        resolve({ ok: false, error: `exception: ${(e as Error).message}` });
      }
    });
  }

  incr(n: number, timeoutMs = OP_TIMEOUT_MS): Promise<OpResult> {
    return this.op(this.obj.incr, [n], timeoutMs);
  }
  put(k: string, v: Scalar, timeoutMs = OP_TIMEOUT_MS): Promise<OpResult> {
    return this.op(this.obj.put, [k, v], timeoutMs);
  }
  rm(k: string, timeoutMs = OP_TIMEOUT_MS): Promise<OpResult> {
    return this.op(this.obj.rm, [k], timeoutMs);
  }

  private membership(op: 'add' | 'remove', address: string, timeoutMs: number): Promise<OpResult> {
    return new Promise<OpResult>((resolve) => {
      const timer = setTimeout(() => resolve({ ok: false, error: 'timeout' }), timeoutMs);
      const cb = (_r: PyValue | undefined, reason: ResultReason) => {
        clearTimeout(timer);
        resolve({
          ok: true,
          result: null,
          err: reason,
          errName: resultReasonName(reason),
        });
      };
      const p =
        op === 'add' ? this.obj.addNodeToCluster(address, cb) : this.obj.removeNodeFromCluster(address, cb);
      p.catch((e: unknown) => {
        clearTimeout(timer);
        // the callback already reported fail reasons; this catches refusals before proposing
        resolve({ ok: false, error: (e as Error).message });
      });
    });
  }

  addNode(address: string, timeoutMs = OP_TIMEOUT_MS): Promise<OpResult> {
    return this.membership('add', address, timeoutMs);
  }
  removeNode(address: string, timeoutMs = OP_TIMEOUT_MS): Promise<OpResult> {
    return this.membership('remove', address, timeoutMs);
  }
}

// ------------------------------------------------------------------------------------------------
// a test's environment: nodes, logs, cleanup

function fileLogger(stream: WriteStream, label: string, debug: boolean): Logger {
  const line = (level: string) => (obj: object, msg?: string) => {
    const fields = JSON.stringify(obj, (_k, v: unknown) =>
      typeof v === 'bigint'
        ? v.toString()
        : v instanceof Error
          ? `${v.name}: ${v.message}`
          : v instanceof Uint8Array
            ? `<${v.length} bytes>`
            : v,
    );
    const t = new Date().toISOString().slice(11, 23);
    stream.write(`${t} ts[${label}] ${level} ${msg ?? ''} ${fields}\n`);
  };
  return {
    debug: debug ? line('DEBUG') : () => undefined,
    info: line('INFO'),
    warn: line('WARN'),
    error: line('ERROR'),
  };
}

export class InteropEnv {
  readonly py: PyNode[] = [];
  readonly ts: TsNode[] = [];
  private readonly streams: WriteStream[] = [];

  constructor(readonly logDir: string) {}

  static create(testName: string): InteropEnv {
    const slug = testName.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 40);
    return new InteropEnv(mkdtempSync(join(tmpdir(), `raftdcs-interop-${slug}-`)));
  }

  private logPath(name: string): string {
    return join(this.logDir, `${name.replace(/[^A-Za-z0-9.-]+/g, '_')}.log`);
  }

  async startPy(
    name: string,
    self: string | null,
    partners: readonly string[],
    options: NodeOptions = {},
  ): Promise<PyNode> {
    const node = await PyNode.start({
      ...options,
      name,
      self,
      partners: partners.filter((p) => p !== self),
      logFile: this.logPath(`py-${name}`),
    }).catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}\n${this.report()}`);
    });
    this.py.push(node);
    return node;
  }

  /** Start one of our nodes; `self` null: a read-only node (connects to every partner, never listens). */
  async startTs(
    name: string,
    self: string | null,
    partners: readonly string[],
    options: NodeOptions = {},
  ): Promise<TsNode> {
    const stream = createWriteStream(this.logPath(`ts-${name}`), { flags: 'a' });
    this.streams.push(stream);
    const t = options.timeouts ?? FAST;
    const conf: SyncObjConfOptions = {
      appendEntriesPeriod: t.appendEntriesPeriod,
      raftMinTimeout: t.raftMinTimeout,
      raftMaxTimeout: t.raftMaxTimeout,
      connectionTimeout: t.connectionTimeout,
      connectionRetryTime: t.connectionRetryTime,
      password: options.password ?? null,
      dynamicMembershipChange: options.dynamic ?? false,
      appendEntriesUseBatch: options.useBatch ?? true,
      commandsWaitLeader: options.waitLeader ?? true,
      bindAddress: self,
      maxBindRetries: 20,
      bindRetryTime: 0.25,
      logger: fileLogger(stream, `${name} ${self ?? 'read-only'}`, process.env.RAFTDCS_INTEROP_DEBUG === '1'),
    };
    const obj = new InteropObject(
      self,
      partners.filter((p) => p !== self),
      conf,
    );
    const node = new TsNode(name, obj);
    this.ts.push(node);
    await obj.waitBinded();
    return node;
  }

  /** Kill every Python process and stop our nodes (idempotent; never throws). */
  async cleanup(): Promise<void> {
    await Promise.all(this.py.map((p) => p.kill().catch(() => undefined)));
    await Promise.all(this.ts.map((t) => t.obj.destroy().catch(() => undefined)));
    await Promise.all(
      this.streams.map(
        (s) => new Promise<void>((resolve) => (s.closed ? resolve() : s.end(() => resolve()))),
      ),
    );
  }

  removeLogs(): void {
    rmSync(this.logDir, { recursive: true, force: true });
  }

  /** Every log of this test (the last `maxLines` lines of each), for failure reports. */
  report(maxLines = 150): string {
    if (!existsSync(this.logDir)) return '(no logs)';
    const parts = [`===== interop logs in ${this.logDir} =====`];
    for (const f of readdirSync(this.logDir).sort()) {
      const lines = readFileSync(join(this.logDir, f), 'utf8').split('\n');
      const tail = lines.slice(-maxLines - 1).join('\n');
      parts.push(
        `----- ${f} (${lines.length - 1} lines${lines.length > maxLines ? `, last ${maxLines}` : ''}) -----`,
      );
      parts.push(tail);
    }
    return parts.join('\n');
  }
}

/**
 * One InteropEnv per test: processes are killed and nodes stopped after every test (also a failed
 * one); on failure every log is printed, on success the log directory is removed (kept with
 * RAFTDCS_INTEROP_KEEP_LOGS=1; RAFTDCS_INTEROP_DEBUG=1 adds our nodes' debug lines).
 */
export function useInteropEnv(): () => InteropEnv {
  let env: InteropEnv | null = null;
  beforeEach((ctx) => {
    const current = InteropEnv.create(ctx.task.name);
    env = current;
    ctx.onTestFailed(() => {
      console.error(`interop test failed: ${ctx.task.name}\n${current.report()}`);
    });
    ctx.onTestFinished(() => {
      if (ctx.task.result?.state === 'pass' && process.env.RAFTDCS_INTEROP_KEEP_LOGS !== '1')
        current.removeLogs();
    });
  });
  afterEach(async () => {
    await env?.cleanup();
  });
  return () => {
    if (!env) throw new Error('no interop environment (used outside a test?)');
    return env;
  };
}

// ------------------------------------------------------------------------------------------------
// bounded waits over any nodes

const POLL_MS = 25;

/**
 * Poll `probe` until it returns a value (not undefined) or `timeoutMs` passes; on timeout the error
 * says `what` and the last observation `describe()` gives.
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  describe: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      lastError = null;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const extra = describe();
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${extra ? `\nlast seen: ${extra}` : ''}${
          lastError ? `\nlast error: ${(lastError as Error).message}` : ''
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export function showStatuses(
  nodes: readonly InteropNode[],
  statuses: readonly (NodeStatus | null)[],
): string {
  return nodes
    .map((n, i) => {
      const s = statuses[i];
      if (!s) return `\n  ${n.kind} ${n.name} (${n.address ?? 'read-only'}): no status`;
      return `\n  ${n.kind} ${n.name} (${n.address ?? 'read-only'}): term ${s.term} state ${s.state} leader ${s.leader} commit ${s.commit} applied ${s.applied} value ${s.value} ops ${s.appliedOps} others ${JSON.stringify(s.otherNodes)} connected ${JSON.stringify(s.connected)}`;
    })
    .join('');
}

async function allStatuses(nodes: readonly InteropNode[]): Promise<(NodeStatus | null)[]> {
  return Promise.all(nodes.map((n) => n.status().catch(() => null)));
}

/**
 * Wait until every node (voting or read-only) names the same leader, and that leader is one of
 * `nodes` and says it leads (a dead leader still remembered by everyone does not count). Returns
 * the leader's address.
 */
export async function agreedLeader(nodes: readonly InteropNode[], timeoutMs = 10_000): Promise<string> {
  let last: (NodeStatus | null)[] = [];
  return eventually(
    async () => {
      last = await allStatuses(nodes);
      const leaders = new Set(last.map((s) => s?.leader ?? null));
      if (leaders.size !== 1) return undefined;
      const leader = [...leaders][0];
      if (!leader) return undefined;
      const i = nodes.findIndex((n) => n.address === leader);
      if (i < 0 || !last[i]?.isLeader) return undefined;
      return leader;
    },
    timeoutMs,
    'all nodes to agree on one leader',
    () => showStatuses(nodes, last),
  );
}

/** Wait until every node has applied at least `ops` recorded operations. */
export async function allApplied(
  nodes: readonly InteropNode[],
  ops: number,
  timeoutMs = 10_000,
): Promise<void> {
  let last: (NodeStatus | null)[] = [];
  await eventually(
    async () => {
      last = await allStatuses(nodes);
      return last.every((s) => s !== null && s.appliedOps >= ops) ? true : undefined;
    },
    timeoutMs,
    `every node to apply ${ops} operations`,
    () => showStatuses(nodes, last),
  );
}

/**
 * Every node applied the same operations at the same (index, term) in the same order, and holds the
 * same counter and dict. Throws naming the first node and the first position that differ.
 */
export async function expectSameState(nodes: readonly InteropNode[]): Promise<AppliedRecord[]> {
  const [ref, ...rest] = nodes;
  if (!ref) throw new Error('no nodes');
  const refRecords = await ref.records();
  const refStatus = await ref.status();
  for (const n of rest) {
    const recs = await n.records();
    const st = await n.status();
    const len = Math.min(recs.length, refRecords.length);
    for (let i = 0; i < len; i++) {
      if (JSON.stringify(recs[i]) !== JSON.stringify(refRecords[i])) {
        throw new Error(
          `applied sequences differ at position ${i}: ${ref.kind} ${ref.name} applied ${short(JSON.stringify(refRecords[i]))}, ${n.kind} ${n.name} applied ${short(JSON.stringify(recs[i]))}`,
        );
      }
    }
    if (recs.length !== refRecords.length) {
      throw new Error(
        `${ref.kind} ${ref.name} applied ${refRecords.length} operations, ${n.kind} ${n.name} applied ${recs.length} (last: ${short(JSON.stringify(refRecords.at(-1)))} vs ${short(JSON.stringify(recs.at(-1)))})`,
      );
    }
    if (st.value !== refStatus.value) {
      throw new Error(
        `counter differs: ${ref.kind} ${ref.name} has ${refStatus.value}, ${n.kind} ${n.name} has ${st.value}`,
      );
    }
    if (JSON.stringify(st.dict) !== JSON.stringify(refStatus.dict)) {
      throw new Error(
        `dict differs: ${ref.kind} ${ref.name} has ${short(JSON.stringify(refStatus.dict), 400)}, ${n.kind} ${n.name} has ${short(JSON.stringify(st.dict), 400)}`,
      );
    }
  }
  return refRecords;
}

/** Replay an applied sequence: the result each operation must have returned, and the final state. */
export function replay(records: readonly AppliedRecord[]): {
  results: Scalar[];
  value: number;
  dict: Record<string, Scalar>;
} {
  let value = 0;
  const dict = new Map<string, Scalar>();
  const results: Scalar[] = [];
  for (const [, , op, ...args] of records) {
    if (op === 'incr') {
      value += args[0] as number;
      results.push(value);
    } else if (op === 'put') {
      const k = args[0] as string;
      results.push(dict.get(k) ?? null);
      dict.set(k, args[1] as Scalar);
    } else if (op === 'rm') {
      const k = args[0] as string;
      results.push(dict.get(k) ?? null);
      dict.delete(k);
    } else {
      throw new Error(`unknown op ${op} in ${JSON.stringify(records)}`);
    }
  }
  return { results, value, dict: sortedDict(dict.entries()) };
}

// ------------------------------------------------------------------------------------------------
// syncobj_admin

export interface AdminResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run Debian's `syncobj_admin` (asynchronously: our node in this process must keep answering). */
export function syncobjAdmin(args: readonly string[], timeoutMs = 20_000): Promise<AdminResult> {
  return new Promise((resolve) => {
    execFile(SYNCOBJ_ADMIN, [...args], { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Parse `key: value` lines (syncobj_admin -status prints the dict sorted by key). */
export function parseAdminStatus(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf(': ');
    if (i < 0)
      throw new Error(`syncobj_admin -status printed a line without 'key: value': ${JSON.stringify(line)}`);
    out.set(line.slice(0, i), line.slice(i + 2));
  }
  return out;
}
