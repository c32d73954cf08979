/**
 * `raftdcs demo` (what `npm start` runs): a local 3-node raftdcs cluster — three controller
 * processes on 127.0.0.1 with their data under one folder — plus a small client that keeps
 * writing a counter through the cluster, and a live status view (leader, term, commit index,
 * members, connections) redrawn in place on a terminal, one summary line per second otherwise.
 * Ctrl-C stops everything cleanly; starting again keeps the data.
 *
 * It must never listen on anything but loopback, and never leave a controller running behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KVStoreTTL } from '../kv/kvstore-ttl.js';
import { TcpUtility } from '../raft/transport/utility-client.js';
import { nodeId, type PyValue } from '../wire/value.js';

export interface DemoOptions {
  /** where node data and logs go (kept between runs) */
  readonly dir: string;
  /** the nodes' Raft ports on 127.0.0.1 */
  readonly ports: readonly number[];
  /** status redraw period */
  readonly refreshMs?: number;
  /** stop after this long (tests); default: until SIGINT/SIGTERM */
  readonly runForMs?: number;
  readonly out?: NodeJS.WriteStream;
}

interface NodeView {
  readonly addr: string;
  readonly status: Map<string, PyValue> | null;
}

const here = dirname(fileURLToPath(import.meta.url));
const ROLE = ['follower', 'candidate', 'leader'];

/** How to start `raftdcs controller` as a child: the compiled file, or the source through tsx. */
function controllerCommand(): string[] {
  const js = join(here, 'main.js');
  if (existsSync(js)) return [js];
  return ['--import', 'tsx', join(here, 'main.ts')];
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => res(true)));
  });
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const dir = resolve(options.dir);
  const addrs = options.ports.map((p) => `127.0.0.1:${p}`);
  if (!(await portsFree(options.ports))) return 1;
  mkdirSync(dir, { recursive: true });
  const children = addrs.map((addr, i) => startDemoNode(join(dir, `node${i + 1}`), addr, addrs));

  const client = new KVStoreTTL({ selfAddr: null, partnerAddrs: addrs, retryTimeout: 2 });
  const writer = startCounterWriter(client);
  const utility = new TcpUtility({ timeoutMs: 500 });
  const screen: DemoScreen = {
    out,
    tty: Boolean(out.isTTY),
    dir,
    addrs,
    started: performance.now(),
    lastLine: Number.NEGATIVE_INFINITY,
  };
  const stop = stopOnSignal(options.runForMs);
  while (!stop.requested()) {
    render(screen, await fetchViews(utility, addrs), writer.stats);
    await Promise.race([stop.promise, new Promise((res) => setTimeout(res, options.refreshMs ?? 500))]);
  }
  stop.remove();
  await writer.stop();
  await client.destroy();
  await writer.done();
  await Promise.all(children.map(stopChild));
  out.write(`\nraftdcs demo stopped; the cluster's data is kept in ${dir} (run again to continue)\n`);
  return 0;
}

/** Whether every port is free on 127.0.0.1 (else an error on stderr). */
async function portsFree(ports: readonly number[]): Promise<boolean> {
  for (const p of ports) {
    if (!(await portFree(p))) {
      process.stderr.write(
        `raftdcs demo: port ${p} on 127.0.0.1 is in use (is another demo running?). Choose other ports with --ports.\n`,
      );
      return false;
    }
  }
  return true;
}

/** Write the node's configuration into `nodeDir` and start its controller (log in controller.log). */
function startDemoNode(nodeDir: string, addr: string, addrs: readonly string[]): ChildProcess {
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
  return spawn(process.execPath, [...controllerCommand(), 'controller', config, '--log-format', 'json'], {
    stdio: ['ignore', log, log],
  });
}

interface WriterStats {
  writes: number;
  lastWrite: string;
}

/** The demo client: increments `/demo/counter` (compare-and-set) once a second until stopped. */
function startCounterWriter(client: KVStoreTTL): {
  readonly stats: WriterStats;
  stop(): void;
  /** the loop's end (a failure is ignored) */
  done(): Promise<void>;
} {
  const stats: WriterStats = { writes: 0, lastWrite: '' };
  let writing = true;
  const loop = (async () => {
    while (writing) {
      const cur = client.get('/demo/counter');
      const next = String(Number(cur?.value ?? '0') + 1);
      const t0 = performance.now();
      const r = await client.set(
        '/demo/counter',
        next,
        cur ? { prevIndex: cur.index } : { prevExist: false },
      );
      if (r !== false) {
        stats.writes++;
        stats.lastWrite = `counter=${r.value} at index ${r.index} (${(performance.now() - t0).toFixed(1)} ms)`;
      }
      await new Promise((res) => setTimeout(res, 1000));
    }
  })();
  return {
    stats,
    stop: () => {
      writing = false;
    },
    done: () => loop.catch(() => undefined),
  };
}

/** SIGINT/SIGTERM (or `runForMs`) end the demo. */
function stopOnSignal(runForMs: number | undefined): {
  readonly promise: Promise<void>;
  requested(): boolean;
  remove(): void;
} {
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
  if (runForMs !== undefined) setTimeout(onSignal, runForMs).unref();
  return {
    promise,
    requested: () => stopping,
    remove: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Each node's `status` utility reply (null when it does not answer). */
function fetchViews(utility: TcpUtility, addrs: readonly string[]): Promise<NodeView[]> {
  return Promise.all(
    addrs.map(async (addr) => {
      try {
        const st = (await utility.execute(addr, ['status'])) as Map<string, PyValue>;
        return { addr, status: st instanceof Map ? st : null };
      } catch {
        return { addr, status: null };
      }
    }),
  );
}

interface DemoScreen {
  readonly out: NodeJS.WriteStream;
  readonly tty: boolean;
  readonly dir: string;
  readonly addrs: readonly string[];
  readonly started: number;
  /** when the last summary line was written (not a terminal) */
  lastLine: number;
}

/** The status view: redrawn in place on a terminal, else one summary line a second. */
function render(screen: DemoScreen, views: readonly NodeView[], stats: WriterStats): void {
  const leader = views.map((v) => nodeId(v.status?.get('leader'))).find((l) => l !== undefined) ?? null;
  const term = Math.max(...views.map((v) => Number(v.status?.get('raft_term') ?? 0)));
  const commit = Math.max(...views.map((v) => Number(v.status?.get('commit_idx') ?? 0)));
  const secs = ((performance.now() - screen.started) / 1000).toFixed(0);
  if (!screen.tty) {
    if (performance.now() - screen.lastLine < 950) return;
    screen.lastLine = performance.now();
    screen.out.write(
      `t=${secs}s leader=${leader ?? 'none'} term=${term} commit=${commit} writes=${stats.writes}\n`,
    );
    return;
  }
  const lines = [
    `raftdcs demo — a 3-node cluster on 127.0.0.1, data in ${screen.dir}  (Ctrl-C to stop; data is kept)`,
    '',
    `leader: ${leader ?? '(none yet)'}   term: ${term}   commit index: ${commit}   uptime: ${secs}s`,
    `client: ${stats.writes} writes, last ${stats.lastWrite || '(waiting for a leader)'}`,
    '',
    'node               role       term  commit  applied  log  quorum  connections',
    ...views.map((v) => nodeRow(v, screen.addrs)),
    '',
    `logs: ${join(screen.dir, 'node*/controller.log')}`,
  ];
  screen.out.write(`\x1b[H\x1b[2J${lines.join('\n')}\n`);
}

/** One node's row of the status view. */
function nodeRow(v: NodeView, addrs: readonly string[]): string {
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

/** SIGTERM a controller and wait for it to exit (SIGKILL after 10 s). */
function stopChild(c: ChildProcess): Promise<void> {
  return new Promise<void>((res) => {
    if (c.exitCode !== null) return res();
    const kill = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.once('exit', () => {
      clearTimeout(kill);
      res();
    });
    c.kill('SIGTERM');
  });
}
