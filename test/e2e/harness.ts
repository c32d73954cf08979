/**
 * An end-to-end cluster: a temporary directory, loopback ports, N Patroni nodes running
 * PostgreSQL 15 and W witnesses, all of them members of one Raft cluster; the waits the scenarios
 * need (a healthy cluster, a promotion), each bounded and saying what it waited for; and a teardown
 * that stops every process it started (PostgreSQL included) and removes the directory — and, should
 * the test process exit before that, a synchronous SIGKILL of everything (and the directory's removal)
 * on its way out.
 *
 * Layout of the directory: `<name>/` per Patroni node (patroni.yml, patroni.log, `data/` mode 0700,
 * `raft/`, owned by the PostgreSQL user), `w<i>/` per witness (raft.yml, witness.log, `raft/`).
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../helpers/ports.js';
import { patroniConfig, toYaml, witnessConfig } from './config.js';
import { PG_BIN, type RunAs, runAs } from './env.js';
import { PatroniNode, Witness, type WitnessKind } from './node.js';
import { type ClusterView, clusterView, type PatroniStatus, patroniStatus, until } from './observe.js';
import { tail } from './procs.js';

export interface ClusterSpec {
  /** Patroni's scope */
  readonly scope: string;
  /** number of Patroni nodes */
  readonly nodes: number;
  /** one entry per witness */
  readonly witnesses: readonly WitnessKind[];
}

/** A settled cluster: one leader, every replica streaming from it on its timeline. */
export interface Healthy {
  readonly leader: string;
  readonly timeline: number;
  readonly replicas: readonly string[];
}

/** Clusters not destroyed yet: killed outright if the test process exits first. */
const live = new Set<E2eCluster>();
process.once('exit', () => {
  for (const c of live) {
    c.killNow();
    if (process.env.RAFTDCS_E2E_KEEP !== '1') {
      try {
        rmSync(c.dir, { recursive: true, force: true });
      } catch {
        // a dying postmaster may still write into it: best effort
      }
    }
  }
});

export class E2eCluster {
  #destroyed = false;

  private constructor(
    readonly spec: ClusterSpec,
    readonly dir: string,
    readonly nodes: readonly PatroniNode[],
    readonly witnesses: readonly Witness[],
  ) {}

  /** Directories, ports and configuration files; nothing is started. */
  static async create(spec: ClusterSpec): Promise<E2eCluster> {
    const user = runAs();
    const dir = mkdtempSync(join(tmpdir(), `raftdcs-e2e-${spec.scope}-`));
    chmodSync(dir, 0o755);
    const ports = await freePorts(spec.nodes * 3 + spec.witnesses.length);
    const take = () => ports.shift() as number;
    const nodes: PatroniNode[] = [];
    for (let i = 0; i < spec.nodes; i++) {
      const name = `pg${i}`;
      const nodeDir = join(dir, name);
      const paths = { dir: nodeDir, dataDir: join(nodeDir, 'data'), raftDir: join(nodeDir, 'raft') };
      nodes.push(
        new PatroniNode({ name, api: take(), pg: take(), raft: `127.0.0.1:${take()}` }, paths, user),
      );
    }
    const witnesses = spec.witnesses.map(
      (kind, i) => new Witness(i, `127.0.0.1:${take()}`, join(dir, `w${i}`), kind),
    );
    const members = [...nodes.map((n) => n.addrs.raft), ...witnesses.map((w) => w.addr)];
    const others = (self: string) => members.filter((m) => m !== self);
    for (const n of nodes) {
      for (const d of [n.paths.dir, n.paths.dataDir, n.paths.raftDir]) ownedDir(d, user, 0o700);
      const config = patroniConfig(spec.scope, n.addrs, n.paths, others(n.addrs.raft), PG_BIN);
      writeFileSync(n.yamlFile, toYaml(config), { mode: 0o644 });
      owned(n.yamlFile, user);
    }
    for (const w of witnesses) {
      mkdirSync(w.dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(w.yamlFile, toYaml(witnessConfig(spec.scope, w.addr, others(w.addr), w.dataDir)));
    }
    const cluster = new E2eCluster(spec, dir, nodes, witnesses);
    live.add(cluster);
    return cluster;
  }

  node(name: string): PatroniNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** Start every witness and every Patroni node at once. */
  async startAll(): Promise<void> {
    for (const w of this.witnesses) w.start();
    await Promise.all(this.nodes.map((n) => n.start()));
  }

  /** `GET /patroni` of every node, by name (null: no answer). */
  async statuses(): Promise<Map<string, PatroniStatus | null>> {
    const all = await Promise.all(this.nodes.map((n) => patroniStatus(n.addrs.api)));
    return new Map(this.nodes.map((n, i) => [n.name, all[i] ?? null]));
  }

  /** `GET /cluster` from the first node that answers. */
  async view(): Promise<ClusterView | null> {
    for (const n of this.nodes) {
      const v = await clusterView(n.addrs.api);
      if (v) return v;
    }
    return null;
  }

  /**
   * Wait until the cluster is settled: every node answers with state `running`, exactly one is
   * `master`, the leader's `replication` shows every other node `streaming`, each replica reports
   * the leader's timeline, and `GET /cluster` names the same leader.
   */
  async waitHealthy(timeoutMs: number, what = 'a healthy cluster'): Promise<Healthy> {
    let last = '';
    return until(
      `${what}: one running master, every other node a running replica streaming from it on its timeline`,
      timeoutMs,
      async () => {
        const st = await this.statuses();
        last = describeStatuses(st);
        const masters = [...st].filter(([, s]) => s?.role === 'master' && s.state === 'running');
        if (masters.length !== 1) return undefined;
        const [leader, ls] = masters[0] as [string, PatroniStatus];
        const replicas = this.nodes.map((n) => n.name).filter((n) => n !== leader);
        const streaming = new Set(
          (ls.replication ?? []).filter((r) => r.state === 'streaming').map((r) => r.application_name),
        );
        for (const r of replicas) {
          const s = st.get(r);
          if (s?.role !== 'replica' || s.state !== 'running' || s.timeline !== ls.timeline) return undefined;
          if (!streaming.has(r)) return undefined;
        }
        const view = await clusterView(this.node(leader).addrs.api);
        last += ` | /cluster: ${JSON.stringify(view?.members.map((m) => [m.name, m.role, m.state]))}`;
        if (view?.members.find((m) => m.role === 'leader')?.name !== leader) return undefined;
        return { leader, timeline: ls.timeline ?? 0, replicas };
      },
      () => last,
      500,
    );
  }

  /**
   * Wait until a node other than `formerLeader` reports role `master` (running) through its REST
   * API; its name and the milliseconds since `since`.
   */
  async waitPromoted(
    formerLeader: string,
    since: number,
    timeoutMs: number,
    candidate?: string,
  ): Promise<{ leader: string; ms: number; timeline: number }> {
    let last = '';
    const wanted = candidate ?? `a node other than ${formerLeader}`;
    return until(
      `${wanted} to report role master through GET /patroni`,
      timeoutMs,
      async () => {
        const st = await this.statuses();
        last = describeStatuses(st);
        for (const [name, s] of st) {
          if (name === formerLeader || (candidate && name !== candidate)) continue;
          if (s?.role === 'master' && s.state === 'running') {
            return { leader: name, ms: Date.now() - since, timeline: s.timeline ?? 0 };
          }
        }
        return undefined;
      },
      () => last,
      200,
    );
  }

  /** SIGKILL to every process of the cluster, synchronously; nothing is awaited or removed. */
  killNow(): void {
    for (const n of this.nodes) {
      try {
        n.killNow();
      } catch {
        // gone already
      }
    }
    for (const w of this.witnesses) w.killNow();
  }

  /** The tail of every log file, for a failing test. */
  logTails(lines = 30): string {
    const parts: string[] = [];
    for (const n of this.nodes) parts.push(`----- ${n.name}: ${n.logFile}\n${tail(n.logFile, lines)}`);
    for (const w of this.witnesses) parts.push(`----- ${w.label}: ${w.logFile}\n${tail(w.logFile, lines)}`);
    return parts.join('\n');
  }

  /**
   * Stop everything and remove the directory (kept when RAFTDCS_E2E_KEEP=1): Patroni killed first
   * (so it restarts nothing), then each PostgreSQL (immediate shutdown, SIGKILL after a grace
   * period), the reapers, and the witnesses (SIGTERM, SIGKILL after a grace period).
   */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    live.delete(this);
    const errors: unknown[] = [];
    const settle = async (ps: Promise<unknown>[]) => {
      for (const r of await Promise.allSettled(ps)) if (r.status === 'rejected') errors.push(r.reason);
    };
    await settle(this.nodes.map((n) => n.destroy()));
    await settle(this.witnesses.map((w) => w.stop()));
    if (process.env.RAFTDCS_E2E_KEEP === '1') process.stderr.write(`[e2e] kept ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
    if (errors.length > 0) throw new AggregateError(errors, `teardown of ${this.dir} had errors`);
  }
}

function ownedDir(path: string, user: RunAs | null, mode: number): void {
  mkdirSync(path, { recursive: true, mode });
  chmodSync(path, mode);
  owned(path, user);
}

function owned(path: string, user: RunAs | null): void {
  if (user) chownSync(path, user.uid, user.gid);
}

function describeStatuses(st: Map<string, PatroniStatus | null>): string {
  return [...st]
    .map(([name, s]) => (s ? `${name}=${s.role}/${s.state}/TL${s.timeline ?? '?'}` : `${name}=(no answer)`))
    .join(' ');
}
