/**
 * TcpTransport against misbehaving and failing peers: garbage on the socket closes only that
 * connection; handshake timeouts; dead-connection detection between pinging peers without losing
 * the next message on an idle live connection; back-pressure on a peer that stops reading.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { deflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { Fernet } from '../../src/wire/fernet.js';
import { encodeFrame, prefixFrame } from '../../src/wire/frame.js';
import { dict, type PyValue, pyEquals } from '../../src/wire/value.js';
import {
  delay,
  freeAddress,
  type LogLine,
  Nodes,
  ProtoClient,
  rawBytes,
  rawSocket,
  socketClosed,
  type TestNode,
  until,
  within,
} from './transport-helpers.js';

const PASSWORD = 'robustness-password';
const nodes = new Nodes();
afterEach(async () => {
  await nodes.destroyAll();
});

/** Block the event loop (no timers, no I/O) for `ms`: a GC pause, a synchronous job, SIGSTOP. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

/** Let the writes of this tick reach the kernel (connections uncork on process.nextTick) without polling. */
const flushWrites = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

const vote = (term: number): PyValue =>
  dict({ type: 'request_vote', term, last_log_index: 4, last_log_term: 1 });
const portOf = (address: string): number => Number(address.split(':')[1]);

async function pair(
  options: Parameters<Nodes['start']>[2] = {},
): Promise<{ a: TestNode; b: TestNode; hi: string; lo: string }> {
  const x = await freeAddress();
  const y = await freeAddress();
  const [hi, lo] = x > y ? [x, y] : [y, x];
  const a = await nodes.start(hi, [lo], options);
  const b = await nodes.start(lo, [hi], options);
  await a.rec.connected(lo);
  await b.rec.connected(hi);
  return { a, b, hi, lo };
}

/** The pair still works: a message each way arrives. */
async function stillWorks(a: TestNode, b: TestNode, hi: string, lo: string, term: number): Promise<void> {
  const ma = b.rec.mark();
  const mb = a.rec.mark();
  expect(a.transport.send(lo, vote(term))).toBe(true);
  expect(b.transport.send(hi, vote(term + 1))).toBe(true);
  expect(pyEquals(await b.rec.message(hi, () => true, 5000, ma), vote(term))).toBe(true);
  expect(pyEquals(await a.rec.message(lo, () => true, 5000, mb), vote(term + 1))).toBe(true);
}

// a pickle calling os.system: Python would run it; we must refuse it
const EVIL_PICKLE = Buffer.from("cos\nsystem\n(S'echo pwned'\ntR.", 'latin1');

describe('garbage closes only that connection', () => {
  const cases: { name: string; bytes: () => Buffer; code: string | null; reply?: string }[] = [
    { name: 'random bytes', bytes: () => randomBytes(4096), code: null },
    {
      name: 'an oversize length prefix',
      bytes: () => Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3]),
      code: 'FRAME_TOO_LARGE',
    },
    {
      name: 'a negative length prefix',
      bytes: () => Buffer.from([0xff, 0xff, 0xff, 0xff]),
      code: 'FRAME_NEGATIVE_LENGTH',
    },
    {
      name: 'a frame that is not zlib',
      bytes: () => prefixFrame(Buffer.from('not zlib at all')),
      code: 'BAD_ZLIB',
    },
    {
      name: 'a pickle of os.system',
      bytes: () => prefixFrame(deflateSync(EVIL_PICKLE, { level: 3 })),
      code: 'FORBIDDEN_GLOBAL',
    },
    { name: 'a dict hello', bytes: () => encodeFrame(dict({ type: 'request_vote', term: 1 })), code: null },
    { name: 'an int hello', bytes: () => encodeFrame(5), code: null },
    // (an unknown `host:port` is a voting node we may not know yet: accepted, transport-strangers.test.ts)
    { name: 'a string hello that is no address', bytes: () => encodeFrame('10.9.9.9'), code: null },
    { name: 'our own address as hello', bytes: () => Buffer.alloc(0), code: null },
  ];

  it.each(cases)('$name', async ({ name, bytes, code }) => {
    const { a, b, hi, lo } = await pair({ maxFrameBytes: 1024 * 1024 });
    const s = await rawSocket(portOf(lo), nodes);
    const payload = name === 'our own address as hello' ? encodeFrame(lo) : bytes();
    s.write(payload);
    await socketClosed(s);
    const isWarn = (l: LogLine): boolean => l.level === 'warn' && String(l.obj.peer).startsWith('127.0.0.1:');
    await until(() => b.log.lines.some(isWarn), 'the close logged with the peer');
    const warn = b.log.lines.find(isWarn);
    if (code) expect(String(warn?.obj.reason)).toContain(code);
    await stillWorks(a, b, hi, lo, 10);
    expect(b.rec.count('disconnected')).toBe(0);
    expect(b.rec.count('utility')).toBe(0);
  });

  it('a frame declaring more than the default 64 MiB is refused at its length prefix', async () => {
    const { b } = await pair();
    const s = await rawSocket(portOf(b.address!), nodes);
    const prefix = Buffer.alloc(4);
    prefix.writeInt32LE(64 * 1024 * 1024 + 1);
    const sentAt = Date.now();
    s.write(prefix);
    await socketClosed(s);
    // closed for the length itself (not by a later timeout of a connection that never said hello)
    const refused = (l: LogLine): boolean =>
      l.level === 'warn' && String(l.obj.reason).includes('FRAME_TOO_LARGE');
    await until(() => b.log.lines.some(refused), 'the refusal logged with FRAME_TOO_LARGE');
    expect(String(b.log.lines.find(refused)?.obj.reason)).toContain(
      `exceeds the limit of ${64 * 1024 * 1024} bytes`,
    );
    expect(Date.now() - sentAt).toBeLessThan(1000);
  });

  it('utility lists with an unknown or non-str command get a str reply; the connection stays', async () => {
    const { a, b, hi, lo } = await pair();
    const c = new ProtoClient(portOf(lo), ['drop_tables', 1]);
    expect(await c.next()).toBe("unknown command 'drop_tables'");
    c.conn.sendValue([['status']]);
    expect(await c.next((m) => m !== "unknown command 'drop_tables'")).toBe(
      "invalid utility command: the first element must be a str, got ['status']",
    );
    c.conn.sendValue(['status']);
    expect(await c.next((m) => m === 'stub reply to status')).toBe('stub reply to status');
    await c.close();
    await stillWorks(a, b, hi, lo, 20);
  });

  it('encrypted: a plain frame, a wrong rand key or a tampered token drop the connection', async () => {
    const { a, b, hi, lo } = await pair({ password: PASSWORD });
    const fernet = await Fernet.fromPasswordAsync(PASSWORD);
    // plaintext on an encrypted node
    const s1 = await rawSocket(portOf(lo), nodes);
    s1.write(encodeFrame(randomBytes(32)));
    await socketClosed(s1);
    // correct key exchange, then a message wrapped with the wrong key
    const s2 = await rawSocket(portOf(lo), nodes);
    s2.write(encodeFrame(randomBytes(32), { fernet }));
    await firstBytes(s2);
    s2.write(encodeFrame(hi, { fernet, sendRandKey: randomBytes(32) }));
    await socketClosed(s2);
    // a tampered token
    const s3 = await rawSocket(portOf(lo), nodes);
    const frame = encodeFrame(randomBytes(32), { fernet });
    frame[frame.length - 5] = frame[frame.length - 5] === 0x41 ? 0x42 : 0x41;
    s3.write(frame);
    await socketClosed(s3);
    const reasons = (): string[] =>
      b.log.lines.filter((l) => l.level === 'warn').map((l) => String(l.obj.reason));
    await until(
      () =>
        reasons().filter((r) => r.includes('BAD_TOKEN')).length === 2 &&
        reasons().some((r) => r.includes('BAD_RANDKEY')),
      'BAD_TOKEN twice and BAD_RANDKEY logged',
    );
    await stillWorks(a, b, hi, lo, 30);
  });

  it('a connection that sends nothing (or stops inside the key exchange) is closed after connectionTimeoutMs', async () => {
    const addr = await freeAddress();
    const n = await nodes.start(addr, [], { password: PASSWORD, connectionTimeoutMs: 200 });
    const fernet = await Fernet.fromPasswordAsync(PASSWORD);
    const t0 = performance.now();
    const silent = await rawSocket(portOf(addr), nodes);
    const halfway = await rawSocket(portOf(addr), nodes);
    halfway.write(encodeFrame(randomBytes(32), { fernet }));
    await socketClosed(silent, 3000);
    await socketClosed(halfway, 3000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    // (the node logs from its own 'close' event, which may come after the client's)
    await until(
      () =>
        n.log.lines.some((l) => String(l.obj.reason).includes('key exchange not completed')) &&
        n.log.lines.some((l) => String(l.obj.reason).includes('no hello')),
      'both closes logged',
    );
  });
});

describe('dead connections', () => {
  it('TS peers idle for several connectionTimeouts stay connected and lose nothing', async () => {
    const { a, b, hi, lo } = await pair({ connectionTimeoutMs: 300 });
    const before = b.transport.peerInfo(hi)!.bytesReceived;
    await delay(1200); // 4 × connectionTimeoutMs without a single Raft message
    expect(a.rec.count('disconnected') + b.rec.count('disconnected')).toBe(0);
    expect(b.transport.peerInfo(hi)!.bytesReceived).toBeGreaterThan(before); // pings flowed
    await stillWorks(a, b, hi, lo, 40);
    expect(a.rec.messagesFrom(lo).length).toBe(1); // pings never surface
  });

  it('a stall of our own event loop shorter than connectionTimeoutMs drops nothing', async () => {
    const { a, b, hi, lo } = await pair({ connectionTimeoutMs: 1000 });
    await until(
      () => a.transport.peerInfo(lo)?.peerPings === true && b.transport.peerInfo(hi)?.peerPings === true,
      'both sides to know the other pings',
    );
    const mark = b.rec.mark();
    expect(a.transport.send(lo, vote(30))).toBe(true);
    await flushWrites();
    busyWait(300); // a GC pause or a short synchronous job
    expect(pyEquals(await b.rec.message(hi, () => true, 5000, mark), vote(30))).toBe(true);
    await delay(300);
    expect(a.rec.count('disconnected') + b.rec.count('disconnected')).toBe(0);
    await stillWorks(a, b, hi, lo, 31);
  });

  it('a stall of our own event loop longer than connectionTimeoutMs: what waited in the sockets is never delivered; the peers reconnect', async () => {
    const { a, b, hi, lo } = await pair({ connectionTimeoutMs: 300 });
    await until(
      () => a.transport.peerInfo(lo)?.peerPings === true && b.transport.peerInfo(hi)?.peerPings === true,
      'both sides to know the other pings',
    );
    const markA = a.rec.mark();
    const markB = b.rec.mark();
    expect(a.transport.send(lo, vote(60))).toBe(true);
    expect(b.transport.send(hi, vote(61))).toBe(true);
    await flushWrites(); // both votes are in the kernel, unread
    busyWait(700); // no timers, no I/O (SIGSTOP, a long GC or synchronous job)
    const downB = await b.rec.disconnected(hi, 3000, markB);
    const downA = await a.rec.disconnected(lo, 3000, markA);
    // the votes sat in the sockets through the stall: closed unread, as pysyncobj does
    const stale = (l: LogLine) => l.level === 'warn' && String(l.obj.reason).startsWith('stale: ');
    expect(b.log.lines.some(stale) || a.log.lines.some(stale)).toBe(true);
    await a.rec.connected(lo, 5000, a.rec.events.indexOf(downA) + 1);
    await b.rec.connected(hi, 5000, b.rec.events.indexOf(downB) + 1);
    await stillWorks(a, b, hi, lo, 62);
    expect(b.rec.messagesFrom(hi).some((m) => pyEquals(m, vote(60)))).toBe(false);
    expect(a.rec.messagesFrom(lo).some((m) => pyEquals(m, vote(61)))).toBe(false);
  });

  it('a peer that never pings (a Python node): its frames that waited through our stall are never delivered', async () => {
    const addr = await freeAddress();
    const peer = '127.0.0.1:65529';
    const n = await nodes.start(addr, [peer], { connectionTimeoutMs: 300 });
    const c = new ProtoClient(portOf(addr), peer);
    await n.rec.connected(peer);
    c.conn.sendValue(vote(70)); // (an apply_command a client is waiting on, say)
    await flushWrites();
    busyWait(700);
    await n.rec.disconnected(peer, 3000);
    await c.closed();
    expect(n.rec.messagesFrom(peer)).toEqual([]);
    const line = n.log.lines.find((l) => String(l.obj.reason).startsWith('stale: '));
    expect(line?.level).toBe('warn');
    expect(String(line?.obj.reason)).toContain('our event loop did not poll for');
  });

  it('a connection accepted after our loop stalled longer than connectionTimeoutMs is closed unread', async () => {
    const addr = await freeAddress();
    const peer = '127.0.0.1:65528';
    const n = await nodes.start(addr, [peer], { connectionTimeoutMs: 300 });
    await delay(50);
    const s = netConnect({ host: '127.0.0.1', port: portOf(addr) }); // the kernel completes it…
    s.on('error', () => {});
    nodes.sockets.push(s);
    s.write(encodeFrame(peer)); // (sent once connected)
    busyWait(700); // …while we do not poll: it waits in the accept queue
    await socketClosed(s, 3000);
    expect(n.rec.count('connected')).toBe(0);
    expect(
      n.log.lines.some((l) => l.level === 'warn' && l.msg.startsWith('incoming connection closed unread')),
    ).toBe(true);
    // a connection made now is served
    const c = new ProtoClient(portOf(addr), peer);
    await n.rec.connected(peer);
    await c.close();
  });

  it('a pinging peer that falls silent is closed after connectionTimeoutMs', async () => {
    const addr = await freeAddress();
    const peer = '127.0.0.1:65533';
    const n = await nodes.start(addr, [peer], { connectionTimeoutMs: 250 });
    const c = new ProtoClient(portOf(addr), peer);
    await n.rec.connected(peer);
    c.conn.sendValue(dict({ type: 'raftdcs_ping' })); // announces a pinging peer, then nothing
    const t0 = performance.now();
    await n.rec.disconnected(peer, 3000);
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(200);
    expect(waited).toBeLessThan(1500);
    expect(n.log.lines.some((l) => l.level === 'warn' && String(l.obj.reason).startsWith('dead'))).toBe(true);
    await c.closed();
  });

  it('a peer that never pings (a Python node) is never closed for silence; it receives our pings', async () => {
    const addr = await freeAddress();
    const peer = '127.0.0.1:65532';
    const n = await nodes.start(addr, [peer], { connectionTimeoutMs: 200 });
    const c = new ProtoClient(portOf(addr), peer);
    await n.rec.connected(peer);
    const bytes0 = c.conn.bytesReceived;
    await delay(800);
    expect(n.rec.count('disconnected')).toBe(0);
    expect(c.conn.phase).toBe('open');
    expect(c.conn.bytesReceived).toBeGreaterThan(bytes0);
    // pings arrive as {'type': 'raftdcs_ping'}; the client Connection consumes them
    expect(c.received.length).toBe(0);
    n.transport.send(peer, vote(50));
    expect(pyEquals(await c.next(), vote(50))).toBe(true);
    // its first frame after 4 × connectionTimeoutMs of silence is delivered: our loop was polling,
    // so the frame is fresh (pysyncobj itself would drop it; our pings keep it from dropping ours)
    c.conn.sendValue(vote(51));
    expect(pyEquals(await n.rec.message(peer, () => true), vote(51))).toBe(true);
    expect(n.rec.count('disconnected')).toBe(0);
    await c.close();
  });

  it('keepalivePingIntervalMs 0 disables pings', async () => {
    const addr = await freeAddress();
    const peer = '127.0.0.1:65531';
    const n = await nodes.start(addr, [peer], { connectionTimeoutMs: 150, keepalivePingIntervalMs: 0 });
    const c = new ProtoClient(portOf(addr), peer);
    await n.rec.connected(peer);
    await delay(400);
    expect(c.conn.bytesReceived).toBe(0);
    await c.close();
  });
});

describe('back-pressure', () => {
  it('a peer that stops reading is disconnected once its send buffer passes the limit', async () => {
    const addr = await freeAddress();
    const peer = '127.0.0.1:65530';
    const limit = 1024 * 1024;
    const n = await nodes.start(addr, [peer], { maxPendingBytesPerPeer: limit, connectionTimeoutMs: 60_000 });
    const c = new ProtoClient(portOf(addr), peer);
    await n.rec.connected(peer);
    c.conn.socket.pause(); // never reads again
    const chunk = 64 * 1024;
    let maxPending = 0;
    let sent = 0;
    await within(
      (async () => {
        for (let i = 0; i < 4000; i++) {
          const ok = n.transport.send(peer, dict({ type: 'append_entries', blob: randomBytes(chunk) }));
          maxPending = Math.max(maxPending, n.transport.pendingBytes(peer));
          if (!ok) break;
          sent++;
          await new Promise((r) => setImmediate(r));
        }
      })(),
      20_000,
      'sending until the connection is cut',
    );
    await n.rec.disconnected(peer);
    expect(sent).toBeLessThan(4000);
    expect(maxPending).toBeLessThanOrEqual(limit + chunk + 1024);
    expect(
      n.log.lines.some((l) => l.level === 'warn' && String(l.obj.reason).startsWith('peer too slow')),
    ).toBe(true);
    await c.close();
  });
});

async function firstBytes(s: Socket): Promise<void> {
  await until(() => rawBytes(s).length > 0, 'the first bytes from the node');
}
