/**
 * The TCP transport between raftdcs / pysyncobj nodes (docs/protocol.md §2, §3, §4.4, §6): one connection
 * per pair of full nodes, opened by the node whose address is greater; read-only transports connect
 * to everyone and never listen; incoming connections are bound by their hello (an address,
 * `'readonly'`, or a utility command list); optional Fernet with the random-key exchange; retried
 * connects and binds; keepalive pings between raftdcs peers instead of pysyncobj's lossy idle drop;
 * per-peer send-buffer bound; cached DNS.
 *
 * Unknown voting nodes: a node may lead us before our log holds the entry that added it (we lag
 * behind; Raft's followers accept AppendEntries from any leader of a current term). So an incoming
 * hello with a `host:port` we do not know is accepted as a voting peer (a "stranger", reported with
 * onPeerConnected(address, false)) instead of being closed as pysyncobj does; the owner decides what
 * to do with its messages (the core follows it if it leads a current term, grants it no vote, and
 * sends it nothing but replies). When addNode later names it, that connection becomes the node's.
 * Only the greater address dials, so a node that does not know us and whose address is smaller
 * would never connect: the side that knows the other also dials when its address is smaller
 * ("dial-back"), once it has had no connection to that node for connectionRetryTimeMs, at most once
 * per connectionRetryTimeMs, with the hello `'raftdcs_dialback:<our address>'`. Only a node that
 * does not know us keeps such a connection: a raftdcs node that knows us closes it and dials us
 * at once (so the pair's connection is still the one the greater address opens, and two
 * connections never replace each other in turn); a pysyncobj node does not know that string and
 * closes it (it would otherwise take it for the node's one connection and lose its own). The dialer
 * reports a dial-back connection only once the node shows that it keeps it (its first ping — a node
 * that accepts a stranger always sends one — or message), so a refused dial-back is no flap.
 *
 * Read-only fallback: a pysyncobj node closes the connection of a voting node it does not know —
 * e.g. we were added while it was cut off, and we lead now: it cannot learn of the entry that adds
 * us from us, and no leader it knows will be elected while we lead. pysyncobj does accept the hello
 * `'readonly'` from anyone and applies appends from such a peer (and answers it). So after two
 * rejections in a row of our outgoing hello (or two dial-backs closed unanswered, the node still not
 * connected to us), we connect with `'readonly'` and treat that link as the node's: it follows us
 * and catches up. Vote requests are not sent over it (isReadonlyLink; a pysyncobj node would adopt
 * the term of anyone's request). When we dial because our address is greater, every
 * `readonlyProbeMs` the link is closed and the normal hello tried again, so it is used only while
 * the node does not know us; a greater node dials us itself once it knows us, which replaces the
 * link. A peer that pings on such a link is a raftdcs node (which never refuses a voting node): our
 * own hello again.
 *
 * Dead connections: every bound connection sends `{'type': 'raftdcs_ping'}` when it has sent nothing
 * for `keepalivePingIntervalMs` (and once right after binding, so a raftdcs peer learns at once that
 * we ping). pysyncobj ignores dicts with an unknown `type`, and reading one refreshes its idle timer,
 * so a Python peer never drops the connection for idleness either. A connection on which a ping was
 * received is closed after `connectionTimeoutMs` of silence; peers that never ping (Python) are left
 * to TCP keepalive and socket errors — we never close a live connection for being idle.
 *
 * Stale connections (pysyncobj's rule: it drops a connection whose last read is older than
 * connectionTimeout before reading from it): bytes that may have waited in a socket for longer than
 * `connectionTimeoutMs` are never decoded — the connection is closed unread (Connection, with the
 * poll witness below for peers that never ping) and the peer reconnects. They would be commands
 * forwarded by clients that have since been told their write failed; applied late, a demoted
 * primary's failed leader-lock refresh extends its lock by a TTL. After SIGCONT, or when a long
 * synchronous job ends, libuv's poll phase runs the sockets' 'data' callbacks before any timer, so
 * the sweep cannot be relied on to notice the stall first: a `setImmediate` scheduled by each sweep
 * records when the loop last finished a poll phase, and bytes read later arrived after that moment.
 * A connection accepted while the loop had not polled for that long may have sat in the accept queue
 * just as long: it is closed at once.
 *
 * This module must never: invoke a handler callback re-entrantly (from inside a call the owner made)
 * or after destroy(); let a peer's bytes crash the process; buffer unboundedly for a slow peer;
 * retry a connect or a bind in a tight loop; pass a ping or a key-exchange message to the owner.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { RaftdcsError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { Fernet, type SecondsClock } from '../../wire/fernet.js';
import { encodeFrameFromPickle, type RandomSource } from '../../wire/frame.js';
import { isDict, nodeId, type PyValue, pyRepr } from '../../wire/value.js';
import { type HostPort, isIpLiteral, listenAddress, shouldConnect, splitHostPort } from './address.js';
import {
  Connection,
  type ConnectionConfig,
  type ConnectionEvents,
  type LogLevel,
  type StalenessCheck,
} from './connection.js';
import { CachingDnsResolver, type HostResolver } from './dns.js';
import {
  type ResolvedTransportSettings,
  resolveTransportSettings,
  type TcpTransportOptions,
  TRANSPORT_DEFAULTS,
} from './options.js';
import type { PeerId, Transport, TransportHandler } from './types.js';
import { checkUtilityRequest } from './utility.js';
import { TcpUtility } from './utility-client.js';

export const TransportErrorCode = {
  /** start(): the listener could not be bound within maxBindRetries attempts */
  BindFailed: 'BIND_FAILED',
  /** start() on a transport that was already started or destroyed, or destroyed while starting */
  NotStartable: 'NOT_STARTABLE',
} as const;
export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

export class TransportError extends RaftdcsError<TransportErrorCode> {
  override readonly name = 'TransportError';
  constructor(
    code: TransportErrorCode,
    message: string,
    /** the address concerned (the listen address for BindFailed) */
    readonly address?: string,
    cause?: unknown,
  ) {
    super(code, `${code}: ${message}`, cause === undefined ? undefined : { cause });
  }
}

/** What the transport knows about one peer (for status pages and metrics). */
export interface PeerInfo {
  peer: PeerId;
  readonly: boolean;
  connected: boolean;
  /** 'out' when we connected, 'in' when it did */
  direction: 'in' | 'out' | null;
  /** the peer pings (a raftdcs node): silence closes its connection */
  peerPings: boolean;
  connectAttempts: number;
  consecutiveConnectFailures: number;
  totalConnectFailures: number;
  lastConnectError: string | null;
  pendingBytes: number;
  bytesSent: number;
  bytesReceived: number;
}

interface NodeSlot {
  readonly address: string;
  readonly target: HostPort;
  /** we open the connection (our address is greater, or we are read-only) */
  readonly outgoing: boolean;
  /** the current connection: an outgoing attempt in progress, or the bound connection */
  conn: Connection | null;
  resolving: boolean;
  lastAttemptMs: number | null;
  retryTimer: NodeJS.Timeout | null;
  attempts: number;
  /** failed attempts (DNS, TCP connect, handshake) since the last successful one */
  consecutiveFailures: number;
  /** connections closed by the peer before it sent anything, in a row (it does not know us?) */
  rejections: number;
  /** connect with the hello 'readonly' (the node refused our address twice: see the module comment) */
  readonlyHello: boolean;
  /** the current connection is a probe with our address after a read-only link: one refusal is enough */
  probing: boolean;
  /** closes the read-only link to try our address again */
  probeTimer: NodeJS.Timeout | null;
  /** since when there is no bound connection (dial-back is due connectionRetryTimeMs later) */
  unconnectedSinceMs: number;
  totalFailures: number;
  lastError: string | null;
}

const DNS_DRAIN_ON_DESTROY_MS = 2000;
/** the hello of a dial-back connection (the smaller address connecting to a node that may not know it) */
export const DIAL_BACK_HELLO_PREFIX = 'raftdcs_dialback:';
/** first reconnect delay; doubled per failed attempt up to connectionRetryTimeMs */
const RETRY_BACKOFF_BASE_MS = 100;

export class TcpTransport implements Transport {
  readonly selfAddress: string | null;
  readonly #s: ResolvedTransportSettings;
  readonly #log: Logger;
  readonly #handler: TransportHandler;
  readonly #resolver: HostResolver;
  readonly #password: string | null;
  #fernet: Fernet | null;
  readonly #tokenClock: SecondsClock | undefined;
  readonly #random: RandomSource | undefined;
  readonly #onHandlerError: (error: unknown) => void;

  #started = false;
  #running = false;
  #destroyed = false;
  #destroying: Promise<void> | null = null;
  #server: Server | null = null;
  #listening: HostPort | null = null;
  #bindTimer: NodeJS.Timeout | null = null;
  #abortStart: ((e: Error) => void) | null = null;
  #sweepTimer: NodeJS.Timeout | null = null;
  #sweepIntervalMs = 0;
  #lastSweepMs = 0;
  /** when our event loop last finished a poll phase (set from the check phase; see the module comment) */
  #lastPollMs = 0;
  #pollWitness: NodeJS.Immediate | null = null;

  readonly #nodes = new Map<string, NodeSlot>();
  readonly #readonlyPeers = new Map<string, Connection>();
  /** bound connections of voting nodes that are not (yet) in our node set, by address */
  readonly #strangers = new Map<string, Connection>();
  /** accepted connections without a (node or read-only) hello yet, and utility connections */
  readonly #unbound = new Set<Connection>();
  #readonlyCounter = 0;
  /** our outgoing connections that said 'readonly' to a voting node (the read-only fallback) */
  readonly #readonlyLinks = new WeakSet<Connection>();
  /** dial-backs whose hello went out (closed unanswered, they count as refusals) */
  readonly #openedDialBacks = new WeakSet<Connection>();
  #plainFrameCache: { pickle: Buffer; frame: Buffer } | null = null;
  readonly #lookups = new Set<Promise<unknown>>();
  readonly #events: ConnectionEvents;
  readonly #staleness: StalenessCheck;

  constructor(options: TcpTransportOptions, handler: TransportHandler) {
    this.#s = resolveTransportSettings(options);
    this.#staleness = {
      connectionTimeoutMs: this.#s.connectionTimeoutMs,
      lastPollMs: () => this.#lastPollMs,
    };
    this.selfAddress = options.selfAddress;
    if (this.selfAddress !== null) splitHostPort(this.selfAddress); // throws AddressError early
    this.#log = this.#s.logger;
    this.#handler = handler;
    this.#password = options.password ?? null;
    this.#fernet = options.fernet ?? null;
    this.#tokenClock = options.tokenClock;
    this.#random = options.random;
    this.#onHandlerError =
      options.onHandlerError ??
      ((error) =>
        process.nextTick(() => {
          throw error;
        }));
    this.#resolver =
      options.resolver ??
      new CachingDnsResolver({
        cacheTimeMs: options.dnsCacheTimeMs ?? TRANSPORT_DEFAULTS.dnsCacheTimeMs,
        failCacheTimeMs: options.dnsFailCacheTimeMs ?? TRANSPORT_DEFAULTS.dnsFailCacheTimeMs,
        preferredFamily: options.preferredAddrFamily === undefined ? 'ipv4' : options.preferredAddrFamily,
        nowMs: this.#s.nowMs,
        logger: this.#log,
      });
    this.#events = {
      onOpen: (conn) => this.#onOpen(conn),
      onMessage: (conn, message) => this.#onConnMessage(conn, message),
      onClose: (conn) => this.#onConnClose(conn),
      onFirstPing: (conn) => this.#onFirstPing(conn),
    };
  }

  /** The resolver in use (Patroni adjusts its cache times at run time). */
  get resolver(): HostResolver {
    return this.#resolver;
  }

  /** Where the listener is bound, once start() resolved (null for a read-only transport). */
  get listeningAddress(): HostPort | null {
    return this.#listening;
  }

  // ------------------------------------------------------------------------------------------
  // lifecycle

  async start(): Promise<void> {
    if (this.#started || this.#destroyed) {
      throw new TransportError(
        TransportErrorCode.NotStartable,
        this.#destroyed ? 'the transport was destroyed' : 'start() was already called',
      );
    }
    this.#started = true;
    if (this.#fernet === null && this.#password !== null) {
      this.#fernet = await Fernet.fromPasswordAsync(this.#password);
    }
    if (this.#destroyed) {
      throw new TransportError(TransportErrorCode.NotStartable, 'destroyed while starting');
    }
    this.#running = true;
    // (at most connectionTimeoutMs / 6 apart: the poll witness is that fresh while the loop runs)
    const sweepMs = Math.max(
      5,
      Math.min(this.#s.keepalivePingIntervalMs || Number.POSITIVE_INFINITY, this.#s.connectionTimeoutMs / 3) /
        2,
    );
    this.#sweepIntervalMs = sweepMs;
    this.#lastSweepMs = this.#s.nowMs();
    this.#lastPollMs = this.#lastSweepMs;
    this.#sweepTimer = setInterval(() => this.#sweep(), sweepMs);
    for (const slot of this.#nodes.values()) this.#connect(slot);
    if (this.selfAddress !== null) {
      await this.#bind(this.selfAddress);
      // Just started (a restart, most often): the greater addresses that dial us may be backing
      // off their redials for a second or more, longer than an election timeout — and a restarted
      // node that hears no leader campaigns and deposes it. One dial-back to each of them now: a
      // raftdcs node that knows us dials us at once; a pysyncobj node just closes it.
      const now = this.#s.nowMs();
      for (const slot of this.#nodes.values()) {
        if (slot.outgoing || slot.conn !== null || slot.lastAttemptMs !== null) continue;
        slot.unconnectedSinceMs = now - this.#s.connectionRetryTimeMs;
        this.#connect(slot);
      }
    }
  }

  async destroy(): Promise<void> {
    if (this.#destroying) return this.#destroying;
    this.#destroyed = true;
    this.#running = false;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.#sweepTimer = null;
    if (this.#pollWitness) clearImmediate(this.#pollWitness);
    this.#pollWitness = null;
    if (this.#bindTimer) clearTimeout(this.#bindTimer);
    this.#bindTimer = null;
    this.#abortStart?.(new TransportError(TransportErrorCode.NotStartable, 'destroyed while binding'));
    const conns = this.#allConnections();
    for (const slot of this.#nodes.values()) {
      if (slot.retryTimer) clearTimeout(slot.retryTimer);
      slot.retryTimer = null;
      if (slot.probeTimer) clearTimeout(slot.probeTimer);
      slot.probeTimer = null;
    }
    this.#nodes.clear();
    this.#readonlyPeers.clear();
    this.#strangers.clear();
    this.#unbound.clear();
    this.#plainFrameCache = null;
    for (const c of conns) c.close('transport destroyed', 'debug');
    const server = this.#server;
    this.#server = null;
    this.#listening = null;
    const waits: Promise<unknown>[] = conns.map((c) => c.closed);
    if (server) waits.push(new Promise<void>((resolve) => server.close(() => resolve())));
    this.#destroying = (async () => {
      await Promise.all(waits);
      await this.#drainLookups();
    })();
    return this.#destroying;
  }

  // ------------------------------------------------------------------------------------------
  // membership

  addNode(address: PeerId): void {
    if (this.#destroyed || this.#nodes.has(address)) return;
    if (address === this.selfAddress) {
      this.#log.warn({ peer: address }, 'addNode with our own address ignored');
      return;
    }
    const slot: NodeSlot = {
      address,
      target: splitHostPort(address),
      outgoing: shouldConnect(this.selfAddress, address),
      conn: null,
      resolving: false,
      lastAttemptMs: null,
      retryTimer: null,
      attempts: 0,
      consecutiveFailures: 0,
      rejections: 0,
      readonlyHello: false,
      probing: false,
      probeTimer: null,
      unconnectedSinceMs: this.#s.nowMs(),
      totalFailures: 0,
      lastError: null,
    };
    this.#nodes.set(address, slot);
    this.#log.debug({ peer: address, outgoing: slot.outgoing }, 'node added');
    const stranger = this.#strangers.get(address);
    if (stranger) {
      // it connected before we knew it: that connection (already reported) becomes the node's
      this.#strangers.delete(address);
      slot.conn = stranger;
      this.#log.info({ peer: address }, 'node added: its connection is kept');
      return;
    }
    this.#connect(slot);
  }

  /** Forget a voting node (or a read-only peer id): close its connection. No onPeerDisconnected follows. */
  dropNode(address: PeerId): void {
    const slot = this.#nodes.get(address);
    if (slot) {
      this.#nodes.delete(address);
      if (slot.retryTimer) clearTimeout(slot.retryTimer);
      slot.retryTimer = null;
      if (slot.probeTimer) clearTimeout(slot.probeTimer);
      slot.probeTimer = null;
      if (slot.conn) {
        slot.conn.reported = false;
        slot.conn.close('node dropped', 'info');
        slot.conn = null;
      }
      this.#log.debug({ peer: address }, 'node dropped');
      return;
    }
    const stranger = this.#strangers.get(address);
    if (stranger) {
      this.#strangers.delete(address);
      stranger.reported = false;
      stranger.close('unknown node dropped', 'info');
      return;
    }
    const ro = this.#readonlyPeers.get(address);
    if (ro) {
      this.#readonlyPeers.delete(address);
      ro.reported = false;
      ro.close('read-only peer dropped', 'info');
    }
  }

  // ------------------------------------------------------------------------------------------
  // sending

  /**
   * Send a message; false when the peer is not connected or the send closed the connection (peer too
   * slow). Throws WireError for a message that cannot be encoded or exceeds maxFrameBytes.
   */
  send(peer: PeerId, message: PyValue): boolean {
    const conn = this.#boundConnection(peer);
    return conn?.sendValue(message) ?? false;
  }

  /**
   * Send a message given as its protocol-2 pickle. Plain connections share one frame per distinct
   * pickle (broadcasting it compresses once); encrypted ones wrap, compress and encrypt per connection.
   */
  sendPickled(peer: PeerId, pickle: Uint8Array): boolean {
    const conn = this.#boundConnection(peer);
    if (conn === null) return false;
    if (!conn.plain) return conn.sendPickle(pickle);
    return conn.sendPlainFrame(this.#plainFrame(pickle));
  }

  setDnsTimeouts(cacheTimeMs: number, failCacheTimeMs: number): void {
    this.#resolver.setTimeouts?.(cacheTimeMs, failCacheTimeMs);
  }

  isConnected(peer: PeerId): boolean {
    return this.#boundConnection(peer) !== null;
  }

  isReadonlyLink(peer: PeerId): boolean {
    const conn = this.#nodes.get(peer)?.conn;
    return conn?.reported === true && this.#readonlyLinks.has(conn);
  }

  async askLeader(peer: PeerId, timeoutMs: number): Promise<PeerId | null> {
    const utility = new TcpUtility({
      password: this.#password,
      fernet: this.#fernet,
      timeoutMs,
      resolver: this.#resolver,
      maxFrameBytes: this.#s.maxFrameBytes,
      logger: this.#log,
    });
    const reply = await utility.execute(peer, ['status']);
    if (!isDict(reply)) return null;
    return nodeId(reply.get('leader')) ?? null;
  }

  /** Bytes queued for a peer and not yet accepted by the kernel (0 when not connected). */
  pendingBytes(peer: PeerId): number {
    return this.#boundConnection(peer)?.pendingBytes ?? 0;
  }

  /** Connected peers: voting nodes by address, read-only peers by id. */
  connectedPeers(): PeerId[] {
    const out: PeerId[] = [];
    for (const slot of this.#nodes.values()) if (slot.conn?.reported) out.push(slot.address);
    for (const [id, c] of this.#readonlyPeers) if (c.reported) out.push(id);
    for (const [address, c] of this.#strangers) if (c.reported) out.push(address);
    return out;
  }

  peerInfo(peer: PeerId): PeerInfo | undefined {
    const slot = this.#nodes.get(peer);
    const stranger = this.#strangers.get(peer) ?? null;
    const conn = slot ? slot.conn : (stranger ?? this.#readonlyPeers.get(peer) ?? null);
    if (!slot && !conn) return undefined;
    const connected = conn?.reported === true;
    return {
      peer,
      readonly: !slot && !stranger,
      connected,
      direction: connected && conn ? (conn.role === 'connector' ? 'out' : 'in') : null,
      peerPings: conn?.peerPings ?? false,
      connectAttempts: slot?.attempts ?? 0,
      consecutiveConnectFailures: slot?.consecutiveFailures ?? 0,
      totalConnectFailures: slot?.totalFailures ?? 0,
      lastConnectError: slot?.lastError ?? null,
      pendingBytes: connected && conn ? conn.pendingBytes : 0,
      bytesSent: conn?.bytesSent ?? 0,
      bytesReceived: conn?.bytesReceived ?? 0,
    };
  }

  #boundConnection(peer: PeerId): Connection | null {
    const conn =
      this.#nodes.get(peer)?.conn ?? this.#strangers.get(peer) ?? this.#readonlyPeers.get(peer) ?? null;
    return conn?.reported && conn.phase === 'open' ? conn : null;
  }

  #plainFrame(pickle: Uint8Array): Buffer {
    const view = Buffer.isBuffer(pickle)
      ? pickle
      : Buffer.from(pickle.buffer, pickle.byteOffset, pickle.length);
    const cached = this.#plainFrameCache;
    if (cached?.pickle.equals(view)) return cached.frame;
    const frame = encodeFrameFromPickle(view, { maxFrameBytes: this.#s.maxFrameBytes });
    this.#plainFrameCache = { pickle: Buffer.from(view), frame };
    return frame;
  }

  // ------------------------------------------------------------------------------------------
  // outgoing connections

  #connect(slot: NodeSlot): void {
    if (!this.#running || slot.conn !== null || slot.resolving) return;
    if (this.#nodes.get(slot.address) !== slot) return;
    const now = this.#s.nowMs();
    if (!slot.outgoing) {
      // dial-back: the node should connect to us, but it may not know us (yet)
      if (this.selfAddress === null) return;
      const every = this.#s.connectionRetryTimeMs;
      const due = Math.max(
        slot.unconnectedSinceMs + every,
        slot.lastAttemptMs === null ? 0 : slot.lastAttemptMs + every,
      );
      if (now < due) {
        this.#scheduleRetry(slot, due - now);
        return;
      }
      this.#startDial(slot, now);
      return;
    }
    // exponential backoff from 100 ms up to connectionRetryTime (pysyncobj waits the full period
    // every time, so a restarted peer stayed unreachable for up to 5 s)
    // (a peer that closes on our hello is up but does not know us yet — e.g. our `add` is still
    // being replicated — so it is retried every 250 ms rather than backed off)
    const failures = Math.min(16, slot.consecutiveFailures);
    const backoff = slot.rejections > 0 && failures === 0 ? 250 : RETRY_BACKOFF_BASE_MS * 2 ** failures;
    const retryMs = Math.max(50, Math.min(this.#s.connectionRetryTimeMs, backoff));
    if (slot.lastAttemptMs !== null && now - slot.lastAttemptMs < retryMs) {
      this.#scheduleRetry(slot, slot.lastAttemptMs + retryMs - now);
      return;
    }
    this.#startDial(slot, now);
  }

  #startDial(slot: NodeSlot, now: number): void {
    slot.lastAttemptMs = now;
    slot.attempts++;
    slot.resolving = true;
    const lookup = this.#resolver.resolve(slot.target.host).then(
      (ip) => this.#dial(slot, ip, null),
      (err: unknown) => this.#dial(slot, null, err),
    );
    this.#lookups.add(lookup);
    void lookup.finally(() => this.#lookups.delete(lookup));
  }

  #scheduleRetry(slot: NodeSlot, delayMs: number): void {
    if (slot.retryTimer || !this.#running) return;
    slot.retryTimer = setTimeout(
      () => {
        slot.retryTimer = null;
        this.#connect(slot);
      },
      Math.max(1, Math.ceil(delayMs)),
    );
  }

  #dial(slot: NodeSlot, ip: string | null, err: unknown): void {
    slot.resolving = false;
    if (!this.#running || this.#nodes.get(slot.address) !== slot || slot.conn !== null) return;
    if (ip === null) {
      const why = err instanceof Error ? err.message : 'no address';
      this.#connectFailed(slot, `cannot resolve host ${JSON.stringify(slot.target.host)}: ${why}`);
      this.#connect(slot);
      return;
    }
    let socket: Socket;
    try {
      socket = netConnect({ host: ip, port: slot.target.port });
    } catch (e) {
      this.#connectFailed(slot, `connect(${ip}:${slot.target.port}) failed: ${(e as Error).message}`);
      this.#connect(slot);
      return;
    }
    const conn = new Connection(
      socket,
      this.#connectionConfig(
        'connector',
        slot.address,
        slot.readonlyHello && this.selfAddress !== null
          ? 'readonly'
          : slot.outgoing || this.selfAddress === null
            ? (this.selfAddress ?? 'readonly')
            : `${DIAL_BACK_HELLO_PREFIX}${this.selfAddress}`,
      ),
      this.#events,
    );
    conn.peer = slot.address;
    if (slot.readonlyHello && this.selfAddress !== null) this.#readonlyLinks.add(conn);
    slot.conn = conn;
  }

  #connectFailed(slot: NodeSlot, reason: string): void {
    slot.consecutiveFailures++;
    slot.totalFailures++;
    slot.lastError = reason;
    // a failed dial-back is no news: the node is expected to connect to us
    const level: LogLevel = slot.consecutiveFailures === 1 && slot.outgoing ? 'warn' : 'debug';
    this.#log[level](
      {
        peer: slot.address,
        err: reason,
        failures: slot.consecutiveFailures,
        retryInMs: this.#s.connectionRetryTimeMs,
      },
      slot.consecutiveFailures === 1
        ? 'cannot connect to node; retrying (further failures are logged at debug level)'
        : 'cannot connect to node; retrying',
    );
  }

  #onOpen(conn: Connection): void {
    if (this.#destroyed) return;
    const slot = conn.peer === null ? undefined : this.#nodes.get(conn.peer);
    if (!slot || slot.conn !== conn) {
      conn.close('superseded before the handshake completed', 'debug');
      return;
    }
    if (!slot.outgoing && !this.#readonlyLinks.has(conn)) {
      // a dial-back: reported once the node shows that it keeps it (its first ping or message); a
      // node that knows us closes it and dials us, a pysyncobj node closes it
      this.#openedDialBacks.add(conn);
      this.#greet(conn);
      return;
    }
    this.#reportOutgoing(conn, slot);
  }

  #onFirstPing(conn: Connection): void {
    const slot = conn.peer === null ? undefined : this.#nodes.get(conn.peer);
    if (slot && slot.conn === conn && this.#readonlyLinks.has(conn)) {
      // a raftdcs node (it pings) took us for read-only: it accepts our address, so use that
      slot.readonlyHello = false;
      slot.lastAttemptMs = null;
      conn.close('a raftdcs node on a read-only link: connecting with our address', 'info');
      return;
    }
    this.#onDialBackKept(conn);
  }

  /** The first ping or message on a dial-back connection: the node keeps it. */
  #onDialBackKept(conn: Connection): void {
    if (this.#destroyed || conn.reported || conn.role !== 'connector' || conn.phase !== 'open') return;
    const slot = conn.peer === null ? undefined : this.#nodes.get(conn.peer);
    if (slot && slot.conn === conn) this.#reportOutgoing(conn, slot);
  }

  #reportOutgoing(conn: Connection, slot: NodeSlot): void {
    conn.reported = true;
    const failures = slot.consecutiveFailures;
    slot.consecutiveFailures = 0;
    // (a node whose address is greater dials us itself once it knows us: no probe needed)
    if (this.#readonlyLinks.has(conn) && slot.outgoing) {
      if (slot.probeTimer) clearTimeout(slot.probeTimer);
      slot.probeTimer = setTimeout(() => {
        slot.probeTimer = null;
        if (slot.conn !== conn || this.#destroyed) return;
        slot.readonlyHello = false;
        slot.probing = true;
        slot.lastAttemptMs = null;
        conn.close('read-only link: trying our address again (does the node know us now?)', 'debug');
      }, this.#s.readonlyProbeMs);
      slot.probeTimer.unref?.();
    }
    this.#log[slot.rejections > 0 ? 'debug' : 'info'](
      {
        peer: slot.address,
        direction: 'out',
        ...(slot.outgoing ? {} : { dialBack: true }),
        encrypted: !conn.plain,
        ...(failures ? { afterFailures: failures } : {}),
      },
      'connected to node',
    );
    this.#greet(conn);
    this.#call('onPeerConnected', () => this.#handler.onPeerConnected(slot.address, false));
  }

  /** The first ping, right after binding: tells a raftdcs peer that we ping. */
  #greet(conn: Connection): void {
    if (this.#s.keepalivePingIntervalMs > 0) conn.sendPing();
  }

  // ------------------------------------------------------------------------------------------
  // incoming connections

  async #bind(selfAddress: string): Promise<void> {
    const where = listenAddress(selfAddress, this.#s.bindAddress, this.#s.defaultBindHost);
    const label = `${where.host.includes(':') ? `[${where.host}]` : where.host}:${where.port}`;
    let attempts = 0;
    await new Promise<void>((resolve, reject) => {
      this.#abortStart = reject;
      const attempt = async (): Promise<void> => {
        this.#bindTimer = null;
        if (this.#destroyed) return;
        attempts++;
        try {
          const server = await this.#listenOnce(where);
          if (this.#destroyed) {
            server.close();
            return;
          }
          this.#server = server;
          const a = server.address();
          this.#listening = a && typeof a === 'object' ? { host: a.address, port: a.port } : where;
          this.#log.info({ address: label, attempts }, 'listening');
          this.#abortStart = null;
          resolve();
        } catch (e) {
          if (this.#destroyed) return;
          const err = e as NodeJS.ErrnoException;
          const max = this.#s.maxBindRetries;
          this.#log.error(
            { address: label, err: err.message, code: err.code, attempt: attempts, maxBindRetries: max },
            'cannot bind the listening socket',
          );
          if (max > 0 && attempts >= max) {
            this.#abortStart = null;
            reject(
              new TransportError(
                TransportErrorCode.BindFailed,
                `cannot listen on ${label} after ${attempts} attempt(s): ${err.message}`,
                label,
                e,
              ),
            );
            return;
          }
          this.#bindTimer = setTimeout(() => void attempt(), this.#s.bindRetryTimeMs);
        }
      };
      void attempt();
    });
  }

  async #listenOnce(where: HostPort): Promise<Server> {
    let host = where.host;
    if (host !== '0.0.0.0' && !isIpLiteral(host)) {
      const ip = await this.#resolver.resolve(host);
      if (ip === null) throw new Error(`cannot resolve bind host ${JSON.stringify(host)}`);
      host = ip;
    }
    const server = createServer((socket) => this.#onAccept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: where.port }, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((e: unknown) => {
      server.close(() => {});
      throw e;
    });
    server.on('error', (err) => this.#log.error({ err: err.message }, 'listening socket error'));
    return server;
  }

  #onAccept(socket: Socket): void {
    if (!this.#running) {
      socket.destroy();
      return;
    }
    const from = `${socket.remoteAddress}:${socket.remotePort}`;
    const unpolledMs = this.#s.nowMs() - this.#lastPollMs;
    if (unpolledMs > this.#s.connectionTimeoutMs) {
      // it may have waited in the accept queue through our stall, its frames with it
      this.#log.warn(
        {
          peer: from,
          unpolledMs: Math.round(unpolledMs),
          connectionTimeoutMs: this.#s.connectionTimeoutMs,
        },
        'incoming connection closed unread: our event loop did not poll for longer than connectionTimeoutMs (stopped or blocked), so what it carries may be stale',
      );
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this.#connectionConfig('acceptor', from), this.#events);
    this.#unbound.add(conn);
    this.#log.debug({ peer: from }, 'incoming connection');
  }

  /** The first application message of an accepted connection: who is it? */
  #onHello(conn: Connection, message: PyValue): void {
    if (Array.isArray(message)) {
      this.#onUtility(conn, message);
      return;
    }
    if (typeof message === 'string') {
      if (message === 'readonly') {
        this.#bindReadonly(conn);
        return;
      }
      const dialBack = message.startsWith(DIAL_BACK_HELLO_PREFIX);
      const address = dialBack ? message.slice(DIAL_BACK_HELLO_PREFIX.length) : message;
      const slot = this.#nodes.get(address);
      if (slot) {
        if (dialBack && slot.outgoing) {
          // we know it and dial it ourselves: the pair's connection stays the one the greater
          // address opens. Take the dial-back as a call to dial now (a connection of ours in
          // progress or open is left alone: a dead one is found by its silence).
          conn.close('dial-back from a node we dial ourselves: closing it and dialling', 'debug');
          if (slot.conn === null && !slot.resolving) {
            if (slot.retryTimer) clearTimeout(slot.retryTimer);
            slot.retryTimer = null;
            slot.lastAttemptMs = null;
            slot.consecutiveFailures = 0;
            this.#connect(slot);
          }
          return;
        }
        this.#bindNode(conn, slot);
        return;
      }
      if (this.#isVotingAddress(address)) {
        this.#bindStranger(conn, address);
        return;
      }
      conn.close(`unknown node ${describe(message)} (not a node address): closing`, 'warn');
      return;
    }
    conn.close(
      `unexpected first message ${describe(message)}: expected a node address, 'readonly' or a utility command list`,
      'warn',
    );
  }

  /** A `host:port` other than ours: a voting node we may not know yet. */
  #isVotingAddress(address: string): boolean {
    if (this.selfAddress === null || address === this.selfAddress || address === 'readonly') return false;
    try {
      splitHostPort(address);
      return true;
    } catch {
      return false;
    }
  }

  /** A voting node that is not in our node set (it may lead us before we learn that it was added). */
  #bindStranger(conn: Connection, address: string): void {
    this.#unbound.delete(conn);
    const old = this.#strangers.get(address);
    this.#strangers.set(address, conn);
    conn.peer = address;
    conn.label = address;
    if (old) {
      old.close('replaced by a new connection from the same node', 'info');
      if (old.reported) {
        old.reported = false;
        this.#call('onPeerDisconnected', () => this.#handler.onPeerDisconnected(address));
        if (this.#destroyed || this.#strangers.get(address) !== conn || conn.phase !== 'open') return;
      }
    }
    conn.reported = true;
    this.#log.info(
      { peer: address, direction: 'in', encrypted: !conn.plain },
      'unknown node connected (not in our configuration; it may lead a later one)',
    );
    // always a first ping: a dial-back connector reports the connection once it sees that we keep it
    conn.sendPing();
    this.#call('onPeerConnected', () => this.#handler.onPeerConnected(address, false));
  }

  #bindNode(conn: Connection, slot: NodeSlot): void {
    this.#unbound.delete(conn);
    const old = slot.conn;
    slot.conn = conn;
    conn.peer = slot.address;
    conn.label = slot.address;
    if (old) {
      old.close(
        old.role === 'connector'
          ? 'superseded by an incoming connection from the same node'
          : 'replaced by a new connection from the same node',
        'info',
      );
      if (old.reported) {
        old.reported = false;
        this.#call('onPeerDisconnected', () => this.#handler.onPeerDisconnected(slot.address));
        if (this.#destroyed || this.#nodes.get(slot.address) !== slot || conn.phase !== 'open') return;
      }
    }
    if (slot.outgoing) {
      this.#log.warn(
        { peer: slot.address, self: this.selfAddress },
        'node connected to us although our address is greater (do both sides spell the addresses alike?)',
      );
    }
    conn.reported = true;
    slot.consecutiveFailures = 0;
    // it dialled us: it knows us
    slot.rejections = 0;
    slot.readonlyHello = false;
    slot.probing = false;
    this.#log.info({ peer: slot.address, direction: 'in', encrypted: !conn.plain }, 'node connected');
    this.#greet(conn);
    this.#call('onPeerConnected', () => this.#handler.onPeerConnected(slot.address, false));
  }

  #bindReadonly(conn: Connection): void {
    this.#unbound.delete(conn);
    const id = String(this.#readonlyCounter++);
    conn.peer = id;
    conn.readonlyPeer = true;
    const from = conn.label;
    conn.label = `readonly:${id}`;
    conn.reported = true;
    this.#readonlyPeers.set(id, conn);
    this.#log.info({ peer: conn.label, from, encrypted: !conn.plain }, 'read-only peer connected');
    this.#greet(conn);
    this.#call('onPeerConnected', () => this.#handler.onPeerConnected(id, true));
  }

  #onUtility(conn: Connection, request: PyValue[]): void {
    const check = checkUtilityRequest(request, this.#s.utilityCommands);
    if (!check.ok) {
      this.#log.warn({ peer: conn.label, request: describe(request) }, `bad utility request: ${check.reply}`);
      conn.sendValue(check.reply);
      return;
    }
    const { command, args } = check;
    this.#log.debug({ peer: conn.label, command }, 'utility command');
    conn.utilityPending++;
    let replied = false;
    const reply = (value: PyValue): void => {
      if (replied) {
        this.#log.warn({ peer: conn.label, command }, 'utility reply sent twice; ignoring the second');
        return;
      }
      replied = true;
      conn.utilityPending--;
      if (this.#destroyed || conn.phase !== 'open') {
        this.#log.debug({ peer: conn.label, command }, 'utility reply dropped: connection closed');
        return;
      }
      conn.sendValue(value);
    };
    try {
      this.#handler.onUtilityCommand(command, args, reply);
    } catch (e) {
      // pysyncobj replies str(exception) when a utility handler raises
      this.#log.warn(
        { peer: conn.label, command, err: e instanceof Error ? e.message : String(e) },
        'utility handler threw; replying with its message',
      );
      if (!replied) reply(e instanceof Error ? e.message : String(e));
    }
  }

  // ------------------------------------------------------------------------------------------
  // connection events

  #onConnMessage(conn: Connection, message: PyValue): void {
    if (this.#destroyed) return;
    if (conn.reported && conn.peer !== null) {
      const peer = conn.peer;
      this.#call('onMessage', () => this.#handler.onMessage(peer, message));
      return;
    }
    if (conn.role === 'acceptor' && this.#unbound.has(conn)) {
      this.#onHello(conn, message);
      return;
    }
    if (conn.role === 'connector' && conn.peer !== null) {
      // a dial-back kept by the node (a message before any ping)
      this.#onDialBackKept(conn);
      const peer = conn.peer;
      if (conn.reported && !this.#destroyed)
        this.#call('onMessage', () => this.#handler.onMessage(peer, message));
    }
  }

  #onConnClose(conn: Connection): void {
    this.#unbound.delete(conn);
    if (this.#destroyed) return;
    if (conn.readonlyPeer) {
      this.#onReadonlyPeerClosed(conn);
      return;
    }
    if (conn.peer !== null && this.#strangers.get(conn.peer) === conn) {
      this.#onStrangerClosed(conn, conn.peer);
      return;
    }
    const slot = conn.peer === null ? undefined : this.#nodes.get(conn.peer);
    if (!slot || slot.conn !== conn) {
      // an unbound, replaced, superseded or dropped connection
      const level = conn.closeLevel;
      this.#log[level === 'info' ? 'debug' : level](closeLogContext(conn), 'connection closed');
      return;
    }
    slot.conn = null;
    const handshakeFramesIn = conn.plain ? 0 : 1;
    if (!conn.reported && this.#openedDialBacks.has(conn) && conn.framesReceived <= handshakeFramesIn) {
      this.#onDialBackUnanswered(slot, conn);
    } else if (!conn.reported) {
      // an outgoing attempt that did not complete its handshake
      this.#connectFailed(slot, conn.closeError?.message ?? conn.closeReason ?? 'closed');
    } else {
      this.#onNodeDisconnected(slot, conn);
    }
    if (this.#nodes.get(slot.address) === slot) this.#connect(slot);
  }

  #onReadonlyPeerClosed(conn: Connection): void {
    const id = conn.peer as string;
    if (this.#readonlyPeers.get(id) === conn) this.#readonlyPeers.delete(id);
    this.#log[conn.closeLevel](closeLogContext(conn), 'read-only peer disconnected');
    if (conn.reported) {
      conn.reported = false;
      this.#call('onPeerDisconnected', () => this.#handler.onPeerDisconnected(id));
    }
  }

  #onStrangerClosed(conn: Connection, address: string): void {
    this.#strangers.delete(address);
    this.#log[conn.closeLevel](closeLogContext(conn), 'unknown node disconnected');
    if (conn.reported) {
      conn.reported = false;
      this.#call('onPeerDisconnected', () => this.#handler.onPeerDisconnected(address));
    }
  }

  /**
   * A dial-back closed unanswered: a raftdcs node that knows us dials us now; a pysyncobj node
   * that does not know us never will — if we are still unconnected at the next dial-back.
   */
  #onDialBackUnanswered(slot: NodeSlot, conn: Connection): void {
    slot.rejections++;
    slot.lastError = `dial-back closed by the peer (${conn.closeReason})`;
    this.#log.debug({ peer: slot.address, rejections: slot.rejections }, 'dial-back closed by the node');
    this.#considerReadonlyHello(slot, conn);
  }

  /** A reported (connected) node's connection closed: count a refusal, tell the handler. */
  #onNodeDisconnected(slot: NodeSlot, conn: Connection): void {
    conn.reported = false;
    slot.unconnectedSinceMs = this.#s.nowMs();
    const handshakeFrames = conn.plain ? 0 : 1;
    const silent = conn.role === 'connector' && conn.framesReceived <= handshakeFrames;
    if (silent && this.#s.nowMs() - conn.createdMs < this.#s.connectionTimeoutMs) {
      // closed by the peer right after our hello: probably we are not in its configuration
      slot.rejections++;
      slot.totalFailures++;
      slot.lastError = `closed by the peer right after our hello (${conn.closeReason})`;
      this.#log[slot.rejections === 1 && slot.outgoing && !slot.probing ? 'warn' : 'debug'](
        { ...closeLogContext(conn), rejections: slot.rejections },
        'node closed the connection before sending anything (are we in its configuration?)',
      );
      this.#considerReadonlyHello(slot, conn);
    } else {
      slot.rejections = 0;
      this.#log[conn.closeLevel](closeLogContext(conn), 'node disconnected');
    }
    // a probe is over once a connection with our address has been answered or refused
    if (!this.#readonlyLinks.has(conn)) slot.probing = false;
    this.#call('onPeerDisconnected', () => this.#handler.onPeerDisconnected(slot.address));
  }

  /** After our hello was refused: switch to (or back from) the read-only hello. */
  #considerReadonlyHello(slot: NodeSlot, conn: Connection): void {
    if (this.selfAddress === null) return;
    if (this.#readonlyLinks.has(conn)) {
      // refused as read-only too: not the pysyncobj rule we work around; our address again
      slot.readonlyHello = false;
      return;
    }
    if (slot.rejections >= 2 || slot.probing) {
      slot.readonlyHello = true;
      slot.lastAttemptMs = null; // at once
      if (!slot.probing)
        this.#log.info(
          { peer: slot.address, rejections: slot.rejections },
          "node does not know us: connecting as 'readonly' so that it can follow us until it applies the entry that adds us",
        );
    }
  }

  // ------------------------------------------------------------------------------------------
  // timers

  /**
   * Runs in the check phase, so a poll phase ran since `since` (when the sweep scheduled it): what
   * was in the sockets then has been read, and bytes read from now on arrived after `since`. (Not
   * "now": another immediate queued before this one may have blocked the loop since that poll.)
   */
  #witnessPoll(since: number): void {
    this.#pollWitness = null;
    if (!this.#destroyed) this.#lastPollMs = Math.max(this.#lastPollMs, since);
  }

  /** Keepalive pings, dead-connection detection, handshake and connect timeouts. */
  #sweep(): void {
    if (this.#destroyed) return;
    const now = this.#s.nowMs();
    // runs after the next poll phase (not now: a stall may have just ended, its bytes still unread);
    // replaces a witness still pending from before a stall, which could only vouch for that earlier time
    if (this.#pollWitness) clearImmediate(this.#pollWitness);
    this.#pollWitness = setImmediate(() => this.#witnessPoll(now));
    // After a stall of our own event loop (GC, a long synchronous job, SIGSTOP) the bytes that arrived
    // meanwhile may still be unread: timers can run before I/O. Judge no connection on its read time
    // now; the poll phase reads those bytes (a connection they are too old for is closed unread
    // there, see Connection) and the next round judges the rest.
    const gapMs = now - this.#lastSweepMs;
    const stalled = gapMs > 2 * this.#sweepIntervalMs + 50;
    this.#lastSweepMs = now;
    this.#plainFrameCache = null; // a broadcast happens within one tick; do not pin a big frame
    if (stalled)
      this.#log[gapMs > this.#s.connectionTimeoutMs ? 'warn' : 'debug'](
        { gapMs: Math.round(gapMs), connectionTimeoutMs: this.#s.connectionTimeoutMs },
        'event loop stalled; timeouts checked next round',
      );
    const timeout = this.#s.connectionTimeoutMs;
    const pingEvery = this.#s.keepalivePingIntervalMs;
    for (const conn of this.#allConnections()) {
      switch (conn.phase) {
        case 'closed':
          continue;
        case 'connecting':
          if (!stalled && now - conn.createdMs > this.#s.connectTimeoutMs) {
            conn.close(`TCP connect timed out after ${this.#s.connectTimeoutMs} ms`, 'info');
          }
          continue;
      }
      if (!conn.reported) {
        // handshake or hello still missing, or an idle utility connection
        if (
          !stalled &&
          conn.utilityPending === 0 &&
          now - Math.max(conn.lastReadMs, conn.lastWriteMs) > timeout
        ) {
          conn.close(
            conn.phase === 'keys'
              ? `key exchange not completed within ${timeout} ms`
              : `no hello / command within ${timeout} ms`,
            'info',
          );
        }
        continue;
      }
      if (!stalled && conn.peerPings && now - conn.lastReadMs > timeout) {
        conn.close(
          `dead: nothing received for ${Math.round(now - conn.lastReadMs)} ms from a pinging peer`,
          'warn',
        );
        continue;
      }
      if (pingEvery > 0 && now - conn.lastWriteMs >= pingEvery) conn.sendPing();
    }
  }

  // ------------------------------------------------------------------------------------------
  // helpers

  #allConnections(): Connection[] {
    const out: Connection[] = [
      ...this.#unbound,
      ...this.#readonlyPeers.values(),
      ...this.#strangers.values(),
    ];
    for (const slot of this.#nodes.values()) if (slot.conn) out.push(slot.conn);
    return out;
  }

  #connectionConfig(role: 'connector' | 'acceptor', label: string, hello?: PyValue): ConnectionConfig {
    const c: ConnectionConfig = {
      role,
      fernet: this.#fernet,
      maxFrameBytes: this.#s.maxFrameBytes,
      maxInflatedBytes: this.#s.maxInflatedBytes,
      maxPendingBytes: this.#s.maxPendingBytesPerPeer,
      rejectDecreasingTokenTimestamps: this.#s.rejectDecreasingTokenTimestamps,
      tcpKeepAliveInitialDelayMs: this.#s.tcpKeepAliveInitialDelayMs,
      nowMs: this.#s.nowMs,
      label,
      logger: this.#log,
      staleness: this.#staleness,
    };
    if (hello !== undefined) c.hello = hello;
    if (this.#tokenClock) c.tokenClock = this.#tokenClock;
    if (this.#random) c.random = this.#random;
    return c;
  }

  /** Run a handler callback: never after destroy(); a throw is logged and handed to onHandlerError. */
  #call(what: string, fn: () => void): void {
    if (this.#destroyed) return;
    try {
      fn();
    } catch (e) {
      this.#log.error(
        { callback: what, err: e instanceof Error ? e.message : String(e) },
        'transport handler threw',
      );
      this.#onHandlerError(e);
    }
  }

  async #drainLookups(): Promise<void> {
    if (this.#lookups.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#lookups]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, DNS_DRAIN_ON_DESTROY_MS);
      }),
    ]);
    clearTimeout(timer);
  }
}

function describe(v: PyValue): string {
  const r = pyRepr(v);
  return r.length > 80 ? `${r.slice(0, 77)}...` : r;
}

/** The log fields of a closed connection: peer, why it closed and the socket error, if any. */
function closeLogContext(conn: Connection): Record<string, unknown> {
  return {
    peer: conn.label,
    reason: conn.closeReason,
    ...(conn.closeError ? { err: conn.closeError.message } : {}),
  };
}
