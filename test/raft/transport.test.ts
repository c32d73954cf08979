/**
 * TcpTransport between TS nodes on real loopback sockets: the connection rule, messages both ways
 * (plain and encrypted), read-only peers, utility commands, reconnects, bind retries and destroy.
 * Ports are allocated per test; every wait is event-driven and bounded.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { TcpTransport, TransportError, TransportErrorCode } from '../../src/raft/transport/tcp-transport.js';
import { TcpUtility, UtilityError, UtilityErrorCode } from '../../src/raft/transport/utility-client.js';
import { Fernet } from '../../src/wire/fernet.js';
import { prefixFrame } from '../../src/wire/frame.js';
import { encodePickle } from '../../src/wire/pickle/index.js';
import { dict, type PyValue, pyEquals, pyRepr, tcpNode, tuple } from '../../src/wire/value.js';
import { freeAddress, freePort, Nodes, ProtoClient, Recorder, within } from './transport-helpers.js';

const PASSWORD = 'transport-test-password';

const nodes = new Nodes();
afterEach(async () => {
  await nodes.destroyAll();
});

function expectPy(actual: PyValue | undefined, expected: PyValue): void {
  if (actual === undefined || !pyEquals(actual, expected)) {
    throw new Error(
      `expected ${pyRepr(expected)}, got ${actual === undefined ? 'undefined' : pyRepr(actual)}`,
    );
  }
}

/** Two addresses, sorted so that the first is the greater (the connector). */
async function twoAddresses(): Promise<[string, string]> {
  const a = await freeAddress();
  const b = await freeAddress();
  return a > b ? [a, b] : [b, a];
}

const vote = (term: number): PyValue =>
  dict({ type: 'request_vote', term, last_log_index: 4, last_log_term: 1 });

describe.each([
  ['plain', null],
  ['with password', PASSWORD],
])('two nodes (%s)', (_name, password) => {
  it('the greater address connects, messages cross both ways and decode exactly', async () => {
    const [hi, lo] = await twoAddresses();
    const opts = { password };
    const a = await nodes.start(hi, [lo], opts);
    const b = await nodes.start(lo, [hi], opts);
    await a.rec.connected(lo);
    await b.rec.connected(hi);
    expect(a.transport.peerInfo(lo)?.direction).toBe('out');
    expect(b.transport.peerInfo(hi)?.direction).toBe('in');
    expect(a.transport.isConnected(lo)).toBe(true);
    expect(b.transport.isConnected(hi)).toBe(true);

    const big = dict({
      type: 'append_entries',
      term: 3,
      commit_index: 9,
      entries: [tuple(Buffer.from([1]), 10, 3), tuple(Buffer.alloc(100_000, 7), 11, 3)],
      prevLogIdx: 9,
      prevLogTerm: 2,
    });
    expect(a.transport.send(lo, vote(7))).toBe(true);
    expect(a.transport.send(lo, big)).toBe(true);
    expect(b.transport.send(hi, dict({ type: 'response_vote', term: 7 }))).toBe(true);
    expect(b.transport.sendPickled(hi, encodePickle(tcpNode(lo)))).toBe(true);

    expectPy(await b.rec.message(hi, (m) => m instanceof Map && m.get('type') === 'request_vote'), vote(7));
    expectPy(await b.rec.message(hi, (m) => m instanceof Map && m.get('type') === 'append_entries'), big);
    expectPy(await a.rec.message(lo, (m) => m instanceof Map), dict({ type: 'response_vote', term: 7 }));
    expectPy(await a.rec.message(lo, (m) => !(m instanceof Map)), tcpNode(lo));
    // order is kept, and the keepalive pings never reach the handler
    expect(b.rec.messagesFrom(hi).map((m) => (m as Map<string, PyValue>).get('type'))).toEqual([
      'request_vote',
      'append_entries',
    ]);
    expect(a.transport.connectedPeers()).toEqual([lo]);
    expect(a.transport.peerInfo(lo)?.peerPings).toBe(true);
  });
});

it('encrypted nodes refuse a peer with another password (logged, retried, never connected)', async () => {
  const [hi, lo] = await twoAddresses();
  const b = await nodes.start(lo, [hi], { password: PASSWORD });
  const a = await nodes.start(hi, [lo], { password: 'another password', connectionRetryTimeMs: 50 });
  await within(
    (async () => {
      while ((a.transport.peerInfo(lo)?.totalConnectFailures ?? 0) < 2)
        await new Promise((r) => setTimeout(r, 20));
    })(),
    5000,
    'two failed handshakes',
  );
  expect(a.rec.count('connected') + b.rec.count('connected')).toBe(0);
  expect(b.log.lines.some((l) => l.level === 'warn' && String(l.obj.reason).includes('BAD_TOKEN'))).toBe(
    true,
  );
  // the first failure is a warning, the following ones debug lines
  const failures = a.log.lines.filter((l) => l.msg.startsWith('cannot connect to node'));
  expect(failures[0]?.level).toBe('warn');
  expect(failures.slice(1).every((l) => l.level === 'debug')).toBe(true);
});

it('three nodes: exactly one connection per pair, opened by the greater address', async () => {
  const addrs = [await freeAddress(), await freeAddress(), await freeAddress()].sort();
  const ns = await Promise.all(
    addrs.map((a) =>
      nodes.start(
        a,
        addrs.filter((x) => x !== a),
      ),
    ),
  );
  for (const [i, n] of ns.entries()) {
    for (const [j, other] of addrs.entries()) {
      if (i === j) continue;
      await n.rec.connected(other);
      expect(n.transport.peerInfo(other)?.direction).toBe(addrs[i]! > other ? 'out' : 'in');
      expect(n.transport.send(other, dict({ type: 'hello', from: addrs[i]!, to: other }))).toBe(true);
    }
  }
  for (const [j, n] of ns.entries()) {
    for (const [i, from] of addrs.entries()) {
      if (i === j) continue;
      expectPy(await n.rec.message(from, () => true), dict({ type: 'hello', from, to: addrs[j]! }));
    }
    expect(n.rec.count('connected')).toBe(2);
  }
});

describe.each([
  ['plain', null],
  ['with password', PASSWORD],
])('read-only transport (%s)', (_name, password) => {
  it('connects to every node; each node numbers its read-only peers 0, 1, …', async () => {
    const [hi, lo] = await twoAddresses();
    const a = await nodes.start(hi, [lo], { password });
    const b = await nodes.start(lo, [hi], { password });
    const r1 = await nodes.start(null, [hi, lo], { password });
    await r1.rec.connected(hi);
    await r1.rec.connected(lo);
    for (const n of [a, b]) {
      const e = await n.rec.connected('0');
      expect(e).toMatchObject({ readonly: true });
    }
    const r2 = await nodes.start(null, [hi, lo], { password });
    await r2.rec.connected(hi);
    await r2.rec.connected(lo);
    await a.rec.connected('1');
    await b.rec.connected('1');

    // messages both ways on a read-only connection
    expect(r1.transport.send(hi, dict({ type: 'apply_command', command: Buffer.from([0x01]) }))).toBe(true);
    expectPy(
      await a.rec.message('0', () => true),
      dict({ type: 'apply_command', command: Buffer.from([0x01]) }),
    );
    expect(a.transport.send('1', dict({ type: 'append_entries', term: 1 }))).toBe(true);
    expectPy(await r2.rec.message(hi, () => true), dict({ type: 'append_entries', term: 1 }));

    // the read-only peer leaves: the node forgets it
    const mark = a.rec.mark();
    await r1.transport.destroy();
    await a.rec.disconnected('0', 5000, mark);
    expect(a.transport.isConnected('0')).toBe(false);
    expect(a.transport.isConnected('1')).toBe(true);
  });
});

describe('utility commands', () => {
  it.each([
    ['plain', null],
    ['with password', PASSWORD],
  ])('TcpUtility → TS node (%s): the handler answers, the transport replies', async (_name, password) => {
    const addr = await freeAddress();
    const n = await nodes.start(addr, [], { password });
    n.rec.utility = (command, args, reply) => {
      if (command === 'status') reply(dict({ version: '0.3.11', self: tcpNode(addr), state: 2 }));
      else reply(`SUCCESS ${command.toUpperCase()} ${args.join(' ')}`);
    };
    const util = new TcpUtility({ password, timeoutMs: 5000 });
    expectPy(
      await util.execute(addr, ['status']),
      dict({ version: '0.3.11', self: tcpNode(addr), state: 2 }),
    );
    expect(await util.execute(addr, ['add', '127.0.0.1:1'])).toBe('SUCCESS ADD 127.0.0.1:1');
    expect(
      n.rec.events.filter((e) => e.kind === 'utility').map((e) => (e as { command: string }).command),
    ).toEqual(['status', 'add']);
    // bad requests are answered with a str; the node keeps running
    expect(await util.execute(addr, ['frobnicate'])).toBe("unknown command 'frobnicate'");
    expect(await util.execute(addr, [42, 'x'])).toMatch(
      /^invalid utility command: the first element must be a str/,
    );
    expect(await util.execute(addr, [])).toBe('invalid utility command: empty list');
    expect(n.rec.count('utility')).toBe(2);
  });

  it('a reply given later (after a commit) still arrives; a handler that throws replies its message', async () => {
    const addr = await freeAddress();
    const n = await nodes.start(addr, [], { connectionTimeoutMs: 200 });
    n.rec.utility = (command, _args, reply) => {
      if (command === 'add')
        setTimeout(() => reply('SUCCESS ADD late'), 500); // > connectionTimeoutMs
      else throw new Error("'NoneType' object has no attribute 'rsplit'");
    };
    const util = new TcpUtility({ timeoutMs: 5000 });
    expect(await util.execute(addr, ['add', 'x:1'])).toBe('SUCCESS ADD late');
    expect(await util.execute(addr, ['remove', null])).toBe("'NoneType' object has no attribute 'rsplit'");
  });

  it('the connection stays open after a reply: a further list is another command', async () => {
    const addr = await freeAddress();
    const n = await nodes.start(addr, []);
    const port = Number(addr.split(':')[1]);
    const c = new ProtoClient(port, ['status']);
    expect(await c.next()).toBe('stub reply to status');
    expect(c.conn.sendValue(['members'])).toBe(true);
    expect(await c.next((m) => m === 'stub reply to members')).toBe('stub reply to members');
    expect(c.conn.phase).toBe('open');
    await c.close();
    expect(n.rec.count('utility')).toBe(2);
  });

  it('TcpUtility errors are typed: connect failed, timeout, closed without reply, invalid address', async () => {
    const deadPort = await freePort();
    const util = new TcpUtility({ timeoutMs: 300 });
    await expect(util.execute(`127.0.0.1:${deadPort}`, ['status'])).rejects.toMatchObject({
      code: UtilityErrorCode.ConnectFailed,
    });
    await expect(util.execute('no-port', ['status'])).rejects.toMatchObject({
      code: UtilityErrorCode.InvalidAddress,
    });
    // a node that never answers
    const addr = await freeAddress();
    const n = await nodes.start(addr, []);
    n.rec.utility = () => {};
    const err = await util.execute(addr, ['status']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UtilityError);
    expect((err as UtilityError).code).toBe(UtilityErrorCode.Timeout);
    // a node with a password, a client without: the node drops the connection
    const addr2 = await freeAddress();
    await nodes.start(addr2, [], { password: PASSWORD });
    await expect(new TcpUtility({ timeoutMs: 3000 }).execute(addr2, ['status'])).rejects.toMatchObject({
      code: UtilityErrorCode.Closed,
    });
    // a server that answers garbage
    const garbage = createServer((s) => {
      s.on('error', () => {});
      s.resume(); // read, so that the client's close is seen
      s.end(prefixFrame(Buffer.from('not a zlib stream')));
    });
    await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (garbage.address() as { port: number }).port;
      await expect(util.execute(`127.0.0.1:${port}`, ['status'])).rejects.toMatchObject({
        code: UtilityErrorCode.BadReply,
      });
    } finally {
      await new Promise((resolve) => garbage.close(resolve));
    }
  });
});

describe('reconnects', () => {
  it('reconnects after the peer restarts (both directions)', async () => {
    const [hi, lo] = await twoAddresses();
    const a = await nodes.start(hi, [lo], { connectionRetryTimeMs: 100 });
    const b = await nodes.start(lo, [hi], { connectionRetryTimeMs: 100 });
    await a.rec.connected(lo);
    await b.rec.connected(hi);

    // the acceptor restarts: the connector notices and reconnects
    let mark = a.rec.mark();
    await b.transport.destroy();
    await a.rec.disconnected(lo, 5000, mark);
    expect(a.transport.isConnected(lo)).toBe(false);
    const b2 = await nodes.start(lo, [hi], { connectionRetryTimeMs: 100 });
    await a.rec.connected(lo, 5000, mark);
    await b2.rec.connected(hi);
    a.transport.send(lo, vote(2));
    expectPy(await b2.rec.message(hi, () => true), vote(2));

    // the connector restarts: the acceptor sees it leave and come back
    mark = b2.rec.mark();
    await a.transport.destroy();
    await b2.rec.disconnected(hi, 5000, mark);
    const a2 = await nodes.start(hi, [lo], { connectionRetryTimeMs: 100 });
    await b2.rec.connected(hi, 5000, mark);
    b2.transport.send(hi, vote(3));
    expectPy(await a2.rec.message(lo, () => true), vote(3));
  });

  it('an unreachable peer is retried once per connectionRetryTimeMs, counted, and logged quietly', async () => {
    const lo = await freeAddress(); // nothing listens there
    const n = nodes.make(null, { connectionRetryTimeMs: 150 }); // read-only: connects, never binds
    n.transport.addNode(lo);
    const t0 = performance.now();
    await n.transport.start();
    await within(
      (async () => {
        while ((n.transport.peerInfo(lo)?.totalConnectFailures ?? 0) < 4)
          await new Promise((r) => setTimeout(r, 20));
      })(),
      3000,
      'four failed attempts',
    );
    const elapsed = performance.now() - t0;
    const info = n.transport.peerInfo(lo);
    expect(info?.connectAttempts).toBeGreaterThanOrEqual(4);
    // attempts are spaced by the retry time: 4 attempts take at least 3 periods
    expect(elapsed).toBeGreaterThanOrEqual(3 * 150 - 20);
    expect(info?.consecutiveConnectFailures).toBe(info?.totalConnectFailures);
    const lines = n.log.lines.filter((l) => l.msg.startsWith('cannot connect to node'));
    expect(lines[0]?.level).toBe('warn');
    expect(lines.slice(1).every((l) => l.level === 'debug')).toBe(true);
    expect(n.rec.count('connected')).toBe(0);
  });

  it('a peer that closes our connection after the hello (pysyncobj not knowing us) is retried, quietly', async () => {
    const [hi, lo] = await twoAddresses();
    // a pysyncobj node that does not know hi closes its connection on the hello (a raftdcs node
    // accepts it: transport-strangers.test.ts)
    const server = createServer((s) => {
      s.once('data', () => s.destroy());
      s.on('error', () => {});
    });
    await new Promise<void>((r) =>
      server.listen({ host: '127.0.0.1', port: Number(lo.split(':')[1]) }, () => r()),
    );
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
    const a = await nodes.start(hi, [lo], { connectionRetryTimeMs: 50 });
    await within(
      (async () => {
        while ((a.transport.peerInfo(lo)?.totalConnectFailures ?? 0) < 3)
          await new Promise((r) => setTimeout(r, 20));
      })(),
      3000,
      'three rejected connections',
    );
    const warns = a.log.lines.filter((l) => l.level === 'warn');
    expect(warns.length).toBe(1);
  });

  it('dropNode closes the connection and stops reconnecting; addNode starts again', async () => {
    const [hi, lo] = await twoAddresses();
    const a = await nodes.start(hi, [lo], { connectionRetryTimeMs: 50 });
    // (b does not know a: a node that knows a would dial back, and a would accept it as an unknown node)
    const b = await nodes.start(lo, []);
    await a.rec.connected(lo);
    const mark = b.rec.mark();
    a.transport.dropNode(lo);
    expect(a.transport.isConnected(lo)).toBe(false);
    expect(a.transport.send(lo, vote(1))).toBe(false);
    await b.rec.disconnected(hi, 5000, mark);
    await new Promise((r) => setTimeout(r, 200)); // several retry periods: no reconnect may happen
    expect(b.rec.count('connected')).toBe(1);
    expect(a.rec.count('disconnected')).toBe(0); // dropNode reports nothing
    a.transport.addNode(lo);
    await b.rec.connected(hi, 5000, mark);
  });

  it('a second connection from an already connected node replaces the first', async () => {
    const lo = await freeAddress();
    const hi = '127.0.0.1:65534';
    const b = await nodes.start(lo, [hi]);
    const port = Number(lo.split(':')[1]);
    const c1 = new ProtoClient(port, hi);
    await b.rec.connected(hi);
    const c2 = new ProtoClient(port, hi);
    await c1.closed();
    await b.rec.waitFor((e) => e.kind === 'connected' && e.peer === hi, 'second connect', 5000, 1);
    expect(b.rec.events.map((e) => e.kind)).toEqual(['connected', 'disconnected', 'connected']);
    b.transport.send(hi, vote(9));
    expectPy(await c2.next((m) => m instanceof Map && m.get('type') === 'request_vote'), vote(9));
    await c2.close();
  });
});

describe('bind', () => {
  it('retries every bindRetryTimeMs with a logged error, then start() rejects naming the address and error', async () => {
    const blocker = await nodes.start(await freeAddress(), []);
    const taken = blocker.transport.listeningAddress!;
    const n = nodes.make(`127.0.0.1:${taken.port}`, { bindRetryTimeMs: 50, maxBindRetries: 3 });
    const t0 = performance.now();
    const err = await n.transport.start().catch((e: unknown) => e);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2 * 50 - 5);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).code).toBe(TransportErrorCode.BindFailed);
    expect((err as TransportError).message).toContain(`127.0.0.1:${taken.port}`);
    expect((err as TransportError).message).toContain('EADDRINUSE');
    expect(n.log.lines.filter((l) => l.level === 'error' && l.msg.includes('cannot bind')).length).toBe(3);
  });

  it('maxBindRetries 0 retries until the address is free', async () => {
    const blocker = await nodes.start(await freeAddress(), []);
    const port = blocker.transport.listeningAddress!.port;
    const n = nodes.make(`127.0.0.1:${port}`, { bindRetryTimeMs: 50, maxBindRetries: 0 });
    const started = n.transport.start();
    await within(
      (async () => {
        while (n.log.lines.filter((l) => l.level === 'error').length < 2)
          await new Promise((r) => setTimeout(r, 10));
      })(),
      3000,
      'two failed binds',
    );
    await blocker.transport.destroy();
    await within(started, 3000, 'start() after the port was freed');
    expect(n.transport.listeningAddress?.port).toBe(port);
  });

  it('listens on bindAddress when given, and on 0.0.0.0 by default like pysyncobj', async () => {
    const self = await freeAddress();
    const bind = `127.0.0.1:${await freePort()}`;
    const n = await nodes.start(self, [], { bindAddress: bind });
    expect(n.transport.listeningAddress).toEqual({ host: '127.0.0.1', port: Number(bind.split(':')[1]) });
    const rec = new Recorder();
    const t = new TcpTransport({ selfAddress: await freeAddress() }, rec);
    try {
      await t.start();
      expect(t.listeningAddress?.host).toBe('0.0.0.0');
    } finally {
      await t.destroy();
    }
  });

  it('destroy() during bind retries rejects start()', async () => {
    const blocker = await nodes.start(await freeAddress(), []);
    const n = nodes.make(`127.0.0.1:${blocker.transport.listeningAddress!.port}`, { bindRetryTimeMs: 1000 });
    const started = n.transport.start();
    await new Promise((r) => setTimeout(r, 20));
    await n.transport.destroy();
    await expect(started).rejects.toMatchObject({ code: TransportErrorCode.NotStartable });
  });
});

describe('send path', () => {
  it('sendPickled to several peers: one frame per pickle on plain connections, identical decoding', async () => {
    const addrs = [await freeAddress(), await freeAddress(), await freeAddress()].sort();
    const [lo, mid, hi] = addrs as [string, string, string];
    const leader = await nodes.start(hi, [lo, mid]);
    const f1 = await nodes.start(lo, [hi, mid]);
    const f2 = await nodes.start(mid, [hi, lo]);
    await leader.rec.connected(lo);
    await leader.rec.connected(mid);
    const msgs: PyValue[] = [];
    for (let i = 0; i < 2000; i++) {
      const m = dict({
        type: 'append_entries',
        term: 1,
        commit_index: i,
        entries: [],
        prevLogIdx: i,
        prevLogTerm: 1,
      });
      msgs.push(m);
      const p = encodePickle(m);
      expect(leader.transport.sendPickled(lo, p)).toBe(true);
      expect(leader.transport.sendPickled(mid, p)).toBe(true);
    }
    await f1.rec.message(hi, (m) => m instanceof Map && m.get('commit_index') === 1999, 10_000);
    await f2.rec.message(hi, (m) => m instanceof Map && m.get('commit_index') === 1999, 10_000);
    for (const f of [f1, f2]) {
      const got = f.rec.messagesFrom(hi);
      expect(got.length).toBe(2000);
      for (const [i, m] of got.entries()) expectPy(m, msgs[i]!);
    }
  });

  it('an unencodable message throws and sends nothing; sends to unknown peers return false', async () => {
    const [hi, lo] = await twoAddresses();
    const a = await nodes.start(hi, [lo], { maxFrameBytes: 1024 * 1024 });
    const b = await nodes.start(lo, [hi]);
    await a.rec.connected(lo);
    expect(() => a.transport.send(lo, undefined as unknown as PyValue)).toThrow();
    expect(() => a.transport.send(lo, randomBytes(2 * 1024 * 1024))).toThrow(/FRAME_TOO_LARGE/);
    expect(a.transport.send('127.0.0.1:1', vote(1))).toBe(false);
    expect(a.transport.sendPickled('127.0.0.1:1', encodePickle(vote(1)))).toBe(false);
    a.transport.send(lo, vote(5));
    expectPy(await b.rec.message(hi, () => true), vote(5));
  });
});

describe('destroy', () => {
  it('leaves no handles and fires no callback afterwards', async () => {
    const before = countResources();
    const [hi, lo] = await twoAddresses();
    const a = await nodes.start(hi, [lo], { password: PASSWORD });
    const b = await nodes.start(lo, [hi], { password: PASSWORD });
    const r = await nodes.start(null, [hi, lo], { password: PASSWORD });
    const unreachable = await freeAddress();
    a.transport.addNode(unreachable); // a pending retry timer
    await a.rec.connected(lo);
    await b.rec.connected('0');
    await r.rec.connected(hi);
    const util = new TcpUtility({ password: PASSWORD });
    await util.execute(lo, ['status']);
    const during = countResources();
    expect(during.TCPSocketWrap ?? 0).toBeGreaterThan(before.TCPSocketWrap ?? 0);
    const counts = [a, b, r].map((n) => n.rec.events.length);
    await Promise.all([a.transport.destroy(), b.transport.destroy(), r.transport.destroy()]);
    await new Promise((res) => setImmediate(res));
    const after = countResources();
    for (const kind of ['TCPSocketWrap', 'TCPServerWrap', 'Timeout', 'GetAddrInfoReqWrap']) {
      expect({ kind, n: after[kind] ?? 0 }).toEqual({
        kind,
        n: Math.min(after[kind] ?? 0, before[kind] ?? 0),
      });
    }
    expect([a, b, r].map((n) => n.rec.events.length)).toEqual(counts);
    expect(a.transport.send(lo, vote(1))).toBe(false);
    await a.transport.destroy(); // idempotent
    await expect(a.transport.start()).rejects.toMatchObject({ code: TransportErrorCode.NotStartable });
  });
});

function countResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
  return out;
}

it('Fernet instance can be shared instead of a password', async () => {
  const fernet = await Fernet.fromPasswordAsync(PASSWORD);
  const [hi, lo] = await twoAddresses();
  const a = await nodes.start(hi, [lo], { fernet });
  await nodes.start(lo, [hi], { password: PASSWORD });
  await a.rec.connected(lo);
  expect(a.transport.peerInfo(lo)?.connected).toBe(true);
});
