/**
 * ChaosNet (./netns.ts) on real network namespaces: nodes reach each other and the test process
 * reaches every node; faults drop packets silently (a connection times out, it is not refused) in
 * the chosen directions only, never between the root address and a node; counters prove the drops;
 * heal restores everything; destroy leaves nothing behind. Needs root, iproute2 and nftables —
 * elsewhere the suite is skipped with a loud reason (CI runs as root, so it runs there).
 *
 * Probes are tiny `node -e` scripts started inside a namespace through `spawnArgs`. Each node runs
 * one server on fixed ports: fixed ports are fine because every namespace has its own port space
 * (the test process only ever connects, from an ephemeral port).
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { bridgePairs, ChaosNet, cleanupStale, isolatePairs, netnsSupport, splitPairs } from './netns.js';

const TCP_PORT = 7000;
const UDP_PORT = 7001;
const CLOSED_PORT = 7999;
/** How long a probe waits for a connection before calling it a timeout. */
const CONNECT_TIMEOUT_MS = 800;
/** Bound on any single wait (a probe process's whole life, a server's start). */
const WAIT_MS = 3000;

/** iproute2, also when root's PATH lacks the sbin directories. */
const IP = existsSync('/usr/sbin/ip') ? '/usr/sbin/ip' : 'ip';

const support = await netnsSupport();
if (!support.ok) {
  console.warn(
    `\n*** SKIPPING ChaosNet namespace tests (test/chaos/netns.test.ts): ${support.reason}\n` +
      '*** they need root, iproute2 and nftables (CI runs them as root)\n',
  );
}

/** Per node: a TCP server that greets and closes, a UDP socket that logs datagrams; exits with stdin. */
const SERVER = `
const net = require('node:net'), dgram = require('node:dgram');
const [name, tcpPort, udpPort] = process.argv.slice(1);
let ready = 0;
const up = () => { if (++ready === 2) console.log('ready ' + process.pid); };
net.createServer((s) => s.end('hello from ' + name + '\\n')).listen(+tcpPort, '0.0.0.0', up);
const udp = dgram.createSocket('udp4');
udp.on('message', (m, r) => console.log('udp ' + r.address + ' ' + m));
udp.bind(+udpPort, '0.0.0.0', up);
process.stdin.on('end', () => process.exit(0)).resume();
`;

/** Connect, read the greeting: prints "ok:<greeting>", "timeout" or "error:<code>". */
const CLIENT = `
const [host, port, ms] = process.argv.slice(1);
let data = '';
const s = require('node:net').connect({ host, port: +port });
const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, +ms);
s.on('data', (d) => { data += d; });
s.on('end', () => { clearTimeout(t); console.log('ok:' + data.trim()); process.exit(0); });
s.on('error', (e) => { clearTimeout(t); console.log('error:' + e.code); process.exit(0); });
`;

/** Send one UDP datagram; prints "sent". */
const UDP_SEND = `
const [host, port, msg] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
s.send(msg, +port, host, (e) => { console.log(e ? 'error:' + e.code : 'sent'); s.close(); });
`;

type Proc = { child: ChildProcessWithoutNullStreams; lines: string[]; exited: Promise<void> };

/** Every process a test started and has not seen exit (killed in afterEach). */
const procs = new Set<Proc>();

function spawnIn(net: ChaosNet, i: number, script: string, args: string[]): Proc {
  const { command, args: argv } = net.spawnArgs(i, process.execPath, ['-e', script, ...args]);
  const child = spawn(command, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => {
    child.on('close', () => {
      procs.delete(proc);
      if (stderr.trim()) lines.push(`stderr:${stderr.trim()}`);
      resolve();
    });
  });
  const proc: Proc = { child, lines, exited };
  procs.add(proc);
  return proc;
}

/** Run a probe script to completion (bounded); its last stdout line. */
async function runIn(net: ChaosNet, i: number, script: string, args: string[]): Promise<string> {
  const p = spawnIn(net, i, script, args);
  let timer: NodeJS.Timeout | undefined;
  const bounded = new Promise<'stuck'>((resolve) => {
    timer = setTimeout(() => resolve('stuck'), WAIT_MS);
  });
  const outcome = await Promise.race([p.exited, bounded]);
  clearTimeout(timer);
  if (outcome === 'stuck') {
    p.child.kill('SIGKILL');
    throw new Error(`probe in node ${i} still running after ${WAIT_MS} ms: ${p.lines.join(' | ')}`);
  }
  return p.lines.at(-1) ?? `no output (exit ${p.child.exitCode})`;
}

/** TCP probe from node `from` to node `to`'s server. */
function tcp(net: ChaosNet, from: number, to: number, port = TCP_PORT): Promise<string> {
  return runIn(net, from, CLIENT, [net.nodeIp(to), String(port), String(CONNECT_TIMEOUT_MS)]);
}

/** The same TCP probe from the test process itself (root namespace). */
function tcpFromRoot(host: string, port = TCP_PORT): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, CONNECT_TIMEOUT_MS);
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      data += d;
    });
    s.on('end', () => {
      clearTimeout(t);
      resolve(`ok:${data.trim()}`);
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve(`error:${e.code}`);
    });
  });
}

function nsList(): string {
  return execFileSync(IP, ['netns', 'list'], { encoding: 'utf8' });
}

function rootLinkExists(name: string): boolean {
  try {
    execFileSync(IP, ['link', 'show', 'dev', name], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

async function killAll(): Promise<void> {
  const running = [...procs];
  for (const p of running) p.child.kill('SIGKILL');
  await waitFor(() => procs.size === 0, WAIT_MS, `${running.length} killed processes to exit`);
}

const ms = (t0: number): string => `${(performance.now() - t0).toFixed(1)} ms`;

describe('fault pair builders', () => {
  it('isolate, split and bridge produce the directed pairs', () => {
    expect(isolatePairs(3, 0)).toEqual([
      [0, 1],
      [1, 0],
      [0, 2],
      [2, 0],
    ]);
    expect(splitPairs(4, [0, 1])).toEqual([
      [0, 2],
      [2, 0],
      [0, 3],
      [3, 0],
      [1, 2],
      [2, 1],
      [1, 3],
      [3, 1],
    ]);
    expect(bridgePairs(5, [0, 1], [3, 4], 2)).toEqual([
      [0, 3],
      [3, 0],
      [0, 4],
      [4, 0],
      [1, 3],
      [3, 1],
      [1, 4],
      [4, 1],
    ]);
    expect(() => isolatePairs(3, 3)).toThrow(/out of range/);
    expect(() => bridgePairs(3, [0], [1], 1)).toThrow(/via/);
    expect(() => bridgePairs(3, [0], [0], 2)).toThrow(/overlap/);
  });
});

// CI (.ci/run) requires these to run: there a missing capability is a failure, not a skip
describe.runIf(!support.ok && process.env.RAFTDCS_REQUIRE_NETNS === '1')(
  'network namespaces required',
  () => {
    it('can create network namespaces (RAFTDCS_REQUIRE_NETNS=1)', () => {
      expect.fail(`ChaosNet namespace tests cannot run: ${support.ok ? '' : support.reason}`);
    });
  },
);

describe.skipIf(!support.ok)('ChaosNet on network namespaces', () => {
  let net: ChaosNet | undefined;
  let servers: Proc[] = [];
  const created: ChaosNet[] = [];

  beforeAll(async () => {
    const stale = await cleanupStale();
    if (stale.length > 0) console.warn(`removed stale chaos namespaces/links: ${stale.join(' ')}`);
  });

  beforeEach(async () => {
    const t0 = performance.now();
    net = await ChaosNet.create({ nodes: 3, tag: 'test' });
    console.info(`ChaosNet.create(3 nodes): ${ms(t0)} (${net.subnet})`);
    created.push(net);
    const n = net;
    servers = [0, 1, 2].map((i) => spawnIn(n, i, SERVER, [`n${i}`, String(TCP_PORT), String(UDP_PORT)]));
    await Promise.all(
      servers.map((s, i) =>
        waitFor(() => s.lines.some((l) => l.startsWith('ready')), WAIT_MS, `server in node ${i}: ${s.lines}`),
      ),
    );
  });

  afterEach(async () => {
    // Processes first: one still running would keep its namespace alive after deletion.
    await killAll();
    await net?.destroy();
    net = undefined;
  });

  afterAll(async () => {
    for (const n of created) await n.destroy();
    const list = nsList();
    for (const n of created) {
      for (const ns of [n.hubNs, ...n.nodeNs]) expect(list).not.toContain(ns);
    }
  });

  it('connects the nodes to each other and the test process to every node', async () => {
    const n = net!;
    expect(n.nodeIp(1)).toBe(n.subnet.replace(/0\/24$/, '2'));
    expect(n.rootIp).toBe(n.subnet.replace(/0\/24$/, '254'));
    const list = nsList();
    for (const ns of [n.hubNs, ...n.nodeNs]) expect(list).toContain(ns);
    // `ip netns exec` execs: the spawned pid is the server's own pid, and it lives in its namespace.
    for (const [i, s] of servers.entries()) {
      expect(s.lines.find((l) => l.startsWith('ready'))).toBe(`ready ${s.child.pid}`);
      expect(execFileSync(IP, ['netns', 'identify', String(s.child.pid)], { encoding: 'utf8' }).trim()).toBe(
        n.nodeNs[i],
      );
    }
    const [a, b, c, r0, r1, r2] = await Promise.all([
      tcp(n, 0, 1),
      tcp(n, 1, 2),
      tcp(n, 2, 0),
      tcpFromRoot(n.nodeIp(0)),
      tcpFromRoot(n.nodeIp(1)),
      tcpFromRoot(n.nodeIp(2)),
    ]);
    expect([a, b, c]).toEqual(['ok:hello from n1', 'ok:hello from n2', 'ok:hello from n0']);
    expect([r0, r1, r2]).toEqual(['ok:hello from n0', 'ok:hello from n1', 'ok:hello from n2']);
    expect(await n.droppedPackets()).toBe(0);
  });

  it('isolate(0) drops silently: 0↔1 times out (not refused), 1↔2 and root↔0 still work', async () => {
    const n = net!;
    const t0 = performance.now();
    await n.isolate(0);
    console.info(`isolate(0): ${ms(t0)}`);
    const byPair = (x: readonly number[], y: readonly number[]): number => x[0]! - y[0]! || x[1]! - y[1]!;
    expect(n.faultPairs()).toEqual(isolatePairs(3, 0).sort(byPair));
    const [out, into, other, closed, root] = await Promise.all([
      tcp(n, 0, 1),
      tcp(n, 1, 0),
      tcp(n, 1, 2),
      tcp(n, 1, 2, CLOSED_PORT),
      tcpFromRoot(n.nodeIp(0)),
    ]);
    expect(out).toBe('timeout');
    expect(into).toBe('timeout');
    expect(other).toBe('ok:hello from n2');
    // Control: the probe does tell a refused connection from a timeout.
    expect(closed).toBe('error:ECONNREFUSED');
    expect(root).toBe('ok:hello from n0');
    expect(await n.droppedBy(0)).toBeGreaterThan(0); // 1→0 SYNs
    expect(await n.droppedBy(1)).toBeGreaterThan(0); // 0→1 SYNs
    expect(await n.droppedBy(2)).toBe(0); // nothing from 0 was sent to node 2
    expect(await n.droppedPackets()).toBeGreaterThan(0);
  });

  it('oneWay(0, 1) drops 0→1 only; block replaces the set; counters survive; heal restores', async () => {
    const n = net!;
    let t0 = performance.now();
    await n.oneWay(0, 1);
    console.info(`oneWay(0, 1): ${ms(t0)}`);
    expect(n.faultPairs()).toEqual([[0, 1]]);
    // UDP shows the direction as it is: 1→0 arrives; 0→1 is dropped on arrival at node 1 (counted
    // there) while the sender sees a normal send (silent: no EPERM, no ICMP).
    const before1 = await n.droppedBy(1);
    const sent = await Promise.all([
      runIn(n, 1, UDP_SEND, [n.nodeIp(0), String(UDP_PORT), 'from-n1']),
      runIn(n, 0, UDP_SEND, [n.nodeIp(1), String(UDP_PORT), 'from-n0']),
    ]);
    expect(sent).toEqual(['sent', 'sent']);
    await waitFor(() => servers[0]!.lines.includes(`udp ${n.nodeIp(1)} from-n1`), WAIT_MS, 'datagram 1→0');
    await waitFor(async () => (await n.droppedBy(1)) > before1, WAIT_MS, 'drop counted in node 1');
    expect(servers[1]!.lines.filter((l) => l.startsWith('udp'))).toEqual([]);
    expect(await n.droppedBy(0)).toBe(0);
    // TCP needs both directions, so 0→1 times out; 1→2 and 2→0 are untouched.
    const [cut, other, back] = await Promise.all([tcp(n, 0, 1), tcp(n, 1, 2), tcp(n, 2, 0)]);
    expect([cut, other, back]).toEqual(['timeout', 'ok:hello from n2', 'ok:hello from n0']);

    // block() replaces the fault set: now only 2→1 is cut, and 0→1 works again.
    const dropped = await n.droppedPackets();
    await n.block([[2, 1]]);
    expect(n.faultPairs()).toEqual([[2, 1]]);
    expect(await n.droppedPackets()).toBe(dropped);
    const [again, cut21] = await Promise.all([tcp(n, 0, 1), tcp(n, 2, 1)]);
    expect([again, cut21]).toEqual(['ok:hello from n1', 'timeout']);
    expect(await n.droppedPackets()).toBeGreaterThan(dropped);

    t0 = performance.now();
    await n.heal();
    console.info(`heal(): ${ms(t0)}`);
    expect(n.faultPairs()).toEqual([]);
    const healed = await Promise.all([tcp(n, 0, 1), tcp(n, 2, 1), tcp(n, 1, 0)]);
    expect(healed).toEqual(['ok:hello from n1', 'ok:hello from n1', 'ok:hello from n0']);
  });

  it('bridge([0], [1], 2) cuts 0↔1 while 2 sees both; split([2]) cuts 2 from both', async () => {
    const n = net!;
    await n.bridge([0], [1], 2);
    const bridged = await Promise.all([tcp(n, 0, 1), tcp(n, 1, 0), tcp(n, 0, 2), tcp(n, 2, 1)]);
    expect(bridged).toEqual(['timeout', 'timeout', 'ok:hello from n2', 'ok:hello from n1']);
    await n.split([2]);
    const split = await Promise.all([tcp(n, 0, 1), tcp(n, 2, 0), tcp(n, 1, 2), tcpFromRoot(n.nodeIp(2))]);
    expect(split).toEqual(['ok:hello from n1', 'timeout', 'timeout', 'ok:hello from n2']);
  });

  it('destroy removes every namespace and the root link, and is idempotent', async () => {
    const n = net!;
    await killAll();
    expect(rootLinkExists(n.rootLink)).toBe(true);
    const t0 = performance.now();
    await n.destroy();
    console.info(`destroy(): ${ms(t0)}`);
    await n.destroy();
    const list = nsList();
    for (const ns of [n.hubNs, ...n.nodeNs]) expect(list).not.toContain(ns);
    expect(rootLinkExists(n.rootLink)).toBe(false);
    await expect(n.heal()).rejects.toThrow(/destroyed/);
  });
});

describe.skipIf(!support.ok)('cleanupStale', () => {
  it('cleanupStale deletes what dead owners left, and nothing else', async () => {
    // A pid that has just exited stands for a crashed run.
    const dead = spawn('true');
    await new Promise((r) => dead.once('close', r));
    const deadPid = dead.pid!;
    expect(() => process.kill(deadPid, 0)).toThrow();
    const staleNs = `rdc${deadPid}x0-test-h`;
    const liveNs = `rdc${process.pid}x9999h`; // owner alive: kept
    const foreignNs = `rdcx${process.pid}`; // not this module's scheme: kept
    // 10.199.x is outside the range instances claim, so this name cannot be a live instance's.
    const staleLink = 'rdcr199-0';
    const made = [staleNs, liveNs, foreignNs];
    try {
      for (const ns of made) execFileSync(IP, ['netns', 'add', ns]);
      execFileSync(IP, [
        'link',
        'add',
        'name',
        staleLink,
        'type',
        'veth',
        'peer',
        'name',
        'x',
        'netns',
        liveNs,
      ]);
      execFileSync(IP, ['link', 'set', staleLink, 'alias', `rdc${deadPid}x0`]);
      const removed = await cleanupStale();
      expect(removed).toContain(staleNs);
      expect(removed).toContain(staleLink);
      const list = nsList();
      expect(list).not.toContain(staleNs);
      expect(list).toContain(liveNs);
      expect(list).toContain(foreignNs);
      expect(rootLinkExists(staleLink)).toBe(false);
    } finally {
      for (const ns of made) {
        try {
          execFileSync(IP, ['netns', 'delete', ns], { stdio: 'pipe' });
        } catch {
          // already gone
        }
      }
      if (rootLinkExists(staleLink)) execFileSync(IP, ['link', 'delete', staleLink]);
    }
  });
});
