/**
 * The simulated network and the Transport each node life gets from it. Connections follow the
 * transports' rules (tcp-transport.ts): one connection per pair; a read-only node dials the voters
 * it knows; a voter dials the voters it knows whose address is smaller, and a raftdcs voter also the
 * greater ones (its dial-back; the delay before it is not modelled); a raftdcs voter accepts any
 * voter or read-only node, a pysyncobj voter only a voter it knows or a read-only node. Links take a random time
 * to set up (DNS, TCP and the handshake), and break when a process stops or a partition cuts both
 * directions. Messages travel as the runtime's real pickle bytes and are decoded by the real codec
 * on arrival; the network delays, drops, duplicates and reorders them — or, on FIFO (TCP-like)
 * links, delivers them in order and loses only what was in flight when the connection broke.
 */
import { shouldConnect } from '../../src/raft/transport/address.js';
import type { Transport, TransportHandler } from '../../src/raft/transport/types.js';
import { decodePickle } from '../../src/wire/pickle/index.js';
import type { PyValue } from '../../src/wire/value.js';
import type { Rng } from './rng.js';
import { runIn, type SimClock, type SimLife } from './seams.js';

export interface NetworkProfile {
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** per-link FIFO delivery (TCP-like) instead of independent delays */
  readonly fifo: boolean;
  readonly dropRate: number;
  readonly dupRate: number;
  /** a connection whose bytes waited unread longer than this is dropped (after a pause) */
  readonly connectionTimeoutMs: number;
  /** time to (re)establish a connection */
  readonly connectMinMs: number;
  readonly connectMaxMs: number;
  /** some directed links are this much slower at most (one follower far ahead of another) */
  readonly slowLinkMaxMs?: number;
}

/** Whether a message may be duplicated by the network (forwarded submissions may be spared). */
export type DuplicateFilter = (message: PyValue) => boolean;

interface Link {
  /** the connection is established (both ends told) */
  up: boolean;
  /** a set-up is scheduled */
  connecting: boolean;
  /** incremented each time the connection is established */
  generation: number;
}

export class SimNetwork {
  private readonly transports = new Map<string, SimTransport>();
  private readonly links = new Map<string, Link>();
  /** one-way blocks "a>b": nothing from a reaches b */
  readonly blocked = new Set<string>();
  private readonly fifoClock = new Map<string, number>();
  private readonly decoded = new WeakMap<Uint8Array, PyValue>();
  /** faults (drops, duplicates) are off once the network is healed */
  lossy = true;
  messagesSent = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly rng: Rng,
    private readonly profile: NetworkProfile,
    private readonly mayDuplicate: DuplicateFilter,
  ) {}

  /** The transport of a new node life (`readonlyId` for a node without a self address). */
  transport(
    nodeId: string,
    voter: boolean,
    handler: TransportHandler,
    life: SimLife,
    kind: 'raftdcs' | 'pysyncobj' = 'raftdcs',
  ): SimTransport {
    return new SimTransport(this, nodeId, voter, handler, (fn) => runIn(this.clock, life, fn), kind);
  }

  /** @internal */
  register(t: SimTransport): void {
    this.transports.set(t.nodeId, t);
    this.refresh();
  }

  /** @internal */
  unregister(t: SimTransport): void {
    if (this.transports.get(t.nodeId) === t) this.transports.delete(t.nodeId);
    this.refresh();
  }

  private key(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  private link(a: string, b: string): Link {
    const k = this.key(a, b);
    let l = this.links.get(k);
    if (!l) {
      l = { up: false, connecting: false, generation: 0 };
      this.links.set(k, l);
    }
    return l;
  }

  /** Whether a connection between a and b can exist now. */
  private possible(a: SimTransport, b: SimTransport): boolean {
    if (!a.voter && !b.voter) return false;
    if (this.blocked.has(`${a.nodeId}>${b.nodeId}`) && this.blocked.has(`${b.nodeId}>${a.nodeId}`))
      return false;
    return this.dials(a, b) || this.dials(b, a);
  }

  /** Whether `a` opens a connection to `b` that `b` keeps. */
  private dials(a: SimTransport, b: SimTransport): boolean {
    if (!a.wants(b.nodeId)) return false;
    if (!a.voter) return true; // read-only: dials every voter it knows, and voters accept it
    // a voter dials a smaller address; a raftdcs voter also a greater one (dial-back)
    if (!shouldConnect(a.nodeId, b.nodeId) && a.kind !== 'raftdcs') return false;
    // a raftdcs voter accepts a voter it does not know (it may lead us); pysyncobj closes it
    return b.wants(a.nodeId) || b.kind === 'raftdcs';
  }

  /** @internal `t` dropped `peer`: its end of their connection closes (the peer may connect again). */
  dropped(t: SimTransport, peer: string): void {
    const l = this.links.get(this.key(t.nodeId, peer));
    if (l?.up) {
      l.up = false;
      this.transports.get(peer)?.disconnected(t.nodeId);
    }
    this.refresh();
  }

  /** Re-evaluate every connection: break the impossible ones, start setting up the possible ones. */
  refresh(): void {
    const ts = [...this.transports.values()];
    for (const [k, l] of this.links) {
      if (!l.up) continue;
      const [a, b] = k.split('|') as [string, string];
      const ta = this.transports.get(a);
      const tb = this.transports.get(b);
      if (ta && tb && this.possible(ta, tb)) continue;
      l.up = false;
      ta?.disconnected(b);
      tb?.disconnected(a);
    }
    for (let i = 0; i < ts.length; i++) {
      for (let j = i + 1; j < ts.length; j++) {
        const a = ts[i] as SimTransport;
        const b = ts[j] as SimTransport;
        if (!this.possible(a, b)) continue;
        const l = this.link(a.nodeId, b.nodeId);
        if (l.up || l.connecting) continue;
        l.connecting = true;
        const delay = this.rng.range(this.profile.connectMinMs, this.profile.connectMaxMs);
        this.clock.at(this.clock.now + delay, () => {
          l.connecting = false;
          const ta = this.transports.get(a.nodeId);
          const tb = this.transports.get(b.nodeId);
          if (l.up || !ta || !tb || !this.possible(ta, tb)) return;
          l.up = true;
          l.generation++;
          ta.connected(tb.nodeId, !tb.voter);
          tb.connected(ta.nodeId, !ta.voter);
        });
      }
    }
  }

  get now(): number {
    return this.clock.now;
  }

  get connectionTimeoutMs(): number {
    return this.profile.connectionTimeoutMs;
  }

  /** Close the connection between a and b (both ends told); it is set up again when possible. */
  breakLink(a: string, b: string): void {
    const l = this.links.get(this.key(a, b));
    if (!l?.up) return;
    l.up = false;
    this.transports.get(a)?.disconnected(b);
    this.transports.get(b)?.disconnected(a);
    this.refresh();
  }

  isUp(a: string, b: string): boolean {
    return this.links.get(this.key(a, b))?.up ?? false;
  }

  private readonly extraDelay = new Map<string, number>();

  /** The fixed extra delay of the link from `a` to `b` (SimProfile.slowLinkMaxMs), drawn at its first use. */
  private slowness(a: string, b: string): number {
    const max = this.profile.slowLinkMaxMs ?? 0;
    if (max <= 0) return 0;
    const k = `${a}>${b}`;
    let d = this.extraDelay.get(k);
    if (d === undefined) {
      d = this.rng.chance(0.3) ? this.rng.range(0, max) : 0;
      this.extraDelay.set(k, d);
    }
    return d;
  }

  /** @internal a message from `from` to `to` (pickle bytes) */
  send(from: SimTransport, to: string, pickle: Uint8Array): boolean {
    const l = this.links.get(this.key(from.nodeId, to));
    if (!l?.up) return false;
    this.messagesSent++;
    if (this.blocked.has(`${from.nodeId}>${to}`)) return true;
    const p = this.profile;
    // once healed, links behave like TCP: in order (a chunked dump only arrives whole in order)
    const fifo = p.fifo || !this.lossy;
    const lossy = this.lossy && !p.fifo;
    if (lossy && this.rng.chance(p.dropRate)) return true;
    // the runtime pickles one append_entries once for all its followers: decode it once too
    let value = this.decoded.get(pickle);
    if (value === undefined) {
      value = decodePickle(pickle);
      this.decoded.set(pickle, value);
    }
    const copies = lossy && this.rng.chance(p.dupRate) && this.mayDuplicate(value) ? 2 : 1;
    const generation = l.generation;
    for (let c = 0; c < copies; c++) {
      let at = this.clock.now + this.rng.range(p.minDelayMs, p.maxDelayMs) + this.slowness(from.nodeId, to);
      if (fifo) {
        const k = `${from.nodeId}>${to}`;
        at = Math.max(at, (this.fifoClock.get(k) ?? 0) + 0.001);
        this.fifoClock.set(k, at);
      }
      this.clock.at(at, () => {
        // a connection that broke loses what it carried; datagram-like links deliver whenever a
        // connection is up again
        if (!l.up || (fifo && l.generation !== generation)) return;
        if (this.blocked.has(`${from.nodeId}>${to}`)) return;
        if (process.env.SIM_TRACE && this.clock.now > Number(process.env.SIM_TRACE))
          console.error(
            this.clock.now.toFixed(1),
            from.nodeId,
            '->',
            to,
            JSON.stringify(value, (_k, v) =>
              v instanceof Map
                ? Object.fromEntries(v)
                : v instanceof Uint8Array
                  ? `<${v.length}>`
                  : typeof v === 'bigint'
                    ? String(v)
                    : v,
            ),
          );
        this.transports.get(to)?.deliver(from.nodeId, value);
      });
    }
    return true;
  }
}

/** SIM_TRACE_LINKS=1: connection events and the transport callbacks they cause, on stderr. */
function traceLink(now: number, node: string, what: string, peer: string, ignored: boolean): void {
  if (process.env.SIM_TRACE_LINKS)
    console.error(now.toFixed(1), node, what, peer, ignored ? '(ignored)' : '');
}

export class SimTransport implements Transport {
  private readonly nodes = new Set<string>();
  private readonly peers = new Set<string>();
  private started = false;
  private closed = false;

  constructor(
    private readonly net: SimNetwork,
    readonly nodeId: string,
    readonly voter: boolean,
    private readonly handler: TransportHandler,
    /** runs a callback as the node's process (postponed while it is paused) */
    private readonly asNode: (fn: () => void) => void,
    readonly kind: 'raftdcs' | 'pysyncobj' = 'raftdcs',
  ) {}

  wants(peer: string): boolean {
    return this.nodes.has(peer);
  }

  start(): Promise<void> {
    if (!this.closed) {
      this.started = true;
      this.net.register(this);
    }
    return Promise.resolve();
  }

  addNode(address: string): void {
    if (this.started) traceLink(this.net.now, this.nodeId, 'addNode', address, this.closed);
    if (this.nodes.has(address)) return;
    this.nodes.add(address);
    if (this.started) this.net.refresh();
  }

  dropNode(address: string): void {
    traceLink(this.net.now, this.nodeId, 'dropNode', address, this.closed);
    if (!this.nodes.delete(address)) return;
    // no disconnect callback for a dropped node (the runtime told its core itself)
    this.peers.delete(address);
    if (this.started) this.net.dropped(this, address);
  }

  send(peer: string, message: PyValue): boolean {
    void peer;
    void message;
    throw new Error('the simulator carries pickled messages only (sendPickled)');
  }

  sendPickled(peer: string, pickle: Uint8Array): boolean {
    if (this.closed || !this.peers.has(peer)) return false;
    return this.net.send(this, peer, pickle);
  }

  isConnected(peer: string): boolean {
    return !this.closed && this.peers.has(peer);
  }

  destroy(): Promise<void> {
    this.stop();
    return Promise.resolve();
  }

  /** The process died or stopped: every connection breaks, no callback fires on this side. */
  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.peers.clear();
    this.net.unregister(this);
  }

  /** @internal */
  connected(peer: string, readonly: boolean): void {
    traceLink(this.net.now, this.nodeId, 'link up', peer, this.closed);
    if (this.closed) return;
    // (a raftdcs voter also reports a voter it does not know: tcp-transport's "stranger"; a later
    // addNode keeps that connection)
    this.peers.add(peer);
    this.asNode(() => {
      traceLink(this.net.now, this.nodeId, 'onPeerConnected', peer, this.closed || !this.peers.has(peer));
      if (!this.closed && this.peers.has(peer)) this.handler.onPeerConnected(peer, readonly);
    });
  }

  /** @internal */
  disconnected(peer: string): void {
    traceLink(this.net.now, this.nodeId, 'link down', peer, this.closed);
    if (this.closed || !this.peers.delete(peer)) return;
    this.asNode(() => {
      traceLink(this.net.now, this.nodeId, 'onPeerDisconnected', peer, this.closed);
      if (!this.closed) this.handler.onPeerDisconnected(peer);
    });
  }

  /**
   * @internal a message arrived. A paused process reads it when it resumes — unless it sat unread
   * longer than the connection timeout: then the transport drops the connection unread (pysyncobj's
   * rule, and the TCP transport's), and what the peer sent on it is lost.
   */
  deliver(from: string, value: PyValue): void {
    if (this.closed || !this.peers.has(from)) return;
    const arrived = this.net.now;
    this.asNode(() => {
      if (this.closed || !this.peers.has(from)) return;
      if (this.net.now - arrived > this.net.connectionTimeoutMs) {
        this.net.breakLink(this.nodeId, from);
        return;
      }
      this.handler.onMessage(from, value);
    });
  }
}
