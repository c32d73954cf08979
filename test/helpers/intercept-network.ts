/**
 * A MemoryNetwork with message-level control for tests that need it: every message is shown to an
 * interceptor on arrival at its receiver, which may deliver it, drop it or hold it back (held
 * messages are delivered later, in arrival order, by `release`); a test may also inject a message
 * as if a peer had sent it. Messages stay the decoded Python values of the real pickle codec.
 * Never used outside tests.
 */

import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import type { TransportHandler } from '../../src/raft/transport/types.js';
import type { PyDict, PyValue } from '../../src/wire/value.js';

export type Verdict = 'deliver' | 'drop' | 'hold';

/** What the interceptor sees: the message arriving at `to` from `from`. */
export type Interceptor = (from: string, to: string, message: PyValue) => Verdict;

interface Held {
  readonly from: string;
  readonly to: string;
  readonly message: PyValue;
}

export class InterceptNetwork {
  readonly net = new MemoryNetwork();
  interceptor: Interceptor | null = null;
  private readonly handlers = new Map<string, TransportHandler>();
  private held: Held[] = [];

  /** The transport factory for SyncObjDeps (voting nodes only: the id is the node's address). */
  factory = (handler: TransportHandler, conf: unknown, self: string | null) => {
    if (self === null) return this.net.factory(handler, conf, self);
    this.handlers.set(self, handler);
    const wrapped: TransportHandler = {
      onMessage: (from, message) => {
        const verdict = this.interceptor?.(from, self, message) ?? 'deliver';
        if (verdict === 'drop') return;
        if (verdict === 'hold') {
          this.held.push({ from, to: self, message });
          return;
        }
        handler.onMessage(from, message);
      },
      onPeerConnected: (peer, readonly) => handler.onPeerConnected(peer, readonly),
      onPeerDisconnected: (peer) => handler.onPeerDisconnected(peer),
      onUtilityCommand: (command, args, reply) => handler.onUtilityCommand(command, args, reply),
    };
    return this.net.factory(wrapped, conf, self);
  };

  /** Deliver a message to `to` as if `from` had sent it (on the next turn of the event loop). */
  inject(from: string, to: string, message: PyValue): void {
    setImmediate(() => this.handlers.get(to)?.onMessage(from, message));
  }

  /** Messages held back so far (oldest first). */
  get heldMessages(): readonly Held[] {
    return this.held;
  }

  /** Deliver the held messages that match `which` (all by default), in arrival order. */
  release(which: (h: Held) => boolean = () => true): number {
    const now = this.held.filter(which);
    this.held = this.held.filter((h) => !which(h));
    for (const h of now) this.handlers.get(h.to)?.onMessage(h.from, h.message);
    return now.length;
  }

  isolate(addr: string, isolated: boolean): void {
    this.net.isolate(addr, isolated);
  }

  setCut(a: string, b: string, cut: boolean): void {
    this.net.setCut(a, b, cut);
  }
}

/** The `type` of a pysyncobj message (a dict with a str 'type'), or null. */
export function messageType(message: PyValue): string | null {
  if (!(message instanceof Map)) return null;
  const t = (message as PyDict).get('type');
  return typeof t === 'string' ? t : null;
}
