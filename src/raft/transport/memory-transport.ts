/**
 * An in-process transport for tests and examples: SyncObj instances on one MemoryNetwork exchange
 * messages through the real pickle codec (encode → bytes → decode), delivered asynchronously in
 * order per link. Links can be cut to simulate partitions. Pass `network.factory` as
 * `deps.transport` of each node.
 */

import { decodePickle, encodePickle } from '../../wire/pickle/index.js';
import type { PyValue } from '../../wire/value.js';
import type { PeerId, Transport, TransportHandler } from './types.js';

export class MemoryNetwork {
  readonly transports = new Map<string, MemoryTransport>();
  private readonly cut = new Set<string>();
  private readonlyCounter = 0;

  factory = (handler: TransportHandler, _conf: unknown, self: string | null): Transport => {
    const id = self ?? `ro:${this.readonlyCounter++}`;
    const t = new MemoryTransport(this, id, self === null, handler);
    this.transports.set(id, t);
    return t;
  };

  private key(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  isCut(a: string, b: string): boolean {
    return this.cut.has(this.key(a, b));
  }

  /** Cut (or restore) the link between two transports; both sides see the disconnect. */
  setCut(a: string, b: string, cut: boolean): void {
    if (cut) this.cut.add(this.key(a, b));
    else this.cut.delete(this.key(a, b));
    this.refresh();
  }

  /** Isolate one node from everybody (or heal it). */
  isolate(a: string, isolated: boolean): void {
    for (const b of this.transports.keys())
      if (b !== a) {
        if (isolated) this.cut.add(this.key(a, b));
        else this.cut.delete(this.key(a, b));
      }
    this.refresh();
  }

  refresh(): void {
    for (const t of this.transports.values()) t.refresh();
  }
}

export class MemoryTransport implements Transport {
  private started = false;
  private destroyed = false;
  private readonly nodes = new Set<string>();
  private readonly connected = new Set<string>();

  constructor(
    private readonly net: MemoryNetwork,
    readonly id: string,
    readonly readonly: boolean,
    private readonly handler: TransportHandler,
  ) {}

  async start(): Promise<void> {
    this.started = true;
    this.net.refresh();
  }

  addNode(address: PeerId): void {
    this.nodes.add(address);
    this.net.refresh();
  }

  dropNode(address: PeerId): void {
    this.nodes.delete(address);
    this.net.refresh();
  }

  /** which peers this transport should be connected to right now */
  private wanted(): Set<string> {
    const out = new Set<string>();
    if (!this.started || this.destroyed) return out;
    for (const [id, other] of this.net.transports) {
      if (id === this.id || !other.started || other.destroyed) continue;
      if (this.net.isCut(this.id, id)) continue;
      if (this.readonly && other.readonly) continue;
      // voting nodes talk when each knows the other; read-only ones talk to the nodes they know
      const iKnow = this.nodes.has(id);
      const theyKnow = other.nodes.has(this.id);
      if (this.readonly ? iKnow : other.readonly ? theyKnow : iKnow && theyKnow) out.add(id);
    }
    return out;
  }

  refresh(): void {
    const want = this.wanted();
    for (const p of [...this.connected]) {
      if (!want.has(p)) {
        this.connected.delete(p);
        if (!this.destroyed) this.handler.onPeerDisconnected(p);
      }
    }
    for (const p of want) {
      if (!this.connected.has(p)) {
        this.connected.add(p);
        const other = this.net.transports.get(p);
        this.handler.onPeerConnected(p, other?.readonly ?? false);
      }
    }
  }

  send(peer: PeerId, message: PyValue): boolean {
    return this.sendPickled(peer, encodePickle(message));
  }

  sendPickled(peer: PeerId, pickle: Uint8Array): boolean {
    if (!this.connected.has(peer)) return false;
    const other = this.net.transports.get(peer);
    if (!other) return false;
    const bytes = Buffer.from(pickle);
    setImmediate(() => other.deliver(this.id, bytes));
    return true;
  }

  private deliver(from: string, bytes: Uint8Array): void {
    if (this.destroyed || !this.connected.has(from)) return;
    this.handler.onMessage(from, decodePickle(bytes));
  }

  isConnected(peer: PeerId): boolean {
    return this.connected.has(peer);
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    this.connected.clear();
    this.net.transports.delete(this.id);
    this.net.refresh();
  }
}
