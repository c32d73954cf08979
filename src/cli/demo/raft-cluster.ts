/**
 * The raftdcs side of both demos (`raftdcs demo` and `raftdcs demo --patroni`): three
 * `raftdcs controller` processes on 127.0.0.1 with their data and logs under one folder, their
 * `status` as the live views show it, and the signal handling that ends a demo.
 *
 * It must never listen on anything but loopback, and never leave a controller running behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TcpUtility } from '../../raft/transport/utility-client.js';
import { nodeId, type PyValue } from '../../wire/value.js';

const cliDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROLE = ['follower', 'candidate', 'leader'];

/** One controller's `status` utility reply (null when it does not answer). */
export interface NodeView {
  readonly addr: string;
  readonly status: Map<string, PyValue> | null;
}

/** What the views show about the cluster as a whole. */
export interface ClusterSummary {
  readonly leader: string | null;
  readonly term: number;
  readonly commit: number;
}

/** How to start `raftdcs controller` as a child: the compiled file, or the source through tsx. */
function controllerCommand(): string[] {
  const js = join(cliDir, 'main.js');
  if (existsSync(js)) return [js];
  return ['--import', 'tsx', join(cliDir, 'main.ts')];
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => res(true)));
  });
}

/** Whether every port is free on 127.0.0.1 (else an error on stderr naming the first taken one). */
export async function portsFree(ports: readonly number[], optionName = '--ports'): Promise<boolean> {
  for (const p of ports) {
    if (!(await portFree(p))) {
      process.stderr.write(
        `raftdcs demo: port ${p} on 127.0.0.1 is in use (is another demo running?). Choose other ports with ${optionName}.\n`,
      );
      return false;
    }
  }
  return true;
}

/**
 * Write a controller's configuration into `nodeDir` and start it (its log: controller.log).
 * `ownGroup`: in a process group of its own, so that Ctrl-C on the terminal does not reach it and
 * the demo decides when it stops.
 */
export function startController(
  nodeDir: string,
  addr: string,
  addrs: readonly string[],
  ownGroup = false,
): ChildProcess {
  mkdirSync(nodeDir, { recursive: true });
  const config = join(nodeDir, 'raftdcs.yml');
  writeFileSync(
    config,
    [
      '# written by `raftdcs demo`: one node of the local demo cluster',
      'scope: demo',
      'raft:',
      `  self_addr: '${addr}'`,
      `  bind_addr: '${addr}'`,
      `  partner_addrs: [${addrs
        .filter((a) => a !== addr)
        .map((a) => `'${a}'`)
        .join(', ')}]`,
      `  data_dir: '${join(nodeDir, 'data')}'`,
      '',
    ].join('\n'),
  );
  const log = openSync(join(nodeDir, 'controller.log'), 'a');
  try {
    return spawn(process.execPath, [...controllerCommand(), 'controller', config, '--log-format', 'json'], {
      stdio: ['ignore', log, log],
      detached: ownGroup,
    });
  } finally {
    closeSync(log);
  }
}

/** SIGTERM a controller and wait for it to exit (SIGKILL after 10 s). */
export function stopController(c: ChildProcess): Promise<void> {
  return new Promise<void>((res) => {
    if (c.exitCode !== null || c.signalCode !== null) return res();
    const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.once('exit', () => {
      clearTimeout(kill);
      res();
    });
    c.kill('SIGTERM');
  });
}

/** Each controller's `status` (null for one that does not answer). */
export function fetchViews(utility: TcpUtility, addrs: readonly string[]): Promise<NodeView[]> {
  return Promise.all(
    addrs.map(async (addr) => {
      try {
        const st = await utility.execute(addr, ['status']);
        return { addr, status: st instanceof Map ? (st as Map<string, PyValue>) : null };
      } catch {
        return { addr, status: null };
      }
    }),
  );
}

/** A status client for the views (short timeout: a dead node must not slow the redraw). */
export function statusClient(): TcpUtility {
  return new TcpUtility({ timeoutMs: 500 });
}

export function summarize(views: readonly NodeView[]): ClusterSummary {
  return {
    leader: views.map((v) => nodeId(v.status?.get('leader'))).find((l) => l !== undefined) ?? null,
    term: Math.max(...views.map((v) => Number(v.status?.get('raft_term') ?? 0))),
    commit: Math.max(...views.map((v) => Number(v.status?.get('commit_idx') ?? 0))),
  };
}

/** The header of the table `nodeRow` fills. */
export const NODE_HEADER = 'node               role       term  commit  applied  log  quorum  connections';

/** One controller's row of a live view. */
export function nodeRow(v: NodeView, addrs: readonly string[]): string {
  const s = v.status;
  if (!s) return `${v.addr.padEnd(18)} ${'down'.padEnd(10)}`;
  const peers = addrs
    .filter((a) => a !== v.addr)
    .map((a) => `${a.split(':')[1]}:${s.get(`partner_node_status_server_${a}`) === 2 ? 'up' : 'down'}`)
    .join(' ');
  return [
    v.addr.padEnd(18),
    (ROLE[Number(s.get('state'))] ?? '?').padEnd(10),
    String(s.get('raft_term')).padStart(4),
    String(s.get('commit_idx')).padStart(7),
    String(s.get('last_applied')).padStart(8),
    String(s.get('log_len')).padStart(4),
    (s.get('has_quorum') ? 'yes' : 'no').padStart(7),
    ` ${peers}`,
  ].join(' ');
}

/** SIGINT/SIGTERM (or `runForMs`) end a demo. */
export interface StopSignal {
  readonly promise: Promise<void>;
  requested(): boolean;
  remove(): void;
}

export function stopOnSignal(runForMs: number | undefined): StopSignal {
  let stopping = false;
  let stopResolve: () => void = () => {};
  const promise = new Promise<void>((res) => {
    stopResolve = res;
  });
  const onSignal = () => {
    stopping = true;
    stopResolve();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const timer = runForMs === undefined ? undefined : setTimeout(onSignal, runForMs);
  timer?.unref();
  return {
    promise,
    requested: () => stopping,
    remove: () => {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Wait `ms`, or less when the demo is asked to stop. */
export function pause(stop: StopSignal, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    stop.promise,
    new Promise((res) => {
      timer = setTimeout(res, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
