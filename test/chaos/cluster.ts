/**
 * The processes of a chaos run: one `raftdcs controller` per network namespace (the real daemon,
 * from the sources, with a YAML `raft:` section as operators write it and its HTTP status
 * endpoint on) and one workload client per namespace (./client.ts). The harness signals the
 * controllers directly (SIGSTOP / SIGCONT / SIGKILL; `ip netns exec` execs, so the pid is the
 * controller's) and restarts them on the same data directory. Every process is killed and awaited
 * in `destroy()`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TcpUtility } from '../../src/raft/transport/utility-client.js';
import type { ClientReply, ClientRequest } from './client.js';
import type { ChaosNet } from './netns.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(REPO, 'src/cli/main.ts');
const CLIENT = join(REPO, 'test/chaos/client.ts');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
export const RAFT_PORT = 5010;
export const HTTP_PORT = 8009;

/** every process this module spawned and has not seen exit (killed by `killAllChildren`) */
const live = new Set<ChildProcessWithoutNullStreams>();

function track(p: ChildProcessWithoutNullStreams): void {
  live.add(p);
  p.once('exit', () => live.delete(p));
}

/** SIGKILL every controller and client still running (a campaign interrupted by a signal). */
export function killAllChildren(): void {
  for (const p of live) {
    p.kill('SIGCONT');
    p.kill('SIGKILL');
  }
}

/** Wall-clock milliseconds with sub-millisecond resolution (the clients' records use Date.now()). */
export const now = (): number => performance.timeOrigin + performance.now();

function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('PATRONI_') && !k.startsWith('RAFTDCS_') && v !== undefined) env[k] = v;
  env.TSX_TSCONFIG_PATH = join(REPO, 'tsconfig.json');
  env.NO_COLOR = '1';
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

export interface NodeStatus {
  readonly role: string;
  /** the voting members other than itself, as this node sees them */
  readonly partners: readonly string[];
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
}

export type ControllerState = 'running' | 'paused' | 'dead';

class Controller {
  proc: ChildProcessWithoutNullStreams | null = null;
  state: ControllerState = 'dead';
  exited: Promise<void> = Promise.resolve();
  starts = 0;
}

/** A workload client process; requests are answered by id, each within a bound. */
export class ClientProc {
  private readonly waiting = new Map<number, (r: ClientReply) => void>();
  private nextId = 1;
  readonly ready: Promise<void>;
  private exited = false;

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    let markReady!: () => void;
    this.ready = new Promise((r) => {
      markReady = r;
    });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      let v: ClientReply | { ready: true };
      try {
        v = JSON.parse(line) as ClientReply | { ready: true };
      } catch {
        return;
      }
      if ('ready' in v) {
        markReady();
        return;
      }
      const w = this.waiting.get(v.id);
      this.waiting.delete(v.id);
      w?.(v);
    });
    proc.on('exit', () => {
      this.exited = true;
      for (const [id, w] of this.waiting) w({ id, outcome: 'error', error: 'client exited' });
      this.waiting.clear();
    });
  }

  /** Send a request; a reply that does not come within `boundMs` counts as an unknown outcome. */
  request(req: Omit<ClientRequest, 'id'>, boundMs: number): Promise<ClientReply> {
    const id = this.nextId++;
    if (this.exited) return Promise.resolve({ id, outcome: 'error', error: 'client exited' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ id, outcome: 'unknown', error: `no reply within ${boundMs} ms` });
      }, boundMs);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.proc.stdin.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.stdin.write(`${JSON.stringify({ id: 0, op: 'quit' })}\n`);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}

export interface ChaosClusterOptions {
  readonly net: ChaosNet;
  /** members at the start (the net may have one more namespace: a spare that membership changes add) */
  readonly nodes: number;
  /** namespaces in the net (default: nodes) */
  readonly slots?: number;
  /** where data directories, configs and logs go */
  readonly root: string;
  /** test-only control: controllers keep no journal (a whole-cluster crash loses everything) */
  readonly unsafeNoJournal?: boolean;
  /** these members run Debian's Python `patroni_raft_controller` (pysyncobj) instead of ours */
  readonly python?: readonly number[];
}

export const PYTHON = '/usr/bin/python3';
export const PATRONI_RAFT_CONTROLLER = '/usr/bin/patroni_raft_controller';

export class ChaosCluster {
  private readonly controllers: Controller[];
  readonly clients: ClientProc[] = [];
  /** the voting members as the harness changed them (indexes into the net's namespaces) */
  readonly members: Set<number>;

  constructor(private readonly o: ChaosClusterOptions) {
    this.controllers = Array.from({ length: o.slots ?? o.nodes }, () => new Controller());
    this.members = new Set(Array.from({ length: o.nodes }, (_, i) => i));
  }

  /** namespaces (member or not) */
  get slots(): number {
    return this.controllers.length;
  }

  memberList(): number[] {
    return [...this.members].sort((a, b) => a - b);
  }

  raftAddr(i: number): string {
    return `${this.o.net.nodeIp(i)}:${RAFT_PORT}`;
  }

  stateOf(i: number): ControllerState {
    return (this.controllers[i] as Controller).state;
  }

  pid(i: number): number | undefined {
    return (this.controllers[i] as Controller).proc?.pid;
  }

  private configFile(i: number): string {
    const dir = join(this.o.root, `n${i}`);
    mkdirSync(dir, { recursive: true });
    const partners = this.memberList()
      .filter((j) => j !== i)
      .map((j) => this.raftAddr(j));
    const file = join(this.o.root, `n${i}.yaml`);
    writeFileSync(
      file,
      [
        'raft:',
        `  self_addr: ${this.raftAddr(i)}`,
        `  partner_addrs: [${partners.map((p) => `'${p}'`).join(', ')}]`,
        `  data_dir: ${dir}`,
        '  connection_timeout: 2',
        '  connection_retry_time: 0.3',
        'raftdcs:',
        `  http: ${this.o.net.nodeIp(i)}:${HTTP_PORT}`,
        '  max_bind_retries: 0',
        '  bind_retry_time: 0.2',
        'log:',
        '  level: INFO',
        '',
      ].join('\n'),
    );
    return file;
  }

  isPython(i: number): boolean {
    return this.o.python?.includes(i) ?? false;
  }

  async startController(i: number): Promise<void> {
    const c = this.controllers[i] as Controller;
    if (c.state !== 'dead') throw new Error(`controller ${i} is ${c.state}`);
    const log = openSync(join(this.o.root, `n${i}.log`), 'a');
    const { command, args } = this.isPython(i)
      ? this.o.net.spawnArgs(i, PYTHON, [PATRONI_RAFT_CONTROLLER, this.configFile(i)])
      : this.o.net.spawnArgs(i, process.execPath, ['--import', TSX, MAIN, 'controller', this.configFile(i)]);
    const env = childEnv(this.o.unsafeNoJournal ? { RAFTDCS_UNSAFE_TEST_NO_JOURNAL: '1' } : {});
    const proc = spawn(command, args, { env, stdio: ['pipe', log, log] as never });
    c.proc = proc as unknown as ChildProcessWithoutNullStreams;
    track(c.proc);
    c.state = 'running';
    c.starts++;
    c.exited = new Promise((resolve) =>
      proc.once('exit', () => {
        if (c.proc === (proc as unknown)) c.state = 'dead';
        resolve();
      }),
    );
  }

  async startClient(i: number): Promise<ClientProc> {
    const partners = this.memberList()
      .map((j) => this.raftAddr(j))
      .join(',');
    const err = openSync(join(this.o.root, `client${i}.log`), 'a');
    const { command, args } = this.o.net.spawnArgs(i, process.execPath, ['--import', TSX, CLIENT, partners]);
    const proc = spawn(command, args, { env: childEnv(), stdio: ['pipe', 'pipe', err] as never });
    track(proc as unknown as ChildProcessWithoutNullStreams);
    const client = new ClientProc(proc as unknown as ChildProcessWithoutNullStreams);
    await Promise.race([
      client.ready,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`client ${i} did not start`)), 30_000)),
    ]);
    return client;
  }

  async start(): Promise<void> {
    for (const i of this.memberList()) await this.startController(i);
    for (const i of this.memberList()) this.clients.push(await this.startClient(i));
  }

  /**
   * Add node `i` (not a member, not running) with an empty data directory: its controller starts
   * with the members as partners and asks to be added, as a new Patroni node does.
   */
  async addMember(i: number): Promise<void> {
    if (this.members.has(i)) throw new Error(`n${i} is a member already`);
    const c = this.controllers[i] as Controller;
    this.kill9(i);
    await c.exited;
    rmSync(join(this.o.root, `n${i}`), { recursive: true, force: true });
    await this.startController(i);
    this.members.add(i);
  }

  /**
   * Remove member `i` through the `remove` utility command sent to `via` (another member); once the
   * change is acknowledged, the node is killed and forgotten. Returns the reply (e.g. `SUCCESS
   * REMOVE …`, or why it failed: then `i` stays a member).
   */
  async removeMember(i: number, via: number): Promise<string> {
    let reply: string;
    try {
      const util = new TcpUtility({ timeoutMs: 5000 });
      reply = String(await util.execute(this.raftAddr(via), ['remove', this.raftAddr(i)]));
    } catch (e) {
      reply = `utility failed: ${(e as Error).message}`;
    }
    if (reply.startsWith('SUCCESS')) {
      this.members.delete(i);
      this.kill9(i);
      await (this.controllers[i] as Controller).exited;
    }
    return reply;
  }

  kill9(i: number): void {
    const c = this.controllers[i] as Controller;
    if (c.proc && c.state !== 'dead') {
      c.proc.kill('SIGKILL');
      c.state = 'dead';
    }
  }

  pause(i: number): void {
    const c = this.controllers[i] as Controller;
    if (c.proc && c.state === 'running') {
      c.proc.kill('SIGSTOP');
      c.state = 'paused';
    }
  }

  resume(i: number): void {
    const c = this.controllers[i] as Controller;
    if (c.proc && c.state === 'paused') {
      c.proc.kill('SIGCONT');
      c.state = 'running';
    }
  }

  /** Restart a killed controller on its data directory (waits for the old process to be gone). */
  async restart(i: number): Promise<void> {
    const c = this.controllers[i] as Controller;
    this.kill9(i);
    await c.exited;
    c.state = 'dead';
    await this.startController(i);
  }

  /**
   * A node's state through pysyncobj's `status` utility command (answered alike by our controller
   * and by Python's), or null when it does not answer within `timeoutMs`.
   */
  async status(i: number, timeoutMs = 800): Promise<NodeStatus | null> {
    if ((this.controllers[i] as Controller).state !== 'running') return null;
    try {
      const util = new TcpUtility({ timeoutMs });
      const v = await util.execute(this.raftAddr(i), ['status']);
      if (!(v instanceof Map)) return null;
      const num = (k: string) => Number(v.get(k) ?? Number.NaN);
      const state = num('state');
      const prefix = 'partner_node_status_server_';
      const partners = [...v.keys()].flatMap((k) =>
        typeof k === 'string' && k.startsWith(prefix) ? [k.slice(prefix.length)] : [],
      );
      return {
        role: state === 2 ? 'leader' : state === 1 ? 'candidate' : 'follower',
        partners,
        term: num('raft_term'),
        commit: num('commit_idx'),
        applied: num('last_applied'),
      };
    } catch {
      return null;
    }
  }

  /**
   * The members as the leader sees them (indexes), with every running node's status; null when
   * no node reports itself leader.
   */
  async leaderView(): Promise<{ leader: number; members: number[]; status: (NodeStatus | null)[] } | null> {
    const status = await Promise.all(Array.from({ length: this.slots }, (_, i) => this.status(i)));
    let leader: number | null = null;
    status.forEach((s, i) => {
      if (s?.role === 'leader' && (leader === null || s.term > (status[leader]?.term ?? -1))) leader = i;
    });
    if (leader === null) return null;
    const l = leader as number;
    const partners = new Set(status[l]?.partners ?? []);
    const members = Array.from({ length: this.slots }, (_, i) => i).filter(
      (i) => i === l || partners.has(this.raftAddr(i)),
    );
    return { leader: l, members, status };
  }

  /** The members' status, in `memberList()` order. */
  async statuses(): Promise<(NodeStatus | null)[]> {
    return Promise.all(this.memberList().map((i) => this.status(i)));
  }

  /** The member that reports itself leader with the highest term, or null. */
  async leader(): Promise<number | null> {
    const ids = this.memberList();
    const st = await this.statuses();
    let best: number | null = null;
    let bestTerm = -1;
    st.forEach((s, k) => {
      if (s?.role === 'leader' && s.term > bestTerm) {
        best = ids[k] as number;
        bestTerm = s.term;
      }
    });
    if (best !== null) this.leadersSeen.add(best);
    return best;
  }

  /** every node `leader()` found leading during the run */
  readonly leadersSeen = new Set<number>();

  async destroy(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.stop().catch(() => undefined)));
    for (const c of this.controllers) {
      if (c.proc && c.state !== 'dead') {
        c.proc.kill('SIGCONT');
        c.proc.kill('SIGKILL');
      }
      await c.exited;
    }
  }
}
