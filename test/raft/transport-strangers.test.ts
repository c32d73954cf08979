/**
 * Voting nodes a transport does not know ("strangers"): a member whose log ends before the entry
 * that added a node must still hear that node when it leads. Two real TcpTransports on 127.0.0.1,
 * one knowing the other and one not: the connection is accepted (reported as a voting peer) and
 * messages flow both ways, whichever address is greater (the smaller side that knows the other
 * dials back); a later addNode keeps that connection; a password still guards the handshake; a
 * pysyncobj-like peer that closes the dial-back is retried once per connectionRetryTimeMs only.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DIAL_BACK_HELLO_PREFIX } from '../../src/raft/transport/tcp-transport.js';
import { encodeFrame } from '../../src/wire/frame.js';
import { dict, type PyValue, pyEquals, pyRepr } from '../../src/wire/value.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { Nodes, ProtoClient, within } from './transport-helpers.js';

const PASSWORD = 'strangers-test-password';
const RETRY_MS = 100;

const nodes = new Nodes();
const servers: Server[] = [];
afterEach(async () => {
  await nodes.destroyAll();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** Two loopback addresses, the greater first (the one that dials under the usual rule). */
async function hiLo(): Promise<[string, string]> {
  const [a, b] = (await freeLoopbackAddresses(2)) as [string, string];
  return a > b ? [a, b] : [b, a];
}

function expectPy(actual: PyValue | undefined, expected: PyValue): void {
  if (actual === undefined || !pyEquals(actual, expected)) {
    throw new Error(
      `expected ${pyRepr(expected)}, got ${actual === undefined ? 'undefined' : pyRepr(actual)}`,
    );
  }
}

const append = (term: number): PyValue => dict({ type: 'append_entries', term, commit_index: 7 });
const reply = (n: number): PyValue => dict({ type: 'next_node_idx', next_node_idx: n, success: true });

describe.each([
  ['plain', null],
  ['with password', PASSWORD],
])('a node that does not know its peer (%s)', (_name, password) => {
  it.each([
    ['the unknown node has the greater address (it dials as usual)', true],
    ['the unknown node has the smaller address (the known side dials back)', false],
  ])('%s: accepted as a voting peer, messages both ways, kept by a later addNode', async (_n, knownIsHi) => {
    const [hi, lo] = await hiLo();
    const [leaderAddr, laggerAddr] = knownIsHi ? [hi, lo] : [lo, hi];
    const opts = { password, connectionRetryTimeMs: RETRY_MS };
    const lagger = await nodes.start(laggerAddr, [], opts); // knows nobody
    const leader = await nodes.start(leaderAddr, [laggerAddr], opts);
    const c = await lagger.rec.connected(leaderAddr);
    expect(c).toMatchObject({ readonly: false });
    await leader.rec.connected(laggerAddr);
    expect(lagger.transport.isConnected(leaderAddr)).toBe(true);
    expect(lagger.transport.connectedPeers()).toEqual([leaderAddr]);
    expect(lagger.transport.peerInfo(leaderAddr)).toMatchObject({ readonly: false, direction: 'in' });
    expect(leader.transport.peerInfo(laggerAddr)?.direction).toBe('out');

    expect(leader.transport.send(laggerAddr, append(3))).toBe(true);
    expectPy(await lagger.rec.message(leaderAddr, () => true), append(3));
    expect(lagger.transport.send(leaderAddr, reply(8))).toBe(true);
    expectPy(await leader.rec.message(laggerAddr, () => true), reply(8));

    // the membership change reaches the lagger: the same connection is kept, nothing is reported
    const mark = lagger.rec.mark();
    lagger.transport.addNode(leaderAddr);
    expect(lagger.transport.isConnected(leaderAddr)).toBe(true);
    expect(leader.transport.send(laggerAddr, append(4))).toBe(true);
    expectPy(await lagger.rec.message(leaderAddr, () => true, 5000, mark), append(4));
    expect(lagger.transport.send(leaderAddr, reply(9))).toBe(true);
    expectPy(await leader.rec.message(laggerAddr, (m) => pyEquals(m, reply(9))), reply(9));
    expect(lagger.rec.events.slice(mark).some((e) => e.kind !== 'message')).toBe(false);
    expect(lagger.rec.count('connected')).toBe(1);
    expect(leader.rec.count('connected')).toBe(1);

    // when that connection breaks, the usual rule reconnects them
    const lm = lagger.rec.mark();
    const dm = leader.rec.mark();
    leader.transport.dropNode(laggerAddr);
    await lagger.rec.disconnected(leaderAddr, 5000, lm);
    leader.transport.addNode(laggerAddr);
    await lagger.rec.connected(leaderAddr, 5000, lm);
    await leader.rec.connected(laggerAddr, 5000, dm);
  });

  it('a stranger that goes away is reported disconnected', async () => {
    const [hi, lo] = await hiLo();
    const opts = { password, connectionRetryTimeMs: RETRY_MS };
    const lagger = await nodes.start(lo, [], opts);
    const leader = await nodes.start(hi, [lo], opts);
    await lagger.rec.connected(hi);
    await leader.transport.destroy();
    await lagger.rec.disconnected(hi);
    expect(lagger.transport.isConnected(hi)).toBe(false);
    expect(lagger.transport.connectedPeers()).toEqual([]);
  });
});

it('a stranger with another password is never connected', async () => {
  const [hi, lo] = await hiLo();
  const lagger = await nodes.start(lo, [], { password: PASSWORD });
  const other = await nodes.start(hi, [lo], { password: 'another password', connectionRetryTimeMs: 50 });
  await within(
    (async () => {
      while ((other.transport.peerInfo(lo)?.totalConnectFailures ?? 0) < 2)
        await new Promise((r) => setTimeout(r, 20));
    })(),
    5000,
    'two failed handshakes',
  );
  expect(lagger.rec.count('connected') + other.rec.count('connected')).toBe(0);
  expect(lagger.log.lines.some((l) => String(l.obj.reason).includes('BAD_TOKEN'))).toBe(true);
});

it('a hello that is not a node address is still refused; a read-only node is still numbered', async () => {
  const [addr] = (await freeLoopbackAddresses(1)) as [string];
  const n = await nodes.start(addr, []);
  const port = Number(addr.split(':')[1]);
  const bad = new ProtoClient(port, 'no-port-here');
  await bad.closed();
  const self = new ProtoClient(port, addr); // our own address
  await self.closed();
  const ro = new ProtoClient(port, 'readonly');
  await n.rec.connected('0');
  expect(n.rec.events.filter((e) => e.kind === 'connected')).toEqual([
    expect.objectContaining({ peer: '0', readonly: true }),
  ]);
  await ro.close();
});

it('two nodes that know each other keep one connection, whichever starts first', async () => {
  const [hi, lo] = await hiLo();
  const opts = { connectionRetryTimeMs: RETRY_MS };
  // the smaller one starts alone and dials back (refused: nobody listens) for several periods
  const b = await nodes.start(lo, [hi], opts);
  await within(
    (async () => {
      while ((b.transport.peerInfo(hi)?.totalConnectFailures ?? 0) < 2)
        await new Promise((r) => setTimeout(r, 20));
    })(),
    5000,
    'two dial-backs refused',
  );
  // a failed dial-back is no news (the peer is expected to connect to us)
  expect(
    b.log.lines.filter((l) => l.msg.startsWith('cannot connect to node')).every((l) => l.level === 'debug'),
  ).toBe(true);
  const a = await nodes.start(hi, [lo], opts);
  await a.rec.connected(lo);
  await b.rec.connected(hi);
  // let both sides settle, then watch several retry periods: no connection may come or go
  for (let i = 0; i < 50 && !(a.transport.isConnected(lo) && b.transport.isConnected(hi)); i++)
    await new Promise((r) => setTimeout(r, 20));
  // the greater address's connection is the one kept (a dial-back only prompts it to dial)
  expect(a.transport.peerInfo(lo)?.direction).toBe('out');
  expect(b.transport.peerInfo(hi)?.direction).toBe('in');
  const ma = a.rec.mark();
  const mb = b.rec.mark();
  await new Promise((r) => setTimeout(r, 6 * RETRY_MS));
  expect(a.transport.isConnected(lo) && b.transport.isConnected(hi)).toBe(true);
  expect(a.rec.events.slice(ma).filter((e) => e.kind !== 'message')).toEqual([]);
  expect(b.rec.events.slice(mb).filter((e) => e.kind !== 'message')).toEqual([]);
  expect(a.transport.send(lo, append(1))).toBe(true);
  expectPy(await b.rec.message(hi, () => true), append(1));
});

it('a peer that closes the dial-back (pysyncobj does not know the hello) is retried once per connectionRetryTimeMs, as read-only after two', async () => {
  // a listener that reads the hello, then closes without a word — whatever the hello
  const hellos: string[] = [];
  const at: number[] = [];
  const server = createServer((s: Socket) => {
    s.once('data', (d: Buffer) => {
      hellos.push(d.toString('latin1'));
      at.push(performance.now());
      s.destroy();
    });
    s.on('error', () => {});
  });
  servers.push(server);
  const [lo, placeholderHi] = (await freeLoopbackAddresses(2)).sort() as [string, string];
  const hiPort = Number(placeholderHi.split(':')[1]);
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: hiPort }, () => r()));
  const b = await nodes.start(lo, [placeholderHi], { connectionRetryTimeMs: 150 });
  await within(
    (async () => {
      while (hellos.length < 4) await new Promise((r) => setTimeout(r, 20));
    })(),
    5000,
    'four connections',
  );
  // the first right after start (a starting node dials back at once), then one per period (a
  // refusal is not retried every 250 ms); the read-only attempt follows the second refusal at once
  const gaps = at.slice(1, 4).map((t, i) => t - (at[i] as number));
  expect(gaps[0]).toBeGreaterThanOrEqual(150 - 30);
  expect(gaps[2]).toBeGreaterThanOrEqual(150 - 30);
  // (each hello is followed by the first keepalive ping)
  const dialBack = encodeFrame(`${DIAL_BACK_HELLO_PREFIX}${lo}`).toString('latin1');
  const readonly = encodeFrame('readonly').toString('latin1');
  // two dial-backs closed unanswered: a node that does not know us; the hello 'readonly', which a
  // pysyncobj node accepts; refused too (not pysyncobj's rule): dial-backs again
  expect(
    hellos
      .slice(0, 4)
      .map((h) => (h.startsWith(dialBack) ? 'dial-back' : h.startsWith(readonly) ? 'readonly' : h)),
  ).toEqual(['dial-back', 'dial-back', 'readonly', 'dial-back']);
  // only read-only links were reported (and their loss)
  expect(b.rec.count('connected')).toBeLessThanOrEqual(Math.ceil(hellos.length / 3));
});
