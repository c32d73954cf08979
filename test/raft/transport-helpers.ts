/**
 * Helpers for the transport tests: free loopback ports, a recording TransportHandler whose events
 * can be awaited (bounded), an in-memory logger, and raw protocol clients for misbehaving peers.
 * Never sleeps where an event can be awaited; every wait has a deadline.
 */

import { createServer, connect as netConnect, type Socket } from 'node:net';
import type { Logger } from '../../src/logger.js';
import { Connection } from '../../src/raft/transport/connection.js';
import type { TcpTransportOptions } from '../../src/raft/transport/options.js';
import { TcpTransport } from '../../src/raft/transport/tcp-transport.js';
import type { PeerId, TransportHandler } from '../../src/raft/transport/types.js';
import type { Fernet } from '../../src/wire/fernet.js';
import type { PyValue } from '../../src/wire/value.js';

/** A port that was free a moment ago (the kernel picks it; bind 0, read, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function freeAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

export type TransportEvent =
  | { kind: 'connected'; peer: PeerId; readonly: boolean; at: number }
  | { kind: 'disconnected'; peer: PeerId; at: number }
  | { kind: 'message'; peer: PeerId; message: PyValue; at: number }
  | { kind: 'utility'; command: string; args: readonly PyValue[]; at: number };

interface Waiter {
  from: number;
  pred: (e: TransportEvent) => boolean;
  resolve: (e: TransportEvent) => void;
}

/** Records every callback; `waitFor` resolves on a matching event (past or future) or fails after a deadline. */
export class Recorder implements TransportHandler {
  readonly events: TransportEvent[] = [];
  #waiters: Waiter[] = [];
  /** how utility commands are answered (default: a stub reply naming the command) */
  utility: (command: string, args: readonly PyValue[], reply: (value: PyValue) => void) => void = (
    command,
    _args,
    reply,
  ) => reply(`stub reply to ${command}`);

  onMessage(peer: PeerId, message: PyValue): void {
    this.#push({ kind: 'message', peer, message, at: performance.now() });
  }
  onPeerConnected(peer: PeerId, readonly: boolean): void {
    this.#push({ kind: 'connected', peer, readonly, at: performance.now() });
  }
  onPeerDisconnected(peer: PeerId): void {
    this.#push({ kind: 'disconnected', peer, at: performance.now() });
  }
  onUtilityCommand(command: string, args: readonly PyValue[], reply: (value: PyValue) => void): void {
    this.#push({ kind: 'utility', command, args, at: performance.now() });
    this.utility(command, args, reply);
  }

  /** The position to wait from ("events after now"). */
  mark(): number {
    return this.events.length;
  }

  waitFor(
    pred: (e: TransportEvent) => boolean,
    what: string,
    timeoutMs = 5000,
    from = 0,
  ): Promise<TransportEvent> {
    for (let i = from; i < this.events.length; i++) {
      const e = this.events[i] as TransportEvent;
      if (pred(e)) return Promise.resolve(e);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        from,
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; events: ${this.describe()}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  connected(peer: PeerId, timeoutMs = 5000, from = 0): Promise<TransportEvent> {
    return this.waitFor(
      (e) => e.kind === 'connected' && e.peer === peer,
      `connected ${peer}`,
      timeoutMs,
      from,
    );
  }
  disconnected(peer: PeerId, timeoutMs = 5000, from = 0): Promise<TransportEvent> {
    return this.waitFor(
      (e) => e.kind === 'disconnected' && e.peer === peer,
      `disconnected ${peer}`,
      timeoutMs,
      from,
    );
  }
  message(peer: PeerId | null, test: (m: PyValue) => boolean, timeoutMs = 5000, from = 0): Promise<PyValue> {
    return this.waitFor(
      (e) => e.kind === 'message' && (peer === null || e.peer === peer) && test(e.message),
      `a message from ${peer ?? 'anyone'}`,
      timeoutMs,
      from,
    ).then((e) => (e as { message: PyValue }).message);
  }

  messagesFrom(peer: PeerId): PyValue[] {
    return this.events.flatMap((e) => (e.kind === 'message' && e.peer === peer ? [e.message] : []));
  }

  count(kind: TransportEvent['kind'], peer?: PeerId): number {
    return this.events.filter(
      (e) => e.kind === kind && (peer === undefined || ('peer' in e && e.peer === peer)),
    ).length;
  }

  describe(): string {
    return JSON.stringify(
      this.events.slice(-20).map((e) => (e.kind === 'message' ? { kind: e.kind, peer: e.peer } : e)),
    );
  }

  #push(e: TransportEvent): void {
    const index = this.events.length;
    this.events.push(e);
    const ready = this.#waiters.filter((w) => index >= w.from && w.pred(e));
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve(e);
  }
}

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

/** A logger that keeps its lines (RAFTDCS_TEST_LOG=1 also prints them). */
export function memoryLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const print = process.env.RAFTDCS_TEST_LOG === '1';
  const at =
    (level: LogLine['level']) =>
    (obj: Record<string, unknown>, msg: string): void => {
      lines.push({ level, obj, msg });
      if (print) process.stderr.write(`${level} ${msg} ${JSON.stringify(obj)}\n`);
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A transport plus its recorder and logger; everything made through `nodes` is destroyed by `destroyAll`. */
export interface TestNode {
  address: string | null;
  transport: TcpTransport;
  rec: Recorder;
  log: ReturnType<typeof memoryLogger>;
}

export class Nodes {
  readonly all: TestNode[] = [];
  readonly sockets: Socket[] = [];

  make(address: string | null, options: Partial<TcpTransportOptions> = {}): TestNode {
    const rec = new Recorder();
    const log = memoryLogger();
    const transport = new TcpTransport(
      {
        selfAddress: address,
        defaultBindHost: '127.0.0.1',
        connectionRetryTimeMs: 100,
        logger: log,
        ...options,
      },
      rec,
    );
    const node: TestNode = { address, transport, rec, log };
    this.all.push(node);
    return node;
  }

  /** make + addNode(peers) + start */
  async start(
    address: string | null,
    peers: readonly string[],
    options: Partial<TcpTransportOptions> = {},
  ): Promise<TestNode> {
    const node = this.make(address, options);
    for (const p of peers) node.transport.addNode(p);
    await node.transport.start();
    return node;
  }

  async destroyAll(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.all.map((n) => n.transport.destroy()));
    this.all.length = 0;
    this.sockets.length = 0;
  }
}

const rawReceived = new WeakMap<Socket, Buffer[]>();

/** What a rawSocket received so far. */
export function rawBytes(s: Socket): Buffer {
  return Buffer.concat(rawReceived.get(s) ?? []);
}

/** A raw TCP client (for garbage tests) that keeps what it receives; resolves once connected. */
export async function rawSocket(port: number, nodes?: Nodes): Promise<Socket> {
  const s = netConnect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  rawReceived.set(s, chunks);
  s.on('data', (d: Buffer) => chunks.push(d)); // reading, so that the peer's FIN is seen
  s.on('error', () => {});
  nodes?.sockets.push(s);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  return s;
}

/** Resolves when the socket closes (bounded). */
export function socketClosed(s: Socket, timeoutMs = 5000): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket not closed within ${timeoutMs} ms`)), timeoutMs);
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * A protocol client speaking as a connector with a chosen hello (a node address, 'readonly', a
 * utility list, anything): the real Connection class, so key exchange and framing are the real ones.
 */
export class ProtoClient {
  readonly received: PyValue[] = [];
  readonly conn: Connection;
  readonly #waiters: { pred: (m: PyValue) => boolean; resolve: (m: PyValue) => void }[] = [];
  opened = false;

  constructor(
    port: number,
    hello: PyValue,
    options: { fernet?: Fernet | null; maxPendingBytes?: number } = {},
  ) {
    const socket = netConnect({ host: '127.0.0.1', port });
    this.conn = new Connection(
      socket,
      {
        role: 'connector',
        hello,
        fernet: options.fernet ?? null,
        maxFrameBytes: 64 * 1024 * 1024,
        maxPendingBytes: options.maxPendingBytes ?? 256 * 1024 * 1024,
        rejectDecreasingTokenTimestamps: false,
        tcpKeepAliveInitialDelayMs: 16_000,
        nowMs: () => performance.now(),
        label: `client:${port}`,
        logger: memoryLogger(),
      },
      {
        onOpen: () => {
          this.opened = true;
        },
        onMessage: (_c, m) => {
          this.received.push(m);
          for (const w of this.#waiters.splice(0)) {
            if (w.pred(m)) w.resolve(m);
            else this.#waiters.push(w);
          }
        },
        onClose: () => {},
      },
    );
  }

  next(pred: (m: PyValue) => boolean = () => true, timeoutMs = 5000): Promise<PyValue> {
    const have = this.received.find(pred);
    if (have !== undefined) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching message within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  /** resolves when closed (bounded) */
  async closed(timeoutMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.conn.closed,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`client not closed within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  close(): Promise<void> {
    this.conn.close('test done', 'debug');
    return this.conn.closed;
  }
}

/** Resolve within `ms` or fail naming `what`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Wait (bounded) until `cond()` holds, polling on the event loop's timer phase. For state without events only. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000, stepMs = 10): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
