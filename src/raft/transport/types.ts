/**
 * The seam between the SyncObj runtime and a transport. The runtime hands over Python values
 * (message dicts) and receives them back; the transport owns connections, handshakes,
 * encryption, framing, utility commands and DNS. A test transport can replace the TCP one.
 */
import type { PyValue } from '../../wire/value.js';

export type PeerId = string;

/** What the transport reports to its owner. All callbacks run on the event loop, never re-entrantly. */
export interface TransportHandler {
  /** a Raft message (a dict) from a connected voting node or read-only peer */
  onMessage(peer: PeerId, message: PyValue): void;
  /** a voting node (its address) or a read-only peer (a transport-assigned id) became connected */
  onPeerConnected(peer: PeerId, readonly: boolean): void;
  onPeerDisconnected(peer: PeerId): void;
  /**
   * A utility command arrived on an unknown connection: `command` is the first list element as
   * sent (lower case, e.g. 'status'), `args` the rest. Call `reply` once with the reply value; the
   * transport sends it. Unknown commands are answered by the transport itself.
   */
  onUtilityCommand(command: string, args: readonly PyValue[], reply: (value: PyValue) => void): void;
}

export interface Transport {
  /** Bind the listener (nodes with a self address); resolves once listening, rejects after the bind retries. */
  start(): Promise<void>;
  /** Start keeping a connection to voting node `address` (connect if our address is greater, else accept). */
  addNode(address: PeerId): void;
  /** Forget a voting node: close its connection and stop reconnecting. */
  dropNode(address: PeerId): void;
  /** Send a message to a connected peer; false when not connected (the message is dropped). */
  send(peer: PeerId, message: PyValue): boolean;
  /** Send an already pickled message (protocol 2 pickle bytes of the message value). */
  sendPickled(peer: PeerId, pickle: Uint8Array): boolean;
  isConnected(peer: PeerId): boolean;
  /**
   * True while voting node `peer` is reached over a link on which it takes us for a read-only peer
   * (a pysyncobj node that does not know us yet): it applies our appends but must not get vote
   * requests there. Transports without such links leave it out.
   */
  isReadonlyLink?(peer: PeerId): boolean;
  /**
   * Ask voting node `peer` which node it follows (a `status` utility command on a connection of its
   * own): the leader's address, or null when it names none. Rejects when the node cannot be asked
   * within `timeoutMs`. Transports without utility connections leave it out.
   */
  askLeader?(peer: PeerId, timeoutMs: number): Promise<PeerId | null>;
  /** Change the DNS cache times (Patroni's reload_config); transports without DNS ignore it. */
  setDnsTimeouts?(cacheTimeMs: number, failCacheTimeMs: number): void;
  /** Close everything; no callback fires afterwards. */
  destroy(): Promise<void>;
}
