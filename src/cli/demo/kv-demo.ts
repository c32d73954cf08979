/**
 * `raftdcs demo` (what `npm start` runs): a local 3-node raftdcs cluster — three controller
 * processes on 127.0.0.1 with their data under one folder — plus a small client that keeps
 * writing a counter through the cluster, and a live status view (leader, term, commit index,
 * members, connections) redrawn in place on a terminal, one summary line per second otherwise.
 * Ctrl-C stops everything cleanly; starting again keeps the data.
 *
 * It must never listen on anything but loopback, and never leave a controller running behind.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KVStoreTTL } from '../../kv/kvstore-ttl.js';
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

export async function runDemo(options: DemoOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const dir = resolve(options.dir);
  const addrs = options.ports.map((p) => `127.0.0.1:${p}`);
  if (!(await portsFree(options.ports))) return 1;
  mkdirSync(dir, { recursive: true });
  const children = addrs.map((addr, i) => startController(join(dir, `node${i + 1}`), addr, addrs));

  const client = new KVStoreTTL({ selfAddr: null, partnerAddrs: addrs, retryTimeout: 2 });
  const writer = startCounterWriter(client);
  const utility = statusClient();
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
    await pause(stop, options.refreshMs ?? 500);
  }
  stop.remove();
  await writer.stop();
  await client.destroy();
  await writer.done();
  await Promise.all(children.map(stopController));
  out.write(`\nraftdcs demo stopped; the cluster's data is kept in ${dir} (run again to continue)\n`);
  return 0;
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
  const { leader, term, commit } = summarize(views);
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
    NODE_HEADER,
    ...views.map((v) => nodeRow(v, screen.addrs)),
    '',
    `logs: ${join(screen.dir, 'node*/controller.log')}`,
  ];
  screen.out.write(`\x1b[H\x1b[2J${lines.join('\n')}\n`);
}
