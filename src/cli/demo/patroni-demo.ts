/**
 * `raftdcs demo --patroni`: three PostgreSQL nodes managed by Patroni, whose DCS is a 3-node
 * raftdcs cluster — all on 127.0.0.1, data and logs under one folder — with a live view of both
 * layers: the Raft members (role, term, commit index, quorum) and the PostgreSQL members as
 * Patroni's REST API reports them (role, state, timeline, replication lag).
 *
 * When Patroni or PostgreSQL's server binaries are missing it says what to install and exits
 * non-zero before starting anything. Ctrl-C stops the Patroni nodes (replicas first, then the
 * primary: no failover on the way out), then the controllers; the data stays for the next run.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ExitCode } from '../exit-codes.js';
import { DEMO_SCOPE, DEMO_SUPERUSER } from './patroni-config.js';
import { DemoPatroniNode } from './patroni-node.js';
import { findRequirements, INSTALL_LINE, type PatroniSetup } from './patroni-requirements.js';
import {
  fetchViews,
  NODE_HEADER,
  type NodeView,
  nodeRow,
  pause,
  portsFree,
  startController,
  statusClient,
  stopController,
  stopOnSignal,
  summarize,
} from './raft-cluster.js';

export interface PatroniDemoOptions {
  /** where the nodes keep their data and logs (kept between runs) */
  readonly dir: string;
  /** the raftdcs controllers' Raft ports on 127.0.0.1 */
  readonly raftPorts: readonly number[];
  /** the Patroni nodes' REST API ports */
  readonly apiPorts: readonly number[];
  /** the PostgreSQL ports */
  readonly pgPorts: readonly number[];
  readonly patroniBin?: string;
  readonly pgBinDir?: string;
  readonly refreshMs?: number;
  /** stop after this long (tests); default: until SIGINT/SIGTERM */
  readonly runForMs?: number;
  readonly out?: NodeJS.WriteStream;
  readonly err?: NodeJS.WritableStream;
}

/** One member of Patroni's `GET /cluster` (the fields the view shows). */
interface PgMember {
  readonly name: string;
  readonly role?: string;
  readonly state?: string;
  readonly timeline?: number;
  readonly lag?: number | string;
  readonly host?: string;
  readonly port?: number;
}

interface Screen {
  readonly out: NodeJS.WriteStream;
  readonly tty: boolean;
  readonly dir: string;
  readonly raftAddrs: readonly string[];
  readonly setup: PatroniSetup;
  readonly started: number;
  lastLine: number;
}

const LEADER_WAIT_MS = 30_000;
/** A Patroni that ended (killed by the user, say) is started again after this long. */
const RESTART_DELAY_MS = 10_000;

export async function runPatroniDemo(o: PatroniDemoOptions): Promise<number> {
  const out = o.out ?? process.stdout;
  const err = o.err ?? process.stderr;
  const req = findRequirements({ patroniBin: o.patroniBin, pgBinDir: o.pgBinDir });
  if (!req.ok) {
    err.write(
      'raftdcs demo --patroni needs Patroni and PostgreSQL, and this machine lacks:\n' +
        `${req.missing.map((m) => `  - ${m}\n`).join('')}` +
        `Install them (Debian, Ubuntu):\n  ${INSTALL_LINE}\n` +
        'or run `raftdcs demo` (npm start) for the demo without PostgreSQL.\n',
    );
    return ExitCode.StartFailed;
  }
  const setup = req.setup;
  if (!(await portsFree(o.raftPorts, '--ports'))) return ExitCode.StartFailed;
  if (!(await portsFree(o.apiPorts, '--api-ports'))) return ExitCode.StartFailed;
  if (!(await portsFree(o.pgPorts, '--pg-ports'))) return ExitCode.StartFailed;

  const dir = resolve(o.dir);
  mkdirSync(dir, { recursive: true });
  if (setup.runAs) chmodSync(dir, 0o755);
  const raftAddrs = o.raftPorts.map((p) => `127.0.0.1:${p}`);
  const nodes = o.pgPorts.map((pgPort, i) => {
    const nodeDir = join(dir, `pg${i + 1}`);
    return new DemoPatroniNode(
      {
        name: `pg${i + 1}`,
        dir: nodeDir,
        dataDir: join(nodeDir, 'data'),
        apiPort: o.apiPorts[i] ?? 0,
        pgPort,
      },
      setup,
    );
  });
  for (const n of nodes) {
    const problem = n.prepare(raftAddrs);
    if (problem) {
      err.write(`raftdcs demo --patroni: ${problem}\n`);
      return ExitCode.StartFailed;
    }
  }

  const controllers = raftAddrs.map((addr, i) =>
    startController(join(dir, `raft${i + 1}`), addr, raftAddrs, true),
  );
  const utility = statusClient();
  const stop = stopOnSignal(o.runForMs);
  const screen: Screen = {
    out,
    tty: Boolean(out.isTTY),
    dir,
    raftAddrs,
    setup,
    started: performance.now(),
    lastLine: Number.NEGATIVE_INFINITY,
  };
  try {
    // Patroni starts once the DCS can answer (it would wait by itself, but its log would fill up)
    const deadline = performance.now() + LEADER_WAIT_MS;
    while (!stop.requested() && performance.now() < deadline) {
      const views = await fetchViews(utility, raftAddrs);
      render(screen, views, [], nodes);
      if (summarize(views).leader !== null) break;
      await pause(stop, 200);
    }
    if (!stop.requested()) for (const n of nodes) n.start();
    while (!stop.requested()) {
      for (const n of nodes) if (n.restartIn(RESTART_DELAY_MS) === 0) n.start();
      const [views, members] = await Promise.all([fetchViews(utility, raftAddrs), pgMembers(nodes)]);
      render(screen, views, members, nodes);
      await pause(stop, o.refreshMs ?? 1000);
    }
  } finally {
    stop.remove();
    out.write('\nraftdcs demo: stopping the Patroni nodes (replicas first), then the raftdcs controllers…\n');
    await stopPatroniNodes(nodes, await pgMembers(nodes));
    await Promise.all(controllers.map(stopController));
  }
  out.write(`raftdcs demo stopped; the cluster's data is kept in ${dir} (run again to continue)\n`);
  return ExitCode.Ok;
}

/** Replicas first, then the primary, so that no replica takes over while the demo ends. */
async function stopPatroniNodes(
  nodes: readonly DemoPatroniNode[],
  members: readonly PgMember[],
): Promise<void> {
  const leader = members.find((m) => m.role === 'leader' || m.role === 'master')?.name;
  await Promise.all(nodes.filter((n) => n.name !== leader).map((n) => n.stop()));
  await Promise.all(nodes.filter((n) => n.name === leader).map((n) => n.stop()));
}

/** Patroni's `GET /cluster`, from the first node that answers ([] when none does). */
async function pgMembers(nodes: readonly DemoPatroniNode[]): Promise<PgMember[]> {
  for (const n of nodes) {
    if (n.pid === null) continue;
    try {
      const res = await fetch(`http://127.0.0.1:${n.spec.apiPort}/cluster`, {
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { members?: PgMember[] };
      if (Array.isArray(body.members)) return body.members;
    } catch {
      // not up yet, or stopping: ask the next one
    }
  }
  return [];
}

/** `lag` as Patroni gives it: bytes behind the primary, or a word ('unknown'). */
function lagText(lag: number | string | undefined): string {
  if (lag === undefined) return '';
  if (typeof lag === 'string') return lag;
  return lag < 1024 * 1024 ? `${lag} B` : `${(lag / 1024 / 1024).toFixed(1)} MB`;
}

/** One PostgreSQL node's row: what Patroni says about it, and its Patroni process. */
function pgRow(n: DemoPatroniNode, members: readonly PgMember[]): string {
  const m = members.find((x) => x.name === n.name);
  const restart = n.restartIn(RESTART_DELAY_MS);
  const proc =
    n.pid !== null
      ? `pid ${n.pid}`
      : restart !== null
        ? `${n.exitText}, restarting in ${restart.toFixed(0)} s (log: ${n.logFile})`
        : 'not started';
  return [
    n.name.padEnd(6),
    `127.0.0.1:${n.spec.pgPort}`.padEnd(16),
    (m?.role ?? '-').padEnd(14),
    (m?.state ?? (n.pid !== null ? 'starting' : '-')).padEnd(10),
    String(m?.timeline ?? '').padStart(3),
    lagText(m?.lag).padStart(9),
    ` ${proc}`,
  ].join(' ');
}

/** One line per node for a log: `pg1=leader/running/tl1`. */
function pgSummary(nodes: readonly DemoPatroniNode[], members: readonly PgMember[]): string {
  return nodes
    .map((n) => {
      const m = members.find((x) => x.name === n.name);
      if (!m) return `${n.name}=${n.pid !== null ? 'starting' : n.exitText ? 'exited' : 'not-started'}`;
      const lag = typeof m.lag === 'number' ? `/lag=${m.lag}` : '';
      return `${n.name}=${m.role ?? '?'}/${m.state ?? '?'}/tl${m.timeline ?? '?'}${lag}`;
    })
    .join(' ');
}

/** The live view: redrawn in place on a terminal, else one summary line a second. */
function render(
  s: Screen,
  views: readonly NodeView[],
  members: readonly PgMember[],
  nodes: readonly DemoPatroniNode[],
): void {
  const { leader, term, commit } = summarize(views);
  const secs = ((performance.now() - s.started) / 1000).toFixed(0);
  if (!s.tty) {
    if (performance.now() - s.lastLine < 950) return;
    s.lastLine = performance.now();
    s.out.write(
      `t=${secs}s leader=${leader ?? 'none'} term=${term} commit=${commit} ${pgSummary(nodes, members)}\n`,
    );
    return;
  }
  const primary = members.find((m) => m.role === 'leader' || m.role === 'master');
  const primaryNode = nodes.find((n) => n.name === primary?.name);
  const lines = [
    `raftdcs demo --patroni — PostgreSQL ${s.setup.pgVersion} under Patroni ${s.setup.patroniVersion}, ` +
      `DCS: 3 raftdcs controllers (Ctrl-C to stop; data is kept in ${s.dir})`,
    '',
    `Raft   leader: ${leader ?? '(none yet)'}   term: ${term}   commit index: ${commit}   uptime: ${secs}s`,
    NODE_HEADER,
    ...views.map((v) => nodeRow(v, s.raftAddrs)),
    '',
    `PostgreSQL   Patroni scope '${DEMO_SCOPE}'`,
    'member postgres         role           state       TL       lag  Patroni',
    ...nodes.map((n) => pgRow(n, members)),
    '',
    'try:',
    `  psql -h 127.0.0.1 -p ${primaryNode?.spec.pgPort ?? nodes[0]?.spec.pgPort} -U ${DEMO_SUPERUSER.username} postgres   (password: ${DEMO_SUPERUSER.password})`,
    primaryNode?.pid
      ? `  kill ${primaryNode.pid}    (stops the primary: a replica is promoted; the demo starts it again ` +
        `${RESTART_DELAY_MS / 1000} s later and it rejoins as a replica)`
      : '  (waiting for a primary)',
    `  raftdcs ctl -c ${join(s.dir, 'pg1', 'patroni.yml')} list`,
    '',
    `logs: ${join(s.dir, 'raft*/controller.log')}  ${join(s.dir, 'pg*/patroni.log')}`,
  ];
  s.out.write(`\x1b[H\x1b[2J${lines.join('\n')}\n`);
}
