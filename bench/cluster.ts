/**
 * Drives a 3-process cluster of bench nodes (ours: bench/node.ts) over loopback, with the same
 * line protocol and workloads as the Python baseline's driver.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** bench/ in the source tree (also when running the compiled copy in .bench-build/bench/) */
const benchDir = existsSync(join(here, 'python')) ? here : resolve(here, '../../bench');

export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

type Json = Record<string, unknown>;

/** Which implementation a bench node runs: ours (bench/node.ts) or the Python baseline's node mode. */
export type Impl = 'ts' | 'py';

export class BenchNode {
  readonly proc: ChildProcessWithoutNullStreams;
  private readonly queue: Json[] = [];
  private waiting: ((v: Json | null) => void) | null = null;
  private exited = false;

  constructor(
    readonly addr: string,
    partners: string[],
    dataDir: string,
    logDir: string,
    extra: string[] = [],
    readonly impl: Impl = 'ts',
  ) {
    const err = openSync(join(logDir, `${addr.replace(':', '_')}.stderr`), 'a');
    const common = ['--self-addr', addr, '--partners', partners.join(','), '--data-dir', dataDir];
    this.proc = (
      impl === 'py'
        ? spawn(
            '/usr/bin/python3',
            [join(benchDir, 'python/pysyncobj_baseline.py'), 'node', ...common, ...extra],
            {
              stdio: ['pipe', 'pipe', err] as never,
            },
          )
        : spawn(
            process.execPath,
            // the compiled node when running compiled (npm run bench), else through tsx (tests)
            // RAFTDCS_BENCH_NODE_FLAGS: extra node flags for the node processes (e.g. --cpu-prof)
            [...(process.env.RAFTDCS_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)].concat(
              existsSync(join(here, 'node.js'))
                ? [join(here, 'node.js'), ...common, ...extra]
                : ['--import', 'tsx', join(here, 'node.ts'), ...common, ...extra],
            ),
            { stdio: ['pipe', 'pipe', err] as never },
          )
    ) as ChildProcessWithoutNullStreams;
    const rl = createInterface({ input: this.proc.stdout });
    rl.on('line', (line) => {
      let v: Json;
      try {
        v = JSON.parse(line) as Json;
      } catch {
        return;
      }
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = null;
        w(v);
      } else this.queue.push(v);
    });
    this.proc.on('exit', () => {
      this.exited = true;
      const w = this.waiting;
      this.waiting = null;
      w?.(null);
    });
  }

  get(timeoutMs: number): Promise<Json> {
    const next = this.queue.shift();
    if (next) return Promise.resolve(next);
    if (this.exited) return Promise.reject(new Error(`node ${this.addr} exited`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`node ${this.addr}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (v) => {
        clearTimeout(timer);
        if (v === null) reject(new Error(`node ${this.addr} exited`));
        else resolve(v);
      };
    });
  }

  send(obj: Json): void {
    this.proc.stdin.write(`${JSON.stringify(obj)}\n`);
  }

  async cmd(obj: Json, timeoutMs = 60_000): Promise<Json> {
    this.send(obj);
    return this.get(timeoutMs);
  }

  get alive(): boolean {
    return !this.exited;
  }

  kill9(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    this.send({ op: 'quit' });
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.proc.kill('SIGKILL');
        resolve();
      }, 5000);
      this.proc.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

export class BenchCluster {
  readonly root = mkdtempSync(join(tmpdir(), 'raftdcs-bench-'));
  readonly nodes = new Map<string, BenchNode>();
  addrs: string[] = [];
  spare: string[] = [];

  constructor(
    private readonly extra: string[] = [],
    readonly impl: Impl = 'ts',
  ) {}

  async init(n = 3): Promise<void> {
    const ports = await freePorts(n + 2);
    this.addrs = ports.slice(0, n).map((p) => `127.0.0.1:${p}`);
    this.spare = ports.slice(n).map((p) => `127.0.0.1:${p}`);
  }

  dataDir(addr: string): string {
    return join(this.root, addr.replace(':', '_'));
  }

  async startNode(addr: string, partners: string[], wipe = false): Promise<BenchNode> {
    if (wipe) rmSync(this.dataDir(addr), { recursive: true, force: true });
    mkdirSync(this.dataDir(addr), { recursive: true });
    const node = new BenchNode(addr, partners, this.dataDir(addr), this.root, this.extra, this.impl);
    this.nodes.set(addr, node);
    await node.get(30_000); // "started"
    return node;
  }

  async start(): Promise<string> {
    await Promise.all(
      this.addrs.map((a) =>
        this.startNode(
          a,
          this.addrs.filter((b) => b !== a),
        ),
      ),
    );
    return this.waitLeader(60_000);
  }

  alive(): BenchNode[] {
    return [...this.nodes.values()].filter((n) => n.alive);
  }

  async statuses(): Promise<Map<string, Json>> {
    const out = new Map<string, Json>();
    for (const n of this.alive()) out.set(n.addr, await n.cmd({ op: 'status' }, 10_000));
    return out;
  }

  async waitLeader(timeoutMs: number, exclude?: string): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const st = await this.statuses();
      const leaders = [...st.entries()].filter(([a, s]) => s.is_leader && a !== exclude).map(([a]) => a);
      if (leaders.length === 1 && [...st.values()].every((s) => s.leader === leaders[0]))
        return leaders[0] as string;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no leader elected');
  }

  async waitAllApplied(timeoutMs = 120_000): Promise<Map<string, Json>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const st = await this.statuses();
      const leader = [...st.values()].find((s) => s.is_leader);
      if (leader && [...st.values()].every((s) => (s.applied as number) >= (leader.commit as number)))
        return st;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('not all applied');
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Resident set size of a process in MiB (from /proc, like the Python baseline). */
export function rssMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}
